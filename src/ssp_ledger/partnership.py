"""The Partnership aggregate: the domain rules every recorded event must satisfy.

Pure domain code: no I/O, no clock. The ledger folds a stream's events into a :class:`Partnership`
and asks :meth:`Partnership.decide` before storing anything; a batch is stored only when every
event in it was accepted in turn.

Rules (each a typed error from :mod:`ssp_ledger.errors`):

* the first event of a stream is ``PartnershipFormed`` and there is only one;
* nothing is dated before formation or after dissolution;
* a school named by an event is a member on the event's valid date (club sessions, training,
  competitions, resource sharing, staff posts, and a school's roll counts and survey returns);
  a school cannot join while a member, nor leave while it has later events;
* a ``StaffReleased`` names someone with an assignment in force;
* a correction or retraction names an existing, unretracted fact of the same stream, and the
  history with the change applied still satisfies every rule;
* an event id already recorded is accepted again only with identical content (idempotent).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterable, Iterator, MutableMapping
from dataclasses import dataclass, field, replace

import msgspec

from ssp_ledger.errors import (
    AfterDissolution,
    BeforeFormation,
    DomainRuleViolation,
    DuplicateEventId,
    NotAMember,
    NotFormed,
    StaffNotAssigned,
    TargetNotFound,
    TargetRetracted,
)
from ssp_ledger.events import (
    ClubRun,
    CorrectableEvent,
    DomainEvent,
    EventCorrected,
    EventRetracted,
    LeaderTrained,
    PartnershipDissolved,
    PartnershipFormed,
    RollCounted,
    SchoolJoined,
    SchoolLeft,
    StaffAssigned,
    StaffReleased,
    SurveyReturned,
    schools_named,
)

__all__ = ["Membership", "Partnership", "fingerprint", "valid_time_order"]

_ENCODER = msgspec.msgpack.Encoder()

#: Same-day ordering used when folding facts by valid date: structure before activity before exits.
_RANK: dict[type, int] = {
    PartnershipFormed: 0,
    SchoolJoined: 1,
    StaffAssigned: 2,
    StaffReleased: 4,
    SchoolLeft: 5,
    PartnershipDissolved: 6,
}
_STRUCTURAL = (
    PartnershipFormed, SchoolJoined, SchoolLeft, StaffAssigned, StaffReleased, PartnershipDissolved
)
#: Activity facts naming one school (``school_id``) and subject to no other rule (exact classes:
#: decide and apply take a shortcut for them that does what the general code does).
_ONE_SCHOOL_ACTIVITY: frozenset[type] = frozenset({ClubRun, LeaderTrained, RollCounted,
                                                   SurveyReturned})


_ONE_SCHOOL_CODES: dict[type, int] = {ClubRun: 1, LeaderTrained: 2, RollCounted: 3,
                                      SurveyReturned: 4}
_ONE_SCHOOL_TYPES: dict[int, type] = {code: cls for cls, code in _ONE_SCHOOL_CODES.items()}
#: Fields packed (all but the partnership and event ids, which the state already knows).
_FIELD_NAMES: dict[type, tuple[str, ...]] = {
    cls: tuple(f.name for f in msgspec.structs.fields(cls)
               if f.name not in ("partnership_id", "event_id"))
    for cls in _ONE_SCHOOL_CODES
}


class Facts(MutableMapping[str, "CorrectableEvent"]):
    """The facts in force by event id, the one-school activity facts (the bulk) kept packed and
    unpacked when read.

    A packed fact is the msgpack array of its values but the two ids the state already knows,
    with each text value replaced by its number in the partnership's table of texts (schools,
    clubs, activities, staff repeat over thousands of sessions) and each date by its ordinal:
    about 60 bytes instead of about 600 for the object, so the decision state of a million
    sessions fits in about 200 MB.

    ``packing=False`` keeps every fact as its object (in :attr:`full`): for a short-lived state
    whose events are held elsewhere anyway (a scenario's arms), packing would cost time and save
    no memory. Either way the mapping answers the same.
    """

    __slots__ = ("_arena", "_codes", "_texts", "full", "packed", "packing", "partnership_id")

    def __init__(self, partnership_id: str = "", *, packing: bool = True) -> None:
        self.partnership_id = partnership_id
        self.packing = packing
        """Whether one-school activity facts are kept packed."""
        self.full: dict[str, CorrectableEvent] = {}
        self.packed: dict[str, int] = {}
        """Event id -> offset of its packed fact in ``_arena`` (one bytearray, not an object
        per fact: a length of two bytes, then the packed bytes)."""
        self._arena = bytearray()
        self._texts: list[str] = []
        self._codes: dict[str, int] = {}

    def _pack(self, event: CorrectableEvent) -> bytes:
        cls = type(event)
        texts, dates = 0, 0
        values: list[object] = []
        for i, name in enumerate(_FIELD_NAMES[cls]):
            value = getattr(event, name)
            if isinstance(value, str):
                code = self._codes.get(value)
                if code is None:
                    code = self._codes[value] = len(self._texts)
                    self._texts.append(value)
                value = code
                texts |= 1 << i
            elif isinstance(value, dt.date):
                value = value.toordinal()
                dates |= 1 << i
            values.append(value)
        return bytes((_ONE_SCHOOL_CODES[cls],)) + _ENCODER.encode([texts, dates, *values])

    def unpack(self, event_id: str) -> CorrectableEvent:
        """The packed fact ``event_id`` (KeyError when there is none)."""
        at = self.packed[event_id]
        arena = self._arena
        data = bytes(arena[at + 2:at + 2 + int.from_bytes(arena[at:at + 2], "big")])
        cls = _ONE_SCHOOL_TYPES[data[0]]
        texts, dates, *values = msgspec.msgpack.decode(data[1:])
        fields: dict[str, object] = {"partnership_id": self.partnership_id,
                                     "event_id": event_id}
        for i, (name, value) in enumerate(zip(_FIELD_NAMES[cls], values, strict=True)):
            if texts >> i & 1:
                value = self._texts[value]
            elif dates >> i & 1:
                value = dt.date.fromordinal(value)
            fields[name] = value
        event: CorrectableEvent = cls(**fields)
        return event

    def __getitem__(self, event_id: str) -> CorrectableEvent:
        found = self.full.get(event_id)
        if found is not None:
            return found
        return self.unpack(event_id)

    def __setitem__(self, event_id: str, event: CorrectableEvent) -> None:
        if not self.packing:
            self.full[event_id] = event
            return
        if type(event) in _ONE_SCHOOL_CODES:
            data = self._pack(event)
            self.packed[event_id] = len(self._arena)
            self._arena += len(data).to_bytes(2, "big")
            self._arena += data
            self.full.pop(event_id, None)
        else:
            self.full[event_id] = event
            self.packed.pop(event_id, None)

    def __delitem__(self, event_id: str) -> None:
        if self.full.pop(event_id, None) is None:
            del self.packed[event_id]

    def __contains__(self, event_id: object) -> bool:
        return event_id in self.full or event_id in self.packed

    def __iter__(self) -> Iterator[str]:
        yield from self.full
        yield from self.packed

    def __len__(self) -> int:
        return len(self.full) + len(self.packed)

    def copy(self) -> dict[str, CorrectableEvent]:
        """A plain dict of every fact (unpacked)."""
        return dict(self.items())

    def clone(self) -> Facts:
        """An independent copy (the events themselves are immutable and shared)."""
        out = Facts(self.partnership_id, packing=self.packing)
        out.full = dict(self.full)
        out.packed = dict(self.packed)
        out._arena = bytearray(self._arena)
        out._texts = list(self._texts)
        out._codes = dict(self._codes)
        return out


def fingerprint(event: DomainEvent) -> bytes:
    """A 16-byte digest of an event's canonical encoding (used for idempotent re-recording)."""
    return hashlib.blake2b(_ENCODER.encode(event), digest_size=16).digest()


def valid_time_order(event: CorrectableEvent) -> tuple[int, int]:
    """Sort key folding facts in valid-time order (date, then structure before activity)."""
    return (event.occurred_on.toordinal(), _RANK.get(type(event), 3))


@dataclass
class Membership:
    """One continuous period a school belongs to the partnership."""

    school_id: str
    """The school."""
    school_name: str
    """Its display name."""
    phase: str
    """secondary, primary, special or sports_college."""
    joined_on: dt.date
    """First day of membership."""
    left_on: dt.date | None = None
    """Last day of membership, or None while still a member."""

    def covers(self, day: dt.date) -> bool:
        """True when ``day`` falls inside this membership."""
        return self.joined_on <= day and (self.left_on is None or day <= self.left_on)


@dataclass
class Partnership:
    """Decision state of one partnership stream."""

    partnership_id: str
    """The stream's partnership id."""
    formed_on: dt.date | None = None
    """Valid date of PartnershipFormed."""
    dissolved_on: dt.date | None = None
    """Valid date of PartnershipDissolved."""
    memberships: dict[str, list[Membership]] = field(default_factory=dict)
    """Membership periods by school id, in date order."""
    staff: dict[str, list[tuple[dt.date, dt.date | None]]] = field(default_factory=dict)
    """Assignment periods by staff id: (first day, last day or None)."""
    facts: Facts = field(default_factory=Facts)
    """Effective content of every unretracted fact, by event id."""
    retracted: set[str] = field(default_factory=set)
    """Ids of retracted facts."""
    recorded: dict[str, DomainEvent] = field(default_factory=dict)
    """Every recorded event (facts and corrections) by event id, as recorded — except the
    one-school activity facts still in force as recorded, which are only in :attr:`facts`
    (packed): a re-recording is compared with the recorded content (digests are computed only
    when an id repeats)."""
    last_named: dict[str, dt.date] = field(default_factory=dict)
    """Latest valid date of a fact naming each school (an upper bound after corrections)."""
    latest: dt.date | None = None
    """Latest valid date of any fact (an upper bound after corrections)."""

    def __post_init__(self) -> None:
        self.facts.partnership_id = self.partnership_id

    @property
    def fingerprints(self) -> dict[str, bytes]:
        """Digest (:func:`fingerprint`) of every recorded event by event id."""
        out = {event_id: fingerprint(event) for event_id, event in self.recorded.items()}
        for event_id in self.facts:
            if event_id not in out:
                out[event_id] = fingerprint(self.facts[event_id])
        return out

    def clone(self) -> Partnership:
        """An independent copy of the decision state: deciding events on it changes nothing in
        this one (events are immutable and shared, everything mutable is copied)."""
        return Partnership(
            self.partnership_id, formed_on=self.formed_on, dissolved_on=self.dissolved_on,
            memberships={school: [replace(m) for m in periods]
                         for school, periods in self.memberships.items()},
            staff={staff: list(periods) for staff, periods in self.staff.items()},
            facts=self.facts.clone(), retracted=set(self.retracted),
            recorded=dict(self.recorded), last_named=dict(self.last_named), latest=self.latest)

    def _seen(self, event_id: str) -> DomainEvent | None:
        """The event recorded under ``event_id``, as recorded, or None."""
        seen = self.recorded.get(event_id)
        if seen is None and event_id in self.facts:  # in force as recorded
            return self.facts[event_id]
        return seen

    # ------------------------------------------------------------------ decide

    def decide(self, event: DomainEvent) -> bool:
        """Check ``event`` against the rules without changing state.

        Returns False when it is an exact duplicate of an already recorded event (store nothing),
        True when it should be recorded; raises a :class:`DomainRuleViolation` otherwise.
        """
        seen = self._seen(event.event_id)
        if seen is not None:
            if seen is event or fingerprint(seen) == fingerprint(event):
                return False
            raise DuplicateEventId(
                event.event_id, self.partnership_id,
                "event_id already recorded with different content",
            )
        if isinstance(event, EventCorrected | EventRetracted):
            self._decide_change(event)
        else:
            self._check_fact(event)
        return True

    def admit(self, event: DomainEvent) -> bool:
        """:meth:`decide`, then :meth:`apply` if the event is to be recorded (same outcome).

        The common case, a new club session or training naming one member school, is checked
        and folded inline (formed, not dissolved, the school a member on the day); anything else,
        including every event those checks do not accept, goes through :meth:`decide`, which
        raises the violation.
        """
        if type(event) in _ONE_SCHOOL_ACTIVITY:
            event_id = event.event_id
            day = event.occurred_on
            formed = self.formed_on
            dissolved = self.dissolved_on
            if (event_id not in self.recorded and event_id not in self.facts
                    and formed is not None and formed <= day
                    and (dissolved is None or day <= dissolved)):
                school_id: str = event.school_id  # type: ignore[union-attr]
                for m in self.memberships.get(school_id, ()):
                    if m.joined_on <= day and (m.left_on is None or day <= m.left_on):
                        self.facts[event_id] = event  # type: ignore[assignment]
                        latest = self.latest
                        if latest is None or day > latest:
                            self.latest = day
                        last = self.last_named.get(school_id)
                        if last is None or last < day:
                            self.last_named[school_id] = day
                        return True
        if not self.decide(event):
            return False
        self.apply(event)
        return True

    def _violation(self, cls: type[DomainRuleViolation], event: DomainEvent, reason: str) -> None:
        raise cls(event.event_id, self.partnership_id, reason)

    def _check_fact(self, event: CorrectableEvent) -> None:
        day = event.occurred_on
        if isinstance(event, PartnershipFormed):
            if self.formed_on is not None:
                self._violation(
                    NotFormed, event, f"partnership already formed on {self.formed_on.isoformat()}"
                )
            if self.latest is not None and day > self.latest:
                self._violation(BeforeFormation, event, "events exist before this formation date")
            return
        if self.formed_on is None:
            self._violation(NotFormed, event, "no PartnershipFormed recorded for this partnership")
        assert self.formed_on is not None
        if day < self.formed_on:
            self._violation(
                BeforeFormation, event,
                f"occurred_on {day.isoformat()} is before formation on "
                f"{self.formed_on.isoformat()}",
            )
        if self.dissolved_on is not None and day > self.dissolved_on:
            self._violation(
                AfterDissolution, event,
                f"occurred_on {day.isoformat()} is after dissolution on "
                f"{self.dissolved_on.isoformat()}",
            )
        if isinstance(event, PartnershipDissolved):
            if self.dissolved_on is not None:
                self._violation(AfterDissolution, event, "partnership already dissolved")
            if self.latest is not None and self.latest > day:
                self._violation(
                    AfterDissolution, event,
                    f"events are recorded up to {self.latest.isoformat()}, after this dissolution",
                )
        if isinstance(event, SchoolJoined):
            for m in self.memberships.get(event.school_id, ()):
                if m.covers(day) or m.joined_on > day:
                    self._violation(
                        DomainRuleViolation, event,
                        f"school {event.school_id!r} is already a member from "
                        f"{m.joined_on.isoformat()}",
                    )
            return
        for school_id in schools_named(event):
            if self.member(school_id, day) is None:
                self._violation(
                    NotAMember, event,
                    f"school {school_id!r} is not a member of the partnership on "
                    f"{day.isoformat()}",
                )
        if isinstance(event, SchoolLeft):
            last = self.last_named.get(event.school_id)
            if last is not None and last > day:
                self._violation(
                    DomainRuleViolation, event,
                    f"school {event.school_id!r} has events up to {last.isoformat()}, "
                    "after this leaving date",
                )
            current = self.member(event.school_id, day)
            if current is not None and current.left_on is not None:
                self._violation(
                    DomainRuleViolation, event,
                    f"school {event.school_id!r} already left on {current.left_on.isoformat()}",
                )
        if isinstance(event, StaffReleased) and not self.assigned(event.staff_id, day):
            self._violation(
                StaffNotAssigned, event,
                f"staff {event.staff_id!r} has no assignment in force on {day.isoformat()}",
            )

    def _decide_change(self, event: EventCorrected | EventRetracted) -> None:
        target = self.facts.get(event.target_event_id)
        if target is None:
            if event.target_event_id in self.retracted:
                self._violation(
                    TargetRetracted, event,
                    f"target event {event.target_event_id!r} is already retracted",
                )
            self._violation(
                TargetNotFound, event,
                f"target event {event.target_event_id!r} is not a fact of this partnership",
            )
        assert target is not None
        if isinstance(event, EventCorrected):
            replacement = event.replacement
            if type(replacement) is not type(target):
                self._violation(
                    DomainRuleViolation, event,
                    f"replacement is a {type(replacement).__name__} but the target is a "
                    f"{type(target).__name__}; retract it and record a new event instead",
                )
            if not isinstance(target, _STRUCTURAL):
                # An activity fact: its replacement only needs to fit the structure.
                # (Rules on activity facts never depend on other activity facts.)
                self._check_fact(replacement)
                return
        self._trial(event)

    def _trial(self, event: EventCorrected | EventRetracted) -> Partnership:
        facts = self.facts.copy()
        if isinstance(event, EventRetracted):
            del facts[event.target_event_id]
        else:
            facts[event.target_event_id] = event.replacement
        try:
            return Partnership.fold(self.partnership_id, facts.values())
        except DomainRuleViolation as e:
            self._violation(
                type(e), event,
                f"applying it would break the history: event {e.event_id!r}: {e.reason}",
            )
            raise  # pragma: no cover -- _violation always raises

    # ------------------------------------------------------------------ apply

    def apply(self, event: DomainEvent) -> None:
        """Fold an accepted event into the state."""
        event_id = event.event_id
        if type(event) in _ONE_SCHOOL_ACTIVITY:
            # What _apply_fact does for these: note the dates, nothing structural. Kept only
            # packed in ``facts`` while in force as recorded (see ``recorded``).
            self.facts[event_id] = event  # type: ignore[assignment]
            day = event.occurred_on
            latest = self.latest
            if latest is None or day > latest:
                self.latest = day
            school_id: str = event.school_id  # type: ignore[union-attr]
            last = self.last_named.get(school_id)
            if last is None or last < day:
                self.last_named[school_id] = day
            return
        if type(event) not in _ONE_SCHOOL_CODES:  # those stay only in ``facts`` (packed)
            self.recorded[event_id] = event
        if isinstance(event, EventRetracted | EventCorrected):
            # the target as recorded, before it leaves ``facts`` or changes there
            target_id = event.target_event_id
            if target_id not in self.recorded and target_id in self.facts:
                self.recorded[target_id] = self.facts[target_id]
        if isinstance(event, EventRetracted):
            target = self.facts[event.target_event_id]
            if isinstance(target, _STRUCTURAL):
                self._rebuild_structure(event)
            del self.facts[event.target_event_id]
            self.retracted.add(event.target_event_id)
            return
        if isinstance(event, EventCorrected):
            target = self.facts[event.target_event_id]
            if isinstance(target, _STRUCTURAL):
                self._rebuild_structure(event)
            else:
                self._note_dates(event.replacement)
            self.facts[event.target_event_id] = event.replacement
            return
        self.facts[event.event_id] = event
        self._apply_fact(event)

    def _rebuild_structure(self, event: EventCorrected | EventRetracted) -> None:
        trial = self._trial(event)
        self.formed_on = trial.formed_on
        self.dissolved_on = trial.dissolved_on
        self.memberships = trial.memberships
        self.staff = trial.staff
        self.last_named = trial.last_named
        self.latest = trial.latest

    def _note_dates(self, event: CorrectableEvent) -> None:
        day = event.occurred_on
        if self.latest is None or day > self.latest:
            self.latest = day
        for school_id in schools_named(event):
            if isinstance(event, SchoolLeft):
                continue
            if self.last_named.get(school_id, dt.date.min) < day:
                self.last_named[school_id] = day

    def _apply_fact(self, event: CorrectableEvent) -> None:
        day = event.occurred_on
        self._note_dates(event)
        if isinstance(event, PartnershipFormed):
            self.formed_on = day
        elif isinstance(event, PartnershipDissolved):
            self.dissolved_on = day
        elif isinstance(event, SchoolJoined):
            periods = self.memberships.setdefault(event.school_id, [])
            periods.append(Membership(event.school_id, event.school_name, event.phase, day))
            periods.sort(key=lambda m: m.joined_on)
        elif isinstance(event, SchoolLeft):
            left = self.member(event.school_id, day)
            assert left is not None
            left.left_on = day
        elif isinstance(event, StaffAssigned):
            periods_s = self.staff.setdefault(event.staff_id, [])
            # A new assignment while one is in force replaces its terms from this date on.
            for i, (start, end) in enumerate(periods_s):
                if start < day and (end is None or end >= day):
                    periods_s[i] = (start, day - dt.timedelta(days=1))
            # A back-dated assignment runs until the day before the next later one starts.
            later = [start for start, _ in periods_s if start > day]
            periods_s.append((day, min(later) - dt.timedelta(days=1) if later else None))
            periods_s.sort(key=lambda p: p[0])
        elif isinstance(event, StaffReleased):
            periods_s = self.staff[event.staff_id]
            for i, (start, end) in enumerate(periods_s):
                if start <= day and (end is None or end >= day):
                    periods_s[i] = (start, day)

    # ------------------------------------------------------------------ queries

    def member(self, school_id: str, day: dt.date) -> Membership | None:
        """The membership of ``school_id`` covering ``day``, if any."""
        for m in self.memberships.get(school_id, ()):
            if m.covers(day):
                return m
        return None

    def assigned(self, staff_id: str, day: dt.date) -> bool:
        """True when ``staff_id`` has an assignment in force on ``day``."""
        periods = self.staff.get(staff_id, ())
        return any(start <= day and (end is None or day <= end) for start, end in periods)

    @classmethod
    def fold(cls, partnership_id: str, facts: Iterable[CorrectableEvent]) -> Partnership:
        """Rebuild structure from facts in valid-time order, checking every rule on the way."""
        state = cls(partnership_id)
        for fact in sorted(facts, key=valid_time_order):
            state._check_fact(fact)
            state.facts[fact.event_id] = fact
            state._apply_fact(fact)
        return state
