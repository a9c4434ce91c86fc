"""The national answers a staff state keeps (:mod:`ssp_ledger_projections.staff_cost.kept`): a
loaded state answers national reports from them exactly as the facts do, reads its facts only
when a report needs a day they do not hold, and refuses malformed answers in one line."""

from __future__ import annotations

import datetime as dt

import msgspec
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ssp_ledger.events import CorrectableEvent
from ssp_ledger.periods import parse_period
from ssp_ledger.projection import PERIOD_KINDS, Fact, Query
from ssp_ledger.projection.checkpoint import UnreadableCheckpoint
from ssp_ledger_projections.funding import Funding
from ssp_ledger_projections.staff_cost.kept import NotKept
from ssp_ledger_projections.staff_cost.state import pack_state, unpack_state
from ssp_ledger_projections.staff_time_cost import StaffTimeCost
from tests.strategies import FORMED, History, histories

T0 = dt.datetime(2012, 1, 1, tzinfo=dt.UTC)
GROUPINGS = (None, *StaffTimeCost.groupings, *PERIOD_KINDS)


def _events(*histories: History) -> list[Fact]:
    events = [e for h in histories for e in h.events if isinstance(e, CorrectableEvent)]
    return [Fact(i, T0, e) for i, e in enumerate(events, start=1)]


def _fed(facts: list[Fact]) -> StaffTimeCost:
    p = StaffTimeCost()
    for fact in facts:
        p.apply(fact)
    return p


@settings(max_examples=40, deadline=None)
@given(histories(max_activity=20), histories(pid="q", max_activity=10))
def test_kept_answers_report_as_the_facts(history: History, other: History) -> None:
    """Every grouping and period kind of a national report, as of days after the last change
    (the kept rows and the open tails since), on it, and inside the span (kept or not: then
    the facts answer), equals the report of the projection fed the facts; a report of a late
    day reads no fact; funding reports agree too."""
    facts = _events(history, other)
    original = _fed(facts)
    loaded = StaffTimeCost()
    loaded.load_state(original.dump_state())
    late = history.horizon + dt.timedelta(days=200)
    for by in GROUPINGS:
        q = Query(as_of=late, by=by)
        assert loaded.report(q) == original.report(q)
    kept = loaded._kept
    if kept is not None:
        assert loaded._pending is not None  # answered without reading the facts
        days = [dt.date.fromordinal(int(d)) for d in kept[0].table(None)._marks]
        days += [history.horizon, dt.date.fromordinal(int(kept[0].table(None)._marks[0]) + 17)]
        for day in days:
            for by in (None, "role", "funded", "academic_year", "term"):
                q = Query(as_of=day, by=by)
                assert loaded.report(q) == original.report(q)
    for by in (None, "funding_stream", "term", "financial_year"):
        assert loaded.report(Query(as_of=late, partnership_id="q", by=by)) == original.report(
            Query(as_of=late, partnership_id="q", by=by))
    assert loaded.dump_state() == original.dump_state()
    alone = Funding()
    for fact in facts:
        alone.apply(fact)
    restored = Funding()
    restored.load_state(alone.dump_state())
    for by in (None, "funding_stream", *PERIOD_KINDS):
        q = Query(as_of=late, by=by)
        assert restored.report(q) == alone.report(q)


@settings(max_examples=15, deadline=None)
@given(histories(max_activity=15), histories(pid="q", max_activity=8))
def test_a_change_drops_the_kept_answers(history: History, other: History) -> None:
    """After a fact comes, the answers kept no longer hold: reports are the facts', and the
    state dumped is the one a projection fed every fact dumps (answers made afresh)."""
    facts = _events(history, other)
    if len(facts) < 2:
        return
    original = _fed(facts)
    loaded = StaffTimeCost()
    loaded.load_state(_fed(facts[:-1]).dump_state())
    loaded.apply(facts[-1])
    assert loaded._kept is None
    late = history.horizon + dt.timedelta(days=200)
    for by in (None, "role", "term"):
        q = Query(as_of=late, by=by)
        assert loaded.report(q) == original.report(q)
    assert loaded.dump_state() == original.dump_state()


def _state_with_answers() -> tuple[StaffTimeCost, msgspec.Struct]:
    from tests.unit.test_staff_cost_columns import _fed as fed

    original = fed()
    state = unpack_state(original.dump_state())
    assert state.answers is not None
    return original, state


