"""End-to-end tests of the auditor's commands on the demo store: the demo's recorded times,
``report --known-at`` (and its note before every record), ``restatement``, ``explain``,
``history`` and ``events`` filters."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.e2e.test_cli import Run, assert_one_line_error, ssp

pytestmark = pytest.mark.e2e

STORE = ("--store", "ssp-demo.db")
BEFORE_AUDIT = "2011-11-01T00:00:00Z"
AFTER_AUDIT = "2011-12-01T00:00:00Z"


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("audit-demo")
    run = ssp(folder, "demo")
    assert run.code == 0, run.err
    return folder


def changes(folder: Path) -> list[dict[str, str]]:
    """The demo's audit records (corrections and retractions) as events."""
    run = ok(ssp(folder, "events", "--type", "EventCorrected,EventRetracted", "--format", "json",
                 *STORE))
    return [r["event"] for r in json.loads(run.out)]


def ok(run: Run) -> Run:
    assert run.code == 0, run.err
    assert "Traceback" not in run.err
    return run


def test_the_demo_store_is_the_same_for_a_seed(demo: Path, tmp_path: Path) -> None:
    ok(ssp(tmp_path, "demo", "--partnerships", "1"))
    mine = ok(ssp(tmp_path, "digest", *STORE)).out
    assert mine == ok(ssp(demo, "digest", *STORE)).out
    first = ok(ssp(demo, "events", "--limit", "1", *STORE)).out
    assert "2007-02-11T16:08:00+00:00" in first  # the autumn 2006 return, late


def test_figures_differ_between_known_at_times(demo: Path) -> None:
    args = ("report", "funding", "--as-of", "2011-08-31", "--period", "2010/11",
            "--format", "json", *STORE)
    def received(known: str) -> int:
        doc = json.loads(ok(ssp(demo, *args, "--known-at", known)).out)
        return int(doc["rows"][-1]["received_pence"])
    assert received(AFTER_AUDIT) < received(BEFORE_AUDIT)  # the back-dated cut


def test_a_known_at_before_every_record_says_so(demo: Path) -> None:
    run = ok(ssp(demo, "report", "participation", "--as-of", "2011-07-31",
                 "--known-at", "2006-01-01", *STORE))
    assert "predates every record (the first was recorded at 2007-02-11T16:08:00+00:00)" in (
        run.err)
    later = ok(ssp(demo, "report", "participation", "--as-of", "2011-07-31",
                   "--known-at", "2012-01-01", *STORE))
    assert "predates" not in later.err


def test_restatement_shows_only_changed_figures_and_why(demo: Path) -> None:
    run = ok(ssp(demo, "restatement", "participation", "--as-of", "2011-08-31", "--period",
                 "2010/11", "--before", BEFORE_AUDIT, "--after", AFTER_AUDIT, *STORE))
    lines = run.out.splitlines()
    assert "3 figures changed in 1 row" in lines[0]
    assert "total  sessions" in run.out
    assert "competitions" not in run.out  # unchanged
    retracted = next(c for c in changes(demo) if c["type"] == "EventRetracted")
    assert f"retracts {retracted['target_event_id']}" in run.out
    assert "the club did not meet" in run.out
    doc = json.loads(ok(ssp(demo, "restatement", "participation", "--as-of", "2011-08-31",
                            "--period", "2010/11", "--before", BEFORE_AUDIT, "--after",
                            AFTER_AUDIT, "--format", "json", *STORE)).out)
    sessions = next(f for f in doc["figures"] if f["figure"] == "sessions")
    assert sessions["difference"] == sessions["after"] - sessions["before"] == -2
    kinds = {r["position"]: r["type"] for r in doc["records"]}
    assert {kinds[p] for p in sessions["records"]} == {"EventRetracted"}
    money = ok(ssp(demo, "restatement", "funding", "--as-of", "2011-08-31", "--period",
                   "2010/11", "--before", BEFORE_AUDIT, "--after", AFTER_AUDIT, *STORE))
    assert "ssp-grant  level_in_force_pence" in money.out
    assert "-£" in money.out  # the cut, in pounds
    bad = ssp(demo, "restatement", "funding", "--as-of", "2011-08-31", "--before",
              AFTER_AUDIT, "--after", BEFORE_AUDIT, *STORE)
    assert_one_line_error(bad)


def test_explain_shows_pounds_reasons_and_recorded_times(demo: Path) -> None:
    run = ok(ssp(demo, "explain", "participation", "--as-of", "2011-08-31", "--period",
                 "2010/11", "--by", "school", "--group", "ssp-000-hub", *STORE))
    assert "corrected by ssp-000-audit-01: audit 2011-11-08: the register shows" in run.out
    # (the audit's first correction is at the hub, where auditors start)
    assert "2011-11-08T10:00:00+00:00" in run.out
    cost = ok(ssp(demo, "explain", "funding", "--as-of", "2011-08-31", "--period", "2010/11",
                  "--group", "ssp-grant", *STORE))
    assert "£" in cost.out
    assert "ssp-grant allocation from 2011-04-01" in cost.out
    raw = json.loads(ok(ssp(demo, "explain", "funding", "--as-of", "2011-08-31", "--period",
                            "2010/11", "--group", "ssp-grant", "--format", "json",
                            *STORE)).out)
    assert all(isinstance(c["received_pence"], int) for c in raw["contributions"])


def test_history_shows_the_original_and_each_change(demo: Path) -> None:
    corrected = next(c for c in changes(demo) if c["type"] == "EventCorrected")
    target = corrected["target_event_id"]
    run = ok(ssp(demo, "history", target, *STORE))
    lines = run.out.splitlines()
    assert lines[0].startswith(f"history of {target} (ClubRun, partnership ssp-000)")
    assert any("(original)" in line for line in lines)
    pupils = corrected["replacement"]["participants"]  # type: ignore[index]
    assert any(line.startswith("  changed: participants ") and line.endswith(f" -> {pupils}")
               for line in lines)
    assert lines[-1] == f"now: in force as corrected by {corrected['event_id']}"
    by_change = ok(ssp(demo, "history", corrected["event_id"], "--partnership", "ssp-000",
                       *STORE))
    assert by_change.out == run.out
    retracted = next(c for c in changes(demo) if c["type"] == "EventRetracted")
    doc = json.loads(ok(ssp(demo, "history", retracted["target_event_id"], "--format", "json",
                            *STORE)).out)
    assert [r["event"]["type"] for r in doc] == ["ClubRun", "EventRetracted"]
    assert_one_line_error(ssp(demo, "history", "no-such-event", *STORE))


def test_events_filter_by_type_dates_partnership_and_id(demo: Path) -> None:
    run = ok(ssp(demo, "events", "--type", "EventCorrected,EventRetracted", *STORE))
    assert run.out.splitlines()[0].endswith(": 5 events")
    dated = ok(ssp(demo, "events", "--type", "FundingChanged", "--from", "2011-01-01",
                   "--to", "2011-06-30", "--partnership", "ssp-000", *STORE))
    assert dated.out.splitlines()[0].endswith(": 1 event")
    assert "2011-11-22T09:30:00+00:00" in dated.out  # recorded back-dated
    corrected = next(c for c in changes(demo) if c["type"] == "EventCorrected")
    doc = json.loads(ok(ssp(demo, "events", "--id", corrected["target_event_id"], "--format",
                            "json", *STORE)).out)
    assert [e["event"]["type"] for e in doc] == ["ClubRun", "EventCorrected"]
    assert_one_line_error(ssp(demo, "events", "--type", "Nonsense", *STORE))
    assert_one_line_error(ssp(demo, "events", "--from", "2011-02-30", *STORE))
