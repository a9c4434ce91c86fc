"""Option values read without pydantic (:mod:`ssp_ledger.cli.values`) are typer's own: for every
parameter of every command and any value, the fast path gives the value typer's conversion
gives, or leaves the value to it (the same error message)."""

from __future__ import annotations

from collections.abc import Iterator
from enum import Enum
from typing import Any

import pytest
import typer
import typer.main
from hypothesis import given, settings
from hypothesis import strategies as st

from ssp_ledger.cli import app
from ssp_ledger.cli.values import FastValue, install, quick_reader

_coercion = pytest.importorskip("typer._coercion")  # the reference: typer's own conversion


def _commands() -> Iterator[tuple[str, Any, Any]]:
    """(path, command, context) of every command and group of the CLI."""
    root = typer.main.get_command(app)

    def walk(command: Any, path: str, parent: Any) -> Iterator[tuple[str, Any, Any]]:
        ctx = command.context_class(command, info_name=path.split()[-1], parent=parent,
                                    **command.context_settings)
        yield path, command, ctx
        for name, sub in getattr(command, "commands", {}).items():
            yield from walk(sub, f"{path} {name}", ctx)

    yield from walk(root, "ssp-ledger", None)


def _params() -> list[tuple[str, Any, Any]]:
    out = []
    for path, command, ctx in _commands():
        install(command, ctx)
        params = [*command.params, command.get_help_option(ctx)]
        out.extend((f"{path} {p.name}", p, ctx) for p in params if p is not None)
    return out


PARAMS = _params()


def _outcome(runtime: Any, value: Any, param: Any, ctx: Any) -> tuple[str, Any]:
    try:
        result = runtime.coerce(value, param=param, ctx=ctx)
    except typer.BadParameter as e:
        return "error", e.format_message()
    if isinstance(result, float) and result != result:
        return "float", "nan"  # both read "nan" as NaN, which equals nothing, itself included
    return type(result).__name__, result


def _reference(param: Any) -> Any:
    return _coercion.build_runtime_param(param.type_descriptor)


def test_the_report_commands_values_are_all_read_without_typers_conversion() -> None:
    """The parameters of ``report`` and of the group (and their help options) all have the
    fast path: a report never builds typer's conversion for a value in canonical form."""
    wanted = [(name, p) for name, p, _ in PARAMS
              if name.startswith(("ssp-ledger report ", "ssp-ledger help", "ssp-ledger version"))
              or name.count(" ") == 1]
    assert len(wanted) >= 10
    for name, param in wanted:
        assert isinstance(param._runtime_param, FastValue), name


numbers = st.from_regex(r"\A-?[0-9]{0,4}(\.[0-9]{0,3})?\Z") | st.sampled_from(
    ["0", "-0", "00", "007", "1_000", " 5", "5 ", "+3", "1e3", "inf", "nan", "٣", "", "-",
     "2147483648", "1.", ".5", "0.0", "-1", "255", "256", "1000", "1001"])
words = st.text(st.sampled_from("abcXYZ-_. 0/:"), max_size=8) | st.sampled_from(
    ["table", "TABLE", "Json", "csv", "markdown", "csv ", "auto", "jsonl", "parquet", "PARQUET"])


@settings(max_examples=300, deadline=None)
@given(index=st.integers(0, len(PARAMS) - 1), value=numbers | words | st.booleans()
       | st.integers(-5, 300) | st.none())
def test_every_parameter_reads_any_value_as_typer_does(index: int, value: Any) -> None:
    name, param, ctx = PARAMS[index]
    runtime = param._runtime_param
    if not isinstance(runtime, FastValue):
        return  # typer's own conversion (or already swapped in by a fallback): nothing to hold
    assert _outcome(runtime, value, param, ctx) == _outcome(_reference(param), value, param,
                                                            ctx), (name, value)
    param._runtime_param = runtime  # a fallback swaps in typer's; keep testing the fast one


def test_enum_members_and_values_read_as_the_member() -> None:
    class Colour(Enum):
        red = "red"
        also_red = "red"  # an alias: typer's choice picks the first member
        blue = "Blue"

    class Info:
        parser = None
        case_sensitive = True

    read = quick_reader(Colour, Info())
    assert read is not None
    assert read("red", None) is Colour.red
    assert read(Colour.blue, None) is Colour.blue
    assert read("Blue", None) is Colour.blue
    assert read("blue", None) is not Colour.blue  # another case: left to typer


def test_a_value_typer_must_read_swaps_in_typers_conversion() -> None:
    """A malformed number goes to typer, which then keeps its own conversion."""
    _, param, ctx = next(p for p in PARAMS if p[0] == "ssp-ledger events limit")
    fast = param._runtime_param
    assert isinstance(fast, FastValue)
    try:
        assert fast.coerce("12", param, ctx) == 12
        with pytest.raises(typer.BadParameter):
            fast.coerce("twelve", param, ctx)
        assert not isinstance(param._runtime_param, FastValue)
    finally:
        param._runtime_param = fast
