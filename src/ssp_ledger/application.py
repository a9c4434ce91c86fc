"""The Ledger: record events atomically, keep projections current, answer point-in-time queries.

The ledger owns the store (an eventsourcing Application with the msgspec mapper) and the clock
(injectable; tests pass a fake). Recording is all-or-nothing: every event of a batch is checked
against its partnership's rules (:mod:`ssp_ledger.partnership`), wrapped with the recorded time
and the hash of its predecessor in the stream, and inserted in one transaction.

Several ledgers (threads, processes, machines) may write one store: a batch is decided against
each stream's head as stored, and eventsourcing's unique ``(originator_id, version)`` makes a
concurrent append to the same stream fail as a whole with ``IntegrityError``; the ledger then
reloads the heads of the streams it touched and decides the batch again (``max_attempts`` times,
with a short random back-off) before giving up with :class:`ConcurrencyError`.
"""

from __future__ import annotations

import datetime as dt
import os
import random
import sqlite3
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from eventsourcing.persistence import IntegrityError, PersistenceError, StoredEvent

from ssp_ledger.errors import LedgerError, StoreError
from ssp_ledger.events import DomainEvent, Event
from ssp_ledger.partnership import Partnership
from ssp_ledger.periods import Period, parse_period
from ssp_ledger.persistence import (
    ENV_LOCATION,
    GENESIS,
    Backend,
    Checkpoint,
    Clock,
    LedgerApplication,
    LedgerSQLiteRecorder,
    Recorded,
    backend_of,
    record_hash,
    store_env,
    stream_hash,
    stream_id,
)
from ssp_ledger.projection import (
    ProjectionFactory,
    ProjectionSet,
    Query,
    Table,
    load_projections,
    paused_gc,
    projection_fingerprint,
)
from ssp_ledger.subscription import Subscription

__all__ = [
    "STORE_ENV",
    "BatchResult",
    "ConcurrencyError",
    "Ledger",
    "fit_checkpoint",
    "restore_checkpoint",
    "utc_now",
]

#: Rows read from the notification log per round trip (eventsourcing's default of 10 is slow).
READ_BATCH = 5_000
#: Attempts at a batch that meets concurrent appends to the same streams.
DEFAULT_ATTEMPTS = 3
#: Records a known-at replay must pass beyond its starting mark before it keeps a new mark.
KNOWN_AT_MARKS_EVERY = 20_000
#: Known-at marks kept in memory (each a compressed snapshot of every projection).
_MAX_MARKS = 4
#: Environment variable naming the store (a SQLite path or a ``postgresql://`` URL).
STORE_ENV = "SSP_LEDGER_STORE"


def utc_now() -> dt.datetime:
    """The default clock: the current time in UTC."""
    return dt.datetime.now(dt.UTC)


class ConcurrencyError(LedgerError):
    """Another writer kept appending to the same partnership; the batch was not stored."""


@dataclass(frozen=True)
class BatchResult:
    """What a call to :meth:`Ledger.record_many` stored."""

    recorded: int
    """Events newly stored."""
    duplicates: int
    """Events skipped because an identical event with the same id was already recorded."""
    position: int
    """Notification id of the last stored event (the log's length, for a single writer)."""
    recorded_at: dt.datetime | None
    """Recorded time given to the batch (None when nothing was stored)."""


@dataclass
class _Head:
    partnership: Partnership
    stream: uuid.UUID
    version: int
    hash: bytes
    key: bytes = b""
    """``stream.bytes`` (hashed into every record)."""
    hex: str = ""
    """``stream.hex`` (the originator id as SQLite stores it)."""

    def __post_init__(self) -> None:
        self.key = self.stream.bytes
        self.hex = self.stream.hex


@dataclass(frozen=True)
class _Mark:
    position: int
    latest: dt.datetime
    state: bytes


