"""The valid-time series: integer measures over dates, summed up to any date in O(log n).

Every standard figure is a sum of per-fact contributions dated on a valid day (sessions on the day
a club ran, pence on the day a resource was shared). A :class:`Series` keeps one row of such
measures per distinct day as *prefix sums* in packed arrays, so "the total up to 31 March" is one
bisection and "the total over the spring term" is two. Removing a fact's effect is adding its
negation, so corrections never re-scan the log, and an incrementally updated series equals one
built from scratch.

A replay adds whole batches at once with :meth:`Series.add_many`: rows already netted per day
in compiled code (:mod:`~ssp_ledger.projection.columnar`), merged by numpy into the prefix sums
at the next query. Sums do not depend on the order of additions, so a series fed in batches
equals one fed fact by fact.

A series describes itself as plain data with :meth:`Series.dump` (a :class:`SeriesState`: byte
strings of little-endian integers) and comes back with :meth:`Series.load`, which validates it.
The dump is canonical: the same additions in the same order give the same state, whatever
queries or checkpoints happened in between. Checkpoints are built from these states.
"""

from __future__ import annotations

import datetime as dt
import operator
import sys
from array import array
from bisect import bisect_right
from collections.abc import Callable
from contextlib import suppress
from itertools import pairwise
from typing import TYPE_CHECKING

from ssp_ledger.projection.checkpoint import SeriesState

if TYPE_CHECKING:
    from ssp_ledger.projection.columnar import Ints

__all__ = ["Series", "SeriesState", "add_netted", "add_summed"]

_BIG_ENDIAN = sys.byteorder == "big"


def _le_bytes(values: array[int]) -> bytes:
    """``values`` packed little-endian (the byte order of every checkpoint)."""
    if _BIG_ENDIAN:
        values = array(values.typecode, values)
        values.byteswap()
    return values.tobytes()


def _from_le(typecode: str, data: bytes) -> array[int]:
    """The array packed by :func:`_le_bytes`."""
    out = array(typecode)
    out.frombytes(data)
    if _BIG_ENDIAN:
        out.byteswap()
    return out


