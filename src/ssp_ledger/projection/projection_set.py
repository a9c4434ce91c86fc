"""The projection set: keeps projections up to date with the log, and checkpoints them as data.

:class:`ProjectionSet` is the one place that reads records and calls projections. It keeps the
map of facts in force (which stored record holds the current content of each event) and turns a
correction into ``retract(old fact)`` then ``apply(new fact)``, a retraction into
``retract(old fact)``, so projections only ever add and remove facts.

Checkpoints are data, never code. :meth:`ProjectionSet.snapshot` writes a versioned header
(:class:`~ssp_ledger.projection.checkpoint.SetState`) holding the position and where each part
lies, with its hash, then the parts: for each projection implementing
:class:`~ssp_ledger.projection.protocol.Stateful`, the bytes of its ``dump_state()``, and the
facts in force. A restored set reads (through the store) and checks each part only when it is
first needed; a part that fails raises
:class:`~ssp_ledger.projection.checkpoint.UnreadableCheckpoint`. A projection that cannot
describe its state as data is left out and, after :meth:`ProjectionSet.restore`, *replayed*
from the log up to the checkpoint's position when first used. Snapshot bytes are canonical for a
log prefix: a set fed records 1..n in one go, or restored from a snapshot at k and fed k+1..n,
or asked any queries meanwhile, gives the same bytes (so :meth:`ProjectionSet.state_digest` can
check a checkpoint against a replay).
"""

from __future__ import annotations

import datetime as dt
import gc
import hashlib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from itertools import chain, compress, islice
from operator import attrgetter, itemgetter
from typing import ClassVar, Literal, Protocol, Self, TypeVar, cast, runtime_checkable

from ssp_ledger.errors import UnknownProjection
from ssp_ledger.events import CorrectableEvent, EventCorrected, EventRetracted
from ssp_ledger.projection.checkpoint import (
    Part,
    PartRef,
    ReadRange,
    Snapshot,
    UnreadableCheckpoint,
    bytes_reader,
    decode_set,
    encode_set,
    pack_part,
    pack_pieces,
    read_header,
    read_part,
    release_free_memory,
)
from ssp_ledger.projection.in_force import FactsInForce
from ssp_ledger.projection.protocol import (
    Fact,
    Projection,
    ProjectionFactory,
    Stateful,
    handled_types,
    sibling_names,
)
from ssp_ledger.store import Decoded, Recorded

__all__ = ["BATCH", "CHUNK", "PROMOTE_FROM", "Batched", "Build", "ProjectionSet", "ReadLog",
           "UnreadableCheckpoint", "in_chunks", "paused_gc"]

Build = Literal["all", "asked"]
"""When a :class:`ProjectionSet` makes its projections (see :attr:`ProjectionSet.build`)."""

ReadLog = Callable[[int, int], Iterable[tuple[int, Recorded]]]
"""``read(start, stop)``: the (position, record) pairs of the log from ``start`` to ``stop``
inclusive, in order (e.g. :meth:`Ledger.read <ssp_ledger.application.Ledger.read>`)."""

_T = TypeVar("_T")
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)

BATCH = 5_000
"""Records a replay reads before handing the facts gathered to each :class:`Batched`
projection: large enough that a batch costs a few array operations per series it touches,
small enough that the batch's events are still in the processor's cache when the projections
read them (a 1M-event replay measured about 10% faster than with 20,000; docs/performance.md)."""
CHUNK = 500
"""Records :meth:`ProjectionSet.process_all` takes from its iterator at a time (a chunk is
routed a kind at a time; a batch is several chunks)."""
MIN_BATCH = 512
"""Fewer facts than this are applied one by one even to a :class:`Batched` projection (the
same state, without numpy's set-up costs: a live catch-up of a few records). During a replay a
projection handed fewer than this between two batches keeps them queued for the next one (a
projection of rare classes, such as the leaders', is then fed in batches too), and what is left
at the end is applied one by one."""
PROMOTE_FROM = 100_000
"""Container objects allocated during a :func:`paused_gc` (``gc.get_count()[0]``) from which
its end moves every tracked object to the oldest generation (a replay's, not a live
catch-up's)."""


