"""restatement(): each changed figure, before / after / difference, with only the records that
changed it (late facts, corrections, retractions, shaping facts such as a back-dated funding
level) and their reasons."""

from __future__ import annotations

import datetime as dt

import msgspec
import pytest

from ssp_ledger import (
    ClubRun,
    EventCorrected,
    EventRetracted,
    FundingChanged,
    Ledger,
    PartnershipFormed,
    SchoolJoined,
    StaffAssigned,
)
from ssp_ledger.arrival import SetClock
from ssp_ledger.audit import FigureChange, restatement

P = "tyne"
DAY = dt.date(2010, 9, 1)
T0 = dt.datetime(2010, 12, 1, 9, tzinfo=dt.UTC)
T1 = dt.datetime(2011, 3, 1, 9, tzinfo=dt.UTC)
AS_OF = dt.date(2011, 8, 31)


def club(event_id: str, school: str, pupils: int, day: int = 7) -> ClubRun:
    return ClubRun(partnership_id=P, occurred_on=dt.date(2010, 9, day), event_id=event_id,
                   club_id=f"{school}-club", school_id=school, activity="hockey",
                   participants=pupils, send_participants=1, staff_minutes=60)


@pytest.fixture
def ledger() -> Ledger:
    clock = SetClock(T0)
    ledger = Ledger.in_memory(clock=clock)
    c1 = club("c1", "hub", 10)
    ledger.record_many([
        PartnershipFormed(partnership_id=P, occurred_on=DAY, event_id="f", name="Tyne",
                          hub_school_id="hub"),
        SchoolJoined(partnership_id=P, occurred_on=DAY, event_id="j1", school_id="hub",
                     school_name="Hub", phase="sports_college"),
        SchoolJoined(partnership_id=P, occurred_on=DAY, event_id="j2", school_id="pri",
                     school_name="Pri", phase="primary"),
        c1, club("c2", "hub", 12, day=8), club("c3", "pri", 8),
    ])
    clock.now = T1
    ledger.record_many([
        EventCorrected(partnership_id=P, occurred_on=c1.occurred_on, event_id="fix-1",
                       target_event_id="c1", reason="register shows 7",
                       replacement=msgspec.structs.replace(c1, participants=7)),
        club("c4", "pri", 5, day=9),
        EventRetracted(partnership_id=P, occurred_on=dt.date(2010, 9, 8), event_id="gone-1",
                       target_event_id="c2", reason="never ran"),
    ])
    return ledger


def figures(ledger: Ledger, projection: str, by: str | None) -> dict[tuple[str, str],
                                                                     FigureChange]:
    result = restatement(ledger, projection, as_of=AS_OF, before=T0, after=T1, by=by)
    return {(str(f.group), f.column): f for f in result.figures}


def test_each_changed_figure_names_only_the_records_that_changed_it(ledger: Ledger) -> None:
    found = figures(ledger, "participation", "school")
    hub_sessions = found["hub", "sessions"]
    assert (hub_sessions.before, hub_sessions.after, hub_sessions.difference) == (2, 1, -1)
    assert [r.event_id for r in hub_sessions.records] == ["gone-1"]
    assert hub_sessions.records[0].reason == "never ran"
    assert hub_sessions.records[0].target == "c2"
    hub_pupils = found["hub", "attendances"]
    assert hub_pupils.difference == -15
    assert [(r.event_id, r.reason) for r in hub_pupils.records] == [
        ("fix-1", "register shows 7"), ("gone-1", "never ran")]
    pri_pupils = found["pri", "attendances"]
    assert pri_pupils.difference == 5
    assert [(r.event_type, r.event_id, r.target) for r in pri_pupils.records] == [
        ("ClubRun", "c4", "")]
    total = found["total", "attendances"]
    assert total.difference == 10 - 3 - 12 + 5 - 10
    assert [r.event_id for r in total.records] == ["fix-1", "c4", "gone-1"]
    assert ("hub", "competitions") not in found  # unchanged figures are not listed


def test_restatement_keeps_its_earlier_fields(ledger: Ledger) -> None:
    result = restatement(ledger, "participation", as_of=AS_OF, before=T0, after=T1, by="school")
    assert [row[0] for row in result.changed] == ["hub", "pri", "total"]
    assert [e[3] for e in result.events] == ["fix-1", "c4", "gone-1"]
    for f in result.figures:
        before = result.before.row(str(f.group))[f.column]
        after = result.after.row(str(f.group))[f.column]
        assert (f.before, f.after) == (before, after)
        assert f.difference == after - before
    same = restatement(ledger, "participation", as_of=AS_OF, before=T1, after=T1, by="school")
    assert same.figures == ()
    assert same.changed == ()


def test_a_back_dated_funding_level_is_named_for_the_figures_it_moves() -> None:
    clock = SetClock(T0)
    ledger = Ledger.in_memory(clock=clock)
    ledger.record_many([
        PartnershipFormed(partnership_id=P, occurred_on=DAY, event_id="f", name="Tyne",
                          hub_school_id="hub"),
        SchoolJoined(partnership_id=P, occurred_on=DAY, event_id="j1", school_id="hub",
                     school_name="Hub", phase="sports_college"),
        StaffAssigned(partnership_id=P, occurred_on=DAY, event_id="s1", staff_id="ssco",
                      role="SSCO", school_id="hub", release_minutes_per_week=600,
                      hourly_cost_pence=2400, funding_stream="ssp-grant"),
        club("c1", "hub", 10),
    ])
    clock.now = T1
    ledger.record(FundingChanged(partnership_id=P, occurred_on=DAY, event_id="grant",
                                 funding_stream="ssp-grant", annual_amount_pence=10_000_000,
                                 reason="grant letter found"))
    found = figures(ledger, "staff_time_cost", "funded")
    assert found, "the level decides funded or hidden: figures move between the rows"
    for figure in found.values():
        assert [(r.event_id, r.reason) for r in figure.records] == [
            ("grant", "grant letter found")], figure
