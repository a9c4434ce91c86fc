"""StaffTimeCost: release time, activity minutes, funded vs hidden, order independence."""

from __future__ import annotations

import datetime as dt
import itertools
import re
from collections.abc import Sequence

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ssp_ledger.application import Ledger
from ssp_ledger.events import (
    ClubRun,
    CompetitionHeld,
    CorrectableEvent,
    CpdDelivered,
    EventCorrected,
    EventRetracted,
    FundingChanged,
    LeaderTrained,
    PartnershipFormed,
    ResourceShared,
    SchoolJoined,
    StaffAssigned,
    StaffReleased,
)
from ssp_ledger.periods import TeachingCalendar, parse_period
from ssp_ledger.projection import Fact, Query, Table
from ssp_ledger_projections.funding import Funding
from ssp_ledger_projections.staff_time_cost import MEASURES, CostSummary, StaffTimeCost

D = dt.date
P = "tyne"
T0 = dt.datetime(2012, 1, 1, tzinfo=dt.UTC)
GROUPINGS = (None, "role", "school", "funding_stream", "staff", "funded",
             "term", "academic_year", "financial_year", "calendar_year")


def assign(event_id: str, day: dt.date, staff: str = "s1", *, role: str = "SSCO",
           school: str = "sec", per_week: int = 780, rate: int = 2800,
           stream: str | None = None, pid: str = P) -> StaffAssigned:
    return StaffAssigned(partnership_id=pid, occurred_on=day, event_id=event_id, staff_id=staff,
                         role=role, school_id=school,  # type: ignore[arg-type]
                         release_minutes_per_week=per_week, hourly_cost_pence=rate,
                         funding_stream=stream)


def funding(event_id: str, day: dt.date, stream: str, amount: int, *, pid: str = P,
            reason: str = "", citation: str = "") -> FundingChanged:
    return FundingChanged(partnership_id=pid, occurred_on=day, event_id=event_id,
                          funding_stream=stream, annual_amount_pence=amount, reason=reason,
                          citation=citation)


def club(event_id: str, day: dt.date, minutes: int, participants: int = 10,
         staff: str | None = None, school: str = "sec", pid: str = P) -> ClubRun:
    return ClubRun(partnership_id=pid, occurred_on=day, event_id=event_id, club_id="fb",
                   school_id=school, activity="football", participants=participants,
                   staff_minutes=minutes, staff_id=staff)


def build(events: Sequence[CorrectableEvent]) -> StaffTimeCost:
    p = StaffTimeCost()
    for i, e in enumerate(events, start=1):
        p.apply(Fact(i, T0, e))
    return p


def ask(p: StaffTimeCost, as_of: dt.date, by: str | None = None, period: str | None = None,
        **params: int | str) -> Table:
    return p.report(Query(as_of=as_of, by=by, period=parse_period(period) if period else None,
                          params=params))


AS_OF = D(2012, 8, 31)
RATE_2010 = 2632
"""cost.UNATTRIBUTED from 2010-09-01: STPCD 2010 main pay scale M6 £31,552 x 1.22 / 1,462.5 h."""


def all_tables(p: StaffTimeCost, as_of: dt.date = AS_OF) -> list[Table]:
    out = []
    for by in GROUPINGS:
        out.append(ask(p, as_of, by))
        out.append(ask(p, as_of, by, "2010/11"))
        out.append(ask(p, as_of, by, "2011/12:autumn"))
    out.append(ask(p, D(2011, 3, 15), "role"))
    return out


# --------------------------------------------------------------------------- release time


