"""A report from a checkpoint imports only what it needs, so the laziness that makes it start fast
cannot silently regress (docs/performance.md, start-up).

The command runs as a subprocess (``python -c`` calling :func:`ssp_ledger.cli.main`) that lists
``sys.modules`` on its way out. It must not have imported pydantic (typer's value conversion,
:mod:`ssp_ledger.cli.values`), rich (plain text for a pipe, :mod:`ssp_ledger.cli.render`), numpy
(group sums of a small dimension), the projections the report does not use (entry-point
factories, :mod:`ssp_ledger.projection.registry`), the export module or the research stack.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ssp_ledger import Ledger
from ssp_ledger.synthetic import SyntheticConfig, generate

pytestmark = pytest.mark.e2e

#: Modules a checkpointed ``report participation --by school`` must not import (by prefix).
NOT_IMPORTED = (
    "pydantic",
    "rich",
    "numpy",
    "ssp_ledger.export",
    "ssp_ledger.partnership",
    "ssp_ledger.subscription",
    "ssp_ledger.synthetic",
    "ssp_ledger.scenarios",
    "ssp_ledger.audit",
    "ssp_ledger.runner",
    "ssp_ledger.projection.columnar",
    "ssp_ledger_projections.staff_time_cost",
    "ssp_ledger_projections.staff_cost",
    "ssp_ledger_projections.funding",
    "ssp_ledger_projections.survey",
    "ssp_ledger_projections.partnership_age",
)

LIST_MODULES = (
    "import atexit, json, sys\n"
    "atexit.register(lambda: sys.stderr.write('MODULES ' + json.dumps(sorted(sys.modules)) "
    "+ '\\n'))\n"
    "sys.argv[0] = 'ssp-ledger'\n"
    "from ssp_ledger.cli import main\n"
    "main()\n"
)


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("SSP_LEDGER_STORE", "SSP_LEDGER_PROGRESS", "COLUMNS", "FORCE_COLOR",
                        "TTY_COMPATIBLE")}
    env["PYTHONIOENCODING"] = "utf-8"
    return env


def _run(cwd: Path, *args: str) -> tuple[str, str, list[str]]:
    proc = subprocess.run([sys.executable, "-c", LIST_MODULES, *args], cwd=cwd, env=_env(),
                          capture_output=True, timeout=300, check=False)
    out, err = proc.stdout.decode("utf-8"), proc.stderr.decode("utf-8")
    assert proc.returncode == 0, err
    lines = err.splitlines()
    modules = json.loads(next(line for line in lines if line.startswith("MODULES "))[8:])
    rest = "\n".join(line for line in lines if not line.startswith("MODULES "))
    return out, rest, modules


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store of 3,000 synthetic events of two partnerships, with a default checkpoint."""
    folder = tmp_path_factory.mktemp("startup")
    path = folder / "s.db"
    ticks = iter(range(10**9))

    def clock() -> dt.datetime:
        return dt.datetime(2014, 1, 1, tzinfo=dt.UTC) + dt.timedelta(seconds=next(ticks))

    with Ledger.open(path, clock=clock) as ledger:
        ledger.record_many(list(generate(SyntheticConfig(seed=5, partnerships=2), limit=3000)))
    _run(folder, "checkpoint", "--store", str(path))
    return path


def test_a_report_from_a_checkpoint_imports_only_what_it_needs(store: Path) -> None:
    out, err, modules = _run(store.parent, "report", "participation", "--as-of", "2013-12-31",
                             "--by", "school", "--store", str(store))
    assert "checkpoint 'default' at 3000" in out.splitlines()[-1], (out, err)
    assert "┃ school" in out  # the table, as rich lays it out
    imported = [m for m in modules if m.startswith(NOT_IMPORTED)]
    assert imported == [], imported
    assert "ssp_ledger_projections.participation" in modules  # the test can fail


def test_a_csv_report_from_a_checkpoint_imports_only_what_it_needs(store: Path) -> None:
    """CSV output (what scripts ask for) adds no module: not the export module either."""
    out, err, modules = _run(store.parent, "report", "participation", "--as-of", "2013-12-31",
                             "--by", "school", "--format", "csv", "--store", str(store))
    assert out.startswith("school,"), (out, err)
    assert err == ""
    imported = [m for m in modules if m.startswith(NOT_IMPORTED)]
    assert imported == [], imported
    assert "ssp_ledger_projections.participation" in modules  # the test can fail


def test_a_replayed_report_builds_only_the_projection_asked_for(store: Path) -> None:
    """Without the checkpoint the log is replayed into the projection asked for alone (the
    command builds projections "asked"): a participation report does not even import the
    staff costing, a funding report, which reads the staff time, does (so the checks above
    can fail)."""
    for name, staff in (("participation", False), ("funding", True)):
        out, _, modules = _run(store.parent, "report", name, "--as-of", "2013-12-31",
                               "--checkpoint", "", "--store", str(store))
        assert "replayed" in out.splitlines()[-1]
        assert ("ssp_ledger_projections.staff_time_cost" in modules) is staff, name


def test_a_survey_report_from_a_checkpoint_reads_no_sibling(store: Path) -> None:
    """The survey answers from the school figures its own part copied from participation and
    the staff costing: a cold report by period imports neither the staff costing nor numpy
    (that it decodes neither sibling's part: tests/unit/test_survey.py)."""
    out, err, modules = _run(store.parent, "report", "survey", "--as-of", "2013-12-31",
                             "--by", "academic_year", "--format", "csv", "--store", str(store))
    assert out.startswith("academic_year,"), (out, err)
    assert err == ""
    imported = [m for m in modules if m.startswith(NOT_IMPORTED)
                and m != "ssp_ledger_projections.survey"
                and not m.startswith("ssp_ledger_projections.partnership_age")]
    assert imported == [], imported
    assert "ssp_ledger_projections.survey" in modules  # the test can fail
