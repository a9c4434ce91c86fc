"""Projection machinery: the protocol, the valid-time index, the runner and the registry.

A projection sees *facts*: the effective content of an event at a point of the log. Corrections
and retractions never reach a projection as such; the runner (:class:`ProjectionSet`) turns them
into ``retract(old fact)`` and ``apply(new fact)`` calls, so a projection only has to know how to
add and remove the effect of one fact. Queries carry both time axes (:class:`Query`): the runner
chooses which facts a projection has seen (``known_at``), the projection answers for valid dates
(``as_of``, ``period``) from its own index without touching the log.

Standard projections live outside the core (the ``ssp_ledger_projections`` package in the
top-level ``projections/`` folder) and are found through the ``ssp_ledger.projections``
entry-point group, exactly like a user's own.
"""

from __future__ import annotations

import datetime as dt
import gc
import hashlib
import importlib.util
import pickle
import sys
import zlib
from array import array
from bisect import bisect_right
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from functools import cache
from importlib.metadata import entry_points
from itertools import pairwise
from pathlib import Path
from typing import Any, ClassVar, Protocol, Self, runtime_checkable

import msgspec

from ssp_ledger.errors import UnknownProjection
from ssp_ledger.events import CorrectableEvent, EventCorrected, EventRetracted
from ssp_ledger.periods import Period, PeriodKind, parse_period, periods_between
from ssp_ledger.persistence import Recorded

__all__ = [
    "ENTRY_POINT_GROUP",
    "AdditiveProjection",
    "Explainable",
    "Cell",
    "Fact",
    "GroupedIndex",
    "PERIOD_KINDS",
    "PartitionedIndex",
    "Projection",
    "ProjectionSet",
    "Query",
    "Series",
    "SeriesState",
    "Stateful",
    "Table",
    "handled_types",
    "load_projections",
    "paused_gc",
    "projection_fingerprint",
]

ENTRY_POINT_GROUP = "ssp_ledger.projections"
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


class Table(msgspec.Struct, frozen=True, kw_only=True):
    """A projection's answer: named columns of labels and integer figures."""

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
    ValueError on malformed data. A projection that does not implement this is replayed from the
    log instead of checkpointed.
    """

    def dump_state(self) -> bytes:
        """The projection's state as canonical msgpack bytes."""

    def load_state(self, data: bytes) -> None:
        """Replace a fresh instance's state by ``data`` (from :meth:`dump_state`)."""


# --------------------------------------------------------------------------- valid-time index


class SeriesState(msgspec.Struct, frozen=True, array_like=True):
    """A :class:`Series` as plain data (see :meth:`Series.dump`)."""

    width: int
    """Number of measures."""
    keys: bytes
    """Distinct day ordinals with a non-zero net entry, ascending: 4-byte little-endian ints."""
    itemsize: int
    """Bytes per prefix sum: 4, or 8 when some sum needs it."""
    prefix: bytes
    """``(len(keys) + 1) * width`` prefix sums, row-major, little-endian."""


_BIG_ENDIAN = sys.byteorder == "big"


def _le_bytes(values: array[int]) -> bytes:
    """``values`` packed little-endian (the byte order of every checkpoint)."""
    if _BIG_ENDIAN:
        values = array(values.typecode, values)
        values.byteswap()
    return values.tobytes()


def _from_le(typecode: str, data: bytes) -> array[int]:
    """The array packed by :func:`_le_bytes`."""
    out = array(typecode)
    out.frombytes(data)
    if _BIG_ENDIAN:
        out.byteswap()
    return out


