"""What every adversarial test needs: a small two-partnership store, a way to damage it, the
``ssp-ledger`` command as a subprocess, and snapshots proving a file was left alone.

The store (:func:`build_store`) interleaves two partnerships, so a record's log position is never
its version in its stream and an error naming "position 9" cannot be a version by accident:

========  ===========  =======
position  partnership  version
========  ===========  =======
1, 2      tyne         1, 2      (formed, hub joined)
3, 4      wear         1, 2
5, 7, 9   tyne         3, 4, 5   (clubs c1, c2, c3; ...)
6, 8, 10  wear         3, 4, 5
...       ...          ...
15, 16    tyne, wear   8, 8
========  ===========  =======

:data:`TARGET` (position 9, ``tyne`` version 5, event ``tyne-c3``) is the record the tests damage;
its successor in the stream is at :data:`SUCCESSOR` (position 11).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec

from ssp_ledger import ClubRun, DomainEvent, Ledger, PartnershipFormed, SchoolJoined
from ssp_ledger.runner import ProjectionRunner
from ssp_ledger.store.records import stream_hash

PARTNERSHIPS = ("tyne", "wear")
CLUBS = 6
#: Records in the store.
RECORDS = 2 * (2 + CLUBS)
#: Position of the record the tests damage (tyne version 5, event tyne-c3).
TARGET = 9
TARGET_VERSION = 5
TARGET_EVENT = "tyne-c3"
#: Position of the next tyne record (version 6).
SUCCESSOR = 11
AS_OF = "2007-06-30"
AS_OF_DATE = dt.date.fromisoformat(AS_OF)
#: Every read-only command, with arguments that make it answer from the whole log.
READ_COMMANDS: dict[str, tuple[str, ...]] = {
    "verify": ("verify",),
    "digest": ("digest",),
    "events": ("events",),
    "report": ("report", "participation", "--as-of", AS_OF, "--by", "school"),
    "explain": ("explain", "participation", "--as-of", AS_OF),
    "restatement": ("restatement", "participation", "--as-of", AS_OF, "--before",
                    "2000-01-01T00:00:00Z", "--after", "2100-01-01T00:00:00Z"),
    "export": ("export",),
}


def events_of(partnership: str) -> list[DomainEvent]:
    """One partnership's history: formed, hub joined, :data:`CLUBS` club sessions."""
    day = dt.date(2006, 9, 1)
    out: list[DomainEvent] = [
        PartnershipFormed(partnership_id=partnership, occurred_on=day,
                          event_id=f"{partnership}-formed", name=partnership.title(),
                          hub_school_id=f"{partnership}-hub"),
        SchoolJoined(partnership_id=partnership, occurred_on=day,
                     event_id=f"{partnership}-joined", school_id=f"{partnership}-hub",
                     school_name="Hub", phase="secondary"),
    ]
    out += [club(partnership, i) for i in range(1, CLUBS + 1)]
    return out


def club(partnership: str, i: int, participants: int | None = None,
         event_id: str | None = None) -> ClubRun:
    """Club session ``i`` of a partnership (``10 + i`` participants unless told)."""
    return ClubRun(partnership_id=partnership, occurred_on=dt.date(2006, 9, 1 + i),
                   event_id=event_id or f"{partnership}-c{i}", club_id="fc",
                   school_id=f"{partnership}-hub", activity="football",
                   participants=10 + i if participants is None else participants)


def interleaved() -> list[DomainEvent]:
    """Both histories in the order of the table in the module docstring."""
    tyne, wear = (events_of(p) for p in PARTNERSHIPS)
    out = [*tyne[:2], *wear[:2]]
    for a, b in zip(tyne[2:], wear[2:], strict=True):
        out += [a, b]
    return out


def build_store(path: Path | str, *, checkpoint: bool = False,
                events: Sequence[DomainEvent] | None = None) -> Path:
    """The store at ``path`` (a SQLite file, or a URL) with one transaction per event (and
    checkpoint ``default``)."""
    with Ledger.open(path, mode="create") as ledger:
        for event in events if events is not None else interleaved():
            ledger.record(event)
    if checkpoint:
        with ProjectionRunner(str(path)) as runner:
            runner.catch_up()
    if "://" not in str(path):
        for sidecar in sidecars(Path(path)):
            raise AssertionError(f"{sidecar} left behind by the writer")
    return Path(path)


def copy_store(source: Path, folder: Path, name: str = "s.db") -> Path:
    """A copy of a store file (no -wal/-shm: :func:`build_store` closes cleanly)."""
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / name
    shutil.copyfile(source, target)
    return target


def sidecars(path: Path) -> list[Path]:
    """SQLite's -wal, -shm and -journal files beside ``path`` that exist."""
    return [p for p in (Path(f"{path}{s}") for s in ("-wal", "-shm", "-journal")) if p.exists()]


# --------------------------------------------------------------------------- tampering


def sql(path: Path, *statements: str | tuple[str, Sequence[Any]]) -> None:
    """Run statements on a SQLite file the way an attacker with the file would."""
    conn = sqlite3.connect(path)
    try:
        for statement in statements:
            if isinstance(statement, tuple):
                conn.execute(statement[0], statement[1])
            else:
                conn.execute(statement)
        conn.commit()
    finally:
        conn.close()
    for sidecar in sidecars(path):  # leave the copy as a clean single file
        raise AssertionError(f"{sidecar} left behind by the tampering")


