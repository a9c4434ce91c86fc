"""Every shell block of the README and docs/ runs as written (``tests/unit/test_docs.py`` runs
the Python blocks).

For each Markdown file, its shell blocks run in document order in one fresh temporary folder
holding a copy of the repository's ``examples/`` folder, with ``ssp-ledger`` on ``PATH`` running
this tree's code (a shim calling ``python -m ssp_ledger`` with the interpreter running the tests,
so ``PYTHONPATH`` decides which checkout is tested, as in the other e2e tests).

* A ```` ```sh ```` (or ``bash``/``shell``) block is a script: it runs with ``bash -euo pipefail``
  and must exit 0.
* A ```` ```console ```` block is a transcript: lines starting with ``$ `` are commands (a line
  ending in ``\\`` continues on the next), the lines after a command are its output (standard
  output and standard error, as a terminal shows them), compared with what the command printed.
  ``...`` on a line of its own stands for any number of lines; ``...`` inside a line for any
  text. A command must succeed unless its shown output has an ``error:`` line. The commands of a
  block share one shell, so ``echo $?`` shows the previous command's status.
* A block is skipped only when the line right before its fence is the marker
  ``<!-- not-run: REASON -->`` (for example a command that needs a PostgreSQL server, or the
  README's two set-up commands that build a virtual environment).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FENCE = re.compile(r"^```(sh|bash|shell|console)[^\n]*\n(.*?)^```", re.MULTILINE | re.DOTALL)
NOT_RUN = re.compile(r"<!-- not-run: (\S[^>]*?) -->\s*\Z")
MARKER = "\x1fssp-doc-command"

@dataclass(frozen=True)
class Block:
    """One shell block of a document."""

    doc: str
    line: int
    kind: str
    text: str
    skipped: str | None
    """The not-run reason, or None when the block runs."""

    @property
    def where(self) -> str:
        return f"{self.doc}:{self.line}"


def blocks(doc: Path) -> list[Block]:
    """The shell blocks of ``doc`` in order, each with its not-run reason (if marked)."""
    return blocks_of_text(doc.name, doc.read_text(encoding="utf-8"))


def blocks_of_text(name: str, text: str) -> list[Block]:
    """The shell blocks of a Markdown text named ``name``."""
    found = []
    for m in FENCE.finditer(text):
        before = text[:m.start()].rstrip("\n").rsplit("\n", 1)[-1]
        marker = NOT_RUN.search(before)
        kind = "script" if m.group(1) != "console" else "console"
        found.append(Block(name, text.count("\n", 0, m.start()) + 1, kind, m.group(2),
                           marker.group(1) if marker else None))
    return found


def transcript(text: str) -> list[tuple[str, list[str]]]:
    """(command, expected output lines) pairs of a console block."""
    out: list[tuple[str, list[str]]] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        if not line.startswith("$ "):
            msg = f"console output before any command: {line!r}"
            raise AssertionError(msg)
        command = [line[2:]]
        while command[-1].endswith("\\") and i + 1 < len(lines):
            i += 1
            command.append(lines[i])
        i += 1
        expected = []
        while i < len(lines) and not lines[i].startswith("$ "):
            expected.append(lines[i])
            i += 1
        out.append(("\n".join(command), expected))
    return out


def _line_matches(expected: str, actual: str) -> bool:
    if "..." not in expected:
        return expected.rstrip() == actual.rstrip()
    pattern = ".*".join(re.escape(part) for part in expected.rstrip().split("..."))
    return re.fullmatch(pattern, actual.rstrip()) is not None


def output_matches(expected: list[str], actual: list[str]) -> bool:
    """Whether ``actual`` lines match ``expected`` (``...`` lines match any number of lines)."""
    if not expected:
        return True  # no output shown: the command only has to run
    memo: dict[tuple[int, int], bool] = {}

    def match(i: int, j: int) -> bool:
        key = (i, j)
        if key not in memo:
            if i == len(expected):
                result = j == len(actual)
            elif expected[i].strip() == "...":
                result = match(i + 1, j) or (j < len(actual) and match(i, j + 1))
            else:
                result = (j < len(actual) and _line_matches(expected[i], actual[j])
                          and match(i + 1, j + 1))
            memo[key] = result
        return memo[key]

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10 * (len(expected) + len(actual))))
    return match(0, 0)


@pytest.fixture(scope="module")
def shim(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder holding an ``ssp-ledger`` that runs this tree's code."""
    folder = tmp_path_factory.mktemp("bin")
    script = folder / "ssp-ledger"
    script.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m ssp_ledger "$@"\n',
                      encoding="utf-8")
    script.chmod(0o755)
    return folder


