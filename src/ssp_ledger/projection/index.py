"""Grouped indexes: a :class:`~ssp_ledger.projection.series.Series` per group, and the
standard additive report built from them.

:class:`GroupedIndex` keeps a series for the total and one per value of each grouping dimension
(school, activity, ...), so a report by school sums each school's series over the query window.
:class:`PartitionedIndex` keeps one grouped index per partnership plus one total series over all
of them: a query about one partnership reads its index; a query over all of them reads the total
series and, for its group rows, one array per dimension of every group's prefix sums over all
partnerships (built on first use with numpy, then kept current), so its cost does not grow with
the number of partnerships. Their ``table`` method turns either into the standard
:class:`~ssp_ledger.projection.protocol.Table` (a row per group or period, then a total row).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Mapping, Sequence
from itertools import chain
from itertools import count as count_from
from typing import TYPE_CHECKING, Any, Protocol, TypeVar, cast

import msgspec

from ssp_ledger.periods import PeriodKind, periods_between
from ssp_ledger.projection.checkpoint import (
    GroupedIndexState,
    PartitionedIndexState,
    SeriesState,
    decode_state,
    encode_state,
    pack,
    shuffle,
    unpack,
    unshuffle,
)
from ssp_ledger.projection.protocol import Cell, Query, Table
from ssp_ledger.projection.series import Series, add_netted, add_summed

if TYPE_CHECKING:
    from ssp_ledger.projection.columnar import Ints

__all__ = ["GroupedIndex", "PartitionedIndex"]


def _series(state: SeriesState, width: int) -> Series:
    """:meth:`Series.load`, checking the series has the index's number of measures."""
    if state.width != width:
        msg = f"series state: width {state.width} where the index has {width} measures"
        raise ValueError(msg)
    return Series.load(state)


def _planes(state: SeriesState) -> SeriesState:
    """A series state as a dimension stores it: its integers as byte planes (:func:`shuffle`)."""
    return SeriesState(state.width, shuffle(state.keys, 4), state.itemsize,
                       shuffle(state.prefix, state.itemsize))


def _from_planes(state: SeriesState, width: int) -> Series:
    """:func:`_series` of a state :func:`_planes` made (an item size other than 4 or 8 is left
    for :meth:`Series.load` to refuse)."""
    itemsize = state.itemsize if state.itemsize in (4, 8) else 1
    return _series(SeriesState(state.width, unshuffle(state.keys, 4), state.itemsize,
                               unshuffle(state.prefix, itemsize)), width)


class GroupedIndex:
    """A :class:`Series` for the total and one per value of each grouping dimension."""

    def __init__(self, dimensions: Sequence[str], measures: Sequence[str]) -> None:
        self.dimensions = tuple(dimensions)
        self.measures = tuple(measures)
        self.total = Series(len(self.measures))
        self._series: dict[str, dict[str, Series]] = {d: {} for d in self.dimensions}
        self._raw: dict[str, memoryview] = {}
        """Dimensions of a loaded index no query has read yet (still compressed and encoded)."""

    def dump(self) -> GroupedIndexState:
        """The index as data: the total and, per dimension, the series of its groups encoded
        (their integers as byte planes, which compress better:
        :func:`~ssp_ledger.projection.checkpoint.shuffle`) and compressed on their own (so a
        query inflates only the dimension it reads).

        Canonical (see :meth:`Series.dump`); a dimension still undecoded since :meth:`load` is
        written back as it was read.
        """
        groups: dict[str, memoryview] = {}
        for dim in self.dimensions:
            raw = self._raw.get(dim)
            if raw is None:
                raw = memoryview(pack(encode_state(
                    {group: _planes(series.dump())
                     for group, series in self._series[dim].items()})))
            groups[dim] = raw
        return GroupedIndexState(list(self.dimensions), list(self.measures), self.total.dump(),
                                 groups)

    @classmethod
    def load(cls, state: GroupedIndexState) -> GroupedIndex:
        """The index :meth:`dump` described; ValueError when ``state`` is inconsistent.

        The total is loaded now; each dimension's series when a query first reads it (a report
        by school never inflates nor decodes the activities).
        """
        if len(set(state.dimensions)) != len(state.dimensions) or \
                set(state.groups) != set(state.dimensions):
            msg = (f"index state: dimensions {state.dimensions} do not match its groups "
                   f"{sorted(state.groups)}")
            raise ValueError(msg)
        out = cls(state.dimensions, state.measures)
        out.total = _series(state.total, len(out.measures))
        out._series = {}
        out._raw = dict(state.groups)
        return out

    def _dimension(self, dim: str) -> dict[str, Series]:
        found = self._series.get(dim)
        if found is None:
            raw = self._raw.get(dim)
            if raw is None:
                raise KeyError(dim)
            width = len(self.measures)
            try:
                states = decode_state(unpack(raw), dict[str, SeriesState])
                found = {group: _from_planes(state, width) for group, state in states.items()}
            except ValueError as e:
                msg = f"index state of dimension {dim!r}: {e}"
                raise ValueError(msg) from None
            self._series[dim] = found
            del self._raw[dim]
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
        if self._raw:
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

    def series_for(self, dimension: str, group: str) -> Series:
        """The series of one group of ``dimension``, made empty when the group has none yet (as
        :meth:`add` makes it: a group once added to keeps its series)."""
        if self._raw:
            self._thaw()
        of_dim = self._series[dimension]
        series = of_dim.get(group)
        if series is None:
            series = of_dim[group] = Series(len(self.measures))
        return series

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

    def group_rows(self, dimension: str, start: dt.date | None, end: dt.date
                   ) -> list[tuple[Cell, ...]]:
        """:meth:`groups` as report rows ``(label, *sums)``, sorted by label."""
        return _rows_of(self.groups(dimension, start, end))

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

    def group_rows(self, dimension: str, start: dt.date | None, end: dt.date
                   ) -> list[tuple[Cell, ...]]: ...


