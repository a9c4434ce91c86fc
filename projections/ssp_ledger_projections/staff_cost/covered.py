"""What the funding received covers of the funded staff cost.

Three words of the cost report, defined once:

* **funded**: the cost of staff time whose assignment names a funding stream with an annual
  level above 0 on those days (:mod:`~ssp_ledger_projections.funding_levels`). It is cost
  *assigned to* a stream, whether or not the stream's money pays for all of it;
* **hidden**: every other cost (no stream, a stream at 0, unattributed time), carried in
  schools' salary budgets;
* **covered** (``covered_pence``): the part of the funded cost that the money the stream paid
  the partnership over the same days pays for. For partnership ``p`` and stream ``s`` over a
  range, ``covered(p, s) = min(funded(p, s), received(p, s))``, where ``received`` is the money
  the funding projection reports received (the level integrated over the days, on a 365-day
  year, in exact cumulative integer steps). A row sums the pairs in it: the total and each
  period row every pair over its range, a ``funding_stream`` row the pairs of its stream, the
  ``funded`` row of the funded split every pair (the ``hidden`` row 0). Rows by role, school or
  staff member have none (None): money pays a stream, not a person, and splitting it between
  people would be an allocation the records do not make.

It reads as if all of a stream's money paid staff first (the grant's other uses, e.g. hub
costs, are not recorded), so it is an upper bound of the staff cost the stream paid for.

**Properties.** ``covered <= funded`` and ``covered <= received``, per pair and summed; the rows
of the ``funding_stream`` and ``funded`` groupings add up to the total. Over time it does not
add up: each range compares its own cost with its own money (no carry-over), so period rows add
up to *at most* the total of the whole window, where money received in one period may cover the
cost of another.

**Explained exactly, without allocating.** For a pair where ``funded <= received`` (the *staff*
side binds) covered is the funded cost, so each staff fact contributes its funded pence of that
stream; where ``received < funded`` (the *funding* side binds) covered is the money received, so
each ``FundingChanged`` of the pair contributes what it paid over the range (the same steps the
funding projection explains). The contributions add up to the figure exactly.

**Cost.** Over every partnership, one look-up of the national table by (partnership, stream)
for every range at once; over one partnership, one look-up per range (its cumulative table by
funding stream, built on reuse by :class:`~.cache.CumulativeCosts`); and one per stream and
range for the money. Unattributed minutes are never funded, so the tables used are those of the
shipped unattributed rate whatever the query's.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import NamedTuple, Protocol

import numpy as np

from ssp_ledger_projections.funding_levels import FundingLevels, StreamLevels
from ssp_ledger_projections.staff_cost.costing import Columns
from ssp_ledger_projections.staff_cost.grouped import CumulativeTable
from ssp_ledger_projections.staff_cost.rates import UnattributedRate, shipped_rate
from ssp_ledger_projections.staff_cost.steps import pair_label

__all__ = ["Costs", "Coverage", "Pair"]

_PENCE_FUNDED = Columns._fields.index("pence_funded")
_SAFE = 1 << 62
"""Sums of covered pence below this are computed as 8-byte integers."""
Range = tuple[dt.date | None, dt.date]
"""(first day or None: from the beginning, last day)."""


class Pair(NamedTuple):
    """Funded cost and money received of one partnership's stream over one range."""

    funded: int
    received: int

    @property
    def covered(self) -> int:
        """``min(funded, received)``."""
        return min(self.funded, self.received)

    @property
    def funding_binds(self) -> bool:
        """Whether the money received (not the funded cost) is the covered figure."""
        return self.received < self.funded


class Costs(Protocol):
    """What the covered figures read of the cost tables (:class:`~.cache.CumulativeCosts`, or
    the national tables a checkpoint kept, :mod:`.kept`)."""

    def pair_table(self, rate: UnattributedRate) -> CumulativeTable | None:
        """The national table by (partnership, stream), or None."""

    def grouped(self, partnership_id: str | None, by: str, rate: UnattributedRate,
                start: dt.date | None, end: dt.date) -> dict[str, Columns]:
        """Columns of every group of grouping ``by`` over ``[start, end]``."""