class Series:
    """Integer measures over valid dates with O(log n) sums up to (or between) any dates.

    Additions go to an append-only buffer; the first query after a change merges it once into
    per-day prefix sums. Removing a fact's effect is adding its negation, so the index never
    re-scans the log and incremental updates equal a full rebuild.

    Merged sums are kept in packed arrays (4-byte day ordinals, 8-byte sums, one row of ``width``
    sums per distinct day), so a series costs a few bytes per day instead of a Python object per
    entry, and pickles (checkpoints) as two byte strings. Pending additions hold the caller's
    values tuple (shared by every series a fact is added to) until the next merge.
    """

    __slots__ = ("_compact_at", "_days", "_keys", "_prefix", "_values", "width")

    def __init__(self, width: int) -> None:
        self.width = width
        """Number of measures."""
        self._days = array("i")  # pending day ordinals
        self._values: list[tuple[int, ...]] = []  # pending values (tuples shared between series)
        self._keys = array("i")  # distinct days with a non-zero net entry, ascending
        # row r: sums over _keys[:r], row-major; 4-byte until a sum needs 8 (see _extended)
        self._prefix = array("i", bytes(4 * width))
        self._compact_at = 4096

    def __getstate__(self) -> tuple[int, bytes, str, bytes]:
        if self._days:  # checkpoint the merged prefix sums, ready to answer
            self._build()
        return (self.width, self._keys.tobytes(), self._prefix.typecode,
                self._prefix.tobytes())

    def __setstate__(self, state: tuple[int, bytes, str, bytes]) -> None:
        self.width, keys, typecode, prefix = state
        self._days = array("i")
        self._values = []
        self._keys = array("i")
        self._keys.frombytes(keys)
        self._prefix = array(typecode)
        self._prefix.frombytes(prefix)
        self._compact_at = 2 * len(self._days) + 4096

    def dump(self) -> SeriesState:
        """The merged prefix sums as data (pending additions are merged first).

        Canonical: the same additions give the same state whatever queries, merges or
        dump/load round trips happened in between (sums are 4-byte unless one needs 8).
        """
        if self._days:
            self._build()
        prefix = self._prefix
        if prefix.typecode != "i":
            with suppress(OverflowError):  # narrow the sums when they all fit again
                prefix = array("i", prefix)
        return SeriesState(self.width, _le_bytes(self._keys), prefix.itemsize,
                           _le_bytes(prefix))

    @classmethod
    def load(cls, state: SeriesState) -> Series:
        """The series :meth:`dump` described; ValueError when ``state`` is inconsistent."""
        width, itemsize = state.width, state.itemsize
        if width < 0:
            msg = f"series state: width {width} is negative"
            raise ValueError(msg)
        if itemsize not in (4, 8):
            msg = f"series state: prefix sums of {itemsize} bytes (expected 4 or 8)"
            raise ValueError(msg)
        if len(state.keys) % 4:
            msg = f"series state: {len(state.keys)} bytes of day ordinals is not a multiple of 4"
            raise ValueError(msg)
        count = len(state.keys) // 4
        expected = (count + 1) * width * itemsize
        if len(state.prefix) != expected:
            msg = (f"series state: {len(state.prefix)} bytes of prefix sums for {count} days of "
                   f"width {width} (expected {expected})")
            raise ValueError(msg)
        keys = _from_le("i", state.keys)
        prefix = _from_le("i" if itemsize == 4 else "q", state.prefix)
        if any(prefix[:width]):
            msg = "series state: the first row of prefix sums is not zero"
            raise ValueError(msg)
        if any(a >= b for a, b in pairwise(keys)):
            msg = "series state: day ordinals are not strictly ascending"
            raise ValueError(msg)
        out = cls(width)
        out._keys = keys
        out._prefix = prefix
        return out

    def add(self, day: dt.date, values: tuple[int, ...]) -> None:
        """Add ``values`` (one per measure) on ``day``."""
        self.add_ordinal(day.toordinal(), values)

    def add_ordinal(self, ordinal: int, values: tuple[int, ...]) -> None:
        """:meth:`add` for a day given as ``date.toordinal()``."""
        days = self._days
        days.append(ordinal)
        self._values.append(values)
        if len(days) >= self._compact_at:
            # Bound memory during long replays: merge pending entries (amortised O(1) per add).
            self._build()
            self._compact_at = 2 * len(self._keys) + 4096

    def __len__(self) -> int:
        """Distinct days plus pending entries (a measure of the memory held)."""
        return len(self._keys) + len(self._days)

    def _build(self) -> None:
        width = self.width
        # Net the pending entries per day, in day order.
        pending: dict[int, list[int]] = {}
        for day, values in zip(self._days, self._values, strict=True):
            row = pending.get(day)
            if row is None:
                pending[day] = list(values)
            else:
                for j in range(width):
                    row[j] += values[j]
        self._days = array("i")
        self._values = []
        keys = self._keys
        days = sorted(pending)
        if keys and days[0] <= keys[-1]:
            # Pending days interleave with merged ones: net them together and start over.
            pending = self._merged_rows(pending)
            days = sorted(pending)
            self._keys = keys = array("i")
            self._prefix = array("i", bytes(4 * width))
        # Every pending day is now after the merged ones (a replay in date order, mostly):
        # extend the prefix sums in place.
        prefix = self._prefix
        running = prefix[len(prefix) - width:].tolist()
        for day in days:
            row = pending[day]
            if not any(row):  # entries that cancelled out leave no day behind
                continue
            for j in range(width):
                running[j] += row[j]
            keys.append(day)
            prefix = _extended(prefix, running)
        self._prefix = prefix

    def _merged_rows(self, pending: dict[int, list[int]]) -> dict[int, list[int]]:
        """The merged days' own rows (differences of the prefix sums) plus ``pending``."""
        width = self.width
        prefix = self._prefix
        rows: dict[int, list[int]] = {}
        base = 0
        for day in self._keys:
            rows[day] = [prefix[base + width + j] - prefix[base + j] for j in range(width)]
            base += width
        for day, values in pending.items():
            row = rows.get(day)
            if row is None:
                rows[day] = values
            else:
                for j in range(width):
                    row[j] += values[j]
        return rows

    def upto_ordinal(self, ordinal: int) -> tuple[int, ...]:
        """:meth:`upto` for a day given as ``date.toordinal()``."""
        if self._days:
            self._build()
        width = self.width
        base = bisect_right(self._keys, ordinal) * width
        return tuple(self._prefix[base:base + width])

    def upto(self, day: dt.date | None) -> tuple[int, ...]:
        """Sums of every measure over entries dated on or before ``day`` (None: nothing)."""
        if day is None:
            return (0,) * self.width
        return self.upto_ordinal(day.toordinal())

    def between(self, start: dt.date | None, end: dt.date) -> tuple[int, ...]:
        """Sums over entries dated in ``[start, end]`` (``start`` None: from the beginning)."""
        if start is not None and start > end:
            return (0,) * self.width
        hi = self.upto_ordinal(end.toordinal())
        if start is None:
            return hi
        lo = self.upto_ordinal(start.toordinal() - 1)
        return tuple(a - b for a, b in zip(hi, lo, strict=True))

    def first_day(self) -> dt.date | None:
        """Earliest date with a non-zero net entry, or None."""
        if self._days:
            self._build()
        return dt.date.fromordinal(self._keys[0]) if self._keys else None