def _rows_of(groups: Mapping[str, tuple[int, ...]]) -> list[tuple[Cell, ...]]:
    return [(label, *groups[label]) for label in sorted(groups)]


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
            rows = _rows_of(grouped)
        else:
            query.check_grouping(name, (*index.dimensions, *derived))
            rows = index.group_rows(query.by, start, end)
    else:
        rows = []
    return Table.answer(name, query, (query.by or "group", *index.measures), rows,
                        total=("total", *index.between(start, end)))


_L = TypeVar("_L")


def _numbered(labels: Sequence[_L]) -> dict[_L, int]:
    """The index of each of ``labels`` (distinct) in the sequence."""
    return {label: i for i, label in enumerate(labels)}


def _plain_groups(column: Sequence[object]) -> list[str] | None:
    """The distinct groups of a column naming one group (a ``str``) per row, in
    first-appearance order; None when a row names several (or none)."""
    try:
        groups = list(dict.fromkeys(column))
    except TypeError:  # an unhashable collection of groups
        return None
    if all(type(group) is str for group in groups):
        return cast("list[str]", groups)
    return None


def _summed_groups(parts: Iterable[GroupedIndex], dimension: str, start: dt.date | None,
                   end: dt.date) -> dict[str, tuple[int, ...]]:
    """Group sums of several indexes added up label by label, omitting all-zero groups: one
    bisection per index and group (the reference :class:`_Across` is tested against)."""
    out: dict[str, tuple[int, ...]] = {}
    for part in parts:
        for label, sums in part.groups(dimension, start, end).items():
            _add_into(out, label, sums)
    return {label: sums for label, sums in out.items() if any(sums)}


_DAY_BITS = 22
"""Bits of a day ordinal in a key ``group << 22 | day`` (``date.max`` is below ``2 ** 22``)."""
_SAFE = 1 << 62
"""Sums whose bound stays under this are kept as 8-byte integers, else as Python ones."""


