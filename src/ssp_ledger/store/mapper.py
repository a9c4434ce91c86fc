"""The mapper: :class:`~ssp_ledger.store.records.Recorded` envelopes to stored bytes and back.

:class:`MsgspecMapper` turns envelopes into eventsourcing ``StoredEvent`` rows with msgpack (one
cached typed decoder per event class), keeps eventsourcing's ``class_version`` upcasting working
(``upcast_vN_vN+1`` static methods on the event classes, applied to a correction's replacement
too) and still applies the library's optional compressor and cipher.

Two fast paths give exactly the bytes of the general ones (tests compare them byte for byte):
:class:`BatchEncoder` assembles the msgpack of a batch's envelopes from parts shared by every
event of a class, and :meth:`MsgspecMapper.decode_rows` decodes plain row tuples without an
eventsourcing object per row. Anything unusual (corrections, old class versions, damage) takes the
general path, and damage becomes a :class:`~ssp_ledger.errors.DamagedRecord` naming the position.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import msgspec
from eventsourcing.persistence import Mapper, StoredEvent, Transcoder
from eventsourcing.utils import get_topic

from ssp_ledger.errors import DamagedRecord
from ssp_ledger.events import EVENT_TYPES, DomainEvent, Event, EventCorrected
from ssp_ledger.store.records import EPOCH, Decoded, Recorded, from_us, record_hash, to_us

__all__ = ["BatchEncoder", "MsgspecMapper", "MsgspecTranscoder", "Row", "describe_row"]


class _Envelope(msgspec.Struct, array_like=True, frozen=True):
    """Wire form of :class:`Recorded`'s state: the event stays raw until its class is known."""

    versions: dict[str, int]
    recorded_at_us: int
    prev_hash: bytes
    event: msgspec.Raw


class _FastEnvelope(msgspec.Struct, array_like=True, frozen=True):
    """:class:`_Envelope` with the versions map left encoded: the batch decoder compares its
    bytes with those a current row of the class carries, without building a dict per row."""

    versions: msgspec.Raw
    recorded_at_us: int
    prev_hash: bytes
    event: msgspec.Raw


def _typed_envelope(cls: type[Event]) -> type[msgspec.Struct]:
    """:class:`_FastEnvelope` with the event typed as ``cls``: the envelope and the event
    decoded by one msgspec call (the event checked exactly as by its own decoder: the same
    class, tag, fields and ``__post_init__``). What :meth:`MsgspecMapper.decode_columns`
    decodes a current row of ``cls`` with."""
    return msgspec.defstruct(f"_{cls.__name__}Envelope",
                             [("versions", msgspec.Raw), ("recorded_at_us", int),
                              ("prev_hash", bytes), ("event", cls)],
                             array_like=True, frozen=True)


def _versions(event: Event) -> dict[str, int]:
    """class_version of the event and of a correction's replacement, where above 1."""
    out: dict[str, int] = {}
    for part in (event, event.replacement) if isinstance(event, EventCorrected) else (event,):
        version = type(part).class_version
        if version > 1:
            out[type(part).__name__] = version
    return out


def describe_row(row: tuple[Any, ...]) -> str | None:
    """What is wrong with the shape of a raw ``(position, stream, version, topic, state)`` row
    (NULLs, wrong types, a stream id that is not a UUID), or None when it has the right shape."""
    _, oid, version, topic, state = row
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        return f"originator_version is {_shown(version)}, not a positive integer"
    if not isinstance(topic, str):
        return f"topic is {_shown(topic)}, not text"
    if not isinstance(state, bytes | bytearray | memoryview):
        return f"state is {_shown(state)}, not bytes"
    if not isinstance(oid, uuid.UUID):
        try:
            uuid.UUID(str(oid))
        except ValueError:
            return f"stream id is {_shown(oid)}, not a UUID"
    return None


