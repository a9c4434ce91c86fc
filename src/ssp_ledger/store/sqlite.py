"""The SQLite store (the default): one file, eventsourcing's table, the ledger's fast paths.

Writable stores go through eventsourcing's SQLite recorders, chosen by topic
(:class:`LedgerSQLiteRecorder` for events, :class:`SQLiteCheckpointRecorder` for checkpoints).
The recorder adds plain-tuple batch inserts (one ``executemany`` in one transaction) and reads of
plain rows, which the mapper decodes without an eventsourcing object per row: the same bytes and
records as the generic interface (tests compare them).

A store opened with mode ``read`` never writes: it is a plain ``sqlite3`` connection opened
read-only (``file:...?mode=ro``, or ``immutable=1`` when the folder itself is read-only), so
auditing a copy someone handed you changes nothing, not even the journal mode. Before anything
is opened, the file is classified: a ledger store (eventsourcing's ``stored_events`` table with
the ledger's marker table, or an older store whose records are ledger events), an empty or
missing file, or anything else — which is refused and left byte-for-byte untouched.
"""

from __future__ import annotations

import datetime as dt
import os
import random
import sqlite3
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, Literal
from urllib.parse import parse_qsl, unquote, urlsplit

from eventsourcing.persistence import IntegrityError, PersistenceError, StoredEvent, Tracking
from eventsourcing.sqlite import SQLiteApplicationRecorder, SQLiteTrackingRecorder

from ssp_ledger.errors import ForeignStore, StoreError
from ssp_ledger.store.app import (
    CREATE_ATTEMPTS,
    LedgerApplication,
    construct,
    create_with_retries,
)
from ssp_ledger.store.log import (
    DECODE_CHUNK,
    READ_BATCH,
    Checkpoint,
    EventLog,
    Mode,
    NewRow,
    OpenCheckpoint,
    RawRow,
    Writer,
    tracking_name,
)
from ssp_ledger.store.mapper import MsgspecMapper, MsgspecTranscoder
from ssp_ledger.store.records import Decoded

__all__ = [
    "CHECKPOINTS_TABLE",
    "EVENTS_TABLE",
    "META_TABLE",
    "LedgerSQLiteRecorder",
    "SQLiteCheckpointRecorder",
    "SQLiteLog",
    "classify",
]

EVENTS_TABLE = "stored_events"
CHECKPOINTS_TABLE = "ssp_projection_checkpoints"
#: Marks a file as an ssp-ledger store (one row: format, ssp-ledger/1).
META_TABLE = "ssp_ledger_meta"
_FORMAT = "ssp-ledger/1"
_EVENT_COLUMNS = ["originator_id", "originator_version", "topic", "state"]
_SQLITE_MAGIC = b"SQLite format 3\x00"
#: Tables a ledger store holds (eventsourcing's, the checkpoints', the marker).
_LEDGER_TABLES = frozenset({EVENTS_TABLE, "tracking", CHECKPOINTS_TABLE, META_TABLE})
_ROWS = "SELECT rowid, originator_id, originator_version, topic, state FROM stored_events"
#: :data:`_ROWS` for a replay (:meth:`SQLiteLog.read_columns`): the stream id and the topic are
#: NULL where they equal the parameters ``?3`` and ``?4`` (the last row's before), 0 where they
#: are NULL, so a run of one stream and one class does not make two strings per row.
_COMPACT_ROWS = (
    "SELECT rowid, CASE WHEN originator_id = ?3 THEN NULL WHEN originator_id IS NULL THEN 0 "
    "ELSE originator_id END, originator_version, CASE WHEN topic = ?4 THEN NULL "
    "WHEN topic IS NULL THEN 0 ELSE topic END, state FROM stored_events")
_CHECKPOINT_COLUMNS = "position, fingerprint, anchor, state, saved_at"
#: ``(stream, version)`` pairs per query of :meth:`SQLiteLog.rows_at` (two parameters each).
ROWS_AT_CHUNK = 400


