"""Audit: the hash chain, a ledger digest an auditor can write down, verification, explanation
and restatement.

Every stored record carries the SHA-256 of its predecessor in the same partnership stream
(:func:`ssp_ledger.persistence.record_hash`), so changing the bytes of a record, renumbering or
deleting one breaks the chain at the next record. The *digest* folds every record's hash in log
order, ``h_n = SHA-256(h_{n-1} || hash_n)``, so an auditor who wrote down ``(position, head)``
can later prove the log up to that position is exactly what it was, including its last record
and its order across partnerships; records after that position are the log's growth since.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Literal

from eventsourcing.persistence import Notification

from ssp_ledger.application import READ_BATCH, Ledger
from ssp_ledger.events import EventCorrected, EventRetracted
from ssp_ledger.periods import parse_period
from ssp_ledger.persistence import (
    GENESIS,
    LedgerApplication,
    LedgerSQLiteRecorder,
    record_hash,
    stream_id,
)
from ssp_ledger.projection import Cell, Explainable, Query, Table

__all__ = [
    "Contribution",
    "Digest",
    "Problem",
    "Restatement",
    "VerifyReport",
    "digest",
    "explain",
    "restatement",
    "verify",
]

ProblemKind = Literal[
    "undecodable", "changed", "missing", "reordered", "wrong-stream", "truncated",
    "digest-mismatch",
]


@dataclass(frozen=True, order=True)
class Digest:
    """What an auditor writes down: the log position and the folded hash up to it."""

    position: int
    """Notification id of the last record covered."""
    head: str
    """Hex SHA-256 folded over every record hash up to ``position``."""

    def __str__(self) -> str:
        return f"{self.position}:{self.head}"

    @classmethod
    def parse(cls, text: str) -> Digest:
        """Parse ``POSITION:HEXHASH`` as printed by :func:`digest`."""
        position, sep, head = text.strip().partition(":")
        if not sep or not position.isdigit() or len(head) != 64:
            msg = f"digest {text!r} is not POSITION:SHA256HEX (as printed by 'ssp-ledger digest')"
            raise ValueError(msg)
        try:
            bytes.fromhex(head)
        except ValueError:
            msg = f"digest {text!r}: head is not hexadecimal"
            raise ValueError(msg) from None
        return cls(int(position), head.lower())


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the store."""

    kind: ProblemKind
    """undecodable, changed, missing, reordered, wrong-stream, truncated or digest-mismatch."""
    position: int
    """Notification id where it was found (0 when it concerns the whole log)."""
    detail: str
    """What is wrong, naming the event."""

    def __str__(self) -> str:
        return f"position {self.position}: {self.kind}: {self.detail}"


@dataclass(frozen=True)
class VerifyReport:
    """Outcome of :func:`verify`."""

    checked: int
    """Records read."""
    digest: Digest
    """Digest of the whole log as it is now."""
    problems: tuple[Problem, ...] = ()
    """Problems found, in log order (the first is where to look)."""

    @property
    def ok(self) -> bool:
        """True when nothing is wrong."""
        return not self.problems


def _rows(app: LedgerApplication) -> Iterator[Notification]:
    recorder = app.recorder
    start = 1
    if isinstance(recorder, LedgerSQLiteRecorder):
        # plain rows, one UUID per stream (eventsourcing parses one per row)
        stream_uuid = app.msgspec_mapper.stream_uuid
        while True:
            raw = recorder.select_rows(start, READ_BATCH)
            if not raw:
                return
            for rowid, oid, version, topic, state in raw:
                yield Notification(id=rowid, originator_id=stream_uuid(oid),
                                   originator_version=version, topic=topic, state=state)
            start = raw[-1][0] + 1
    while True:
        rows = recorder.select_notifications(start, READ_BATCH)
        if not rows:
            return
        yield from rows
        start = rows[-1].id + 1


@dataclass
class _StreamState:
    version: int = 0
    hash: bytes = GENESIS
    event_id: str = ""
    position: int = 0


