"""Export a projection table or the log to Parquet or CSV, with a manifest that traces it.

An analyst's table should say where it came from. Every export writes two files: the data
(``participation.parquet`` or ``.csv``) and, beside it, ``<data file>.manifest.json`` naming

* the ledger it was taken from: log position and digest (``POSITION:HEAD``, see
  :func:`ssp_ledger.audit.digest`) and whether the hash chain verified;
* what was asked: projection name and query (``as_of``, ``known_at``, ``by``, ``period``,
  ``partnership_id``), or the log filters;
* what was written: format, columns and their types, row count and the SHA-256 of the data file;
* the package version that wrote it.

No clock is read: exporting the same ledger with the same arguments gives byte-identical files
(``created_at`` appears only when the caller passes one). With ``pyarrow`` and the same version
of it, Parquet files are byte-identical too.

Column types: labels are strings, figures 64-bit integers; the log has ``occurred_on`` as a
``date32`` and ``recorded_at`` as a UTC microsecond timestamp. CSV needs nothing beyond the
standard library; Parquet needs ``pyarrow`` (``pip install 'ssp-ledger[parquet]'``), imported
only when a Parquet file is written.
"""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import hashlib
import importlib
import io
import json
import os
import shutil
import tempfile
import types
import typing
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

import msgspec

from ssp_ledger.errors import LedgerError, StoreError
from ssp_ledger.events import EVENT_TYPES, Event, EventCorrected, EventRetracted
from ssp_ledger.outfile import OutputFile, check_output, is_stream, open_output
from ssp_ledger.periods import Period, parse_period
from ssp_ledger.store import Recorded

if typing.TYPE_CHECKING:
    from ssp_ledger.application import Ledger
    from ssp_ledger.projection import Cell, Table

__all__ = [
    "ExportFormat",
    "LOG_COLUMNS",
    "Manifest",
    "MissingDependency",
    "PARQUET_HINT",
    "ROW_KIND",
    "export_log",
    "export_table",
    "manifest_path",
    "marked_rows",
]

ExportFormat = Literal["parquet", "csv"]
ColumnType = Literal["string", "int64", "bool", "date32", "timestamp[us, UTC]", "list<string>"]

#: Version of the manifest layout; raised when a field changes meaning.
MANIFEST_VERSION = 1
#: What to run when pyarrow is missing.
PARQUET_HINT = "pip install 'ssp-ledger[parquet]'"
#: Rows per Parquet row group and per CSV write.
CHUNK_ROWS = 65_536
#: Attempts to take a consistent (data, digest) pair while another writer keeps appending.
_ATTEMPTS = 3


class MissingDependency(LedgerError, ImportError):
    """An optional dependency needed for this export is not installed."""


#: How optional modules are imported (tests replace it to simulate a missing pyarrow).
_import_module: Callable[[str], types.ModuleType] = importlib.import_module


def _import_pyarrow() -> tuple[types.ModuleType, types.ModuleType]:
    """``pyarrow`` and ``pyarrow.parquet``, or a :class:`MissingDependency` saying what to run."""
    try:
        pa = _import_module("pyarrow")
        pq = _import_module("pyarrow.parquet")
    except ImportError as e:
        msg = f"Parquet export needs pyarrow, which is not installed; run: {PARQUET_HINT}"
        raise MissingDependency(msg) from e
    return pa, pq


# --------------------------------------------------------------------------- manifest


