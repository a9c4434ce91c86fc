"""Cached staff-cost tables answer exactly as costing piece by piece, through every change; the
funding projection attached to the set's staff_time_cost answers exactly as a standalone one."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ssp_ledger import Ledger
from ssp_ledger.events import (
    MAX_DATE,
    MIN_DATE,
    ClubRun,
    CompetitionHeld,
    CorrectableEvent,
    CpdDelivered,
    DomainEvent,
    EventCorrected,
    EventRetracted,
    FundingChanged,
    LeaderTrained,
    ResourceShared,
    StaffAssigned,
    StaffReleased,
)
from ssp_ledger.periods import TeachingCalendar, parse_period
from ssp_ledger.projection import Fact, ProjectionSet, Query, Table
from ssp_ledger.synthetic import SyntheticConfig, generate
from ssp_ledger_projections.funding import Funding
from ssp_ledger_projections.staff_cost.costing import ZERO
from ssp_ledger_projections.staff_cost.grouped import GROUPINGS, build_grouped
from ssp_ledger_projections.staff_cost.rates import (
    PARAMETER,
    RateValue,
    UnattributedRate,
    rate_of,
)
from ssp_ledger_projections.staff_time_cost import StaffTimeCost
from tests.strategies import FORMED, History, dates, histories

SETTINGS = settings(max_examples=40, deadline=None)
T0 = dt.datetime(2012, 1, 1, tzinfo=dt.UTC)
NEVER = 10**9
"""``tables_after`` that keeps a projection costing piece by piece (the reference)."""
BYS = (None, "funded", "role", "school", "funding_stream", "staff", "term", "academic_year",
       "financial_year", "calendar_year")
"""Every grouping and every period kind."""
PERIODS = (None, "2007/08", "2007-02-10..2009-06-30", "2009/10:spring")
RATES: tuple[int | None, ...] = (None, 2500, 0, 1, 1799, 4001)
"""Unattributed rates a query may set (None: the dated parameter ``cost.UNATTRIBUTED``)."""
ODD = UnattributedRate(PARAMETER, (
    RateValue(dt.date(2005, 1, 1), 1799, "test"), RateValue(dt.date(2007, 2, 10), 1, "test"),
    RateValue(dt.date(2007, 11, 3), 1, "test"), RateValue(dt.date(2008, 3, 31), 4001, "test"),
    RateValue(dt.date(2009, 9, 2), 0, "test")))
"""A dated rate with changes on odd days (and a repeated value, which cuts nothing)."""
INTERNAL = st.one_of(st.sampled_from(RATES).map(rate_of), st.just(ODD))
"""Rates the costings are built for: every query's, and the odd dated one."""


def staff_cost(facts: Sequence[CorrectableEvent], tables_after: int) -> StaffTimeCost:
    p = StaffTimeCost()
    p.tables_after = tables_after
    for i, e in enumerate(facts, start=1):
        p.apply(Fact(i, T0, e))
    return p


def query(day: dt.date, by: str | None = None, period: str | None = None,
          rate: int | None = None, pid: str | None = None) -> Query:
    return Query(as_of=day, by=by, period=parse_period(period) if period else None,
                 partnership_id=pid,
                 params={} if rate is None else {"default_hourly_cost_pence": rate})


def tables(p: StaffTimeCost | Funding, days: Sequence[dt.date],
           rates: Sequence[int | None] = (None,),
           bys: Sequence[str | None] = BYS) -> list[Table]:
    """Reports over every grouping, period and rate asked, at each day (twice each, so a
    projection that builds tables on its second answer answers from them too)."""
    out = []
    for day in days:
        for by in bys:
            for period in PERIODS:
                for rate in rates:
                    q = query(day, by, period, rate)
                    out.append(p.report(q))
                    out.append(p.report(q))
    return out


def query_days(data: st.DataObject, history: History) -> list[dt.date]:
    """Dates around the history plus one long after it (open assignments keep accruing)."""
    days = data.draw(st.lists(dates(history), min_size=1, max_size=3))
    return [*days, history.horizon + dt.timedelta(days=data.draw(st.integers(1, 9000)))]


def facts_of(events: Iterable[DomainEvent]) -> list[CorrectableEvent]:
    return [e for e in events if isinstance(e, CorrectableEvent)]


