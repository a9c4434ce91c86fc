"""End-to-end tests of the ``ssp-ledger`` command, run as a subprocess (``python -m ssp_ledger``).

One synthetic demo store (one partnership, about 20k events) is built once per module and shared;
tests that write copy nothing from it, they use fresh stores in their own temporary folders.
"""

from __future__ import annotations

import csv as csv_module
import io
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

DEMO_DATES = ("2008-07-31", "2010-07-31", "2011-07-31", "2012-07-31")

GOOD_EVENTS: list[dict[str, object]] = [
    {"type": "PartnershipFormed", "partnership_id": "tyne[side]", "occurred_on": "2006-09-01",
     "event_id": "formed[1]", "name": "Tyneside [SSP]", "hub_school_id": "hub"},
    {"type": "SchoolJoined", "partnership_id": "tyne[side]", "occurred_on": "2006-09-01",
     "event_id": "joined-hub", "school_id": "hub", "school_name": "Hub College",
     "phase": "sports_college"},
    {"type": "ClubRun", "partnership_id": "tyne[side]", "occurred_on": "2006-09-12",
     "event_id": "[bold]club-1", "club_id": "football", "school_id": "hub",
     "activity": "football", "participants": 20, "send_participants": 2, "staff_minutes": 60},
]


@dataclass(frozen=True)
class Run:
    """What one invocation of the command did."""

    code: int
    out: str
    err: str


def ssp(cwd: Path, *args: str, env: dict[str, str] | None = None, timeout: float = 120) -> Run:
    """Run ``python -m ssp_ledger ARGS`` in ``cwd``."""
    full_env = {k: v for k, v in os.environ.items() if k not in ("SSP_LEDGER_STORE", "COLUMNS")}
    full_env["PYTHONIOENCODING"] = "utf-8"
    full_env.update(env or {})
    proc = subprocess.run(
        [sys.executable, "-m", "ssp_ledger", *args],
        cwd=cwd, env=full_env, capture_output=True, timeout=timeout, check=False,
    )
    return Run(proc.returncode, proc.stdout.decode("utf-8"), proc.stderr.decode("utf-8"))


def write_jsonl(path: Path, events: list[dict[str, object]]) -> Path:
    path.write_text("".join(json.dumps(e) + "\n" for e in events), encoding="utf-8")
    return path


def assert_one_line_error(run: Run) -> None:
    assert run.code == 1, run
    assert "Traceback" not in run.err
    lines = run.err.splitlines()
    assert len(lines) == 1, run.err
    assert lines[0].startswith("error: ")


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Run]:
    """A folder holding ``ssp-demo.db`` built by ``ssp-ledger demo --partnerships 1``."""
    folder = tmp_path_factory.mktemp("demo")
    run = ssp(folder, "demo", "--partnerships", "1")
    assert run.code == 0, run.err
    return folder, run


# --------------------------------------------------------------------------- demo


def test_demo_fills_the_store_and_prints_the_tables(demo: tuple[Path, Run]) -> None:
    folder, run = demo
    assert (folder / "ssp-demo.db").is_file()
    assert run.out.startswith("recorded ")
    assert "(1 partnership, seed 2006)" in run.out
    for day in DEMO_DATES:
        assert f"As of {day}: 1 partnership aged" in run.out
        for title in (
            f"participation as of {day}, by academic_year",
            f"staff_time_cost as of {day}, by funded",
            f"staff_time_cost as of {day}, by role",
            f"partnership_age as of {day}",
            f"funding as of {day}, by academic_year",
        ):
            assert title in run.out
    assert "£" in run.out
    assert "not available" not in run.out
    assert "Traceback" not in run.err


def test_demo_on_a_filled_store_only_reports(demo: tuple[Path, Run]) -> None:
    folder, first = demo
    again = ssp(folder, "demo")
    assert again.code == 0, again.err
    assert again.out.startswith("store ssp-demo.db already holds ")
    # The reports themselves are the same bytes as after filling.
    assert again.out.split("\n", 1)[1] == first.out.split("\n", 1)[1]


# --------------------------------------------------------------------------- report


