"""The facts in force: which stored record holds the current content of each event.

A :class:`~ssp_ledger.projection.projection_set.ProjectionSet` must know, for every event still
in force, the log position of the record that holds its content now (the event itself, or the
correction that replaced it), so that a later correction or retraction can read back the fact it
takes away. That is one entry per event, so at ten million events its layout decides a large
share of a replay's memory.

**Why not a dict.** ``{partnership_id: {event_id: position}}`` costs about 165 bytes an event
(the key string's object, the int object, the hash-table slot), 1.6 GB at ten million events,
and a checkpoint of it decodes back into ten million Python strings and ints.

**The layout here.** :class:`FactsInForce` keeps, per partnership, a *block*: its event ids'
UTF-8 bytes, sorted, with the partnership's common prefix taken off once (``"p1-0000042"``
becomes ``b"0000042"`` under the prefix ``b"p1-"``), padded with NUL bytes to one width and
joined into a single byte string, and beside it the positions as one byte string of
little-endian 64-bit integers in the same order. A lookup is a binary search over the fixed-width
slots (pure Python, a few microseconds: only corrections and retractions look facts up); an
event costs its id's width plus 8 bytes. Ids that do not fit the scheme (longer than
:data:`LONGEST` bytes, containing a NUL byte, not encodable as UTF-8) are kept in a small dict
per block instead, so any string works.

Byte strings cannot be changed in place, and rebuilding a block for each new event would cost
its whole length each time. New entries therefore go to ``recent``, a plain nested dict (a
retraction writes :data:`RETRACTED`), or, from a replay's hot path (:meth:`FactsInForce.
set_many`), to a log of ids and positions per partnership, newer than the dict's entries and
folded into it before anything reads or writes them; the set calls
:meth:`FactsInForce.settle` between batches, which merges a partnership's recent entries
into its block once they are a sixteenth of the block (or at least :data:`MIN_MERGE`), and
merges every partnership once ``recent`` holds more than :data:`MOST_RECENT` entries in all.
Each block therefore grows by a constant factor per merge (the copying adds up to a constant
number of passes over the data), and the dict part stays a small fraction of the whole. Large
merges use numpy (sorted search and insertion over fixed-width byte arrays); small ones, and the
reference the numpy path is tested against, are plain Python. Nothing imports numpy until a merge
of :data:`NUMPY_FROM` keys or more.

**Appending.** A log is mostly written a partnership at a time with ids numbered in sequence, so
a replay's recent entries are mostly new ids, ascending, all after the block's last one, sharing
its prefix and no wider than its slots: the merged block is then the old slots with the new ones
appended (:func:`merge_appending`, a few C-level passes and two byte-string concatenations),
with no sort, search or insertion. Any other merge takes the general paths; all give the same
block.

**Checkpoints.** :meth:`FactsInForce.dump` merges everything and writes each block as its four
plain fields (:class:`~ssp_ledger.projection.checkpoint.InForceState`: msgpack byte strings, no
pickles; the slots and positions as byte planes, which compress far better), so
:meth:`FactsInForce.load` restores ten million facts as a few hundred byte strings.
A block is always written in its canonical form (prefix the longest common one of its ids, width
the longest remaining suffix, tombstones dropped), so the same facts in force give the same
bytes however they were reached.
"""

from __future__ import annotations

import sys
from array import array
from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Final

from ssp_ledger.projection.checkpoint import (
    InForceState,
    decode_state,
    encode_state,
    map_header,
    shuffle,
    unshuffle,
)

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

__all__ = ["LONGEST", "MIN_MERGE", "MOST_RECENT", "NUMPY_FROM", "RETRACTED", "FactsInForce",
           "merge_appending"]

RETRACTED: Final = -1
"""The position ``recent`` holds for a fact retracted since its partnership's last merge."""
LONGEST: Final = 64
"""Event ids longer than this many UTF-8 bytes stay in a block's dict (one long id would widen
every slot of its partnership)."""
MIN_MERGE: Final = 256
"""A partnership's recent entries are merged into its block once there are this many (or a
sixteenth of the block, whichever is more)."""
RATIO: Final = 16
MOST_RECENT: Final = 1 << 18
"""When ``recent`` holds more entries than this in all, :meth:`FactsInForce.settle` merges
every partnership (bounding the dict part however many partnerships there are)."""
NUMPY_FROM: Final = 4096
"""Merges touching this many keys or more use numpy; smaller ones plain Python."""
SETTLE_EVERY: Final = 20_000
"""Changes made through :meth:`FactsInForce.set`/:meth:`~FactsInForce.remove` between two
automatic :meth:`~FactsInForce.settle` calls."""

