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

import dataclasses
import datetime as dt
import difflib
import hashlib
import operator
import os
import random
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self, TypeVar

import msgspec
from eventsourcing.persistence import IntegrityError, PersistenceError

from ssp_ledger.checkpoints import restore_checkpoint, unreadable_note
from ssp_ledger.errors import (
    InputError,
    LedgerError,
    StoreError,
    UnknownPartnership,
    UnknownProjection,
)
from ssp_ledger.events import DomainEvent, Event
from ssp_ledger.periods import Period, parse_period
from ssp_ledger.projection import (
    Build,
    ProjectionFactory,
    ProjectionSet,
    Query,
    Table,
    registered_projections,
)
from ssp_ledger.projection.checkpoint import UnreadableCheckpoint
from ssp_ledger.store import (
    ENV_LOCATION,
    GENESIS,
    READ_BATCH,
    STORE_ENV,
    Backend,
    Binding,
    Clock,
    Decoded,
    EventLog,
    Head,
    Mode,
    Recorded,
    open_log,
    stream_id,
)
from ssp_ledger.store.log import Writer
from ssp_ledger.store.records import stream_hash

_T = TypeVar("_T")

if TYPE_CHECKING:
    # Imported where used: a ledger that only reads (a report) never decides a write.
    from ssp_ledger.partnership import Partnership
    from ssp_ledger.subscription import Subscription

__all__ = [
    "READ_BATCH",
    "STORE_ENV",
    "Basis",
    "BatchResult",
    "ConcurrencyError",
    "Ledger",
    "utc_now",
]

#: Seconds a batch keeps retrying when concurrent writers append to the same streams.
DEFAULT_RETRY_DEADLINE = 60.0
#: Events decided and inserted per round inside one atomic write (bounds an import's memory).
WRITE_CHUNK = 5_000
#: Records read between two calls of :attr:`Ledger.progress`.
PROGRESS_EVERY = 2_000
#: Records a known-at replay must pass beyond its starting mark before it keeps a new mark.
KNOWN_AT_MARKS_EVERY = 20_000
#: Known-at marks kept in memory (each a compressed snapshot of every projection).
_MAX_MARKS = 4
#: Distinct report arguments remembered as checked (see Ledger.report).
_MAX_CHECKED = 256
_RECORD = operator.itemgetter(1)
_STREAM_NUMBER = operator.attrgetter("originator_id.int")


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


@dataclass(frozen=True)
class Basis:
    """What a report was computed from, so two readers can tell whether they saw the same thing.

    ``heads`` is a SHA-256 over every stream's head (its id, last version and record hash) at
    ``position``: two stores that agree on it hold the same records in every partnership up to
    there (each record hash covers its predecessor). ``ssp-ledger digest`` gives the stronger
    ledger digest, which also fixes the order across partnerships, at the cost of reading the
    whole log.
    """

    position: int
    """Log position the figures include (every record up to it, as known at ``known_at``)."""
    heads: str
    """Hex SHA-256 of the stream heads at ``position``."""
    checkpoint: str | None
    """``"'NAME' at POSITION"`` when the figures started from a saved checkpoint; None when the
    log was replayed from position 0."""
    known_at: dt.datetime | None = None
    """The recorded time the figures are as of (None: everything recorded)."""

    def __str__(self) -> str:
        start = (f"from checkpoint {self.checkpoint}" if self.checkpoint
                 else "replayed from position 0")
        known = f", as known at {self.known_at.isoformat()}" if self.known_at else ""
        return f"log position {self.position}, heads {self.heads[:16]}, {start}{known}"

    def to_dict(self) -> dict[str, Any]:
        """Plain data for JSON metadata."""
        return {"position": self.position, "heads_sha256": self.heads,
                "checkpoint": self.checkpoint,
                "known_at": self.known_at.isoformat() if self.known_at else None}



def _read_input(events: Iterable[DomainEvent]) -> Iterator[DomainEvent]:
    """The events of an input iterable (a parser reading a file or a pipe); an ``OSError`` the
    input raises while it is read is the input's failure, not the store's: :class:`InputError`
    (nothing is stored, as for any exception raised by the iterable)."""
    source = iter(events)
    while True:
        try:
            event = next(source)
        except StopIteration:
            return
        except OSError as e:
            msg = f"cannot read the input: {e.strerror or e}"
            raise InputError(msg) from e
        yield event

