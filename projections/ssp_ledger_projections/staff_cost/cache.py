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

A table is built on the :attr:`CumulativeCosts.tables_after`-th answer from it since the last
change of its scope (earlier answers are costed piece by piece, so a one-off question, or a
scope written to between every two questions, never pays for a table it does not reuse). A fact
that moves staff time drops its partnership's tables and every national one
(:attr:`~.state.StaffFacts.derived`, :attr:`~.state.StaffFacts.derived_all`). Grouped tables
are built for one ``default_hourly_cost_pence`` each; a scope keeps the
:data:`TABLES_KEPT` most recent. Tables are caches: a checkpoint never holds one.
"""

from __future__ import annotations

import datetime as dt

import numpy as np

from ssp_ledger_projections.staff_cost.costing import Columns, Costing, PieceCosting
from ssp_ledger_projections.staff_cost.cumulative import (
    CostTable,
    TableCosting,
    build_table,
    unattributed_column,
)
from ssp_ledger_projections.staff_cost.grouped import TOTAL, GroupedTable, build_grouped
from ssp_ledger_projections.staff_cost.rates import UnattributedRate
from ssp_ledger_projections.staff_cost.state import StaffFacts

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
        # Forgotten when a fact comes or goes: the partnership's, and every national one.
        facts.derived += (self._tables, self._misses, self._grouped, self._grouped_misses)
        facts.derived_all += (self._national, self._national_misses)

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

    def _table(self, scope: str | None, by: str | None, rate: UnattributedRate,
               pids: list[str]) -> GroupedTable | None:
        """The grouped table of ``scope`` (a partnership, or None: all of ``pids``), if built or
        due; None while the scope's answers are still costed piece by piece."""
        key = (by, rate)
        if scope is None:
            tables, misses = self._national, self._national_misses
        else:
            if not self._facts.knows(scope):
                return None  # nothing to cost; unknown ids leave no trace
            tables = self._grouped.setdefault(scope, {})
            misses = self._grouped_misses.setdefault(scope, {})
        table = tables.get(key)
        if table is not None:
            return table
        missed = misses.get(key, 0) + 1
        if missed < self.tables_after:
            misses[key] = missed
            return None
        misses.pop(key, None)
        if len(tables) >= TABLES_KEPT:
            tables.pop(next(iter(tables)))
        table = tables[key] = build_grouped(self._facts, pids, by, rate)
        return table

    # ------------------------------------------------------------------ monitoring

    def built(self) -> frozenset[str]:
        """Partnerships whose total table is built (for monitoring and tests)."""
        return frozenset(self._tables)

    def built_grouped(self) -> frozenset[tuple[str | None, str | None]]:
        """(scope, grouping) of every grouped table built: scope a partnership, or None for
        every partnership; grouping None for the national total (for monitoring and tests)."""
        return frozenset({(None, by) for by, _ in self._national}
                         | {(pid, by) for pid, tables in self._grouped.items()
                            for by, _ in tables})