_BIG_ENDIAN: Final = sys.byteorder == "big"


class _Block:
    """One partnership's facts in force, packed (see the module docstring)."""

    __slots__ = ("count", "keys", "odd", "positions", "prefix", "width")

    def __init__(self, prefix: bytes, width: int, keys: bytes, positions: bytes,
                 odd: dict[str, int]) -> None:
        self.prefix = prefix
        self.width = width
        self.keys = keys
        """``count`` slots of ``width`` bytes: the ids' suffixes after ``prefix``, NUL-padded,
        ascending."""
        self.positions = positions
        """``count`` little-endian signed 64-bit positions, in the order of ``keys``."""
        self.count = len(positions) // 8
        self.odd = odd
        """Ids that do not fit a slot -> position."""

    def find(self, key: bytes) -> int:
        """The slot holding ``key`` (its full UTF-8 bytes), or -1."""
        prefix = self.prefix
        if not key.startswith(prefix):
            return -1
        width = self.width
        probe = key[len(prefix):]
        if len(probe) > width:
            return -1
        probe = probe.ljust(width, b"\0")
        keys = self.keys
        lo, hi = 0, self.count
        while lo < hi:
            mid = (lo + hi) // 2
            if keys[mid * width:(mid + 1) * width] < probe:
                lo = mid + 1
            else:
                hi = mid
        if lo < self.count and keys[lo * width:(lo + 1) * width] == probe:
            return lo
        return -1

    def get(self, event_id: str) -> int | None:
        key = _slot_key(event_id)
        if key is None:
            return self.odd.get(event_id)
        at = self.find(key)
        if at < 0:
            return None
        return int.from_bytes(self.positions[8 * at:8 * at + 8], "little", signed=True)

    def items(self) -> Iterator[tuple[bytes, int]]:
        """(full key bytes, position) of every slot, in key order."""
        prefix, width, keys = self.prefix, self.width, self.keys
        positions = array("q", self.positions)
        if _BIG_ENDIAN:  # pragma: no cover -- the stored form is little-endian
            positions.byteswap()
        for i, position in enumerate(positions):
            yield prefix + keys[i * width:(i + 1) * width].rstrip(b"\0"), position

    def state(self) -> InForceState:
        return InForceState(prefix=self.prefix, width=self.width, keys=self.keys,
                            positions=self.positions, odd=self.odd)


def _slot_key(event_id: str) -> bytes | None:
    """``event_id``'s UTF-8 bytes if it fits a slot (see :data:`LONGEST`), else None."""
    try:
        key = event_id.encode()
    except UnicodeEncodeError:
        return None
    if len(key) > LONGEST or b"\0" in key:
        return None
    return key


def _common(a: bytes, b: bytes) -> bytes:
    """The longest common prefix of ``a`` and ``b``."""
    n = min(len(a), len(b))
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return a[:i]


def _build(keys: list[bytes], positions: list[int], odd: dict[str, int]) -> _Block | None:
    """The canonical block of sorted, distinct ``keys`` (None when it would hold nothing)."""
    if not keys:
        return _Block(b"", 0, b"", b"", odd) if odd else None
    prefix = _common(keys[0], keys[-1])  # sorted: common to the first and last is common to all
    cut = len(prefix)
    suffixes = [k[cut:] for k in keys]
    width = max(map(len, suffixes))
    packed = array("q", positions)
    if _BIG_ENDIAN:  # pragma: no cover
        packed.byteswap()
    return _Block(prefix, width, b"".join(s.ljust(width, b"\0") for s in suffixes),
                  packed.tobytes(), odd)


