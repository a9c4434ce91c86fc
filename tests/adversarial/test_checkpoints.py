"""Attacks on saved checkpoints: they are data bound to the log, never code, never trusted blind.

An attacker who can write the store file can replace a checkpoint's state by a pickle, copy in a
checkpoint made from a doctored copy of the store, or forge state and recompute every hash the
binding holds. The ledger must never run code from a checkpoint, must refuse one that does not
fit the log (answering from a replay and saying why in one line), and ``verify`` must flag one
that passes every binding check but holds state the log does not produce.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import pickle
import sqlite3
from pathlib import Path
from typing import Any

import msgspec
import pytest

from ssp_ledger import Ledger
from ssp_ledger.audit import digest, verify
from ssp_ledger.checkpoints import make_checkpoint
from ssp_ledger.errors import StoreError
from ssp_ledger.projection import ProjectionSet
from ssp_ledger.projection.checkpoint import (
    MAGIC,
    STATE_FORMAT,
    Part,
    bytes_reader,
    decode_set,
    encode_set,
    encode_state,
    pack_part,
    read_header,
)
from ssp_ledger.runner import ProjectionRunner
from ssp_ledger.store import Binding
from tests.adversarial.attack import (
    AS_OF_DATE,
    READ_COMMANDS,
    RECORDS,
    TARGET,
    TARGET_EVENT,
    FileState,
    assert_ok,
    build_store,
    club,
    copy_store,
    figures,
    file_state,
    interleaved,
    rewrite_history,
    sql,
    ssp,
    ssp_many,
)

REPORT = READ_COMMANDS["report"]


class Plant:
    """Unpickling this creates ``marker`` (what a malicious pickle would do, harmlessly)."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self) -> tuple[Any, tuple[str, str]]:
        return (open, (self.marker, "w"))


def live_payload(marker: Path) -> bytes:
    """A pickle that creates ``marker`` when loaded, checked to do so (so the tests can fail)."""
    payload = pickle.dumps(Plant(marker))
    pickle.loads(payload).close()
    assert marker.exists()
    marker.unlink()
    return payload


def checkpoint_row(path: Path, name: str = "default") -> dict[str, Any]:
    conn = sqlite3.connect(path)
    try:
        conn.row_factory = sqlite3.Row
        row = conn.execute("SELECT * FROM ssp_projection_checkpoints WHERE name=?",
                           (name,)).fetchone()
        tracking = conn.execute("SELECT * FROM tracking WHERE application_name=?",
                                (f"ssp-ledger-projections:{name}",)).fetchone()
    finally:
        conn.close()
    return {"row": dict(row), "tracking": dict(tracking)}


def rebound(path: Path, state: bytes) -> bytes:
    """The binding of ``path``'s checkpoint with its state hash recomputed for ``state`` (the
    hash of its header, or of the whole bytes when they have none)."""
    binding = Binding.decode(checkpoint_row(path)["row"]["anchor"])
    try:
        hashed = read_header(len(state), bytes_reader(state))
    except ValueError:
        hashed = state
    return msgspec.structs.replace(binding,
                                   state_sha256=hashlib.sha256(hashed).digest()).encode()


def transplant(donor: Path, target: Path) -> None:
    """Copy checkpoint ``default`` (and its tracking row) from ``donor`` into ``target``."""
    found = checkpoint_row(donor)
    row, tracking = found["row"], found["tracking"]
    sql(target,
        "DELETE FROM ssp_projection_checkpoints WHERE name='default'",
        "DELETE FROM tracking WHERE application_name='ssp-ledger-projections:default'",
        ("INSERT INTO ssp_projection_checkpoints VALUES (?, ?, ?, ?, ?, ?)",
         [row[k] for k in ("name", "position", "fingerprint", "anchor", "state", "saved_at")]),
        ("INSERT INTO tracking VALUES (?, ?)",
         [tracking["application_name"], tracking["notification_id"]]))