@dataclass(frozen=True, kw_only=True)
class Manifest:
    """What an export wrote and where it came from (also written as JSON beside the data)."""

    kind: Literal["projection", "log"]
    """A projection table or the log."""
    projection: str | None
    """Projection name (None for the log)."""
    data_file: str
    """Name of the data file (the manifest sits in the same folder)."""
    format: ExportFormat
    """parquet or csv."""
    columns: tuple[tuple[str, ColumnType], ...]
    """(name, type) of every column, in order."""
    rows: int
    """Data rows written (a CSV header is not counted)."""
    sha256: str
    """Hex SHA-256 of the data file's bytes."""
    parameters: Mapping[str, Any]
    """The query (projection) or filters (log), as JSON values."""
    log_position: int
    """Notification id of the newest record in the ledger when exported."""
    digest: str
    """``POSITION:HEAD`` of the whole log (:func:`ssp_ledger.audit.digest`)."""
    chain_verified: bool
    """True when every record decoded and every stream's hash chain was intact."""
    version: str
    """ssp-ledger version that wrote it."""
    writer: str
    """Library that encoded the data file (``pyarrow X.Y.Z`` or ``csv``)."""
    created_by: str
    """Which function wrote it."""
    created_at: str | None = None
    """Only when the caller passed a time: exports are otherwise byte-identical."""
    path: Path | None = field(default=None, compare=False)
    """Where the manifest was written."""

    @property
    def digest_head(self) -> str:
        """The hex head hash of :attr:`digest`."""
        return self.digest.partition(":")[2]

    def to_dict(self) -> dict[str, Any]:
        """The manifest as written (JSON values, stable key order)."""
        out: dict[str, Any] = {
            "manifest_version": MANIFEST_VERSION,
            "kind": self.kind,
            "projection": self.projection,
            "data_file": self.data_file,
            "format": self.format,
            "rows": self.rows,
            "sha256": self.sha256,
            "columns": [{"name": n, "type": t} for n, t in self.columns],
            "parameters": dict(self.parameters),
            "ledger": {
                "log_position": self.log_position,
                "digest": self.digest,
                "digest_head": self.digest_head,
                "chain_verified": self.chain_verified,
            },
            "package": {"name": "ssp-ledger", "version": self.version},
            "writer": self.writer,
            "created_by": self.created_by,
        }
        if self.created_at is not None:
            out["created_at"] = self.created_at
        return out

    def to_json(self) -> bytes:
        """Deterministic JSON bytes (two-space indent, trailing newline)."""
        return (json.dumps(self.to_dict(), indent=2, ensure_ascii=False) + "\n").encode("utf-8")


def manifest_path(out: Path) -> Path:
    """Where the manifest of data file ``out`` goes: ``<out>.manifest.json``."""
    return out.with_name(out.name + ".manifest.json")


# --------------------------------------------------------------------------- cell encoding


def _json(value: Any) -> str:
    return msgspec.json.encode(value, order="deterministic").decode("utf-8")


def _csv_cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | str):
        return str(value)
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return _json(list(value))
    return _json(value)


def _arrow_type(pa: types.ModuleType, kind: ColumnType) -> Any:
    if kind == "string":
        return pa.string()
    if kind == "int64":
        return pa.int64()
    if kind == "bool":
        return pa.bool_()
    if kind == "date32":
        return pa.date32()
    if kind == "timestamp[us, UTC]":
        return pa.timestamp("us", tz="UTC")
    return pa.list_(pa.string())


# --------------------------------------------------------------------------- writers


class _Hashing(io.RawIOBase):
    """Passes bytes on to a stream and keeps their SHA-256 (the manifest's ``sha256``)."""

    def __init__(self, stream: typing.IO[bytes]) -> None:
        super().__init__()
        self._stream = stream
        self.sha256 = hashlib.sha256()

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        self.sha256.update(data)
        self._stream.write(data)
        return len(data)