def test_release_minutes_for_an_ssco_over_one_term_are_hand_computed() -> None:
    # Autumn 2010: weekdays Fri 3 Sep (after the summer holiday ending Thu 2 Sep) to Fri 17 Dec
    # (Christmas from Mon 20 Dec): 1 + 15 weeks * 5 = 76, minus half-term Mon 25 - Fri 29 Oct
    # (week of the last Monday of October): 71 teaching days.
    assert TeachingCalendar().teaching_days(D(2010, 9, 1), D(2010, 12, 31)) == 71
    p = build([assign("a1", D(2010, 9, 1), per_week=780, rate=2800)])
    row = ask(p, D(2011, 8, 31), period="2010/11:autumn").row("total")
    # 780 min/week (two 6.5-hour days) * 71 days // 5 = 11076 min; * 2800 p/h // 60 = 516880 p.
    assert row["release_minutes"] == 11076
    assert row["activity_minutes"] == 0
    assert row["hidden_minutes"] == 11076  # no funding stream: hidden in salary budgets
    assert row["funded_minutes"] == 0
    assert row["hidden_pence"] == 516880
    assert row["total_pence"] == 516880
    assert row["attendances"] == 0
    assert row["cost_per_attendance_pence"] is None


def test_release_stops_at_release_date_and_at_next_assignment() -> None:
    p = build([
        assign("a1", D(2010, 9, 1), per_week=500, rate=3000),
        # From Mon 1 Nov 2010 the same person has new terms (more release time, dearer).
        assign("a2", D(2010, 11, 1), per_week=1000, rate=6000),
        StaffReleased(partnership_id=P, occurred_on=D(2010, 11, 5), event_id="r1",
                      staff_id="s1"),
    ])
    # a1: 1 Sep - 31 Oct 2010: 3 Sep + Sep 6 - Oct 22 (7 weeks) = 36 days -> 500*36//5 = 3600.
    # a2: Mon 1 - Fri 5 Nov (release day inclusive) = 5 days -> 1000*5//5 = 1000 min.
    table = ask(p, D(2011, 8, 31), by="role", period="2010/11")
    total = table.row("total")
    assert total["release_minutes"] == 3600 + 1000
    assert total["total_pence"] == 3600 * 3000 // 60 + 1000 * 6000 // 60
    # Nothing after the release.
    assert ask(p, D(2011, 8, 31), period="2010/11:spring").row("total")["release_minutes"] == 0


def test_as_of_cuts_an_open_assignment() -> None:
    p = build([assign("a1", D(2010, 9, 1), per_week=780)])
    # 1 - 10 Sep 2010: Fri 3, Mon 6 - Fri 10 = 6 teaching days.
    assert ask(p, D(2010, 9, 10)).row("total")["release_minutes"] == 156 * 6


# --------------------------------------------------------------------------- funded vs hidden


GRANT_END: list[CorrectableEvent] = [
    # The ring-fenced SSP grant ended on 31 August 2011; PE teacher release days from 1 Sep 2011.
    funding("g1", D(2010, 9, 1), "ssp-grant", 27_000_000, reason="SSP grant"),
    funding("g2", D(2011, 9, 1), "ssp-grant", 0, reason="ring-fenced grant ended 2011-08-31"),
    funding("p1", D(2011, 9, 1), "pe-teacher-day", 1_000_000, reason="PE teacher release"),
    assign("a1", D(2010, 9, 1), "ssco", stream="ssp-grant"),
    assign("a2", D(2011, 9, 1), "plt", role="PLT", per_week=390, rate=3000,
           stream="pe-teacher-day"),
]