def _extended(prefix: array[int], row: list[int]) -> array[int]:
    """``prefix`` with ``row`` appended, widened from 4-byte to 8-byte sums when one needs it.

    Sums start as 4-byte integers (half the memory and checkpoint size of most series); the first
    sum beyond their range turns the whole array into 8-byte integers, once.
    """
    size = len(prefix)
    try:
        prefix.extend(row)
    except OverflowError:
        del prefix[size:]  # extend may have appended part of the row
        prefix = array("q", prefix)
        prefix.extend(row)
    return prefix


class GroupedIndex:
    """A :class:`Series` for the total and one per value of each grouping dimension."""

    def __init__(self, dimensions: Sequence[str], measures: Sequence[str]) -> None:
        self.dimensions = tuple(dimensions)
        self.measures = tuple(measures)
        self.total = Series(len(self.measures))
        self._series: dict[str, dict[str, Series]] = {d: {} for d in self.dimensions}
        self._frozen: dict[str, bytes] = {}
        """Dimensions of an unpickled index not needed yet (zlib'd pickles of their series)."""

    def __getstate__(self) -> dict[str, object]:
        # Each dimension's series pickled and compressed apart, so a restored index unpickles
        # only the dimensions a query reads (a report by school never inflates the activities).
        frozen = dict(self._frozen)
        for dim, of_dim in self._series.items():
            frozen[dim] = zlib.compress(pickle.dumps(of_dim, protocol=pickle.HIGHEST_PROTOCOL), 1)
        return {"dimensions": self.dimensions, "measures": self.measures, "total": self.total,
                "frozen": frozen}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.dimensions = state["dimensions"]
        self.measures = state["measures"]
        self.total = state["total"]
        self._series = {}
        self._frozen = dict(state["frozen"])

    def _dimension(self, dim: str) -> dict[str, Series]:
        found = self._series.get(dim)
        if found is None:
            if dim not in self._frozen:
                raise KeyError(dim)
            found = self._series[dim] = pickle.loads(zlib.decompress(self._frozen.pop(dim)))
        return found

    def _thaw(self) -> None:
        for dim in self.dimensions:
            self._dimension(dim)
        self._series = {dim: self._series[dim] for dim in self.dimensions}  # dimension order

    def add(self, day: dt.date, keys: Mapping[str, str | Iterable[str]],
            values: tuple[int, ...]) -> None:
        """Add ``values`` on ``day`` to the total and to each dimension's group(s).

        A dimension may name several groups (e.g. every school in a competition): each gets the
        full values, so group rows can sum to more than the total.
        """
        if self._frozen:
            self._thaw()
        ordinal = day.toordinal()
        self.total.add_ordinal(ordinal, values)
        for dim, of_dim in self._series.items():
            groups = keys[dim]
            for group in (groups,) if isinstance(groups, str) else groups:
                series = of_dim.get(group)
                if series is None:
                    series = of_dim[group] = Series(len(self.measures))
                series.add_ordinal(ordinal, values)

    def remove(self, day: dt.date, keys: Mapping[str, str | Iterable[str]],
               values: tuple[int, ...]) -> None:
        """Undo an :meth:`add` with the same arguments."""
        self.add(day, keys, tuple(-v for v in values))

    def between(self, start: dt.date | None, end: dt.date) -> tuple[int, ...]:
        """Sums of the total over ``[start, end]``."""
        return self.total.between(start, end)

    def first_day(self) -> dt.date | None:
        """Earliest day with a non-zero entry, or None."""
        return self.total.first_day()

    def groups(self, dimension: str, start: dt.date | None, end: dt.date
               ) -> dict[str, tuple[int, ...]]:
        """Sums per group of ``dimension`` over ``[start, end]``, omitting all-zero groups."""
        out: dict[str, tuple[int, ...]] = {}
        for group, series in self._dimension(dimension).items():
            sums = series.between(start, end)
            if any(sums):
                out[group] = sums
        return out

    def by_period(self, kind: PeriodKind, start: dt.date | None, end: dt.date
                  ) -> dict[str, tuple[int, ...]]:
        """Sums of the total per period of ``kind`` from the first entry to ``end``."""
        return _by_period(self, kind, start, end)

    def table(self, name: str, query: Query,
              derived: Mapping[str, tuple[str, Callable[[str], str]]] | None = None) -> Table:
        """The standard additive report: a row per group (or period), then a total row.

        ``derived`` maps extra grouping names to (base dimension, key function), resolved at query
        time (e.g. phase from school), so a later change of the mapping needs no re-indexing.
        """
        return _table(self, name, query, derived)


