"""Persistence: how events are stored through eventsourcing's recorders.

A stored record is a :class:`Recorded` envelope around one domain event: the stream (one UUID per
partnership), its position in the stream, the UTC time the ledger recorded it and the hash of the
previous record of the same stream. :class:`MsgspecMapper` turns envelopes into eventsourcing
``StoredEvent`` rows with msgpack (one cached encoder/decoder per class), keeps eventsourcing's
``class_version`` upcasting working (the repository's example mappers drop it), and still applies
the library's optional compressor and cipher.

Backends are eventsourcing's own: ``eventsourcing.popo`` (memory), ``eventsourcing.sqlite``
(default, a file) and ``eventsourcing.postgres``; :func:`store_env` turns a location into the
environment eventsourcing expects. On PostgreSQL the application recorder is
:class:`ssp_ledger.postgres.LedgerPostgresRecorder` (eventsourcing's, with large batches sent
without psycopg's pipeline mode); on SQLite it is :class:`LedgerSQLiteRecorder` (eventsourcing's,
plus batch inserts and reads of plain rows, which the ledger uses with :class:`BatchEncoder` and
:meth:`MsgspecMapper.decode_rows`: the same bytes and records as the generic interface, without
an eventsourcing object and a ``UUID`` per row).

Projection checkpoints (:class:`Checkpoint`) live in the same database as the events, written by
:class:`CheckpointRecorder` subclasses of eventsourcing's tracking recorders so that a
checkpoint and its tracking record are committed in one transaction.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import random
import time
import uuid
from abc import abstractmethod
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal
from urllib.parse import parse_qsl, unquote, urlsplit

import msgspec
from eventsourcing.application import Application
from eventsourcing.persistence import (
    DatabaseError,
    Mapper,
    Notification,
    StoredEvent,
    Tracking,
    TrackingRecorder,
    Transcoder,
)
from eventsourcing.popo import POPOFactory, POPOTrackingRecorder
from eventsourcing.sqlite import (
    SQLiteApplicationRecorder,
    SQLiteCursor,
    SQLiteDatastore,
    SQLiteFactory,
    SQLiteTrackingRecorder,
)
from eventsourcing.utils import get_topic

from ssp_ledger.events import EVENT_TYPES, DomainEvent, Event, EventCorrected

__all__ = [
    "ENV_LOCATION",
    "GENESIS",
    "Backend",
    "BatchEncoder",
    "Checkpoint",
    "CheckpointRecorder",
    "LedgerApplication",
    "LedgerSQLiteRecorder",
    "MsgspecMapper",
    "MsgspecTranscoder",
    "POPOCheckpointRecorder",
    "Recorded",
    "SQLiteCheckpointRecorder",
    "backend_of",
    "create_with_retries",
    "record_hash",
    "store_env",
    "stream_hash",
    "stream_id",
    "tracking_name",
]

#: Namespace of the stream UUIDs derived from partnership ids.
STREAM_NAMESPACE = uuid.UUID("6f1d3f8e-6c43-5b1e-9f0e-5c2b8a4e7a10")
#: ``prev_hash`` of the first record of every stream.
GENESIS = b"\x00" * 32


@lru_cache(maxsize=65_536)  # pure; verify and _head ask for the same few streams over and over
def stream_id(partnership_id: str) -> uuid.UUID:
    """The eventsourcing originator id of a partnership's stream (a stable UUIDv5)."""
    return uuid.uuid5(STREAM_NAMESPACE, partnership_id)


class Recorded(msgspec.Struct, frozen=True, kw_only=True):
    """One stored event: the domain event plus what the ledger knows about storing it.

    Satisfies eventsourcing's ``DomainEventProtocol`` (``originator_id``, ``originator_version``).
    """

    originator_id: uuid.UUID
    """Stream id of the partnership (see :func:`stream_id`)."""
    originator_version: int
    """Position in the stream, from 1."""
    recorded_at: dt.datetime
    """UTC time at which the ledger stored the event (the *recorded* time axis)."""
    prev_hash: bytes
    """SHA-256 of the previous record in the same stream (:data:`GENESIS` for the first)."""
    event: DomainEvent
    """The domain event."""

    @property
    def timestamp(self) -> dt.datetime:
        """Alias of ``recorded_at`` for eventsourcing tooling."""
        return self.recorded_at


class _Envelope(msgspec.Struct, array_like=True, frozen=True):
    """Wire form of :class:`Recorded`'s state: the event stays raw until its class is known."""

    versions: dict[str, int]
    recorded_at_us: int
    prev_hash: bytes
    event: msgspec.Raw


