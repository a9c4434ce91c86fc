"""Staff time and what it costs: recurring release time plus activity minutes, funded or hidden.

Staff time has two sources:

* **release time**: a ``StaffAssigned`` fact starts an assignment that runs until the day before
  the same person's next ``StaffAssigned``, or to the first ``StaffReleased`` dated on or after
  its start (inclusive), or stays open. Release minutes accrue on teaching days
  (:class:`~ssp_ledger.periods.TeachingCalendar`): ``release_minutes_per_week * days // 5``;
* **activity minutes**: ``ClubRun.staff_minutes``, ``CompetitionHeld.staff_minutes``,
  ``LeaderTrained.minutes``, ``CpdDelivered.minutes`` and ``ResourceShared.staff_minutes``.

Activity minutes are indexed by (partnership, staff, school) in
:class:`~ssp_ledger.projection.Series` and attributed **at query time** to the assignment of
their staff member in force on their date, costed at that assignment's ``hourly_cost_pence``.
Minutes of a person outside any assignment and minutes with no known person are *unattributed*:
role ``UNATTRIBUTED``, funding stream ``none``, hidden, costed at ``default_hourly_cost_pence``
(query parameter, 2500 by default).

A piece of an assignment is *funded* when its funding stream is set and the stream's annual level
in force on those days (the latest ``FundingChanged`` of that stream in the same partnership dated
on or before the day) is above 0; otherwise its cost is *hidden* in salary budgets. Assignments are
cut at their stream's funding-change dates.

Because nothing is attributed when a fact is applied, answers do not depend on recording order and
back-dated ``StaffAssigned``/``FundingChanged`` facts restate earlier figures correctly; applying a
fact and retracting it leaves the state exactly as before.

Rounding: within one assignment (or one stretch of unattributed time) every figure is the difference
of a *cumulative* integer function anchored at the assignment's start, e.g. release minutes over
``[a, b]`` are ``F(b) - F(a - 1)`` with ``F(d) = per_week * teaching_days(start, d) // 5`` and pence
``F(b) * rate // 60 - F(a - 1) * rate // 60``. For a piece starting at the assignment's start this
is exactly ``per_week * days // 5`` and ``minutes * rate // 60``; and pieces always add up to the
whole, so period rows sum to the total row and the total does not depend on the grouping asked for.

Explaining a figure (:meth:`StaffTimeCost.explain_fact`, behind :func:`ssp_ledger.audit.explain`):
an assignment contributes the release time of its own pieces in the row, an activity fact its
minutes and attendances and, as its cost, the *step* it makes in the cumulative cost of its
segment and school (the facts of one day taken in event-id order). Both are the terms the report
sums, so the contributions add up to every row exactly, pence included: no rounding tolerance.
Funding changes and releases that decide a piece of the row (funded or hidden; where an
assignment ends) are listed with an empty mapping. To order the facts a series merges into one
day, the projection keeps their ids (a dictionary slot per activity fact with minutes or
attendances).

Repeated queries: the total, the period rows and the ``funded`` split of a partnership are read
from a *cumulative table* (:class:`_CostTable`): the same steps summed over every timeline of the
partnership for each day from its first to its last change (open assignments accrue after it in
closed form), so an answer is two look-ups per partnership whatever the number of assignments,
and equals the piece-by-piece costing exactly. A table is built lazily on the
:attr:`StaffTimeCost.tables_after`-th such answer after the partnership's last change (before
that, and for the other groupings, pieces are costed one by one) and dropped by any
``StaffAssigned``, ``StaffReleased``, ``FundingChanged`` or activity fact of the partnership
applied or retracted. Tables, timelines and the teaching calendar's per-year counts are caches:
they are left out when the projection is pickled (checkpoints) and rebuilt on use.

Ties: two ``StaffAssigned`` of one person (or two ``FundingChanged`` of one stream) on the same date
are ordered by ``event_id``; the greater id is the one in force.
"""

from __future__ import annotations

import datetime as dt
from array import array
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from itertools import accumulate
from operator import add, sub
from typing import Any, ClassVar, NamedTuple, TypeVar

from ssp_ledger.events import (
    ClubRun,
    CompetitionHeld,
    CorrectableEvent,
    CpdDelivered,
    FundingChanged,
    LeaderTrained,
    ResourceShared,
    StaffAssigned,
    StaffReleased,
)
from ssp_ledger.periods import PeriodKind, TeachingCalendar, parse_period, periods_between
from ssp_ledger.projection import Cell, Fact, Query, Series, Table

__all__ = [
    "COLUMNS",
    "DAYS_PER_YEAR",
    "DEFAULT_HOURLY_COST_PENCE",
    "MEASURES",
    "NONE_LABEL",
    "UNATTRIBUTED",
    "CostSummary",
    "FundingLevels",
    "StaffTimeCost",
    "StreamLevels",
    "default_hourly_cost",
]

DEFAULT_HOURLY_COST_PENCE = 2500
"""Hourly cost of unattributed staff time when the query does not set one."""
UNATTRIBUTED = "UNATTRIBUTED"
"""Role label of minutes that no assignment covers."""
NONE_LABEL = "none"
"""Group label for a missing stream, school or staff member."""
DAYS_PER_YEAR = 365
"""Days an annual funding level is spread over. 29 February receives nothing, so any twelve
consecutive months at a constant level receive exactly the annual amount."""
MEASURES: tuple[str, ...] = (
    "release_minutes",
    "activity_minutes",
    "funded_minutes",
    "hidden_minutes",
    "funded_pence",
    "hidden_pence",
    "total_pence",
    "attendances",
)
"""Additive figures of a row, in column order."""
COLUMNS: tuple[str, ...] = (*MEASURES, "cost_per_attendance_pence")
"""Columns after the group label."""

_DAY = dt.timedelta(days=1)
_DERIVED = -1
"""Minutes of the first fact of a day, held as the day's sum less the other facts' minutes."""
_ZERO2 = (0, 0)
_T = TypeVar("_T")


def _leap_days_upto(ordinal: int) -> int:
    """How many 29 Februarys fall on or before the day with this ordinal."""
    day = dt.date.fromordinal(ordinal)
    y = day.year - 1
    count = y // 4 - y // 100 + y // 400
    leap = day.year % 4 == 0 and (day.year % 100 != 0 or day.year % 400 == 0)
    return count + (1 if leap and (day.month, day.day) >= (2, 29) else 0)


def _paid_days(ordinal: int) -> int:
    """Days on or before ``ordinal`` that receive funding (every day but 29 February)."""
    return ordinal - _leap_days_upto(ordinal)


def default_hourly_cost(query: Query) -> int:
    """The ``default_hourly_cost_pence`` parameter of a query (an integer >= 0; 2500 if unset)."""
    raw = query.params.get("default_hourly_cost_pence", DEFAULT_HOURLY_COST_PENCE)
    try:
        value = int(raw)
    except ValueError:
        msg = f"default_hourly_cost_pence must be an integer number of pence; got {raw!r}"
        raise ValueError(msg) from None
    if value < 0:
        msg = f"default_hourly_cost_pence must not be negative; got {value}"
        raise ValueError(msg)
    return value


# --------------------------------------------------------------------------- funding levels