def test_funded_then_hidden_when_the_ssp_grant_ends() -> None:
    p = build(GRANT_END)
    year = ask(p, D(2012, 8, 31), by="funded", period="2010/11")
    assert year.row("hidden")["total_pence"] == 0
    assert year.row("funded")["release_minutes"] == year.row("total")["release_minutes"] > 0

    autumn = ask(p, D(2012, 8, 31), by="role", period="2011/12:autumn")
    ssco, plt = autumn.row("SSCO"), autumn.row("PLT")
    assert ssco["funded_minutes"] == 0  # grant at 0: the SSCo's time is now hidden
    assert ssco["hidden_minutes"] == ssco["release_minutes"] > 0
    assert plt["hidden_minutes"] == 0
    assert plt["funded_minutes"] == plt["release_minutes"] > 0

    # Across the change: 1 Jul - 30 Sep 2011. Funded: Fri 1 Jul, 4-8, 11-15, Mon 18-Thu 21 Jul
    # (summer holiday from 22 Jul) = 15 days; hidden: Mon 5 - Fri 30 Sep = 20 days.
    # 780/5 = 156 min a day; 156 * 2800 // 60 = 7280 p a day.
    span = ask(p, D(2012, 8, 31), by="staff", period="2011-07-01..2011-09-30").row("ssco")
    assert span["funded_minutes"] == 15 * 156 == 2340
    assert span["hidden_minutes"] == 20 * 156 == 3120
    assert span["funded_pence"] == 15 * 7280 == 109200
    assert span["hidden_pence"] == 20 * 7280 == 145600


def test_activity_minutes_follow_the_assignment_and_funding_in_force() -> None:
    events = [*GRANT_END,
              club("c1", D(2011, 6, 7), 60, 20, staff="ssco"),   # funded (grant in force)
              club("c2", D(2011, 10, 4), 120, 15, staff="ssco")]  # hidden (grant at 0)
    p = build(events)
    row = ask(p, D(2012, 8, 31), by="staff").row("ssco")
    assert row["activity_minutes"] == 180
    assert row["attendances"] == 35
    whole = ask(p, D(2012, 8, 31), by="funded")
    release = whole.row("total")["release_minutes"]
    assert whole.row("funded")["activity_minutes"] == 60
    assert whole.row("hidden")["activity_minutes"] == 120
    assert whole.row("funded")["attendances"] == 20
    assert whole.row("hidden")["attendances"] == 15
    assert whole.row("total")["funded_minutes"] + whole.row("total")["hidden_minutes"] == (
        release + 180)


def test_backdated_funding_change_recorded_after_the_activity_gives_the_same_split() -> None:
    activity: list[CorrectableEvent] = [club("c1", D(2011, 10, 4), 120, 15, staff="ssco"),
                                      club("c2", D(2011, 6, 7), 60, 20, staff="ssco")]
    first = build([*GRANT_END, *activity])
    # The grant's end is learnt last, after the autumn 2011 figures were already asked for.
    late = build([GRANT_END[0], *GRANT_END[2:], *activity])
    before = ask(late, D(2012, 8, 31), by="funded", period="2011/12:autumn")
    assert before.row("hidden")["activity_minutes"] == 0
    late.apply(Fact(99, T0, GRANT_END[1]))
    assert all_tables(late) == all_tables(first)
    after = ask(late, D(2012, 8, 31), by="funded", period="2011/12:autumn")
    assert after.row("hidden")["activity_minutes"] == 120


def test_backdated_assignment_attributes_earlier_activity() -> None:
    events: list[CorrectableEvent] = [
        club("c1", D(2010, 10, 5), 60, 20, staff="s2"),
        assign("a9", D(2010, 9, 1), "s2", role="COACH", per_week=0, rate=1800)]
    p = build(events[:1])
    assert ask(p, D(2011, 8, 31), by="role").row("UNATTRIBUTED")["total_pence"] == RATE_2010
    p.apply(Fact(2, T0, events[1]))
    table = ask(p, D(2011, 8, 31), by="role")
    assert table.row("COACH")["total_pence"] == 60 * 1800 // 60
    assert "UNATTRIBUTED" not in table.column("role")
    assert all_tables(p) == all_tables(build(events[::-1]))


# --------------------------------------------------------------------------- unattributed


