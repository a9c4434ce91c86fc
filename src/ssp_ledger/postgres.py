"""PostgreSQL recorders, imported only for ``postgresql://`` stores (the ``postgres`` extra).

Both are small subclasses of eventsourcing's own PostgreSQL recorders (eventsourcing's shipped
recorder test cases run against them in ``tests/integration/test_recorders.py``):

* :class:`LedgerPostgresRecorder` inserts a batch in one transaction like eventsourcing's, under
  the same table lock and ``NOTIFY``, but without psycopg's pipeline mode and in statements of
  at most :data:`INSERT_CHUNK` rows / :data:`INSERT_CHUNK_BYTES` bytes: psycopg 3.3 (pure Python
  and binary builds alike) hangs for ever when one pipelined statement carries more than about
  12 MB, which eventsourcing's single ``unnest`` statement reaches at ~30,000 of our events.
* :class:`PostgresCheckpointRecorder` stores projection checkpoints beside eventsourcing's
  tracking table and writes both in one transaction.

Both retry eventsourcing's ``create_table`` a few times: it re-runs its (idempotent) DDL on every
open, and PostgreSQL fails some of several processes doing so at once ("tuple concurrently
updated", "relation already exists", a duplicate ``pg_type`` key) — e.g. writers starting
together on a shared store.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from eventsourcing.persistence import InterfaceError, OperationalError, StoredEvent, Tracking
from eventsourcing.postgres import (
    PostgresApplicationRecorder,
    PostgresDatastore,
    PostgresTrackingRecorder,
)
from eventsourcing.utils import retry
from psycopg.sql import SQL, Identifier

from ssp_ledger.persistence import (
    Checkpoint,
    CheckpointRecorder,
    create_with_retries,
    tracking_name,
)

__all__ = [
    "INSERT_CHUNK",
    "INSERT_CHUNK_BYTES",
    "LedgerPostgresRecorder",
    "PostgresCheckpointRecorder",
]

#: Most rows per INSERT statement.
INSERT_CHUNK = 2_000
#: Most state bytes per INSERT statement.
INSERT_CHUNK_BYTES = 2_000_000


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


class PostgresCheckpointRecorder(PostgresTrackingRecorder, CheckpointRecorder):
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
        self._upsert_checkpoint = SQL(
            "INSERT INTO {0}.{1} VALUES (%s, %s, %s, %s, %s, %s) "
            "ON CONFLICT (name) DO UPDATE SET position=EXCLUDED.position, "
            "fingerprint=EXCLUDED.fingerprint, anchor=EXCLUDED.anchor, state=EXCLUDED.state, "
            "saved_at=EXCLUDED.saved_at"
        ).format(*table)
        self._select_checkpoint = SQL(
            "SELECT position, fingerprint, anchor, state, saved_at FROM {0}.{1} WHERE name=%s"
        ).format(*table)
        self._delete_checkpoint = SQL("DELETE FROM {0}.{1} WHERE name=%s").format(*table)
        self._delete_tracking = SQL("DELETE FROM {0}.{1} WHERE application_name=%s").format(
            Identifier(self.datastore.schema), Identifier(self.tracking_table_name))

    def create_table(self) -> None:
        """eventsourcing's, retried when another process runs the same DDL at the same time."""
        create_with_retries(super().create_table)

    @retry((InterfaceError, OperationalError), max_attempts=10, wait=0.2)
    def save_checkpoint(self, checkpoint: Checkpoint) -> None:
        """Tracking insert and checkpoint upsert in one transaction."""
        with self.datastore.transaction(commit=True) as curs:
            self._insert_tracking(
                curs, Tracking(tracking_name(checkpoint.name), checkpoint.position))
            curs.execute(self._upsert_checkpoint, (
                checkpoint.name, checkpoint.position, checkpoint.fingerprint, checkpoint.anchor,
                checkpoint.state, checkpoint.saved_at))

    @retry((InterfaceError, OperationalError), max_attempts=10, wait=0.2)
    def load_checkpoint(self, name: str) -> Checkpoint | None:
        """Read one checkpoint."""
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(self._select_checkpoint, (name,))
            row = curs.fetchone()
        if row is None:
            return None
        saved_at = row["saved_at"]
        assert isinstance(saved_at, dt.datetime)
        return Checkpoint(name, int(row["position"]), str(row["fingerprint"]),
                          bytes(row["anchor"]), bytes(row["state"]), saved_at)

    @retry((InterfaceError, OperationalError), max_attempts=10, wait=0.2)
    def delete_checkpoint(self, name: str) -> None:
        """Delete the checkpoint and its tracking row in one transaction."""
        with self.datastore.transaction(commit=True) as curs:
            curs.execute(self._delete_checkpoint, (name,))
            curs.execute(self._delete_tracking, (tracking_name(name),))
