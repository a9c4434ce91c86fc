"""Objectives in force and how regularly, and how independently, they are evaluated.

The National Audit Office asked partnerships for clear objectives and for regular, independent
evaluation of them. This projection answers both from two events: ``ObjectiveSet`` (an
objective, set again with the same ``objective_id`` to reword it) and ``EvaluationRecorded``
(an evaluation of one objective, ``independent`` when carried out from outside).

On a valid date (the window's last day) an objective is **in force** once it has been set and
while its partnership is not dissolved (the dissolution day itself still counts). For each
objective in force the report gives:

* ``set_on`` (first set) and ``text`` (its latest wording by then);
* ``evaluations`` and ``independent_evaluations`` dated inside the window (the whole history
  up to ``as_of`` without a ``period``);
* ``last_evaluated_on`` / ``days_since_evaluation`` and ``last_independent_on`` /
  ``days_since_independent``: the latest evaluation on or before the window's last day, and how
  many days before that day it was (None when there has been none);
* ``overdue`` (0 or 1): more than ``max_days_between_evaluations`` days (query parameter, 365
  by default) since the last independent evaluation, or since the objective was set when it
  has never been independently evaluated.

``by`` None gives a row per objective (labelled by its ``objective_id``; the same id in two
partnerships gives two rows) and a total; ``by="partnership"`` a row per partnership
(objectives, evaluations, objectives never independently evaluated, overdue) and a total; a
period kind the same figures per period, each as of the period's last day (no total: objectives
in force are snapshots and do not add up over periods).

:meth:`Objectives.explain_fact` lists the facts behind a row: the ``ObjectiveSet`` in force of
each objective gives ``objectives`` 1, each evaluation inside the window ``evaluations`` 1 and
``independent_evaluations`` 0 or 1 (they sum to those columns); an earlier wording and an
evaluation before the window are listed with an empty mapping (they shape ``set_on`` and the
``last_*`` dates without adding to a figure).

Checkpoints (:meth:`Objectives.dump_state`) are data: the facts it remembers, as their event
Structs in an :class:`ObjectivesState`, in key order (canonical bytes).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import ClassVar

import msgspec

from ssp_ledger.events import (
    CorrectableEvent,
    EvaluationRecorded,
    ObjectiveSet,
    PartnershipDissolved,
)
from ssp_ledger.periods import periods_between
from ssp_ledger.projection import Cell, Fact, Query, Table

__all__ = [
    "DEFAULT_MAX_DAYS",
    "OBJECTIVE_COLUMNS",
    "STATE_VERSION",
    "SUMMARY_COLUMNS",
    "ObjectiveStatus",
    "Objectives",
    "ObjectivesState",
]

STATE_VERSION = 1
"""Version of :class:`ObjectivesState`; a checkpoint of another version is refused."""
DEFAULT_MAX_DAYS = 365
"""Days allowed between independent evaluations before an objective is ``overdue``."""

OBJECTIVE_COLUMNS = (
    "objective", "partnership", "set_on", "text", "objectives", "evaluations",
    "independent_evaluations", "last_evaluated_on", "days_since_evaluation",
    "last_independent_on", "days_since_independent", "overdue", "last_outcome",
)
"""Columns of the report by objective (``by`` None)."""
SUMMARY_COLUMNS = ("objectives", "evaluations", "independent_evaluations",
                   "never_independently_evaluated", "overdue")
"""Figures of the report by partnership or by period (after the label column)."""

Key = tuple[str, str]
Remembered = ObjectiveSet | EvaluationRecorded | PartnershipDissolved


class ObjectivesState(msgspec.Struct, frozen=True, kw_only=True,
                      tag="ssp-ledger/objectives", tag_field="format"):
    """The facts an Objectives projection remembers, in (partnership, event id) order."""

    version: int
    facts: list[ObjectiveSet | EvaluationRecorded | PartnershipDissolved]


_ENCODER = msgspec.msgpack.Encoder(order="deterministic")
_DECODER = msgspec.msgpack.Decoder(ObjectivesState)


def _latest(events: Sequence[EvaluationRecorded]) -> EvaluationRecorded | None:
    return max(events, key=lambda e: (e.occurred_on, e.event_id), default=None)


@dataclass(frozen=True)
class ObjectiveStatus:
    """One objective in force at the end of a window, and its evaluations."""

    partnership_id: str
    objective_id: str
    wording: ObjectiveSet
    """The ObjectiveSet in force (its latest wording on the window's last day)."""
    set_on: dt.date
    """Day it was first set."""
    in_window: tuple[EvaluationRecorded, ...]
    """Evaluations dated inside the window."""
    last: EvaluationRecorded | None
    """Latest evaluation on or before the window's last day."""
    last_independent: EvaluationRecorded | None
    """Latest independent evaluation on or before the window's last day."""
    end: dt.date
    """The window's last day."""
    max_days: int
    """Allowed days between independent evaluations."""

    @property
    def independent_count(self) -> int:
        """Independent evaluations inside the window."""
        return sum(1 for e in self.in_window if e.independent)

    @property
    def overdue(self) -> bool:
        """More than ``max_days`` since the last independent evaluation (or since set)."""
        since = self.last_independent.occurred_on if self.last_independent else self.set_on
        return (self.end - since).days > self.max_days

    def row(self) -> tuple[Cell, ...]:
        """The objective's row of the report by objective."""
        last, ind = self.last, self.last_independent
        return (
            self.objective_id, self.partnership_id, self.set_on.isoformat(), self.wording.text,
            1, len(self.in_window), self.independent_count,
            last.occurred_on.isoformat() if last else None,
            (self.end - last.occurred_on).days if last else None,
            ind.occurred_on.isoformat() if ind else None,
            (self.end - ind.occurred_on).days if ind else None,
            int(self.overdue), last.outcome if last else None,
        )


def _summary(label: str, statuses: Sequence[ObjectiveStatus]) -> tuple[Cell, ...]:
    return (label, len(statuses), sum(len(s.in_window) for s in statuses),
            sum(s.independent_count for s in statuses),
            sum(1 for s in statuses if s.last_independent is None),
            sum(1 for s in statuses if s.overdue))


def max_days(query: Query) -> int:
    """The ``max_days_between_evaluations`` parameter (an integer >= 1; 365 if unset)."""
    raw = query.params.get("max_days_between_evaluations", DEFAULT_MAX_DAYS)
    try:
        value = int(raw)
    except ValueError:
        msg = f"max_days_between_evaluations must be a whole number of days; got {raw!r}"
        raise ValueError(msg) from None
    if value < 1:
        msg = f"max_days_between_evaluations must be at least 1; got {value}"
        raise ValueError(msg)
    return value


class Objectives:
    """Objectives in force, their evaluations, independence and time since the last one."""

    name: ClassVar[str] = "objectives"
    groupings: ClassVar[tuple[str, ...]] = ("partnership",)
    parameters: ClassVar[tuple[str, ...]] = ("max_days_between_evaluations",)
    """Query parameters it takes (:meth:`ssp_ledger.Ledger.report` refuses others)."""
    handles: ClassVar[tuple[type[CorrectableEvent], ...]] = (
        ObjectiveSet, EvaluationRecorded, PartnershipDissolved)
    """Event classes this projection reacts to (the set offers it no others)."""

    def __init__(self) -> None:
        self._facts: dict[Key, Remembered] = {}

    def apply(self, fact: Fact) -> None:
        """Remember an objective, an evaluation or a dissolution."""
        event = fact.event
        if isinstance(event, ObjectiveSet | EvaluationRecorded | PartnershipDissolved):
            self._facts[(event.partnership_id, event.event_id)] = event

    def retract(self, fact: Fact) -> None:
        """Forget what :meth:`apply` remembered."""
        self._facts.pop((fact.event.partnership_id, fact.event.event_id), None)

    def dump_state(self) -> bytes:
        """The facts remembered, as canonical msgpack (an :class:`ObjectivesState`)."""
        facts = [self._facts[key] for key in sorted(self._facts)]
        return _ENCODER.encode(ObjectivesState(version=STATE_VERSION, facts=facts))

    def load_state(self, data: bytes) -> None:
        """Take the facts of :meth:`dump_state` bytes (on a fresh instance); ValueError when
        they are not such bytes."""
        state = _DECODER.decode(data)
        if state.version != STATE_VERSION:
            msg = f"objectives state version {state.version} is not {STATE_VERSION}"
            raise ValueError(msg)
        if self._facts:
            msg = "objectives: load_state needs a fresh instance (this one has facts)"
            raise ValueError(msg)
        self._facts = {(f.partnership_id, f.event_id): f for f in state.facts}

    # ------------------------------------------------------------------ queries

    def statuses(self, partnership_id: str | None, start: dt.date | None, end: dt.date,
                 max_days_between: int = DEFAULT_MAX_DAYS) -> list[ObjectiveStatus]:
        """Every objective in force on ``end`` (of one partnership or all), with the
        evaluations dated from ``start`` (None: from the beginning) to ``end``; sorted by
        objective id, then partnership."""
        sets: dict[Key, list[ObjectiveSet]] = {}
        evaluations: dict[Key, list[EvaluationRecorded]] = {}
        dissolved: dict[str, dt.date] = {}
        for (pid, _), event in self._facts.items():
            if partnership_id is not None and pid != partnership_id:
                continue
            if event.occurred_on > end:
                continue
            if isinstance(event, ObjectiveSet):
                sets.setdefault((pid, event.objective_id), []).append(event)
            elif isinstance(event, EvaluationRecorded):
                evaluations.setdefault((pid, event.objective_id), []).append(event)
            else:
                dissolved[pid] = min(event.occurred_on, dissolved.get(pid, event.occurred_on))
        out: list[ObjectiveStatus] = []
        for (pid, oid), wordings in sets.items():
            if pid in dissolved and dissolved[pid] < end:
                continue
            done = evaluations.get((pid, oid), [])
            out.append(ObjectiveStatus(
                partnership_id=pid, objective_id=oid,
                wording=max(wordings, key=lambda s: (s.occurred_on, s.event_id)),
                set_on=min(s.occurred_on for s in wordings),
                in_window=tuple(sorted(
                    (e for e in done if start is None or e.occurred_on >= start),
                    key=lambda e: (e.occurred_on, e.event_id))),
                last=_latest(done),
                last_independent=_latest([e for e in done if e.independent]),
                end=end, max_days=max_days_between,
            ))
        out.sort(key=lambda s: (s.objective_id, s.partnership_id))
        return out

    def _first_day(self, partnership_id: str | None) -> dt.date | None:
        days = [e.occurred_on for (pid, _), e in self._facts.items()
                if partnership_id is None or pid == partnership_id]
        return min(days, default=None)

    def _windows(self, query: Query) -> list[tuple[str, dt.date | None, dt.date]]:
        """(label, first day, last day) of each period row of a report by period kind."""
        kind = query.period_kind
        if kind is None:
            return []
        start, end = query.window
        first = self._first_day(query.partnership_id)
        if first is None or first > end:
            return []
        lo = max(first, start) if start is not None else first
        return [(p.label, max(p.start, lo), min(p.end, end))
                for p in periods_between(kind, lo, end)]

    def report(self, query: Query) -> Table:
        """A row per objective in force (or per partnership / period), see the module."""
        query.check_grouping(self.name, self.groupings)
        limit = max_days(query)
        start, end = query.window
        if query.period_kind is not None:
            rows = [_summary(label, self.statuses(query.partnership_id, lo, hi, limit))
                    for label, lo, hi in self._windows(query)]
            return Table.answer(self.name, query, (query.period_kind, *SUMMARY_COLUMNS), rows,
                                total=False)
        statuses = self.statuses(query.partnership_id, start, end, limit)
        total = _summary("total", statuses)
        if query.by == "partnership":
            by_pid: dict[str, list[ObjectiveStatus]] = {}
            for s in statuses:
                by_pid.setdefault(s.partnership_id, []).append(s)
            rows = [_summary(pid, by_pid[pid]) for pid in sorted(by_pid)]
            return Table.answer(self.name, query, ("partnership", *SUMMARY_COLUMNS), rows,
                                total=total)
        label, count, evaluations, independent, _, overdue = total
        total_row = (label, None, None, None, count, evaluations, independent, None, None, None,
                     None, overdue, None)
        return Table.answer(self.name, query, OBJECTIVE_COLUMNS,
                            [s.row() for s in statuses], total=total_row)

    # ------------------------------------------------------------------ explain

    def explain_fact(self, query: Query, group: str, fact: Fact) -> Mapping[str, int] | None:
        """What ``fact`` contributed to the row(s) labelled ``group`` (see the module)."""
        event = fact.event
        if not isinstance(event, ObjectiveSet | EvaluationRecorded):
            return None
        limit = max_days(query)
        if query.period_kind is not None:
            windows = [(lo, hi) for label, lo, hi in self._windows(query) if label == group]
            if not windows:
                return None
            (start, end), matches = windows[0], True
        else:
            start, end = query.window
            matches = (group == "total" or (query.by == "partnership"
                                            and group == event.partnership_id)
                       or (query.by is None and group == event.objective_id))
        if not matches:
            return None
        for status in self.statuses(query.partnership_id, start, end, limit):
            if (status.partnership_id, status.objective_id) != (event.partnership_id,
                                                                  event.objective_id):
                continue
            if isinstance(event, ObjectiveSet):
                if event.occurred_on > end:
                    return None
                return {"objectives": 1} if event == status.wording else {}
            if event in status.in_window:
                return {"evaluations": 1, "independent_evaluations": int(event.independent)}
            return {} if event.occurred_on <= end else None
        return None
