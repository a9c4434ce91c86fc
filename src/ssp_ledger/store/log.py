"""The storage port: what the ledger, audit and the runner need from a store, and nothing more.

:class:`EventLog` is the one interface between the application and a backend. Each backend
(:mod:`~ssp_ledger.store.memory`, :mod:`~ssp_ledger.store.sqlite`,
:mod:`~ssp_ledger.store.postgres`) implements it once, with its own fast paths behind it; no code
outside ``ssp_ledger.store`` branches on a backend or touches an eventsourcing recorder.

The log is a sequence of raw rows ``(position, stream, version, topic, state)``: ``position`` is
the notification id (ascending, possibly with gaps on PostgreSQL), ``stream`` the originator id
(a ``UUID``, or its 32-digit hex on SQLite), ``version`` the record's place in its stream,
``topic`` the event class and ``state`` the stored bytes. The mapper
(:attr:`EventLog.mapper`) decodes them; :meth:`EventLog.read` does both.

Checkpoints (saved projection state) live beside the events and are written with an
eventsourcing tracking record in one transaction (:meth:`EventLog.save_checkpoint`). A
:class:`Checkpoint` is plain data: its ``state`` is the data-only encoding of
:mod:`ssp_ledger.projection.checkpoint` and its ``binding`` (:class:`Binding`) ties it to the log
it was built from: the number of records, the head (version and record hash) of every stream at
its position and the SHA-256 of the state's header (which holds the hash of every part).
:meth:`EventLog.open_checkpoint` gives a checkpoint without its state, and a way to read any
range of the state (:class:`OpenCheckpoint`): a report reads the header and the one part it needs,
never the whole state.
"""

from __future__ import annotations

import datetime as dt
import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

import msgspec

from ssp_ledger.errors import DamagedRecord, StoreError
from ssp_ledger.store.mapper import MsgspecMapper
from ssp_ledger.store.records import Decoded, Recorded, stream_hash

__all__ = [
    "READ_BATCH",
    "Backend",
    "Binding",
    "Checkpoint",
    "EventLog",
    "Head",
    "Mode",
    "NewRow",
    "OpenCheckpoint",
    "RawRow",
    "Writer",
    "tracking_name",
]

Backend = Literal["memory", "sqlite", "postgres"]
"""The three kinds of store."""

Mode = Literal["read", "write", "create"]
"""How a store is opened: ``read`` never writes anything (and refuses a missing, empty or
foreign store); ``write`` needs an existing ledger store; ``create`` makes one where nothing (or
an empty file) is, and refuses anything that is not a ledger store."""

#: Rows read from the log per round trip.
READ_BATCH = 5_000
#: Rows :meth:`EventLog.read_chunks` decodes into one list: few enough that the records of one
#: list, handed on and dropped before the next is decoded, stay in the processor's cache.
DECODE_CHUNK = 500

RawRow = tuple[int, Any, Any, Any, Any]
"""``(position, stream, version, topic, state)`` as the backend holds it (types unchecked: a
damaged store may hold anything; :func:`~ssp_ledger.store.mapper.describe_row` says what)."""

_D = TypeVar("_D")  # what a decoding of rows gives (EventLog._decoded)

NewRow = tuple[uuid.UUID, int, str, bytes]
"""``(stream, version, topic, state)`` of a record to insert."""


def tracking_name(name: str) -> str:
    """The eventsourcing tracking ``application_name`` of checkpoint ``name``."""
    return f"ssp-ledger-projections:{name}"


class Head(msgspec.Struct, frozen=True, array_like=True):
    """The last record of one stream at a log position."""

    stream: str
    """Stream id as 32 hex digits."""
    version: int
    """Its version (the number of records of the stream up to the position)."""
    hash: bytes
    """Its record hash."""


class Binding(msgspec.Struct, frozen=True, kw_only=True, tag="ssp-ledger/checkpoint-binding",
              tag_field="format"):
    """What ties a checkpoint to the log it was built from (stored as msgpack)."""

    version: int = 1
    count: int
    """Records at or before the checkpoint's position."""
    heads: list[Head]
    """Head of every stream at the position, sorted by stream."""
    state_sha256: bytes
    """SHA-256 of the checkpoint state's header (see
    :attr:`ssp_ledger.projection.checkpoint.Snapshot.digest`), which holds every part's hash."""
    latest_us: int | None = None
    """Latest recorded time among those records (microseconds since 1970, UTC)."""

    def encode(self) -> bytes:
        """The stored bytes."""
        return _BINDING_ENCODER.encode(self)

    @classmethod
    def decode(cls, data: bytes) -> Binding:
        """Parse stored bytes (ValueError when they are not a binding of this version)."""
        found = _BINDING_DECODER.decode(data)
        if found.version != 1:
            msg = f"checkpoint binding version {found.version} is not 1"
            raise ValueError(msg)
        return found