class _Sink:
    """Writes chunks of column-major rows to the output (see :mod:`ssp_ledger.outfile`)."""

    def __init__(self, out: Path, fmt: ExportFormat, columns: Sequence[tuple[str, ColumnType]],
                 metadata: Mapping[str, str]) -> None:
        self.out = out
        self.fmt = fmt
        self.columns = tuple(columns)
        self.rows = 0
        modules = _import_pyarrow() if fmt == "parquet" else None
        # A regular file is written beside the target and moved into place by deliver(); a
        # stream (device, FIFO, standard output) cannot take back bytes, so the data is spooled
        # and copied to it only once the export is known to be consistent.
        self._stream = is_stream(out)
        self._file: OutputFile | None = None if self._stream else OutputFile(out)
        self._spool: typing.IO[bytes] = (
            tempfile.TemporaryFile() if self._file is None  # noqa: SIM115 - closed by deliver/abort
            else self._file.stream)
        self._hashing = _Hashing(self._spool)
        self._buffer = io.BufferedWriter(self._hashing, buffer_size=1 << 16)
        self._csv_file: io.TextIOWrapper | None = None
        self._csv: Any = None
        self._parquet: Any = None
        self._pa: types.ModuleType | None = None
        self._schema: Any = None
        self.writer = "csv"
        try:
            self._open(modules, metadata)
        except BaseException:
            self.abort()
            raise

    def _open(self, modules: tuple[types.ModuleType, types.ModuleType] | None,
              metadata: Mapping[str, str]) -> None:
        if modules is not None:
            pa, pq = modules
            self._pa = pa
            self._schema = pa.schema(
                [pa.field(name, _arrow_type(pa, kind)) for name, kind in self.columns],
                metadata={k.encode(): v.encode() for k, v in metadata.items()},
            )
            self.writer = f"pyarrow {pa.__version__}"
            self._parquet = pq.ParquetWriter(self._buffer, self._schema, compression="zstd")
        else:
            self.writer = "csv"
            self._csv_file = io.TextIOWrapper(self._buffer, encoding="utf-8", newline="")
            self._csv = csv.writer(self._csv_file, lineterminator="\n")
            self._csv.writerow([name for name, _ in self.columns])

    def write(self, chunk: Sequence[list[Any]]) -> None:
        """Write one chunk given as one list of values per column."""
        n = len(chunk[0]) if chunk else 0
        if n == 0:
            return
        if self._parquet is not None:
            pa = self._pa
            assert pa is not None
            arrays = [
                pa.array(values, type=_arrow_type(pa, kind))
                for values, (_, kind) in zip(chunk, self.columns, strict=True)
            ]
            self._parquet.write_table(pa.Table.from_arrays(arrays, schema=self._schema),
                                      row_group_size=CHUNK_ROWS)
        else:
            self._csv.writerows(
                [_csv_cell(v) for v in row] for row in zip(*chunk, strict=True))
        self.rows += n

    def finish(self) -> str:
        """Complete the data (not yet delivered, see :meth:`deliver`); return its SHA-256."""
        if self._parquet is not None:
            self._parquet.close()
        if self._csv_file is not None:
            self._csv_file.flush()
        self._buffer.flush()
        return self._hashing.sha256.hexdigest()

    def deliver(self) -> None:
        """Move the finished file into place, or copy the spooled data to the stream."""
        if self._file is not None:
            self._file.commit()
            return
        self._spool.seek(0)
        with open_output(self.out) as stream:
            shutil.copyfileobj(self._spool, stream, 1 << 20)
        self._spool.close()

    def abort(self) -> None:
        """Drop the unfinished or unwanted data (the target stays as it was)."""
        with contextlib.suppress(Exception):
            if self._parquet is not None:
                self._parquet.close()
        if self._file is not None:
            self._file.discard()
        else:
            self._spool.close()


def _write_atomic(path: Path, data: bytes) -> None:
    with open_output(path) as f:
        f.write(data)


def _target(out: Path | str, fmt: ExportFormat | None) -> tuple[Path, ExportFormat]:
    path = Path(out).expanduser()
    if fmt is None:
        fmt = "csv" if path.suffix.lower() == ".csv" else "parquet"
    if fmt not in ("parquet", "csv"):
        msg = f"format must be parquet or csv; got {fmt!r}"
        raise ValueError(msg)
    real = Path(os.path.realpath(path))
    if real.is_dir():
        msg = f"{path} is a folder; give a file name such as {path / ('table.' + fmt)}"
        raise ValueError(msg)
    if not real.parent.is_dir():
        msg = f"folder {real.parent} does not exist"
        raise ValueError(msg)
    return path, fmt


def _manifest_target(out: Path, manifest: Path | str | None) -> Path | None:
    """Where the manifest goes: as given, else beside a regular data file (a stream: nowhere)."""
    if manifest is not None:
        return check_output(manifest, "manifest")
    return None if is_stream(out) else manifest_path(out)


def _created_at(moment: dt.datetime | None) -> str | None:
    if moment is None:
        return None
    if moment.tzinfo is None or moment.utcoffset() is None:
        msg = "created_at must be timezone-aware"
        raise ValueError(msg)
    return moment.astimezone(dt.UTC).isoformat()


def _known_at(known_at: dt.datetime | None) -> str | None:
    if known_at is None:
        return None
    if known_at.tzinfo is None or known_at.utcoffset() is None:
        msg = "known_at must be timezone-aware (e.g. 2011-09-01T00:00:00+00:00)"
        raise ValueError(msg)
    return known_at.astimezone(dt.UTC).isoformat()


