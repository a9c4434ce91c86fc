"""Funding: level in force, money received (365-day integration) and the funding gap."""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Sequence

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ssp_ledger.application import Ledger
from ssp_ledger.events import (
    ClubRun,
    CorrectableEvent,
    EventRetracted,
    FundingChanged,
    PartnershipFormed,
    SchoolJoined,
    StaffAssigned,
)
from ssp_ledger.periods import parse_period
from ssp_ledger.projection import Fact, Query, Table
from ssp_ledger_projections.funding import COLUMNS, Funding
from ssp_ledger_projections.staff_time_cost import StaffTimeCost

D = dt.date
P = "tyne"
T0 = dt.datetime(2012, 1, 1, tzinfo=dt.UTC)


def funding(event_id: str, day: dt.date, stream: str, amount: int, *, pid: str = P,
            reason: str = "", citation: str = "") -> FundingChanged:
    return FundingChanged(partnership_id=pid, occurred_on=day, event_id=event_id,
                          funding_stream=stream, annual_amount_pence=amount, reason=reason,
                          citation=citation)


def assign(event_id: str, day: dt.date, staff: str, *, stream: str | None, per_week: int = 780,
           rate: int = 2800) -> StaffAssigned:
    return StaffAssigned(partnership_id=P, occurred_on=day, event_id=event_id, staff_id=staff,
                         role="SSCO", school_id="sec", release_minutes_per_week=per_week,
                         hourly_cost_pence=rate, funding_stream=stream)


def club(event_id: str, day: dt.date, minutes: int, staff: str | None = None) -> ClubRun:
    return ClubRun(partnership_id=P, occurred_on=day, event_id=event_id, club_id="fb",
                   school_id="sec", activity="football", participants=10,
                   staff_minutes=minutes, staff_id=staff)


def build(events: Sequence[CorrectableEvent]) -> Funding:
    p = Funding()
    for i, e in enumerate(events, start=1):
        p.apply(Fact(i, T0, e))
    return p


def query(as_of: dt.date, by: str | None = None, period: str | None = None,
          partnership_id: str | None = None) -> Query:
    return Query(as_of=as_of, by=by, period=parse_period(period) if period else None,
                 partnership_id=partnership_id)


def ask(p: Funding, as_of: dt.date, by: str | None = None, period: str | None = None,
        partnership_id: str | None = None) -> Table:
    return p.report(query(as_of, by, period, partnership_id))


SSP: list[CorrectableEvent] = [
    funding("g1", D(2010, 9, 1), "ssp-grant", 27_000_000, reason="SSP grant 2010/11",
            citation="YST grant letter"),
    funding("g2", D(2011, 9, 1), "ssp-grant", 0,
            reason="ring-fenced SSP grant ended 2011-08-31", citation="DfE, 20 Oct 2010"),
    funding("p1", D(2011, 9, 1), "pe-teacher-day", 3_650_000,
            reason="PE teacher one day a week", citation="DfE, 20 Dec 2010"),
]


# --------------------------------------------------------------------------- received


def test_cumulative_funding_over_a_year_equals_the_annual_amount() -> None:
    p = build([funding("g1", D(2010, 9, 1), "ssp-grant", 27_000_000)])
    # 2010/11 has 365 days: 27,000,000 * 365 // 365.
    assert ask(p, D(2011, 8, 31), period="2010/11").row("ssp-grant")["received_pence"] == (
        27_000_000)
    # From the first change when no period is given.
    assert ask(p, D(2011, 8, 31)).row("total")["received_pence"] == 27_000_000


def test_received_pro_rates_by_day() -> None:
    p = build([funding("g1", D(2010, 9, 1), "ssp-grant", 27_000_000)])
    # Autumn 2010 = 1 Sep - 31 Dec = 30 + 31 + 30 + 31 = 122 days.
    autumn = ask(p, D(2011, 8, 31), period="2010/11:autumn").row("ssp-grant")
    assert autumn["received_pence"] == 27_000_000 * 122 // 365 == 9_024_657
    # As of 30 Sep 2010: 30 days.
    assert ask(p, D(2010, 9, 30)).row("ssp-grant")["received_pence"] == 27_000_000 * 30 // 365


def test_level_change_mid_year() -> None:
    p = build([funding("g1", D(2010, 9, 1), "ssp-grant", 36_500_000),
               funding("g2", D(2011, 3, 1), "ssp-grant", 0, reason="cut", citation="memo")])
    row = ask(p, D(2011, 8, 31), period="2010/11").row("ssp-grant")
    # 1 Sep 2010 - 28 Feb 2011 = 30 + 31 + 30 + 31 + 31 + 28 = 181 days at 100,000 p a day.
    assert row["received_pence"] == 181 * 100_000
    assert row["level_in_force_pence"] == 0
    assert row["since"] == "2011-03-01"
    assert row["reason"] == "cut"
    assert row["citation"] == "memo"
    # Level in force on a date before the cut.
    assert ask(p, D(2011, 2, 28)).row("ssp-grant")["level_in_force_pence"] == 36_500_000


