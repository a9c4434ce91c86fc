"""``ssp-ledger import`` reads standard input, /dev/stdin, pipes, FIFOs and process substitutions,
as it goes (nothing is read ahead to count lines), and stops with one line on endless input.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from tests.e2e.test_cli import GOOD_EVENTS, assert_one_line_error, ssp

pytestmark = pytest.mark.e2e

GOOD = "".join(json.dumps(e) + "\n" for e in GOOD_EVENTS).encode()
RECORDED = f"recorded {len(GOOD_EVENTS)} events"


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("SSP_LEDGER_STORE", "COLUMNS")}
    env["PYTHONIOENCODING"] = "utf-8"
    return env


def _run(cwd: Path, args: list[str], data: bytes | None) -> tuple[int, str, str]:
    proc = subprocess.run([sys.executable, "-m", "ssp_ledger", *args], cwd=cwd, env=_env(),
                          input=data, capture_output=True, timeout=120, check=False)
    return proc.returncode, proc.stdout.decode(), proc.stderr.decode()


@pytest.mark.parametrize("source", ["-", "/dev/stdin"])
def test_standard_input_is_imported(tmp_path: Path, source: str) -> None:
    code, out, err = _run(tmp_path, ["import", source, "--store", "s.db"], GOOD)
    assert code == 0, err
    assert RECORDED in out


def test_standard_input_csv_is_recognised_by_its_header(tmp_path: Path) -> None:
    assert _run(tmp_path, ["import", "-", "--store", "s.db"], GOOD)[0] == 0
    csv = (b"partnership_id,occurred_on,event_id,club_id,school_id,activity,participants\n"
           b"tyne[side],2006-10-03,c2,football,hub,football,12\n")
    code, out, err = _run(tmp_path, ["import", "-", "--store", "s.db"], csv)
    assert code == 0, err
    assert "recorded 1 event," in out


def test_a_fifo_is_imported(tmp_path: Path) -> None:
    fifo = tmp_path / "events.jsonl"
    os.mkfifo(fifo)

    def feed() -> None:
        with fifo.open("wb") as f:
            f.write(GOOD)

    writer = threading.Thread(target=feed, daemon=True)
    writer.start()
    code, out, err = _run(tmp_path, ["import", fifo.name, "--store", "s.db"], None)
    writer.join(timeout=30)
    assert code == 0, err
    assert RECORDED in out


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_a_process_substitution_is_imported(tmp_path: Path) -> None:
    (tmp_path / "e.jsonl").write_bytes(GOOD)
    command = (f"{sys.executable} -m ssp_ledger import <(cat e.jsonl) --store s.db")
    proc = subprocess.run(["bash", "-c", command], cwd=tmp_path, env=_env(),
                          capture_output=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr.decode()
    assert RECORDED in proc.stdout.decode()


def test_a_bad_line_stops_the_import_before_the_input_ends(tmp_path: Path) -> None:
    # The writer keeps the pipe open: an importer that read to the end first would hang.
    proc = subprocess.Popen([sys.executable, "-m", "ssp_ledger", "import", "-", "--store",
                             "s.db", "--format", "jsonl"], cwd=tmp_path, env=_env(),
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    assert proc.stdin is not None
    proc.stdin.write(GOOD + b'{"type": "ClubRun"\n')
    proc.stdin.flush()
    try:
        code = proc.wait(timeout=60)
    finally:
        proc.kill()
    assert proc.stderr is not None
    text = proc.stderr.read().decode()
    proc.stdin.close()
    assert code == 1
    assert text.startswith("error: <stdin>:4"), text
    assert len(text.splitlines()) == 1


@pytest.mark.parametrize("args", [(), ("--format", "jsonl"), ("--format", "csv")])
def test_endless_input_without_newlines_ends_with_one_line(tmp_path: Path,
                                                          args: tuple[str, ...]) -> None:
    run = ssp(tmp_path, "import", "/dev/zero", "--store", "s.db", *args, timeout=60)
    assert_one_line_error(run)
    assert "/dev/zero:1" in run.err
    assert "longer than the limit" in run.err
