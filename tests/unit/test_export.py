"""Export of projection tables and the log to Parquet and CSV, with a tracing manifest."""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import json
import os
import stat
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest

import ssp_ledger
from ssp_ledger import export
from ssp_ledger.application import Ledger
from ssp_ledger.audit import digest
from ssp_ledger.events import (
    ClubRun,
    CompetitionHeld,
    DomainEvent,
    EventCorrected,
    EventRetracted,
    FundingChanged,
    PartnershipFormed,
    SchoolJoined,
    StaffAssigned,
)
from ssp_ledger.export import LOG_COLUMNS, Manifest, MissingDependency, export_log, export_table
from ssp_ledger.projection import Table
from tests.strategies import FakeClock

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")

P = "tyne"
AS_OF = dt.date(2011, 7, 31)


def _events() -> list[DomainEvent]:
    day = dt.date(2010, 9, 1)
    out: list[DomainEvent] = [
        PartnershipFormed(partnership_id=P, occurred_on=day, event_id="f", name="Tyne SSP",
                          hub_school_id="hub"),
        SchoolJoined(partnership_id=P, occurred_on=day, event_id="j-hub", school_id="hub",
                     school_name="Hub College", phase="sports_college"),
        SchoolJoined(partnership_id=P, occurred_on=day, event_id="j-p1", school_id="p1",
                     school_name="Park Primary", phase="primary"),
        FundingChanged(partnership_id=P, occurred_on=day, event_id="grant",
                       funding_stream="ssp-grant", annual_amount_pence=27_000_000),
        StaffAssigned(partnership_id=P, occurred_on=day, event_id="pdm", staff_id="pdm",
                      role="PDM", school_id="hub", release_minutes_per_week=2220,
                      hourly_cost_pence=3000, funding_stream="ssp-grant"),
    ]
    for i in range(12):
        out.append(ClubRun(
            partnership_id=P, occurred_on=day + dt.timedelta(days=7 * i + 6),
            event_id=f"c{i}", club_id="fc", school_id="hub" if i % 2 else "p1",
            activity="football" if i % 3 else "netball", participants=10 + i,
            send_participants=i % 3, staff_minutes=60, staff_id="pdm" if i % 4 else None))
    out.append(CompetitionHeld(
        partnership_id=P, occurred_on=dt.date(2011, 3, 2), event_id="comp", kind="festival",
        school_ids=("hub", "p1"), activity="athletics", participants=80, staff_minutes=240))
    return out


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def ledger(clock: FakeClock) -> Iterator[Ledger]:
    with Ledger.in_memory(clock=clock) as ledger:
        ledger.record_many(_events())
        yield ledger


def _correct(ledger: Ledger, clock: FakeClock) -> tuple[dt.datetime, dt.datetime]:
    """Correct c0 (p1: 10 -> 99 participants) and retract c1, a week apart; return both times."""
    original = next(r.event for r in ledger.events(P) if r.event.event_id == "c0")
    assert isinstance(original, ClubRun)
    at_fix = clock.advance(7)
    ledger.record(EventCorrected(
        partnership_id=P, occurred_on=original.occurred_on, event_id="fix-c0",
        target_event_id="c0", reason="register recount",
        replacement=msgspec.structs.replace(original, participants=99)))
    at_drop = clock.advance(7)
    ledger.record(EventRetracted(partnership_id=P, occurred_on=original.occurred_on,
                                 event_id="drop-c1", target_event_id="c1", reason="duplicate"))
    return at_fix, at_drop


def _csv_rows(path: Path) -> list[list[str]]:
    with path.open(encoding="utf-8", newline="") as f:
        return list(csv.reader(f))


def _as_text(value: Any) -> str:
    return "" if value is None else str(value)


QUERIES: list[tuple[str, dict[str, Any]]] = [
    ("participation", {"by": "school"}),
    ("participation", {"by": "phase"}),
    ("participation", {"by": "term", "period": "2010/11"}),
    ("staff_time_cost", {"by": "funded"}),
    ("staff_time_cost", {"by": "role", "partnership_id": P}),
    ("funding", {}),
    ("partnership_age", {"by": "school"}),
    ("leaders", {}),
    ("resources", {}),
]


# --------------------------------------------------------------------------- tables