@pytest.mark.parametrize("fmt", ["table", "json", "csv", "markdown"])
def test_report_output_is_deterministic(demo: tuple[Path, Run], fmt: str) -> None:
    folder, _ = demo
    args = ("report", "cost", "--as-of", "2011-07-31", "--by", "role", "--period", "2010/11",
            "--format", fmt, "--store", "ssp-demo.db")
    first, second = ssp(folder, *args), ssp(folder, *args)
    assert first.code == 0, first.err
    assert first.out == second.out
    assert first.out
    # and bitemporally: the same (as_of, known_at) on the same store, byte for byte
    known = ("--known-at", "2100-01-01T00:00:00Z")
    third, fourth = ssp(folder, *args, *known), ssp(folder, *args, *known)
    assert third.code == 0, third.err
    assert third.out == fourth.out


def test_report_json_parses_with_raw_integers(demo: tuple[Path, Run]) -> None:
    folder, _ = demo
    run = ssp(folder, "report", "participation", "--as-of", "2010-07-31",
              "--by", "academic_year", "--format", "json", "--store", "ssp-demo.db")
    assert run.code == 0, run.err
    doc = json.loads(run.out)
    assert doc["projection"] == "participation"
    assert doc["as_of"] == "2010-07-31"
    assert doc["known_at"] is None
    assert doc["by"] == "academic_year"
    assert doc["columns"][0] == "academic_year"
    labels = [row["academic_year"] for row in doc["rows"]]
    assert labels == ["2006/07", "2007/08", "2008/09", "2009/10", "total"]
    total = doc["rows"][-1]
    assert isinstance(total["attendances"], int)
    assert total["attendances"] == sum(r["attendances"] for r in doc["rows"][:-1])


def test_report_markdown_has_every_figure_of_the_json(demo: tuple[Path, Run]) -> None:
    folder, _ = demo
    common = ("report", "cost", "--as-of", "2011-07-31", "--by", "role", "--store",
              "ssp-demo.db")
    markdown = ssp(folder, *common, "--format", "markdown")
    doc = json.loads(ssp(folder, *common, "--format", "json").out)
    assert markdown.code == 0, markdown.err
    lines = [line for line in markdown.out.splitlines() if line.startswith("| ")]
    assert len(lines) == 2 + len(doc["rows"])  # header, rule, one line per row
    for line, row in zip(lines[2:], doc["rows"], strict=True):
        cells = [c.strip() for c in line.strip("|").split(" | ")]
        for cell, (column, value) in zip(cells, row.items(), strict=True):
            if isinstance(value, int):
                pounds, pence = divmod(abs(value), 100)
                shown = (f"{'-' if value < 0 else ''}£{pounds:,}.{pence:02d}"
                         if column.endswith("_pence") else f"{value:,}")
                assert cell == shown


def test_report_money_in_pounds_in_tables_only(demo: tuple[Path, Run]) -> None:
    folder, _ = demo
    common = ("report", "funding", "--as-of", "2011-07-31", "--store", "ssp-demo.db")
    table = ssp(folder, *common)
    csv = ssp(folder, *common, "--format", "csv")
    assert table.code == csv.code == 0
    assert "£" in table.out
    rows = list(csv_module.DictReader(io.StringIO(csv.out)))
    for row in rows:  # money is pence in CSV; only quoted sources (citations, reasons) say £
        assert not any("£" in value for key, value in row.items()
                       if key not in ("reason", "citation")), row
        assert all(value.lstrip("-").isdigit() for key, value in row.items()
                   if key.endswith("_pence") and value), row
    header = csv.out.splitlines()[0].split(",")
    assert "received_pence" in header
    total = next(line for line in csv.out.splitlines() if line.startswith("total,"))
    received = int(total.split(",")[header.index("received_pence")])
    pounds, pence = divmod(received, 100)
    assert f"£{pounds:,}.{pence:02d}" in table.out