class _Sums(Protocol):
    """What an additive report reads: one partnership's index or the union of several."""

    dimensions: tuple[str, ...]
    measures: tuple[str, ...]

    def between(self, start: dt.date | None, end: dt.date) -> tuple[int, ...]: ...

    def first_day(self) -> dt.date | None: ...

    def groups(self, dimension: str, start: dt.date | None, end: dt.date
               ) -> dict[str, tuple[int, ...]]: ...


def _add_into(out: dict[str, tuple[int, ...]], label: str, sums: tuple[int, ...]) -> None:
    prev = out.get(label)
    out[label] = sums if prev is None else tuple(a + b for a, b in zip(prev, sums, strict=True))


def _by_period(index: _Sums, kind: PeriodKind, start: dt.date | None, end: dt.date
               ) -> dict[str, tuple[int, ...]]:
    first = index.first_day()
    if first is None or first > end:
        return {}
    lo = max(first, start) if start is not None else first
    return {
        p.label: index.between(max(p.start, lo), min(p.end, end))
        for p in periods_between(kind, lo, end)
    }


def _table(index: _Sums, name: str, query: Query,
           derived: Mapping[str, tuple[str, Callable[[str], str]]] | None) -> Table:
    start, end = query.window
    kind = query.period_kind
    derived = derived or {}
    if kind is not None:
        grouped = _by_period(index, kind, start, end)
        rows: list[tuple[Cell, ...]] = [(label, *sums) for label, sums in grouped.items()]
    elif query.by is not None:
        if query.by in derived:
            base, key = derived[query.by]
            grouped = {}
            for label, sums in index.groups(base, start, end).items():
                _add_into(grouped, key(label), sums)
        else:
            query.check_grouping(name, (*index.dimensions, *derived))
            grouped = index.groups(query.by, start, end)
        rows = [(label, *grouped[label]) for label in sorted(grouped)]
    else:
        rows = []
    rows.append(("total", *index.between(start, end)))
    return Table.answer(name, query, (query.by or "group", *index.measures), rows)


