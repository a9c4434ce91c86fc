"""Funding: the annual level of each stream in force, money received, and the funding gap.

Levels come from ``FundingChanged`` facts: the level of a stream on day ``d`` is the
``annual_amount_pence`` of the latest change of that stream (same partnership) dated on or before
``d``; before the first change it is 0. Money received over a window integrates the level over its
days on a 365-day year: ``sum(level * days) // 365`` where 29 February is not counted, computed as a
difference of the cumulative amount so that consecutive periods add up to the whole. Twelve
consecutive months at a constant level therefore receive exactly the annual amount, leap year or
not.

The funding gap compares this with the staff-time cost over the same window, read from a
:class:`~ssp_ledger_projections.staff_time_cost.StaffTimeCost` (which also indexes the
``FundingChanged`` facts the levels come from); ``funding_gap_pence = staff_cost_pence -
received_pence``. Which one:

* in a :class:`~ssp_ledger.projection.ProjectionSet` that also has ``staff_time_cost``, the set
  calls :meth:`Funding.attach` with its projections and Funding reads that one: the set feeds it
  every fact, so Funding keeps no state of its own and costs nothing to update;
* used alone (no such sibling, or ``attach`` never called), Funding owns a private
  StaffTimeCost and feeds it every fact itself.

Checkpoints (:meth:`Funding.dump_state`): an attached Funding keeps no state of its own, so it
dumps an empty versioned :class:`FundingState` (the shared StaffTimeCost is checkpointed under its
own name, and the set attaches the restored Funding to it before loading); a standalone Funding
dumps its private StaffTimeCost's state inside its own. Loading the state of the other kind
(attached into standalone, or the reverse) raises ValueError: the set's projections differ from
the ones that made the checkpoint.

:meth:`Funding.explain_fact` lists the changes behind a row (what each received while in force,
the level of the one in force on the row's last day) and, on period and total rows, the staff-time
facts behind the cost as :class:`StaffTimeCost` explains them. The sums are exact.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import replace
from typing import ClassVar

import msgspec

from ssp_ledger.events import CorrectableEvent, FundingChanged
from ssp_ledger.periods import parse_period, periods_between
from ssp_ledger.projection import Cell, Fact, Query, Table
from ssp_ledger_projections.staff_time_cost import StaffTimeCost, default_hourly_cost

__all__ = ["COLUMNS", "STATE_VERSION", "Funding", "FundingState"]

STATE_VERSION = 1
"""Version of :class:`FundingState`; a checkpoint of another version is refused."""

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


class FundingState(msgspec.Struct, frozen=True, kw_only=True, tag="ssp-ledger/funding",
                   tag_field="format"):
    """What a Funding checkpoints: nothing of its own when attached."""

    version: int
    staff_time_cost: bytes | None
    """The private StaffTimeCost's state (None: attached, the set's sibling holds it)."""


_ENCODER = msgspec.msgpack.Encoder(order="deterministic")
_DECODER = msgspec.msgpack.Decoder(FundingState)


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
    parameters: ClassVar[tuple[str, ...]] = ("default_hourly_cost_pence",)
    """Query parameters it takes (:meth:`ssp_ledger.Ledger.report` refuses others)."""
    groupings: ClassVar[tuple[str, ...]] = ("funding_stream",)
    sibling: ClassVar[str] = "staff_time_cost"
    """Name of the projection :meth:`attach` looks for among the set's projections."""
    siblings: ClassVar[tuple[str, ...]] = (sibling,)
    """What it reads of its set (a set building projections when asked makes it too)."""

    def __init__(self) -> None:
        self._staff = StaffTimeCost()
        """The staff-time projection cost and funding levels are read from: a private one fed
        by :meth:`apply`, or the set's ``staff_time_cost`` once attached."""
        self._attached = False
        """Whether :attr:`_staff` is the set's (fed by the set, not by Funding)."""

    def attach(self, siblings: Mapping[str, object]) -> None:
        """Read staff cost and funding levels from the set's ``staff_time_cost`` projection.

        Called by :class:`~ssp_ledger.projection.ProjectionSet` with every projection of the set
        (by name) once they are built or restored, before any fact is applied to them, so the
        sibling has seen exactly the facts Funding has. When the set has one (a
        :class:`StaffTimeCost`), Funding drops its private copy and stops feeding it; otherwise
        it keeps working standalone. Raises RuntimeError when Funding was attached before and
        the set has no ``staff_time_cost`` any more: its private copy is gone, so it could only
        answer wrong figures.
        """
        shared = siblings.get(self.sibling)
        if isinstance(shared, StaffTimeCost):
            self._staff = shared
            self._attached = True
        elif self._attached:
            msg = (f"funding: was attached to a shared {self.sibling!r} projection, which this "
                   f"set does not have ({', '.join(sorted(siblings)) or 'no projections'})")
            raise RuntimeError(msg)

    @property
    def handles(self) -> tuple[type[CorrectableEvent], ...]:
        """Event classes Funding reacts to: none once attached (the set feeds the shared
        StaffTimeCost), else those its private StaffTimeCost needs."""
        return () if self._attached else StaffTimeCost.handles

    @property
    def staff(self) -> StaffTimeCost:
        """The staff-time projection cost and funding levels are read from (shared or own)."""
        return self._staff

    def dump_state(self) -> bytes:
        """A :class:`FundingState`: empty when attached (all its state is the sibling's), else
        with the private StaffTimeCost's :meth:`~StaffTimeCost.dump_state` bytes."""
        own = None if self._attached else self._staff.dump_state()
        return _ENCODER.encode(FundingState(version=STATE_VERSION, staff_time_cost=own))

    def load_state(self, data: bytes) -> None:
        """Take the state of :meth:`dump_state` bytes, on a fresh instance already attached (or
        not) as the one that dumped them; ValueError otherwise or on malformed bytes."""
        state = _DECODER.decode(data)
        if state.version != STATE_VERSION:
            msg = f"funding state version {state.version} is not {STATE_VERSION}"
            raise ValueError(msg)
        if (state.staff_time_cost is None) != self._attached:
            made = "attached to" if state.staff_time_cost is None else "without"
            now = "is" if self._attached else "is not"
            msg = (f"funding: the checkpoint was made {made} a shared {self.sibling!r} "
                   f"projection and this one {now} attached to one")
            raise ValueError(msg)
        if state.staff_time_cost is not None:
            self._staff.load_state(state.staff_time_cost)

    def read_state(self) -> None:
        """Read a loaded private StaffTimeCost's facts now (see :meth:`StaffTimeCost.read_state
        <ssp_ledger_projections.staff_time_cost.StaffTimeCost.read_state>`); nothing when
        attached (the set reads its sibling)."""
        if not self._attached:
            self._staff.read_state()

    def apply(self, fact: Fact) -> None:
        """Add the effect of a fact: fed to the private StaffTimeCost when standalone (it also
        indexes FundingChanged facts); nothing to do when attached (the set feeds the shared
        one)."""
        if not self._attached:
            self._staff.apply(fact)

    def retract(self, fact: Fact) -> None:
        """Remove the effect of a fact previously applied (see :meth:`apply`)."""
        if not self._attached:
            self._staff.retract(fact)

    def explain_fact(self, query: Query, group: str, fact: Fact) -> Mapping[str, int] | None:
        """What ``fact`` contributed to row ``group`` of ``report(query)``, or None.

        * ``FundingChanged`` (stream rows, period rows and ``total``): for a change in force on
          some day of the row's range, ``received_pence`` over the days it is in force there,
          ``level_in_force_pence`` (its level if it is the change in force on the row's last day,
          else 0) and, where the row has it, ``funding_gap_pence`` (minus what it received);
        * staff-time facts (period rows and ``total``): ``staff_cost_pence`` and
          ``funding_gap_pence``, the ``total_pence`` the
          :class:`~ssp_ledger_projections.staff_time_cost.StaffTimeCost` explains for the same
          range; facts that only shape the cost (a release, a level deciding funded or hidden)
          are listed with what they received, or with an empty mapping.

        Every sum is exact: received money is the step of the cumulative ``level_days // 365``
        over each change's days, the same difference the report takes, so the steps of
        consecutive changes add up to the report's figure without rounding loss.
        """
        event = fact.event
        if query.partnership_id is not None and event.partnership_id != query.partnership_id:
            return None
        start, end = query.window
        kind = query.period_kind
        stream_row = group != "total" and kind is None
        if kind is not None and group != "total":
            chosen = parse_period(group)
            start = chosen.start if start is None else max(start, chosen.start)
            end = min(end, chosen.end)
        values: dict[str, int] | None = None
        if isinstance(event, FundingChanged) and (not stream_row
                                                   or event.funding_stream == group):
            values = self._received(event, start, end, gap=not stream_row)
        if not stream_row:
            cost_query = query if kind is not None else replace(query, by=None)
            part = self.staff.explain_fact(cost_query, group, fact)
            if part is not None:
                values = {} if values is None else values
                if part:
                    cost = part["total_pence"]
                    values["staff_cost_pence"] = cost
                    values["funding_gap_pence"] = values.get("funding_gap_pence", 0) + cost
        return values

    def _received(self, event: FundingChanged, start: dt.date | None, end: dt.date, *,
                  gap: bool) -> dict[str, int] | None:
        """Level and money a change contributes to a row over ``[start, end]``, or None when it
        is neither in force on ``end`` nor on any day of the range."""
        levels = self.staff.funding_levels.stream(event.partnership_id, event.funding_stream)
        span = levels.span(event) if levels is not None else None
        if levels is None or span is None:
            return None
        first, last = span
        lo = first if start is None else max(first, start)
        hi = end if last is None else min(last, end)
        in_force = first <= end and (last is None or end <= last)
        if hi < lo and not in_force:
            return None
        received = levels.received(lo, hi)  # 0 when hi < lo
        values = {
            "level_in_force_pence": event.annual_amount_pence if in_force else 0,
            "received_pence": received,
        }
        if gap:
            values["funding_gap_pence"] = -received
        return values

    def report(self, query: Query) -> Table:
        """Stream (or period) rows then a ``total`` row; see the class docstring for columns.

        Raises ValueError for an unknown grouping.
        """
        start, end = query.window
        kind = query.period_kind
        query.check_grouping(self.name, self.groupings)
        rate = default_hourly_cost(query)
        pid = query.partnership_id
        levels = self.staff.funding_levels.table(pid)  # every stream at once

        rows: list[tuple[Cell, ...]] = []
        cost_total: int | None = None
        if kind is not None:
            lo = start
            if lo is None:
                firsts = [d for d in (levels.first, self.staff.first_day(pid)) if d is not None]
                lo = min(firsts) if firsts else None
            if lo is not None and lo <= end:
                costs = self.staff.cost_by_period(kind, lo, end, partnership_id=pid,
                                                  default_hourly_cost_pence=rate)
                periods = periods_between(kind, lo, end)
                spans = [(max(p.start, lo), min(p.end, end)) for p in periods]
                in_force = levels.levels([b for _, b in spans])
                received = levels.received(spans)
                # The periods cover [lo, end] and nothing costs before lo: their costs add up
                # to the window's (cost_by_period's contract), so one look-up answers both.
                cost_total = sum(c.total_pence for c in costs.values())
                for period, level, got in zip(periods, in_force, received, strict=True):
                    cost = costs[period.label].total_pence
                    if rows or level or got or cost:  # leading empty periods left out
                        rows.append((period.label, level, got, None, None, None, cost,
                                     cost - got))
        else:
            for stream, (row, got) in levels.rows(start, end).items():
                rows.append((stream, row.level, got, row.since.isoformat(),
                             "; ".join(row.reasons), "; ".join(row.citations), None, None))
        level_total = levels.levels([end])[0]
        received_total = levels.received([(start, end)])[0]
        if cost_total is None:
            cost_total = self.staff.cost_between(start, end, partnership_id=pid,
                                                 default_hourly_cost_pence=rate).total_pence
        rows.append(("total", level_total, received_total, None, None, None, cost_total,
                     cost_total - received_total))
        return Table.answer(self.name, query, (kind or "funding_stream", *COLUMNS), rows)
