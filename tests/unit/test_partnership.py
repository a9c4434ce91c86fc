"""Domain rules of the Partnership aggregate, through the ledger (nothing stored on failure)."""

from __future__ import annotations

import datetime as dt

import msgspec
import pytest
from hypothesis import given, settings

from ssp_ledger import (
    AfterDissolution,
    BeforeFormation,
    ClubRun,
    DomainEvent,
    DomainRuleViolation,
    DuplicateEventId,
    EventCorrected,
    EventRetracted,
    Ledger,
    NotAMember,
    NotFormed,
    PartnershipDissolved,
    PartnershipFormed,
    SchoolJoined,
    SchoolLeft,
    StaffAssigned,
    StaffNotAssigned,
    StaffReleased,
    TargetNotFound,
    TargetRetracted,
)
from tests.strategies import History, histories

P = "tyne"
P_ID = "p"  # the partnership of tests.strategies.histories()
D0 = dt.date(2006, 9, 1)


def day(n: int) -> dt.date:
    return D0 + dt.timedelta(days=n)


def formed() -> PartnershipFormed:
    return PartnershipFormed(partnership_id=P, occurred_on=D0, event_id="f", name="Tyne",
                             hub_school_id="hub")


def joined(school: str = "hub", n: int = 0, eid: str | None = None) -> SchoolJoined:
    return SchoolJoined(partnership_id=P, occurred_on=day(n), event_id=eid or f"j-{school}-{n}",
                        school_id=school, school_name=school.title(), phase="secondary")


def club(n: int, school: str = "hub", eid: str | None = None, participants: int = 10) -> ClubRun:
    return ClubRun(partnership_id=P, occurred_on=day(n), event_id=eid or f"c{n}", club_id="fc",
                   school_id=school, activity="football", participants=participants)


@pytest.fixture
def ledger() -> Ledger:
    ledger = Ledger.in_memory(projections={})
    ledger.record_many([formed(), joined()])
    return ledger


def _rejects(ledger: Ledger, events: list[DomainEvent], error: type[DomainRuleViolation],
             text: str) -> None:
    before = ledger.position
    with pytest.raises(error) as info:
        ledger.record_many(events)
    assert text in str(info.value)
    assert ledger.position == before, "a rejected batch must store nothing"


def test_first_event_must_be_formation() -> None:
    ledger = Ledger.in_memory(projections={})
    _rejects(ledger, [joined()], NotFormed, "no PartnershipFormed")
    again = msgspec.structs.replace(formed(), event_id="f2")
    _rejects(ledger, [formed(), again], NotFormed, "already formed")


def test_school_must_be_member_on_the_valid_date(ledger: Ledger) -> None:
    _rejects(ledger, [club(5, school="p1")], NotAMember, "'p1' is not a member")
    ledger.record(joined("p1", 10))
    _rejects(ledger, [club(5, school="p1")], NotAMember, "on 2006-09-06")
    ledger.record(club(10, school="p1"))


def test_whole_batch_is_rejected_when_one_event_is_bad(ledger: Ledger) -> None:
    _rejects(ledger, [club(1), club(2), club(3, school="nowhere")], NotAMember, "event 'c3'")
    assert ledger.record_many([club(1), club(2)]).recorded == 2


def test_dates_before_formation_and_after_dissolution(ledger: Ledger) -> None:
    _rejects(ledger, [club(-1)], BeforeFormation, "before formation on 2006-09-01")
    ledger.record_many([club(100), PartnershipDissolved(
        partnership_id=P, occurred_on=day(200), event_id="d", reason="funding")])
    _rejects(ledger, [club(201)], AfterDissolution, "after dissolution on 2007-03-20")
    ledger.record(club(150))


def test_dissolution_cannot_precede_recorded_events(ledger: Ledger) -> None:
    ledger.record(club(300))
    _rejects(ledger, [PartnershipDissolved(partnership_id=P, occurred_on=day(200), event_id="d")],
             AfterDissolution, "recorded up to")


def test_leaving_and_rejoining(ledger: Ledger) -> None:
    ledger.record_many([joined("p1", 1), club(50, "p1")])
    _rejects(ledger, [SchoolLeft(partnership_id=P, occurred_on=day(40), event_id="l",
                                 school_id="p1")], DomainRuleViolation, "has events up to")
    ledger.record(SchoolLeft(partnership_id=P, occurred_on=day(60), event_id="l", school_id="p1"))
    _rejects(ledger, [club(61, "p1")], NotAMember, "'p1' is not a member")
    _rejects(ledger, [joined("p1", 30, eid="j2")], DomainRuleViolation, "already a member")
    ledger.record_many([joined("p1", 90, eid="j2"), club(91, "p1")])


def test_staff_release_needs_an_assignment(ledger: Ledger) -> None:
    release = StaffReleased(partnership_id=P, occurred_on=day(5), event_id="r", staff_id="t1")
    _rejects(ledger, [release], StaffNotAssigned, "'t1' has no assignment")
    ledger.record_many([
        StaffAssigned(partnership_id=P, occurred_on=day(1), event_id="a", staff_id="t1",
                      role="SSCO", school_id="hub", release_minutes_per_week=900,
                      hourly_cost_pence=2500, funding_stream="ssp-grant"),
        release,
    ])