class _Union:
    """All partnerships' indexes read as one: group sums are added up per query (one bisection
    per partnership and group), the total comes from the one all-partnerships series."""

    def __init__(self, dimensions: tuple[str, ...], measures: tuple[str, ...], total: Series,
                 parts: Iterable[GroupedIndex]) -> None:
        self.dimensions = dimensions
        self.measures = measures
        self._total = total
        self._parts = tuple(parts)

    def between(self, start: dt.date | None, end: dt.date) -> tuple[int, ...]:
        return self._total.between(start, end)

    def first_day(self) -> dt.date | None:
        return self._total.first_day()

    def groups(self, dimension: str, start: dt.date | None, end: dt.date
               ) -> dict[str, tuple[int, ...]]:
        out: dict[str, tuple[int, ...]] = {}
        for part in self._parts:
            for label, sums in part.groups(dimension, start, end).items():
                _add_into(out, label, sums)
        return {label: sums for label, sums in out.items() if any(sums)}


class PartitionedIndex:
    """One :class:`GroupedIndex` per partnership plus one total series over all of them.

    A query over all partnerships takes its total (and period rows) from that series, O(log n),
    and adds up the partnerships' group rows; keeping no full all-partnerships index (a series
    per group again) saves a third of the indexing work and memory of a replay.
    """

    def __init__(self, dimensions: Sequence[str], measures: Sequence[str]) -> None:
        self.dimensions = tuple(dimensions)
        self.measures = tuple(measures)
        self.total = Series(len(self.measures))
        """Sums over every partnership."""
        self._parts: dict[str, GroupedIndex] = {}

    def add(self, partnership_id: str, day: dt.date, keys: Mapping[str, str | Iterable[str]],
            values: tuple[int, ...]) -> None:
        """Add to the partnership's index and to the total."""
        self.total.add_ordinal(day.toordinal(), values)
        part = self._parts.get(partnership_id)
        if part is None:
            part = self._parts[partnership_id] = GroupedIndex(self.dimensions, self.measures)
        part.add(day, keys, values)

    def remove(self, partnership_id: str, day: dt.date,
               keys: Mapping[str, str | Iterable[str]], values: tuple[int, ...]) -> None:
        """Undo an :meth:`add` with the same arguments."""
        self.add(partnership_id, day, keys, tuple(-v for v in values))

    def partnerships(self) -> list[str]:
        """Ids of the partnerships with an index, sorted."""
        return sorted(self._parts)

    def table(self, name: str, query: Query,
              derived: Mapping[str, tuple[str, Callable[[str], str]]] | None = None) -> Table:
        """:meth:`GroupedIndex.table` for one partnership (``query.partnership_id``) or, summed,
        for all of them."""
        index: _Sums
        if query.partnership_id is None:
            index = _Union(self.dimensions, self.measures, self.total,
                           (self._parts[p] for p in sorted(self._parts)))
        else:
            index = (self._parts.get(query.partnership_id)
                     or GroupedIndex(self.dimensions, self.measures))
        return _table(index, name, query, derived)


class AdditiveProjection:
    """Base for projections whose figures are sums of per-event contributions.

    Subclasses name their ``measures`` and indexed ``dimensions`` and map an event to
    ``(group keys, values)`` in :meth:`contribution`; apply, retract and report come for free.
    """

    name: ClassVar[str]
    groupings: ClassVar[tuple[str, ...]]
    dimensions: ClassVar[tuple[str, ...]]
    """Dimensions kept in the index (``groupings`` may add derived ones)."""
    measures: ClassVar[tuple[str, ...]]
    """Integer figures, in column order."""

    def __init__(self) -> None:
        self.index = PartitionedIndex(self.dimensions, self.measures)

    def contribution(
        self, event: CorrectableEvent
    ) -> tuple[Mapping[str, str | Iterable[str]], tuple[int, ...]] | None:
        """Group keys and values an event adds, or None when it does not count here."""
        raise NotImplementedError

    def derived(self, query: Query) -> Mapping[str, tuple[str, Callable[[str], str]]]:
        """Groupings resolved at query time from an indexed dimension (none by default)."""
        return {}

    def apply(self, fact: Fact) -> None:
        """Add the fact's contribution to the index."""
        found = self.contribution(fact.event)
        if found is not None:
            self.index.add(fact.event.partnership_id, fact.event.occurred_on, *found)

    def retract(self, fact: Fact) -> None:
        """Subtract the fact's contribution from the index."""
        found = self.contribution(fact.event)
        if found is not None:
            self.index.remove(fact.event.partnership_id, fact.event.occurred_on, *found)

    def report(self, query: Query) -> Table:
        """Totals over the query window, one row per group then a total row."""
        return self.index.table(self.name, query, self.derived(query))

    def explain_fact(self, query: Query, group: str, fact: Fact) -> Mapping[str, int] | None:
        """The fact's contribution when it is dated in the window and falls in row ``group``."""
        event = fact.event
        found = self.contribution(event)
        if found is None:
            return None
        if query.partnership_id is not None and event.partnership_id != query.partnership_id:
            return None
        start, end = query.window
        kind = query.period_kind
        if kind is not None and group != "total":
            chosen = parse_period(group)
            start = chosen.start if start is None else max(start, chosen.start)
            end = min(end, chosen.end)
        if event.occurred_on > end or (start is not None and event.occurred_on < start):
            return None
        keys, values = found
        if group != "total" and kind is None:
            by = query.by
            derived = self.derived(query)
            if by is None:
                return None
            if by in derived:
                base, key = derived[by]
                value = keys[base]
                if not (isinstance(value, str) and key(value) == group):
                    return None
            else:
                value = keys[by]
                if not (value == group if isinstance(value, str) else group in value):
                    return None
        return dict(zip(self.measures, values, strict=True))