class LedgerSQLiteRecorder(SQLiteApplicationRecorder):
    """eventsourcing's SQLite application recorder, with the ledger's fast paths.

    The table and every inherited method are eventsourcing's; this adds :meth:`insert_rows` (a
    batch of plain tuples in one ``executemany`` in one transaction, the positions taken from
    ``last_insert_rowid()``: a write transaction holds SQLite's write lock, so the rowids of its
    inserts are consecutive) and :meth:`query` (plain tuples, no ``Notification`` per row).
    """

    def create_table(self) -> None:
        """eventsourcing's table, plus the marker table that says the file is a ledger."""
        # The marker first: a process killed between the two leaves a file that is still
        # recognised as a ledger store (an empty one), never as a foreign database.
        create_with_retries(self._mark_as_ledger)
        create_with_retries(super().create_table)

    def _mark_as_ledger(self) -> None:
        with self.datastore.transaction(commit=True) as c:
            c.execute(f"CREATE TABLE IF NOT EXISTS {META_TABLE} "
                      "(key TEXT PRIMARY KEY, value TEXT NOT NULL)")
            c.execute(f"INSERT OR IGNORE INTO {META_TABLE} VALUES ('format', ?)", (_FORMAT,))

    def insert_rows(self, rows: Sequence[tuple[str, int, str, bytes]]) -> list[int]:
        """Insert ``(originator_id hex, version, topic, state)`` rows atomically; their ids.

        Raises eventsourcing's ``IntegrityError`` (nothing stored) when a row's
        ``(originator_id, version)`` exists, e.g. after a concurrent append to the stream.
        """
        if not rows:
            return []
        with self.datastore.transaction(commit=True) as c:
            c.executemany(self.insert_events_statement, rows)
            c.execute("SELECT last_insert_rowid()")
            last = int(c.fetchone()[0])
        return list(range(last - len(rows) + 1, last + 1))

    @contextmanager
    def immediate(self) -> Iterator[sqlite3.Cursor]:
        """A cursor in a ``BEGIN IMMEDIATE`` transaction: the write lock is held from the start
        (waiting up to the lock timeout for other writers); committed when the block ends,
        rolled back when it raises."""
        with self.datastore.get_connection(commit=True) as conn:
            cursor = conn.cursor().sqlite_cursor
            cursor.row_factory = None
            cursor.execute("BEGIN IMMEDIATE")
            try:
                yield cursor
            except BaseException:
                conn.rollback()
                raise
            conn.commit()

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        """Rows of a read query as plain tuples."""
        with self.datastore.transaction(commit=False) as c:
            cursor = c.sqlite_cursor
            cursor.row_factory = None
            cursor.execute(sql, params)
            rows: list[Any] = cursor.fetchall()
        return rows


class SQLiteCheckpointRecorder(SQLiteTrackingRecorder):
    """Checkpoints in a SQLite file, beside eventsourcing's ``tracking`` table."""

    def create_table(self) -> None:
        """eventsourcing's, retried when another process creates the tables at the same time."""
        create_with_retries(super().create_table)

    def construct_create_table_statements(self) -> list[str]:
        """eventsourcing's tracking table plus the checkpoints table."""
        return [
            *super().construct_create_table_statements(),
            f"CREATE TABLE IF NOT EXISTS {CHECKPOINTS_TABLE} ("
            "name TEXT PRIMARY KEY, position INTEGER NOT NULL, fingerprint TEXT NOT NULL, "
            "anchor BLOB NOT NULL, state BLOB NOT NULL, saved_at TEXT NOT NULL)",
        ]

    def save_checkpoint(self, checkpoint: Checkpoint) -> None:
        """Tracking insert and checkpoint upsert in one SQLite transaction.

        The state is bound whole. (Writing it in pieces into a ``zeroblob()`` through
        incremental blob I/O holds more, not less: the state column is not the last of the
        row, so SQLite materialises the zero-filled value, twice; measured in benchmarks/.)
        """
        with self.datastore.transaction(commit=True) as c:
            self._insert_tracking(c, Tracking(tracking_name(checkpoint.name), checkpoint.position))
            c.execute(
                f"INSERT INTO {CHECKPOINTS_TABLE} VALUES (?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (name) DO UPDATE SET position=excluded.position, "
                "fingerprint=excluded.fingerprint, anchor=excluded.anchor, "
                "state=excluded.state, saved_at=excluded.saved_at",
                (checkpoint.name, checkpoint.position, checkpoint.fingerprint, checkpoint.binding,
                 checkpoint.state, checkpoint.saved_at.isoformat()),
            )

    def load_checkpoint(self, name: str) -> Checkpoint | None:
        """Read one checkpoint."""
        with self.datastore.transaction(commit=False) as c:
            c.execute(f"SELECT {_CHECKPOINT_COLUMNS} FROM {CHECKPOINTS_TABLE} WHERE name=?",
                      (name,))
            row = c.fetchone()
        return None if row is None else _checkpoint(name, tuple(row))

    def checkpoint_names(self) -> list[str]:
        """Names of the stored checkpoints."""
        with self.datastore.transaction(commit=False) as c:
            c.execute(f"SELECT name FROM {CHECKPOINTS_TABLE} ORDER BY name")
            return [str(row[0]) for row in c.fetchall()]

    def delete_checkpoint(self, name: str) -> None:
        """Delete the checkpoint and its tracking row in one transaction."""
        with self.datastore.transaction(commit=True) as c:
            c.execute(f"DELETE FROM {CHECKPOINTS_TABLE} WHERE name=?", (name,))
            c.execute("DELETE FROM tracking WHERE application_name=?", (tracking_name(name),))


