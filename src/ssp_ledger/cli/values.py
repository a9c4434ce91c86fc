"""Reading option values without pydantic: a fast path in front of typer's own conversion.

typer (from 0.29) converts every argument and option value, a boolean flag's excepted, through a
pydantic ``TypeAdapter`` it builds for the parameter, so a command given any value imports
pydantic: about 60 ms of CPU time before the command starts, a quarter of what a report from a
checkpoint may take in all. The values this command line declares are plain (``str``, ``int``
with bounds, ``float``, a string enum such as ``--format``) and almost always written in their
canonical spelling, which needs no pydantic to read.

:class:`Commands`, the group class of every ``typer.Typer`` of the CLI (``cls`` in
:data:`~ssp_ledger.cli.common.TYPER_SETTINGS`), gives each parameter of the command being run a
:class:`FastValue` before the arguments are parsed. It converts a value it can read exactly as
typer would (a string as itself; a flag's bool as itself; an integer written ``0`` or
``-?[1-9][0-9]*`` within the parameter's bounds; a decimal float; an enum member or its exact
value) and hands anything else
(a malformed number, a value out of range, a choice in another case, a path, a datetime, a
parameter with a custom ``parser``) to typer's own conversion, which then answers as it always
does, error message included. So the fast path changes no value and no message; the tests hold
it to typer's conversion over generated values (``tests/unit/test_cli_values.py``).

This reaches into typer's parameters (``type_descriptor``, ``get_runtime_param`` and the cached
``_runtime_param``): a typer release without them is detected and left alone (its own
conversion is then used for every value), and an end-to-end test notices the pydantic import
coming back. Earlier typer releases (before 0.29) never import pydantic for a value; see
``docs/design.md`` (the command line) for why the CLI does not pin one instead.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from enum import Enum
from typing import Any

from typer.core import TyperGroup

__all__ = ["Commands", "FastValue", "install", "quick_reader"]

_INT = re.compile(r"0|-?[1-9][0-9]*")
_FLOAT = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?")
_NO = object()
"""What a quick reader returns for a value it leaves to typer."""

Reader = Callable[[Any, Any], Any]
"""``read(value, ctx)``: the converted value, or :data:`_NO` to leave it to typer."""


def _within(number: Any, info: Any) -> Any:
    low, high = getattr(info, "min", None), getattr(info, "max", None)
    if (low is not None and number < low) or (high is not None and number > high):
        return _NO
    return number


def quick_reader(annotation: Any, info: Any) -> Reader | None:
    """How to read a value of ``annotation`` (with typer's parameter ``info``) without
    pydantic, or None when every value is left to typer (a type not read here, a custom
    parser, clamping)."""
    if getattr(info, "parser", None) is not None:
        return None
    if annotation is str:
        return lambda value, ctx: value if type(value) is str else _NO
    if annotation is bool:  # a flag's value is a bool already; typer reads any other
        return lambda value, ctx: value if type(value) is bool else _NO
    if annotation is int or annotation is float:
        if getattr(info, "clamp", False):
            return None
        spelled = _INT if annotation is int else _FLOAT

        def read_number(value: Any, ctx: Any) -> Any:
            if type(value) is annotation:
                return _within(value, info)
            if type(value) is str and spelled.fullmatch(value):
                return _within(annotation(value), info)
            return _NO

        return read_number
    if isinstance(annotation, type) and issubclass(annotation, Enum):
        members = tuple(annotation)
        by_text: dict[str, Enum] = {}
        for member in members:
            by_text.setdefault(str(member.value), member)  # the first, as typer's choice does
        exact = bool(getattr(info, "case_sensitive", False))

        def read_choice(value: Any, ctx: Any) -> Any:
            if any(value is member for member in members):
                return value
            if (type(value) is str and exact
                    and getattr(ctx, "token_normalize_func", None) is None):
                return by_text.get(value, _NO)
            return _NO

        return read_choice
    return None


class FastValue:
    """A parameter's conversion: :func:`quick_reader`'s, else typer's own (built on first
    need, then kept by the parameter). Has the ``coerce`` typer's parameters call."""

    __slots__ = ("_read",)

    def __init__(self, read: Reader) -> None:
        self._read = read

    def coerce(self, value: Any, param: Any, ctx: Any) -> Any:
        if value is None:  # as typer: a missing single value stays None
            return None
        converted = self._read(value, ctx)
        if converted is not _NO:
            return converted
        param._runtime_param = None  # typer's own conversion from now on
        return param.get_runtime_param().coerce(value, param=param, ctx=ctx)


def install(command: Any, ctx: Any) -> None:
    """Give each single-valued parameter of ``command`` (its help option included, as it is
    in context ``ctx``) that has no conversion yet a :class:`FastValue` (nothing for a typer
    without the attributes this relies on)."""
    params = list(getattr(command, "params", ()))
    get_help_option = getattr(command, "get_help_option", None)
    if get_help_option is not None:
        params.append(get_help_option(ctx))  # made once, then kept by the command
    for param in params:
        descriptor = getattr(param, "type_descriptor", None)
        if (descriptor is None or not hasattr(param, "get_runtime_param")
                or getattr(param, "_runtime_param", _NO) is not None
                or param.nargs != 1 or param.multiple):
            continue
        read = quick_reader(getattr(descriptor, "annotation", None),
                            getattr(descriptor, "parameter_info", None))
        if read is not None:
            param._runtime_param = FastValue(read)


class Commands(TyperGroup):
    """typer's group, giving the parameters of the group and of the command it runs a
    :class:`FastValue` (see the module docstring)."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        install(self, ctx)
        return super().parse_args(ctx, args)

    def resolve_command(self, ctx: Any, args: list[str]) -> tuple[Any, Any, list[str]]:
        name, command, rest = super().resolve_command(ctx, args)
        if command is not None and not isinstance(command, TyperGroup):
            # The command about to run (not every command listed by --help). Its help option
            # takes the names of the group's context (the command has no context settings of
            # its own): -h and --help. A group installs on itself when it parses.
            install(command, ctx)
        return name, command, rest