# --------------------------------------------------------------------------- runner

ProjectionFactory = Callable[[], Projection]


class ProjectionSet:
    """Keeps a set of projections up to date with the log, turning corrections into
    retract/apply pairs. ``load`` reads back the record at a position (to find the content a
    correction replaces); the set keeps only positions in memory, not events.

    A projection that reads another one (the funding gap reads the staff-time cost) defines
    ``attach(siblings)``: the set calls it with a read-only mapping of all its projections after
    creating or restoring them, so the work is done once, by the sibling the set feeds anyway.

    A set restored from :meth:`snapshot` bytes unpickles each projection (and the map of facts in
    force) only when it is first needed: answering one report from a checkpoint loads that
    projection alone (see *cold start* in docs/performance.md).
    """

    def __init__(self, factories: Mapping[str, ProjectionFactory],
                 load: Callable[[int], Recorded]) -> None:
        self._load = load
        self._names: tuple[str, ...] = tuple(factories)
        self._loaded: dict[str, Projection] = {n: f() for n, f in factories.items()}
        self._frozen: dict[str, bytes] = {}
        """Pickled projections of a restored set, not needed yet (name -> :func:`_pack`)."""
        self._all: tuple[Projection, ...] | None = None
        self._dispatch: dict[type, tuple[Projection, ...]] = {}
        self._current_map: dict[str, dict[str, int]] | None = {}
        """partnership_id -> event_id -> position of the fact in force (nested, not keyed by
        pairs: a tuple per fact would be a fifth of a 1M-event replay's memory)."""
        self._current_frozen: bytes | None = None
        self.position = 0
        """Notification id of the last record processed."""
        self.latest: dt.datetime | None = None
        """Latest recorded time among the records processed (None: none yet). A set holding
        every record up to :attr:`position` serves any ``known_at`` at or after it."""
        for name in self._names:
            self._attach(self._loaded[name])

    # -- access

    @property
    def names(self) -> tuple[str, ...]:
        """Names of the projections in the set (without loading any)."""
        return self._names

    @property
    def projections(self) -> dict[str, Projection]:
        """Every projection by name (loading those a restored set has not needed yet)."""
        return {name: self._get(name) for name in self._names}

    def __getitem__(self, name: str) -> Projection:
        if name not in self._names:
            msg = f"no projection named {name!r}; registered: {', '.join(sorted(self._names))}"
            raise UnknownProjection(msg)
        return self._get(name)

    def _get(self, name: str) -> Projection:
        found = self._loaded.get(name)
        if found is not None:
            return found
        data = self._frozen.pop(name)
        try:
            projection: Projection = _unpack(data)
        except Exception as e:  # unpickling can raise anything
            self._frozen[name] = data
            msg = (f"projection {name!r} of the checkpoint at position {self.position} cannot be "
                   f"read ({e}); call Ledger.rebuild() to replay the log")
            raise ValueError(msg) from e
        self._loaded[name] = projection
        self._attach(projection)
        return projection

    def _attach(self, projection: Projection) -> None:
        attach = getattr(projection, "attach", None)
        if attach is not None:
            attach(_Siblings(self))

    def _every(self) -> tuple[Projection, ...]:
        if self._all is None:
            self._all = tuple(self._get(name) for name in self._names)
        return self._all

    def _for(self, kind: type) -> tuple[Projection, ...]:
        """The projections offered facts of class ``kind`` (see :func:`handled_types`)."""
        found = self._dispatch.get(kind)
        if found is None:
            found = self._dispatch[kind] = tuple(
                p for p in self._every()
                if (handles := handled_types(p)) is None or issubclass(kind, handles))
        return found

    @property
    def _current(self) -> dict[str, dict[str, int]]:
        if self._current_map is None:
            assert self._current_frozen is not None
            self._current_map = _unpack(self._current_frozen)
            self._current_frozen = None
        return self._current_map

    def fact_at(self, position: int) -> Fact:
        """The fact whose content in force was stored at ``position``."""
        recorded = self._load(position)
        event = recorded.event
        if isinstance(event, EventCorrected):
            return Fact(position, recorded.recorded_at, event.replacement)
        assert not isinstance(event, EventRetracted)
        return Fact(position, recorded.recorded_at, event)

    # -- updates

    def process(self, position: int, recorded: Recorded) -> None:
        """Apply one stored record (in log order)."""
        event = recorded.event
        current = self._current
        in_force = current.get(event.partnership_id)
        if in_force is None:
            in_force = current[event.partnership_id] = {}
        if isinstance(event, EventRetracted | EventCorrected):
            key = event.target_event_id
            old = self.fact_at(in_force[key])
            for p in self._for(type(old.event)):
                p.retract(old)
            if isinstance(event, EventRetracted):
                del in_force[key]
            else:
                fact = Fact(position, recorded.recorded_at, event.replacement)
                in_force[key] = position
                for p in self._for(type(fact.event)):
                    p.apply(fact)
        else:
            in_force[event.event_id] = position
            fact = Fact(position, recorded.recorded_at, event)
            for p in self._for(type(event)):
                p.apply(fact)
        latest = self.latest
        if latest is None or recorded.recorded_at > latest:
            self.latest = recorded.recorded_at
        self.position = position

    def process_all(self, records: Iterable[tuple[int, Recorded]]) -> None:
        """Apply records in log order.

        The cyclic garbage collector is paused meanwhile: a replay creates millions of long-lived
        objects and no cycles, and each full collection would walk all of them (about half of a
        1M-event replay's time, measured in benchmarks/).
        """
        with paused_gc():
            for position, recorded in records:
                self.process(position, recorded)

    def contributing(self) -> Iterator[tuple[tuple[str, str], int]]:
        """(partnership_id, event_id) -> position of every fact in force, grouped by
        partnership."""
        for partnership_id, in_force in self._current.items():
            for event_id, position in in_force.items():
                yield (partnership_id, event_id), position

    # -- checkpoints

    def snapshot(self) -> bytes:
        """The whole state (every projection, the facts in force, the position) as bytes.

        Each projection is pickled on its own and zlib-compressed (see :func:`_pack`), so a
        restored set can load one without the others. Compression makes a snapshot about four
        times smaller; measured at 1M events, reading the four times larger blob from SQLite cost
        more than decompressing. Projections are arbitrary objects written against the protocol,
        so pickle is the one serialisation that fits them all (the standard ones keep their
        indexes in packed arrays, which pickle as byte strings). Restore only checkpoints from a
        store you trust as much as your code (they live in the same database as the events and
        are checked against :func:`projection_fingerprint` and the log before use).
        """
        parts: dict[str, bytes] = {}
        for name in self._names:
            frozen = self._frozen.get(name)
            if frozen is not None:  # never loaded since restored: unchanged
                parts[name] = frozen
                continue
            try:
                data = pickle.dumps(self._loaded[name], protocol=pickle.HIGHEST_PROTOCOL)
            except (pickle.PicklingError, TypeError, AttributeError) as e:
                msg = f"cannot checkpoint projection {name!r}: {e}"
                raise ValueError(msg) from e
            parts[name] = _pack(data)
        current = self._current_frozen
        if current is None:
            current = _pack(pickle.dumps(self._current_map, protocol=pickle.HIGHEST_PROTOCOL))
        return pickle.dumps((_STATE_FORMAT, self.position, self.latest, self._names, parts,
                             current), protocol=pickle.HIGHEST_PROTOCOL)

    @classmethod
    def restore(cls, data: bytes, load: Callable[[int], Recorded]) -> Self:
        """Rebuild a set from :meth:`snapshot` bytes; ``load`` as for the constructor.

        Only the header is read here; each projection is unpickled when first used.
        """
        # Our own checkpoint, checked against the fingerprint and the log by the caller.
        header = pickle.loads(data)
        if not (isinstance(header, tuple) and len(header) == 6 and header[0] == _STATE_FORMAT):
            fmt = header[0] if isinstance(header, tuple) and header else None
            msg = f"checkpoint state format {fmt!r} is not {_STATE_FORMAT}"
            raise ValueError(msg)
        _, position, latest, names, parts, current = header
        out = cls({}, load)
        out.latest = latest
        out._names = tuple(names)
        out._frozen = dict(parts)
        if set(out._frozen) != set(out._names):
            msg = "checkpoint state lists other projections than it holds"
            raise ValueError(msg)
        out._current_map = None
        out._current_frozen = current
        out.position = position
        return out


