"""How tables are laid out for people (ssp_ledger.cli.render): folded, never cut."""

from __future__ import annotations

import datetime as dt
import io
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rich.console import Console

from ssp_ledger.cli.common import OutputFormat
from ssp_ledger.cli.render import (
    Grid,
    basis_line,
    plain_stream,
    print_grid,
    print_table,
    render_table,
    table_grid,
)
from ssp_ledger.projection import Query, Table

AS_OF = dt.date(2011, 7, 31)


def make(columns: tuple[str, ...], rows: list[tuple[str | int | None, ...]]) -> Table:
    return Table.answer("demo", Query(as_of=AS_OF, by=columns[0]), columns, rows)


def printed(table: Table, width: int) -> str:
    out = io.StringIO()
    console = Console(file=out, width=width, highlight=False, emoji=False)
    print_table(console, table, "title")
    return out.getvalue()


def test_empty_columns_are_dropped_but_the_group_column_stays() -> None:
    table = make(("school", "note", "minutes"), [(None, None, 5), ("total", None, 5)])
    grid = table_grid(table)
    assert grid.headers == ("school", "minutes")
    assert "note" not in printed(table, 80)


def test_a_wide_table_folds_into_blocks_repeating_the_group_column() -> None:
    columns = ("school", *(f"measure_{i}_pence" for i in range(8)))
    rows = [("ssp-000-hub", *(123_456_789 * (i + 1) for i in range(8))),
            ("total", *(123_456_789 * (i + 1) for i in range(8)))]
    text = printed(make(columns, rows), 80)
    assert text.count("(columns, part ") >= 2
    assert text.count("ssp-000-hub") == text.count("(columns, part ")
    assert all(len(line) <= 80 for line in text.splitlines() if "│" in line)


def test_a_table_too_wide_to_fold_is_shown_a_record_at_a_time() -> None:
    columns = ("school", "sessions", "attendances", "competition_participants")
    rows = [("a-partnership-with-a-long-name", 1, 2_000_000, 3), ("total", 1, 2_000_000, 3)]
    text = printed(make(columns, rows), 36)
    assert "(columns, part" not in text
    assert "┃" not in text  # no header row: one line per field
    assert text.count("school") == 2  # the group field opens each record
    assert "2,000,000" in text


def test_basis_line_names_position_heads_checkpoint_and_known_at() -> None:
    basis = {"position": 12, "heads_sha256": "ab" * 32, "checkpoint": "'default' at 10",
             "known_at": "2011-09-01T00:00:00+00:00"}
    assert basis_line(basis) == ("basis: log position 12, heads abababababababab, "
                                 "checkpoint 'default' at 10, known at 2011-09-01T00:00:00+00:00")
    replayed = basis_line({**basis, "checkpoint": None, "known_at": None})
    assert replayed.endswith(", replayed, known at: everything recorded")


figures = st.integers(min_value=-(10**12), max_value=10**12)
texts = st.text(alphabet="abc -xyz", min_size=0, max_size=40)


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 9), st.lists(texts, min_size=1, max_size=4),
       st.integers(min_value=40, max_value=200), st.data())
def test_every_figure_is_whole_at_any_width(n: int, labels: list[str], width: int,
                                            data: st.DataObject) -> None:
    columns = ("group", "note", *(f"m{i}" + ("_pence" if i % 2 else "_minutes")
                                  for i in range(n)))
    rows = []
    for label in labels:
        values = data.draw(st.lists(figures, min_size=n, max_size=n))
        rows.append((label.strip() or "x", data.draw(texts), *values))
    table = make(columns, rows)
    text = printed(table, width)
    tokens = set(re.findall(r"[^\s│┃]+", text))
    grid = table_grid(table)
    for row in grid.cells:
        for i in grid.right:
            assert row[i] in tokens
    assert all(len(line) <= width for line in text.splitlines() if "│" in line)


@pytest.mark.parametrize("width", [60, 200])
def test_total_row_is_bold_after_a_rule(width: int) -> None:
    table = make(("school", "minutes"), [("a", 1), ("total", 1)])
    assert table_grid(table).bold == {1}
    assert "├" in printed(table, width)


# --------------------------------------------------------------------------- plain text

ascii_texts = st.text(alphabet="ab -xy.Z1", min_size=0, max_size=30)


def rich_printed(grid: Grid, width: int) -> str:
    """What :func:`print_grid` prints through rich on a non-terminal console ``width`` wide."""
    out = io.StringIO()
    print_grid(Console(file=out, width=width, highlight=False, emoji=False, soft_wrap=False),
               grid)
    return out.getvalue()


@settings(max_examples=400, deadline=None)
@given(st.lists(ascii_texts.filter(str.strip), min_size=1, max_size=6),
       st.integers(0, 5), st.integers(min_value=20, max_value=200), st.data())
def test_plain_text_is_what_rich_prints(headers: list[str], rows: int, width: int,
                                        data: st.DataObject) -> None:
    """Whenever :meth:`Grid.plain` answers, it is rich's output byte for byte: headers that
    wrap, empty and spaced cells, rules, right-aligned figures, any width."""
    n = len(headers)
    right = frozenset(data.draw(st.sets(st.integers(0, n - 1))))
    cells = tuple(tuple(data.draw(st.from_regex(r"\A[0-9,.-]{0,12}\Z") if i in right
                                  else ascii_texts) for i in range(n)) for _ in range(rows))
    rules = frozenset(data.draw(st.sets(st.integers(0, max(0, rows - 1)))))
    bold = frozenset({rows - 1} if rows and data.draw(st.booleans()) else ())
    grid = Grid(headers=tuple(headers), cells=cells, right=right, bold=bold, rules=rules)
    plain = grid.plain(width)
    if plain is not None:
        assert plain == rich_printed(grid, width)


def test_a_report_table_that_fits_is_printed_as_plain_text() -> None:
    """The usual report (it fits the width of a pipe) takes the plain path, and its text is
    rich's, title and basis lines included."""
    columns = ("school", "sessions", "attendances", "send_attendances", "note")
    rows = [(f"ssp-00{i}-pri-0{i}", i * 1_000, i * 21_708, 0, "a b" * i) for i in range(1, 6)]
    table = make(columns, [*rows, ("total", 15_000, 325_620, 0, None)])
    grid = table_grid(table)
    plain = grid.plain(200)
    assert plain is not None
    assert plain == rich_printed(grid, 200)
    assert "│ total " in plain
    assert grid.plain(30) is None  # folded into blocks: rich's layout
    unicode = make(("school", "sessions"), [("Zoë's", 1), ("total", 1)])
    assert table_grid(unicode).plain(200) is None


def test_render_table_writes_plain_text_only_where_rich_would_print_the_same(
        monkeypatch: pytest.MonkeyPatch) -> None:
    table = make(("school", "sessions"), [("hub", 3), ("total", 3)])

    class Pipe(io.StringIO):
        encoding = "utf-8"

    out = Pipe()
    expected = io.StringIO()
    print_table(Console(file=expected, width=200, highlight=False, emoji=False), table, "t")
    monkeypatch.delenv("FORCE_COLOR", raising=False)
    monkeypatch.delenv("TTY_COMPATIBLE", raising=False)
    monkeypatch.delenv("COLUMNS", raising=False)
    monkeypatch.setattr("sys.stdout", out)
    render_table(None, table, OutputFormat.table, title="t")
    assert out.getvalue() == expected.getvalue()
    assert plain_stream(out)
    monkeypatch.setenv("FORCE_COLOR", "1")
    assert not plain_stream(out)  # rich would colour it: rich prints it
