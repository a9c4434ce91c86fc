"""Cumulative cost tables by group, over one partnership or all of them.

:mod:`.cumulative` answers a partnership's total (and its periods and funded split) from one
table. A :class:`GroupedTable` does the same for every group of a grouping at once (``role``,
``school``, ``funding_stream``, ``staff``; one group, ``""``, for the total; or
(partnership, stream) pairs, :data:`~.steps.PAIRS`) and for a *scope*: one partnership, or
every partnership together (what a national report asks), so a grouped or national answer is a
few array operations instead of a walk over every piece.

The figures are the steps :mod:`.steps` computes (each figure a difference of a cumulative
integer function anchored at its segment's start, see :mod:`.costing`), filed under the group
of the piece they belong to, so a group's figures over a range equal the piece-by-piece costing
exactly, pence included. Per group a table keeps:

* **release time** as runs of teaching days of constant funded status
  (:func:`~.cumulative.release_runs`): a look-up counts each run's teaching days up to the day
  and evaluates the closed form ``per_week * k // 5`` (and its cost) there, minus its value at
  the run's start, so a cold report keeps nothing per teaching day (a large table asked again
  keeps every group's release per teaching day instead, built once from the runs' daily
  steps: see :meth:`GroupedTable._release`);
* **activity** by the days it has steps on only (sparse): six cumulative columns, minutes, pence
  and attendances, funded and hidden; unattributed minutes are costed at the table's rate (a
  table is built for one ``default_hourly_cost_pence``);
* the **open tails**: assignments still open after the table's last day, whose release keeps
  accruing in closed form (:class:`~.cumulative.OpenTail`).

A look-up is one bisection of the table's teaching days (shared by every group), one
evaluation per release run (or, once kept, one indexing) and one bisection of the group's
activity days (or, for a table of many groups asked once, a sum of its steps). Tables are caches
built by :class:`~.cache.CumulativeCosts` (from a :class:`~.steps.Walk` it keeps, so tables of
several groupings share one walk); a checkpoint never holds one.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from itertools import pairwise
from typing import Any, cast

import numpy as np

from ssp_ledger.periods import TeachingCalendar
from ssp_ledger_projections.staff_cost.costing import ZERO, Columns
from ssp_ledger_projections.staff_cost.cumulative import OpenTail
from ssp_ledger_projections.staff_cost.rates import UnattributedRate
from ssp_ledger_projections.staff_cost.state import StaffFacts
from ssp_ledger_projections.staff_cost.steps import PAIRS, SCHOOLS, TOTAL, Walk, walk

__all__ = ["GROUPINGS", "PAIRS", "TOTAL", "CumulativeTable", "EveryGroupCosting", "GroupCosting",
           "GroupedTable", "Tails", "add_tails", "build_grouped", "table_of"]

GROUPINGS: tuple[str, ...] = ("role", "school", "funding_stream", "staff")
"""Groupings a table can be built for (besides ``None``: one group, the total)."""

_new = tuple.__new__
_ACTIVITY = 6
"""Values per activity row: minutes, pence, attendances, each funded then hidden."""
_WIDTH = len(Columns._fields)
"""Columns of a look-up."""
_DAY_BITS = 22
"""Bits of a day ordinal in an activity key (``group << 22 | day``): ``date.max`` is below
``2 ** 22``."""
_SAFE = 1 << 60
"""Bound under which every figure a look-up adds or subtracts stays inside 64-bit integers."""
_LAST_ORDINAL = dt.date.max.toordinal()
_CELLS = 1 << 16
"""Release runs x look-up days evaluated at once (bounds the memory of a look-up: each of
its half a dozen temporaries is 512 KiB of 8-byte integers; at 1 << 18 they were 12 MiB
together, the largest spike of a checkpoint's kept answers)."""
_DENSE = 1 << 16
"""Groups x days of a block of :func:`_dense_activity`; a table of more groups x days sums
its activity at look-up (:class:`_Summed`)."""
_SCANS = 4
"""Blocks of groups up to which :func:`_dense_activity` scans every step per block."""
_RELEASE_DENSE = 1 << 22
"""(Teaching days + 1) x groups up to which a table asked again keeps its release time per
teaching day (:meth:`GroupedTable._release`): 64 MiB of 4-byte integers, 128 of 8-byte, at
most (the national (partnership, stream) table at 10M events: 2.6 million)."""
_STEPPED = 1 << 16
"""Release steps (a run's teaching days) filed at once while keeping release per day (bounds
the temporaries of :meth:`GroupedTable._stepped` to 512 KiB each, so the allocator hands the
same memory back block after block: at 1 << 22 each of its dozen temporaries was fresh memory
the kernel had to fault in, and the first build of the 1M national total's release took
0.36-0.60 s instead of 0.05 s)."""
_SUMMED_AT = 256
"""Days a first look-up of a :class:`_Summed` sums in its one pass over the steps; more build
the cumulative rows (a look-up's cells are days x groups)."""
_KEEP_STEPS = 1 << 16
"""Activity steps from which a :class:`_Summed` asked again builds its rows (below, summing
the steps at each look-up costs less than the rows: one partnership's table, say)."""
_KEEP_RUNS = 2048
"""Release runs from which a table asked again keeps its release per teaching day."""
"""Look-up days up to which :class:`_Summed` sums the steps rather than build rows."""
_STEPS = 1 << 16
"""Activity steps summed at once (bounds the memory of the temporaries)."""
_FLOAT_EXACT = 1 << 53
"""Integers (and sums of them) below this are exact as 64-bit floats."""


def _narrowed(rows: np.ndarray) -> tuple[np.ndarray, int]:
    """``rows`` (int64 or Python integers) with a zero first row prepended (where a look-up
    that finds nothing reads), as 4-byte integers where they fit; and their largest
    magnitude."""
    top = max(int(rows.max()), -int(rows.min())) if rows.size else 0
    dtype: type = object if rows.dtype == object else np.int64
    if top < 1 << 31:
        dtype = np.int32
    elif top < 1 << 62:
        dtype = np.int64
    out: np.ndarray = np.zeros((len(rows) + 1, rows.shape[1]), dtype=dtype)
    out[1:] = rows
    return out, top


class _Cumulative:
    """Activity as cumulative rows: every group's back to back, keyed by (group, day with
    steps); row k + 1 holds the cumulative columns of key k, group g's keys start at
    ``_start[g]``; a look-up is one bisection per group and day."""

    __slots__ = ("_keys", "_rows", "_start", "top")

    def __init__(self, keys: np.ndarray, rows: np.ndarray, count: int) -> None:
        self._keys = keys
        self._start = np.searchsorted(keys, np.arange(count, dtype=np.int64) << _DAY_BITS)
        self._rows, self.top = _narrowed(rows)

    def at(self, day: np.ndarray, picked: np.ndarray) -> np.ndarray:
        """The columns of groups ``picked`` summed up to each of ``day``: ``[day, group, 6]``."""
        keys = (picked << _DAY_BITS)[None, :] | day[:, None]
        k = np.searchsorted(self._keys, keys, side="right")
        found: np.ndarray = self._rows[np.where(k > self._start[picked], k, 0)]
        return found


class _Summed:
    """Activity of many groups (more groups x days than :data:`_DENSE`), summed from the
    walk's steps at each look-up: a ``bincount`` per figure over the steps up to the day, so a
    cold report of one range keeps no row per (group, day). A first look-up of more than
    :data:`_SUMMED_AT` days, or a second of a table of :data:`_KEEP_STEPS` steps or more (a
    national one), builds the cumulative rows (:class:`_Cumulative`) and reads them from then
    on: each summed look-up is O(steps), so a process asking again (a service, a notebook, a
    benchmark's warm queries) pays the build once and then bisects, while one partnership's
    table, asked once per row of a survey, keeps summing its few steps.
    Only for figures whose every sum is exact in a float."""

    __slots__ = ("_asked", "_built", "_count", "_dense", "_group", "_keep", "_steps", "top")

    def __init__(self, steps: Walk, group: np.ndarray, count: int, dense: int,
                 keep: int = _KEEP_STEPS) -> None:
        self._steps = steps
        self._dense = dense
        self._group = group
        self._count = count
        self._built: _Cumulative | None = None
        self._asked = False
        """Whether a look-up was summed already (the next one builds, from ``keep`` steps)."""
        self._keep = keep
        self.top = steps.act_bound

    def at(self, day: np.ndarray, picked: np.ndarray) -> np.ndarray:
        """The columns of groups ``picked`` summed up to each of ``day``: ``[day, group, 6]``."""
        steps, group, count = self._steps, self._group, self._count
        if self._built is None and (len(day) > _SUMMED_AT or (
                self._asked and len(steps.act_day) >= self._keep)):
            self._built = _Cumulative(*_dense_activity(steps, group, count, self._dense), count)
        self._asked = True
        if self._built is not None:
            return self._built.at(day, picked)
        # One pass over the steps for every day asked: each step's slot is the first day
        # asked on or after it (steps after the last are left out); its sums per (slot,
        # group, hidden), summed down the slots, are the sums up to each day. The steps are
        # taken a block at a time (at least :data:`_STEPS`, at least as many as the cells), so
        # the temporaries per step (slot, cell, float weights) stay small; the blocks' sums
        # add up exactly (every sum is below :data:`_FLOAT_EXACT`).
        bounds, slot_of = np.unique(day, return_inverse=True)
        cells = len(bounds) * count * 2
        totals = np.zeros((len(steps.act_values), cells), dtype=np.float64)
        size = max(_STEPS, cells)
        for start in range(0, len(steps.act_day), size):
            part = slice(start, start + size)
            slot = np.searchsorted(bounds, steps.act_day[part], side="left")
            inside = slot < len(bounds)
            # Every step on or before the last day asked (the usual case): no copy of them.
            chosen: slice | np.ndarray = slice(None) if inside.all() else inside
            cell = slot[chosen] * (2 * count)
            cell += 2 * group[part][chosen]
            cell += steps.act_hidden[part][chosen]
            for total, figure in zip(totals, steps.act_values, strict=True):
                total += np.bincount(cell, weights=figure[part][chosen], minlength=cells)
        out = np.zeros((len(day), len(picked), _ACTIVITY), dtype=np.int64)
        for c, total in enumerate(totals):
            sums = total.reshape(len(bounds), count, 2).cumsum(axis=0)
            out[:, :, 2 * c:2 * c + 2] = sums[slot_of][:, picked]
        return out


class CumulativeTable:
    """What a cumulative table of every group answers, from its :meth:`columns_at`: every
    group's columns over a range, or over several (:class:`GroupedTable` computes them from a
    walk's steps; :class:`~.kept.KeptTable` reads the rows a checkpoint kept)."""

    __slots__ = ()

    labels: list[str]
    groups: dict[str, int]
    _dtype: type

    def columns_at(self, ordinals: Sequence[int], group: int | None = None) -> np.ndarray:
        """Columns summed over every day up to each of ``ordinals`` (inclusive), of every
        group (``group`` None) or of one: an array ``[ordinal, group, column]`` in
        :class:`~.costing.Columns` order, groups in :attr:`labels` order."""
        raise NotImplementedError

    def between_all(self, start: dt.date | None, end: dt.date) -> np.ndarray:
        """Every group's columns over ``[start, end]`` (``start`` None: from the beginning): an
        array ``[group, column]``, groups in :attr:`labels` order."""
        last = end.toordinal()
        if start is None:
            return cast("np.ndarray", self.columns_at([last])[0])
        first = start.toordinal() - 1
        if last <= first:
            return np.zeros((len(self.labels), _WIDTH), dtype=self._dtype)
        both = self.columns_at([last, first])
        return cast("np.ndarray", both[0] - both[1])

    def ranges(self, ranges: Sequence[tuple[dt.date | None, dt.date]]) -> np.ndarray:
        """Every group's columns over each of ``ranges`` (:meth:`between_all` of each, in one
        look-up): an array ``[range, group, column]``."""
        ends = [end.toordinal() for _, end in ranges]
        befores = [0 if start is None else start.toordinal() - 1 for start, _ in ranges]
        found = self.columns_at([*ends, *befores])
        count = len(ranges)
        out = found[:count] - found[count:]
        for k, (start, end) in enumerate(ranges):
            if start is not None and end < start:
                out[k] = 0
        return cast("np.ndarray", out)

    def upto(self, ordinal: int) -> dict[str, Columns]:
        """Every group's columns over every day up to ``ordinal`` (inclusive)."""
        return _by_label(self.labels, self.columns_at([ordinal])[0])

    def between(self, start: dt.date | None, end: dt.date) -> dict[str, Columns]:
        """Every group's columns over ``[start, end]`` (``start`` None: from the beginning)."""
        return _by_label(self.labels, self.between_all(start, end))

    def group(self, name: str) -> GroupCosting:
        """One group's figures as a :class:`~.costing.Costing`."""
        return GroupCosting(self, name)


class GroupedTable(CumulativeTable):
    """Every group's :class:`~.costing.Columns` summed over every day up to any day.

    Every group's columns sit in shared arrays (see :meth:`columns_at`), so one look-up answers
    every group at once: a handful of vectorised operations whatever the number of groups.
    """

    __slots__ = ("_activity", "_calendar", "_dtype", "_rel", "_rel_asked", "_rel_dense",
                 "_rel_first", "_rel_funded", "_rel_groups", "_rel_keep", "_rel_lo", "_rel_n",
                 "_tail_funded", "_tail_group", "_tails", "_teaching", "base", "groups",
                 "labels", "last", "last_rows", "teaching")

    def __init__(self, calendar: TeachingCalendar, base: int, last: int, teaching: list[int],
                 labels: list[str], activity: _Cumulative | _Summed,
                 release: tuple[np.ndarray, list[list[int]]], tails: list[tuple[int, OpenTail]],
                 bound: int, keep_runs: int = _KEEP_RUNS) -> None:
        """``activity``: the activity of every group; ``release``:
        (group of each run, ascending; the runs' columns as :attr:`~.steps.Walk.rel`);
        ``tails``: (group, :class:`~.cumulative.OpenTail`); ``bound``: of every figure."""
        self._calendar = calendar
        self.base = base
        """Ordinal of the first day of the table (nothing before it)."""
        self.last = last
        """Ordinal of its last day; later days change only the open tails' release."""
        self.teaching = teaching
        """Ordinals of the teaching days in ``[base, last]``, ascending."""
        self.labels = labels
        """Group labels, sorted: the order of every look-up's rows."""
        self.groups = {name: g for g, name in enumerate(labels)}
        """Each group's position in :attr:`labels`."""
        self._teaching = np.asarray(teaching, dtype=np.int64)
        self._activity = activity
        top = activity.top
        # Open tails: release from the table's last day on, per group.
        self._tail_group = np.asarray([g for g, _ in tails], dtype=np.int64)
        growth = sum(t.per_week * (t.hourly + 1) for _, t in tails) * _LAST_ORDINAL
        self._dtype: type = np.int64 if 4 * (bound + top + growth) < _SAFE else object
        """Integers of every look-up: 8-byte when no figure can leave their range."""
        work = self._dtype
        # Release runs, by group: first teaching index, length, then (in the look-up's
        # integers) teaching days before, minutes per week, hourly pence; and the groups
        # present with the index of their first run.
        groups, columns = release
        self._rel_lo = np.asarray(columns[0], dtype=np.int64)
        self._rel_n = np.asarray(columns[1], dtype=np.int64)
        self._rel: list[np.ndarray] = [np.asarray(columns[c], dtype=work) for c in (2, 3, 4)]
        self._rel_funded = np.asarray(columns[5], dtype=bool)
        present = np.flatnonzero(np.r_[True, groups[1:] != groups[:-1]]) if len(groups) else (
            np.zeros(0, dtype=np.int64))
        self._rel_first = present
        self._rel_groups = groups[present] if len(groups) else np.zeros(0, dtype=np.int64)
        self._tails: list[np.ndarray] = [
            np.asarray([t.days for _, t in tails], dtype=work),
            *(np.asarray([getattr(t, field) for _, t in tails], dtype=work)
              for field in ("per_week", "hourly", "minutes", "pence"))]
        self._tail_funded = np.asarray([t.funded for _, t in tails], dtype=bool)
        self.last_rows: dict[int, np.ndarray] = {}
        """Every group's row of each ordinal of the last look-up of every group (a row depends
        on its ordinal alone): :class:`EveryGroupCosting` reads them again."""
        self._rel_keep = keep_runs
        """Release runs from which the table asked again keeps its release per teaching day."""
        self._rel_asked = False
        """Whether release time was looked up already (see :meth:`_release`)."""
        self._rel_dense: np.ndarray | None = None
        """Every group's release time at every teaching index ``[0, len(teaching)]``, once
        built: ``[index, group, 4]``."""

    def _release(self, taught: np.ndarray, group: int | None) -> np.ndarray:
        """Release minutes and pence (funded, hidden, funded, hidden) of every group (or of
        ``group``) up to the ``taught``-th teaching day of the table: ``[day, group, 4]``.

        The first look-up evaluates each release run in closed form (O(runs): a cold report
        keeps nothing per teaching day). The second, when the table has many runs
        (:data:`_KEEP_RUNS`, a national table) and few enough groups (:data:`_RELEASE_DENSE`),
        keeps every group's release at every teaching index (:meth:`_stepped`: each run's
        per-day steps of the same closed form, summed), so every later look-up is one
        indexing, whatever the runs."""
        dense = self._rel_dense
        if dense is None and self._rel_asked and self._dtype is np.int64 and (
                len(self._rel_lo) >= self._rel_keep) and (
                (len(self.teaching) + 1) * len(self.labels) <= _RELEASE_DENSE):
            dense = self._rel_dense = self._stepped()
        self._rel_asked = True
        if dense is not None:
            picked: np.ndarray = dense[taught] if group is None else dense[taught][:, [group]]
            return picked
        return self._evaluated(taught, group)

    def _stepped(self) -> np.ndarray:
        """Every group's release at every teaching index ``[0, len(teaching)]``:
        ``[index, group, 4]``. Run r adds, on each of its teaching days k = 1..n (index
        lo + k), the step of its closed form, ``f(done + k) - f(done + k - 1)`` (minutes
        ``per_week * d // 5``, pence ``minutes * hourly // 60``); the sums of the steps up to an
        index telescope to :meth:`_evaluated` there. O(the runs' days), not runs x days."""
        count, last = len(self.labels), len(self.teaching)
        lo, n, funded = self._rel_lo, self._rel_n, self._rel_funded
        done, per_week, hourly = (np.asarray(c, dtype=np.int64) for c in self._rel)
        run_group = np.repeat(self._rel_groups, np.diff(np.r_[self._rel_first, len(lo)]))
        steps = np.zeros((last + 1) * count * 4, dtype=np.int64)
        filed = np.cumsum(n)
        start = 0
        while start < len(lo):
            before = int(filed[start - 1]) if start else 0
            stop = max(start + 1, int(np.searchsorted(filed, before + _STEPPED, side="right")))
            runs = np.arange(start, stop)
            counts = n[runs]
            total = int(counts.sum())
            start = stop
            if not total:
                continue
            run = np.repeat(runs, counts)
            k = np.arange(1, total + 1) - np.repeat(np.cumsum(counts) - counts, counts)
            index = lo[run] + k
            days = done[run] + k
            weekly, rate = per_week[run], hourly[run]
            minutes = weekly * days // 5
            earlier = weekly * (days - 1) // 5
            hidden = (~funded[run]).astype(np.int64)
            inside = index <= last
            cell = ((index * count + run_group[run]) * 4 + hidden)[inside]
            np.add.at(steps, cell, (minutes - earlier)[inside])  # minutes: column 0 or 1
            np.add.at(steps, cell + 2,  # pence: column 2 or 3
                      (minutes * rate // 60 - earlier * rate // 60)[inside])
        dense = steps.reshape(last + 1, count, 4).cumsum(axis=0)
        if dense.size and int(dense.min()) >= -(1 << 31) and int(dense.max()) < 1 << 31:
            return dense.astype(np.int32)
        return dense

    def _evaluated(self, taught: np.ndarray, group: int | None) -> np.ndarray:
        """:meth:`_release` in closed form, run by run."""
        count = len(self.labels) if group is None else 1
        out: np.ndarray = np.zeros((len(taught), count, 4), dtype=self._dtype)
        groups, firsts = self._rel_groups, self._rel_first
        lo, n, funded = self._rel_lo, self._rel_n, self._rel_funded
        done, per_week, hourly = self._rel
        if group is not None:
            g = int(np.searchsorted(groups, group))
            if g == len(groups) or groups[g] != group:
                return out
            end = int(firsts[g + 1]) if g + 1 < len(firsts) else len(lo)
            pick = slice(int(firsts[g]), end)
            lo, n, funded, done, per_week, hourly = (
                lo[pick], n[pick], funded[pick], done[pick], per_week[pick], hourly[pick])
            groups = np.zeros(1, dtype=np.int64)
            firsts = np.zeros(1, dtype=np.int64)
        if not len(lo):
            return out
        start_minutes = per_week * done // 5
        start_pence = start_minutes * hourly // 60
        step = max(1, _CELLS // len(lo))
        for b in range(0, len(taught), step):
            days = np.clip(taught[b:b + step, None] - lo, 0, n) + done
            minutes = per_week * days // 5
            pence = minutes * hourly // 60 - start_pence
            minutes -= start_minutes
            for col, values, flag in ((0, minutes, True), (1, minutes, False),
                                      (2, pence, True), (3, pence, False)):
                kept = np.where(funded == flag, values, 0)
                out[b:b + step, groups, col] = np.add.reduceat(kept, firsts, axis=1)
        return out

    def columns_at(self, ordinals: Sequence[int], group: int | None = None) -> np.ndarray:
        """Columns summed over every day up to each of ``ordinals`` (inclusive), of every
        group (``group`` None) or of one: an array ``[ordinal, group, column]`` in
        :class:`~.costing.Columns` order, groups in :attr:`labels` order."""
        work = self._dtype
        at = np.asarray(ordinals, dtype=np.int64)
        picked = (np.arange(len(self.labels), dtype=np.int64) if group is None
                  else np.asarray([group], dtype=np.int64))
        out: np.ndarray = np.zeros((len(at), len(picked), _WIDTH), dtype=work)
        if not len(picked):
            return out
        day = np.minimum(at, self.last)
        # Release: each run's teaching days up to ``day``, in closed form.
        release = self._release(np.searchsorted(self._teaching, day, side="right"), group)
        activity: np.ndarray = self._activity.at(day, picked).astype(work)
        out[..., 0:2] = release[..., 0:2]  # release minutes funded, hidden
        out[..., 2:4] = activity[..., 0:2]  # activity minutes funded, hidden
        out[..., 4:6] = release[..., 2:4] + activity[..., 2:4]  # pence funded, hidden
        out[..., 6:8] = activity[..., 4:6]  # attendances funded, hidden
        out[at < self.base] = 0
        if len(self._tail_group):
            for b in np.flatnonzero(at > self.last).tolist():
                self._add_tails(out[b], int(at[b]), group)
        if group is None:
            self.last_rows = dict(zip(ordinals, out.copy(), strict=True))
        return out

    def tail_groups(self) -> np.ndarray:
        """Each open tail's group (in the walk's order of its tails)."""
        return self._tail_group

    def _add_tails(self, row: np.ndarray, ordinal: int, group: int | None) -> None:
        add_tails(row, ordinal, group, self._calendar, self.last,
                  (self._tail_group, self._tails, self._tail_funded))



Tails = tuple[np.ndarray, list[np.ndarray], np.ndarray]
"""Open tails as a table keeps them: each tail's group, its (teaching days, minutes per
week, hourly pence, minutes, pence) through the table's last day, and its funded flag."""


def add_tails(row: np.ndarray, ordinal: int, group: int | None, calendar: TeachingCalendar,
              last: int, tails: Tails) -> None:
    """Add to ``row`` (groups x columns; one group's row when ``group`` is set) the release the
    open ``tails`` accrue after a table's ``last`` day up to ``ordinal`` (as
    :func:`~.cumulative.tails_after`, per group)."""
    where, (days, per_week, hourly, minutes_before, pence_before), funded = tails
    more = calendar.teaching_days_between(last + 1, ordinal)
    chosen = np.ones(len(where), dtype=bool) if group is None else where == group
    minutes = per_week * (days + more) // 5
    pence = minutes * hourly // 60 - pence_before
    minutes = minutes - minutes_before
    at = where if group is None else np.zeros(len(where), dtype=np.int64)
    for flag, m_col, p_col in ((True, 0, 4), (False, 1, 5)):
        pick = chosen & (funded == flag)
        np.add.at(row[:, m_col], at[pick], minutes[pick])
        np.add.at(row[:, p_col], at[pick], pence[pick])


class _CumulativeCosting:
    """:class:`~.costing.Costing` from cumulative sums: ``between`` and ``periods`` as
    differences of :meth:`_at`, the columns summed up to each ordinal (inclusive)."""

    __slots__ = ()

    def _at(self, ordinals: list[int]) -> list[Columns]:
        raise NotImplementedError

    def between(self, start: dt.date | None, end: dt.date) -> Columns:
        """See :meth:`~.costing.Costing.between`: two look-ups."""
        last = end.toordinal()
        if start is None:
            return self._at([last])[0]
        first = start.toordinal()
        if last < first:
            return ZERO
        hi, lo = self._at([last, first - 1])
        return hi.minus(lo)

    def periods(self, starts: Sequence[dt.date], end: dt.date) -> list[Columns]:
        """See :meth:`~.costing.Costing.periods`: one look-up per period bound."""
        at = self._at([*(s.toordinal() - 1 for s in starts), end.toordinal()])
        return [b.minus(a) for a, b in pairwise(at)]


class EveryGroupCosting(_CumulativeCosting):
    """:class:`~.costing.Costing` of every group of a :class:`GroupedTable` together: each
    look-up's rows summed. The groups of a grouping file every costed piece in exactly one
    group, so this is the table of one group, :data:`TOTAL`, read from a table already built
    for another grouping (the sums stay exact: the table's integers bound every figure of the
    walk, whatever the group)."""

    __slots__ = ("_table",)

    def __init__(self, table: GroupedTable) -> None:
        self._table = table

    def _at(self, ordinals: list[int]) -> list[Columns]:
        """The sums up to each ordinal: from the rows of the table's last look-up where it
        had them (0 before the table's first day), else by a look-up."""
        table = self._table
        kept = table.last_rows
        if all(o < table.base or o in kept for o in ordinals):
            return [ZERO if o < table.base else _new(Columns, kept[o].sum(axis=0).tolist())
                    for o in ordinals]
        found = table.columns_at(ordinals).sum(axis=1).tolist()
        return [_new(Columns, row) for row in found]


def _by_label(labels: list[str], rows: np.ndarray) -> dict[str, Columns]:
    return dict(zip(labels, (_new(Columns, row) for row in rows.tolist()), strict=True))


class GroupCosting(_CumulativeCosting):
    """:class:`~.costing.Costing` of one group of a :class:`GroupedTable` (all zeros for a
    group the table does not have)."""

    __slots__ = ("_group", "_table")

    def __init__(self, table: CumulativeTable, name: str) -> None:
        self._table = table
        self._group = table.groups.get(name)

    def _at(self, ordinals: list[int]) -> list[Columns]:
        if self._group is None:
            return [ZERO] * len(ordinals)
        found = self._table.columns_at(ordinals, self._group)[:, 0].tolist()
        return [_new(Columns, row) for row in found]


# --------------------------------------------------------------------------- building


def table_of(steps: Walk, by: str | None, calendar: TeachingCalendar, *,
             activity: str | None = None, dense: int = _DENSE,
             keep: tuple[int, int] = (_KEEP_STEPS, _KEEP_RUNS)) -> GroupedTable:
    """The table of grouping ``by`` (None: one group, :data:`TOTAL`; :data:`PAIRS`; or one of
    :data:`GROUPINGS`) of the steps of a walk: activity summed per (group, day) then over each
    group's days, the release runs sorted by group.

    How activity is summed (every way gives the same figures): ``"dense"`` (groups x days, in
    blocks of ``dense`` cells), ``"summed"`` (at each look-up), ``"sorted"`` (by sorting the
    steps); None chooses: sorted when a float might not hold a sum exactly, summed when groups
    x days exceed ``dense``, else dense. ``keep``: the activity steps and the release runs from
    which a table asked again keeps rows rather than summing at each look-up (the same figures
    either way; tests set them to 0 to exercise both).
    """
    if by is not None and by not in (PAIRS, SCHOOLS) and by not in GROUPINGS:
        msg = f"no grouped cost table for grouping {by!r}"
        raise ValueError(msg)
    labels, act_code, by_series, rel_group, tail_group = steps.codes(by)
    count = len(labels)
    group = act_code.astype(np.int32)[steps.act_series() if by_series else steps.act_segment]
    if activity is None:
        inexact = len(steps.act_day) and (steps.act_values[0].dtype == object
                                          or steps.act_bound >= _FLOAT_EXACT)
        activity = "sorted" if inexact else (
            "summed" if count * (steps.last - steps.base + 1) > dense else "dense")
    summed: _Cumulative | _Summed
    if activity == "sorted":
        summed = _Cumulative(*_sorted_activity(steps, group, count), count)
    elif activity == "summed":
        summed = _Summed(steps, group, count, dense, keep[0])
    else:
        summed = _Cumulative(*_dense_activity(steps, group, count, dense), count)
    release_order = np.argsort(rel_group, kind="stable")
    columns = [np.asarray(c, dtype=object if steps.rel_bound >= _SAFE else np.int64)
               [release_order].tolist() for c in steps.rel]
    return GroupedTable(calendar, steps.base, steps.last, steps.teaching, labels,
                        summed, (rel_group[release_order], columns),
                        [(g, t) for g, (_, t) in zip(tail_group, steps.tails, strict=True)],
                        steps.rel_bound + steps.act_bound, keep[1])


def build_grouped(facts: StaffFacts, pids: Sequence[str], by: str | None,
                  rate: UnattributedRate) -> GroupedTable:
    """The table of grouping ``by`` (None: one group, :data:`TOTAL`) over partnerships
    ``pids``, unattributed minutes costed at ``rate``: :func:`table_of` a fresh
    :func:`~.steps.walk`."""
    if by is not None and by not in (PAIRS, SCHOOLS) and by not in GROUPINGS:
        msg = f"no grouped cost table for grouping {by!r}"
        raise ValueError(msg)
    return table_of(walk(facts, pids, rate), by, facts.calendar)


def _dense_activity(steps: Walk, group: np.ndarray, count: int, dense_cells: int
                    ) -> tuple[np.ndarray, np.ndarray]:
    """(keys ``group << 22 | day`` ascending, cumulative rows) of a table's activity (``group``:
    of each step): the steps of each (group, day) summed, funded and hidden apart, then
    summed over each group's days; densely, a block of groups at a time (``bincount`` over
    groups x days, exact: every sum is below :data:`_FLOAT_EXACT`). Columns are summed as
    contiguous rows of a ``(column, cell)`` array (a cumulative sum down a column of a
    row-major array is several times slower)."""
    days = steps.act_day
    if not len(days):
        return np.zeros(0, dtype=np.int64), np.zeros((0, _ACTIVITY), dtype=np.int64)
    values = steps.act_values
    hidden = steps.act_hidden
    base = steps.base
    span = steps.last - base + 1
    block = max(1, dense_cells // span)
    blocks = -(-count // block)
    # A few blocks scan every step each; more read the steps sorted by group.
    order = np.argsort(group, kind="stable") if blocks > _SCANS else None
    ends = (np.searchsorted(group[order], np.arange(0, count + block, block))
            if order is not None else np.asarray([0, len(days)] * blocks))
    keys: list[np.ndarray] = []
    rows: list[np.ndarray] = []
    for b, g0 in enumerate(range(0, count, block)):
        g1 = min(count, g0 + block)
        cells = (g1 - g0) * span
        dense = np.zeros((_ACTIVITY, cells), dtype=np.int64)
        seen = np.zeros(cells, dtype=bool)
        lo, hi = (int(ends[b]), int(ends[b + 1])) if order is not None else (0, len(days))
        for start in range(lo, hi, _STEPS):
            pick: Any = (slice(start, min(hi, start + _STEPS)) if order is None
                         else order[start:min(hi, start + _STEPS)])
            if order is None and blocks > 1:
                inside = group[pick]
                pick = start + np.flatnonzero((inside >= g0) & (inside < g1))
            cell = (group[pick] - g0).astype(np.int64) * span + (days[pick] - base)
            at = 2 * cell + hidden[pick]
            for c, figure in enumerate(values):
                both = np.bincount(at, weights=figure[pick], minlength=2 * cells)
                dense[2 * c] += both[0::2].astype(np.int64)
                dense[2 * c + 1] += both[1::2].astype(np.int64)
            seen[cell] = True
        np.cumsum(dense.reshape(_ACTIVITY, g1 - g0, span), axis=2,
                  out=dense.reshape(_ACTIVITY, g1 - g0, span))
        where = np.flatnonzero(seen)
        g, d = np.divmod(where, span)
        keys.append(((g + g0) << _DAY_BITS) | (d + base))
        rows.append(dense[:, where].T)
    return (np.concatenate(keys), np.concatenate(rows)) if len(keys) > 1 else (
        keys[0], rows[0])


def _sorted_activity(steps: Walk, group: np.ndarray, count: int
                     ) -> tuple[np.ndarray, np.ndarray]:
    """:func:`_dense_activity` by sorting the steps by (group, day, hidden): for figures a
    float might not hold exactly (Python integers where 8 bytes might not either)."""
    days = steps.act_day
    if not len(days):
        return np.zeros(0, dtype=np.int64), np.zeros((0, _ACTIVITY), dtype=np.int64)
    wide: Any = object if steps.act_values[0].dtype == object else np.int64
    values = [figure.astype(wide) for figure in steps.act_values]  # sums of 4-byte ones
    key = (((group.astype(np.int64) << _DAY_BITS) | days) << 1) | steps.act_hidden
    order = np.argsort(key)
    key = key[order]
    firsts = np.flatnonzero(np.r_[True, key[1:] != key[:-1]])
    key = key[firsts]
    cell = key >> 1
    starts = np.r_[True, cell[1:] != cell[:-1]]
    row = np.cumsum(starts) - 1
    keys = cell[starts]
    side = (key & 1).astype(bool)
    columns = np.zeros((_ACTIVITY, len(keys)), dtype=wide)
    for c, figure in enumerate(values):
        sums = np.add.reduceat(figure[order], firsts)
        columns[2 * c, row[~side]] = sums[~side]
        columns[2 * c + 1, row[side]] = sums[side]
    np.cumsum(columns, axis=1, out=columns)
    # Each group's sums start from zero: less the running sum before its first day.
    groups = keys >> _DAY_BITS
    first_rows = np.flatnonzero(np.r_[True, groups[1:] != groups[:-1]])
    lengths = np.diff(np.r_[first_rows, len(keys)])
    for column in columns:
        before = np.zeros(len(first_rows), dtype=columns.dtype)
        before[1:] = column[first_rows[1:] - 1]
        column -= np.repeat(before, lengths)
    return keys, columns.T