@dataclass
class _SQLiteWriter(Writer):
    """Reads and inserts inside one ``BEGIN IMMEDIATE`` transaction (see :class:`Writer`)."""

    cursor: sqlite3.Cursor | None = None
    statement: str = ""

    def stream_rows(self, stream: uuid.UUID, after: int = 0) -> Sequence[RawRow]:
        assert self.cursor is not None
        self.cursor.execute(f"{_ROWS} WHERE originator_id=? AND originator_version>? "
                            "ORDER BY originator_version", (stream.hex, after))
        rows: list[RawRow] = self.cursor.fetchall()
        return rows

    def insert(self, rows: Sequence[NewRow]) -> None:
        if not rows:
            return
        assert self.cursor is not None
        self.cursor.executemany(self.statement, [(s.hex, v, t, st) for s, v, t, st in rows])
        self.cursor.execute("SELECT last_insert_rowid()")
        last = int(self.cursor.fetchone()[0])
        self.ids.extend(range(last - len(rows) + 1, last + 1))

    def finish(self) -> None:
        pass


def _checkpoint(name: str, row: tuple[Any, ...]) -> Checkpoint:
    position, fingerprint, binding, state, saved_at = row
    try:
        return Checkpoint(name, int(position), str(fingerprint), bytes(binding), bytes(state),
                          dt.datetime.fromisoformat(str(saved_at)))
    except (TypeError, ValueError) as e:
        msg = f"checkpoint {name!r} is damaged: {e}"
        raise StoreError(msg) from e


Kind = Literal["ledger", "empty", "foreign"]


def _path_of(database: str) -> tuple[Path | None, dict[str, str]]:
    """The file a SQLite name refers to and its URI query (None: an in-memory database)."""
    if database.startswith("file:"):
        parts = urlsplit(database)
        query = dict(parse_qsl(parts.query))
        path = unquote(parts.path)
        if query.get("mode") == "memory" or path in ("", ":memory:"):
            return None, query
        return Path(path).expanduser(), query
    if database == ":memory:":
        return None, {}
    return Path(database).expanduser(), {}


def classify(path: Path) -> tuple[Kind, str]:
    """Whether ``path`` holds a ledger store, nothing (missing or 0 bytes) or something else,
    with the reason; reads the file without changing it (retrying briefly while another
    process holds it locked, e.g. while creating it)."""
    for attempt in range(1, CREATE_ATTEMPTS + 1):
        try:
            return _classify(path)
        except sqlite3.OperationalError as e:
            if "locked" not in str(e) or attempt == CREATE_ATTEMPTS:
                return "foreign", f"{path} cannot be read as SQLite ({e})"
            time.sleep(random.uniform(0.01, 0.05 * attempt))  # jitter, not crypto
    raise AssertionError  # pragma: no cover


