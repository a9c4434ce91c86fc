"""Storage: the port the ledger talks to, and one implementation of it per backend.

* :mod:`~ssp_ledger.store.records` — what a stored record is (:class:`Recorded`) and the hash
  chain over records;
* :mod:`~ssp_ledger.store.mapper` — records to bytes and back (msgspec, upcasting, fast paths);
* :mod:`~ssp_ledger.store.log` — the port, :class:`EventLog`, and :class:`Checkpoint`;
* :mod:`~ssp_ledger.store.memory`, :mod:`~ssp_ledger.store.sqlite`,
  :mod:`~ssp_ledger.store.postgres` — the backends, each on eventsourcing's recorders;
* :mod:`~ssp_ledger.store.location` — locations, eventsourcing's environment, :func:`open_log`.

Nothing outside this package branches on a backend or touches a recorder.
"""

from ssp_ledger.store.location import ENV_LOCATION, STORE_ENV, backend_of, open_log, store_env
from ssp_ledger.store.log import (
    READ_BATCH,
    Backend,
    Binding,
    Checkpoint,
    EventLog,
    Head,
    Mode,
    OpenCheckpoint,
    tracking_name,
)
from ssp_ledger.store.mapper import BatchEncoder, MsgspecMapper, MsgspecTranscoder
from ssp_ledger.store.records import (
    GENESIS,
    Clock,
    Decoded,
    Recorded,
    record_hash,
    stream_hash,
    stream_id,
)

__all__ = [
    "ENV_LOCATION",
    "GENESIS",
    "READ_BATCH",
    "STORE_ENV",
    "Backend",
    "BatchEncoder",
    "Binding",
    "Checkpoint",
    "Clock",
    "Decoded",
    "EventLog",
    "Head",
    "Mode",
    "MsgspecMapper",
    "MsgspecTranscoder",
    "OpenCheckpoint",
    "Recorded",
    "backend_of",
    "open_log",
    "record_hash",
    "store_env",
    "stream_hash",
    "stream_id",
    "tracking_name",
]
