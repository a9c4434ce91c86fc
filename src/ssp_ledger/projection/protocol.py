"""The projection protocol: what a projection sees, what it is asked and what it answers.

A projection sees *facts* (:class:`Fact`): the effective content of an event at a point of the
log. Corrections and retractions never reach a projection as such; the runner
(:class:`~ssp_ledger.projection.ProjectionSet`) turns them into ``retract(old fact)`` and
``apply(new fact)`` calls, so a projection only has to know how to add and remove the effect of
one fact. Queries carry both time axes (:class:`Query`): the runner chooses which facts a
projection has seen (``known_at``), the projection answers for valid dates (``as_of``,
``period``) from its own state without touching the log, as a :class:`Table`.

Writing a projection means implementing :class:`Projection` (three methods and two class
attributes). Two optional protocols add to it: :class:`Explainable` (say what one fact
contributed to a row, for ``ssp-ledger explain``) and :class:`Stateful` (describe the state as
data, so a checkpoint can hold it; without it the projection is replayed from the log after a
restart). This module is the bottom of the package: it imports nothing else from it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol, runtime_checkable

import msgspec

from ssp_ledger.events import CorrectableEvent
from ssp_ledger.periods import Period, PeriodKind

__all__ = [
    "PERIOD_KINDS",
    "Cell",
    "Explainable",
    "Fact",
    "Projection",
    "ProjectionFactory",
    "Query",
    "Stateful",
    "Table",
    "handled_types",
]

PERIOD_KINDS: tuple[PeriodKind, ...] = ("academic_year", "term", "financial_year", "calendar_year")

Cell = str | int | None
"""A table cell: labels are text, figures are integers (pence, minutes, counts, days)."""


class Fact(msgspec.Struct, frozen=True):
    """The effective content of one event, as a projection sees it."""

    position: int
    """Notification id of the stored record that made this content effective."""
    recorded_at: dt.datetime
    """When the ledger learned this content (the original's or the correction's time)."""
    event: CorrectableEvent
    """The event content in force."""


@dataclass(frozen=True, kw_only=True)
class Query:
    """What a report is asked for: both time axes, a grouping and an optional filter."""

    as_of: dt.date
    """Valid date: include facts with ``occurred_on <= as_of``."""
    known_at: dt.datetime | None = None
    """Recorded time: include only what the ledger knew then (None: everything)."""
    by: str | None = None
    """Grouping: a dimension of the projection, or a period kind (academic_year, term, ...)."""
    period: Period | None = None
    """Restrict to facts dated inside this period (and not after ``as_of``)."""
    partnership_id: str | None = None
    """Restrict to one partnership."""
    params: Mapping[str, int | str] = field(default_factory=dict)
    """Projection-specific parameters (e.g. ``default_hourly_cost_pence``)."""

    @property
    def window(self) -> tuple[dt.date | None, dt.date]:
        """(first day or None, last day) of the valid dates this query covers."""
        if self.period is None:
            return None, self.as_of
        return self.period.start, min(self.period.end, self.as_of)

    @property
    def period_kind(self) -> PeriodKind | None:
        """The period kind when grouping by period, else None."""
        for kind in PERIOD_KINDS:
            if self.by == kind:
                return kind
        return None

    def check_grouping(self, projection: str, groupings: Sequence[str]) -> None:
        """Raise ValueError naming the choices unless ``by`` is None, a period kind or one of
        ``groupings`` (the one message every projection gives for a grouping it lacks)."""
        if self.by is None or self.by in groupings or self.period_kind is not None:
            return
        choices = ", ".join((*groupings, *PERIOD_KINDS))
        msg = f"{projection}: cannot group by {self.by!r}; choose one of {choices}"
        raise ValueError(msg)


class Table(msgspec.Struct, frozen=True, kw_only=True, eq=False):
    """A projection's answer: named columns of labels and integer figures.

    Two tables are equal when their query and figures are: :attr:`basis` says where the figures
    came from (a replay or a checkpoint), which does not change what they are.
    """

    projection: str
    """Name of the projection that produced it."""
    columns: tuple[str, ...]
    """Column names; figures carry their unit in the name (``_pence``, ``_minutes``, ``_days``)."""
    rows: tuple[tuple[Cell, ...], ...]
    """One tuple per group, in a stable order."""
    as_of: dt.date
    """Valid date asked for."""
    known_at: dt.datetime | None = None
    """Recorded time asked for (None: everything)."""
    by: str | None = None
    """Grouping asked for."""
    period: str | None = None
    """Period label asked for."""
    basis: dict[str, Any] | None = None
    """What the figures were computed from (log position, stream-heads hash, checkpoint or
    replay, known-at time), set by :meth:`ssp_ledger.Ledger.report`; None for a table made
    directly by a projection."""

    @classmethod
    def answer(cls, projection: str, query: Query, columns: Sequence[str],
               rows: Iterable[tuple[Cell, ...]]) -> Table:
        """A projection's answer to ``query``: the query's time axes, grouping and period label
        are carried over, so every projection reports them the same way."""
        return cls(
            projection=projection,
            columns=tuple(columns),
            rows=tuple(rows),
            as_of=query.as_of,
            known_at=query.known_at,
            by=query.by,
            period=query.period.label if query.period else None,
        )

    def _content(self) -> tuple[object, ...]:
        return (self.projection, self.columns, self.rows, self.as_of, self.known_at, self.by,
                self.period)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Table):
            return NotImplemented
        return self._content() == other._content()

    def __hash__(self) -> int:
        return hash(self._content())

    def to_dicts(self) -> list[dict[str, Cell]]:
        """Rows as dictionaries keyed by column name."""
        return [dict(zip(self.columns, row, strict=True)) for row in self.rows]

    def column(self, name: str) -> list[Cell]:
        """All values of one column."""
        i = self.columns.index(name)
        return [row[i] for row in self.rows]

    def row(self, group: str) -> dict[str, Cell]:
        """The row whose first cell is ``group``."""
        for row in self.rows:
            if row[0] == group:
                return dict(zip(self.columns, row, strict=True))
        raise KeyError(group)


@runtime_checkable
class Projection(Protocol):
    """What the runner needs from a projection. Write your own against this and register it."""

    name: ClassVar[str]
    """Registry name, e.g. ``"participation"``."""
    groupings: ClassVar[tuple[str, ...]]
    """Values ``Query.by`` accepts besides None and the period kinds."""

    def apply(self, fact: Fact) -> None:
        """Add the effect of a fact."""

    def retract(self, fact: Fact) -> None:
        """Remove the effect of a fact previously applied (corrections, retractions)."""

    def report(self, query: Query) -> Table:
        """Answer a query from the projection's own state (never from the log)."""


