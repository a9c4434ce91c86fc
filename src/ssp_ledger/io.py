"""Import and export of events at the boundary, where input is untrusted.

Two formats:

* **JSONL** (``.jsonl``, ``.ndjson``, ``.json``): one event per line, exactly msgspec's tagged JSON
  encoding of the structs in :mod:`ssp_ledger.events`, e.g.
  ``{"type":"ClubRun","partnership_id":"tyneside","occurred_on":"2010-09-07","event_id":"c1",...}``.
  :func:`export_file` writes it, :func:`read_jsonl` and :func:`import_file` read it back, so an
  export imported into an empty ledger reproduces the same events.
* **CSV** of club sessions (``.csv``): one :class:`~ssp_ledger.events.ClubRun` per row, a header
  row required. Rows are validated with a pydantic model (its error locations name the column),
  then turned into events, whose own rules (SEND not above participants, ...) apply as usual.

Every problem is an :class:`~ssp_ledger.errors.InputError` naming the source, the 1-based line (the
CSV header is line 1) and, where there is one, the field. Reading stops at the first problem and
returns nothing; :func:`import_file` parses a whole file before writing, then records it in one
atomic :meth:`~ssp_ledger.application.Ledger.record_many` call, so a bad file changes nothing.
"""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import io
import itertools
import json
import os
import re
import stat
import sys
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import IO, Annotated, Any, Literal, cast, get_args, get_origin

import msgspec
import pydantic
from pydantic_core import PydanticCustomError

from ssp_ledger.application import BatchResult, Ledger
from ssp_ledger.decode_errors import parse_decode_error
from ssp_ledger.errors import DomainRuleViolation, DuplicateEventId, InputError
from ssp_ledger.events import (
    EVENT_TYPES,
    ClubRun,
    CorrectableEvent,
    DomainEvent,
    Event,
)
from ssp_ledger.outfile import open_output
from ssp_ledger.partnership import fingerprint
from ssp_ledger.store import Recorded

__all__ = [
    "MAX_LINE_BYTES",
    "CLUB_CSV_COLUMNS",
    "STDIN",
    "read_jsonl",
    "read_club_csv",
    "iter_jsonl",
    "iter_club_csv",
    "export_jsonl",
    "import_file",
    "export_file",
]

#: Longest accepted line, in bytes without its line terminator. Longer lines are rejected
#: before any decoding (a real event is a few hundred bytes).
MAX_LINE_BYTES = 1 << 20

#: Columns of a club-session CSV file: the fields of ClubRun, in declaration order.
CLUB_CSV_COLUMNS: tuple[str, ...] = tuple(f.name for f in msgspec.structs.fields(ClubRun))
_CSV_OPTIONAL = frozenset(f.name for f in msgspec.structs.fields(ClubRun) if not f.required)

_PROGRESS_EVERY = 1_000
_WRITE_CHUNK = 1_000
_BOM = b"\xef\xbb\xbf"

#: ``progress(lines_done, total_lines)``; the total is None when it is not known in advance
#: (standard input, a pipe).
Progress = Callable[[int, int | None], None]

_INVALID_VALUE = re.compile(r"^Invalid (?:enum )?value (?P<value>.+)$", re.DOTALL)
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*")
_INT_CELL = re.compile(r"-?[0-9]{1,18}")
_DATE_CELL = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


# --------------------------------------------------------------------------- line reading


def _join(prefix: str | None, name: str | None) -> str | None:
    if not prefix:
        return name or None
    if not name:
        return prefix
    return f"{prefix}.{name}"


def _read_lines(readline: Callable[[int], bytes], name: str) -> Iterator[tuple[int, bytes]]:
    """(1-based line number, line with its terminator); rejects over-long lines unread."""
    limit = MAX_LINE_BYTES + 2  # room for "\r\n"
    number = 0
    while True:
        try:
            line = readline(limit)
        except OSError as e:
            raise InputError(f"cannot read: {e}", source=name, line=number + 1) from e
        if not line:
            return
        number += 1
        if line.endswith(b"\r\n"):
            size = len(line) - 2
        elif line.endswith(b"\n"):
            size = len(line) - 1
        else:
            size = len(line)
            if size >= limit:
                size = limit  # at least this long: the rest stays unread
        if size > MAX_LINE_BYTES:
            reason = f"line is longer than the limit of {MAX_LINE_BYTES} bytes (1 MiB)"
            raise InputError(reason, source=name, line=number)
        if number == 1 and line.startswith(_BOM):
            line = line[len(_BOM):]
        yield number, line


