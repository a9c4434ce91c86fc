"""The activity series of the staff facts as a few arrays: how a checkpoint keeps them, and what
the walk (:mod:`.steps`) reads.

A 1M-event ledger holds about ten thousand activity series (one per partnership, staff member
and school) and nearly a million of their days. Kept one :class:`~ssp_ledger.projection.Series`
each, a cold report would decode and check ten thousand small states before asking anything.
Kept here, they are one row of each array per series or per day, in the canonical order of the
series' keys (partnership, staff member, school):

* ``keys``: the series' (partnership, staff member, school), ascending;
* ``facts``: how many facts each series holds;
* ``offsets``: where each series' days start in ``days`` (one more at the end: their count);
* ``days``: the ordinals of every series' days with a non-zero net entry, ascending within a
  series (kept as offsets from the least day: 2 bytes each over a span under 180 years);
* ``values``: each of those days' own minutes and attendances (the series' row of the day, not
  its prefix sum; 2 bytes each when they all fit): a series' prefix sums are the cumulative
  sums of its rows;
* ``ids``: the ids of the facts on those days (one encoded :class:`~.state.DayIdsState` per
  series), compressed apart (:func:`~ssp_ledger.projection.checkpoint.pack`): only a change or an
  explanation reads them, so a report never even inflates them.

:class:`ActivityState` is that as checkpoint data; :meth:`ActivityColumns.load` checks it with a
few whole-array operations (ValueError in one line for anything :meth:`ActivityColumns.build`
could not have written); :meth:`ActivityColumns.series` turns it back into Series objects (what a
change needs). The state is canonical: the same series give the same bytes (days and values in
the fewest bytes that hold them all; the ids of a series exactly as :class:`~.state.StaffFacts`
encodes them).
"""

from __future__ import annotations

import zlib
from bisect import bisect_left
from collections.abc import Iterable, Iterator, Sequence
from itertools import pairwise

import msgspec
import numpy as np

from ssp_ledger.projection import Series, SeriesState
from ssp_ledger.projection.checkpoint import LEVEL, array_header, unpack

__all__ = ["ActivityColumns", "ActivityState", "SeriesKey", "arrays_of", "pack_list"]

SeriesKey = tuple[str, str, str]
"""(partnership, staff member or "", school or "") of an activity series."""

WIDTH = 2
"""Measures of an activity series: minutes, attendances."""
_LAST_ORDINAL = 3652059  # dt.date.max.toordinal()
_INT32 = 1 << 31
_ROWS = 1 << 15
"""Rows of values :func:`arrays_of` computes in 8 bytes before checking and copying them."""
_BOUND = 1 << 62
"""Bound of any prefix sum a loaded series may reach (8-byte sums never overflow below it)."""
_IDS = msgspec.msgpack.Decoder(list[msgspec.Raw])
_ENCODER = msgspec.msgpack.Encoder()
"""What the ids of each series' days are encoded with (:class:`~.state.DayIdsState`)."""


class ActivityState(msgspec.Struct, frozen=True, array_like=True):
    """Every activity series as data (see the module docstring): one entry per series in the
    lists and the per-series byte strings, one per day in the others."""

    partnerships: list[str]
    staff: list[str]
    """"" when the facts name no staff member."""
    schools: list[str]
    """"" for CPD."""
    facts: bytes
    """Facts in each series (at least 1): 4-byte little-endian."""
    lengths: bytes
    """Days of each series: 4-byte little-endian."""
    day0: int
    """The least day ordinal of any series (0 when there is no day)."""
    day_size: int
    """Bytes of each day in :attr:`days`: 2, or 4 when the days span 65,536 or more."""
    days: bytes
    """Every series' day ordinals in turn, ascending within a series, less :attr:`day0`:
    little-endian, unsigned of 2 bytes or signed of 4."""
    itemsize: int
    """Bytes of each value: 2, 4 or 8, the fewest that hold every one."""
    values: bytes
    """Each day's minutes and attendances, row-major, little-endian signed of ``itemsize``
    bytes."""
    ids: bytes
    """:func:`~ssp_ledger.projection.checkpoint.pack` of the msgpack list of each series'
    encoded :class:`~.state.DayIdsState`."""


def _le(values: np.ndarray, dtype: str) -> bytes:
    return values.astype(dtype, copy=False).tobytes()


def _ints(data: bytes, what: str, size: int = 4, *, unsigned: bool = False) -> np.ndarray:
    """Little-endian integers of ``size`` bytes (ValueError when the length does not divide)."""
    if len(data) % size:
        msg = f"staff facts: {len(data)} bytes of {what} is not a multiple of {size}"
        raise ValueError(msg)
    return np.frombuffer(data, dtype=f"<{'u' if unsigned else 'i'}{size}")


