"""How the ``ssp-ledger`` commands print tables: rich tables, JSON, CSV, Markdown, plain text.

Bottom layer of the CLI package, beside :mod:`ssp_ledger.cli.common`: it turns a
:class:`~ssp_ledger.projection.Table` into text and knows nothing about what the columns mean
beyond the conventions of the projection protocol (:mod:`ssp_ledger.projection.display`): a
column named ``*_pence`` (or ``pence_*``) holds integer pence, shown in pounds in tables for
people; the table's :attr:`~ssp_ledger.projection.Table.total` is shown bold after a rule. JSON
and CSV give the raw integers (pence, minutes, days) for programs, the total marked as such.

**Never cut a figure.** A table for people is laid out at the console's width
(:func:`print_grid`): whole when it fits, else its columns folded into several tables that each
repeat the group column, else one record after another with a line per field. Figure columns
are planned at the width of their widest figure and never wrap; text columns wrap; columns
with no value at all are left out.

Every user-supplied string shown in a rich table is wrapped in :class:`rich.text.Text`, so an
identifier containing ``[`` is shown verbatim, never as markup.

**Plain text where it is the same bytes.** Output that is not a terminal (a pipe, a file) shows
no styles, so a table that fits the width whole is box-drawing text that :meth:`Grid.plain`
writes directly, character for character what rich lays out (a property test holds it to
rich's over generated tables); :func:`render_table` does so when nothing can differ (no
terminal, no forced colour, a UTF-8 stream, every string plain ASCII, no column to fold) and
hands everything else to rich. rich (and its layout, most of a report's time from a
checkpoint) is imported only then.
"""

from __future__ import annotations

import builtins
import csv
import io
import json
import os
import re
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING, Any

from ssp_ledger.cli.common import PIPE_WIDTH, OutputFormat
from ssp_ledger.projection.display import aligned, cell_text, money
from ssp_ledger.projection.display import header as _header

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table as RichTable

    from ssp_ledger.projection import Cell, Table

__all__ = [
    "FIELD_MIN",
    "KEY_MIN",
    "LONG_COLUMNS",
    "ROW_KIND",
    "TEXT_MIN",
    "Grid",
    "aligned",
    "basis_line",
    "cell_text",
    "long_rows",
    "money",
    "plain_stream",
    "print_grid",
    "print_table",
    "print_unclipped",
    "render_table",
    "rich_table",
    "rows_csv",
    "rows_markdown",
    "table_csv",
    "table_doc",
    "table_grid",
    "table_json",
    "table_markdown",
    "table_title",
]


def _is_figure_column(table: Table, index: int) -> bool:
    values = [row[index] for row in table.rows if row[index] is not None]
    return bool(values) and all(
        isinstance(v, int) and not isinstance(v, bool) for v in values
    )


def table_title(table: Table, partnership_id: str | None = None) -> str:
    """A one-line description built only from the query's arguments."""
    title = table.title()
    return title if partnership_id is None else f"{title}, partnership {partnership_id}"


#: Narrowest a text column is planned at (wider words fold); figures are never narrowed.
TEXT_MIN = 12
#: Narrowest the first (group) column is planned at, so identifiers stay whole when possible.
KEY_MIN = 24
#: Narrowest the field names of the vertical layout are planned at (longer ones wrap).
FIELD_MIN = 16