def test_a_leap_year_receives_the_annual_amount_too() -> None:
    p = build([funding("g1", D(2011, 9, 1), "pe", 36_500_000)])
    # 2011/12 has 366 days; 29 Feb 2012 is not paid (a 365-day year).
    assert ask(p, D(2012, 8, 31), period="2011/12").row("pe")["received_pence"] == 36_500_000
    assert ask(p, D(2012, 8, 31), period="2012-02-29..2012-02-29").row("pe")[
        "received_pence"] == 0
    # Feb 2012 (29 days) receives 28 days' worth: 28 * 100,000.
    assert ask(p, D(2012, 8, 31), period="2012-02-01..2012-02-29").row("pe")[
        "received_pence"] == 2_800_000
    # Calendar-year rows: 2011 (Sep - Dec, 122 days), 2012 (Jan - Aug, 243 paid days).
    table = ask(p, D(2012, 8, 31), by="calendar_year")
    assert table.column("received_pence") == [12_200_000, 24_300_000, 36_500_000]


def test_ssp_grant_end_and_pe_teacher_days() -> None:
    p = build(SSP)
    table = ask(p, D(2011, 12, 31))
    assert table.column("funding_stream") == ["pe-teacher-day", "ssp-grant", "total"]
    grant = table.row("ssp-grant")
    assert grant["level_in_force_pence"] == 0
    assert grant["since"] == "2011-09-01"
    assert grant["citation"] == "DfE, 20 Oct 2010"
    assert grant["received_pence"] == 27_000_000  # the whole of 2010/11, nothing after
    pe = table.row("pe-teacher-day")
    assert pe["level_in_force_pence"] == 3_650_000
    assert pe["received_pence"] == 122 * 10_000  # Sep - Dec 2011 at 10,000 p a day
    total = table.row("total")
    assert total["level_in_force_pence"] == 3_650_000
    assert total["received_pence"] == 27_000_000 + 1_220_000
    # Before 1 Sep 2011 the PE teacher stream is not known yet.
    assert ask(p, D(2011, 8, 31)).column("funding_stream") == ["ssp-grant", "total"]


# --------------------------------------------------------------------------- gap


def staff_events() -> list[CorrectableEvent]:
    return [
        *SSP,
        assign("a1", D(2010, 9, 1), "ssco", stream="ssp-grant"),
        assign("a2", D(2011, 9, 1), "plt", stream="pe-teacher-day", per_week=390, rate=3000),
        club("c1", D(2010, 10, 5), 60, staff="ssco"),
        club("c2", D(2011, 11, 8), 90),
    ]


def test_gap_is_cost_minus_received() -> None:
    p = build(staff_events())
    staff = StaffTimeCost()
    for i, e in enumerate(staff_events(), start=1):
        staff.apply(Fact(i, T0, e))
    for period in (None, "2010/11", "2011/12:autumn", "FY2011/12"):
        q = query(D(2012, 8, 31), period=period)
        total = p.report(q).row("total")
        cost = staff.report(q).row("total")["total_pence"]
        assert total["staff_cost_pence"] == cost == staff.cost(q).total_pence
        assert isinstance(cost, int)
        assert total["funding_gap_pence"] == cost - int(total["received_pence"] or 0)
    rows = ask(p, D(2012, 8, 31)).to_dicts()
    assert all(r["staff_cost_pence"] is None and r["funding_gap_pence"] is None
               for r in rows[:-1])


def test_hand_computed_gap_for_one_term() -> None:
    p = build([funding("g1", D(2010, 9, 1), "ssp-grant", 36_500_000),
               assign("a1", D(2010, 9, 1), "ssco", stream="ssp-grant")])
    row = ask(p, D(2011, 8, 31), period="2010/11:autumn").row("total")
    # 71 teaching days * 156 min = 11076 min * 2800 // 60 = 516880 p; 122 days * 100,000 p.
    assert row["staff_cost_pence"] == 516_880
    assert row["received_pence"] == 12_200_000
    assert row["funding_gap_pence"] == 516_880 - 12_200_000


@pytest.mark.parametrize("kind", ["term", "academic_year", "financial_year"])
def test_period_rows_sum_to_the_total(kind: str) -> None:
    p = build(staff_events())
    for period in (None, "2011/12", "2010-10-10..2012-01-20"):
        table = ask(p, D(2012, 8, 31), by=kind, period=period)
        rows = table.to_dicts()
        assert table.columns[0] == kind
        assert len(rows) > 1
        for column in ("received_pence", "staff_cost_pence", "funding_gap_pence"):
            assert sum(int(r[column] or 0) for r in rows[:-1]) == rows[-1][column], column
        plain = ask(p, D(2012, 8, 31), period=period).row("total")
        assert list(rows[-1].values())[1:] == list(plain.values())[1:]