def small_history() -> list[CorrectableEvent]:
    """The ~1,400 facts of a small synthetic partnership (staff, funding, activity)."""
    config = SyntheticConfig(secondaries=1, primaries=2, specials=0,
                             horizon=dt.date(2009, 12, 31))
    return facts_of(generate(config))


# --------------------------------------------------------------------------- cumulative tables


@SETTINGS
@given(st.data())
def test_tables_answer_exactly_as_piece_by_piece(data: st.DataObject) -> None:
    history: History = data.draw(histories(max_activity=40))
    other: History = data.draw(histories(pid="q", max_activity=10))
    facts = facts_of([*history.events, *other.events])
    days = query_days(data, history)
    rates = data.draw(st.lists(st.sampled_from(RATES), min_size=1, max_size=2, unique=True))
    cached = staff_cost(facts, tables_after=1)
    reference = staff_cost(facts, tables_after=NEVER)
    assert tables(cached, days, rates) == tables(reference, days, rates)
    pids = cached.facts.partnerships(None)
    if len(pids) > 1:  # national answers come from the national tables
        assert (None, None) in cached.cumulative.built_grouped()
    else:
        assert cached.cumulative.built() == set(pids)
    assert not reference.cumulative.built()
    for pid in ("p", "q", "nobody"):
        q = query(days[0], pid=pid)
        assert cached.report(q) == reference.report(q)


@SETTINGS
@given(st.data())
def test_the_cumulative_costing_answers_as_the_reference_costing(data: st.DataObject) -> None:
    """The two implementations of the Costing interface, side by side: totals over any range
    and consecutive periods from any starts, funded/hidden split included."""
    history: History = data.draw(histories(max_activity=40))
    p = staff_cost(facts_of(history.events), tables_after=1)
    rate = data.draw(INTERNAL)
    cumulative = p.cumulative.costing("p", rate)
    reference = p.cumulative.pieces("p", rate)
    # A table answers (not the pieces again), unless there is nothing to cost.
    assert (type(cumulative) is type(reference)) == (not p.facts.knows("p"))
    days = sorted(data.draw(st.lists(dates(history), min_size=2, max_size=6)))
    end = days[-1] + dt.timedelta(days=data.draw(st.integers(0, 4000)))
    for start in (None, *days):
        assert cumulative.between(start, end) == reference.between(start, end), start
    starts = sorted(set(days))
    assert cumulative.periods(starts, end) == reference.periods(starts, end)
    assert sum((c.total().total_pence for c in reference.periods(starts, end)), 0) == (
        reference.between(starts[0], end).total().total_pence)


@SETTINGS
@given(st.data())
def test_grouped_tables_answer_as_the_reference_costing(data: st.DataObject) -> None:
    """Every group of every grouping, for one partnership and for all of them, over any range
    and consecutive periods: a grouped table's group equals the pieces of that group."""
    history: History = data.draw(histories(max_activity=30))
    other: History = data.draw(histories(pid="q", max_activity=10))
    p = staff_cost(facts_of([*history.events, *other.events]), tables_after=NEVER)
    rate = data.draw(INTERNAL)
    by = data.draw(st.sampled_from(GROUPINGS))
    pids = data.draw(st.sampled_from((["p"], ["q"], ["p", "q"])))
    table = build_grouped(p.facts, pids, by, rate)
    total = build_grouped(p.facts, pids, None, rate)
    days = sorted(data.draw(st.lists(dates(history), min_size=2, max_size=5)))
    end = days[-1] + dt.timedelta(days=data.draw(st.integers(0, 4000)))
    for start in (None, *days):
        expected: dict[str, object] = {}
        whole = ZERO
        for pid in pids:
            reference = p.cumulative.pieces(pid, rate)
            whole = whole.plus(reference.between(start, end))
            for group, columns in reference.grouped(by, start, end).items():
                held = expected.get(group, ZERO)
                assert isinstance(held, type(ZERO))
                expected[group] = held.plus(columns)
        found = {g: c for g, c in table.between(start, end).items() if c != ZERO}
        assert found == {g: c for g, c in expected.items() if c != ZERO}, (by, start)
        assert total.group("").between(start, end) == whole
    starts = sorted(set(days))
    for group in table.groups:
        reference_rows = [ZERO] * len(starts)
        for pid in pids:
            piece = p.cumulative.pieces(pid, rate)
            for k, (first, nxt) in enumerate(zip(starts, [*starts[1:], None], strict=True)):
                last = end if nxt is None else nxt - dt.timedelta(days=1)
                reference_rows[k] = reference_rows[k].plus(
                    piece.grouped(by, first, last).get(group, ZERO))
        assert table.group(group).periods(starts, end) == reference_rows, group