class StreamLevels:
    """The annual level of one funding stream of one partnership over valid dates.

    Built from the stream's ``FundingChanged`` facts; answers the level in force on a day, the
    change dates inside a range and the money received over a range, each in O(log n).
    """

    __slots__ = ("_cum", "_days", "_facts", "_levels", "_paid")

    def __init__(self, changes: Iterable[FundingChanged]) -> None:
        days: list[int] = []
        facts: list[FundingChanged] = []
        for event in sorted(changes, key=lambda e: (e.occurred_on, e.event_id)):
            day = event.occurred_on.toordinal()
            if days and days[-1] == day:
                facts[-1] = event  # same date: the greater event id is in force
            else:
                days.append(day)
                facts.append(event)
        self._days = days
        self._facts = facts
        self._levels = [f.annual_amount_pence for f in facts]
        self._paid = [_paid_days(d - 1) for d in days]
        cum = [0]
        for i in range(1, len(days)):
            cum.append(cum[-1] + self._levels[i - 1] * (self._paid[i] - self._paid[i - 1]))
        self._cum = cum
        """``_cum[i]``: sum of the annual level in force over the paid days before change ``i``."""

    def first_day(self) -> dt.date | None:
        """Date of the first change, or None when the stream has none."""
        return dt.date.fromordinal(self._days[0]) if self._days else None

    def last_day(self) -> dt.date | None:
        """Date of the last change, or None when the stream has none."""
        return dt.date.fromordinal(self._days[-1]) if self._days else None

    def in_force(self, day: dt.date) -> FundingChanged | None:
        """The ``FundingChanged`` in force on ``day`` (None before the first)."""
        i = bisect_right(self._days, day.toordinal()) - 1
        return self._facts[i] if i >= 0 else None

    def span(self, event: FundingChanged) -> tuple[dt.date, dt.date | None] | None:
        """(first day, last day or None: open) over which ``event`` is the change in force.

        None when it never is: not one of this stream's changes, or superseded by a change of the
        same date with a greater event id.
        """
        i = bisect_left(self._days, event.occurred_on.toordinal())
        if i == len(self._days) or self._facts[i].event_id != event.event_id:
            return None
        last = dt.date.fromordinal(self._days[i + 1] - 1) if i + 1 < len(self._days) else None
        return event.occurred_on, last

    def level(self, day: dt.date) -> int:
        """Annual level in pence in force on ``day`` (0 before the first change)."""
        i = bisect_right(self._days, day.toordinal()) - 1
        return self._levels[i] if i >= 0 else 0

    def changes_in(self, start: dt.date, end: dt.date) -> list[dt.date]:
        """Dates of changes ``c`` with ``start < c <= end``, in order."""
        lo = bisect_right(self._days, start.toordinal())
        hi = bisect_right(self._days, end.toordinal())
        return [dt.date.fromordinal(d) for d in self._days[lo:hi]]

    def level_days(self, day: dt.date | None) -> int:
        """Sum over the paid days up to ``day`` (inclusive) of the annual level in force then.

        Paid days are all days but 29 February (a 365-day year).
        """
        if day is None:
            return 0
        o = day.toordinal()
        i = bisect_right(self._days, o) - 1
        if i < 0:
            return 0
        return self._cum[i] + self._levels[i] * (_paid_days(o) - self._paid[i])

    def received(self, start: dt.date | None, end: dt.date) -> int:
        """Pence received over ``[start, end]`` (``start`` None: from the first change).

        The cumulative amount up to day ``d`` is ``level_days(d) // 365``; a range receives the
        difference, so consecutive ranges add up to the whole exactly, and a year (any twelve
        consecutive months, leap or not) at a constant level receives the annual amount.
        """
        before = None if start is None else start - _DAY
        if start is not None and end < start:
            return 0
        return self.level_days(end) // DAYS_PER_YEAR - self.level_days(before) // DAYS_PER_YEAR


class FundingLevels:
    """``FundingChanged`` facts by partnership and stream, with cached :class:`StreamLevels`."""

    def __init__(self) -> None:
        self._changes: dict[str, dict[str, dict[str, FundingChanged]]] = {}
        self._cache: dict[tuple[str, str], StreamLevels] = {}

    def __getstate__(self) -> dict[str, Any]:
        return {"_changes": self._changes}  # the StreamLevels cache is rebuilt on use

    def __setstate__(self, state: dict[str, Any]) -> None:
        self._changes = state["_changes"]
        self._cache = {}

    def add(self, event: FundingChanged) -> None:
        """Take a ``FundingChanged`` fact into account."""
        pid, stream = event.partnership_id, event.funding_stream
        self._changes.setdefault(pid, {}).setdefault(stream, {})[event.event_id] = event
        self._cache.pop((pid, stream), None)

    def remove(self, event: FundingChanged) -> None:
        """Undo :meth:`add` of the same fact."""
        pid, stream = event.partnership_id, event.funding_stream
        streams = self._changes.get(pid)
        if streams is None or stream not in streams:
            return
        streams[stream].pop(event.event_id, None)
        if not streams[stream]:
            del streams[stream]
            if not streams:
                del self._changes[pid]
        self._cache.pop((pid, stream), None)

    def streams(self, partnership_id: str | None) -> list[tuple[str, str]]:
        """Sorted (partnership_id, stream) pairs with a change, in one or all partnerships."""
        pids = sorted(self._changes) if partnership_id is None else [partnership_id]
        return [(pid, s) for pid in pids for s in sorted(self._changes.get(pid, {}))]

    def stream(self, partnership_id: str, stream: str) -> StreamLevels | None:
        """Levels of one stream of one partnership, or None when it has no change."""
        key = (partnership_id, stream)
        cached = self._cache.get(key)
        if cached is not None:
            return cached
        changes = self._changes.get(partnership_id, {}).get(stream)
        if not changes:
            return None
        levels = self._cache[key] = StreamLevels(changes.values())
        return levels


# --------------------------------------------------------------------------- summary and helpers


@dataclass(frozen=True, kw_only=True)
class CostSummary:
    """Total staff-time figures over a query's window (all integers; money in pence)."""

    release_minutes: int
    """Minutes of recurring release time."""
    activity_minutes: int
    """Minutes spent on recorded activities."""
    funded_minutes: int
    """Minutes paid for by a funding stream with a level above 0."""
    hidden_minutes: int
    """Minutes carried in salary budgets (no stream, stream at 0, or unattributed)."""
    funded_pence: int
    """Cost of the funded minutes."""
    hidden_pence: int
    """Cost of the hidden minutes."""
    total_pence: int
    """funded_pence + hidden_pence."""
    attendances: int
    """Participants of clubs and competitions in the window."""
    cost_per_attendance_pence: int | None
    """total_pence // attendances, None when there were no attendances."""

    @classmethod
    def from_sums(cls, sums: Iterable[int]) -> CostSummary:
        """Build from the additive figures in :data:`MEASURES` order."""
        (release, activity, funded_m, hidden_m, funded_p, hidden_p, total, attendances) = sums
        return cls(
            release_minutes=release,
            activity_minutes=activity,
            funded_minutes=funded_m,
            hidden_minutes=hidden_m,
            funded_pence=funded_p,
            hidden_pence=hidden_p,
            total_pence=total,
            attendances=attendances,
            cost_per_attendance_pence=total // attendances if attendances else None,
        )


class _Tags(NamedTuple):
    """Group labels of one costed piece (field names are the grouping names)."""

    role: str
    school: str
    funding_stream: str
    staff: str
    funded: str


_LabelOf = Callable[[_Tags, dt.date | None], str]
"""Names the row a costed piece goes to, from its tags and its first day."""


@dataclass(frozen=True, slots=True)
class _Segment:
    """A stretch of one person's timeline: an assignment, or a gap outside any assignment."""

    start: dt.date | None
    """First day (None: from the beginning of time; only for the leading gap)."""
    end: dt.date | None
    """Last day (None: open)."""
    assignment: StaffAssigned | None
    """The terms in force, or None for a gap."""