def test_period_rows_show_the_level_at_period_end() -> None:
    table = ask(build(SSP), D(2012, 8, 31), by="academic_year")
    assert table.column("academic_year") == ["2010/11", "2011/12", "total"]
    assert table.row("2010/11")["level_in_force_pence"] == 27_000_000
    assert table.row("2011/12")["level_in_force_pence"] == 3_650_000
    assert table.row("2011/12")["received_pence"] == 3_650_000


# --------------------------------------------------------------------------- protocol


def test_invalid_grouping_names_the_choices() -> None:
    with pytest.raises(ValueError, match="funding_stream, academic_year"):
        ask(build([]), D(2011, 1, 1), by="school")


def test_retract_undoes_apply() -> None:
    base = staff_events()
    p = build(base)
    queries = [query(D(2012, 8, 31), by) for by in (None, "funding_stream", "term")]
    expected = [p.report(q) for q in queries]
    extras: list[CorrectableEvent] = [
        funding("x", D(2011, 1, 1), "ssp-grant", 5),
        funding("y", D(2009, 1, 1), "z", 9),
        assign("a9", D(2011, 1, 1), "ssco", stream=None, rate=999),
        club("c9", D(2011, 2, 2), 5),
    ]
    for extra in extras:
        fact = Fact(99, T0, extra)
        p.apply(fact)
        assert [p.report(q) for q in queries] != expected
        p.retract(fact)
        assert [p.report(q) for q in queries] == expected


def test_recording_order_does_not_matter() -> None:
    events = staff_events()
    q = [query(D(2012, 8, 31), by) for by in (None, "term")]
    expected = [build(events).report(x) for x in q]
    for order in itertools.islice(itertools.permutations(events), 0, None, 97):
        assert [build(list(order)).report(x) for x in q] == expected


def test_partnership_filter_and_sum_over_partnerships() -> None:
    p = build([*SSP, funding("w1", D(2010, 9, 1), "ssp-grant", 36_500_000, pid="wear",
                             citation="Wear letter")])
    both = ask(p, D(2011, 8, 31)).row("ssp-grant")
    assert both["level_in_force_pence"] == 27_000_000 + 36_500_000
    assert both["citation"] == "YST grant letter; Wear letter"
    wear = ask(p, D(2011, 8, 31), partnership_id="wear").row("ssp-grant")
    assert wear["level_in_force_pence"] == 36_500_000
    assert ask(p, D(2011, 8, 31), partnership_id="none").column("funding_stream") == ["total"]


def test_through_the_ledger() -> None:
    clock = itertools.count()

    def now() -> dt.datetime:
        return T0 + dt.timedelta(minutes=next(clock))

    with Ledger.in_memory(projections={"staff_time_cost": StaffTimeCost, "funding": Funding},
                          clock=now) as led:
        led.record_many([
            PartnershipFormed(partnership_id=P, occurred_on=D(2010, 4, 1), event_id="f",
                              name="Tyneside", hub_school_id="hub"),
            SchoolJoined(partnership_id=P, occurred_on=D(2010, 4, 1), event_id="j",
                         school_id="sec", school_name="Secondary", phase="secondary"),
            *staff_events(),
        ])
        table = led.funding(as_of=D(2012, 8, 31), period="2011/12")
        cost = led.staff_time_cost(as_of=D(2012, 8, 31), period="2011/12").row("total")
        assert table.row("total")["staff_cost_pence"] == cost["total_pence"]
        led.record(EventRetracted(partnership_id=P, occurred_on=D(2011, 9, 1), event_id="r",
                                  target_event_id="p1", reason="announced, never paid"))
        after = led.funding(as_of=D(2012, 8, 31), period="2011/12")
        assert after.column("funding_stream") == ["ssp-grant", "total"]
        assert after.row("total")["received_pence"] == 0


# --------------------------------------------------------------------------- every stream at once