class Series:
    """Integer measures over valid dates with O(log n) sums up to (or between) any dates.

    Additions go to an append-only buffer; the first query after a change merges it once into
    per-day prefix sums. Removing a fact's effect is adding its negation, so the index never
    re-scans the log and incremental updates equal a full rebuild.

    Merged sums are kept in packed arrays (4-byte day ordinals; 4-byte sums, widened to 8 bytes
    when one needs it; one row of ``width`` sums per distinct day), so a series costs a few bytes
    per day instead of a Python object per entry, and checkpoints as two byte strings
    (:meth:`dump`). Pending additions hold the caller's values tuple (shared by every series a
    fact is added to) until the next merge; pending batches (:meth:`add_many`) are packed too
    (4-byte days, 8-byte values).
    """

    __slots__ = ("_bulk_days", "_bulk_rows", "_compact_at", "_days", "_keys", "_prefix",
                 "_values", "width")

    def __init__(self, width: int) -> None:
        self.width = width
        """Number of measures."""
        self._days = array("i")  # pending day ordinals
        self._values: list[tuple[int, ...]] = []  # pending values (tuples shared between series)
        self._keys = array("i")  # distinct days with a non-zero net entry, ascending
        # row r: sums over _keys[:r], row-major; 4-byte until a sum needs 8 (see _extended)
        self._prefix = array("i", bytes(4 * width))
        self._compact_at = 4096
        # pending batches (add_many), packed: day ordinals, and their rows of 8-byte values
        self._bulk_days = array("i")
        self._bulk_rows = array("q")

    def dump(self) -> SeriesState:
        """The merged prefix sums as data (pending additions are merged first).

        Canonical: the same additions give the same state whatever queries, merges or
        dump/load round trips happened in between (sums are 4-byte unless one needs 8).
        """
        if self._days or self._bulk_days:
            self._build()
        prefix = self._prefix
        if prefix.typecode != "i":
            with suppress(OverflowError):  # narrow the sums when they all fit again
                prefix = array("i", prefix)
        return SeriesState(self.width, _le_bytes(self._keys), prefix.itemsize,
                           _le_bytes(prefix))

    @classmethod
    def load(cls, state: SeriesState) -> Series:
        """The series :meth:`dump` described; ValueError when ``state`` is inconsistent."""
        width, itemsize = state.width, state.itemsize
        if width < 0:
            msg = f"series state: width {width} is negative"
            raise ValueError(msg)
        if itemsize not in (4, 8):
            msg = f"series state: prefix sums of {itemsize} bytes (expected 4 or 8)"
            raise ValueError(msg)
        if len(state.keys) % 4:
            msg = f"series state: {len(state.keys)} bytes of day ordinals is not a multiple of 4"
            raise ValueError(msg)
        count = len(state.keys) // 4
        expected = (count + 1) * width * itemsize
        if len(state.prefix) != expected:
            msg = (f"series state: {len(state.prefix)} bytes of prefix sums for {count} days of "
                   f"width {width} (expected {expected})")
            raise ValueError(msg)
        keys = _from_le("i", state.keys)
        prefix = _from_le("i" if itemsize == 4 else "q", state.prefix)
        if any(prefix[:width]):
            msg = "series state: the first row of prefix sums is not zero"
            raise ValueError(msg)
        if not all(map(operator.lt, keys, keys[1:])):  # in C: a checkpoint's millions of days
            msg = "series state: day ordinals are not strictly ascending"
            raise ValueError(msg)
        out = cls(width)
        out._keys = keys
        out._prefix = prefix
        return out

    def add(self, day: dt.date, values: tuple[int, ...]) -> None:
        """Add ``values`` (one per measure) on ``day``."""
        self.add_ordinal(day.toordinal(), values)

    def add_ordinal(self, ordinal: int, values: tuple[int, ...]) -> None:
        """:meth:`add` for a day given as ``date.toordinal()``."""
        if self._bulk_days:
            self._build()  # one kind of pending additions at a time
        days = self._days
        days.append(ordinal)
        self._values.append(values)
        if len(days) >= self._compact_at:
            # Bound memory during long replays: merge pending entries (amortised O(1) per add).
            self._build()
            self._compact_at = 2 * len(self._keys) + 4096

    def add_many(self, ordinals: Ints, rows: Ints) -> None:
        """Add ``rows[i]`` on day ``ordinals[i]`` for every ``i``: the series then equals one
        given each row by :meth:`add_ordinal`, in any order.

        ``ordinals`` is a 1-d int64 array, ``rows`` an ``(n, width)`` int64 array, e.g. from
        :func:`~ssp_ledger.projection.columnar.by_series` (a batch already netted per day is
        cheapest). Values large enough that 64-bit sums could overflow take the fact-by-fact
        path instead.
        """
        if len(ordinals) == 0 or self.width == 0:
            return  # a series of no measures keeps no day (as add_ordinal's merge decides)
        from ssp_ledger.projection import columnar  # numpy, on first use

        if rows.shape != (len(ordinals), self.width):
            msg = (f"add_many: rows of shape {rows.shape} for {len(ordinals)} days of "
                   f"{self.width} measures")
            raise ValueError(msg)
        if not columnar.small(rows) or (
                self._prefix.typecode == "q"
                and not columnar.small(self._prefix_rows(), columnar.PREFIX_BOUND)):
            for day, row in zip(ordinals.tolist(), rows.tolist(), strict=True):
                self.add_ordinal(day, tuple(row))
            return
        if self._days:
            self._build()  # one kind of pending additions at a time
        np = columnar.np
        self._bulk_days.frombytes(ordinals.astype(np.int32).tobytes())
        self._bulk_rows.frombytes(rows.astype(np.int64).tobytes())
        if len(self._bulk_days) >= 2 * len(self._keys) + 256:
            # Merge once the pending rows outgrow the merged ones: memory stays within a few
            # times the merged sums, and each merge (linear in both) is amortised O(1) a row.
            self._build()

    def add_packed(self, ordinals: bytes, rows: bytes) -> None:
        """:meth:`add_many` of days and rows given as native 4-byte and 8-byte integers (slices
        of what :func:`~ssp_ledger.projection.columnar.netted` gives), whose rows are
        :func:`~ssp_ledger.projection.columnar.small`: what :meth:`add_many` appends, without
        an array per call."""
        if not ordinals or self.width == 0:
            return
        if self._prefix.typecode == "q" and not _small_prefix(self):
            from ssp_ledger.projection import columnar

            np = columnar.np
            self.add_many(np.frombuffer(ordinals, dtype=np.int32).astype(np.int64),
                          np.frombuffer(rows, dtype=np.int64).reshape(-1, self.width))
            return
        if self._days:
            self._build()  # one kind of pending additions at a time
        self._bulk_days.frombytes(ordinals)
        self._bulk_rows.frombytes(rows)
        if len(self._bulk_days) >= 2 * len(self._keys) + 256:
            self._build()  # as add_many does

    def _prefix_rows(self) -> Ints:
        """The merged prefix sums as an ``(days + 1, width)`` int64 array (a view when 8-byte)."""
        from ssp_ledger.projection import columnar

        return columnar.from_buffer(self._prefix).reshape(-1, self.width)

    def __len__(self) -> int:
        """Distinct days plus pending entries (a measure of the memory held)."""
        return len(self._keys) + len(self._days) + len(self._bulk_days)

    def _build(self) -> None:
        if self._bulk_days:
            self._build_bulk()
            return
        width = self.width
        # Net the pending entries per day, in day order.
        pending: dict[int, list[int]] = {}
        for day, values in zip(self._days, self._values, strict=True):
            row = pending.get(day)
            if row is None:
                pending[day] = list(values)
            else:
                for j in range(width):
                    row[j] += values[j]
        self._days = array("i")
        self._values = []
        keys = self._keys
        days = sorted(pending)
        if keys and days[0] <= keys[-1]:
            # Pending days interleave with merged ones: net them together and start over.
            pending = self._merged_rows(pending)
            days = sorted(pending)
            self._keys = keys = array("i")
            self._prefix = array("i", bytes(4 * width))
        # Every pending day is now after the merged ones (a replay in date order, mostly):
        # extend the prefix sums in place.
        prefix = self._prefix
        running = prefix[len(prefix) - width:].tolist()
        for day in days:
            row = pending[day]
            if not any(row):  # entries that cancelled out leave no day behind
                continue
            for j in range(width):
                running[j] += row[j]
            keys.append(day)
            prefix = _extended(prefix, running)
        self._prefix = prefix

    def _build_bulk(self) -> None:
        """Merge the pending batches with numpy (what :meth:`_build` does for single rows)."""
        from ssp_ledger.projection import columnar

        np = columnar.np
        days = np.frombuffer(self._bulk_days, dtype=np.int32).astype(np.int64)
        rows = np.frombuffer(self._bulk_rows, dtype=np.int64).reshape(-1, self.width).copy()
        if not (days[1:] > days[:-1]).all():  # else already one row a day, in order (a
            days, rows = columnar.by_day(days, rows)  # replay's batches, mostly)
        self._bulk_days = array("i")
        self._bulk_rows = array("q")
        keys = self._keys
        if keys and int(days[0]) <= keys[-1]:
            # Pending days interleave with merged ones: net them together and start over.
            merged = self._prefix_rows()
            days, rows = columnar.by_day(
                np.concatenate([columnar.from_buffer(keys), days]),
                np.concatenate([np.diff(merged, axis=0), rows]))
            keys = array("i")
            prefix = array("i", bytes(4 * self.width))
        else:
            prefix = self._prefix
        kept = rows.any(axis=1)  # entries that cancelled out leave no day behind
        days, rows = days[kept], rows[kept]
        if len(days):
            last = columnar.from_buffer(prefix)[len(prefix) - self.width:].copy()  # no view:
            # a view of an 8-byte prefix would forbid growing it below
            sums = np.cumsum(rows, axis=0)
            sums += last
            keys.frombytes(days.astype(np.int32).tobytes())
            prefix = columnar.extended(prefix, sums)
        self._keys = keys
        self._prefix = prefix

    def _merged_rows(self, pending: dict[int, list[int]]) -> dict[int, list[int]]:
        """The merged days' own rows (differences of the prefix sums) plus ``pending``."""
        width = self.width
        prefix = self._prefix
        rows: dict[int, list[int]] = {}
        base = 0
        for day in self._keys:
            rows[day] = [prefix[base + width + j] - prefix[base + j] for j in range(width)]
            base += width
        for day, values in pending.items():
            row = rows.get(day)
            if row is None:
                rows[day] = values
            else:
                for j in range(width):
                    row[j] += values[j]
        return rows

    def upto_ordinal(self, ordinal: int) -> tuple[int, ...]:
        """:meth:`upto` for a day given as ``date.toordinal()``."""
        if self._days or self._bulk_days:
            self._build()
        width = self.width
        base = bisect_right(self._keys, ordinal) * width
        return tuple(self._prefix[base:base + width])

    def upto(self, day: dt.date | None) -> tuple[int, ...]:
        """Sums of every measure over entries dated on or before ``day`` (None: nothing)."""
        if day is None:
            return (0,) * self.width
        return self.upto_ordinal(day.toordinal())

    def between(self, start: dt.date | None, end: dt.date) -> tuple[int, ...]:
        """Sums over entries dated in ``[start, end]`` (``start`` None: from the beginning)."""
        if start is not None and start > end:
            return (0,) * self.width
        hi = self.upto_ordinal(end.toordinal())
        if start is None:
            return hi
        lo = self.upto_ordinal(start.toordinal() - 1)
        return tuple(a - b for a, b in zip(hi, lo, strict=True))

    def packed(self) -> tuple[array[int], array[int]]:
        """(days, sums) as kept, for a caller vectorising over many series at once: the
        ordinals of the days with a non-zero net entry, ascending (4-byte), and the prefix sums
        row-major (``width`` values a row, ``days + 1`` rows, row ``r`` summing the days before
        ``days[r]``; 4-byte, or 8-byte once one needed it). Pending additions are merged first.
        The arrays are the series' own: read them, never change them."""
        if self._days or self._bulk_days:
            self._build()
        return self._keys, self._prefix

    def first_day(self) -> dt.date | None:
        """Earliest date with a non-zero net entry, or None."""
        if self._days or self._bulk_days:
            self._build()
        return dt.date.fromordinal(self._keys[0]) if self._keys else None


