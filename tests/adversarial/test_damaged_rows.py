"""Every shape of damaged row, on SQLite and PostgreSQL: a report, never a traceback.

A row of the events table can be damaged in ways the ledger never writes: NULLs, a value of the
wrong type in any column (SQLite stores whatever it is given), a stream id that is not a UUID, a
topic naming something that is not an event (``os:system``), a recorded time outside what a
datetime can hold. ``verify`` must list a problem at the row's log position and carry on;
every other reading command must stop with one line naming the position and a non-zero exit.

The damaged record is at position 9 (tyne's version 5), so an error that names the version
instead of the position is caught.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from ssp_ledger import DamagedRecord, Ledger, StoreError
from ssp_ledger.audit import digest, verify
from tests.adversarial.attack import (
    AS_OF_DATE,
    READ_COMMANDS,
    TARGET,
    assert_ok,
    assert_one_line_error,
    build_store,
    copy_store,
    envelope,
    figures,
    reseal,
    sql,
    ssp,
    ssp_many,
    state_at,
)

T = f"rowid={TARGET}"


def _recorded_time(value: object) -> Callable[[Path], None]:
    def damage(path: Path) -> None:
        env = envelope(state_at(path, TARGET))
        env[1] = value
        sql(path, (f"UPDATE stored_events SET state=? WHERE {T}", [reseal(env)]))
    return damage


def _statement(statement: str) -> Callable[[Path], None]:
    def damage(path: Path) -> None:
        sql(path, statement)
    return damage


#: name -> (damage, whether the row has no record hash at all, text verify's problem shows)
SQLITE_SHAPES: dict[str, tuple[Callable[[Path], None], bool, str]] = {
    "state-null": (_statement(f"UPDATE stored_events SET state=NULL WHERE {T}"), True,
                   "state is NULL, not bytes"),
    "state-text": (_statement(f"UPDATE stored_events SET state='text' WHERE {T}"), True,
                   "state is 'text' (str), not bytes"),
    "state-garbage": (_statement(f"UPDATE stored_events SET state=X'00ff' WHERE {T}"), False,
                      "changed bytes"),
    "version-null": (_statement(f"UPDATE stored_events SET originator_version=NULL WHERE {T}"),
                     True, "originator_version is NULL"),
    "version-text": (_statement(
        f"UPDATE stored_events SET originator_version='five' WHERE {T}"), True,
        "originator_version is 'five' (str)"),
    "version-blob": (_statement(f"UPDATE stored_events SET originator_version=X'05' WHERE {T}"),
                     True, "originator_version is b'\\x05' (bytes)"),
    "version-zero": (_statement(f"UPDATE stored_events SET originator_version=0 WHERE {T}"),
                     True, "originator_version is 0 (int)"),
    "version-negative": (_statement(
        f"UPDATE stored_events SET originator_version=-3 WHERE {T}"), True,
        "originator_version is -3 (int)"),
    "topic-null": (_statement(f"UPDATE stored_events SET topic=NULL WHERE {T}"), True,
                   "topic is NULL, not text"),
    "topic-blob": (_statement(f"UPDATE stored_events SET topic=X'41' WHERE {T}"), True,
                   "topic is b'A' (bytes), not text"),
    "topic-code": (_statement(f"UPDATE stored_events SET topic='os:system' WHERE {T}"), False,
                   "topic 'os:system'"),
    "stream-null": (_statement(f"UPDATE stored_events SET originator_id=NULL WHERE {T}"), True,
                    "stream id is NULL, not a UUID"),
    "stream-text": (_statement(
        f"UPDATE stored_events SET originator_id='../../etc' WHERE {T}"), True,
        "stream id is '../../etc' (str), not a UUID"),
    "stream-blob": (_statement(
        f"UPDATE stored_events SET originator_id=X'00112233445566778899aabbccddeeff' "
        f"WHERE {T}"), True, "(bytes), not a UUID"),
    "stream-int": (_statement(f"UPDATE stored_events SET originator_id=7 WHERE {T}"), True,
                   "stream id is '7' (str), not a UUID"),
    "time-far-future": (_recorded_time(2**62), False, "is out of range"),
    "time-far-past": (_recorded_time(-(2**62)), False, "is out of range"),
    "time-wrong-type": (_recorded_time("soon"), False, "Expected `int`, got `str`"),
}

#: The record shows up as "position 9", never as its version alone.
AT = f"position {TARGET}"


def _library_checks(location: str | Path, has_no_hash: bool, shown: str) -> None:
    with Ledger.open(location, mode="read") as ledger:
        report = verify(ledger)
        assert not report.ok
        first = report.problems[0]
        assert (first.kind, first.position) == ("undecodable", TARGET), str(first)
        assert shown in first.detail
        for read in (lambda: list(ledger.read()), lambda: list(ledger.events()),
                     lambda: ledger.report("participation", as_of=AS_OF_DATE)):
            with pytest.raises(DamagedRecord, match=re.escape(AT)) as caught:
                read()
            assert caught.value.position == TARGET
            assert "\n" not in str(caught.value)
        if has_no_hash:
            with pytest.raises(DamagedRecord, match=re.escape(AT)):
                digest(ledger)
        else:
            assert digest(ledger).position == report.digest.position


@pytest.mark.parametrize("shape", sorted(SQLITE_SHAPES))
def test_a_damaged_sqlite_row_is_named_by_its_position(plain: Path, tmp_path: Path,
                                                       shape: str) -> None:
    damage, has_no_hash, shown = SQLITE_SHAPES[shape]
    store = copy_store(plain, tmp_path)
    damage(store)
    _library_checks(store, has_no_hash, shown)

    verify_run, events_run, report_run = ssp_many(tmp_path, [
        (*READ_COMMANDS[name], "--store", store.name) for name in ("verify", "events", "report")])
    assert verify_run.code == 1
    assert verify_run.out.startswith(f"{AT}: undecodable: "), verify_run.out
    assert_one_line_error(verify_run, f"first: {AT}: undecodable")
    assert_one_line_error(events_run, AT)
    assert_one_line_error(report_run, AT)


@pytest.mark.parametrize("shape", ["state-null", "time-far-future"])
def test_every_reading_command_names_the_damaged_position(plain: Path, tmp_path: Path,
                                                          shape: str) -> None:
    damage, has_no_hash, _ = SQLITE_SHAPES[shape]
    store = copy_store(plain, tmp_path)
    damage(store)
    names = ("digest", "explain", "restatement", "export")
    runs = ssp_many(tmp_path, [(*READ_COMMANDS[name], "--store", store.name) for name in names])
    for name, run in zip(names, runs, strict=True):
        if name == "digest" and not has_no_hash:
            assert_ok(run)  # changed bytes still hash: verify says what is wrong
        else:
            assert_one_line_error(run, AT)
    # and nothing that writes goes on from a damaged log either
    assert_one_line_error(ssp(tmp_path, "checkpoint", "--store", store.name), AT)


def test_a_damaged_record_under_a_checkpoint(checkpointed: Path, tmp_path: Path) -> None:
    """A record the checkpoint covers is damaged afterwards. The checkpoint still fits (its
    stream heads and count are intact), so a report started from it gives the figures of the
    intact log, never damaged ones, and says it started from the checkpoint; a replay stops at
    the damaged position; verify names it."""
    store = copy_store(checkpointed, tmp_path)
    intact = figures(store)
    SQLITE_SHAPES["state-null"][0](store)
    assert figures(store, checkpoint="default") == intact
    with pytest.raises(DamagedRecord, match=re.escape(AT)):
        figures(store)
    with Ledger.open(store, mode="read", checkpoint="default") as ledger:
        basis = ledger.report("participation", as_of=AS_OF_DATE).basis
        assert basis is not None
        assert basis["checkpoint"] is not None
    run = ssp(tmp_path, "verify", "--store", store.name)
    assert run.code == 1
    assert run.out.startswith(f"{AT}: undecodable")


def test_verify_lists_every_damaged_row_and_carries_on(plain: Path, tmp_path: Path) -> None:
    """Several damaged rows in one store: each is a problem at its own position, and the
    records between them are still checked."""
    store = copy_store(plain, tmp_path)
    sql(store, "UPDATE stored_events SET state=NULL WHERE rowid=3",
        "UPDATE stored_events SET originator_id='x' WHERE rowid=12",
        "UPDATE stored_events SET topic=NULL WHERE rowid=16")
    with Ledger.open(store, mode="read") as ledger:
        report = verify(ledger)
    undecodable = [p.position for p in report.problems if p.kind == "undecodable"]
    assert undecodable == [3, 12, 16]
    assert report.checked == 16


# --------------------------------------------------------------------------- PostgreSQL


def _pg(url: str, schema: str, *statements: str, args: tuple[object, ...] = ()) -> None:
    import psycopg

    table = f'"{schema}".sspledger_events'
    with psycopg.connect(url, autocommit=True) as conn:
        for statement in statements:
            conn.execute(statement.format(t=table), args or None)


def _pg_recorded_time(url: str, schema: str) -> None:
    import psycopg

    table = f'"{schema}".sspledger_events'
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute(f"SELECT state FROM {table} WHERE notification_id=%s",
                           (TARGET,)).fetchone()
        assert row is not None
        env = envelope(bytes(row[0]))
        env[1] = 2**62
        conn.execute(f"UPDATE {table} SET state=%s WHERE notification_id=%s",
                     (reseal(env), TARGET))


_DROP_KEY = ("ALTER TABLE {t} DROP CONSTRAINT IF EXISTS sspledger_events_pkey",)
PG_WHERE = f"WHERE notification_id={TARGET}"
#: name -> (statements, whether the row has no record hash, text verify's problem shows)
PG_SHAPES: dict[str, tuple[tuple[str, ...], bool, str]] = {
    "state-null": ((f"UPDATE {{t}} SET state=NULL {PG_WHERE}",), True, "state is NULL, not bytes"),
    "state-garbage": ((f"UPDATE {{t}} SET state='\\x00ff'::bytea {PG_WHERE}",), False,
                      "changed bytes"),
    "topic-null": ((f"UPDATE {{t}} SET topic=NULL {PG_WHERE}",), True, "topic is NULL, not text"),
    "topic-code": ((f"UPDATE {{t}} SET topic='os:system' {PG_WHERE}",), False,
                   "topic 'os:system'"),
    "version-zero": ((f"UPDATE {{t}} SET originator_version=0 {PG_WHERE}",), True,
                     "originator_version is 0 (int)"),
    "version-null": ((*_DROP_KEY, "ALTER TABLE {t} ALTER COLUMN originator_version DROP NOT NULL",
                      f"UPDATE {{t}} SET originator_version=NULL {PG_WHERE}"), True,
                     "originator_version is NULL"),
    "stream-null": ((*_DROP_KEY, "ALTER TABLE {t} ALTER COLUMN originator_id DROP NOT NULL",
                     f"UPDATE {{t}} SET originator_id=NULL {PG_WHERE}"), True,
                    "stream id is NULL, not a UUID"),
    "time-far-future": ((), False, "is out of range"),
}


@pytest.fixture
def pg_store(postgres_server: str) -> Iterator[tuple[str, str, str]]:
    """(server URL, schema, store URL) of the two-partnership store in a fresh schema."""
    from tests.integration.conftest import drop_schema, ledger_url, new_schema

    schema = new_schema(postgres_server)
    try:
        location = ledger_url(postgres_server, schema)
        build_store(location)
        yield postgres_server, schema, location
    finally:
        drop_schema(postgres_server, schema)


@pytest.mark.parametrize("shape", sorted(PG_SHAPES))
def test_a_damaged_postgres_row_is_named_by_its_position(pg_store: tuple[str, str, str],
                                                         tmp_path: Path, shape: str) -> None:
    url, schema, location = pg_store
    statements, has_no_hash, shown = PG_SHAPES[shape]
    if shape == "time-far-future":
        _pg_recorded_time(url, schema)
    else:
        _pg(url, schema, *statements)
    _library_checks(location, has_no_hash, shown)
    if shape not in ("state-null", "version-null", "time-far-future"):
        return  # the command line: three shapes are enough (the library path is the same)
    verify_run, events_run, report_run = ssp_many(tmp_path, [
        (*READ_COMMANDS[name], "--store", location) for name in ("verify", "events", "report")])
    assert verify_run.out.startswith(f"{AT}: undecodable: "), verify_run.out
    assert_one_line_error(verify_run, f"first: {AT}: undecodable")
    assert_one_line_error(events_run, AT)
    assert_one_line_error(report_run, AT)


def test_a_postgres_state_column_of_another_type(pg_store: tuple[str, str, str]) -> None:
    """The state column turned into text: every row is named, nothing raises a TypeError."""
    url, schema, location = pg_store
    _pg(url, schema, "ALTER TABLE {t} ALTER COLUMN state TYPE text USING encode(state, 'hex')")
    with Ledger.open(location, mode="read") as ledger:
        report = verify(ledger)
        assert [p.position for p in report.problems] == list(range(1, 17))
        assert all("(str), not bytes" in p.detail for p in report.problems)
        with pytest.raises(DamagedRecord, match="position 1"):
            list(ledger.events())


def test_a_postgres_table_of_another_shape(pg_store: tuple[str, str, str],
                                           tmp_path: Path) -> None:
    """A foreign schema (the topic column dropped): one line, on every reading command."""
    url, schema, location = pg_store
    _pg(url, schema, "ALTER TABLE {t} DROP COLUMN topic")
    with Ledger.open(location, mode="read") as ledger, \
            pytest.raises(StoreError, match='column "topic" does not exist'):
        verify(ledger)
    for run in ssp_many(tmp_path, [(*READ_COMMANDS[name], "--store", location)
                                   for name in ("verify", "events", "report")]):
        assert_one_line_error(run, 'column "topic" does not exist')