def test_unattributed_minutes_cost_the_dated_parameter_or_the_query_rate() -> None:
    events: list[CorrectableEvent] = [
        club("c1", D(2010, 10, 5), 90, 12),  # no staff named
        CpdDelivered(partnership_id=P, occurred_on=D(2010, 10, 6), event_id="cpd",
                     topic="gymnastics", teachers=8, minutes=30),
        # A named person outside any assignment (assigned only from 2011).
        club("c2", D(2010, 10, 7), 60, 5, staff="s1"),
        assign("a1", D(2011, 1, 4), "s1", per_week=0, rate=6000),
    ]
    p = build(events)
    table = ask(p, D(2010, 12, 31), by="role")
    row = table.row("UNATTRIBUTED")
    assert row["activity_minutes"] == 180
    assert row["hidden_minutes"] == 180
    # Three series (no one at sec, no one at no school, s1 at sec): 90, 30 and 60 minutes at
    # cost.UNATTRIBUTED of 2010/11, 2632p/h: 3948 + 1316 + 2632.
    assert row["hidden_pence"] == 180 * RATE_2010 // 60 == 7896
    assert row["attendances"] == 17
    assert row["cost_per_attendance_pence"] == 7896 // 17
    assert ask(p, D(2010, 12, 31), by="funding_stream").row("none")["total_pence"] == 7896
    dearer = ask(p, D(2010, 12, 31), default_hourly_cost_pence=3000)
    assert dearer.row("total")["total_pence"] == 180 * 3000 // 60 == 9000
    schools = ask(p, D(2010, 12, 31), by="school")
    assert schools.row("none")["activity_minutes"] == 30  # CPD names no school
    assert schools.row("sec")["activity_minutes"] == 150
    staff = ask(p, D(2010, 12, 31), by="staff")
    assert staff.row("none")["activity_minutes"] == 120
    assert staff.row("s1")["activity_minutes"] == 60


def test_activity_schools_and_kinds() -> None:
    events: list[CorrectableEvent] = [
        CompetitionHeld(partnership_id=P, occurred_on=D(2010, 11, 2), event_id="k1",
                        kind="inter_school", school_ids=("hub", "sec"), activity="netball",
                        participants=40, staff_minutes=240),
        LeaderTrained(partnership_id=P, occurred_on=D(2010, 11, 3), event_id="l1",
                      school_id="sec", leader_kind="young_leader", award="L1", people=6,
                      minutes=120),
        ResourceShared(partnership_id=P, occurred_on=D(2010, 11, 4), event_id="r1",
                       from_school_id="hub", to_school_id="pri", resource="coach",
                       staff_minutes=60, value_pence=5000),
    ]
    table = ask(build(events), D(2010, 12, 31), by="school")
    assert table.row("hub")["activity_minutes"] == 300  # competition host + resource lender
    assert table.row("hub")["attendances"] == 40
    assert table.row("sec")["activity_minutes"] == 120
    assert table.row("total")["total_pence"] == 420 * RATE_2010 // 60


def test_unattributed_minutes_take_the_value_in_force_on_their_date() -> None:
    # cost.UNATTRIBUTED is 2573p/h in 2009/10 and 2632p/h from 1 Sep 2010. The gap outside any
    # assignment is cut on that date, each piece rounded from its own first day:
    # 7 * 2573 // 60 = 300 and 7 * 2632 // 60 = 307 (one anchor would give other pence).
    p = build([club("c1", D(2010, 8, 31), 7, 1), club("c2", D(2010, 9, 1), 7, 1)])
    assert ask(p, D(2010, 12, 31)).row("total")["hidden_pence"] == 300 + 307
    assert ask(p, D(2010, 12, 31), period="2010/11").row("total")["hidden_pence"] == 307
    terms = ask(p, D(2010, 12, 31), by="academic_year")
    assert [r["hidden_pence"] for r in terms] == [300, 307]
    # A query's rate is one flat rate for every date: 14 * 2500 // 60.
    flat = ask(p, D(2010, 12, 31), default_hourly_cost_pence=2500)
    assert flat.row("total")["hidden_pence"] == 583
    # Before the parameter's first value (2002-09-01: 2170p/h) the first value costs.
    early = build([club("c0", D(2001, 5, 1), 60, 1)])
    assert ask(early, D(2001, 12, 31)).row("total")["hidden_pence"] == 2170