def _classify(path: Path) -> tuple[Kind, str]:
    if not path.exists():
        return "empty", f"{path} does not exist"
    if not path.is_file():
        return "foreign", f"{path} is not a regular file"
    try:
        with path.open("rb") as f:
            magic = f.read(len(_SQLITE_MAGIC))
    except OSError as e:
        return "foreign", f"cannot read {path}: {e.strerror or e}"
    if not magic:
        return "empty", f"{path} is empty"
    if magic != _SQLITE_MAGIC:
        return "foreign", f"{path} is not a SQLite database"
    try:
        conn = _connect_read_only(path)
    except sqlite3.OperationalError as e:
        if "locked" in str(e):
            raise
        return "foreign", f"{path} cannot be opened as SQLite ({e})"
    except sqlite3.Error as e:
        return "foreign", f"{path} cannot be opened as SQLite ({e})"
    try:
        tables = {str(r[0]) for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type='table'")}
        marked = False
        if META_TABLE in tables:
            row = conn.execute(f"SELECT value FROM {META_TABLE} WHERE key='format'").fetchone()
            if row is None or row[0] != _FORMAT:
                return "foreign", f"{path} is marked as format {row[0] if row else None!r}"
            marked = True
        if EVENTS_TABLE not in tables:
            if not tables or (marked and tables <= _LEDGER_TABLES):
                return "empty", f"{path} is an empty store"
            return "foreign", (f"{path} is a SQLite database without the ledger's tables "
                               f"(it has: {', '.join(sorted(tables)[:6])})")
        columns = [str(r[1]) for r in conn.execute(f"PRAGMA table_info({EVENTS_TABLE})")]
        if columns != _EVENT_COLUMNS:
            return "foreign", f"{path} has a {EVENTS_TABLE} table of another shape"
        if marked:
            return "ledger", "ledger store"
        # A store written before the marker table existed: its records name ledger events.
        first = conn.execute("SELECT topic FROM stored_events ORDER BY rowid LIMIT 1").fetchone()
        if first is not None and str(first[0]).startswith("ssp_ledger.events:"):
            return "ledger", "ledger store (without the marker table)"
        if first is None and tables <= _LEDGER_TABLES:
            return "empty", f"{path} holds the ledger's tables but no record"
        return "foreign", (f"{path} has an eventsourcing table of another application"
                           if first is not None else
                           f"{path} has an empty {EVENTS_TABLE} table beside other tables")
    except sqlite3.OperationalError as e:
        if "locked" in str(e):
            raise
        return "foreign", f"{path} cannot be read as SQLite ({e})"
    except sqlite3.Error as e:
        return "foreign", f"{path} cannot be read as SQLite ({e})"
    finally:
        conn.close()


def _connect_read_only(path: Path) -> sqlite3.Connection:
    """A read-only connection; ``immutable=1`` where the folder is read-only (WAL needs to
    create its shared-memory file beside the database to read it)."""
    uri = f"file:{_quote(path.resolve())}?mode=ro"
    conn = sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False)
    try:
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except sqlite3.OperationalError:
        conn.close()
        uri = f"file:{_quote(path.resolve())}?mode=ro&immutable=1"
        conn = sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False)
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
    return conn


def _watcher(path: Path) -> sqlite3.Connection | None:
    """A plain read-only connection for ``PRAGMA data_version`` (None when SQLite refuses
    one). Never ``immutable=1``: an immutable connection would not see the changes watched."""
    try:
        conn = sqlite3.connect(f"file:{_quote(path.resolve())}?mode=ro", uri=True,
                               isolation_level=None, check_same_thread=False)
    except sqlite3.Error:
        return None
    try:
        conn.execute("PRAGMA data_version").fetchone()
    except sqlite3.Error:
        conn.close()
        return None
    return conn


def _quote(path: Path) -> str:
    return str(path).replace("%", "%25").replace("?", "%3f").replace("#", "%23")