_Plan = tuple[tuple[_Segment, ...], dict[str, Series], dict[str, list[dt.date]]]
"""One person's timeline, activity series by school and each series' days with entries."""


@dataclass(frozen=True, slots=True)
class _Scope:
    """What one row of a report covers, for :meth:`StaffTimeCost.explain_fact`."""

    start: dt.date | None
    """First day (None: from the beginning)."""
    end: dt.date
    """Last day."""
    by: str | None
    """Tag a piece must carry ``group`` in (None: every piece in the range is in the row)."""
    group: str
    """The row's label."""
    rate: int
    """Hourly cost of unattributed minutes."""

    def contains(self, day: dt.date) -> bool:
        """Whether ``day`` is in the range."""
        return day <= self.end and (self.start is None or day >= self.start)

    def clip(self, seg: _Segment) -> tuple[dt.date, dt.date] | None:
        """The days of an assignment segment inside the range, or None."""
        assert seg.start is not None  # an assignment always has a start
        lo = seg.start if self.start is None else max(seg.start, self.start)
        hi = self.end if seg.end is None else min(seg.end, self.end)
        return (lo, hi) if lo <= hi else None

    def matches(self, tags: _Tags) -> bool:
        """Whether a piece with these tags goes to the row."""
        return self.by is None or str(getattr(tags, self.by)) == self.group


def _label(value: str | None) -> str:
    return value if value else NONE_LABEL


def _activity(event: CorrectableEvent) -> tuple[str, str, int, int] | None:
    """(staff_id or "", school_id or "", minutes, attendances) of an activity fact."""
    if isinstance(event, ClubRun):
        return (event.staff_id or "", event.school_id, event.staff_minutes, event.participants)
    if isinstance(event, CompetitionHeld):
        return ("", event.school_ids[0], event.staff_minutes, event.participants)
    if isinstance(event, LeaderTrained):
        return ("", event.school_id, event.minutes, 0)
    if isinstance(event, CpdDelivered):
        return ("", "", event.minutes, 0)
    if isinstance(event, ResourceShared):
        return ("", event.from_school_id, event.staff_minutes, 0)
    return None


class _Cumulative:
    """Sums of one series from an anchor day (None: the beginning) through any later day."""

    __slots__ = ("_anchor", "_base", "_series")

    def __init__(self, series: Series, anchor: dt.date | None) -> None:
        self._series = series
        self._anchor = anchor
        self._base: tuple[int, ...] | None = None if anchor is not None else _ZERO2

    def at(self, day: dt.date | None) -> tuple[int, ...]:
        """Sums over ``[anchor, day]`` (zeros when ``day`` is None or before the anchor)."""
        if day is None or (self._anchor is not None and day < self._anchor):
            return _ZERO2
        if self._base is None:
            assert self._anchor is not None
            self._base = self._series.upto(self._anchor - _DAY)
        upto = self._series.upto(day)
        return (upto[0] - self._base[0], upto[1] - self._base[1])


def _add(out: dict[str, list[int]], label: str, minutes: tuple[int, int], pence: int,
         attendances: int, *, funded: bool) -> None:
    """Add one costed piece (release minutes, activity minutes) to a row of ``out``."""
    row = out.get(label)
    if row is None:
        row = out[label] = [0] * len(MEASURES)
    release, activity = minutes
    row[0] += release
    row[1] += activity
    if funded:
        row[2] += release + activity
        row[4] += pence
    else:
        row[3] += release + activity
        row[5] += pence
    row[6] += pence
    row[7] += attendances