def _tweak(event: CorrectableEvent, shift: int, bump: int) -> CorrectableEvent:
    """A corrected version of ``event``: another date and other figures."""
    day = min(max(event.occurred_on + dt.timedelta(days=shift), MIN_DATE), MAX_DATE)
    if isinstance(event, ClubRun | CompetitionHeld):
        return msgspec.structs.replace(event, occurred_on=day, staff_minutes=bump,
                                       participants=event.participants + bump)
    if isinstance(event, LeaderTrained | CpdDelivered):
        return msgspec.structs.replace(event, occurred_on=day, minutes=bump)
    if isinstance(event, ResourceShared):
        return msgspec.structs.replace(event, occurred_on=day, staff_minutes=bump)
    if isinstance(event, StaffAssigned):
        return msgspec.structs.replace(event, occurred_on=day, hourly_cost_pence=1000 + bump,
                                       release_minutes_per_week=bump)
    if isinstance(event, FundingChanged):
        return msgspec.structs.replace(event, occurred_on=day, annual_amount_pence=bump % 3 * bump)
    try:
        return msgspec.structs.replace(event, occurred_on=day)
    except ValueError:  # a date its other fields forbid (a survey return outside its year)
        return event


@SETTINGS
@given(st.data())
def test_caches_follow_apply_retract_and_correct(data: st.DataObject) -> None:
    """After each step the cached projection answers as one freshly built from the facts in
    force then (corrections and retractions reach a projection as retract + apply)."""
    history: History = data.draw(histories(max_activity=30))
    other: History = data.draw(histories(pid="q", max_activity=5))
    pending = data.draw(st.permutations(facts_of([*history.events, *other.events])))
    cached = StaffTimeCost()
    cached.tables_after = data.draw(st.sampled_from((1, 2)))
    live: dict[int, CorrectableEvent] = {}
    position = 0
    steps = data.draw(st.lists(st.sampled_from(("apply", "apply", "retract", "correct", "ask")),
                               min_size=1, max_size=25))
    for step in steps:
        day = data.draw(dates(history))
        if step == "apply" and pending:
            position += 1
            live[position] = pending.pop(0)
            cached.apply(Fact(position, T0, live[position]))
        elif step in ("retract", "correct") and live:
            key = data.draw(st.sampled_from(sorted(live)))
            old = live.pop(key)
            cached.retract(Fact(key, T0, old))
            if step == "correct":
                position += 1
                live[position] = _tweak(old, data.draw(st.integers(-200, 200)),
                                        data.draw(st.integers(0, 600)))
                cached.apply(Fact(position, T0, live[position]))
        fresh = staff_cost(list(live.values()), tables_after=NEVER)
        bys = (None, "funded", "term", "role", "school")
        assert tables(cached, [day], bys=bys) == tables(fresh, [day], bys=bys), step
        for pid in ("p", "q"):
            q = query(day, by="staff", pid=pid)
            assert cached.report(q) == fresh.report(q), (step, pid)
            assert cached.report(q) == fresh.report(q), (step, pid)


def test_every_kind_of_fact_invalidates_the_tables_on_retract_and_apply() -> None:
    """Retract one fact with the tables built, answer, apply it back, answer: every staff,
    funding and release fact of a synthetic history, and a sample of its activity."""
    events = small_history()
    days = [dt.date(2007, 7, 31), dt.date(2009, 12, 31), dt.date(2030, 1, 1)]
    bys = (None, "funded", "academic_year", "role", "school")
    p = staff_cost(events, tables_after=1)
    expected = tables(p, days, bys=bys)
    activity = [i for i, e in enumerate(events) if not isinstance(
        e, StaffAssigned | StaffReleased | FundingChanged)]
    chosen = [i for i in range(len(events)) if i not in activity] + activity[::97]
    for i in chosen:
        fact = Fact(i + 1, T0, events[i])
        p.retract(fact)
        without = staff_cost(events[:i] + events[i + 1:], tables_after=NEVER)
        assert tables(p, days, bys=bys) == tables(without, days, bys=bys), events[i]
        p.apply(fact)
        assert tables(p, days, bys=bys) == expected, events[i]


