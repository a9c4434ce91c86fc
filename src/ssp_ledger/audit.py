"""Audit: the hash chain, a ledger digest an auditor can write down, verification, explanation
and restatement.

Every stored record carries the SHA-256 of its predecessor in the same partnership stream
(:func:`ssp_ledger.store.record_hash`), so changing the bytes of a record, renumbering or
deleting one breaks the chain at the next record. The *digest* folds every record's hash in log
order, ``h_n = SHA-256(h_{n-1} || hash_n)``, so an auditor who wrote down ``(position, head)``
can later prove the log up to that position is exactly what it was, including its last record
and its order across partnerships; records after that position are the log's growth since.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Literal

from ssp_ledger.application import PROGRESS_EVERY, Ledger
from ssp_ledger.errors import DamagedRecord, StoreError
from ssp_ledger.events import EventCorrected, EventRetracted
from ssp_ledger.periods import parse_period
from ssp_ledger.projection import (
    Cell,
    Explainable,
    Fact,
    ProjectionSet,
    Query,
    Table,
    projection_fingerprint,
)
from ssp_ledger.projection.checkpoint import decode_set, read_header, read_part
from ssp_ledger.store import GENESIS, Binding, Checkpoint, EventLog, OpenCheckpoint, stream_id
from ssp_ledger.store.mapper import describe_row

__all__ = [
    "ChangeRecord",
    "CheckpointCheck",
    "Contribution",
    "FigureChange",
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
    "digest-mismatch", "checkpoint",
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
    """undecodable, changed, missing, reordered, wrong-stream, truncated, digest-mismatch or
    checkpoint."""
    position: int
    """Notification id where it was found (0 when it concerns the whole log)."""
    detail: str
    """What is wrong, naming the event."""

    def __str__(self) -> str:
        return f"position {self.position}: {self.kind}: {self.detail}"


@dataclass(frozen=True)
class CheckpointCheck:
    """What :func:`verify` found of one saved checkpoint."""

    name: str
    position: int
    status: Literal["verified", "ignored", "mismatch"]
    """``verified``: rebuilt from the log, same state; ``ignored``: made by other code or in an
    older format, so no report uses it; ``mismatch``: it would mislead (a problem)."""
    detail: str

    def __str__(self) -> str:
        return f"checkpoint {self.name!r} at position {self.position}: {self.status}: {self.detail}"


@dataclass(frozen=True)
class VerifyReport:
    """Outcome of :func:`verify`."""

    checked: int
    """Records read."""
    digest: Digest
    """Digest of the whole log as it is now."""
    problems: tuple[Problem, ...] = ()
    """Problems found, in log order (the first is where to look)."""
    checkpoints: tuple[CheckpointCheck, ...] = ()
    """Each saved checkpoint and what was found of it."""

    @property
    def ok(self) -> bool:
        """True when nothing is wrong."""
        return not self.problems


@dataclass
class _Stream:
    version: int = 0
    hash: bytes | None = GENESIS
    """Hash of the last record (None: it could not be read, so its successor is unchecked)."""
    event_id: str = ""
    kind: str = ""
    position: int = 0
    suspect: tuple[int, str, str, int] | None = None
    """(position, name, predecessor's name, predecessor's position) of a record that did not
    chain to its predecessor, until its successor shows which of the two was altered."""


def _name(event_id: str, kind: str, version: int, stream: str) -> str:
    return f"event {event_id!r} ({kind}, stream {uuid.UUID(stream)} version {version})"


@dataclass
class _Rebuild:
    checkpoint: Checkpoint
    binding: Binding
    projections: ProjectionSet
    heads: dict[str, tuple[int, bytes]] | None = None
    done: bool = False


def verify(ledger: Ledger, expected: Digest | None = None, *,
           checkpoints: bool = True,
           progress: Callable[[int, int], None] | None = None) -> VerifyReport:
    """Check the whole store: every record decodes, each stream's chain is unbroken and
    contiguous, (given ``expected``) the log up to its position folds to its head, and (unless
    ``checkpoints`` is false) every saved checkpoint is rebuilt from the log and compared.

    Never raises on a damaged store: each damaged row is a :class:`Problem` naming its position.
    When a record does not chain to its predecessor, its successor tells which was altered: if
    the successor does not chain to it either, the record itself was changed (its ``prev_hash``
    or more); otherwise the predecessor's bytes were.

    ``progress(done, total)``, if given, is told how far the check has gone in log positions:
    at the start, every few thousand records and at the end.
    """
    log = ledger.log
    mapper = log.mapper
    streams: dict[str, _Stream] = {}
    problems: list[Problem] = []
    fold = GENESIS
    checked = 0
    last_position = 0
    at_expected: Digest | None = Digest(0, GENESIS.hex()) if (
        expected is not None and expected.position == 0) else None
    checks: list[CheckpointCheck] = []
    rebuilds = _rebuilds(ledger, checks) if checkpoints else []
    total = log.max_position() if progress is not None else 0
    step = PROGRESS_EVERY
    if progress is not None:
        progress(0, total)
    for row in log.raw():
        checked += 1
        position = row[0]
        last_position = position
        if progress is not None and isinstance(position, int) and position >= step:
            progress(min(position, total), total)
            step = position + PROGRESS_EVERY
        for rebuild in rebuilds:
            if not rebuild.done and position > rebuild.checkpoint.position:
                rebuild.heads = {k: (s.version, s.hash or b"") for k, s in streams.items()}
                rebuild.done = True
        shape = describe_row(row)
        if shape is not None:
            problems.append(Problem("undecodable", position, f"damaged row: {shape}"))
            fold = hashlib.sha256(fold + hashlib.sha256(repr(row).encode()).digest()).digest()
            continue
        oid, version = row[1], row[2]
        key = uuid.UUID(str(oid)).hex if not isinstance(oid, uuid.UUID) else oid.hex
        h = log.row_hash(row)
        fold = hashlib.sha256(fold + h).digest()
        if expected is not None and position == expected.position:
            at_expected = Digest(position, fold.hex())
        st = streams.get(key)
        if st is None:
            st = streams[key] = _Stream()
        where = f"stream {uuid.UUID(key)} version {version}"
        try:
            rec = next(iter(mapper.decode_rows([row])))[1]
        except DamagedRecord as e:
            problems.append(Problem("undecodable", position, f"{where}: changed bytes ({e})"))
            _settle(st, problems, chained=None)
            st.version, st.hash, st.position = version, None, position
            st.event_id, st.kind = f"<undecodable at {position}>", "?"
            continue
        name = _name(rec.event.event_id, type(rec.event).__name__, version, key)
        if stream_id(rec.event.partnership_id).hex != key:
            problems.append(Problem(
                "wrong-stream", position,
                f"{name} belongs to partnership {rec.event.partnership_id!r}, not this stream"))
        for rebuild in rebuilds:
            if not rebuild.done:
                rebuild.projections.process(position, rec)
        if version <= st.version:
            problems.append(Problem(
                "reordered", position, f"{name} comes after version {st.version} in the log"))
        elif version > st.version + 1:
            problems.append(Problem(
                "missing", position,
                f"{name}: versions {st.version + 1}..{version - 1} are missing"))
        else:
            chained = st.hash is None or rec.prev_hash == st.hash
            explained = _settle(st, problems, chained=chained)
            if not chained and not explained:
                before = _name(st.event_id, st.kind, st.version, key) if st.event_id else ""
                st.suspect = (position, name, before, st.position)
        st.version, st.hash, st.event_id, st.position = version, h, rec.event.event_id, position
        st.kind = type(rec.event).__name__
    for st in streams.values():
        _settle(st, problems, chained=None)
    for rebuild in rebuilds:
        if not rebuild.done:
            rebuild.heads = {k: (s.version, s.hash or b"") for k, s in streams.items()}
        checks.append(_compare(rebuild, problems))
    problems.sort(key=lambda p: p.position)
    if progress is not None:
        progress(total, total)
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
    return VerifyReport(checked, now, tuple(problems), tuple(checks))


def _settle(st: _Stream, problems: list[Problem], *, chained: bool | None) -> bool:
    """Decide a pending suspect now that its successor arrived: ``chained`` says whether the
    successor chains to it (None: unknown, e.g. no successor). True when the suspect's
    alteration also explains the successor's broken link."""
    if st.suspect is None:
        return False
    position, name, before, before_position = st.suspect
    st.suspect = None
    if not before:
        problems.append(Problem("changed", position,
                                f"{name} should start its stream but does not chain to it"))
        return chained is False
    if chained is False:
        problems.append(Problem(
            "changed", position,
            f"{name} was altered: it no longer chains to its predecessor {before}, and its "
            "successor no longer chains to it"))
        return True
    if chained:
        problems.append(Problem(
            "changed", before_position,
            f"{before} was altered: its bytes no longer match the hash its successor {name} "
            "recorded"))
        return False
    problems.append(Problem(
        "changed", position,
        f"{name} does not chain to its predecessor {before}: one of the two was altered (the "
        "predecessor's bytes, or this record's prev_hash)"))
    return False


