"""Cumulative cost tables: repeated answers about a partnership in two look-ups each.

Every figure :class:`~.costing.PieceCosting` sums is a difference of a cumulative integer
function anchored at its segment's start (see :mod:`.costing`), so it is also the sum of that
function's *steps* over the days of the range, each step funded or hidden by the level in force
on its own day. A :class:`CostTable` holds those steps summed over every timeline of one
partnership, cumulatively, for every day from the first to the last day anything changes
(assignments still open after it, at most one per person, accrue release time in closed form).
So a total, a period row or the funded/hidden split is two look-ups, whatever the number of
assignments, and equals the piece-by-piece costing exactly, pence included.

Unattributed pence depend on the query's ``default_hourly_cost_pence``: a table keeps one
cumulative column for the rate it was built at and up to three more, each summed when first
asked for.

Tables are caches, built and forgotten by :class:`~.cache.CumulativeCosts`; never part of a
checkpoint. :mod:`.grouped` files the same steps under groups, for one partnership or all.
"""

from __future__ import annotations

import datetime as dt
from array import array
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Iterator, Mapping, Sequence
from itertools import accumulate, pairwise
from operator import add, sub
from typing import NamedTuple

from ssp_ledger.events import StaffAssigned
from ssp_ledger.periods import TeachingCalendar
from ssp_ledger.projection import Series
from ssp_ledger_projections.funding_levels import StreamLevels
from ssp_ledger_projections.staff_cost.costing import ZERO, Columns
from ssp_ledger_projections.staff_cost.rates import UnattributedRate
from ssp_ledger_projections.staff_cost.state import DAY, Segment, StaffFacts

__all__ = ["CostTable", "OpenTail", "Piece", "Plan", "ReleaseRun", "TableCosting",
           "assignment_pieces", "build_table", "plan_of", "release_deltas", "release_runs",
           "unattributed_column"]

_new = tuple.__new__
"""``_new(Columns, values)``: ``Columns._make`` without its checks (on every cached answer)."""
_WIDTH = len(Columns._fields)
"""Values per day of a table: the :class:`~.costing.Columns`."""


class OpenTail(NamedTuple):
    """An assignment still open after a table's last day: its release time accrues after it."""

    start: int
    """Ordinal of its first day."""
    per_week: int
    """Release minutes per week."""
    hourly: int
    """Hourly cost in pence."""
    funded: bool
    """Whether its last piece is funded (the level stays put after the table)."""
    minutes: int
    """Release minutes from its start through the table's last day."""
    pence: int
    """Their cost."""
    days: int
    """Teaching days from its start through the table's last day."""


class Piece(NamedTuple):
    """A stretch of an assignment of constant funded status, as day ordinals."""

    first: int
    last: int
    funded: bool


class Plan(NamedTuple):
    """What a table walks for one person."""

    staff: str
    """The staff member ("" for activity with no known person)."""
    timeline: tuple[Segment, ...]
    """Assignments and gaps."""
    series: Mapping[str, Series]
    """Activity series by school."""
    days: dict[str, list[dt.date]]
    """Days each series has entries on, ascending."""


def assignment_pieces(levels: StreamLevels | None, first: int, last: int) -> list[Piece]:
    """The pieces of an assignment over the days (ordinals) ``[first, last]``: cut at the
    changes of its stream's ``levels`` inside, each funded when the level in force on its
    first day is above 0 (never without a stream)."""
    if levels is None:
        return [Piece(first, last, False)]
    days, values = levels.steps()
    i = bisect_right(days, first)
    funded = i > 0 and values[i - 1] > 0
    out: list[Piece] = []
    for k in range(i, bisect_right(days, last)):
        out.append(Piece(first, days[k] - 1, funded))
        first = days[k]
        funded = values[k] > 0
    out.append(Piece(first, last, funded))
    return out


class ReleaseRun(NamedTuple):
    """The teaching days of one piece of an assignment among a table's teaching days."""

    lo: int
    """Index of its first teaching day among the table's."""
    hi: int
    """One past the index of its last."""
    done: int
    """Teaching days of the assignment before it (its release so far is
    ``per_week * done // 5`` minutes)."""
    funded: bool
    """Whether the piece is funded."""