def _pack(pickled: bytes) -> bytes:
    """A part of a snapshot: ``z`` and the zlib'd pickle, or ``p`` and the pickle itself when
    compressing saves under a fifth (the part already holds compressed pieces, e.g. an index's
    dimensions, and inflating it again would be wasted)."""
    packed = zlib.compress(pickled, 1)
    if len(packed) < 0.8 * len(pickled):
        return b"z" + packed
    return b"p" + pickled


def _unpack(part: bytes) -> Any:
    """The object a :func:`_pack` part holds."""
    body = memoryview(part)[1:]
    if part[:1] == b"z":
        return pickle.loads(zlib.decompress(body))
    if part[:1] == b"p":
        return pickle.loads(body)
    msg = f"unknown snapshot part kind {part[:1]!r}"
    raise ValueError(msg)


class _Siblings(Mapping[str, Projection]):
    """The projections of a set, as ``attach`` sees them (loaded when looked up)."""

    def __init__(self, owner: ProjectionSet) -> None:
        self._owner = owner

    def __getitem__(self, name: str) -> Projection:
        if name not in self._owner.names:
            raise KeyError(name)
        return self._owner._get(name)

    def __iter__(self) -> Iterator[str]:
        return iter(self._owner.names)

    def __len__(self) -> int:
        return len(self._owner.names)