def note_of(path: Path) -> tuple[str, int | None]:
    """The checkpoint note and starting position of a read-only ledger after one report."""
    with Ledger.open(path, mode="read", checkpoint="default") as ledger:
        ledger.report("participation", as_of=AS_OF_DATE)
        return ledger.checkpoint_note, ledger.checkpoint_position


def assert_report_is_a_replay(store: Path, *notice: str) -> None:
    """The CLI's report (default checkpoint) prints exactly what a replay prints, its basis
    line says it replayed, and standard error says in one line why the checkpoint was not
    used (containing each of ``notice``)."""
    default, replay = ssp_many(store.parent, [(*REPORT, "--store", store.name),
                                              (*REPORT, "--store", store.name,
                                               "--checkpoint", "")])
    assert_ok(default)
    assert_ok(replay)
    assert default.out == replay.out
    assert default.out.splitlines()[-1].startswith(f"basis: log position {RECORDS}, heads ")
    assert ", replayed, " in default.out.splitlines()[-1]
    assert replay.err == ""
    lines = default.err.splitlines()
    assert len(lines) == 1, default.err
    assert lines[0].startswith("note: checkpoint 'default' ")
    assert lines[0].endswith("replayed the log")
    for text in notice:
        assert text in lines[0]


# --------------------------------------------------------------------------- pickles


@pytest.mark.parametrize("how", ["state", "state-rebound", "binding"])
def test_a_planted_pickle_never_runs(checkpointed: Path, tmp_path: Path, how: str) -> None:
    """A pickle in the state column (alone, or with the binding recomputed to match it, so that
    only decoding the state as data stands in its way) or in the binding column: no report
    loads it, no code runs, the figures are a replay's."""
    store = copy_store(checkpointed, tmp_path / "store")
    marker = tmp_path / "PWNED"
    payload = live_payload(marker)
    replay = figures(store)
    if how == "state":
        sql(store, ("UPDATE ssp_projection_checkpoints SET state=?", [payload]))
    elif how == "state-rebound":
        sql(store, ("UPDATE ssp_projection_checkpoints SET state=?, anchor=?",
                    [payload, rebound(store, payload)]))
    else:
        sql(store, ("UPDATE ssp_projection_checkpoints SET anchor=?", [payload]))

    assert figures(store, checkpoint="default") == replay
    note, started = note_of(store)
    assert started is None
    assert "replayed the log" in note
    assert "\n" not in note
    with Ledger.open(store, mode="read") as ledger:
        [check] = verify(ledger).checkpoints
    assert check.status == ("ignored" if how == "binding" else "mismatch")
    assert not marker.exists(), "a checkpoint was unpickled"
    if how == "state":
        return  # the command-line runs below cover the other two
    runs = ssp_many(store.parent, [(*REPORT, "--store", store.name),
                                   (*REPORT, "--store", store.name, "--checkpoint", ""),
                                   ("verify", "--store", store.name),
                                   (*READ_COMMANDS["explain"], "--store", store.name)])
    assert runs[0].out == runs[1].out
    assert runs[0].err.startswith("note: checkpoint 'default' ")
    assert runs[0].err.count("\n") == 1
    for run in runs:
        assert "Traceback" not in run.err
    if how == "state-rebound":
        assert runs[2].code == 1
        assert "checkpoint 'default'" in runs[2].out
    assert not marker.exists(), "a checkpoint was unpickled"


# --------------------------------------------------------------------------- transplants


def _doctored(folder: Path) -> Path:
    """A separately built store where tyne's club c3 had 99 participants."""
    events = [club("tyne", 3, participants=99) if e.event_id == TARGET_EVENT else e
              for e in interleaved()]
    return build_store(folder / "doctored.db", checkpoint=True, events=events)