def _rebuilds(ledger: Ledger, checks: list[CheckpointCheck]) -> list[_Rebuild]:
    """A fresh projection set for each checkpoint that reports would use."""
    log: EventLog = ledger.log
    out: list[_Rebuild] = []
    try:
        names = log.checkpoint_names()
    except StoreError as e:
        checks.append(CheckpointCheck("*", 0, "mismatch", f"cannot list checkpoints: {e}"))
        return out
    for name in names:
        try:
            checkpoint = log.load_checkpoint(name)
        except StoreError as e:
            checks.append(CheckpointCheck(name, 0, "mismatch", str(e)))
            continue
        if checkpoint is None:
            continue
        try:
            factories = ledger.factories
            fingerprint = projection_fingerprint(factories)
        except Exception as e:  # a broken plugin: the log is still verified
            checks.append(CheckpointCheck(name, checkpoint.position, "ignored",
                                          f"projections cannot be loaded ({e})"))
            continue
        if checkpoint.fingerprint != fingerprint:
            checks.append(CheckpointCheck(
                name, checkpoint.position, "ignored",
                "made by other projections, code or an older state format; no report uses it"))
            continue
        try:
            binding = Binding.decode(checkpoint.binding)
        except ValueError:
            checks.append(CheckpointCheck(name, checkpoint.position, "ignored",
                                          "older or unknown format; no report uses it"))
            continue
        out.append(_Rebuild(checkpoint, binding, ProjectionSet(factories, log.load)))
    return out


