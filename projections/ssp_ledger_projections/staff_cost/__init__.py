"""The rooms of the staff-time cost projection (assembled in
:mod:`ssp_ledger_projections.staff_time_cost`).

Imports point downwards only:

* :mod:`.columns`: the activity series as a few arrays (how a checkpoint keeps them, what the
  walk reads);
* :mod:`.state`: the facts (assignments, releases, activity series, ids of same-day facts) and
  the timelines derived from them; the funding levels come from
  :mod:`ssp_ledger_projections.funding_levels`, shared with the funding projection;
* :mod:`.costing`: the figures (:class:`~.costing.Figures`, :class:`~.costing.Columns`), the
  :class:`~.costing.Costing` interface and the piece-by-piece reference costing;
* :mod:`.cumulative`: a partnership's cumulative table answering the same interface in two
  look-ups;
* :mod:`.grouped`: cumulative tables of every group of a grouping, for one partnership or all;
* :mod:`.cache`: which costing answers a question, and the tables built (caches);
* :mod:`.explain`: what each fact contributed to a row.
"""

__all__: list[str] = []