class ProjectionSet:
    """Keeps a set of projections up to date with the log, turning corrections into
    retract/apply pairs. ``load`` reads back the record at a position (to find the content a
    correction replaces); the set keeps only positions in memory, not events.

    A projection that reads another one (the funding gap reads the staff-time cost) defines
    ``attach(siblings)``: the set calls it with a read-only mapping of all its projections after
    creating or restoring them, so the work is done once, by the sibling the set feeds anyway.

    A set restored from :meth:`snapshot` bytes decodes each projection (and the map of facts in
    force) only when it is first needed: answering one report from a checkpoint loads that
    projection alone (see *cold start* in docs/performance.md).
    """

    batch_size: int = BATCH
    """Records :meth:`process_all` reads between two batches of the :class:`Batched`
    projections (an instance may set its own, e.g. a test exercising many batches)."""
    min_batch: int = MIN_BATCH
    """Fewer facts than this are applied one by one even to :class:`Batched` projections."""

    def __init__(self, factories: Mapping[str, ProjectionFactory],
                 load: Callable[[int], Recorded], *, read: ReadLog | None = None,
                 build: Build = "all") -> None:
        if build not in ("all", "asked"):
            msg = f"build must be 'all' or 'asked'; got {build!r}"
            raise ValueError(msg)
        if build == "asked" and read is None:
            msg = "build='asked' needs read (a projection asked for later replays the log)"
            raise ValueError(msg)
        self._factories: dict[str, ProjectionFactory] = dict(factories)
        self._load = load
        self._read: ReadLog | None = read
        """Reads the log: to replay the non-stateful projections of a restored set, and the
        projections a set built ``"asked"`` is asked for after it has been fed."""
        self.build: Build = build
        """``"all"``: every projection is made at once and fed every record. ``"asked"``:
        a projection is made when first asked for (:meth:`want`, a look-up, a sibling's
        ``attach``), and only the projections made are fed; one asked for once the set has
        been fed is first brought to its position by replaying the log privately (the
        projections asked for together, in one pass). Either way a projection holds exactly
        what it would hold had it been fed from the start (tests compare the snapshots)."""
        self._names: tuple[str, ...] = tuple(factories)
        self._loaded: dict[str, Projection] = (
            {} if build == "asked" else {n: f() for n, f in factories.items()})
        self._parts: dict[str, PartRef] = {}
        """Where the states of a restored set's projections not needed yet lie (name -> ref)."""
        self._source: tuple[ReadRange, int] | None = None
        """How a restored set reads its snapshot: ``read(offset, length)`` and where the body
        begins (see :func:`~ssp_ledger.projection.checkpoint.read_part`)."""
        self._header = b""
        """The prefix and header a restored set was restored from (to tell a checkpoint saved
        again since from a damaged one)."""
        self._replay_to = 0
        """Position a restored set was saved at: projections without a part replay to here."""
        self._all: tuple[Projection, ...] | None = None
        self._feeding = False
        """Whether records are being applied now (a set built ``"asked"`` then makes no
        projection: it would miss the rest of what is being fed)."""
        self._loading: set[str] = set()
        """Names of the projections a restored set is loading now (created, not ready yet)."""
        self._waiting: dict[str, list[Callable[[Projection], None]]] = {}
        """What siblings asked to be called with each projection once it is loaded
        (:meth:`_Siblings.when_loaded`)."""
        self._dispatch: dict[type, tuple[Projection, ...]] = {}
        self._current_map: FactsInForce | None = FactsInForce()
        """partnership_id -> event_id -> position of the fact in force (packed: see
        :mod:`ssp_ledger.projection.in_force`); None while a restored set holds it packed."""
        self._current_ref: PartRef | None = None
        """Where a restored set's facts in force lie while not needed yet."""
        self.position = 0
        """Notification id of the last record processed."""
        self.latest: dt.datetime | None = None
        """Latest recorded time among the records processed (None: none yet). A set holding
        every record up to :attr:`position` serves any ``known_at`` at or after it."""
        for projection in list(self._loaded.values()):
            self._attach(projection)

    # -- access

    @property
    def names(self) -> tuple[str, ...]:
        """Names of the projections in the set (without loading any)."""
        return self._names

    @property
    def projections(self) -> dict[str, Projection]:
        """Every projection by name (loading those a restored set has not needed yet, and
        making those a set built ``"asked"`` has not been asked for)."""
        self._make_missing()
        return {name: self._get(name) for name in self._names}

    @property
    def made(self) -> tuple[str, ...]:
        """Names of the projections made so far (all of a set built ``"all"``; those asked
        for of one built ``"asked"``; those a restored set has loaded)."""
        return tuple(name for name in self._names
                     if name in self._loaded and name not in self._loading)

    def want(self, *names: str) -> None:
        """Make the projections ``names`` now if the set is built ``"asked"`` and has not made
        them (so that the records fed next reach them; those not made yet are brought to the
        set's position together, by one private replay of the log). Nothing for a set built
        ``"all"``, which has made them all. UnknownProjection for a name not in the set."""
        for name in names:
            self._check_name(name)
        if self.build == "asked":
            self._make(names)

    def __getitem__(self, name: str) -> Projection:
        self._check_name(name)
        return self._get(name)

    def _check_name(self, name: str) -> None:
        """UnknownProjection unless the set has a projection ``name``."""
        if name not in self._names:
            msg = f"no projection named {name!r}; registered: {', '.join(sorted(self._names))}"
            raise UnknownProjection(msg)

    def _get(self, name: str) -> Projection:
        found = self._loaded.get(name)
        if found is not None:
            return found
        if self.build == "asked":
            self._make((name,))
            return self._loaded[name]
        # A restored set: a fresh instance, attached, then given its state or replayed. It is
        # visible to its siblings while attached, so two projections may read each other.
        projection = self._loaded[name] = self._factories[name]()
        self._loading.add(name)
        try:
            self._attach(projection)
            ref = self._parts.get(name)
            if ref is None:
                self._replay(name, projection)
            elif isinstance(projection, Stateful):
                try:
                    data = self._read_part(ref, f"projection {name!r}")
                except UnreadableCheckpoint:
                    if not self._saved_again():
                        raise
                    self._replay(name, projection)  # its part is gone: rebuilt from the log
                else:
                    projection.load_state(data)
            else:
                msg = "its projection class does not implement Stateful any more"
                raise ValueError(msg)
        except UnreadableCheckpoint:
            del self._loaded[name]
            raise
        except ValueError as e:
            del self._loaded[name]
            raise self._unreadable(f"projection {name!r}", e) from e
        except BaseException:
            del self._loaded[name]
            raise
        finally:
            self._loading.discard(name)
        self._parts.pop(name, None)
        for callback in self._waiting.pop(name, ()):
            callback(projection)
        return projection

    def load_all(self) -> None:
        """Load every projection and the facts in force now (a restored set otherwise loads
        each when first needed; a set built ``"asked"`` makes those not asked for yet, in one
        private replay): UnreadableCheckpoint, at once, when a part of the snapshot fails. For
        a caller that will feed every projection anyway (the runner). A projection that reads
        its state lazily (a ``read_state()`` method: the staff time's facts, read when a report
        first needs them) reads it now, so it fails here too."""
        self._make_missing()
        for name in self._names:
            projection = self._get(name)
            read = getattr(projection, "read_state", None)
            if read is not None:
                try:
                    read()
                except ValueError as e:  # an UnreadableCheckpoint too: named as the set names
                    raise self._unreadable(f"projection {name!r}", e) from e
        self._current  # noqa: B018 -- the property reads and checks the part

    def _saved_again(self) -> bool:
        """Whether the stored checkpoint no longer starts with the header this set was restored
        from: saved again since (a runner following the log), so a part read now belongs to
        another state. A part that fails while the header is unchanged is damaged instead."""
        assert self._source is not None
        read, _ = self._source
        try:
            return bytes(read(0, len(self._header))) != self._header
        except Exception:  # the row cannot be read any more: not the one restored
            return True

    def _read_part(self, ref: PartRef, what: str) -> bytes:
        """The checked bytes of a part of the snapshot this set was restored from."""
        assert self._source is not None  # a set holding refs was restored
        read, start = self._source
        try:
            return read_part(ref, start, read)
        except UnreadableCheckpoint:
            raise
        except Exception as e:  # ValueError, or the store failing to read (StoreError)
            raise self._unreadable(what, e) from e

    def _unreadable(self, what: str, why: Exception) -> UnreadableCheckpoint:
        reason = str(why).strip().splitlines()[0] if str(why).strip() else type(why).__name__
        return UnreadableCheckpoint(
            f"{what} of the checkpoint at position {self._replay_to} cannot be read ({reason})")

    def _replay(self, name: str, projection: Projection) -> None:
        """Bring a fresh, attached ``projection`` to the restored position by replaying the log
        through a private set holding it alone (with its own map of facts in force)."""
        if self._replay_to:
            self._replay_privately({name: projection}, self._replay_to, "the checkpoint's")

    def _replay_privately(self, projections: Mapping[str, Projection], to: int,
                          whose: str) -> None:
        """Replay the log from its start to position ``to`` through a private set holding
        ``projections`` alone (with its own map of facts in force): how a projection made after
        the set was fed (restored, or built ``"asked"``) reaches the set's position. ValueError
        when the log ends before ``to`` (``whose`` names that position)."""
        assert self._read is not None  # set by restore() or the constructor: checked there
        private = ProjectionSet({}, self._load)
        private._names = tuple(projections)
        private._loaded = dict(projections)
        private.process_all(self._read(1, to))
        if private.position != to:
            msg = f"the log ends at position {private.position}, before {whose} {to}"
            raise ValueError(msg)

    def _make_missing(self) -> None:
        """A set built ``"asked"``: make every projection not made yet (in one replay)."""
        if self.build == "asked":
            self._make([name for name in self._names if name not in self._loaded])

    def _make(self, names: Sequence[str]) -> None:
        """A set built ``"asked"``: make the projections ``names`` not made yet, with the
        siblings each reads (:func:`~ssp_ledger.projection.protocol.sibling_names`: the survey
        reads participation and the staff time), attach them, and bring them to the set's
        position with one replay of the log through a private set holding them alone (with its
        own map of facts in force), as a restored set replays a projection its checkpoint does
        not hold. A sibling looked up in ``attach`` that is not declared is made then, with a
        replay of its own. Nothing is kept of a failed replay."""
        if self._feeding and any(name not in self._loaded for name in names):
            msg = (f"projection {', '.join(n for n in names if n not in self._loaded)} asked "
                   "for while the set applies records (a projection must not look up a "
                   "sibling it did not read when attached while applying facts)")
            raise RuntimeError(msg)
        made: dict[str, Projection] = {}
        queue = list(names)
        try:
            while queue:  # each with the siblings it reads (sibling_names), in the same replay
                name = queue.pop(0)
                if name not in self._loaded:
                    projection = self._factories[name]()
                    made[name] = self._loaded[name] = projection
                    self._loading.add(name)
                    queue.extend(n for n in sibling_names(projection) if n in self._factories)
            if not made:
                return
            for projection in made.values():
                self._attach(projection)
            if self.position:
                self._replay_privately(made, self.position, "the set's")
        except BaseException:
            for name in made:
                del self._loaded[name]
            raise
        finally:
            self._loading.difference_update(made)
        self._all = None
        self._dispatch.clear()
        for name, projection in made.items():
            for callback in self._waiting.pop(name, ()):
                callback(projection)

    def _attach(self, projection: Projection) -> None:
        attach = getattr(projection, "attach", None)
        if attach is not None:
            attach(_Siblings(self))

    def _every(self) -> tuple[Projection, ...]:
        if self._all is None:
            if self.build == "asked":  # only those made are fed (see build)
                self._all = tuple(self._loaded[name] for name in self._names
                                  if name in self._loaded and name not in self._loading)
            else:
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
    def _current(self) -> FactsInForce:
        if self._current_map is None:
            assert self._current_ref is not None
            try:
                data = self._read_part(self._current_ref, "the facts in force")
            except UnreadableCheckpoint:
                if not self._saved_again():
                    raise
                self._current_map = self._replayed_facts()
            else:
                try:
                    self._current_map = FactsInForce.load(data)
                except ValueError as e:
                    raise self._unreadable("the facts in force", e) from e
            self._current_ref = None
        return self._current_map

    def _replayed_facts(self) -> FactsInForce:
        """The facts in force at the restored position, from the log (when the checkpoint was
        saved again before they were first needed: they are needed before any record is
        applied, so the set is still at that position)."""
        assert self._read is not None
        assert self.position == self._replay_to
        private = ProjectionSet({}, self._load)
        private.process_all(self._read(1, self._replay_to))
        if private.position != self._replay_to:
            msg = (f"the log ends at position {private.position}, before the checkpoint's "
                   f"{self._replay_to}")
            raise self._unreadable("the facts in force", ValueError(msg))
        assert private._current_map is not None
        return private._current_map

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
        self._feeding = True
        try:
            self._step(position, recorded.recorded_at, recorded.event, self._now)
        finally:
            self._feeding = False

    def _now(self, kind: type) -> tuple[tuple[Projection, ...], tuple[_Queue, ...]]:
        """Every projection offered facts of ``kind`` is fed at once (no queue)."""
        return self._for(kind), ()

    def _step(self, position: int, recorded_at: dt.datetime,
              event: CorrectableEvent | EventCorrected | EventRetracted,
              route: Callable[[type], tuple[tuple[Projection, ...], tuple[_Queue, ...]]]
              ) -> None:
        """Apply one record (its position, recorded time and event): the projections
        ``route`` gives are called now, the queues it gives are handed the fact (and its sign)
        to apply in their next batch."""
        current = self._current
        partnership_id = event.partnership_id
        if isinstance(event, EventRetracted | EventCorrected):
            key = event.target_event_id
            at = current.get(partnership_id, key)
            if at is None:
                raise KeyError(key)
            old = self.fact_at(at)
            now, queues = route(type(old.event))
            for p in now:
                p.retract(old)
            for q in queues:
                q.retracted.append(len(q.facts))
                q.facts.append(old)
            if isinstance(event, EventRetracted):
                current.remove(partnership_id, key)
                fact = None
            else:
                fact = Fact(position, recorded_at, event.replacement)
                current.set(partnership_id, key, position)
        else:
            current.set(partnership_id, event.event_id, position)
            fact = Fact(position, recorded_at, event)
        if fact is not None:
            now, queues = route(type(fact.event))
            for p in now:
                p.apply(fact)
            for q in queues:
                q.facts.append(fact)
        latest = self.latest
        if latest is None or recorded_at > latest:
            self.latest = recorded_at
        self.position = position

    def process_all(self, records: Iterable[tuple[int, Recorded]]) -> None:
        """Apply records in log order.

        Projections implementing :class:`Batched` are handed their facts in batches, each
        gathered over :attr:`batch_size` records (or more, until it holds :attr:`min_batch`
        facts), the others one by one, as :meth:`process` does; every batch is applied before
        this returns (or raises), so the set is never seen half fed.

        The cyclic garbage collector is paused meanwhile: a replay creates millions of long-lived
        objects and no cycles, and each full collection would walk all of them (about half of a
        1M-event replay's time, measured in benchmarks/).
        """
        self.process_chunks(in_chunks(records, min(CHUNK, self.batch_size)))

    def process_chunks(self, chunks: Iterable[Sequence[tuple[int, Recorded]]]) -> None:
        """:meth:`process_all` of records given in consecutive lists (e.g. one per round trip
        to the store, :meth:`EventLog.read_chunks <ssp_ledger.store.log.EventLog.read_chunks>`).

        A chunk without corrections or retractions (a replay's common case) is routed a kind
        at a time: its facts are made with one ``map``, each queue takes the facts of the
        kinds its projection handles with one C-level filter (in log order), and only the
        projections fed fact by fact see a Python step per fact. A chunk with a correction or
        a retraction goes record by record (:meth:`_step`), since each reads the content it
        replaces. The state is the same either way (the facts in force, the position, the
        latest recorded time, and what every projection is handed, in order).
        """
        self.process_columns(map(_columns, chunks))

    def process_columns(self, chunks: Iterable[Decoded]) -> None:
        """:meth:`process_chunks` of records given as columns (positions, recorded times and
        events: :class:`~ssp_ledger.store.records.Decoded`, what :meth:`EventLog.read_columns
        <ssp_ledger.store.log.EventLog.read_columns>` gives a replay), without a
        :class:`~ssp_ledger.store.records.Recorded` per record. The state is the one
        :meth:`process_chunks` gives for the same records."""
        queues: dict[int, _Queue] = {}  # by id() of the projection
        routes: dict[type, tuple[tuple[Projection, ...], tuple[_Queue, ...]]] = {}

        def route(kind: type) -> tuple[tuple[Projection, ...], tuple[_Queue, ...]]:
            found = routes.get(kind)
            if found is None:
                now: list[Projection] = []
                queued: list[_Queue] = []
                for p in self._for(kind):
                    if isinstance(p, Batched):
                        queue = queues.get(id(p))
                        if queue is None:
                            queue = queues[id(p)] = _Queue(p, self.min_batch)
                        queued.append(queue)
                    else:
                        now.append(p)
                found = routes[kind] = (tuple(now), tuple(queued))
            return found

        chunks = iter(chunks)
        first = next(chunks, None)
        if first is None or not first.events:  # nothing new (a report from a checkpoint):
            return  # the facts in force of a restored set stay packed
        size = self.batch_size
        current = self._current
        self._feeding = True  # no projection is made meanwhile (see _make)
        try:
            with paused_gc():
                try:
                    held = 0
                    for chunk in chain((first,), chunks):
                        events = chunk.events
                        if not events:
                            continue
                        kinds = list(map(type, events))
                        distinct = {kind: routes.get(kind) or route(kind)
                                    for kind in dict.fromkeys(kinds)}
                        if any(issubclass(kind, _AMENDING) for kind in distinct):
                            step = self._step  # each reads what it replaces
                            for position, recorded_at, event in zip(
                                    chunk.positions, chunk.times, events, strict=True):
                                step(position, recorded_at, event, route)
                        else:
                            self._route_chunk(chunk.positions, chunk.times,
                                              cast("list[CorrectableEvent]", events), kinds,
                                              distinct, current)
                        held += len(events)
                        if held >= size:
                            for queue in queues.values():
                                if len(queue.facts) >= queue.least:
                                    queue.flush()  # a smaller queue waits to be a batch
                            current.settle()
                            held = 0
                finally:
                    for queue in queues.values():
                        queue.flush()
                    current.settle()
        finally:
            self._feeding = False

    def _route_chunk(self, positions: list[int], times: list[dt.datetime],
                     events: list[CorrectableEvent], kinds: list[type],
                     distinct: dict[type, tuple[tuple[Projection, ...], tuple[_Queue, ...]]],
                     current: FactsInForce) -> None:
        """Apply a chunk of records holding no correction or retraction (see
        :meth:`process_chunks`): ``positions``, ``times``, ``events`` and ``kinds`` are their
        positions, recorded times, events and classes; ``distinct`` routes each class
        present."""
        facts = list(map(Fact, positions, times, events))
        current.set_many(map(_PARTNERSHIP, events), map(_EVENT_ID, events), positions)
        fed: dict[_Queue, list[type]] = {}
        now_kinds: set[type] = set()
        for kind, (now, queued) in distinct.items():
            if now:
                now_kinds.add(kind)
            for q in queued:
                fed.setdefault(q, []).append(kind)
        if now_kinds:  # projections fed fact by fact, in log order (only the facts they take)
            for fact in compress(facts, map(now_kinds.__contains__, kinds)):
                for p in distinct[type(fact.event)][0]:
                    p.apply(fact)
        for q, wanted in fed.items():
            if len(wanted) == len(distinct):
                q.facts.extend(facts)
            else:
                q.facts.extend(compress(facts, map(frozenset(wanted).__contains__, kinds)))
        latest = max(times)
        if self.latest is None or latest > self.latest:
            self.latest = latest
        self.position = positions[-1]

    def contributing(self) -> Iterator[tuple[tuple[str, str], int]]:
        """(partnership_id, event_id) -> position of every fact in force, grouped by
        partnership."""
        for partnership_id, event_id, position in self._current.items():
            yield (partnership_id, event_id), position

    # -- checkpoints

    def snapshot(self) -> bytes:
        """The state of the set as data (:meth:`snapshot_parts`, joined into one byte string).

        The bytes are canonical for the log prefix the set has processed: whatever queries were
        asked, and whether the set was restored from a snapshot on the way, two sets that
        processed the same records give the same bytes.
        """
        return self.snapshot_parts().join()

    def snapshot_parts(self) -> Snapshot:
        """The state of the set as data, laid out by
        :func:`~ssp_ledger.projection.checkpoint.encode_set`: a header with the position, the
        latest recorded time and where each part lies (with its hash), then the ``dump_state()``
        of every :class:`~ssp_ledger.projection.protocol.Stateful` projection and the facts in
        force, each part kept apart (zlib-compressed where that pays) so a restored set can read
        one without the others. The parts stay separate byte strings (a store writes them one
        after the other), and each projection's own bytes are compressed, then dropped, before
        the next one is dumped, so saving holds the packed state once, not several copies; the
        C heap's free pages are handed back after each part (:func:`~ssp_ledger.projection.
        checkpoint.release_free_memory`), so one part's garbage does not add to the next's peak.

        Projections that are not Stateful, or whose ``dump_state`` raises NotImplementedError,
        are left out (a restored set replays them). A part a restored set never needed is read
        back, checked against its hash and copied as it was (UnreadableCheckpoint when it fails).
        """
        self._make_missing()
        parts: dict[str, Part] = {}
        for name in self._names:
            ref = self._parts.get(name)
            if ref is not None:  # never loaded since restored: unchanged
                stored = self._stored(ref, f"projection {name!r}")
                if stored is not None:
                    parts[name] = stored
                    continue
                self._get(name)  # the checkpoint was saved again since: rebuilt from the log
            projection = self._loaded.get(name)
            if projection is not None and isinstance(projection, Stateful):
                with suppress(NotImplementedError):  # no state as data: replayed instead
                    parts[name] = pack_part(projection.dump_state())
                    release_free_memory()  # this dump's garbage, before the next one's
        current = None
        if self._current_ref is not None:
            current = self._stored(self._current_ref, "the facts in force")
        if current is None:
            current = pack_pieces(self._current.dump_pieces)
            release_free_memory()
        latest = self.latest
        latest_us = None if latest is None else (latest - _EPOCH) // dt.timedelta(microseconds=1)
        return encode_set(position=self.position, latest_us=latest_us, names=list(self._names),
                          parts=parts, current=current)

    def _stored(self, ref: PartRef, what: str) -> Part | None:
        """A part of the snapshot this set was restored from, as stored (checked); None when
        the checkpoint was saved again since (the part must be rebuilt), UnreadableCheckpoint
        when it is damaged."""
        assert self._source is not None
        read, start = self._source
        try:
            data = read(start + ref.offset, ref.length) if ref.length else b""
        except Exception as e:
            if self._saved_again():
                return None
            raise self._unreadable(what, e) from e
        if len(data) != ref.length or hashlib.sha256(data).digest() != ref.sha256:
            if self._saved_again():
                return None
            raise self._unreadable(what, ValueError(
                "its bytes do not match their hash in the header (altered in the store)"))
        return Part(compressed=ref.compressed, data=memoryview(data))

    def state_digest(self) -> str:
        """SHA-256 (hex) of the header of :meth:`snapshot` (which holds every part's hash):
        equal for two sets that processed the same records (e.g. a restored checkpoint and a
        replay of the log up to its position)."""
        return self.snapshot_parts().digest.hex()

    @classmethod
    def restore(cls, data: bytes, factories: Mapping[str, ProjectionFactory],
                load: Callable[[int], Recorded], read: ReadLog) -> Self:
        """Rebuild a set from :meth:`snapshot` bytes for these ``factories``; ``load`` as for the
        constructor, ``read(start, stop)`` to replay the projections the snapshot does not hold.

        Only the header is decoded here; each projection is made by its factory, attached and
        given its state (or replayed) when first used. ValueError, with a one-line message, when
        ``data`` is not a snapshot of this format and version or names other projections.
        """
        reader = bytes_reader(data)
        return cls.restore_from(read_header(len(data), reader), len(data), reader, factories,
                                load, read)

    @classmethod
    def restore_from(cls, header: bytes, size: int, reader: ReadRange,
                     factories: Mapping[str, ProjectionFactory],
                     load: Callable[[int], Recorded], read: ReadLog) -> Self:
        """Rebuild a set from a stored snapshot of ``size`` bytes whose prefix and header
        (:func:`~ssp_ledger.projection.checkpoint.read_header`) are ``header``; each part is
        fetched through ``reader`` and checked against its hash when first needed. ValueError,
        with a one-line message, as for :meth:`restore`."""
        state = decode_set(header, size)
        if set(state.names) != set(factories):
            msg = (f"checkpoint state holds projections {', '.join(sorted(state.names))}, not "
                   f"{', '.join(sorted(factories))}")
            raise ValueError(msg)
        unknown = set(state.parts) - set(state.names)
        if unknown:
            msg = f"checkpoint state has parts of unlisted projections {', '.join(sorted(unknown))}"
            raise ValueError(msg)
        if state.position < 0:
            msg = f"checkpoint state position {state.position} is negative"
            raise ValueError(msg)
        out = cls({}, load)
        out._factories = dict(factories)
        out._names = tuple(factories)
        out._read = read
        out._parts = dict(state.parts)
        out._source = (reader, len(header))
        out._header = bytes(header)
        out._current_map = None
        out._current_ref = state.current
        out.position = out._replay_to = state.position
        if state.latest_us is not None:
            out.latest = _EPOCH + dt.timedelta(microseconds=state.latest_us)
        return out


