"""How a table's cells read to a person: the naming conventions of figures, and plain text.

Projections name a figure column after its unit (``attendances``, ``release_minutes``,
``received_pence``, ``tenure_days``): this module is the one place those conventions are read.
:func:`unit_of` says a column's unit, :func:`cell_text` shows a cell (pence as pounds, figures
with thousands separators) and :func:`aligned` lays text cells out in columns. It sits at the
very bottom of the projection package (it imports nothing from ssp_ledger), so both
:class:`~ssp_ledger.projection.Table` (``str(table)``, ``table._repr_html_()``) and the command
line (:mod:`ssp_ledger.cli.render`) show a table the same way.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["UNIT_SUFFIXES", "aligned", "cell_text", "header", "is_pence", "money", "unit_of"]

#: Column-name endings that carry a unit, and the unit they name.
UNIT_SUFFIXES = {"_pence": "pence", "_minutes": "minutes", "_days": "days", "_years": "years"}


def money(pence: int) -> str:
    """Integer pence as pounds with two decimals: ``-123456`` -> ``-£1,234.56``."""
    sign = "-" if pence < 0 else ""
    pounds, rest = divmod(abs(pence), 100)
    return f"{sign}£{pounds:,}.{rest:02d}"


def is_pence(column: str) -> bool:
    """Whether ``column`` holds integer pence (``*_pence`` or ``pence_*``)."""
    return column.endswith("_pence") or column.startswith("pence_")


def unit_of(column: str) -> str | None:
    """The unit a column's name gives its figures (``pence``, ``minutes``, ``days``,
    ``years``), or None for counts and labels."""
    if column.startswith("pence_"):
        return "pence"
    for suffix, unit in UNIT_SUFFIXES.items():
        if column.endswith(suffix):
            return unit
    return None


def header(column: str) -> str:
    """Column name as a table header: words split (so they can wrap) and pence shown as £."""
    if column.endswith("_pence"):
        column = f"{column.removesuffix('_pence')} (£)"
    elif column.startswith("pence_"):
        column = f"{column.removeprefix('pence_')} (£)"
    return column.replace("_", " ")


def cell_text(column: str, value: str | int | None) -> str:
    """A cell as shown to a person: pence in pounds, figures with thousands separators."""
    if value is None:
        return ""
    if isinstance(value, int) and not isinstance(value, bool):
        return money(value) if is_pence(column) else f"{value:,}"
    return str(value)


def aligned(columns: Sequence[str], rows: Sequence[Sequence[str]],
            right: Sequence[int] = ()) -> str:
    """A plain-text table: header, dashes, rows; columns two spaces apart, no trailing blanks."""
    widths = [max([len(c), *(len(r[i]) for r in rows)]) for i, c in enumerate(columns)]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(
            cell.rjust(w) if i in right else cell.ljust(w)
            for i, (cell, w) in enumerate(zip(cells, widths, strict=True))
        ).rstrip() + "\n"

    return "".join([line(columns), line(["-" * w for w in widths]), *map(line, rows)])
