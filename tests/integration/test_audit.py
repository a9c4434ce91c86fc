"""Tamper evidence on real SQLite files: verify names what was changed, removed or moved."""

from __future__ import annotations

import datetime as dt
import sqlite3
from pathlib import Path

import pytest

from ssp_ledger import Ledger
from ssp_ledger.audit import Digest, digest, verify
from tests.unit.test_partnership import club, formed, joined


@pytest.fixture
def store(tmp_path: Path) -> tuple[Path, Digest]:
    path = tmp_path / "ssp.db"
    with Ledger.open(path, projections={}) as ledger:
        ledger.record_many([formed(), joined(), *[club(i) for i in range(1, 9)]])
        head = digest(ledger)
    return path, head


def sql(path: Path, statement: str, *args: object) -> None:
    with sqlite3.connect(path) as conn:
        conn.execute(statement, args)


def check(path: Path, expected: Digest | None = None) -> list[str]:
    with Ledger.open(path, projections={}) as ledger:
        return [str(p) for p in verify(ledger, expected).problems]


def test_untouched_store_verifies(store: tuple[Path, Digest]) -> None:
    path, head = store
    assert check(path, head) == []
    assert head.position == 10
    assert Digest.parse(str(head)) == head


def test_changed_byte_in_a_payload(store: tuple[Path, Digest]) -> None:
    path, head = store
    with sqlite3.connect(path) as conn:
        (state,) = conn.execute("SELECT state FROM stored_events WHERE rowid=5").fetchone()
        i = state.rindex(b"football")
        conn.execute("UPDATE stored_events SET state=? WHERE rowid=5",
                     (state[:i] + b"F" + state[i + 1:],))
    problems = check(path, head)
    assert problems[0].startswith("position 5: changed: event 'c3'")
    assert any("digest-mismatch" in p for p in problems)


def test_changed_last_record_is_caught_by_the_digest(store: tuple[Path, Digest]) -> None:
    path, head = store
    with sqlite3.connect(path) as conn:
        (state,) = conn.execute("SELECT state FROM stored_events WHERE rowid=10").fetchone()
        conn.execute("UPDATE stored_events SET state=? WHERE rowid=10",
                     (state.replace(b"football", b"footbalL"),))
    assert check(path) == []  # nothing after it to break: only the digest can tell
    [problem] = check(path, head)
    assert "digest-mismatch" in problem


def test_deleted_row(store: tuple[Path, Digest]) -> None:
    path, head = store
    sql(path, "DELETE FROM stored_events WHERE rowid=6")
    problems = check(path, head)
    assert problems[0] == (
        "position 7: missing: event 'c5' (ClubRun, stream "
        f"{_stream()} version 7): versions 6..6 are missing")


def test_swapped_rows(store: tuple[Path, Digest]) -> None:
    path, head = store
    sql(path, "UPDATE stored_events SET rowid=100 WHERE rowid=4")
    sql(path, "UPDATE stored_events SET rowid=4 WHERE rowid=8")
    sql(path, "UPDATE stored_events SET rowid=8 WHERE rowid=100")
    problems = check(path, head)
    assert any(p.startswith("position 4: missing: event 'c6'") for p in problems)
    assert any(p.startswith("position 8: reordered: event 'c2'") for p in problems)


def test_truncated_tail(store: tuple[Path, Digest]) -> None:
    path, head = store
    sql(path, "DELETE FROM stored_events WHERE rowid>=9")
    assert check(path) == []  # a shorter log is self-consistent ...
    [problem] = check(path, head)  # ... but not what the auditor wrote down
    assert problem.startswith("position 8: truncated: the log ends at position 8")


def test_growth_after_a_digest_still_verifies(store: tuple[Path, Digest]) -> None:
    path, head = store
    with Ledger.open(path, projections={}) as ledger:
        ledger.record(club(20))
        assert verify(ledger, head).ok
        assert digest(ledger).position == 11


def _stream() -> str:
    from ssp_ledger.store import stream_id

    return str(stream_id("tyne"))


def test_digest_parse_errors() -> None:
    with pytest.raises(ValueError, match="POSITION:SHA256HEX"):
        Digest.parse("12")
    with pytest.raises(ValueError, match="hexadecimal"):
        Digest.parse("12:" + "z" * 64)


def test_recorded_time_is_in_every_record(store: tuple[Path, Digest]) -> None:
    path, _ = store
    with Ledger.open(path, projections={}) as ledger:
        times = [r.recorded_at for r in ledger.events()]
    assert all(t.tzinfo is dt.UTC for t in times)
    assert times == sorted(times)


def test_untouched_store_of_100k_events_verifies(tmp_path: Path) -> None:
    from ssp_ledger.synthetic import SyntheticConfig, generate

    path = tmp_path / "big.db"
    with Ledger.open(path, projections={}) as ledger:
        ledger.record_many(generate(SyntheticConfig(partnerships=6)))  # ~20k events each
        written = digest(ledger)
    assert written.position > 100_000
    with Ledger.open(path, projections={}) as ledger:
        report = verify(ledger, written)
    assert report.ok, report.problems[:3]
    assert report.checked == written.position