@pytest.mark.parametrize(("projection", "query"), QUERIES)
def test_parquet_round_trip_equals_report(ledger: Ledger, tmp_path: Path, projection: str,
                                          query: dict[str, Any]) -> None:
    out = tmp_path / f"{projection}.parquet"
    manifest = export_table(ledger, projection, out, as_of=AS_OF, **query)
    table = ledger.report(projection, as_of=AS_OF, **query)
    read = pq.read_table(out)
    assert tuple(read.column_names) == table.columns
    assert [tuple(r.values()) for r in read.to_pylist()] == list(table.rows)
    assert manifest.rows == len(table.rows) == read.num_rows
    types_ = {f.name: str(f.type) for f in read.schema}
    assert types_[table.columns[0]] == "string"
    for name, kind in manifest.columns[1:]:
        if kind == "int64":
            assert types_[name] == "int64"


@pytest.mark.parametrize(("projection", "query"), QUERIES)
def test_csv_equals_report(ledger: Ledger, tmp_path: Path, projection: str,
                           query: dict[str, Any]) -> None:
    out = tmp_path / f"{projection}.csv"
    manifest = export_table(ledger, projection, out, as_of=AS_OF, **query)
    table = ledger.report(projection, as_of=AS_OF, **query)
    header, *rows = _csv_rows(out)
    assert tuple(header) == table.columns
    assert rows == [[_as_text(v) for v in row] for row in table.rows]
    assert manifest.format == "csv"
    assert manifest.writer == "csv"


def test_participation_figures_are_typed_integers(ledger: Ledger, tmp_path: Path) -> None:
    out = tmp_path / "p.parquet"
    export_table(ledger, "participation", out, as_of=AS_OF, by="school")
    schema = pq.read_schema(out)
    assert str(schema.field("school").type) == "string"
    for name in ("sessions", "attendances", "send_attendances", "competitions",
                 "competition_participants"):
        assert schema.field(name).type == pa.int64()
    rows = {r["school"]: r for r in pq.read_table(out).to_pylist()}
    assert rows["total"]["attendances"] == sum(10 + i for i in range(12))
    assert rows["hub"]["competition_participants"] == 80


def test_manifest_fields(ledger: Ledger, tmp_path: Path) -> None:
    out = tmp_path / "cost.parquet"
    manifest = export_table(ledger, "staff_time_cost", out, as_of=AS_OF,
                            by="role", period="2010/11", partnership_id=P)
    path = tmp_path / "cost.parquet.manifest.json"
    assert manifest.path == path == export.manifest_path(out)
    written = json.loads(path.read_text(encoding="utf-8"))
    assert path.read_bytes() == manifest.to_json()
    head = digest(ledger)
    assert written["ledger"] == {
        "log_position": ledger.position,
        "digest": str(head),
        "digest_head": head.head,
        "chain_verified": True,
    }
    assert manifest.digest_head == head.head
    assert written["package"] == {"name": "ssp-ledger", "version": ssp_ledger.__version__}
    assert written["kind"] == "projection"
    assert written["projection"] == "staff_time_cost"
    assert written["data_file"] == "cost.parquet"
    assert written["format"] == "parquet"
    assert written["parameters"] == {
        "as_of": "2011-07-31", "known_at": None, "by": "role", "period": "2010/11",
        "partnership_id": P, "params": {},
    }
    assert written["rows"] == pq.read_table(out).num_rows
    assert written["sha256"] == hashlib.sha256(out.read_bytes()).hexdigest()
    assert written["columns"][0] == {"name": "role", "type": "string"}
    assert written["writer"] == f"pyarrow {pa.__version__}"
    assert written["created_by"] == "ssp_ledger.export.export_table"
    assert "created_at" not in written
    # the parameters also travel inside the Parquet file
    meta = pq.read_schema(out).metadata
    assert json.loads(meta[b"ssp_ledger.parameters"]) == written["parameters"]


def test_created_at_only_when_given(ledger: Ledger, tmp_path: Path) -> None:
    moment = dt.datetime(2024, 5, 1, 12, 0, tzinfo=dt.timezone(dt.timedelta(hours=1)))
    manifest = export_table(ledger, "leaders", tmp_path / "l.csv", as_of=AS_OF,
                            created_at=moment)
    assert manifest.to_dict()["created_at"] == "2024-05-01T11:00:00+00:00"
    with pytest.raises(ValueError, match="timezone-aware"):
        export_table(ledger, "leaders", tmp_path / "l.csv", as_of=AS_OF,
                     created_at=dt.datetime(2024, 5, 1))


