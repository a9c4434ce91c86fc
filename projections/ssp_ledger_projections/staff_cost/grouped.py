"""Cumulative cost tables by group, over one partnership or all of them.

:mod:`.cumulative` answers a partnership's total (and its periods and funded split) from one
table. A :class:`GroupedTable` does the same for every group of a grouping at once (``role``,
``school``, ``funding_stream``, ``staff``; or one group, ``""``, for the total) and for a
*scope*: one partnership, or every partnership together (what a national report asks), so a
grouped or national answer is O(log n) per group instead of a walk over every piece.

The figures are the same steps :mod:`.cumulative` sums (each figure a difference of a cumulative
integer function anchored at its segment's start, see :mod:`.costing`), filed under the group
of the piece they belong to, so a group's figures over a range equal the piece-by-piece costing
exactly, pence included. Per group a table keeps:

* **release time** by *teaching day*, densely, from the group's first release step to its last
  (release accrues on every teaching day of an assignment, so it is dense where it exists and
  absent elsewhere): four cumulative columns, minutes and pence, funded and hidden;
* **activity** by the days it has steps on only (sparse): six cumulative columns, minutes, pence
  and attendances, funded and hidden; unattributed minutes are costed at the table's rate (a
  table is built for one ``default_hourly_cost_pence``);
* the **open tails**: assignments still open after the table's last day, whose release keeps
  accruing in closed form (:class:`~.cumulative.OpenTail`).

A look-up is one bisection of the table's teaching days (shared by every group) plus one
bisection of the group's activity days. Tables are caches built by
:class:`~.cache.CumulativeCosts`; a checkpoint never holds one.
"""

from __future__ import annotations

import datetime as dt
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Sequence
from itertools import accumulate, pairwise
from operator import add, sub
from typing import cast

import numpy as np

from ssp_ledger.events import StaffAssigned
from ssp_ledger.periods import TeachingCalendar
from ssp_ledger.projection import Series
from ssp_ledger_projections.funding_levels import StreamLevels
from ssp_ledger_projections.staff_cost.costing import (
    NONE_LABEL,
    UNATTRIBUTED,
    ZERO,
    Columns,
    Tags,
    label,
)
from ssp_ledger_projections.staff_cost.cumulative import (
    OpenTail,
    Piece,
    Plan,
    plan_of,
)
from ssp_ledger_projections.staff_cost.rates import UnattributedRate
from ssp_ledger_projections.staff_cost.state import DAY, StaffFacts

__all__ = ["GROUPINGS", "GroupCosting", "GroupedTable", "build_grouped"]

GROUPINGS: tuple[str, ...] = ("role", "school", "funding_stream", "staff")
"""Groupings a table can be built for (besides ``None``: one group, the total)."""
TOTAL = ""
"""The one group of a table built for no grouping."""

_new = tuple.__new__
_RELEASE = 4
"""Values per release row: minutes funded, minutes hidden, pence funded, pence hidden."""
_ACTIVITY = 6
"""Values per activity row: minutes, pence, attendances, each funded then hidden."""
_STEP = 1 + _ACTIVITY
"""Values per activity step while building: the day's ordinal, then the row."""
_WIDTH = len(Columns._fields)
"""Columns of a look-up."""
_DAY_BITS = 22
"""Bits of a day ordinal in an activity key (``group << 22 | day``): ``date.max`` is below
``2 ** 22``."""
_SAFE = 1 << 60
"""Bound under which every figure a look-up adds or subtracts stays inside 64-bit integers."""
_LAST_ORDINAL = dt.date.max.toordinal()