def _compare(rebuild: _Rebuild, problems: list[Problem]) -> CheckpointCheck:
    checkpoint, binding = rebuild.checkpoint, rebuild.binding
    name, position = checkpoint.name, checkpoint.position
    heads = rebuild.heads or {}
    found = sorted((k, v, h) for k, (v, h) in heads.items())
    stored = sorted((h.stream, h.version, h.hash) for h in binding.heads)
    why = _stored_state_problem(checkpoint, binding)
    if why:
        pass
    elif found != stored or binding.count != sum(v for _, v, _ in found):
        why = "it was built from a log that differs from this one up to its position"
    else:
        state = rebuild.projections.snapshot_parts()
        if rebuild.projections.position != position:
            why = f"the log has no record at its position {position}"
        elif state.digest != binding.state_sha256:
            why = ("its state differs from the state rebuilt from the log up to its position "
                   "(forged or computed by faulty code)")
    if why:
        problems.append(Problem("checkpoint", position, f"checkpoint {name!r}: {why}"))
        return CheckpointCheck(name, position, "mismatch", why)
    return CheckpointCheck(name, position, "verified",
                           "rebuilt from the log up to its position: identical state")


def _stored_state_problem(checkpoint: Checkpoint, binding: Binding) -> str:
    """What is wrong with a stored state on its own ("" when nothing): its header must hash to
    the binding's digest and lay out parts that each hash to what the header says. (Whether
    the state is the one the log produces is checked against the rebuild.)"""
    state = checkpoint.state
    read = OpenCheckpoint.of(checkpoint).read
    try:
        header = read_header(len(state), read)
    except ValueError as e:
        return f"its state cannot be read ({e})"
    if hashlib.sha256(header).digest() != binding.state_sha256:
        return "its state does not match its own hash (altered in the store)"
    try:
        layout = decode_set(header, len(state))
    except ValueError as e:
        return f"its state cannot be read ({e})"
    for name, ref in (*sorted(layout.parts.items()), ("facts in force", layout.current)):
        try:
            read_part(ref, len(header), read)
        except ValueError as e:
            return f"its part {name!r} cannot be read ({e})"
    return ""