def _consistent(ledger: Ledger, write: Callable[[int], tuple[str, _Sink]],
                ) -> tuple[int, str, bool, str, _Sink]:
    """Run ``write(position)`` and take the digest at the same log position.

    If another writer appends meanwhile the export is redone (up to three times), so the
    manifest's digest always describes the ledger the data was computed from.
    """
    from ssp_ledger.audit import verify

    for _ in range(_ATTEMPTS):
        position = ledger.position
        sha, sink = write(position)
        try:
            report = verify(ledger)
            consistent = report.digest.position == position and ledger.position == position
            if consistent:
                sink.deliver()
        except BaseException:
            sink.abort()
            raise
        if consistent:
            return position, str(report.digest), report.ok, sha, sink
        sink.abort()
    msg = (f"the ledger kept growing during the export ({_ATTEMPTS} attempts); "
           "export again when writers are idle")
    raise StoreError(msg)


def _finish(out: Path, fmt: ExportFormat, kind: Literal["projection", "log"],
            projection: str | None, columns: Sequence[tuple[str, ColumnType]],
            parameters: Mapping[str, Any], result: tuple[int, str, bool, str, _Sink],
            created_by: str, created_at: str | None, manifest_to: Path | None) -> Manifest:
    from ssp_ledger import __version__

    position, digest_text, ok, sha, sink = result
    manifest = Manifest(
        kind=kind, projection=projection, data_file=out.name, format=fmt,
        columns=tuple(columns), rows=sink.rows, sha256=sha, parameters=parameters,
        log_position=position, digest=digest_text, chain_verified=ok, version=__version__,
        writer=sink.writer, created_by=created_by, created_at=created_at,
        path=manifest_to,
    )
    if manifest_to is not None:
        _write_atomic(manifest_to, manifest.to_json())
    return manifest


# --------------------------------------------------------------------------- tables


#: Extra last column (``group`` or ``total``) of a table in which a group is labelled
#: ``total``: the one case where the convention "the total is the last row, labelled total"
#: cannot tell the total from a group (JSON output says it with a separate ``total`` member).
ROW_KIND = "row_kind"


def marked_rows(table: Table) -> tuple[tuple[str, ...], list[tuple[Cell, ...]]]:
    """The columns and rows of ``table`` as a flat file holds them (``export-table``, ``report
    --format csv``): the total, when there is one, is the last row, labelled ``total``; only
    when a group is labelled ``total`` too is a last column :data:`ROW_KIND` added, saying
    ``group`` or ``total`` for every row."""
    if not any(row and row[0] == "total" for row in table.groups):
        return tuple(table.columns), [tuple(row) for row in table.rows]
    kinds = ["group"] * len(table.groups) + (["total"] if table.total is not None else [])
    return ((*table.columns, ROW_KIND),
            [(*row, kind) for row, kind in zip(table.rows, kinds, strict=True)])


def _column_types(names: Sequence[str],
                  rows: Sequence[Sequence[Cell]]) -> list[tuple[str, ColumnType]]:
    """Figures (all integers) are int64, booleans bool, anything else a string."""
    out: list[tuple[str, ColumnType]] = []
    for i, name in enumerate(names):
        values = [row[i] for row in rows if row[i] is not None]
        kind: ColumnType = "string"
        if i > 0 and values:
            if all(isinstance(v, bool) for v in values):
                kind = "bool"
            elif all(isinstance(v, int) and not isinstance(v, bool) for v in values):
                kind = "int64"
        out.append((name, kind))
    return out


def _table_columns(rows: Sequence[Sequence[Cell]],
                   columns: Sequence[tuple[str, ColumnType]]) -> list[list[Any]]:
    chunk: list[list[Any]] = [[] for _ in columns]
    for row in rows:
        for j, (value, (_, kind)) in enumerate(zip(row, columns, strict=True)):
            chunk[j].append(None if value is None else value if kind != "string" else str(value))
    return chunk


