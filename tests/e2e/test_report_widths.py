"""Report tables never cut a figure, at any terminal width (``ssp-ledger report``, in-process).

Each report is asked once as JSON and then as a table at ``COLUMNS`` 60, 80, 100, 120 and 200:
every figure of the JSON must appear whole (as one token, pence in pounds) in the text, no
table line may be wider than the terminal, and the basis line closes the output.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ssp_ledger.cli.app import app

pytestmark = pytest.mark.e2e

WIDTHS = (60, 80, 100, 120, 200)
REPORTS = {
    "cost-by-role": ("cost", "--by", "role", "--as-of", "2011-07-31"),
    "cost-by-school": ("cost", "--by", "school", "--as-of", "2011-07-31", "--period",
                       "2010/11"),
    "funding": ("funding", "--as-of", "2011-07-31"),
    "participation-by-term": ("participation", "--by", "term", "--as-of", "2009-07-31"),
    "age-by-school": ("age", "--by", "school", "--as-of", "2011-07-31"),
    "leaders-by-award": ("leaders", "--by", "award", "--as-of", "2011-07-31"),
}
BOX = re.compile(r"[│┃┏┗┡└┌━─]")


def run(store: Path, *args: str, columns: int | None = None) -> str:
    env = {"COLUMNS": str(columns)} if columns else {"COLUMNS": ""}
    result = CliRunner().invoke(app, [*args, "--store", str(store)], env=env)
    assert result.exit_code == 0, result.output
    return result.stdout


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("widths")
    path = folder / "demo.db"
    result = CliRunner().invoke(app, ["demo", "--store", str(path)])
    assert result.exit_code == 0, result.output
    result = CliRunner().invoke(app, ["checkpoint", "--store", str(path)])
    assert result.exit_code == 0, result.output
    return path


def shown(column: str, value: int) -> str:
    if column.endswith("_pence") or column.startswith("pence_"):
        pounds, pence = divmod(abs(value), 100)
        return f"{'-' if value < 0 else ''}£{pounds:,}.{pence:02d}"
    return f"{value:,}"


@pytest.fixture(scope="module")
def documents(store: Path) -> dict[str, dict[str, object]]:
    return {key: json.loads(run(store, "report", *args, "--format", "json"))
            for key, args in REPORTS.items()}


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("key", sorted(REPORTS))
def test_every_figure_of_the_json_is_whole_in_the_table(
        store: Path, documents: dict[str, dict[str, object]], key: str, width: int) -> None:
    doc = documents[key]
    text = run(store, "report", *REPORTS[key], columns=width)
    tokens = set(re.findall(r"[^\s│┃]+", text))
    rows = doc["rows"]
    assert isinstance(rows, list)
    assert rows
    figures = 0
    for row in rows:
        for column, value in row.items():
            if isinstance(value, int) and not isinstance(value, bool):
                assert shown(column, value) in tokens, (key, width, column, value)
                figures += 1
    assert figures
    for line in text.splitlines():
        if BOX.search(line):
            assert len(line) <= width, (key, width, line)
    basis = doc["basis"]
    assert isinstance(basis, dict)
    last = text.rstrip("\n").splitlines()[-1]
    assert last.startswith(f"basis: log position {basis['position']}, heads "
                           f"{str(basis['heads_sha256'])[:16]}, ")


@pytest.mark.parametrize("width", [30, 40, 50])
def test_narrow_terminals_still_show_every_figure(
        store: Path, documents: dict[str, dict[str, object]], width: int) -> None:
    text = run(store, "report", *REPORTS["cost-by-role"], columns=width)
    tokens = set(re.findall(r"[^\s│┃]+", text))
    rows = documents["cost-by-role"]["rows"]
    assert isinstance(rows, list)
    for row in rows:
        for column, value in row.items():
            if isinstance(value, int):
                assert shown(column, value) in tokens, (width, column, value)


def test_basis_is_json_metadata_and_names_the_checkpoint(
        store: Path, documents: dict[str, dict[str, object]]) -> None:
    basis = documents["funding"]["basis"]
    assert isinstance(basis, dict)
    assert set(basis) == {"position", "heads_sha256", "checkpoint", "known_at"}
    assert basis["checkpoint"] == "'default' at " + str(basis["position"])
    replayed = json.loads(run(store, "report", *REPORTS["funding"], "--format", "json",
                              "--checkpoint", ""))
    assert replayed["basis"]["checkpoint"] is None
    assert replayed["basis"]["heads_sha256"] == basis["heads_sha256"]
    assert replayed["rows"] == documents["funding"]["rows"]
    known = json.loads(run(store, "report", *REPORTS["funding"], "--format", "json",
                           "--known-at", "2100-01-01T00:00:00Z"))
    assert known["basis"]["known_at"] == "2100-01-01T00:00:00+00:00"
    text = run(store, "report", *REPORTS["funding"], "--checkpoint", "")
    assert text.rstrip("\n").splitlines()[-1].endswith(
        "replayed, known at: everything recorded")


def test_markdown_states_the_basis_under_the_table(store: Path) -> None:
    text = run(store, "report", *REPORTS["funding"], "--format", "markdown")
    assert text.rstrip("\n").splitlines()[-1].startswith("*basis: log position ")
    csv = run(store, "report", *REPORTS["funding"], "--format", "csv")
    assert "basis" not in csv


def test_a_checkpoint_not_used_is_said_on_stderr(store: Path) -> None:
    runner = CliRunner()
    named = runner.invoke(app, ["report", *REPORTS["funding"], "--checkpoint", "nosuch",
                                "--store", str(store)])
    assert named.exit_code == 0
    assert named.stderr == "note: no checkpoint named 'nosuch': replayed the log\n"
    used = runner.invoke(app, ["report", *REPORTS["funding"], "--store", str(store)])
    assert used.exit_code == 0
    assert used.stderr == ""
