"""End-to-end tests of ``ssp-ledger scenario run`` and ``scenario sweep`` (subprocesses).

Scenario files use a small synthetic partnership and a one-year horizon to keep runs short.
"""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

SCENARIO = """
name = "grant cut at the fork"
fork_date = 2010-09-01
horizon = 2011-08-31
seed = 5

[synthetic]
seed = 7
secondaries = 2
primaries = 6
specials = 1

[[overrides]]
parameter = "funding.ssp-grant"
effective_from = 2010-10-01
scale = 0.5
citation = "test: half the grant"
"""


@dataclass(frozen=True)
class Run:
    """What one invocation did."""

    code: int
    out: str
    err: str


def ssp(cwd: Path, *args: str) -> Run:
    env = {k: v for k, v in os.environ.items() if k not in ("SSP_LEDGER_STORE", "COLUMNS")}
    env["PYTHONIOENCODING"] = "utf-8"
    proc = subprocess.run([sys.executable, "-m", "ssp_ledger", "scenario", *args], cwd=cwd,
                          env=env, capture_output=True, timeout=300, check=False)
    return Run(proc.returncode, proc.stdout.decode("utf-8"), proc.stderr.decode("utf-8"))


def one_line_error(run: Run) -> str:
    assert run.code == 1, (run.out, run.err)
    lines = run.err.strip().splitlines()
    assert len(lines) == 1, run.err
    assert lines[0].startswith("error: ")
    assert "Traceback" not in run.err
    return lines[0]


@pytest.fixture
def scenario_file(tmp_path: Path) -> Path:
    path = tmp_path / "cut.toml"
    path.write_text(SCENARIO, encoding="utf-8")
    return path


def test_run_prints_tables_and_writes_a_plot(tmp_path: Path, scenario_file: Path) -> None:
    run = ssp(tmp_path, "run", scenario_file.name, "--plot", "cut.png")
    assert run.code == 0, run.err
    assert "Scenario: grant cut at the fork" in run.out
    for title in ("participation by academic_year", "staff_time_cost by academic_year",
                  "membership by academic_year", "funding by academic_year"):
        assert title in run.out
    assert "hidden staff cost (£)" in run.out
    assert "funding level (£ a year, at period end)" in run.out
    assert "_pence" not in run.out  # no pence name over figures shown in pounds
    assert "£" in run.out
    assert (tmp_path / "cut.png").read_bytes().startswith(b"\x89PNG")
    assert "wrote the plot to cut.png" in run.err


def test_run_csv_and_json_are_tidy(tmp_path: Path, scenario_file: Path) -> None:
    run = ssp(tmp_path, "run", str(scenario_file), "--format", "csv")
    assert run.code == 0, run.err
    rows = list(csv.DictReader(io.StringIO(run.out)))
    assert list(rows[0]) == ["table", "period", "measure", "baseline", "scenario", "difference"]
    window = [r for r in rows if r["period"] == "2010-09-01..2011-08-31"
              and r["measure"] == "funded_pence"]
    assert len(window) == 1
    assert int(window[0]["difference"]) < 0
    for r in rows:
        assert int(r["scenario"]) - int(r["baseline"]) == int(r["difference"])
    run = ssp(tmp_path, "run", str(scenario_file), "--format", "json", "--by", "term")
    assert run.code == 0, run.err
    doc = json.loads(run.out)
    assert doc["by"] == "term"
    assert doc["tables"]["participation"][0]["period"] == "2010/11:autumn"
    # Pence stay integers; every measure says its unit and how a period's figure is formed.
    assert doc["units"]["hidden_pence"]["unit"] == "pence"
    assert doc["units"]["level_in_force_pence"] == {
        "unit": "pence_per_year", "aggregation": "at the period's last day",
        "label": "funding level (£ a year, at period end)"}
    assert doc["units"]["sessions"]["aggregation"] == "sum over the period"
    for rows in doc["tables"].values():
        for row in rows:
            assert row["measure"] in doc["units"]
            assert all(isinstance(row[k], int) for k in ("baseline", "scenario", "difference"))


def test_markdown_names_money_for_what_is_shown(tmp_path: Path, scenario_file: Path) -> None:
    run = ssp(tmp_path, "run", str(scenario_file), "--format", "markdown")
    assert run.code == 0, run.err
    assert "| 2010/11 | funding received (£) | £" in run.out
    assert "_pence" not in run.out


def test_sweep_writes_one_row_per_value(tmp_path: Path, scenario_file: Path) -> None:
    run = ssp(tmp_path, "sweep", str(scenario_file), "--param", "sessions_elasticity",
              "--values", "0.5, 1,1.5", "--out", "sweep.csv")
    assert run.code == 0, run.err
    assert run.out.strip() == "wrote 3 rows to sweep.csv"
    rows = list(csv.DictReader((tmp_path / "sweep.csv").open(encoding="utf-8")))
    assert [r["value"] for r in rows] == ["0.5", "1", "1.5"]
    assert {r["parameter"] for r in rows} == {"sessions_elasticity"}
    sessions = [int(r["difference_sessions"]) for r in rows]
    assert sessions[0] >= sessions[2]  # more elastic: a cut loses more sessions
    run = ssp(tmp_path, "sweep", str(scenario_file), "--param", "seed", "--values", "1,2",
              "--format", "json", "--workers", "1")
    assert run.code == 0, run.err
    assert [r["value"] for r in json.loads(run.out)] == [1, 2]