class Ledger:
    """An event-sourced ledger of school sport partnerships.

    ``Ledger.open("ssp.db")`` uses a SQLite file, ``Ledger.in_memory()`` eventsourcing's in-memory
    recorders, ``Ledger.open("postgresql://...")`` PostgreSQL.
    """

    def __init__(
        self,
        location: str | Path = ":memory:",
        *,
        clock: Clock = utc_now,
        projections: Mapping[str, ProjectionFactory] | None = None,
        env: Mapping[str, str] | None = None,
        checkpoint: str | None = None,
        max_attempts: int = DEFAULT_ATTEMPTS,
        known_at_marks_every: int = KNOWN_AT_MARKS_EVERY,
    ) -> None:
        self.location = str(location)
        self._clock = clock
        if max_attempts < 1:
            msg = f"max_attempts must be at least 1; got {max_attempts}"
            raise ValueError(msg)
        self.max_attempts = max_attempts
        """Attempts at a batch that meets concurrent appends (see the module docstring)."""
        self.conflicts = 0
        """Concurrent appends met (and retried or surfaced) by this ledger so far."""
        try:
            self.backend: Backend = backend_of(self.location)
            """``memory``, ``sqlite`` or ``postgres``."""
            store = store_env(self.location, env)
        except ValueError as e:
            msg = f"cannot open store {self.location!r}: {e}"
            raise StoreError(msg) from e
        if (self.backend == "sqlite" and self.location != ENV_LOCATION
                and not self.location.startswith("file:")):  # SQLite URI, e.g. ?mode=ro
            parent = Path(self.location).expanduser().resolve().parent
            if not parent.is_dir():
                msg = f"cannot open store {self.location!r}: folder {parent} does not exist"
                raise StoreError(msg)
        try:
            self._app = _construct(store)
        except ImportError as e:
            msg = (f"cannot open store {self.location!r}: {e} (PostgreSQL needs the 'postgres' "
                   "extra: pip install 'ssp-ledger[postgres]')")
            raise StoreError(msg) from e
        except (PersistenceError, sqlite3.Error, OSError) as e:
            msg = f"cannot open store {self.location!r}: {e}"
            raise StoreError(msg) from e
        # Registered projections are loaded on first use, so a broken third-party plugin cannot
        # stop a store from being opened, written or verified.
        self._given_factories = dict(projections) if projections is not None else None
        self._loaded_factories: dict[str, ProjectionFactory] | None = None
        self._lock = threading.RLock()
        self._heads: dict[str, _Head] = {}
        self._live: ProjectionSet | None = None
        self._known: OrderedDict[tuple[dt.datetime, int], ProjectionSet] = OrderedDict()
        # Recorded-time marks: snapshots of a known-at view at a log position where every record
        # so far was included, with the latest recorded time up to there (see _known_view).
        self._marks: list[_Mark] = []
        self._marks_every = max(1, known_at_marks_every)
        self._last_recorded_at: dt.datetime | None = None
        self.checkpoint = checkpoint
        """Name of the runner checkpoint to start the live projections from (None: replay)."""
        self.checkpoint_position: int | None = None
        """Position of the checkpoint the live projections were loaded from, if any."""
        self.checkpoint_note = ""
        """Why the checkpoint was or was not used."""
        self._use_checkpoint = checkpoint is not None
        self.known_at_start = 0
        """Log position the latest known-at view started from: a mark or the saved checkpoint
        (0: folded from the start)."""

    # ------------------------------------------------------------------ construction

    @classmethod
    def open(cls, location: str | Path, **kwargs: Any) -> Ledger:
        """Open (creating if needed) the store at ``location``."""
        return cls(location, **kwargs)

    @classmethod
    def in_memory(cls, **kwargs: Any) -> Ledger:
        """A ledger held in memory (tests, scenarios)."""
        return cls(":memory:", **kwargs)

    @classmethod
    def from_env(cls, default: str | Path | None = None, **kwargs: Any) -> Ledger:
        """The store named by ``SSP_LEDGER_STORE`` (a path or a ``postgresql://`` URL).

        Without it, eventsourcing's own variables are used when ``PERSISTENCE_MODULE`` is set
        (``eventsourcing.postgres`` with ``POSTGRES_DBNAME``, ``POSTGRES_HOST``, ``POSTGRES_PORT``,
        ``POSTGRES_USER``, ``POSTGRES_PASSWORD``, ...; or ``eventsourcing.sqlite`` with
        ``SQLITE_DBNAME``), then ``default``.
        """
        location: str | Path | None = os.environ.get(STORE_ENV) or None
        if location is None and os.environ.get("PERSISTENCE_MODULE"):
            location = ENV_LOCATION
        if location is None:
            location = default
        if location is None:
            msg = (f"no store given: set {STORE_ENV} (a SQLite path or a postgresql:// URL) or "
                   "eventsourcing's PERSISTENCE_MODULE and POSTGRES_* variables")
            raise StoreError(msg)
        return cls(location, **kwargs)

    def close(self) -> None:
        """Release the store."""
        self._app.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    @property
    def _factories(self) -> dict[str, ProjectionFactory]:
        if self._loaded_factories is None:
            self._loaded_factories = (
                self._given_factories if self._given_factories is not None
                else load_projections()
            )
        return self._loaded_factories

    @property
    def projection_names(self) -> list[str]:
        """Names of the registered projections."""
        return sorted(self._factories)

    # ------------------------------------------------------------------ writing

    def record(self, event: DomainEvent) -> BatchResult:
        """Record one event (see :meth:`record_many`)."""
        return self.record_many([event])

    def record_many(self, events: Iterable[DomainEvent]) -> BatchResult:
        """Record a batch atomically: every event is stored, or none is.

        Raises a :class:`~ssp_ledger.errors.DomainRuleViolation` naming the first offending
        event; exact re-recordings of stored events are skipped (idempotent import).
        """
        batch = list(events)
        for i, event in enumerate(batch):
            if not isinstance(event, Event):
                msg = f"item {i} of the batch is a {type(event).__name__}, not an event"
                raise TypeError(msg)
        with self._lock:
            for attempt in range(1, self.max_attempts + 1):
                try:
                    return self._record_once(batch)
                except IntegrityError as e:
                    # Another writer appended to one of the streams between reading its head and
                    # inserting: nothing of this batch was stored and _record_once dropped the
                    # cached heads of every stream it touched, so the next attempt reloads them
                    # from the store and decides the whole batch again on the new heads.
                    self.conflicts += 1
                    if attempt == self.max_attempts:
                        streams = sorted({event.partnership_id for event in batch})
                        msg = (f"gave up after {self.max_attempts} attempts: another writer kept "
                               f"appending to partnership(s) {', '.join(streams)}; nothing of "
                               "this batch was stored")
                        raise ConcurrencyError(msg) from e
                    time.sleep(random.uniform(0.0, 0.02 * attempt))  # jitter, not crypto
            raise AssertionError  # pragma: no cover

    def _record_once(self, batch: list[DomainEvent]) -> BatchResult:
        recorded_at = self._now()
        touched: set[str] = set()
        app = self._app
        recorder = app.recorder
        # SQLite: rows go in as plain tuples (one executemany); elsewhere as StoredEvents.
        fast = recorder if isinstance(recorder, LedgerSQLiteRecorder) else None
        rows: list[tuple[str, int, str, bytes]] = []
        stored: list[StoredEvent] = []
        live = self._live
        records: list[Recorded] = []  # only kept for the live projections
        duplicates = 0
        encode = app.msgspec_mapper.batch_encoder(recorded_at).encode
        try:
            heads: dict[str, _Head] = {}
            for event in batch:
                pid = event.partnership_id
                head = heads.get(pid)
                if head is None:  # catch up with other writers once per stream and batch
                    head = heads[pid] = self._head(pid)
                    touched.add(pid)
                if not head.partnership.admit(event):  # decide, then apply
                    duplicates += 1
                    continue
                version = head.version + 1
                topic, state, digest = encode(head.stream, head.key, version, head.hash, event)
                if live is not None:
                    records.append(Recorded(
                        originator_id=head.stream,
                        originator_version=version,
                        recorded_at=recorded_at,
                        prev_hash=head.hash,
                        event=event,
                    ))
                if fast is not None:
                    rows.append((head.hex, version, topic, state))
                else:
                    stored.append(StoredEvent(head.stream, version, topic, state))
                head.version = version
                head.hash = digest
            ids: list[int] = []
            if fast is not None:
                ids = fast.insert_rows(rows)
            elif stored:
                ids = list(recorder.insert_events(stored) or [])
        except IntegrityError:
            self._forget(touched)
            raise
        except (PersistenceError, sqlite3.Error, OSError) as e:
            self._forget(touched)
            msg = f"cannot write to store {self.location!r}: {e}"
            raise StoreError(msg) from e
        except BaseException:
            self._forget(touched)
            raise
        count = len(rows) + len(stored)
        if not count:
            return BatchResult(0, duplicates, self.position, None)
        self._last_recorded_at = recorded_at
        if live is not None and ids and live.position == ids[0] - 1:
            live.process_all(zip(ids, records, strict=True))
        return BatchResult(count, duplicates, ids[-1] if ids else self.position, recorded_at)

    def _forget(self, touched: Iterable[str]) -> None:
        # Decision state was mutated by the failed batch: drop it, it reloads from the store.
        for partnership_id in touched:
            self._heads.pop(partnership_id, None)

    def _now(self) -> dt.datetime:
        now = self._clock()
        if now.tzinfo is None or now.utcoffset() is None:
            msg = "the ledger clock must return timezone-aware datetimes"
            raise ValueError(msg)
        now = now.astimezone(dt.UTC)
        if self._last_recorded_at is not None and now < self._last_recorded_at:
            now = self._last_recorded_at  # recorded time never runs backwards
        return now

    def _head(self, partnership_id: str) -> _Head:
        head = self._heads.get(partnership_id)
        if head is None:
            head = _Head(Partnership(partnership_id), stream_id(partnership_id), 0, GENESIS)
            self._heads[partnership_id] = head
        # Catch up with anything another writer appended since.
        mapper = self._app.msgspec_mapper
        recorder = self._app.recorder
        if isinstance(recorder, LedgerSQLiteRecorder):
            rows = recorder.select_stream_rows(head.hex, head.version)
            for (_, _, version, topic, state), (_, rec) in zip(
                    rows, mapper.decode_rows(rows), strict=True):
                self._catch_up(head, rec, stream_hash(head.key, version, topic,
                                                      mapper.unseal(state)))
            return head
        for row in recorder.select_events(head.stream, gt=head.version):
            plain = mapper.plaintext(row)
            self._catch_up(head, mapper.decode(row, plain), record_hash(row, plain))
        return head

    def _catch_up(self, head: _Head, rec: Recorded, digest: bytes) -> None:
        head.partnership.apply(rec.event)
        head.version = rec.originator_version
        head.hash = digest
        if self._last_recorded_at is None or rec.recorded_at > self._last_recorded_at:
            self._last_recorded_at = rec.recorded_at

    # ------------------------------------------------------------------ reading the log

    @property
    def position(self) -> int:
        """Notification id of the newest stored event (0 when empty)."""
        return self._app.recorder.max_notification_id() or 0

    def read(self, start: int = 1, stop: int | None = None) -> Iterator[tuple[int, Recorded]]:
        """(position, record) pairs of the whole log in order, from ``start``."""
        recorder = self._app.recorder
        mapper = self._app.msgspec_mapper
        position = start
        if isinstance(recorder, LedgerSQLiteRecorder):
            while True:
                rows = recorder.select_rows(position, READ_BATCH, stop)
                if not rows:
                    return
                yield from mapper.decode_rows(rows)
                position = rows[-1][0] + 1
        decode = mapper.decode
        while True:
            notifications = recorder.select_notifications(position, READ_BATCH, stop=stop)
            if not notifications:
                return
            for row in notifications:
                yield row.id, decode(row)
            position = notifications[-1].id + 1

    def events(self, partnership_id: str | None = None) -> Iterator[Recorded]:
        """Stored records, of one partnership (in stream order) or of all (in log order)."""
        if partnership_id is None:
            for _, rec in self.read():
                yield rec
            return
        recorder = self._app.recorder
        mapper = self._app.msgspec_mapper
        stream = stream_id(partnership_id)
        if isinstance(recorder, LedgerSQLiteRecorder):
            for _, rec in mapper.decode_rows(recorder.select_stream_rows(stream.hex)):
                yield rec
            return
        for row in recorder.select_events(stream):
            yield mapper.decode(row)

    def _load(self, position: int) -> Recorded:
        recorder = self._app.recorder
        if isinstance(recorder, LedgerSQLiteRecorder):
            rows = recorder.select_rows(position, 1)
            if rows and rows[0][0] == position:
                for _, rec in self._app.msgspec_mapper.decode_rows(rows):
                    return rec
        else:
            notifications = recorder.select_notifications(position, 1)
            if notifications and notifications[0].id == position:
                return self._app.msgspec_mapper.decode(notifications[0])
        msg = f"no stored event at position {position}"
        raise StoreError(msg)

    def partnerships(self) -> list[str]:
        """Ids of the partnerships with at least one event (from the live projections' view)."""
        live = self._projections(None)
        return sorted({pid for (pid, _), _ in live.contributing()})

    # ------------------------------------------------------------------ projections

    def _projections(self, known_at: dt.datetime | None) -> ProjectionSet:
        with self._lock:
            if known_at is None:
                if self._live is None:
                    loaded: ProjectionSet | None = None
                    if self.checkpoint is not None and self._use_checkpoint:
                        loaded, self.checkpoint_note = restore_checkpoint(
                            self._app, self.checkpoint, self._factories, self._load)
                        self.checkpoint_position = loaded.position if loaded else None
                    self._live = loaded or ProjectionSet(self._factories, self._load)
                live = self._live
                live.process_all(self.read(live.position + 1))
                return live
            if known_at.tzinfo is None:
                msg = "known_at must be timezone-aware (e.g. 2011-09-01T00:00:00+00:00)"
                raise ValueError(msg)
            key = (known_at, self.position)
            cached = self._known.get(key)
            if cached is not None:
                self._known.move_to_end(key)
                return cached
            view = self._known_view(known_at)
            self._known[key] = view
            while len(self._known) > 4:
                self._known.popitem(last=False)
            return view

    def _known_view(self, known_at: dt.datetime) -> ProjectionSet:
        """The projections as known at ``known_at``: the log folded in order, skipping records
        stored later, starting from the latest mark it can use instead of from position 0.

        A mark at position ``m`` holds the state after *every* record up to ``m``; it serves any
        ``known_at`` at or after the latest recorded time up to ``m``, since no record before
        ``m`` is then skipped. Marks are log positions, not valid dates, so a back-dated event
        (always a later position) can never make one stale.

        The saved checkpoint named by :attr:`checkpoint` is such a mark too, kept in the store
        (so it serves other processes, e.g. every ``ssp-ledger report --known-at``): it holds
        every record up to its position and the latest recorded time among them.
        """
        usable = [m for m in self._marks if m.latest <= known_at]
        mark = max(usable, key=lambda m: m.position) if usable else None
        view: ProjectionSet | None = None
        latest: dt.datetime | None = None
        if self.checkpoint is not None and self._use_checkpoint:
            saved, _ = restore_checkpoint(self._app, self.checkpoint, self._factories,
                                          self._load)
            if (saved is not None and saved.latest is not None and saved.latest <= known_at
                    and (mark is None or saved.position > mark.position)):
                view, latest = saved, saved.latest
        if view is None and mark is not None:
            view = ProjectionSet.restore(mark.state, self._factories, self._load, self.read)
            latest = mark.latest
        if view is None:
            view = ProjectionSet(self._factories, self._load)
        start = self.known_at_start = view.position
        complete = True
        with paused_gc():
            for position, recorded in self.read(view.position + 1):
                if recorded.recorded_at <= known_at:
                    if complete and (latest is None or recorded.recorded_at > latest):
                        latest = recorded.recorded_at
                    view.process(position, recorded)
                elif complete:
                    complete = False
                    self._mark(view, latest, start)
        if complete:
            self._mark(view, latest, start)
        return view

    def _mark(self, view: ProjectionSet, latest: dt.datetime | None, start: int) -> None:
        """Keep a snapshot of ``view`` when it is far enough past the mark it started from."""
        if latest is None or view.position - start < self._marks_every:
            return
        self._marks.append(_Mark(view.position, latest, view.snapshot()))
        self._marks.sort(key=lambda m: m.position)
        del self._marks[:-_MAX_MARKS]

    def rebuild(self) -> None:
        """Drop the live projections; the next query replays the whole log (no checkpoint)."""
        with self._lock:
            self._live = None
            self._known.clear()
            self._marks.clear()
            self._use_checkpoint = False
            self.checkpoint_position = None

    # ------------------------------------------------------------------ following the log

    def subscribe(self, after: int | None = None, *, timeout: float | None = None,
                  poll_interval: float = 0.1) -> Subscription:
        """Follow records stored after position ``after`` (None: the current end of the log).

        Use as a context manager; iteration yields ``(position, Recorded)`` and ends after
        ``timeout`` seconds without a new record (None: when ``stop()`` is called)::

            with ledger.subscribe(after=0, timeout=5.0) as sub:
                for position, recorded in sub:
                    ...

        SQLite and memory stores are polled every ``poll_interval`` seconds; PostgreSQL is
        followed with LISTEN/NOTIFY (see :mod:`ssp_ledger.subscription`).
        """
        start = self.position if after is None else after
        return Subscription(self._app, start, timeout=timeout, poll_interval=poll_interval,
                            listen=self.backend == "postgres", batch=READ_BATCH)

    def report(
        self,
        projection: str,
        *,
        as_of: dt.date,
        known_at: dt.datetime | None = None,
        by: str | None = None,
        period: Period | str | None = None,
        partnership_id: str | None = None,
        **params: int | str,
    ) -> Table:
        """Ask a registered projection for a table at (``as_of``, ``known_at``)."""
        if isinstance(period, str):
            period = parse_period(period)
        query = Query(as_of=as_of, known_at=known_at, by=by, period=period,
                      partnership_id=partnership_id, params=params)
        return self._projections(known_at)[projection].report(query)

    def participation(self, *, as_of: dt.date, **kwargs: Any) -> Table:
        """Sessions, attendances, SEND attendances and competition participants."""
        return self.report("participation", as_of=as_of, **kwargs)

    def staff_time_cost(self, *, as_of: dt.date, **kwargs: Any) -> Table:
        """Staff minutes and pence, funded vs hidden in salary budgets."""
        return self.report("staff_time_cost", as_of=as_of, **kwargs)

    def partnership_age(self, *, as_of: dt.date, **kwargs: Any) -> Table:
        """Days since formation, member tenure, active members."""
        return self.report("partnership_age", as_of=as_of, **kwargs)

    def funding(self, *, as_of: dt.date, **kwargs: Any) -> Table:
        """Level in force per stream, cumulative received and the funding gap."""
        return self.report("funding", as_of=as_of, **kwargs)

    def leaders(self, *, as_of: dt.date, **kwargs: Any) -> Table:
        """People trained as leaders, volunteers and coaches."""
        return self.report("leaders", as_of=as_of, **kwargs)

    def resources(self, *, as_of: dt.date, **kwargs: Any) -> Table:
        """Resources shared between schools."""
        return self.report("resources", as_of=as_of, **kwargs)


