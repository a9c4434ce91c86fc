"""Columnar kernels: sums of a batch of contributions per (series, day), in compiled code.

A replay feeds an additive projection thousands of facts at a time
(:meth:`ProjectionSet.process_all <ssp_ledger.projection.projection_set.ProjectionSet.
process_all>`). Instead of appending each fact's values to every series it touches, the index
turns the batch into columns (a code per series, a day ordinal and a row of measures per fact)
and lets numpy net them: one sort of ``(code, day)`` keys and one ``np.add.reduceat`` give each
series its distinct days and summed rows, which :meth:`Series.add_many
<ssp_ledger.projection.series.Series.add_many>` merges into its prefix sums.

Sums do not depend on the order they are added in, so a series fed this way is equal, dump for
dump, to one fed fact by fact (tests compare them). The kernels work in 64-bit integers: callers
first check with :func:`small` that the values cannot overflow them (else they take the
fact-by-fact path, whose Python integers cannot overflow).

This module imports numpy; the index and the series import it on first use only, so
``import ssp_ledger`` does not pay for numpy.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterator, Sequence

import numpy as np
import numpy.typing as npt

__all__ = ["DAY_BITS", "PREFIX_BOUND", "Ints", "Netted", "by_day", "by_series", "extended",
           "from_buffer", "grouped", "int_matrix", "net", "netted", "np", "packed", "run_starts",
           "small"]

Ints = npt.NDArray[np.int64]
"""A numpy array of 64-bit integers."""

DAY_BITS = 22
"""Bits of a day ordinal (``date.max.toordinal()`` is 3,652,059 < 2**22)."""
_DAY_MASK = (1 << DAY_BITS) - 1
_SMALL = 1 << 31
"""Values below this in magnitude, fewer than this many at a time: their sums stay below 2**62,
so added to prefix sums below :data:`PREFIX_BOUND` they cannot overflow int64."""
PREFIX_BOUND = 1 << 61
"""Prefix sums below this in magnitude leave room for a batch of :func:`small` rows."""


def int_matrix(values: Sequence[Sequence[int]] | Ints, width: int) -> Ints | None:
    """``values`` (one row of ``width`` integers each) as an ``(n, width)`` int64 array, or None
    when one does not fit in 64 bits."""
    try:
        out = np.array(values, dtype=np.int64)
    except OverflowError:
        return None
    return out.reshape(len(values), width)


def small(rows: Ints, bound: int = _SMALL) -> bool:
    """Whether every value of ``rows`` is below ``bound`` in magnitude (by default: whether
    sums of them, fewer than 2**31 rows, stay below 2**62 and cannot overflow int64)."""
    if rows.size == 0:
        return True
    if bound == _SMALL and len(rows) >= _SMALL:
        return False
    return int(rows.max()) < bound and int(rows.min()) > -bound


def from_buffer(values: array[int]) -> Ints:
    """A packed array of 4- or 8-byte integers as int64 (a view of 8-byte ones, no copy)."""
    if values.typecode == "q":
        return np.frombuffer(values, dtype=np.int64)
    return np.frombuffer(values, dtype=np.int32).astype(np.int64)


def extended(prefix: array[int], sums: Ints) -> array[int]:
    """``prefix`` (4-byte sums, or 8-byte once one needed it) with the rows of ``sums``
    appended; widened to 8 bytes, once, when a new sum needs it (as a row-by-row append would
    be)."""
    if prefix.typecode == "i":
        if len(sums) == 0 or (int(sums.max()) < 1 << 31 and int(sums.min()) >= -(1 << 31)):
            prefix.frombytes(sums.astype(np.int32).tobytes())
            return prefix
        prefix = array("q", prefix)
    prefix.frombytes(sums.astype(np.int64).tobytes())
    return prefix


def run_starts(sorted_keys: Ints) -> Ints:
    """Indexes where a run of equal keys starts in ``sorted_keys`` (non-empty)."""
    change = np.empty(len(sorted_keys), dtype=bool)
    change[0] = True
    np.not_equal(sorted_keys[1:], sorted_keys[:-1], out=change[1:])
    return np.flatnonzero(change)


def _reduce(rows: Ints, starts: Ints) -> Ints:
    """Sums of ``rows`` over the runs beginning at ``starts``."""
    if rows.shape[1] == 0:
        return np.zeros((len(starts), 0), dtype=np.int64)
    out: Ints = np.add.reduceat(rows, starts, axis=0)
    return out


def by_day(days: Ints, rows: Ints) -> tuple[Ints, Ints]:
    """The distinct ``days``, ascending, and the summed ``rows`` of each (rows that net to zero
    are kept: dropping them is the series' business)."""
    if len(days) == 0:
        return days, rows
    order = np.argsort(days, kind="stable")
    days = days[order]
    starts = run_starts(days)
    return days[starts], _reduce(rows[order], starts)


def by_series(codes: Ints, days: Ints, rows: Ints) -> Iterator[tuple[int, Ints, Ints]]:
    """For each distinct code (ascending): the code, its distinct days (ascending) and their
    summed rows (fresh arrays). Every code present is yielded, even when its rows net to
    zero."""
    if len(codes) == 0:
        return
    keys = (codes << DAY_BITS) | days
    order = np.argsort(keys, kind="stable")
    keys = keys[order]
    starts = run_starts(keys)
    sums = _reduce(rows[order], starts)
    keys = keys[starts]
    series = keys >> DAY_BITS
    bounds = run_starts(series).tolist()
    bounds.append(len(series))
    distinct = series[bounds[:-1]].tolist()
    day_of = keys & _DAY_MASK
    for i, code in enumerate(distinct):
        lo, hi = bounds[i], bounds[i + 1]
        # copies, not views: a series may hold them pending for long, and a view would keep
        # the whole batch's arrays alive with it
        yield code, day_of[lo:hi].copy(), sums[lo:hi].copy()


Netted = tuple[list[int], list[int], bytes, bytes]
"""What :func:`netted` gives: the distinct codes (ascending), the bounds of each code's days
(``bounds[i]:bounds[i + 1]``, one more than the codes), every code's distinct days as native
4-byte integers and their summed rows as native 8-byte integers, both in that order."""


def net(codes: Ints, days: Ints, rows: Ints) -> tuple[Ints, Ints, Ints]:
    """The distinct ``(code, day)`` pairs, ascending, as two arrays, and the summed ``rows`` of
    each (every pair present is kept, even when its rows net to zero). Netted rows may be
    netted again under coarser codes (a partnership's from its schools'): the sums are the
    same."""
    if len(codes) == 0:
        return codes, days, rows
    keys = (codes << DAY_BITS) | days
    order = np.argsort(keys, kind="stable")
    keys = keys[order]
    starts = run_starts(keys)
    sums = _reduce(rows[order], starts)
    keys = keys[starts]
    return keys >> DAY_BITS, keys & _DAY_MASK, sums


def packed(codes: Ints, days: Ints, sums: Ints) -> Netted | None:
    """What :func:`net` gives, packed as :func:`netted` gives it; None when a summed row is not
    :func:`small`."""
    if len(codes) == 0:
        return [], [0], b"", b""
    if not small(sums):
        return None
    bounds = run_starts(codes).tolist()
    distinct = codes[bounds].tolist()
    bounds.append(len(codes))
    return (distinct, bounds, days.astype(np.int32).tobytes(),
            np.ascontiguousarray(sums, dtype=np.int64).tobytes())


def netted(codes: Ints, days: Ints, rows: Ints) -> Netted | None:
    """:func:`by_series` packed: the same days and sums, as two byte strings a series appends
    slices of (no array per code), or None when a summed row is not :func:`small` (then
    :func:`by_series` and :meth:`Series.add_many <ssp_ledger.projection.series.Series.add_many>`
    decide, row by row)."""
    return packed(*net(codes, days, rows))


def grouped(labels: Sequence[object]) -> list[tuple[object, list[int]]]:
    """Each distinct label of ``labels`` (hashable, e.g. event classes), in first-appearance
    order, with the indexes where it occurs, ascending: one stable sort of small codes,
    whatever the number of labels (a filter per label would pass over the batch each time)."""
    distinct = list(dict.fromkeys(labels))
    if len(distinct) <= 1:
        return [(label, list(range(len(labels)))) for label in distinct]
    code_of = dict(zip(distinct, range(len(distinct)), strict=True))
    codes = np.fromiter(map(code_of.__getitem__, labels), dtype=np.intp, count=len(labels))
    order = np.argsort(codes, kind="stable").tolist()
    bounds = [0, *np.cumsum(np.bincount(codes, minlength=len(distinct))).tolist()]
    return [(label, order[bounds[i]:bounds[i + 1]]) for i, label in enumerate(distinct)]