def digest(ledger: Ledger) -> Digest:
    """The current digest of the whole log.

    Raises :class:`~ssp_ledger.errors.DamagedRecord` naming the position of a row that is not a
    record at all (NULLs, wrong types, a stream id that is not a UUID): such a row has no record
    hash, so the log has no digest an auditor could reproduce. (Rows whose bytes were changed
    still hash; ``verify`` says what is wrong with them.)
    """
    log = ledger.log
    fold = GENESIS
    last = 0
    for row in log.raw():
        shape = describe_row(row)
        if shape is not None:
            msg = (f"the record at position {row[0]} is damaged: {shape}; a damaged log has no "
                   "digest (run 'ssp-ledger verify')")
            raise DamagedRecord(msg, position=row[0])
        fold = hashlib.sha256(fold + log.row_hash(row)).digest()
        last = row[0]
    return Digest(last, fold.hex())


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
    reason: str = ""
    """Why the content in force was recorded: the reason of the correction that holds it, or
    the fact's own reason (a funding change's, a school leaving); '' when there is none."""
    corrected_by: str = ""
    """Event id of the correction whose replacement is in force ('' for the original)."""


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
    view = ledger.view(known_at)
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
        stored = ledger.log.load(position).event
        corrected_by = stored.event_id if isinstance(stored, EventCorrected) else ""
        reason = str(getattr(stored if corrected_by else event, "reason", "") or "")
        out.append(Contribution(position, event.event_id, type(event).__name__,
                                event.occurred_on, fact.recorded_at, dict(values), reason,
                                corrected_by))
    out.sort(key=lambda c: (c.occurred_on, c.position))
    return table, out


def _labels(table: Table) -> str:
    labels = [str(row[0]) for row in table.rows]
    return ", ".join(labels[:12]) + (" ..." if len(labels) > 12 else "")


# --------------------------------------------------------------------------- restatement


@dataclass(frozen=True)
class ChangeRecord:
    """A record stored between the two times of a restatement, and why."""

    position: int
    """Notification id of the record."""
    recorded_at: dt.datetime
    """When it was recorded."""
    event_type: str
    """Its class name (``EventCorrected``, ``EventRetracted``, or a fact's type)."""
    event_id: str
    """Its id."""
    target: str
    """The fact a correction or retraction changes ('' for a fact recorded in the window)."""
    reason: str
    """The reason it carries (a correction's or retraction's, a funding change's; '' when the
    event has none)."""


@dataclass(frozen=True)
class FigureChange:
    """One figure of a report as known at two times, and the records that changed it."""

    group: Cell
    """Row label."""
    column: str
    """Column name."""
    before: Cell
    """The figure as known at the first time (None: the row did not exist)."""
    after: Cell
    """The figure as known at the second time (None: the row no longer exists)."""
    records: tuple[ChangeRecord, ...]
    """The records stored between the two times that changed this figure, in log order."""

    @property
    def difference(self) -> int | None:
        """``after - before`` for integer figures (a missing row counts as 0); None for text."""
        a, b = self.before, self.after
        if all(v is None or (isinstance(v, int) and not isinstance(v, bool)) for v in (a, b)):
            return (b or 0) - (a or 0)  # type: ignore[operator]
        return None


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
    figures: tuple[FigureChange, ...] = field(default_factory=tuple)
    """Every figure that differs, row by row in the order of ``changed``, each with only the
    records that changed it."""


def restatement(ledger: Ledger, projection: str, *, as_of: dt.date,
                before: dt.datetime, after: dt.datetime, by: str | None = None,
                period: str | None = None, partnership_id: str | None = None) -> Restatement:
    """Compare one report as known at ``before`` and at ``after``.

    Each changed figure carries the records stored in between that changed it: for an
    :class:`~ssp_ledger.projection.Explainable` projection (every standard one), the records of
    the facts whose contribution to that figure differs between the two times (a fact recorded
    late, corrected or retracted) and of facts that shape the row without adding to it (a
    funding level deciding funded or hidden); figures the projection does not explain fact by
    fact (a mean, a ratio) take the records that changed anything in their row. For any other
    projection every record of ``events`` is listed against every changed figure.
    """
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
    window: dict[tuple[str, str], list[ChangeRecord]] = {}
    start = parse_period(period).start if period else None
    for position, rec in ledger.read():
        if not before < rec.recorded_at <= after:
            continue
        event = rec.event
        if partnership_id is not None and event.partnership_id != partnership_id:
            continue
        target = event.target_event_id if isinstance(event, EventCorrected | EventRetracted) else ""
        record = ChangeRecord(position, rec.recorded_at, type(event).__name__, event.event_id,
                              target, str(getattr(event, "reason", "") or ""))
        window.setdefault((event.partnership_id, target or event.event_id), []).append(record)
        day = event.replacement.occurred_on if isinstance(event, EventCorrected) else (
            event.occurred_on)
        if not isinstance(event, EventRetracted) and (
                day > as_of or (start is not None and day < start)):
            continue
        events.append((position, rec.recorded_at, type(event).__name__, event.event_id, target))
    figures = _figure_changes(ledger, projection, t1, t2, changed, window, events,
                              as_of=as_of, times=(before, after), by=by, period=period,
                              partnership_id=partnership_id)
    return Restatement(t1, t2, tuple(changed), tuple(events), figures)


