"""Properties of the point-in-time projections (valid time)."""

from __future__ import annotations

import datetime as dt

import msgspec
from hypothesis import given, settings
from hypothesis import strategies as st

from ssp_ledger import ClubRun, CompetitionHeld, LeaderTrained, Ledger, ResourceShared, Table
from ssp_ledger.events import (
    DomainEvent,
    EventCorrected,
    EventRetracted,
    SchoolJoined,
    SchoolLeft,
)
from ssp_ledger.projection import ProjectionSet, Query, Stateful
from ssp_ledger.projection.checkpoint import bytes_reader, decode_set, read_header
from tests.strategies import History, dates, histories

SETTINGS = settings(max_examples=40, deadline=None)


def _all_tables(ledger: Ledger, day: dt.date) -> dict[tuple[str, str | None], Table]:
    out: dict[tuple[str, str | None], Table] = {}
    live = ledger.view(None)  # every registered projection and grouping
    for name, projection in live.projections.items():
        for by in (None, *projection.groupings, "academic_year", "term"):
            out[(name, by)] = ledger.report(name, as_of=day, by=by)
    return out


def _ledger(events: list[DomainEvent], batches: int = 1) -> Ledger:
    ledger = Ledger.in_memory()
    size = max(1, -(-len(events) // batches))
    for i in range(0, len(events), size):
        ledger.record_many(events[i:i + size])
    return ledger


@SETTINGS
@given(st.data())
def test_as_of_equals_naive_fold(data: st.DataObject) -> None:
    history: History = data.draw(histories())
    ledger = _ledger(history.events)
    day = data.draw(dates(history))
    facts = [e for e in history.events if e.occurred_on <= day]
    clubs = [e for e in facts if isinstance(e, ClubRun)]
    comps = [e for e in facts if isinstance(e, CompetitionHeld)]
    expected = ("total", len(clubs), sum(c.participants for c in clubs),
                sum(c.send_participants for c in clubs), len(comps),
                sum(c.participants for c in comps))
    assert ledger.participation(as_of=day).rows[-1] == expected
    by_school = ledger.participation(as_of=day, by="school").to_dicts()[:-1]
    for row in by_school:
        school = row["school"]
        assert row["attendances"] == sum(c.participants for c in clubs if c.school_id == school)
    trained = [e for e in facts if isinstance(e, LeaderTrained)]
    assert ledger.leaders(as_of=day).row("total")["people_trained"] == sum(
        e.people for e in trained)
    shared = [e for e in facts if isinstance(e, ResourceShared)]
    assert ledger.resources(as_of=day).row("total")["value_pence"] == sum(
        e.value_pence for e in shared)
    joined = {e.school_id: e.occurred_on for e in facts if isinstance(e, SchoolJoined)}
    left = {e.school_id: e.occurred_on for e in history.events if isinstance(e, SchoolLeft)}
    active = [s for s in joined if s not in left or left[s] >= day]
    age = ledger.partnership_age(as_of=day).to_dicts()
    if day < dt.date(2006, 9, 1):
        assert age == []
    else:
        assert age[0]["active_members"] == len(active)
        assert age[0]["age_days"] == (day - dt.date(2006, 9, 1)).days


@SETTINGS
@given(st.data())
def test_recording_order_does_not_change_valid_time_answers(data: st.DataObject) -> None:
    history: History = data.draw(histories())
    shuffled = data.draw(st.permutations(history.activity))
    day = data.draw(dates(history))
    baseline = _ledger(history.events)
    other = _ledger([*history.structure, *shuffled, *history.exits], batches=3)
    assert _all_tables(other, day) == _all_tables(baseline, day)


@SETTINGS
@given(st.data())
def test_incremental_equals_full_rebuild(data: st.DataObject) -> None:
    history: History = data.draw(histories())
    days = data.draw(st.lists(dates(history), min_size=1, max_size=3))
    ledger = Ledger.in_memory()
    events = history.events
    cut = data.draw(st.integers(0, len(events)))
    ledger.record_many(events[:cut])
    _all_tables(ledger, days[0])  # build the projections, then update them incrementally
    ledger.record_many(events[cut:])
    incremental = [_all_tables(ledger, d) for d in days]
    ledger.rebuild()
    assert [_all_tables(ledger, d) for d in days] == incremental


def _amended(data: st.DataObject, history: History) -> list[DomainEvent]:
    """The history followed by a few corrections and retractions of its club sessions."""
    events = list(history.events)
    live = {e.event_id: e for e in history.activity if isinstance(e, ClubRun)}
    for n in range(data.draw(st.integers(0, 3))):
        if not live:
            break
        target = live[data.draw(st.sampled_from(sorted(live)))]
        if data.draw(st.booleans()):
            replacement = msgspec.structs.replace(target, participants=target.participants + 1,
                                                  send_participants=0)
            events.append(EventCorrected(
                partnership_id="p", occurred_on=target.occurred_on, event_id=f"fix-{n}",
                target_event_id=target.event_id, reason="recount", replacement=replacement))
            live[target.event_id] = replacement
        else:
            events.append(EventRetracted(
                partnership_id="p", occurred_on=target.occurred_on, event_id=f"drop-{n}",
                target_event_id=target.event_id, reason="duplicate"))
            del live[target.event_id]
    return events


def _ask(data: st.DataObject, projections: ProjectionSet, day: dt.date) -> None:
    """Ask a few reports (building whatever caches and loading whatever parts they need)."""
    for name in data.draw(st.lists(st.sampled_from(projections.names), max_size=3)):
        projection = projections[name]
        by = data.draw(st.sampled_from((None, *projection.groupings, "term")))
        projection.report(Query(as_of=day, by=by))


def _every_table(projections: ProjectionSet, day: dt.date) -> dict[tuple[str, str | None], Table]:
    return {(name, by): p.report(Query(as_of=day, by=by))
            for name, p in projections.projections.items()
            for by in (None, *p.groupings, "academic_year")}


@SETTINGS
@given(st.data())
def test_snapshots_are_canonical_for_a_log_prefix(data: st.DataObject) -> None:
    """Records 1..n fed in one go, or 1..k then snapshot, restore and k+1..n, with any queries
    in between: the same snapshot bytes. Every registered projection that is Stateful is in the
    snapshot; the others are replayed after a restore and answer as if never restored."""
    history: History = data.draw(histories(max_activity=15))
    ledger = _ledger(_amended(data, history))
    records = list(ledger.read())
    factories = ledger.factories
    day = data.draw(dates(history))
    cut = data.draw(st.integers(0, len(records)))

    whole = ProjectionSet(factories, ledger.load)
    whole.process_all(records)
    before = ProjectionSet(factories, ledger.load)
    before.process_all(records[:cut])
    _ask(data, before, day)
    restored = ProjectionSet.restore(before.snapshot(), factories, ledger.load, ledger.read)
    _ask(data, restored, day)
    restored.process_all(records[cut:])
    _ask(data, restored, day)
    assert restored.snapshot() == whole.snapshot()
    _ask(data, whole, day)
    assert restored.state_digest() == whole.state_digest()

    data = whole.snapshot()
    state = decode_set(read_header(len(data), bytes_reader(data)), len(data))
    stateful = {name for name, p in whole.projections.items()
                if isinstance(p, Stateful) and _dumps(p)}
    assert set(state.parts) == stateful
    assert {"leaders", "resources"} <= stateful
    again = ProjectionSet.restore(whole.snapshot(), factories, ledger.load, ledger.read)
    assert _every_table(again, day) == _every_table(whole, day)


def _dumps(projection: Stateful) -> bool:
    try:
        projection.dump_state()
    except NotImplementedError:
        return False
    return True