_BINDING_ENCODER = msgspec.msgpack.Encoder()
_BINDING_DECODER = msgspec.msgpack.Decoder(Binding)


@dataclass(frozen=True)
class Checkpoint:
    """Materialised projection state at a log position, stored beside the events."""

    name: str
    """Name of the runner that wrote it (several runners may share a store)."""
    position: int
    """Notification id of the last record applied."""
    fingerprint: str
    """Identifies the projection classes, code and state format the state was made with."""
    binding: bytes
    """:class:`Binding` (msgpack): what ties the state to the log up to ``position``."""
    state: bytes
    """Data-only projection state (:meth:`ssp_ledger.projection.ProjectionSet.snapshot`)."""
    saved_at: dt.datetime
    """When it was written (UTC)."""


@dataclass(frozen=True)
class OpenCheckpoint:
    """A stored checkpoint without its state: the state's size and a way to read any range of
    it from the store (:meth:`EventLog.open_checkpoint`)."""

    name: str
    position: int
    fingerprint: str
    binding: bytes
    saved_at: dt.datetime
    size: int
    """Length of the stored state in bytes."""
    read: Callable[[int, int], bytes]
    """``read(offset, length)``: that range of the state as stored *now* (fewer bytes past its
    end; :class:`~ssp_ledger.errors.StoreError` when the store cannot be read). A checkpoint
    saved again meanwhile gives other bytes: readers check each range against its hash."""

    @classmethod
    def of(cls, checkpoint: Checkpoint) -> OpenCheckpoint:
        """A checkpoint already read whole, as one to read by ranges (from its bytes)."""
        view = memoryview(checkpoint.state)

        def read(offset: int, length: int) -> bytes:
            return bytes(view[offset:offset + length])

        return cls(checkpoint.name, checkpoint.position, checkpoint.fingerprint,
                   checkpoint.binding, checkpoint.saved_at, view.nbytes, read)


@dataclass
class Writer:
    """One atomic write: read stream heads and insert rows; all of it is stored, or none.

    The default writer (memory, PostgreSQL) reads through the log and buffers the rows until the
    end, when they go in with one :meth:`EventLog.insert` (eventsourcing's ``IntegrityError`` if
    another writer appended to one of the streams meanwhile: the ledger then decides again).
    SQLite's writer holds the database's write lock from the start (``BEGIN IMMEDIATE``), so the
    heads it reads cannot change before its rows are in, and it inserts as it goes: an import of
    any size streams through in bounded memory, in one transaction.
    """

    log: EventLog
    ids: list[int] = field(default_factory=list)
    """Positions of the rows inserted so far (all of them once the write has ended)."""
    _pending: list[NewRow] = field(default_factory=list)

    def stream_rows(self, stream: uuid.UUID, after: int = 0) -> Sequence[RawRow]:
        """Rows of one stream after version ``after``, as this write sees them."""
        return self.log.stream_rows(stream, after)

    def insert(self, rows: Sequence[NewRow]) -> None:
        """Add rows to the write."""
        self._pending.extend(rows)

    def finish(self) -> None:
        """Store everything added (called once, at the end of :meth:`EventLog.writing`)."""
        if self._pending:
            self.ids.extend(self.log.insert(self._pending))
            self._pending = []