def test_open_assignments_accrue_after_the_last_change() -> None:
    events: list[CorrectableEvent] = [
        StaffAssigned(partnership_id="p", occurred_on=dt.date(2008, 9, 1), event_id="a",
                      staff_id="t", role="SSCO", school_id="s", release_minutes_per_week=900,
                      hourly_cost_pence=3100, funding_stream="grant"),
        FundingChanged(partnership_id="p", occurred_on=dt.date(2009, 1, 1), event_id="f",
                       funding_stream="grant", annual_amount_pence=100),
        ClubRun(partnership_id="p", occurred_on=dt.date(2009, 3, 3), event_id="c", club_id="c",
                school_id="s", activity="dance", participants=9, staff_minutes=45, staff_id="t"),
    ]
    cached = staff_cost(events, tables_after=1)
    reference = staff_cost(events, tables_after=NEVER)
    for day in (dt.date(2009, 3, 3), dt.date(2009, 3, 4), dt.date(2015, 6, 1),
                dt.date(2100, 12, 31)):
        for by in (None, "funded", "calendar_year"):
            assert cached.report(query(day, by)) == reference.report(query(day, by))
    assert cached.cumulative.built() == {"p"}  # answered from the table, open tail included
    late = cached.report(query(dt.date(2015, 6, 1), "funded")).row("funded")
    assert late["release_minutes"] > 0
    assert late["hidden_minutes"] == 0


def test_figures_too_large_for_8_bytes_stay_exact() -> None:
    events: list[CorrectableEvent] = [
        StaffAssigned(partnership_id="p", occurred_on=dt.date(1990, 1, 1), event_id="a",
                      staff_id="t", role="PDM", school_id="s", release_minutes_per_week=10**7,
                      hourly_cost_pence=10**11),
        CpdDelivered(partnership_id="p", occurred_on=dt.date(2100, 12, 31), event_id="c",
                     topic="t", teachers=1, minutes=10),
    ]
    cached = staff_cost(events, tables_after=1)
    total = cached.report(query(dt.date(2100, 12, 31))).row("total")
    assert isinstance(total["total_pence"], int)
    assert total["total_pence"] > 2**63
    assert tables(cached, [dt.date(2100, 12, 31)]) == tables(
        staff_cost(events, tables_after=NEVER), [dt.date(2100, 12, 31)])


def test_national_grouped_tables_keep_figures_too_large_for_8_bytes_exact() -> None:
    """Grouped look-ups over every partnership switch to Python integers when a figure (or an
    open assignment's release long after the table) could leave 8 bytes: the rows and their
    sum stay exact, as costed piece by piece."""
    events: list[CorrectableEvent] = []
    for pid, school in (("p", "s"), ("q", "t")):
        events += [
            StaffAssigned(partnership_id=pid, occurred_on=dt.date(1990, 1, 1),
                          event_id=f"a-{pid}", staff_id=f"x-{pid}", role="PDM",
                          school_id=school, release_minutes_per_week=10**7,
                          hourly_cost_pence=10**11, funding_stream="grant"),
            FundingChanged(partnership_id=pid, occurred_on=dt.date(1995, 1, 1),
                           event_id=f"f-{pid}", funding_stream="grant", annual_amount_pence=1),
            ClubRun(partnership_id=pid, occurred_on=dt.date(1991, 3, 3), event_id=f"c-{pid}",
                    club_id="c", school_id=school, activity="dance", participants=9,
                    staff_minutes=10**7, staff_id=f"x-{pid}"),
        ]
    cached = staff_cost(events, tables_after=1)
    reference = staff_cost(events, tables_after=NEVER)
    days = [dt.date(1991, 3, 3), dt.date(2030, 1, 1), dt.date(2100, 12, 31)]
    bys = ("role", "school", "staff", "funding_stream", "term")
    assert tables(cached, days, bys=bys) == tables(reference, days, bys=bys)
    assert {(None, "school"), (None, "staff")} <= cached.cumulative.built_grouped()
    late = cached.report(query(dt.date(2100, 12, 31), "school"))
    assert late.totals is not None
    total_pence = late.totals["total_pence"]
    assert isinstance(total_pence, int)
    assert total_pence > 2**63