def _figure_changes(ledger: Ledger, projection: str, t1: Table, t2: Table,
                    changed: list[tuple[Cell, ...]],
                    window: dict[tuple[str, str], list[ChangeRecord]],
                    events: list[tuple[int, dt.datetime, str, str, str]], *, as_of: dt.date,
                    times: tuple[dt.datetime, dt.datetime], by: str | None,
                    period: str | None, partnership_id: str | None) -> tuple[FigureChange, ...]:
    """Each differing figure of the changed rows with the records that changed it."""
    columns = t1.columns[1:]
    views = [ledger.view(known) for known in times]
    projs = [view[projection] for view in views]
    explainable = all(isinstance(p, Explainable) for p in projs)
    # Where each candidate fact (one with a record in the window) stands in either view.
    facts: list[dict[tuple[str, str], Fact]] = [{}, {}]
    if explainable:
        for view, found in zip(views, facts, strict=True):
            for key, position in view.contributing():
                if key in window:
                    found[key] = view.fact_at(position)
    bearing = {e[0] for e in events}
    every = tuple(sorted((r for rs in window.values() for r in rs if r.position in bearing),
                         key=lambda r: r.position))
    chosen = parse_period(period) if period else None
    width = len(columns)
    rows: list[tuple[Cell, tuple[Cell, ...], tuple[Cell, ...], list[tuple[str, str]],
                     dict[tuple[str, str], tuple[dict[str, int], dict[str, int]]]]] = []
    for row in changed:
        contributions: dict[tuple[str, str], tuple[Mapping[str, int] | None, ...]] = {}
        if explainable:
            for key in window:
                pair = []
                for proj, found, known in zip(projs, facts, times, strict=True):
                    fact = found.get(key)
                    query = Query(as_of=as_of, known_at=known, by=by, period=chosen,
                                  partnership_id=partnership_id)
                    pair.append(None if fact is None or not isinstance(proj, Explainable) else
                                proj.explain_fact(query, str(row[0]), fact))
                if pair[0] != pair[1]:
                    contributions[key] = tuple(pair)
        shaping = [k for k, (va, vb) in contributions.items() if va == {} or vb == {}]
        adding = {k: (dict(va or {}), dict(vb or {})) for k, (va, vb) in contributions.items()
                  if k not in shaping}
        rows.append((row[0], row[1:1 + width], row[1 + width:], shaping, adding))
    # Facts that shape some row without adding to it (a funding level deciding funded or
    # hidden) also move figures of rows they are not listed in.
    anywhere = list(dict.fromkeys(k for row in rows for k in row[3]))
    out: list[FigureChange] = []
    for group, old, new, shaping, adding in rows:
        measured = {m for x, y in adding.values() for m in (*x, *y)}
        unexplained = any(
            column in measured and isinstance(a, int) and isinstance(b, int) and b - a != _delta(
                adding, column) for column, a, b in zip(columns, old, new, strict=True))
        for column, a, b in zip(columns, old, new, strict=True):
            if a == b:
                continue
            if not explainable:
                out.append(FigureChange(group, column, a, b, every))
                continue
            if column in measured:  # facts add to this figure: those whose part changed
                keys = [k for k, (x, y) in adding.items() if x.get(column, 0) != y.get(column, 0)]
                difference = (b or 0) - (a or 0) if isinstance(a, int | None) and isinstance(
                    b, int | None) else None
                explained = difference is not None and _delta(adding, column) == difference
            else:  # a derived figure (a mean, a ratio) or text: whatever moved the row
                keys = list(adding)
                explained = bool(keys) and not unexplained
            if not explained:  # the rest moved between rows: a shaping fact did it
                keys += shaping or anywhere
            records = [r for k in keys for r in window[k]] or list(every)
            out.append(FigureChange(group, column, a, b,
                                    tuple(sorted(set(records), key=lambda r: r.position))))
    return tuple(out)


def _delta(adding: Mapping[tuple[str, str], tuple[dict[str, int], dict[str, int]]],
           column: str) -> int:
    """What the facts that add to a row changed in ``column`` between the two times."""
    return sum(y.get(column, 0) - x.get(column, 0) for x, y in adding.values())
