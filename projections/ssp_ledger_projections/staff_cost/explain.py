"""Explaining a staff-cost figure: what each fact contributed to one row of a report.

An assignment contributes the release time of its own pieces in the row; an activity fact its
minutes and attendances and, as its cost, the *step* it makes in the cumulative cost of its
segment and school (the facts of one day taken in event-id order, see
:attr:`~.state.StaffFacts.same_day`). Both are the terms the report sums (:mod:`.costing`), so
the contributions add up to every row exactly, pence included: no rounding tolerance. Funding
changes and releases that decide a piece of the row (funded or hidden; where an assignment ends)
are listed with an empty mapping.

Rows with a ``covered_pence`` figure (the total, period rows, stream rows and the funded split)
explain it on the side that binds (:mod:`.covered`): where a partnership's stream received at
least its funded cost over the row's days, each staff fact adds its funded pence of that stream;
where it received less, each ``FundingChanged`` of the stream adds the money it paid over those
days (with zeros for the other measures), and the staff facts add 0. An unattributed activity
fact also states the hourly rate it was costed at, ``default_hourly_cost_pence`` (a rate, not a
contribution: it does not sum).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import NamedTuple

from ssp_ledger.events import (
    CorrectableEvent,
    FundingChanged,
    StaffAssigned,
    StaffReleased,
)
from ssp_ledger.periods import parse_period
from ssp_ledger.projection import Fact, Query
from ssp_ledger_projections.staff_cost.costing import (
    MEASURES,
    NONE_LABEL,
    UNATTRIBUTED,
    Sums,
    Tags,
    label,
)
from ssp_ledger_projections.staff_cost.covered import Coverage
from ssp_ledger_projections.staff_cost.rates import (
    QUERY_PARAMETER,
    UnattributedRate,
    unattributed_rate,
)
from ssp_ledger_projections.staff_cost.state import DAY, Activity, Segment, StaffFacts, activity_of

__all__ = ["COVERED", "explain_fact"]

COVERED = "covered_pence"
"""The column of the covered figure (not one of the additive measures)."""


@dataclass(frozen=True, slots=True)
class _Scope:
    """What one row of a report covers."""

    start: dt.date | None
    """First day (None: from the beginning)."""
    end: dt.date
    """Last day."""
    by: str | None
    """Tag a piece must carry ``group`` in (None: every piece in the range is in the row)."""
    group: str
    """The row's label."""
    rate: UnattributedRate
    """Hourly cost of unattributed minutes."""
    coverage: Coverage | None
    """Where the row has a ``covered_pence`` figure, what it is read from; else None."""

    def contains(self, day: dt.date) -> bool:
        """Whether ``day`` is in the range."""
        return day <= self.end and (self.start is None or day >= self.start)

    def clip(self, seg: Segment) -> tuple[dt.date, dt.date] | None:
        """The days of an assignment segment inside the range, or None."""
        assert seg.start is not None  # an assignment always has a start
        lo = seg.start if self.start is None else max(seg.start, self.start)
        hi = self.end if seg.end is None else min(seg.end, self.end)
        return (lo, hi) if lo <= hi else None

    def matches(self, tags: Tags) -> bool:
        """Whether a piece with these tags goes to the row."""
        return self.by is None or str(getattr(tags, self.by)) == self.group


class _Piece(NamedTuple):
    """A stretch of an assignment of one funded status."""

    first: dt.date
    last: dt.date
    change: FundingChanged | None
    """The level in force on it (None: no stream or before its first change)."""
    tags: Tags


def explain_fact(facts: StaffFacts, coverage: Coverage, groupings: Sequence[str], query: Query,
                 group: str, fact: Fact) -> Mapping[str, int] | None:
    """What ``fact`` contributed to row ``group`` of the staff-time report of ``query``.

    See :meth:`ssp_ledger_projections.staff_time_cost.StaffTimeCost.explain_fact`.
    """
    event = fact.event
    if query.partnership_id is not None and event.partnership_id != query.partnership_id:
        return None
    scope = _scope(query, group, groupings, coverage)
    if scope is None:
        return None
    if isinstance(event, StaffAssigned):
        return _explain_assignment(facts, scope, event)
    if isinstance(event, StaffReleased):
        return _explain_release(facts, scope, event)
    if isinstance(event, FundingChanged):
        return _explain_funding(facts, scope, event)
    found = activity_of(event)
    if found is None:
        return None
    return _explain_activity(facts, scope, event, found)