@pytest.mark.parametrize("suffix", ["parquet", "csv"])
def test_repeated_exports_are_byte_identical(ledger: Ledger, tmp_path: Path,
                                             suffix: str) -> None:
    files = []
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
        out = tmp_path / folder / f"participation.{suffix}"
        export_table(ledger, "participation", out, as_of=AS_OF, by="school")
        files.append((out.read_bytes(), export.manifest_path(out).read_bytes()))
    assert files[0] == files[1]
    again = tmp_path / "a" / f"participation.{suffix}"
    export_table(ledger, "participation", again, as_of=AS_OF, by="school")
    assert (again.read_bytes(), export.manifest_path(again).read_bytes()) == files[0]


def test_known_at_export_differs_after_a_correction(ledger: Ledger, clock: FakeClock,
                                                    tmp_path: Path) -> None:
    before = clock.now
    at_fix, _ = _correct(ledger, clock)
    old = export_table(ledger, "participation", tmp_path / "old.parquet", as_of=AS_OF,
                       by="school", known_at=before)
    new = export_table(ledger, "participation", tmp_path / "new.parquet", as_of=AS_OF,
                       by="school", known_at=at_fix)
    old_rows = {r["school"]: r for r in pq.read_table(tmp_path / "old.parquet").to_pylist()}
    new_rows = {r["school"]: r for r in pq.read_table(tmp_path / "new.parquet").to_pylist()}
    assert new_rows["p1"]["attendances"] - old_rows["p1"]["attendances"] == 99 - 10
    assert old.sha256 != new.sha256
    assert old.parameters["known_at"] == before.isoformat()
    assert new.parameters["known_at"] == at_fix.isoformat()
    # same ledger state, so the same digest: the parameters say which view was taken
    assert old.digest == new.digest == str(digest(ledger))
    expected = ledger.report("participation", as_of=AS_OF, by="school", known_at=before)
    assert old.rows == len(expected.rows)


def test_projection_parameters_are_passed_and_recorded(ledger: Ledger, tmp_path: Path) -> None:
    manifest = export_table(ledger, "staff_time_cost", tmp_path / "c.csv", as_of=AS_OF,
                            default_hourly_cost_pence=5000)
    assert manifest.parameters["params"] == {"default_hourly_cost_pence": 5000}
    table = ledger.report("staff_time_cost", as_of=AS_OF, default_hourly_cost_pence=5000)
    assert _csv_rows(tmp_path / "c.csv")[1:] == [[_as_text(v) for v in r] for r in table.rows]


def test_export_retries_when_the_log_grows_meanwhile(ledger: Ledger, clock: FakeClock,
                                                     tmp_path: Path) -> None:
    """A writer appending during the export: the data and the digest still match."""
    original = ledger.report
    calls: list[int] = []

    def report_then_append(*args: Any, **kwargs: Any) -> Table:
        table = original(*args, **kwargs)
        if not calls:
            clock.advance(1)
            ledger.record(ClubRun(partnership_id=P, occurred_on=dt.date(2011, 5, 3),
                                  event_id="late", club_id="fc", school_id="hub",
                                  activity="football", participants=7))
        calls.append(1)
        return table

    ledger.report = report_then_append  # type: ignore[method-assign]
    manifest = export_table(ledger, "participation", tmp_path / "p.parquet", as_of=AS_OF)
    assert len(calls) == 2
    assert manifest.log_position == ledger.position
    assert manifest.digest == str(digest(ledger))
    total = pq.read_table(tmp_path / "p.parquet").to_pylist()[-1]
    assert total["attendances"] == sum(10 + i for i in range(12)) + 7


def test_bad_targets(ledger: Ledger, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="does not exist"):
        export_table(ledger, "leaders", tmp_path / "missing" / "l.csv", as_of=AS_OF)
    with pytest.raises(ValueError, match="is a folder"):
        export_table(ledger, "leaders", tmp_path, as_of=AS_OF)
    with pytest.raises(ValueError, match="parquet or csv"):
        export_table(ledger, "leaders", tmp_path / "l.x", as_of=AS_OF,
                     format="xlsx")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="timezone-aware"):
        export_log(ledger, tmp_path / "log.csv", known_at=dt.datetime(2011, 1, 1))
    assert list(tmp_path.iterdir()) == []


