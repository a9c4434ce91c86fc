"""The eventsourcing Application behind the memory, SQLite and PostgreSQL logs.

eventsourcing builds the recorders from the environment: ``PERSISTENCE_MODULE`` picks the
backend's factory and ``APPLICATION_RECORDER_TOPIC`` / ``TRACKING_RECORDER_TOPIC`` pick the
recorder classes (:func:`ssp_ledger.store.location.store_env` sets them to the ledger's own
subclasses). :class:`LedgerApplication` adds the msgspec mapper and the checkpoint recorder; the
backends' :class:`~ssp_ledger.store.log.EventLog` classes wrap it.
"""

from __future__ import annotations

import random
import sqlite3
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from eventsourcing.application import Application
from eventsourcing.persistence import DatabaseError, Mapper, StoredEvent, TrackingRecorder

from ssp_ledger.errors import StoreError
from ssp_ledger.store.log import Checkpoint, EventLog, NewRow, RawRow, tracking_name
from ssp_ledger.store.mapper import MsgspecMapper, MsgspecTranscoder

__all__ = [
    "CREATE_ATTEMPTS",
    "LedgerApplication",
    "RecorderLog",
    "construct",
    "create_with_retries",
]

#: Attempts at eventsourcing's ``create_table`` when several processes open a store at once.
CREATE_ATTEMPTS = 8


class LedgerApplication(Application[uuid.UUID]):
    """The eventsourcing Application that owns the recorders and the msgspec mapper."""

    name = "SSPLedger"

    def construct_mapper(self) -> Mapper[uuid.UUID]:
        """Use :class:`MsgspecMapper`, keeping the factory's compressor and cipher."""
        return MsgspecMapper(
            transcoder=MsgspecTranscoder(),
            compressor=self.factory.compressor(),
            cipher=self.factory.cipher(),
        )

    @property
    def msgspec_mapper(self) -> MsgspecMapper:
        """The mapper, typed."""
        assert isinstance(self.mapper, MsgspecMapper)
        return self.mapper

    def checkpoint_recorder(self) -> TrackingRecorder:
        """The tracking recorder that also stores checkpoints, in the events' database.

        The class comes from ``TRACKING_RECORDER_TOPIC`` (eventsourcing's own choice by topic);
        made once per application by the factory (same connection pool; tables created unless
        ``CREATE_TABLE`` is false), so an in-memory store keeps its checkpoints while open.
        """
        recorder: TrackingRecorder | None = getattr(self, "_checkpoints", None)
        if recorder is None:
            recorder = self._checkpoints = self.factory.tracking_recorder()
        return recorder


def create_with_retries(create: Callable[[], None]) -> None:
    """Run an eventsourcing ``create_table``, retrying when a concurrent one interferes.

    Every open re-runs eventsourcing's idempotent DDL (``CREATE ... IF NOT EXISTS``, ``CREATE OR
    REPLACE FUNCTION``, the tracking table's migration row); several processes doing it at once
    can fail all but one with a database error. Running it again then finds the work done.
    """
    for attempt in range(1, CREATE_ATTEMPTS + 1):
        try:
            create()
        except DatabaseError:
            if attempt == CREATE_ATTEMPTS:
                raise
            time.sleep(random.uniform(0.01, 0.05 * attempt))  # jitter, not crypto
        else:
            return


def construct(env: Mapping[str, str]) -> LedgerApplication:
    """The application for an eventsourcing environment, retrying a racing first open.

    The first connection to a new SQLite file switches it to WAL mode (eventsourcing), which
    fails at once with "database is locked", busy timeout or not, while another process is doing
    the same; the second try finds the file in WAL mode already.
    """
    for attempt in range(1, CREATE_ATTEMPTS + 1):
        try:
            return LedgerApplication(env=dict(env))
        except (sqlite3.OperationalError, DatabaseError) as e:
            if "locked" not in str(e) or attempt == CREATE_ATTEMPTS:
                raise
            time.sleep(random.uniform(0.01, 0.05 * attempt))  # jitter, not crypto
    raise AssertionError  # pragma: no cover


class RecorderLog(EventLog):
    """The part of an :class:`~ssp_ledger.store.log.EventLog` that eventsourcing's generic
    recorder interface gives (memory and PostgreSQL): the log by position, inserts, and
    checkpoints through the tracking recorder, which must have ``save_checkpoint``,
    ``load_checkpoint``, ``checkpoint_names`` and ``delete_checkpoint``. Subclasses add the
    reads by stream, which need positions the generic interface does not give."""

    app: LedgerApplication
    _checkpoints: Any = None

    def _shown(self) -> str:
        return repr(self.location)

    def _writable(self) -> None:
        if self.read_only:
            msg = f"store {self._shown()} was opened read-only"
            raise StoreError(msg)

    def _checkpoint_recorder(self) -> Any:
        if self._checkpoints is None:
            self._checkpoints = self.app.checkpoint_recorder()
        return self._checkpoints

    def max_position(self) -> int:
        """Position of the newest record."""
        return self.app.recorder.max_notification_id() or 0

    def rows(self, start: int, limit: int, stop: int | None = None) -> Sequence[RawRow]:
        """Rows from ``start`` (to ``stop``), through eventsourcing's notification log."""
        return [(n.id, n.originator_id, n.originator_version, n.topic, n.state)
                for n in self.app.recorder.select_notifications(start, limit, stop=stop)]

    def insert(self, rows: Sequence[NewRow]) -> list[int]:
        """eventsourcing's ``insert_events``: one transaction."""
        self._writable()
        ids = self.app.recorder.insert_events([StoredEvent(*row) for row in rows])
        return list(ids or [])

    def save_checkpoint(self, checkpoint: Checkpoint) -> None:
        """Checkpoint and tracking record in one transaction."""
        self._writable()
        self._checkpoint_recorder().save_checkpoint(checkpoint)

    def load_checkpoint(self, name: str) -> Checkpoint | None:
        """One checkpoint."""
        found: Checkpoint | None = self._checkpoint_recorder().load_checkpoint(name)
        return found

    def checkpoint_names(self) -> list[str]:
        """Names of the stored checkpoints."""
        names: list[str] = self._checkpoint_recorder().checkpoint_names()
        return names

    def delete_checkpoint(self, name: str) -> None:
        """Checkpoint and tracking record."""
        self._writable()
        self._checkpoint_recorder().delete_checkpoint(name)

    def tracked_position(self, name: str) -> int:
        """eventsourcing's tracking position."""
        return int(self._checkpoint_recorder().max_tracking_id(tracking_name(name)) or 0)

    def wait(self, name: str, position: int, timeout: float) -> None:
        """eventsourcing's ``wait``."""
        self._checkpoint_recorder().wait(tracking_name(name), position, timeout=timeout)

    def close(self) -> None:
        """Release the application."""
        self.app.close()
