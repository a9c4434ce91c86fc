"""covered_pence: the part of the funded staff cost the funding received covers.

Hand-computed figures on a small history of two partnerships (one whose grant pays more than
its funded cost, one whose grant pays less), then properties on drawn histories: covered never
exceeds the funded cost or the money received, stream rows and the funded split add up to the
total, partnerships add up to the national figure, period rows add up to at most the total,
and the figure equals min(funded, received) per partnership and stream costed piece by piece.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, nullcontext

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ssp_ledger.application import Ledger
from ssp_ledger.audit import explain
from ssp_ledger.events import (
    ClubRun,
    CorrectableEvent,
    DomainEvent,
    FundingChanged,
    PartnershipFormed,
    SchoolJoined,
    StaffAssigned,
)
from ssp_ledger.periods import parse_period
from ssp_ledger.projection import Fact, Query, Table
from ssp_ledger_projections.staff_cost import covered as covered_module
from ssp_ledger_projections.staff_cost.rates import shipped_rate
from ssp_ledger_projections.staff_time_cost import StaffTimeCost
from tests.strategies import History, dates, histories

D = dt.date
T0 = dt.datetime(2012, 1, 1, tzinfo=dt.UTC)
SETTINGS = settings(max_examples=30, deadline=None)


def _history() -> list[DomainEvent]:
    """Partnership "rich": £3,650 a year (1,000p a day) for 9,000p of funded activity in
    October 2010; "poor": £36.50 a year (10p a day) for 6,000p. Staff cost 6,000p an hour."""
    out: list[DomainEvent] = []
    for pid, level in (("rich", 365_000), ("poor", 3_650)):
        out += [
            PartnershipFormed(partnership_id=pid, occurred_on=D(2010, 9, 1), event_id="formed",
                              name=pid, hub_school_id="sec"),
            SchoolJoined(partnership_id=pid, occurred_on=D(2010, 9, 1), event_id="join",
                         school_id="sec", school_name="sec", phase="secondary"),
            FundingChanged(partnership_id=pid, occurred_on=D(2010, 9, 1), event_id="grant",
                           funding_stream="ssp-grant", annual_amount_pence=level),
            StaffAssigned(partnership_id=pid, occurred_on=D(2010, 9, 1), event_id="a1",
                          staff_id="s1", role="SSCO", school_id="sec",
                          release_minutes_per_week=0, hourly_cost_pence=6000,
                          funding_stream="ssp-grant"),
            ClubRun(partnership_id=pid, occurred_on=D(2010, 10, 5), event_id="c1", club_id="fb",
                    school_id="sec", activity="football", participants=10, staff_minutes=60,
                    staff_id="s1"),
            ClubRun(partnership_id=pid, occurred_on=D(2010, 10, 6), event_id="c2",
                    club_id="fb", school_id="sec", activity="football", participants=10,
                    staff_minutes=30 if pid == "rich" else 0, staff_id="s1"),
            # No one named: hidden, never funded, never covered.
            ClubRun(partnership_id=pid, occurred_on=D(2010, 10, 7), event_id="c3", club_id="fb",
                    school_id="sec", activity="football", participants=5, staff_minutes=60),
        ]
    return out


@pytest.fixture(scope="module")
def ledger() -> Ledger:
    ledger = Ledger.in_memory()
    ledger.record_many(_history())
    return ledger


AS_OF = D(2010, 10, 31)


def test_covered_is_min_of_funded_and_received_per_partnership(ledger: Ledger) -> None:
    # Received 1 Sep - 31 Oct: 61 days. rich: 61,000p received, 9,000p funded (60 + 30
    # minutes at 6,000p/h) -> 9,000p covered; poor: 610p received, 6,000p funded -> 610p.
    rich = ledger.report("staff_time_cost", as_of=AS_OF, partnership_id="rich").totals
    poor = ledger.report("staff_time_cost", as_of=AS_OF, partnership_id="poor").totals
    assert rich is not None
    assert poor is not None
    assert (rich["funded_pence"], rich["covered_pence"]) == (9000, 9000)
    assert (poor["funded_pence"], poor["covered_pence"]) == (6000, 610)
    national = ledger.report("staff_time_cost", as_of=AS_OF)
    assert national.row("total")["covered_pence"] == 9000 + 610
    assert national.row("total")["funded_pence"] == 15000
    streams = ledger.report("staff_time_cost", as_of=AS_OF, by="funding_stream")
    assert streams.row("ssp-grant")["covered_pence"] == 9610
    assert streams.row("none")["covered_pence"] == 0  # unattributed minutes
    split = ledger.report("staff_time_cost", as_of=AS_OF, by="funded")
    assert [split.row(g)["covered_pence"] for g in ("funded", "hidden", "total")] == [
        9610, 0, 9610]
    roles = ledger.report("staff_time_cost", as_of=AS_OF, by="role")
    assert [r["covered_pence"] for r in roles] == [None, None]  # SSCO, UNATTRIBUTED
    assert roles.row("total")["covered_pence"] == 9610
    # The funding projection reports the same money received.
    funding = ledger.report("funding", as_of=AS_OF, partnership_id="poor")
    assert funding.row("total")["received_pence"] == 610


def test_a_short_window_compares_its_own_cost_and_money(ledger: Ledger) -> None:
    # 5-6 Oct 2010 only: rich funded 9,000p, received 2 days = 2,000p -> 2,000p covered.
    table = ledger.report("staff_time_cost", as_of=AS_OF, partnership_id="rich",
                          period="2010-10-05..2010-10-06")
    assert table.row("total")["covered_pence"] == 2000
    # Over the whole autumn the same partnership's money covers all of it: periods stand
    # alone, so they add up to at most the total.
    terms = ledger.report("staff_time_cost", as_of=AS_OF, partnership_id="rich", by="term")
    assert terms.row("total")["covered_pence"] == 9000
    assert sum(int(r["covered_pence"] or 0) for r in terms) <= 9000


def test_covered_is_explained_on_the_side_that_binds(ledger: Ledger) -> None:
    # poor: the money binds, so the grant's change adds what it paid (610p), staff facts 0.
    _, parts = explain(ledger, "staff_time_cost", as_of=AS_OF, partnership_id="poor")
    covered = {p.event_id: p.values.get("covered_pence") for p in parts}
    assert covered == {"grant": 610, "a1": 0, "c1": 0, "c2": 0, "c3": 0}
    # rich: the cost binds, so each funded fact adds its funded pence; the grant only decides
    # that the pieces are funded (an empty mapping).
    _, parts = explain(ledger, "staff_time_cost", as_of=AS_OF, partnership_id="rich")
    covered = {p.event_id: p.values.get("covered_pence") for p in parts}
    assert covered == {"grant": None, "a1": 0, "c1": 6000, "c2": 3000, "c3": 0}
    # Nationally each partnership binds on its own side; the parts add up to the figure.
    table, parts = explain(ledger, "staff_time_cost", as_of=AS_OF, by="funding_stream",
                           group="ssp-grant")
    assert sum(p.values.get("covered_pence", 0) for p in parts) == 9610
    assert table.row("ssp-grant")["covered_pence"] == 9610


def test_the_unattributed_rate_is_stated_on_the_records_it_costs(ledger: Ledger) -> None:
    _, parts = explain(ledger, "staff_time_cost", as_of=AS_OF, partnership_id="rich")
    rates = {p.event_id: p.values.get("default_hourly_cost_pence") for p in parts}
    assert rates == {"grant": None, "a1": None, "c1": None, "c2": None, "c3": 2632}
    c3 = next(p for p in parts if p.event_id == "c3")
    assert c3.values["hidden_pence"] == 60 * 2632 // 60
    _, parts = explain(ledger, "staff_time_cost", as_of=AS_OF, partnership_id="rich",
                       default_hourly_cost_pence=1200)
    assert next(p for p in parts if p.event_id == "c3").values == {
        "release_minutes": 0, "activity_minutes": 60, "funded_minutes": 0,
        "hidden_minutes": 60, "funded_pence": 0, "hidden_pence": 1200, "total_pence": 1200,
        "attendances": 5, "covered_pence": 0, "default_hourly_cost_pence": 1200}


def test_covered_by_stream_sums_each_stream_over_partnerships() -> None:
    # Two partnerships, three streams (one shared), 1,000p a day each from 1 Sep 2010; each
    # stream's person runs one club on 5 Oct at 6,000p an hour, so every pair's funded cost
    # (its minutes x 100p) is covered in full by the 61,000p received by 31 Oct.
    minutes = {("a", "pe-day"): 90, ("a", "ssp-grant"): 120, ("b", "ssp-grant"): 60,
               ("b", "alpha"): 30}
    events: list[DomainEvent] = []
    for pid in ("b", "a"):
        events += [
            PartnershipFormed(partnership_id=pid, occurred_on=D(2010, 9, 1),
                              event_id="formed", name=pid, hub_school_id="sec"),
            SchoolJoined(partnership_id=pid, occurred_on=D(2010, 9, 1), event_id="join",
                         school_id="sec", school_name="sec", phase="secondary"),
        ]
        for (owner, stream), spent in minutes.items():
            if owner != pid:
                continue
            events += [
                FundingChanged(partnership_id=pid, occurred_on=D(2010, 9, 1),
                               event_id=f"grant-{stream}", funding_stream=stream,
                               annual_amount_pence=365_000),
                StaffAssigned(partnership_id=pid, occurred_on=D(2010, 9, 1),
                              event_id=f"a-{stream}", staff_id=f"s-{stream}", role="SSCO",
                              school_id="sec", release_minutes_per_week=0,
                              hourly_cost_pence=6000, funding_stream=stream),
                ClubRun(partnership_id=pid, occurred_on=D(2010, 10, 5), event_id=f"c-{stream}",
                        club_id="fb", school_id="sec", activity="football", participants=10,
                        staff_minutes=spent, staff_id=f"s-{stream}"),
            ]
    p = _build(events)
    ranges = [(None, AS_OF), (D(2010, 10, 6), AS_OF)]
    expected = [{"pe-day": 9000, "ssp-grant": 18000, "alpha": 3000},
                {"pe-day": 0, "ssp-grant": 0, "alpha": 0}]
    for python_sums in (False, True):
        with _python_sums() if python_sums else nullcontext():
            found = p.coverage.by_stream(None, ranges)
        assert [list(d.items()) for d in found] == [list(d.items()) for d in expected]
    streams = _ask(p, AS_OF, by="funding_stream")
    assert {s: streams.row(s)["covered_pence"] for s in expected[0]} == expected[0]


# --------------------------------------------------------------------------- properties


@contextmanager
def _python_sums() -> Iterator[None]:
    """Covered sums by stream computed with Python integers, as for figures near 2**62."""
    safe = covered_module._SAFE
    covered_module._SAFE = 0
    try:
        yield
    finally:
        covered_module._SAFE = safe


def _build(events: Sequence[DomainEvent]) -> StaffTimeCost:
    p = StaffTimeCost()
    for i, e in enumerate(e for e in events if isinstance(e, CorrectableEvent)):
        p.apply(Fact(i + 1, T0, e))
    return p


def _ask(p: StaffTimeCost, as_of: dt.date, by: str | None = None, period: str | None = None,
         pid: str | None = None) -> Table:
    return p.report(Query(as_of=as_of, by=by, period=parse_period(period) if period else None,
                          partnership_id=pid))


def _reference(p: StaffTimeCost, pid: str | None, start: dt.date | None, end: dt.date) -> int:
    """Sum over (partnership, stream) of min(funded, received), funded costed piece by piece."""
    out = 0
    for partnership, stream in p.funding_levels.streams(pid):
        levels = p.funding_levels.stream(partnership, stream)
        assert levels is not None
        pieces = p.cumulative.pieces(partnership, shipped_rate())
        found = pieces.grouped("funding_stream", start, end).get(stream)
        funded = found.pence_funded if found is not None else 0
        out += min(funded, levels.received(start, end))
    return out


def _received(p: StaffTimeCost, pid: str | None, start: dt.date | None, end: dt.date) -> int:
    out = 0
    for partnership, stream in p.funding_levels.streams(pid):
        levels = p.funding_levels.stream(partnership, stream)
        assert levels is not None
        out += levels.received(start, end)
    return out


@SETTINGS
@given(st.data())
def test_covered_properties(data: st.DataObject) -> None:
    history: History = data.draw(histories(pid="p"))
    other: History = data.draw(histories(pid="q", max_activity=10))
    p = _build([*history.events, *other.events])
    as_of = data.draw(dates(history))
    period = data.draw(st.sampled_from((None, "2007/08", "2008-01-10..2009-03-31")))
    window = parse_period(period) if period else None
    start = window.start if window is not None else None
    end = min(window.end, as_of) if window is not None else as_of
    total = _ask(p, as_of, period=period).row("total")
    covered = total["covered_pence"]
    assert isinstance(covered, int)
    assert isinstance(total["funded_pence"], int)
    assert 0 <= covered <= total["funded_pence"]
    assert covered <= _received(p, None, start, end)
    assert covered == _reference(p, None, start, end)
    # The national figures come from whole arrays; pair by pair gives the same, in order.
    ranges = [(start, end), (None, end), (end, end), (end + dt.timedelta(days=1), end)]
    expected: list[list[tuple[str, int]]] = []
    for found in p.coverage.pairs(None, ranges):
        sums: dict[str, int] = {}
        for (_, stream), pair in found.items():
            sums[stream] = sums.get(stream, 0) + pair.covered
        expected.append(list(sums.items()))
    assert [list(d.items()) for d in p.coverage.by_stream(None, ranges)] == expected
    with _python_sums():  # sums too large for 8-byte integers take the Python path
        assert [list(d.items()) for d in p.coverage.by_stream(None, ranges)] == expected
    levels = p.funding_levels.table(None)
    assert levels.received_each(ranges).tolist() == [
        [p.funding_levels.stream(pid, name).received(s, e)  # type: ignore[union-attr]
         for pid, name in levels.order] for s, e in ranges]
    # Additive over partnerships, streams and the funded split.
    assert covered == sum(int(_ask(p, as_of, period=period, pid=pid).row("total")
                              ["covered_pence"] or 0) for pid in ("p", "q"))
    for by in ("funding_stream", "funded"):
        table = _ask(p, as_of, by, period)
        assert sum(int(r["covered_pence"] or 0) for r in table) == covered, by
        assert table.row("total")["covered_pence"] == covered
        for r in table:
            assert r["covered_pence"] is not None
            assert 0 <= int(r["covered_pence"]) <= int(r["funded_pence"] or 0)
    # Not additive over time: each period stands alone, the whole window can do more.
    for kind in ("term", "academic_year"):
        table = _ask(p, as_of, kind, period)
        assert table.row("total")["covered_pence"] == covered
        assert sum(int(r["covered_pence"] or 0) for r in table) <= covered
        for r in table:
            lo = parse_period(str(r[kind])).start
            hi = parse_period(str(r[kind])).end
            first = lo if start is None else max(lo, start)
            assert r["covered_pence"] == _reference(p, None, first, min(hi, end)), r[kind]
