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
from array import array
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterable, Sequence
from itertools import accumulate, pairwise
from operator import add, sub

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
    tails_after,
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


def _packed(values: Iterable[int]) -> Sequence[int]:
    """``values`` as 4-byte integers where they fit, else 8-byte, else a list."""
    kept = list(values)
    for code in ("i", "q"):
        try:
            return array(code, kept)
        except OverflowError:
            continue
    return kept


class _Group:
    """One group's cumulative columns (see the module doc)."""

    __slots__ = ("activity", "days", "release", "release_lo", "tails")

    def __init__(self, release_lo: int, release: Sequence[int], days: Sequence[int],
                 activity: Sequence[int], tails: list[OpenTail]) -> None:
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
    """Every group's :class:`~.costing.Columns` summed over every day up to any day."""

    __slots__ = ("_calendar", "base", "groups", "last", "teaching")

    def __init__(self, calendar: TeachingCalendar, base: int, last: int, teaching: list[int],
                 groups: dict[str, _Group]) -> None:
        self._calendar = calendar
        self.base = base
        """Ordinal of the first day of the table (nothing before it)."""
        self.last = last
        """Ordinal of its last day; later days change only the open tails' release."""
        self.teaching = teaching
        """Ordinals of the teaching days in ``[base, last]``, ascending."""
        self.groups = groups
        """The columns of each group, by label."""

    def _probe(self, ordinal: int) -> tuple[int, int]:
        """(day within the table, teaching days of the table up to it): what every group's
        look-up at ``ordinal`` shares."""
        day = min(ordinal, self.last)
        return day, bisect_right(self.teaching, day)

    def _upto(self, g: _Group, ordinal: int, day: int, taught: int) -> Columns:
        """Group ``g``'s columns over every day up to ``ordinal`` (``day`` and ``taught`` from
        :meth:`_probe`)."""
        if ordinal < self.base:
            return ZERO
        r = taught - 1 - g.release_lo
        if r >= 0 and g.release:
            r = min(r, len(g.release) // _RELEASE - 1) * _RELEASE
            release_f, release_h, pence_f, pence_h = g.release[r:r + _RELEASE]
        else:
            release_f = release_h = pence_f = pence_h = 0
        j = bisect_right(g.days, day) - 1
        if j >= 0:
            j *= _ACTIVITY
            minutes_f, minutes_h, activity_pf, activity_ph, seen_f, seen_h = (
                g.activity[j:j + _ACTIVITY])
            pence_f += activity_pf
            pence_h += activity_ph
        else:
            minutes_f = minutes_h = seen_f = seen_h = 0
        if ordinal > self.last:
            more_rf, more_rh, more_pf, more_ph = tails_after(g.tails, self._calendar, ordinal)
            release_f += more_rf
            release_h += more_rh
            pence_f += more_pf
            pence_h += more_ph
        return _new(Columns, (release_f, release_h, minutes_f, minutes_h, pence_f, pence_h,
                              seen_f, seen_h))

    def upto(self, ordinal: int) -> dict[str, Columns]:
        """Every group's columns over every day up to ``ordinal`` (inclusive)."""
        day, taught = self._probe(ordinal)
        return {name: self._upto(g, ordinal, day, taught) for name, g in self.groups.items()}

    def between(self, start: dt.date | None, end: dt.date) -> dict[str, Columns]:
        """Every group's columns over ``[start, end]`` (``start`` None: from the beginning)."""
        last = end.toordinal()
        if start is None:
            return self.upto(last)
        first = start.toordinal() - 1
        if last <= first:
            return dict.fromkeys(self.groups, ZERO)
        day_b, taught_b = self._probe(last)
        day_a, taught_a = self._probe(first)
        return {name: self._upto(g, last, day_b, taught_b).minus(
                    self._upto(g, first, day_a, taught_a))
                for name, g in self.groups.items()}

    def group(self, name: str) -> GroupCosting:
        """One group's figures as a :class:`~.costing.Costing`."""
        return GroupCosting(self, name)


class GroupCosting:
    """:class:`~.costing.Costing` of one group of a :class:`GroupedTable` (all zeros for a
    group the table does not have)."""

    __slots__ = ("_group", "_table")

    def __init__(self, table: GroupedTable, name: str) -> None:
        self._table = table
        self._group = table.groups.get(name)

    def _at(self, ordinal: int) -> Columns:
        if self._group is None:
            return ZERO
        day, taught = self._table._probe(ordinal)
        return self._table._upto(self._group, ordinal, day, taught)

    def between(self, start: dt.date | None, end: dt.date) -> Columns:
        """See :meth:`~.costing.Costing.between`: two look-ups."""
        last = end.toordinal()
        if start is None:
            return self._at(last)
        first = start.toordinal()
        if last < first:
            return ZERO
        return self._at(last).minus(self._at(first - 1))

    def periods(self, starts: Sequence[dt.date], end: dt.date) -> list[Columns]:
        """See :meth:`~.costing.Costing.periods`: one look-up per period bound."""
        at = [self._at(b) for b in (*(s.toordinal() - 1 for s in starts), end.toordinal())]
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
    release: Sequence[int] = ()
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
        release = _packed(v for row in zip(*(accumulate(c) for c in columns), strict=True)
                          for v in row)
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
    return _Group(lo, release, _packed(days), _packed(rows), steps.tails)


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