def release_runs(teaching: Sequence[int], pieces: Iterable[Piece]) -> Iterator[ReleaseRun]:
    """The runs of teaching days of an assignment's pieces (back to back from its start) among
    a table's ``teaching`` days (ordinals, ascending); pieces without a teaching day are left
    out. Release minutes after ``k`` teaching days are ``per_week * k // 5`` (their cost
    ``minutes * hourly // 60``), so a run's steps are differences of those at ``done`` ..
    ``done + hi - lo`` (:func:`release_deltas`), and the tables sum them per piece."""
    done = 0
    for piece in pieces:
        lo = bisect_left(teaching, piece.first)
        hi = bisect_right(teaching, piece.last)
        if hi > lo:
            yield ReleaseRun(lo, hi, done, piece.funded)
            done += hi - lo


def release_deltas(per_week: int, hourly: int, run: ReleaseRun) -> tuple[list[int], list[int]]:
    """Release minutes and pence of each teaching day of ``run``: the steps of the cumulative
    ``per_week * k // 5`` and its cost (so they add up to the difference exactly)."""
    minutes = [per_week * k // 5 for k in range(run.done, run.done + run.hi - run.lo + 1)]
    pence = [m * hourly // 60 for m in minutes]
    return list(map(sub, minutes[1:], minutes)), list(map(sub, pence[1:], pence))


def packed(values: Iterable[int]) -> Sequence[int]:
    """``values`` as 8-byte integers (a list if one does not fit)."""
    kept = list(values)
    try:
        return array("q", kept)
    except OverflowError:
        return kept


class CostTable:
    """One partnership's :class:`~.costing.Columns` summed over every day up to each day, for
    every day from :attr:`base` to :attr:`last`, plus the open assignments' tails."""

    __slots__ = ("_by_rate", "_calendar", "base", "last", "rows", "tails")

    def __init__(self, calendar: TeachingCalendar, base: int, last: int, rows: Sequence[int],
                 tails: list[OpenTail], rate: UnattributedRate,
                 unattributed: Sequence[int]) -> None:
        self._calendar = calendar
        self.base = base
        """Ordinal of the first day of the table."""
        self.last = last
        """Ordinal of its last day; later days change only the open assignments' release."""
        self.rows = rows
        """The cumulative columns row-major: day ``base + i`` is ``rows[8 * i:8 * i + 8]``
        (pence of assignments only; unattributed pence are kept per rate)."""
        self.tails = tails
        """Assignments open after ``last``."""
        self._by_rate: dict[UnattributedRate, Sequence[int]] = {rate: unattributed}

    def unattributed(self, rate: UnattributedRate) -> Sequence[int] | None:
        """Cumulative pence of unattributed minutes at ``rate`` by day, if summed yet."""
        return self._by_rate.get(rate)

    def keep(self, rate: UnattributedRate, unattributed: Sequence[int]) -> None:
        """Remember the unattributed column of another rate (forgetting the oldest of four)."""
        if len(self._by_rate) >= 4:
            self._by_rate.pop(next(iter(self._by_rate)))
        self._by_rate[rate] = unattributed

    def upto(self, ordinal: int, unattributed: Sequence[int]) -> Columns:
        """The columns summed over every day up to ``ordinal`` (inclusive), with the
        unattributed pence of one rate and the open assignments' release after ``last``."""
        if ordinal < self.base:
            return ZERO
        i = min(ordinal, self.last) - self.base
        (release_f, release_h, activity_f, activity_h, pence_f, pence_h, seen_f,
         seen_h) = self.rows[_WIDTH * i:_WIDTH * i + _WIDTH]
        pence_h += unattributed[i]
        if ordinal > self.last:
            more_rf, more_rh, more_pf, more_ph = tails_after(self.tails, self._calendar, ordinal)
            release_f += more_rf
            release_h += more_rh
            pence_f += more_pf
            pence_h += more_ph
        return _new(Columns, (release_f, release_h, activity_f, activity_h, pence_f, pence_h,
                              seen_f, seen_h))


def tails_after(tails: Iterable[OpenTail], calendar: TeachingCalendar, ordinal: int
                ) -> tuple[int, int, int, int]:
    """Release minutes and pence (funded, hidden, funded, hidden) that assignments still open
    after a table's last day add from there up to ``ordinal``."""
    release_f = release_h = pence_f = pence_h = 0
    for tail in tails:
        minutes = tail.per_week * calendar.teaching_days_between(tail.start, ordinal) // 5
        pence = minutes * tail.hourly // 60
        if tail.funded:
            release_f += minutes - tail.minutes
            pence_f += pence - tail.pence
        else:
            release_h += minutes - tail.minutes
            pence_h += pence - tail.pence
    return release_f, release_h, pence_f, pence_h


class TableCosting:
    """:class:`~.costing.Costing` from a :class:`CostTable` and one unattributed column."""

    __slots__ = ("_table", "_unattributed")

    def __init__(self, table: CostTable, unattributed: Sequence[int]) -> None:
        self._table = table
        self._unattributed = unattributed

    def between(self, start: dt.date | None, end: dt.date) -> Columns:
        """See :meth:`~.costing.Costing.between`: two look-ups."""
        last = end.toordinal()
        if start is None:
            return self._table.upto(last, self._unattributed)
        first = start.toordinal()
        if last < first:
            return ZERO
        return self._table.upto(last, self._unattributed).minus(
            self._table.upto(first - 1, self._unattributed))

    def periods(self, starts: Sequence[dt.date], end: dt.date) -> list[Columns]:
        """See :meth:`~.costing.Costing.periods`: one look-up per period bound."""
        bounds = [*(s.toordinal() - 1 for s in starts), end.toordinal()]
        at = [self._table.upto(b, self._unattributed) for b in bounds]
        return [b.minus(a) for a, b in pairwise(at)]


class _TableBuilder:
    """Sums the steps of one partnership's timelines into a :class:`CostTable`; unattributed
    minutes are costed at ``rate``."""

    def __init__(self, calendar: TeachingCalendar, base: int, last: int,
                 rate: UnattributedRate) -> None:
        self.calendar = calendar
        self.base = base
        self.last = last
        self.rate = rate
        size = last - base + 1
        self.teaching = calendar.teaching_ordinals(base, last)
        """Teaching days of the table, ascending: release steps are kept by teaching day."""
        count = len(self.teaching)
        # Release steps by teaching day: minutes funded, minutes hidden, pence funded, hidden.
        self.release = [[0] * count for _ in range(4)]
        # Activity steps by day: minutes, pence and attendances, each funded then hidden.
        self.activity = [[0] * size for _ in range(6)]
        self.unattributed = [0] * size
        """Steps of the pence of unattributed minutes at ``rate``, by day."""
        self.tails: list[OpenTail] = []

    def release_time(self, a: StaffAssigned, pieces: list[Piece], is_open: bool) -> None:
        """Steps of ``a``'s release time over its pieces, which run back to back from its
        start."""
        per_week, rate = a.release_minutes_per_week, a.hourly_cost_pence
        if not per_week:
            return
        days = 0
        for run in release_runs(self.teaching, pieces):
            minute_steps, pence_steps = release_deltas(per_week, rate, run)
            lo, hi = run.lo, run.hi
            days = run.done + hi - lo
            m_col = self.release[0 if run.funded else 1]
            p_col = self.release[2 if run.funded else 3]
            m_col[lo:hi] = map(add, m_col[lo:hi], minute_steps)
            p_col[lo:hi] = map(add, p_col[lo:hi], pence_steps)
        if is_open:
            minutes = per_week * days // 5
            self.tails.append(OpenTail(a.occurred_on.toordinal(), per_week, rate,
                                       pieces[-1].funded, minutes, minutes * rate // 60, days))

    def minutes(self, series: Series, days: Sequence[dt.date], anchor: dt.date | None,
                a: StaffAssigned | None, levels: StreamLevels | None) -> None:
        """Steps of one series' activity over ``days`` (the days of one stretch with entries,
        ascending), cumulated from ``anchor``, costed at the terms of ``a`` (None:
        unattributed, at the builder's rate)."""
        if not days:
            return
        base = (0, 0) if anchor is None else series.upto(anchor - DAY)
        funded_m, hidden_m, funded_p, hidden_p, funded_a, hidden_a = self.activity
        gap_p = self.unattributed
        rate = self.rate.at(anchor) if a is None else a.hourly_cost_pence
        start = self.base
        minutes = seen = pence = 0
        for day in days:
            upto = series.upto(day)
            now_minutes, now_seen = upto[0] - base[0], upto[1] - base[1]
            if now_minutes == minutes and now_seen == seen:
                continue
            i = day.toordinal() - start
            now_pence = now_minutes * rate // 60
            if a is None:
                hidden_m[i] += now_minutes - minutes
                hidden_a[i] += now_seen - seen
                gap_p[i] += now_pence - pence
            elif levels is not None and levels.level(day) > 0:
                funded_m[i] += now_minutes - minutes
                funded_p[i] += now_pence - pence
                funded_a[i] += now_seen - seen
            else:
                hidden_m[i] += now_minutes - minutes
                hidden_p[i] += now_pence - pence
                hidden_a[i] += now_seen - seen
            minutes, seen, pence = now_minutes, now_seen, now_pence

    def unattributed_column(self) -> Sequence[int]:
        """Cumulative pence of unattributed minutes at the builder's rate, by day."""
        return packed(accumulate(self.unattributed))

    def table(self) -> CostTable:
        """The cumulative table of the steps added."""
        size = self.last - self.base + 1
        # Teaching days up to each day of the table: where a day reads the release columns.
        flags = bytearray(size)
        for ordinal in self.teaching:
            flags[ordinal - self.base] = 1
        at = list(accumulate(flags))
        release = []
        for steps in self.release:
            cumulative = [0, *accumulate(steps)]
            release.append([cumulative[k] for k in at])
        funded_m, hidden_m, funded_p, hidden_p, funded_a, hidden_a = (
            list(accumulate(steps)) for steps in self.activity)
        columns = (release[0], release[1], funded_m, hidden_m,  # in Columns' field order
                   map(add, release[2], funded_p), map(add, release[3], hidden_p),
                   funded_a, hidden_a)
        rows = packed(value for day in zip(*columns, strict=True) for value in day)
        return CostTable(self.calendar, self.base, self.last, rows, self.tails, self.rate,
                         self.unattributed_column())


# --------------------------------------------------------------------------- walking the facts


def plan_of(facts: StaffFacts, pid: str) -> tuple[list[Plan], dt.date | None, dt.date | None]:
    """Each person's plan; the first and the last day on which the partnership's figures
    change (None: never)."""
    plans: list[Plan] = []
    starts: list[dt.date] = []
    marks: list[dt.date] = []
    for staff in facts.staff_of(pid):
        timeline = facts.timeline(pid, staff)
        series = facts.series_of(pid, staff)
        days = {school: facts.days_with_entries(pid, staff, school) for school in series}
        plans.append(Plan(staff, timeline, series, days))
        for seg in timeline:
            a = seg.assignment
            if a is None:
                continue
            starts.append(a.occurred_on)
            if seg.end is not None:
                marks.append(seg.end)
            levels = facts.stream_of(pid, a)
            if levels is not None and (changed := levels.last_day()) is not None:
                marks.append(changed)  # the level in force after the table stays put
        for on in days.values():
            if on:
                starts.append(on[0])
                marks.append(on[-1])
    if not starts:
        return plans, None, None
    return plans, min(starts), max([*starts, *marks])


def _walk(facts: StaffFacts, pid: str, plans: list[Plan], horizon: dt.date,
          builder: _TableBuilder, *, unattributed_only: bool = False) -> None:
    """Add the steps of every timeline through ``horizon`` to ``builder`` (only those of the
    stretches outside any assignment when ``unattributed_only``)."""
    for plan in plans:
        for seg in builder.rate.cut_gaps(plan.timeline):
            a = seg.assignment
            end = horizon if seg.end is None else seg.end
            if a is None:
                for school, s in plan.series.items():
                    on = plan.days[school]
                    lo = 0 if seg.start is None else bisect_left(on, seg.start)
                    builder.minutes(s, on[lo:bisect_right(on, end)], seg.start, None, None)
                continue
            if unattributed_only:
                continue
            start = a.occurred_on
            levels = facts.stream_of(pid, a)
            pieces = assignment_pieces(levels, start.toordinal(), end.toordinal())
            builder.release_time(a, pieces, seg.end is None)
            for school, s in plan.series.items():
                on = plan.days[school]
                builder.minutes(s, on[bisect_left(on, start):bisect_right(on, end)], start, a,
                                levels)


def build_table(facts: StaffFacts, pid: str, rate: UnattributedRate) -> CostTable:
    """Sum the steps of every timeline of the partnership into a :class:`CostTable`
    (O(teaching days x people + activity days x series)), unattributed pence at ``rate``."""
    plans, first, horizon = plan_of(facts, pid)
    if first is None or horizon is None:
        nothing = dt.date.max.toordinal() + 1  # every day is before the table: all zeros
        return _TableBuilder(facts.calendar, nothing, nothing - 1, rate).table()
    builder = _TableBuilder(facts.calendar, first.toordinal(), horizon.toordinal(), rate)
    _walk(facts, pid, plans, horizon, builder)
    return builder.table()


def unattributed_column(facts: StaffFacts, pid: str, table: CostTable,
                        rate: UnattributedRate) -> Sequence[int]:
    """The unattributed column of ``table`` at another rate: the stretches outside any
    assignment walked again (the table is current: any change would have dropped it)."""
    plans, _, _ = plan_of(facts, pid)
    builder = _TableBuilder(facts.calendar, table.base, table.last, rate)
    _walk(facts, pid, plans, dt.date.fromordinal(table.last), builder, unattributed_only=True)
    column = builder.unattributed_column()
    table.keep(rate, column)
    return column