def _split(block: _Block | None, recent: dict[str, int]
           ) -> tuple[dict[bytes, int], dict[str, int]]:
    """``recent`` as (slot keys -> position, the block's odd dict updated with the rest)."""
    odd = dict(block.odd) if block is not None else {}
    fresh: dict[bytes, int] = {}
    for event_id, position in recent.items():
        key = _slot_key(event_id)
        if key is not None:
            fresh[key] = position
        elif position == RETRACTED:
            odd.pop(event_id, None)
        else:
            odd[event_id] = position
    return fresh, odd


def merge_python(block: _Block | None, recent: dict[str, int]) -> _Block | None:
    """``block`` with ``recent`` applied, the plain way (small merges; the reference)."""
    fresh, odd = _split(block, recent)
    entries = dict(block.items()) if block is not None else {}
    for key, position in fresh.items():
        if position == RETRACTED:
            entries.pop(key, None)
        else:
            entries[key] = position
    keys = sorted(entries)
    return _build(keys, [entries[k] for k in keys], odd)


def _fresh(block: _Block | None, recent: dict[str, int]
           ) -> tuple[list[bytes], list[int], dict[str, int]]:
    """``recent`` as (slot keys, their positions, the block's odd dict updated with the rest).
    The common case (every id fits a slot) is one encode of the ids joined by NUL bytes: it
    splits back into as many keys as there are ids exactly when none holds a NUL."""
    try:
        keys = "\0".join(recent).encode().split(b"\0")
    except UnicodeEncodeError:
        pass
    else:
        if len(keys) == len(recent) and max(map(len, keys)) <= LONGEST:
            return keys, list(recent.values()), dict(block.odd) if block is not None else {}
    fresh, odd = _split(block, recent)
    return list(fresh), list(fresh.values()), odd


def merge_numpy(block: _Block | None, recent: dict[str, int]) -> _Block | None:
    """``block`` with ``recent`` applied, with array operations (the same block as
    :func:`merge_python`)."""
    import numpy as np

    fresh, values, odd = _fresh(block, recent)
    count = 0 if block is None else block.count
    if not fresh:
        if block is None:
            return _build([], [], odd)
        if not count and not odd:
            return None
        return _Block(block.prefix, block.width, block.keys, block.positions, odd)
    longest = max(map(len, fresh))
    full = np.array(fresh, dtype=f"S{max(longest, 1)}")
    order = np.argsort(full)  # the ids are distinct
    full = full[order]
    new_positions = np.array(values, dtype=np.int64)[order]
    ends = [full[0].tobytes().rstrip(b"\0"), full[-1].tobytes().rstrip(b"\0")]
    if block is not None and count:
        ends.append(block.prefix)
    prefix = _common(min(ends), max(ends))  # common to the ends and the block's prefix
    cut = len(prefix)
    width = longest - cut
    extra = b""  # the part of the block's prefix its ids keep now
    if block is not None and count:
        extra = block.prefix[cut:]
        width = max(width, len(extra) + block.width)
    width = max(width, 1)  # numpy has no zero-width byte strings
    old = np.zeros((count, width), np.uint8)
    old_positions = np.zeros(0, np.int64)
    if block is not None and count:
        old[:, :len(extra)] = np.frombuffer(extra, np.uint8)
        if block.width:
            old[:, len(extra):len(extra) + block.width] = np.frombuffer(
                block.keys, np.uint8).reshape(count, block.width)
        old_positions = np.frombuffer(block.positions, "<i8").astype(np.int64)
    kind = f"S{width}"
    base = old.view(kind).ravel()
    cells = np.zeros((len(fresh), width), np.uint8)
    cells[:, :longest - cut] = full.view(np.uint8).reshape(len(fresh), -1)[:, cut:longest]
    new_keys = cells.view(kind).ravel()
    at = np.searchsorted(base, new_keys)
    hit = at < count
    hit[hit] = base[at[hit]] == new_keys[hit]
    old_positions[at[hit]] = new_positions[hit]
    add = ~hit & (new_positions != RETRACTED)
    # Insert the new keys before the slots found (both in order: no sort needed).
    slots = at[add] + np.arange(np.count_nonzero(add))
    old_slots = np.ones(count + len(slots), bool)
    old_slots[slots] = False
    keys = np.empty(len(old_slots), kind)
    keys[old_slots], keys[slots] = base, new_keys[add]
    positions = np.empty(len(old_slots), np.int64)
    positions[old_slots], positions[slots] = old_positions, new_positions[add]
    keep = positions != RETRACTED
    if not keep.all():
        keys, positions = keys[keep], positions[keep]
    return _canonical(prefix, keys, positions, odd)


