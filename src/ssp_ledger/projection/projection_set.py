"""The projection set: keeps projections up to date with the log, and checkpoints them.

:class:`ProjectionSet` is the one place that reads records and calls projections. It keeps the
map of facts in force (which stored record holds the current content of each event) and turns a
correction into ``retract(old fact)`` then ``apply(new fact)``, a retraction into
``retract(old fact)``, so projections only ever add and remove facts.

A set is checkpointed with :meth:`ProjectionSet.snapshot` and rebuilt with
:meth:`ProjectionSet.restore`.
"""

from __future__ import annotations

import datetime as dt
import gc
import pickle
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import Self

from ssp_ledger.errors import UnknownProjection
from ssp_ledger.events import EventCorrected, EventRetracted
from ssp_ledger.persistence import Recorded
from ssp_ledger.projection.checkpoint import STATE_FORMAT, pack, unpack
from ssp_ledger.projection.protocol import Fact, Projection, ProjectionFactory, handled_types

__all__ = ["ProjectionSet", "paused_gc"]



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
            projection: Projection = unpack(data)
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
            self._current_map = unpack(self._current_frozen)
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
            parts[name] = pack(data)
        current = self._current_frozen
        if current is None:
            current = pack(pickle.dumps(self._current_map, protocol=pickle.HIGHEST_PROTOCOL))
        return pickle.dumps((STATE_FORMAT, self.position, self.latest, self._names, parts,
                             current), protocol=pickle.HIGHEST_PROTOCOL)

    @classmethod
    def restore(cls, data: bytes, load: Callable[[int], Recorded]) -> Self:
        """Rebuild a set from :meth:`snapshot` bytes; ``load`` as for the constructor.

        Only the header is read here; each projection is unpickled when first used.
        """
        # Our own checkpoint, checked against the fingerprint and the log by the caller.
        header = pickle.loads(data)
        if not (isinstance(header, tuple) and len(header) == 6 and header[0] == STATE_FORMAT):
            fmt = header[0] if isinstance(header, tuple) and header else None
            msg = f"checkpoint state format {fmt!r} is not {STATE_FORMAT}"
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