class Ledger:
    """An event-sourced ledger of school sport partnerships.

    ``Ledger.open("ssp.db")`` uses a SQLite file, ``Ledger.in_memory()`` eventsourcing's in-memory
    recorders, ``Ledger.open("postgresql://...")`` PostgreSQL. ``mode="read"`` opens a store
    without ever writing to it (auditing a copy); ``"write"`` needs an existing store;
    ``"create"`` (the default) makes one where there is none. A file that is not a ledger store
    is refused (:class:`~ssp_ledger.errors.ForeignStore`) and left untouched.

    ``build`` says which projections a replay of the log builds: ``"all"`` (the default) every
    registered one, in the one pass the first report makes, so every later report is an index
    look-up; ``"asked"`` only those asked for, so a process that asks one report (the command
    line's ``report`` and ``explain``) does not replay the others: each projection asked for
    later is then brought up to date by a replay of its own (see
    :attr:`ProjectionSet.build <ssp_ledger.projection.ProjectionSet.build>`). The figures are
    the same either way; a checkpoint, when one fits, is used either way.
    """

    def __init__(
        self,
        location: str | Path = ":memory:",
        *,
        clock: Clock = utc_now,
        projections: Mapping[str, ProjectionFactory] | None = None,
        env: Mapping[str, str] | None = None,
        checkpoint: str | None = None,
        mode: Mode = "create",
        max_attempts: int | None = None,
        retry_deadline: float = DEFAULT_RETRY_DEADLINE,
        known_at_marks_every: int = KNOWN_AT_MARKS_EVERY,
        progress: Callable[[int, int], None] | None = None,
        build: Build = "all",
    ) -> None:
        if build not in ("all", "asked"):
            msg = f"build must be 'all' or 'asked'; got {build!r}"
            raise ValueError(msg)
        self.build: Build = build
        """Which projections a replay builds (see the class doc)."""
        if not isinstance(location, str | os.PathLike):
            msg = (f"location must be a path, ':memory:' or a postgresql:// URL; got "
                   f"{type(location).__name__} {location!r}")
            raise TypeError(msg)
        self.location = str(location)
        if not self.location.strip():
            msg = "location is empty: give a SQLite path, ':memory:' or a postgresql:// URL"
            raise StoreError(msg)
        self._clock = clock
        if max_attempts is not None and max_attempts < 1:
            msg = f"max_attempts must be at least 1; got {max_attempts}"
            raise ValueError(msg)
        self.max_attempts = max_attempts
        """Attempts at a batch that meets concurrent appends (None: retry until
        ``retry_deadline`` seconds have passed)."""
        self.retry_deadline = retry_deadline
        self.conflicts = 0
        """Concurrent appends met (and retried or surfaced) by this ledger so far."""
        self._log: EventLog = open_log(self.location, mode, env)
        self.backend: Backend = self._log.backend
        """``memory``, ``sqlite`` or ``postgres``."""
        self.mode: Mode = "read" if self._log.read_only else mode
        self.note = self._log.note
        """What opening the store did (e.g. created a new file), empty otherwise."""
        # Registered projections are loaded on first use, so a broken third-party plugin cannot
        # stop a store from being opened, written or verified.
        self._given_factories = dict(projections) if projections is not None else None
        self._loaded_factories: dict[str, ProjectionFactory] | None = None
        self._lock = threading.RLock()
        self._heads: dict[str, _Head] = {}
        self._live: ProjectionSet | None = None
        self._live_versions: dict[str, int] = {}
        self._live_token: object = None
        self._known: OrderedDict[tuple[dt.datetime, object], ProjectionSet] = OrderedDict()
        # Recorded-time marks: snapshots of a known-at view at a log position where every record
        # so far was included, with the latest recorded time up to there (see _known_view).
        self._marks: list[_Mark] = []
        self._marks_every = max(1, known_at_marks_every)
        self._last_recorded_at: dt.datetime | None = None
        # Stream-heads hashes of the views' positions (a basis is fixed by its position), the
        # heads they were made of, and the live view's basis as a report states it.
        self._bases: dict[int, str] = {}
        self._stream_heads: dict[str, Head] = {}
        self._live_basis: tuple[tuple[int, int | None, str | None], dict[str, Any]] | None = None
        # Report arguments checked once (see report) and partnerships known to be stored.
        self._checked: dict[tuple[object, ...], tuple[Period | None]] = {}
        self._stored_partnerships: set[str] = set()
        self.checkpoint = checkpoint
        """Name of the runner checkpoint to start the live projections from (None: replay)."""
        self.checkpoint_position: int | None = None
        """Position of the checkpoint the live projections were loaded from, if any."""
        self.checkpoint_note = ""
        """Why the checkpoint was or was not used."""
        self._use_checkpoint = checkpoint is not None
        self._known_from_checkpoint = False
        self.known_at_start = 0
        """Log position the latest known-at view started from: a mark or the saved checkpoint
        (0: folded from the start)."""
        self.progress = progress
        """Called as ``progress(done, total)`` while the log is read (a replay, a catch-up, a
        scan through :meth:`read`): records read so far of those asked for, every
        :data:`PROGRESS_EVERY` records and at the end. None (the default): not called. The
        command line sets it to draw a progress bar; the ledger itself never draws."""

    # ------------------------------------------------------------------ construction

    @classmethod
    def open(cls, location: str | Path, **kwargs: Any) -> Ledger:
        """Open the store at ``location`` (creating it unless ``mode`` says otherwise)."""
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
        self._log.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    @property
    def log(self) -> EventLog:
        """The store, through its port (:class:`~ssp_ledger.store.log.EventLog`)."""
        return self._log

    @property
    def factories(self) -> dict[str, ProjectionFactory]:
        """The projections this ledger answers with (the registered ones unless given; those
        are imported when first used, see :class:`~ssp_ledger.projection.EntryPointFactory`)."""
        if self._loaded_factories is None:
            self._loaded_factories = (
                self._given_factories if self._given_factories is not None
                else registered_projections()
            )
        return self._loaded_factories

    @property
    def projection_names(self) -> list[str]:
        """Names of the registered projections."""
        return sorted(self.factories)

    # ------------------------------------------------------------------ writing

    def record(self, event: DomainEvent) -> BatchResult:
        """Record one event (see :meth:`record_many`)."""
        return self.record_many([event])

    def record_many(self, events: Iterable[DomainEvent]) -> BatchResult:
        """Record a batch atomically: every event is stored, or none is.

        Raises a :class:`~ssp_ledger.errors.DomainRuleViolation` naming the first offending
        event; exact re-recordings of stored events are skipped (idempotent import). ``events``
        may be any iterable, e.g. a parser reading a file line by line: on SQLite it is decided
        and inserted in rounds of :data:`WRITE_CHUNK` inside one transaction, so memory stays
        bounded, and an exception raised by the iterable stores nothing.

        Concurrent writers to the same partnership: on SQLite the write lock is taken before the
        stream heads are read, so writers queue; elsewhere a batch that meets another writer's
        append is decided again on the new heads, with jittered back-off, until
        ``retry_deadline`` seconds (or ``max_attempts``) have passed, then
        :class:`ConcurrencyError`.
        """
        with self._lock:
            if not isinstance(events, Sequence):
                events = _read_input(events)
                if self.backend == "sqlite":  # streamed in one transaction: no second attempt
                    try:
                        return self._record_once(events)
                    except IntegrityError as e:
                        self.conflicts += 1
                        msg = (f"another writer appended to the same partnership during this "
                               f"batch; nothing of it was stored ({e})")
                        raise ConcurrencyError(msg) from e
                events = list(events)
            batch = events
            started = time.monotonic()
            attempt = 0
            while True:
                attempt += 1
                try:
                    return self._record_once(batch)
                except IntegrityError as e:
                    # Another writer appended to one of the streams between reading its head and
                    # inserting: nothing of this batch was stored and _record_once dropped the
                    # cached heads of every stream it touched, so the next attempt reloads them
                    # from the store and decides the whole batch again on the new heads.
                    self.conflicts += 1
                    out_of_time = time.monotonic() - started > self.retry_deadline
                    if out_of_time or attempt == self.max_attempts:
                        streams = sorted({event.partnership_id for event in batch})
                        msg = (f"gave up after {attempt} attempts: another writer kept "
                               f"appending to partnership(s) {', '.join(streams)}; nothing of "
                               "this batch was stored")
                        raise ConcurrencyError(msg) from e
                    time.sleep(random.uniform(0.0, min(0.5, 0.01 * 2 ** min(attempt, 6))))

    def _record_once(self, events: Iterable[DomainEvent]) -> BatchResult:
        recorded_at = self._now()
        touched: set[str] = set()
        live = self._live
        # Records kept to feed the live projections directly (a small batch); a large import
        # keeps none, and the live view catches up by reading the log on its next query.
        kept: list[Recorded] | None = [] if live is not None else None
        duplicates = 0
        count = 0
        encode = self._log.mapper.batch_encoder(recorded_at).encode
        try:
            with self._log.writing() as writer:
                heads: dict[str, _Head] = {}
                rows: list[tuple[uuid.UUID, int, str, bytes]] = []
                for i, event in enumerate(events):
                    if not isinstance(event, Event):
                        msg = f"item {i} of the batch is a {type(event).__name__}, not an event"
                        raise TypeError(msg)
                    pid = event.partnership_id
                    head = heads.get(pid)
                    if head is None:  # catch up with other writers once per stream and batch
                        touched.add(pid)
                        head = heads[pid] = self._head(pid, writer)
                    if not head.partnership.admit(event):  # decide, then apply
                        duplicates += 1
                        continue
                    version = head.version + 1
                    topic, state, digest = encode(head.stream, head.key, version, head.hash,
                                                  event)
                    if kept is not None:
                        kept.append(Recorded(originator_id=head.stream,
                                             originator_version=version,
                                             recorded_at=recorded_at, prev_hash=head.hash,
                                             event=event))
                    rows.append((head.stream, version, topic, state))
                    head.version = version
                    head.hash = digest
                    if len(rows) >= WRITE_CHUNK:
                        writer.insert(rows)
                        count += len(rows)
                        rows = []
                        if kept is not None and len(kept) > 4 * WRITE_CHUNK:
                            kept = None
                writer.insert(rows)
                count += len(rows)
        except IntegrityError:
            self._forget(touched)
            raise
        except (PersistenceError, OSError) as e:
            self._forget(touched)
            msg = f"cannot write to store {self.location!r}: {e}"
            raise StoreError(msg) from e
        except BaseException:
            self._forget(touched)
            raise
        ids = writer.ids
        if not count:
            return BatchResult(0, duplicates, self.position, None)
        self._last_recorded_at = recorded_at
        if live is not None and kept is not None and ids and live.position == ids[0] - 1:
            self._feed(live, [list(zip(ids, kept, strict=True))])
            self._live_token = None  # a concurrent writer may have stored more: read to check
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

    def _head(self, partnership_id: str, writer: Writer) -> _Head:
        """The stream's head, caught up with anything another writer appended since, its chain
        checked on the way: a record that does not chain to its predecessor refuses the write
        (appending to a broken chain would hide the break)."""
        head = self._heads.get(partnership_id)
        if head is None:
            from ssp_ledger.partnership import Partnership

            head = _Head(Partnership(partnership_id), stream_id(partnership_id), 0, GENESIS)
            self._heads[partnership_id] = head
        mapper = self._log.mapper
        rows = writer.stream_rows(head.stream, head.version)
        for row, (_, rec) in zip(rows, mapper.decode_rows(rows), strict=True):
            position, _, version, topic, state = row
            if rec.prev_hash != head.hash or version != head.version + 1:
                self._heads.pop(partnership_id, None)
                msg = (f"partnership {partnership_id!r}: the record at position {position} "
                       f"(version {version}) does not chain to its predecessor: the store was "
                       "altered; nothing was written (run 'ssp-ledger verify')")
                raise StoreError(msg)
            self._catch_up(head, rec, stream_hash(head.key, version, topic,
                                                  mapper.unseal(bytes(state))))
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
        return self._log.max_position()

    def read(self, start: int = 1, stop: int | None = None) -> Iterator[tuple[int, Recorded]]:
        """(position, record) pairs of the whole log in order, from ``start`` (to ``stop``).

        A damaged row raises :class:`~ssp_ledger.errors.DamagedRecord` naming its position.
        While :attr:`progress` is set, it is told how far the reading has gone.
        """
        rows = self._log.read(start, stop)
        if self.progress is None:
            return rows
        last = self.position if stop is None else min(stop, self.position)
        return _reporting(rows, self.progress, start, last)

    def events(self, partnership_id: str | None = None) -> Iterator[Recorded]:
        """Stored records, of one partnership (in stream order) or of all (in log order)."""
        if partnership_id is None:
            for _, rec in self.read():
                yield rec
            return
        rows = self._log.stream_rows(stream_id(partnership_id))
        for _, rec in self._log.mapper.decode_rows(rows):
            yield rec

    def load(self, position: int) -> Recorded:
        """The record at ``position`` (StoreError when there is none)."""
        return self._log.load(position)

    def partnerships(self) -> list[str]:
        """Ids of the partnerships with at least one event (from the live projections' view)."""
        return self._trusting(
            lambda: sorted({pid for (pid, _), _ in self.view(None).contributing()}))

    def _trusting(self, answer: Callable[[], _T]) -> _T:
        """``answer()``; if a part of the restored checkpoint fails when first needed (its hash,
        its decoding: :class:`UnreadableCheckpoint`), the checkpoint is dropped with a one-line
        note and ``answer()`` is asked again of a replay of the log."""
        with self._lock:
            try:
                return answer()
            except UnreadableCheckpoint as e:
                if self.checkpoint is None or not self._use_checkpoint:
                    raise
                note = unreadable_note(self.checkpoint, e)
                self.rebuild()
                self.checkpoint_note = note
            return answer()

    # ------------------------------------------------------------------ projections

    def _feed(self, view: ProjectionSet,
              chunks: Iterable[Sequence[tuple[int, Recorded]]]) -> None:
        """Apply consecutive lists of records to the live view, noting each stream's last
        version (for the basis)."""
        last: dict[int, Recorded] = {}  # by the stream's 128-bit number: no UUID hash per record

        def noted() -> Iterator[Sequence[tuple[int, Recorded]]]:
            for chunk in chunks:
                recs = list(map(_RECORD, chunk))
                last.update(zip(map(_STREAM_NUMBER, recs), recs, strict=True))
                yield chunk

        try:
            view.process_chunks(noted())
        finally:
            versions = self._live_versions
            for rec in last.values():
                versions[rec.originator_id.hex] = rec.originator_version

    def _feed_columns(self, view: ProjectionSet, chunks: Iterable[Decoded]) -> None:
        """:meth:`_feed` of records read as columns (:meth:`EventLog.read_columns
        <ssp_ledger.store.log.EventLog.read_columns>`: a replay), noting each stream's last
        version from the columns' stream heads."""
        last: dict[uuid.UUID, int] = {}

        def noted() -> Iterator[Decoded]:
            for chunk in chunks:
                last.update(chunk.heads)
                yield chunk

        try:
            view.process_columns(noted())
        finally:
            versions = self._live_versions
            for stream, version in last.items():
                versions[stream.hex] = version

    def read_columns(self, start: int = 1) -> Iterator[Decoded]:
        """The records from ``start`` as consecutive columns
        (:meth:`EventLog.read_columns <ssp_ledger.store.log.EventLog.read_columns>`: no
        :class:`Recorded` per record; what a replay and a runner's catch-up read), reporting
        progress while :attr:`progress` is set."""
        chunks = self._log.read_columns(start)
        if self.progress is not None:
            chunks = _reporting_columns(chunks, self.progress, start, self.position)
        return chunks

    def view(self, known_at: dt.datetime | None = None, *,
             wanted: Sequence[str] = ()) -> ProjectionSet:
        """The projections as of everything recorded (``known_at`` None) or as known at a
        recorded time, caught up with the log. ``wanted``: the projections the caller is about
        to read, made before the log is read when the ledger builds them ``"asked"`` (see the
        class doc; any other projection is made when first looked up). A known-at view builds
        every projection either way."""
        if isinstance(wanted, str):  # one name, not its letters
            msg = f"wanted must be a sequence of projection names; got the string {wanted!r}"
            raise TypeError(msg)
        with self._lock:
            if known_at is None:
                if self._live is None:
                    loaded: ProjectionSet | None = None
                    binding: Binding | None = None
                    if self.checkpoint is not None and self._use_checkpoint:
                        loaded, binding, self.checkpoint_note = restore_checkpoint(
                            self._log, self.checkpoint, self.factories, self._log.read)
                        self.checkpoint_position = loaded.position if loaded else None
                    self._live_versions = (
                        {h.stream: h.version for h in binding.heads} if binding else {})
                    if binding is not None:  # checked against the store just now
                        self._stream_heads.update((h.stream, h) for h in binding.heads)
                    self._live = loaded or ProjectionSet(
                        self.factories, self._log.load, read=self._log.read, build=self.build)
                live = self._live
                live.want(*wanted)  # before the catch-up, which then feeds them too
                token = self._log.changed()
                if token != self._live_token:  # nothing stored since: no reading at all
                    # a replay or catch-up reads columns
                    self._feed_columns(live, self.read_columns(live.position + 1))
                    self._live_token = token
                return live
            if not isinstance(known_at, dt.datetime):
                msg = (f"known_at must be a timezone-aware datetime or an ISO string; got "
                       f"{type(known_at).__name__}")
                raise TypeError(msg)
            if known_at.tzinfo is None:
                msg = "known_at must be timezone-aware (e.g. 2011-09-01T00:00:00+00:00)"
                raise ValueError(msg)
            key = (known_at, self._log.changed())  # taken before the view reads the log
            cached = self._known.get(key)
            if cached is not None:
                self._known.move_to_end(key)
                return cached
            view = self._known_view(known_at)
            self._known[key] = view
            while len(self._known) > 4:
                self._known.popitem(last=False)
            return view

    _projections = view  # the name used before the storage port existed

    def basis(self, known_at: dt.datetime | None = None) -> Basis:
        """What the live view (or the latest known-at view) was computed from."""
        with self._lock:
            return self._basis_of(self.view(known_at), known_at)

    def _basis_of(self, view: ProjectionSet, known_at: dt.datetime | None) -> Basis:
        """The basis of ``view``, just returned by :meth:`view` under the lock (so the log is
        not asked again whether it changed)."""
        with self._lock:
            position = view.position
            heads = self._bases.get(position)
            if heads is None:
                heads = self._heads_hash(self._live_versions if known_at is None
                                         else self._log.stream_versions(position))
                if len(self._bases) >= _MAX_MARKS:
                    self._bases.clear()
                self._bases[position] = heads
            if known_at is None:
                start = self.checkpoint_position
            else:
                start = self.known_at_start if self._known_from_checkpoint else None
            checkpoint = (f"{self.checkpoint!r} at {start}"
                          if start is not None and self.checkpoint else None)
            return Basis(position, heads, checkpoint, known_at)

    def _basis_dict(self, view: ProjectionSet, known_at: dt.datetime | None) -> dict[str, Any]:
        """:meth:`_basis_of` as a report states it; the live view's is kept while its
        position (and the checkpoint it started from) stay the same."""
        if known_at is not None:
            return self._basis_of(view, known_at).to_dict()
        key = (view.position, self.checkpoint_position, self.checkpoint)
        cached = self._live_basis
        if cached is None or cached[0] != key:
            cached = self._live_basis = (key, self._basis_of(view, None).to_dict())
        return dict(cached[1])  # a copy: a caller may change its table's basis

    def _heads_hash(self, versions: Mapping[str, int]) -> str:
        """SHA-256 over every stream's head (id, version, record hash) at ``versions``; only
        the heads not already known are read (in one batch)."""
        known = self._stream_heads
        stale = {stream: version for stream, version in versions.items()
                 if (head := known.get(stream)) is None or head.version != version}
        if stale:
            known.update((head.stream, head) for head in self._log.heads_at(stale))
        digest = hashlib.sha256()
        for stream in sorted(versions):
            head = known[stream]
            digest.update(bytes.fromhex(head.stream))
            digest.update(head.version.to_bytes(8, "big"))
            digest.update(head.hash)
        return digest.hexdigest()

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
            saved, _, _ = restore_checkpoint(self._log, self.checkpoint, self.factories,
                                             self._log.read)
            if (saved is not None and saved.latest is not None and saved.latest <= known_at
                    and (mark is None or saved.position > mark.position)):
                view, latest = saved, saved.latest
        self._known_from_checkpoint = view is not None
        if view is None and mark is not None:
            view = ProjectionSet.restore(mark.state, self.factories, self._log.load,
                                         self._log.read)
            latest = mark.latest
        if view is None:
            view = ProjectionSet(self.factories, self._log.load)
        start = self.known_at_start = view.position
        records = self.read(view.position + 1)
        complete = True

        def until_skipped() -> Iterator[tuple[int, Recorded]]:
            """The records up to the first one recorded after ``known_at`` (every record of
            this stretch is included, so the view after it can be kept as a mark)."""
            nonlocal complete, latest
            for position, recorded in records:
                if recorded.recorded_at > known_at:
                    complete = False
                    return
                if latest is None or recorded.recorded_at > latest:
                    latest = recorded.recorded_at
                yield position, recorded

        view.process_all(until_skipped())  # replayed in batches (see ProjectionSet.process_all)
        self._mark(view, latest, start)
        if not complete:
            view.process_all((position, recorded) for position, recorded in records
                             if recorded.recorded_at <= known_at)
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
            self._live_token = None
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
        from ssp_ledger.subscription import Subscription

        start = self.position if after is None else after
        return Subscription(self._log, start, timeout=timeout, poll_interval=poll_interval,
                            batch=READ_BATCH)

    def report(
        self,
        projection: str,
        *,
        as_of: dt.date | str,
        known_at: dt.datetime | str | None = None,
        by: str | None = None,
        period: Period | str | None = None,
        partnership_id: str | None = None,
        **params: int | str,
    ) -> Table:
        """Ask a registered projection for a table at (``as_of``, ``known_at``).

        ``as_of`` is a date or an ISO date string; ``known_at`` an aware datetime or an ISO
        string with an offset (``Z`` for UTC). Misuse is refused before any work: another type
        raises TypeError, a keyword the projection does not take raises TypeError naming it
        (projection parameters are those it declares in ``parameters``, e.g.
        ``default_hourly_cost_pence`` for staff_time_cost and funding), a partnership the store
        holds nothing of raises :class:`~ssp_ledger.errors.UnknownPartnership`, a projection
        nobody registered :class:`~ssp_ledger.errors.UnknownProjection`.
        """
        day = as_of if type(as_of) is dt.date else _as_of_date(as_of)
        moment = None if known_at is None else _known_at_moment(known_at)
        # Arguments already checked once (the same projection, grouping, period and
        # partnership) are not checked again: the projections are fixed once loaded and a
        # partnership, once stored, stays in the store.
        checked: tuple[Period | None] | None = None
        key = (projection, by, period, partnership_id) if not params else None
        if key is not None:
            try:
                checked = self._checked.get(key)
            except TypeError:  # an unhashable argument: the full check names it
                key = None
        if checked is None:
            checked = self._check_report(projection, by, period, partnership_id, params)
            if key is not None:
                if len(self._checked) >= _MAX_CHECKED:
                    self._checked.clear()
                self._checked[key] = checked
        query = _query(day, moment, by, checked[0], partnership_id, params)
        def answer() -> Table:  # the view answering and the basis stated are the same one
            live = self._live
            if moment is None and live is not None and self._log.changed() == self._live_token:
                view = live  # nothing stored since it was caught up
            else:
                view = self.view(moment, wanted=(projection,))
            table = view[projection].report(query)
            return msgspec.structs.replace(table, basis=self._basis_dict(view, moment))

        return self._trusting(answer)

    def _check_report(self, projection: object, by: object, period: object,
                      partnership_id: object, params: Mapping[str, object]) -> tuple[Period | None]:
        """Refuse misuse of :meth:`report` before any work (see there); (the period parsed,)."""
        if by is not None and not isinstance(by, str):
            msg = f"by must be a grouping name (a string); got {type(by).__name__} {by!r}"
            raise TypeError(msg)
        if isinstance(period, str):
            period = parse_period(period)
        elif period is not None and not isinstance(period, Period):
            msg = (f"period must be a Period or a period string such as '2010/11'; got "
                   f"{type(period).__name__} {period!r}")
            raise TypeError(msg)
        factory = self.factories.get(projection) if isinstance(projection, str) else None
        if factory is None:
            msg = (f"no projection named {projection!r}; registered: "
                   f"{', '.join(sorted(self.factories))}")
            raise UnknownProjection(msg)
        _check_params(str(projection), factory, params)
        if partnership_id is not None:
            self._check_partnership(partnership_id)
        return (period,)

    def _check_partnership(self, partnership_id: object) -> None:
        """Raise unless the store holds an event of partnership ``partnership_id``."""
        if not isinstance(partnership_id, str):
            msg = (f"partnership_id must be a string; got {type(partnership_id).__name__} "
                   f"{partnership_id!r}")
            raise TypeError(msg)
        if partnership_id in self._stored_partnerships:
            return
        if self._log.stream_row(stream_id(partnership_id), 1) is None:
            msg = f"no partnership {partnership_id!r} in this store"
            raise UnknownPartnership(msg)
        self._stored_partnerships.add(partnership_id)

    def participation(self, *, as_of: dt.date | str, **kwargs: Any) -> Table:
        """Sessions, attendances, SEND attendances and competition participants."""
        return self.report("participation", as_of=as_of, **kwargs)

    def staff_time_cost(self, *, as_of: dt.date | str, **kwargs: Any) -> Table:
        """Staff minutes and pence, funded vs hidden in salary budgets."""
        return self.report("staff_time_cost", as_of=as_of, **kwargs)

    def partnership_age(self, *, as_of: dt.date | str, **kwargs: Any) -> Table:
        """Days since formation, member tenure, active members."""
        return self.report("partnership_age", as_of=as_of, **kwargs)

    def funding(self, *, as_of: dt.date | str, **kwargs: Any) -> Table:
        """Level in force per stream, cumulative received and the funding gap."""
        return self.report("funding", as_of=as_of, **kwargs)

    def leaders(self, *, as_of: dt.date | str, **kwargs: Any) -> Table:
        """People trained as leaders, volunteers and coaches."""
        return self.report("leaders", as_of=as_of, **kwargs)

    def resources(self, *, as_of: dt.date | str, **kwargs: Any) -> Table:
        """Resources shared between schools."""
        return self.report("resources", as_of=as_of, **kwargs)