def _rehashed(folder: Path, source: Path) -> Path:
    """A copy of ``source`` whose tyne c3 says 99 participants, every later tyne record's
    ``prev_hash`` recomputed so its chain verifies, and a checkpoint made from it."""
    path = copy_store(source, folder, "rehashed.db")
    rewrite_history(path, TARGET, participants=99)
    with Ledger.open(path, mode="write") as ledger:
        assert verify(ledger, checkpoints=False).ok  # a perfect forgery, chain-wise
        ledger.log.delete_checkpoint("default")
    with ProjectionRunner(str(path)) as runner:
        runner.catch_up()
    return path


def _longer(folder: Path, source: Path) -> Path:
    """A copy of ``source`` that grew by two records, checkpointed at its end."""
    path = copy_store(source, folder, "longer.db")
    with Ledger.open(path, mode="write") as ledger:
        ledger.record_many([club("tyne", 7), club("wear", 7)])
    with ProjectionRunner(str(path)) as runner:
        runner.catch_up()
    return path


@pytest.mark.parametrize("donor", ["doctored", "rehashed", "longer"])
def test_a_transplanted_checkpoint_is_refused(checkpointed: Path, tmp_path: Path,
                                              donor: str) -> None:
    """A checkpoint copied in from another store (built separately, a history rewritten with
    recomputed hashes, a copy that grew) does not fit this log: the report replays and says
    why, and verify flags it."""
    store = copy_store(checkpointed, tmp_path / "store")
    source = (_doctored(tmp_path) if donor == "doctored" else
              _rehashed(tmp_path, checkpointed) if donor == "rehashed" else
              _longer(tmp_path, checkpointed))
    assert figures(source, checkpoint="default") != figures(store) or donor == "longer"
    transplant(source, store)

    replay = figures(store)
    assert figures(store, checkpoint="default") == replay
    note, started = note_of(store)
    assert started is None
    assert note.startswith("checkpoint 'default' does not fit this log (")
    assert note.endswith("ignored, replayed the log")
    assert "\n" not in note
    assert_report_is_a_replay(store, "does not fit this log")
    run = ssp(store.parent, "verify", "--store", store.name)
    assert run.code == 1
    assert "checkpoint 'default'" in run.out
    assert "Traceback" not in run.err


def test_a_checkpoint_from_an_identical_prefix_fits(checkpointed: Path, tmp_path: Path) -> None:
    """The positive control: a checkpoint made from a byte-identical copy of the log's first 14
    records fits the 16-record log (same records), and the report catches up the other two."""
    store = copy_store(checkpointed, tmp_path / "store")
    prefix = copy_store(checkpointed, tmp_path, "prefix.db")
    sql(prefix, f"DELETE FROM stored_events WHERE rowid>{RECORDS - 2}",
        "DELETE FROM ssp_projection_checkpoints", "DELETE FROM tracking")
    with ProjectionRunner(str(prefix)) as runner:
        runner.catch_up()
    transplant(prefix, store)
    assert figures(store, checkpoint="default") == figures(store)
    assert note_of(store) == (f"loaded checkpoint 'default' at position {RECORDS - 2}",
                              RECORDS - 2)
    with Ledger.open(store, mode="read") as ledger:
        assert verify(ledger).ok


# --------------------------------------------------------------------------- forgeries


def forge(path: Path, *, participants: int) -> None:
    """Replace checkpoint ``default`` by state computed as if tyne's club c3 had
    ``participants``, bound honestly to the real log (heads, count, state hash all right)."""
    with Ledger.open(path, mode="write") as ledger:
        factories = ledger.factories
        projections = ProjectionSet(factories, ledger.log.load)
        for position, rec in ledger.read():
            if rec.event.event_id == TARGET_EVENT:
                rec = msgspec.structs.replace(
                    rec, event=msgspec.structs.replace(rec.event, participants=participants))
            projections.process(position, rec)
        versions = ledger.log.stream_versions(projections.position)
        checkpoint = make_checkpoint(ledger.log, "default", projections, factories, versions,
                                     dt.datetime.now(dt.UTC))
        ledger.log.delete_checkpoint("default")
        ledger.log.save_checkpoint(checkpoint)