def _utf8(line: bytes, number: int, name: str) -> str:
    try:
        return line.decode("utf-8")
    except UnicodeDecodeError as e:
        reason = (
            f"not valid UTF-8 (byte {e.start + 1} of the line: {e.reason}); "
            "save the file as UTF-8"
        )
        raise InputError(reason, source=name, line=number) from None


def _count_lines(path: Path) -> int:
    count = 0
    last = b"\n"
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            count += chunk.count(b"\n")
            last = chunk[-1:]
    return count + (last != b"\n")


class _Ticker:
    """Calls a progress callback every few lines and once at the end (total None: unknown)."""

    def __init__(self, progress: Progress | None, total: int | None) -> None:
        self._progress = progress
        self._total = total
        self._next = _PROGRESS_EVERY

    def _report(self, done: int) -> None:
        assert self._progress is not None
        self._progress(done, None if self._total is None else max(done, self._total))

    def tick(self, done: int) -> None:
        if self._progress is not None and done >= self._next:
            self._next = done + _PROGRESS_EVERY
            self._report(done)

    def finish(self, done: int) -> None:
        if self._progress is not None:
            self._report(done)


@contextlib.contextmanager
def _open_binary(source: Path | IO[bytes], name: str) -> Iterator[IO[bytes]]:
    if isinstance(source, Path):
        try:
            f = source.open("rb")
        except OSError as e:
            raise InputError(f"cannot open file: {e.strerror or e}", source=name) from e
        with f:
            yield f
    else:
        yield source


# --------------------------------------------------------------------------- JSONL


def _field_types(cls: type[Event]) -> dict[str, Any]:
    return {f.encode_name: f.type for f in msgspec.structs.fields(cls)}


