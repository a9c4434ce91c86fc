"""Recorded time: known_at answers, corrections and retractions (auditors' properties)."""

from __future__ import annotations

import datetime as dt

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ssp_ledger import ClubRun, EventCorrected, EventRetracted, Ledger
from ssp_ledger.audit import explain, restatement
from ssp_ledger.events import DomainEvent
from tests.strategies import FakeClock, History, dates, histories


@st.composite
def revised_histories(draw: st.DrawFn) -> tuple[History, list[list[DomainEvent]]]:
    """A history recorded in batches, followed by batches of corrections and retractions."""
    history = draw(histories(max_activity=15))
    events = history.events
    cuts = sorted(draw(st.lists(st.integers(1, len(events)), max_size=3)))
    bounds = zip([0, *cuts], [*cuts, len(events)], strict=True)
    batches = [events[a:b] for a, b in bounds if events[a:b]]
    clubs = [e for e in history.activity if isinstance(e, ClubRun)]
    live = {c.event_id: c for c in clubs}
    for n in range(draw(st.integers(0, 4))):
        if not live:
            break
        target = live[draw(st.sampled_from(sorted(live)))]
        if draw(st.booleans()):
            participants = draw(st.integers(0, 50))
            replacement = msgspec.structs.replace(
                target, participants=participants,
                send_participants=min(target.send_participants, participants))
            batches.append([EventCorrected(
                partnership_id=target.partnership_id, occurred_on=target.occurred_on,
                event_id=f"fix-{n}", target_event_id=target.event_id, reason="recount",
                replacement=replacement)])
            live[target.event_id] = replacement
        else:
            batches.append([EventRetracted(
                partnership_id=target.partnership_id, occurred_on=target.occurred_on,
                event_id=f"drop-{n}", target_event_id=target.event_id, reason="duplicate")])
            del live[target.event_id]
    return history, batches


def naive_attendances(batches: list[list[DomainEvent]], day: dt.date) -> int:
    clubs: dict[str, ClubRun] = {}
    for batch in batches:
        for e in batch:
            if isinstance(e, ClubRun):
                clubs[e.event_id] = e
            elif isinstance(e, EventCorrected):
                assert isinstance(e.replacement, ClubRun)
                clubs[e.target_event_id] = e.replacement
            elif isinstance(e, EventRetracted):
                del clubs[e.target_event_id]
    return sum(c.participants for c in clubs.values() if c.occurred_on <= day)


@settings(max_examples=40, deadline=None)
@given(st.data())
def test_known_at_equals_fold_of_what_was_recorded_by_then(data: st.DataObject) -> None:
    history, batches = data.draw(revised_histories())
    clock = FakeClock()
    ledger = Ledger.in_memory(clock=clock)
    times = []
    for batch in batches:
        times.append(clock.advance(7))
        ledger.record_many(batch)
    day = data.draw(dates(history))
    for i, known in enumerate(times):
        expected = naive_attendances(batches[:i + 1], day)
        got = ledger.participation(as_of=day, known_at=known).row("total")["attendances"]
        assert got == expected
        # between two recordings nothing changes
        later = known + dt.timedelta(days=3)
        assert ledger.participation(as_of=day, known_at=later).row("total")["attendances"] == got
    assert ledger.participation(as_of=day).row("total")["attendances"] == naive_attendances(
        batches, day)
    before = times[0] - dt.timedelta(seconds=1)
    assert ledger.participation(as_of=day, known_at=before).row("total")["attendances"] == 0


@settings(max_examples=30, deadline=None)
@given(st.data())
def test_a_correction_never_changes_answers_known_before_it(data: st.DataObject) -> None:
    history, batches = data.draw(revised_histories())
    clock = FakeClock()
    ledger = Ledger.in_memory(clock=clock)
    day = data.draw(dates(history))
    snapshots = []
    for batch in batches:
        known = clock.advance(7)
        ledger.record_many(batch)
        snapshots.append((known, {n: ledger.report(n, as_of=day, known_at=known)
                                  for n in ledger.projection_names}))
    for known, tables in snapshots:
        assert {n: ledger.report(n, as_of=day, known_at=known)
                for n in ledger.projection_names} == tables


def test_worked_example_late_return_and_correction() -> None:
    from tests.unit.test_partnership import club, formed, joined

    clock = FakeClock(dt.datetime(2010, 9, 1, tzinfo=dt.UTC))
    ledger = Ledger.in_memory(clock=clock)
    ledger.record_many([formed(), joined(), club(1), club(2)])
    first = clock.advance(1)  # what an auditor saw then
    clock.advance(29)
    ledger.record(club(3))  # a late club return
    clock.advance(30)
    ledger.record(EventCorrected(partnership_id="tyne", occurred_on=club(1).occurred_on,
                                 event_id="fix", target_event_id="c1", reason="recount",
                                 replacement=club(1, participants=25)))
    second = clock.advance(1)
    as_of = dt.date(2007, 7, 31)
    restated = restatement(ledger, "participation", as_of=as_of, before=first, after=second)
    assert restated.changed == (("total", 2, 20, 0, 0, 0, 3, 45, 0, 0, 0),)
    assert [(e[2], e[3], e[4]) for e in restated.events] == [
        ("ClubRun", "c3", ""), ("EventCorrected", "fix", "c1")]
    table, parts = explain(ledger, "participation", as_of=as_of, by="school", group="hub")
    assert sum(p.values["attendances"] for p in parts) == table.row("hub")["attendances"] == 45
    assert [p.event_id for p in parts] == ["c1", "c2", "c3"]
    with pytest.raises(ValueError, match="no row 'nowhere'"):
        explain(ledger, "participation", as_of=as_of, by="school", group="nowhere")


@settings(max_examples=30, deadline=None)
@given(st.data())
def test_known_at_marks_give_the_same_answers_as_a_full_replay(data: st.DataObject) -> None:
    """Marks are log positions: a late, back-dated record never makes one stale."""
    history, batches = data.draw(revised_histories())
    targets = {e.target_event_id for batch in batches for e in batch
               if isinstance(e, EventCorrected | EventRetracted)}
    late = [e for e in data.draw(st.permutations(history.activity))[: len(history.activity) // 3]
            if e.event_id not in targets]
    clock = FakeClock()
    marked = Ledger.in_memory(clock=clock, known_at_marks_every=1)
    plain = Ledger.in_memory(clock=clock, known_at_marks_every=10**9)
    times = []
    for batch in batches:
        rest = [e for e in batch if e not in late]
        if rest:
            times.append(clock.advance(3))
            marked.record_many(rest)
            plain.record_many(rest)
    if late:  # back-dated facts arriving after everything else
        times.append(clock.advance(3))
        marked.record_many(late)
        plain.record_many(late)
    day = data.draw(dates(history))
    asked = data.draw(st.lists(st.sampled_from(times), min_size=1, max_size=6))
    for known in asked:  # in random order, so later queries start from earlier marks
        for name in marked.projection_names:
            assert marked.report(name, as_of=day, known_at=known) == plain.report(
                name, as_of=day, known_at=known)
    assert marked._marks or len(times) < 2
