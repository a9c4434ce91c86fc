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
* the *layout* of a whole :meth:`~ssp_ledger.projection.projection_set.ProjectionSet.snapshot`:
  a short prefix (:data:`MAGIC` and the header's length), then the header, a
  :class:`SetState` tagged ``format="ssp-ledger/projections"`` and versioned
  (:data:`STATE_VERSION`), then the *body*: each stateful projection's bytes as a part
  (:func:`pack_part`: zlib-compressed, unless zlib would shrink them by less than a fifth, as for
  bytes that are mostly compressed already such as an index's dimensions), in name order, and
  last the facts in force. The header lists every part's offset in the body, length and
  SHA-256 (:class:`PartRef`), so one SHA-256 over the prefix and header (:attr:`Snapshot.digest`,
  what a checkpoint's binding holds) vouches for every byte: a reader fetches the header, checks
  it, then fetches and checks each part only when a query first needs it (:func:`read_part`).

The layout is checked before any part is read (:func:`decode_set`): the parts must follow one
another in that order, without gap or overlap, and end where the state ends, so an offset that
points outside the state, two parts sharing bytes or a length that disagrees with the state's size
is refused in one line. A part is decoded only after its bytes match their hash; one that does not
(or whose content, though it matches, is not what its projection reads) raises
:class:`UnreadableCheckpoint`, and the ledger answers from the log instead.

Byte strings are decoded as :class:`memoryview` slices of the bytes read (no copy): restoring a
set copies nothing but the part a query needs, and that one only once.

:func:`encode_state` sorts every map's keys, so the bytes depend only on the state, never on the
order in which it was built: snapshots are canonical and can be compared by hash.
"""

from __future__ import annotations

import hashlib
import sys
import zlib
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Final, TypeVar

import msgspec

__all__ = [
    "COMPRESSION",
    "LEVEL",
    "MAGIC",
    "STATE_FORMAT",
    "STATE_VERSION",
    "GroupedIndexState",
    "InForceState",
    "Part",
    "PartRef",
    "PartitionedIndexState",
    "ReadRange",
    "SeriesState",
    "SetState",
    "Snapshot",
    "UnreadableCheckpoint",
    "array_header",
    "bytes_reader",
    "decode_set",
    "decode_state",
    "encode_set",
    "encode_state",
    "map_header",
    "pack",
    "pack_part",
    "pack_pieces",
    "read_header",
    "read_part",
    "release_free_memory",
    "shuffle",
    "unpack",
    "unpack_part",
    "unshuffle",
]

STATE_FORMAT: Final = "ssp-ledger/projections"
"""The tag of a snapshot header (its ``format`` field)."""
STATE_VERSION: Final = 5
"""Version of the snapshot data; 1 was the pickle format of older releases, 2 compressed every
part whole and every index dimension not at all, 3 was one msgpack map holding every part (read
and hashed whole), 4 kept an index dimension's integers and the facts in force unshuffled
(:func:`shuffle`); none of them is read now."""
COMPRESSION: Final = "zlib"
"""How each part of a snapshot is compressed (zlib, level :data:`LEVEL`, of the msgpack
bytes)."""
LEVEL: Final = 1
"""zlib's compression level for every part (levels 6 and 9 make the state 3% smaller for 5x
and 30x the time)."""
PLAIN_RATIO: Final = 0.8
"""A part that zlib does not shrink below this fraction of its size is stored uncompressed."""
SAMPLE: Final = 1 << 20
"""A part longer than this is first judged by its first :data:`SAMPLE` bytes: when zlib does not
shrink those below :data:`PLAIN_RATIO`, the part is stored as it is without compressing the rest
(the index and staff parts at 1M events, 16 MB that are compressed inside already: 0.35 s of a
checkpoint's CPU and a compressed copy of each, for nothing)."""
MAGIC: Final = b"SSPLstat"
"""The first bytes of a snapshot; the 4 after them are the header's length (big-endian)."""
PREFIX: Final = len(MAGIC) + 4
MAX_HEADER: Final = 1 << 24
"""Longest header read (a header is a few hundred bytes per projection)."""
FIRST_READ: Final = 4096
"""Bytes read first from a stored state: the prefix and, nearly always, the whole header."""

ReadRange = Callable[[int, int], bytes]
"""``read(offset, length)``: that range of a snapshot's bytes as stored (fewer bytes when the
state ends first; :class:`~ssp_ledger.errors.StoreError` when the store cannot be read)."""

T = TypeVar("T")


class UnreadableCheckpoint(ValueError):
    """A restored snapshot's part (or the map of facts in force) cannot be used: its bytes do
    not match their hash, cannot be read from the store, or do not decode. The message is one
    line; the ledger then drops the checkpoint and replays the log."""


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
    """Dimension -> :func:`pack` of the msgpack of ``{group: SeriesState}`` whose ``keys`` and
    ``prefix`` are :func:`shuffle`-d, inflated and decoded when a query first reads it (a report
    by school never inflates the activities)."""


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
    """The ids' suffixes after ``prefix``, NUL-padded to ``width``, ascending; in a snapshot
    (since version 5) as byte planes of ``width`` (:func:`shuffle`: the first byte of every id,
    then the second...), which compress to next to nothing for ids numbered in sequence."""
    positions: bytes
    """Log position of each id's fact in force: little-endian signed 64-bit integers; in a
    snapshot as byte planes (:func:`shuffle`)."""
    odd: dict[str, int]
    """Ids that are kept outside ``keys`` (long ones, or holding a NUL byte) -> position."""


class Part(msgspec.Struct, frozen=True, array_like=True):
    """One projection's bytes as a snapshot stores them (see :func:`pack_part`)."""

    compressed: bool
    """Whether ``data`` is zlib-compressed (:data:`COMPRESSION`) or the bytes themselves."""
    data: memoryview
    """The bytes as stored."""


class PartRef(msgspec.Struct, frozen=True, array_like=True):
    """Where one part lies in a snapshot's body, and what it must hash to."""

    offset: int
    """First byte, counted from the end of the header."""
    length: int
    """Number of bytes."""
    compressed: bool
    """Whether the bytes are zlib-compressed (:data:`COMPRESSION`)."""
    sha256: bytes
    """SHA-256 of the bytes as stored."""


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
    """How the parts are compressed (:data:`COMPRESSION`)."""
    parts: dict[str, PartRef]
    """Name -> where the :func:`pack_part` of that projection's ``dump_state()`` lies, for the
    stateful ones only; the others are replayed from the log when first used."""
    current: PartRef
    """Where the facts in force lie (``{partnership_id: InForceState}``), after every part."""


class _Version(msgspec.Struct, frozen=True, tag=STATE_FORMAT, tag_field="format"):
    """Just enough of a header to tell its version (other fields are skipped)."""

    version: int


class Snapshot:
    """A snapshot as :func:`encode_set` lays it out: the prefix and header, then the parts (each
    projection's packed bytes as they were made: nothing is copied until :meth:`join`)."""

    __slots__ = ("chunks", "header", "size")

    def __init__(self, header: bytes, parts: tuple[bytes, ...]) -> None:
        self.header = header
        """The prefix and the header."""
        self.chunks = (header, *parts)
        """The header, then every part in body order: their concatenation is the snapshot."""
        self.size = sum(len(c) for c in self.chunks)
        """Length of the whole snapshot in bytes."""

    @property
    def digest(self) -> bytes:
        """SHA-256 of the prefix and header; it covers every part (the header holds their
        hashes), so it identifies the whole snapshot."""
        return hashlib.sha256(self.header).digest()

    def join(self, *, release: bool = False) -> bytes:
        """The whole snapshot as one byte string (``release``: then drop the pieces, so the
        caller holding this snapshot does not hold the state twice)."""
        joined = b"".join(self.chunks)
        if release:
            self.chunks = (self.header,)
            release_free_memory()  # the parts just dropped: the store's write peaks next
        return joined


_TRIM: list[Callable[[int], int] | None] = []
"""glibc's ``malloc_trim`` once looked up (None where the C library has none)."""


def release_free_memory() -> None:
    """Hand the C heap's free pages back to the operating system (glibc's ``malloc_trim``;
    nothing elsewhere). Saving a checkpoint calls it after each part and after joining them.

    Why: encoding a part makes and frees many megabytes of byte strings. glibc keeps freed
    memory in its heap for reuse, and after freeing one large block it serves blocks of up to
    that size from the heap too, so the garbage of one part stayed in the process's RSS while
    the next part was dumped and the store wrote the state (at 1M events, 30-45 MiB of a
    checkpoint's peak: docs/performance.md). The memory is free either way; this only stops
    it counting twice. A trim costs a few milliseconds."""
    if not _TRIM:
        found: Callable[[int], int] | None = None
        if sys.platform == "linux":
            try:
                import ctypes  # only when a checkpoint is saved

                found = ctypes.CDLL(None).malloc_trim  # absent from musl: AttributeError
            except (OSError, AttributeError):
                found = None
        _TRIM.append(found)
    trim = _TRIM[0]
    if trim is not None:
        trim(0)


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


def array_header(count: int) -> bytes:
    """The msgpack header of an array of ``count`` items, as msgspec writes it (the shortest
    form): what precedes the items' own encodings when an array is encoded piece by piece."""
    return _header(count, 0x90, b"\xdc", b"\xdd")


def map_header(count: int) -> bytes:
    """The msgpack header of a map of ``count`` pairs, as msgspec writes it (the shortest)."""
    return _header(count, 0x80, b"\xde", b"\xdf")


def _header(count: int, fixed: int, two: bytes, four: bytes) -> bytes:
    if count < 16:
        return bytes([fixed | count])
    if count < 1 << 16:
        return two + count.to_bytes(2, "big")
    return four + count.to_bytes(4, "big")


def pack(data: bytes) -> bytes:
    """The zlib-compressed msgpack bytes (about four times smaller): an index's dimension."""
    return zlib.compress(data, LEVEL)


def unpack(part: bytes | memoryview) -> bytes:
    """The msgpack bytes of a :func:`pack` part; ValueError when it is not zlib data."""
    try:
        return zlib.decompress(part)
    except zlib.error as e:
        msg = f"a checkpoint part is not {COMPRESSION} data ({e})"
        raise ValueError(msg) from e


def pack_part(data: bytes) -> Part:
    """A projection's bytes as a snapshot keeps them: zlib-compressed, or as they are when
    compressing saves less than a fifth (:data:`PLAIN_RATIO`), of their first :data:`SAMPLE`
    bytes already or of the whole. Which one depends on the bytes alone, so parts stay
    canonical."""
    if len(data) > SAMPLE and _incompressible(memoryview(data)[:SAMPLE]):
        return Part(compressed=False, data=memoryview(data))
    packed = zlib.compress(data, LEVEL)
    if len(packed) < PLAIN_RATIO * len(data):
        return Part(compressed=True, data=memoryview(packed))
    del packed
    return Part(compressed=False, data=memoryview(data))


def pack_pieces(pieces: Callable[[], Iterable[bytes]]) -> Part:
    """:func:`pack_part` of the concatenation of ``pieces()``, made without joining it: the
    pieces are compressed as they come (zlib's output does not depend on how its input is cut,
    so these are :func:`pack_part`'s bytes), and only a part kept as it is (zlib saves too
    little) calls ``pieces()`` a second time to join them. For the facts in force at 1M
    events, 12 MB that compress to 0.1 MB: the joined bytes were 12 MB of a checkpoint's
    peak."""
    compressor = zlib.compressobj(LEVEL)
    out: list[bytes] = []
    head = bytearray()  # the first SAMPLE bytes, for pack_part's first test
    size = 0
    for piece in pieces():
        size += len(piece)
        if len(head) < SAMPLE:
            head += memoryview(piece)[:SAMPLE - len(head)]
        out.append(compressor.compress(piece))
    out.append(compressor.flush())
    packed = b"".join(out)
    del out
    if (size <= SAMPLE or not _incompressible(memoryview(head))) and (
            len(packed) < PLAIN_RATIO * size):
        return Part(compressed=True, data=memoryview(packed))
    del packed, head
    return Part(compressed=False, data=memoryview(b"".join(pieces())))


def _incompressible(sample: memoryview) -> bool:
    """Whether zlib shrinks ``sample`` by less than a fifth (:data:`PLAIN_RATIO`)."""
    return len(zlib.compress(sample, LEVEL)) >= PLAIN_RATIO * len(sample)


def shuffle(data: bytes, itemsize: int) -> bytes:
    """The little-endian integers of ``data`` (``itemsize`` bytes each) as byte planes: the
    first byte of every integer, then the second byte of every one, and so on.

    An index dimension's series are stored this way (since state version 5): the high bytes of
    ascending day ordinals and of growing prefix sums barely change from one integer to the
    next, so as planes they compress to little (the participation index at 1M events: 13.1 MiB
    compressed as integers, 9.2 MiB as planes), and every byte saved is saved three times over
    when a store writes the state (the caller's bytes, the bound copy, the record). Undone by
    :func:`unshuffle` with slice assignments (compiled loops, no numpy)."""
    if itemsize <= 1:
        return bytes(data)
    return b"".join(data[i::itemsize] for i in range(itemsize))


def unshuffle(data: bytes, itemsize: int) -> bytes:
    """The integers :func:`shuffle` made byte planes of; ValueError when ``data`` is not a whole
    number of them."""
    if itemsize <= 1:
        return bytes(data)
    count, rest = divmod(len(data), itemsize)
    if rest:
        msg = f"{len(data)} bytes are not a whole number of {itemsize}-byte integers"
        raise ValueError(msg)
    out = bytearray(len(data))
    for i in range(itemsize):
        out[i::itemsize] = data[i * count:(i + 1) * count]
    return bytes(out)


def unpack_part(part: Part) -> bytes:
    """The bytes of a :func:`pack_part` part; ValueError when they are not zlib data."""
    return unpack(part.data) if part.compressed else bytes(part.data)


def encode_set(*, position: int, latest_us: int | None, names: list[str],
               parts: Mapping[str, Part], current: Part) -> Snapshot:
    """Lay out a snapshot: the header, then ``parts`` in name order, then ``current``.

    Each part's hash is taken here, once; nothing is copied (the :class:`Snapshot` keeps the
    parts' own bytes)."""
    refs: dict[str, PartRef] = {}
    body: list[bytes] = []
    offset = 0

    def place(part: Part) -> PartRef:
        nonlocal offset
        data = part.data.obj if _whole(part.data) else bytes(part.data)
        assert isinstance(data, bytes)
        ref = PartRef(offset=offset, length=len(data), compressed=part.compressed,
                      sha256=hashlib.sha256(data).digest())
        body.append(data)
        offset += len(data)
        return ref

    for name in sorted(parts):
        refs[name] = place(parts[name])
    current_ref = place(current)
    header = encode_state(SetState(
        version=STATE_VERSION, position=position, latest_us=latest_us, names=sorted(names),
        compression=COMPRESSION, parts=refs, current=current_ref))
    return Snapshot(MAGIC + len(header).to_bytes(4, "big") + header, tuple(body))


def _whole(view: memoryview) -> bool:
    """Whether ``view`` is all of a bytes object (so the object itself can be kept)."""
    return isinstance(view.obj, bytes) and view.nbytes == len(view.obj)


_EXPECTED: Final = f"checkpoint state is not the data-only format version {STATE_VERSION}"


def read_header(size: int, read: ReadRange) -> bytes:
    """The prefix and header of a snapshot of ``size`` bytes (what :attr:`Snapshot.digest`
    hashes), fetched through ``read``; ValueError with a one-line message when the state does
    not start as one."""
    first = bytes(read(0, min(size, FIRST_READ)))
    if not first.startswith(MAGIC) or len(first) < PREFIX:
        msg = f"{_EXPECTED} (made by an older ssp-ledger?)"
        raise ValueError(msg)
    length = int.from_bytes(first[len(MAGIC):PREFIX], "big")
    end = PREFIX + length
    if length > MAX_HEADER or end > size:
        msg = f"{_EXPECTED}: its header length {length} runs past the state's {size} bytes"
        raise ValueError(msg)
    if end > len(first):
        first += bytes(read(len(first), end - len(first)))
    if len(first) < end:
        msg = f"{_EXPECTED}: the state ends inside its header"
        raise ValueError(msg)
    return first[:end]


def decode_set(header: bytes, size: int | None = None) -> SetState:
    """The :class:`SetState` of a snapshot's prefix and header (:func:`read_header`), checked:
    ValueError with a one-line message for anything that is not a header of
    :data:`STATE_VERSION` (an older checkpoint, another version, damaged bytes), or whose parts
    do not follow one another in order, without gap or overlap, to the end of the ``size``
    bytes of the snapshot (when given)."""
    if not header.startswith(MAGIC) or len(header) < PREFIX:
        msg = f"{_EXPECTED} (made by an older ssp-ledger?)"
        raise ValueError(msg)
    data = memoryview(header)[PREFIX:PREFIX + int.from_bytes(header[len(MAGIC):PREFIX], "big")]
    try:
        version = decode_state(data, _Version).version
    except ValueError:
        msg = f"{_EXPECTED} (made by an older ssp-ledger?)"
        raise ValueError(msg) from None
    if version != STATE_VERSION:
        msg = f"{_EXPECTED} (it is version {version})"
        raise ValueError(msg)
    try:
        state = decode_state(data, SetState)
    except ValueError as e:
        msg = f"{_EXPECTED}: {e}"
        raise ValueError(msg) from None
    if state.compression != COMPRESSION:
        msg = f"{_EXPECTED}: unknown compression {state.compression!r}"
        raise ValueError(msg)
    expected = 0
    for name, ref in (*sorted(state.parts.items()), ("facts in force", state.current)):
        if ref.offset != expected or ref.length < 0 or len(ref.sha256) != 32:
            msg = (f"{_EXPECTED}: its part {name!r} (bytes {ref.offset}..+{ref.length}) does "
                   "not follow the one before it")
            raise ValueError(msg)
        expected += ref.length
    if size is not None and PREFIX + len(data) + expected != size:
        msg = (f"{_EXPECTED}: its parts end at byte {PREFIX + len(data) + expected}, the "
               f"state at {size}")
        raise ValueError(msg)
    return state


def read_part(ref: PartRef, start: int, read: ReadRange) -> bytes:
    """The bytes of the part at ``ref`` of a snapshot whose body begins at ``start``, read
    through ``read``, checked against their hash and inflated; ValueError (one line) when they
    cannot be read, do not match or are not zlib data."""
    data = read(start + ref.offset, ref.length)
    if len(data) != ref.length:
        msg = f"it holds {len(data)} of the part's {ref.length} bytes"
        raise ValueError(msg)
    if hashlib.sha256(data).digest() != ref.sha256:
        msg = "its bytes do not match their hash in the header (altered in the store)"
        raise ValueError(msg)
    return unpack(data) if ref.compressed else bytes(data)


def bytes_reader(data: bytes) -> ReadRange:
    """``read(offset, length)`` over snapshot bytes held in memory."""
    view = memoryview(data)

    def read(offset: int, length: int) -> bytes:
        return bytes(view[offset:offset + length])

    return read