def export_table(
    ledger: Ledger,
    projection: str,
    out: Path | str,
    *,
    as_of: dt.date,
    known_at: dt.datetime | None = None,
    by: str | None = None,
    period: Period | str | None = None,
    partnership_id: str | None = None,
    format: ExportFormat | None = None,
    created_at: dt.datetime | None = None,
    manifest: Path | str | None = None,
    **params: int | str,
) -> Manifest:
    """Write ``ledger.report(projection, ...)`` to ``out`` and its manifest beside it.

    The rows are those of the report, the total last; a table in which a group is labelled
    ``total`` gets a last column :data:`ROW_KIND` telling the total from it (see
    :func:`marked_rows`), so the CSV is byte for byte ``ssp-ledger report --format csv``.

    ``format`` defaults to csv for a ``.csv`` file name and parquet otherwise. ``params`` are
    projection-specific parameters, passed to the report and recorded in the manifest.
    Returns the manifest, also written to ``manifest`` or, by default, to
    :func:`manifest_path` of ``out``.

    ``out`` is written as :mod:`ssp_ledger.outfile` describes: a regular file is replaced
    whole when complete; a device, a FIFO or ``-`` (standard output) is written through, and
    then the manifest is written only where ``manifest`` says (its ``path`` is None otherwise).
    """
    path, fmt = _target(out, format)
    manifest_to = _manifest_target(path, manifest)
    if fmt == "parquet":
        _import_pyarrow()  # fail before the work, not after
    chosen = parse_period(period) if isinstance(period, str) else period
    parameters: dict[str, Any] = {
        "as_of": as_of.isoformat(),
        "known_at": _known_at(known_at),
        "by": by,
        "period": chosen.label if chosen is not None else None,
        "partnership_id": partnership_id,
        "params": dict(sorted(params.items())),
    }
    stamp = _created_at(created_at)
    columns: list[tuple[str, ColumnType]] = []

    def write(position: int) -> tuple[str, _Sink]:
        table = ledger.report(projection, as_of=as_of, known_at=known_at, by=by, period=chosen,
                              partnership_id=partnership_id, **params)
        names, rows = marked_rows(table)
        columns[:] = _column_types(names, rows)
        sink = _Sink(path, fmt, columns, {"ssp_ledger.projection": projection,
                                          "ssp_ledger.parameters": json.dumps(parameters)})
        try:
            sink.write(_table_columns(rows, columns))
            return sink.finish(), sink
        except BaseException:
            sink.abort()
            raise

    result = _consistent(ledger, write)
    return _finish(path, fmt, "projection", projection, columns, parameters, result,
                   "ssp_ledger.export.export_table", stamp, manifest_to)


# --------------------------------------------------------------------------- the log


def _kind_of(hint: Any) -> ColumnType:
    if hint is bool:
        return "bool"
    if hint is int:
        return "int64"
    if hint is dt.date:
        return "date32"
    origin = get_origin(hint)
    if origin is tuple:
        return "list<string>"
    if origin in (typing.Union, types.UnionType):
        args = [a for a in get_args(hint) if a is not type(None)]
        if len(args) == 1:
            return _kind_of(args[0])
    return "string"  # str, Literal[...] and a correction's replacement (as JSON)


def _log_columns() -> tuple[tuple[tuple[str, ColumnType], ...], dict[type[Event], list[str]]]:
    """The log's columns: the record's, then every event field once, in catalogue order."""
    columns: dict[str, ColumnType] = {
        "position": "int64",
        "recorded_at": "timestamp[us, UTC]",
        "partnership_id": "string",
        "type": "string",
        "event_id": "string",
        "occurred_on": "date32",
    }
    fields: dict[type[Event], list[str]] = {}
    for cls in EVENT_TYPES.values():
        hints = typing.get_type_hints(cls)
        names = [f.name for f in msgspec.structs.fields(cls)
                 if f.name not in ("partnership_id", "event_id", "occurred_on")]
        for name in names:
            kind = _kind_of(hints[name])
            if columns.setdefault(name, kind) != kind:  # pragma: no cover -- catalogue check
                msg = f"field {name!r} has two types in the catalogue"
                raise TypeError(msg)
        fields[cls] = names
    return tuple(columns.items()), fields


LOG_COLUMNS, _LOG_FIELDS = _log_columns()
"""(name, type) of every column of a log export."""
_LOG_INDEX = {name: i for i, (name, _) in enumerate(LOG_COLUMNS)}