def test_tables_state_what_unattributed_minutes_were_costed_at() -> None:
    p = build([club("c1", D(2010, 8, 31), 7, 1), club("c2", D(2010, 9, 1), 7, 1)])
    table = ask(p, D(2010, 12, 31))
    assert [(s["name"], s["effective_from"], s["value"]) for s in table.sources] == [
        ("cost.UNATTRIBUTED", "2009-09-01", 2573), ("cost.UNATTRIBUTED", "2010-09-01", 2632)]
    assert all(s["citation"] and s["note"].startswith("estimate") for s in table.sources)
    assert table.notes[0].startswith("funded: ")
    assert "hidden: " in table.notes[0]
    assert table.notes[1].startswith("covered: ")
    assert any("cost.UNATTRIBUTED from 2010-09-01 to 2011-08-31: £26.32 an hour; "
               "As cost.PE_TEACHER: "
               "STPCD 2010" in note for note in table.notes)
    one_year = ask(p, D(2011, 8, 31), period="2010/11")
    assert [s["value"] for s in one_year.sources] == [2632]
    flat = ask(p, D(2010, 12, 31), default_hourly_cost_pence=3000)
    assert [(s["name"], s["value"]) for s in flat.sources] == [
        ("default_hourly_cost_pence", 3000)]
    assert "£30.00 an hour on every date" in flat.notes[2]


def test_bad_default_rate_is_rejected() -> None:
    p = build([])
    with pytest.raises(ValueError, match="default_hourly_cost_pence"):
        ask(p, D(2011, 1, 1), default_hourly_cost_pence="lots")
    with pytest.raises(ValueError, match="negative"):
        ask(p, D(2011, 1, 1), default_hourly_cost_pence=-1)


# --------------------------------------------------------------------------- groupings


def mixed_events() -> list[CorrectableEvent]:
    return [
        *GRANT_END,
        assign("a3", D(2010, 9, 1), "pdm", role="PDM", school="hub", per_week=1950, rate=4100),
        StaffReleased(partnership_id=P, occurred_on=D(2012, 3, 30), event_id="r3",
                      staff_id="pdm"),
        club("c1", D(2010, 9, 14), 45, 11, staff="ssco"),
        club("c2", D(2011, 2, 1), 50, 9, staff="pdm", school="hub"),
        club("c3", D(2011, 5, 3), 77, 13),
        club("c4", D(2011, 11, 8), 61, 7, staff="plt"),
        club("c5", D(2012, 4, 24), 33, 5, staff="pdm", school="hub"),  # after the release
        CpdDelivered(partnership_id=P, occurred_on=D(2011, 1, 12), event_id="cpd",
                     topic="dance", teachers=12, minutes=95),
    ]


@pytest.mark.parametrize("kind", ["term", "academic_year", "financial_year", "calendar_year"])
def test_period_rows_sum_to_the_total(kind: str) -> None:
    p = build(mixed_events())
    for period in (None, "2010/11", "2011-01-15..2012-02-10"):
        table = ask(p, D(2012, 8, 31), by=kind, period=period)
        rows = table.to_dicts()
        assert len(rows) > 1
        for measure in MEASURES:
            assert sum(int(r[measure] or 0) for r in rows[:-1]) == rows[-1][measure], measure
        # The total does not depend on the grouping asked for.
        plain = ask(p, D(2012, 8, 31), period=period).row("total")
        assert list(rows[-1].values())[1:] == list(plain.values())[1:]


@pytest.mark.parametrize("by", ["role", "school", "funding_stream", "staff", "funded"])
def test_group_rows_sum_to_the_total(by: str) -> None:
    p = build(mixed_events())
    table = ask(p, D(2012, 8, 31), by=by, period="2010/11")
    labels = table.column(by)
    assert labels[-1] == "total"
    assert labels[:-1] == sorted(labels[:-1])
    rows = table.to_dicts()
    for measure in MEASURES:
        assert sum(int(r[measure] or 0) for r in rows[:-1]) == rows[-1][measure]
    plain = ask(p, D(2012, 8, 31), period="2010/11").row("total")
    assert list(table.row("total").values())[1:] == list(plain.values())[1:]