def _naive_report(live: Sequence[FundingChanged], staff: StaffTimeCost, q: Query) -> Table:
    """The funding report folded stream by stream from the changes in force (the reference for
    the table of every stream read at once)."""
    from ssp_ledger.periods import periods_between
    from ssp_ledger_projections.funding_levels import StreamLevels

    pid = q.partnership_id
    streams: dict[tuple[str, str], list[FundingChanged]] = {}
    for e in live:
        if pid is None or e.partnership_id == pid:
            streams.setdefault((e.partnership_id, e.funding_stream), []).append(e)
    pairs = [(key[1], StreamLevels(streams[key])) for key in sorted(streams)]
    start, end = q.window
    kind = q.period_kind
    rows: list[tuple[object, ...]] = []
    if kind is not None:
        lo = start
        if lo is None:
            firsts = [d for _, s in pairs if (d := s.first_day()) is not None]
            if (first := staff.first_day(pid)) is not None:
                firsts.append(first)
            lo = min(firsts) if firsts else None
        if lo is not None and lo <= end:
            costs = staff.cost_by_period(kind, lo, end, partnership_id=pid)
            for period in periods_between(kind, lo, end):
                a, b = max(period.start, lo), min(period.end, end)
                level = sum(s.level(b) for _, s in pairs)
                got = sum(s.received(a, b) for _, s in pairs)
                cost = costs[period.label].total_pence
                if rows or level or got or cost:
                    rows.append((period.label, level, got, None, None, None, cost, cost - got))
    else:
        named: dict[str, list[StreamLevels]] = {}
        for name, s in pairs:
            first = s.first_day()
            if first is not None and first <= end:
                named.setdefault(name, []).append(s)
        for name in sorted(named):
            changes = [c for s in named[name] if (c := s.in_force(end)) is not None]
            reasons = list(dict.fromkeys(c.reason for c in changes if c.reason))
            citations = list(dict.fromkeys(c.citation for c in changes if c.citation))
            rows.append((name, sum(s.level(end) for s in named[name]),
                         sum(s.received(start, end) for s in named[name]),
                         max(c.occurred_on for c in changes).isoformat(),
                         "; ".join(reasons), "; ".join(citations), None, None))
    cost = staff.cost_between(start, end, partnership_id=pid).total_pence
    level = sum(s.level(end) for _, s in pairs)
    got = sum(s.received(start, end) for _, s in pairs)
    rows.append(("total", level, got, None, None, None, cost, cost - got))
    return Table.answer("funding", q, (kind or "funding_stream", *COLUMNS),
                        [tuple(r) for r in rows])


_changes = st.builds(
    lambda pid, stream, day, amount, reason, citation: funding(
        "id", day, stream, amount, pid=pid, reason=reason, citation=citation),
    st.sampled_from(("tyne", "wear", "tees")), st.sampled_from(("ssp-grant", "pe-day")),
    st.dates(D(2005, 1, 1), D(2012, 12, 31)),
    st.sampled_from((0, 1, 365, 3_650_000, 27_000_000, 99_999_999_999)),
    st.sampled_from(("", "grant", "cut")), st.sampled_from(("", "letter", "DfE")))


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_every_stream_read_at_once_answers_as_stream_by_stream(data: st.DataObject) -> None:
    """Changes applied, retracted and corrected (back-dated too) in any order; after each step
    every grouping, window and partnership answers as the stream-by-stream fold."""
    p = Funding()
    live: dict[int, FundingChanged] = {}
    position = 0
    steps = data.draw(st.lists(st.sampled_from(("apply", "apply", "retract", "correct")),
                               min_size=1, max_size=12))
    for step in steps:
        if step == "apply" or not live:
            position += 1
            live[position] = msgspec.structs.replace(data.draw(_changes),
                                                     event_id=f"e{position}")
            p.apply(Fact(position, T0, live[position]))
        else:
            key = data.draw(st.sampled_from(sorted(live)))
            old = live.pop(key)
            p.retract(Fact(key, T0, old))
            if step == "correct":
                position += 1
                live[position] = msgspec.structs.replace(
                    old, occurred_on=data.draw(st.dates(D(2004, 1, 1), D(2013, 1, 1))),
                    annual_amount_pence=data.draw(st.integers(0, 10**9)))
                p.apply(Fact(position, T0, live[position]))
        day = data.draw(st.dates(D(2004, 6, 1), D(2014, 1, 1)))
        period = data.draw(st.sampled_from((None, "2008/09", "2006-02-10..2010-06-30")))
        for by in (None, "funding_stream", "term", "academic_year"):
            for pid in (None, "tyne", "nobody"):
                q = query(day, by, period, pid)
                expected = _naive_report(list(live.values()), p.staff, q)
                assert p.report(q) == expected, (by, pid, q.window)


def test_levels_too_large_for_8_byte_sums_stay_exact() -> None:
    """Many streams at the largest level: the level-days of all of them are summed as Python
    integers, and every row still equals the stream-by-stream fold."""
    changes = [funding(f"f{i}", D(2001 + i, 3, 1), "ssp-grant", 100_000_000_000, pid=f"p{i}",
                       reason=f"r{i % 3}") for i in range(9)]
    p = build(changes)
    for by in (None, "term", "academic_year"):
        for day in (D(2005, 1, 1), D(2099, 12, 31)):
            q = query(day, by)
            assert p.report(q) == _naive_report(changes, p.staff, q)
    total = ask(p, D(2099, 12, 31)).row("total")["received_pence"]
    assert isinstance(total, int)
