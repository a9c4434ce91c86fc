"""The hash chain under attack: who is blamed, what a digest proves, and writers that must not
hide a break or lose each other's records.

* verify names the record that was altered (its payload, or its ``prev_hash``), not its
  innocent neighbour;
* nothing is appended onto a broken chain (that would bury the break under new records);
* the empty store's digest verifies, and growth after a digest is not tampering;
* what only a digest kept elsewhere can prove: a truncated tail, or a history rewritten with
  every hash recomputed, verifies on its own and fails against the digest;
* sixteen writers appending to one partnership at once all succeed and lose nothing.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from ssp_ledger import Ledger, StoreError
from ssp_ledger.audit import Digest, digest, verify
from ssp_ledger.store import GENESIS
from tests.adversarial.attack import (
    CLUBS,
    RECORDS,
    SUCCESSOR,
    TARGET,
    TARGET_EVENT,
    assert_ok,
    assert_one_line_error,
    build_store,
    cli_env,
    club,
    copy_store,
    envelope,
    file_state,
    interleaved,
    reseal,
    rewrite_history,
    sql,
    ssp,
    ssp_many,
    state_at,
)


def alter_payload(path: Path, position: int = TARGET) -> None:
    """Change one byte of a record's event (its activity), nothing else."""
    state = state_at(path, position)
    assert state.count(b"football") == 1
    sql(path, ("UPDATE stored_events SET state=? WHERE rowid=?",
               [state.replace(b"football", b"footbalL"), position]))


def alter_prev_hash(path: Path, position: int = TARGET) -> None:
    """Change a record's ``prev_hash`` (one bit), nothing else."""
    env = envelope(state_at(path, position))
    env[2] = bytes([env[2][0] ^ 1]) + env[2][1:]
    sql(path, ("UPDATE stored_events SET state=? WHERE rowid=?", [reseal(env), position]))


def delete_record(path: Path, position: int = TARGET) -> None:
    sql(path, ("DELETE FROM stored_events WHERE rowid=?", [position]))


ALTERATIONS = {"payload": alter_payload, "prev-hash": alter_prev_hash, "deleted": delete_record}


# --------------------------------------------------------------------------- blame


@pytest.mark.parametrize("what", ["payload", "prev-hash"])
def test_verify_blames_the_altered_record(plain: Path, tmp_path: Path, what: str) -> None:
    """Changing record 9's payload or its prev_hash: verify names record 9 (tyne-c3) as
    altered, once, and does not also blame its successor (11) or predecessor (7)."""
    store = copy_store(plain, tmp_path)
    ALTERATIONS[what](store)
    with Ledger.open(store, mode="read") as ledger:
        problems = verify(ledger).problems
    assert [(p.kind, p.position) for p in problems] == [("changed", TARGET)]
    [problem] = problems
    assert f"event '{TARGET_EVENT}'" in problem.detail
    assert "was altered" in problem.detail
    if what == "payload":
        assert "its bytes no longer match the hash its successor" in problem.detail
    else:
        assert "it no longer chains to its predecessor" in problem.detail
    run = ssp(tmp_path, "verify", "--store", store.name)
    assert run.out.startswith(f"position {TARGET}: changed: event '{TARGET_EVENT}'")
    assert_one_line_error(run, f"first: position {TARGET}: changed")


# --------------------------------------------------------------------------- appends


@pytest.mark.parametrize(("what", "named"), [("payload", SUCCESSOR), ("prev-hash", TARGET),
                                             ("deleted", SUCCESSOR)])
def test_nothing_is_appended_onto_a_broken_chain(plain: Path, tmp_path: Path, what: str,
                                                 named: int) -> None:
    """A write to the partnership whose chain is broken is refused, naming where, and stores
    nothing: not through the library, not through import."""
    store = copy_store(plain, tmp_path)
    ALTERATIONS[what](store)
    before = file_state(store)
    with Ledger.open(store, mode="write") as ledger:
        with pytest.raises(StoreError, match=f"position {named} .*run 'ssp-ledger verify'"):
            ledger.record(club("tyne", 20))
        with pytest.raises(StoreError, match=f"position {named}"):
            ledger.record_many([club("wear", 20), club("tyne", 21)])  # all or nothing
    more = tmp_path / "more.jsonl"
    more.write_text(json.dumps({
        "type": "ClubRun", "partnership_id": "tyne", "occurred_on": "2006-10-01",
        "event_id": "late", "club_id": "fc", "school_id": "tyne-hub", "activity": "football",
        "participants": 5}) + "\n", encoding="utf-8")
    for run in ssp_many(tmp_path, [("import", "more.jsonl", "--store", store.name),
                                   ("import", "-", "--store", store.name)]):
        if run.args[1] == "-":
            assert_ok(run)  # nothing to append: nothing refused
        else:
            assert_one_line_error(run, f"position {named}", "ssp-ledger verify")
    assert file_state(store).sha256 == before.sha256
    with Ledger.open(store, mode="read") as ledger:
        assert ledger.position == RECORDS  # (the deleted row was not the last)


