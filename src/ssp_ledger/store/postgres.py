"""The PostgreSQL store, for several processes or machines (the ``postgres`` extra).

Imported only for ``postgresql://`` stores. Both recorders are small subclasses of eventsourcing's
own PostgreSQL recorders, chosen by topic (eventsourcing's shipped recorder test cases run against
them in ``tests/integration/test_recorders.py``):

* :class:`LedgerPostgresRecorder` inserts a batch in one transaction like eventsourcing's, under
  the same table lock and ``NOTIFY``, but without psycopg's pipeline mode and in statements of
  at most :data:`INSERT_CHUNK` rows / :data:`INSERT_CHUNK_BYTES` bytes: psycopg 3.3 (pure Python
  and binary builds alike) hangs for ever when one pipelined statement carries more than about
  12 MB, which eventsourcing's single ``unnest`` statement reaches at ~30,000 of our events. It
  also reads plain rows (with their positions) by stream for the port.
* :class:`PostgresCheckpointRecorder` stores projection checkpoints beside eventsourcing's
  tracking table and writes both in one transaction. The state (hundreds of megabytes at ten
  million events) is streamed with a binary ``COPY`` in slices of :data:`COPY_SLICE` bytes into
  a temporary table and moved from there by the upsert: a bound parameter would make psycopg
  hold two more copies of it in the client.

Both retry eventsourcing's ``create_table`` a few times: it re-runs its (idempotent) DDL on every
open, and PostgreSQL fails some of several processes doing so at once ("tuple concurrently
updated", "relation already exists", a duplicate ``pg_type`` key). A store opened with mode
``read`` runs no DDL (``CREATE_TABLE=false``) and refuses a database without the ledger's table.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import replace
from functools import partial
from typing import Any

from eventsourcing.persistence import (
    InterfaceError,
    OperationalError,
    PersistenceError,
    StoredEvent,
    Tracking,
)
from eventsourcing.postgres import (
    PostgresApplicationRecorder,
    PostgresDatastore,
    PostgresTrackingRecorder,
)
from eventsourcing.utils import retry
from psycopg.sql import SQL, Composed, Identifier, Literal

from ssp_ledger.errors import StoreError
from ssp_ledger.store.app import RecorderLog, construct, create_with_retries
from ssp_ledger.store.log import Checkpoint, Mode, OpenCheckpoint, RawRow, tracking_name

COPY_SLICE = 8 << 20
"""Bytes of a checkpoint's state handed to one ``COPY`` write."""
_COPY_HEADER = b"PGCOPY\n\xff\r\n\x00" + (0).to_bytes(4, "big") + (0).to_bytes(4, "big")
"""The binary ``COPY`` signature, flags and (empty) header extension."""
_COPY_TRAILER = (-1).to_bytes(2, "big", signed=True)

__all__ = [
    "INSERT_CHUNK",
    "INSERT_CHUNK_BYTES",
    "ROWS_AT_CHUNK",
    "LedgerPostgresRecorder",
    "PostgresCheckpointRecorder",
    "PostgresLog",
]

#: Most rows per INSERT statement.
INSERT_CHUNK = 2_000
#: Most state bytes per INSERT statement.
INSERT_CHUNK_BYTES = 2_000_000
#: ``(stream, version)`` pairs per query of :meth:`PostgresLog.rows_at`.
ROWS_AT_CHUNK = 5_000


def _chunks(events: Sequence[StoredEvent]) -> list[Sequence[StoredEvent]]:
    out: list[Sequence[StoredEvent]] = []
    start = size = 0
    for i, event in enumerate(events):
        full = i - start >= INSERT_CHUNK or size + len(event.state) > INSERT_CHUNK_BYTES
        if i > start and full:
            out.append(events[start:i])
            start, size = i, 0
        size += len(event.state)
    if start < len(events):
        out.append(events[start:])
    return out