class _JsonlParser:
    """Decodes JSONL lines into events; one instance (and decoder) per file."""

    def __init__(self, name: str, partnership_id: str | None) -> None:
        self.name = name
        self.partnership_id = partnership_id
        self._decoder: msgspec.json.Decoder[Any] = msgspec.json.Decoder(DomainEvent)
        self._raw = msgspec.json.Decoder(dict[str, msgspec.Raw])
        self._fields = {tag: _field_types(cls) for tag, cls in EVENT_TYPES.items()}

    def _error(self, reason: str, number: int, field: str | None = None) -> InputError:
        return InputError(reason, source=self.name, line=number, field=field)

    def parse(self, number: int, line: bytes) -> DomainEvent | None:
        """The event on one line, or None for a blank line."""
        if not line.strip():
            return None
        _utf8(line, number, self.name)
        try:
            event = cast(DomainEvent, self._decoder.decode(line))
        except msgspec.ValidationError as e:  # a subclass of DecodeError: catch it first
            raise self._invalid(str(e), number, line) from None
        except msgspec.DecodeError as e:
            text = str(e)
            text = text.removeprefix("JSON is malformed: ")
            raise self._error(f"malformed JSON: {text[:1].lower()}{text[1:]}", number) from None
        repeated = _repeated_key(line)
        if repeated is not None:
            raise self._error(f"field {repeated!r} appears more than once in the object", number,
                              repeated)
        if _MAY_HOLD_CONTROL.search(line):
            where = _control_character(msgspec.to_builtins(event))
            if where is not None:
                path, char = where
                raise self._error(f"control character {char!r} in the text (only tab is "
                                  "allowed)", number, path)
        if self.partnership_id is not None and event.partnership_id != self.partnership_id:
            raise self._error(
                f"partnership_id {event.partnership_id!r} differs from the partnership being "
                f"imported ({self.partnership_id!r})",
                number,
                "partnership_id",
            )
        return event

    def _class_at(self, line: bytes, path: str | None) -> type[Event] | None:
        """The event class of the JSON object at ``path`` (dotted), if it is one."""
        try:
            obj = self._raw.decode(line)
            for part in path.split(".") if path else ():
                obj = self._raw.decode(obj[part])
            tag = msgspec.json.decode(obj["type"])
        except (msgspec.MsgspecError, KeyError, TypeError):
            return None
        return EVENT_TYPES.get(tag) if isinstance(tag, str) else None

    def _invalid(self, message: str, number: int, line: bytes) -> InputError:
        problem = parse_decode_error(message)
        msg, path = problem.message, problem.path
        if problem.missing:
            field = problem.field
            if problem.missing == "type":
                return self._error(
                    f"missing event type (the \"type\" field); expected one of "
                    f"{_names(EVENT_TYPES)}",
                    number,
                    field,
                )
            return self._error("missing required field", number, field)
        if problem.unknown:
            # Events forbid unknown fields, so a typo never silently becomes a default.
            cls = self._class_at(line, path)
            known = ", ".join(self._fields[cls.__name__]) if cls is not None else ""
            reason = f"unknown field {problem.unknown!r}"
            if cls is not None:
                reason += f" for {cls.__name__}; expected: {known}"
            return self._error(reason, number, problem.field)
        invalid = _INVALID_VALUE.match(msg)
        if path == "type" or path.endswith(".type"):
            allowed = EVENT_TYPES if path == "type" else _correctable_names()
            if invalid and invalid.group("value").strip("'") in EVENT_TYPES:
                # msgspec reads the tag from the first "type" key and rejects a second one.
                reason = "the \"type\" field appears more than once"
            elif invalid:
                reason = (
                    f"unknown event type {invalid.group('value')}; "
                    f"expected one of {_names(allowed)}"
                )
            else:
                reason = f"event type must be a string naming one of {_names(allowed)}"
            return self._error(reason, number, path)
        if invalid:
            reason = f"invalid value {invalid.group('value')}"
            allowed_values = self._literal_values(line, path)
            if allowed_values:
                reason += f"; expected one of {', '.join(allowed_values)}"
            return self._error(reason, number, path or None)
        if msg.startswith("Expected `object`") and not path:
            got = msg.partition(", got ")[2].strip("`") or "something else"
            return self._error(
                f"expected a JSON object (one event per line), got {got}", number
            )
        if msg.startswith(("Expected ", "Invalid ", "Object ")):
            return self._error(_clean(msg), number, path or None)
        # A rule from an event's __post_init__: no path of its own beyond the event object.
        cls = self._class_at(line, path)
        if cls is None:
            return self._error(msg, number, path or None)
        return self._error(msg, number, _join(path, _field_in(msg, cls)))

    def _literal_values(self, line: bytes, path: str) -> tuple[str, ...]:
        parent, _, name = path.rpartition(".")
        cls = self._class_at(line, parent)
        if cls is None:
            return ()
        hint = self._fields[cls.__name__].get(name)
        if get_origin(hint) is Literal:
            return tuple(str(v) for v in get_args(hint))
        return ()


#: A JSON key written with blanks before its colon (``"a" : 1``): such a line takes the exact
#: check, since the fast count below counts ``":`` only.
_SPACED_KEY = re.compile(rb'"[ \t\r\n]+:')
#: Bytes that may produce a control character in a decoded JSON string: an escape, DEL, or the
#: UTF-8 lead byte of U+0080..U+009F (raw characters below U+0020 are malformed JSON already).
_MAY_HOLD_CONTROL = re.compile(rb"[\\\x7f\xc2]")
#: Control characters refused in text (Unicode category Cc), tab excepted.
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f-\x9f]")


_UNTYPED: msgspec.json.Decoder[Any] = msgspec.json.Decoder()


