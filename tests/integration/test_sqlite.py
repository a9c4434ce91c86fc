"""The ledger on real SQLite files."""

from __future__ import annotations

import datetime as dt
import sqlite3
from pathlib import Path

import pytest

from ssp_ledger import ClubRun, Ledger, NotAMember, StoreError
from ssp_ledger.store import GENESIS, record_hash, stream_id
from tests.strategies import FORMED
from tests.unit.test_partnership import club, formed, joined

AS_OF = dt.date(2007, 7, 31)


def rows(path: Path) -> int:
    with sqlite3.connect(path) as conn:
        (count,) = conn.execute("SELECT COUNT(*) FROM stored_events").fetchone()
    return int(count)


def test_events_and_reports_survive_reopening(tmp_path: Path) -> None:
    path = tmp_path / "ssp.db"
    with Ledger.open(path) as ledger:
        ledger.record_many([formed(), joined(), joined("p1", 3), club(5), club(6, "p1")])
        before = ledger.participation(as_of=AS_OF, by="school")
        events = list(ledger.events())
    with Ledger.open(path) as again:
        assert list(again.events()) == events
        assert again.participation(as_of=AS_OF, by="school") == before
        # the reopened ledger continues the hash chain where the file left off
        again.record(club(7))
        rows_ = again.log.app.recorder.select_events(stream_id("tyne"))
        m = again.log.mapper
        prev = GENESIS
        for row in rows_:
            assert m.decode(row).prev_hash == prev
            prev = record_hash(row, m.plaintext(row))


def test_rejected_batch_leaves_the_file_unchanged(tmp_path: Path) -> None:
    path = tmp_path / "ssp.db"
    with Ledger.open(path) as ledger:
        ledger.record_many([formed(), joined()])
        before = path.read_bytes()
        with pytest.raises(NotAMember):
            ledger.record_many([club(1), club(2), club(3, "ghost")])
        assert rows(path) == 2
    assert rows(path) == 2
    assert path.read_bytes() == before


def test_second_process_view_catches_up(tmp_path: Path) -> None:
    path = tmp_path / "ssp.db"
    writer = Ledger.open(path)
    reader = Ledger.open(path)
    writer.record_many([formed(), joined(), club(1)])
    assert reader.participation(as_of=AS_OF).row("total")["sessions"] == 1
    writer.record(club(2))
    assert reader.participation(as_of=AS_OF).row("total")["sessions"] == 2
    # the reader can write too: its decision state catches up with the writer's appends
    reader.record(club(3))
    writer.record(club(4))
    assert rows(path) == 6
    assert writer.participation(as_of=AS_OF).row("total")["sessions"] == 4


def test_missing_folder_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="does not exist"):
        Ledger.open(tmp_path / "no" / "such" / "ssp.db")


def test_large_batch_is_one_transaction(tmp_path: Path) -> None:
    path = tmp_path / "ssp.db"
    events = [formed(), joined()] + [
        ClubRun(partnership_id="tyne", occurred_on=FORMED + dt.timedelta(days=i % 300),
                event_id=f"c{i}", club_id="fc", school_id="hub", activity="football",
                participants=i % 30) for i in range(5000)
    ]
    with Ledger.open(path) as ledger:
        result = ledger.record_many(events)
        assert result.recorded == 5002
        assert ledger.participation(as_of=dt.date(2008, 1, 1)).row("total")["attendances"] == sum(
            i % 30 for i in range(5000))
