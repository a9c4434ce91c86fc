"""The fast paths of the domain code do exactly what the general code does.

* Every event class checks its common field rules with a function unrolled at import
  (``events._compile_common_check``): same checks, same order, same exceptions and messages as
  the generic :meth:`Event._check_common` (which the bad-input corpus pins).
* :class:`Partnership` accepts the common activity events with inline rules and remembers
  recorded events instead of their digests: same decisions and errors as the full rules, and an
  exact re-recording is still a duplicate.
* A state that keeps its facts unpacked (``Facts(packing=False)``, a scenario's short-lived
  state) decides as a packed one, and :meth:`Partnership.clone` is a deep copy that shares only
  the (immutable) events.
"""

from __future__ import annotations

import copy
import datetime as dt
import itertools
from collections.abc import Callable
from typing import Any

import msgspec
import pytest

from ssp_ledger import partnership as partnership_module
from ssp_ledger.errors import DomainRuleViolation
from ssp_ledger.events import (
    EVENT_TYPES,
    ClubRun,
    CompetitionHeld,
    CpdDelivered,
    DomainEvent,
    EvaluationRecorded,
    Event,
    EventCorrected,
    EventRetracted,
    FundingChanged,
    LeaderTrained,
    ObjectiveSet,
    PartnershipDissolved,
    PartnershipFormed,
    ResourceShared,
    RollCounted,
    SchoolJoined,
    SchoolLeft,
    StaffAssigned,
    StaffReleased,
    SurveyReturned,
)
from ssp_ledger.partnership import Facts, Partnership, fingerprint

D = dt.date(2008, 3, 4)
COMMON: dict[str, Any] = {"partnership_id": "p", "occurred_on": D}


def club(event_id: str = "c1", **kw: Any) -> ClubRun:
    fields: dict[str, Any] = {**COMMON, "event_id": event_id, "club_id": "fc", "school_id": "s1",
                              "activity": "football", "participants": 12, "send_participants": 2,
                              "staff_minutes": 60, "staff_id": "t1", "setting": "lunchtime"}
    fields.update(kw)
    return ClubRun(**fields)


def one_of_each() -> list[DomainEvent]:
    """A valid event of every class."""
    events: list[DomainEvent] = [
        PartnershipFormed(**COMMON, event_id="f", name="P", hub_school_id="s1"),
        SchoolJoined(**COMMON, event_id="j", school_id="s1", school_name="S", phase="primary"),
        SchoolLeft(**COMMON, event_id="l", school_id="s1", reason="moved"),
        StaffAssigned(**COMMON, event_id="a", staff_id="t1", role="SSCO", school_id="s1",
                      release_minutes_per_week=120, hourly_cost_pence=2_500,
                      funding_stream="ssp-grant"),
        StaffReleased(**COMMON, event_id="r", staff_id="t1"),
        FundingChanged(**COMMON, event_id="g", funding_stream="ssp-grant",
                       annual_amount_pence=27_000_000),
        club(),
        CompetitionHeld(**COMMON, event_id="k", kind="festival", school_ids=("s1", "s2"),
                        activity="netball", participants=40, staff_minutes=90),
        LeaderTrained(**COMMON, event_id="t", school_id="s1", leader_kind="young_leader",
                      award="L1", people=8, minutes=30),
        CpdDelivered(**COMMON, event_id="d", topic="dance", teachers=5, minutes=90),
        ResourceShared(**COMMON, event_id="x", from_school_id="s1", to_school_id="s2",
                       resource="equipment", staff_minutes=10, value_pence=5_000),
        ObjectiveSet(**COMMON, event_id="o", objective_id="o1", text="More clubs"),
        EvaluationRecorded(**COMMON, event_id="e", objective_id="o1", outcome="met",
                           independent=True),
        PartnershipDissolved(**COMMON, event_id="z", reason="funding ended"),
        EventCorrected(**COMMON, event_id="fix", target_event_id="c1", reason="recount",
                       replacement=club(participants=14)),
        EventRetracted(**COMMON, event_id="rm", target_event_id="c1", reason="never ran"),
        # later additions at the end, so the positions above stay as tests pin them
        RollCounted(**COMMON, event_id="roll", school_id="s1", pupils_on_roll=420),
        SurveyReturned(**COMMON, event_id="sv", school_id="s1", survey_year="2007/08",
                       pupils_on_roll=400, pupils_2_hours=350, pupils_3_hours=210),
    ]
    assert {type(e) for e in events} == set(EVENT_TYPES.values())
    return events


