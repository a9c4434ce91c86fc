"""Tests of the package's public surface: every name importable, the research stack lazy."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

import ssp_ledger

RESEARCH = ("Override", "ParameterSet", "ResponseParameters", "Scenario", "ScenarioError",
            "ScenarioResult", "SweepResult", "load_parameters", "load_scenario", "run_scenario",
            "sweep")


def _run(code: str) -> str:
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=dict(os.environ), check=True, timeout=120)
    return proc.stdout.strip()


def test_import_leaves_the_research_stack_unloaded() -> None:
    out = _run("import sys, ssp_ledger; "
               "print(sorted(m for m in ('pydantic', 'matplotlib', 'ssp_ledger.scenarios', "
               "'ssp_ledger.parameters', 'ssp_ledger.response', 'ssp_ledger.synthetic') "
               "if m in sys.modules))")
    assert out == "[]"


def test_a_research_name_loads_its_module_on_first_use() -> None:
    out = _run("import sys, ssp_ledger; from ssp_ledger import Scenario; "
               "print(Scenario.__module__, 'ssp_ledger.scenarios' in sys.modules)")
    assert out == "ssp_ledger.scenarios True"


def test_every_public_name_is_importable_and_listed() -> None:
    assert set(RESEARCH) <= set(ssp_ledger.__all__)
    for name in ssp_ledger.__all__:
        namespace: dict[str, object] = {}
        exec(f"from ssp_ledger import {name}", namespace)  # the import statement is the test
        assert namespace[name] is getattr(ssp_ledger, name)
    assert set(ssp_ledger.__all__) <= set(dir(ssp_ledger))
    from ssp_ledger.scenarios import Scenario

    assert ssp_ledger.Scenario is Scenario


def test_an_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="NoSuchThing"):
        getattr(ssp_ledger, "NoSuchThing")  # noqa: B009


def test_import_loads_nothing_but_the_package() -> None:
    out = _run("import sys, ssp_ledger; "
               "print(sorted(m for m in sys.modules if m.startswith('ssp_ledger.') "
               "or m in ('msgspec', 'eventsourcing', 'rich', 'typer')))")
    assert out == "[]"


def test_the_type_checkers_names_are_the_runtime_names() -> None:
    """Every name imported under ``if TYPE_CHECKING:`` in ``ssp_ledger/__init__.py`` is the very
    object the package gives at run time, and every public name is imported there."""
    import ast
    import importlib
    from pathlib import Path

    tree = ast.parse(Path(ssp_ledger.__file__).read_text(encoding="utf-8"))
    checked: dict[str, str] = {}
    for node in tree.body:
        if isinstance(node, ast.If) and getattr(node.test, "id", None) == "TYPE_CHECKING":
            for imp in node.body:
                assert isinstance(imp, ast.ImportFrom)
                assert imp.module is not None
                checked.update({alias.name: imp.module for alias in imp.names})
    assert set(checked) == set(ssp_ledger.__all__) - {"__version__"}
    for name, module in checked.items():
        assert getattr(importlib.import_module(module), name) is getattr(ssp_ledger, name), name


def test_the_cli_spells_the_store_variable_as_the_store_does() -> None:
    from ssp_ledger.cli.common import STORE_ENV
    from ssp_ledger.store import STORE_ENV as STORE_ENV_OF_THE_STORE

    assert STORE_ENV == STORE_ENV_OF_THE_STORE