def verify(ledger: Ledger, expected: Digest | None = None) -> VerifyReport:
    """Check the whole store: every record decodes, each stream's chain is unbroken and
    contiguous, and (given ``expected``) the log up to its position folds to its head."""
    app = ledger._app
    mapper = app.msgspec_mapper
    streams: dict[object, _StreamState] = {}  # by originator id as the recorder gives it
    problems: list[Problem] = []
    fold = GENESIS
    checked = 0
    last_position = 0
    at_expected: Digest | None = None
    for row in _rows(app):
        checked += 1
        last_position = row.id
        plain = mapper.plaintext(row)
        h = record_hash(row, plain)
        fold = hashlib.sha256(fold + h).digest()
        if expected is not None and row.id == expected.position:
            at_expected = Digest(row.id, fold.hex())
        state = streams.get(row.originator_id)
        if state is None:
            state = streams[row.originator_id] = _StreamState()
        key = row.originator_id
        where = f"stream {key} version {row.originator_version}"
        try:
            rec = mapper.decode(row, plain)
        except ValueError as e:
            problems.append(Problem("undecodable", row.id, f"{where}: changed bytes ({e})"))
            state.version, state.hash, state.position = row.originator_version, h, row.id
            state.event_id = f"<undecodable at {row.id}>"
            continue
        name = f"event {rec.event.event_id!r} ({type(rec.event).__name__}, {where})"
        if stream_id(rec.event.partnership_id) != row.originator_id:
            problems.append(Problem(
                "wrong-stream", row.id,
                f"{name} belongs to partnership {rec.event.partnership_id!r}, not this stream"))
        if row.originator_version <= state.version:
            problems.append(Problem(
                "reordered", row.id,
                f"{name} comes after version {state.version} in the log"))
        elif row.originator_version > state.version + 1:
            problems.append(Problem(
                "missing", row.id,
                f"{name}: versions {state.version + 1}..{row.originator_version - 1} are missing"))
        elif rec.prev_hash != state.hash:
            if state.event_id:
                problems.append(Problem(
                    "changed", state.position,
                    f"event {state.event_id!r} (version {state.version} of stream {key}) no "
                    f"longer matches the hash recorded by its successor {name}: its bytes were "
                    "changed (or the successor's)"))
            else:
                problems.append(Problem(
                    "changed", row.id, f"{name} should start its stream but does not chain to it"))
        state.version, state.hash, state.event_id, state.position = (
            row.originator_version, h, rec.event.event_id, row.id)
    now = Digest(last_position, fold.hex())
    if expected is not None:
        if last_position < expected.position:
            problems.append(Problem(
                "truncated", last_position,
                f"the log ends at position {last_position} but the digest covers "
                f"{expected.position}: records were removed from the tail"))
        elif at_expected is None or at_expected.head != expected.head:
            problems.append(Problem(
                "digest-mismatch", expected.position,
                f"the log up to position {expected.position} does not match the digest "
                f"{expected}: records up to there were changed, removed or reordered"))
    return VerifyReport(checked, now, tuple(problems))


def digest(ledger: Ledger) -> Digest:
    """The current digest of the whole log."""
    return verify(ledger).digest


# --------------------------------------------------------------------------- explain


@dataclass(frozen=True)
class Contribution:
    """One fact behind a figure and what it added."""

    position: int
    """Notification id of the record holding the fact's content in force."""
    event_id: str
    """The fact's id."""
    event_type: str
    """Its class name."""
    occurred_on: dt.date
    """Valid date."""
    recorded_at: dt.datetime
    """When the content in force was recorded."""
    values: dict[str, int]
    """What it added to each measure."""