def test_a_forged_checkpoint_with_a_recomputed_binding_is_caught_by_verify(
        checkpointed: Path, tmp_path: Path) -> None:
    """State forged and bound with correct heads, count and hash passes every check a report can
    make cheaply (so a report may use it, and says it did); verify rebuilds it from the log and
    flags it, with or without a digest."""
    store = copy_store(checkpointed, tmp_path / "store")
    with Ledger.open(store, mode="read") as ledger:
        written_down = digest(ledger)
    forge(store, participants=999)
    with Ledger.open(store, mode="read", checkpoint="default") as ledger:
        table = ledger.report("participation", as_of=AS_OF_DATE, by="school")
        assert table.basis is not None
        assert table.basis["checkpoint"] == f"'default' at {RECORDS}"  # it says what it used
        report = verify(ledger)
    [problem] = report.problems
    assert (problem.kind, problem.position) == ("checkpoint", RECORDS)
    assert "checkpoint 'default'" in problem.detail
    assert "differs from the state rebuilt from the log" in problem.detail
    [check] = report.checkpoints
    assert check.status == "mismatch"

    runs = ssp_many(store.parent, [("verify", "--store", store.name),
                                   ("verify", "--store", store.name, "--digest",
                                    str(written_down))])
    for run in runs:
        assert run.code == 1, run.out
        assert f"position {RECORDS}: checkpoint: checkpoint 'default'" in run.out
        assert "Traceback" not in run.err
    assert "digest-mismatch" not in runs[1].out  # the log itself is intact


def test_verify_checks_every_checkpoint(checkpointed: Path, tmp_path: Path) -> None:
    """Several checkpoints: each is rebuilt and compared; a forged one among honest ones is
    named, the honest ones verified."""
    store = copy_store(checkpointed, tmp_path / "store")
    for name in ("nightly", "weekly"):
        with ProjectionRunner(str(store), name=name) as runner:
            runner.catch_up()
    forge(store, participants=7)
    with Ledger.open(store, mode="read") as ledger:
        report = verify(ledger)
    assert {c.name: c.status for c in report.checkpoints} == {
        "default": "mismatch", "nightly": "verified", "weekly": "verified"}
    assert [p.kind for p in report.problems] == ["checkpoint"]


# --------------------------------------------------------------------------- formats


def _old_version_state() -> bytes:
    """A snapshot header of another state version (the pickle era was version 1)."""
    return msgspec.msgpack.encode({"format": STATE_FORMAT, "version": 1, "position": RECORDS})


@pytest.mark.parametrize("change", ["fingerprint", "binding", "old-version", "truncated",
                                    "position"])
def test_an_unusable_checkpoint_is_ignored_with_a_one_line_note(
        checkpointed: Path, tmp_path: Path, change: str) -> None:
    """Another fingerprint, an unknown binding format, another state version, a truncated
    state (with the binding recomputed each time), a moved position: the report answers from
    the log and the note says why, in one line."""
    store = copy_store(checkpointed, tmp_path / "store")
    row = checkpoint_row(store)["row"]
    if change == "fingerprint":
        sql(store, "UPDATE ssp_projection_checkpoints SET fingerprint='someone-else'")
    elif change == "binding":
        sql(store, ("UPDATE ssp_projection_checkpoints SET anchor=?", [b"\x93\x01\x02\x03"]))
    elif change == "old-version":
        state = _old_version_state()
        sql(store, ("UPDATE ssp_projection_checkpoints SET state=?, anchor=?",
                    [state, rebound(store, state)]))
    elif change == "truncated":
        state = bytes(row["state"])[:-9]
        sql(store, ("UPDATE ssp_projection_checkpoints SET state=?, anchor=?",
                    [state, rebound(store, state)]))
    else:
        sql(store, "UPDATE ssp_projection_checkpoints SET position=position-3")
    expected = {
        "fingerprint": "was made by other projections, code or state format: ignored",
        "binding": "is in an older or unknown format: ignored",
        "old-version": "cannot be read (checkpoint state is not the data-only format",
        "truncated": "cannot be read (",
        "position": "does not fit this log",
    }[change]
    note, started = note_of(store)
    assert started is None
    assert expected in note
    assert "replayed the log" in note
    assert "\n" not in note
    assert figures(store, checkpoint="default") == figures(store)
    if change in ("fingerprint", "old-version"):
        assert_report_is_a_replay(store, expected)
    with Ledger.open(store, mode="read") as ledger:
        [check] = verify(ledger).checkpoints
    assert check.status == ("ignored" if change in ("fingerprint", "binding") else "mismatch")