def _shown(value: object) -> str:
    """A stored value as a user would name it (NULL, a short repr and its type)."""
    if value is None:
        return "NULL"
    text = repr(value)
    return f"{text[:40]}{'...' if len(text) > 40 else ''} ({type(value).__name__})"


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
        #   topic -> (decode of the current class, the msgpack of the versions map a current
        #   row carries)
        self._fast_decoders: dict[str, tuple[Callable[[Any], Any], msgspec.Raw]] = {}
        self._fast_envelope = msgspec.msgpack.Decoder(_FastEnvelope)
        #   topic -> (decode of a whole row of the current class, envelope and event at once,
        #   and that versions map): decode_columns
        self._row_decoders: dict[str, tuple[Callable[[Any], Any], msgspec.Raw]] = {}
        for name, cls in EVENT_TYPES.items():
            if cls is EventCorrected:
                continue
            versions = {name: cls.class_version} if cls.class_version > 1 else {}
            topic = self._topics[cls]
            self._envelope_parts[cls] = (topic, self._encoder.encode(versions))
            self._fast_decoders[topic] = (self._event_decoders[name].decode,
                                          msgspec.Raw(self._encoder.encode(versions)))
            self._row_decoders[topic] = (msgspec.msgpack.Decoder(_typed_envelope(cls)).decode,
                                         msgspec.Raw(self._encoder.encode(versions)))
        self._uuids: dict[str, uuid.UUID] = {}

    # -- encode

    def encode(self, recorded: Recorded) -> tuple[StoredEvent, bytes]:
        """The stored row and the plaintext state bytes it was made from (for hashing)."""
        event = recorded.event
        plain = self._encoder.encode(
            _Envelope(
                versions=_versions(event),
                recorded_at_us=to_us(recorded.recorded_at),
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

    def decode(self, stored: StoredEvent, plain: bytes | None = None,
               position: int | None = None) -> Recorded:
        """Rebuild the :class:`Recorded` envelope of a stored row, upcasting old versions.

        Raises :class:`~ssp_ledger.errors.DamagedRecord` for a row that is not a record this
        ledger wrote, naming its position (``position``, or the notification id of an
        eventsourcing ``Notification``).
        """
        if position is None:
            position = getattr(stored, "id", None)
        where = f"position {position}: " if position is not None else ""
        try:
            if plain is None:
                plain = self.plaintext(stored)
            env = self._envelope_decoder.decode(plain)
            name = self._names[stored.topic]
            # Fast path: a current-version event decodes straight into its class. A correction
            # always takes the upcasting path, since its replacement may be an older version.
            if name != "EventCorrected" and env.versions.get(name, 1) == self._current[name]:
                event = self._event_decoders[name].decode(env.event)
            else:
                event = self._upcast(name, env)
            recorded_at = from_us(env.recorded_at_us)
            oid = stored.originator_id
            stream = oid if isinstance(oid, uuid.UUID) else uuid.UUID(oid)
        except (msgspec.DecodeError, msgspec.ValidationError, KeyError, ValueError,
                TypeError, AttributeError) as e:
            msg = (
                f"{where}cannot decode stored event {stored.originator_version} of stream "
                f"{stored.originator_id} (topic {stored.topic!r}): {e}"
            )
            raise DamagedRecord(msg, position=position) from e
        return Recorded(
            originator_id=stream,
            originator_version=stored.originator_version,
            recorded_at=recorded_at,
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
        :meth:`decode`, which upcasts, or raises its usual error (after the rows before it
        have been yielded).
        """
        decoded, damage = self.decode_batch(rows)
        yield from decoded
        if damage is not None:
            raise damage

    def decode_batch(self, rows: Iterable[Row]
                     ) -> tuple[list[tuple[int, Recorded]], DamagedRecord | None]:
        """:meth:`decode_rows` as a list, eagerly: the (rowid, record) pairs of the rows up to
        the first damaged one, and the :class:`~ssp_ledger.errors.DamagedRecord` naming that
        one (None: every row decoded). A replay reads the log this way, a batch at a time,
        without a generator step per row."""
        env_decode = self._fast_envelope.decode
        fast = self._fast_decoders
        uuids = self._uuids
        sealed = bool(self.cipher or self.compressor)
        last_us: int | None = None
        recorded_at = EPOCH
        # Rows come in runs of one stream and one class: the last look-ups are kept, and a
        # string comparison replaces hashing each row's fresh strings.
        last_topic: object = None
        decode_event: Callable[[Any], Any] = _never
        versions = msgspec.Raw(b"")
        last_oid: object = None
        stream = _NO_STREAM  # never used: the first row looks its stream up
        out: list[tuple[int, Recorded]] = []
        append = out.append
        for rowid, oid, version, topic, state in rows:
            try:
                if version.__class__ is not int or version < 1:
                    raise _NotFast  # a damaged row: decode() names what is wrong
                env = env_decode(self.unseal(state) if sealed else state)
                if topic != last_topic or topic.__class__ is not str:
                    decode_event, versions = fast[topic]
                    last_topic = topic
                if env.versions != versions:
                    raise _NotFast  # leave it to decode()
                us = env.recorded_at_us
                if us != last_us:
                    recorded_at = from_us(us)
                    last_us = us
                if oid != last_oid or oid.__class__ is not str:
                    stream = uuids[oid]
                    last_oid = oid
                rec = Recorded(
                    originator_id=stream,
                    originator_version=version,
                    recorded_at=recorded_at,
                    prev_hash=env.prev_hash,
                    event=decode_event(env.event),
                )
            except Exception:  # decode() redoes it, and raises the right error
                try:
                    rec = self._decode_slow(rowid, oid, version, topic, state)
                except DamagedRecord as e:
                    return out, e
            append((rowid, rec))
        return out, None

    def decode_columns(self, rows: Iterable[tuple[int, Any, Any, Any, Any]],
                       same: tuple[Any, Any] | None = None,
                       reread: Callable[[int], tuple[int, Any, Any, Any, Any] | None] | None = None
                       ) -> tuple[Decoded, DamagedRecord | None]:
        """:meth:`decode_batch` as columns (:class:`~ssp_ledger.store.records.Decoded`): each
        row's position, recorded time and event, and the last version of each run of a stream,
        without a :class:`Recorded` (nor a pair) per row; then the
        :class:`~ssp_ledger.errors.DamagedRecord` naming the first damaged row (None: every row
        decoded). What a replay reads.

        Every row is checked as :meth:`decode_batch` checks it: a current row's envelope and
        typed event are decoded by one msgspec call (:func:`_typed_envelope`: the same types,
        tag and ``__post_init__`` checks), anything else, or any failure, goes through
        :meth:`decode`, which upcasts or raises the usual error naming the position.

        Compact rows (what :meth:`SQLiteLog.read_columns
        <ssp_ledger.store.sqlite.SQLiteLog.read_columns>` fetches, so that SQLite does not
        make a fresh string per row for the stream id and the topic): ``same`` is ``(stream
        id, topic)`` as stored, and a row's stream id or topic is None where it is exactly
        that value, and the integer 0 where it is NULL (or 0); such a row, if it is left to
        :meth:`decode`, is first read again whole with ``reread(position)``, so that a
        damaged row is named with what is stored.
        """
        same_oid, same_topic = same if same is not None else (None, None)
        fast = self._row_decoders
        uuids = self._uuids
        sealed = bool(self.cipher or self.compressor)
        positions: list[int] = []
        times: list[dt.datetime] = []
        events: list[DomainEvent] = []
        heads: list[tuple[uuid.UUID, int]] = []
        row_versions: list[int] = []
        ends: list[int] = []
        add_position, add_time, add_event = positions.append, times.append, events.append
        add_version = row_versions.append
        last_us: int | None = None
        recorded_at = EPOCH
        last_topic: object = None
        decode_row: Callable[[Any], Any] = _never
        versions = msgspec.Raw(b"")
        last_oid: object = None
        stream: uuid.UUID | None = None  # of the run being read
        at = 0  # the version of the last row read
        damage: DamagedRecord | None = None
        for rowid, oid, version, topic, state in rows:
            if oid is None:
                oid = same_oid
            if topic is None:
                topic = same_topic
            try:
                if version.__class__ is not int or version < 1:
                    raise _NotFast  # a damaged row: decode() names what is wrong
                if topic != last_topic or topic.__class__ is not str:
                    decode_row, versions = fast[topic]
                    last_topic = topic
                env = decode_row(self.unseal(state) if sealed else state)
                if env.versions != versions:
                    raise _NotFast  # leave it to decode()
                us = env.recorded_at_us
                if us != last_us:
                    recorded_at = from_us(us)
                    last_us = us
                if oid != last_oid or oid.__class__ is not str:
                    found = uuids[oid]
                    if found != stream:  # a new run of one stream
                        if stream is not None:
                            heads.append((stream, at))
                            ends.append(len(positions))
                        stream = found
                    last_oid = oid
                event = env.event
            except Exception:  # decode() redoes it, and raises the right error
                if reread is not None and (oid.__class__ is int or topic.__class__ is int):
                    stored = reread(rowid)  # a compact row's NULL (or 0): what is stored
                    if stored is not None:
                        _, oid, version, topic, state = stored
                try:
                    rec = self._decode_slow(rowid, oid, version, topic, state)
                except DamagedRecord as e:
                    damage = e
                    break
                if rec.originator_id != stream:
                    if stream is not None:
                        heads.append((stream, at))
                        ends.append(len(positions))
                    stream = rec.originator_id
                last_oid = last_us = last_topic = None
                recorded_at = rec.recorded_at
                event = rec.event
            add_position(rowid)
            add_time(recorded_at)
            add_event(event)
            add_version(version)
            at = version
        if stream is not None:
            heads.append((stream, at))
            ends.append(len(positions))
        return Decoded(positions, times, events, heads, row_versions, ends), damage

    def _decode_slow(self, rowid: int, oid: Any, version: Any, topic: Any, state: Any
                     ) -> Recorded:
        problem = describe_row((rowid, oid, version, topic, state))
        if problem is not None:
            msg = f"the record at position {rowid} is damaged: {problem}"
            raise DamagedRecord(msg, position=rowid)
        try:
            return self.decode(StoredEvent(self.stream_uuid(oid), version, topic, bytes(state)))
        except DamagedRecord as e:
            raise DamagedRecord(f"position {rowid}: {e}", position=rowid) from e

    def _upcast(self, name: str, env: _Envelope) -> DomainEvent:
        state: dict[str, Any] = self.transcoder.decode(env.event)
        _upcast_state(EVENT_TYPES[name], state, env.versions.get(name, 1))
        if name == "EventCorrected":
            replacement = state["replacement"]
            inner = EVENT_TYPES[replacement["type"]]
            _upcast_state(inner, replacement, env.versions.get(inner.__name__, 1))
        return msgspec.convert(state, type=EVENT_TYPES[name])  # type: ignore[return-value]


_NO_STREAM = uuid.UUID(int=0)


def _never(_: Any) -> Any:
    raise _NotFast  # no class looked up yet (never called: the first row looks one up)


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
        self._us = mapper._encoder.encode(to_us(recorded_at))
        self._encode_event = mapper._encoder.encode
        self._sealed = bool(mapper.compressor or mapper.cipher)
        self._heads: dict[type, tuple[str, bytes, bytes]] = {}

    def _head(self, cls: type) -> tuple[str, bytes, bytes] | None:
        parts = self._mapper._envelope_parts.get(cls)
        if parts is None:
            return None
        topic, versions = parts
        head = self._heads[cls] = (topic, topic.encode() + b"\x00", _ARRAY4 + versions + self._us)
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