@runtime_checkable
class Batched(Protocol):
    """A projection that can be fed many facts at once (e.g. :class:`~ssp_ledger.projection.
    additive.AdditiveProjection`, which nets them with numpy).

    ``apply_batch(facts, signs)`` applies (sign 1) or retracts (sign -1) each fact, in log
    order, and must leave the projection exactly as the same ``apply``/``retract`` calls one by
    one would. :meth:`ProjectionSet.process_all` (a replay) feeds it this way; single records
    (:meth:`ProjectionSet.process`, e.g. a live append) still go through ``apply``/``retract``.
    A batched projection must not read a sibling's state while applying (siblings are fed
    their batches at other times); reading it when asked a query is fine.
    """

    name: ClassVar[str]

    def apply_batch(self, facts: Sequence[Fact], signs: Sequence[int]) -> None:
        """Apply or retract each fact, in order."""


class _Queue:
    """Facts gathered for one :class:`Batched` projection during a replay: to apply, except
    those at the indexes in ``retracted``."""

    __slots__ = ("facts", "least", "projection", "retracted")

    def __init__(self, projection: Batched, least: int) -> None:
        self.projection = projection
        self.least = least
        """Fewer facts than this are applied one by one (see :data:`MIN_BATCH`)."""
        self.facts: list[Fact] = []
        self.retracted: list[int] = []

    def flush(self) -> None:
        """Hand the gathered facts to the projection (emptying the queue first, so a failing
        batch is not handed again)."""
        if self.facts:
            facts, retracted = self.facts, self.retracted
            self.facts, self.retracted = [], []
            projection = self.projection
            if len(facts) < self.least and isinstance(projection, Projection):
                # A few facts (a live catch-up): one by one is cheaper than array set-up.
                undo = set(retracted)
                for i, fact in enumerate(facts):
                    if i in undo:
                        projection.retract(fact)
                    else:
                        projection.apply(fact)
                return
            signs = [1] * len(facts)
            for i in retracted:
                signs[i] = -1
            projection.apply_batch(facts, signs)