class Coverage:
    """Covered figures from the cost tables and the funding levels."""

    def __init__(self, costs: Costs, levels: FundingLevels) -> None:
        self._costs = costs
        self._levels = levels
        self._where: tuple[object, object, np.ndarray] | None = None
        """(levels' table, cost table, each stream's group in the cost table): the last
        national look-up's column map, reused while both tables are the same objects."""
        self._columns: tuple[list[tuple[str, str]], list[str], np.ndarray, list[int]] | None = None
        """The last :meth:`_stream_columns` answer, with the pairs it was for."""

    def _streams(self, partnership_id: str | None) -> dict[str, list[tuple[str, StreamLevels]]]:
        """Streams with a funding change, by partnership."""
        out: dict[str, list[tuple[str, StreamLevels]]] = {}
        for pid, stream in self._levels.streams(partnership_id):
            levels = self._levels.stream(pid, stream)
            if levels is not None:
                out.setdefault(pid, []).append((stream, levels))
        return out

    def pairs(self, partnership_id: str | None, ranges: Sequence[Range]
              ) -> list[dict[tuple[str, str], Pair]]:
        """For each range, the :class:`Pair` of every (partnership, stream) with funding, in
        (partnership, stream) order."""
        if partnership_id is None:
            national = self._national(ranges)
            if national is not None:  # every partnership and range in one look-up
                order, funded, received = national
                listed = sorted(range(len(order)), key=order.__getitem__)
                return [{order[j]: Pair(int(fs[j]), int(rs[j])) for j in listed}
                        for fs, rs in zip(funded.tolist(), received.tolist(), strict=True)]
        out: list[dict[tuple[str, str], Pair]] = [{} for _ in ranges]
        rate = shipped_rate()
        for pid, streams in self._streams(partnership_id).items():
            for k, (start, end) in enumerate(ranges):
                found_funded = self._costs.grouped(pid, "funding_stream", rate, start, end)
                for stream, levels in streams:
                    found = found_funded.get(stream)
                    out[k][(pid, stream)] = Pair(found.pence_funded if found is not None else 0,
                                                 levels.received(start, end))
        return out

    def by_stream(self, partnership_id: str | None, ranges: Sequence[Range]
                  ) -> list[dict[str, int]]:
        """For each range, covered pence by stream (summed over partnerships): over every
        partnership, the minimum of whole arrays (:meth:`_national`) summed by stream name;
        else pair by pair. Streams in the order :meth:`pairs` lists them."""
        national = self._national(ranges) if partnership_id is None else None
        if national is None:
            out: list[dict[str, int]] = []
            for found in self.pairs(partnership_id, ranges):
                sums: dict[str, int] = {}
                for (_, stream), pair in found.items():
                    sums[stream] = sums.get(stream, 0) + pair.covered
                out.append(sums)
            return out
        order, funded, received = national
        if funded.dtype == object or received.dtype == object:
            covered = np.asarray([[min(int(f), int(r)) for f, r in zip(fs, rs, strict=True)]
                                  for fs, rs in zip(funded.tolist(), received.tolist(),
                                                    strict=True)], dtype=object)
        else:
            covered = np.minimum(funded.astype(np.int64), received.astype(np.int64))
        names, onehot, shown = self._stream_columns(order)
        if covered.dtype != object and len(order) and (
                int(np.abs(covered).max(initial=0)) < _SAFE // len(order)):
            summed = (covered @ onehot).tolist()  # exact: every sum is below 2**62
        else:
            column = onehot.argmax(axis=1).tolist()
            summed = []
            for row in covered.tolist():
                sums_of = [0] * len(names)
                for c, value in zip(column, row, strict=True):
                    sums_of[c] += value
                summed.append(sums_of)
        return [{names[i]: sums_of[i] for i in shown} for sums_of in summed]

    def _stream_columns(self, order: list[tuple[str, str]]
                        ) -> tuple[list[str], np.ndarray, list[int]]:
        """For the national pairs ``order``: the stream names (sorted), a ``[pair, name]``
        0/1 matrix filing each pair under its stream, and the names' indexes in the order
        :meth:`pairs` meets them; kept while the pairs are the same."""
        kept = self._columns
        if kept is not None and kept[0] == order:
            return kept[1], kept[2], kept[3]
        names = sorted({name for _, name in order})
        where = {name: i for i, name in enumerate(names)}
        onehot = np.zeros((len(order), len(names)), dtype=np.int64)
        first: dict[str, tuple[str, str]] = {}
        for j, pair in enumerate(order):
            onehot[j, where[pair[1]]] = 1
            if pair[1] not in first or pair < first[pair[1]]:
                first[pair[1]] = pair
        shown = sorted(range(len(names)), key=lambda i: first[names[i]])
        self._columns = (list(order), names, onehot, shown)
        return names, onehot, shown

    def _national(self, ranges: Sequence[Range]
                  ) -> tuple[list[tuple[str, str]], np.ndarray, np.ndarray] | None:
        """Every (partnership, stream) with funding over every partnership, from whole arrays:
        the pairs (the levels' table's order), each pair's funded pence (its group of the
        national pair table, 0 without one) and money received, as arrays ``[range, pair]``;
        None when there is no funding or no national table (fewer than two partnerships)."""
        levels = self._levels.table(None)
        table = self._costs.pair_table(shipped_rate()) if levels.order else None
        if table is None:
            return None
        funded_all = table.ranges(ranges)[..., _PENCE_FUNDED]
        cached = self._where
        if cached is not None and cached[0] is levels and cached[1] is table:
            where = cached[2]
        else:
            where = np.asarray([table.groups.get(pair_label(pid, name), -1)
                                for pid, name in levels.order], dtype=np.int64)
            self._where = (levels, table, where)
        if funded_all.shape[1]:
            funded = np.where(where >= 0, funded_all[:, np.maximum(where, 0)], 0)
        else:  # no funded cost in any pair
            funded = np.zeros((len(ranges), len(where)), dtype=np.int64)
        return levels.order, funded, levels.received_each(ranges)

    def total(self, partnership_id: str | None, ranges: Sequence[Range]) -> list[int]:
        """For each range, covered pence of every pair."""
        return [sum(found.values()) for found in self.by_stream(partnership_id, ranges)]

    def pair(self, pid: str, stream: str, start: dt.date | None, end: dt.date) -> Pair:
        """One partnership's stream over one range."""
        levels = self._levels.stream(pid, stream)
        if levels is None:
            return Pair(0, 0)
        funded = self._costs.grouped(pid, "funding_stream", shipped_rate(), start, end)
        found = funded.get(stream)
        return Pair(found.pence_funded if found is not None else 0, levels.received(start, end))