def _with_answers(**fields: object) -> bytes:
    _, state = _state_with_answers()
    answers = msgspec.structs.replace(state.answers, **fields)  # type: ignore[attr-defined]
    return pack_state(msgspec.structs.replace(state, answers=answers))


def test_a_kept_report_reads_no_fact_and_a_partnerships_does() -> None:
    original, _ = _state_with_answers()
    loaded = StaffTimeCost()
    loaded.load_state(original.dump_state())
    late = dt.date(2012, 1, 1)
    for by in GROUPINGS:
        q = Query(as_of=late, by=by)
        assert loaded.report(q) == original.report(q)
    assert loaded.cost_between(None, late) == original.cost_between(None, late)
    year = parse_period("2010/11")  # a window of one period: its bounds are marks
    for by in (None, "role", "funding_stream", "funded", "term"):
        q = Query(as_of=late, by=by, period=year)
        assert loaded.report(q) == original.report(q)
    assert loaded._pending is not None
    q = Query(as_of=late, by="role", partnership_id="p")
    assert loaded.report(q) == original.report(q)
    assert loaded._pending is None
    assert loaded.dump_state() == original.dump_state()


def test_a_flat_rate_or_a_day_not_kept_reads_the_facts() -> None:
    original, _ = _state_with_answers()
    loaded = StaffTimeCost()
    loaded.load_state(original.dump_state())
    flat = Query(as_of=dt.date(2012, 1, 1), by="role",
                 params={"default_hourly_cost_pence": 1234})
    assert loaded.report(flat) == original.report(flat)
    assert loaded._pending is None
    kept = loaded._kept
    assert kept is not None
    marks = kept[0].table(None)._marks
    inside = int(marks[-1]) - 1
    assert inside not in marks.tolist()
    with pytest.raises(NotKept):
        kept[0].table(None).columns_at([inside])
    q = Query(as_of=dt.date.fromordinal(inside), by="term")
    assert loaded.report(q) == original.report(q)


def _i4(*values: int) -> bytes:
    return np.asarray(values, dtype="<i4").tobytes()


BAD_ANSWERS = {
    "an odd rate": {"rate": [1]},
    "days out of order": {"base": 0},
    "tails of unequal lengths": {"tails_funded": b"\1"},
    "a missing table": {"tables": []},
}


@pytest.mark.parametrize("fields", BAD_ANSWERS.values(), ids=list(BAD_ANSWERS))
def test_malformed_answers_are_refused_at_load(fields: dict[str, object]) -> None:
    with pytest.raises(ValueError, match=r"^staff facts: the kept national answers[^\n]*$"):
        StaffTimeCost().load_state(_with_answers(**fields))


@pytest.mark.parametrize("table", [
    {"marks": b"\1\0\0"}, {"marks": _i4(1, 2)}, {"labels": ["b", "a"]}, {"itemsize": 2},
    {"rows": b""}, {"tail_groups": _i4(*range(50))},
])
def test_malformed_kept_tables_are_refused_at_load(table: dict[str, object]) -> None:
    _, state = _state_with_answers()
    answers = state.answers  # type: ignore[attr-defined]
    tables = list(answers.tables)
    tables[1] = msgspec.structs.replace(tables[1], **table)
    with pytest.raises(ValueError, match=r"^staff facts: the kept national answers[^\n]*$"):
        StaffTimeCost().load_state(_with_answers(tables=tables))


def _bad_facts(good: bytes) -> bytes:
    """Staff state bytes whose facts (not their answers) cannot be loaded."""
    state = unpack_state(good)
    return pack_state(msgspec.structs.replace(
        state, activity=msgspec.structs.replace(state.activity, day0=0)))


def test_facts_that_cannot_be_read_are_refused_when_first_needed() -> None:
    """The facts of a loaded state are read when first needed: a kept national report
    answers, anything that reads the facts fails in one line (an UnreadableCheckpoint, so a
    ledger drops the checkpoint and answers from the log)."""
    original, _ = _state_with_answers()
    loaded = StaffTimeCost()
    loaded.load_state(_bad_facts(original.dump_state()))
    q = Query(as_of=dt.date(2012, 1, 1), by="role")
    assert loaded.report(q) == original.report(q)
    with pytest.raises(UnreadableCheckpoint, match=r"^staff facts: [^\n]*$"):
        loaded.report(Query(as_of=dt.date(2012, 1, 1), partnership_id="p"))
    again = StaffTimeCost()
    again.load_state(_bad_facts(original.dump_state()))
    with pytest.raises(UnreadableCheckpoint, match=r"^staff facts: [^\n]*$"):
        again.read_state()


