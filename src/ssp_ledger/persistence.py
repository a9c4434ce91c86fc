"""Persistence: how events are stored through eventsourcing's recorders.

A stored record is a :class:`Recorded` envelope around one domain event: the stream (one UUID per
partnership), its position in the stream, the UTC time the ledger recorded it and the hash of the
previous record of the same stream. :class:`MsgspecMapper` turns envelopes into eventsourcing
``StoredEvent`` rows with msgpack (one cached encoder/decoder per class), keeps eventsourcing's
``class_version`` upcasting working (the repository's example mappers drop it), and still applies
the library's optional compressor and cipher.

Backends are eventsourcing's own: ``eventsourcing.popo`` (memory), ``eventsourcing.sqlite``
(default, a file) and ``eventsourcing.postgres``; :func:`store_env` turns a location into the
environment eventsourcing expects.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import msgspec
from eventsourcing.application import Application
from eventsourcing.persistence import Mapper, Notification, StoredEvent, Transcoder
from eventsourcing.utils import get_topic

from ssp_ledger.events import EVENT_TYPES, DomainEvent, Event, EventCorrected

__all__ = [
    "GENESIS",
    "LedgerApplication",
    "MsgspecMapper",
    "MsgspecTranscoder",
    "Recorded",
    "record_hash",
    "store_env",
    "stream_id",
]

#: Namespace of the stream UUIDs derived from partnership ids.
STREAM_NAMESPACE = uuid.UUID("6f1d3f8e-6c43-5b1e-9f0e-5c2b8a4e7a10")
#: ``prev_hash`` of the first record of every stream.
GENESIS = b"\x00" * 32


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


def _to_us(moment: dt.datetime) -> int:
    if moment.tzinfo is None:
        msg = "recorded_at must be timezone-aware (UTC)"
        raise ValueError(msg)
    delta = moment - dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def _from_us(us: int) -> dt.datetime:
    return dt.datetime(1970, 1, 1, tzinfo=dt.UTC) + dt.timedelta(microseconds=us)


def record_hash(stored: StoredEvent, plain_state: bytes) -> bytes:
    """SHA-256 over a record's identity and plaintext state (which contains ``prev_hash``).

    Covering originator id, version and topic means a row moved, renumbered or retyped no longer
    matches its successor's ``prev_hash``.
    """
    h = hashlib.sha256()
    oid = stored.originator_id
    h.update(oid.bytes if isinstance(oid, uuid.UUID) else uuid.UUID(oid).bytes)
    h.update(stored.originator_version.to_bytes(8, "big"))
    h.update(stored.topic.encode())
    h.update(b"\x00")
    h.update(plain_state)
    return h.digest()


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
        state = plain
        if self.compressor:
            state = self.compressor.compress(state)
        if self.cipher:
            state = self.cipher.encrypt(state)
        stored = StoredEvent(
            originator_id=recorded.originator_id,
            originator_version=recorded.originator_version,
            topic=self._topics[type(event)],
            state=state,
        )
        return stored, plain

    def to_stored_event(self, domain_event: Any) -> StoredEvent:
        """eventsourcing's Mapper interface: encode a :class:`Recorded`."""
        return self.encode(domain_event)[0]

    # -- decode

    def plaintext(self, stored: StoredEvent) -> bytes:
        """The plaintext state of a stored row (undoing cipher and compression)."""
        state = stored.state
        if self.cipher:
            state = self.cipher.decrypt(state)
        if self.compressor:
            state = self.compressor.decompress(state)
        return state

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

    def _upcast(self, name: str, env: _Envelope) -> DomainEvent:
        state: dict[str, Any] = self.transcoder.decode(env.event)
        _upcast_state(EVENT_TYPES[name], state, env.versions.get(name, 1))
        if name == "EventCorrected":
            replacement = state["replacement"]
            inner = EVENT_TYPES[replacement["type"]]
            _upcast_state(inner, replacement, env.versions.get(inner.__name__, 1))
        return msgspec.convert(state, type=EVENT_TYPES[name])  # type: ignore[return-value]


def _upcast_state(cls: type[Event], state: dict[str, Any], from_version: int) -> None:
    """Apply ``upcast_vN_vN+1`` static methods until ``state`` matches ``cls.class_version``."""
    while from_version < cls.class_version:
        getattr(cls, f"upcast_v{from_version}_v{from_version + 1}")(state)
        from_version += 1


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


def store_env(location: str | Path, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """eventsourcing environment for a store location.

    ``":memory:"`` or ``"memory"`` selects eventsourcing's POPO recorders; a ``postgresql://`` URL
    the PostgreSQL module; anything else is a SQLite file path.
    """
    text = str(location)
    env: dict[str, str]
    if text in (":memory:", "memory"):
        env = {"PERSISTENCE_MODULE": "eventsourcing.popo"}
    elif text.startswith(("postgresql://", "postgres://")):
        from urllib.parse import unquote, urlsplit

        url = urlsplit(text)
        env = {
            "PERSISTENCE_MODULE": "eventsourcing.postgres",
            "POSTGRES_DBNAME": url.path.lstrip("/") or "postgres",
            "POSTGRES_HOST": url.hostname or "127.0.0.1",
            "POSTGRES_PORT": str(url.port or 5432),
            "POSTGRES_USER": unquote(url.username or "postgres"),
            "POSTGRES_PASSWORD": unquote(url.password or ""),
        }
    else:
        env = {
            "PERSISTENCE_MODULE": "eventsourcing.sqlite",
            "SQLITE_DBNAME": str(location),
            "SQLITE_LOCK_TIMEOUT": "30",
        }
    if extra:
        env.update(extra)
    return env


Clock = Callable[[], dt.datetime]
"""An injectable source of the current UTC time."""