# --------------------------------------------------------------------------- digests


def test_the_empty_store_digest_verifies(tmp_path: Path) -> None:
    assert_ok(ssp(tmp_path, "init", "--store", "s.db"))
    run = ssp(tmp_path, "digest", "--store", "s.db")
    assert_ok(run)
    empty = run.out.strip()
    assert empty == f"0:{GENESIS.hex()}"
    wrong = f"0:{'f' * 64}"
    good, bad = ssp_many(tmp_path, [("verify", "--store", "s.db", "--digest", empty),
                                    ("verify", "--store", "s.db", "--digest", wrong)])
    assert_ok(good)
    assert f"matches digest {empty}" in good.out
    assert_one_line_error(bad, "digest-mismatch")
    with Ledger.open(tmp_path / "s.db", mode="write") as ledger:
        assert verify(ledger, digest(ledger)).ok
        for event in interleaved()[:4]:
            ledger.record(event)
        assert verify(ledger, Digest.parse(empty)).ok  # growth since is not tampering


def test_what_only_an_external_digest_proves(plain: Path, tmp_path: Path) -> None:
    """A truncated tail, a last record changed in place, a history rewritten with every hash
    recomputed: each verifies on its own, and each fails against the digest written down
    before."""
    with Ledger.open(plain, mode="read") as ledger:
        written_down = str(digest(ledger))
    attacks = {
        "truncated": lambda p: delete_record(p, RECORDS),
        "last-changed": lambda p: alter_payload(p, RECORDS),
        "rewritten": lambda p: rewrite_history(p, TARGET, participants=99),
    }
    stores = {}
    for name, attack in attacks.items():
        stores[name] = copy_store(plain, tmp_path / name)
        attack(stores[name])
    runs = ssp_many(tmp_path, [args for name in attacks for args in (
        ("verify", "--store", f"{name}/s.db"),
        ("verify", "--store", f"{name}/s.db", "--digest", written_down))])
    for name, alone, against in zip(attacks, runs[::2], runs[1::2], strict=True):
        assert_ok(alone)  # the chain itself is intact
        kind = "truncated" if name == "truncated" else "digest-mismatch"
        assert_one_line_error(against, kind)
    assert "records were removed from the tail" in runs[1].err


# --------------------------------------------------------------------------- writers

WRITERS = 16
EACH = 10


def _writer_file(folder: Path, writer: int) -> Path:
    path = folder / f"w{writer:02d}.jsonl"
    path.write_text("".join(json.dumps({
        "type": "ClubRun", "partnership_id": "tyne", "occurred_on": "2006-10-02",
        "event_id": f"w{writer:02d}-{i}", "club_id": "fc", "school_id": "tyne-hub",
        "activity": "football", "participants": 1 + i}) + "\n" for i in range(EACH)),
        encoding="utf-8")
    return path


def test_sixteen_writer_processes_on_one_partnership_all_succeed(plain: Path,
                                                                 tmp_path: Path) -> None:
    store = copy_store(plain, tmp_path)
    files = [_writer_file(tmp_path, w) for w in range(WRITERS)]
    procs = [subprocess.Popen([sys.executable, "-m", "ssp_ledger", "import", f.name, "--store",
                               store.name], cwd=tmp_path, env=cli_env(),
                              stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE) for f in files]
    results = [p.communicate(timeout=180) for p in procs]
    for proc, (out, err) in zip(procs, results, strict=True):
        assert proc.returncode == 0, err.decode()
        assert out.decode().startswith(f"recorded {EACH} events, skipped 0 duplicates")
    with Ledger.open(store, mode="read") as ledger:
        assert ledger.position == RECORDS + WRITERS * EACH
        ids = [rec.event.event_id for rec in ledger.events("tyne")]
        report = verify(ledger)
    assert report.ok, report.problems[:3]
    expected = {f"w{w:02d}-{i}" for w in range(WRITERS) for i in range(EACH)}
    assert sorted(set(ids) & expected) == sorted(expected)
    assert len(ids) == len(set(ids))


def test_sixteen_writers_on_postgres_all_succeed(postgres_store: str) -> None:
    """The same on PostgreSQL: sixteen ledgers (threads, each its own connection pool) append
    to one partnership event by event; conflicts are retried, nothing is lost."""
    build_store(postgres_store)
    errors: list[BaseException] = []

    def write(writer: int) -> None:
        try:
            with Ledger.open(postgres_store, mode="write", projections={}) as ledger:
                for i in range(EACH // 2):
                    ledger.record(club("tyne", 1 + i, event_id=f"w{writer:02d}-{i}"))
        except BaseException as e:  # reported below
            errors.append(e)

    threads = [threading.Thread(target=write, args=(w,)) for w in range(WRITERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=180)
    assert not errors, errors[:3]
    with Ledger.open(postgres_store, mode="read", projections={}) as ledger:
        ids = [rec.event.event_id for rec in ledger.events("tyne")]
        assert verify(ledger).ok
    assert len(ids) == len(set(ids)) == 2 + CLUBS + WRITERS * (EACH // 2)
