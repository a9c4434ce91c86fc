"""explain() on staff_time_cost, funding and partnership_age: the facts behind every figure.

For every row of these reports the contributions ``explain`` lists add up to the row *exactly*,
money included: each projection costs a fact as the step it makes in the same cumulative integer
function the report takes differences of, so no rounding tolerance is needed.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ssp_ledger.application import Ledger
from ssp_ledger.audit import Contribution, explain
from ssp_ledger.events import (
    ClubRun,
    CompetitionHeld,
    CorrectableEvent,
    CpdDelivered,
    DomainEvent,
    EventCorrected,
    EventRetracted,
    FundingChanged,
    LeaderTrained,
    PartnershipDissolved,
    PartnershipFormed,
    ResourceShared,
    SchoolJoined,
    SchoolLeft,
    StaffAssigned,
    StaffReleased,
)
from ssp_ledger.periods import TeachingCalendar
from ssp_ledger.projection import Cell, Table
from ssp_ledger_projections.staff_time_cost import MEASURES
from tests.strategies import FakeClock, History, dates, histories

SETTINGS = settings(max_examples=30, deadline=None)
D = dt.date
P = "tyne"
AS_OF = D(2011, 8, 31)
START = D(2010, 9, 1)
FUNDING_FIGURES = ("level_in_force_pence", "received_pence", "staff_cost_pence",
                   "funding_gap_pence")
MINUTES_FIELD = {ClubRun: "staff_minutes", CompetitionHeld: "staff_minutes",
                 LeaderTrained: "minutes", CpdDelivered: "minutes",
                 ResourceShared: "staff_minutes"}


def _sum(parts: Sequence[Contribution], measure: str) -> int:
    return sum(p.values.get(measure, 0) for p in parts)


def _labels(table: Table) -> list[str]:
    return list(dict.fromkeys(str(row[0]) for row in table.rows))


def _ids(parts: Sequence[Contribution]) -> list[str]:
    return [p.event_id for p in parts]


def _by_id(parts: Sequence[Contribution]) -> dict[str, dict[str, int]]:
    return {p.event_id: p.values for p in parts}


def _check_cost(ledger: Ledger, as_of: dt.date, by: str | None, period: str | None,
                known_at: dt.datetime | None = None, partnership_id: str | None = None) -> None:
    table = ledger.report("staff_time_cost", as_of=as_of, by=by, period=period,
                          known_at=known_at, partnership_id=partnership_id)
    for group in _labels(table):
        shown, parts = explain(ledger, "staff_time_cost", as_of=as_of, by=by, group=group,
                               period=period, known_at=known_at,
                               partnership_id=partnership_id)
        assert shown == table
        row = table.row(group)
        for measure in MEASURES:
            assert _sum(parts, measure) == row[measure], (group, measure)
        # covered_pence where the row has one (total, periods, streams, funded split), summed
        # exactly on its binding side; the rate of unattributed minutes stated, never summed.
        covered = row["covered_pence"]
        assert covered is None or _sum(parts, "covered_pence") == covered, group
        extra = set() if covered is None else {"covered_pence"}
        for p in parts:
            assert (not p.values or set(p.values) - {"default_hourly_cost_pence"}
                    == set(MEASURES) | extra), p
            if "default_hourly_cost_pence" in p.values:  # unattributed: hidden activity
                assert p.values["hidden_minutes"] == p.values["activity_minutes"], p
                assert p.values["funded_pence"] == 0, p


@st.composite
def richer(draw: st.DrawFn, pid: str = "p") -> History:
    """:func:`histories` plus what it never draws: re-assignments of one person (new terms,
    another stream, possibly on the same date), a second funding stream and activity facts
    sharing a day and a person (so same-day rounding is exercised)."""
    history = draw(histories(pid=pid))
    left = {e.school_id: e.occurred_on for e in history.exits if isinstance(e, SchoolLeft)}
    extra: list[DomainEvent] = []
    assigned = [e for e in history.structure if isinstance(e, StaffAssigned)]
    for n, a in enumerate(draw(st.lists(st.sampled_from(assigned), max_size=3))
                          if assigned else []):
        last = left.get(a.school_id, history.horizon)
        day = a.occurred_on + dt.timedelta(days=draw(st.integers(0, (last - a.occurred_on).days)))
        extra.append(msgspec.structs.replace(
            a, event_id=f"re-{n}", occurred_on=day,
            hourly_cost_pence=draw(st.integers(1000, 5000)),
            release_minutes_per_week=draw(st.integers(0, 900)),
            funding_stream=draw(st.sampled_from(("ssp-grant", "pe-day", None)))))
    for k in range(draw(st.integers(0, 2))):
        extra.append(FundingChanged(
            partnership_id=pid, occurred_on=history.horizon - dt.timedelta(
                days=draw(st.integers(0, 1500))),
            event_id=f"pe-{k}", funding_stream="pe-day",
            annual_amount_pence=draw(st.integers(0, 5_000_000))))
    twins = [msgspec.structs.replace(e, event_id=f"{e.event_id}-twin")
             for e in draw(st.lists(st.sampled_from(history.activity), max_size=4,
                                    unique_by=lambda e: e.event_id))
             ] if history.activity else []
    return History([*history.structure, *extra], [*history.activity, *twins], history.exits,
                   history.horizon)


def _ledger(history: History, clock: FakeClock | None = None) -> Ledger:
    ledger = Ledger.in_memory(clock=clock) if clock is not None else Ledger.in_memory()
    ledger.record_many(history.events)
    return ledger


def _period(data: st.DataObject) -> str | None:
    year = data.draw(st.sampled_from((None, 2006, 2007, 2008, 2009)))
    return None if year is None else f"{year}/{(year + 1) % 100:02d}"


# --------------------------------------------------------------------------- properties


@SETTINGS
@given(st.data())
def test_cost_contributions_sum_to_every_row(data: st.DataObject) -> None:
    history: History = data.draw(richer())
    ledger = _ledger(history)
    if data.draw(st.booleans()):
        ledger.record_many(data.draw(richer(pid="q")).events)
    as_of = data.draw(dates(history))
    period = _period(data)
    for by in (None, "role", "school", "funding_stream", "funded", "academic_year", "term"):
        _check_cost(ledger, as_of, by, period)
    for pid in ledger.partnerships():
        _check_cost(ledger, as_of, "staff", period, partnership_id=pid)


@SETTINGS
@given(st.data())
def test_cost_contributions_sum_after_corrections_and_at_earlier_known_at(
        data: st.DataObject) -> None:
    history: History = data.draw(richer())
    clock = FakeClock()
    ledger = _ledger(history, clock)
    before = clock.advance()
    changeable: list[CorrectableEvent] = [
        e for e in history.events
        if isinstance(e, ClubRun | CompetitionHeld | LeaderTrained | CpdDelivered
                      | ResourceShared | FundingChanged | StaffReleased)]
    chosen = data.draw(st.lists(st.sampled_from(changeable), unique_by=lambda e: e.event_id,
                                max_size=4)) if changeable else []
    retracted: set[str] = set()
    corrected: dict[str, CorrectableEvent] = {}
    for n, event in enumerate(chosen):
        clock.advance()
        field = MINUTES_FIELD.get(type(event))
        if field is None and isinstance(event, FundingChanged):
            field = "annual_amount_pence"
        if field is not None and data.draw(st.booleans()):
            new = msgspec.structs.replace(event, **{field: data.draw(st.integers(0, 500_000))})
            ledger.record(EventCorrected(partnership_id="p", occurred_on=event.occurred_on,
                                         event_id=f"fix-{n}", target_event_id=event.event_id,
                                         reason="recount", replacement=new))
            corrected[event.event_id] = new
        else:
            ledger.record(EventRetracted(partnership_id="p", occurred_on=event.occurred_on,
                                         event_id=f"drop-{n}", target_event_id=event.event_id,
                                         reason="wrong"))
            retracted.add(event.event_id)
    as_of = data.draw(dates(history))
    for by in (None, "school", "funded", "academic_year"):
        _check_cost(ledger, as_of, by, None)
        _check_cost(ledger, as_of, by, None, known_at=before)
    _, parts = explain(ledger, "staff_time_cost", as_of=history.horizon)
    assert not retracted & set(_ids(parts))
    for p in parts:
        fixed = corrected.get(p.event_id)
        name = MINUTES_FIELD.get(type(fixed)) if fixed is not None else None
        if name is not None:
            assert p.values["activity_minutes"] == getattr(fixed, name)


@SETTINGS
@given(st.data())
def test_funding_contributions_sum_to_every_row(data: st.DataObject) -> None:
    history: History = data.draw(richer())
    ledger = _ledger(history)
    if data.draw(st.booleans()):
        ledger.record_many(data.draw(richer(pid="q")).events)
    as_of = data.draw(dates(history))
    period = _period(data)
    for by in (None, "funding_stream", "academic_year"):
        table = ledger.report("funding", as_of=as_of, by=by, period=period)
        for group in _labels(table):
            _, parts = explain(ledger, "funding", as_of=as_of, by=by, group=group,
                               period=period)
            row = table.row(group)
            for figure in FUNDING_FIGURES:
                if row[figure] is not None:
                    assert _sum(parts, figure) == row[figure], (by, group, figure)
                else:
                    assert _sum(parts, figure) == 0


def _int(cell: Cell) -> int:
    assert isinstance(cell, int)
    return cell


@SETTINGS
@given(st.data())
def test_age_contributions_sum_to_every_row(data: st.DataObject) -> None:
    history: History = data.draw(histories())
    ledger = _ledger(history)
    if data.draw(st.booleans()):
        ledger.record_many(data.draw(histories(pid="q")).events)
    as_of = data.draw(dates(history))
    for by in (None, "school", "phase"):
        table = ledger.report("partnership_age", as_of=as_of, by=by)
        for group in _labels(table):
            _, parts = explain(ledger, "partnership_age", as_of=as_of, by=by, group=group)
            rows = [r for r in table.to_dicts() if r[table.columns[0]] == group]
            if by == "school":  # membership rows, labelled by school (one per membership)
                assert _sum(parts, "tenure_days") == sum(_int(r["tenure_days"]) for r in rows)
                assert _sum(parts, "active") == sum(_int(r["active"]) for r in rows)
                continue
            (row,) = rows
            active = _sum(parts, "active_members")
            assert active == row["active_members"]
            assert (_sum(parts, "tenure_days") // active if active else 0) == (
                row["mean_tenure_days"])
            if by is None:
                assert _sum(parts, "age_days") == row["age_days"]
                assert _sum(parts, "age_years") == row["age_years"]


# --------------------------------------------------------------------------- a worked example


def _example() -> list[DomainEvent]:
    def club(eid: str, day: dt.date, minutes: int, participants: int, staff: str | None,
             school: str = "sec") -> ClubRun:
        return ClubRun(partnership_id=P, occurred_on=day, event_id=eid, club_id="fb",
                       school_id=school, activity="football", participants=participants,
                       staff_minutes=minutes, staff_id=staff)

    def join(eid: str, school: str, phase: str, day: dt.date = START) -> SchoolJoined:
        return SchoolJoined(partnership_id=P, occurred_on=day, event_id=eid, school_id=school,
                            school_name=school, phase=phase)  # type: ignore[arg-type]

    def fund(eid: str, day: dt.date, stream: str, amount: int) -> FundingChanged:
        return FundingChanged(partnership_id=P, occurred_on=day, event_id=eid,
                              funding_stream=stream, annual_amount_pence=amount)

    return [
        PartnershipFormed(partnership_id=P, occurred_on=D(2010, 9, 1), event_id="formed",
                          name="Tyne", hub_school_id="sec"),
        join("j-sec", "sec", "secondary"),
        join("j-pri", "pri", "primary"),
        join("j-spc", "spc", "special", D(2010, 10, 1)),
        fund("grant", D(2010, 9, 1), "ssp-grant", 3_650_000),
        StaffAssigned(partnership_id=P, occurred_on=D(2010, 9, 6), event_id="a1", staff_id="s1",
                      role="SSCO", school_id="sec", release_minutes_per_week=600,
                      hourly_cost_pence=3000, funding_stream="ssp-grant"),
        club("c1", D(2010, 10, 5), 90, 12, "s1"),
        club("c2", D(2010, 10, 5), 30, 8, None),
        club("c5", D(2010, 11, 10), 30, 6, "s1", school="pri"),
        fund("cut", D(2011, 1, 1), "ssp-grant", 0),
        club("c3", D(2011, 2, 1), 45, 5, "s1"),
        StaffReleased(partnership_id=P, occurred_on=D(2011, 3, 31), event_id="r1",
                      staff_id="s1", reason="grant ended"),
        fund("pe-day", D(2011, 4, 1), "pe-teacher-day", 365_000),
        club("c4", D(2011, 5, 1), 60, 7, "s1"),
        SchoolLeft(partnership_id=P, occurred_on=D(2011, 6, 30), event_id="l-spc",
                   school_id="spc", reason="academy"),
    ]


@pytest.fixture
def example() -> tuple[Ledger, FakeClock]:
    clock = FakeClock(dt.datetime(2011, 9, 1, tzinfo=dt.UTC))
    ledger = Ledger.in_memory(clock=clock)
    ledger.record_many(_example())
    return ledger, clock


def test_cost_total_lists_every_fact_behind_it(example: tuple[Ledger, FakeClock]) -> None:
    ledger, _ = example
    table, parts = explain(ledger, "staff_time_cost", as_of=AS_OF)
    assert _ids(parts) == ["grant", "a1", "c1", "c2", "c5", "cut", "c3", "r1", "c4"]
    got = _by_id(parts)
    assert got["grant"] == got["cut"] == got["r1"] == {}  # they shape, add nothing
    # Activity: costed at the assignment in force (3000p/h) cumulatively from its start, or
    # unattributed at cost.UNATTRIBUTED of 2010/11, 2632p/h, which it states. The grant
    # received (122 days of £36,500 a year: £12,200) is more than the funded cost, so the
    # funded pence are all covered.
    assert got["c1"] == dict.fromkeys(MEASURES, 0) | {
        "activity_minutes": 90, "funded_minutes": 90, "funded_pence": 4500,
        "total_pence": 4500, "attendances": 12, "covered_pence": 4500}
    assert got["c2"]["hidden_pence"] == 30 * 2632 // 60 == 1316
    assert got["c2"]["default_hourly_cost_pence"] == 2632
    assert got["c2"]["covered_pence"] == 0
    assert got["c5"]["funded_pence"] == 1500
    assert got["c3"]["hidden_minutes"] == 45
    assert got["c3"]["hidden_pence"] == 165 * 3000 // 60 - 120 * 3000 // 60
    assert got["c4"]["hidden_pence"] == 2632  # after the release: unattributed
    calendar = TeachingCalendar()
    funded_days = calendar.teaching_days(D(2010, 9, 6), D(2010, 12, 31))
    all_days = calendar.teaching_days(D(2010, 9, 6), D(2011, 3, 31))
    assert got["a1"]["release_minutes"] == 600 * all_days // 5
    assert got["a1"]["funded_minutes"] == 600 * funded_days // 5
    assert got["a1"]["funded_pence"] == 600 * funded_days // 5 * 3000 // 60
    assert got["a1"]["covered_pence"] == got["a1"]["funded_pence"]
    row = table.row("total")
    assert row["covered_pence"] == row["funded_pence"] == 420_000 + 4500 + 1500
    for measure in MEASURES:
        assert _sum(parts, measure) == row[measure]


def test_cost_rows_list_only_their_facts(example: tuple[Ledger, FakeClock]) -> None:
    ledger, _ = example
    _, funded = explain(ledger, "staff_time_cost", as_of=AS_OF, by="funded", group="funded")
    assert _ids(funded) == ["grant", "a1", "c1", "c5"]
    _, hidden = explain(ledger, "staff_time_cost", as_of=AS_OF, by="funded", group="hidden")
    assert _ids(hidden) == ["a1", "c2", "cut", "c3", "r1", "c4"]
    _, pri = explain(ledger, "staff_time_cost", as_of=AS_OF, by="school", group="pri")
    assert [(p.event_id, bool(p.values)) for p in pri] == [
        ("grant", False), ("a1", False), ("c5", True)]
    _, autumn = explain(ledger, "staff_time_cost", as_of=AS_OF, by="term",
                        group="2010/11:autumn")
    assert _ids(autumn) == ["grant", "a1", "c1", "c2", "c5"]
    _, spring = explain(ledger, "staff_time_cost", as_of=AS_OF, period="2010/11:spring")
    assert _ids(spring) == ["a1", "cut", "c3", "r1"]
    for by in ("role", "school", "staff", "funding_stream", "funded", "term", "academic_year"):
        _check_cost(ledger, AS_OF, by, None)
        _check_cost(ledger, AS_OF, by, "2010/11:spring")


def test_funding_rows(example: tuple[Ledger, FakeClock]) -> None:
    ledger, _ = example
    table, parts = explain(ledger, "funding", as_of=AS_OF, by="funding_stream",
                           group="ssp-grant")
    assert _by_id(parts) == {
        "grant": {"level_in_force_pence": 0, "received_pence": 3_650_000 * 122 // 365},
        "cut": {"level_in_force_pence": 0, "received_pence": 0},
    }
    _, parts = explain(ledger, "funding", as_of=AS_OF, group="pe-teacher-day")
    assert _by_id(parts) == {"pe-day": {"level_in_force_pence": 365_000,
                                        "received_pence": 153_000}}
    table, parts = explain(ledger, "funding", as_of=AS_OF)
    got = _by_id(parts)
    assert _ids(parts) == ["grant", "a1", "c1", "c2", "c5", "cut", "c3", "r1", "pe-day", "c4"]
    assert got["r1"] == {}
    assert got["c1"] == {"staff_cost_pence": 4500, "funding_gap_pence": 4500}
    assert got["pe-day"]["funding_gap_pence"] == -153_000
    row = table.row("total")
    for figure in FUNDING_FIGURES:
        assert _sum(parts, figure) == row[figure]


def test_age_rows(example: tuple[Ledger, FakeClock]) -> None:
    ledger, _ = example
    _, parts = explain(ledger, "partnership_age", as_of=AS_OF, group=P)
    assert _by_id(parts) == {
        "formed": {"age_days": 364, "age_years": 0},
        "j-sec": {"active_members": 1, "tenure_days": 364},
        "j-pri": {"active_members": 1, "tenure_days": 364},
        "l-spc": {},  # ended a membership before the date: listed, adds nothing
    }
    _, parts = explain(ledger, "partnership_age", as_of=AS_OF, by="phase", group="primary")
    assert _ids(parts) == ["j-pri"]
    _, parts = explain(ledger, "partnership_age", as_of=AS_OF, by="school", group="spc")
    assert _by_id(parts)["j-spc"] == {"tenure_days": 272, "active": 0}
    ledger.record(PartnershipDissolved(partnership_id=P, occurred_on=D(2011, 7, 31),
                                       event_id="end"))
    table, parts = explain(ledger, "partnership_age", as_of=AS_OF, group=P)
    assert _by_id(parts)["end"] == {}
    assert _by_id(parts)["formed"]["age_days"] == table.row(P)["age_days"] == 333
    with pytest.raises(ValueError, match="snapshots"):
        explain(ledger, "partnership_age", as_of=AS_OF, by="academic_year", group=P)


def test_corrections_and_retractions_are_reflected(example: tuple[Ledger, FakeClock]) -> None:
    ledger, clock = example
    before = clock.advance()
    clock.advance()
    c1 = next(e for e in _example() if e.event_id == "c1")
    assert isinstance(c1, ClubRun)
    ledger.record(EventCorrected(partnership_id=P, occurred_on=c1.occurred_on, event_id="fix",
                                 target_event_id="c1", reason="recount",
                                 replacement=msgspec.structs.replace(c1, staff_minutes=120)))
    ledger.record(EventRetracted(partnership_id=P, occurred_on=D(2010, 10, 5), event_id="drop",
                                 target_event_id="c2", reason="duplicate return"))
    ledger.record(EventRetracted(partnership_id=P, occurred_on=D(2011, 1, 1), event_id="drop2",
                                 target_event_id="cut", reason="never happened"))
    after = clock.advance()
    table, parts = explain(ledger, "staff_time_cost", as_of=AS_OF, known_at=after)
    got = _by_id(parts)
    assert "c2" not in got
    assert "cut" not in got
    assert got["c1"]["activity_minutes"] == 120
    assert got["c1"]["funded_pence"] == 6000
    assert got["c3"]["funded_minutes"] == 45  # the grant now runs on: c3 is funded
    assert next(p for p in parts if p.event_id == "c1").position > len(_example())
    for measure in MEASURES:
        assert _sum(parts, measure) == table.row("total")[measure]
    _, old = explain(ledger, "staff_time_cost", as_of=AS_OF, known_at=before)
    assert _by_id(old)["c1"]["activity_minutes"] == 90
    assert {"c2", "cut"} <= set(_by_id(old))


def test_same_day_facts_share_the_rounding_exactly_through_retractions() -> None:
    """Facts a series merges into one day are costed in event-id order; retracting the first
    (whose minutes the projection derives from the day's sum) keeps the split exact."""
    from ssp_ledger.projection import Fact, Query
    from ssp_ledger_projections.staff_time_cost import StaffTimeCost

    t0 = dt.datetime(2012, 1, 1, tzinfo=dt.UTC)
    day = D(2010, 10, 5)
    a1 = StaffAssigned(partnership_id=P, occurred_on=START, event_id="a1", staff_id="s1",
                       role="SSCO", school_id="sec", release_minutes_per_week=0,
                       hourly_cost_pence=2801, funding_stream=None)

    def club(eid: str, minutes: int) -> ClubRun:
        return ClubRun(partnership_id=P, occurred_on=day, event_id=eid, club_id="fb",
                       school_id="sec", activity="football", participants=1,
                       staff_minutes=minutes, staff_id="s1")

    p = StaffTimeCost()
    p.apply(Fact(1, t0, a1))
    clubs = {eid: club(eid, m) for eid, m in (("k", 7), ("b", 11), ("z", 0), ("m", 13),
                                              ("c", 1))}
    query = Query(as_of=AS_OF)

    def check(live: Sequence[str]) -> None:
        total = p.report(query).row("total")
        parts = [p.explain_fact(query, "total", Fact(2, t0, clubs[eid])) for eid in live]
        for measure in ("activity_minutes", "hidden_pence"):
            assert sum(v[measure] for v in parts if v) == total[measure]

    live: list[str] = []
    for eid in ("k", "b", "z", "m"):
        p.apply(Fact(2, t0, clubs[eid]))
        live.append(eid)
        check(live)
    for eid in ("k", "m"):  # "k" came first: its minutes were derived from the day's sum
        p.retract(Fact(2, t0, clubs[eid]))
        live.remove(eid)
        check(live)
    p.apply(Fact(3, t0, clubs["c"]))
    live.append("c")
    check(live)
    for eid in ("b", "c", "z"):
        p.retract(Fact(2, t0, clubs[eid]))
        live.remove(eid)
        check(live)
    only_a1 = StaffTimeCost()
    only_a1.apply(Fact(1, t0, a1))
    assert p.dump_state() == only_a1.dump_state()  # every trace of the clubs is gone