@dataclass(frozen=True)
class Grid:
    """A table as text cells, ready to be laid out at a width (the part of a
    :class:`~ssp_ledger.projection.Table` that printing needs).

    ``right`` holds the figure columns (right-aligned, never wrapped or cut); ``bold`` the rows
    shown bold after a rule (the total); ``rules`` the rows a rule goes above (a new section).
    """

    headers: tuple[str, ...]
    cells: tuple[tuple[str, ...], ...]
    right: frozenset[int] = frozenset()
    bold: frozenset[int] = frozenset()
    rules: frozenset[int] = frozenset()

    def need(self, index: int) -> int:
        """Width column ``index`` is planned at: a figure column's widest figure (it never
        wraps); a text column's longest header word, and its text up to :data:`TEXT_MIN`
        (:data:`KEY_MIN` for the first column) characters, wrapping beyond."""
        words = max((len(w) for w in self.headers[index].split()), default=1)
        longest = max((len(row[index]) for row in self.cells), default=0)
        if index in self.right:
            return max(words, longest)
        return max(words, min(longest, KEY_MIN if index == 0 else TEXT_MIN))

    def natural(self, index: int) -> int:
        """Width column ``index`` takes unwrapped (its header or its widest cell)."""
        return max([len(self.headers[index]), *(len(row[index]) for row in self.cells)])

    def width(self, columns: Sequence[int]) -> int:
        """Console width a table of ``columns`` needs at their planned widths."""
        return sum(self.need(i) for i in columns) + 3 * len(columns) + 1

    def rich(self, columns: Sequence[int], width: int | None = None) -> RichTable:
        """A rich table of ``columns`` (in order): figure columns at a fixed width, text
        columns folding, bold rows after a rule. Given the console ``width``, a first (group)
        text column keeps a fixed width too, as wide as the room left allows, so the other
        text columns wrap first."""
        from rich.table import Table as RichTable
        from rich.text import Text

        out = RichTable()
        for i in columns:
            if i == 0 and i not in self.right and width is not None:
                room = self.need(0) + max(0, width - self.width(columns))
                out.add_column(Text(self.headers[0]), width=min(self.natural(0), room),
                               overflow="fold")
            elif i in self.right:
                out.add_column(Text(self.headers[i]), width=self.need(i), justify="right")
            else:
                out.add_column(Text(self.headers[i]), overflow="fold")
        for r, row in enumerate(self.cells):
            if (r in self.rules or r in self.bold) and out.row_count:
                out.add_section()
            out.add_row(*(Text(row[i]) for i in columns),
                        style="bold" if r in self.bold else None)
        return out

    def vertical(self) -> RichTable:
        """One record after another, a line per field (empty fields left out): the layout of a
        table too wide to fold by columns. Field names keep a fixed width; values fold."""
        from rich.table import Table as RichTable
        from rich.text import Text

        field = max(self.need_header(i) for i in range(len(self.headers)))
        out = RichTable(show_header=False)
        out.add_column(width=field, overflow="fold")
        out.add_column(overflow="fold")
        for r, row in enumerate(self.cells):
            if out.row_count:
                out.add_section()
            style = "bold"
            out.add_row(Text(self.headers[0], style=style), Text(row[0], style=style))
            for i in range(1, len(self.headers)):
                if row[i]:
                    out.add_row(Text(self.headers[i]),
                                Text(row[i], justify="right" if i in self.right else "left"),
                                style="bold" if r in self.bold else None)
        return out

    def plain(self, width: int) -> str | None:
        """The lines rich prints for this grid on a console ``width`` wide that is not a
        terminal (no styles), when they are certain: the table fits whole (one block, see
        :func:`print_grid`), every string is plain ASCII, no cell wraps (a header may, between
        words); None otherwise (rich lays it out)."""
        columns = list(range(len(self.headers)))
        blocks = self.blocks(width)
        if blocks != [columns] or not all(
                _plain(text) for text in (*self.headers, *(c for row in self.cells for c in row))):
            return None
        sizes: list[int] = []  # each column's content width, as rich's table measures it
        for i in columns:
            if i == 0 and i not in self.right:
                room = self.need(0) + max(0, width - self.width(columns))
                sizes.append(min(self.natural(0), room))
            elif i in self.right:
                sizes.append(self.need(i))
            else:
                sizes.append(self.natural(i))
        if sum(sizes) + 3 * len(sizes) + 1 > width:
            return None  # rich would narrow the columns
        if any(len(row[i]) > sizes[i] for row in self.cells for i in columns):
            return None  # a cell would wrap
        heads: list[list[str]] = []
        for i in columns:
            lines = _wrapped(self.headers[i], sizes[i])
            if lines is None:
                return None
            heads.append(lines)
        height = max(len(lines) for lines in heads)

        def line(cells: Sequence[str], bar: str) -> str:
            return bar + bar.join(f" {cell} " for cell in cells) + bar + "\n"

        def rule(left: str, fill: str, cross: str, right: str) -> str:
            return left + cross.join(fill * (size + 2) for size in sizes) + right + "\n"

        def fitted(i: int, text: str) -> str:
            if i in self.right:
                return text.rstrip().rjust(sizes[i])
            return text.ljust(sizes[i])

        out = [rule("┏", "━", "┳", "┓")]
        for row in range(height):  # headers sit at the bottom of the header row
            out.append(line([fitted(i, ([""] * (height - len(heads[i])) + heads[i])[row])
                             for i in columns], "┃"))
        out.append(rule("┡", "━", "╇", "┩"))
        for r, cells in enumerate(self.cells):
            if r and (r in self.rules or r in self.bold):
                out.append(rule("├", "─", "┼", "┤"))
            out.append(line([fitted(i, cells[i]) for i in columns], "│"))
        out.append(rule("└", "─", "┴", "┘"))
        return "".join(out)

    def need_header(self, index: int) -> int:
        """Width a header is planned at in the vertical layout (wraps between words)."""
        words = max((len(w) for w in self.headers[index].split()), default=1)
        return max(words, min(len(self.headers[index]), FIELD_MIN))

    def vertical_need(self) -> int:
        """Console width the vertical layout needs."""
        field = max(self.need_header(i) for i in range(len(self.headers)))
        value = max([self.need(i) if i else min(self.need(0), TEXT_MIN)
                     for i in range(len(self.headers))])
        return field + value + 7

    def blocks(self, width: int) -> list[list[int]] | None:
        """The columns split into blocks that each fit ``width`` (the first column repeated in
        every block), or None when the first column and any other cannot fit together."""
        total = self.width
        blocks: list[list[int]] = []
        current = [0]
        for i in range(1, len(self.headers)):
            if total([*current, i]) <= width:
                current.append(i)
            elif len(current) > 1:
                blocks.append(current)
                current = [0, i]
                if total(current) > width:
                    return None
            else:
                return None
        if len(current) > 1 or not blocks:
            if total(current) > width:
                return None
            blocks.append(current)
        return blocks