@pytest.mark.parametrize(("args", "expected"), [
    (("run", "missing.toml"), "missing.toml: no such file"),
    (("run", "cut.toml", "--plot", "cut.gif"), ".png, .svg or .pdf"),
    (("run", "cut.toml", "--by", "week"), "--by: 'week'"),
    (("sweep", "cut.toml", "--param", "elastic", "--values", "1"), "no setting 'elastic'"),
    (("sweep", "cut.toml", "--param", "seed", "--values", " , "), "--values"),
    (("sweep", "cut.toml", "--param", "seed", "--values", "1", "--out", "no/where.csv"),
     "--out: folder"),
])
def test_errors_are_one_line(tmp_path: Path, scenario_file: Path, args: tuple[str, ...],
                             expected: str) -> None:
    line = one_line_error(ssp(tmp_path, *args))
    assert expected in line


def test_a_bad_scenario_file_names_the_field(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({
        "name": "bad", "fork_date": "2010-09-01", "horizon": "2011-08-31",
        "events": [{"type": "FundingChanged", "partnership_id": "*",
                    "occurred_on": "2011-01-01", "event_id": "e",
                    "funding_stream": "ssp-grant", "annual_amount_pence": "lots"}]}),
        encoding="utf-8")
    line = one_line_error(ssp(tmp_path, "run", "bad.json"))
    assert "field 'events[0].annual_amount_pence'" in line
    assert "expected int, got str" in line


def test_runs_report_means_and_an_interval(tmp_path: Path, scenario_file: Path) -> None:
    run = ssp(tmp_path, "run", scenario_file.name, "--runs", "3", "--workers", "2",
              "--format", "json", "--plot", "band.png")
    assert run.code == 0, run.err
    doc = json.loads(run.out)
    assert doc["runs"] == 3
    assert doc["seeds"][0] == 5
    row = next(r for r in doc["tables"]["participation"]
               if r["measure"] == "sessions" and r["period"] == "2010-09-01..2011-08-31")
    assert row["difference_p5"] <= row["difference_mean"] <= row["difference_p95"]
    assert (tmp_path / "band.png").read_bytes().startswith(b"\x89PNG")
    again = ssp(tmp_path, "run", scenario_file.name, "--runs", "3", "--workers", "1",
                "--format", "json")
    assert again.out == run.out  # deterministic, whatever the number of processes
    table = ssp(tmp_path, "run", scenario_file.name, "--runs", "2")
    assert table.code == 0, table.err
    assert "means of 2 runs" in table.out
    assert "95%" in table.out
    markdown = ssp(tmp_path, "run", scenario_file.name, "--runs", "2", "--format", "markdown")
    assert markdown.code == 0, markdown.err
    assert markdown.out.startswith("*participation by academic_year, 2 runs*\n\n| period |")
    assert markdown.out.count(", 2 runs*") == len(doc["tables"])


def test_backtest_table_csv_and_plot(tmp_path: Path, scenario_file: Path) -> None:
    run = ssp(tmp_path, "backtest", scenario_file.name, "--cutoff", "2009-09-01",
              "--plot", "bt.svg")
    assert run.code == 0, run.err
    assert "error = 100 x (modelled - recorded) / recorded" in run.out
    assert "mean |error|" in run.out
    assert (tmp_path / "bt.svg").is_file()
    run = ssp(tmp_path, "backtest", scenario_file.name, "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(run.out)))
    assert {r["period"] for r in rows} == {"2008/09", "2009/10"}
    markdown = ssp(tmp_path, "backtest", scenario_file.name, "--format", "markdown").out
    assert markdown.splitlines()[0] == "| period | measure | recorded | modelled | error |"
    summary = [line for line in markdown.splitlines() if line.startswith("| mean \\|error\\| |")]
    assert len(summary) == len({r["measure"] for r in rows})  # one mean error per measure
    assert len(markdown.splitlines()) == 2 + len(rows) + len(summary)
    assert "percentage" in ssp(tmp_path, "backtest", "--help").out
    line = one_line_error(ssp(tmp_path, "backtest", scenario_file.name, "--cutoff",
                              "2011-01-01", "--until", "2010-01-01"))
    assert "before --cutoff" in line


ROOT = Path(__file__).resolve().parents[2]


def test_the_worked_study_runs_as_written_and_gives_its_figures(tmp_path: Path) -> None:
    """Every command of the study's block in docs/researchers.md, verbatim, in a fresh folder
    holding examples/; the figures the text quotes must be in their output."""
    import shlex
    import shutil

    doc = (ROOT / "docs" / "researchers.md").read_text(encoding="utf-8")
    study = doc[doc.index("## A worked study: the 2010 decision"):]
    block = study[study.index("```sh\n") + 6:study.index("```\n", study.index("```sh\n") + 6)]
    commands = [shlex.split(line) for line in block.replace("\\\n", " ").splitlines()
                if line.strip()]
    shutil.copytree(ROOT / "examples", tmp_path / "examples")
    env = {k: v for k, v in os.environ.items() if k not in ("SSP_LEDGER_STORE", "COLUMNS")}
    env["PYTHONIOENCODING"] = "utf-8"
    env["COLUMNS"] = "200"
    out = ""
    for command in commands:
        assert command[0] == "ssp-ledger"
        proc = subprocess.run([sys.executable, "-m", "ssp_ledger", *command[1:]], cwd=tmp_path,
                              env=env, capture_output=True, timeout=300, check=False)
        assert proc.returncode == 0, (command, proc.stderr.decode())
        out += proc.stdout.decode("utf-8")
    for figure in ("765", "814", "167", "401", "-16.2%", "-27.4%", "28.3%", "36.0%", "3.5%",
                   "6.7%", "26.7%", "2,535", "3,100", "1,623", "1,498", "1,707", "31,528",
                   "29,447", "32,626", "£494,360.51", "-£153,671.64", "-£155,110.71",
                   "-£152,088.76", "-£175,141.12"):
        assert figure in out, figure
    assert (tmp_path / "backtest.png").is_file()
    assert (tmp_path / "decision.png").is_file()
