"""The rooms of the staff-time cost projection (assembled in
:mod:`ssp_ledger_projections.staff_time_cost`).

Imports point downwards only:

* :mod:`.state`: the facts (assignments, releases, activity series, ids of same-day facts) and
  the timelines derived from them; the funding levels come from
  :mod:`ssp_ledger_projections.funding_levels`, shared with the funding projection;
* :mod:`.costing`: the figures (:class:`~.costing.Figures`, :class:`~.costing.Columns`), the
  :class:`~.costing.Costing` interface and the piece-by-piece reference costing;
* :mod:`.cumulative`: cumulative tables answering the same interface in two look-ups, and the
  cache deciding which costing answers for a partnership;
* :mod:`.explain`: what each fact contributed to a row.
"""

__all__: list[str] = []
