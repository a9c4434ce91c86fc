"""End-to-end tests of progress on standard error, ``--format`` everywhere a table is printed,
the light ``--help`` and the completeness of docs/cli.md (``python -m ssp_ledger`` as a
subprocess).

Progress is drawn only when standard error is a terminal: these tests give the command a
pseudo-terminal for standard error (and a pipe for standard output), or force it with
``SSP_LEDGER_PROGRESS=1``, and check that everything else stays free of it.
"""

from __future__ import annotations

import csv
import io
import json
import os
import pty
import re
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.e2e.test_cli import Run, ssp, write_jsonl

pytestmark = pytest.mark.e2e

DOCS = Path(__file__).resolve().parents[2] / "docs" / "cli.md"
RESTATE = ("restatement", "participation", "--as-of", "2011-08-31", "--period", "2010/11",
           "--before", "2011-11-01", "--after", "2011-12-01")
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder holding ``ssp-demo.db`` (one partnership) and an ``SSP_LEDGER_STORE`` for it."""
    folder = tmp_path_factory.mktemp("demo")
    run = ssp(folder, "demo")
    assert run.code == 0, run.err
    return folder


def on(folder: Path, *args: str, env: dict[str, str] | None = None) -> Run:
    run = ssp(folder, *args, "--store", "ssp-demo.db", env=env)
    assert run.code == 0, run.err
    return run


def with_pty_stderr(cwd: Path, *args: str) -> tuple[int, str, str]:
    """Run the command with a pseudo-terminal as standard error (standard output a pipe);
    returns (status, stdout, what the terminal received)."""
    env = {k: v for k, v in os.environ.items() if k not in ("SSP_LEDGER_PROGRESS",
                                                             "SSP_LEDGER_STORE")}
    env["COLUMNS"] = "100"
    master, slave = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "ssp_ledger", *args], cwd=cwd, env=env,
                            stdout=subprocess.PIPE, stderr=slave)
    os.close(slave)
    received = bytearray()
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 0.1)
        if ready:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # the other end closed
                break
            if not chunk:
                break
            received += chunk
        elif proc.poll() is not None:
            break
    assert proc.stdout is not None
    out = proc.stdout.read()
    status = proc.wait(timeout=60)
    os.close(master)
    return status, out.decode("utf-8"), received.decode("utf-8", errors="replace")


# --------------------------------------------------------------------------- help stays light


def test_help_imports_no_ledger_no_rich_no_research(tmp_path: Path) -> None:
    code = ("import sys\n"
            "from ssp_ledger.cli import main\n"
            "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
            "heavy = ('ssp_ledger.application', 'ssp_ledger.projection', 'ssp_ledger.store', "
            "'eventsourcing', 'rich', 'msgspec', 'pydantic', 'ssp_ledger.scenarios')\n"
            "print(sorted(m for m in heavy if m in sys.modules), file=sys.stderr)\n")
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True,
                          text=True, check=True, timeout=60)
    assert "Commands:" in proc.stdout
    assert proc.stderr.strip() == "[]"


def test_help_examples_keep_one_command_per_line(tmp_path: Path) -> None:
    run = ssp(tmp_path, "report", "--help", env={"COLUMNS": "80"})
    assert run.code == 0, run.err
    lines = run.out.splitlines()
    examples = lines[lines.index("  Examples:") + 1:]
    shown = [line.strip() for line in examples if line.strip()]
    assert shown[0] == "ssp-ledger report participation --as-of 2010-07-31 --by academic_year"
    assert all(line.startswith("ssp-ledger report ") for line in shown)


# --------------------------------------------------------------------------- progress


def test_progress_appears_on_a_terminal_stderr_and_never_on_stdout(tmp_path: Path) -> None:
    status, out, terminal = with_pty_stderr(tmp_path, "demo", "--store", "p.db")
    assert status == 0, terminal
    assert "generating the synthetic history" in terminal or "recording" in terminal
    assert "\x1b[" not in out  # standard output: the reports only, no progress drawing
    assert out.startswith("recorded ")
    assert "As of 2012-07-31" in out


def test_no_progress_when_stderr_is_a_pipe(demo: Path) -> None:
    run = ssp(demo, "report", "participation", "--as-of", "2011-07-31", "--store",
              "ssp-demo.db", "--checkpoint", "")
    assert run.code == 0, run.err
    assert run.err == ""
    verified = on(demo, "verify")
    assert verified.err == ""


@pytest.mark.parametrize("args", [
    ("report", "participation", "--as-of", "2011-07-31", "--checkpoint", ""),
    ("verify",),
    ("events", "--type", "FundingChanged"),
    RESTATE,
])
def test_forced_progress_goes_to_stderr_and_leaves_stdout_unchanged(
        demo: Path, args: tuple[str, ...]) -> None:
    plain = on(demo, *args)
    forced = on(demo, *args, env={"SSP_LEDGER_PROGRESS": "1"})
    assert forced.out == plain.out
    shown = ANSI.sub("", forced.err)
    assert any(word in shown for word in ("reading the log", "verifying the log")), forced.err


def test_checkpoint_progress_is_forced_to_stderr(tmp_path: Path, demo: Path) -> None:
    import shutil

    shutil.copy(demo / "ssp-demo.db", tmp_path / "ssp-demo.db")
    run = on(tmp_path, "checkpoint", env={"SSP_LEDGER_PROGRESS": "1"})
    assert run.out.startswith("checkpoint 'default' at position ")
    assert "applying the log" in ANSI.sub("", run.err)


# --------------------------------------------------------------------------- --format


def test_history_in_every_format(demo: Path) -> None:
    args = ("history", "ssp-000-audit-02")
    table = on(demo, *args).out
    assert table.splitlines()[-1] == "now: in force as corrected by ssp-000-audit-02"
    records = json.loads(on(demo, *args, "--format", "json").out)
    rows = list(csv.DictReader(io.StringIO(on(demo, *args, "--format", "csv").out)))
    assert [int(r["position"]) for r in rows] == [r["position"] for r in records]
    assert [r["change"] for r in rows] == ["original", "corrects ssp-000-0013159"]
    assert rows[1]["fields"] == "participants 22 -> 20"
    assert rows[1]["reason"].startswith("audit 2011-11-08")
    assert json.loads(rows[0]["fields"])["participants"] == 22
    markdown = on(demo, *args, "--format", "markdown").out
    assert "| position | recorded_at | type | event_id | change | reason | fields |" in markdown
    assert "| corrects ssp-000-0013159 |" in markdown
    assert markdown.splitlines()[0] == table.splitlines()[0]
    assert markdown.splitlines()[-1] == table.splitlines()[-1]


def test_restatement_csv_and_markdown_carry_the_records(demo: Path) -> None:
    doc = json.loads(on(demo, *RESTATE, "--format", "json").out)
    rows = list(csv.DictReader(io.StringIO(on(demo, *RESTATE, "--format", "csv").out)))
    assert [r["figure"] for r in rows] == [f["figure"] for f in doc["figures"]]
    assert [[int(p) for p in r["records"].split()] for r in rows] == \
        [f["records"] for f in doc["figures"]]
    assert [int(r["difference"]) for r in rows] == [f["difference"] for f in doc["figures"]]
    markdown = on(demo, *RESTATE, "--format", "markdown").out
    table = on(demo, *RESTATE).out
    assert markdown.splitlines()[0] == table.splitlines()[0]
    assert "| row | figure | before | after | difference |" in markdown
    assert markdown.count("| position | recorded_at | type | event_id | change | reason |") \
        == table.count("changed by")
    for record in doc["records"]:
        assert f"| {record['position']} |" in markdown


def test_demo_in_every_format(demo: Path) -> None:
    table = on(demo, "demo")
    assert table.out.startswith("store ssp-demo.db already holds")
    doc = json.loads(on(demo, "demo", "--format", "json").out)
    assert [d["as_of"] for d in doc["dates"]] == ["2008-07-31", "2010-07-31", "2011-07-31",
                                                  "2012-07-31"]
    first = doc["dates"][0]
    assert first["headline"] in table.out
    participation = first["tables"]["participation"]
    assert participation["projection"] == "participation"
    assert participation["total"] == participation["rows"][-1]
    long = on(demo, "demo", "--format", "csv")
    assert "already holds" in long.err  # the note leaves standard output to the data
    rows = list(csv.DictReader(io.StringIO(long.out)))
    assert set(rows[0]) == {"as_of", "report", "row", "row_kind", "column", "value"}
    total = [r for r in rows if r["as_of"] == "2008-07-31" and r["report"] == "participation"
             and r["row_kind"] == "total" and r["column"] == "attendances"]
    assert [int(r["value"]) for r in total] == [participation["total"]["attendances"]]
    markdown = on(demo, "demo", "--format", "markdown").out
    assert f"**As of 2008-07-31: {first['headline']}**" in markdown
    assert markdown.count("| --- |") + markdown.count("| --- | ---") >= 4


@pytest.mark.parametrize("command", [
    ("report", "participation", "--as-of", "2011-07-31"),
    ("explain", "participation", "--as-of", "2011-07-31"),
    ("events", "--type", "FundingChanged"),
    ("history", "ssp-000-audit-02"),
    RESTATE,
    ("demo",),
])
@pytest.mark.parametrize("fmt", ["table", "json", "csv", "markdown"])
def test_every_table_command_takes_every_format(demo: Path, command: tuple[str, ...],
                                                fmt: str) -> None:
    run = on(demo, *command, "--format", fmt)
    assert run.out.strip()
    if fmt == "json":
        json.loads(run.out)
    elif fmt == "csv":
        rows = list(csv.reader(io.StringIO(run.out)))
        assert len({len(r) for r in rows}) == 1  # one table, every row as wide as the header
    elif fmt == "markdown":
        assert re.search(r"^\| .* \|$", run.out, re.MULTILINE)


def test_export_table_marks_the_total_when_a_group_is_called_total(tmp_path: Path) -> None:
    day = "2010-09-01"
    events: list[dict[str, object]] = [
        {"type": "PartnershipFormed", "partnership_id": "p", "occurred_on": day,
         "event_id": "f", "name": "P", "hub_school_id": "total"},
        *({"type": "SchoolJoined", "partnership_id": "p", "occurred_on": day,
           "event_id": f"j-{s}", "school_id": s, "school_name": s, "phase": "secondary"}
          for s in ("total", "other")),
        *({"type": "ClubRun", "partnership_id": "p", "occurred_on": "2010-09-14",
           "event_id": f"c-{s}", "club_id": "fc", "school_id": s, "activity": "football",
           "participants": n, "staff_minutes": 60} for s, n in (("total", 7), ("other", 5))),
    ]
    write_jsonl(tmp_path / "e.jsonl", events)
    assert ssp(tmp_path, "import", "e.jsonl", "--store", "t.db").code == 0
    query = ("participation", "--as-of", "2011-07-31", "--by", "school", "--store", "t.db")
    exported = ssp(tmp_path, "export-table", *query, "--out", "t.csv")
    assert exported.code == 0, exported.err
    rows = list(csv.DictReader(io.StringIO((tmp_path / "t.csv").read_text(encoding="utf-8"))))
    assert [(r["school"], r["row_kind"]) for r in rows] == [
        ("other", "group"), ("total", "group"), ("total", "total")]
    assert [int(r["attendances"]) for r in rows] == [5, 7, 12]
    report = ssp(tmp_path, "report", *query, "--format", "csv")
    assert (tmp_path / "t.csv").read_text(encoding="utf-8") == report.out
    manifest = json.loads((tmp_path / "t.csv.manifest.json").read_text(encoding="utf-8"))
    assert [c["name"] if isinstance(c, dict) else c[0] for c in manifest["columns"]][-1] \
        == "row_kind"


# --------------------------------------------------------------------------- docs/cli.md


def test_docs_cli_names_every_command(tmp_path: Path) -> None:
    def commands(*args: str) -> list[str]:
        run = ssp(tmp_path, *args, "--help", env={"COLUMNS": "200"})
        assert run.code == 0, run.err
        listed = run.out.split("Commands:\n", 1)[1].split("\n\n", 1)[0]
        return [line.split()[0] for line in listed.splitlines() if line.strip()]

    text = DOCS.read_text(encoding="utf-8")
    top = commands()
    assert "report" in top
    assert "scenario" in top
    for name in top:
        if name == "scenario":
            continue
        assert f"## `ssp-ledger {name}`" in text or f"`ssp-ledger {name}`" in text, name
    for name in commands("scenario"):
        assert f"ssp-ledger scenario {name}" in text, name
        assert re.search(rf"^  scenario {name}\b", text, re.MULTILINE), name