#: The keywords every report takes (besides the projection's own ``parameters``).
REPORT_KEYWORDS = ("as_of", "known_at", "by", "period", "partnership_id")


def _reporting(rows: Iterator[tuple[int, Recorded]], progress: Callable[[int, int], None],
               start: int, last: int) -> Iterator[tuple[int, Recorded]]:
    """``rows`` (positions ``start``..``last``), calling ``progress(done, total)`` on the way:
    at the start, every :data:`PROGRESS_EVERY` records and once the rows are exhausted."""
    total = max(0, last - start + 1)
    progress(0, total)
    done = 0
    step = PROGRESS_EVERY
    for position, recorded in rows:
        yield position, recorded
        done = min(total, position - start + 1)
        if done >= step:
            progress(done, total)
            step = done + PROGRESS_EVERY
    progress(total, total)


def _reporting_columns(chunks: Iterator[Decoded], progress: Callable[[int, int], None],
                       start: int, last: int) -> Iterator[Decoded]:
    """:func:`_reporting` of records read as columns: ``progress(done, total)`` at the start,
    when a chunk read takes the count :data:`PROGRESS_EVERY` records past the last call, and
    once the chunks are exhausted."""
    total = max(0, last - start + 1)
    progress(0, total)
    step = PROGRESS_EVERY
    for chunk in chunks:
        done = min(total, chunk.positions[-1] - start + 1)
        if done >= step:
            progress(done, total)
            step = done + PROGRESS_EVERY
        yield chunk
    progress(total, total)