_WORDS = re.compile(r"\S+ *")
"""A word and the spaces after it (a cell's text is printable ASCII: no other whitespace)."""


def _plain(text: str) -> bool:
    """Whether rich shows ``text`` as it is, one character a cell (printable ASCII)."""
    return text.isascii() and text.isprintable()


def _wrapped(text: str, width: int) -> list[str] | None:
    """``text`` word-wrapped at ``width`` as rich wraps a cell: greedily, each word keeping the
    spaces after it (a line's trailing spaces beyond ``width`` dropped); None when a word is
    longer than ``width`` (rich folds it) or ``text`` does not start with a word."""
    pieces = _WORDS.findall(text)
    if not pieces or "".join(pieces) != text:
        return None
    lines: list[str] = []
    current = ""
    for piece in pieces:
        length = len(piece.rstrip())
        if width - len(current) >= length:
            current += piece
        elif length > width:
            return None
        else:
            lines.append(current)
            current = piece
    lines.append(current)
    return [line if len(line) <= width else line[:width] for line in lines]


def plain_stream(stream: IO[str]) -> bool:
    """Whether rich would print to ``stream`` with no styles and its own box characters: not a
    terminal (nor told it is one: ``FORCE_COLOR``, ``TTY_COMPATIBLE``), not a notebook, not
    Windows' legacy console, a UTF-8 encoding."""
    env = os.environ
    if sys.platform == "win32" or getattr(builtins, "get_ipython", None) is not None:
        return False
    if env.get("TTY_COMPATIBLE") == "1" or env.get("FORCE_COLOR"):
        return False
    if env.get("TTY_COMPATIBLE") != "0":
        try:
            if stream.isatty():
                return False
        except (AttributeError, ValueError):
            return False
    encoding = (getattr(stream, "encoding", "utf-8") or "utf-8").lower()
    return encoding.startswith("utf")


def _stream_width() -> int:
    """The width :func:`~ssp_ledger.cli.common.console` gives a stream that is not a
    terminal: ``COLUMNS`` when it is a number, else :data:`PIPE_WIDTH`."""
    columns = os.environ.get("COLUMNS", "")
    return int(columns) if columns.isdigit() else PIPE_WIDTH


def table_grid(table: Table) -> Grid:
    """The cells of ``table`` as shown to a person (pence in pounds, figures with thousands
    separators), its empty columns left out (the first, the group, is always kept)."""
    keep = [i for i in range(len(table.columns))
            if i == 0 or any(row[i] is not None and row[i] != "" for row in table.rows)]
    figures = {i for i in range(len(table.columns)) if _is_figure_column(table, i)}
    cells = tuple(tuple(cell_text(table.columns[i], row[i]) for i in keep)
                  for row in table.rows)
    bold = frozenset({len(table.rows) - 1} if table.total is not None else ())
    return Grid(headers=tuple(_header(table.columns[i]) for i in keep), cells=cells,
                right=frozenset(k for k, i in enumerate(keep) if i in figures), bold=bold)


