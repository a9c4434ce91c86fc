"""A report that finds the store unchanged reads nothing; one that finds it changed is current.

The ledger asks the store a cheap question before every report (SQLite: ``PRAGMA
data_version``; elsewhere the newest position) and reads the log only when the answer changed.
These tests hold it to both halves: a store nobody wrote to is not read again (SQLite's own
statement trace shows nothing but the change check), and whatever another ledger appended,
in any number of batches, is in the next report exactly as a fresh replay of the whole log
would give it (a hypothesis property, on SQLite and on PostgreSQL when a server is configured).
"""

from __future__ import annotations

import datetime as dt
import os
import sqlite3
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ssp_ledger import DomainEvent, Ledger
from ssp_ledger.runner import ProjectionRunner
from tests.integration.conftest import POSTGRES_ENV, drop_schema, ledger_url, new_schema
from tests.strategies import History, histories
from tests.unit.test_partnership import club, formed, joined

AS_OF = dt.date(2007, 7, 31)
#: Reports compared after every batch: (projection, grouping, as-of date).
ASKED: tuple[tuple[str, str | None, dt.date], ...] = (
    ("participation", "school", dt.date(2010, 12, 31)),
    ("participation", None, dt.date(2008, 3, 1)),
    ("staff_time_cost", "role", dt.date(2010, 12, 31)),
    ("funding", None, dt.date(2009, 7, 31)),
    ("partnership_age", None, dt.date(2010, 12, 31)),
    ("leaders", None, dt.date(2010, 12, 31)),
)


def _traced(ledger: Ledger) -> list[str]:
    """Every statement the read-only store's connection runs from now on."""
    statements: list[str] = []
    conn: sqlite3.Connection = ledger.log._conn  # type: ignore[attr-defined]
    conn.set_trace_callback(statements.append)
    return statements


def test_a_read_only_report_on_an_unchanged_file_runs_only_the_change_check(
        tmp_path: Path) -> None:
    path = str(tmp_path / "ssp.db")
    with Ledger.open(path) as writer:
        writer.record_many([formed(), joined(), club(1), club(2)])
        with Ledger.open(path, mode="read") as reader:
            first = reader.participation(as_of=AS_OF, by="school")
            reader.staff_time_cost(as_of=AS_OF, partnership_id="tyne")  # looks "tyne" up once
            statements = _traced(reader)
            for _ in range(5):
                again = reader.participation(as_of=AS_OF, by="school")
                assert again == first
                assert again.basis == first.basis
                reader.staff_time_cost(as_of=AS_OF, partnership_id="tyne")
            assert statements
            assert set(statements) <= {"PRAGMA data_version"}
            writer.record(club(3))
            statements.clear()
            assert reader.participation(as_of=AS_OF).row("total")["sessions"] == 3
            assert len(statements) > 1  # the change was seen and the new rows read


def test_a_writing_ledger_watches_its_file_with_one_read_only_connection(
        tmp_path: Path) -> None:
    path = str(tmp_path / "ssp.db")
    with Ledger.open(path) as ledger:
        ledger.record_many([formed(), joined(), club(1)])
        ledger.participation(as_of=AS_OF)
        watcher: sqlite3.Connection = ledger.log._watcher  # type: ignore[attr-defined]
        statements: list[str] = []
        watcher.set_trace_callback(statements.append)
        with pytest.raises(sqlite3.OperationalError, match="readonly"):
            watcher.execute("CREATE TABLE t (x)")
        for _ in range(3):
            ledger.participation(as_of=AS_OF)
        assert statements == ["CREATE TABLE t (x)", *["PRAGMA data_version"] * 3]
    assert ledger.log._watcher is None  # type: ignore[attr-defined]


# --------------------------------------------------------------------------- the property


@contextmanager
def _fresh_store(backend: str) -> Iterator[str]:
    """An empty store location for one hypothesis example."""
    if backend == "sqlite":
        with tempfile.TemporaryDirectory(prefix="ssp-fresh-") as folder:
            yield os.path.join(folder, "ssp.db")
        return
    url = os.environ.get(POSTGRES_ENV, "").strip()
    schema = new_schema(url)
    try:
        yield ledger_url(url, schema)
    finally:
        drop_schema(url, schema)


@st.composite
def _batches(draw: st.DrawFn) -> list[list[DomainEvent]]:
    """Two partnerships' histories interleaved in recordable order, cut into batches."""
    first: History = draw(histories(pid="p", max_schools=3, max_activity=12))
    second: History = draw(histories(pid="q", max_schools=2, max_activity=8))
    left, right = first.events, second.events
    merged: list[DomainEvent] = []
    while left or right:
        take_left = bool(left) and (not right or draw(st.booleans()))
        merged.append(left.pop(0) if take_left else right.pop(0))
    cuts = sorted(draw(st.sets(st.integers(1, len(merged) - 1), max_size=5)))
    return [merged[a:b] for a, b in zip([0, *cuts], [*cuts, len(merged)], strict=True)]


def _figures(ledger: Ledger) -> list[Any]:
    return [ledger.report(name, as_of=as_of, by=by) for name, by, as_of in ASKED]


def _bases(ledger: Ledger) -> list[tuple[int, str]]:
    return [(t.basis["position"], t.basis["heads_sha256"]) for t in (
        ledger.report(name, as_of=as_of, by=by) for name, by, as_of in ASKED)]


def _property(backend: str, batches: list[list[DomainEvent]], reader_mode: str,
              checkpoint_after: int | None) -> None:
    with _fresh_store(backend) as location, Ledger.open(location) as writer:
        writer.record_many(batches[0])
        readers = [Ledger.open(location, mode=reader_mode)]
        try:
            for i, batch in enumerate(batches[1:], start=1):
                for reader in readers:
                    _figures(reader)  # warm: the next report must notice the append
                if checkpoint_after == i:
                    with ProjectionRunner(location) as runner:
                        runner.catch_up()
                    readers.append(Ledger.open(location, mode=reader_mode,
                                               checkpoint="default"))
                writer.record_many(batch)
                with Ledger.open(location, mode="read") as fresh:
                    expected, bases = _figures(fresh), _bases(fresh)
                for reader in readers:
                    assert _figures(reader) == expected
                    assert _bases(reader) == bases
        finally:
            for reader in readers:
                reader.close()


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(batches=_batches(), reader_mode=st.sampled_from(["read", "write"]),
       checkpoint_after=st.one_of(st.none(), st.integers(1, 3)))
def test_sqlite_reports_after_appends_by_another_ledger_equal_a_fresh_replay(
        batches: list[list[DomainEvent]], reader_mode: str,
        checkpoint_after: int | None) -> None:
    _property("sqlite", batches, reader_mode, checkpoint_after)


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(batches=_batches(), reader_mode=st.sampled_from(["read", "write"]),
       checkpoint_after=st.one_of(st.none(), st.integers(1, 3)))
def test_postgres_reports_after_appends_by_another_ledger_equal_a_fresh_replay(
        postgres_server: str, batches: list[list[DomainEvent]], reader_mode: str,
        checkpoint_after: int | None) -> None:
    _property("postgres", batches, reader_mode, checkpoint_after)