_STATE_FORMAT = 4


@cache
def _source_digest(top: str) -> str:
    """SHA-256 over every source file of a top-level package (or of a single module)."""
    h = hashlib.sha256()
    try:
        spec = importlib.util.find_spec(top)
    except (ImportError, ValueError):
        spec = None
    if spec is None:
        return "missing"
    files: list[Path] = []
    if spec.submodule_search_locations:
        for location in spec.submodule_search_locations:
            files.extend(sorted(Path(location).rglob("*.py")))
    elif spec.origin and spec.origin.endswith(".py"):
        files.append(Path(spec.origin))
    for path in files:
        h.update(path.name.encode() + b"\0")
        try:
            h.update(path.read_bytes())
        except OSError:
            h.update(b"unreadable")
    return h.hexdigest()


def projection_fingerprint(factories: Mapping[str, ProjectionFactory]) -> str:
    """Identifies a set of projections and the code that built their state.

    Covers each name and class, the source of the packages defining them and of ssp_ledger, and
    the Python version: a checkpoint made by other code is never restored (it is rebuilt).
    """
    h = hashlib.sha256(f"state-format {_STATE_FORMAT} python {sys.version_info[:2]}".encode())
    tops = {"ssp_ledger"}
    for name in sorted(factories):
        factory = factories[name]
        module = str(getattr(factory, "__module__", "") or "")
        qualname = str(getattr(factory, "__qualname__", "") or repr(factory))
        h.update(f"\0{name}={module}:{qualname}".encode())
        if module:
            tops.add(module.partition(".")[0])
    for top in sorted(tops):
        h.update(f"\0{top}:{_source_digest(top)}".encode())
    return h.hexdigest()


@contextmanager
def paused_gc() -> Iterator[None]:
    """Pause the cyclic garbage collector for a replay (restoring its previous state)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def load_projections() -> dict[str, ProjectionFactory]:
    """Projection classes registered under the ``ssp_ledger.projections`` entry-point group."""
    found: dict[str, ProjectionFactory] = {}
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        cls = ep.load()
        if not isinstance(getattr(cls, "name", None), str):
            msg = f"entry point {ep.name!r} ({ep.value}) is not a projection class"
            raise TypeError(msg)
        found[ep.name] = cls
    return found