def _env(shim: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("SSP_LEDGER_STORE", "COLUMNS")}
    env["PATH"] = f"{shim}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHONIOENCODING"] = "utf-8"
    return env


def _run_script(block: Block, cwd: Path, env: dict[str, str]) -> None:
    proc = subprocess.run(["bash", "-euo", "pipefail", "-c", block.text], cwd=cwd, env=env,
                          capture_output=True, timeout=120, check=False)
    assert proc.returncode == 0, (
        f"{block.where}: the block exited with {proc.returncode}\n"
        f"{proc.stdout.decode(errors='replace')}{proc.stderr.decode(errors='replace')}")


def _run_console(block: Block, cwd: Path, env: dict[str, str]) -> None:
    steps = transcript(block.text)
    script = ["exec 2>&1"]
    for n, (command, _) in enumerate(steps):
        script += [command, f"__rc=$?; printf '\\n{MARKER} {n} %d\\n' $__rc; (exit $__rc)"]
    proc = subprocess.run(["bash", "-c", "\n".join(script)], cwd=cwd, env=env,
                          capture_output=True, timeout=120, check=False)
    text = proc.stdout.decode("utf-8", errors="replace")
    parts = re.split(rf"\n{MARKER} (\d+) (\d+)\n", text)
    assert len(parts) == 3 * len(steps) + 1, f"{block.where}: the block stopped early:\n{text}"
    for n, (command, expected) in enumerate(steps):
        output, status = parts[3 * n].removesuffix("\n"), int(parts[3 * n + 2])
        actual = output.split("\n") if output else []
        failing = any(line.startswith("error:") for line in expected)
        assert (status != 0) == failing, (
            f"{block.where}: `{command}` exited with {status}"
            f"{' (the doc shows an error)' if failing else ''}:\n{output}")
        assert output_matches(expected, actual), (
            f"{block.where}: `{command}` printed something else than the doc shows.\n"
            "--- doc\n" + "\n".join(expected) + "\n--- actual\n" + output)


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_shell_blocks_run(doc: Path, tmp_path: Path, shim: Path) -> None:
    shutil.copytree(ROOT / "examples", tmp_path / "examples")
    env = _env(shim)
    for block in blocks(doc):
        if block.skipped is not None:
            continue
        if block.kind == "script":
            _run_script(block, tmp_path, env)
        else:
            _run_console(block, tmp_path, env)


def test_transcript_matching_can_fail() -> None:
    """The matcher is strict where no ``...`` is given, loose only where one is."""
    assert output_matches(["a", "...", "z"], ["a", "b", "c", "z"])
    assert output_matches(["recorded ... events"], ["recorded 12 events"])
    assert not output_matches(["a", "z"], ["a", "b", "z"])
    assert not output_matches(["recorded 3 events"], ["recorded 4 events"])
    assert not output_matches(["a", "..."], ["b"])
    assert transcript("$ a \\\n    b\nout\n$ c\n") == [("a \\\n    b", ["out"]), ("c", [])]
    marked = "<!-- not-run: needs PostgreSQL -->\n```sh\nx\n```\n\n```sh\ny\n```\n"
    parsed = [(b.skipped, b.text) for b in blocks_of_text("x.md", marked)]
    assert parsed == [("needs PostgreSQL", "x\n"), (None, "y\n")]