def _scope(query: Query, group: str, groupings: Sequence[str], coverage: Coverage
           ) -> _Scope | None:
    start, end = query.window
    kind = query.period_kind
    by: str | None = None
    if group != "total":
        if kind is not None:
            chosen = parse_period(group)
            start = chosen.start if start is None else max(start, chosen.start)
            end = min(end, chosen.end)
        elif query.by in groupings:
            by = query.by
        else:
            return None  # no such row
    if start is not None and end < start:
        return None
    covered = by is None or by in ("funding_stream", "funded")
    return _Scope(start, end, by, group, unattributed_rate(query),
                  coverage if covered else None)


def _covered(scope: _Scope, pid: str, stream: str | None, funded_pence: int) -> int:
    """What staff facts with ``funded_pence`` of ``stream`` in the row add to its covered
    figure: all of it where the stream's funded cost binds, nothing where its money does."""
    if not funded_pence or stream is None or scope.coverage is None:
        return 0
    pair = scope.coverage.pair(pid, stream, scope.start, scope.end)
    return 0 if pair.funding_binds else funded_pence


def _row(sums: Sums, scope: _Scope, pid: str, stream: str | None) -> dict[str, int]:
    """The measures of ``sums`` and, where the row has it, their covered pence."""
    out = sums.columns().total()._asdict()
    if scope.coverage is not None:
        out[COVERED] = _covered(scope, pid, stream, sums.pence_funded)
    return out


def _pieces(facts: StaffFacts, pid: str, a: StaffAssigned, lo: dt.date, hi: dt.date
            ) -> list[_Piece]:
    """The pieces of ``a`` over ``[lo, hi]`` the costing costs, without period cuts (a period
    row's range lies inside its period, and cuts inside a status do not change the sums of
    differences)."""
    levels = facts.stream_of(pid, a)
    bounds = [lo, *levels.changes_in(lo, hi)] if levels is not None else [lo]
    lasts = [*(b - DAY for b in bounds[1:]), hi]
    out: list[_Piece] = []
    for first, last in zip(bounds, lasts, strict=True):
        change = levels.in_force(first) if levels is not None else None
        status = "funded" if change is not None and change.annual_amount_pence > 0 else "hidden"
        tags = Tags(a.role, label(a.school_id), label(a.funding_stream), label(a.staff_id),
                    status)
        out.append(_Piece(first, last, change, tags))
    return out


def _in_row(facts: StaffFacts, scope: _Scope, pid: str, a: StaffAssigned, piece: _Piece) -> bool:
    """Whether a piece of assignment ``a`` puts anything in the row: its release time, or
    (grouping by school) activity minutes at the row's school costed at its terms."""
    if scope.matches(piece.tags):
        return True
    if scope.by != "school":
        return False
    return any(label(school) == scope.group and any(s.between(piece.first, piece.last))
               for school, s in facts.series_of(pid, a.staff_id).items())


def _explain_assignment(facts: StaffFacts, scope: _Scope, a: StaffAssigned
                        ) -> dict[str, int] | None:
    pid = a.partnership_id
    seg = next((s for s in facts.timeline(pid, a.staff_id)
                if s.assignment is not None and s.assignment.event_id == a.event_id), None)
    if seg is None:
        return None  # superseded on its own date: it never ran
    span = scope.clip(seg)
    if span is None:
        return None
    lo, hi = span
    rate = a.hourly_cost_pence
    row: Sums | None = None
    shaped = False
    prev = facts.release_upto(a, lo - DAY)
    for piece in _pieces(facts, pid, a, lo, hi):
        cur = facts.release_upto(a, piece.last)
        if scope.matches(piece.tags):
            row = row or Sums()
            row.add(cur - prev, 0, cur * rate // 60 - prev * rate // 60, 0,
                    funded=piece.tags.funded == "funded")
        elif not shaped:
            shaped = _in_row(facts, scope, pid, a, piece)
        prev = cur
    if row is not None:
        return _row(row, scope, pid, a.funding_stream)
    return {} if shaped else None