def rich_table(table: Table) -> RichTable:
    """The whole of ``table`` as one rich table (figures never wrapped, pence in pounds, text
    never markup), whatever its width; :func:`print_table` folds it to fit instead."""
    grid = table_grid(table)
    return grid.rich(range(len(grid.headers)))


def print_grid(console: Console, grid: Grid) -> None:
    """Print ``grid`` so that every figure is whole at the console's width.

    The table as it is when it fits; otherwise its columns folded into several tables, each
    repeating the first (group) column; when even two columns do not fit, one record after
    another, a line per field. Text wraps; figures are never wrapped or cut. Below the width
    of the vertical layout (about 40 characters) it is printed at its natural width uncut.
    """
    from rich.text import Text

    width = console.width
    blocks = grid.blocks(width)
    # Folding helps while each part still holds a few figures; narrower, a record per block
    # reads better (and is the only layout left when even two columns do not fit).
    thin = blocks is not None and 2 * len(blocks) > len(grid.headers) - 1 and len(blocks) > 1
    if blocks is not None and not (thin and grid.vertical_need() <= width):
        for n, columns in enumerate(blocks, 1):
            if len(blocks) > 1:
                console.print(Text(f"(columns, part {n} of {len(blocks)})", style="dim"),
                              soft_wrap=True)
            console.print(grid.rich(columns, width))
    elif grid.vertical_need() <= width:
        console.print(grid.vertical())
    else:
        print_unclipped(console, grid.vertical())


def print_table(console: Console, table: Table, title: str) -> None:
    """The title on its own line (no padding), then the table folded to the console's width
    (see :func:`print_grid`)."""
    from rich.text import Text

    console.print(Text(title, style="italic"), soft_wrap=True)
    print_grid(console, table_grid(table))


def print_unclipped(console: Console, rendered: RichTable) -> None:
    """Print a table without ever cropping it.

    A table whose columns cannot fit the console is printed at its natural width (the terminal
    wraps the long lines) rather than cut at the edge.
    """
    from rich.measure import Measurement

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


def basis_line(basis: Mapping[str, Any]) -> str:
    """A report's basis in one line: log position, stream-heads hash prefix, the checkpoint it
    started from (or ``replayed``) and the recorded time it is as known at."""
    position = basis.get("position")
    heads = str(basis.get("heads_sha256") or "")[:16]
    checkpoint = basis.get("checkpoint")
    start = f"checkpoint {checkpoint}" if checkpoint else "replayed"
    known = basis.get("known_at")
    known_text = f"known at {known}" if known else "known at: everything recorded"
    return f"basis: log position {position}, heads {heads}, {start}, {known_text}"


def table_json(table: Table, partnership_id: str | None = None) -> str:
    """The table and the arguments that produced it, as pretty JSON (raw integers): the
    document :func:`table_doc` describes."""
    return json.dumps(table_doc(table, partnership_id), indent=2, ensure_ascii=False) + "\n"


def table_doc(table: Table, partnership_id: str | None = None) -> dict[str, Any]:
    """The table and the arguments that produced it, as plain data (raw integers).

    ``rows`` holds every row, the total last; ``total`` is that total row again (null when the
    table has none), so a group labelled ``"total"`` is never mistaken for it; ``units`` names
    the unit of each figure column that has one; ``basis`` says what the figures were computed
    from (null for a table not made by a ledger); ``notes`` and ``sources`` what they mean and
    the dated, cited parameter values they rest on (:attr:`Table.notes`, :attr:`Table.sources`)."""
    return {
        "projection": table.projection,
        "as_of": table.as_of.isoformat(),
        "known_at": table.known_at.isoformat() if table.known_at is not None else None,
        "by": table.by,
        "period": table.period,
        "partnership": partnership_id,
        "columns": list(table.columns),
        "units": {c: u for c, u in table.units.items() if u is not None},
        "rows": table.to_dicts(),
        "total": table.totals,
        "basis": table.basis,
        "notes": list(table.notes),
        "sources": list(table.sources),
    }


