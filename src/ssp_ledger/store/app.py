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
from collections.abc import Callable, Mapping
from typing import Any

from eventsourcing.application import Application
from eventsourcing.persistence import DatabaseError, Mapper, TrackingRecorder

from ssp_ledger.store.mapper import MsgspecMapper, MsgspecTranscoder

__all__ = ["CREATE_ATTEMPTS", "LedgerApplication", "construct", "create_with_retries"]

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


def recorder_of(app: LedgerApplication) -> Any:
    """The application recorder (typed loosely: each backend knows its own class)."""
    return app.recorder