def test_minutes_outside_assignments_are_unattributed() -> None:
    table = ask(build(mixed_events()), AS_OF, by="role")
    # c3 (77, nobody named) + CPD (95) + c5 (33, by the PDM after release on 30 Mar 2012).
    assert table.row("UNATTRIBUTED")["activity_minutes"] == 77 + 95 + 33
    assert table.row("PDM")["activity_minutes"] == 50
    assert table.row("PLT")["activity_minutes"] == 61


def test_same_day_assignments_are_ordered_by_event_id() -> None:
    events: list[CorrectableEvent] = [assign("a1", D(2010, 9, 1), rate=1000),
                                      assign("a2", D(2010, 9, 1), rate=2000)]
    for order in (events, events[::-1]):
        row = ask(build(order), D(2011, 8, 31), period="2010/11:autumn").row("total")
        assert row["total_pence"] == 11076 * 2000 // 60


def test_invalid_grouping_names_the_choices() -> None:
    with pytest.raises(ValueError, match=r"role, school, funding_stream, staff, funded.*term"):
        ask(build([]), D(2011, 1, 1), by="activity")


def test_by_none_gives_only_the_total_row_and_cost_matches() -> None:
    p = build(mixed_events())
    query = Query(as_of=D(2012, 8, 31), period=parse_period("2011/12"))
    table = p.report(query)
    assert table.column("group") == ["total"]
    summary = p.cost(query)
    assert isinstance(summary, CostSummary)
    row = table.row("total")
    assert summary.total_pence == row["total_pence"]
    assert summary.release_minutes == row["release_minutes"]
    assert summary.cost_per_attendance_pence == row["cost_per_attendance_pence"]


def test_partnership_filter() -> None:
    other = "wear"
    p = build([*mixed_events(),
               assign("x1", D(2010, 9, 1), "ssco", pid=other, per_week=100, rate=1000),
               club("x2", D(2010, 9, 20), 10, 4, pid=other)])
    both = ask(p, D(2011, 8, 31)).row("total")
    tyne = p.report(Query(as_of=D(2011, 8, 31), partnership_id=P)).row("total")
    wear = p.report(Query(as_of=D(2011, 8, 31), partnership_id=other)).row("total")
    for measure in MEASURES:
        assert both[measure] == int(tyne[measure] or 0) + int(wear[measure] or 0)
    assert p.report(Query(as_of=D(2011, 8, 31), partnership_id="nope")).row("total")[
        "total_pence"] == 0


# --------------------------------------------------------------------------- retract / order


def test_retract_undoes_apply_for_every_kind_of_fact() -> None:
    base = mixed_events()
    p = build(base)
    expected = all_tables(p)
    extras: list[CorrectableEvent] = [
        assign("z1", D(2011, 1, 10), "ssco", role="OTHER", per_week=300, rate=999),
        StaffReleased(partnership_id=P, occurred_on=D(2011, 2, 1), event_id="z2",
                      staff_id="ssco"),
        funding("z3", D(2011, 3, 1), "ssp-grant", 0),
        club("z4", D(2011, 3, 2), 500, 50, staff="ssco"),
        club("z5", D(2009, 3, 2), 500, 50, staff="new", school="zzz"),
        CpdDelivered(partnership_id=P, occurred_on=D(2011, 1, 12), event_id="z6", topic="t",
                     teachers=1, minutes=10),
    ]
    for extra in extras:
        fact = Fact(1000, T0, extra)
        p.apply(fact)
        assert all_tables(p) != expected, extra.event_id
        p.retract(fact)
        assert all_tables(p) == expected, extra.event_id
    # Retracting an original fact equals never having applied it.
    for i, event in enumerate(base):
        q = build(base)
        q.retract(Fact(i + 1, T0, event))
        assert all_tables(q) == all_tables(build(base[:i] + base[i + 1:])), event.event_id


