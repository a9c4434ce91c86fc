"""How tables are laid out for people (ssp_ledger.cli.render): folded, never cut."""

from __future__ import annotations

import datetime as dt
import io
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rich.console import Console

from ssp_ledger.cli.render import basis_line, print_table, table_grid
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