def _small_prefix(series: Series) -> bool:
    """Whether the merged sums of ``series`` leave room for a batch of small rows."""
    from ssp_ledger.projection import columnar

    return columnar.small(series._prefix_rows(), columnar.PREFIX_BOUND)


def add_netted(series_of: Callable[[int], Series | None], codes: Ints, days: Ints,
               rows: Ints) -> None:
    """Row ``i`` of ``rows`` added on day ``days[i]`` to the series ``series_of(codes[i])``
    (None: to none), netted per (code, day) first: what :meth:`Series.add_ordinal` of each row
    gives, with each series handed one packed slice
    (:func:`~ssp_ledger.projection.columnar.netted`, :meth:`Series.add_packed`), or, when a
    summed row is too large for that, its arrays (:meth:`Series.add_many`)."""
    from ssp_ledger.projection import columnar

    add_summed(series_of, *columnar.net(codes, days, rows))


def add_summed(series_of: Callable[[int], Series | None], codes: Ints, days: Ints,
               sums: Ints) -> None:
    """:func:`add_netted` of rows already netted (what
    :func:`~ssp_ledger.projection.columnar.net` gives: ``(code, day)`` pairs ascending and
    distinct)."""
    from ssp_ledger.projection import columnar

    found = columnar.packed(codes, days, sums)
    if found is None:  # sums too large to pack: arrays, which add_many checks
        bounds = columnar.run_starts(codes).tolist()
        bounds.append(len(codes))
        for lo, hi in pairwise(bounds):
            series = series_of(int(codes[lo]))
            if series is not None:  # copies, not views (see columnar.by_series)
                series.add_many(days[lo:hi].copy(), sums[lo:hi].copy())
        return
    distinct, bounds, day_bytes, row_bytes = found
    size = 8 * sums.shape[1]
    for i, code in enumerate(distinct):
        series = series_of(code)
        if series is not None:
            lo, hi = bounds[i], bounds[i + 1]
            series.add_packed(day_bytes[4 * lo:4 * hi], row_bytes[size * lo:size * hi])


def _extended(prefix: array[int], row: list[int]) -> array[int]:
    """``prefix`` with ``row`` appended, widened from 4-byte to 8-byte sums when one needs it.

    Sums start as 4-byte integers (half the memory and checkpoint size of most series); the first
    sum beyond their range turns the whole array into 8-byte integers, once.
    """
    size = len(prefix)
    try:
        prefix.extend(row)
    except OverflowError:
        del prefix[size:]  # extend may have appended part of the row
        prefix = array("q", prefix)
        prefix.extend(row)
    return prefix


