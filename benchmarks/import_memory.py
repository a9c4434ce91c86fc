"""Peak memory of a streamed import, against the same file's size and a whole-file reference.

    python benchmarks/import_memory.py --lines 1000000

Writes N lines of the seeded synthetic history as JSONL, then runs, each in a fresh process:

import     ``ssp-ledger import FILE --store NEW.db`` (the CLI as a user runs it: one
           transaction, all-or-nothing, the file parsed line by line);
stdin      the same through ``ssp-ledger import - --store NEW.db`` from a pipe;
reference  reading the whole file into a list of events first (what the import did before it
           streamed) and recording that list.

and reports each one's peak RSS (``ru_maxrss`` of the child) and wall time. The target of the
trust issue is a 1M-line import under 300 MiB peak RSS. Never part of the test suite.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

MIB = 1 << 20

_REFERENCE = """
import sys
from pathlib import Path
from ssp_ledger import Ledger
from ssp_ledger.io import read_jsonl
events = read_jsonl(Path(sys.argv[1]))
with Ledger.open(sys.argv[2], projections={}) as ledger:
    ledger.record_many(list(events))
"""


def _write(path: Path, lines: int, seed: int) -> None:
    from ssp_ledger.io import export_jsonl
    from ssp_ledger.synthetic import SyntheticConfig, generate

    events = []
    partnerships = 1
    while True:
        events = list(generate(SyntheticConfig(partnerships=partnerships, seed=seed)))
        if len(events) >= lines:
            break
        partnerships = max(partnerships + 1, int(partnerships * lines / max(len(events), 1)) + 1)
    export_jsonl(events[:lines], path)


_WRAPPER = (
    "import resource, subprocess, sys\n"
    "done = subprocess.run(sys.argv[1:], capture_output=True, text=True)\n"
    "sys.stderr.write(done.stderr)\n"
    "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
    "sys.exit(done.returncode)\n"
)


def _run(argv: list[str], stdin: Path | None = None) -> tuple[float, float]:
    """(seconds, peak RSS MiB) of one child process (measured by a wrapper whose only child it
    is, so each phase's peak is its own)."""
    started = time.perf_counter()
    with (stdin.open("rb") if stdin else open("/dev/null", "rb")) as source:
        done = subprocess.run([sys.executable, "-c", _WRAPPER, *argv], stdin=source,
                              capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(f"{' '.join(argv)} failed: {done.stderr.strip()[-400:]}")
    return seconds, int(done.stdout.strip().splitlines()[-1]) / 1024


def main() -> int:
    """Run the measurements and print one JSON line per phase."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=2006)
    args = parser.parse_args()
    cli = str(Path(sys.executable).with_name("ssp-ledger"))
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "events.jsonl"
        _write(source, args.lines, args.seed)
        size = source.stat().st_size / MIB
        phases = [
            ("import", [cli, "import", str(source), "--store", f"{tmp}/a.db"], None),
            ("stdin", [cli, "import", "-", "--store", f"{tmp}/b.db"], source),
            ("reference", [sys.executable, "-c", _REFERENCE, str(source), f"{tmp}/c.db"], None),
        ]
        for name, argv, stdin in phases:
            seconds, peak = _run(argv, stdin)
            print(json.dumps({"phase": name, "lines": args.lines, "file_mib": round(size, 1),
                              "seconds": round(seconds, 2), "peak_rss_mib": round(peak, 1)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
