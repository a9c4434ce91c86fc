"""Odd files on both sides: devices, FIFOs and symbolic links as ``--out``; pipes and FIFOs as
import input; hostile JSON (duplicate keys, NUL bytes) refused with its line and field.

``--out`` writes a regular file atomically with ``open()``'s permissions, writes a device, a
FIFO or ``-`` through in place (``/dev/null`` stays a device), and writes a symbolic link's
target. ``import -`` and ``import FIFO`` read the input as it comes (a bad line stops the import
before the writer has finished) and record all of it or none of it.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from ssp_ledger import Ledger
from ssp_ledger.application import WRITE_CHUNK
from ssp_ledger.errors import InputError
from tests.adversarial.attack import (
    RECORDS,
    assert_ok,
    assert_one_line_error,
    cli_env,
    club,
    copy_store,
    file_state,
    ssp,
    ssp_many,
)

SEED = [
    {"type": "PartnershipFormed", "partnership_id": "t", "occurred_on": "2006-09-01",
     "event_id": "f", "name": "T", "hub_school_id": "h"},
    {"type": "SchoolJoined", "partnership_id": "t", "occurred_on": "2006-09-01",
     "event_id": "j", "school_id": "h", "school_name": "Hub", "phase": "secondary"},
]


def club_line(i: int, **extra: object) -> dict[str, object]:
    return {"type": "ClubRun", "partnership_id": "t",
            "occurred_on": f"{2007 + i // 300}-{1 + i // 25 % 12:02d}-{1 + i % 25:02d}",
            "event_id": f"c{i}", "club_id": "fc", "school_id": "h", "activity": "football",
            "participants": 1 + i % 30, **extra}


def jsonl(events: list[dict[str, object]]) -> bytes:
    return "".join(json.dumps(e) + "\n" for e in events).encode()


@pytest.fixture
def store(plain: Path, tmp_path: Path) -> Path:
    return copy_store(plain, tmp_path)


# --------------------------------------------------------------------------- --out


def test_out_to_dev_null_leaves_it_a_device(store: Path) -> None:
    runs = ssp_many(store.parent, [
        ("export", "--store", store.name, "--out", "/dev/null"),
        ("export-table", "participation", "--as-of", "2007-06-30", "--format", "csv",
         "--store", store.name, "--out", "/dev/null"),
        ("schema", "--out", "/dev/null")])
    for run in runs:
        assert_ok(run)
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)
    assert not Path("/dev/null.manifest.json").exists()


def _read_fifo(path: Path, into: list[bytes]) -> threading.Thread:
    def read() -> None:
        with path.open("rb") as f:
            into.append(f.read())

    thread = threading.Thread(target=read, daemon=True)
    thread.start()
    return thread


def test_out_to_a_fifo_is_written_through(store: Path) -> None:
    fifo = store.parent / "pipe.jsonl"
    os.mkfifo(fifo)
    got: list[bytes] = []
    reader = _read_fifo(fifo, got)
    run = ssp(store.parent, "export", "--store", store.name, "--out", fifo.name)
    reader.join(timeout=30)
    assert_ok(run)
    assert stat.S_ISFIFO(fifo.lstat().st_mode)  # still the FIFO, not replaced
    expected = ssp(store.parent, "export", "--store", store.name).out.encode()
    assert got == [expected]
    assert expected.count(b"\n") == RECORDS


def test_out_to_a_symlink_writes_its_target(store: Path) -> None:
    folder = store.parent
    target = folder / "real.jsonl"
    target.write_bytes(b"old\n")
    target.chmod(0o640)
    (folder / "link.jsonl").symlink_to(target.name)
    (folder / "dangling.jsonl").symlink_to("created-by-export.jsonl")
    for run in ssp_many(folder, [("export", "--store", store.name, "--out", "link.jsonl"),
                                 ("export", "--store", store.name, "--out", "dangling.jsonl")]):
        assert_ok(run)
    expected = ssp(folder, "export", "--store", store.name).out.encode()
    assert (folder / "link.jsonl").is_symlink()
    assert target.read_bytes() == expected
    assert stat.S_IMODE(target.stat().st_mode) == 0o640  # the file it replaced kept its mode
    assert (folder / "dangling.jsonl").is_symlink()
    assert (folder / "created-by-export.jsonl").read_bytes() == expected
    assert not [p for p in folder.iterdir() if p.name.endswith(".tmp")]


def test_out_to_a_regular_file_gets_umask_permissions(store: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "ssp_ledger", "export", "--store", store.name,
                           "--out", "new.jsonl"], cwd=store.parent, env=cli_env(),
                          capture_output=True, timeout=120, check=False, umask=0o077)
    assert proc.returncode == 0, proc.stderr
    assert stat.S_IMODE((store.parent / "new.jsonl").stat().st_mode) == 0o600


@pytest.mark.parametrize("how", ["symlink", "same-path"])
def test_out_onto_the_store_itself_is_refused(store: Path, how: str) -> None:
    """``--out`` naming the store being read, directly or through a link someone left in the
    folder: refused in one line, the store untouched (a read command never writes)."""
    before = file_state(store)
    out = store.name
    if how == "symlink":
        (store.parent / "report.jsonl").symlink_to(store.name)
        out = "report.jsonl"
    runs = ssp_many(store.parent, [
        ("export", "--store", store.name, "--out", out),
        ("export-table", "participation", "--as-of", "2007-06-30", "--format", "csv",
         "--store", store.name, "--out", out),
        ("schema", "--out", out)])
    for run in runs:
        assert_one_line_error(run)
    assert file_state(store) == before


# --------------------------------------------------------------------------- import input


def test_import_from_a_pipe(tmp_path: Path) -> None:
    """``import -`` fed by a pipe in small pieces: every event recorded."""
    data = jsonl([*SEED, *[club_line(i) for i in range(1, 201)]])
    proc = subprocess.Popen([sys.executable, "-m", "ssp_ledger", "import", "-", "--store",
                             "s.db"], cwd=tmp_path, env=cli_env(), stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdin is not None
    for start in range(0, len(data), 777):  # pieces that split lines
        proc.stdin.write(data[start:start + 777])
        proc.stdin.flush()
    out, err = proc.communicate(timeout=120)  # closes standard input: the end of the data
    assert proc.returncode == 0, err
    assert out.decode().startswith("recorded 202 events, skipped 0 duplicates")
    with Ledger.open(tmp_path / "s.db", mode="read") as ledger:
        assert ledger.position == 202


def test_import_from_a_fifo(tmp_path: Path) -> None:
    fifo = tmp_path / "events.jsonl"
    os.mkfifo(fifo)
    data = jsonl([*SEED, *[club_line(i) for i in range(1, 51)]])

    def write() -> None:
        with fifo.open("wb") as f:
            f.write(data)

    writer = threading.Thread(target=write, daemon=True)
    writer.start()
    run = ssp(tmp_path, "import", fifo.name, "--store", "s.db")
    writer.join(timeout=30)
    assert_ok(run)
    assert run.out.startswith("recorded 52 events")


def test_a_bad_line_stops_a_pipe_import_before_the_input_ends(tmp_path: Path) -> None:
    """The input is read as it is recorded, never first in full: with the pipe still open, a bad
    third line ends the import (one line naming it), and nothing is recorded."""
    proc = subprocess.Popen([sys.executable, "-m", "ssp_ledger", "import", "-", "--store",
                             "s.db"], cwd=tmp_path, env=cli_env(), stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdin is not None
    proc.stdin.write(jsonl(SEED) + b'{"type": "ClubRun", "oops": \n')
    proc.stdin.flush()
    try:
        code = proc.wait(timeout=60)  # the pipe is not closed: no EOF was needed
    finally:
        proc.stdin.close()
    err = proc.stderr.read().decode() if proc.stderr else ""
    if proc.stdout:
        proc.stdout.close()
    if proc.stderr:
        proc.stderr.close()
    assert code == 1
    assert err.startswith("error: <stdin>:3")
    assert err.count("\n") == 1
    with Ledger.open(tmp_path / "s.db", mode="read") as ledger:
        assert ledger.position == 0


def test_a_long_import_is_all_or_nothing(tmp_path: Path) -> None:
    """More events than one write round (the import streams in rounds inside one
    transaction): a bad last line records none of them; without it, all are recorded."""
    count = 2 * WRITE_CHUNK + 7
    good = [*SEED, *[club_line(i) for i in range(1, count + 1)]]
    bad_line = {**club_line(count + 1), "participants": -1}
    (tmp_path / "bad.jsonl").write_bytes(jsonl([*good, bad_line]))
    (tmp_path / "good.jsonl").write_bytes(jsonl(good))
    run = ssp(tmp_path, "import", "bad.jsonl", "--store", "s.db")
    assert_one_line_error(run, f"bad.jsonl:{len(good) + 1}")
    with Ledger.open(tmp_path / "s.db", mode="read") as ledger:
        assert ledger.position == 0
    run = ssp(tmp_path, "import", "good.jsonl", "--store", "s.db")
    assert_ok(run)
    with Ledger.open(tmp_path / "s.db", mode="read") as ledger:
        assert ledger.position == len(good)


def test_an_iterable_that_fails_midway_stores_nothing(plain: Path, tmp_path: Path) -> None:
    store = copy_store(plain, tmp_path)
    before = file_state(store)

    def events() -> Iterator[object]:
        for i in range(1, WRITE_CHUNK + 50):
            yield club("tyne", 1 + i % 20, event_id=f"stream-{i}")
        raise RuntimeError("the network went away")

    with Ledger.open(store, mode="write") as ledger:
        with pytest.raises(RuntimeError, match="went away"):
            ledger.record_many(events())  # type: ignore[arg-type]
        assert ledger.position == RECORDS
    assert file_state(store).sha256 == before.sha256



def test_an_input_that_fails_to_read_is_blamed_not_the_store(plain: Path, tmp_path: Path) -> None:
    """An I/O error raised by the input (a pipe or disk that fails mid-read) is an InputError
    about reading the input, never "cannot write to store"; nothing is stored."""
    store = copy_store(plain, tmp_path)
    before = file_state(store)

    def events() -> Iterator[object]:
        for i in range(1, WRITE_CHUNK + 50):
            yield club("tyne", 1 + i % 20, event_id=f"io-{i}")
        raise OSError(5, "Input/output error")

    with Ledger.open(store, mode="write") as ledger:
        with pytest.raises(InputError) as caught:
            ledger.record_many(events())  # type: ignore[arg-type]
        assert ledger.position == RECORDS
    assert str(caught.value) == "cannot read the input: Input/output error"
    assert file_state(store).sha256 == before.sha256


# --------------------------------------------------------------------------- hostile JSON

_CLUB = club_line(1)
HOSTILE: dict[str, tuple[bytes, str]] = {
    "duplicate-key": (
        json.dumps(_CLUB)[:-1].encode() + b', "participants": 300}',
        "<stdin>:3, field 'participants': field 'participants' appears more than once"),
    "duplicate-key-nested": (
        json.dumps({"type": "EventCorrected", "partnership_id": "t",
                    "occurred_on": "2007-01-02", "event_id": "x1", "target_event_id": "c1",
                    "reason": "r", "replacement": _CLUB})[:-2].encode()
        + b', "participants": 300}}',
        "field 'participants' appears more than once"),
    "escaped-nul": (json.dumps({**_CLUB, "event_id": "c\x001"}).encode(),
                    "<stdin>:3, field 'event_id': control character '\\x00'"),
    "nul-in-partnership": (json.dumps({**_CLUB, "partnership_id": "t\x00"}).encode(),
                           "<stdin>:3, field 'partnership_id': control character '\\x00'"),
    "raw-nul": (json.dumps(_CLUB).encode().replace(b'"c1"', b'"c\x001"'),
                "<stdin>:3: malformed JSON"),
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_json_is_refused_with_line_and_field(tmp_path: Path, case: str) -> None:
    line, expected = HOSTILE[case]
    data = jsonl(SEED) + (jsonl([_CLUB]) if case == "duplicate-key-nested" else b"") + line
    assert_ok(ssp(tmp_path, "init", "--store", "s.db"))
    before = file_state(tmp_path / "s.db")
    run = ssp(tmp_path, "import", "-", "--store", "s.db", stdin=data + b"\n")
    where = "<stdin>:4" if case == "duplicate-key-nested" else "<stdin>:3"
    assert_one_line_error(run, where, expected)
    assert file_state(tmp_path / "s.db").sha256 == before.sha256