def test_report_known_at_before_anything_was_recorded_is_empty(demo: tuple[Path, Run]) -> None:
    folder, _ = demo
    run = ssp(folder, "report", "participation", "--as-of", "2012-07-31",
              "--known-at", "2000-01-01T00:00:00", "--format", "json", "--store", "ssp-demo.db")
    assert run.code == 0, run.err
    doc = json.loads(run.out)
    assert doc["known_at"] == "2000-01-01T00:00:00+00:00"
    assert doc["rows"][-1]["attendances"] == 0


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (("--as-of", "2010-13-01"), "--as-of"),
        (("--as-of", "yesterday"), "--as-of"),
        (("--as-of", "2010-07-31", "--known-at", "2011-02-30"), "--known-at"),
        (("--as-of", "2010-07-31", "--period", "2010/12"), "--period"),
        (("--as-of", "2010-07-31", "--by", "colour"), "colour"),
    ],
)
def test_report_bad_arguments_give_one_line_errors(
    demo: tuple[Path, Run], args: tuple[str, ...], needle: str
) -> None:
    folder, _ = demo
    run = ssp(folder, "report", "age", *args, "--store", "ssp-demo.db")
    assert_one_line_error(run)
    assert needle in run.err
    assert run.out == ""


def test_report_unknown_projection_and_missing_store(tmp_path: Path) -> None:
    missing = ssp(tmp_path, "report", "age", "--as-of", "2010-07-31")
    assert_one_line_error(missing)
    assert "ssp-ledger.db" in missing.err
    assert not (tmp_path / "ssp-ledger.db").exists()  # reading never creates a store
    assert ssp(tmp_path, "init").code == 0
    unknown = ssp(tmp_path, "report", "nope", "--as-of", "2010-07-31")
    assert_one_line_error(unknown)
    assert "nope" in unknown.err


def test_report_requires_as_of(tmp_path: Path) -> None:
    run = ssp(tmp_path, "report", "age")
    assert run.code == 2
    assert "--as-of" in run.err
    assert "Traceback" not in run.err


# --------------------------------------------------------------------------- import / export


def test_init_then_import_a_good_jsonl_file(tmp_path: Path) -> None:
    store = "tyne.db"
    init = ssp(tmp_path, "init", "--store", store)
    assert init.code == 0, init.err
    assert init.out == f"store {store} holds 0 events\n"
    good = write_jsonl(tmp_path / "good.jsonl", GOOD_EVENTS)
    run = ssp(tmp_path, "import", str(good), "--store", store)
    assert run.code == 0, run.err
    assert run.out.startswith("recorded 3 events, skipped 0 duplicates")
    again = ssp(tmp_path, "import", str(good), "--store", store)
    assert again.code == 0, again.err
    assert again.out.startswith("recorded 0 events, skipped 3 duplicates")

    listing = ssp(tmp_path, "events", "--store", store)
    assert listing.code == 0, listing.err
    # Ids with square brackets are shown verbatim, never read as rich markup.
    assert "[bold]club-1" in listing.out
    assert "formed[1]" in listing.out
    assert "PartnershipFormed" in listing.out

    table = ssp(tmp_path, "report", "participation", "--as-of", "2007-01-01", "--by", "school",
                "--partnership", "tyne[side]", "--store", store)
    assert table.code == 0, table.err
    assert "partnership tyne[side]" in table.out
    assert "20" in table.out


def test_import_of_a_bad_file_changes_nothing(tmp_path: Path) -> None:
    env = {"SSP_LEDGER_STORE": str(tmp_path / "env.db")}  # the store from the environment
    good = write_jsonl(tmp_path / "good.jsonl", GOOD_EVENTS[:2])
    assert ssp(tmp_path, "import", "good.jsonl", env=env).code == 0
    before = ssp(tmp_path, "export", env=env)
    assert before.code == 0, before.err
    assert len(before.out.splitlines()) == 2

    bad_club = {**GOOD_EVENTS[2], "send_participants": 25}  # more SEND than participants
    bad = write_jsonl(tmp_path / "bad.jsonl", [*GOOD_EVENTS[:2], GOOD_EVENTS[2], bad_club])
    run = ssp(tmp_path, "import", str(bad), env=env)
    assert_one_line_error(run)
    assert "bad.jsonl:4" in run.err
    assert "send_participants" in run.err

    after = ssp(tmp_path, "export", env=env)
    assert after.out == before.out
    assert good.exists()


