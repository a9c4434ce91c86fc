"""Checkpoint encoding: the one place that turns projection state into bytes and back.

A checkpoint is *data, never code*: every byte of it is msgpack written by msgspec and read back
with a typed decoder, so loading one can build nothing but the plain structures declared here
(integers, strings, byte strings and the Structs below). A pickled checkpoint could run any code
on load; this one cannot, and a malformed one fails with :class:`ValueError` (msgspec's
``DecodeError`` and ``ValidationError`` are ValueErrors) instead of answering wrong figures.

The layers, bottom up:

* :class:`SeriesState`: one :class:`~ssp_ledger.projection.series.Series` as two byte strings of
  little-endian integers (the days, the prefix sums);
* :class:`GroupedIndexState` and :class:`PartitionedIndexState`: the grouped indexes built from
  series states. A dimension's series are kept zlib-compressed on their own (:func:`pack`), so a
  restored index inflates and decodes only the dimensions a query reads;
* a projection's own bytes (:meth:`~ssp_ledger.projection.protocol.Stateful.dump_state`), made
  with :func:`encode_state` and read with :func:`decode_state`;
* :class:`InForceState`: one partnership's facts in force, as byte strings;
* :class:`SetState`: the header of a whole
  :meth:`~ssp_ledger.projection.projection_set.ProjectionSet.snapshot`, tagged
  ``format="ssp-ledger/projections"`` and versioned (:data:`STATE_VERSION`), holding each
  stateful projection's bytes as a :class:`Part` (:func:`pack_part`, :func:`unpack_part`):
  zlib-compressed, unless zlib would shrink them by less than a fifth (bytes that are mostly
  compressed already, such as an index's dimensions), in which case they are kept as they are
  and reading them costs no inflating at all.

Byte strings are decoded as :class:`memoryview` slices of the bytes read (no copy): restoring a
set copies nothing but the part a query needs, and that one only once.

:func:`encode_state` sorts every map's keys, so the bytes depend only on the state, never on the
order in which it was built: snapshots are canonical and can be compared by hash.
"""

from __future__ import annotations

import zlib
from typing import Any, Final, TypeVar

import msgspec

__all__ = [
    "COMPRESSION",
    "STATE_FORMAT",
    "STATE_VERSION",
    "GroupedIndexState",
    "InForceState",
    "Part",
    "PartitionedIndexState",
    "SeriesState",
    "SetState",
    "decode_set",
    "decode_state",
    "encode_state",
    "pack",
    "pack_part",
    "unpack",
    "unpack_part",
]

STATE_FORMAT: Final = "ssp-ledger/projections"
"""The tag of a snapshot header (its ``format`` field)."""
STATE_VERSION: Final = 3
"""Version of the snapshot data; 1 was the pickle format of older releases, 2 compressed every
part whole and every index dimension not at all, and held the facts in force as a nested map
(``{partnership_id: {event_id: position}}``); neither is read now."""
COMPRESSION: Final = "zlib"
"""How each part of a snapshot is compressed (zlib, level 1, of the msgpack bytes)."""
PLAIN_RATIO: Final = 0.8
"""A part that zlib does not shrink below this fraction of its size is stored uncompressed."""

T = TypeVar("T")


class SeriesState(msgspec.Struct, frozen=True, array_like=True):
    """A :class:`~ssp_ledger.projection.series.Series` as plain data (see its ``dump``)."""

    width: int
    """Number of measures."""
    keys: bytes
    """Distinct day ordinals with a non-zero net entry, ascending: 4-byte little-endian ints."""
    itemsize: int
    """Bytes per prefix sum: 4, or 8 when some sum needs it."""
    prefix: bytes
    """``(len(keys) + 1) * width`` prefix sums, row-major, little-endian."""


class GroupedIndexState(msgspec.Struct, frozen=True, array_like=True):
    """A :class:`~ssp_ledger.projection.index.GroupedIndex` as plain data."""

    dimensions: list[str]
    """The grouping dimensions, in index order."""
    measures: list[str]
    """The measures, in column order."""
    total: SeriesState
    """The total over every group."""
    groups: dict[str, memoryview]
    """Dimension -> :func:`pack` of the msgpack of ``{group: SeriesState}``, inflated and
    decoded when a query first reads it (a report by school never inflates the activities)."""


class PartitionedIndexState(msgspec.Struct, frozen=True, array_like=True):
    """A :class:`~ssp_ledger.projection.index.PartitionedIndex` as plain data."""

    dimensions: list[str]
    measures: list[str]
    total: SeriesState
    """The total over every partnership."""
    parts: dict[str, GroupedIndexState]
    """Partnership id -> its own index (same dimensions and measures)."""