def _check_params(projection: str, factory: ProjectionFactory,
                  params: Mapping[str, object]) -> None:
    """TypeError naming the first keyword neither a report nor the projection takes."""
    declared = tuple(getattr(factory, "parameters", ()) or ())
    for name, value in params.items():
        if name in declared:
            if isinstance(value, bool) or not isinstance(value, int | str):
                msg = (f"{projection}: {name} must be an integer or a string; got "
                       f"{type(value).__name__} {value!r}")
                raise TypeError(msg)
            continue
        known = (*REPORT_KEYWORDS, *declared)
        close = difflib.get_close_matches(name, known, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        msg = (f"the {projection} report got an unexpected keyword argument {name!r}{hint}; "
               f"it takes {', '.join(known)}")
        raise TypeError(msg)


_QUERY_FIELDS = ("as_of", "known_at", "by", "period", "partnership_id", "params")
#: Whether a :class:`Query` can be made by filling its fields directly: it is a plain frozen
#: dataclass with exactly these fields and nothing to run on construction.
_PLAIN_QUERY = (tuple(f.name for f in dataclasses.fields(Query)) == _QUERY_FIELDS
                and not hasattr(Query, "__post_init__") and not hasattr(Query, "__slots__"))


def _query(as_of: dt.date, known_at: dt.datetime | None, by: str | None,
           period: Period | None, partnership_id: str | None,
           params: Mapping[str, int | str]) -> Query:
    """``Query(as_of=..., ...)``, made without the frozen dataclass's six
    ``object.__setattr__`` calls (after the change check, the largest fixed cost of a report
    whose figures are a binary search). The arguments were checked by the caller; the result
    equals the constructor's (a test compares them)."""
    if not _PLAIN_QUERY:  # pragma: no cover -- Query changed shape: take the constructor
        return Query(as_of=as_of, known_at=known_at, by=by, period=period,
                     partnership_id=partnership_id, params=params)
    query: Query = object.__new__(Query)
    query.__dict__.update(as_of=as_of, known_at=known_at, by=by, period=period,
                          partnership_id=partnership_id, params=params)
    return query


def _as_of_date(value: object) -> dt.date:
    """``as_of`` as a date: a date, or an ISO date string (TypeError for anything else)."""
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value.strip())
        except ValueError:
            msg = f"as_of: {value!r} is not an ISO date (YYYY-MM-DD, e.g. 2011-07-31)"
            raise ValueError(msg) from None
    if isinstance(value, dt.datetime) or not isinstance(value, dt.date):
        msg = (f"as_of must be a date or an ISO date string; got {type(value).__name__} "
               f"{value!r}")
        raise TypeError(msg)
    return value


def _known_at_moment(value: object) -> dt.datetime | None:
    """``known_at`` as an aware datetime: None, an aware datetime or an ISO string with an
    offset (TypeError for another type, ValueError for a naive or malformed one)."""
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value.strip())
        except ValueError:
            msg = (f"known_at: {value!r} is not an ISO datetime "
                   "(e.g. 2011-09-01T00:00:00+00:00)")
            raise ValueError(msg) from None
    if not isinstance(value, dt.datetime):
        msg = (f"known_at must be a timezone-aware datetime or an ISO string; got "
               f"{type(value).__name__} {value!r}")
        raise TypeError(msg)
    if value.tzinfo is None or value.utcoffset() is None:
        msg = "known_at must be timezone-aware (e.g. 2011-09-01T00:00:00+00:00)"
        raise ValueError(msg)
    return value