def test_every_recording_order_gives_the_same_answers() -> None:
    events: list[CorrectableEvent] = [GRANT_END[0], GRANT_END[1], GRANT_END[3],
              club("c1", D(2011, 6, 7), 60, 20, staff="ssco"),
              club("c2", D(2011, 10, 4), 120, 15, staff="ssco")]
    expected = all_tables(build(events))
    for order in itertools.permutations(events):
        assert all_tables(build(list(order))) == expected


@settings(max_examples=100, deadline=None)
@given(st.permutations(mixed_events()), st.sets(st.integers(0, len(mixed_events()) - 1)))
def test_incremental_with_retractions_equals_rebuild(order: list[CorrectableEvent],
                                                      dropped: set[int]) -> None:
    p = StaffTimeCost()
    for i, e in enumerate(order):
        p.apply(Fact(i, T0, e))
    for i in sorted(dropped):
        p.retract(Fact(i, T0, order[i]))
    kept = [e for i, e in enumerate(order) if i not in dropped]
    assert all_tables(p) == all_tables(build(kept))


# --------------------------------------------------------------------------- through the ledger


def ledger() -> Ledger:
    clock = itertools.count()

    def now() -> dt.datetime:
        return T0 + dt.timedelta(minutes=next(clock))

    led = Ledger.in_memory(projections={"staff_time_cost": StaffTimeCost, "funding": Funding},
                           clock=now)
    led.record_many([
        PartnershipFormed(partnership_id=P, occurred_on=D(2010, 4, 1), event_id="f",
                          name="Tyneside", hub_school_id="hub"),
        SchoolJoined(partnership_id=P, occurred_on=D(2010, 4, 1), event_id="j1",
                     school_id="hub", school_name="Hub", phase="sports_college"),
        SchoolJoined(partnership_id=P, occurred_on=D(2010, 4, 1), event_id="j2",
                     school_id="sec", school_name="Secondary", phase="secondary"),
    ])
    return led


def test_through_the_ledger_corrections_and_known_at() -> None:
    led = ledger()
    led.record_many(GRANT_END[:4])
    led.record(club("c1", D(2011, 10, 4), 120, 15, staff="ssco"))
    known = led.record(club("c2", D(2011, 10, 5), 60, 5, staff="ssco")).recorded_at
    assert known is not None
    before = led.staff_time_cost(as_of=D(2011, 12, 31), by="funded", period="2011/12:autumn")
    assert before.row("hidden")["activity_minutes"] == 180
    led.record(EventCorrected(partnership_id=P, occurred_on=D(2011, 10, 5), event_id="fix",
                              target_event_id="c2", reason="was 30 minutes",
                              replacement=club("c2", D(2011, 10, 5), 30, 5, staff="ssco")))
    led.record(EventRetracted(partnership_id=P, occurred_on=D(2011, 10, 4), event_id="del",
                              target_event_id="c1", reason="duplicate"))
    now = led.staff_time_cost(as_of=D(2011, 12, 31), by="funded", period="2011/12:autumn")
    assert now.row("hidden")["activity_minutes"] == 30
    then = led.staff_time_cost(as_of=D(2011, 12, 31), by="funded", period="2011/12:autumn",
                               known_at=known)
    assert then == msgspec.structs.replace(before, known_at=known)
    led.rebuild()
    assert led.staff_time_cost(as_of=D(2011, 12, 31), by="funded",
                               period="2011/12:autumn") == now