def test_a_table_is_built_on_the_second_answer_after_a_change() -> None:
    events = small_history()
    pid = events[0].partnership_id
    p = staff_cost(events, tables_after=2)
    q = query(dt.date(2009, 1, 1))
    expected = p.report(q)
    assert not p.cumulative.built()  # the first answer after a change: piece by piece
    assert p.report(q) == expected
    assert p.cumulative.built() == {pid}
    p.report(query(dt.date(2009, 1, 1), by="school"))  # other groupings: piece by piece
    extra = CpdDelivered(partnership_id=pid, occurred_on=dt.date(2008, 1, 8), event_id="x",
                         topic="t", teachers=1, minutes=5)
    p.apply(Fact(9999, T0, extra))
    assert not p.cumulative.built()  # any staff fact of the partnership drops its table
    p.report(q)
    assert p.report(q) != expected
    assert p.cumulative.built() == {pid}
    p.retract(Fact(9999, T0, extra))
    assert not p.cumulative.built()
    p.report(q)
    assert p.report(q) == expected


def test_checkpoints_leave_the_caches_out() -> None:
    events = small_history()
    p = staff_cost(events, tables_after=1)
    unasked = p.dump_state()
    expected = tables(p, [dt.date(2010, 1, 1)])
    assert p.cumulative.built()
    assert p.dump_state() == unasked  # tables, timelines, calendar years: none of them dumped
    copy = StaffTimeCost()
    copy.tables_after = 1
    copy.load_state(unasked)
    assert not copy.cumulative.built()
    assert tables(copy, [dt.date(2010, 1, 1)]) == expected
    assert copy.dump_state() == unasked


@given(st.dates(dt.date(1990, 1, 1), dt.date(2030, 1, 1)), st.integers(-3, 900))
def test_teaching_days_by_ordinal_match_a_day_by_day_count(start: dt.date, length: int) -> None:
    cal = TeachingCalendar()
    days = [start + dt.timedelta(days=i) for i in range(length + 1)]
    teaching = [d.toordinal() for d in days if cal.is_teaching_day(d)]
    first, last = start.toordinal(), start.toordinal() + length
    assert cal.teaching_ordinals(first, last) == teaching
    assert cal.teaching_days_between(first, last) == len(teaching)
    assert cal.teaching_days(start, start + dt.timedelta(days=length)) == len(teaching)


# --------------------------------------------------------------------------- funding attached


def _ledgers(history: History, retracted: Sequence[str]) -> tuple[Ledger, Ledger]:
    """The same log in a ledger with staff_time_cost and funding, and one with funding only."""
    out = []
    for projections in ({"staff_time_cost": StaffTimeCost, "funding": Funding},
                        {"funding": Funding}):
        ledger = Ledger.in_memory(projections=projections)
        ledger.record_many(history.events)
        for n, event_id in enumerate(retracted):
            ledger.record(EventRetracted(partnership_id="p", occurred_on=FORMED,
                                         event_id=f"del-{n}", target_event_id=event_id,
                                         reason="test"))
        out.append(ledger)
    return out[0], out[1]


def _funding_tables(projection: object, days: Sequence[dt.date]) -> list[Table]:
    assert isinstance(projection, Funding)
    return [projection.report(query(day, by, period, rate))
            for day in days for by in (None, "funding_stream", "term", "academic_year")
            for period in PERIODS for rate in (None, 1799)]


