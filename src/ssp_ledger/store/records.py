"""What a stored record is: the envelope around a domain event, and the hash chain over records.

A stored record is a :class:`Recorded` envelope around one domain event: the stream (one UUID per
partnership, :func:`stream_id`), its position in the stream, the UTC time the ledger recorded it
and the hash of the previous record of the same stream (:data:`GENESIS` for the first). The hash
of a record (:func:`record_hash`) covers its identity and its plaintext bytes, which contain the
``prev_hash``: each partnership's records form a chain, and changing, renumbering, retyping or
deleting one breaks the chain at the next record.

Nothing here does I/O; the mapper (:mod:`ssp_ledger.store.mapper`) turns envelopes into bytes
and the backends store them.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid
from collections.abc import Callable
from functools import lru_cache
from typing import NamedTuple

import msgspec
from eventsourcing.persistence import StoredEvent

from ssp_ledger.events import DomainEvent

__all__ = [
    "EPOCH",
    "GENESIS",
    "STREAM_NAMESPACE",
    "Clock",
    "Decoded",
    "Recorded",
    "from_us",
    "record_hash",
    "stream_hash",
    "stream_id",
    "to_us",
]

#: Namespace of the stream UUIDs derived from partnership ids.
STREAM_NAMESPACE = uuid.UUID("6f1d3f8e-6c43-5b1e-9f0e-5c2b8a4e7a10")
#: ``prev_hash`` of the first record of every stream.
GENESIS = b"\x00" * 32
#: Recorded times are stored as microseconds since this instant.
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)

Clock = Callable[[], dt.datetime]
"""An injectable source of the current UTC time."""


@lru_cache(maxsize=65_536)  # pure; verify and the heads ask for the same few streams repeatedly
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


class Decoded(NamedTuple):
    """Consecutive records of the log as columns: what a replay reads
    (:meth:`MsgspecMapper.decode_columns <ssp_ledger.store.mapper.MsgspecMapper.decode_columns>`).

    A replay needs of each record only its position, its recorded time and its event, and of
    each stream the version of its last record (the basis); the :class:`Recorded` envelope of
    every row (and its ``prev_hash``), made and dropped a million times in a replay, is not
    built. Row ``i`` of the log prefix is ``positions[i]``, ``times[i]``, ``events[i]``.
    """

    positions: list[int]
    """Position (notification id) of each record, ascending."""
    times: list[dt.datetime]
    """Recorded time of each record (one object shared by a run of equal times)."""
    events: list[DomainEvent]
    """The event of each record, decoded and checked exactly as in a :class:`Recorded`."""
    heads: list[tuple[uuid.UUID, int]]
    """``(stream, version)`` of the last record of each run of one stream, in log order (a
    stream may appear more than once: the last entry is its head)."""
    versions: list[int]
    """Version of each record in its stream."""
    ends: list[int]
    """For each run of :attr:`heads`, the index after its last row (a run starts where the one
    before ends; the last ends at ``len(positions)``)."""

    def cut(self, lo: int, hi: int) -> Decoded:
        """Rows ``lo`` to ``hi - 1`` as columns of their own, with the heads of their runs (a
        run cut short ends at its last row kept): what a runner applies when a checkpoint
        falls due inside a chunk."""
        heads: list[tuple[uuid.UUID, int]] = []
        ends: list[int] = []
        start = 0
        versions = self.versions
        for (stream, _), end in zip(self.heads, self.ends, strict=True):
            if end > lo and start < hi:
                last = min(end, hi)
                heads.append((stream, versions[last - 1]))
                ends.append(last - lo)
            start = end
            if start >= hi:
                break
        return Decoded(self.positions[lo:hi], self.times[lo:hi], self.events[lo:hi], heads,
                       versions[lo:hi], ends)


def to_us(moment: dt.datetime) -> int:
    """Microseconds since :data:`EPOCH` of an aware datetime."""
    if moment.tzinfo is None:
        msg = "recorded_at must be timezone-aware (UTC)"
        raise ValueError(msg)
    delta = moment - EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def from_us(us: int) -> dt.datetime:
    """The UTC datetime ``us`` microseconds after :data:`EPOCH` (ValueError when out of range)."""
    try:
        return EPOCH + dt.timedelta(microseconds=us)
    except (OverflowError, TypeError) as e:
        msg = f"recorded time {us!r} (microseconds since 1970) is out of range"
        raise ValueError(msg) from e


@lru_cache(maxsize=1_024)
def _topic_key(topic: str) -> bytes:
    """``topic + NUL`` as hashed by :func:`stream_hash`."""
    return topic.encode() + b"\x00"


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
    oid = stored.originator_id
    key = oid.bytes if isinstance(oid, uuid.UUID) else uuid.UUID(str(oid)).bytes
    return stream_hash(key, stored.originator_version, stored.topic, plain_state)