#: Values every field is set to in turn (valid or not, of every kind the checks distinguish).
PROBES: tuple[object, ...] = (
    "", "   ", "x", "x" * 2_000, "x" * 2_001, "bogus", "primary", "SSCO", "festival",
    None, True, False, 0, 1, -1, 10_000_000, 10_000_001, 100_000_000_000, 100_000_000_001,
    3.5, 2**70, dt.date(1989, 12, 31), dt.date(1990, 1, 1), dt.date(2100, 12, 31),
    dt.date(2101, 1, 1), dt.datetime(2010, 1, 1), [], ["x"], ("s1",), b"bytes", object(),
)


def outcome(check: Any, event: Event) -> tuple[str, str] | None:
    try:
        check(event)
    except Exception as e:  # comparing whatever each raises
        return type(e).__name__, str(e)
    return None


def assert_same_outcomes(event: Event, unrolled: Callable[[Event], None],
                         generic: Callable[[Event], None]) -> None:
    """``unrolled`` accepts ``event`` and, on ``event`` with one or two fields set to each of
    :data:`PROBES`, raises what ``generic`` raises (and ``generic`` raises at least once)."""
    assert outcome(unrolled, event) is None
    names = [f.name for f in msgspec.structs.fields(type(event))]
    tried = 0
    for first, second in itertools.chain(
            ((name, None) for name in names),
            itertools.combinations(names, 2)):
        for value in PROBES:
            broken = msgspec.structs.replace(event)
            msgspec.structs.force_setattr(broken, first, value)
            if second is not None:
                msgspec.structs.force_setattr(broken, second, value)
            expected = outcome(generic, broken)
            assert outcome(unrolled, broken) == expected, (first, second, value)
            tried += expected is not None
    assert tried


@pytest.mark.parametrize("event", one_of_each(), ids=lambda e: type(e).__name__)
def test_unrolled_checks_equal_the_generic_checks(event: Event) -> None:
    cls = type(event)
    assert cls._check_common is not Event._check_common
    assert_same_outcomes(event, cls._check_common, Event._check_common)


def test_generic_checks_still_run_on_construction_and_decoding() -> None:
    with pytest.raises(ValueError, match=r"^participants must not be negative; got -1$"):
        club(participants=-1)
    with pytest.raises(ValueError, match=r"^setting must be one of after_school, lunchtime, "
                                         r"community_club; got 'breakfast'$"):
        club(setting="breakfast")
    data = msgspec.json.encode(club()).replace(b'"participants":12', b'"participants":10000001')
    with pytest.raises(msgspec.ValidationError,
                       match=r"participants is implausibly large \(10000001 > 10000000\)"):
        msgspec.json.decode(data, type=ClubRun)


# --------------------------------------------------------------------------- Partnership


def _structure() -> list[DomainEvent]:
    day = dt.date(2006, 9, 1)
    return [
        PartnershipFormed(partnership_id="p", occurred_on=day, event_id="f", name="P",
                          hub_school_id="s1"),
        SchoolJoined(partnership_id="p", occurred_on=day, event_id="j1", school_id="s1",
                     school_name="S1", phase="secondary"),
        SchoolJoined(partnership_id="p", occurred_on=dt.date(2007, 1, 10), event_id="j2",
                     school_id="s2", school_name="S2", phase="primary"),
        SchoolLeft(partnership_id="p", occurred_on=dt.date(2008, 7, 20), event_id="l2",
                   school_id="s2"),
        SchoolJoined(partnership_id="p", occurred_on=dt.date(2009, 9, 1), event_id="j2b",
                     school_id="s2", school_name="S2", phase="primary"),
        PartnershipDissolved(partnership_id="p", occurred_on=dt.date(2011, 3, 31),
                             event_id="z"),
    ]


def _decision(state: Partnership, event: DomainEvent) -> tuple[str, str] | bool:
    try:
        return state.decide(event)
    except DomainRuleViolation as e:
        return type(e).__name__, str(e)


def _probe_events() -> list[DomainEvent]:
    days = [dt.date(2006, 8, 31), dt.date(2006, 9, 1), dt.date(2007, 1, 9), dt.date(2007, 1, 10),
            dt.date(2008, 7, 20), dt.date(2008, 7, 21), dt.date(2009, 9, 1),
            dt.date(2011, 3, 31), dt.date(2011, 4, 1)]
    out: list[DomainEvent] = []
    for i, (day, school) in enumerate(itertools.product(days, ("s1", "s2", "s9"))):
        out.append(club(f"c{i}", occurred_on=day, school_id=school))
        out.append(LeaderTrained(partnership_id="p", occurred_on=day, event_id=f"t{i}",
                                 school_id=school, leader_kind="coach", award="A", people=2))
    return out


def _admission(state: Partnership, event: DomainEvent) -> tuple[str, str] | bool:
    try:
        return state.admit(event)
    except DomainRuleViolation as e:
        return type(e).__name__, str(e)


def _decide_then_apply(state: Partnership, event: DomainEvent) -> tuple[str, str] | bool:
    answer = _decision(state, event)
    if answer is True:
        state.apply(event)
    return answer