def state_at(path: Path, position: int) -> bytes:
    """The stored bytes of the record at ``position``."""
    conn = sqlite3.connect(path)
    try:
        (state,) = conn.execute("SELECT state FROM stored_events WHERE rowid=?",
                                (position,)).fetchone()
    finally:
        conn.close()
    return bytes(state)


def envelope(state: bytes) -> list[Any]:
    """A record's envelope as plain data: [versions, recorded_at_us, prev_hash, event]."""
    env: list[Any] = msgspec.msgpack.decode(state)
    return env


def reseal(env: list[Any]) -> bytes:
    """Plain envelope data back to stored bytes."""
    return msgspec.msgpack.encode(env)


def rewrite_history(path: Path, position: int, *, participants: int) -> None:
    """Change the participants of the club at ``position`` and recompute the ``prev_hash`` of
    every later record of its stream: what an attacker who knows the hashing does."""
    conn = sqlite3.connect(path)
    try:
        (oid, version) = conn.execute(
            "SELECT originator_id, originator_version FROM stored_events WHERE rowid=?",
            (position,)).fetchone()
        rows = conn.execute("SELECT rowid, originator_version, topic, state FROM stored_events "
                            "WHERE originator_id=? AND originator_version>=? "
                            "ORDER BY originator_version", (oid, version)).fetchall()
        previous: bytes | None = None
        for rowid, v, topic, state in rows:
            env = envelope(bytes(state))
            if rowid == position:
                env[3]["participants"] = participants
            if previous is not None:
                env[2] = previous
            plain = reseal(env)
            conn.execute("UPDATE stored_events SET state=? WHERE rowid=?", (plain, rowid))
            previous = stream_hash(bytes.fromhex(oid), v, topic, plain)
        conn.commit()
    finally:
        conn.close()


# --------------------------------------------------------------------------- the command


@dataclass(frozen=True)
class Run:
    """What one invocation of ``ssp-ledger`` did."""

    args: tuple[str, ...]
    code: int
    out: str
    err: str


def cli_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of a subprocess: ours (PYTHONPATH points at this tree), no store."""
    env = {k: v for k, v in os.environ.items() if k not in ("SSP_LEDGER_STORE", "COLUMNS")}
    env["PYTHONIOENCODING"] = "utf-8"
    env.update(extra or {})
    return env


def ssp(cwd: Path, *args: str, stdin: bytes | None = None, timeout: float = 120,
        env: dict[str, str] | None = None) -> Run:
    """Run ``python -m ssp_ledger ARGS`` in ``cwd`` (standard input closed unless given)."""
    proc = subprocess.run([sys.executable, "-m", "ssp_ledger", *args], cwd=cwd, env=cli_env(env),
                          input=stdin if stdin is not None else b"", capture_output=True,
                          timeout=timeout, check=False)
    return Run(tuple(args), proc.returncode, proc.stdout.decode("utf-8", "replace"),
               proc.stderr.decode("utf-8", "replace"))


def ssp_many(cwd: Path, invocations: Iterable[Sequence[str]]) -> list[Run]:
    """Several independent invocations, run side by side (in the order given)."""
    with ThreadPoolExecutor(max_workers=4) as pool:
        return list(pool.map(lambda args: ssp(cwd, *args), list(invocations)))


def assert_no_traceback(run: Run) -> None:
    assert "Traceback" not in run.err, (run.args, run.err)
    assert "Traceback" not in run.out, (run.args, run.out[-2000:])


def assert_one_line_error(run: Run, *needles: str) -> None:
    """Exit status 1, one ``error:`` line on standard error containing every needle."""
    assert_no_traceback(run)
    assert run.code == 1, (run.args, run.code, run.out[-500:], run.err)
    lines = run.err.strip().splitlines()
    assert len(lines) == 1, (run.args, run.err)
    assert lines[0].startswith("error: "), (run.args, run.err)
    for needle in needles:
        assert needle in lines[0], (run.args, needle, lines[0])


def assert_ok(run: Run) -> None:
    assert_no_traceback(run)
    assert run.code == 0, (run.args, run.code, run.err)


# --------------------------------------------------------------------------- snapshots


@dataclass(frozen=True)
class FileState:
    """Bytes, modification time and mode of one file."""

    sha256: str
    mtime_ns: int
    mode: int


def file_state(path: Path) -> FileState:
    st = path.stat()
    return FileState(hashlib.sha256(path.read_bytes()).hexdigest(), st.st_mtime_ns, st.st_mode)


def folder_state(folder: Path) -> dict[str, FileState]:
    """Every file of a folder (not recursive) by name."""
    return {p.name: file_state(p) for p in sorted(folder.iterdir()) if p.is_file()}


# --------------------------------------------------------------------------- figures


def figures(path: Path | str, *, checkpoint: str | None = None) -> list[tuple[Any, ...]]:
    """Rows of a few reports, read-only (``checkpoint`` None: replayed from position 0)."""
    with Ledger.open(path, mode="read", checkpoint=checkpoint) as ledger:
        return [row for name, by in (("participation", "school"), ("participation", None),
                                     ("staff_time_cost", None))
                for row in ledger.report(name, as_of=AS_OF_DATE, by=by).rows]
