"""Pupils and the survey measure: the RollCounted and SurveyReturned events, their rules, and the
``survey`` projection (shares, per-pupil figures, groupings, state, explain, properties)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ssp_ledger import Ledger
from ssp_ledger.audit import explain
from ssp_ledger.errors import BeforeFormation, NotAMember
from ssp_ledger.events import (
    ClubRun,
    DomainEvent,
    EventCorrected,
    EventRetracted,
    PartnershipFormed,
    RollCounted,
    SchoolJoined,
    SurveyReturned,
)
from ssp_ledger.projection import PERIOD_KINDS, Fact, Query
from ssp_ledger_projections.participation import Participation
from ssp_ledger_projections.staff_time_cost import StaffTimeCost
from ssp_ledger_projections.survey import Survey
from tests.strategies import History, dates, histories

D = dt.date
SETTINGS = settings(max_examples=30, deadline=None)
T0 = dt.datetime(2012, 1, 1, tzinfo=dt.UTC)
COUNTS = ("returns", "surveyed_pupils", "pupils_2_hours", "asked_3_hours_pupils",
          "pupils_3_hours", "pupils_on_roll", "attendances", "staff_cost_pence")


def survey(event_id: str = "s1", **kw: Any) -> SurveyReturned:
    fields: dict[str, Any] = {"partnership_id": "p", "occurred_on": D(2009, 6, 1),
                              "event_id": event_id, "school_id": "a", "survey_year": "2008/09",
                              "pupils_on_roll": 200, "pupils_2_hours": 180,
                              "pupils_3_hours": 100}
    fields.update(kw)
    return SurveyReturned(**fields)


CENSUS = D(2009, 1, 15)
FORMED = D(2004, 9, 1)


def roll(event_id: str, school: str, pupils: int, day: D = CENSUS) -> RollCounted:
    return RollCounted(partnership_id="p", occurred_on=day, event_id=event_id, school_id=school,
                       pupils_on_roll=pupils)


def structure(pid: str = "p", formed: D = FORMED) -> list[DomainEvent]:
    return [
        PartnershipFormed(partnership_id=pid, occurred_on=formed, event_id="f", name="P",
                          hub_school_id="h"),
        SchoolJoined(partnership_id=pid, occurred_on=formed, event_id="j1", school_id="h",
                     school_name="H", phase="sports_college"),
        SchoolJoined(partnership_id=pid, occurred_on=formed, event_id="j2", school_id="a",
                     school_name="A", phase="primary"),
    ]


def example() -> Ledger:
    ledger = Ledger.in_memory()
    ledger.record_many([
        *structure(),
        roll("r1", "h", 1000), roll("r2", "a", 200),
        ClubRun(partnership_id="p", occurred_on=D(2009, 2, 3), event_id="c1", club_id="c",
                school_id="a", activity="dance", participants=20, staff_minutes=60),
        survey("s1", school_id="h", pupils_on_roll=1000, pupils_2_hours=900, pupils_3_hours=500),
        survey("s2"),
        survey("s3", occurred_on=D(2008, 6, 1), survey_year="2007/08", pupils_2_hours=170,
               pupils_3_hours=None),
    ])
    return ledger


# --------------------------------------------------------------------------- events and rules


@pytest.mark.parametrize(("change", "message"), [
    ({"pupils_3_hours": 181}, r"pupils_3_hours \(181\) exceeds pupils_2_hours \(180\)"),
    ({"pupils_2_hours": 201}, r"pupils_2_hours \(201\) exceeds pupils_on_roll \(200\)"),
    ({"pupils_2_hours": -1}, "pupils_2_hours must not be negative"),
    ({"pupils_3_hours": -1}, "pupils_3_hours must not be negative"),
    ({"pupils_on_roll": -5}, "pupils_on_roll must not be negative"),
    ({"survey_year": "2008/10"}, "survey_year must be an academic year"),
    ({"survey_year": "08/09"}, "survey_year must be an academic year"),
    ({"occurred_on": D(2008, 8, 31)}, "before survey_year 2008/09 starts"),
    ({"school_id": " "}, "school_id must not be empty"),
])
def test_survey_returns_are_validated(change: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        survey(**change)


def test_a_return_without_the_three_hour_question_and_decoding() -> None:
    early = survey(survey_year="2005/06", occurred_on=D(2006, 6, 1), pupils_3_hours=None)
    data = msgspec.json.encode(early)
    assert msgspec.json.decode(data, type=DomainEvent) == early
    bad = data.replace(b'"pupils_2_hours":180', b'"pupils_2_hours":300')
    with pytest.raises(msgspec.ValidationError, match="exceeds pupils_on_roll"):
        msgspec.json.decode(bad, type=DomainEvent)
    with pytest.raises(ValueError, match="pupils_on_roll must not be negative"):
        roll("r", "a", -1)


def test_the_school_must_be_a_member() -> None:
    ledger = Ledger.in_memory()
    ledger.record_many(structure())
    with pytest.raises(NotAMember):
        ledger.record(survey(school_id="elsewhere"))
    with pytest.raises(NotAMember):
        ledger.record(roll("r", "elsewhere", 10))
    with pytest.raises(BeforeFormation):
        ledger.record(roll("r", "a", 10, day=D(2004, 1, 15)))


def test_returns_are_correctable_and_retractable() -> None:
    ledger = example()
    before = ledger.report("survey", as_of=D(2010, 1, 1)).row("total")
    assert (before["pupils_2_hours"], before["share_2_hours_per_mille"]) == (1080, 900)
    ledger.record(EventCorrected(partnership_id="p", occurred_on=D(2009, 6, 1),
                                 event_id="fix", target_event_id="s2", reason="recount",
                                 replacement=survey("s2", pupils_2_hours=120,
                                                    pupils_3_hours=60)))
    fixed = ledger.report("survey", as_of=D(2010, 1, 1)).row("total")
    assert (fixed["pupils_2_hours"], fixed["pupils_3_hours"]) == (1020, 560)
    ledger.record(EventRetracted(partnership_id="p", occurred_on=D(2009, 6, 1), event_id="drop",
                                 target_event_id="s1", reason="sent twice"))
    left = ledger.report("survey", as_of=D(2010, 1, 1)).row("total")
    assert (left["returns"], left["surveyed_pupils"], left["share_2_hours_per_mille"]) == \
        (1, 200, 600)


# --------------------------------------------------------------------------- the projection


def test_shares_per_pupil_figures_and_groupings() -> None:
    ledger = example()
    total = ledger.report("survey", as_of=D(2010, 1, 1)).row("total")
    assert total == {
        "group": "total", "survey_year": "2008/09", "returns": 2, "surveyed_pupils": 1200,
        "pupils_2_hours": 1080, "share_2_hours_per_mille": 900,
        "asked_3_hours_pupils": 1200, "pupils_3_hours": 600, "share_3_hours_per_mille": 500,
        "pupils_on_roll": 1200, "attendances": 20, "attendances_per_100_pupils": 1,
        # An hour of unattributed staff time in 2008/09: cost.UNATTRIBUTED, 2515p.
        "staff_cost_pence": 2515, "staff_cost_per_pupil_pence": 2,
    }
    phase = ledger.report("survey", as_of=D(2010, 1, 1), by="phase")
    assert phase.column("phase") == ["primary", "sports_college", "total"]
    assert phase.row("primary")["attendances_per_100_pupils"] == 10
    years = ledger.report("survey", as_of=D(2010, 1, 1), by="year")
    assert years.column("year") == ["2007/08", "2008/09", "total"]
    assert years.row("2007/08")["share_2_hours_per_mille"] == 850
    assert years.row("2007/08")["share_3_hours_per_mille"] is None  # not asked before 2008/09
    older = ledger.report("survey", as_of=D(2010, 1, 1), year="2007/08").row("total")
    assert (older["survey_year"], older["returns"], older["pupils_on_roll"]) == ("2007/08", 1, 0)
    assert ledger.report("survey", as_of=D(2008, 12, 1)).row("total")["survey_year"] == "2007/08"
    cohort = ledger.report("survey", as_of=D(2010, 1, 1), by="cohort")
    assert cohort.column("cohort") == ["2004/05", "total"]
    aged = ledger.report("survey", as_of=D(2010, 1, 1), by="cohort", cohort="age")
    assert aged.column("cohort") == ["4-5 years", "total"]  # on 31 Aug 2009, the year's end
    with pytest.raises(ValueError, match="cohort must be one of formed, age"):
        ledger.report("survey", as_of=D(2010, 1, 1), by="cohort", cohort="wave")
    with pytest.raises(ValueError, match="year must be an academic year"):
        ledger.report("survey", as_of=D(2010, 1, 1), year="2008")
    with pytest.raises(ValueError, match="cannot group by 'activity'"):
        ledger.report("survey", as_of=D(2010, 1, 1), by="activity")


def test_a_later_return_replaces_an_earlier_one_of_the_same_year() -> None:
    ledger = example()
    ledger.record(survey("s4", occurred_on=D(2009, 7, 1), pupils_2_hours=100,
                         pupils_3_hours=None))
    row = ledger.report("survey", as_of=D(2010, 1, 1), by="school").row("a")
    assert (row["returns"], row["pupils_2_hours"], row["asked_3_hours_pupils"]) == (1, 100, 0)
    assert ledger.report("survey", as_of=D(2009, 6, 15), by="school").row("a")[
        "pupils_2_hours"] == 180


def test_standalone_survey_has_no_per_pupil_figures() -> None:
    alone = Survey()
    for i, event in enumerate([*structure(), roll("r2", "a", 200), survey("s2")], start=1):
        assert not isinstance(event, EventCorrected | EventRetracted)
        alone.apply(Fact(i, T0, event))
    total = alone.report(Query(as_of=D(2010, 1, 1))).to_dicts()[-1]
    assert total["pupils_on_roll"] == 200
    assert total["attendances"] is None
    assert total["staff_cost_per_pupil_pence"] is None


def test_explain_sums_to_the_row() -> None:
    ledger = example()
    for by, group in ((None, "total"), ("school", "a"), ("year", "2008/09"),
                      ("academic_year", "2008/09")):
        table, found = explain(ledger, "survey", group=group, as_of=D(2010, 1, 1), by=by)
        row = table.row(group)
        sums: dict[str, int] = {}
        for item in found:
            for name, value in item.values.items():
                sums[name] = sums.get(name, 0) + value
        for name in ("returns", "surveyed_pupils", "pupils_2_hours", "pupils_3_hours",
                     "pupils_on_roll", "attendances"):
            assert sums.get(name, 0) == row[name], (by, name)


# --------------------------------------------------------------------------- properties


def _ledger(events: list[DomainEvent]) -> Ledger:
    ledger = Ledger.in_memory()
    ledger.record_many(events)
    return ledger


def _sum_rows(table_rows: list[dict[str, Any]], name: str) -> int:
    return sum(int(r[name] or 0) for r in table_rows)


@SETTINGS
@given(st.data())
def test_school_rows_add_up_to_the_total(data: st.DataObject) -> None:
    """Additivity across schools: every count of the total row is the sum of the school rows
    (and of the phase and partnership rows), for each survey year."""
    one: History = data.draw(histories(max_activity=30))
    two: History = data.draw(histories(pid="q", max_activity=15))
    ledger = _ledger([*one.events, *two.events])
    day = data.draw(dates(one))
    for year in ledger.report("survey", as_of=day, by="year").column("year")[:-1]:
        total = ledger.report("survey", as_of=day, year=str(year)).row("total")
        for by in ("school", "phase", "partnership", "cohort"):
            rows = ledger.report("survey", as_of=day, by=by, year=str(year)).to_dicts()
            for name in COUNTS:
                assert _sum_rows(rows[:-1], name) == total[name], (by, name)
                assert rows[-1][name] == total[name]


@SETTINGS
@given(st.data())
def test_returns_counted_never_fall_as_the_date_moves_on(data: st.DataObject) -> None:
    """As-of monotonicity where it holds: a school's return for a year, once made, is counted
    at every later date (a later one may replace it, never remove it)."""
    history: History = data.draw(histories(max_activity=30))
    ledger = _ledger(history.events)
    early, late = sorted(data.draw(st.lists(dates(history), min_size=2, max_size=2)))
    a = ledger.report("survey", as_of=early, by="year").row("total")["returns"]
    b = ledger.report("survey", as_of=late, by="year").row("total")["returns"]
    assert isinstance(a, int)
    assert isinstance(b, int)
    assert a <= b


@SETTINGS
@given(st.data())
def test_recording_order_does_not_change_answers(data: st.DataObject) -> None:
    history: History = data.draw(histories(max_activity=30))
    shuffled = data.draw(st.permutations(history.activity))
    day = data.draw(dates(history))
    first = _ledger(history.events)
    second = _ledger([*history.structure, *shuffled, *history.exits])
    for by in (None, "school", "phase", "partnership", "cohort", "year", "academic_year"):
        assert first.report("survey", as_of=day, by=by) == second.report("survey", as_of=day,
                                                                         by=by)


def _attached() -> tuple[Survey, Participation, StaffTimeCost]:
    survey_, participation, staff = Survey(), Participation(), StaffTimeCost()
    siblings = {"survey": survey_, "participation": participation, "staff_time_cost": staff}
    survey_.attach(siblings)
    return survey_, participation, staff


@SETTINGS
@given(st.data())
def test_state_round_trips_and_is_canonical(data: st.DataObject) -> None:
    history: History = data.draw(histories(max_activity=30))
    facts = [Fact(i, T0, e) for i, e in enumerate(history.events, start=1)
             if not isinstance(e, EventCorrected | EventRetracted)]
    day = data.draw(dates(history))
    original = _attached()
    for fact in facts:
        for p in original:
            p.apply(fact)
    original[0].report(Query(as_of=day, by="school"))  # asking leaves the state alone
    restored = _attached()
    restored[0].load_state(original[0].dump_state())
    restored[1].load_state(original[1].dump_state())
    restored[2].load_state(original[2].dump_state())
    assert restored[0].dump_state() == original[0].dump_state()
    for by in (None, "school", "phase", "cohort", "year", "term"):
        q = Query(as_of=day, by=by)
        assert restored[0].report(q) == original[0].report(q)
    with pytest.raises(ValueError, match="fresh"):
        restored[0].load_state(original[0].dump_state())


@SETTINGS
@given(st.data())
def test_a_restored_survey_reads_its_siblings_kept_figures(data: st.DataObject) -> None:
    """From restored states, a survey as of a late day (every period kind, whose first row
    starts on the survey's first day, by year and the latest year) reads every school's
    attendances and costs from what the siblings' states kept for it: no school dimension is
    inflated, no staff fact read; the answers are the fed projections'."""
    history: History = data.draw(histories(max_activity=30))
    facts = [Fact(i, T0, e) for i, e in enumerate(history.events, start=1)
             if not isinstance(e, EventCorrected | EventRetracted)]
    original = _attached()
    for fact in facts:
        for p in original:
            p.apply(fact)
    restored = _attached()
    for p, q in zip(restored, original, strict=True):
        p.load_state(q.dump_state())
    late = history.horizon + dt.timedelta(days=400)
    for by in (None, "year", "school", *PERIOD_KINDS):
        query = Query(as_of=late, by=by)
        assert restored[0].report(query) == original[0].report(query)
    if restored[2]._kept is not None:
        assert restored[2]._pending is not None
    if restored[1]._kept is not None:
        assert all("school" in part._raw for part in restored[1].index._parts.values())


def _state_of(*events: DomainEvent) -> bytes:
    survey_ = Survey()
    for i, e in enumerate(events, start=1):
        survey_.apply(Fact(i, T0, e))
    return survey_.dump_state()


def test_the_state_is_plain_columns_and_refuses_what_it_is_not() -> None:
    """The state holds the fields a report reads, as columns (days as ordinals), no event; a
    state of version 1 (the facts as events), columns of different lengths, a day that is no
    date or an event id kept twice are refused (ValueError), never misread."""
    data = _state_of(*structure(), roll("r1", "a", 200), survey("s2"))
    plain = msgspec.msgpack.decode(data)
    assert plain["version"] == 3
    assert plain["figures"] is None  # no siblings: no school figures
    assert plain["rolls"] == [["p"], ["r1"], [CENSUS.toordinal()], ["a"], [200]]
    assert plain["returns"][4:] == [["2008/09"], [200], [180], [100]]
    old = msgspec.msgpack.encode({"format": "ssp-ledger/survey", "version": 1, "facts": []})
    broken = [
        (old, "version 1 is not 3"),
        (msgspec.msgpack.encode({**plain, "rolls": [["p"], ["r1"], [], ["a"], [200]]}),
         "differ in length"),
        (msgspec.msgpack.encode({**plain, "rolls": [["p"], ["r1"], [0], ["a"], [200]]}),
         "not a date"),
        (msgspec.msgpack.encode({**plain, "rolls": [["p"], ["s2"], [1], ["a"], [200]]}),
         "kept twice"),
        (msgspec.msgpack.encode({**plain, "rolls": [["p"], ["r1"], ["x"], ["a"], [200]]}),
         "int"),
    ]
    for bad, message in broken:
        with pytest.raises(ValueError, match=message):
            Survey().load_state(bad)
    restored = Survey()
    restored.load_state(data)
    assert restored.dump_state() == data


# --------------------------------------------------------------------------- cohorts


def test_partnership_age_by_cohort_and_its_explanation() -> None:
    ledger = Ledger.in_memory()
    ledger.record_many([*structure("p", FORMED), *structure("q", D(2006, 9, 1)),
                        *structure("r", D(2006, 9, 1))])
    day = D(2009, 9, 1)
    table = ledger.report("partnership_age", as_of=day, by="cohort")
    assert table.to_dicts() == [
        {"cohort": "2004/05", "partnerships": 1, "mean_age_days": (day - FORMED).days,
         "active_members": 2, "mean_tenure_days": (day - FORMED).days},
        {"cohort": "2006/07", "partnerships": 2, "mean_age_days": 1096, "active_members": 4,
         "mean_tenure_days": 1096},
    ]
    aged = ledger.report("partnership_age", as_of=day, by="cohort", cohort="age")
    assert aged.column("cohort") == ["2-3 years", "4-5 years"]
    _, found = explain(ledger, "partnership_age", group="2006/07", as_of=day, by="cohort")
    sums: dict[str, int] = {}
    for item in found:
        for name, value in item.values.items():
            sums[name] = sums.get(name, 0) + value
    assert sums == {"partnerships": 2, "age_days": 2 * 1096, "active_members": 4,
                    "tenure_days": 4 * 1096}
    survey_rows = ledger.report("survey", as_of=day, by="cohort").column("cohort")
    assert survey_rows == ["total"]  # no returns, no rolls: nothing to group


@SETTINGS
@given(st.data())
def test_a_restored_set_saves_what_a_replay_saves(data: st.DataObject) -> None:
    """The siblings' states depend on the survey's first day: a restored set gives back the
    same snapshot as the replay of the log whichever projections it loaded (the survey, or only
    its siblings, or one of them, each after a report)."""
    from ssp_ledger.projection import ProjectionSet

    history: History = data.draw(histories(max_activity=30))
    ledger = _ledger(history.events)
    live = ledger.view(None)
    snapshot = live.snapshot()
    late = history.horizon + dt.timedelta(days=400)
    loads = data.draw(st.lists(st.sampled_from(
        ("survey", "participation", "staff_time_cost", "funding")), max_size=3))
    restored = ProjectionSet.restore(snapshot, ledger.factories, ledger.load, ledger.read)
    for name in loads:
        restored[name].report(Query(as_of=late, by="school" if name != "funding" else None))
    assert restored.snapshot() == snapshot
    # A roll dated on a school's join moves the survey's first day (or not): fed to the
    # restored set, which then saves what a replay of the longer log saves.
    joined = next(e for e in history.structure if isinstance(e, SchoolJoined))
    position = restored.position
    ledger.record(RollCounted(partnership_id=joined.partnership_id, occurred_on=joined.occurred_on,
                              event_id="early-roll", school_id=joined.school_id,
                              pupils_on_roll=300))
    restored.process_all(ledger.read(position + 1))
    assert restored.snapshot() == ledger.view(None).snapshot()


@SETTINGS
@given(st.data())
def test_a_restored_set_answers_the_survey_from_its_own_figures(data: st.DataObject) -> None:
    """A restored set answers the survey from the school figures its own part copied from the
    siblings, without loading them, when the figures hold every day the rows read (as of a day
    after every change, any grouping); as of any other day, at a flat rate or once a sibling
    is loaded (it may change from then on), it reads the siblings. The answers are the
    replay's every way, and the snapshot stays the replay's."""
    from ssp_ledger.projection import ProjectionSet

    history: History = data.draw(histories(max_activity=30))
    ledger = _ledger(history.events)
    live = ledger.view(None)
    snapshot = live.snapshot()
    late = history.horizon + dt.timedelta(days=400)
    day = data.draw(dates(history))
    siblings = ("participation", "staff_time_cost")
    for as_of in (late, day):
        for by in (None, "school", "year", *PERIOD_KINDS):
            restored = ProjectionSet.restore(snapshot, ledger.factories, ledger.load,
                                             ledger.read)
            survey_ = restored["survey"]
            assert isinstance(survey_, Survey)
            copied = survey_._kept is not None
            query = Query(as_of=as_of, by=by)
            assert survey_.report(query) == live["survey"].report(query)
            if as_of == late and copied:
                assert not set(siblings) & set(restored._loaded)
    flat = Query(as_of=late, by="term", params={"default_hourly_cost_pence": 1234})
    restored = ProjectionSet.restore(snapshot, ledger.factories, ledger.load, ledger.read)
    assert restored["survey"].report(flat) == live["survey"].report(flat)
    restored = ProjectionSet.restore(snapshot, ledger.factories, ledger.load, ledger.read)
    restored["survey"].report(Query(as_of=late))
    restored["funding"].report(Query(as_of=late))  # loads the staff costing
    survey_ = restored["survey"]
    assert isinstance(survey_, Survey)
    assert survey_._kept is None  # a loaded sibling is read from then on
    query = Query(as_of=late, by="academic_year")
    assert survey_.report(query) == live["survey"].report(query)
    assert restored.snapshot() == snapshot


def test_the_school_figures_refuse_a_damaged_shape() -> None:
    """Figures copied into the state whose columns do not have a table's shape are refused
    (ValueError, one line), never misread."""
    from ssp_ledger.projection import ProjectionSet
    from ssp_ledger.synthetic import SyntheticConfig, generate

    ledger = _ledger(list(generate(SyntheticConfig(seed=5, secondaries=2, primaries=3),
                                   limit=1500)))
    data = ledger.view(None).snapshot()

    restored = ProjectionSet.restore(data, ledger.factories, ledger.load, ledger.read)
    survey_ = restored["survey"]
    assert isinstance(survey_, Survey)
    state = msgspec.msgpack.decode(survey_.dump_state())
    assert state["figures"] is not None
    attendances, costs = state["figures"]
    broken = [
        {**state, "figures": [attendances, [*costs[:4], costs[4][1:], costs[5]]]},
        {**state, "figures": [attendances, [*costs[:3], [], *costs[4:]]]},
        {**state, "figures": [attendances, [*costs[:5], costs[5][:4]]]},
        {**state, "figures": [[*attendances[:2], b"\0\0\0", *attendances[3:]], costs]},
    ]
    for bad in broken:
        with pytest.raises(ValueError, match=r"kept (costs|attendances)"):
            Survey().load_state(msgspec.msgpack.encode(bad))