def _canonical(prefix: bytes, keys: npt.NDArray[np.bytes_], positions: npt.NDArray[np.int64],
               odd: dict[str, int]) -> _Block | None:
    """The canonical block of sorted fixed-width ``keys`` (suffixes after ``prefix``): the
    longest common prefix taken off, the width cut to the longest suffix."""
    import numpy as np

    n = len(keys)
    if n == 0:
        return _build([], [], odd)
    size = keys.dtype.itemsize
    cells = keys.view(np.uint8).reshape(n, size)
    first = cells[0].tobytes().rstrip(b"\0")  # ids hold no NUL byte: the rest is padding
    last = cells[-1].tobytes().rstrip(b"\0")
    more = len(_common(first, last))
    # Some suffix filling the width is the common case (no scan of every cell).
    longest = size if cells[:, -1].any() else int(np.count_nonzero(cells, axis=1).max())
    width = longest - more
    packed = np.ascontiguousarray(cells[:, more:more + width]).tobytes()
    return _Block(prefix + first[:more], width, packed, positions.astype("<i8").tobytes(), odd)


def merge_appending(block: _Block | None, ids: Sequence[str], positions: Sequence[int],
                    least: int = NUMPY_FROM) -> _Block | bool | None:
    """``block`` (None: an empty one) with the entries ``ids[i] -> positions[i]`` applied when
    every one is a new id after the block's last one, in ascending order, all of one length and
    fitting a slot (see :data:`LONGEST`): the block's slots and positions with the new ones
    appended, the same block as :func:`merge_python` gives, checked and cut with array
    operations over the ids joined by NUL bytes. Every id then lies between the block's first
    and the last new one, so the prefix is the longest common one of those two; the old slots
    are copied as they are unless the prefix shortens (ids reaching 10000 leave ``p-000``:
    the old slots then take the bytes it loses) or the new ids are wider.

    False (nothing done) when the entries are not such (an id given twice is not ascending),
    or the merge is of fewer than ``least`` keys (the general paths are cheap there, and numpy
    stays unimported)."""
    count = len(ids)
    held = 0 if block is None else block.count
    if not count or held + count < least or len(positions) != count:
        return False
    try:
        joined = "\0".join(ids).encode()
    except UnicodeEncodeError:
        return False
    length, rest = divmod(len(joined) + 1, count)
    length -= 1  # bytes of each id, if they are all of one length
    if rest or not 0 < length <= LONGEST:
        return False
    import numpy as np

    cells = np.frombuffer(joined + b"\0", np.uint8).reshape(count, length + 1)
    chars = cells[:, :length]
    if cells[:, length].any() or not chars.all():
        return False  # a NUL in an id: the ids are not all of one length
    ordered = np.ascontiguousarray(chars).view(f"S{length}").ravel()
    at = np.fromiter(positions, np.int64, count)
    if not (ordered[1:] > ordered[:-1]).all() or (at == RETRACTED).any():
        return False  # out of order, or a retraction: the general paths
    first, last = joined[:length], joined[len(joined) - length:]
    keys = old = b""
    if held:
        assert block is not None
        slot = block.width
        if not first > block.prefix + block.keys[len(block.keys) - slot:].rstrip(b"\0"):
            return False  # not after the block's last id
        first = block.prefix + block.keys[:slot].rstrip(b"\0")
        keys, old = block.keys, block.positions
    prefix = _common(first, last)
    cut = len(prefix)
    width = length - cut
    if held:
        assert block is not None
        lost = block.prefix[cut:]  # the bytes of the old prefix its ids keep now
        width = max(width, len(lost) + block.width)
        if lost or width != block.width:
            widened = np.zeros((held, width), np.uint8)
            widened[:, :len(lost)] = np.frombuffer(lost, np.uint8)
            widened[:, len(lost):len(lost) + block.width] = np.frombuffer(
                block.keys, np.uint8).reshape(held, block.width)
            keys = widened.tobytes()
    slots = np.zeros((count, width), np.uint8)
    slots[:, :length - cut] = chars[:, cut:]
    odd = dict(block.odd) if block is not None else {}
    return _Block(prefix, width, keys + slots.tobytes(),
                  old + at.astype("<i8").tobytes(), odd)


