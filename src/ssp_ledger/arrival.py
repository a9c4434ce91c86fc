"""When each part of a history would have reached the ledger: the recorded-time axis of a demo.

A synthetic history (:mod:`ssp_ledger.synthetic`) says what happened and when (valid time). A
ledger also keeps *when it was told* (recorded time), and an auditor's questions -- what did the
ledger say on 1 September 2011, and what changed since? -- are only interesting when the two
differ. :func:`arrivals` turns a history into the batches a partnership office would have
recorded, each with its recorded time:

* **Termly returns.** Each partnership sends one return per reporting term (autumn, spring,
  summer; :meth:`ssp_ledger.periods.SchoolYear.reporting_terms`) holding everything dated in
  that term, one to three weeks after the term ends; about one in four arrives late, five to
  eight weeks after. Returns of one partnership arrive in term order, so every prefix of the
  recorded history satisfies the partnership's rules.
* **An audit.** On :attr:`ArrivalConfig.audit_at` (autumn 2011 by default) the auditors go
  through :attr:`ArrivalConfig.audited_year`'s club registers: a few sessions were returned with
  the wrong number of pupils (an ``EventCorrected`` each, the register's figure and the reason)
  and a couple never ran (an ``EventRetracted`` each). At least one finding concerns the hub
  school, where auditors start.
* **A back-dated funding change.** The last change of funding dated inside the audited year
  (after its first day) is missing from its term's return; the audit finds the letter and it is
  recorded on :attr:`ArrivalConfig.funding_found_at`, back-dated to its valid date.

Everything is deterministic: choices are drawn from ``random.Random(f"{seed}:arrival:{id}")``
per partnership, and recorded times are fixed instants (UTC), so the same history and seed give
the same batches at the same times, and a store built from them has the same bytes and digest.
Pure: no I/O, no clock. Memory: the history is held whole (batches of all partnerships are
merged in recorded-time order).

Record the batches with a ledger whose clock :class:`SetClock` reads::

    clock = SetClock()
    ledger = Ledger.in_memory(clock=clock)
    for batch in arrivals(generate(config), seed=config.seed):
        clock.now = batch.recorded_at
        ledger.record_many(batch.events)
"""

from __future__ import annotations

import datetime as dt
import heapq
import random
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from itertools import groupby
from typing import Literal

from ssp_ledger.events import (
    ClubRun,
    DomainEvent,
    EventCorrected,
    EventRetracted,
    FundingChanged,
    PartnershipFormed,
)
from ssp_ledger.periods import Period, parse_period, period_of

__all__ = ["ArrivalConfig", "Batch", "SetClock", "arrivals"]

BatchKind = Literal["return", "audit", "funding"]


@dataclass(frozen=True, kw_only=True)
class ArrivalConfig:
    """When things arrive; equal configurations (and histories) give identical batches."""

    seed: int = 2006
    """Seed of the choices (which returns are late, which sessions the audit corrects)."""
    late_share: float = 0.25
    """Chance that a termly return is late."""
    audited_year: str = "2010/11"
    """Academic year whose registers the audit checks."""
    audit_at: dt.datetime = dt.datetime(2011, 11, 8, 10, 0, tzinfo=dt.UTC)
    """When the audit's corrections and retractions are recorded."""
    funding_found_at: dt.datetime = dt.datetime(2011, 11, 22, 9, 30, tzinfo=dt.UTC)
    """When the missing funding change is recorded (back-dated)."""
    corrections: int = 3
    """Club sessions the audit corrects (wrong number of pupils)."""
    retractions: int = 2
    """Club sessions the audit retracts (never ran)."""

    def __post_init__(self) -> None:
        """Reject impossible settings, naming the field."""
        if not 0.0 <= self.late_share <= 1.0:
            raise ValueError(f"late_share must be between 0 and 1; got {self.late_share!r}")
        for name in ("corrections", "retractions"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"{name} must be a non-negative integer; got {value!r}")
        for name in ("audit_at", "funding_found_at"):
            value = getattr(self, name)
            if value.tzinfo is None:
                raise ValueError(f"{name} must be timezone-aware; got {value!r}")
        parse_period(self.audited_year)


@dataclass(frozen=True)
class Batch:
    """Events recorded together, at one recorded time."""

    recorded_at: dt.datetime
    """When the ledger is told (UTC)."""
    partnership_id: str
    """The partnership they belong to."""
    kind: BatchKind
    """``return`` (a termly return), ``audit`` (corrections, retractions) or ``funding`` (a
    back-dated funding change)."""
    label: str
    """What it is, e.g. ``2010/11:summer return (late)``."""
    events: tuple[DomainEvent, ...] = field(repr=False)
    """The events, in the order to record them."""

    @property
    def late(self) -> bool:
        """True for a return that arrived late."""
        return self.label.endswith("(late)")