# --------------------------------------------------------------------------- basis


def test_every_report_states_its_basis(checkpointed: Path, tmp_path: Path) -> None:
    """Table.basis: the log position, a hash of the stream heads, checkpoint or replay, and the
    known-at time; two readers of the same log get the same heads hash, a changed log another."""
    store = copy_store(checkpointed, tmp_path / "store")
    with Ledger.open(store, mode="read") as ledger:
        replayed = ledger.report("participation", as_of=AS_OF_DATE).basis
        known = dt.datetime(2100, 1, 1, tzinfo=dt.UTC)
        as_known = ledger.report("participation", as_of=AS_OF_DATE, known_at=known).basis
    with Ledger.open(store, mode="read", checkpoint="default") as ledger:
        loaded = ledger.report("participation", as_of=AS_OF_DATE).basis
    assert replayed is not None
    assert loaded is not None
    assert as_known is not None
    assert replayed["position"] == loaded["position"] == RECORDS
    assert replayed["checkpoint"] is None
    assert loaded["checkpoint"] == f"'default' at {RECORDS}"
    assert replayed["heads_sha256"] == loaded["heads_sha256"] == as_known["heads_sha256"]
    assert len(replayed["heads_sha256"]) == 64
    assert replayed["known_at"] is None
    assert as_known["known_at"] == known.isoformat()

    rewritten = copy_store(checkpointed, tmp_path / "rewritten")
    rewrite_history(rewritten, TARGET, participants=99)
    with Ledger.open(rewritten, mode="read") as ledger:
        other = ledger.report("participation", as_of=AS_OF_DATE).basis
    assert other is not None
    assert other["position"] == RECORDS
    assert other["heads_sha256"] != replayed["heads_sha256"]  # same length, other records

    footer, as_json = ssp_many(store.parent, [
        (*REPORT, "--store", store.name),
        (*REPORT, "--store", store.name, "--format", "json", "--checkpoint", "")])
    assert_ok(footer)
    assert footer.out.splitlines()[-1] == (
        f"basis: log position {RECORDS}, heads {replayed['heads_sha256'][:16]}, "
        f"checkpoint 'default' at {RECORDS}, known at: everything recorded")
    assert_ok(as_json)
    assert json.loads(as_json.out)["basis"] == replayed

    with Ledger.open(store, mode="write") as ledger:
        ledger.record(club("wear", 9))
        grown = ledger.report("participation", as_of=AS_OF_DATE).basis
    assert grown is not None
    assert grown["position"] == RECORDS + 1
    assert grown["heads_sha256"] != replayed["heads_sha256"]


