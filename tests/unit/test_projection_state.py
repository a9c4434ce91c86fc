"""Data-only state of the standard projections that keep more than an index: staff_time_cost,
funding (standalone or attached to the set's staff_time_cost), partnership_age, participation,
survey (standalone; attached in test_survey).

For each: a round trip (dump, load into a fresh instance, every report, grouping and explain
answer equal at several dates), canonical bytes (the same facts in the same order give the same
bytes whatever was asked in between and across a dump/load midway) and garbage refused with
ValueError.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ssp_ledger.events import CorrectableEvent, DomainEvent
from ssp_ledger.periods import parse_period
from ssp_ledger.projection import Fact, Query, Stateful
from ssp_ledger_projections.funding import Funding
from ssp_ledger_projections.participation import Participation
from ssp_ledger_projections.partnership_age import PartnershipAge
from ssp_ledger_projections.staff_time_cost import StaffTimeCost
from ssp_ledger_projections.survey import Survey
from tests.strategies import History, dates, histories

SETTINGS = settings(max_examples=25, deadline=None)
T0 = dt.datetime(2012, 1, 1, tzinfo=dt.UTC)
PERIOD_KINDS = ("term", "academic_year")


@dataclass
class Subject:
    """A projection under test, with the sibling it reads (attached funding) if any."""

    projection: StaffTimeCost | Funding | PartnershipAge | Participation | Survey
    sibling: StaffTimeCost | None = None

    def apply(self, fact: Fact) -> None:
        for p in (self.sibling, self.projection):
            if p is not None:
                p.apply(fact)

    def retract(self, fact: Fact) -> None:
        for p in (self.sibling, self.projection):
            if p is not None:
                p.retract(fact)

    def dump(self) -> tuple[bytes, bytes | None]:
        return (self.projection.dump_state(),
                None if self.sibling is None else self.sibling.dump_state())


def _attached() -> Subject:
    staff = StaffTimeCost()
    funding = Funding()
    funding.attach({"staff_time_cost": staff, "funding": funding})
    return Subject(funding, staff)


FACTORIES: dict[str, Callable[[], Subject]] = {
    "staff_time_cost": lambda: Subject(StaffTimeCost()),
    "funding": lambda: Subject(Funding()),
    "funding_attached": _attached,
    "partnership_age": lambda: Subject(PartnershipAge()),
    "participation": lambda: Subject(Participation()),
    "survey": lambda: Subject(Survey()),
}
KINDS = sorted(FACTORIES)


def _loaded(kind: str, dumped: tuple[bytes, bytes | None]) -> Subject:
    """A fresh subject of ``kind`` loaded from ``dumped`` (the sibling first, as a set does)."""
    fresh = FACTORIES[kind]()
    state, sibling = dumped
    if fresh.sibling is not None:
        assert sibling is not None
        fresh.sibling.load_state(sibling)
    fresh.projection.load_state(state)
    return fresh


def _facts(history: History, other: History) -> list[Fact]:
    events: list[DomainEvent] = [*history.events, *other.events]
    return [Fact(i, T0, e) for i, e in enumerate(events, start=1)
            if isinstance(e, CorrectableEvent)]


def _answers(subject: Subject, days: Sequence[dt.date], facts: Sequence[Fact]) -> list[object]:
    """Every report (each grouping, period kind, partnership and rate) at each day, and what
    each fact contributed to each row of the reports by grouping."""
    p = subject.projection
    groupings: tuple[str | None, ...] = (None, *p.groupings, *PERIOD_KINDS)
    assert isinstance(p, Stateful)
    out: list[object] = []
    for day in days:
        for by in groupings:
            for pid in (None, "p"):
                for rate in (2500, 1799):
                    q = Query(as_of=day, by=by, partnership_id=pid,
                              params={"default_hourly_cost_pence": rate})
                    out.append(table := p.report(q))
                    if by in PERIOD_KINDS or rate != 2500:
                        continue
                    for row in table.rows:
                        group = str(row[0])
                        out.append([p.explain_fact(q, group, f)
                                    for f in facts])
        period = Query(as_of=day, period=parse_period("2007/08"))
        out.append(p.report(period))
    return out


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[list[Fact], list[Fact], list[dt.date]]:
    """Facts of two partnerships, some of them retracted afterwards, and dates to ask about."""
    history: History = draw(histories(max_activity=20))
    other: History = draw(histories(pid="q", max_activity=8))
    facts = _facts(history, other)
    retracted = draw(st.lists(st.sampled_from(facts), unique_by=lambda f: f.position,
                              max_size=4)) if facts else []
    days = draw(st.lists(dates(history), min_size=1, max_size=2))
    return facts, retracted, [*days, history.horizon + dt.timedelta(days=400)]


def _feed(subject: Subject, facts: Sequence[Fact], retracted: Sequence[Fact]) -> Subject:
    for f in facts:
        subject.apply(f)
    for f in retracted:
        subject.retract(f)
    return subject


@pytest.mark.parametrize("kind", KINDS)
@SETTINGS
@given(scenarios())
def test_a_loaded_state_answers_as_the_original(
        kind: str, scenario: tuple[list[Fact], list[Fact], list[dt.date]]) -> None:
    facts, retracted, days = scenario
    original = _feed(FACTORIES[kind](), facts, retracted)
    live = [f for f in facts if f not in retracted]
    restored = _loaded(kind, original.dump())
    assert _answers(restored, days, live) == _answers(original, days, live)
    assert restored.dump() == original.dump()
    # Loaded facts stay live: retracting and applying again works from the loaded state too.
    for f in live[:3]:
        for s in (original, restored):
            s.retract(f)
    assert _answers(restored, days[:1], live[3:]) == _answers(original, days[:1], live[3:])
    assert restored.dump() == original.dump()


@pytest.mark.parametrize("kind", KINDS)
@SETTINGS
@given(scenarios(), st.data())
def test_the_same_facts_give_the_same_bytes(
        kind: str, scenario: tuple[list[Fact], list[Fact], list[dt.date]],
        data: st.DataObject) -> None:
    facts, retracted, days = scenario
    quiet = _feed(FACTORIES[kind](), facts, retracted)  # never asked anything
    # Asked between facts, and checkpointed and restored midway.
    cut = data.draw(st.integers(0, len(facts)))
    asked = FACTORIES[kind]()
    for f in facts[:cut]:
        asked.apply(f)
        if f.position % 7 == 0:
            _answers(asked, days[:1], [])
    asked = _loaded(kind, asked.dump())
    _answers(asked, days, [])
    _feed(asked, facts[cut:], retracted)
    _answers(asked, days, [])
    assert asked.dump() == quiet.dump()
    # Applying a fact and retracting it leaves the bytes as they were.
    live = [f for f in facts if f not in retracted]
    if live:
        before = quiet.dump()
        extra = Fact(10**6, T0, msgspec.structs.replace(live[0].event, event_id="extra"))
        quiet.apply(extra)
        quiet.retract(extra)
        assert quiet.dump() == before


GARBAGE = [
    b"",
    b"garbage",
    b"\x93\x01\x02\x03",
    msgspec.msgpack.encode({"format": "ssp-ledger/staff-facts", "version": 1}),
    msgspec.msgpack.encode({"format": "ssp-ledger/staff-facts", "version": 99,
                            "assignments": [], "releases": [], "funding": [], "activity": []}),
    msgspec.msgpack.encode({"format": "ssp-ledger/funding", "version": 2,
                            "staff_time_cost": None}),
    msgspec.msgpack.encode({"format": "ssp-ledger/partnership_age", "version": 1,
                            "facts": [{"type": "ClubRun"}]}),
    msgspec.msgpack.encode({"format": "ssp-ledger/participation", "version": 1,
                            "index": b"x", "phases": []}),
]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("data", GARBAGE)
def test_garbage_is_refused_with_value_error(kind: str, data: bytes) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 -- any one-line message naming the state
        FACTORIES[kind]().projection.load_state(data)


@pytest.mark.parametrize("kind", KINDS)
def test_another_projections_state_is_refused(kind: str) -> None:
    for other in KINDS:
        if other == kind or {kind, other} == {"funding", "staff_time_cost"}:
            continue  # a standalone funding's state holds a staff cost's, not the reverse
        state, _ = FACTORIES[other]().dump()
        with pytest.raises(ValueError):  # noqa: PT011
            FACTORIES[kind]().projection.load_state(state)


def test_inconsistent_staff_facts_are_refused() -> None:
    """Typed data that no dump could give: a bad day ordinal, values that do not match the
    days, ids that do not match the days (refused when a change first reads them). More
    malformed columnar states in test_staff_cost_columns."""
    from ssp_ledger.events import ClubRun
    from ssp_ledger.projection.checkpoint import pack
    from ssp_ledger_projections.staff_cost.columns import _ENCODER
    from ssp_ledger_projections.staff_cost.state import (
        DayIdsState,
        SharedDayState,
        pack_state,
        unpack_state,
    )

    day0 = dt.date(2008, 1, 1)
    club = ClubRun(partnership_id="p", occurred_on=day0, club_id="k", school_id="s",
                   activity="x", participants=1, staff_minutes=30, event_id="c")
    good = StaffTimeCost()
    good.apply(Fact(1, T0, club))
    state = unpack_state(good.dump_state())

    def changed(**fields: object) -> bytes:
        activity = msgspec.structs.replace(state.activity, **fields)
        return pack_state(msgspec.structs.replace(state, activity=activity))

    StaffTimeCost().load_state(changed())  # well formed
    for bad in (changed(day0=0), changed(day0=-5), changed(day0=10**9),
                changed(days=(1).to_bytes(2, "little")),
                changed(facts=(0).to_bytes(4, "little")),
                changed(values=b"\0" * 4), changed(values=b"\1" * 6), changed(itemsize=3)):
        loaded = StaffTimeCost()
        loaded.load_state(bad)  # the facts are read when first needed
        with pytest.raises(ValueError, match="staff facts"):
            loaded.facts.knows_anything()
    loaded = StaffTimeCost()
    loaded.load_state(changed())
    with pytest.raises(ValueError, match="fresh"):
        loaded.load_state(changed())
    fact = Fact(9, dt.datetime(2008, 1, 2, tzinfo=dt.UTC),
                msgspec.structs.replace(club, event_id="d"))
    for ids in (DayIdsState([], []), DayIdsState(["c", "e"], []),
                DayIdsState(["c"], [SharedDayState(1, [])]),
                DayIdsState(["c"], [SharedDayState(0, [])])):
        loaded = StaffTimeCost()
        packed = pack(_ENCODER.encode([msgspec.Raw(msgspec.msgpack.encode(ids))]))
        loaded.load_state(changed(ids=packed))  # the ids are read on use
        with pytest.raises(ValueError, match="staff facts: series"):
            loaded.apply(fact)


def test_attached_and_standalone_funding_states_do_not_mix() -> None:
    attached = _attached().projection
    alone = Funding()
    with pytest.raises(ValueError, match="attached"):
        alone.load_state(attached.dump_state())
    with pytest.raises(ValueError, match="attached"):
        _attached().projection.load_state(alone.dump_state())