def _explain_release(facts: StaffFacts, scope: _Scope, r: StaffReleased
                     ) -> dict[str, int] | None:
    if not scope.contains(r.occurred_on):
        return None
    pid = r.partnership_id
    timeline = facts.timeline(pid, r.staff_id)
    for k, seg in enumerate(timeline):
        a = seg.assignment
        # Ended by a release (not by the next assignment): a gap follows.
        if (a is None or seg.end != r.occurred_on
                or (k + 1 < len(timeline) and timeline[k + 1].assignment is not None)):
            continue
        span = scope.clip(seg)
        if span is None:
            return None
        last = _pieces(facts, pid, a, *span)[-1]
        return {} if _in_row(facts, scope, pid, a, last) else None
    return None


def _explain_funding(facts: StaffFacts, scope: _Scope, f: FundingChanged
                     ) -> dict[str, int] | None:
    pid = f.partnership_id
    paid = _paid(facts, scope, f)
    if paid:
        return dict.fromkeys(MEASURES, 0) | {COVERED: paid}
    for staff in sorted(facts.assignments.get(pid, {})):
        for seg in facts.timeline(pid, staff):
            a = seg.assignment
            if a is None or a.funding_stream != f.funding_stream:
                continue
            span = scope.clip(seg)
            if span is None:
                continue
            for piece in _pieces(facts, pid, a, *span):
                if (piece.change is not None and piece.change.event_id == f.event_id
                        and _in_row(facts, scope, pid, a, piece)):
                    return {}
    return None


def _explain_activity(facts: StaffFacts, scope: _Scope, event: CorrectableEvent,
                      found: Activity) -> dict[str, int] | None:
    day = event.occurred_on
    if not scope.contains(day):
        return None
    pid = event.partnership_id
    staff, school = found.staff, found.school
    seg = next(s for s in scope.rate.cut_gaps(facts.timeline(pid, staff))
               if (s.start is None or s.start <= day) and (s.end is None or day <= s.end))
    a = seg.assignment
    if a is None:
        rate, funded = scope.rate.at(seg.start), False
        tags = Tags(UNATTRIBUTED, label(school), NONE_LABEL, label(staff), "hidden")
    else:
        levels = facts.stream_of(pid, a)
        rate, funded = a.hourly_cost_pence, levels is not None and levels.level(day) > 0
        tags = Tags(a.role, label(school), label(a.funding_stream), label(staff),
                    "funded" if funded else "hidden")
    if not scope.matches(tags):
        return None
    # Minutes before this fact since the segment's start, facts of one day in event-id order:
    # costing each fact as the step of the cumulative cost makes the facts of a piece add up
    # to the piece's cost exactly.
    before = facts.series_of(pid, staff)[school].between(seg.start, day - DAY)[0]
    if found.minutes:
        before += facts.minutes_earlier_that_day(pid, staff, school, event)
    row = Sums()
    row.add(0, found.minutes, (before + found.minutes) * rate // 60 - before * rate // 60,
            found.attendances, funded=funded)
    out = _row(row, scope, pid, None if a is None else a.funding_stream)
    if a is None:
        out[QUERY_PARAMETER] = rate  # the rate it was costed at: stated, not summed
    return out


def _paid(facts: StaffFacts, scope: _Scope, f: FundingChanged) -> int:
    """What a funding change adds to the row's covered figure: the money it paid over the row's
    days where its stream's money binds (received less than the funded cost), else 0."""
    if scope.coverage is None or (scope.group == "hidden" and scope.by == "funded"):
        return 0
    if scope.by == "funding_stream" and f.funding_stream != scope.group:
        return 0
    pid = f.partnership_id
    levels = facts.funding_levels.stream(pid, f.funding_stream)
    span = levels.span(f) if levels is not None else None
    if levels is None or span is None:
        return 0
    if not scope.coverage.pair(pid, f.funding_stream, scope.start, scope.end).funding_binds:
        return 0
    first, last = span
    lo = first if scope.start is None else max(first, scope.start)
    hi = scope.end if last is None else min(last, scope.end)
    return levels.received(lo, hi)