def test_a_stream_id_in_the_binding_that_is_not_a_uuid_is_refused(
        checkpointed: Path, tmp_path: Path) -> None:
    """A binding naming a stream that is not a UUID (hand-made) is refused with a reason."""
    store = copy_store(checkpointed, tmp_path / "store")
    binding = Binding.decode(checkpoint_row(store)["row"]["anchor"])
    heads = [msgspec.structs.replace(h, stream="../../etc/passwd") for h in binding.heads]
    sql(store, ("UPDATE ssp_projection_checkpoints SET anchor=?",
                [msgspec.structs.replace(binding, heads=heads).encode()]))
    note, started = note_of(store)
    assert started is None
    assert "is not a UUID" in note
    assert "\n" not in note
    assert figures(store, checkpoint="default") == figures(store)
    with Ledger.open(store, mode="read") as ledger:
        assert not verify(ledger).ok


def test_a_state_too_big_for_a_stored_blob_is_refused_in_one_line(
        checkpointed: Path, tmp_path: Path) -> None:
    """A state longer than a store keeps in one row (SQLite's 10^9-byte blob by default) is
    refused before anything is written, with a one-line reason naming the size."""
    store = copy_store(checkpointed, tmp_path / "store")
    with Ledger.open(store, mode="write") as ledger:
        projections = ProjectionSet(ledger.factories, ledger.log.load)
        projections.process_all(ledger.read())
        versions = ledger.log.stream_versions(projections.position)
        size = len(projections.snapshot())
        fits = make_checkpoint(ledger.log, "big", projections, ledger.factories, versions,
                               dt.datetime.now(dt.UTC), max_bytes=size)
        assert fits.state == projections.snapshot()
        with pytest.raises(StoreError, match=f"is {size:,} bytes, over the {size - 1:,}") as e:
            make_checkpoint(ledger.log, "big", projections, ledger.factories, versions,
                            dt.datetime.now(dt.UTC), max_bytes=size - 1)
        assert "\n" not in str(e.value)
        assert ledger.log.load_checkpoint("big") is None


# --------------------------------------------------------------------------- parts


def _assert_unwritten(store: Path, before: FileState) -> None:
    """The store's bytes and time as they were, and no page in SQLite's write-ahead log."""
    assert file_state(store) == before
    wal = Path(f"{store}-wal")
    assert not wal.exists() or wal.stat().st_size == 0


def _layout(state: bytes) -> tuple[bytes, Any]:
    """The prefix and header of stored state bytes, and the header decoded."""
    header = read_header(len(state), bytes_reader(state))
    return header, decode_set(header, len(state))


def _flip(state: bytes, name: str) -> bytes:
    """``state`` with one byte changed in the middle of part ``name`` ("current": the facts in
    force); the header, and so the binding, left as they were."""
    header, layout = _layout(state)
    ref = layout.current if name == "current" else layout.parts[name]
    at = len(header) + ref.offset + ref.length // 2
    return state[:at] + bytes([state[at] ^ 0x5A]) + state[at + 1:]


