"""Costing staff time piece by piece, and the vocabulary every way of costing shares.

Release minutes accrue on teaching days: ``release_minutes_per_week * days // 5``. Activity
minutes are attributed **at query time** to the assignment of their staff member in force on
their date, costed at its ``hourly_cost_pence``; minutes of a person outside any assignment, or
of no known person, are *unattributed*: role ``UNATTRIBUTED``, stream ``none``, hidden, costed at
the dated, cited parameter ``cost.UNATTRIBUTED`` in force on their date, or at the query's flat
``default_hourly_cost_pence`` (:mod:`.rates`; gaps are cut where that rate changes).

A piece of an assignment is *funded* when its stream's level in force on those days is above 0
(:mod:`~ssp_ledger_projections.funding_levels`), else *hidden*; assignments are cut at their
stream's change dates (and, for period rows, at period starts).

Rounding: within one assignment (or one stretch of unattributed time) every figure is the
difference of a *cumulative* integer function anchored at the assignment's start, e.g. release
minutes over ``[a, b]`` are ``F(b) - F(a - 1)`` with ``F(d) = per_week * teaching_days(start, d)
// 5`` and pence ``F(b) * rate // 60 - F(a - 1) * rate // 60``. Pieces therefore add up to the
whole exactly, so period rows sum to the total and the total does not depend on the grouping.

Figures travel as named tuples, never as positional rows:

* :class:`Figures`: the :data:`MEASURES` of a report row;
* :class:`Columns`: the same figures split funded / hidden (eight sums), from which a total
  (:meth:`Columns.total`) and the ``funded`` grouping (:meth:`Columns.split`) follow.

:class:`Costing` is what a report asks of one partnership's costs. Two implementations give the
same answers exactly: :class:`PieceCosting` here (every piece of every timeline, the reference)
and the cumulative tables of :mod:`.cumulative` (two look-ups per answer); the projection picks
one per partnership in one place, and nothing else branches on which.
"""

from __future__ import annotations

import datetime as dt
from bisect import bisect_right
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from operator import add, sub
from typing import NamedTuple, Protocol, TypeVar

from ssp_ledger.events import StaffAssigned
from ssp_ledger.projection import Series
from ssp_ledger_projections.staff_cost.rates import UnattributedRate, default_hourly_cost
from ssp_ledger_projections.staff_cost.state import DAY, StaffFacts

__all__ = [
    "COLUMNS",
    "DEFAULT_HOURLY_COST_PENCE",
    "MEASURES",
    "NONE_LABEL",
    "UNATTRIBUTED",
    "Columns",
    "CostSummary",
    "Costing",
    "Figures",
    "PieceCosting",
    "Sums",
    "Tags",
    "default_hourly_cost",
    "label",
]

DEFAULT_HOURLY_COST_PENCE = 2500
"""The flat hourly cost unattributed staff time had before it became the dated, cited parameter
``cost.UNATTRIBUTED`` (:mod:`.rates`): pass it as ``default_hourly_cost_pence`` to reproduce
figures of those releases. Nothing uses it by default any more."""
UNATTRIBUTED = "UNATTRIBUTED"
"""Role label of minutes that no assignment covers."""
NONE_LABEL = "none"
"""Group label for a missing stream, school or staff member."""

_K = TypeVar("_K", bound=Hashable)
_new = tuple.__new__
"""``_new(Figures, values)``: what ``Figures._make`` does, without its checks or the keyword
handling of ``Figures(...)`` (several times faster, on the path of every cached answer)."""


def label(value: str | None) -> str:
    """A group label: the value, or :data:`NONE_LABEL` when missing or empty."""
    return value if value else NONE_LABEL


# --------------------------------------------------------------------------- figures


