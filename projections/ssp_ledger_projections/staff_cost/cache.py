"""Which costing answers a question, and the cumulative tables built so far.

Three kinds of cumulative table answer exactly as the piece-by-piece reference
(:class:`~.costing.PieceCosting`), each for one *scope*:

* a partnership's total, periods and funded split: its :class:`~.cumulative.CostTable`;
* a partnership's groups (``role``, ``school``, ``funding_stream``, ``staff``): a
  :class:`~.grouped.GroupedTable` of that partnership;
* every partnership together (a national report, ``partnership_id`` None, when more than one
  partnership is known): one :class:`~.grouped.GroupedTable` per grouping, and one with a single
  group for the total, periods and funded split, so a national answer does not visit each
  partnership.

A partnership's table is built on the :attr:`CumulativeCosts.tables_after`-th answer from it
since the last change of its scope (earlier answers are costed piece by piece, so a one-off
question, or a scope written to between every two questions, never pays for a table it does not
reuse); a national table one answer earlier (on the first with the default), since building it
from a walk (:mod:`.steps`) costs less than one national answer piece by piece. The walk of a
scope (its steps, at one rate) is kept too, so the tables of several groupings of one scope walk
the facts once; the covered figures read the national table by (partnership, stream),
:data:`~.steps.PAIRS`, all partnerships and ranges in one look-up. A fact
that moves staff time drops its partnership's tables and every national one
(:attr:`~.state.StaffFacts.derived`, :attr:`~.state.StaffFacts.derived_all`). Grouped tables
are built for one ``default_hourly_cost_pence`` each; a scope keeps the
:data:`TABLES_KEPT` most recent. Tables are caches: a checkpoint never holds one.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import numpy as np

from ssp_ledger_projections.staff_cost.costing import ZERO, Columns, Costing, PieceCosting
from ssp_ledger_projections.staff_cost.cumulative import (
    CostTable,
    TableCosting,
    build_table,
    unattributed_column,
)
from ssp_ledger_projections.staff_cost.grouped import (
    TOTAL,
    EveryGroupCosting,
    GroupedTable,
    table_of,
)
from ssp_ledger_projections.staff_cost.rates import UnattributedRate
from ssp_ledger_projections.staff_cost.state import StaffFacts
from ssp_ledger_projections.staff_cost.steps import (
    PAIRS,
    SCHOOLS,
    Walk,
    pair_label,
    planned,
    walk,
    walk_planned,
)

__all__ = ["TABLES_KEPT", "CumulativeCosts"]

_SAFE = 1 << 60
"""Figures at or beyond this magnitude are summed as Python integers (see
:meth:`CumulativeCosts.grouped_columns`)."""

TABLES_KEPT = 8
"""Grouped tables (grouping x rate) a scope keeps; the oldest is forgotten first."""

_Key = tuple[str | None, UnattributedRate]
"""(grouping or None for the total, unattributed rate) of a grouped table."""


class CumulativeCosts:
    """Which :class:`~.costing.Costing` answers for a scope, and the tables built."""

    def __init__(self, facts: StaffFacts) -> None:
        self._facts = facts
        self.tables_after = 2
        """Which answer from a table since its scope's last change builds it; earlier ones
        are costed piece by piece. Building one costs about as much as ten such answers."""
        self._tables: dict[str, CostTable] = {}
        self._misses: dict[str, int] = {}
        self._grouped: dict[str, dict[_Key, GroupedTable]] = {}
        self._grouped_misses: dict[str, dict[_Key, int]] = {}
        self._national: dict[_Key, GroupedTable] = {}
        self._national_misses: dict[_Key, int] = {}
        self._walks: dict[str, dict[UnattributedRate, Walk]] = {}
        self._national_walk: dict[UnattributedRate, Walk] = {}
        # Forgotten when a fact comes or goes: the partnership's, and every national one.
        facts.derived += (self._tables, self._misses, self._grouped, self._grouped_misses,
                          self._walks)
        facts.derived_all += (self._national, self._national_misses, self._national_walk)

    # ------------------------------------------------------------------ one partnership

    def costing(self, pid: str, rate: UnattributedRate) -> Costing:
        """The partnership's costing at unattributed rate ``rate``: its table, built on the
        :attr:`tables_after`-th call since its last change; piece by piece before."""
        table = self._tables.get(pid)
        if table is None:
            if not self._facts.knows(pid):
                return self.pieces(pid, rate)  # nothing to cost; unknown ids leave no trace
            misses = self._misses.get(pid, 0) + 1
            if misses < self.tables_after:
                self._misses[pid] = misses
                return self.pieces(pid, rate)
            self._misses.pop(pid, None)
            table = self._tables[pid] = build_table(self._facts, pid, rate)
        unattributed = table.unattributed(rate)
        if unattributed is None:
            unattributed = unattributed_column(self._facts, pid, table, rate)
        return TableCosting(table, unattributed)

    def pieces(self, pid: str, rate: UnattributedRate) -> PieceCosting:
        """The piece-by-piece costing (the reference)."""
        return PieceCosting(self._facts, pid, rate)

    # ------------------------------------------------------------------ any scope

    def costings(self, partnership_id: str | None, rate: UnattributedRate) -> list[Costing]:
        """Costings whose answers add up to the total (or periods, or funded split) of one
        partnership or, ``partnership_id`` None, of every one: the national table when built."""
        pids = self._facts.partnerships(partnership_id)
        if partnership_id is None and len(pids) > 1:
            key = (None, rate)
            pairs = self._national.get((PAIRS, rate))
            if pairs is not None and key not in self._national and key not in (
                    self._national_misses):
                # The first national total since the pair table was built sums its groups
                # (a cold report asks covered pence first); the next builds its own table.
                self._national_misses[key] = 1
                return [EveryGroupCosting(pairs)]
            table = self._table(None, None, rate, pids)
            if table is not None:
                return [table.group(TOTAL)]
        return [self.costing(pid, rate) for pid in pids]

    def grouped(self, partnership_id: str | None, by: str, rate: UnattributedRate,
                start: dt.date | None, end: dt.date) -> dict[str, Columns]:
        """Columns of every group of grouping ``by`` over ``[start, end]``, in one or every
        partnership (groups with nothing in the range may be present, with zeros)."""
        labels, rows = self.grouped_columns(partnership_id, by, rate, start, end)
        return {group: Columns._make(row) for group, row in zip(labels, rows.tolist(),
                                                                 strict=True)}

    def grouped_columns(self, partnership_id: str | None, by: str, rate: UnattributedRate,
                        start: dt.date | None, end: dt.date) -> tuple[list[str], np.ndarray]:
        """:meth:`grouped` as (sorted labels, an array ``[group, column]`` in
        :class:`~.costing.Columns` order): what a report of hundreds of groups reads without
        a Python object per group and figure (integers are Python ones where 8 bytes might
        not hold a figure or a sum of them)."""
        pids = self._facts.partnerships(partnership_id)
        scope = None if partnership_id is None and len(pids) > 1 else (
            pids[0] if pids else None)
        table = self._table(scope, by, rate, pids) if pids else None
        if table is not None:
            return table.labels, table.between_all(start, end)
        out: dict[str, Columns] = {}
        for pid in pids:
            for group, columns in self.pieces(pid, rate).grouped(by, start, end).items():
                held = out.get(group)
                out[group] = columns if held is None else held.plus(columns)
        labels = sorted(out)
        rows = [out[group] for group in labels]
        large = any(abs(v) >= _SAFE for row in rows for v in row)
        return labels, np.array(rows, dtype=object if large else np.int64).reshape(
            len(rows), len(Columns._fields))

    def every_group(self, by: str, rate: UnattributedRate,
                    ranges: Sequence[tuple[dt.date | None, dt.date]]
                    ) -> tuple[list[str], np.ndarray]:
        """(labels, an array ``[range, group, column]`` in :class:`~.costing.Columns` order;
        integers are Python ones where 8 bytes might not hold a figure) of grouping ``by`` over
        every partnership (a grouping such as :data:`~.steps.SCHOOLS` whose labels name the
        partnership), over each of ``ranges``: one look-up of one table of every partnership,
        even of one (piece by piece while tables wait, :attr:`tables_after`). Groups with
        nothing in a range may be present, with zeros."""
        pids = self._facts.partnerships(None)
        table = self._table(None, by, rate, pids) if pids else None
        if table is not None:
            return table.labels, table.ranges(ranges)
        found: list[dict[str, Columns]] = [{} for _ in ranges]
        of_school = by == SCHOOLS
        for pid in pids:
            pieces = self.pieces(pid, rate)
            for k, (start, end) in enumerate(ranges):
                for group, columns in pieces.grouped("school" if of_school else by, start,
                                                     end).items():
                    name = pair_label(pid, group) if of_school else group
                    held = found[k].get(name)
                    found[k][name] = columns if held is None else held.plus(columns)
        labels = sorted({name for groups in found for name in groups})
        rows = [[groups.get(name, ZERO) for name in labels] for groups in found]
        large = any(abs(v) >= _SAFE for row in rows for columns in row for v in columns)
        return labels, np.array(rows, dtype=object if large else np.int64).reshape(
            len(ranges), len(labels), len(Columns._fields))

    def pair_table(self, rate: UnattributedRate) -> GroupedTable | None:
        """The national table by (partnership, stream), :data:`~.steps.PAIRS`, if built or
        due (None: fewer than two partnerships, or still costed piece by piece)."""
        pids = self._facts.partnerships(None)
        return self._table(None, PAIRS, rate, pids) if len(pids) > 1 else None

    def _table(self, scope: str | None, by: str | None, rate: UnattributedRate,
               pids: list[str]) -> GroupedTable | None:
        """The grouped table of ``scope`` (a partnership, or None: all of ``pids``), if built or
        due; None while the scope's answers are still costed piece by piece."""
        key = (by, rate)
        if scope is None:
            tables, misses = self._national, self._national_misses
            due = max(1, self.tables_after - 1)
        else:
            if not self._facts.knows(scope):
                return None  # nothing to cost; unknown ids leave no trace
            tables = self._grouped.setdefault(scope, {})
            misses = self._grouped_misses.setdefault(scope, {})
            due = self.tables_after
        table = tables.get(key)
        if table is not None:
            return table
        missed = misses.get(key, 0) + 1
        if missed < due:
            misses[key] = missed
            return None
        misses.pop(key, None)
        if len(tables) >= TABLES_KEPT:
            tables.pop(next(iter(tables)))
        table = tables[key] = table_of(self._walk(scope, rate, pids), by, self._facts.calendar)
        return table

    def _walk(self, scope: str | None, rate: UnattributedRate, pids: list[str]) -> Walk:
        """The steps of ``scope`` at ``rate`` (the last rate walked is kept per scope): the
        national walk at the shipped rate of a state loaded and not changed since reads the
        plan the checkpoint kept (:func:`~.steps.walk_planned`)."""
        walks = self._national_walk if scope is None else self._walks.setdefault(scope, {})
        found = walks.get(rate)
        if found is None:
            walks.clear()
            kept = planned(self._facts, pids, rate) if scope is None else None
            found = walks[rate] = (walk(self._facts, pids, rate) if kept is None
                                   else walk_planned(self._facts, *kept))
        return found

    # ------------------------------------------------------------------ monitoring

    def built(self) -> frozenset[str]:
        """Partnerships whose total table is built (for monitoring and tests)."""
        return frozenset(self._tables)

    def built_grouped(self) -> frozenset[tuple[str | None, str | None]]:
        """(scope, grouping) of every grouped table built: scope a partnership, or None for
        every partnership; grouping None for the national total (for monitoring and tests)."""
        return frozenset({(None, by) for by, _ in self._national if by != PAIRS}
                         | {(pid, by) for pid, tables in self._grouped.items()
                            for by, _ in tables})