#: Attempts at opening a new SQLite file that other processes are opening at the same moment.
_OPEN_ATTEMPTS = 8


def _construct(store: Mapping[str, str]) -> LedgerApplication:
    # The first connection to a new SQLite file switches it to WAL mode (eventsourcing), which
    # fails at once with "database is locked", busy timeout or not, while another process is
    # doing the same; the second try finds the file in WAL mode already.
    for attempt in range(1, _OPEN_ATTEMPTS + 1):
        try:
            return LedgerApplication(env=store)
        except sqlite3.OperationalError as e:
            if "locked" not in str(e) or attempt == _OPEN_ATTEMPTS:
                raise
            time.sleep(random.uniform(0.01, 0.05 * attempt))  # jitter, not crypto
    raise AssertionError  # pragma: no cover


def _reader(app: LedgerApplication) -> Callable[[int, int], Iterator[tuple[int, Recorded]]]:
    """``read(start, stop)`` over ``app``'s log, for replaying projections a checkpoint lacks."""
    def read(start: int, stop: int) -> Iterator[tuple[int, Recorded]]:
        while rows := app.recorder.select_notifications(start, READ_BATCH, stop=stop):
            yield from ((row.id, app.msgspec_mapper.decode(row)) for row in rows)
            start = rows[-1].id + 1
    return read