def test_import_rule_violation_names_the_line(tmp_path: Path) -> None:
    stranger = {**GOOD_EVENTS[2], "event_id": "club-2", "school_id": "not-a-member"}
    bad = write_jsonl(tmp_path / "bad.jsonl", [*GOOD_EVENTS[:2], stranger])
    run = ssp(tmp_path, "import", str(bad), "--store", "x.db")
    assert_one_line_error(run)
    assert "bad.jsonl:3" in run.err
    assert "not-a-member" in run.err
    assert ssp(tmp_path, "events", "--store", "x.db").out.startswith("events in x.db: 0 events")


def test_import_missing_file(tmp_path: Path) -> None:
    run = ssp(tmp_path, "import", "nothere.jsonl")
    assert_one_line_error(run)
    assert "nothere.jsonl" in run.err


def test_export_import_round_trip(demo: tuple[Path, Run], tmp_path: Path) -> None:
    folder, _ = demo
    source = str(folder / "ssp-demo.db")
    exported = ssp(tmp_path, "export", "--store", source, "--out", "all.jsonl")
    assert exported.code == 0, exported.err
    count = int(exported.out.split()[1])
    assert count > 10_000
    imported = ssp(tmp_path, "import", "all.jsonl", "--store", "copy.db")
    assert imported.code == 0, imported.err
    assert imported.out.startswith(f"recorded {count} events, skipped 0 duplicates")
    again = ssp(tmp_path, "export", "--store", "copy.db", "--out", "copy.jsonl")
    assert again.code == 0, again.err
    assert (tmp_path / "copy.jsonl").read_bytes() == (tmp_path / "all.jsonl").read_bytes()
    report = ("report", "cost", "--as-of", "2012-07-31", "--by", "funded", "--format", "csv")
    assert ssp(tmp_path, *report, "--store", "copy.db").out == \
        ssp(tmp_path, *report, "--store", source).out


def test_checkpoint_then_report_from_it(demo: tuple[Path, Run], tmp_path: Path) -> None:
    """A saved checkpoint answers exactly as a replay, before and after more records."""
    store = str(_copy_store(demo, tmp_path))
    report = ("report", "funding", "--as-of", "2012-07-31", "--format", "csv", "--store", store)
    replayed = ssp(tmp_path, *report, "--checkpoint", "")
    first = ssp(tmp_path, "checkpoint", "--store", store)
    assert first.code == 0, first.err
    assert "applied" in first.out
    assert "no checkpoint named 'default'" in first.out
    assert ssp(tmp_path, *report).out == replayed.out
    again = ssp(tmp_path, "checkpoint", "--store", store)
    assert again.code == 0, again.err
    assert "applied 0 records" in again.out
    assert "resumed from position" in again.out
    # a record stored after the checkpoint is applied on top of it
    more = write_jsonl(tmp_path / "more.jsonl", [
        {"type": "FundingChanged", "partnership_id": "ssp-000", "occurred_on": "2012-01-01",
         "event_id": "late-grant", "funding_stream": "local_authority",
         "annual_amount_pence": 1_000_000, "reason": "late top-up"}])
    imported = ssp(tmp_path, "import", str(more), "--store", store)
    assert imported.code == 0, imported.err
    after = ssp(tmp_path, *report)
    assert after.code == 0, after.err
    assert after.out == ssp(tmp_path, *report, "--checkpoint", "").out
    assert after.out != replayed.out
    assert "local_authority" in after.out


# --------------------------------------------------------------------------- schema and help


def test_schema_is_valid_json_naming_every_event(tmp_path: Path) -> None:
    run = ssp(tmp_path, "schema")
    assert run.code == 0, run.err
    schema = json.loads(run.out)
    assert "ClubRun" in schema["$defs"]
    assert "PartnershipFormed" in run.out
    to_file = ssp(tmp_path, "schema", "--out", "events.schema.json")
    assert to_file.code == 0, to_file.err
    assert json.loads((tmp_path / "events.schema.json").read_text(encoding="utf-8")) == schema


