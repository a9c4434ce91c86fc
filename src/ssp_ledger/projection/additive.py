"""The additive projection: figures that are sums of per-fact contributions.

Most reports are sums: sessions, attendances, people trained, pence of resources shared. A
subclass of :class:`AdditiveProjection` names its ``measures`` and indexed ``dimensions`` and
maps one event to ``(group keys, values)`` in ``contribution``; applying, retracting,
reporting (by any dimension or period, for one partnership or all) and explaining come from a
:class:`~ssp_ledger.projection.index.PartitionedIndex`. A whole projection fits in a dozen lines,
e.g.::

    class TrainedBySchool(AdditiveProjection):
        name = "trained_by_school"
        groupings = dimensions = ("school",)
        measures = ("courses", "people_trained")
        handles = (LeaderTrained,)  # the set offers it no other facts

        def contribution(self, event):
            if isinstance(event, LeaderTrained):
                return {"school": event.school_id}, (1, event.people)
            return None

A replay hands it thousands of facts at a time (:meth:`AdditiveProjection.apply_batch`): their
contributions become columns, netted per series and day by numpy
(:meth:`PartitionedIndex.add_columns <ssp_ledger.projection.index.PartitionedIndex.add_columns>`)
instead of appended fact by fact; the index is the same either way. A subclass that overrides
``apply`` or ``retract`` to keep more state is fed fact by fact unless it also overrides
``apply_batch`` (keeping its own state in log order, then calling :meth:`index_batch`).

Its checkpoints come for free too: the index is the whole state and
:meth:`AdditiveProjection.dump_state` writes it as data. A subclass keeping more state (a map
from school to phase, say) extends ``dump_state``/``load_state``; until it does, it is replayed
from the log after a restart rather than restored without that state.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from itertools import compress, repeat
from operator import attrgetter, is_
from typing import TYPE_CHECKING, Any, ClassVar, cast

from ssp_ledger.events import CorrectableEvent
from ssp_ledger.periods import parse_period
from ssp_ledger.projection.checkpoint import PartitionedIndexState, decode_state, encode_state
from ssp_ledger.projection.index import PartitionedIndex
from ssp_ledger.projection.protocol import Fact, Query, Table

if TYPE_CHECKING:
    from ssp_ledger.projection.columnar import Ints

__all__ = ["AdditiveProjection", "Columns", "split_by_kind"]

_EVENT = attrgetter("event")
_PARTNERSHIP = attrgetter("partnership_id")
_DAY = attrgetter("occurred_on")

Getter = str | Callable[[Any], Any]
"""An attribute name of the event, or a function of the event."""


@dataclass(frozen=True)
class Columns:
    """How :meth:`AdditiveProjection.contribution` reads one event class, column by column.

    ``keys`` gives each dimension's group (an attribute name or a function of the event) and
    ``values`` each measure (an integer constant, an attribute name or a function). They must
    describe exactly what ``contribution`` returns for every event of the class (a property test
    holds the standard projections to it); a replay then reads a batch of the class with one
    C-level ``map`` per column instead of one ``contribution`` call per event.
    """

    keys: Mapping[str, Getter]
    values: tuple[int | Getter, ...]

    def groups(self, dimension: str, events: list[Any]) -> list[Any]:
        """The groups of ``dimension`` of each event."""
        getter = self.keys[dimension]
        return list(map(attrgetter(getter) if isinstance(getter, str) else getter, events))

    def keyed(self, dimensions: Sequence[str], events: list[Any]) -> list[tuple[Any, ...]]:
        """``(partnership_id, group of each of dimensions)`` of each event: one C-level
        ``attrgetter`` pass when every key is an attribute name."""
        getters = [self.keys[d] for d in dimensions]
        if getters and all(isinstance(g, str) for g in getters):
            return list(map(attrgetter("partnership_id", *cast("list[str]", getters)), events))
        return list(zip(map(_PARTNERSHIP, events),
                        *(self.groups(d, events) for d in dimensions), strict=True))

    def rows(self, events: list[Any], signs: list[int], width: int) -> Ints | None:
        """The signed values of each event as an ``(n, width)`` int64 array (None: one does
        not fit in 64 bits)."""
        from ssp_ledger.projection import columnar

        np = columnar.np
        if len(self.values) != width:
            msg = f"Columns: {len(self.values)} values for {width} measures"
            raise ValueError(msg)
        out = np.empty((len(events), width), dtype=np.int64)
        try:
            for j, value in enumerate(self.values):
                if isinstance(value, int):
                    out[:, j] = value
                else:
                    read = attrgetter(value) if isinstance(value, str) else value
                    out[:, j] = np.fromiter(map(read, events), dtype=np.int64,
                                            count=len(events))
        except OverflowError:
            return None
        if -1 in signs:
            out *= np.array(signs, dtype=np.int64)[:, None]
        return out



def split_by_kind(facts: Sequence[Fact], signs: Sequence[int]
                  ) -> dict[type, tuple[list[Any], list[int]]]:
    """The events of ``facts`` and their signs by event class (classes in first-appearance
    order, each one's events in the order given), split with C-level filters: one pass per
    class present (a batch holds a few: a sort of the whole batch by class cost more)."""
    events = list(map(_EVENT, facts))
    kinds = list(map(type, events))
    distinct = list(dict.fromkeys(kinds))
    if len(distinct) == 1:
        return {distinct[0]: (events, list(signs))}
    signed = -1 in signs
    out: dict[type, tuple[list[Any], list[int]]] = {}
    for kind in distinct:
        chosen = list(map(is_, kinds, repeat(kind)))
        of_kind = list(compress(events, chosen))
        out[kind] = (of_kind, list(compress(signs, chosen)) if signed else [1] * len(of_kind))
    return out


class AdditiveProjection:
    """Base for projections whose figures are sums of per-event contributions.

    Subclasses name their ``measures`` and indexed ``dimensions`` and map an event to
    ``(group keys, values)`` in :meth:`contribution`; apply, retract and report come for free,
    and so do checkpoints: the index is the whole state (:meth:`dump_state`, :meth:`load_state`).
    """

    name: ClassVar[str]
    groupings: ClassVar[tuple[str, ...]]
    dimensions: ClassVar[tuple[str, ...]]
    """Dimensions kept in the index (``groupings`` may add derived ones)."""
    measures: ClassVar[tuple[str, ...]]
    """Integer figures, in column order."""
    columns: ClassVar[Mapping[type, Columns]] = {}
    """Optional: event classes whose :meth:`contribution` a replay may read column by column
    (see :class:`Columns`); the others are read event by event."""

    def __init__(self) -> None:
        self.index = PartitionedIndex(self.dimensions, self.measures)

    def dump_state(self) -> bytes:
        """The index as canonical msgpack (:class:`~ssp_ledger.projection.protocol.Stateful`).

        A subclass keeping state of its own besides :attr:`index` extends this and
        :meth:`load_state`. Until it does, this raises NotImplementedError for its instances
        (the index alone would lose that state), and the set replays it from the log instead.
        """
        if type(self).dump_state is AdditiveProjection.dump_state:
            extra = sorted(set(getattr(self, "__dict__", ())) - {"index"})
            if extra:
                msg = (f"{self.name}: keeps {', '.join(extra)} besides its index and does not "
                       "define dump_state/load_state")
                raise NotImplementedError(msg)
        return encode_state(self.index.dump())

    def load_state(self, data: bytes) -> None:
        """Take the index from :meth:`dump_state` bytes; ValueError when they are not one of
        this projection's dimensions and measures."""
        self.load_index(data)

    def load_index(self, data: bytes | memoryview) -> None:
        """:meth:`load_state` of bytes or a view of them (a subclass's state holding the
        index's bytes decodes them as a view: the index keeps views of them, no copy)."""
        try:
            state = decode_state(data, PartitionedIndexState)
        except ValueError as e:
            msg = f"{self.name}: state is not an index ({e})"
            raise ValueError(msg) from None
        if tuple(state.dimensions) != self.dimensions or tuple(state.measures) != self.measures:
            msg = (f"{self.name}: state indexes dimensions {state.dimensions} and measures "
                   f"{state.measures}, not {list(self.dimensions)} and {list(self.measures)}")
            raise ValueError(msg)
        self.index = PartitionedIndex.load(state)

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

    def apply_batch(self, facts: Sequence[Fact], signs: Sequence[int]) -> None:
        """Apply (sign 1) or retract (sign -1) each of ``facts``, in order: the state equals
        calling :meth:`apply`/:meth:`retract` one by one (see :class:`~ssp_ledger.projection.
        projection_set.Batched`).

        A subclass that overrides ``apply`` or ``retract`` but not this is fed one by one, since
        its overrides may keep state the index does not hold.
        """
        cls = type(self)
        if cls.apply_batch is AdditiveProjection.apply_batch and (
                cls.apply is not AdditiveProjection.apply
                or cls.retract is not AdditiveProjection.retract):
            for fact, sign in zip(facts, signs, strict=True):
                if sign > 0:
                    self.apply(fact)
                else:
                    self.retract(fact)
            return
        self.index_batch(facts, signs)

    def index_batch(self, facts: Sequence[Fact], signs: Sequence[int],
                    by_kind: Mapping[type, tuple[list[Any], list[int]]] | None = None) -> None:
        """Add (sign 1) or subtract (sign -1) the contributions of ``facts`` to the index, as
        :meth:`apply` and :meth:`retract` would one by one, in one columnar batch.

        Events of a class named in :attr:`columns` are read column by column (attribute
        getters mapped over the batch); the others through :meth:`contribution`. A subclass
        that has split the batch already (:func:`split_by_kind`) passes ``by_kind``.
        """
        if self.columns and self._index_by_columns(facts, signs, by_kind):
            return
        dimensions = self.dimensions
        pids: list[str] = []
        ordinals: list[int] = []
        columns: list[list[str | Iterable[str]]] = [[] for _ in dimensions]
        keyed = tuple(zip(dimensions, columns, strict=True))
        values: list[tuple[int, ...]] = []
        contribution = self.contribution
        for fact, sign in zip(facts, signs, strict=True):
            event = fact.event
            found = contribution(event)
            if found is None:
                continue
            keys, row = found
            pids.append(event.partnership_id)
            ordinals.append(event.occurred_on.toordinal())
            for dim, column in keyed:
                column.append(keys[dim])
            values.append(row if sign > 0 else tuple(-v for v in row))
        self.index.add_columns(pids, ordinals, dict(keyed), values)

    def _index_by_columns(self, facts: Sequence[Fact], signs: Sequence[int],
                          by_kind: Mapping[type, tuple[list[Any], list[int]]] | None = None
                          ) -> bool:
        """:meth:`index_batch` reading the classes of :attr:`columns` column by column; False
        (nothing added) when a value does not fit in 64 bits. ``by_kind``: the batch already
        split by :func:`split_by_kind`."""
        from ssp_ledger.projection import columnar  # numpy, on first use

        if by_kind is None:
            by_kind = split_by_kind(facts, signs)
        dimensions = self.dimensions
        keyed: list[tuple[Any, ...]] = []  # (partnership, group of each dimension) per row
        days: list[Ints] = []  # day ordinals, an array per class
        blocks: list[Ints] = []
        width = len(self.measures)
        np = columnar.np
        for kind, (of_kind, kind_signs) in by_kind.items():
            read = self.columns.get(kind)
            if read is None:
                ordinals: list[int] = []
                values: list[tuple[int, ...]] = []
                for event, sign in zip(of_kind, kind_signs, strict=True):
                    found = self.contribution(event)
                    if found is None:
                        continue
                    named, row = found
                    keyed.append((event.partnership_id, *(named[d] for d in dimensions)))
                    ordinals.append(event.occurred_on.toordinal())
                    values.append(row if sign > 0 else tuple(-v for v in row))
                block = columnar.int_matrix(values, width)
                days.append(np.array(ordinals, dtype=np.int64))
            else:
                block = read.rows(of_kind, kind_signs, width)
                if block is not None:
                    keyed.extend(read.keyed(dimensions, of_kind))
                    days.append(np.fromiter(map(dt.date.toordinal, map(_DAY, of_kind)),
                                            dtype=np.int64, count=len(of_kind)))
            if block is None:
                return False
            blocks.append(block)
        if blocks:
            self.index.add_keyed(keyed, np.concatenate(days), np.concatenate(blocks))
        return True

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