def test_the_unattributed_rate_is_the_shipped_parameter() -> None:
    """The projection's light reading of cost.UNATTRIBUTED (tomllib) gives exactly the values
    the validating models of ssp_ledger.parameters read from the same file."""
    from ssp_ledger.parameters import load_parameters
    from ssp_ledger_projections.staff_cost.rates import shipped_rate

    model = load_parameters().get("cost.UNATTRIBUTED")
    assert model.unit == "pence_per_hour"
    assert [(v.effective_from, v.value, v.citation, v.note) for v in model.values] == [
        tuple(v) for v in shipped_rate().values]
    assert all(v.note.startswith("estimate") for v in model.values)


@pytest.mark.parametrize(("values", "message"), [
    ([], "cost.UNATTRIBUTED has no values"),
    ([{"effective_from": "2002-09-01", "value": 1, "citation": "x"}],
     "values[0].effective_from: not a date"),
    ([{"effective_from": D(2002, 9, 1), "value": -1, "citation": "x"}], "values[0].value"),
    ([{"effective_from": D(2002, 9, 1), "value": 1, "citation": " "}],
     "values[0].citation: missing"),
])
def test_a_malformed_unattributed_rate_is_refused_naming_the_field(
        values: list[dict[str, object]], message: str) -> None:
    from ssp_ledger_projections.staff_cost.rates import parse_rate

    data = {"parameters": [{"name": "cost.UNATTRIBUTED", "values": values}]}
    with pytest.raises(ValueError, match=re.escape(message)):
        parse_rate(data, "mine.toml")
    with pytest.raises(ValueError, match="must be defined once"):
        parse_rate({"parameters": []}, "mine.toml")


def test_the_national_first_day_follows_every_change() -> None:
    """The first day over every partnership is kept between changes (each national report
    asks), and moves with an earlier fact, a retraction, or a batch of facts."""
    p = build([assign("a1", D(2005, 9, 1)), club("c1", D(2006, 1, 10), 60, pid="wear")])
    facts = p.facts
    assert facts.first_day() == D(2005, 9, 1)
    earlier = club("c0", D(2004, 3, 2), 30, pid="wear")
    p.apply(Fact(position=3, recorded_at=T0, event=earlier))
    assert facts.first_day() == D(2004, 3, 2) == facts.first_day("wear")
    p.retract(Fact(position=3, recorded_at=T0, event=earlier))
    assert facts.first_day() == D(2005, 9, 1)
    earliest = assign("a0", D(2003, 1, 6), pid="tees")
    p.apply_batch([Fact(position=4, recorded_at=T0, event=earliest)], [1])
    assert facts.first_day() == D(2003, 1, 6)
    p.apply_batch([Fact(position=4, recorded_at=T0, event=earliest)], [-1])
    assert facts.first_day() == D(2005, 9, 1)


def test_every_series_keys_a_day_with_one_shared_date_object() -> None:
    """The ids by day hold one date object per day whatever the fact, series or path (a
    replay's batch, one fact at a time, a retraction's leftover), so a million facts do not
    keep a million dates alive; the figures are those of equal dates."""
    def day() -> dt.date:
        return dt.date.fromordinal(D(2006, 1, 10).toordinal())  # a fresh object each time

    p = build([assign("a1", D(2005, 9, 1))])
    batch = [club(f"b{i}", day(), 60, pid=pid) for i, pid in enumerate(["wear", "tees"] * 3)]
    p.apply_batch([Fact(position=10 + i, recorded_at=T0, event=e)
                   for i, e in enumerate(batch)], [1] * len(batch))
    p.apply(Fact(position=20, recorded_at=T0, event=club("one", day(), 30, pid="tyne")))
    mixed = [club("r1", day(), 15, pid="esk"), club("b0", day(), 60, pid="wear")]
    p.apply_batch([Fact(position=21, recorded_at=T0, event=mixed[0]),
                   Fact(position=10, recorded_at=T0, event=mixed[1])], [1, -1])
    keys = [d for by_day in p.facts.same_day.values() for d in by_day]
    assert len(keys) == 4  # wear, tees, tyne, esk
    assert len({id(d) for d in keys}) == 1
    assert p.facts.days_with_entries("wear", "", "sec") == [D(2006, 1, 10)]