def _store_with_state(checkpointed: Path, tmp_path: Path, edit: str) -> Path:
    """A copy of the checkpointed store whose checkpoint state was edited as ``edit`` says
    (the binding recomputed only where ``edit`` says so)."""
    store = copy_store(checkpointed, tmp_path / "store")
    state = bytes(checkpoint_row(store)["row"]["state"])
    header, layout = _layout(state)
    body = state[len(header):]
    rebind = False

    def relaid(header_state: Any) -> bytes:
        encoded = encode_state(header_state)
        return MAGIC + len(encoded).to_bytes(4, "big") + encoded + body

    if edit == "flip-participation":
        state = _flip(state, "participation")
    elif edit == "flip-leaders":
        state = _flip(state, "leaders")
    elif edit == "flip-current":
        state = _flip(state, "current")
    elif edit == "header-unbound":  # a part moved in the header, binding left alone
        ref = layout.parts["participation"]
        state = relaid(msgspec.structs.replace(layout, parts={
            **layout.parts, "participation": msgspec.structs.replace(ref, offset=0)}))
    elif edit in ("outside", "overlap", "length"):  # header edited and rebound
        names = sorted(layout.parts)
        first, second = layout.parts[names[0]], layout.parts[names[1]]
        changed = {"outside": {names[1]: msgspec.structs.replace(second, offset=len(state))},
                   "overlap": {names[1]: msgspec.structs.replace(second, offset=first.offset)},
                   "length": {names[0]: msgspec.structs.replace(first,
                                                                length=first.length + 7)}}[edit]
        state = relaid(msgspec.structs.replace(layout, parts={**layout.parts, **changed}))
        rebind = True
    elif edit == "malformed-participation":  # matches its (recomputed) hash, not an index
        parts = {name: Part(compressed=ref.compressed,
                            data=memoryview(body[ref.offset:ref.offset + ref.length]))
                 for name, ref in layout.parts.items()}
        current = layout.current
        parts["participation"] = pack_part(encode_state({"not": "an index"}))
        state = encode_set(position=layout.position, latest_us=layout.latest_us,
                           names=layout.names, parts=parts,
                           current=Part(compressed=current.compressed, data=memoryview(
                               body[current.offset:current.offset + current.length]))).join()
        rebind = True
    else:
        raise AssertionError(edit)
    if rebind:
        sql(store, ("UPDATE ssp_projection_checkpoints SET state=?, anchor=?",
                    [state, rebound(store, state)]))
    else:
        sql(store, ("UPDATE ssp_projection_checkpoints SET state=?", [state]))
    return store


@pytest.mark.parametrize(("edit", "note"), [
    ("flip-participation", "projection 'participation' of the checkpoint at position "
                           f"{RECORDS} cannot be read (its bytes do not match their hash"),
    ("malformed-participation", "projection 'participation' of the checkpoint at position "
                                f"{RECORDS} cannot be read ("),
    ("header-unbound", "its state does not match its own hash (altered in the store)"),
    ("outside", "cannot be read (checkpoint state is not the data-only format"),
    ("overlap", "does not follow the one before it"),
    ("length", "does not follow the one before it"),
])
def test_an_edited_part_or_layout_gives_a_replay_and_one_line(
        checkpointed: Path, tmp_path: Path, edit: str, note: str) -> None:
    """A checkpoint row edited in the store: a byte of the part a report reads (its hash in
    the header left alone), that part replaced by bytes that match a recomputed hash but are
    not its state, the header edited without or with a recomputed binding (offsets pointing
    outside the state, overlapping parts, a length that disagrees): the report prints exactly
    what a replay prints, says in one line why, never writes, and verify flags the row."""
    store = _store_with_state(checkpointed, tmp_path, edit)
    before = file_state(store)
    assert_report_is_a_replay(store, note)
    _assert_unwritten(store, before)
    assert figures(store, checkpoint="default") == figures(store)
    with Ledger.open(store, mode="read") as ledger:
        report = verify(ledger)
    [check] = report.checkpoints
    assert check.status == "mismatch"
    assert [p.kind for p in report.problems] == ["checkpoint"]
    run = ssp(store.parent, "verify", "--store", store.name)
    assert run.code == 1
    assert "Traceback" not in run.err


@pytest.mark.parametrize(("edit", "why"), [
    ("flip-leaders", "its part 'leaders' cannot be read (its bytes do not match their hash"),
    ("flip-current", "its part 'facts in force' cannot be read (its bytes do not match"),
])
def test_an_edited_part_a_report_does_not_read_is_left_unread_and_verify_flags_it(
        checkpointed: Path, tmp_path: Path, edit: str, why: str) -> None:
    """A byte changed in a part the report does not need (another projection's, or the facts
    in force, which a report with nothing to catch up never reads): the report still answers
    from the checkpoint, with the right figures, reading only what it needs; verify reads every
    part and names the damaged one."""
    store = _store_with_state(checkpointed, tmp_path, edit)
    before = file_state(store)
    with Ledger.open(store, mode="read", checkpoint="default") as ledger:
        table = ledger.report("participation", as_of=AS_OF_DATE, by="school")
        assert ledger.checkpoint_position == RECORDS
        assert table.basis is not None
        assert table.basis["checkpoint"] == f"'default' at {RECORDS}"
    with Ledger.open(store, mode="read") as ledger:
        assert ledger.report("participation", as_of=AS_OF_DATE, by="school").rows == table.rows
        [check] = verify(ledger).checkpoints
    _assert_unwritten(store, before)
    assert check.status == "mismatch"
    assert why in check.detail