def _size(values: np.ndarray, sizes: tuple[int, ...] = (2, 4, 8)) -> int:
    """The fewest bytes of ``sizes`` whose signed integers hold every one of ``values``."""
    if not values.size:
        return sizes[0]
    low, high = int(values.min()), int(values.max())
    for size in sizes:
        if -(1 << (8 * size - 1)) <= low and high < 1 << (8 * size - 1):
            return size
    return sizes[-1]


class ActivityColumns:
    """Every activity series as arrays (see the module docstring); read, never changed."""

    __slots__ = ("_people", "days", "facts", "ids", "keys", "offsets", "state", "values")

    def __init__(self, keys: list[SeriesKey], facts: np.ndarray, offsets: np.ndarray,
                 days: np.ndarray, values: np.ndarray, ids: bytes, state: ActivityState) -> None:
        self.keys = keys
        """Each series' key, ascending."""
        self.facts = facts
        """Facts of each series (int64)."""
        self.offsets = offsets
        """Where each series' days start in :attr:`days`, and their count last (int64)."""
        self.days = days
        """Day ordinals (int32, native order)."""
        self.values = values
        """``[day, measure]`` (int64)."""
        self.ids = ids
        """The packed ids of :class:`ActivityState`."""
        self.state = state
        """The state these came from (a dump of unchanged facts writes it back as it was)."""
        self._people: dict[str, list[str]] | None = None

    # ------------------------------------------------------------------ to and from data

    @classmethod
    def build(cls, series: Sequence[tuple[SeriesKey, int, Series]], ids: Iterable[bytes]
              ) -> ActivityState:
        """The state of ``series`` ((key, facts, series), by key) and ``ids`` (the encoded
        ids of each series' days, in the same order, made as they are read: see
        :func:`pack_list`), canonical."""
        keys, lengths, days, values = arrays_of([(key, s) for key, _, s in series])
        itemsize = _size(values)
        packed_values = _le(values, f"<i{itemsize}")
        del values  # the widest array: dropped before the ids are packed
        day0 = int(days.min()) if len(days) else 0
        offsets = np.subtract(days, day0, dtype=np.int32)  # ordinals: they fit
        day_size = 2 if not len(days) or int(offsets.max()) < 1 << 16 else 4
        return ActivityState(
            partnerships=[k[0] for k in keys], staff=[k[1] for k in keys],
            schools=[k[2] for k in keys],
            facts=_le(np.asarray([f for _, f, _ in series], dtype=np.int64), "<i4"),
            lengths=_le(lengths, "<i4"), day0=day0, day_size=day_size,
            days=_le(offsets, "<u2" if day_size == 2 else "<i4"), itemsize=itemsize,
            values=packed_values, ids=pack_list(ids, len(series)))

    @classmethod
    def load(cls, state: ActivityState) -> ActivityColumns:
        """The columns of ``state``, checked whole-array at a time: ValueError in one line
        for anything :meth:`build` could not have written (the ids are checked when a change
        first reads them)."""
        n = len(state.partnerships)
        if len(state.staff) != n or len(state.schools) != n:
            msg = f"staff facts: {n} partnerships but {len(state.staff)} staff and " \
                  f"{len(state.schools)} schools of activity series"
            raise ValueError(msg)
        keys = list(zip(state.partnerships, state.staff, state.schools, strict=True))
        if any(a >= b for a, b in pairwise(keys)):
            msg = "staff facts: activity series are not in ascending key order (or repeat one)"
            raise ValueError(msg)
        facts = _ints(state.facts, "fact counts").astype(np.int64)
        lengths = _ints(state.lengths, "day counts").astype(np.int64)
        if len(facts) != n or len(lengths) != n:
            msg = f"staff facts: {len(facts)} fact counts and {len(lengths)} day counts for " \
                  f"{n} activity series"
            raise ValueError(msg)
        if n and (int(facts.min()) < 1 or int(lengths.min()) < 0):
            msg = "staff facts: an activity series holds no fact or a negative number of days"
            raise ValueError(msg)
        if state.day_size not in (2, 4):
            msg = f"staff facts: activity days of {state.day_size} bytes (expected 2 or 4)"
            raise ValueError(msg)
        relative = _ints(state.days, "day ordinals", state.day_size,
                         unsigned=state.day_size == 2)
        if len(relative) and (int(relative.min()) != 0 or (
                state.day_size == 4 and int(relative.max()) < 1 << 16)):
            msg = f"staff facts: activity days are not the canonical offsets from {state.day0}"
            raise ValueError(msg)
        if not 0 <= state.day0 <= _LAST_ORDINAL or (state.day0 == 0) != (not len(relative)):
            msg = f"staff facts: activity days start at ordinal {state.day0}"
            raise ValueError(msg)
        days = (relative.astype(np.int64) + state.day0) if len(relative) else np.zeros(
            0, dtype=np.int64)
        if len(days) != int(lengths.sum()):
            msg = f"staff facts: {len(days)} day ordinals for series of {int(lengths.sum())}"
            raise ValueError(msg)
        offsets = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        _check_days(days, offsets)
        if state.itemsize not in (2, 4, 8):
            msg = f"staff facts: activity values of {state.itemsize} bytes (expected 2, 4 or 8)"
            raise ValueError(msg)
        raw = _ints(state.values, "activity values", state.itemsize)
        if len(raw) != WIDTH * len(days):
            msg = f"staff facts: {len(raw)} activity values for {len(days)} days"
            raise ValueError(msg)
        values = raw.astype(np.int64).reshape(-1, WIDTH)
        _check_values(values, state.itemsize)
        return cls(keys, facts, offsets, days.astype(np.int32), values, state.ids, state)

    # ------------------------------------------------------------------ reading

    def id_lists(self) -> list[msgspec.Raw]:
        """Each series' encoded ids (inflated and split now); ValueError when they cannot be
        read or do not match the series."""
        try:
            ids = _IDS.decode(unpack(self.ids))
        except ValueError as e:
            msg = f"staff facts: the ids of the activity days cannot be read ({e})"
            raise ValueError(msg) from None
        if len(ids) != len(self.keys):
            msg = f"staff facts: ids of {len(ids)} activity series for {len(self.keys)}"
            raise ValueError(msg)
        return ids

    def series(self) -> Iterator[tuple[SeriesKey, int, Series, bytes]]:
        """Each series as a change needs it: (key, facts, Series, its days' ordinals as 4-byte
        little-endian); the ids of those days are :meth:`id_lists`'."""
        offsets = self.offsets.tolist()
        cumulative = np.cumsum(self.values, axis=0)
        for i, key in enumerate(self.keys):
            lo, hi = offsets[i], offsets[i + 1]
            prefix = np.zeros((hi - lo + 1, WIDTH), dtype=np.int64)
            if hi > lo:
                prefix[1:] = cumulative[lo:hi] - (cumulative[lo - 1] if lo else 0)
            fits = not prefix.size or (int(prefix.min()) >= -_INT32
                                       and int(prefix.max()) < _INT32)
            days = _le(self.days[lo:hi], "<i4")
            series = Series.load(SeriesState(WIDTH, days, 4 if fits else 8,
                                             _le(prefix, "<i4" if fits else "<i8")))
            yield key, int(self.facts[i]), series, days

    def people(self) -> dict[str, list[str]]:
        """The staff members ("" for none) with a series, sorted, by partnership."""
        if self._people is None:
            people: dict[str, list[str]] = {}
            for pid, staff, _ in self.keys:
                held = people.setdefault(pid, [])
                if not held or held[-1] != staff:
                    held.append(staff)  # keys ascending: staff ascending within a partnership
            self._people = people
        return self._people

    def first_day(self, pid: str) -> int | None:
        """Ordinal of the partnership's earliest activity day, or None."""
        firsts, ends = self.span([pid])
        offsets = self.offsets[firsts[0]:ends[0] + 1]
        starts = offsets[:-1][np.diff(offsets) > 0]
        return int(self.days[starts].min()) if len(starts) else None

    def span(self, pids: Sequence[str]) -> tuple[list[int], list[int]]:
        """The first and end series of each of ``pids`` (sorted) in :attr:`keys`."""
        keys = self.keys
        firsts = [bisect_left(keys, (pid,)) for pid in pids]
        ends = [bisect_left(keys, (pid + "\0",)) for pid in pids]
        return firsts, ends

    def select(self, pids: Sequence[str]) -> tuple[list[SeriesKey], np.ndarray, np.ndarray,
                                                      np.ndarray]:
        """(keys, days per series, day ordinals, values) of the series of ``pids`` (sorted),
        in key order: views of the whole arrays when every series is picked."""
        firsts, ends = self.span(pids)
        ranges: list[tuple[int, int]] = []
        for a, b in zip(firsts, ends, strict=True):
            if b > a:
                if ranges and ranges[-1][1] == a:  # adjacent partnerships: one slice
                    a = ranges.pop()[0]
                ranges.append((a, b))
        lengths = np.diff(self.offsets)
        if len(ranges) == 1 and ranges[0] == (0, len(self.keys)):
            return self.keys, lengths, self.days, self.values
        keys = [k for a, b in ranges for k in self.keys[a:b]]
        picked = [slice(int(self.offsets[a]), int(self.offsets[b])) for a, b in ranges]
        if not ranges:
            return [], np.zeros(0, dtype=np.int64), self.days[:0], self.values[:0]
        return (keys, np.concatenate([lengths[a:b] for a, b in ranges]),
                np.concatenate([self.days[s] for s in picked]),
                np.concatenate([self.values[s] for s in picked]))