class EventLog(ABC):
    """A store of records and checkpoints (see the module docstring)."""

    backend: Backend
    """``memory``, ``sqlite`` or ``postgres``."""
    location: str
    """Where the store is, as given."""
    read_only: bool
    """True when opened with mode ``read``: every write raises :class:`StoreError`."""
    mapper: MsgspecMapper
    """Encodes and decodes the records' bytes."""
    note: str = ""
    """What opening the store did or found (e.g. "created a new store"), for the user."""

    # -- the log

    @abstractmethod
    def max_position(self) -> int:
        """Position of the newest record (0 when empty)."""

    @abstractmethod
    def rows(self, start: int, limit: int, stop: int | None = None) -> Sequence[RawRow]:
        """Up to ``limit`` rows with ``start <= position (<= stop)``, in position order."""

    @abstractmethod
    def stream_rows(self, stream: uuid.UUID, after: int = 0) -> Sequence[RawRow]:
        """The rows of one stream with version above ``after``, in version order."""

    @abstractmethod
    def stream_row(self, stream: uuid.UUID, version: int) -> RawRow | None:
        """The row at ``version`` of ``stream``, or None."""

    def rows_at(self, wanted: Sequence[tuple[uuid.UUID, int]]) -> dict[tuple[str, int], RawRow]:
        """The rows at the given ``(stream, version)`` pairs that exist, keyed by (stream hex,
        version). One point read per pair here; SQLite and PostgreSQL answer in one query per
        few hundred pairs (checking a checkpoint's binding asks for two per stream)."""
        found: dict[tuple[str, int], RawRow] = {}
        for stream, version in wanted:
            row = self.stream_row(stream, version)
            if row is not None:
                found[stream.hex, version] = row
        return found

    @abstractmethod
    def count(self, stop: int) -> int:
        """Number of records with position ``<= stop``."""

    @abstractmethod
    def insert(self, rows: Sequence[NewRow]) -> list[int]:
        """Insert rows atomically and return their positions; eventsourcing's
        ``IntegrityError`` (nothing stored) when a ``(stream, version)`` exists already."""

    @contextmanager
    def writing(self) -> Iterator[Writer]:
        """An atomic write (see :class:`Writer`): committed when the block ends normally,
        nothing stored when it raises."""
        writer = Writer(self)
        yield writer
        writer.finish()

    def changed(self) -> object:
        """A token that differs from every earlier one whenever the log may have changed.

        Two equal tokens mean nothing was stored in between, so whatever was read after the
        first is still current: a report asks this before anything else and, when the answer
        is the same, does no other read. It must be cheap (no scan, no row) and may err only
        towards "changed". Take it *before* reading: a write that lands during the read then
        changes the next token. The default is the newest position (one indexed lookup); SQLite
        answers ``PRAGMA data_version`` on a plain connection, without touching a table.
        """
        return self.max_position()

    # -- checkpoints

    @abstractmethod
    def save_checkpoint(self, checkpoint: Checkpoint) -> None:
        """Store the checkpoint and its tracking record in one transaction (eventsourcing's
        ``IntegrityError`` when the name's tracked position would not advance)."""

    @abstractmethod
    def load_checkpoint(self, name: str) -> Checkpoint | None:
        """The checkpoint called ``name``, or None."""

    def open_checkpoint(self, name: str) -> OpenCheckpoint | None:
        """The checkpoint called ``name`` without its state, which is read by ranges when
        needed (None when there is none). This default reads the whole state now (a store in
        memory holds it anyway); SQLite and PostgreSQL read only the ranges asked for."""
        found = self.load_checkpoint(name)
        return None if found is None else OpenCheckpoint.of(found)

    @abstractmethod
    def checkpoint_names(self) -> list[str]:
        """Names of the stored checkpoints."""

    @abstractmethod
    def delete_checkpoint(self, name: str) -> None:
        """Remove the checkpoint and its tracking record (to rebuild from position 0)."""

    @abstractmethod
    def tracked_position(self, name: str) -> int:
        """Position of the last committed checkpoint ``name`` (eventsourcing's tracking)."""

    @abstractmethod
    def wait(self, name: str, position: int, timeout: float) -> None:
        """Block until checkpoint ``name`` covers ``position`` (TimeoutError otherwise)."""

    # -- following

    def listen(self, after: int) -> Any:
        """An eventsourcing subscription (context manager iterating notifications) after
        ``after``, where the backend pushes new records (PostgreSQL); None: poll instead."""
        return None

    @abstractmethod
    def close(self) -> None:
        """Release the store."""

    # -- built on the primitives

    def read(self, start: int = 1, stop: int | None = None) -> Iterator[tuple[int, Recorded]]:
        """(position, record) of the log in order from ``start`` (to ``stop``)."""
        decode_rows = self.mapper.decode_rows
        position = start
        while True:
            rows = self.rows(position, READ_BATCH, stop)
            if not rows:
                return
            yield from decode_rows(rows)
            position = rows[-1][0] + 1

    def read_chunks(self, start: int = 1, stop: int | None = None
                    ) -> Iterator[list[tuple[int, Recorded]]]:
        """:meth:`read` a round trip at a time: lists of up to :data:`DECODE_CHUNK` (position,
        record) pairs (without a generator step per record). A damaged row ends the list
        before it, then raises its :class:`~ssp_ledger.errors.DamagedRecord`, as :meth:`read`
        does."""
        return (chunk for chunk in self._decoded(self.mapper.decode_batch, start, stop)
                if chunk)

    def read_columns(self, start: int = 1, stop: int | None = None) -> Iterator[Decoded]:
        """:meth:`read_chunks` as columns (:class:`~ssp_ledger.store.records.Decoded`, from
        :meth:`MsgspecMapper.decode_columns
        <ssp_ledger.store.mapper.MsgspecMapper.decode_columns>`): what a replay reads, the
        same records checked the same way, without a :class:`Recorded` per record. A damaged
        row ends the columns before it, then raises its
        :class:`~ssp_ledger.errors.DamagedRecord`, as :meth:`read` does."""
        return (chunk for chunk in self._decoded(self.mapper.decode_columns, start, stop)
                if chunk.positions)

    def _decoded(self, decode: Callable[[Sequence[RawRow]], tuple[_D, DamagedRecord | None]],
                 start: int, stop: int | None) -> Iterator[_D]:
        """Each round trip's rows (:data:`READ_BATCH`) decoded :data:`DECODE_CHUNK` at a time
        by ``decode`` (which gives what it decoded before the first damaged row, and that
        row's error): each chunk, then that error."""
        position = start
        while True:
            rows = self.rows(position, READ_BATCH, stop)
            if not rows:
                return
            for i in range(0, len(rows), DECODE_CHUNK):
                decoded, damage = decode(rows[i:i + DECODE_CHUNK])
                yield decoded
                if damage is not None:
                    raise damage
            position = rows[-1][0] + 1

    def raw(self, start: int = 1, stop: int | None = None) -> Iterator[RawRow]:
        """The raw rows of the log in order from ``start`` (to ``stop``)."""
        position = start
        while True:
            rows = self.rows(position, READ_BATCH, stop)
            if not rows:
                return
            yield from rows
            position = rows[-1][0] + 1

    def load(self, position: int) -> Recorded:
        """The record at ``position`` (StoreError when there is none)."""
        rows = self.rows(position, 1)
        if rows and rows[0][0] == position:
            for _, rec in self.mapper.decode_rows(rows):
                return rec
        msg = f"no stored event at position {position}"
        raise StoreError(msg)

    def row_hash(self, row: RawRow) -> bytes:
        """The record hash of a raw row (the row must have the right shape)."""
        _, oid, version, topic, state = row
        key = oid.bytes if isinstance(oid, uuid.UUID) else uuid.UUID(str(oid)).bytes
        return stream_hash(key, version, topic, self.mapper.unseal(bytes(state)))

    def heads_at(self, versions: dict[str, int]) -> list[Head]:
        """:class:`Head` of each stream (hex) at the given version, sorted by stream."""
        wanted = sorted(versions.items())
        rows = self.rows_at([(uuid.UUID(stream), version) for stream, version in wanted])
        out: list[Head] = []
        for stream, version in wanted:
            row = rows.get((uuid.UUID(stream).hex, version))
            if row is None:
                msg = f"stream {stream} has no version {version}"
                raise StoreError(msg)
            out.append(Head(stream, version, self.row_hash(row)))
        return out

    def stream_versions(self, stop: int) -> dict[str, int]:
        """The last version of every stream (hex) among the records up to ``stop``."""
        versions: dict[str, int] = {}
        for _, oid, version, _, _ in self.raw(1, stop):
            if isinstance(version, int):
                key = oid.hex if isinstance(oid, uuid.UUID) else str(oid).replace("-", "")
                versions[key] = max(version, versions.get(key, 0))
        return versions

    def check_binding(self, position: int, binding: Binding) -> str | None:
        """Why the log up to ``position`` is not the one ``binding`` was made from (None: it
        is): every stream head must still hash the same, sit at or before ``position`` and be
        its stream's last record there, and no other record may precede ``position``.

        Costs one batched read of two rows per stream (:meth:`rows_at`) and one count."""
        streams: list[uuid.UUID] = []
        for head in binding.heads:
            try:
                streams.append(uuid.UUID(head.stream))
            except ValueError:
                return f"the checkpoint names stream {head.stream!r}, which is not a UUID"
        rows = self.rows_at([(stream, version) for stream, head in zip(
            streams, binding.heads, strict=True) for version in (head.version, head.version + 1)])
        total = 0
        for stream, head in zip(streams, binding.heads, strict=True):
            row = rows.get((stream.hex, head.version))
            if row is None:
                return f"stream {head.stream} no longer has version {head.version}"
            if row[0] > position or self.row_hash(row) != head.hash:
                return (f"the record at version {head.version} of stream {head.stream} "
                        f"(position {row[0]}) is not the one the checkpoint was built from")
            after = rows.get((stream.hex, head.version + 1))
            if after is not None and after[0] <= position:
                return (f"stream {head.stream} has version {head.version + 1} at position "
                        f"{after[0]}, which the checkpoint does not include")
            total += head.version
        if total != binding.count:
            return "the checkpoint's stream heads do not add up to its record count"
        count = self.count(position)
        if count != binding.count:
            return (f"the log holds {count} records up to position {position}, the checkpoint "
                    f"was built from {binding.count}")
        return None
