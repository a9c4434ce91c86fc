"""A stateful test: random valid and invalid events, corrections, retractions and queries at random
(as_of, known_at), every answer checked against a naive in-memory model."""

from __future__ import annotations

import datetime as dt

import msgspec
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from ssp_ledger import (
    ClubRun,
    DomainRuleViolation,
    EventCorrected,
    EventRetracted,
    Ledger,
    PartnershipFormed,
    SchoolJoined,
    SchoolLeft,
)
from ssp_ledger.events import DomainEvent
from tests.strategies import FakeClock

P = "p"
FORMED = dt.date(2006, 9, 1)
SCHOOLS = ("a", "b", "c")
days = st.integers(0, 2000).map(lambda n: FORMED + dt.timedelta(days=n))


class LedgerMachine(RuleBasedStateMachine):
    """The model keeps every accepted record with its recorded time; answers are naive folds."""

    def __init__(self) -> None:
        super().__init__()
        self.clock = FakeClock()
        self.ledger = Ledger.in_memory(clock=self.clock)
        self.log: list[tuple[dt.datetime, DomainEvent]] = []
        self.members: dict[str, list[tuple[dt.date, dt.date | None]]] = {}
        self.last_named: dict[str, dt.date] = {}
        self.live: dict[str, ClubRun] = {}
        self.retracted: set[str] = set()
        self.n = 0
        self._accept([PartnershipFormed(partnership_id=P, occurred_on=FORMED, event_id="f",
                                        name="P", hub_school_id="a")])

    # -- helpers

    def _id(self, prefix: str) -> str:
        self.n += 1
        return f"{prefix}{self.n}"

    def _accept(self, batch: list[DomainEvent]) -> None:
        result = self.ledger.record_many(batch)
        assert result.recorded == len(batch)
        assert result.recorded_at is not None
        self.log.extend((result.recorded_at, e) for e in batch)

    def _reject(self, batch: list[DomainEvent]) -> None:
        before = self.ledger.position
        try:
            self.ledger.record_many(batch)
        except DomainRuleViolation:
            assert self.ledger.position == before
        else:
            raise AssertionError(f"accepted an invalid batch: {batch}")

    def _member_on(self, school: str, day: dt.date) -> bool:
        return any(a <= day and (b is None or day <= b) for a, b in self.members.get(school, ()))

    def _club(self, school: str, day: dt.date, participants: int, eid: str | None = None
              ) -> ClubRun:
        return ClubRun(partnership_id=P, occurred_on=day, event_id=eid or self._id("c"),
                       club_id="club", school_id=school, activity="football",
                       participants=participants, send_participants=min(participants, 2))

    # -- rules

    @rule()
    def advance_clock(self) -> None:
        self.clock.advance(1)

    @rule(school=st.sampled_from(SCHOOLS), day=days)
    def join(self, school: str, day: dt.date) -> None:
        event = SchoolJoined(partnership_id=P, occurred_on=day, event_id=self._id("j"),
                             school_id=school, school_name=school, phase="primary")
        periods = self.members.setdefault(school, [])
        if self._member_on(school, day) or any(a > day for a, _ in periods):
            self._reject([event])  # overlapping or earlier than a later membership
        else:
            self._accept([event])
            periods.append((day, None))

    @rule(school=st.sampled_from(SCHOOLS), offset=st.integers(0, 800))
    def leave(self, school: str, offset: int) -> None:
        periods = self.members.get(school, [])
        if not periods or periods[-1][1] is not None:
            return
        joined = periods[-1][0]
        day = joined + dt.timedelta(days=offset)
        event = SchoolLeft(partnership_id=P, occurred_on=day, event_id=self._id("l"),
                           school_id=school)
        if self.last_named.get(school, dt.date.min) > day:
            self._reject([event])
        else:
            self._accept([event])
            periods[-1] = (joined, day)

    @rule(school=st.sampled_from(SCHOOLS), day=days, participants=st.integers(0, 40),
          batch=st.integers(1, 3))
    def club(self, school: str, day: dt.date, participants: int, batch: int) -> None:
        events = [self._club(school, day, participants) for _ in range(batch)]
        if self._member_on(school, day):
            self._accept(list(events))
            for e in events:
                self.live[e.event_id] = e
            self.last_named[school] = max(day, self.last_named.get(school, day))
        else:
            self._reject(list(events))

    @rule(day=days, participants=st.integers(0, 40))
    def club_batch_with_one_bad_event(self, day: dt.date, participants: int) -> None:
        good = [self._club(s, day, participants) for s in SCHOOLS if self._member_on(s, day)]
        bad = self._club("nowhere", day, participants)
        self._reject([*good, bad])

    @precondition(lambda self: bool(self.live))
    @rule(data=st.data(), participants=st.integers(0, 40))
    def correct(self, data: st.DataObject, participants: int) -> None:
        target = self.live[data.draw(st.sampled_from(sorted(self.live)))]
        replacement = msgspec.structs.replace(
            target, participants=participants, send_participants=min(participants, 2))
        self._accept([EventCorrected(partnership_id=P, occurred_on=target.occurred_on,
                                     event_id=self._id("x"), target_event_id=target.event_id,
                                     reason="recount", replacement=replacement)])
        self.live[target.event_id] = replacement

    @precondition(lambda self: bool(self.live))
    @rule(data=st.data())
    def retract(self, data: st.DataObject) -> None:
        target = data.draw(st.sampled_from(sorted(self.live)))
        self._accept([EventRetracted(partnership_id=P, occurred_on=self.live[target].occurred_on,
                                     event_id=self._id("r"), target_event_id=target,
                                     reason="duplicate")])
        del self.live[target]
        self.retracted.add(target)

    @precondition(lambda self: bool(self.retracted))
    @rule(data=st.data())
    def retract_again_is_rejected(self, data: st.DataObject) -> None:
        target = data.draw(st.sampled_from(sorted(self.retracted)))
        self._reject([EventRetracted(partnership_id=P, occurred_on=FORMED,
                                     event_id=self._id("r"), target_event_id=target,
                                     reason="again")])

    @rule(day=st.integers(-30, 2100).map(lambda n: FORMED + dt.timedelta(days=n)),
          back=st.integers(0, 40))
    def query(self, day: dt.date, back: int) -> None:
        known = self.clock.now - dt.timedelta(days=back)
        clubs: dict[str, ClubRun] = {}
        for at, e in self.log:
            if at > known:
                continue
            if isinstance(e, ClubRun):
                clubs[e.event_id] = e
            elif isinstance(e, EventCorrected):
                assert isinstance(e.replacement, ClubRun)
                clubs[e.target_event_id] = e.replacement
            elif isinstance(e, EventRetracted):
                clubs.pop(e.target_event_id, None)
        counted = [c for c in clubs.values() if c.occurred_on <= day]
        row = self.ledger.participation(as_of=day, known_at=known).row("total")
        assert row["sessions"] == len(counted)
        assert row["attendances"] == sum(c.participants for c in counted)
        assert row["send_attendances"] == sum(c.send_participants for c in counted)

    @invariant()
    def live_view_matches_the_model(self) -> None:
        horizon = FORMED + dt.timedelta(days=3000)
        row = self.ledger.participation(as_of=horizon).row("total")
        assert row["sessions"] == len(self.live)
        assert row["attendances"] == sum(c.participants for c in self.live.values())


LedgerMachine.TestCase.settings = settings(max_examples=60, stateful_step_count=40,
                                           deadline=None)
TestLedgerMachine = LedgerMachine.TestCase