def test_a_restored_set_and_a_ledger_refuse_facts_that_cannot_be_read() -> None:
    """A set's ``load_all`` (the runner's) reads a lazily loaded state whole, and fails at
    once; a ledger asked a report that needs the facts drops the checkpoint and replays."""
    from ssp_ledger import Ledger
    from ssp_ledger.projection import ProjectionSet
    from ssp_ledger.projection.checkpoint import Part
    from tests.unit.test_projection_set import _club_history, _relaid

    ledger = Ledger.in_memory()
    ledger.record_many(_club_history())
    live = ledger.view(None)
    data = live.snapshot()
    bad = _bad_facts(live["staff_time_cost"].dump_state())  # type: ignore[attr-defined]
    edited = _relaid(data, {"staff_time_cost": Part(compressed=False, data=memoryview(bad))})
    restored = ProjectionSet.restore(edited, ledger.factories, ledger.load, ledger.read)
    assert restored["staff_time_cost"] is not None  # the facts are not read yet
    with pytest.raises(UnreadableCheckpoint, match=r"projection 'staff_time_cost' of the "
                                                   r"checkpoint at position \d+ cannot be read"):
        ProjectionSet.restore(edited, ledger.factories, ledger.load, ledger.read).load_all()
    q = Query(as_of=dt.date(2010, 7, 31), partnership_id="p", by="role")
    with pytest.raises(UnreadableCheckpoint):
        restored["staff_time_cost"].report(q)
    assert live["staff_time_cost"].report(q).rows


@settings(max_examples=30, deadline=None)
@given(histories(max_activity=20), histories(pid="q", max_activity=10))
def test_school_costs_from_kept_answers_are_the_facts(history: History, other: History) -> None:
    """The survey's school costs over ranges from the beginning to a late day come from the
    kept by-school table without reading a fact; a range the table does not hold (a start
    inside the span, an end inside it) is answered from the facts: equal either way."""
    facts = _events(history, other)
    original = _fed(facts)
    loaded = StaffTimeCost()
    loaded.load_state(original.dump_state())
    late = history.horizon + dt.timedelta(days=200)
    whole = [(None, late), (None, late + dt.timedelta(days=31))]
    assert loaded.school_costs(whole) == original.school_costs(whole)
    if loaded._kept is not None:
        assert loaded._pending is not None  # answered without reading the facts
    inside = [(None, late), (history.horizon - dt.timedelta(days=90), late),
              (None, history.horizon - dt.timedelta(days=40))]
    assert loaded.school_costs(inside) == original.school_costs(inside)
    flat = [(None, late)]
    assert loaded.school_costs(flat, default_hourly_cost_pence=1234) == original.school_costs(
        flat, default_hourly_cost_pence=1234)


@settings(max_examples=30, deadline=None)
@given(histories(max_activity=20), histories(pid="q", max_activity=10), st.integers(0, 1600),
       st.integers(0, 1600))
def test_school_costs_from_a_siblings_row_start_are_kept(history: History, other: History,
                                                          offset: int, moved: int) -> None:
    """A day a sibling says its rows start on (:meth:`StaffTimeCost.keep_school_costs`, the
    survey's first day) is kept: school costs over a range starting on it come from the kept
    table without reading a fact, equal to the facts'. A loaded state gives back its bytes while
    the sibling's days are the ones it kept, and the bytes a projection fed the facts dumps
    once they moved (what ``verify`` compares)."""
    facts = _events(history, other)
    start = FORMED + dt.timedelta(days=offset)
    original = _fed(facts)
    original.keep_school_costs(lambda: [start])
    data = original.dump_state()
    loaded = StaffTimeCost()
    loaded.keep_school_costs(lambda: [start])
    loaded.load_state(data)
    late = history.horizon + dt.timedelta(days=200)
    ranges = [(start, late), (None, late), (start, start - dt.timedelta(days=1))]
    assert loaded.school_costs(ranges) == original.school_costs(ranges)
    if loaded._kept is not None:
        assert loaded._pending is not None  # answered without reading the facts
    assert loaded.dump_state() is data
    elsewhere = FORMED + dt.timedelta(days=moved)
    again = StaffTimeCost()
    again.keep_school_costs(lambda: [elsewhere])
    again.load_state(data)
    fed = _fed(facts)
    fed.keep_school_costs(lambda: [elsewhere])
    assert again.dump_state() == fed.dump_state()
    plain = _fed(facts)
    assert plain.school_costs(ranges) == original.school_costs(ranges)