@pytest.mark.parametrize("formed", [True, False])
def test_inline_rules_admit_as_the_full_rules(formed: bool,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    structure = _structure() if formed else []
    probes = _probe_events()
    probes += probes[::5]  # some again: duplicates
    fast = Partnership("p")
    for event in structure:
        assert fast.admit(event)
    fast_answers = [_admission(fast, e) for e in probes]
    assert True in fast_answers or not formed
    assert False in fast_answers or not formed
    assert any(not isinstance(a, bool) for a in fast_answers)

    monkeypatch.setattr(partnership_module, "_ONE_SCHOOL_ACTIVITY", frozenset())
    slow = Partnership("p")
    for event in structure:
        assert _decide_then_apply(slow, event) is True
    assert [_decide_then_apply(slow, e) for e in probes] == fast_answers
    assert fast == slow


def test_duplicates_are_found_by_content_not_identity() -> None:
    state = Partnership("p")
    for event in _structure()[:2]:
        state.apply(event)
    event = club("c1", occurred_on=dt.date(2007, 5, 1))
    assert state.decide(event)
    state.apply(event)
    assert not state.decide(event)
    # an equal event decoded from its bytes (another object) is the same record
    again = msgspec.msgpack.decode(msgspec.msgpack.encode(event), type=ClubRun)
    assert again is not event
    assert not state.decide(again)
    with pytest.raises(DomainRuleViolation, match="different content"):
        state.decide(msgspec.structs.replace(event, participants=13))
    assert state.fingerprints["c1"] == fingerprint(event)
    assert set(state.fingerprints) == {"f", "j1", "c1"}


def _changes() -> list[DomainEvent]:
    """Corrections and retractions of the probes' sessions, some breaking a rule."""
    common: dict[str, Any] = {"partnership_id": "p", "occurred_on": dt.date(2010, 1, 4)}
    out: list[DomainEvent] = []
    for i in range(0, 27, 3):
        target = f"c{i}"
        out.append(EventCorrected(**common, event_id=f"fix{i}", target_event_id=target,
                                  reason="recount",
                                  replacement=club(target, occurred_on=dt.date(2009, 10, 5),
                                                   participants=20 + i)))
        out.append(EventRetracted(**common, event_id=f"rm{i}", target_event_id=f"t{i}",
                                  reason="never ran"))
    out.append(EventRetracted(**common, event_id="gone", target_event_id="j2b", reason="no"))
    return out


def _history() -> list[DomainEvent]:
    """The structure, a school and a post that change after the first 20 probes, the probes,
    corrections and retractions."""
    probes = _probe_events()
    joined = SchoolJoined(partnership_id="p", occurred_on=dt.date(2007, 1, 10), event_id="j3",
                          school_id="s3", school_name="S3", phase="special")
    assigned = StaffAssigned(partnership_id="p", occurred_on=dt.date(2007, 1, 10),
                             event_id="a1", staff_id="pdm", role="PDM", school_id="s1",
                             release_minutes_per_week=300, hourly_cost_pence=2500)
    left = SchoolLeft(partnership_id="p", occurred_on=dt.date(2010, 6, 1), event_id="l3",
                      school_id="s3")
    released = StaffReleased(partnership_id="p", occurred_on=dt.date(2010, 6, 1),
                             event_id="r1", staff_id="pdm")
    return [*_structure(), joined, assigned, *probes, left, released, *probes[::5],
            *_changes(), *_changes()[:3]]


def test_unpacked_facts_decide_as_packed_ones() -> None:
    packed = Partnership("p")
    unpacked = Partnership("p", facts=Facts("p", packing=False))
    answers = [_admission(packed, e) for e in _history()]
    assert [_admission(unpacked, e) for e in _history()] == answers
    assert {True, False} <= set(answers)
    assert any(not isinstance(a, bool) for a in answers)
    assert packed.facts.packed  # each kept its facts its own way
    assert not unpacked.facts.packed
    assert packed == unpacked
    assert packed.fingerprints == unpacked.fingerprints


@pytest.mark.parametrize("packing", [True, False])
def test_a_clone_decides_alone_and_shares_only_events(packing: bool) -> None:
    history = _history()
    cut = len(_structure()) + 22
    state = Partnership("p", facts=Facts("p", packing=packing))
    for event in history[:cut]:
        _admission(state, event)
    before = copy.deepcopy(state)
    clone = state.clone()
    assert clone == state
    rest = [_admission(clone, e) for e in history[cut:]]
    assert state == before  # the original did not move
    # The clone is where a state fed the whole history is, with the same answers on the way.
    whole = Partnership("p", facts=Facts("p", packing=packing))
    assert [_admission(whole, e) for e in history][cut:] == rest
    assert clone == whole
    # ... and the original still decides as before the clone was made.
    assert [_admission(state, e) for e in history[cut:]] == rest