def _cells(label: str, sums: list[int]) -> tuple[Cell, ...]:
    attendances = sums[7]
    return (label, *sums, sums[6] // attendances if attendances else None)


# --------------------------------------------------------------------------- cumulative tables


_ZERO_COLUMNS = (0,) * 8


def _packed(values: Iterable[int]) -> Sequence[int]:
    """``values`` as 8-byte integers (a list if one does not fit)."""
    kept = list(values)
    try:
        return array("q", kept)
    except OverflowError:
        return kept


class _CostTable:
    """One partnership's staff-time figures summed over every day up to each day: a total, a
    period row or the funded/hidden split is two look-ups (O(1)) instead of costing every piece
    of every timeline.

    Every figure :meth:`StaffTimeCost._collect` sums is a difference of a cumulative integer
    function anchored at its segment's start (see the module docstring), so it is also the sum
    of that function's steps over the days of the range, each step funded or hidden by the
    level in force on its own day. The table holds those steps summed over the partnership,
    cumulatively, for every day from ``base`` to ``last``: the first and the last day on which
    anything changes, except the release time of assignments still open after ``last`` (at most
    one per person), which :meth:`upto` adds in closed form. Hence a difference of two days
    equals ``_collect`` over the range between them exactly, pence included.

    Columns (one value per day), funded then hidden: release minutes, activity minutes
    (unattributed ones are hidden), pence of assignments, attendances. Unattributed pence depend
    on the query's ``default_hourly_cost_pence``: one cumulative column per rate, the rate the
    table was built for and up to three more, summed by the projection when first asked for
    (:meth:`StaffTimeCost._unattributed`).
    """

    __slots__ = ("_by_rate", "_calendar", "base", "last", "rows", "tails")

    def __init__(self, calendar: TeachingCalendar, base: int, last: int, rows: Sequence[int],
                 tails: list[tuple[int, int, int, bool, int, int]], rate: int,
                 unattributed: Sequence[int]) -> None:
        self._calendar = calendar
        self.base = base
        """Ordinal of the first day of the table."""
        self.last = last
        """Ordinal of its last day; later days change only the open assignments' release."""
        self.rows = rows
        """The eight cumulative columns (see the class docstring) row-major: day ``base + i``
        is ``rows[8 * i:8 * i + 8]``."""
        self.tails = tails
        """Assignments open after ``last``: (start ordinal, release minutes per week, hourly
        cost, funded, release minutes and pence from the start through ``last``)."""
        self._by_rate: dict[int, Sequence[int]] = {rate: unattributed}

    def unattributed(self, rate: int) -> Sequence[int] | None:
        """Cumulative pence of unattributed minutes at ``rate`` by day, if summed yet."""
        return self._by_rate.get(rate)

    def keep(self, rate: int, unattributed: Sequence[int]) -> None:
        """Remember the unattributed column of another rate (forgetting the oldest of four)."""
        if len(self._by_rate) >= 4:
            self._by_rate.pop(next(iter(self._by_rate)))
        self._by_rate[rate] = unattributed

    def upto(self, ordinal: int, unattributed: Sequence[int]) -> tuple[int, ...]:
        """The columns summed over every day up to ``ordinal`` (inclusive), with the
        unattributed pence of one rate and the open assignments' release after ``last``."""
        if ordinal < self.base:
            return _ZERO_COLUMNS
        i = min(ordinal, self.last) - self.base
        (release_f, release_h, activity_f, activity_h, pence_f, pence_h, seen_f,
         seen_h) = self.rows[8 * i:8 * i + 8]
        pence_h += unattributed[i]
        if ordinal > self.last:
            for start, per_week, hourly, funded, minutes0, pence0 in self.tails:
                minutes = per_week * self._calendar.teaching_days_between(start, ordinal) // 5
                pence = minutes * hourly // 60
                if funded:
                    release_f += minutes - minutes0
                    pence_f += pence - pence0
                else:
                    release_h += minutes - minutes0
                    pence_h += pence - pence0
        return (release_f, release_h, activity_f, activity_h, pence_f, pence_h, seen_f, seen_h)

    def between(self, start: dt.date | None, end: dt.date,
                unattributed: Sequence[int]) -> tuple[int, ...]:
        """The columns over ``[start, end]`` (``start`` None: from the beginning)."""
        last = end.toordinal()
        if start is None:
            return self.upto(last, unattributed)
        first = start.toordinal()
        if last < first:
            return _ZERO_COLUMNS
        return tuple(map(sub, self.upto(last, unattributed),
                         self.upto(first - 1, unattributed)))


def _total(columns: Sequence[int]) -> list[int]:
    """The :data:`MEASURES` of :class:`_CostTable` columns."""
    release_f, release_h, activity_f, activity_h, pence_f, pence_h, seen_f, seen_h = columns
    return [release_f + release_h, activity_f + activity_h, release_f + activity_f,
            release_h + activity_h, pence_f, pence_h, pence_f + pence_h, seen_f + seen_h]


def _split(columns: Sequence[int]) -> dict[str, list[int]]:
    """The ``funded`` and ``hidden`` rows (:data:`MEASURES`) of :class:`_CostTable` columns."""
    release_f, release_h, activity_f, activity_h, pence_f, pence_h, seen_f, seen_h = columns
    return {
        "funded": [release_f, activity_f, release_f + activity_f, 0, pence_f, 0, pence_f,
                   seen_f],
        "hidden": [release_h, activity_h, 0, release_h + activity_h, 0, pence_h, pence_h,
                   seen_h],
    }


class _TableBuilder:
    """Sums the steps of one partnership's timelines into a :class:`_CostTable`; unattributed
    minutes are costed at ``rate``."""

    def __init__(self, calendar: TeachingCalendar, base: int, last: int, rate: int) -> None:
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
        self.tails: list[tuple[int, int, int, bool, int, int]] = []

    def release_time(self, a: StaffAssigned, pieces: list[tuple[int, int, bool]],
                     is_open: bool) -> None:
        """Steps of ``a``'s release time over its pieces (first and last ordinal, funded),
        which run back to back from its start."""
        per_week, rate = a.release_minutes_per_week, a.hourly_cost_pence
        if not per_week:
            return
        teaching = self.teaching
        done = 0  # teaching days of the assignment before the piece
        minutes = pence = 0
        for first, last, funded in pieces:
            lo = bisect_left(teaching, first)
            hi = bisect_right(teaching, last)
            if hi == lo:
                continue
            cum_minutes = [per_week * k // 5 for k in range(done, done + hi - lo + 1)]
            cum_pence = [m * rate // 60 for m in cum_minutes]
            done += hi - lo
            minutes, pence = cum_minutes[-1], cum_pence[-1]
            m_col = self.release[0 if funded else 1]
            p_col = self.release[2 if funded else 3]
            m_col[lo:hi] = map(add, m_col[lo:hi], map(sub, cum_minutes[1:], cum_minutes))
            p_col[lo:hi] = map(add, p_col[lo:hi], map(sub, cum_pence[1:], cum_pence))
        if is_open:
            self.tails.append((a.occurred_on.toordinal(), per_week, rate, pieces[-1][2],
                               minutes, pence))

    def minutes(self, series: Series, days: Sequence[dt.date], anchor: dt.date | None,
                a: StaffAssigned | None, levels: StreamLevels | None) -> None:
        """Steps of one series' activity over ``days`` (the days of one stretch with entries,
        ascending), cumulated from ``anchor``, costed at the terms of ``a`` (None:
        unattributed, at the builder's rate)."""
        if not days:
            return
        base = (0, 0) if anchor is None else series.upto(anchor - _DAY)
        funded_m, hidden_m, funded_p, hidden_p, funded_a, hidden_a = self.activity
        gap_p = self.unattributed
        rate = self.rate if a is None else a.hourly_cost_pence
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
        return _packed(accumulate(self.unattributed))

    def table(self) -> _CostTable:
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
        columns = (release[0], release[1], funded_m, hidden_m, map(add, release[2], funded_p),
                   map(add, release[3], hidden_p), funded_a, hidden_a)
        rows = _packed(value for day in zip(*columns, strict=True) for value in day)
        return _CostTable(self.calendar, self.base, self.last, rows, self.tails, self.rate,
                          self.unattributed_column())


# --------------------------------------------------------------------------- projection


class StaffTimeCost:
    """Staff minutes and their cost, funded vs hidden in salary budgets, and cost per attendance.

    Groupings: ``role``, ``school``, ``funding_stream``, ``staff``, ``funded`` (rows ``funded`` and
    ``hidden``) or a period kind. Release time is grouped under the assignment's school, activity
    minutes under the activity's school (``none`` for CPD). Query parameter:
    ``default_hourly_cost_pence`` for unattributed minutes.
    """

    name: ClassVar[str] = "staff_time_cost"
    groupings: ClassVar[tuple[str, ...]] = ("role", "school", "funding_stream", "staff", "funded")
    handles: ClassVar[tuple[type[CorrectableEvent], ...]] = (
        StaffAssigned, StaffReleased, FundingChanged,
        ClubRun, CompetitionHeld, LeaderTrained, CpdDelivered, ResourceShared)
    """Event classes this projection reacts to (the set offers it no others)."""

    def __init__(self) -> None:
        self.calendar = TeachingCalendar()
        """Teaching-day calendar release time accrues over."""
        self.funding_levels = FundingLevels()
        """Funding levels per (partnership, stream). The funding projection reads them (and
        the costs) from the StaffTimeCost it owns or is attached to, so both always agree."""
        self.tables_after = 2
        """Which answer (total, period rows or funded split) of a partnership since its last
        change builds its cumulative table (see :class:`_CostTable`); earlier ones are costed
        piece by piece. Building one costs about as much as ten such answers, so a one-off
        query, or a partnership written to between every two queries, never pays for a table
        it does not reuse."""
        self._assignments: dict[str, dict[str, dict[str, StaffAssigned]]] = {}
        self._releases: dict[str, dict[str, dict[str, dt.date]]] = {}
        self._activity: dict[str, dict[str, dict[str, Series]]] = {}
        self._live: dict[tuple[str, str, str], int] = {}
        self._same_day: dict[tuple[str, str, str], dict[dt.date, str | dict[str, int]]] = {}
        """Ids of the activity facts with minutes or attendances by (partnership, staff,
        school) and day (see :meth:`_note_day`): the days each series has entries on, which a
        cumulative table walks, and for :meth:`explain_fact` the order of the facts a series
        merges into one day."""
        # Derived caches (not pickled; rebuilt on use):
        self._timelines: dict[tuple[str, str], tuple[_Segment, ...]] = {}
        self._tables: dict[str, _CostTable] = {}
        self._misses: dict[str, int] = {}
        self._first_days: dict[str, dt.date | None] = {}

    _CACHES: ClassVar[tuple[str, ...]] = ("_timelines", "_tables", "_misses", "_first_days")

    def __getstate__(self) -> dict[str, Any]:
        """The state without the derived caches (checkpoints stay small)."""
        state = self.__dict__.copy()
        for name in self._CACHES:
            del state[name]
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        for name in self._CACHES:
            setattr(self, name, {})

    # ------------------------------------------------------------------ protocol: updates

    def apply(self, fact: Fact) -> None:
        """Add the effect of a fact."""
        self._change(fact.event, 1)

    def retract(self, fact: Fact) -> None:
        """Remove the effect of a fact previously applied."""
        self._change(fact.event, -1)

    def _change(self, event: CorrectableEvent, sign: int) -> None:
        pid = event.partnership_id
        if isinstance(event, StaffAssigned):
            self._keep(self._assignments, pid, event.staff_id, event.event_id, event, sign)
            self._timelines.pop((pid, event.staff_id), None)
        elif isinstance(event, StaffReleased):
            self._keep(self._releases, pid, event.staff_id, event.event_id,
                       event.occurred_on, sign)
            self._timelines.pop((pid, event.staff_id), None)
        elif isinstance(event, FundingChanged):
            if sign > 0:
                self.funding_levels.add(event)
            else:
                self.funding_levels.remove(event)
        else:
            found = _activity(event)
            if found is None:
                return  # no staff time: the partnership's caches stay valid
            staff, school, minutes, attendances = found
            self._add_activity(pid, staff, school, event.occurred_on,
                               (sign * minutes, sign * attendances), sign)
            self._note_day(pid, staff, school, event, minutes, attendances, sign)
        self._invalidate(pid)

    def _invalidate(self, pid: str) -> None:
        """Forget what was derived from the partnership's facts (a fact came or went)."""
        self._tables.pop(pid, None)
        self._misses.pop(pid, None)
        self._first_days.pop(pid, None)

    def _note_day(self, pid: str, staff: str, school: str, event: CorrectableEvent,
                  minutes: int, attendances: int, sign: int) -> None:
        """Keep (or forget) the id of an activity fact with minutes or attendances, by series
        and day.

        A day with one such fact keeps its id only; a second fact turns the entry into
        ``{id: minutes}`` with the first's minutes left as :data:`_DERIVED` (the day's sum in the
        series less the others), so a day of one fact costs no more than a dictionary slot.
        """
        if not minutes and not attendances:
            return  # the fact moves no figure: no day to walk, nothing to order
        day, eid = event.occurred_on, event.event_id
        if sign > 0:
            by_day = self._same_day.setdefault((pid, staff, school), {})
            held = by_day.get(day)
            if held is None:
                by_day[day] = eid
            elif isinstance(held, str):
                by_day[day] = {held: _DERIVED, eid: minutes}
            else:
                held[eid] = minutes
            return
        days = self._same_day.get((pid, staff, school))
        held = days.get(day) if days is not None else None
        if days is None or held is None:
            return
        if isinstance(held, dict):
            held.pop(eid, None)
            if len(held) > 1:
                return
            if held:
                days[day] = next(iter(held))
                return
        elif held != eid:
            return
        del days[day]
        if not days:
            del self._same_day[(pid, staff, school)]

    def _minutes_earlier_that_day(self, pid: str, staff: str, school: str, series: Series,
                                  event: CorrectableEvent) -> int:
        """Minutes of the facts of the same series and day ordered before ``event`` (by id)."""
        held = self._same_day.get((pid, staff, school), {}).get(event.occurred_on)
        if not isinstance(held, dict):
            return 0
        day = event.occurred_on
        explicit = sum(m for m in held.values() if m != _DERIVED)
        return sum((series.between(day, day)[0] - explicit) if m == _DERIVED else m
                   for eid, m in held.items() if eid < event.event_id)

    @staticmethod
    def _keep(store: dict[str, dict[str, dict[str, _T]]], pid: str, staff: str,
              event_id: str, value: _T, sign: int) -> None:
        if sign > 0:
            store.setdefault(pid, {}).setdefault(staff, {})[event_id] = value
            return
        by_staff = store.get(pid)
        if by_staff is None or staff not in by_staff:
            return
        by_staff[staff].pop(event_id, None)
        if not by_staff[staff]:
            del by_staff[staff]
            if not by_staff:
                del store[pid]

    def _add_activity(self, pid: str, staff: str, school: str, day: dt.date,
                      values: tuple[int, int], sign: int) -> None:
        key = (pid, staff, school)
        live = self._live.get(key, 0) + sign
        if live <= 0:
            # The last fact of this (partnership, staff, school) is gone: drop its series, so the
            # state equals a rebuild without the retracted facts.
            self._live.pop(key, None)
            by_staff = self._activity.get(pid, {})
            by_school = by_staff.get(staff, {})
            by_school.pop(school, None)
            if not by_school:
                by_staff.pop(staff, None)
                if not by_staff:
                    self._activity.pop(pid, None)
            return
        self._live[key] = live
        by_school = self._activity.setdefault(pid, {}).setdefault(staff, {})
        series = by_school.get(school)
        if series is None:
            series = by_school[school] = Series(2)
        series.add(day, values)

    # ------------------------------------------------------------------ timelines

    def _timeline(self, pid: str, staff: str) -> tuple[_Segment, ...]:
        """The person's assignments and the gaps around them, covering every day."""
        key = (pid, staff)
        cached = self._timelines.get(key)
        if cached is not None:
            return cached
        assigned = sorted(self._assignments.get(pid, {}).get(staff, {}).values(),
                          key=lambda e: (e.occurred_on, e.event_id))
        releases = sorted(self._releases.get(pid, {}).get(staff, {}).values())
        segments: list[_Segment] = []
        cursor: dt.date | None = None  # first day not yet covered (None: the beginning)
        open_ended = False
        for i, a in enumerate(assigned):
            start = a.occurred_on
            end: dt.date | None = None
            if i + 1 < len(assigned):
                end = assigned[i + 1].occurred_on - _DAY
            j = bisect_left(releases, start)
            if j < len(releases) and (end is None or releases[j] < end):
                end = releases[j]
            if end is not None and end < start:
                continue  # superseded on its own date
            if cursor is None or cursor < start:
                segments.append(_Segment(cursor, start - _DAY, None))
            segments.append(_Segment(start, end, a))
            if end is None:
                open_ended = True
                break
            cursor = end + _DAY
        if not open_ended:
            segments.append(_Segment(cursor, None, None))
        result = self._timelines[key] = tuple(segments)
        return result

    def _partnerships(self, partnership_id: str | None) -> list[str]:
        if partnership_id is not None:
            return [partnership_id]
        return sorted(set(self._assignments) | set(self._activity))

    def _staff_of(self, pid: str) -> list[str]:
        return sorted(set(self._assignments.get(pid, {})) | set(self._activity.get(pid, {})))

    def first_day(self, partnership_id: str | None = None) -> dt.date | None:
        """Earliest assignment start or activity date (one or all partnerships), or None."""
        first: dt.date | None = None
        for pid in self._partnerships(partnership_id):
            if pid in self._first_days:
                low = self._first_days[pid]
            else:
                days = [a.occurred_on for by_id in self._assignments.get(pid, {}).values()
                        for a in by_id.values()]
                days += [d for by_school in self._activity.get(pid, {}).values()
                         for s in by_school.values() if (d := s.first_day()) is not None]
                low = min(days) if days else None
                if pid in self._assignments or pid in self._activity:
                    self._first_days[pid] = low  # unknown ids are not remembered
            if low is not None:
                first = low if first is None else min(first, low)
        return first

    # ------------------------------------------------------------------ costing

    def _collect(self, pids: Iterable[str], start: dt.date | None, end: dt.date, rate: int,
                 label_of: _LabelOf, out: dict[str, list[int]],
                 cuts: Sequence[dt.date] = ()) -> None:
        """Cost every piece of every timeline inside ``[start, end]`` into rows of ``out``.

        Pieces are cut at funding changes and at ``cuts`` (period starts); ``label_of`` names the
        row of a piece from its tags and first day.
        """
        for pid in pids:
            activity = self._activity.get(pid, {})
            for staff in self._staff_of(pid):
                series = activity.get(staff, {})
                for seg in self._timeline(pid, staff):
                    if seg.start is not None and seg.start > end:
                        break
                    lo = seg.start if start is None else (
                        start if seg.start is None else max(seg.start, start))
                    hi = end if seg.end is None else min(seg.end, end)
                    if lo is not None and hi < lo:
                        continue
                    first = 0 if lo is None else bisect_right(cuts, lo)
                    inner = cuts[first:bisect_right(cuts, hi)]
                    if seg.assignment is None:
                        self._cost_gap(staff, seg.start, [lo, *inner], hi, series, rate,
                                       label_of, out)
                    else:
                        assert lo is not None  # an assignment always has a start
                        self._cost_assignment(pid, staff, seg.assignment, lo, inner, hi, series,
                                              label_of, out)

    def _cost_gap(self, staff: str, anchor: dt.date | None, bounds: list[dt.date | None],
                  hi: dt.date, series: Mapping[str, Series], rate: int, label_of: _LabelOf,
                  out: dict[str, list[int]]) -> None:
        """Unattributed minutes of one gap, piece by piece (``bounds``: first days of pieces)."""
        lasts = [*(b - _DAY for b in bounds[1:] if b is not None), hi]
        for school, s in series.items():
            tags = _Tags(UNATTRIBUTED, _label(school), NONE_LABEL, _label(staff), "hidden")
            cum = _Cumulative(s, anchor)
            prev = cum.at(None if bounds[0] is None else bounds[0] - _DAY)
            if len(lasts) > 1 and cum.at(hi) == prev:
                continue  # nothing in this gap at this school: skip its pieces
            for first, last in zip(bounds, lasts, strict=True):
                cur = cum.at(last)
                _add(out, label_of(tags, first), (0, cur[0] - prev[0]),
                     cur[0] * rate // 60 - prev[0] * rate // 60, cur[1] - prev[1], funded=False)
                prev = cur

    def _cost_assignment(self, pid: str, staff: str, a: StaffAssigned, lo: dt.date,
                         cuts: Sequence[dt.date], hi: dt.date, series: Mapping[str, Series],
                         label_of: _LabelOf, out: dict[str, list[int]]) -> None:
        """Release and activity minutes of one assignment over ``[lo, hi]``, piece by piece."""
        rate = a.hourly_cost_pence
        stream = _label(a.funding_stream)
        staff_label = _label(staff)
        levels = (self.funding_levels.stream(pid, a.funding_stream)
                  if a.funding_stream is not None else None)
        # Pieces of constant funded status (cut at the stream's changes) and period.
        changes = levels.changes_in(lo, hi) if levels is not None else []
        bounds = sorted({lo, *changes, *cuts}) if changes and cuts else [lo, *changes, *cuts]
        lasts = [*(b - _DAY for b in bounds[1:]), hi]
        funded = [levels is not None and levels.level(b) > 0 for b in bounds]
        status = ["funded" if f else "hidden" for f in funded]
        prev_f = self._release_upto(a, lo - _DAY)
        for k, last in enumerate(lasts):
            cur_f = self._release_upto(a, last)
            tags = _Tags(a.role, _label(a.school_id), stream, staff_label, status[k])
            _add(out, label_of(tags, bounds[k]), (cur_f - prev_f, 0),
                 cur_f * rate // 60 - prev_f * rate // 60, 0, funded=funded[k])
            prev_f = cur_f
        for school, s in series.items():
            cum = _Cumulative(s, a.occurred_on)
            prev = cum.at(lo - _DAY)
            if len(lasts) > 1 and cum.at(hi) == prev:
                continue  # no activity at this school in [lo, hi]: every piece would be zero
            school_label = _label(school)
            for k, last in enumerate(lasts):
                cur = cum.at(last)
                tags = _Tags(a.role, school_label, stream, staff_label, status[k])
                _add(out, label_of(tags, bounds[k]), (0, cur[0] - prev[0]),
                     cur[0] * rate // 60 - prev[0] * rate // 60, cur[1] - prev[1],
                     funded=funded[k])
                prev = cur

    def _release_upto(self, a: StaffAssigned, day: dt.date) -> int:
        """Release minutes of assignment ``a`` from its start through ``day``."""
        days = self.calendar.teaching_days(a.occurred_on, day)
        return a.release_minutes_per_week * days // 5

    # ------------------------------------------------------------------ cumulative tables

    def _table(self, pid: str, rate: int) -> tuple[_CostTable, Sequence[int]] | None:
        """The partnership's cumulative table and its unattributed column at ``rate``; the table
        is built on the :attr:`tables_after`-th total, period or funded answer since the
        partnership's last change. None before (answer piece by piece)."""
        table = self._tables.get(pid)
        if table is None:
            if pid not in self._assignments and pid not in self._activity:
                return None  # nothing to cost (and unknown ids leave no trace)
            misses = self._misses.get(pid, 0) + 1
            if misses < self.tables_after:
                self._misses[pid] = misses
                return None
            self._misses.pop(pid, None)
            table = self._tables[pid] = self._build_table(pid, rate)
        unattributed = table.unattributed(rate)
        if unattributed is None:
            unattributed = self._unattributed(pid, table, rate)
        return table, unattributed

    def _plan(self, pid: str) -> tuple[list[_Plan], dt.date | None, dt.date | None]:
        """Each person's timeline, activity series and their days with entries; the first
        and the last day on which the partnership's figures change (None: never)."""
        activity = self._activity.get(pid, {})
        plans: list[_Plan] = []
        starts: list[dt.date] = []
        marks: list[dt.date] = []
        for staff in self._staff_of(pid):
            timeline = self._timeline(pid, staff)
            series = activity.get(staff, {})
            days = {school: sorted(self._same_day.get((pid, staff, school), ()))
                    for school in series}
            plans.append((timeline, series, days))
            for seg in timeline:
                a = seg.assignment
                if a is None:
                    continue
                starts.append(a.occurred_on)
                if seg.end is not None:
                    marks.append(seg.end)
                levels = self._stream_of(pid, a)
                if levels is not None and (changed := levels.last_day()) is not None:
                    marks.append(changed)  # the level in force after the table stays put
            for on in days.values():
                if on:
                    starts.append(on[0])
                    marks.append(on[-1])
        if not starts:
            return plans, None, None
        return plans, min(starts), max([*starts, *marks])

    def _walk(self, pid: str, plans: list[_Plan], horizon: dt.date, builder: _TableBuilder,
              *, unattributed_only: bool = False) -> None:
        """Add the steps of every timeline through ``horizon`` to ``builder`` (only those of
        the stretches outside any assignment when ``unattributed_only``)."""
        for timeline, series, days in plans:
            for seg in timeline:
                a = seg.assignment
                end = horizon if seg.end is None else seg.end
                if a is None:
                    for school, s in series.items():
                        on = days[school]
                        lo = 0 if seg.start is None else bisect_left(on, seg.start)
                        builder.minutes(s, on[lo:bisect_right(on, end)], seg.start, None, None)
                    continue
                if unattributed_only:
                    continue
                start = a.occurred_on
                levels = self._stream_of(pid, a)
                bounds = [start, *levels.changes_in(start, end)] if levels is not None else [start]
                lasts = [*(b - _DAY for b in bounds[1:]), end]
                pieces = [(b.toordinal(), last.toordinal(),
                           levels is not None and levels.level(b) > 0)
                          for b, last in zip(bounds, lasts, strict=True)]
                builder.release_time(a, pieces, seg.end is None)
                for school, s in series.items():
                    on = days[school]
                    builder.minutes(s, on[bisect_left(on, start):bisect_right(on, end)], start,
                                    a, levels)

    def _build_table(self, pid: str, rate: int) -> _CostTable:
        """Sum the steps of every timeline of the partnership into a :class:`_CostTable`
        (O(teaching days x people + activity days x series)), unattributed pence at ``rate``."""
        plans, first, horizon = self._plan(pid)
        if first is None or horizon is None:
            nothing = dt.date.max.toordinal() + 1  # every day is before the table: all zeros
            return _TableBuilder(self.calendar, nothing, nothing - 1, rate).table()
        builder = _TableBuilder(self.calendar, first.toordinal(), horizon.toordinal(), rate)
        self._walk(pid, plans, horizon, builder)
        return builder.table()

    def _unattributed(self, pid: str, table: _CostTable, rate: int) -> Sequence[int]:
        """The unattributed column of ``table`` at another rate: the stretches outside any
        assignment walked again (the table is current: any change would have dropped it)."""
        plans, _, _ = self._plan(pid)
        builder = _TableBuilder(self.calendar, table.base, table.last, rate)
        self._walk(pid, plans, dt.date.fromordinal(table.last), builder, unattributed_only=True)
        column = builder.unattributed_column()
        table.keep(rate, column)
        return column

    def _stream_of(self, pid: str, a: StaffAssigned) -> StreamLevels | None:
        """Levels of the funding stream of assignment ``a`` (None: no stream or no change)."""
        if a.funding_stream is None:
            return None
        return self.funding_levels.stream(pid, a.funding_stream)

    def _sums(self, pids: list[str], start: dt.date | None, end: dt.date, rate: int) -> list[int]:
        total = [0] * len(MEASURES)
        slow: list[str] = []
        for pid in pids:
            found = self._table(pid, rate)
            if found is None:
                slow.append(pid)
            else:
                table, unattributed = found
                total = list(map(add, total, _total(table.between(start, end, unattributed))))
        if slow:
            out: dict[str, list[int]] = {}
            self._collect(slow, start, end, rate, lambda _t, _d: "total", out)
            if "total" in out:
                total = list(map(add, total, out["total"]))
        return total

    def _grouped(self, pids: list[str], start: dt.date | None, end: dt.date, rate: int,
                 by: str) -> dict[str, list[int]]:
        """Sums per group of grouping ``by`` over ``[start, end]``: ``funded`` from the
        cumulative tables where built, the other groupings piece by piece."""
        out: dict[str, list[int]] = {}
        slow = pids
        if by == "funded":
            slow = []
            for pid in pids:
                found = self._table(pid, rate)
                if found is None:
                    slow.append(pid)
                    continue
                table, unattributed = found
                for label, sums in _split(table.between(start, end, unattributed)).items():
                    row = out.setdefault(label, [0] * len(MEASURES))
                    row[:] = map(add, row, sums)
        if slow:
            self._collect(slow, start, end, rate, lambda t, _d: str(getattr(t, by)), out)
        return out

    def _by_period(self, pids: list[str], kind: PeriodKind, lo: dt.date, end: dt.date,
                   rate: int) -> dict[str, list[int]]:
        """Sums per period of ``kind`` over ``[lo, end]``, in date order (one pass)."""
        periods = periods_between(kind, lo, end)
        starts = [p.start for p in periods]
        labels = [p.label for p in periods]
        out: dict[str, list[int]] = {label: [0] * len(MEASURES) for label in labels}
        slow: list[str] = []
        # Periods are consecutive: a period's columns are the difference of the cumulative ones
        # at its last day and at the previous period's (the day before ``lo`` for the first).
        bounds = [lo.toordinal() - 1, *(min(p.end, end).toordinal() for p in periods)]
        at = [[0] * len(_ZERO_COLUMNS) for _ in bounds]
        for pid in pids:
            found = self._table(pid, rate)
            if found is None:
                slow.append(pid)
                continue
            table, unattributed = found
            for row, bound in zip(at, bounds, strict=True):
                row[:] = map(add, row, table.upto(bound, unattributed))
        if len(slow) < len(pids):
            for k, label in enumerate(labels):
                out[label] = list(map(add, out[label], _total(list(map(sub, at[k + 1], at[k])))))
        if not slow:
            return out

        def label_of(_tags: _Tags, day: dt.date | None) -> str:
            return labels[0] if day is None else labels[bisect_right(starts, day) - 1]

        self._collect(slow, lo, end, rate, label_of, out, starts[1:])
        return out

    # ------------------------------------------------------------------ explain

    def explain_fact(self, query: Query, group: str, fact: Fact) -> Mapping[str, int] | None:
        """What ``fact`` contributed to row ``group`` of ``report(query)``, or None.

        * ``StaffAssigned``: the release minutes of the assignment in the row and their cost;
          an empty mapping when it adds no release time to the row but its terms cost activity
          minutes in it (grouping by school: activity at another school);
        * an activity fact: its minutes, their cost at the terms in force for its staff member on
          its date (or unattributed) and its attendances;
        * ``FundingChanged``: an empty mapping when it is the level in force on a piece of an
          assignment in the row (so it decides funded or hidden, or cuts the assignment there);
        * ``StaffReleased``: an empty mapping when it ends an assignment inside the row's range.

        Mappings with figures have every key of :data:`MEASURES`; summed over the facts listed
        they equal the row exactly, pence included (see the module docstring). O(log n) per
        fact for activity, O(segments) for the others.
        """
        event = fact.event
        pid = event.partnership_id
        if query.partnership_id is not None and pid != query.partnership_id:
            return None
        scope = self._scope(query, group)
        if scope is None:
            return None
        if isinstance(event, StaffAssigned):
            return self._explain_assignment(scope, event)
        if isinstance(event, StaffReleased):
            return self._explain_release(scope, event)
        if isinstance(event, FundingChanged):
            return self._explain_funding(scope, event)
        found = _activity(event)
        if found is None:
            return None
        return self._explain_activity(scope, event, found)

    def _scope(self, query: Query, group: str) -> _Scope | None:
        start, end = query.window
        kind = query.period_kind
        by: str | None = None
        if group != "total":
            if kind is not None:
                chosen = parse_period(group)
                start = chosen.start if start is None else max(start, chosen.start)
                end = min(end, chosen.end)
            elif query.by in self.groupings:
                by = query.by
            else:
                return None  # no such row
        if start is not None and end < start:
            return None
        return _Scope(start, end, by, group, default_hourly_cost(query))

    def _pieces(self, pid: str, a: StaffAssigned, lo: dt.date, hi: dt.date
                ) -> list[tuple[dt.date, dt.date, FundingChanged | None, _Tags]]:
        """(first, last, change in force, tags) of each piece of ``a`` over ``[lo, hi]``: the
        pieces :meth:`_cost_assignment` costs, without its period cuts (a period row's range
        lies inside its period, and cuts inside a status do not change the sums of
        differences)."""
        levels = (self.funding_levels.stream(pid, a.funding_stream)
                  if a.funding_stream is not None else None)
        bounds = [lo, *levels.changes_in(lo, hi)] if levels is not None else [lo]
        lasts = [*(b - _DAY for b in bounds[1:]), hi]
        out: list[tuple[dt.date, dt.date, FundingChanged | None, _Tags]] = []
        for first, last in zip(bounds, lasts, strict=True):
            change = levels.in_force(first) if levels is not None else None
            status = "funded" if change is not None and change.annual_amount_pence > 0 else "hidden"
            tags = _Tags(a.role, _label(a.school_id), _label(a.funding_stream),
                         _label(a.staff_id), status)
            out.append((first, last, change, tags))
        return out

    def _in_row(self, scope: _Scope, pid: str, a: StaffAssigned, tags: _Tags, first: dt.date,
                last: dt.date) -> bool:
        """Whether a piece of assignment ``a`` puts anything in the row: its release time, or
        (grouping by school) activity minutes at the row's school costed at its terms."""
        if scope.matches(tags):
            return True
        if scope.by != "school":
            return False
        series = self._activity.get(pid, {}).get(a.staff_id, {})
        return any(_label(school) == scope.group and any(s.between(first, last))
                   for school, s in series.items())

    def _explain_assignment(self, scope: _Scope, a: StaffAssigned) -> dict[str, int] | None:
        pid = a.partnership_id
        seg = next((s for s in self._timeline(pid, a.staff_id)
                    if s.assignment is not None and s.assignment.event_id == a.event_id), None)
        if seg is None:
            return None  # superseded on its own date: it never ran
        span = scope.clip(seg)
        if span is None:
            return None
        lo, hi = span
        rate = a.hourly_cost_pence
        out: dict[str, list[int]] = {}
        shaped = False
        prev = self._release_upto(a, lo - _DAY)
        for first, last, _change, tags in self._pieces(pid, a, lo, hi):
            cur = self._release_upto(a, last)
            if scope.matches(tags):
                _add(out, "row", (cur - prev, 0), cur * rate // 60 - prev * rate // 60, 0,
                     funded=tags.funded == "funded")
            elif not shaped:
                shaped = self._in_row(scope, pid, a, tags, first, last)
            prev = cur
        if "row" in out:
            return dict(zip(MEASURES, out["row"], strict=True))
        return {} if shaped else None

    def _explain_release(self, scope: _Scope, r: StaffReleased) -> dict[str, int] | None:
        if not scope.contains(r.occurred_on):
            return None
        pid = r.partnership_id
        timeline = self._timeline(pid, r.staff_id)
        for k, seg in enumerate(timeline):
            a = seg.assignment
            # Ended by a release (not by the next assignment): a gap follows.
            if (a is None or seg.end != r.occurred_on
                    or (k + 1 < len(timeline) and timeline[k + 1].assignment is not None)):
                continue
            span = scope.clip(seg)
            if span is None:
                return None
            first, last, _change, tags = self._pieces(pid, a, *span)[-1]
            return {} if self._in_row(scope, pid, a, tags, first, last) else None
        return None

    def _explain_funding(self, scope: _Scope, f: FundingChanged) -> dict[str, int] | None:
        pid = f.partnership_id
        for staff in sorted(self._assignments.get(pid, {})):
            for seg in self._timeline(pid, staff):
                a = seg.assignment
                if a is None or a.funding_stream != f.funding_stream:
                    continue
                span = scope.clip(seg)
                if span is None:
                    continue
                for first, last, change, tags in self._pieces(pid, a, *span):
                    if (change is not None and change.event_id == f.event_id
                            and self._in_row(scope, pid, a, tags, first, last)):
                        return {}
        return None

    def _explain_activity(self, scope: _Scope, event: CorrectableEvent,
                          found: tuple[str, str, int, int]) -> dict[str, int] | None:
        day = event.occurred_on
        if not scope.contains(day):
            return None
        pid = event.partnership_id
        staff, school, minutes, attendances = found
        seg = next(s for s in self._timeline(pid, staff)
                   if (s.start is None or s.start <= day) and (s.end is None or day <= s.end))
        a = seg.assignment
        if a is None:
            rate, funded = scope.rate, False
            tags = _Tags(UNATTRIBUTED, _label(school), NONE_LABEL, _label(staff), "hidden")
        else:
            levels = (self.funding_levels.stream(pid, a.funding_stream)
                      if a.funding_stream is not None else None)
            rate, funded = a.hourly_cost_pence, levels is not None and levels.level(day) > 0
            tags = _Tags(a.role, _label(school), _label(a.funding_stream), _label(staff),
                         "funded" if funded else "hidden")
        if not scope.matches(tags):
            return None
        # Minutes before this fact since the segment's start, facts of one day in event-id order:
        # costing each fact as the step of the cumulative cost makes the facts of a piece add up
        # to the piece's cost exactly.
        series = self._activity[pid][staff][school]
        before = series.between(seg.start, day - _DAY)[0]
        if minutes:
            before += self._minutes_earlier_that_day(pid, staff, school, series, event)
        out: dict[str, list[int]] = {}
        _add(out, "row", (0, minutes), (before + minutes) * rate // 60 - before * rate // 60,
             attendances, funded=funded)
        return dict(zip(MEASURES, out["row"], strict=True))

    # ------------------------------------------------------------------ queries

    def cost_between(self, start: dt.date | None, end: dt.date, *,
                     partnership_id: str | None = None,
                     default_hourly_cost_pence: int = DEFAULT_HOURLY_COST_PENCE) -> CostSummary:
        """Total figures over ``[start, end]`` (``start`` None: from the beginning)."""
        pids = self._partnerships(partnership_id)
        return CostSummary.from_sums(self._sums(pids, start, end, default_hourly_cost_pence))

    def cost_by_period(self, kind: PeriodKind, start: dt.date, end: dt.date, *,
                       partnership_id: str | None = None,
                       default_hourly_cost_pence: int = DEFAULT_HOURLY_COST_PENCE
                       ) -> dict[str, CostSummary]:
        """Figures per period of ``kind`` (by label, in date order) over ``[start, end]``.

        Every period from the one containing ``start`` to the one containing ``end`` is present;
        they add up to :meth:`cost_between` over the same range.
        """
        if end < start:
            return {}
        pids = self._partnerships(partnership_id)
        sums = self._by_period(pids, kind, start, end, default_hourly_cost_pence)
        return {label: CostSummary.from_sums(row) for label, row in sums.items()}

    def cost(self, query: Query) -> CostSummary:
        """Total figures over the query's window and partnership (its grouping is ignored)."""
        start, end = query.window
        return self.cost_between(start, end, partnership_id=query.partnership_id,
                                 default_hourly_cost_pence=default_hourly_cost(query))

    def report(self, query: Query) -> Table:
        """One row per group (sorted by label) or per period, then a ``total`` row.

        Columns: the group label, :data:`COLUMNS`. Period rows start at the first period with any
        figure. Raises ValueError for an unknown grouping.
        """
        start, end = query.window
        rate = default_hourly_cost(query)
        kind = query.period_kind
        by = query.by
        query.check_grouping(self.name, self.groupings)
        pids = self._partnerships(query.partnership_id)
        rows: list[tuple[Cell, ...]] = []
        total = [0] * len(MEASURES)
        if kind is not None:
            lo = start if start is not None else self.first_day(query.partnership_id)
            if lo is not None and lo <= end:
                for label, sums in self._by_period(pids, kind, lo, end, rate).items():
                    if rows or any(sums):  # leading periods with nothing are left out
                        rows.append(_cells(label, sums))
                        total = [a + b for a, b in zip(total, sums, strict=True)]
        elif by is not None:
            out = self._grouped(pids, start, end, rate, by)
            if by == "funded":
                for status in ("funded", "hidden"):
                    out.setdefault(status, [0] * len(MEASURES))
            for label, sums in sorted(out.items()):
                if by == "funded" or any(sums):
                    rows.append(_cells(label, sums))
                # Every costed piece lands in exactly one group: the total is their sum.
                total = [a + b for a, b in zip(total, sums, strict=True)]
        else:
            total = self._sums(pids, start, end, rate)
        rows.append(_cells("total", total))
        return Table.answer(self.name, query, (by or "group", *COLUMNS), rows)