def test_duplicate_ids_are_idempotent_or_rejected(ledger: Ledger) -> None:
    assert ledger.record(club(1)).recorded == 1
    again = ledger.record_many([club(1), club(2)])
    assert (again.recorded, again.duplicates) == (1, 1)
    _rejects(ledger, [club(1, participants=11)], DuplicateEventId, "different content")


def test_corrections_and_retractions(ledger: Ledger) -> None:
    ledger.record(club(1))
    fix = EventCorrected(partnership_id=P, occurred_on=day(1), event_id="x1",
                         target_event_id="c1", reason="count", replacement=club(1, participants=12))
    ledger.record(fix)
    _rejects(ledger, [EventRetracted(partnership_id=P, occurred_on=day(1), event_id="x2",
                                     target_event_id="nope", reason="r")],
             TargetNotFound, "'nope' is not a fact")
    _rejects(ledger, [EventCorrected(partnership_id=P, occurred_on=day(1), event_id="x3",
                                     target_event_id="c1", reason="school",
                                     replacement=club(1, school="nowhere", eid="c1"))],
             NotAMember, "'nowhere' is not a member")
    _rejects(ledger, [EventCorrected(partnership_id=P, occurred_on=day(1), event_id="x3",
                                     target_event_id="j-hub-0", reason="wrong type",
                                     replacement=club(1, eid="j-hub-0"))],
             DomainRuleViolation, "retract it and record a new event")
    ledger.record(EventRetracted(partnership_id=P, occurred_on=day(1), event_id="x2",
                                 target_event_id="c1", reason="duplicate return"))
    _rejects(ledger, [EventRetracted(partnership_id=P, occurred_on=day(1), event_id="x4",
                                     target_event_id="c1", reason="again")],
             TargetRetracted, "already retracted")


def test_structural_change_that_would_orphan_events_is_rejected(ledger: Ledger) -> None:
    ledger.record_many([joined("p1", 10), club(20, "p1")])
    later = joined("p1", 30, eid="j-p1-10")
    _rejects(ledger, [EventCorrected(partnership_id=P, occurred_on=day(10), event_id="x",
                                     target_event_id="j-p1-10", reason="date",
                                     replacement=later)],
             NotAMember, "would break the history")
    earlier = joined("p1", 5, eid="j-p1-10")
    ledger.record(EventCorrected(partnership_id=P, occurred_on=day(10), event_id="x",
                                 target_event_id="j-p1-10", reason="date", replacement=earlier))
    ledger.record(club(6, "p1"))  # valid now that p1 joined on day 5


def test_failed_batch_leaves_decision_state_consistent(ledger: Ledger) -> None:
    with pytest.raises(NotAMember):
        ledger.record_many([joined("p1", 1), club(2, "p9")])
    # p1's join was rolled back with the batch: a club there is still rejected
    with pytest.raises(NotAMember):
        ledger.record(club(3, "p1"))
    ledger.record_many([joined("p1", 1), club(3, "p1")])


def test_back_dated_assignment_ends_before_the_next_one(ledger: Ledger) -> None:
    def assign(eid: str, n: int) -> StaffAssigned:
        return StaffAssigned(partnership_id=P, occurred_on=day(n), event_id=eid, staff_id="t1",
                             role="SSCO", school_id="hub", release_minutes_per_week=900,
                             hourly_cost_pence=2500)

    ledger.record_many([
        assign("a2", 200),
        StaffReleased(partnership_id=P, occurred_on=day(250), event_id="r1", staff_id="t1"),
        assign("a1", 100),  # back-dated: runs to day 199, not forever
    ])
    _rejects(ledger, [StaffReleased(partnership_id=P, occurred_on=day(300), event_id="r2",
                                    staff_id="t1")], StaffNotAssigned, "no assignment in force")
    # the live decision state equals a fold of the same facts in valid-time order
    from ssp_ledger.partnership import Partnership

    with ledger.log.writing() as writer:  # an empty write: reads the stream's head
        live = ledger._head(P, writer).partnership
    assert Partnership.fold(P, live.facts.values()).staff == live.staff


@settings(max_examples=40, deadline=None)
@given(history=histories())
def test_packed_activity_facts_read_back_as_recorded(history: History) -> None:
    """One-school activity facts are kept packed (texts numbered, dates as ordinals): every
    fact reads back equal to the event recorded, corrections and duplicates included."""
    from ssp_ledger.partnership import Partnership

    state = Partnership(P_ID)
    for event in [*history.structure, *history.activity]:
        assert state.admit(event)
    for event in history.activity:
        assert state.facts[event.event_id] == event
        assert not state.admit(event)  # an exact re-recording is a duplicate
    assert sorted(state.facts) == sorted(e.event_id for e in
                                         [*history.structure, *history.activity])
    clubs = [e for e in history.activity if isinstance(e, ClubRun)]
    if clubs:
        first = clubs[0]
        fixed = msgspec.structs.replace(first, participants=first.participants + 1)
        assert state.admit(EventCorrected(partnership_id=P_ID, occurred_on=first.occurred_on,
                                          event_id="fix-1", target_event_id=first.event_id,
                                          replacement=fixed, reason="typo"))
        assert state.facts[first.event_id] == fixed
        assert not state.admit(first)  # the original is still recognised as recorded
        changed = msgspec.structs.replace(first, participants=first.participants + 2)
        with pytest.raises(DuplicateEventId):
            state.admit(changed)