def test_format_follows_the_file_name_unless_given(ledger: Ledger, tmp_path: Path) -> None:
    assert export_table(ledger, "leaders", tmp_path / "a.csv", as_of=AS_OF).format == "csv"
    assert export_table(ledger, "leaders", tmp_path / "a.pq", as_of=AS_OF).format == "parquet"
    forced = export_table(ledger, "leaders", tmp_path / "b.csv", as_of=AS_OF, format="parquet")
    assert forced.format == "parquet"
    assert pq.read_table(tmp_path / "b.csv").num_rows == forced.rows


# --------------------------------------------------------------------------- missing pyarrow


def test_missing_pyarrow_gives_the_install_command(ledger: Ledger, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    real = export._import_module

    def without_pyarrow(name: str) -> types.ModuleType:
        if name == "pyarrow" or name.startswith("pyarrow."):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return real(name)

    monkeypatch.setattr(export, "_import_module", without_pyarrow)
    with pytest.raises(MissingDependency, match=r"pip install 'ssp-ledger\[parquet\]'"):
        export_table(ledger, "participation", tmp_path / "p.parquet", as_of=AS_OF)
    with pytest.raises(ImportError):  # also an ImportError for callers that catch that
        export_log(ledger, tmp_path / "log.parquet")
    assert list(tmp_path.iterdir()) == []  # nothing half-written
    # CSV needs nothing optional
    assert export_table(ledger, "participation", tmp_path / "p.csv", as_of=AS_OF).rows == 1


# --------------------------------------------------------------------------- the log


def test_log_parquet_has_one_typed_row_per_record(ledger: Ledger, clock: FakeClock,
                                                  tmp_path: Path) -> None:
    _correct(ledger, clock)
    out = tmp_path / "log.parquet"
    manifest = export_log(ledger, out)
    read = pq.read_table(out)
    assert manifest.kind == "log"
    assert manifest.projection is None
    assert read.num_rows == manifest.rows == ledger.position
    assert tuple(read.column_names) == tuple(n for n, _ in LOG_COLUMNS)
    schema = read.schema
    assert schema.field("occurred_on").type == pa.date32()
    assert schema.field("recorded_at").type == pa.timestamp("us", tz="UTC")
    assert schema.field("participants").type == pa.int64()
    assert schema.field("school_ids").type == pa.list_(pa.string())
    assert schema.field("independent").type == pa.bool_()
    rows = read.to_pylist()
    records = list(ledger.read())
    assert [r["position"] for r in rows] == [p for p, _ in records]
    assert [r["event_id"] for r in rows] == [rec.event.event_id for _, rec in records]
    assert [r["recorded_at"] for r in rows] == [rec.recorded_at for _, rec in records]
    comp = next(r for r in rows if r["type"] == "CompetitionHeld")
    assert comp["school_ids"] == ["hub", "p1"]
    assert comp["school_id"] is None
    fix = next(r for r in rows if r["type"] == "EventCorrected")
    assert fix["target_event_id"] == "c0"
    assert json.loads(fix["replacement"])["participants"] == 99


def test_log_csv_matches_parquet(ledger: Ledger, clock: FakeClock, tmp_path: Path) -> None:
    _correct(ledger, clock)
    export_log(ledger, tmp_path / "log.csv")
    export_log(ledger, tmp_path / "log.parquet")
    header, *rows = _csv_rows(tmp_path / "log.csv")
    assert tuple(header) == tuple(n for n, _ in LOG_COLUMNS)
    expected = pq.read_table(tmp_path / "log.parquet").to_pylist()
    assert len(rows) == len(expected)
    for row, want in zip(rows, expected, strict=True):
        assert row[0] == str(want["position"])
        assert dt.datetime.fromisoformat(row[1]) == want["recorded_at"]
        assert row[5] == want["occurred_on"].isoformat()
        got = dict(zip(header, row, strict=True))
        for name in ("participants", "school_id", "type"):
            assert got[name] == _as_text(want[name])
        if want["school_ids"] is not None:
            assert json.loads(got["school_ids"]) == want["school_ids"]


def test_effective_log_sums_equal_the_report(ledger: Ledger, clock: FakeClock,
                                             tmp_path: Path) -> None:
    """What an analyst sums over the effective log is what the ledger reports."""
    before = clock.now
    _, at_drop = _correct(ledger, clock)
    for known in (before, at_drop, None):
        out = tmp_path / "facts.parquet"
        manifest = export_log(ledger, out, effective=True, known_at=known)
        assert manifest.parameters["effective"] is True
        rows = pq.read_table(out).to_pylist()
        attendances = sum(r["participants"] for r in rows
                          if r["type"] == "ClubRun" and r["occurred_on"] <= AS_OF)
        report = ledger.participation(as_of=AS_OF, known_at=known)
        assert attendances == report.row("total")["attendances"]
        assert not {r["type"] for r in rows} & {"EventCorrected", "EventRetracted"}
    fixed = next(r for r in rows if r["event_id"] == "c0")
    assert fixed["participants"] == 99
    assert fixed["position"] == ledger.position - 1  # the correction's record holds the content
    assert "c1" not in {r["event_id"] for r in rows}


def test_log_filters(ledger: Ledger, clock: FakeClock, tmp_path: Path) -> None:
    before = clock.now
    _correct(ledger, clock)
    early = export_log(ledger, tmp_path / "a.csv", known_at=before)
    assert early.rows == len(_events())
    assert early.log_position == ledger.position  # the ledger as it is; the view is older
    dated = export_log(ledger, tmp_path / "b.csv", as_of=dt.date(2010, 9, 30))
    days = [dt.date.fromisoformat(r[5]) for r in _csv_rows(tmp_path / "b.csv")[1:]]
    assert dated.rows == len(days) > 0
    assert max(days) <= dt.date(2010, 9, 30)
    other = export_log(ledger, tmp_path / "c.csv", partnership_id="elsewhere")
    assert other.rows == 0
    assert _csv_rows(tmp_path / "c.csv") == [[n for n, _ in LOG_COLUMNS]]


def test_empty_ledger_exports_empty_files(tmp_path: Path) -> None:
    with Ledger.in_memory() as empty:
        manifest = export_log(empty, tmp_path / "log.parquet")
        assert manifest.rows == 0
        assert manifest.log_position == 0
        assert pq.read_table(tmp_path / "log.parquet").num_rows == 0
        table = export_table(empty, "participation", tmp_path / "p.csv", as_of=AS_OF)
        assert _csv_rows(tmp_path / "p.csv")[1] == ["total", "0", "0", "0", "0", "0"]
        assert table.rows == 1


def test_manifest_is_a_plain_value() -> None:
    manifest = Manifest(kind="log", projection=None, data_file="x.csv", format="csv",
                        columns=(("a", "int64"),), rows=0, sha256="0" * 64, parameters={},
                        log_position=0, digest="0:" + "0" * 64, chain_verified=True,
                        version="0", writer="csv", created_by="test")
    assert json.loads(manifest.to_json())["ledger"]["digest_head"] == "0" * 64


# --------------------------------------------------------------------------- output files


def test_output_file_is_all_or_nothing(tmp_path: Path) -> None:
    from ssp_ledger.outfile import open_output

    target = tmp_path / "data.csv"
    target.write_bytes(b"old")

    def fail_halfway() -> None:
        with open_output(target) as stream:
            stream.write(b"half")
            raise RuntimeError

    with pytest.raises(RuntimeError):
        fail_halfway()
    assert target.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data.csv"]
    with open_output(target) as stream:
        stream.write(b"new")
    assert target.read_bytes() == b"new"


def test_output_file_mode_follows_the_umask(tmp_path: Path) -> None:
    from ssp_ledger.outfile import open_output

    old = os.umask(0o027)
    try:
        with open_output(tmp_path / "a.csv") as stream:
            stream.write(b"x")
        with open(tmp_path / "b.csv", "wb") as plain:  # the reference: what open() gives
            plain.write(b"x")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "a.csv").stat().st_mode) == 0o640
    assert (tmp_path / "a.csv").stat().st_mode == (tmp_path / "b.csv").stat().st_mode


def test_output_to_standard_output_is_written_through() -> None:
    from ssp_ledger.outfile import is_stream, open_output

    sink = io.BytesIO()
    with open_output("-", stdout=sink) as stream:
        stream.write(b"rows")
    assert sink.getvalue() == b"rows"
    assert is_stream("-")
    assert is_stream("/dev/null")


def test_export_table_to_a_stream_writes_no_manifest_unless_asked(ledger: Ledger,
                                                                    tmp_path: Path) -> None:
    manifest = export_table(ledger, "participation", "/dev/null", as_of=dt.date(2011, 7, 31),
                            format="csv")
    assert manifest.path is None
    elsewhere = tmp_path / "m.json"
    manifest = export_table(ledger, "participation", "/dev/null", as_of=dt.date(2011, 7, 31),
                            format="csv", manifest=elsewhere)
    assert manifest.path == elsewhere
    assert json.loads(elsewhere.read_bytes())["sha256"] == manifest.sha256
