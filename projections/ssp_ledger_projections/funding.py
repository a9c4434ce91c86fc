"""Funding: the annual level of each stream in force, money received, and the funding gap.

Levels come from ``FundingChanged`` facts: the level of a stream on day ``d`` is the
``annual_amount_pence`` of the latest change of that stream (same partnership) dated on or before
``d``; before the first change it is 0. Money received over a window integrates the level over its
days on a 365-day year: ``sum(level * days) // 365`` where 29 February is not counted, computed as a
difference of the cumulative amount so that consecutive periods add up to the whole. Twelve
consecutive months at a constant level therefore receive exactly the annual amount, leap year or
not.

The funding gap compares this with the staff-time cost over the same window: Funding owns a
:class:`~ssp_ledger_projections.staff_time_cost.StaffTimeCost`, feeds it every fact and reads its
total; ``funding_gap_pence = staff_cost_pence - received_pence``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import ClassVar

from ssp_ledger.events import FundingChanged
from ssp_ledger.periods import periods_between
from ssp_ledger.projection import PERIOD_KINDS, Cell, Fact, Query, Table
from ssp_ledger_projections.staff_time_cost import (
    StaffTimeCost,
    StreamLevels,
    default_hourly_cost,
)

__all__ = ["COLUMNS", "Funding"]

COLUMNS: tuple[str, ...] = (
    "level_in_force_pence",
    "received_pence",
    "since",
    "reason",
    "citation",
    "staff_cost_pence",
    "funding_gap_pence",
)
"""Columns after the group label (``funding_stream``, or the period kind)."""


@dataclass
class _StreamRow:
    level: int = 0
    received: int = 0
    since: dt.date | None = None
    reasons: list[str] = field(default_factory=list)
    citations: list[str] = field(default_factory=list)

    def take(self, levels: StreamLevels, start: dt.date | None, end: dt.date) -> None:
        self.level += levels.level(end)
        self.received += levels.received(start, end)
        change: FundingChanged | None = levels.in_force(end)
        if change is not None:
            if self.since is None or change.occurred_on > self.since:
                self.since = change.occurred_on
            if change.reason and change.reason not in self.reasons:
                self.reasons.append(change.reason)
            if change.citation and change.citation not in self.citations:
                self.citations.append(change.citation)


class Funding:
    """Annual level in force per funding stream, cumulative money received and the funding gap.

    Rows (``by`` None or ``funding_stream``): one per stream known on the window's last day,
    sorted, with the level in force then, the money received over the window and the date, reason
    and citation of the change in force; then a ``total`` row with the summed level and received
    money, the staff-time cost over the window (``staff_cost_pence``) and ``funding_gap_pence``.
    With several partnerships a stream row sums them (latest ``since``; reasons and citations
    joined with "; "). ``by`` a period kind: one row per period (level at the period's last day,
    received, staff cost and gap within the period), then the ``total`` row.
    """

    name: ClassVar[str] = "funding"
    groupings: ClassVar[tuple[str, ...]] = ("funding_stream",)

    def __init__(self) -> None:
        self.staff = StaffTimeCost()
        """The staff-time projection Funding feeds and reads the cost from."""

    def apply(self, fact: Fact) -> None:
        """Add the effect of a fact (FundingChanged facts are indexed by the staff projection)."""
        self.staff.apply(fact)

    def retract(self, fact: Fact) -> None:
        """Remove the effect of a fact previously applied."""
        self.staff.retract(fact)

    def _levels(self, partnership_id: str | None) -> list[tuple[str, StreamLevels]]:
        """(stream name, levels) of every stream with a change, in the selected partnership(s)."""
        out: list[tuple[str, StreamLevels]] = []
        for pid, stream in self.staff.funding_levels.streams(partnership_id):
            levels = self.staff.funding_levels.stream(pid, stream)
            if levels is not None:
                out.append((stream, levels))
        return out

    def report(self, query: Query) -> Table:
        """Stream (or period) rows then a ``total`` row; see the class docstring for columns.

        Raises ValueError for an unknown grouping.
        """
        start, end = query.window
        kind = query.period_kind
        by = query.by
        if by is not None and kind is None and by not in self.groupings:
            choices = ", ".join((*self.groupings, *PERIOD_KINDS))
            msg = f"{self.name}: cannot group by {by!r}; choose one of {choices}"
            raise ValueError(msg)
        rate = default_hourly_cost(query)
        pid = query.partnership_id
        streams = self._levels(pid)

        def staff_cost(lo: dt.date | None, hi: dt.date) -> int:
            return self.staff.cost_between(lo, hi, partnership_id=pid,
                                           default_hourly_cost_pence=rate).total_pence

        rows: list[tuple[Cell, ...]] = []
        if kind is not None:
            lo = start
            if lo is None:
                firsts = [d for _, levels in streams if (d := levels.first_day()) is not None]
                staff_first = self.staff.first_day(pid)
                if staff_first is not None:
                    firsts.append(staff_first)
                lo = min(firsts) if firsts else None
            if lo is not None and lo <= end:
                costs = self.staff.cost_by_period(kind, lo, end, partnership_id=pid,
                                                  default_hourly_cost_pence=rate)
                for period in periods_between(kind, lo, end):
                    a, b = max(period.start, lo), min(period.end, end)
                    level = sum(levels.level(b) for _, levels in streams)
                    received = sum(levels.received(a, b) for _, levels in streams)
                    cost = costs[period.label].total_pence
                    if rows or level or received or cost:  # leading empty periods left out
                        rows.append((period.label, level, received, None, None, None, cost,
                                     cost - received))
        else:
            by_stream: dict[str, _StreamRow] = {}
            for stream, levels in streams:
                first = levels.first_day()
                if first is None or first > end:
                    continue  # not yet known on the window's last day
                by_stream.setdefault(stream, _StreamRow()).take(levels, start, end)
            for stream in sorted(by_stream):
                r = by_stream[stream]
                rows.append((
                    stream, r.level, r.received,
                    r.since.isoformat() if r.since is not None else None,
                    "; ".join(r.reasons), "; ".join(r.citations), None, None,
                ))
        level_total = sum(levels.level(end) for _, levels in streams)
        received_total = sum(levels.received(start, end) for _, levels in streams)
        cost_total = staff_cost(start, end)
        rows.append(("total", level_total, received_total, None, None, None, cost_total,
                     cost_total - received_total))
        return Table(
            projection=self.name,
            columns=(kind or "funding_stream", *COLUMNS),
            rows=tuple(rows),
            as_of=query.as_of,
            known_at=query.known_at,
            by=by,
            period=query.period.label if query.period else None,
        )
