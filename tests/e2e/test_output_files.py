"""Every file a command writes on request lands the way users expect (ssp_ledger.outfile).

For each command with ``--out`` (or ``--plot``): a new file gets ``open()``'s permissions under
the umask (022: 0644, 077: 0600); an existing file keeps its mode; ``/dev/null`` stays a character
device; a FIFO's reader gets the bytes; a symbolic link stays a link and its target gets the
content. Each command runs as a subprocess (``python -m ssp_ledger``).
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.e2e.test_cli import GOOD_EVENTS, write_jsonl
from tests.e2e.test_scenario_cli import SCENARIO

pytestmark = pytest.mark.e2e

#: command -> (arguments before the output path, option naming the output, file suffix,
#: what the written bytes start with)
COMMANDS: dict[str, tuple[tuple[str, ...], str, str, bytes]] = {
    "export": (("export", "--store", "s.db"), "--out", ".jsonl", b'{"type":'),
    "export-table": (("export-table", "participation", "--as-of", "2011-07-31", "--format",
                      "csv", "--store", "s.db"), "--out", ".csv", b"group,sessions"),
    "schema": (("schema",), "--out", ".json", b"{"),
    "sweep": (("scenario", "sweep", "cut.toml", "--param", "seed", "--values", "1",
               "--workers", "1"), "--out", ".csv", b"parameter,value"),
    "plot": (("scenario", "run", "cut.toml", "--format", "csv"), "--plot", ".svg", b"<?xml"),
}


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder holding a small store ``s.db`` and a scenario file ``cut.toml``."""
    here = tmp_path_factory.mktemp("out")
    write_jsonl(here / "good.jsonl", GOOD_EVENTS)
    assert _run(here, ["import", "good.jsonl", "--store", "s.db"]).returncode == 0
    (here / "cut.toml").write_text(SCENARIO, encoding="utf-8")
    return here


def _run(cwd: Path, args: list[str], umask: int = 0o022) -> subprocess.CompletedProcess[bytes]:
    env = {k: v for k, v in os.environ.items() if k not in ("SSP_LEDGER_STORE", "COLUMNS")}
    return subprocess.run([sys.executable, "-m", "ssp_ledger", *args], cwd=cwd, env=env,
                          capture_output=True, timeout=300, check=False, umask=umask)


def _write(folder: Path, command: str, target: str, umask: int = 0o022) -> None:
    before, option, _, _ = COMMANDS[command]
    run = _run(folder, [*before, option, target], umask)
    assert run.returncode == 0, run.stderr.decode()


def _target(folder: Path, command: str, name: str) -> Path:
    path = folder / f"{command}-{name}{COMMANDS[command][2]}"
    for stale in (path, Path(f"{path}.manifest.json")):
        stale.unlink(missing_ok=True)
    return path


def _looks_right(command: str, data: bytes) -> None:
    assert data.startswith(COMMANDS[command][3]), data[:80]


@pytest.mark.parametrize("command", sorted(COMMANDS))
@pytest.mark.parametrize(("umask", "mode"), [(0o022, 0o644), (0o077, 0o600)])
def test_a_new_file_gets_the_permissions_open_would_give(folder: Path, command: str,
                                                         umask: int, mode: int) -> None:
    path = _target(folder, command, f"new-{umask:o}")
    _write(folder, command, path.name, umask)
    assert stat.S_IMODE(path.stat().st_mode) == mode
    _looks_right(command, path.read_bytes())
    assert not [p for p in folder.iterdir() if p.name.endswith(".tmp")]


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_an_existing_file_keeps_its_mode_and_gets_the_new_content(folder: Path,
                                                                  command: str) -> None:
    path = _target(folder, command, "existing")
    path.write_bytes(b"old")
    path.chmod(0o640)
    _write(folder, command, path.name, 0o077)
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    _looks_right(command, path.read_bytes())


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_dev_null_stays_a_character_device(folder: Path, command: str) -> None:
    if command == "plot":  # --plot wants a .svg name: reach /dev/null through a link
        link = _target(folder, command, "null")
        link.symlink_to("/dev/null")
        _write(folder, command, link.name)
        assert link.is_symlink()
    else:
        _write(folder, command, "/dev/null")
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)


def _reading(path: Path) -> tuple[threading.Thread, Callable[[], bytes]]:
    got: list[bytes] = []

    def read() -> None:
        with path.open("rb") as f:
            got.append(f.read())

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    return reader, lambda: got[0]


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_a_fifo_reader_gets_the_bytes(folder: Path, command: str) -> None:
    fifo = _target(folder, command, "fifo")
    os.mkfifo(fifo)
    reader, data = _reading(fifo)
    _write(folder, command, fifo.name)
    reader.join(timeout=60)
    assert not reader.is_alive()
    assert stat.S_ISFIFO(fifo.lstat().st_mode)
    _looks_right(command, data())


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_a_symlink_stays_a_link_and_its_target_gets_the_content(folder: Path,
                                                                 command: str) -> None:
    target = _target(folder, command, "target")
    target.write_bytes(b"old")
    target.chmod(0o604)
    link = _target(folder, command, "link")
    link.symlink_to(target.name)
    _write(folder, command, link.name)
    assert link.is_symlink()
    assert os.readlink(link) == target.name
    _looks_right(command, target.read_bytes())
    assert stat.S_IMODE(target.stat().st_mode) == 0o604


def test_export_table_to_standard_output_with_a_manifest_elsewhere(folder: Path) -> None:
    before, _, _, start = COMMANDS["export-table"]
    manifest = _target(folder, "export-table", "stdout")
    run = _run(folder, [*before, "--out", "-", "--manifest", manifest.name])
    assert run.returncode == 0, run.stderr.decode()
    assert run.stdout.startswith(start)
    assert b'"kind": "projection"' in manifest.read_bytes()
    assert b"exported" in run.stderr


def test_export_table_to_a_device_writes_no_manifest_beside_it(folder: Path) -> None:
    before, _, _, _ = COMMANDS["export-table"]
    run = _run(folder, [*before, "--out", "/dev/null"])
    assert run.returncode == 0, run.stderr.decode()
    assert b"no manifest written" in run.stdout
    assert not Path("/dev/null.manifest.json").exists()
