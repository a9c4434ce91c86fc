"""The Table for code: groups apart from the total, iteration, text, notebooks, data frames."""

from __future__ import annotations

import datetime as dt
import io
import json
import sys

import pytest
from rich.console import Console

from ssp_ledger import ClubRun, Ledger
from ssp_ledger.cli import render
from ssp_ledger.cli.render import table_csv, table_json
from ssp_ledger.events import PartnershipFormed, SchoolJoined
from ssp_ledger.projection import Query, Table

AS_OF = dt.date(2011, 7, 31)
D = dt.date(2010, 1, 4)


def grouped() -> Table:
    query = Query(as_of=AS_OF, by="school")
    return Table.answer("demo", query, ("school", "minutes", "cost_pence", "note"),
                        [("a", 60, 1_234_56, "x<y"), ("total", 30, 100, None),
                         ("total", 90, 1_235_56, None)])


def test_a_trailing_total_row_is_kept_apart_from_the_groups() -> None:
    table = grouped()
    assert table.total == ("total", 90, 1_235_56, None)
    assert table.groups == (("a", 60, 1_234_56, "x<y"), ("total", 30, 100, None))
    assert len(table) == 2
    assert [row["school"] for row in table] == ["a", "total"]
    assert table.totals == {"school": "total", "minutes": 90, "cost_pence": 1_235_56,
                            "note": None}
    # compatibility: rows, to_dicts and column still list every row, the total last
    assert table.rows[-1] == table.total
    assert table.column("minutes") == [60, 30, 90]
    # a group called "total" is found as a group; the total is .total / .totals
    assert table.row("total")["minutes"] == 30


def test_row_total_still_works_when_no_group_is_called_total() -> None:
    table = Table.answer("demo", Query(as_of=AS_OF), ("group", "n"), [("total", 3)])
    assert len(table) == 0
    assert bool(table)
    assert list(table) == []
    assert table.row("total") == {"group": "total", "n": 3}
    with pytest.raises(KeyError):
        table.row("nope")


def test_answer_takes_an_explicit_total_or_none() -> None:
    query = Query(as_of=AS_OF, by="school")
    explicit = Table.answer("demo", query, ("school", "n"), [("total", 1)], total=("total", 1))
    assert explicit.groups == (("total", 1),)
    assert explicit.total == ("total", 1)
    none = Table.answer("demo", query, ("school", "n"), [("a", 1), ("total", 1)], total=False)
    assert none.total is None
    assert len(none) == 2
    with pytest.raises(ValueError, match=r"last of Table\.rows"):
        Table(projection="x", columns=("g", "n"), rows=(("a", 1),), as_of=AS_OF,
              total=("total", 1))
    assert explicit != Table.answer("demo", query, ("school", "n"), [("total", 1),
                                                                     ("total", 1)], total=False)


def test_units_come_from_the_column_names() -> None:
    assert grouped().units == {"school": None, "minutes": None, "cost_pence": "pence",
                               "note": None}
    table = Table.answer("demo", Query(as_of=AS_OF), ("g", "release_minutes", "tenure_days"),
                         [("total", 1, 2)])
    assert table.units == {"g": None, "release_minutes": "minutes", "tenure_days": "days"}


def test_str_rich_and_html_show_every_row_readably() -> None:
    table = grouped()
    text = str(table)
    lines = text.splitlines()
    assert lines[0] == "demo as of 2011-07-31, by school"
    assert "cost (£)" in lines[1]
    assert "£1,234.56" in text
    assert lines[-1].startswith("total")
    assert "£1,235.56" in lines[-1]
    assert set(lines[-2]) <= {"-", " "}  # a rule above the total
    page = table._repr_html_()
    assert "x&lt;y" in page
    assert "<tfoot>" in page
    assert "£1,235.56" in page.split("<tfoot>")[1]
    out = io.StringIO()
    Console(width=120, file=out).print(table)
    assert "£1,234.56" in out.getvalue()
    assert "demo as of 2011-07-31, by school" in out.getvalue()