def handled_types(projection: object) -> tuple[type, ...] | None:
    """The event classes a projection reacts to, from its optional ``handles`` attribute.

    A projection may declare ``handles`` (a tuple of event classes; a class attribute, or an
    instance attribute set before the first fact, e.g. in ``attach``): the set then offers it only
    facts of those classes (and subclasses), which spares a call per projection for every fact it
    would ignore. Without it (or with None) it is offered every fact.
    """
    found = getattr(projection, "handles", None)
    if found is None:
        return None
    return tuple(found)


@runtime_checkable
class Explainable(Protocol):
    """A projection that can say what one fact contributed to one row of a report.

    :func:`ssp_ledger.audit.explain` offers every fact in force (in log order) and lists those
    for which this returns a mapping. For additive measures the contributions sum to the row;
    a fact that shapes a row without adding to it (a funding level deciding funded vs hidden)
    may return an empty mapping so it is still listed.
    """

    def explain_fact(self, query: Query, group: str, fact: Fact) -> Mapping[str, int] | None:
        """What ``fact`` contributed to row ``group`` of ``report(query)``, or None."""


@runtime_checkable
class Stateful(Protocol):
    """A projection whose state can be checkpointed as data.

    ``dump_state`` returns msgpack bytes (msgspec, typed, no pickle) that are *canonical*: two
    instances given the same facts in the same order give identical bytes, whatever queries were
    asked of them and whether one was restored from a checkpoint in between. ``load_state`` is
    called on a fresh instance from the projection's factory (after ``attach``) and raises
    ValueError on malformed data. A projection that does not implement this (or whose
    ``dump_state`` raises NotImplementedError) is replayed from the log instead of checkpointed.
    """

    def dump_state(self) -> bytes:
        """The projection's state as canonical msgpack bytes."""

    def load_state(self, data: bytes) -> None:
        """Replace a fresh instance's state by ``data`` (from :meth:`dump_state`)."""




ProjectionFactory = Callable[[], Projection]
"""What a registry entry is: a class (or function) making a fresh, empty projection."""