class Figures(NamedTuple):
    """The additive figures of a report row (money in pence)."""

    release_minutes: int = 0
    """Minutes of recurring release time."""
    activity_minutes: int = 0
    """Minutes spent on recorded activities."""
    funded_minutes: int = 0
    """Minutes paid for by a funding stream with a level above 0."""
    hidden_minutes: int = 0
    """Minutes carried in salary budgets (no stream, stream at 0, or unattributed)."""
    funded_pence: int = 0
    """Cost of the funded minutes."""
    hidden_pence: int = 0
    """Cost of the hidden minutes."""
    total_pence: int = 0
    """funded_pence + hidden_pence."""
    attendances: int = 0
    """Participants of clubs and competitions."""

    def plus(self, other: Figures) -> Figures:
        """The figures of two rows added."""
        return _new(Figures, map(add, self, other))


MEASURES: tuple[str, ...] = Figures._fields
"""Additive figures of a row, in column order."""
_AT = MEASURES.index("funded_pence") + 1
COLUMNS: tuple[str, ...] = (*MEASURES[:_AT], "covered_pence", *MEASURES[_AT:],
                            "cost_per_attendance_pence")
"""Columns after the group label: the measures, with ``covered_pence`` (the part of the funded
cost the funding received covers, :mod:`.covered`; not additive, so not a measure) after
``funded_pence``, and the cost per attendance."""


class Columns(NamedTuple):
    """Staff-time figures split by funded status: what one costing answers for a range."""

    release_funded: int = 0
    release_hidden: int = 0
    activity_funded: int = 0
    activity_hidden: int = 0
    pence_funded: int = 0
    pence_hidden: int = 0
    attendances_funded: int = 0
    attendances_hidden: int = 0

    def plus(self, other: Columns) -> Columns:
        """Both added."""
        return _new(Columns, map(add, self, other))

    def minus(self, other: Columns) -> Columns:
        """``other`` subtracted (the figures of a range from two cumulative ones)."""
        return _new(Columns, map(sub, self, other))

    def total(self) -> Figures:
        """The row of every piece, funded or hidden."""
        (release_f, release_h, activity_f, activity_h, pence_f, pence_h, seen_f,
         seen_h) = self
        return _new(Figures, (  # in Figures' field order
            release_f + release_h,  # release_minutes
            activity_f + activity_h,  # activity_minutes
            release_f + activity_f,  # funded_minutes
            release_h + activity_h,  # hidden_minutes
            pence_f,  # funded_pence
            pence_h,  # hidden_pence
            pence_f + pence_h,  # total_pence
            seen_f + seen_h,  # attendances
        ))

    def split(self) -> dict[str, Figures]:
        """The ``funded`` and ``hidden`` rows."""
        return {
            "funded": Figures(
                release_minutes=self.release_funded, activity_minutes=self.activity_funded,
                funded_minutes=self.release_funded + self.activity_funded,
                funded_pence=self.pence_funded, total_pence=self.pence_funded,
                attendances=self.attendances_funded),
            "hidden": Figures(
                release_minutes=self.release_hidden, activity_minutes=self.activity_hidden,
                hidden_minutes=self.release_hidden + self.activity_hidden,
                hidden_pence=self.pence_hidden, total_pence=self.pence_hidden,
                attendances=self.attendances_hidden),
        }


ZERO = Columns()
"""Nothing."""


class Sums:
    """A running :class:`Columns`, costed piece by piece."""

    __slots__ = Columns._fields

    def __init__(self) -> None:
        for name in Columns._fields:
            setattr(self, name, 0)

    def add(self, release: int, activity: int, pence: int, attendances: int, *,
            funded: bool) -> None:
        """Add one costed piece: release and activity minutes, their pence, attendances."""
        if funded:
            self.release_funded += release
            self.activity_funded += activity
            self.pence_funded += pence
            self.attendances_funded += attendances
        else:
            self.release_hidden += release
            self.activity_hidden += activity
            self.pence_hidden += pence
            self.attendances_hidden += attendances

    def columns(self) -> Columns:
        """The sums so far."""
        return Columns(self.release_funded, self.release_hidden, self.activity_funded,
                       self.activity_hidden, self.pence_funded, self.pence_hidden,
                       self.attendances_funded, self.attendances_hidden)

    release_funded: int
    release_hidden: int
    activity_funded: int
    activity_hidden: int
    pence_funded: int
    pence_hidden: int
    attendances_funded: int
    attendances_hidden: int


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
        """Build from the additive figures in :data:`MEASURES` order (e.g. a :class:`Figures`)."""
        f = Figures._make(sums)
        return cls(**f._asdict(),
                   cost_per_attendance_pence=(f.total_pence // f.attendances
                                              if f.attendances else None))


