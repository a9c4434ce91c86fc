"""A one-line summary of the standard projections, for people (the ``ssp-ledger demo`` headline).

The command-line interface knows no projection by name: it asks the package that registered the
projections for a ``summary`` module with two names,

* :data:`REPORTS`: the reports to print, as ``(key, projection, by)`` triples;
* :func:`headline`: one line from those tables, keyed as in :data:`REPORTS`.

A package of your own projections can ship the same two names in its own ``summary`` module.
"""

from __future__ import annotations

from collections.abc import Mapping

from ssp_ledger.projection import Table

__all__ = ["REPORTS", "headline"]

#: The reports the demo prints at each date: (key, projection name, grouping).
REPORTS: tuple[tuple[str, str, str | None], ...] = (
    ("participation", "participation", "academic_year"),
    ("cost", "staff_time_cost", "funded"),
    ("cost-role", "staff_time_cost", "role"),
    ("age", "partnership_age", None),
    ("funding", "funding", "academic_year"),
)


def _pounds(pence: int) -> str:
    sign = "-" if pence < 0 else ""
    pounds, rest = divmod(abs(pence), 100)
    return f"{sign}£{pounds:,}.{rest:02d}"


def _total(table: Table, column: str) -> int | None:
    """The figure in ``column`` of the total row (or the sum over rows without one)."""
    if column not in table.columns:
        return None
    i = table.columns.index(column)
    for row in table.rows:
        if row[0] == "total":
            value = row[i]
            return value if isinstance(value, int) else None
    ints = [v for v in (row[i] for row in table.rows) if isinstance(v, int)]
    return sum(ints) if ints else None


def _plural(count: int, word: str) -> str:
    return f"{count:,} {word}{'' if count == 1 else 's'}"


def headline(tables: Mapping[str, Table]) -> str:
    """Age and members, participation, staff-time cost and funding with its gap, on one line.

    ``tables`` holds the reports of :data:`REPORTS` by key (a missing one is left out); the
    result is ``"nothing recorded yet"`` when no figure is available.
    """
    parts: list[str] = []
    age = tables.get("age")
    if age is not None and age.rows and "age_days" in age.columns:
        ages = [v for v in age.column("age_days") if isinstance(v, int)]
        members = _total(age, "active_members")
        oldest = f" (oldest {max(ages):,} days)" if len(ages) > 1 else (
            f" aged {ages[0]:,} days" if ages else "")
        parts.append(_plural(len(age.rows), "partnership") + oldest
                     + (f", {_plural(members, 'school')}" if members is not None else ""))
    part = tables.get("participation")
    if part is not None:
        sessions = _total(part, "sessions")
        attendances = _total(part, "attendances")
        if sessions is not None and attendances is not None:
            parts.append(f"{_plural(sessions, 'session')}, "
                         f"{_plural(attendances, 'attendance')}")
    cost = tables.get("cost")
    if cost is not None:
        total = _total(cost, "total_pence")
        hidden = _total(cost, "hidden_pence")
        if total is not None:
            share = f" ({hidden * 100 // total}% hidden)" if hidden and total else ""
            parts.append(f"staff time {_pounds(total)}{share}")
    funding = tables.get("funding")
    if funding is not None:
        received = _total(funding, "received_pence")
        gap = _total(funding, "funding_gap_pence")
        if received is not None:
            parts.append(f"funding {_pounds(received)}"
                         + (f", gap {_pounds(gap)}" if gap is not None else ""))
    return "; ".join(parts) if parts else "nothing recorded yet"