def arrays_of(series: Sequence[tuple[SeriesKey, Series]], *, values: bool = True
              ) -> tuple[list[SeriesKey], np.ndarray, np.ndarray, np.ndarray]:
    """What :meth:`ActivityColumns.select` gives, from Series objects (in the order given):
    (keys, days per series, day ordinals, each day's own values ``[day, measure]``; no row
    of values when ``values`` is false).

    The arrays are allocated once, at their final size, and each series' days and rows (the
    differences of its prefix sums) are written into its slice: no per-series copy is kept
    and nothing is concatenated (a checkpoint of a million activity days saves its peak this
    way). The rows are 4-byte integers while every one fits (7 MiB at a million days, against
    14 as 8-byte; a day's own minutes are far below two billion): they are computed in 8 bytes
    into a block of :data:`_ROWS` rows, checked and copied a block at a time, and the first
    block that does not fit widens the whole array to 8 bytes (the rows so far copied once)."""
    packed = [s.packed() for _, s in series]
    lengths = np.fromiter((len(days) for days, _ in packed), dtype=np.int64, count=len(packed))
    total = int(lengths.sum())
    days = np.empty(total, dtype=np.int32)
    rows = np.empty((total if values else 0, WIDTH), dtype=np.int32)
    block = np.empty((min(total, _ROWS) if values else 0, WIDTH), dtype=np.int64)
    done = 0  # rows before this one are in ``rows``; those after it up to ``at`` in ``block``

    def flush(own: np.ndarray, end: int) -> None:
        nonlocal rows, done
        if rows.dtype == np.int32 and len(own) and (
                int(own.min()) < -_INT32 or int(own.max()) >= _INT32):
            rows = rows.astype(np.int64)  # a row needs 8 bytes: every row gets them
        rows[done:end] = own
        done = end

    at = 0
    for day_array, prefix in packed:
        n = len(day_array)
        if n:
            days[at:at + n] = np.frombuffer(day_array, dtype=np.int32)
            if values:
                sums = np.frombuffer(prefix, dtype=np.int32 if prefix.typecode == "i"
                                     else np.int64).reshape(-1, WIDTH)
                if at + n - done > len(block):
                    flush(block[:at - done], at)
                if n > len(block):  # longer than a block: on its own
                    flush(np.subtract(sums[1:], sums[:-1], dtype=np.int64), at + n)
                else:
                    np.subtract(sums[1:], sums[:-1], out=block[at - done:at - done + n],
                                dtype=np.int64)
            at += n
    if values:
        flush(block[:at - done], at)
    return [key for key, _ in series], lengths, days, rows


