"""What a staff-cost table says about itself: its words, and the parameter values it rests on.

Every table of the staff-time cost report carries (:attr:`ssp_ledger.projection.Table.notes`):

* what *funded*, *hidden* and *covered* mean (:mod:`.covered` defines them);
* what unattributed minutes were costed at: the dated, cited parameter ``cost.UNATTRIBUTED``
  with every value in force over the days the table covers, or the query's flat
  ``default_hourly_cost_pence`` (:mod:`.rates`).

The same values go to :attr:`~ssp_ledger.projection.Table.sources` as data (name, unit, date,
value, citation, note and which records they cost), so a JSON reader gets them without parsing
sentences. Nothing here depends on the facts beyond the table's first day: notes cost nothing
per record.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from ssp_ledger.projection.display import money
from ssp_ledger_projections.staff_cost.rates import PARAMETER, QUERY_PARAMETER, UnattributedRate

__all__ = ["FUNDED_HIDDEN", "cost_notes"]

FUNDED_HIDDEN = (
    "funded: cost of staff time assigned to a funding stream whose level is above 0 on those "
    "days (assigned to the stream, whether or not its money covers it); hidden: every other "
    "cost (no stream, a stream at 0, unattributed time), carried in schools' salary budgets")
"""The footer line defining funded and hidden."""
_COVERED = (
    "covered: the part of the funded cost the money received by its stream over the same days "
    "pays for, min(funded, received) per partnership and stream, summed; not split by role, "
    "school or staff member; each period stands alone, so period rows add up to at most the "
    "total")
_UNATTRIBUTED = "unattributed minutes (role UNATTRIBUTED: no named staff member, or outside " \
    "any assignment)"


def cost_notes(rate: UnattributedRate, first: dt.date | None, last: dt.date
               ) -> tuple[list[str], list[dict[str, Any]]]:
    """(notes, sources) of a table covering ``[first, last]`` (``first`` None: from the
    beginning), unattributed minutes costed at ``rate``."""
    notes = [FUNDED_HIDDEN, _COVERED]
    sources: list[dict[str, Any]] = []
    if rate.parameter is None:
        pence = rate.values[0].pence
        notes.append(f"{_UNATTRIBUTED} are costed at {money(pence)} an hour on every date: the "
                     f"query's {QUERY_PARAMETER}, instead of the dated, cited {PARAMETER}")
        sources.append({"name": QUERY_PARAMETER, "unit": "pence_per_hour",
                        "effective_from": None, "value": pence,
                        "citation": rate.values[0].citation,
                        "note": f"replaces {PARAMETER} on every date",
                        "applies_to": f"{_UNATTRIBUTED}, every date"})
        return notes, sources
    values = rate.in_force(first, last)
    qualities = list(dict.fromkeys(v.note for v in rate.values if v.note))
    said = f" ({'; '.join(qualities)})" if qualities else ""
    notes.append(f"{_UNATTRIBUTED} are costed at {rate.parameter}, the value in force on each "
                 f"record's date{said}:")
    starts = [v.effective_from for v in rate.values]
    for v in values:
        later = [d for d in starts if d > v.effective_from]
        until = (later[0] - dt.timedelta(days=1)).isoformat() if later else None
        if v.effective_from == starts[0]:  # also costs records dated before it
            span = f"up to {until}" if until else "on every date"
        else:
            span = f"from {v.effective_from.isoformat()}" + (f" to {until}" if until else "")
        notes.append(f"  {rate.parameter} {span}: {money(v.pence)} an hour; {v.citation}")
        sources.append({"name": rate.parameter, "unit": "pence_per_hour",
                        "effective_from": v.effective_from.isoformat(), "value": v.pence,
                        "citation": v.citation, "note": v.note,
                        "applies_to": f"{_UNATTRIBUTED} dated {span}"})
    return notes, sources