def _stored(values: list[int], width: int, bound: list[int]) -> np.ndarray:
    """``values`` as a ``(rows, width)`` array with a zero first row (where a look-up that
    finds nothing reads): 4-byte integers where they fit, else 8-byte, else Python integers;
    the largest magnitude is added to ``bound[0]``."""
    rows = np.zeros((1 + len(values) // width, width), dtype=np.int64)
    try:
        rows[1:] = np.asarray(values, dtype=np.int64).reshape(-1, width)
    except OverflowError:
        rows = rows.astype(object)
        rows[1:] = np.array(values, dtype=object).reshape(-1, width)
    if len(values):
        top = max(int(rows.max()), -int(rows.min()))
        bound[0] += top
        if top < 1 << 31:
            return rows.astype(np.int32)
    return rows


class _Group:
    """One group's cumulative columns while a table is assembled (see the module doc)."""

    __slots__ = ("activity", "days", "release", "release_lo", "tails")

    def __init__(self, release_lo: int, release: list[int], days: list[int],
                 activity: list[int], tails: list[OpenTail]) -> None:
        self.release_lo = release_lo
        """Index, among the table's teaching days, of the first release row."""
        self.release = release
        """Cumulative release rows (:data:`_RELEASE` wide), one per teaching day from
        ``release_lo``; after the last row release stays put (until the tails, after the
        table's last day)."""
        self.days = days
        """Ordinals of the days with activity steps, ascending."""
        self.activity = activity
        """Cumulative activity rows (:data:`_ACTIVITY` wide), one per day of :attr:`days`."""
        self.tails = tails
        """The group's assignments still open after the table's last day."""


class GroupedTable:
    """Every group's :class:`~.costing.Columns` summed over every day up to any day.

    Every group's columns sit in shared arrays (see :meth:`columns_at`), so one look-up answers
    every group at once: a handful of vectorised operations whatever the number of groups.
    """

    __slots__ = ("_act", "_act_keys", "_act_start", "_calendar", "_dtype", "_rel",
                 "_rel_len", "_rel_lo", "_rel_off", "_tail_funded", "_tail_group", "_tails",
                 "_teaching", "base", "groups", "labels", "last", "teaching")

    def __init__(self, calendar: TeachingCalendar, base: int, last: int, teaching: list[int],
                 groups: dict[str, _Group]) -> None:
        self._calendar = calendar
        self.base = base
        """Ordinal of the first day of the table (nothing before it)."""
        self.last = last
        """Ordinal of its last day; later days change only the open tails' release."""
        self.teaching = teaching
        """Ordinals of the teaching days in ``[base, last]``, ascending."""
        self.labels = sorted(groups)
        """Group labels, sorted: the order of every look-up's rows."""
        self.groups = {name: g for g, name in enumerate(self.labels)}
        """Each group's position in :attr:`labels`."""
        self._teaching = np.asarray(teaching, dtype=np.int64)
        parts = [groups[name] for name in self.labels]
        bound = [0]
        # Release rows of every group back to back (after a zero row): group g's rows are
        # _rel[_rel_off[g]:_rel_off[g] + _rel_len[g]], from teaching day _rel_lo[g].
        lengths = [len(g.release) // _RELEASE for g in parts]
        self._rel_len = np.asarray(lengths, dtype=np.int64)
        self._rel_off = np.cumsum([1, *lengths[:-1]], dtype=np.int64)[:len(parts)]
        self._rel_lo = np.asarray([g.release_lo for g in parts], dtype=np.int64)
        self._rel = _stored([v for g in parts for v in g.release], _RELEASE, bound)
        # Activity rows of every group back to back, keyed by (group, day): row k + 1 holds the
        # cumulative columns of key k; group g's keys start at _act_start[g].
        counts = [len(g.days) for g in parts]
        self._act_start = np.cumsum([0, *counts[:-1]], dtype=np.int64)[:len(parts)]
        self._act_keys = np.asarray([(i << _DAY_BITS) | d for i, g in enumerate(parts)
                                     for d in g.days], dtype=np.int64)
        self._act = _stored([v for g in parts for v in g.activity], _ACTIVITY, bound)
        # Open tails: release from the table's last day on, per group.
        tails = [(i, t) for i, g in enumerate(parts) for t in g.tails]
        self._tail_group = np.asarray([i for i, _ in tails], dtype=np.int64)
        growth = sum(t.per_week * (t.hourly + 1) for _, t in tails) * _LAST_ORDINAL
        self._dtype: type = np.int64 if 4 * (bound[0] + growth) < _SAFE else object
        """Integers of every look-up: 8-byte when no figure can leave their range."""
        work = self._dtype
        # Per tail: teaching days from its start to the table's last day, then its terms.
        self._tails: list[np.ndarray] = [
            np.asarray([calendar.teaching_days_between(t.start, last) for _, t in tails],
                       dtype=work),
            *(np.asarray([getattr(t, field) for _, t in tails], dtype=work)
              for field in ("per_week", "hourly", "minutes", "pence"))]
        self._tail_funded = np.asarray([t.funded for _, t in tails], dtype=bool)

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
        # Release: the row of the last teaching day up to ``day`` (the group's last row after
        # its release ends; none before it starts).
        taught = np.searchsorted(self._teaching, day, side="right")
        r = np.minimum(taught[:, None] - 1 - self._rel_lo[picked],
                       self._rel_len[picked] - 1)
        release: np.ndarray = self._rel[np.where(r >= 0, self._rel_off[picked] + r, 0)].astype(work)
        # Activity: the row of the group's last day with steps up to ``day``.
        keys = (picked << _DAY_BITS)[None, :] | day[:, None]
        k = np.searchsorted(self._act_keys, keys, side="right")
        activity: np.ndarray = self._act[np.where(k > self._act_start[picked], k, 0)].astype(work)
        out[..., 0:2] = release[..., 0:2]  # release minutes funded, hidden
        out[..., 2:4] = activity[..., 0:2]  # activity minutes funded, hidden
        out[..., 4:6] = release[..., 2:4] + activity[..., 2:4]  # pence funded, hidden
        out[..., 6:8] = activity[..., 4:6]  # attendances funded, hidden
        out[at < self.base] = 0
        if len(self._tail_group):
            for b in np.flatnonzero(at > self.last).tolist():
                self._add_tails(out[b], int(at[b]), group)
        return out

    def _add_tails(self, row: np.ndarray, ordinal: int, group: int | None) -> None:
        """Add to ``row`` (groups x columns) the release the open tails accrue after the
        table's last day up to ``ordinal`` (as :func:`~.cumulative.tails_after`, per group)."""
        more = self._calendar.teaching_days_between(self.last + 1, ordinal)
        where = self._tail_group
        chosen = np.ones(len(where), dtype=bool) if group is None else where == group
        days, per_week, hourly, minutes_before, pence_before = self._tails
        minutes = per_week * (days + more) // 5
        pence = minutes * hourly // 60 - pence_before
        minutes = minutes - minutes_before
        at = where if group is None else np.zeros(len(where), dtype=np.int64)
        for flag, m_col, p_col in ((True, 0, 4), (False, 1, 5)):
            pick = chosen & (self._tail_funded == flag)
            np.add.at(row[:, m_col], at[pick], minutes[pick])
            np.add.at(row[:, p_col], at[pick], pence[pick])

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

    def upto(self, ordinal: int) -> dict[str, Columns]:
        """Every group's columns over every day up to ``ordinal`` (inclusive)."""
        return _by_label(self.labels, self.columns_at([ordinal])[0])

    def between(self, start: dt.date | None, end: dt.date) -> dict[str, Columns]:
        """Every group's columns over ``[start, end]`` (``start`` None: from the beginning)."""
        return _by_label(self.labels, self.between_all(start, end))

    def group(self, name: str) -> GroupCosting:
        """One group's figures as a :class:`~.costing.Costing`."""
        return GroupCosting(self, name)


def _by_label(labels: list[str], rows: np.ndarray) -> dict[str, Columns]:
    return dict(zip(labels, (_new(Columns, row) for row in rows.tolist()), strict=True))


class GroupCosting:
    """:class:`~.costing.Costing` of one group of a :class:`GroupedTable` (all zeros for a
    group the table does not have)."""

    __slots__ = ("_group", "_table")

    def __init__(self, table: GroupedTable, name: str) -> None:
        self._table = table
        self._group = table.groups.get(name)

    def _at(self, ordinals: list[int]) -> list[Columns]:
        if self._group is None:
            return [ZERO] * len(ordinals)
        found = self._table.columns_at(ordinals, self._group)[:, 0].tolist()
        return [_new(Columns, row) for row in found]

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


# --------------------------------------------------------------------------- building


class _Steps:
    """One group's steps while a table is built."""

    __slots__ = ("activity", "release", "tails")

    def __init__(self) -> None:
        self.release: list[tuple[int, list[int], list[int], bool]] = []
        """Release pieces: (first teaching index, minute steps, pence steps, funded)."""
        self.activity: list[int] = []
        """Activity steps, :data:`_STEP` values each (ordinal first), in no particular order."""
        self.tails: list[OpenTail] = []


class _Builder:
    """Files the steps of timelines under their groups."""

    def __init__(self, calendar: TeachingCalendar, base: int, last: int,
                 rate: UnattributedRate) -> None:
        self.calendar = calendar
        self.base = base
        self.last = last
        self.rate = rate
        self.teaching = calendar.teaching_ordinals(base, last)
        self.steps: dict[str, _Steps] = {}

    def _of(self, group: str) -> _Steps:
        found = self.steps.get(group)
        if found is None:
            found = self.steps[group] = _Steps()
        return found

    def release_time(self, group: str, a: StaffAssigned, pieces: list[Piece],
                     is_open: bool) -> None:
        """Steps of ``a``'s release time over its pieces (back to back from its start)."""
        per_week, rate = a.release_minutes_per_week, a.hourly_cost_pence
        if not per_week:
            return
        steps = self._of(group)
        teaching = self.teaching
        done = minutes = pence = 0
        for piece in pieces:
            lo = bisect_left(teaching, piece.first)
            hi = bisect_right(teaching, piece.last)
            if hi == lo:
                continue
            cum_minutes = [per_week * k // 5 for k in range(done, done + hi - lo + 1)]
            cum_pence = [m * rate // 60 for m in cum_minutes]
            done += hi - lo
            minutes, pence = cum_minutes[-1], cum_pence[-1]
            steps.release.append((lo, list(map(sub, cum_minutes[1:], cum_minutes)),
                                  list(map(sub, cum_pence[1:], cum_pence)), piece.funded))
        if is_open:
            steps.tails.append(OpenTail(a.occurred_on.toordinal(), per_week, rate,
                                        pieces[-1].funded, minutes, pence))

    def minutes(self, group: str, series: Series, days: Sequence[dt.date],
                anchor: dt.date | None, a: StaffAssigned | None,
                levels: StreamLevels | None) -> None:
        """Steps of one series' activity over ``days`` (one stretch's days with entries,
        ascending), cumulated from ``anchor``, at the terms of ``a`` (None: unattributed, at
        the table's rate)."""
        if not days:
            return
        out = self._of(group).activity
        base = (0, 0) if anchor is None else series.upto(anchor - DAY)
        rate = self.rate.at(anchor) if a is None else a.hourly_cost_pence
        minutes = seen = pence = 0
        for day in days:
            upto = series.upto(day)
            now_minutes, now_seen = upto[0] - base[0], upto[1] - base[1]
            if now_minutes == minutes and now_seen == seen:
                continue
            now_pence = now_minutes * rate // 60
            dm, dp, ds = now_minutes - minutes, now_pence - pence, now_seen - seen
            if a is not None and levels is not None and levels.level(day) > 0:
                out += (day.toordinal(), dm, 0, dp, 0, ds, 0)
            else:
                out += (day.toordinal(), 0, dm, 0, dp, 0, ds)
            minutes, seen, pence = now_minutes, now_seen, now_pence

    def table(self) -> GroupedTable:
        """The cumulative table of the steps filed."""
        return GroupedTable(self.calendar, self.base, self.last, self.teaching,
                            {name: _finish(steps) for name, steps in sorted(self.steps.items())})


def _finish(steps: _Steps) -> _Group:
    """One group's cumulative columns from its steps."""
    release: list[int] = []
    lo = 0
    if steps.release:
        lo = min(p[0] for p in steps.release)
        hi = max(p[0] + len(p[1]) for p in steps.release)
        columns = [[0] * (hi - lo) for _ in range(_RELEASE)]
        for first, minute_steps, pence_steps, funded in steps.release:
            at = first - lo
            end = at + len(minute_steps)
            m_col = columns[0 if funded else 1]
            p_col = columns[2 if funded else 3]
            m_col[at:end] = map(add, m_col[at:end], minute_steps)
            p_col[at:end] = map(add, p_col[at:end], pence_steps)
        release = [v for row in zip(*(accumulate(c) for c in columns), strict=True)
                   for v in row]
    flat = steps.activity
    count = len(flat) // _STEP
    order = sorted(range(count), key=lambda i: flat[_STEP * i])
    days: list[int] = []
    rows: list[int] = []
    running = [0] * _ACTIVITY
    for i in order:
        k = _STEP * i
        running = list(map(add, running, flat[k + 1:k + _STEP]))
        if days and days[-1] == flat[k]:
            rows[-_ACTIVITY:] = running
        else:
            days.append(flat[k])
            rows += running
    return _Group(lo, release, days, rows, steps.tails)


def _walk(facts: StaffFacts, pid: str, plans: list[Plan], horizon: dt.date,
          builder: _Builder, group_of: Callable[[Tags], str]) -> None:
    """File the steps of every timeline of partnership ``pid`` through ``horizon``."""
    for plan in plans:
        staff = label(plan.staff)
        for seg in builder.rate.cut_gaps(plan.timeline):
            a = seg.assignment
            end = horizon if seg.end is None else seg.end
            if a is None:
                for school, s in plan.series.items():
                    on = plan.days[school]
                    lo = 0 if seg.start is None else bisect_left(on, seg.start)
                    group = group_of(Tags(UNATTRIBUTED, label(school), NONE_LABEL, staff,
                                          "hidden"))
                    builder.minutes(group, s, on[lo:bisect_right(on, end)], seg.start, None,
                                    None)
                continue
            start = a.occurred_on
            stream = label(a.funding_stream)
            levels = facts.stream_of(pid, a)
            bounds = [start, *levels.changes_in(start, end)] if levels is not None else [start]
            lasts = [*(b - DAY for b in bounds[1:]), end]
            pieces = [Piece(b.toordinal(), last.toordinal(),
                            levels is not None and levels.level(b) > 0)
                      for b, last in zip(bounds, lasts, strict=True)]
            builder.release_time(group_of(Tags(a.role, label(a.school_id), stream, staff, "")),
                                 a, pieces, seg.end is None)
            for school, s in plan.series.items():
                on = plan.days[school]
                builder.minutes(group_of(Tags(a.role, label(school), stream, staff, "")), s,
                                on[bisect_left(on, start):bisect_right(on, end)], start, a,
                                levels)


def build_grouped(facts: StaffFacts, pids: Sequence[str], by: str | None,
                  rate: UnattributedRate) -> GroupedTable:
    """The table of grouping ``by`` (None: one group, :data:`TOTAL`) over partnerships
    ``pids``, unattributed minutes costed at ``rate``: O(teaching days x groups with release
    + activity days x series)."""
    if by is not None and by not in GROUPINGS:
        msg = f"no grouped cost table for grouping {by!r}"
        raise ValueError(msg)
    planned = [(pid, *plan_of(facts, pid)) for pid in pids]
    firsts = [first for _, _, first, _ in planned if first is not None]
    horizons = [last for _, _, _, last in planned if last is not None]
    if not firsts or not horizons:
        nothing = dt.date.max.toordinal() + 1  # every day is before the table: all zeros
        return _Builder(facts.calendar, nothing, nothing - 1, rate).table()
    horizon = max(horizons)
    builder = _Builder(facts.calendar, min(firsts).toordinal(), horizon.toordinal(), rate)

    def group_of(tags: Tags) -> str:
        return TOTAL if by is None else str(getattr(tags, by))

    for pid, plans, first, _ in planned:
        if first is not None:
            _walk(facts, pid, plans, horizon, builder, group_of)
    return builder.table()