def test_a_damaged_part_found_while_catching_up_gives_a_replay(
        checkpointed: Path, tmp_path: Path) -> None:
    """Records stored after the checkpoint make a report read the facts in force: when that
    part fails its hash, the report answers from a replay and the note says why."""
    store = _store_with_state(checkpointed, tmp_path, "flip-current")
    with Ledger.open(store, mode="write") as ledger:
        ledger.record(club("tyne", 20, participants=5))
    with Ledger.open(store, mode="read", checkpoint="default") as ledger:
        table = ledger.report("participation", as_of=AS_OF_DATE, by="school")
        assert ledger.checkpoint_position is None
        assert "the facts in force of the checkpoint" in ledger.checkpoint_note
        assert ledger.checkpoint_note.endswith("replayed the log")
    with Ledger.open(store, mode="read") as ledger:
        assert ledger.report("participation", as_of=AS_OF_DATE, by="school").rows == table.rows


def test_a_state_that_is_not_a_blob_gives_a_replay(checkpointed: Path, tmp_path: Path) -> None:
    """A state column holding text (or NULL) instead of a blob: one line, a replay."""
    store = copy_store(checkpointed, tmp_path / "store")
    sql(store, "UPDATE ssp_projection_checkpoints SET state='SSPLstat and then some text'")
    note, started = note_of(store)
    assert started is None
    assert "its state is text, not a blob" in note
    assert "\n" not in note
    assert figures(store, checkpoint="default") == figures(store)


def test_a_runner_resumes_from_and_saves_the_new_layout(checkpointed: Path,
                                                         tmp_path: Path) -> None:
    """The runner resumes from a checkpoint read by parts, saves the next one in pieces, and
    the saved state is byte for byte the snapshot of a replay to the same position."""
    store = copy_store(checkpointed, tmp_path / "store")
    with Ledger.open(store, mode="write") as ledger:
        ledger.record(club("wear", 21, participants=3))
    with ProjectionRunner(str(store), name="default") as runner:
        assert runner.resumed_from == RECORDS
        runner.catch_up()
    saved = bytes(checkpoint_row(store)["row"]["state"])
    with Ledger.open(store, mode="read") as ledger:
        replay = ProjectionSet(ledger.factories, ledger.log.load)
        replay.process_all(ledger.read())
        assert saved == replay.snapshot()
        assert verify(ledger).ok


@pytest.mark.parametrize("edit", ["flip-leaders", "flip-current"])
def test_a_runner_resuming_from_an_edited_part_rebuilds_from_position_0(
        checkpointed: Path, tmp_path: Path, edit: str) -> None:
    """The runner feeds every projection, so it checks every part as it resumes: a damaged
    one, even of a projection no report asked for, makes it start again from position 0 (in
    one line) and save a checkpoint that is the state of a replay."""
    store = _store_with_state(checkpointed, tmp_path, edit)
    with ProjectionRunner(str(store), name="default") as runner:
        assert runner.resumed_from == 0
        note = runner.resume_note
        assert note.startswith("checkpoint 'default' is damaged: ")
        assert note.endswith("rebuilding from position 0")
        assert "\n" not in note
        runner.catch_up()
    with Ledger.open(store, mode="read") as ledger:
        assert verify(ledger).ok
        replay = ProjectionSet(ledger.factories, ledger.log.load)
        replay.process_all(ledger.read())
    assert bytes(checkpoint_row(store)["row"]["state"]) == replay.snapshot()