class _Across:
    """Every partnership's groups of one dimension as one array of per-group prefix sums.

    Rows are keyed ``group << 22 | day`` (groups numbered in label order) and hold the sums of
    the group over every partnership through that day, so every group's sums up to a day are one
    ``searchsorted`` of all the groups' keys at once, and a query over all partnerships costs a
    few array operations plus building its rows, whatever the number of partnerships.

    Built from the partnerships' series (:meth:`Series.dump`, their public form) on the first
    grouped query over all partnerships; additions made after it go to an *overlay* (a series
    per touched group) that queries add on top, until the overlay outgrows an eighth of the
    rows and the structure is dropped, to be built again by the next query (amortised O(log n)
    per addition). A cache: never part of a checkpoint.
    """

    def __init__(self, parts: Iterable[GroupedIndex], dimension: str, width: int) -> None:
        import numpy as np  # on first use: importing ssp_ledger stays light

        self.width = width
        by_label: dict[str, list[Series]] = {}
        for part in parts:
            for label, series in part._dimension(dimension).items():
                by_label.setdefault(label, []).append(series)
        self.labels = sorted(by_label)
        keys: list[np.ndarray] = []
        steps: list[np.ndarray] = []
        bound = 0
        for g, label in enumerate(self.labels):
            for series in by_label[label]:
                state = series.dump()
                if not state.keys:
                    continue
                days = np.frombuffer(state.keys, dtype="<i4").astype(np.int64)
                prefix = np.frombuffer(state.prefix, dtype="<i4" if state.itemsize == 4
                                       else "<i8").astype(np.int64).reshape(-1, width)
                bound += max(int(prefix.max()), -int(prefix.min()))
                keys.append((g << _DAY_BITS) | days)
                steps.append(np.diff(prefix, axis=0))
        dtype: type = np.int64 if 2 * bound < _SAFE else object
        self.dtype = dtype
        if keys:
            flat = np.concatenate(keys)
            order = np.argsort(flat, kind="stable")
            flat = flat[order]
            running: np.ndarray = np.cumsum(np.concatenate(steps).astype(dtype)[order], axis=0)
            first = np.searchsorted(flat, np.arange(len(self.labels), dtype=np.int64)
                                    << _DAY_BITS)
            before: np.ndarray = np.zeros((len(self.labels), width), dtype=dtype)
            has = first > 0
            before[has] = running[first[has] - 1]
            running = running - before[flat >> _DAY_BITS]  # sums within each group
            last = np.ones(len(flat), dtype=bool)  # one row per (group, day): the last one
            last[:-1] = flat[1:] != flat[:-1]
            flat, running = flat[last], running[last]
        else:
            flat = np.zeros(0, dtype=np.int64)
            running = np.zeros((0, width), dtype=dtype)
        self.keys = flat
        """Keys ``group << 22 | day``, ascending."""
        self.values = np.concatenate([np.zeros((1, width), dtype=dtype), running])
        """Row ``k + 1``: the sums of key ``k``'s group through its day; row 0 is zeros."""
        self.starts = np.searchsorted(flat, np.arange(len(self.labels), dtype=np.int64)
                                      << _DAY_BITS)
        """Index of each group's first key."""
        self.overlay: dict[str, Series] = {}
        """Additions since the build, by group."""
        self.pending = 0

    def add(self, ordinal: int, groups: str | Iterable[str], values: tuple[int, ...]) -> None:
        """Record an addition made after the build."""
        for group in (groups,) if isinstance(groups, str) else groups:
            series = self.overlay.get(group)
            if series is None:
                series = self.overlay[group] = Series(self.width)
            series.add_ordinal(ordinal, values)
            self.pending += 1

    def stale(self) -> bool:
        """Whether the overlay has outgrown the structure (time to build again)."""
        return self.pending > max(1024, len(self.keys) // 8)

    def _upto(self, ordinals: list[int]) -> Any:
        import numpy as np

        groups = np.arange(len(self.labels), dtype=np.int64) << _DAY_BITS
        wanted = groups[None, :] | np.asarray(ordinals, dtype=np.int64)[:, None]
        k = np.searchsorted(self.keys, wanted, side="right")
        return self.values[np.where(k > self.starts, k, 0)]

    def _between(self, start: dt.date | None, end: dt.date) -> tuple[list[str], Any]:
        """(labels, sums ``[group, measure]``) of the groups with a non-zero sum over
        ``[start, end]`` in the structure (the overlay left out), labels sorted."""
        import numpy as np

        if start is None:
            sums = self._upto([end.toordinal()])[0]
        else:
            both = self._upto([end.toordinal(), start.toordinal() - 1])
            sums = both[0] - both[1]
        kept = np.flatnonzero(np.any(sums != 0, axis=1)).tolist()
        labels = self.labels
        return [labels[i] for i in kept], sums[kept]

    def groups(self, start: dt.date | None, end: dt.date) -> dict[str, tuple[int, ...]]:
        """Sums per group over ``[start, end]``, omitting all-zero groups."""
        if start is not None and start > end:
            return {}
        labels, sums = self._between(start, end)
        out = dict(zip(labels, map(tuple, sums.tolist()), strict=True))
        if self.overlay:
            for label, series in self.overlay.items():
                more = series.between(start, end)
                if any(more):
                    _add_into(out, label, more)
            out = {label: row for label, row in out.items() if any(row)}
        return out

    def rows(self, start: dt.date | None, end: dt.date) -> list[tuple[Cell, ...]]:
        """:meth:`groups` as report rows ``(label, *sums)`` sorted by label, a column at a
        time (no Python object per group before the row itself)."""
        if self.overlay or (start is not None and start > end):
            return _rows_of(self.groups(start, end))
        labels, sums = self._between(start, end)
        return list(zip(labels, *sums.T.tolist(), strict=True))


Known = Callable[[str, dt.date | None, dt.date], dict[str, tuple[int, ...]] | None]
"""Every group's sums of a dimension over ``[start, end]`` across every partnership, omitting
all-zero groups (what :meth:`PartitionedIndex.groups` gives), when known without the index;
else None."""


class _Union:
    """All partnerships read as one index: the total from the all-partnerships series, the
    groups from :meth:`PartitionedIndex.groups`."""

    def __init__(self, index: PartitionedIndex, known: Known | None = None) -> None:
        self.dimensions = index.dimensions
        self.measures = index.measures
        self._index = index
        self._known = known

    def between(self, start: dt.date | None, end: dt.date) -> tuple[int, ...]:
        return self._index.total.between(start, end)

    def first_day(self) -> dt.date | None:
        return self._index.total.first_day()

    def groups(self, dimension: str, start: dt.date | None, end: dt.date
               ) -> dict[str, tuple[int, ...]]:
        found = None if self._known is None else self._known(dimension, start, end)
        return self._index.groups(dimension, start, end) if found is None else found

    def group_rows(self, dimension: str, start: dt.date | None, end: dt.date
                   ) -> list[tuple[Cell, ...]]:
        found = None if self._known is None else self._known(dimension, start, end)
        return self._index.group_rows(dimension, start, end) if found is None else _rows_of(
            found)


class PartitionedIndex:
    """One :class:`GroupedIndex` per partnership plus one total series over all of them.

    A query over all partnerships takes its total (and period rows) from that series, O(log n),
    and its group rows from one array per dimension holding every group's prefix sums over all
    partnerships (:class:`_Across`), built by the first such query and kept up to date by an
    overlay: a report by school is one vectorised look-up of every school plus building its
    rows. A replay that no such query interrupts indexes nothing twice. A dimension with fewer
    than :attr:`across_from` series over all partnerships (every dimension of a national
    history: 10,800 schools at 10M events) is summed partnership by partnership on its first
    such query (a few milliseconds to tens of them: less than importing numpy and building the
    array, which a one-off report from a checkpoint then never does; resources by link at 1M,
    5,115 series, costs a cold report 0.43 s summed and 0.55 s through a first build); asked
    again, it builds
    the array when it has :attr:`across_again_from` series or more, so a process answering many
    queries (a service, a notebook) pays the build once and then answers in about a millisecond.
    """

    across_from: int = 65_536
    """Series of a dimension (over every partnership) from which its group sums are read from
    one array (:class:`_Across`) rather than summed per partnership (an instance may set its
    own, e.g. a test exercising the array with a few series)."""
    across_again_from: int = 256
    """The same threshold from a dimension's second query over all partnerships on."""

    def __init__(self, dimensions: Sequence[str], measures: Sequence[str]) -> None:
        self.dimensions = tuple(dimensions)
        self.measures = tuple(measures)
        self.total = Series(len(self.measures))
        """Sums over every partnership."""
        self._parts: dict[str, GroupedIndex] = {}
        self._across: dict[str, _Across] = {}
        """Per dimension, every partnership's groups in one structure (built by queries)."""
        self._asked: set[str] = set()
        """Dimensions asked for over every partnership at least once."""

    def _part(self, partnership_id: str) -> GroupedIndex:
        """The partnership's index, made empty on its first fact."""
        part = self._parts.get(partnership_id)
        if part is None:
            part = self._parts[partnership_id] = GroupedIndex(self.dimensions, self.measures)
        return part

    def add(self, partnership_id: str, day: dt.date, keys: Mapping[str, str | Iterable[str]],
            values: tuple[int, ...]) -> None:
        """Add to the partnership's index and to the total."""
        ordinal = day.toordinal()
        self.total.add_ordinal(ordinal, values)
        self._part(partnership_id).add(day, keys, values)
        if self._across:
            for dim, across in list(self._across.items()):
                across.add(ordinal, keys[dim], values)
                if across.stale():
                    del self._across[dim]

    def groups(self, dimension: str, start: dt.date | None, end: dt.date
               ) -> dict[str, tuple[int, ...]]:
        """Sums per group of ``dimension`` over ``[start, end]`` across every partnership,
        omitting all-zero groups: one vectorised look-up of every group (see
        :class:`_Across`)."""
        if dimension not in self.dimensions:
            raise KeyError(dimension)
        if not self._uses_across(dimension):
            return _summed_groups(self._parts.values(), dimension, start, end)
        return self._across_of(dimension).groups(start, end)

    def group_rows(self, dimension: str, start: dt.date | None, end: dt.date
                   ) -> list[tuple[Cell, ...]]:
        """:meth:`groups` as report rows ``(label, *sums)``, sorted by label."""
        if dimension not in self.dimensions:
            raise KeyError(dimension)
        if not self._uses_across(dimension):
            return _rows_of(_summed_groups(self._parts.values(), dimension, start, end))
        return self._across_of(dimension).rows(start, end)

    def _uses_across(self, dimension: str) -> bool:
        """Whether ``dimension`` is read from its :class:`_Across` (built, or worth building)."""
        if not self.measures:
            return False
        if dimension in self._across:
            return True
        series = sum(len(part._dimension(dimension)) for part in self._parts.values())
        if dimension in self._asked:
            return series >= min(self.across_from, self.across_again_from)
        self._asked.add(dimension)
        return series >= self.across_from

    def _across_of(self, dimension: str) -> _Across:
        across = self._across.get(dimension)
        if across is None:
            across = self._across[dimension] = _Across(
                (self._parts[p] for p in sorted(self._parts)), dimension, len(self.measures))
        return across

    def summed_groups(self, dimension: str, start: dt.date | None, end: dt.date
                      ) -> dict[str, tuple[int, ...]]:
        """:meth:`groups` the slow way: each partnership's groups added up (the reference)."""
        return _summed_groups(self._parts.values(), dimension, start, end)

    def remove(self, partnership_id: str, day: dt.date,
               keys: Mapping[str, str | Iterable[str]], values: tuple[int, ...]) -> None:
        """Undo an :meth:`add` with the same arguments."""
        self.add(partnership_id, day, keys, tuple(-v for v in values))

    def add_keyed(self, keyed: Sequence[tuple[Any, ...]], ordinals: Sequence[int] | Ints,
                  values: Ints) -> None:
        """:meth:`add_columns` with each row's keys as one tuple, ``(partnership_id, group of
        each dimension in order)``, ``ordinals`` a sequence or an int64 array and ``values``
        an ``(n, measures)`` int64 array.

        Rows naming one group (a ``str``) per dimension, the common case, are coded once per
        distinct tuple: each dimension's series codes are then one array look-up, not a pass
        over the rows. Each dimension's rows are netted per (series, day)
        (:func:`~ssp_ledger.projection.columnar.net`); a partnership's total is then netted
        from the dimension that left the fewest rows (every row names one group of each
        dimension, so its groups' rows sum to the partnership's), and the whole index's total
        from the partnerships' (a fraction of the sorting that netting every level from the
        rows would cost). Anything else goes through :meth:`add_columns`. The index is the
        same either way.
        """
        count = len(keyed)
        if count == 0:
            return
        from ssp_ledger.projection import columnar  # numpy, on first use

        np = columnar.np
        # One hash per row: each row's tuple is looked up once, giving the row where it first
        # appears (setdefault of a running count), then numbered in first-appearance order.
        first: dict[tuple[Any, ...], int] = {}
        found = np.fromiter(map(first.setdefault, keyed, count_from()), dtype=np.int64,
                            count=count)
        distinct = list(first)
        columns = list(zip(*distinct, strict=True))  # the distinct tuples' columns
        if (len(columns) != 1 + len(self.dimensions)
                or not {str}.issuperset(map(type, chain.from_iterable(columns)))
                or not columnar.small(values)):
            columns = list(zip(*keyed, strict=True))
            self.add_columns(columns[0], ordinals,
                             dict(zip(self.dimensions, columns[1:], strict=True)), values)
            return
        self._across.clear()  # as add_columns does
        number = np.empty(count, dtype=np.int64)
        number[np.fromiter(first.values(), dtype=np.int64, count=len(distinct))] = np.arange(
            len(distinct), dtype=np.int64)
        key_codes = number[found]
        days = np.asarray(ordinals, dtype=np.int64)
        ids = list(dict.fromkeys(columns[0]))  # first appearance, as add makes them
        parts = [self._part(pid) for pid in ids]
        part_of_key = np.fromiter(map(_numbered(ids).__getitem__, columns[0]), dtype=np.int64,
                                  count=len(distinct))
        # The partnerships' rows: from the coarsest dimension's netted rows (or the rows).
        fewest = (part_of_key[key_codes], days, values)
        for dim, column in zip(self.dimensions, columns[1:], strict=True):
            groups = list(dict.fromkeys(column))
            width = len(groups)
            series_of_key = part_of_key * width + np.fromiter(
                map(_numbered(groups).__getitem__, column), dtype=np.int64, count=len(distinct))
            netted = columnar.net(series_of_key[key_codes], days, values)

            def series_of(code: int, dim: str = dim, groups: list[str] = groups,
                          width: int = width) -> Series:
                part_code, group_code = divmod(code, width)
                return parts[part_code].series_for(dim, groups[group_code])

            add_summed(series_of, *netted)
            if len(netted[0]) < len(fewest[0]):
                fewest = (netted[0] // width, netted[1], netted[2])
        part_codes, part_days, part_sums = columnar.net(*fewest)
        add_summed(lambda code: parts[code].total, part_codes, part_days, part_sums)
        self.total.add_many(*columnar.by_day(part_days, part_sums))

    def add_columns(self, partnership_ids: Sequence[str], ordinals: Sequence[int] | Ints,
                    keys: Mapping[str, Sequence[str | Iterable[str]]],
                    values: Sequence[Sequence[int]] | Ints) -> None:
        """A batch of :meth:`add` calls given as columns: row ``i`` adds ``values[i]`` for
        partnership ``partnership_ids[i]`` on day ``ordinals[i]`` (``date.toordinal()``) to
        the group(s) ``keys[dimension][i]`` of each dimension (negated values remove);
        ``values`` may be an ``(n, measures)`` int64 array.

        The index then equals one given the rows one by one (sums do not depend on order, and
        every group named gets its series, as :meth:`add` makes them), but the rows are netted
        per series and day in compiled code (:mod:`~ssp_ledger.projection.columnar`), so a
        replay appends a few rows per series and batch instead of one per fact and series.
        Structures built for queries over all partnerships are dropped (rebuilt on next use).
        """
        count = len(partnership_ids)
        if count == 0:
            return
        # The all-partnerships structures (_Across) are dropped, not overlaid row by row: the
        # next grouped query over all partnerships builds them again, once per batch at most.
        self._across.clear()
        from ssp_ledger.projection import columnar  # numpy, on first use

        rows = columnar.int_matrix(values, len(self.measures))
        if rows is None or not columnar.small(rows):
            for i in range(count):  # values too large for 64-bit sums: Python integers
                self.add(partnership_ids[i], dt.date.fromordinal(ordinals[i]),
                         {d: keys[d][i] for d in self.dimensions},
                         tuple(int(v) for v in values[i]))
            return
        np = columnar.np
        days = np.array(ordinals, dtype=np.int64)
        self.total.add_many(*columnar.by_day(days, rows))
        ids = list(dict.fromkeys(partnership_ids))  # first-appearance order, as add makes them
        codes = np.fromiter(map(_numbered(ids).__getitem__, partnership_ids),
                            dtype=np.int64, count=count)
        parts = [self._part(pid) for pid in ids]
        add_netted(lambda code: parts[code].total, codes, days, rows)
        for dim in self.dimensions:
            column = keys[dim]
            labels: Sequence[str]
            taken: Ints | None = None  # rows of the labels, when a row names several groups
            groups = _plain_groups(column)
            if groups is not None:  # one group per row (the common case)
                labels = cast("Sequence[str]", column)
            else:
                chosen: list[int] = []
                named: list[str] = []
                for i, found in enumerate(column):
                    for group in (found,) if isinstance(found, str) else found:
                        chosen.append(i)
                        named.append(group)
                taken = np.array(chosen, dtype=np.int64)
                labels = named
                groups = list(dict.fromkeys(labels))
            width = len(groups)
            series_codes = np.fromiter(
                map(_numbered(groups).__getitem__, labels), dtype=np.int64,
                count=len(labels))
            if taken is None:
                series_codes += codes * width
                found_days, found_rows = days, rows
            else:
                series_codes += codes[taken] * width
                found_days, found_rows = days[taken], rows[taken]

            def series_of(code: int, dim: str = dim, groups: list[str] = groups,
                          width: int = width) -> Series:
                part_code, group_code = divmod(code, width)
                return parts[part_code].series_for(dim, groups[group_code])

            add_netted(series_of, series_codes, found_days, found_rows)

    def dump(self) -> PartitionedIndexState:
        """The index as data (canonical: see :meth:`GroupedIndex.dump`)."""
        return PartitionedIndexState(list(self.dimensions), list(self.measures),
                                     self.total.dump(),
                                     {pid: part.dump() for pid, part in self._parts.items()})

    @classmethod
    def load(cls, state: PartitionedIndexState) -> PartitionedIndex:
        """The index :meth:`dump` described; ValueError when ``state`` is inconsistent."""
        out = cls(state.dimensions, state.measures)
        out.total = _series(state.total, len(out.measures))
        for pid, part in state.parts.items():
            if part.dimensions != state.dimensions or part.measures != state.measures:
                msg = (f"index state of partnership {pid!r}: dimensions {part.dimensions} and "
                       f"measures {part.measures} differ from the whole index's")
                raise ValueError(msg)
            out._parts[pid] = GroupedIndex.load(part)
        return out

    def partnerships(self) -> list[str]:
        """Ids of the partnerships with an index, sorted."""
        return sorted(self._parts)

    def table(self, name: str, query: Query,
              derived: Mapping[str, tuple[str, Callable[[str], str]]] | None = None,
              known: Known | None = None) -> Table:
        """:meth:`GroupedIndex.table` for one partnership (``query.partnership_id``) or, summed,
        for all of them (their groups from ``known`` where it gives them: a projection's
        sums kept beside the index)."""
        index: _Sums
        if query.partnership_id is None:
            index = _Union(self, known)
        else:
            index = (self._parts.get(query.partnership_id)
                     or GroupedIndex(self.dimensions, self.measures))
        return _table(index, name, query, derived)


def every_group_between(index: PartitionedIndex, dimension: str, measure: int,
                        ranges: Sequence[tuple[dt.date | None, dt.date]]
                        ) -> tuple[list[tuple[str, str]], list[list[int]]]:
    """One measure of every (partnership, group) of ``dimension`` over each of ``ranges``:
    ``(labels, sums)`` with ``sums[r][i]`` the measure (column ``measure``) of group
    ``labels[i]`` over ``ranges[r]`` (``(start, end)``, start None: from the first day), as
    ``index._parts[pid].groups(dimension, start, end)`` gives it (zero where that omits the
    group). Labels are sorted.

    What a report needing one figure of every school of every partnership reads (the survey's
    attendances per pupil on roll), without making a :class:`Series` per group: partnership by
    partnership (so one partnership's bytes are held at a time), its dimension is inflated and
    decoded without copying (or, once a query decoded it, its series dumped), every group's
    day ordinals are put in one array keyed ``group << 22 | day`` and every range bound is one
    ``searchsorted`` of them, the prefix sums read straight from their byte planes
    (:func:`shuffle`). A dimension still encoded stays so (nothing is cached). The states are
    checked as :meth:`Series.load` checks them (lengths, item sizes, ascending days, a zero
    first row): ValueError otherwise.
    """
    bounds = range_bounds(ranges)
    labels, sums, _ = every_group_upto(index, dimension, [measure], bounds)
    at = dict(zip(bounds, sums[:, 0, :].tolist(), strict=True))
    return labels, ranges_from(ranges, len(labels), at.__getitem__)


_LAST_BOUND = (1 << _DAY_BITS) - 1


def range_bounds(ranges: Sequence[tuple[dt.date | None, dt.date]]) -> list[int]:
    """The day ordinals the sums of ``ranges`` are read through (:func:`ranges_from`): each
    end (clipped to the last day an index keys) and the day before each start, sorted."""
    return sorted({min(end.toordinal(), _LAST_BOUND) for _, end in ranges}
                  | {max(start.toordinal() - 1, 0) for start, _ in ranges if start is not None})


def ranges_from(ranges: Sequence[tuple[dt.date | None, dt.date]], count: int,
                upto: Callable[[int], Sequence[int]]) -> list[list[int]]:
    """The sums of ``count`` groups over each of ``ranges``, from ``upto(bound)``: their sums
    through each of :func:`range_bounds` (high minus low; zero where a range is empty)."""
    out: list[list[int]] = []
    for start, end in ranges:
        if start is not None and start > end:
            out.append([0] * count)
            continue
        high = upto(min(end.toordinal(), _LAST_BOUND))
        if start is None:
            out.append(list(high))
        else:
            low = upto(max(start.toordinal() - 1, 0))
            out.append([a - b for a, b in zip(high, low, strict=True)])
    return out


def every_group_upto(index: PartitionedIndex, dimension: str, measures: Sequence[int],
                     bounds: Sequence[int]) -> tuple[
                         list[tuple[str, str]], Any, tuple[int, int] | None]:
    """Measures ``measures`` of every (partnership, group) of ``dimension`` summed through each
    day ordinal of ``bounds`` (ascending, unique): ``(labels, sums, span)``, ``sums`` an int64
    array ``[bound, measure, group]`` over ``labels`` (sorted), ``span`` the first and last day
    any of those series keys (None: none). See :func:`every_group_between`."""
    import numpy as np  # on first use: importing ssp_ledger stays light

    width = len(index.measures)
    if not all(0 <= m < width for m in measures):
        msg = f"measures {list(measures)} of an index of {width} measures"
        raise ValueError(msg)
    labels: list[tuple[str, str]] = []
    found: list[Any] = []  # per partnership: the sums through each bound, [bound, m, group]
    lo, hi = _LAST_BOUND + 1, -1
    for pid in sorted(index._parts):
        states = sorted(_plane_states(index._parts[pid], dimension).items())
        labels += [(pid, group) for group, _ in states]
        if states:
            sums, first, last = _upto_bounds([state for _, state in states], width, measures,
                                             bounds, dimension)
            lo, hi = min(lo, first), max(hi, last)
            found.append(sums)
    sums = (np.concatenate(found, axis=2) if found
            else np.zeros((len(bounds), len(measures), 0), dtype=np.int64))
    return labels, sums, (lo, hi) if hi >= 0 else None


class _Planes(msgspec.Struct, frozen=True, array_like=True):
    """A :class:`SeriesState` as a dimension stores it, its byte strings read in place."""

    width: int
    keys: memoryview
    itemsize: int
    prefix: memoryview


def _plane_states(part: GroupedIndex, dimension: str) -> dict[str, _Planes]:
    """The series of one dimension of ``part`` as their states with byte planes (as a
    checkpoint keeps them), decoded from the checkpoint's bytes without caching them when no
    query has decoded them yet."""
    raw = part._raw.get(dimension)
    if raw is None:
        out: dict[str, _Planes] = {}
        for group, series in part._dimension(dimension).items():
            state = _planes(series.dump())
            out[group] = _Planes(state.width, memoryview(state.keys), state.itemsize,
                                 memoryview(state.prefix))
        return out
    try:
        return decode_state(unpack(raw), dict[str, _Planes])
    except ValueError as e:
        msg = f"index state of dimension {dimension!r}: {e}"
        raise ValueError(msg) from None


def _upto_bounds(planes: Sequence[_Planes], width: int, measures: Sequence[int],
                 bounds: Sequence[int], dimension: str) -> tuple[Any, int, int]:
    """Measures ``measures`` of each series summed through each day ordinal of ``bounds``: an
    int64 array ``[bound, measure, series]`` (sums as stored, 4 or 8 bytes), and the first and
    last day the series key (``_LAST_BOUND + 1`` and -1 when they key none); ValueError for a
    state :meth:`Series.load` would refuse."""
    import numpy as np

    for state in planes:
        if state.width != width or state.itemsize not in (4, 8) or len(state.keys) % 4 or \
                len(state.prefix) != (len(state.keys) // 4 + 1) * width * state.itemsize:
            msg = (f"index state of dimension {dimension!r}: a series of {len(state.keys)} "
                   f"bytes of days, {len(state.prefix)} of {state.itemsize}-byte sums and "
                   f"width {state.width} where the index has {width} measures")
            raise ValueError(msg)
    count = np.array([len(s.keys) // 4 for s in planes], dtype=np.int64)
    size = np.array([s.itemsize for s in planes], dtype=np.int64)
    series = np.arange(len(planes), dtype=np.int64)
    first = np.concatenate([[0], np.cumsum(count)[:-1]]).astype(np.int64)
    owner = np.repeat(series, count)
    # Days: the j-th byte plane of every series one after another, so byte j of every day is
    # one array (a series' plane j is bytes j * n..(j + 1) * n of its n days' keys).
    days = np.zeros(len(owner), dtype=np.int64)
    for j in range(4):
        plane = b"".join(s.keys[j * len(s.keys) // 4:(j + 1) * len(s.keys) // 4]
                         for s in planes)
        days |= np.frombuffer(plane, dtype=np.uint8).astype(np.int64) << (8 * j)
    days[days >= 1 << 31] -= 1 << 32
    if len(days) and (int(days.min()) < 0 or int(days.max()) >= 1 << _DAY_BITS):
        msg = f"index state of dimension {dimension!r}: a day ordinal out of range"
        raise ValueError(msg)
    keys = (owner << _DAY_BITS) | days
    if len(keys) > 1 and not bool(np.all(keys[1:] > keys[:-1])):
        msg = f"index state of dimension {dimension!r}: day ordinals are not strictly ascending"
        raise ValueError(msg)
    # Prefix sums: byte j of item t (row r, measure m: t = r * width + m) of series i lies at
    # start[i] + j * items[i] + t, items[i] = (count[i] + 1) * width.
    items = (count + 1) * width
    start = np.concatenate([[0], np.cumsum(items * size)[:-1]]).astype(np.int64)
    prefix = np.frombuffer(b"".join(s.prefix for s in planes), dtype=np.uint8)

    def item(rows: Any, column: Any) -> Any:
        """Item ``rows * width + column`` of every series (``rows``: an array whose last axis
        is the series; ``column`` a measure, or an array of them broadcast against ``rows``)
        as int64 (4-byte items sign-extended; 8-byte ones as stored)."""
        t = rows * width + column
        value = np.zeros(t.shape, dtype=np.uint64)
        for j in range(8):
            has = size > j
            at = np.where(has, start + j * items + t, 0)
            value |= np.where(has, prefix[at], 0).astype(np.uint64) << np.uint64(8 * j)
        out = value.view(np.int64).copy()
        out[((size == 4) & (out >= 1 << 31))] -= 1 << 32
        return out

    if width and bool(np.any(item(np.zeros((width, len(planes)), dtype=np.int64),
                                  np.arange(width, dtype=np.int64)[:, None]))):
        msg = f"index state of dimension {dimension!r}: a first row of sums is not zero"
        raise ValueError(msg)
    wanted = (series[None, :] << _DAY_BITS) | np.asarray(bounds, dtype=np.int64)[:, None]
    span = (int(days.min()), int(days.max())) if len(days) else (_LAST_BOUND + 1, -1)
    rows = np.searchsorted(keys, wanted, side="right") - first[None, :]
    return item(rows[:, None, :], np.asarray(measures, dtype=np.int64)[None, :, None]), *span