def rows_csv(columns: Sequence[str], rows: Sequence[Sequence[Cell]]) -> str:
    """Header and rows as CSV (raw values; an empty field for a missing value)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    writer.writerows(["" if v is None else v for v in row] for row in rows)
    return buffer.getvalue()


def table_csv(table: Table) -> str:
    """Header and rows of ``table`` as CSV (raw integers; empty field for a missing value).

    The total, when there is one, is the last row and labelled ``total`` (the same bytes as
    ``ssp-ledger export-table --format csv``). Only when a group is labelled ``total`` too does
    a last column :data:`ROW_KIND` say which row is which (:func:`marked_rows`).
    """
    return rows_csv(*marked_rows(table))


def marked_rows(table: Table) -> tuple[tuple[str, ...], list[tuple[Cell, ...]]]:
    """The columns and rows of ``table`` as a flat file holds them: the same as
    :func:`ssp_ledger.export.marked_rows` (``export-table``), spelled here so that printing a
    table as CSV does not import the export module (a test keeps the two equal)."""
    if not any(row and row[0] == "total" for row in table.groups):
        return tuple(table.columns), [tuple(row) for row in table.rows]
    kinds = ["group"] * len(table.groups) + (["total"] if table.total is not None else [])
    return ((*table.columns, ROW_KIND),
            [(*row, kind) for row, kind in zip(table.rows, kinds, strict=True)])


#: The column saying which row of a CSV is a group and which the total: the value of
#: ``ssp_ledger.export.ROW_KIND``, spelled here so that printing a table does not import the
#: export module (a test keeps them equal).
ROW_KIND = "row_kind"
#: Columns of a table in long form (:func:`long_rows`): one row per figure.
LONG_COLUMNS = ("row", ROW_KIND, "column", "value")


def long_rows(table: Table) -> list[tuple[Cell, str, str, Cell]]:
    """Every figure of ``table`` as one row ``(row label, row kind, column, raw value)``, the
    row kind ``group`` or ``total``: the tidy form in which tables with different columns
    share one CSV. Missing values are left out."""
    kinds = ["group"] * len(table.groups) + (["total"] if table.total is not None else [])
    return [(row[0], kind, column, value)
            for row, kind in zip(table.rows, kinds, strict=True)
            for column, value in zip(table.columns[1:], row[1:], strict=True)
            if value is not None]


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


def render_table(console: Console | None, table: Table, fmt: OutputFormat,
                 partnership_id: str | None = None, title: str | None = None) -> None:
    """Print ``table`` in format ``fmt`` (the ``--format`` option of a command) on ``console``,
    or on standard output when it is None (as plain text when that is what rich would print,
    see the module docstring; through :func:`~ssp_ledger.cli.common.console` otherwise).

    A table that carries its basis (every table :meth:`~ssp_ledger.Ledger.report` returns)
    states it: a line under the table (table and Markdown) or a ``basis`` member (JSON). Its
    notes come first, a line each. CSV stays header and rows only.
    """
    title = title if title is not None else table_title(table, partnership_id)
    stream: IO[str] = console.file if console is not None else sys.stdout
    if fmt is OutputFormat.json:
        stream.write(table_json(table, partnership_id))
    elif fmt is OutputFormat.csv:
        stream.write(table_csv(table))
    elif fmt is OutputFormat.markdown:
        stream.write(table_markdown(table, title))
        if table.notes:
            stream.write("\n" + "".join(f"* {_md_cell(note)}\n" for note in table.notes))
        if table.basis is not None:
            stream.write(f"\n*{_md_cell(basis_line(table.basis))}*\n")
    else:
        basis = basis_line(table.basis) if table.basis is not None else None
        if console is None:
            text = _plain_table(stream, table, title, basis)
            if text is not None:
                stream.write(text)
                return
            from ssp_ledger.cli.common import console as make_console

            console = make_console()
        from rich.text import Text

        print_table(console, table, title)
        for note in table.notes:
            console.print(Text(note), soft_wrap=True)
        if basis is not None:
            console.print(Text(basis, style="dim"), soft_wrap=True)


def _plain_table(stream: IO[str], table: Table, title: str, basis: str | None) -> str | None:
    """What :func:`print_table`, the notes and the basis line print on ``stream``, when it is
    certain without rich (see :meth:`Grid.plain`); None otherwise."""
    if not plain_stream(stream) or not _plain(title) or (basis is not None and not _plain(basis)) \
            or not all(_plain(note) for note in table.notes):
        return None
    body = table_grid(table).plain(_stream_width())
    if body is None:
        return None
    notes = "".join(f"{note}\n" for note in table.notes)
    return f"{title}\n{body}{notes}" + (f"{basis}\n" if basis is not None else "")
