"""The backend test cases on every store: memory, a SQLite file and PostgreSQL."""

from __future__ import annotations

import dataclasses
import re
import sqlite3
from pathlib import Path
from typing import ClassVar

import pytest

from ssp_ledger import Ledger, StoreError
from ssp_ledger.store import ENV_LOCATION, Checkpoint, backend_of, store_env
from tests.integration.conftest import ledger_url
from tests.integration.ledger_cases import LedgerBackendCases


def _flip(state: bytes) -> bytes:
    """Flip the low bit of one byte so the rewritten record still decodes: the last digit of a
    synthetic event id (a digit stays a digit, the id stays free text), else the last byte (part
    of the last field's value; a byte in the middle may be a length or type marker, and the last
    field may be a closed vocabulary, which a flipped letter would break)."""
    ids = list(re.finditer(rb"ssp-[0-9]{3}-[0-9]{7}", state))
    i = ids[-1].end() - 1 if ids else len(state) - 1
    return state[:i] + bytes([state[i] ^ 0x01]) + state[i + 1:]


class TestMemoryLedger(LedgerBackendCases):
    backend: ClassVar[str] = "memory"
    shared: ClassVar[bool] = False

    def make_location(self, request: pytest.FixtureRequest, tmp_path: Path) -> str:
        return ":memory:"

    def tamper(self, ledger: Ledger, position: int) -> None:
        rows = ledger.log.app.recorder._stored_events  # type: ignore[attr-defined]
        rows[position - 1] = dataclasses.replace(rows[position - 1],
                                                 state=_flip(rows[position - 1].state))

    def set_checkpoint_state(self, ledger: Ledger, checkpoint: Checkpoint) -> None:
        recorder = ledger.log._checkpoint_recorder()  # type: ignore[attr-defined]
        recorder._checkpoints[checkpoint.name] = checkpoint


class TestSQLiteLedger(LedgerBackendCases):
    backend: ClassVar[str] = "sqlite"

    def make_location(self, request: pytest.FixtureRequest, tmp_path: Path) -> str:
        return str(tmp_path / "ssp.db")

    def tamper(self, ledger: Ledger, position: int) -> None:
        with sqlite3.connect(self.location) as conn:
            (state,) = conn.execute("SELECT state FROM stored_events WHERE rowid=?",
                                    (position,)).fetchone()
            conn.execute("UPDATE stored_events SET state=? WHERE rowid=?",
                         (_flip(state), position))

    def set_checkpoint_state(self, ledger: Ledger, checkpoint: Checkpoint) -> None:
        with sqlite3.connect(self.location) as conn:
            conn.execute("UPDATE ssp_projection_checkpoints SET state=?, anchor=? WHERE name=?",
                         (checkpoint.state, checkpoint.binding, checkpoint.name))


class TestPostgresLedger(LedgerBackendCases):
    backend: ClassVar[str] = "postgres"

    def make_location(self, request: pytest.FixtureRequest, tmp_path: Path) -> str:
        location: str = request.getfixturevalue("postgres_store")
        return location

    def tamper(self, ledger: Ledger, position: int) -> None:
        import psycopg
        from psycopg import sql

        recorder = ledger.log.app.recorder
        table = sql.Identifier(recorder.datastore.schema,  # type: ignore[attr-defined]
                               recorder.events_table_name)  # type: ignore[attr-defined]
        with recorder.datastore.get_connection() as conn:  # type: ignore[attr-defined]
            assert isinstance(conn, psycopg.Connection)
            row = conn.execute(sql.SQL("SELECT state FROM {} WHERE notification_id=%s").format(
                table), (position,)).fetchone()
            assert row is not None
            conn.execute(sql.SQL("UPDATE {} SET state=%s WHERE notification_id=%s").format(
                table), (_flip(bytes(row["state"])), position))

    def set_checkpoint_state(self, ledger: Ledger, checkpoint: Checkpoint) -> None:
        import psycopg
        from psycopg import sql

        recorder = ledger.log._checkpoint_recorder()  # type: ignore[attr-defined]
        table = sql.Identifier(recorder.datastore.schema, recorder.checkpoints_table_name)
        with recorder.datastore.get_connection() as conn:
            assert isinstance(conn, psycopg.Connection)
            conn.execute(sql.SQL("UPDATE {} SET state=%s, anchor=%s WHERE name=%s").format(
                table), (checkpoint.state, checkpoint.binding, checkpoint.name))

    def test_postgres_tables_live_in_the_schema_of_the_url(self, postgres_server: str) -> None:
        ledger = self.make_ledger()
        self.make_runner(ledger).catch_up()
        recorder = ledger.log.app.recorder  # type: ignore[attr-defined]
        assert recorder.datastore.schema in self.location
        assert recorder.events_table_name == "sspledger_events"
        checkpoints = ledger.log.app.checkpoint_recorder()  # type: ignore[attr-defined]
        assert checkpoints.checkpoints_table_name == "sspledger_checkpoints"

    def test_the_checkpoint_state_is_stored_uncompressed_by_postgres(self) -> None:
        """The state column is EXTERNAL (compressed already by the ledger), so substring()
        reads a part's TOAST chunks only; opening the store again leaves it so."""
        import psycopg

        ledger = self.make_ledger()
        self.make_runner(ledger).catch_up()
        self.open_again(mode="write")
        recorder = ledger.log._checkpoint_recorder()  # type: ignore[attr-defined]
        with recorder.datastore.get_connection() as conn:
            assert isinstance(conn, psycopg.Connection)
            row = conn.execute(
                "SELECT attstorage FROM pg_attribute WHERE attrelid = "
                "(quote_ident(%s) || '.' || quote_ident(%s))::regclass AND attname = 'state'",
                (recorder.datastore.schema, recorder.checkpoints_table_name)).fetchone()
        assert row is not None
        assert row["attstorage"] == "e"