class InForceState(msgspec.Struct, frozen=True, kw_only=True, array_like=True):
    """One partnership's facts in force as plain data (see
    :mod:`ssp_ledger.projection.in_force`): its event ids' UTF-8 bytes after a common prefix,
    NUL-padded to one width and sorted, with the positions in the same order."""

    prefix: bytes
    """The longest prefix common to every id of ``keys``."""
    width: int
    """Bytes per id in ``keys`` (the longest suffix)."""
    keys: bytes
    """The ids' suffixes after ``prefix``, NUL-padded to ``width``, ascending."""
    positions: bytes
    """Log position of each id's fact in force: little-endian signed 64-bit integers."""
    odd: dict[str, int]
    """Ids that are kept outside ``keys`` (long ones, or holding a NUL byte) -> position."""


class Part(msgspec.Struct, frozen=True, array_like=True):
    """One projection's bytes in a snapshot (see :func:`pack_part`)."""

    compressed: bool
    """Whether ``data`` is zlib-compressed (:data:`COMPRESSION`) or the bytes themselves."""
    data: memoryview
    """The bytes (a view of the snapshot read: decoding copies nothing)."""


class SetState(msgspec.Struct, frozen=True, kw_only=True, tag=STATE_FORMAT, tag_field="format"):
    """The header of a :meth:`~ssp_ledger.projection.projection_set.ProjectionSet.snapshot`."""

    version: int
    """:data:`STATE_VERSION` of the code that wrote it."""
    position: int
    """Notification id of the last record the set had processed."""
    latest_us: int | None
    """Latest recorded time among those records, microseconds since the epoch (UTC)."""
    names: list[str]
    """Every projection of the set, sorted."""
    compression: str
    """How ``parts`` and ``current`` are compressed (:data:`COMPRESSION`)."""
    parts: dict[str, Part]
    """Name -> :func:`pack_part` of that projection's ``dump_state()``, for the stateful ones
    only; the others are replayed from the log when first used."""
    current: bytes
    """:func:`pack` of the facts in force, ``{partnership_id: InForceState}``."""


class _Version(msgspec.Struct, frozen=True, tag=STATE_FORMAT, tag_field="format"):
    """Just enough of a header to tell its version (other fields are skipped)."""

    version: int


_ENCODER: Final = msgspec.msgpack.Encoder(order="deterministic")
_DECODERS: dict[Any, msgspec.msgpack.Decoder[Any]] = {}


def encode_state(state: object) -> bytes:
    """Canonical msgpack of ``state`` (Structs, builtins, bytes, events; map keys sorted)."""
    return _ENCODER.encode(state)


def decode_state(data: bytes | memoryview | msgspec.Raw, kind: type[T]) -> T:
    """``data`` decoded and validated as ``kind`` (any type msgspec decodes, e.g. a Struct or
    ``dict[str, SeriesState]``); ValueError when it is not one."""
    decoder = _DECODERS.get(kind)
    if decoder is None:
        decoder = _DECODERS[kind] = msgspec.msgpack.Decoder(kind)
    result: T = decoder.decode(data)
    return result


def pack(data: bytes) -> bytes:
    """The zlib-compressed msgpack bytes (about four times smaller): the facts in force of a
    snapshot, an index's dimension."""
    return zlib.compress(data, 1)


def unpack(part: bytes | memoryview) -> bytes:
    """The msgpack bytes of a :func:`pack` part; ValueError when it is not zlib data."""
    try:
        return zlib.decompress(part)
    except zlib.error as e:
        msg = f"a checkpoint part is not {COMPRESSION} data ({e})"
        raise ValueError(msg) from e


def pack_part(data: bytes) -> Part:
    """A projection's bytes as a snapshot keeps them: zlib-compressed, or as they are when
    compressing saves less than a fifth (:data:`PLAIN_RATIO`)."""
    packed = zlib.compress(data, 1)
    if len(packed) < PLAIN_RATIO * len(data):
        return Part(compressed=True, data=memoryview(packed))
    return Part(compressed=False, data=memoryview(data))


def unpack_part(part: Part) -> bytes:
    """The bytes of a :func:`pack_part` part; ValueError when they are not zlib data."""
    return unpack(part.data) if part.compressed else bytes(part.data)


def decode_set(data: bytes) -> SetState:
    """The header of snapshot bytes; ValueError with a one-line message for anything that is not
    a :class:`SetState` of :data:`STATE_VERSION` (an older pickle checkpoint, another version,
    damaged bytes)."""
    expected = f"checkpoint state is not the data-only format version {STATE_VERSION}"
    try:
        version = decode_state(data, _Version).version
    except ValueError:
        msg = f"{expected} (made by an older ssp-ledger?)"
        raise ValueError(msg) from None
    if version != STATE_VERSION:
        msg = f"{expected} (it is version {version})"
        raise ValueError(msg)
    try:
        state = decode_state(data, SetState)
    except ValueError as e:
        msg = f"{expected}: {e}"
        raise ValueError(msg) from None
    if state.compression != COMPRESSION:
        msg = f"{expected}: unknown compression {state.compression!r}"
        raise ValueError(msg)
    return state