class _Repeated(Exception):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _refuse_repeats(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _Repeated(key)
        out[key] = value
    return out


def _keys_in(value: Any) -> int:
    """How many keys the objects in a decoded JSON value hold, nested ones included."""
    count = 0
    items = value.values() if type(value) is dict else value
    if type(value) is dict:
        count = len(value)
    for item in items:
        if type(item) is dict or type(item) is list:
            count += _keys_in(item)
    return count


def _repeated_key(line: bytes) -> str | None:
    """The first key given twice in one JSON object of ``line`` (msgspec keeps the last).

    Fast path: every key is written ``"key":`` (a ``":`` inside a string value only adds to
    the count), so when the text holds as many ``":`` as msgspec decoded keys, none was dropped
    and none repeats. Otherwise (or with blanks before a colon) json's decoder with a pairs
    hook decides.
    """
    decoded = _UNTYPED.decode(line)
    # One "{" in the text: a flat object, whose keys are simply its length.
    keys = len(decoded) if line.count(b"{") == 1 else _keys_in(decoded)
    if line.count(b'":') == keys and not _SPACED_KEY.search(line):
        return None
    try:
        json.loads(line, object_pairs_hook=_refuse_repeats)
    except _Repeated as e:
        return e.key
    except (ValueError, RecursionError):
        return None  # msgspec accepted it; json's stricter limits are no reason to refuse
    return None


def _control_character(value: Any, path: str = "") -> tuple[str, str] | None:
    """(field path, character) of the first control character in a decoded value's text."""
    if isinstance(value, str):
        found = _CONTROL.search(value)
        return (path, found.group()) if found else None
    if isinstance(value, dict):
        items: Iterable[tuple[str, Any]] = ((f"{path}.{k}" if path else str(k), v)
                                            for k, v in value.items())
    elif isinstance(value, list | tuple):
        items = ((f"{path}[{i}]", v) for i, v in enumerate(value))
    else:
        return None
    for where, item in items:
        hit = _control_character(item, where)
        if hit is not None:
            return hit
    return None


def _names(names: Iterable[str]) -> str:
    return ", ".join(names)


def _correctable_names() -> list[str]:
    return [cls.__name__ for cls in get_args(CorrectableEvent)]


def _clean(msg: str) -> str:
    msg = msg.replace("`", "")
    if msg.startswith("Invalid RFC3339 encoded date"):
        return "invalid date; expected YYYY-MM-DD"
    return msg[:1].lower() + msg[1:]


def _field_in(message: str, cls: type[Event]) -> str | None:
    """The first field of ``cls`` a rule's message names (``"send_participants (30) ..."``)."""
    names = {f.name for f in msgspec.structs.fields(cls)}
    for m in _IDENT.finditer(message):
        if m.group().split(".", 1)[0] in names:
            return m.group()
    return None


def _parse_jsonl(
    stream: IO[bytes], name: str, partnership_id: str | None, ticker: _Ticker
) -> Iterator[tuple[int, DomainEvent]]:
    parser = _JsonlParser(name, partnership_id)
    number = 0
    for number, line in _read_lines(stream.readline, name):
        event = parser.parse(number, line)
        if event is not None:
            yield number, event
        ticker.tick(number)
    ticker.finish(number)


def iter_jsonl(
    stream: IO[bytes], *, name: str = "", partnership_id: str | None = None
) -> Iterator[tuple[int, DomainEvent]]:
    """``(line number, event)`` for each event of a JSONL stream, read one line at a time.

    Memory stays bounded whatever the input's size; a bad line raises
    :class:`~ssp_ledger.errors.InputError` when it is reached (events before it have already
    been yielded). :func:`read_jsonl` describes the format and the checks.
    """
    return _parse_jsonl(stream, name, partnership_id, _Ticker(None, None))


def read_jsonl(
    source: Path | IO[bytes], *, name: str = "", partnership_id: str | None = None
) -> list[DomainEvent]:
    """Parse a JSONL file of events (one msgspec-encoded event per line; blank lines skipped).

    ``name`` labels the source in error messages (default: the path). When ``partnership_id`` is
    given, every event must belong to it. Raises :class:`~ssp_ledger.errors.InputError` at the
    first problem, naming the 1-based line and the field path (``"replacement.participants"``,
    ``"school_ids[1]"``); nothing is returned partially.
    """
    name = name or (str(source) if isinstance(source, Path) else "")
    with _open_binary(source, name) as stream:
        return [event for _, event in iter_jsonl(stream, name=name,
                                                 partnership_id=partnership_id)]


# --------------------------------------------------------------------------- CSV


def _int_cell(value: Any) -> Any:
    if isinstance(value, str):
        if not _INT_CELL.fullmatch(value):
            raise PydanticCustomError(
                "int_cell", "must be a whole number, e.g. 12; got {value}", {"value": repr(value)}
            )
        return int(value)
    return value


def _date_cell(value: Any) -> Any:
    if isinstance(value, str):
        try:
            if not _DATE_CELL.fullmatch(value):
                raise ValueError(value)
            return dt.date.fromisoformat(value)
        except ValueError:
            raise PydanticCustomError(
                "date_cell", "must be a date as YYYY-MM-DD; got {value}", {"value": repr(value)}
            ) from None
    return value


_Count = Annotated[int, pydantic.BeforeValidator(_int_cell), pydantic.Field(ge=0)]
_Date = Annotated[dt.date, pydantic.BeforeValidator(_date_cell)]
_Text = Annotated[str, pydantic.Field(min_length=1)]


def _cell_type(hint: Any) -> Any:
    """The pydantic type of a CSV cell for a ClubRun field of type ``hint``."""
    if hint is int:
        return _Count
    if hint is dt.date:
        return _Date
    if hint is str:
        return _Text
    return hint  # str | None, a Literal: as declared


#: One CSV row of a club session, as text cells (stripped; empty optional cells dropped):
#: derived from :class:`~ssp_ledger.events.ClubRun`'s fields, so a field added to the event is
#: a column here too.
_CLUB_CELLS: dict[str, Any] = {
    f.name: (_cell_type(f.type), ... if f.required else f.default)
    for f in msgspec.structs.fields(ClubRun)
}
_ClubRow: type[pydantic.BaseModel] = pydantic.create_model(
    "_ClubRow", __config__=pydantic.ConfigDict(extra="forbid", frozen=True), **_CLUB_CELLS)


def _text_lines(stream: IO[str] | IO[bytes], name: str) -> Iterator[str]:
    """Lines of a byte or text stream as text, each decoded (and checked) on its own."""
    first = stream.readline(MAX_LINE_BYTES + 2)
    if isinstance(first, str):
        text = cast(IO[str], stream)
        number = 0
        line = first
        while line:
            number += 1
            if len(line.rstrip("\r\n")) > MAX_LINE_BYTES:
                reason = f"line is longer than the limit of {MAX_LINE_BYTES} characters"
                raise InputError(reason, source=name, line=number)
            yield line.removeprefix("\ufeff") if number == 1 else line
            line = text.readline(MAX_LINE_BYTES + 2)
        return

    binary = cast(IO[bytes], stream)
    pending = [first]

    def readline(limit: int) -> bytes:
        return pending.pop() if pending else binary.readline(limit)

    for number, raw in _read_lines(readline, name):
        yield _utf8(raw, number, name)


def _check_header(header: Sequence[str], name: str, partnership_id: str | None) -> list[str]:
    columns = [c.strip().lower() for c in header]
    allowed = set(CLUB_CSV_COLUMNS)
    seen: set[str] = set()
    for i, column in enumerate(columns, 1):
        if not column:
            raise InputError(f"column {i} of the header has no name", source=name, line=1)
        if column in seen:
            raise InputError(f"column {column!r} appears twice in the header", source=name,
                             line=1, field=column)
        seen.add(column)
    unknown = [c for c in columns if c not in allowed]
    optional = _CSV_OPTIONAL | ({"partnership_id"} if partnership_id is not None else set())
    missing = [c for c in CLUB_CSV_COLUMNS if c not in seen and c not in optional]
    if unknown or missing:
        parts = []
        if missing:
            hint = " (or give the partnership id)" if "partnership_id" in missing else ""
            parts.append(f"missing column(s): {', '.join(missing)}{hint}")
        if unknown:
            parts.append(f"unknown column(s): {', '.join(repr(c) for c in unknown)}")
        parts.append(f"the first line must be a header naming columns among: "
                     f"{', '.join(CLUB_CSV_COLUMNS)}")
        raise InputError("; ".join(parts), source=name, line=1, field=(missing or unknown)[0])
    return columns


def _pydantic_error(e: pydantic.ValidationError, number: int, name: str) -> InputError:
    err = e.errors(include_url=False)[0]
    field = ".".join(str(p) for p in err["loc"]) or None
    reason = err["msg"]
    if err["type"] not in ("int_cell", "date_cell"):
        reason += f"; got {err.get('input')!r}"
    others = e.error_count() - 1
    if others:
        reason += f" (and {others} more problem{'s' if others > 1 else ''} in this row)"
    return InputError(reason, source=name, line=number, field=field)


def _parse_club_csv(
    stream: IO[str] | IO[bytes], name: str, partnership_id: str | None, ticker: _Ticker
) -> Iterator[tuple[int, ClubRun]]:
    reader = csv.reader(_text_lines(stream, name), strict=True)
    try:
        header = next(reader, None)
        if header is None:
            raise InputError("empty file: a header row is required", source=name, line=1)
        columns = _check_header(header, name, partnership_id)
        while True:
            number = reader.line_num + 1
            cells = next(reader, None)
            if cells is None:
                break
            ticker.tick(reader.line_num)
            if not cells or all(not c.strip() for c in cells):
                continue
            if len(cells) != len(columns):
                raise InputError(
                    f"row has {len(cells)} cells but the header has {len(columns)}",
                    source=name, line=number,
                )
            row = _row_values(columns, cells, partnership_id, name, number)
            try:
                valid = _ClubRow.model_validate(row)
            except pydantic.ValidationError as e:
                raise _pydantic_error(e, number, name) from None
            try:
                event = ClubRun(**valid.model_dump())
            except ValueError as e:
                raise InputError(str(e), source=name, line=number,
                                 field=_field_in(str(e), ClubRun)) from None
            yield number, event
    except csv.Error as e:
        raise InputError(f"malformed CSV: {e}", source=name, line=reader.line_num) from None
    ticker.finish(reader.line_num)


def iter_club_csv(
    stream: IO[str] | IO[bytes], *, name: str = "", partnership_id: str | None = None
) -> Iterator[tuple[int, ClubRun]]:
    """``(line number, event)`` for each row of a club CSV stream, read one line at a time.

    The streaming form of :func:`read_club_csv` (which describes the columns and checks).
    """
    return _parse_club_csv(stream, name, partnership_id, _Ticker(None, None))


def _row_values(columns: Sequence[str], cells: Sequence[str], partnership_id: str | None,
                name: str, number: int) -> dict[str, str]:
    row: dict[str, str] = {}
    for column, cell in zip(columns, cells, strict=True):
        value = cell.strip()
        found = _CONTROL.search(value)
        if found:
            raise InputError(f"control character {found.group()!r} in the cell (only tab is "
                             "allowed)", source=name, line=number, field=column)
        if value or column not in _CSV_OPTIONAL:
            row[column] = value
    if partnership_id is not None:
        given = row.get("partnership_id", "")
        if given and given != partnership_id:
            raise InputError(
                f"partnership_id {given!r} differs from the partnership being imported "
                f"({partnership_id!r})",
                source=name, line=number, field="partnership_id",
            )
        row["partnership_id"] = partnership_id
    return row


def read_club_csv(
    source: Path | IO[str] | IO[bytes],
    *,
    name: str = "",
    partnership_id: str | None = None,
) -> list[ClubRun]:
    """Parse a CSV file of club sessions into :class:`~ssp_ledger.events.ClubRun` events.

    A header row is required (column names are matched ignoring case and surrounding spaces);
    columns: ``partnership_id`` (optional when ``partnership_id`` is given; a non-empty cell must
    then equal it), ``occurred_on`` (YYYY-MM-DD), ``event_id``, ``club_id``, ``school_id``,
    ``activity``, ``participants`` and the optional ``send_participants`` (default 0),
    ``staff_minutes`` (0), ``staff_id`` (empty: unknown) and ``setting`` (``after_school``).
    Counts must be written as whole numbers. Bytes must be UTF-8 (a BOM is allowed).

    Raises :class:`~ssp_ledger.errors.InputError` at the first problem with the line (the header is
    line 1) and the column; nothing is returned partially.
    """
    name = name or (str(source) if isinstance(source, Path) else "")
    if isinstance(source, Path):
        with _open_binary(source, name) as stream:
            return [event for _, event in iter_club_csv(stream, name=name,
                                                        partnership_id=partnership_id)]
    return [event for _, event in iter_club_csv(source, name=name,
                                                partnership_id=partnership_id)]


# --------------------------------------------------------------------------- export


def export_jsonl(records_or_events: Iterable[Recorded | Event], out: IO[bytes] | Path) -> int:
    """Write events as JSONL (one msgspec-encoded event per line); return how many.

    Accepts domain events or stored :class:`~ssp_ledger.store.Recorded` envelopes (their
    ``.event`` is written). The bytes are deterministic: fields in declaration order, the ``type``
    tag first. A path is written as :func:`ssp_ledger.outfile.open_output` describes: a regular
    file is replaced only when complete (with the permissions ``open()`` would give), a device
    or FIFO is written through.
    """
    if isinstance(out, Path):
        with open_output(out) as f:
            return _write_jsonl(records_or_events, f)
    return _write_jsonl(records_or_events, out)


def _write_jsonl(items: Iterable[Recorded | Event], out: IO[bytes]) -> int:
    encoder = msgspec.json.Encoder(order="deterministic")
    count = 0
    chunk: list[Event] = []
    for item in items:
        event = item.event if isinstance(item, Recorded) else item
        if not isinstance(event, Event):
            msg = f"cannot export a {type(event).__name__}: not an event"
            raise TypeError(msg)
        chunk.append(event)
        if len(chunk) >= _WRITE_CHUNK:
            out.write(encoder.encode_lines(chunk))
            count += len(chunk)
            chunk.clear()
    if chunk:
        out.write(encoder.encode_lines(chunk))
        count += len(chunk)
    return count


def export_file(ledger: Ledger, out: Path | IO[bytes], *, partnership_id: str | None = None) -> int:
    """Write every recorded event (or one partnership's) as JSONL in log order; return the count.

    Importing the result into an empty ledger with :func:`import_file` reproduces the events.
    """
    return export_jsonl(ledger.events(partnership_id), out)


# --------------------------------------------------------------------------- import


#: Name of standard input in ``import_file`` (and in messages: ``<stdin>``).
STDIN = "-"
#: Events whose line numbers are remembered while importing, to point a rule violation at its
#: line (bounded, so an import of any size runs in bounded memory). The event a violation names
#: is always the one just read, so this only limits how far back "first given on line N" (a
#: repeated id with other content) can point.
_LINE_WINDOW = 10_000


def _detect(name: str, fmt: str, sniff: Callable[[], bytes] | None) -> Literal["jsonl", "csv"]:
    if fmt == "jsonl":
        return "jsonl"
    if fmt == "csv":
        return "csv"
    if fmt != "auto":
        raise InputError(f"unknown format {fmt!r}; expected auto, jsonl or csv", source=name)
    suffix = Path(name).suffix.lower() if name != "<stdin>" else ""
    if suffix in (".jsonl", ".ndjson", ".json"):
        return "jsonl"
    if suffix == ".csv":
        return "csv"
    if sniff is not None:
        # A stream (standard input, a pipe, a process substitution) has no telling name: a
        # JSONL file starts with an object, a club CSV with its header.
        head = sniff().removeprefix(_BOM).lstrip()
        return "jsonl" if head.startswith(b"{") or not head else "csv"
    raise InputError(
        f"cannot tell the format from the suffix {suffix or '(none)'!r}; use .jsonl, .ndjson, "
        ".json or .csv, or give the format (jsonl or csv)",
        source=name,
    )


class _Lines:
    """Remembers the line of each event recently read, to name it in a rule violation.

    An entry is small (the line, the class and a 16-byte digest of the content, not the event),
    so the window costs a few tens of megabytes at most, whatever the input's size.
    """

    def __init__(self) -> None:
        # "partnership_id NUL event_id" -> [first line, class, digest, line of a differing repeat]
        self._seen: OrderedDict[str, list[Any]] = OrderedDict()

    def track(self, numbered: Iterable[tuple[int, DomainEvent]]) -> Iterator[DomainEvent]:
        seen = self._seen
        for number, event in numbered:
            key = f"{event.partnership_id}\x00{event.event_id}"
            entry = seen.get(key)
            if entry is None:
                seen[key] = [number, type(event), fingerprint(event), None]
                if len(seen) > _LINE_WINDOW:
                    seen.popitem(last=False)
            elif entry[3] is None and fingerprint(event) != entry[2]:
                entry[3] = number
            yield event

    def of(self, e: DomainRuleViolation) -> tuple[int | None, str, type[Event] | None]:
        """Line of the event a violation names, a note on an earlier line, and its class."""
        entry = self._seen.get(f"{e.partnership_id}\x00{e.event_id}")
        if entry is None:
            return None, "", None
        first, cls, _, repeat = entry
        if isinstance(e, DuplicateEventId) and repeat is not None:
            return repeat, f" (first given on line {first})", cls
        return first, "", cls


def _violation(e: DomainRuleViolation, lines: _Lines, name: str,
               stored_before: int) -> InputError:
    line, note, cls = lines.of(e)
    reason = f"event {e.event_id!r}: {e.reason}{note}"
    if stored_before:
        reason += (
            f" ({stored_before} events of earlier batches were stored; importing the fixed file "
            "again skips them)"
        )
    field = _field_in(e.reason, cls) if cls is not None else None
    return InputError(reason, source=name, line=line, field=field)


def _record(ledger: Ledger, events: Iterator[DomainEvent], lines: _Lines, name: str,
            batch_size: int | None) -> BatchResult:
    recorded = duplicates = 0
    recorded_at: dt.datetime | None = None
    position = ledger.position
    batches: Iterable[Iterable[DomainEvent]] = (
        [events] if batch_size is None
        else iter(lambda: list(itertools.islice(events, batch_size)), []))
    for batch in batches:
        try:
            result = ledger.record_many(batch)
        except DomainRuleViolation as e:
            raise _violation(e, lines, name, recorded) from e
        recorded += result.recorded
        duplicates += result.duplicates
        recorded_at = result.recorded_at or recorded_at
        position = result.position
    return BatchResult(recorded=recorded, duplicates=duplicates, position=position,
                       recorded_at=recorded_at)


def import_file(
    ledger: Ledger,
    path: Path | str,
    *,
    format: Literal["auto", "jsonl", "csv"] = "auto",
    partnership_id: str | None = None,
    batch_size: int | None = None,
    progress: Progress | None = None,
    stdin: IO[bytes] | None = None,
) -> BatchResult:
    """Import a JSONL or CSV file of events into ``ledger``; return what was stored.

    ``path`` is a file, or anything that reads like one: ``-`` for standard input (``stdin``,
    default ``sys.stdin.buffer``), ``/dev/stdin``, a FIFO, a process substitution. The input is
    read one line at a time and handed to one
    :meth:`~ssp_ledger.application.Ledger.record_many` call as it is parsed, so memory stays
    bounded; a bad line raises from inside that call, which then stores nothing. Events already
    recorded with identical content are skipped, so importing a file twice is harmless.

    ``format="auto"`` picks by suffix (``.jsonl``/``.ndjson``/``.json`` or ``.csv``); input
    without one that is not a regular file (standard input, a pipe) is recognised by its first
    bytes (an object: JSONL, else CSV). ``partnership_id``: the partnership every event must
    belong to (for CSV it also fills a missing ``partnership_id`` column).
    ``progress(done, total)`` is called with line counts while reading; ``total`` is the
    regular file's line count, or None for a stream (its size is not known in advance).

    ``batch_size`` (default None: one transaction) splits the writing into transactions of at
    most that many events, for stores that cannot hold one; a bad line or a rule violation
    then leaves the earlier batches stored (the error says so for a violation), and importing
    the fixed file again skips them.

    Raises :class:`~ssp_ledger.errors.InputError` for malformed input and for a domain-rule
    violation (line of the offending event, the original
    :class:`~ssp_ledger.errors.DomainRuleViolation` as ``__cause__``).
    """
    if batch_size is not None and batch_size < 1:
        msg = f"batch_size must be at least 1; got {batch_size}"
        raise ValueError(msg)
    with _open_input(path, stdin) as (name, stream, regular):
        sniff = None if regular else (lambda: stream.peek(MAX_LINE_BYTES)[:MAX_LINE_BYTES])
        kind = _detect(name, format, sniff)
        total: int | None = None
        if progress is not None and regular:
            try:
                total = _count_lines(Path(name))
            except OSError as e:
                raise InputError(f"cannot read file: {e.strerror or e}", source=name) from e
        ticker = _Ticker(progress, total)
        numbered: Iterator[tuple[int, DomainEvent]]
        if kind == "jsonl":
            numbered = _parse_jsonl(stream, name, partnership_id, ticker)
        else:
            numbered = _parse_club_csv(stream, name, partnership_id, ticker)
        lines = _Lines()
        return _record(ledger, lines.track(numbered), lines, name, batch_size)


@contextlib.contextmanager
def _open_input(path: Path | str, stdin: IO[bytes] | None
                ) -> Iterator[tuple[str, io.BufferedReader, bool]]:
    """(name for messages, buffered binary stream, whether it is a regular file)."""
    if str(path) == STDIN:
        raw = stdin if stdin is not None else sys.stdin.buffer
        stream = raw if isinstance(raw, io.BufferedReader) else io.BufferedReader(
            cast(io.RawIOBase, raw))
        yield "<stdin>", stream, False
        return
    name = str(path)
    try:
        f = open(Path(path), "rb")  # noqa: SIM115 - closed below
    except OSError as e:
        raise InputError(f"cannot open file: {e.strerror or e}", source=name) from e
    with f:
        try:
            regular = stat.S_ISREG(os.fstat(f.fileno()).st_mode)
        except OSError:
            regular = False
        yield name, f, regular