def test_json_and_csv_tell_the_total_from_a_group_called_total() -> None:
    table = grouped()
    doc = json.loads(table_json(table))
    assert doc["total"] == {"school": "total", "minutes": 90, "cost_pence": 123556, "note": None}
    assert [r["minutes"] for r in doc["rows"]] == [60, 30, 90]
    assert doc["units"] == {"cost_pence": "pence"}
    lines = table_csv(table).splitlines()
    assert lines[0] == "school,minutes,cost_pence,note,row_kind"
    assert lines[1:] == ["a,60,123456,x<y,group", "total,30,100,,group",
                         "total,90,123556,,total"]
    plain = Table.answer("demo", Query(as_of=AS_OF, by="school"), ("school", "n"),
                         [("a", 1), ("total", 1)])
    assert table_csv(plain) == "school,n\na,1\ntotal,1\n"  # no ambiguity: no extra column


def test_csv_output_marks_rows_as_export_table_does() -> None:
    """``report --format csv`` spells the export module's row marking itself (so printing does
    not import it): the two agree on every kind of table."""
    from ssp_ledger import export

    assert render.ROW_KIND == export.ROW_KIND
    query = Query(as_of=AS_OF, by="school")
    tables = [grouped(),
              Table.answer("demo", query, ("school", "n"), [("a", 1), ("total", 1)]),
              Table.answer("demo", query, ("school", "n"), [("total", 2), ("b", 1)]),
              Table.answer("demo", Query(as_of=AS_OF), ("group", "n"), [("total", 3)]),
              Table.answer("demo", query, ("school", "n"), [])]
    for table in tables:
        assert render.marked_rows(table) == export.marked_rows(table)


def test_a_school_called_total_does_not_collide_in_a_ledger_report() -> None:
    ledger = Ledger.in_memory()
    ledger.record_many([
        PartnershipFormed(partnership_id="p", occurred_on=D, event_id="f", name="P",
                          hub_school_id="total"),
        SchoolJoined(partnership_id="p", occurred_on=D, event_id="j", school_id="total",
                     school_name="Total School", phase="secondary"),
        ClubRun(partnership_id="p", occurred_on=D, event_id="c", club_id="k", school_id="total",
                activity="netball", participants=7),
    ])
    by_school = ledger.participation(as_of=AS_OF, by="school")
    assert [row["school"] for row in by_school] == ["total"]
    assert by_school.totals is not None
    assert by_school.totals["attendances"] == 7
    age = ledger.partnership_age(as_of=AS_OF, by="school")
    assert age.total is None
    assert [row["school"] for row in age] == ["total"]


def test_to_arrow_keeps_types_units_and_the_total_apart() -> None:
    pa = pytest.importorskip("pyarrow")
    table = grouped()
    frame = table.to_arrow()
    assert frame.num_rows == 2
    assert frame.schema.field("minutes").type == pa.int64()
    assert json.loads(frame.schema.metadata[b"ssp_ledger.units"])["cost_pence"] == "pence"
    assert table.to_arrow(total=True).column("minutes").to_pylist() == [60, 30, 90]


@pytest.mark.parametrize(("method", "module", "extra"),
                         [("to_pandas", "pandas", "pandas"), ("to_polars", "polars", "polars"),
                          ("to_arrow", "pyarrow", "arrow")])
def test_a_missing_library_is_named_with_its_extra(monkeypatch: pytest.MonkeyPatch,
                                                   method: str, module: str, extra: str) -> None:
    monkeypatch.setitem(sys.modules, module, None)  # importing it now fails
    with pytest.raises(ImportError, match=rf"pip install 'ssp-ledger\[{extra}\]'"):
        getattr(grouped(), method)()


def test_to_pandas_and_to_polars_when_installed() -> None:
    pd = pytest.importorskip("pandas")
    frame = grouped().to_pandas(total=True)
    assert isinstance(frame, pd.DataFrame)
    assert list(frame["minutes"]) == [60, 30, 90]
    assert frame.attrs["units"]["cost_pence"] == "pence"


def test_to_polars_when_installed() -> None:
    pl = pytest.importorskip("polars")
    frame = grouped().to_polars()
    assert isinstance(frame, pl.DataFrame)
    assert frame["minutes"].to_list() == [60, 30]