class SQLiteLog(EventLog):
    """An :class:`~ssp_ledger.store.log.EventLog` in a SQLite file (see the module docstring)."""

    backend = "sqlite"

    def __init__(self, location: str, mode: Mode, env: Mapping[str, str]) -> None:
        self.location = location
        database = env.get("SQLITE_DBNAME") or os.environ.get("SQLITE_DBNAME") or location
        path, query = _path_of(database)
        if query.get("mode") == "ro":
            mode = "read"
        self.read_only = mode == "read"
        self.note = ""
        self.app: LedgerApplication | None = None
        self._conn: sqlite3.Connection | None = None
        self._recorder: SQLiteApplicationRecorder | None = None
        self._fast = False
        self._checkpoints: SQLiteCheckpointRecorder | None = None
        self._path = path
        self._watcher: sqlite3.Connection | None = None
        self._version_cursor: sqlite3.Cursor | None = None
        self._writes = 0
        if path is not None:
            kind, why = classify(path)
            if kind == "foreign":
                msg = (f"{why}: not an ssp-ledger store, left untouched "
                       "(give a new file name to create a store)")
                raise ForeignStore(msg)
            if kind == "empty" and mode != "create":
                msg = (f"no ledger store at {location} ({why}); create one with "
                       f"'ssp-ledger init --store {location}'")
                raise StoreError(msg)
            if kind == "empty":
                if not path.resolve().parent.is_dir():
                    msg = f"cannot open store {location!r}: folder {path.parent} does not exist"
                    raise StoreError(msg)
                self.note = f"created a new store at {location}"
        if self.read_only:
            assert path is not None
            try:
                self._conn = _connect_read_only(path)
            except sqlite3.Error as e:
                msg = f"cannot open store {location!r} read-only: {e}"
                raise StoreError(msg) from e
            self.mapper = MsgspecMapper(MsgspecTranscoder())
            self._has_checkpoints = bool(self._conn.execute(
                "SELECT 1 FROM sqlite_master WHERE type='table' AND name=?",
                (CHECKPOINTS_TABLE,)).fetchone())
            return
        try:
            self.app = construct(env)
        except (PersistenceError, sqlite3.Error, OSError) as e:
            msg = f"cannot open store {location!r}: {e}"
            raise StoreError(msg) from e
        recorder = self.app.recorder
        if not isinstance(recorder, SQLiteApplicationRecorder):
            msg = (f"the application recorder {type(recorder).__qualname__} is not a SQLite "
                   "recorder")
            raise StoreError(msg)
        self._recorder = recorder
        # eventsourcing's own recorder (chosen by topic) takes the generic paths: the reference
        # the fast ones are tested against
        self._fast = isinstance(recorder, LedgerSQLiteRecorder)
        self.mapper = self.app.msgspec_mapper
        self._has_checkpoints = True

    # -- reading

    def _query(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        try:
            if self._conn is not None:
                return self._conn.execute(sql, params).fetchall()
            assert self._recorder is not None
            with self._recorder.datastore.transaction(commit=False) as c:
                cursor = c.sqlite_cursor
                cursor.row_factory = None
                cursor.execute(sql, params)
                rows: list[Any] = cursor.fetchall()
            return rows
        except (sqlite3.Error, PersistenceError) as e:
            msg = f"cannot read store {self.location!r}: {e}"
            raise StoreError(msg) from e

    def max_position(self) -> int:
        """The largest rowid."""
        row = self._query("SELECT MAX(rowid) FROM stored_events")
        return int(row[0][0] or 0)

    def rows(self, start: int, limit: int, stop: int | None = None) -> Sequence[RawRow]:
        """Plain rows from ``start`` (to ``stop``)."""
        if self._recorder is not None and not self._fast:
            return [(n.id, n.originator_id, n.originator_version, n.topic, n.state) for n in
                    self._recorder.select_notifications(start, limit, stop=stop)]
        if stop is None:
            return self._query(f"{_ROWS} WHERE rowid>=? ORDER BY rowid LIMIT ?", (start, limit))
        return self._query(f"{_ROWS} WHERE rowid>=? AND rowid<=? ORDER BY rowid LIMIT ?",
                           (start, stop, limit))

    def read_columns(self, start: int = 1, stop: int | None = None) -> Iterator[Decoded]:
        """:meth:`EventLog.read_columns <ssp_ledger.store.log.EventLog.read_columns>`, with
        the rows fetched compact (:data:`_COMPACT_ROWS`): the stream id and the topic only
        where they change, which halves what the fetch costs SQLite and Python in a replay.
        The columns, and the error a damaged row gives, are the general path's (a row left
        to the general decoding is read again whole where a value was shown as NULL)."""
        if self._recorder is not None and not self._fast:
            yield from super().read_columns(start, stop)
            return
        decode_columns = self.mapper.decode_columns
        position = start
        same: tuple[Any, Any] = (None, None)
        while True:
            if stop is None:
                rows = self._query(f"{_COMPACT_ROWS} WHERE rowid>=?1 ORDER BY rowid LIMIT ?2",
                                   (position, READ_BATCH, *same))
            else:
                rows = self._query(
                    f"{_COMPACT_ROWS} WHERE rowid>=?1 AND rowid<=?5 ORDER BY rowid LIMIT ?2",
                    (position, READ_BATCH, *same, stop))
            if not rows:
                return
            for i in range(0, len(rows), DECODE_CHUNK):
                chunk = rows[i:i + DECODE_CHUNK]
                decoded, damage = decode_columns(chunk, same, self._row_at)
                if decoded.positions:
                    yield decoded
                if damage is not None:
                    raise damage
            # every row decoded: the last one's stream id and topic are text
            _, oid, _, topic, _ = rows[-1]
            same = (same[0] if oid is None else oid, same[1] if topic is None else topic)
            position = rows[-1][0] + 1

    def _row_at(self, position: int) -> RawRow | None:
        """The row at ``position`` as stored (None: there is none)."""
        rows = self._query(f"{_ROWS} WHERE rowid=?", (position,))
        return rows[0] if rows else None

    def stream_rows(self, stream: uuid.UUID, after: int = 0) -> Sequence[RawRow]:
        """Plain rows of one stream (the originator id as stored: hex)."""
        return self._query(f"{_ROWS} WHERE originator_id=? AND originator_version>? "
                           "ORDER BY originator_version", (stream.hex, after))

    def stream_row(self, stream: uuid.UUID, version: int) -> RawRow | None:
        """One row of a stream."""
        rows = self._query(f"{_ROWS} WHERE originator_id=? AND originator_version=?",
                           (stream.hex, version))
        return rows[0] if rows else None

    def rows_at(self, wanted: Sequence[tuple[uuid.UUID, int]]) -> dict[tuple[str, int], RawRow]:
        """One join of the wanted pairs (a ``VALUES`` list) with the table per
        :data:`ROWS_AT_CHUNK` pairs, each pair a lookup in the ``(originator_id,
        originator_version)`` key (a row-value ``IN`` list would scan the table instead)."""
        found: dict[tuple[str, int], RawRow] = {}
        for i in range(0, len(wanted), ROWS_AT_CHUNK):
            chunk = wanted[i:i + ROWS_AT_CHUNK]
            values = ",".join(["(?,?)"] * len(chunk))
            params = [x for stream, version in chunk for x in (stream.hex, version)]
            for row in self._query(
                    f"WITH w(id, v) AS (VALUES {values}) SELECT s.rowid, s.originator_id, "
                    "s.originator_version, s.topic, s.state FROM w JOIN stored_events s "
                    "ON s.originator_id=w.id AND s.originator_version=w.v", params):
                found[str(row[1]).replace("-", ""), row[2]] = row
        return found

    def stream_versions(self, stop: int) -> dict[str, int]:
        """One grouped query."""
        rows = self._query("SELECT originator_id, MAX(originator_version) FROM stored_events "
                           "WHERE rowid<=? GROUP BY originator_id", (stop,))
        return {str(oid).replace("-", ""): int(v) for oid, v in rows if isinstance(v, int)}

    def count(self, stop: int) -> int:
        """Rows with rowid ``<= stop``: all rows less those after ``stop``.

        ``count(*)`` of the whole table reads its narrow key index (about a tenth of the table's
        pages), and the rows after ``stop`` are a range of the table from its end (none, when
        ``stop`` is the newest position, as it is for a fresh checkpoint); counting ``rowid <=
        stop`` directly would read every page of the table. Near the start of a long log the
        direct range is the shorter read, and is used."""
        top = self.max_position()
        if stop >= top:
            return int(self._query("SELECT count(*) FROM stored_events")[0][0])
        if stop < top // 2:
            return int(self._query("SELECT count(*) FROM stored_events WHERE rowid<=?",
                                   (stop,))[0][0])
        total, after = self._query(
            "SELECT (SELECT count(*) FROM stored_events), "
            "(SELECT count(*) FROM stored_events WHERE rowid>?)", (stop,))[0]
        return int(total) - int(after)

    def changed(self) -> object:
        """``PRAGMA data_version`` of a plain read-only connection (no table is read), with
        the number of writes made through this log.

        SQLite changes a connection's data version whenever *another* connection (this
        process's or any other's) commits to the file, never for the connection's own writes;
        the ledger writes through eventsourcing's connection, not this one, and the count of
        its own writes is part of the token anyway, so nothing it stores can go unseen. A store
        SQLite cannot reopen by path (an in-memory database) answers with the newest position.
        """
        cursor = self._version_cursor or self._watch()
        if cursor is None:
            return self._writes, self.max_position()
        try:
            return self._writes, cursor.execute("PRAGMA data_version").fetchone()[0]
        except sqlite3.Error as e:
            msg = f"cannot read store {self.location!r}: {e}"
            raise StoreError(msg) from e

    def _watch(self) -> sqlite3.Cursor | None:
        """A cursor of the connection whose data version :meth:`changed` reads: the read-only
        store's own, or one opened read-only beside eventsourcing's on first use (None: not a
        file). Kept, so each check is one statement on a prepared cursor."""
        if self._conn is None and self._watcher is None and self._path is not None:
            self._watcher = _watcher(self._path)
            if self._watcher is None:
                self._path = None  # cannot be watched: fall back to the newest position
        conn = self._conn or self._watcher
        if conn is not None:
            self._version_cursor = conn.cursor()
        return self._version_cursor

    # -- writing

    def _writable(self) -> SQLiteApplicationRecorder:
        if self._recorder is None:
            msg = f"store {self.location!r} was opened read-only"
            raise StoreError(msg)
        return self._recorder

    def insert(self, rows: Sequence[NewRow]) -> list[int]:
        """One ``executemany`` in one transaction."""
        recorder = self._writable()
        self._writes += 1  # counted whether or not it commits: a token may only err that way
        try:
            if not isinstance(recorder, LedgerSQLiteRecorder):
                return list(recorder.insert_events([StoredEvent(*row) for row in rows]) or [])
            return recorder.insert_rows([(s.hex, v, t, st) for s, v, t, st in rows])
        except IntegrityError:
            raise
        except (PersistenceError, sqlite3.Error) as e:
            msg = f"cannot write to store {self.location!r}: {e}"
            raise StoreError(msg) from e

    @contextmanager
    def writing(self) -> Iterator[Writer]:
        """One ``BEGIN IMMEDIATE`` transaction (see :class:`_SQLiteWriter`)."""
        recorder = self._writable()
        if not isinstance(recorder, LedgerSQLiteRecorder):
            with super().writing() as writer:
                yield writer
            return
        self._writes += 1
        try:
            with recorder.immediate() as cursor:
                yield _SQLiteWriter(self, cursor=cursor,
                                    statement=recorder.insert_events_statement)
        except sqlite3.IntegrityError as e:
            raise IntegrityError(e) from e
        except sqlite3.Error as e:
            msg = f"cannot write to store {self.location!r}: {e}"
            raise StoreError(msg) from e

    # -- checkpoints

    def _checkpoint_recorder(self) -> SQLiteCheckpointRecorder:
        if self._checkpoints is None:
            assert self.app is not None
            try:
                recorder = self.app.checkpoint_recorder()
            except (PersistenceError, sqlite3.Error) as e:
                msg = f"cannot open the checkpoints of store {self.location!r}: {e}"
                raise StoreError(msg) from e
            assert isinstance(recorder, SQLiteCheckpointRecorder)
            self._checkpoints = recorder
        return self._checkpoints

    def save_checkpoint(self, checkpoint: Checkpoint) -> None:
        """See :class:`SQLiteCheckpointRecorder`."""
        self._writable()
        self._writes += 1
        try:
            self._checkpoint_recorder().save_checkpoint(checkpoint)
        except IntegrityError:
            raise
        except (PersistenceError, sqlite3.Error) as e:
            msg = f"cannot write a checkpoint to store {self.location!r}: {e}"
            raise StoreError(msg) from e

    def open_checkpoint(self, name: str) -> OpenCheckpoint | None:
        """One checkpoint without its state, whose ranges are read when asked for: through
        SQLite's incremental blob I/O on a read-only store (only the pages of the range are
        read), ``substr()`` otherwise."""
        if not self._has_checkpoints:
            return None
        if self._conn is None:
            self._checkpoint_recorder()  # creates the table on a writable store
        rows = self._query(f"SELECT position, fingerprint, anchor, typeof(state), "
                           f"length(state), saved_at, rowid FROM {CHECKPOINTS_TABLE} "
                           "WHERE name=?", (name,))
        if not rows:
            return None
        position, fingerprint, binding, kind, size, saved_at, rowid = rows[0]
        if kind != "blob":
            msg = f"checkpoint {name!r} is damaged: its state is {kind}, not a blob"
            raise StoreError(msg)
        head = _checkpoint(name, (position, fingerprint, binding, b"", saved_at))
        return OpenCheckpoint(name, head.position, head.fingerprint, head.binding, head.saved_at,
                              int(size), partial(self._read_state, name, int(rowid)))

    def _read_state(self, name: str, rowid: int, offset: int, length: int) -> bytes:
        """Bytes ``offset .. offset+length`` of checkpoint ``name``'s state as stored now."""
        if length <= 0:
            return b""
        if self._conn is None:
            rows = self._query(f"SELECT substr(state, ?, ?) FROM {CHECKPOINTS_TABLE} "
                               "WHERE name=? AND typeof(state)='blob'",
                               (offset + 1, length, name))
            return bytes(rows[0][0]) if rows else b""
        try:
            with self._conn.blobopen(CHECKPOINTS_TABLE, "state", rowid, readonly=True) as blob:
                if offset >= len(blob):
                    return b""
                blob.seek(offset)
                return blob.read(length)
        except sqlite3.Error as e:
            msg = f"cannot read checkpoint {name!r} of store {self.location!r}: {e}"
            raise StoreError(msg) from e

    def load_checkpoint(self, name: str) -> Checkpoint | None:
        """One checkpoint (read-only stores read the table directly)."""
        if not self._has_checkpoints:
            return None
        rows = self._query(f"SELECT {_CHECKPOINT_COLUMNS} FROM {CHECKPOINTS_TABLE} "
                           "WHERE name=?", (name,)) if self._conn is not None else None
        if self._conn is None:
            return self._checkpoint_recorder().load_checkpoint(name)
        return _checkpoint(name, tuple(rows[0])) if rows else None

    def checkpoint_names(self) -> list[str]:
        """Names of the stored checkpoints."""
        if not self._has_checkpoints:
            return []
        if self._conn is None:
            return self._checkpoint_recorder().checkpoint_names()
        return [str(r[0]) for r in self._query(
            f"SELECT name FROM {CHECKPOINTS_TABLE} ORDER BY name")]

    def delete_checkpoint(self, name: str) -> None:
        """See :class:`SQLiteCheckpointRecorder`."""
        self._writable()
        self._writes += 1
        self._checkpoint_recorder().delete_checkpoint(name)

    def tracked_position(self, name: str) -> int:
        """eventsourcing's tracking position."""
        if self._conn is not None:
            rows = self._query("SELECT MAX(notification_id) FROM tracking "
                               "WHERE application_name=?", (tracking_name(name),)) \
                if self._has_checkpoints else [(None,)]
            return int(rows[0][0] or 0)
        return self._checkpoint_recorder().max_tracking_id(tracking_name(name)) or 0

    def wait(self, name: str, position: int, timeout: float) -> None:
        """eventsourcing's ``wait``."""
        self._checkpoint_recorder().wait(tracking_name(name), position, timeout=timeout)

    def close(self) -> None:
        """Close the connection or the application."""
        if self._conn is not None:
            self._conn.close()
        self._version_cursor = None
        if self._watcher is not None:
            self._watcher.close()
            self._watcher = None
        if self.app is not None:
            self.app.close()


def sqlite_env(location: str) -> dict[str, str]:
    """eventsourcing's environment for a SQLite file."""
    return {
        "PERSISTENCE_MODULE": "eventsourcing.sqlite",
        "APPLICATION_RECORDER_TOPIC": "ssp_ledger.store.sqlite:LedgerSQLiteRecorder",
        "TRACKING_RECORDER_TOPIC": "ssp_ledger.store.sqlite:SQLiteCheckpointRecorder",
        "SQLITE_DBNAME": location,
        "SQLITE_LOCK_TIMEOUT": "30",
    }