class LedgerPostgresRecorder(PostgresApplicationRecorder):
    """eventsourcing's PostgreSQL application recorder, inserting large batches safely."""

    def _sql(self, tail: str) -> Composed:
        return SQL("SELECT notification_id, originator_id, originator_version, topic, state "
                   "FROM {0}.{1} " + tail).format(
            Identifier(self.datastore.schema), Identifier(self.events_table_name))

    @retry((InterfaceError, OperationalError), max_attempts=10, wait=0.2)
    def query(self, statement: Composed | SQL, params: Sequence[Any] = ()) -> list[RawRow]:
        """Rows of a read query as plain tuples."""
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(statement, params)
            rows: list[RawRow] = [tuple(row.values()) for row in curs.fetchall()]
        return rows

    def rows(self, start: int, limit: int, stop: int | None = None) -> list[RawRow]:
        """Up to ``limit`` plain rows from position ``start`` (to ``stop``), as stored: a NULL
        or a column of another type stays what it is (eventsourcing's ``select_notifications``
        would fail on it with a TypeError), so the mapper and ``verify`` can name the row."""
        rows: list[RawRow]
        if stop is None:
            rows = self.query(self._sql("WHERE notification_id>=%s ORDER BY notification_id "
                                        "LIMIT %s"), (start, limit))
        else:
            rows = self.query(self._sql("WHERE notification_id>=%s AND notification_id<=%s "
                                        "ORDER BY notification_id LIMIT %s"), (start, stop, limit))
        return rows

    def stream_rows(self, stream: uuid.UUID, after: int = 0) -> list[RawRow]:
        """Rows of one stream after version ``after``, with their positions."""
        rows: list[RawRow] = self.query(self._sql(
            "WHERE originator_id=%s AND originator_version>%s ORDER BY originator_version"),
            (stream, after))
        return rows

    def stream_row(self, stream: uuid.UUID, version: int) -> RawRow | None:
        """The row at ``version`` of ``stream``."""
        rows: list[RawRow] = self.query(
            self._sql("WHERE originator_id=%s AND originator_version=%s"), (stream, version))
        return rows[0] if rows else None

    def rows_at(self, pairs: Sequence[tuple[uuid.UUID, int]]) -> list[RawRow]:
        """The rows at the given ``(stream, version)`` pairs that exist, in one query (two
        arrays unnested and joined with the table on its ``(originator_id,
        originator_version)`` key)."""
        if not pairs:
            return []
        statement = SQL(
            "SELECT e.notification_id, e.originator_id, e.originator_version, e.topic, e.state "
            "FROM unnest(%s::uuid[], %s::bigint[]) AS w(id, v) JOIN {0}.{1} e "
            "ON e.originator_id=w.id AND e.originator_version=w.v").format(
            Identifier(self.datastore.schema), Identifier(self.events_table_name))
        rows: list[RawRow] = self.query(statement, ([s for s, _ in pairs], [v for _, v in pairs]))
        return rows

    def count(self, stop: int) -> int:
        """Rows with a position ``<= stop``."""
        statement = SQL("SELECT count(*) AS n FROM {0}.{1} WHERE notification_id<=%s").format(
            Identifier(self.datastore.schema), Identifier(self.events_table_name))
        rows: list[RawRow] = self.query(statement, (stop,))
        return int(rows[0][0])

    def create_table(self) -> None:
        """eventsourcing's, retried when another process runs the same DDL at the same time."""
        create_with_retries(super().create_table)

    @retry((InterfaceError, OperationalError), max_attempts=10, wait=0.2)
    def insert_events(
        self, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        """Insert all rows in one transaction; return their notification ids in order."""
        if self.datastore.enable_db_functions:
            upstream: Sequence[int] | None = super().insert_events(stored_events, **kwargs)
            return upstream
        ids: list[int] = []
        with (
            self.datastore.get_connection() as conn,
            conn.transaction(),
            conn.cursor() as curs,
        ):
            self._insert_events(curs, stored_events, **kwargs)
            if stored_events:
                # Same serialisation as upstream: insert order equals commit order.
                self._lock_table(curs)
                self._notify_channel(curs)
                for chunk in _chunks(stored_events):
                    rows = [
                        self.construct_pg_stored_event(
                            e.originator_id, e.originator_version, e.topic, e.state)
                        for e in chunk
                    ]
                    curs.execute(self.insert_events_statement, (rows,))
                    ids.extend(row["notification_id"] for row in curs.fetchall())
        return ids


class PostgresCheckpointRecorder(PostgresTrackingRecorder):
    """Checkpoints in ``<prefix>_checkpoints`` beside eventsourcing's ``<prefix>_tracking``."""

    def __init__(
        self,
        datastore: PostgresDatastore,
        *,
        tracking_table_name: str = "ssp_projection_tracking",
        **kwargs: Any,
    ) -> None:
        super().__init__(datastore, tracking_table_name=tracking_table_name, **kwargs)
        base = tracking_table_name.removesuffix("_tracking")
        self.checkpoints_table_name = f"{base}_checkpoints"
        self.check_identifier_length(self.checkpoints_table_name)
        table = (Identifier(self.datastore.schema), Identifier(self.checkpoints_table_name))
        self.sql_create_statements.append(SQL(
            "CREATE TABLE IF NOT EXISTS {0}.{1} ("
            "name text PRIMARY KEY, position bigint NOT NULL, fingerprint text NOT NULL, "
            "anchor bytea NOT NULL, state bytea NOT NULL, saved_at timestamptz NOT NULL)"
        ).format(*table))
        # Kept uncompressed by PostgreSQL (the state is compressed already): substring() of a
        # part then reads that part's TOAST chunks only, not the whole value. Altered only when
        # it is not so yet (ALTER TABLE would lock the table at every open).
        self.sql_create_statements.append(SQL(
            "DO $$ BEGIN IF EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = "
            "(quote_ident({2}) || '.' || quote_ident({3}))::regclass AND attname = 'state' "
            "AND attstorage <> 'e') THEN "
            "ALTER TABLE {0}.{1} ALTER COLUMN state SET STORAGE EXTERNAL; END IF; END $$"
        ).format(*table, Literal(self.datastore.schema), Literal(self.checkpoints_table_name)))
        self._stage_checkpoint = (
            SQL("CREATE TEMPORARY TABLE IF NOT EXISTS ssp_checkpoint_stage (state bytea) "
                "ON COMMIT DELETE ROWS"),
            SQL("ALTER TABLE ssp_checkpoint_stage ALTER COLUMN state SET STORAGE EXTERNAL"),
            SQL("COPY ssp_checkpoint_stage (state) FROM STDIN (FORMAT BINARY)"),
        )
        self._upsert_checkpoint = SQL(
            "INSERT INTO {0}.{1} SELECT %s, %s, %s, %s, state, %s FROM ssp_checkpoint_stage "
            "ON CONFLICT (name) DO UPDATE SET position=EXCLUDED.position, "
            "fingerprint=EXCLUDED.fingerprint, anchor=EXCLUDED.anchor, state=EXCLUDED.state, "
            "saved_at=EXCLUDED.saved_at"
        ).format(*table)
        self._select_checkpoint = SQL(
            "SELECT position, fingerprint, anchor, state, saved_at FROM {0}.{1} WHERE name=%s"
        ).format(*table)
        self._open_checkpoint = SQL(
            "SELECT position, fingerprint, anchor, octet_length(state) AS size, saved_at "
            "FROM {0}.{1} WHERE name=%s"
        ).format(*table)
        self._read_state = SQL(
            "SELECT substring(state FROM %s FOR %s) AS part FROM {0}.{1} WHERE name=%s"
        ).format(*table)
        self._delete_checkpoint = SQL("DELETE FROM {0}.{1} WHERE name=%s").format(*table)
        self._checkpoint_names = SQL("SELECT name FROM {0}.{1} ORDER BY name").format(*table)
        self._delete_tracking = SQL("DELETE FROM {0}.{1} WHERE application_name=%s").format(
            Identifier(self.datastore.schema), Identifier(self.tracking_table_name))

    def create_table(self) -> None:
        """eventsourcing's, retried when another process runs the same DDL at the same time."""
        create_with_retries(super().create_table)

    @retry((InterfaceError, OperationalError), max_attempts=10, wait=0.2)
    def save_checkpoint(self, checkpoint: Checkpoint) -> None:
        """Tracking insert and checkpoint upsert in one transaction; the state streamed in by
        ``COPY`` (see the module docstring)."""
        state = memoryview(checkpoint.state)
        create, external, copy = self._stage_checkpoint
        with self.datastore.transaction(commit=True) as curs:
            self._insert_tracking(
                curs, Tracking(tracking_name(checkpoint.name), checkpoint.position))
            curs.execute(create)
            curs.execute(external)
            with curs.copy(copy) as rows:
                rows.write(_COPY_HEADER + (1).to_bytes(2, "big") + len(state).to_bytes(4, "big"))
                for start in range(0, len(state), COPY_SLICE):
                    rows.write(state[start:start + COPY_SLICE])
                rows.write(_COPY_TRAILER)
            curs.execute(self._upsert_checkpoint, (
                checkpoint.name, checkpoint.position, checkpoint.fingerprint, checkpoint.binding,
                checkpoint.saved_at))

    @retry((InterfaceError, OperationalError), max_attempts=10, wait=0.2)
    def load_checkpoint(self, name: str) -> Checkpoint | None:
        """Read one checkpoint."""
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(self._select_checkpoint, (name,))
            row = curs.fetchone()
        if row is None:
            return None
        saved_at = row["saved_at"]
        if not isinstance(saved_at, dt.datetime) or row["state"] is None:
            msg = f"checkpoint {name!r} is damaged"
            raise StoreError(msg)
        return Checkpoint(name, int(row["position"]), str(row["fingerprint"]),
                          bytes(row["anchor"]), bytes(row["state"]), saved_at)

    @retry((InterfaceError, OperationalError), max_attempts=10, wait=0.2)
    def open_checkpoint(self, name: str) -> OpenCheckpoint | None:
        """One checkpoint without its state; ranges of it are read with ``substring()``."""
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(self._open_checkpoint, (name,))
            row = curs.fetchone()
        if row is None:
            return None
        saved_at = row["saved_at"]
        if not isinstance(saved_at, dt.datetime) or row["size"] is None:
            msg = f"checkpoint {name!r} is damaged"
            raise StoreError(msg)
        return OpenCheckpoint(name, int(row["position"]), str(row["fingerprint"]),
                              bytes(row["anchor"]), saved_at, int(row["size"]),
                              partial(self.read_state, name))

    @retry((InterfaceError, OperationalError), max_attempts=10, wait=0.2)
    def read_state(self, name: str, offset: int, length: int) -> bytes:
        """Bytes ``offset .. offset+length`` of checkpoint ``name``'s state as stored now."""
        if length <= 0:
            return b""
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(self._read_state, (offset + 1, length, name))
            row = curs.fetchone()
        return b"" if row is None or row["part"] is None else bytes(row["part"])

    @retry((InterfaceError, OperationalError), max_attempts=10, wait=0.2)
    def checkpoint_names(self) -> list[str]:
        """Names of the stored checkpoints."""
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(self._checkpoint_names)
            return [str(row["name"]) for row in curs.fetchall()]

    @retry((InterfaceError, OperationalError), max_attempts=10, wait=0.2)
    def delete_checkpoint(self, name: str) -> None:
        """Delete the checkpoint and its tracking row in one transaction."""
        with self.datastore.transaction(commit=True) as curs:
            curs.execute(self._delete_checkpoint, (name,))
            curs.execute(self._delete_tracking, (tracking_name(name),))


class PostgresLog(RecorderLog):
    """An :class:`~ssp_ledger.store.log.EventLog` in a PostgreSQL database."""

    backend = "postgres"

    def __init__(self, location: str, mode: Mode, env: Mapping[str, str]) -> None:
        self.location = location
        self.read_only = mode == "read"
        self.note = ""
        env = dict(env)
        if mode == "read":
            env["CREATE_TABLE"] = "false"
        self.app = construct(env)
        recorder = self.app.recorder
        assert isinstance(recorder, LedgerPostgresRecorder)
        self._recorder = recorder
        self.mapper = self.app.msgspec_mapper
        if mode != "create":
            try:
                recorder.max_notification_id()
            except PersistenceError as e:
                self.app.close()
                msg = (f"no ledger store at {_shown(location)} (the events table cannot be read: "
                       f"{str(e).splitlines()[0] if str(e) else type(e).__name__}); create one "
                       "with 'ssp-ledger init'")
                raise StoreError(msg) from e

    def _shown(self) -> str:
        return _shown(self.location)

    def rows(self, start: int, limit: int, stop: int | None = None) -> Sequence[RawRow]:
        """Plain rows from ``start`` (to ``stop``): see :meth:`LedgerPostgresRecorder.rows`."""
        with self._reading():
            return self._recorder.rows(start, limit, stop)

    def stream_rows(self, stream: uuid.UUID, after: int = 0) -> Sequence[RawRow]:
        """Rows of one stream."""
        with self._reading():
            return self._recorder.stream_rows(stream, after)

    def stream_row(self, stream: uuid.UUID, version: int) -> RawRow | None:
        """One row of a stream."""
        with self._reading():
            return self._recorder.stream_row(stream, version)

    def rows_at(self, wanted: Sequence[tuple[uuid.UUID, int]]) -> dict[tuple[str, int], RawRow]:
        """One query per :data:`ROWS_AT_CHUNK` pairs (see
        :meth:`LedgerPostgresRecorder.rows_at`)."""
        found: dict[tuple[str, int], RawRow] = {}
        with self._reading():
            for i in range(0, len(wanted), ROWS_AT_CHUNK):
                for row in self._recorder.rows_at(wanted[i:i + ROWS_AT_CHUNK]):
                    stream = row[1]
                    key = stream.hex if isinstance(stream, uuid.UUID) else str(stream)
                    found[key.replace("-", ""), row[2]] = row
        return found

    def count(self, stop: int) -> int:
        """Rows up to ``stop``."""
        with self._reading():
            return self._recorder.count(stop)

    @contextmanager
    def _reading(self) -> Iterator[None]:
        """A read the database refuses (a table of another shape, say) as a one-line
        :class:`StoreError`."""
        try:
            yield
        except (InterfaceError, OperationalError):
            raise
        except PersistenceError as e:
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            msg = f"cannot read store {_shown(self.location)}: {first}"
            raise StoreError(msg) from e

    def load_checkpoint(self, name: str) -> Checkpoint | None:
        """One checkpoint (None where a read-only open finds no checkpoints table)."""
        try:
            return super().load_checkpoint(name)
        except PersistenceError:
            return None

    def open_checkpoint(self, name: str) -> OpenCheckpoint | None:
        """One checkpoint without its state (None where a read-only open finds no checkpoints
        table); its ranges are read with ``substring()`` when asked for."""
        recorder = self._checkpoint_recorder()
        try:
            found: OpenCheckpoint | None = recorder.open_checkpoint(name)
        except PersistenceError:
            return None
        if found is None:
            return None

        def read(offset: int, length: int) -> bytes:
            try:
                data: bytes = recorder.read_state(name, offset, length)
            except PersistenceError as e:
                msg = f"cannot read checkpoint {name!r} of store {_shown(self.location)}: {e}"
                raise StoreError(msg) from e
            return data

        return replace(found, read=read)

    def checkpoint_names(self) -> list[str]:
        """Names of the stored checkpoints ([] without a checkpoints table)."""
        try:
            return super().checkpoint_names()
        except PersistenceError:
            return []

    def listen(self, after: int) -> Any:
        """eventsourcing's LISTEN/NOTIFY subscription."""
        return self._recorder.subscribe(gt=after)


def _shown(location: str) -> str:
    """A PostgreSQL URL without its password."""
    head, at, tail = location.rpartition("@")
    if not at or ":" not in head.partition("://")[2]:
        return location
    scheme, _, user = head.partition("://")
    return f"{scheme}://{user.partition(':')[0]}:***@{tail}"
