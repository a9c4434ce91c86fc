"""How the ``ssp-ledger`` commands print tables: rich tables, JSON, CSV, Markdown, plain text.

Bottom layer of the CLI package, beside :mod:`ssp_ledger.cli.common`: it turns a
:class:`~ssp_ledger.projection.Table` into text and knows nothing about what the columns mean
beyond two conventions of the projection protocol: a column named ``*_pence`` (or ``pence_*``)
holds integer pence, shown in pounds in tables for people; a first cell ``total`` marks the
total row. JSON and CSV give the raw integers (pence, minutes, days) for programs.

Every user-supplied string shown in a rich table is wrapped in :class:`rich.text.Text`, so an
identifier containing ``[`` is shown verbatim, never as markup.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from typing import Any

from rich.console import Console
from rich.measure import Measurement
from rich.table import Table as RichTable
from rich.text import Text

from ssp_ledger.cli.common import OutputFormat
from ssp_ledger.projection import Cell, Table

__all__ = [
    "aligned",
    "cell_text",
    "money",
    "print_table",
    "print_unclipped",
    "render_table",
    "rich_table",
    "rows_csv",
    "rows_markdown",
    "table_csv",
    "table_json",
    "table_markdown",
    "table_title",
]


def money(pence: int) -> str:
    """Integer pence as pounds with two decimals: ``-123456`` -> ``-£1,234.56``."""
    sign = "-" if pence < 0 else ""
    pounds, rest = divmod(abs(pence), 100)
    return f"{sign}£{pounds:,}.{rest:02d}"


def _is_figure_column(table: Table, index: int) -> bool:
    values = [row[index] for row in table.rows if row[index] is not None]
    return bool(values) and all(
        isinstance(v, int) and not isinstance(v, bool) for v in values
    )


def _is_pence(column: str) -> bool:
    return column.endswith("_pence") or column.startswith("pence_")


def _header(column: str) -> str:
    """Column name as a table header: words split (so they can wrap) and pence shown as £."""
    if column.endswith("_pence"):
        column = f"{column.removesuffix('_pence')} (£)"
    elif column.startswith("pence_"):
        column = f"{column.removeprefix('pence_')} (£)"
    return column.replace("_", " ")


def cell_text(column: str, value: Cell) -> str:
    """A cell as shown to a person: pence in pounds, figures with thousands separators."""
    if value is None:
        return ""
    if isinstance(value, int) and not isinstance(value, bool):
        return money(value) if _is_pence(column) else f"{value:,}"
    return str(value)


def table_title(table: Table, partnership_id: str | None = None) -> str:
    """A one-line description built only from the query's arguments."""
    parts = [f"{table.projection} as of {table.as_of.isoformat()}"]
    if table.known_at is not None:
        parts.append(f"known at {table.known_at.isoformat()}")
    if table.by is not None:
        parts.append(f"by {table.by}")
    if table.period is not None:
        parts.append(f"period {table.period}")
    if partnership_id is not None:
        parts.append(f"partnership {partnership_id}")
    return ", ".join(parts)


def rich_table(table: Table) -> RichTable:
    """A rich table: figures right-aligned and never cut, pence in pounds, text never markup."""
    out = RichTable()
    cells = [[cell_text(c, v) for c, v in zip(table.columns, row, strict=True)]
             for row in table.rows]
    for i, name in enumerate(table.columns):
        header = _header(name)
        figure = _is_figure_column(table, i)
        # Headers wrap between words only; figures never wrap.
        widest = max([len(word) for word in header.split()]
                     + [len(row[i]) for row in cells if figure])
        out.add_column(Text(header), min_width=widest, overflow="fold",
                       justify="right" if figure else "left")
    for row, texts in zip(table.rows, cells, strict=True):
        is_total = bool(row) and row[0] == "total"
        if is_total and out.row_count:
            out.add_section()
        out.add_row(*(Text(t) for t in texts), style="bold" if is_total else None)
    return out


def print_table(console: Console, table: Table, title: str) -> None:
    """The title on its own line (no padding), then the table."""
    console.print(Text(title, style="italic"), soft_wrap=True)
    print_unclipped(console, rich_table(table))


def print_unclipped(console: Console, rendered: RichTable) -> None:
    """Print a table without ever cropping it.

    A table whose columns cannot fit the console is printed at its natural width (the terminal
    wraps the long lines) rather than cut at the edge.
    """
    needed = Measurement.get(console, console.options.update(max_width=10_000), rendered)
    width = console.width
    if needed.minimum > width:
        console.width = needed.maximum
        try:
            console.print(rendered, crop=False)
        finally:
            console.width = width
    else:
        console.print(rendered)


def table_json(table: Table, partnership_id: str | None = None) -> str:
    """The table and the arguments that produced it, as pretty JSON (raw integers)."""
    doc: dict[str, Any] = {
        "projection": table.projection,
        "as_of": table.as_of.isoformat(),
        "known_at": table.known_at.isoformat() if table.known_at is not None else None,
        "by": table.by,
        "period": table.period,
        "partnership": partnership_id,
        "columns": list(table.columns),
        "rows": table.to_dicts(),
    }
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"


def rows_csv(columns: Sequence[str], rows: Sequence[Sequence[Cell]]) -> str:
    """Header and rows as CSV (raw values; an empty field for a missing value)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    writer.writerows(["" if v is None else v for v in row] for row in rows)
    return buffer.getvalue()


def table_csv(table: Table) -> str:
    """Header and rows of ``table`` as CSV (raw integers; empty field for a missing value)."""
    return rows_csv(table.columns, table.rows)


def _md_cell(text: str) -> str:
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def rows_markdown(columns: Sequence[str], rows: Sequence[Sequence[str]],
                  right: Sequence[int] = ()) -> str:
    """A GitHub-flavoured Markdown table of text cells (``|`` escaped)."""
    rule = ["---:" if i in right else "---" for i in range(len(columns))]
    lines = [columns, rule, *rows]
    return "".join("| " + " | ".join(_md_cell(c) for c in line) + " |\n" for line in lines)


def table_markdown(table: Table, title: str) -> str:
    """``table`` as Markdown for a person (pence in pounds), under its title in italics."""
    right = [i for i in range(len(table.columns)) if _is_figure_column(table, i)]
    rows = [[cell_text(c, v) for c, v in zip(table.columns, row, strict=True)]
            for row in table.rows]
    header = [_header(c) for c in table.columns]
    return f"*{_md_cell(title)}*\n\n" + rows_markdown(header, rows, right)


def render_table(console: Console, table: Table, fmt: OutputFormat,
                 partnership_id: str | None = None, title: str | None = None) -> None:
    """Print ``table`` in format ``fmt`` (the ``--format`` option of a command)."""
    title = title if title is not None else table_title(table, partnership_id)
    if fmt is OutputFormat.json:
        console.file.write(table_json(table, partnership_id))
    elif fmt is OutputFormat.csv:
        console.file.write(table_csv(table))
    elif fmt is OutputFormat.markdown:
        console.file.write(table_markdown(table, title))
    else:
        print_table(console, table, title)


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