def _log_row(position: int, recorded_at: dt.datetime, event: Event) -> list[Any]:
    row: list[Any] = [None] * len(LOG_COLUMNS)
    row[0] = position
    row[1] = recorded_at
    row[2] = event.partnership_id
    row[3] = type(event).__name__
    row[4] = event.event_id
    row[5] = event.occurred_on
    for name in _LOG_FIELDS[type(event)]:
        value = getattr(event, name)
        if isinstance(value, Event):
            value = _json(value)
        elif isinstance(value, tuple):
            value = list(value)
        row[_LOG_INDEX[name]] = value
    return row


def _effective(records: Iterable[tuple[int, Recorded]]) -> Iterator[list[Any]]:
    """Facts in force after the records: corrections applied, retractions removed."""
    facts: dict[tuple[str, str], tuple[int, dt.datetime, Event]] = {}
    for position, rec in records:
        event = rec.event
        if isinstance(event, EventRetracted):
            facts.pop((event.partnership_id, event.target_event_id), None)
        elif isinstance(event, EventCorrected):
            key = (event.partnership_id, event.target_event_id)
            if key in facts:
                facts[key] = (position, rec.recorded_at, event.replacement)
        else:
            facts[(event.partnership_id, event.event_id)] = (position, rec.recorded_at, event)
    for position, recorded_at, fact in facts.values():
        yield _log_row(position, recorded_at, fact)


def export_log(
    ledger: Ledger,
    out: Path | str,
    *,
    known_at: dt.datetime | None = None,
    as_of: dt.date | None = None,
    partnership_id: str | None = None,
    effective: bool = False,
    format: ExportFormat | None = None,
    created_at: dt.datetime | None = None,
    manifest: Path | str | None = None,
) -> Manifest:
    """Write the log (one row per stored record, in log order) and its manifest.

    ``known_at`` keeps records stored at or before it; ``as_of`` events dated on or before it;
    ``partnership_id`` one partnership. A correction's ``replacement`` is a JSON string.

    With ``effective=True`` the rows are the *facts in force* instead: corrections applied and
    retracted events removed, one row per event id in the order the events were first recorded,
    with the position and recorded time of the content in force. That is the table to give a
    SQL engine: ``SUM(participants) ... WHERE occurred_on <= D`` over it equals the ledger's
    figures at the same ``known_at``.

    ``out`` and ``manifest`` are written as for :func:`export_table`.
    """
    path, fmt = _target(out, format)
    manifest_to = _manifest_target(path, manifest)
    if fmt == "parquet":
        _import_pyarrow()  # fail before the work, not after
    cut = _known_at(known_at)
    parameters: dict[str, Any] = {
        "known_at": cut,
        "as_of": as_of.isoformat() if as_of is not None else None,
        "partnership_id": partnership_id,
        "effective": effective,
    }
    stamp = _created_at(created_at)
    width = len(LOG_COLUMNS)

    def rows(position: int) -> Iterator[list[Any]]:
        records: Iterable[tuple[int, Recorded]] = ledger.read(1, stop=position)
        if known_at is not None:
            records = ((p, r) for p, r in records if r.recorded_at <= known_at)
        if partnership_id is not None:
            records = ((p, r) for p, r in records if r.event.partnership_id == partnership_id)
        if effective:
            found: Iterable[list[Any]] = _effective(records)
        else:
            found = (_log_row(p, r.recorded_at, r.event) for p, r in records)
        if as_of is None:
            yield from found
        else:
            yield from (row for row in found if row[5] <= as_of)

    def write(position: int) -> tuple[str, _Sink]:
        sink = _Sink(path, fmt, LOG_COLUMNS, {"ssp_ledger.log": json.dumps(parameters)})
        try:
            chunk: list[list[Any]] = [[] for _ in range(width)]
            count = 0
            for row in rows(position) if position else ():
                for j in range(width):
                    chunk[j].append(row[j])
                count += 1
                if count == CHUNK_ROWS:
                    sink.write(chunk)
                    chunk = [[] for _ in range(width)]
                    count = 0
            sink.write(chunk)
            return sink.finish(), sink
        except BaseException:
            sink.abort()
            raise

    result = _consistent(ledger, write)
    return _finish(path, fmt, "log", None, LOG_COLUMNS, parameters, result,
                   "ssp_ledger.export.export_log", stamp, manifest_to)