def restore_checkpoint(app: LedgerApplication, name: str,
                       factories: Mapping[str, ProjectionFactory],
                       load: Callable[[int], Recorded]) -> tuple[ProjectionSet | None, str]:
    """The projections saved by runner ``name``, if they fit, and a note saying why (not)."""
    try:
        checkpoint = app.checkpoint_recorder().load_checkpoint(name)
    except (PersistenceError, sqlite3.Error) as e:
        return None, f"cannot read checkpoint {name!r}: {e}"
    if checkpoint is None:
        return None, f"no checkpoint named {name!r}: replayed the log"
    return fit_checkpoint(app, checkpoint, factories, load)


def fit_checkpoint(app: LedgerApplication, checkpoint: Checkpoint,
                   factories: Mapping[str, ProjectionFactory],
                   load: Callable[[int], Recorded]) -> tuple[ProjectionSet | None, str]:
    """Restore a checkpoint if it fits these projections and this log, with a note.

    A checkpoint is used only when it was made by the same projection classes and code
    (:func:`~ssp_ledger.projection.projection_fingerprint`) and the record at its position still
    hashes to the anchor saved with it (the log up to there was not rewritten).
    """
    name = checkpoint.name
    if checkpoint.fingerprint != projection_fingerprint(factories):
        return None, (f"checkpoint {name!r} was made by other projections or code: "
                      "replayed the log")
    rows = app.recorder.select_notifications(checkpoint.position, 1)
    if not rows or rows[0].id != checkpoint.position:
        return None, (f"checkpoint {name!r} is at position {checkpoint.position}, which the log "
                      "no longer has: replayed the log")
    row = rows[0]
    if record_hash(row, app.msgspec_mapper.plaintext(row)) != checkpoint.anchor:
        return None, (f"the record at position {checkpoint.position} changed since checkpoint "
                      f"{name!r} was saved: replayed the log")
    try:
        restored = ProjectionSet.restore(checkpoint.state, factories, load, _reader(app))
    except ValueError as e:  # not a data-only state of this version: replay
        return None, f"checkpoint {name!r} cannot be read ({e}): replayed the log"
    if restored.position != checkpoint.position or set(restored.names) != set(factories):
        return None, f"checkpoint {name!r} does not match its own header: replayed the log"
    return restored, f"loaded checkpoint {name!r} at position {checkpoint.position}"