def _merge(block: _Block | None, recent: dict[str, int]) -> _Block | None:
    appended = merge_appending(block, list(recent), list(recent.values()))
    if not isinstance(appended, bool):
        return appended
    size = (0 if block is None else block.count) + len(recent)
    return (merge_numpy if size >= NUMPY_FROM else merge_python)(block, recent)


class FactsInForce:
    """partnership_id -> event_id -> position of the record holding that fact's content now
    (see the module docstring for the layout).

    A replay's hot path calls :meth:`set_many` for each chunk and :meth:`settle` between
    batches; everything else goes through :meth:`get`, :meth:`set` and :meth:`remove`.
    """

    __slots__ = ("_blocks", "_changes", "_log", "recent")

    def __init__(self) -> None:
        self.recent: dict[str, dict[str, int]] = {}
        """Changes not merged into the blocks yet (:data:`RETRACTED`: retracted)."""
        self._log: dict[str, tuple[list[str], list[int]]] = {}
        """Changes :meth:`set_many` made since, newer than ``recent``'s: per partnership the
        event ids and positions in the order given (an id given twice: the last one holds).
        Appended to as they come, no dictionary insert per event; folded into ``recent``
        before anything reads or writes the partnership's entries, and merged as they are
        when they append to the block (:func:`merge_appending`)."""
        self._blocks: dict[str, _Block] = {}
        self._changes = 0

    def _fold(self, partnership_id: str) -> None:
        """Move the partnership's logged changes into ``recent`` (they are the newer)."""
        found = self._log.pop(partnership_id, None)
        if found is not None:
            recent = self.recent.get(partnership_id)
            if recent is None:
                recent = self.recent[partnership_id] = {}
            recent.update(zip(*found, strict=True))

    def get(self, partnership_id: str, event_id: str) -> int | None:
        """The position of the fact in force, None when there is none."""
        if self._log:
            self._fold(partnership_id)
        recent = self.recent.get(partnership_id)
        if recent is not None:
            position = recent.get(event_id)
            if position is not None:
                return None if position == RETRACTED else position
        block = self._blocks.get(partnership_id)
        return None if block is None else block.get(event_id)

    def set(self, partnership_id: str, event_id: str, position: int) -> None:
        """Make the record at ``position`` the fact in force for ``event_id``."""
        if self._log:
            self._fold(partnership_id)
        recent = self.recent.get(partnership_id)
        if recent is None:
            recent = self.recent[partnership_id] = {}
        recent[event_id] = position
        self._changed()

    def set_many(self, partnership_ids: Iterable[str], event_ids: Iterable[str],
                 positions: Iterable[int]) -> None:
        """:meth:`set` of each (partnership, event id, position), in order, leaving the merge
        to the caller's next :meth:`settle` (a replay settles between its batches).

        The changes are appended to the partnership's log (see ``_log``): a run of one
        partnership (a log is mostly written a partnership's batch at a time) is two C-level
        list extensions, no dictionary insert per event."""
        log = self._log
        partnership_ids = list(partnership_ids)
        if partnership_ids and partnership_ids.count(partnership_ids[0]) == len(partnership_ids):
            found = log.get(partnership_ids[0])
            if found is None:
                found = log[partnership_ids[0]] = ([], [])
            ids, at = found
            ids.extend(event_ids)
            at.extend(positions)
            if len(ids) != len(at):
                msg = "set_many: as many event ids as positions are needed"
                raise ValueError(msg)
            return
        for partnership_id, event_id, position in zip(partnership_ids, event_ids, positions,
                                                      strict=True):
            found = log.get(partnership_id)
            if found is None:
                found = log[partnership_id] = ([], [])
            found[0].append(event_id)
            found[1].append(position)

    def remove(self, partnership_id: str, event_id: str) -> None:
        """Take ``event_id`` out of force (KeyError when it is not in force)."""
        if self.get(partnership_id, event_id) is None:
            raise KeyError(event_id)
        recent = self.recent.get(partnership_id)
        if recent is None:
            recent = self.recent[partnership_id] = {}
        recent[event_id] = RETRACTED
        self._changed()

    def _changed(self) -> None:
        self._changes += 1
        if self._changes >= SETTLE_EVERY:
            self.settle()

    def settle(self, *, everything: bool = False) -> None:
        """Merge recent entries into the blocks: those of every partnership when
        ``everything`` (or when ``recent`` has grown past :data:`MOST_RECENT`), else of the
        partnerships whose recent entries are large next to their block."""
        self._changes = 0
        recent, log = self.recent, self._log
        if not everything and sum(map(len, recent.values())) + sum(
                len(ids) for ids, _ in log.values()) > MOST_RECENT:
            everything = True
        blocks = self._blocks
        for partnership_id in [*recent, *(pid for pid in log if pid not in recent)]:
            block = blocks.get(partnership_id)
            logged = log.get(partnership_id)
            size = len(recent.get(partnership_id, ())) + (0 if logged is None else len(logged[0]))
            if not everything and size < max(
                    MIN_MERGE, 0 if block is None else block.count // RATIO):
                continue
            merged: _Block | bool | None = False
            if logged is not None and partnership_id not in recent:  # a replay's changes
                merged = merge_appending(block, *logged)
            if isinstance(merged, bool):
                self._fold(partnership_id)
                merged = _merge(block, recent[partnership_id])
            if merged is None:
                blocks.pop(partnership_id, None)
            else:
                blocks[partnership_id] = merged
            recent.pop(partnership_id, None)
            log.pop(partnership_id, None)

    def items(self) -> Iterator[tuple[str, str, int]]:
        """(partnership_id, event_id, position) of every fact in force, grouped by partnership
        (partnerships in id order, event ids in UTF-8 byte order, odd ids last)."""
        self.settle(everything=True)
        for partnership_id, block in sorted(self._blocks.items()):
            for key, position in block.items():
                yield partnership_id, key.decode(), position
            for event_id, position in sorted(block.odd.items()):
                yield partnership_id, event_id, position

    def __len__(self) -> int:
        self.settle(everything=True)
        return sum(b.count + len(b.odd) for b in self._blocks.values())

    def dump(self) -> bytes:
        """Canonical msgpack of the facts in force: ``{partnership_id: InForceState}`` (equal
        facts, equal bytes)."""
        return b"".join(self.dump_pieces())

    def dump_pieces(self) -> Iterator[bytes]:
        """:meth:`dump`'s bytes in pieces, each made as it is asked for: the map's header, then
        each partnership's id and state, by id (the order ``encode_state`` sorts a map's keys
        in). A checkpoint compresses them as they come
        (:func:`~ssp_ledger.projection.checkpoint.pack_pieces`), so the whole map is never
        held in memory, encoded or as byte planes."""
        self.settle(everything=True)
        blocks = self._blocks
        yield map_header(len(blocks))
        for pid in sorted(blocks):
            yield encode_state(pid)
            yield encode_state(_planes(blocks[pid].state()))

    @classmethod
    def load(cls, data: bytes) -> FactsInForce:
        """The facts in force :meth:`dump` wrote; ValueError (one line) for anything else."""
        states = decode_state(data, dict[str, InForceState])
        out = cls()
        for partnership_id, state in states.items():
            width, keys, positions = state.width, state.keys, state.positions
            count, rest = divmod(len(positions), 8)
            if rest or width < 0 or len(keys) != count * width or (width == 0 and count > 1):
                msg = (f"facts in force of partnership {partnership_id!r}: {len(keys)} key "
                       f"bytes of width {width} do not match {len(positions)} position bytes")
                raise ValueError(msg)
            out._blocks[partnership_id] = _Block(state.prefix, width, unshuffle(keys, width),
                                                 unshuffle(positions, 8), dict(state.odd))
        return out


def _planes(state: InForceState) -> InForceState:
    """A block's state as a snapshot stores it: ids and positions as byte planes (see
    :func:`~ssp_ledger.projection.checkpoint.shuffle`; at 1M events the compressed facts in
    force shrink from 3.2 MiB to about 0.1 MiB)."""
    return InForceState(prefix=state.prefix, width=state.width,
                        keys=shuffle(state.keys, state.width),
                        positions=shuffle(state.positions, 8), odd=state.odd)