def explain(ledger: Ledger, projection: str, *, as_of: dt.date,
            known_at: dt.datetime | None = None, by: str | None = None, group: str = "total",
            period: str | None = None, partnership_id: str | None = None,
            **params: int | str) -> tuple[Table, list[Contribution]]:
    """The figure row ``group`` of a report and the facts behind it, in valid-date order.

    Works for every projection implementing :class:`~ssp_ledger.projection.Explainable` (all the
    standard ones, and user projections built on
    :class:`~ssp_ledger.projection.AdditiveProjection`). ``group`` is a row label of the report
    (``"total"`` by default).
    """
    table = ledger.report(projection, as_of=as_of, known_at=known_at, by=by, period=period,
                          partnership_id=partnership_id, **params)
    if group not in {row[0] for row in table.rows}:
        msg = f"{projection}: no row {group!r} in the report (rows: {_labels(table)})"
        raise ValueError(msg)
    view = ledger._projections(known_at)
    proj = view[projection]
    if not isinstance(proj, Explainable):
        msg = f"projection {projection!r} cannot explain its figures (no explain_fact method)"
        raise ValueError(msg)
    query = Query(as_of=as_of, known_at=known_at, by=by,
                  period=parse_period(period) if period else None, partnership_id=partnership_id,
                  params=params)
    out: list[Contribution] = []
    for (pid, _), position in sorted(view.contributing(), key=lambda item: item[1]):  # log order
        if partnership_id is not None and pid != partnership_id:
            continue
        fact = view.fact_at(position)
        values = proj.explain_fact(query, group, fact)
        if values is None:
            continue
        event = fact.event
        out.append(Contribution(position, event.event_id, type(event).__name__,
                                event.occurred_on, fact.recorded_at, dict(values)))
    out.sort(key=lambda c: (c.occurred_on, c.position))
    return table, out


def _labels(table: Table) -> str:
    labels = [str(row[0]) for row in table.rows]
    return ", ".join(labels[:12]) + (" ..." if len(labels) > 12 else "")


# --------------------------------------------------------------------------- restatement


@dataclass(frozen=True)
class Restatement:
    """One report at two recorded times, the changed rows and the records that explain them."""

    before: Table
    """The report as known at the first time."""
    after: Table
    """The report as known at the second time."""
    changed: tuple[tuple[Cell, ...], ...]
    """Rows (group, before values..., after values...) whose figures differ."""
    events: tuple[tuple[int, dt.datetime, str, str, str], ...] = field(default_factory=tuple)
    """Records stored between the two times that bear on the window:
    (position, recorded_at, type, event_id, target or '')."""


def restatement(ledger: Ledger, projection: str, *, as_of: dt.date,
                before: dt.datetime, after: dt.datetime, by: str | None = None,
                period: str | None = None, partnership_id: str | None = None) -> Restatement:
    """Compare one report as known at ``before`` and at ``after``."""
    t1 = ledger.report(projection, as_of=as_of, known_at=before, by=by, period=period,
                       partnership_id=partnership_id)
    t2 = ledger.report(projection, as_of=as_of, known_at=after, by=by, period=period,
                       partnership_id=partnership_id)
    first = {row[0]: row[1:] for row in t1.rows}
    second = {row[0]: row[1:] for row in t2.rows}
    changed: list[tuple[Cell, ...]] = []
    for group in sorted(set(first) | set(second), key=str):
        a = first.get(group, (None,) * (len(t1.columns) - 1))
        b = second.get(group, (None,) * (len(t2.columns) - 1))
        if a != b:
            changed.append((group, *a, *b))
    events: list[tuple[int, dt.datetime, str, str, str]] = []
    start = parse_period(period).start if period else None
    for position, rec in ledger.read():
        if not before < rec.recorded_at <= after:
            continue
        event = rec.event
        if partnership_id is not None and event.partnership_id != partnership_id:
            continue
        day = event.replacement.occurred_on if isinstance(event, EventCorrected) else (
            event.occurred_on)
        if not isinstance(event, EventRetracted) and (
                day > as_of or (start is not None and day < start)):
            continue
        target = event.target_event_id if isinstance(event, EventCorrected | EventRetracted) else ""
        events.append((position, rec.recorded_at, type(event).__name__, event.event_id, target))
    return Restatement(t1, t2, tuple(changed), tuple(events))