class Tags(NamedTuple):
    """Group labels of one costed piece (field names are the grouping names)."""

    role: str
    school: str
    funding_stream: str
    staff: str
    funded: str


# --------------------------------------------------------------------------- the interface


class Costing(Protocol):
    """One partnership's staff-time costs at one unattributed rate (a step function of the
    date, :class:`~.rates.UnattributedRate`), as a report reads them."""

    def between(self, start: dt.date | None, end: dt.date) -> Columns:
        """Figures over ``[start, end]`` (``start`` None: from the beginning)."""
        ...

    def periods(self, starts: Sequence[dt.date], end: dt.date) -> list[Columns]:
        """Figures over consecutive ranges: ``[starts[k], starts[k + 1] - 1]``, the last one
        through ``end`` (``starts`` ascending, not empty, ``starts[-1] <= end``)."""
        ...


# --------------------------------------------------------------------------- piece by piece


class PieceCosting:
    """:class:`Costing` by costing every piece of every timeline of a partnership: O(pieces)
    per answer, the reference the cumulative tables are tested against; also the one costing
    that groups by role, school, stream or staff member (:meth:`grouped`)."""

    __slots__ = ("_facts", "_pid", "_rate")

    def __init__(self, facts: StaffFacts, pid: str, rate: UnattributedRate) -> None:
        self._facts = facts
        self._pid = pid
        self._rate = rate

    def between(self, start: dt.date | None, end: dt.date) -> Columns:
        """See :meth:`Costing.between`."""
        found = self._collect(start, end, lambda _t, _d: 0)
        return found[0].columns() if found else ZERO

    def periods(self, starts: Sequence[dt.date], end: dt.date) -> list[Columns]:
        """See :meth:`Costing.periods`: one pass, pieces cut at the period starts."""

        def period_of(_tags: Tags, day: dt.date | None) -> int:
            return 0 if day is None else bisect_right(starts, day) - 1

        found = self._collect(starts[0], end, period_of, starts[1:])
        return [found[k].columns() if k in found else ZERO for k in range(len(starts))]

    def grouped(self, by: str, start: dt.date | None, end: dt.date) -> dict[str, Columns]:
        """Figures by group of grouping ``by`` (a :class:`Tags` field) over ``[start, end]``."""
        found = self._collect(start, end, lambda t, _d: str(getattr(t, by)))
        return {group: sums.columns() for group, sums in found.items()}

    def _collect(self, start: dt.date | None, end: dt.date,
                 label_of: Callable[[Tags, dt.date | None], _K],
                 cuts: Sequence[dt.date] = ()) -> dict[_K, Sums]:
        """Cost every piece of every timeline inside ``[start, end]`` into ``out[key]``.

        Pieces are cut at funding changes and at ``cuts`` (period starts); ``label_of`` keys a
        piece by its tags and first day.
        """
        facts, pid = self._facts, self._pid
        out: dict[_K, Sums] = {}
        for staff in facts.staff_of(pid):
            series = facts.series_of(pid, staff)
            for seg in self._rate.cut_gaps(facts.timeline(pid, staff)):
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
                    self._cost_gap(staff, seg.start, [lo, *inner], hi, series, label_of, out)
                else:
                    assert lo is not None  # an assignment always has a start
                    self._cost_assignment(staff, seg.assignment, lo, inner, hi, series,
                                          label_of, out)
        return out

    def _cost_gap(self, staff: str, anchor: dt.date | None, bounds: list[dt.date | None],
                  hi: dt.date, series: Mapping[str, Series],
                  label_of: Callable[[Tags, dt.date | None], _K], out: dict[_K, Sums]) -> None:
        """Unattributed minutes of one gap of one rate (anchored at its first day),
        piece by piece (``bounds``: first days of pieces)."""
        rate = self._rate.at(anchor)
        lasts = [*(b - DAY for b in bounds[1:] if b is not None), hi]
        for school, s in series.items():
            tags = Tags(UNATTRIBUTED, label(school), NONE_LABEL, label(staff), "hidden")
            cum = _Cumulative(s, anchor)
            prev_m, prev_a = cum.at(None if bounds[0] is None else bounds[0] - DAY)
            if len(lasts) > 1 and cum.at(hi) == (prev_m, prev_a):
                continue  # nothing in this gap at this school: skip its pieces
            for first, last in zip(bounds, lasts, strict=True):
                cur_m, cur_a = cum.at(last)
                _sums(out, label_of(tags, first)).add(
                    0, cur_m - prev_m, cur_m * rate // 60 - prev_m * rate // 60, cur_a - prev_a,
                    funded=False)
                prev_m, prev_a = cur_m, cur_a

    def _cost_assignment(self, staff: str, a: StaffAssigned, lo: dt.date,
                         cuts: Sequence[dt.date], hi: dt.date, series: Mapping[str, Series],
                         label_of: Callable[[Tags, dt.date | None], _K],
                         out: dict[_K, Sums]) -> None:
        """Release and activity minutes of one assignment over ``[lo, hi]``, piece by piece."""
        facts = self._facts
        rate = a.hourly_cost_pence
        stream = label(a.funding_stream)
        staff_label = label(staff)
        levels = facts.stream_of(self._pid, a)
        # Pieces of constant funded status (cut at the stream's changes) and period.
        changes = levels.changes_in(lo, hi) if levels is not None else []
        bounds = sorted({lo, *changes, *cuts}) if changes and cuts else [lo, *changes, *cuts]
        lasts = [*(b - DAY for b in bounds[1:]), hi]
        funded = [levels is not None and levels.level(b) > 0 for b in bounds]
        status = ["funded" if f else "hidden" for f in funded]
        prev_f = facts.release_upto(a, lo - DAY)
        for k, last in enumerate(lasts):
            cur_f = facts.release_upto(a, last)
            tags = Tags(a.role, label(a.school_id), stream, staff_label, status[k])
            _sums(out, label_of(tags, bounds[k])).add(
                cur_f - prev_f, 0, cur_f * rate // 60 - prev_f * rate // 60, 0, funded=funded[k])
            prev_f = cur_f
        for school, s in series.items():
            cum = _Cumulative(s, a.occurred_on)
            prev_m, prev_a = cum.at(lo - DAY)
            if len(lasts) > 1 and cum.at(hi) == (prev_m, prev_a):
                continue  # no activity at this school in [lo, hi]: every piece would be zero
            school_label = label(school)
            for k, last in enumerate(lasts):
                cur_m, cur_a = cum.at(last)
                tags = Tags(a.role, school_label, stream, staff_label, status[k])
                _sums(out, label_of(tags, bounds[k])).add(
                    0, cur_m - prev_m, cur_m * rate // 60 - prev_m * rate // 60, cur_a - prev_a,
                    funded=funded[k])
                prev_m, prev_a = cur_m, cur_a


def _sums(out: dict[_K, Sums], key: _K) -> Sums:
    found = out.get(key)
    if found is None:
        found = out[key] = Sums()
    return found


class _Cumulative:
    """Sums (minutes, attendances) of one series from an anchor day (None: the beginning)
    through any later day."""

    __slots__ = ("_anchor", "_base", "_series")

    def __init__(self, series: Series, anchor: dt.date | None) -> None:
        self._series = series
        self._anchor = anchor
        self._base: tuple[int, ...] | None = None if anchor is not None else (0, 0)

    def at(self, day: dt.date | None) -> tuple[int, int]:
        """Sums over ``[anchor, day]`` (zeros when ``day`` is None or before the anchor)."""
        if day is None or (self._anchor is not None and day < self._anchor):
            return (0, 0)
        if self._base is None:
            assert self._anchor is not None
            self._base = self._series.upto(self._anchor - DAY)
        upto = self._series.upto(day)
        return (upto[0] - self._base[0], upto[1] - self._base[1])