def _versions(event: Event) -> dict[str, int]:
    """class_version of the event and of a correction's replacement, where above 1."""
    out: dict[str, int] = {}
    for part in (event, event.replacement) if isinstance(event, EventCorrected) else (event,):
        version = type(part).class_version
        if version > 1:
            out[type(part).__name__] = version
    return out


_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
# Last conversion each way: the records of a batch share one recorded time, so a batch (and a
# read of it) converts it once. One tuple each, replaced whole (safe across threads).
_last_to_us: tuple[dt.datetime | None, int] = (None, 0)
_last_from_us: tuple[int, dt.datetime] = (0, _EPOCH)


def _to_us(moment: dt.datetime) -> int:
    global _last_to_us  # a one-entry memo
    last = _last_to_us
    if moment is last[0]:
        return last[1]
    if moment.tzinfo is None:
        msg = "recorded_at must be timezone-aware (UTC)"
        raise ValueError(msg)
    delta = moment - _EPOCH
    us = (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
    _last_to_us = (moment, us)
    return us


def _from_us(us: int) -> dt.datetime:
    global _last_from_us  # a one-entry memo
    last = _last_from_us
    if us == last[0]:
        return last[1]
    moment = _EPOCH + dt.timedelta(microseconds=us)
    _last_from_us = (us, moment)
    return moment


#: ``topic + NUL`` as hashed by :func:`record_hash`, per topic.
_TOPIC_KEYS: dict[str, bytes] = {}
# The 16 bytes of the last stream hashed (rows of one stream come in runs).
_last_stream: tuple[uuid.UUID | None, bytes] = (None, b"")


def _topic_key(topic: str) -> bytes:
    key = _TOPIC_KEYS.get(topic)
    if key is None:
        key = topic.encode() + b"\x00"
        if len(_TOPIC_KEYS) < 1_024:
            _TOPIC_KEYS[topic] = key
    return key


def stream_hash(stream: bytes, version: int, topic: str, plain_state: bytes) -> bytes:
    """:func:`record_hash` from the 16 bytes of the stream id and a row's other parts."""
    return hashlib.sha256(
        b"".join((stream, version.to_bytes(8, "big"), _topic_key(topic), plain_state))
    ).digest()


def record_hash(stored: StoredEvent, plain_state: bytes) -> bytes:
    """SHA-256 over a record's identity and plaintext state (which contains ``prev_hash``).

    Covering originator id, version and topic means a row moved, renumbered or retyped no longer
    matches its successor's ``prev_hash``. The digest is of ``stream id (16 bytes) || version
    (8 bytes, big-endian) || topic (UTF-8) || NUL || plaintext state``.
    """
    global _last_stream  # a one-entry memo
    oid = stored.originator_id
    last = _last_stream
    if oid is last[0]:
        key = last[1]
    elif isinstance(oid, uuid.UUID):
        key = oid.bytes
        _last_stream = (oid, key)
    else:
        key = uuid.UUID(oid).bytes
    return stream_hash(key, stored.originator_version, stored.topic, plain_state)


class MsgspecTranscoder(Transcoder):
    """eventsourcing Transcoder on msgspec msgpack (used for untyped, upcasting decodes)."""

    def __init__(self) -> None:
        self._encoder = msgspec.msgpack.Encoder()
        self._decoder = msgspec.msgpack.Decoder()

    def encode(self, obj: Any) -> bytes:
        """Encode plain data (dicts, lists, str, int, bytes) as msgpack."""
        return self._encoder.encode(obj)

    def decode(self, data: bytes) -> Any:
        """Decode msgpack into plain data."""
        return self._decoder.decode(data)


#: Stored row of the SQLite fast paths: (rowid, originator id as hex, version, topic, state).
Row = tuple[int, str, int, str, bytes]

#: msgpack header of a 32-byte ``bin`` (every ``prev_hash``).
_BIN32 = b"\xc4\x20"
#: msgpack header of a 4-element array (the envelope, ``array_like``).
_ARRAY4 = b"\x94"


class MsgspecMapper(Mapper[uuid.UUID]):
    """Maps :class:`Recorded` envelopes to and from eventsourcing ``StoredEvent`` rows."""

    def __init__(self, transcoder: Transcoder, compressor: Any = None, cipher: Any = None) -> None:
        super().__init__(transcoder=transcoder, compressor=compressor, cipher=cipher)
        self._encoder = msgspec.msgpack.Encoder()
        self._envelope_decoder = msgspec.msgpack.Decoder(_Envelope)
        self._event_decoders: dict[str, msgspec.msgpack.Decoder[Any]] = {
            name: msgspec.msgpack.Decoder(cls) for name, cls in EVENT_TYPES.items()
        }
        self._topics = {cls: get_topic(cls) for cls in EVENT_TYPES.values()}
        self._names = {topic: cls.__name__ for cls, topic in self._topics.items()}
        self._current = {name: cls.class_version for name, cls in EVENT_TYPES.items()}
        # Fast paths (see BatchEncoder and decode_rows). Corrections are left to the general
        # code: their envelope's versions depend on the replacement, and they may need upcasting.
        #   class -> (topic, msgpack of the envelope's versions map)
        self._envelope_parts: dict[type, tuple[str, bytes]] = {}
        #   topic -> (decode of the current class, the versions map a current row carries)
        self._fast_decoders: dict[str, tuple[Callable[[Any], Any], dict[str, int]]] = {}
        for name, cls in EVENT_TYPES.items():
            if cls is EventCorrected:
                continue
            versions = {name: cls.class_version} if cls.class_version > 1 else {}
            topic = self._topics[cls]
            self._envelope_parts[cls] = (topic, self._encoder.encode(versions))
            self._fast_decoders[topic] = (self._event_decoders[name].decode, versions)
        self._uuids: dict[str, uuid.UUID] = {}

    # -- encode

    def encode(self, recorded: Recorded) -> tuple[StoredEvent, bytes]:
        """The stored row and the plaintext state bytes it was made from (for hashing)."""
        event = recorded.event
        plain = self._encoder.encode(
            _Envelope(
                versions=_versions(event),
                recorded_at_us=_to_us(recorded.recorded_at),
                prev_hash=recorded.prev_hash,
                event=msgspec.Raw(self._encoder.encode(event)),
            )
        )
        stored = StoredEvent(
            originator_id=recorded.originator_id,
            originator_version=recorded.originator_version,
            topic=self._topics[type(event)],
            state=self.seal(plain),
        )
        return stored, plain

    def to_stored_event(self, domain_event: Any) -> StoredEvent:
        """eventsourcing's Mapper interface: encode a :class:`Recorded`."""
        return self.encode(domain_event)[0]

    def seal(self, plain: bytes) -> bytes:
        """The stored form of a plaintext state (compressed, then encrypted, when configured)."""
        state = plain
        if self.compressor:
            state = self.compressor.compress(state)
        if self.cipher:
            state = self.cipher.encrypt(state)
        return state

    def batch_encoder(self, recorded_at: dt.datetime) -> BatchEncoder:
        """An encoder of the records of one batch, all recorded at ``recorded_at``."""
        return BatchEncoder(self, recorded_at)

    # -- decode

    def unseal(self, state: bytes) -> bytes:
        """The plaintext of a stored state (undoing cipher and compression)."""
        if self.cipher:
            state = self.cipher.decrypt(state)
        if self.compressor:
            state = self.compressor.decompress(state)
        return state

    def plaintext(self, stored: StoredEvent) -> bytes:
        """The plaintext state of a stored row (undoing cipher and compression)."""
        return self.unseal(stored.state)

    def stream_uuid(self, originator_id: str | uuid.UUID) -> uuid.UUID:
        """The UUID of a stored originator id (one object per stream, reused)."""
        if isinstance(originator_id, uuid.UUID):
            return originator_id
        found = self._uuids.get(originator_id)
        if found is None:
            found = uuid.UUID(originator_id)
            if len(self._uuids) < 100_000:
                self._uuids[originator_id] = found
        return found

    def decode(self, stored: StoredEvent, plain: bytes | None = None) -> Recorded:
        """Rebuild the :class:`Recorded` envelope of a stored row, upcasting old versions."""
        if plain is None:
            plain = self.plaintext(stored)
        try:
            env = self._envelope_decoder.decode(plain)
            name = self._names[stored.topic]
            # Fast path: a current-version event decodes straight into its class. A correction
            # always takes the upcasting path, since its replacement may be an older version.
            if name != "EventCorrected" and env.versions.get(name, 1) == self._current[name]:
                event = self._event_decoders[name].decode(env.event)
            else:
                event = self._upcast(name, env)
        except (msgspec.DecodeError, msgspec.ValidationError, KeyError) as e:
            msg = (
                f"cannot decode stored event {stored.originator_version} of stream "
                f"{stored.originator_id} (topic {stored.topic!r}): {e}"
            )
            raise ValueError(msg) from e
        oid = stored.originator_id
        return Recorded(
            originator_id=oid if isinstance(oid, uuid.UUID) else uuid.UUID(oid),
            originator_version=stored.originator_version,
            recorded_at=_from_us(env.recorded_at_us),
            prev_hash=env.prev_hash,
            event=event,
        )

    def to_domain_event(self, stored_event: StoredEvent) -> Any:
        """eventsourcing's Mapper interface: decode to a :class:`Recorded`."""
        return self.decode(stored_event)

    def decode_rows(self, rows: Iterable[Row]) -> Iterator[tuple[int, Recorded]]:
        """(rowid, record) of raw rows, as :meth:`decode` would give them, without building an
        eventsourcing ``Notification`` and a ``UUID`` per row.

        A row of a current-version event (every row but corrections and rows stored by older
        code) is decoded here; any other row, or one that fails here, goes through
        :meth:`decode`, which upcasts, or raises its usual error.
        """
        env_decode = self._envelope_decoder.decode
        fast = self._fast_decoders
        uuids = self._uuids
        sealed = bool(self.cipher or self.compressor)
        last_us: int | None = None
        recorded_at = _EPOCH
        for rowid, oid, version, topic, state in rows:
            try:
                env = env_decode(self.unseal(state) if sealed else state)
                decode_event, versions = fast[topic]
                if env.versions != versions:
                    raise _NotFast  # leave it to decode()
                us = env.recorded_at_us
                if us != last_us:
                    recorded_at = _from_us(us)
                    last_us = us
                rec = Recorded(
                    originator_id=uuids[oid],
                    originator_version=version,
                    recorded_at=recorded_at,
                    prev_hash=env.prev_hash,
                    event=decode_event(env.event),
                )
            except Exception:  # decode() redoes it, and raises the right error
                rec = self.decode(StoredEvent(self.stream_uuid(oid), version, topic, state))
            yield rowid, rec

    def _upcast(self, name: str, env: _Envelope) -> DomainEvent:
        state: dict[str, Any] = self.transcoder.decode(env.event)
        _upcast_state(EVENT_TYPES[name], state, env.versions.get(name, 1))
        if name == "EventCorrected":
            replacement = state["replacement"]
            inner = EVENT_TYPES[replacement["type"]]
            _upcast_state(inner, replacement, env.versions.get(inner.__name__, 1))
        return msgspec.convert(state, type=EVENT_TYPES[name])  # type: ignore[return-value]


class _NotFast(Exception):  # an internal signal, never escapes
    """A row the fast decoding path leaves to :meth:`MsgspecMapper.decode`."""


class BatchEncoder:
    """Encodes the records of one batch (one recorded time) into stored states and hashes.

    Gives the bytes :meth:`MsgspecMapper.encode` and :func:`record_hash` give, without building
    a :class:`Recorded` and a ``StoredEvent`` per event or encoding the envelope through msgspec:
    the envelope of a non-correction is its 4-array header, the msgpack of its class's versions
    map and of the batch's recorded time (the same for every event of the class in the batch),
    the 32-byte ``prev_hash`` and the event's msgpack. Corrections (and anything unusual) take
    the general path.
    """

    def __init__(self, mapper: MsgspecMapper, recorded_at: dt.datetime) -> None:
        self._mapper = mapper
        self.recorded_at = recorded_at
        self._us = mapper._encoder.encode(_to_us(recorded_at))
        self._encode_event = mapper._encoder.encode
        self._sealed = bool(mapper.compressor or mapper.cipher)
        self._heads: dict[type, tuple[str, bytes, bytes]] = {}

    def _head(self, cls: type) -> tuple[str, bytes, bytes] | None:
        parts = self._mapper._envelope_parts.get(cls)
        if parts is None:
            return None
        topic, versions = parts
        head = self._heads[cls] = (topic, _topic_key(topic), _ARRAY4 + versions + self._us)
        return head

    def encode(self, stream: uuid.UUID, stream_bytes: bytes, version: int, prev_hash: bytes,
               event: DomainEvent) -> tuple[str, bytes, bytes]:
        """``(topic, stored state, record hash)`` of ``event`` at ``version`` of ``stream``.

        ``stream_bytes`` is ``stream.bytes``, which the caller keeps per stream.
        """
        head = self._heads.get(type(event)) or self._head(type(event))
        if head is None or len(prev_hash) != 32:
            row, plain = self._mapper.encode(Recorded(
                originator_id=stream, originator_version=version, recorded_at=self.recorded_at,
                prev_hash=prev_hash, event=event))
            return row.topic, row.state, record_hash(row, plain)
        topic, topic_key, envelope = head
        plain = b"".join((envelope, _BIN32, prev_hash, self._encode_event(event)))
        digest = hashlib.sha256(
            b"".join((stream_bytes, version.to_bytes(8, "big"), topic_key, plain))).digest()
        return topic, self._mapper.seal(plain) if self._sealed else plain, digest


def _upcast_state(cls: type[Event], state: dict[str, Any], from_version: int) -> None:
    """Apply ``upcast_vN_vN+1`` static methods until ``state`` matches ``cls.class_version``."""
    while from_version < cls.class_version:
        getattr(cls, f"upcast_v{from_version}_v{from_version + 1}")(state)
        from_version += 1


class LedgerSQLiteRecorder(SQLiteApplicationRecorder):
    """eventsourcing's SQLite application recorder, with the ledger's fast paths.

    The table and every inherited method are eventsourcing's; this adds:

    * one ``UUID`` per stream: :meth:`convert_originator_id` remembers the ids it made, so
      reading a notification or a stream no longer parses a UUID from hex per row;
    * :meth:`insert_rows`: a batch of plain tuples in one ``executemany`` in one transaction,
      the notification ids taken from ``last_insert_rowid()`` (a write transaction holds
      SQLite's write lock, so the rowids of its inserts are consecutive);
    * :meth:`select_rows` / :meth:`select_stream_rows`: rows as plain tuples, for
      :meth:`MsgspecMapper.decode_rows`, without a ``Notification`` or ``StoredEvent`` per row.

    Set by :func:`store_env` for SQLite files; the ledger falls back to the generic recorder
    interface on any other recorder.
    """

    def __init__(self, datastore: SQLiteDatastore, events_table_name: str = "stored_events"
                 ) -> None:
        super().__init__(datastore, events_table_name)
        self._ids: dict[str, uuid.UUID | str] = {}
        table = self.events_table_name
        self._select_rows = (f"SELECT rowid, originator_id, originator_version, topic, state "
                             f"FROM {table} WHERE rowid>=? ORDER BY rowid LIMIT ?")
        self._select_rows_until = (f"SELECT rowid, originator_id, originator_version, topic, "
                                   f"state FROM {table} WHERE rowid>=? AND rowid<=? "
                                   f"ORDER BY rowid LIMIT ?")
        self._select_stream_rows = (f"SELECT rowid, originator_id, originator_version, topic, "
                                    f"state FROM {table} WHERE originator_id=? AND "
                                    f"originator_version>? ORDER BY originator_version")

    def convert_originator_id(self, originator_id: str) -> uuid.UUID | str:
        """eventsourcing's conversion, made once per stream."""
        found = self._ids.get(originator_id)
        if found is None:
            found = super().convert_originator_id(originator_id)
            if len(self._ids) < 100_000:
                self._ids[originator_id] = found
        return found

    def insert_rows(self, rows: list[tuple[str, int, str, bytes]]) -> list[int]:
        """Insert ``(originator_id hex, version, topic, state)`` rows atomically; their ids.

        Raises eventsourcing's ``IntegrityError`` (nothing stored) when a row's
        ``(originator_id, version)`` exists, e.g. after a concurrent append to the stream.
        """
        if not rows:
            return []
        with self.datastore.transaction(commit=True) as c:
            c.executemany(self.insert_events_statement, rows)
            c.execute("SELECT last_insert_rowid()")
            last = int(c.fetchone()[0])
        return list(range(last - len(rows) + 1, last + 1))

    def select_rows(self, start: int, limit: int, stop: int | None = None) -> list[Row]:
        """Up to ``limit`` rows from notification id ``start`` (to ``stop``), in order."""
        with self.datastore.transaction(commit=False) as c:
            cursor = c.sqlite_cursor
            cursor.row_factory = None
            if stop is None:
                cursor.execute(self._select_rows, (start, limit))
            else:
                cursor.execute(self._select_rows_until, (start, stop, limit))
            rows: list[Row] = cursor.fetchall()
        return rows

    def select_stream_rows(self, originator_id: str, gt: int = 0) -> list[Row]:
        """The rows of one stream (``originator_id`` as stored: hex) after version ``gt``."""
        with self.datastore.transaction(commit=False) as c:
            cursor = c.sqlite_cursor
            cursor.row_factory = None
            cursor.execute(self._select_stream_rows, (originator_id, gt))
            rows: list[Row] = cursor.fetchall()
        return rows


_SQLITE_RECORDER_TOPIC = "ssp_ledger.persistence:LedgerSQLiteRecorder"


class LedgerApplication(Application[uuid.UUID]):
    """The eventsourcing Application that owns the recorder and the msgspec mapper."""

    name = "SSPLedger"

    def construct_mapper(self) -> Mapper[uuid.UUID]:
        """Use :class:`MsgspecMapper`, keeping the factory's compressor and cipher."""
        return MsgspecMapper(
            transcoder=MsgspecTranscoder(),
            compressor=self.factory.compressor(),
            cipher=self.factory.cipher(),
        )

    @property
    def msgspec_mapper(self) -> MsgspecMapper:
        """The mapper, typed."""
        assert isinstance(self.mapper, MsgspecMapper)
        return self.mapper

    def decode_notification(self, notification: Notification) -> Recorded:
        """Decode one notification-log row."""
        return self.msgspec_mapper.decode(notification)

    def checkpoint_recorder(self) -> CheckpointRecorder:
        """The recorder of projection checkpoints, in the same database as the events.

        Made once per application by eventsourcing's own factory (same connection pool, tables
        created if missing), so an in-memory store keeps its checkpoints for its lifetime.
        """
        recorder: CheckpointRecorder | None = getattr(self, "_checkpoints", None)
        if recorder is None:
            factory = self.factory
            made: TrackingRecorder
            if isinstance(factory, SQLiteFactory):
                made = factory.tracking_recorder(SQLiteCheckpointRecorder)
            elif isinstance(factory, POPOFactory):
                made = factory.tracking_recorder(POPOCheckpointRecorder)
            else:
                from eventsourcing.postgres import PostgresFactory

                from ssp_ledger.postgres import PostgresCheckpointRecorder

                if not isinstance(factory, PostgresFactory):
                    msg = f"no checkpoint recorder for {type(factory).__qualname__}"
                    raise TypeError(msg)
                made = factory.tracking_recorder(PostgresCheckpointRecorder)
            assert isinstance(made, CheckpointRecorder)
            recorder = self._checkpoints = made
        return recorder


Backend = Literal["memory", "sqlite", "postgres"]
"""The three kinds of store."""

#: Location meaning "configure the store from eventsourcing's environment variables"
#: (``PERSISTENCE_MODULE``, ``POSTGRES_DBNAME``, ``POSTGRES_HOST``, ... or ``SQLITE_DBNAME``).
ENV_LOCATION = "env:"

#: Query parameters of a ``postgresql://`` URL and the eventsourcing variables they set.
POSTGRES_URL_OPTIONS = {
    "schema": "POSTGRES_SCHEMA",
    "host": "POSTGRES_HOST",
    "connect_timeout": "POSTGRES_CONNECT_TIMEOUT",
    "pool_size": "POSTGRES_POOL_SIZE",
    "max_overflow": "POSTGRES_MAX_OVERFLOW",
    "max_waiting": "POSTGRES_MAX_WAITING",
    "conn_max_age": "POSTGRES_CONN_MAX_AGE",
    "pre_ping": "POSTGRES_PRE_PING",
    "lock_timeout": "POSTGRES_LOCK_TIMEOUT",
    "idle_in_transaction_session_timeout": "POSTGRES_IDLE_IN_TRANSACTION_SESSION_TIMEOUT",
}

_POSTGRES_RECORDER_TOPIC = "ssp_ledger.postgres:LedgerPostgresRecorder"


def backend_of(location: str | Path, environ: Mapping[str, str] | None = None) -> Backend:
    """Which kind of store a location names (:data:`ENV_LOCATION` asks ``PERSISTENCE_MODULE``)."""
    text = str(location)
    if text in (":memory:", "memory"):
        return "memory"
    if text.startswith(("postgresql://", "postgres://")):
        return "postgres"
    if text == ENV_LOCATION:
        module = (os.environ if environ is None else environ).get("PERSISTENCE_MODULE", "")
        if module in ("eventsourcing.postgres", "postgres"):
            return "postgres"
        if module in ("eventsourcing.sqlite", "sqlite"):
            return "sqlite"
        if module in ("", "eventsourcing.popo", "popo"):
            return "memory"
        msg = f"PERSISTENCE_MODULE={module!r} is not a store ssp-ledger supports"
        raise ValueError(msg)
    if "://" in text and not text.startswith("file:"):
        scheme = text.partition("://")[0]
        msg = (f"{scheme}:// is not a store ssp-ledger supports; give a SQLite file path, "
               "':memory:' or a postgresql:// URL")
        raise ValueError(msg)
    return "sqlite"


def store_env(location: str | Path, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """eventsourcing environment for a store location (merged over ``os.environ``).

    ``":memory:"`` or ``"memory"`` selects eventsourcing's POPO recorders; a
    ``postgresql://user:password@host:port/dbname?schema=...`` URL the PostgreSQL module (query
    parameters: see :data:`POSTGRES_URL_OPTIONS`; a password left out of the URL is taken from
    ``POSTGRES_PASSWORD`` or libpq's ``PGPASSWORD``/``~/.pgpass``); :data:`ENV_LOCATION` leaves
    everything to eventsourcing's own variables; anything else is a SQLite file path.
    """
    text = str(location)
    env: dict[str, str]
    backend = backend_of(text)
    if text == ENV_LOCATION:
        env = {}
        if "APPLICATION_RECORDER_TOPIC" not in os.environ:
            if backend == "postgres":
                env["APPLICATION_RECORDER_TOPIC"] = _POSTGRES_RECORDER_TOPIC
            elif backend == "sqlite":
                env["APPLICATION_RECORDER_TOPIC"] = _SQLITE_RECORDER_TOPIC
    elif backend == "memory":
        env = {"PERSISTENCE_MODULE": "eventsourcing.popo"}
    elif backend == "postgres":
        url = urlsplit(text)
        env = {
            "PERSISTENCE_MODULE": "eventsourcing.postgres",
            "APPLICATION_RECORDER_TOPIC": _POSTGRES_RECORDER_TOPIC,
            "POSTGRES_DBNAME": unquote(url.path.lstrip("/")) or "postgres",
            "POSTGRES_HOST": url.hostname or "127.0.0.1",
            "POSTGRES_PORT": str(url.port or 5432),
            "POSTGRES_USER": unquote(url.username or "postgres"),
        }
        if url.password is not None:
            env["POSTGRES_PASSWORD"] = unquote(url.password)
        elif "POSTGRES_PASSWORD" not in os.environ:
            env["POSTGRES_PASSWORD"] = ""  # eventsourcing requires the key; libpq may find one
        for key, value in parse_qsl(url.query, keep_blank_values=True):
            name = POSTGRES_URL_OPTIONS.get(key)
            if name is None:
                msg = (f"unknown option {key!r} in the PostgreSQL URL; "
                       f"known: {', '.join(POSTGRES_URL_OPTIONS)}")
                raise ValueError(msg)
            env[name] = value
    else:
        env = {
            "PERSISTENCE_MODULE": "eventsourcing.sqlite",
            "APPLICATION_RECORDER_TOPIC": _SQLITE_RECORDER_TOPIC,
            "SQLITE_DBNAME": text,
            "SQLITE_LOCK_TIMEOUT": "30",
        }
    if extra:
        env.update(extra)
    return env


# --------------------------------------------------------------------------- checkpoints


@dataclass(frozen=True)
class Checkpoint:
    """Materialised projection state at a log position, stored beside the events."""

    name: str
    """Name of the runner that wrote it (several runners may share a store)."""
    position: int
    """Notification id of the last record applied."""
    fingerprint: str
    """Identifies the projection classes and code the state was made with."""
    anchor: bytes
    """:func:`record_hash` of the record at ``position`` (a rewritten log invalidates it)."""
    state: bytes
    """Serialised projection state (see :meth:`ssp_ledger.projection.ProjectionSet.snapshot`)."""
    saved_at: dt.datetime
    """When it was written (UTC)."""


def tracking_name(name: str) -> str:
    """The eventsourcing tracking ``application_name`` of checkpoint ``name``."""
    return f"ssp-ledger-projections:{name}"


class CheckpointRecorder(TrackingRecorder):
    """An eventsourcing tracking recorder that also stores :class:`Checkpoint` rows.

    :meth:`save_checkpoint` writes the checkpoint and the tracking record
    ``(tracking_name(name), position)`` in one transaction: the state and the position it
    reflects can never disagree, and a position that does not advance is refused with
    eventsourcing's ``IntegrityError`` (two runners racing on one name cannot go backwards).
    """

    @abstractmethod
    def save_checkpoint(self, checkpoint: Checkpoint) -> None:
        """Store the checkpoint and its tracking record atomically."""

    @abstractmethod
    def load_checkpoint(self, name: str) -> Checkpoint | None:
        """The checkpoint called ``name``, or None."""

    @abstractmethod
    def delete_checkpoint(self, name: str) -> None:
        """Remove the checkpoint and its tracking record (to rebuild from position 0)."""


#: Attempts at eventsourcing's ``create_table`` when several processes open a store at once.
CREATE_ATTEMPTS = 8


def create_with_retries(create: Callable[[], None]) -> None:
    """Run an eventsourcing ``create_table``, retrying when a concurrent one interferes.

    Every open re-runs eventsourcing's idempotent DDL (``CREATE ... IF NOT EXISTS``, ``CREATE OR
    REPLACE FUNCTION``, the tracking table's migration row); several processes doing it at once
    can fail all but one with a database error. Running it again then finds the work done.
    """
    for attempt in range(1, CREATE_ATTEMPTS + 1):
        try:
            create()
        except DatabaseError:
            if attempt == CREATE_ATTEMPTS:
                raise
            time.sleep(random.uniform(0.01, 0.05 * attempt))  # jitter, not crypto
        else:
            return


_SQLITE_CHECKPOINTS = "ssp_projection_checkpoints"


class SQLiteCheckpointRecorder(SQLiteTrackingRecorder, CheckpointRecorder):
    """Checkpoints in a SQLite file, beside eventsourcing's ``tracking`` table."""

    def create_table(self) -> None:
        """eventsourcing's, retried when another process creates the tables at the same time."""
        create_with_retries(super().create_table)

    def construct_create_table_statements(self) -> list[str]:
        """eventsourcing's tracking table plus the checkpoints table."""
        return [
            *super().construct_create_table_statements(),
            f"CREATE TABLE IF NOT EXISTS {_SQLITE_CHECKPOINTS} ("
            "name TEXT PRIMARY KEY, position INTEGER NOT NULL, fingerprint TEXT NOT NULL, "
            "anchor BLOB NOT NULL, state BLOB NOT NULL, saved_at TEXT NOT NULL)",
        ]

    def save_checkpoint(self, checkpoint: Checkpoint) -> None:
        """Tracking insert and checkpoint upsert in one SQLite transaction."""
        with self.datastore.transaction(commit=True) as c:
            self._insert_tracking(c, Tracking(tracking_name(checkpoint.name), checkpoint.position))
            c.execute(
                f"INSERT INTO {_SQLITE_CHECKPOINTS} VALUES (?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (name) DO UPDATE SET position=excluded.position, "
                "fingerprint=excluded.fingerprint, anchor=excluded.anchor, "
                "state=excluded.state, saved_at=excluded.saved_at",
                (checkpoint.name, checkpoint.position, checkpoint.fingerprint, checkpoint.anchor,
                 checkpoint.state, checkpoint.saved_at.isoformat()),
            )

    def load_checkpoint(self, name: str) -> Checkpoint | None:
        """Read one checkpoint."""
        with self.datastore.transaction(commit=False) as c:
            return self._load(c, name)

    def _load(self, c: SQLiteCursor, name: str) -> Checkpoint | None:
        c.execute(
            f"SELECT position, fingerprint, anchor, state, saved_at FROM {_SQLITE_CHECKPOINTS} "
            "WHERE name=?", (name,))
        row = c.fetchone()
        if row is None:
            return None
        return Checkpoint(name, int(row[0]), str(row[1]), bytes(row[2]), bytes(row[3]),
                          dt.datetime.fromisoformat(row[4]))

    def delete_checkpoint(self, name: str) -> None:
        """Delete the checkpoint and its tracking row in one transaction."""
        with self.datastore.transaction(commit=True) as c:
            c.execute(f"DELETE FROM {_SQLITE_CHECKPOINTS} WHERE name=?", (name,))
            c.execute("DELETE FROM tracking WHERE application_name=?", (tracking_name(name),))


class POPOCheckpointRecorder(POPOTrackingRecorder, CheckpointRecorder):
    """Checkpoints of an in-memory store (kept for the life of its application)."""

    def __init__(self) -> None:
        super().__init__()
        self._checkpoints: dict[str, Checkpoint] = {}

    def save_checkpoint(self, checkpoint: Checkpoint) -> None:
        """Tracking and checkpoint under eventsourcing's database lock."""
        with self._database_lock:
            tracking = Tracking(tracking_name(checkpoint.name), checkpoint.position)
            self._assert_tracking_uniqueness(tracking)
            self._insert_tracking(tracking)
            self._checkpoints[checkpoint.name] = checkpoint

    def load_checkpoint(self, name: str) -> Checkpoint | None:
        """Read one checkpoint."""
        with self._database_lock:
            return self._checkpoints.get(name)

    def delete_checkpoint(self, name: str) -> None:
        """Forget the checkpoint and its tracking record."""
        with self._database_lock:
            self._checkpoints.pop(name, None)
            self._max_tracking_ids.pop(tracking_name(name), None)


Clock = Callable[[], dt.datetime]
"""An injectable source of the current UTC time."""