def pack_list(items: Iterable[bytes], count: int) -> bytes:
    """:func:`~ssp_ledger.projection.checkpoint.pack` of the msgpack array of ``count``
    encoded ``items``, compressed as they come: the same bytes as packing the array encoded
    whole (zlib's output does not depend on how its input is cut), without ever holding the
    items or their encoding (the ids of a million activity days: 16 MB encoded, 4 MB packed).
    ValueError when ``items`` are not ``count``."""
    compressor = zlib.compressobj(LEVEL)
    out = [compressor.compress(array_header(count))]
    seen = 0
    for item in items:
        out.append(compressor.compress(item))
        seen += 1
    if seen != count:
        msg = f"staff facts: {seen} encoded id lists for {count} series"
        raise ValueError(msg)
    out.append(compressor.flush())
    return b"".join(out)


def _check_days(days: np.ndarray, offsets: np.ndarray) -> None:
    """Every day a date, strictly ascending within its series (ValueError naming neither: the
    arrays are checked whole)."""
    if not len(days):
        return
    fine = (days >= 1) & (days <= _LAST_ORDINAL)
    rising = np.ones(len(days), dtype=bool)
    rising[1:] = days[1:] > days[:-1]
    starts = offsets[:-1][np.diff(offsets) > 0]
    rising[starts] = True  # a series' first day follows no day of its own
    if not (fine & rising).all():
        msg = "staff facts: activity day ordinals out of order within a series, or not dates"
        raise ValueError(msg)


def _check_values(values: np.ndarray, itemsize: int) -> None:
    """Every day moves a figure (a series keeps no day whose entries cancelled), values of
    the fewest bytes that hold them, and no prefix sum beyond :data:`_BOUND`."""
    if not len(values):
        return
    if not ((values[:, 0] != 0) | (values[:, 1] != 0)).all():
        msg = "staff facts: an activity day has no minutes and no attendances"
        raise ValueError(msg)
    if _size(values) != itemsize:
        msg = f"staff facts: activity values of {itemsize} bytes, not the fewest that hold them"
        raise ValueError(msg)
    if itemsize == 8 and float(np.abs(values.astype(np.float64)).sum()) >= _BOUND:
        msg = "staff facts: activity values too large to sum"
        raise ValueError(msg)