@SETTINGS
@given(st.data())
def test_funding_attached_to_the_shared_staff_cost_answers_as_standalone(
        data: st.DataObject) -> None:
    history: History = data.draw(histories())
    retracted = data.draw(st.lists(st.sampled_from([e.event_id for e in history.activity]),
                                   unique=True, max_size=3)) if history.activity else []
    corrections = [e for e in history.activity
                   if isinstance(e, ClubRun) and e.event_id not in retracted]
    shared, alone = _ledgers(history, retracted)
    for event in corrections[:1]:
        for ledger in (shared, alone):
            ledger.record(EventCorrected(
                partnership_id="p", occurred_on=event.occurred_on, event_id="fix",
                target_event_id=event.event_id, reason="test",
                replacement=msgspec.structs.replace(event, staff_minutes=event.staff_minutes + 7)))
    days = query_days(data, history)
    live = shared.view(None)
    funding = live["funding"]
    assert isinstance(funding, Funding)
    assert funding.staff is live["staff_time_cost"]  # one staff-cost computation, not two
    assert funding.handles == ()  # the set offers it no facts
    expected = _funding_tables(alone.view(None)["funding"], days)
    assert _funding_tables(funding, days) == expected
    assert shared.funding(as_of=days[0]) == alone.funding(as_of=days[0])

    # A checkpoint round trip: the set attaches the restored funding to the restored sibling.
    restored = ProjectionSet.restore(live.snapshot(), shared.factories, shared.load, shared.read)
    again = restored["funding"]
    assert isinstance(again, Funding)
    assert again.staff is restored["staff_time_cost"]
    assert _funding_tables(again, days) == expected


def test_attached_funding_checkpoints_without_the_shared_staff_cost() -> None:
    events = small_history()
    staff = StaffTimeCost()
    funding = Funding()
    funding.attach({"staff_time_cost": staff, "funding": funding})
    alone = Funding()
    for i, e in enumerate(events, start=1):
        fact = Fact(i, T0, e)
        for p in (staff, funding, alone):  # as a set would feed them (funding: a no-op)
            p.apply(fact)
    q = query(dt.date(2010, 8, 31), "term")
    assert funding.report(q) == alone.report(q)
    blob = funding.dump_state()
    assert len(blob) < len(staff.dump_state()) // 10
    # Restored as a set does: a fresh funding attached to the restored sibling, then loaded.
    staff_copy = StaffTimeCost()
    staff_copy.load_state(staff.dump_state())
    copy = Funding()
    copy.attach({"staff_time_cost": staff_copy, "funding": copy})
    copy.load_state(blob)
    assert copy.report(q) == alone.report(q)
    assert copy.staff is staff_copy
    # Its state is the sibling's: a funding that is not attached cannot take it.
    with pytest.raises(ValueError, match="attached"):
        Funding().load_state(blob)
    with pytest.raises(RuntimeError, match="does not have"):
        copy.attach({"funding": copy})


def test_standalone_funding_keeps_and_checkpoints_its_own_staff_cost() -> None:
    events = small_history()
    funding = Funding()
    funding.attach({"funding": funding})  # no staff_time_cost in the set: stays standalone
    assert funding.handles == StaffTimeCost.handles
    for i, e in enumerate(events, start=1):
        funding.apply(Fact(i, T0, e))
    q = query(dt.date(2010, 8, 31), "academic_year")
    expected = funding.report(q)
    copy = Funding()
    copy.load_state(funding.dump_state())
    assert copy.report(q) == expected
    assert copy.staff is not funding.staff
    assert copy.dump_state() == funding.dump_state()
    assert Ledger.in_memory(projections={"funding": Funding}).funding(
        as_of=dt.date(2010, 1, 1)).row("total")["staff_cost_pence"] == 0


def test_the_first_national_total_sums_the_pair_table_then_builds_its_own() -> None:
    """A cold national report asks covered pence first (the table by partnership and stream):
    its total, periods and funded split are that table's groups summed, exactly as costed
    piece by piece; the next national total builds the total's own table."""
    facts = [*small_history(),
             *(msgspec.structs.replace(e, partnership_id="q") for e in small_history())]
    reference = staff_cost(facts, tables_after=NEVER)
    day = dt.date(2009, 12, 31)
    for by, period in ((None, None), ("term", None), ("funded", "2007/08"),
                       (None, "2007-02-10..2009-06-30")):
        cached = staff_cost(facts, tables_after=1)
        q = query(day, by, period)
        assert cached.report(q) == reference.report(q)
        assert cached.cumulative.built_grouped() == set()  # the pair table only
        assert cached.report(q) == reference.report(q)
        assert (None, None) in cached.cumulative.built_grouped()
