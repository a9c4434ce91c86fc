"""Crash safety: a killed import stores all of its batch or none of it, and the store still
verifies; a read-only store or a full disk gives a one-line error, not a traceback."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ssp_ledger import Ledger, StoreError
from ssp_ledger.audit import verify
from ssp_ledger.io import export_jsonl
from ssp_ledger.synthetic import SyntheticConfig, generate
from tests.e2e.test_cli import assert_one_line_error, ssp
from tests.unit.test_partnership import club, formed, joined


def _count(store: Path) -> int:
    if not store.exists():
        return 0
    with sqlite3.connect(store) as conn:
        tables = conn.execute("SELECT name FROM sqlite_master WHERE name='stored_events'")
        if tables.fetchone() is None:
            return 0
        return int(conn.execute("SELECT COUNT(*) FROM stored_events").fetchone()[0])


@pytest.fixture(scope="module")
def big_file(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int]:
    path = tmp_path_factory.mktemp("big") / "history.jsonl"
    count = export_jsonl(generate(SyntheticConfig(partnerships=3)), path)
    return path, count


@pytest.mark.parametrize("delay", [0.4, 1.0, 1.6, 2.4])
def test_kill_9_during_import_leaves_all_or_nothing(big_file: tuple[Path, int], tmp_path: Path,
                                                     delay: float) -> None:
    path, count = big_file
    store = tmp_path / "s.db"
    proc = subprocess.Popen([sys.executable, "-m", "ssp_ledger", "import", str(path),
                             "--store", str(store)], cwd=tmp_path,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(delay)
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=60)
    assert _count(store) in (0, count)
    if store.exists():
        with Ledger.open(store, projections={}) as ledger:
            report = verify(ledger)
            assert report.ok, report.problems
            assert report.checked in (0, count)
    # the import can simply be run again: nothing half-written is in the way
    again = ssp(tmp_path, "import", str(path), "--store", str(store))
    assert again.code == 0, again.err
    assert _count(store) == count


def test_read_only_store_is_a_clear_error(tmp_path: Path) -> None:
    store = tmp_path / "s.db"
    with Ledger.open(store, projections={}) as ledger:
        ledger.record_many([formed(), joined()])
    before = store.read_bytes()
    with Ledger.open(f"file:{store}?mode=ro", projections={}) as ro:
        assert len(list(ro.events())) == 2
        with pytest.raises(StoreError, match="read-only"):
            ro.record(club(1))
    assert store.read_bytes() == before
    jsonl = tmp_path / "one.jsonl"
    export_jsonl([club(2)], jsonl)
    run = ssp(tmp_path, "import", str(jsonl), "--store", f"file:{store}?mode=ro")
    assert_one_line_error(run)
    assert "read-only" in run.err


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    mount = tmp_path / "tiny"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=160k", "tmpfs", str(mount)],
                          capture_output=True, check=False)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here (needs root): {done.stderr.decode()}")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


def test_full_disk_is_a_clear_error(tiny_disk: Path, big_file: tuple[Path, int]) -> None:
    store = tiny_disk / "s.db"
    path, _ = big_file
    run = ssp(tiny_disk.parent, "import", str(path), "--store", str(store))
    assert_one_line_error(run)
    assert "full" in run.err
    with Ledger.open(store, projections={}) as ledger:
        assert verify(ledger).ok
        assert ledger.position == 0