class SetClock:
    """A ledger clock that reads whatever time it was last set to (recording history as it
    arrived, or testing)."""

    def __init__(self, now: dt.datetime | None = None) -> None:
        self.now = now or dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
        """The time the clock reads."""

    def __call__(self) -> dt.datetime:
        return self.now


_DEFAULT = ArrivalConfig()


def arrivals(events: Iterable[DomainEvent], config: ArrivalConfig = _DEFAULT) -> Iterator[Batch]:
    """The batches of ``events`` (grouped by partnership, each partnership's in valid-date order,
    as :func:`ssp_ledger.synthetic.generate` yields them) in recorded-time order.

    Batches with the same recorded time come in partnership order.
    """
    schedules = [_schedule(pid, list(group), config)
                 for pid, group in groupby(events, key=lambda e: e.partnership_id)]
    return heapq.merge(*schedules, key=lambda b: b.recorded_at)


def _schedule(partnership_id: str, events: list[DomainEvent],
              config: ArrivalConfig) -> list[Batch]:
    rng = random.Random(f"{config.seed}:arrival:{partnership_id}")
    audited = parse_period(config.audited_year)
    withheld = _withheld_funding(events, audited, config.funding_found_at)
    batches: list[Batch] = []
    kept = [e for e in events if e is not withheld]
    for term, group in groupby(kept, key=lambda e: period_of("term", e.occurred_on)):
        late = rng.random() < config.late_share
        delay = rng.randint(35, 56) if late else rng.randint(7, 21)
        day = term.end + dt.timedelta(days=delay)
        at = dt.datetime(day.year, day.month, day.day, rng.randint(9, 16), rng.randint(0, 59),
                         tzinfo=dt.UTC)
        batches.append(Batch(at, partnership_id, "return",
                             f"{term.label} return{' (late)' if late else ''}", tuple(group)))
    audit = _audit(partnership_id, events, batches, audited, config, rng)
    if audit:
        batches.append(Batch(config.audit_at, partnership_id, "audit",
                             f"audit of {audited.label}", audit))
    if withheld is not None:
        batches.append(Batch(config.funding_found_at, partnership_id, "funding",
                             f"{withheld.funding_stream} change of {withheld.occurred_on} "
                             "(back-dated)", (withheld,)))
    batches.sort(key=lambda b: b.recorded_at)  # stable: term order among equal times
    return batches


def _withheld_funding(events: list[DomainEvent], audited: Period,
                      found_at: dt.datetime) -> FundingChanged | None:
    """The last funding change dated inside the audited year after its first day (and before
    it is found), which the returns left out."""
    found = found_at.astimezone(dt.UTC).date()
    candidates = [e for e in events if isinstance(e, FundingChanged)
                  and audited.start < e.occurred_on <= audited.end and e.occurred_on < found]
    return candidates[-1] if candidates else None


def _audit(partnership_id: str, events: list[DomainEvent], batches: list[Batch],
           audited: Period, config: ArrivalConfig,
           rng: random.Random) -> tuple[DomainEvent, ...]:
    """Corrections and retractions of club sessions of the audited year returned before the
    audit: at least one at the hub school, the others anywhere."""
    before = {e.event_id for b in batches if b.recorded_at < config.audit_at for e in b.events}
    clubs = [e for e in events if isinstance(e, ClubRun) and e.occurred_on in audited
             and e.event_id in before and e.participants >= 8]
    wanted = config.corrections + config.retractions
    if not clubs or not wanted:
        return ()
    hub = next((e.hub_school_id for e in events if isinstance(e, PartnershipFormed)), None)
    at_hub = [e for e in clubs if e.school_id == hub]
    chosen = [rng.choice(at_hub)] if at_hub else []
    rest = [e for e in clubs if e not in chosen]
    chosen += rng.sample(rest, min(len(rest), wanted - len(chosen)))
    day = config.audit_at.astimezone(dt.UTC).date()
    out: list[DomainEvent] = []
    for n, club in enumerate(chosen, start=1):
        event_id = f"{partnership_id}-audit-{n:02d}"
        if n <= config.corrections:
            pupils = club.participants - rng.randint(2, max(2, club.participants // 3))
            replacement = ClubRun(
                partnership_id=club.partnership_id, occurred_on=club.occurred_on,
                event_id=club.event_id, club_id=club.club_id, school_id=club.school_id,
                activity=club.activity, participants=pupils,
                send_participants=min(club.send_participants, pupils),
                staff_minutes=club.staff_minutes, staff_id=club.staff_id, setting=club.setting)
            out.append(EventCorrected(
                partnership_id=partnership_id, occurred_on=club.occurred_on, event_id=event_id,
                target_event_id=club.event_id, replacement=replacement,
                reason=(f"audit {day}: the register shows {pupils} pupils, the return said "
                        f"{club.participants}")))
        else:
            out.append(EventRetracted(
                partnership_id=partnership_id, occurred_on=club.occurred_on, event_id=event_id,
                target_event_id=club.event_id,
                reason=f"audit {day}: no register for this session; the club did not meet"))
    return tuple(out)

