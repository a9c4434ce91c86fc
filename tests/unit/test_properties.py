"""Properties of the point-in-time projections (valid time)."""

from __future__ import annotations

import datetime as dt

from hypothesis import given, settings
from hypothesis import strategies as st

from ssp_ledger import ClubRun, CompetitionHeld, LeaderTrained, Ledger, ResourceShared, Table
from ssp_ledger.events import DomainEvent, SchoolJoined, SchoolLeft
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