_RECORD = itemgetter(1)
_POSITION = itemgetter(0)
_EVENT = attrgetter("event")
_RECORDED_AT = attrgetter("recorded_at")
_PARTNERSHIP = attrgetter("partnership_id")
_EVENT_ID = attrgetter("event_id")
_AMENDING = (EventRetracted, EventCorrected)


def _columns(chunk: Sequence[tuple[int, Recorded]]) -> Decoded:
    """A list of (position, record) pairs as the columns :meth:`ProjectionSet.process_columns`
    reads (no stream heads: the set does not read them)."""
    recs = list(map(_RECORD, chunk))
    return Decoded(list(map(_POSITION, chunk)), list(map(_RECORDED_AT, recs)),
                   list(map(_EVENT, recs)), [], [], [])


def in_chunks(records: Iterable[_T], size: int) -> Iterator[list[_T]]:
    """``records`` in consecutive lists of ``size`` (the last one shorter)."""
    records = iter(records)
    while chunk := list(islice(records, size)):
        yield chunk


class _Siblings(Mapping[str, Projection]):
    """The projections of a set, as ``attach`` sees them (loaded when looked up)."""

    def __init__(self, owner: ProjectionSet) -> None:
        self._owner = owner

    def __getitem__(self, name: str) -> Projection:
        if name not in self._owner.names:
            raise KeyError(name)
        return self._owner._get(name)

    def when_loaded(self, name: str, callback: Callable[[Projection], None]) -> None:
        """Call ``callback(projection)`` once the set's projection ``name`` is loaded: now when
        it is, else when the set loads it (a restored set loads each projection when first
        needed), and never when the set has none of that name.

        For a projection that reads a sibling only sometimes (the survey answers a cold report
        from its own state, and reads its siblings only when they have changed or it lacks a
        day): looking the sibling up would load it, reading and decoding its part for nothing,
        but it must still hear of the sibling as soon as the sibling exists, before any fact
        reaches it (the survey tells its siblings which days to keep)."""
        owner = self._owner
        if name not in owner.names:
            return
        if name in owner._loaded and name not in owner._loading:
            callback(owner._loaded[name])
        else:
            owner._waiting.setdefault(name, []).append(callback)

    def __iter__(self) -> Iterator[str]:
        return iter(self._owner.names)

    def __len__(self) -> int:
        return len(self._owner.names)




@contextmanager
def paused_gc() -> Iterator[None]:
    """Pause the cyclic garbage collector for a replay (restoring its previous state).

    A replay creates millions of long-lived objects and no cycles; each full collection would
    walk all of them (about half of a 1M-event replay's time, measured in benchmarks/).

    On the way out of a pause that allocated :data:`PROMOTE_FROM` container objects or more (a
    replay, not a live append's catch-up), every tracked object is moved to the oldest
    generation without being walked (``gc.freeze()`` then ``gc.unfreeze()``: two list splices).
    Left young, the first collection after the pause walked all of them (0.11 s at 1M events),
    the next older one again (0.10 s), only for them to survive into the oldest generation,
    where they now wait for the next full collection. Not done when the application keeps
    objects frozen itself (``gc.get_freeze_count()``, a pre-fork server's): unfreezing would
    hand its objects back to the collector.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            if gc.get_count()[0] >= PROMOTE_FROM and not gc.get_freeze_count():
                gc.freeze()
                gc.unfreeze()
            gc.enable()

