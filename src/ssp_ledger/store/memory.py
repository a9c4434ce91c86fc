"""The in-memory store: eventsourcing's POPO recorders, for tests and scenarios.

:class:`LedgerPOPORecorder` adds the port's stream reads (with positions) to eventsourcing's
in-memory application recorder; :class:`POPOCheckpointRecorder` keeps checkpoints beside its
tracking records for the life of the store. :class:`MemoryLog` is the
:class:`~ssp_ledger.store.log.EventLog` over them.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence

from eventsourcing.persistence import ApplicationRecorder, Tracking
from eventsourcing.popo import POPOApplicationRecorder, POPOFactory, POPOTrackingRecorder
from eventsourcing.utils import resolve_topic

from ssp_ledger.store.app import RecorderLog, construct
from ssp_ledger.store.log import Checkpoint, Mode, RawRow, tracking_name

__all__ = ["LedgerPOPOFactory", "LedgerPOPORecorder", "MemoryLog", "POPOCheckpointRecorder"]


class LedgerPOPORecorder(POPOApplicationRecorder):
    """eventsourcing's in-memory application recorder, with rows by stream and position."""

    def stream_rows(self, stream: uuid.UUID, after: int = 0) -> list[RawRow]:
        """Rows of one stream after version ``after`` (with their positions)."""
        with self._database_lock:
            index = self._stored_events_index.get(str(stream), {})
            out: list[RawRow] = []
            for version in sorted(v for v in index if v > after):
                i = index[version]
                s = self._stored_events[i]
                out.append((i + 1, s.originator_id, s.originator_version, s.topic, s.state))
            return out

    def stream_row(self, stream: uuid.UUID, version: int) -> RawRow | None:
        """The row at ``version`` of ``stream``."""
        with self._database_lock:
            i = self._stored_events_index.get(str(stream), {}).get(version)
            if i is None:
                return None
            s = self._stored_events[i]
            return (i + 1, s.originator_id, s.originator_version, s.topic, s.state)


class LedgerPOPOFactory(POPOFactory):
    """eventsourcing's in-memory factory, choosing the application recorder by topic as its
    SQLite and PostgreSQL factories do (``APPLICATION_RECORDER_TOPIC``)."""

    def application_recorder(self) -> ApplicationRecorder:
        """The recorder class named by ``APPLICATION_RECORDER_TOPIC`` (default: the ledger's)."""
        topic = self.env.get(self.APPLICATION_RECORDER_TOPIC)
        cls = resolve_topic(topic) if topic else LedgerPOPORecorder
        if not (isinstance(cls, type) and issubclass(cls, POPOApplicationRecorder)):
            msg = f"{topic} is not an in-memory application recorder"
            raise TypeError(msg)
        return cls()


class POPOCheckpointRecorder(POPOTrackingRecorder):
    """Checkpoints of an in-memory store (kept for the life of its application)."""

    def __init__(self) -> None:
        super().__init__()
        self._checkpoints: dict[str, Checkpoint] = {}

    def save_checkpoint(self, checkpoint: Checkpoint) -> None:
        """Tracking and checkpoint under eventsourcing's database lock."""
        with self._database_lock:
            tracking = Tracking(tracking_name(checkpoint.name), checkpoint.position)
            self._assert_tracking_uniqueness(tracking)
            self._insert_tracking(tracking)
            self._checkpoints[checkpoint.name] = checkpoint

    def load_checkpoint(self, name: str) -> Checkpoint | None:
        """Read one checkpoint."""
        with self._database_lock:
            return self._checkpoints.get(name)

    def checkpoint_names(self) -> list[str]:
        """Names of the stored checkpoints."""
        with self._database_lock:
            return sorted(self._checkpoints)

    def delete_checkpoint(self, name: str) -> None:
        """Forget the checkpoint and its tracking record."""
        with self._database_lock:
            self._checkpoints.pop(name, None)
            self._max_tracking_ids.pop(tracking_name(name), None)


class MemoryLog(RecorderLog):
    """An :class:`~ssp_ledger.store.log.EventLog` held in memory."""

    backend = "memory"

    def __init__(self, location: str, mode: Mode, env: Mapping[str, str]) -> None:
        self.location = location
        self.read_only = mode == "read"
        self.app = construct(env)
        recorder = self.app.recorder
        assert isinstance(recorder, LedgerPOPORecorder)
        self._recorder = recorder
        self.mapper = self.app.msgspec_mapper
        self.note = ""

    def stream_rows(self, stream: uuid.UUID, after: int = 0) -> Sequence[RawRow]:
        """Rows of one stream."""
        return self._recorder.stream_rows(stream, after)

    def stream_row(self, stream: uuid.UUID, version: int) -> RawRow | None:
        """One row of a stream."""
        return self._recorder.stream_row(stream, version)

    def count(self, stop: int) -> int:
        """Records up to ``stop`` (positions are contiguous in memory)."""
        return min(stop, self.max_position())