@pytest.mark.parametrize(
    "command", ["init", "demo", "import", "export", "report", "schema", "events", "verify",
                "digest", "explain", "restatement", "checkpoint"]
)
def test_every_command_has_help_with_examples(tmp_path: Path, command: str) -> None:
    run = ssp(tmp_path, command, "--help", env={"COLUMNS": "120"})
    assert run.code == 0, run.err
    assert "Examples" in run.out
    assert f"ssp-ledger {command}" in run.out


# --------------------------------------------------------------------------- audit


def _copy_store(demo: tuple[Path, Run], tmp_path: Path) -> Path:
    import shutil
    import sqlite3

    folder, _ = demo
    target = tmp_path / "copy.db"
    with sqlite3.connect(folder / "ssp-demo.db") as src, sqlite3.connect(target) as dst:
        src.backup(dst)
    shutil.copymode(folder / "ssp-demo.db", target)
    return target


def test_digest_then_verify_then_tamper(demo: tuple[Path, Run], tmp_path: Path) -> None:
    import sqlite3

    store = _copy_store(demo, tmp_path)
    digest = ssp(tmp_path, "digest", "--store", str(store))
    assert digest.code == 0, digest.err
    written = digest.out.strip()
    ok = ssp(tmp_path, "verify", "--store", str(store), "--digest", written)
    assert ok.code == 0, ok.err
    from ssp_ledger.arrival import ArrivalConfig, arrivals
    from ssp_ledger.synthetic import SyntheticConfig, generate

    history = generate(SyntheticConfig(seed=2006, partnerships=1))
    demo_events = sum(len(b.events) for b in arrivals(history, ArrivalConfig(seed=2006)))
    assert ok.out.startswith(f"verified {demo_events} events")
    with sqlite3.connect(store) as conn:
        (state,) = conn.execute("SELECT state FROM stored_events WHERE rowid=100").fetchone()
        conn.execute("UPDATE stored_events SET state=? WHERE rowid=100",
                     (state[:-1] + bytes([state[-1] ^ 1]),))
    bad = ssp(tmp_path, "verify", "--store", str(store), "--digest", written)
    assert_one_line_error(bad)
    assert "position 100" in bad.err
    assert bad.out.splitlines()[0].startswith("position 100: ")


def test_explain_sums_to_the_row(demo: tuple[Path, Run]) -> None:
    folder, _ = demo
    args = ("explain", "participation", "--as-of", "2007-07-31", "--by", "school",
            "--group", "ssp-000-hub", "--format", "json", "--store", "ssp-demo.db")
    run = ssp(folder, *args)
    assert run.code == 0, run.err
    payload = json.loads(run.out)
    parts = payload["contributions"]
    assert sum(int(p["attendances"]) for p in parts) == payload["row"]["attendances"]
    assert ssp(folder, *args).out == run.out  # deterministic replay


def test_restatement_between_two_recorded_times(tmp_path: Path) -> None:
    store = tmp_path / "s.db"
    write_jsonl(tmp_path / "a.jsonl", GOOD_EVENTS)
    assert ssp(tmp_path, "import", str(tmp_path / "a.jsonl"), "--store", str(store)).code == 0
    events = ssp(tmp_path, "events", "--store", str(store)).out
    recorded = events.splitlines()[-1].split()[1]
    late = dict(GOOD_EVENTS[2], event_id="late-1", occurred_on="2006-09-19", participants=7)
    write_jsonl(tmp_path / "b.jsonl", [late])
    assert ssp(tmp_path, "import", str(tmp_path / "b.jsonl"), "--store", str(store)).code == 0
    run = ssp(tmp_path, "restatement", "participation", "--as-of", "2007-07-31",
              "--before", recorded, "--after", "2100-01-01T00:00:00Z", "--store", str(store))
    assert run.code == 0, run.err
    assert "figures changed in 1 row" in run.out.splitlines()[0]
    assert "total  sessions" in run.out  # the changed figures, row by row
    assert "late-1" in run.out