# --------------------------------------------------------------------------- choosing a store


def test_store_env_for_urls_and_paths(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("POSTGRES_PASSWORD", raising=False)
    env = store_env("postgresql://ssp:p%40ss@db.example:6543/ledger?schema=la1&pool_size=2")
    assert env["PERSISTENCE_MODULE"] == "eventsourcing.postgres"
    assert env["APPLICATION_RECORDER_TOPIC"] == "ssp_ledger.store.postgres:LedgerPostgresRecorder"
    assert (env["POSTGRES_HOST"], env["POSTGRES_PORT"], env["POSTGRES_DBNAME"]) == (
        "db.example", "6543", "ledger")
    assert (env["POSTGRES_USER"], env["POSTGRES_PASSWORD"]) == ("ssp", "p@ss")
    assert (env["POSTGRES_SCHEMA"], env["POSTGRES_POOL_SIZE"]) == ("la1", "2")
    assert store_env("postgres://db/ledger")["POSTGRES_PASSWORD"] == ""
    monkeypatch.setenv("POSTGRES_PASSWORD", "from-env")
    assert "POSTGRES_PASSWORD" not in store_env("postgresql://ssp@db/ledger")  # env's is used
    with pytest.raises(ValueError, match="unknown option 'sslmod'"):
        store_env("postgresql://db/ledger?sslmod=require")
    assert store_env("ssp.db")["SQLITE_DBNAME"] == "ssp.db"
    memory = store_env(":memory:")["PERSISTENCE_MODULE"]
    assert memory == "ssp_ledger.store.memory:LedgerPOPOFactory"
    assert [backend_of(x) for x in (":memory:", "a.db", "postgresql://h/d")] == [
        "memory", "sqlite", "postgres"]


def test_a_bad_url_option_or_scheme_is_a_store_error() -> None:
    with pytest.raises(StoreError, match="unknown option 'colour'"):
        Ledger.open("postgresql://127.0.0.1:1/x?colour=blue")
    with pytest.raises(StoreError, match="mysql:// is not a store"):
        Ledger.open("mysql://127.0.0.1/x")


def test_from_env_reads_ssp_ledger_store(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("PERSISTENCE_MODULE", raising=False)
    monkeypatch.setenv("SSP_LEDGER_STORE", str(tmp_path / "env.db"))
    with Ledger.from_env() as ledger:
        assert (ledger.backend, ledger.location) == ("sqlite", str(tmp_path / "env.db"))
    monkeypatch.delenv("SSP_LEDGER_STORE")
    with pytest.raises(StoreError, match="SSP_LEDGER_STORE"):
        Ledger.from_env()
    with Ledger.from_env(default=":memory:") as ledger:
        assert ledger.backend == "memory"


def test_from_env_uses_eventsourcing_variables_for_sqlite(monkeypatch: pytest.MonkeyPatch,
                                                          tmp_path: Path) -> None:
    monkeypatch.delenv("SSP_LEDGER_STORE", raising=False)
    monkeypatch.setenv("PERSISTENCE_MODULE", "eventsourcing.sqlite")
    monkeypatch.setenv("SQLITE_DBNAME", str(tmp_path / "es.db"))
    with Ledger.from_env() as ledger:
        assert (ledger.backend, ledger.location) == ("sqlite", ENV_LOCATION)
        assert ledger.position == 0
    assert (tmp_path / "es.db").exists()


def test_from_env_uses_eventsourcing_postgres_variables(monkeypatch: pytest.MonkeyPatch,
                                                        postgres_store: str) -> None:
    from urllib.parse import parse_qs, urlsplit

    url = urlsplit(postgres_store)
    monkeypatch.delenv("SSP_LEDGER_STORE", raising=False)
    for key, value in {
        "PERSISTENCE_MODULE": "eventsourcing.postgres",
        "POSTGRES_DBNAME": url.path.lstrip("/"),
        "POSTGRES_HOST": url.hostname or "127.0.0.1",
        "POSTGRES_PORT": str(url.port or 5432),
        "POSTGRES_USER": url.username or "postgres",
        "POSTGRES_PASSWORD": url.password or "",
        "POSTGRES_SCHEMA": parse_qs(url.query)["schema"][0],
    }.items():
        monkeypatch.setenv(key, value)
    with Ledger.from_env(projections={}) as ledger:
        assert ledger.backend == "postgres"
        assert type(ledger.log.app.recorder).__name__ == "LedgerPostgresRecorder"
        assert ledger.position == 0
    with Ledger.open(postgres_store, projections={}) as same:  # the same tables
        assert same.position == 0


def test_unreachable_postgres_is_a_store_error() -> None:
    pytest.importorskip("psycopg")
    # nothing listens on port 1; a short connect timeout keeps this quick
    url = ledger_url("postgresql://nobody@127.0.0.1:1/none", "s", connect_timeout=1)
    with pytest.raises(StoreError, match="cannot open store"):
        Ledger.open(url)
