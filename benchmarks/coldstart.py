"""Cold start from a checkpoint: every projection x grouping through the CLI, one process each.

    python benchmarks/coldstart.py --n 100000 --out benchmarks/coldstart.json
    python benchmarks/coldstart.py --db ledger.db          # an existing store
    python benchmarks/coldstart.py --db ledger.db --no-save --only survey   # as it is saved

What a user waits for when they type ``ssp-ledger report NAME --by BY`` against a store with a
saved checkpoint: a fresh ``python -m ssp_ledger report ...`` process per (projection,
grouping), timed from spawn to exit (interpreter start, imports, opening the store, checking the
checkpoint's binding, decoding the state the query needs, answering, printing CSV), with its CPU
time and peak resident set size from ``os.wait4`` (the child's own ``ru_utime + ru_stime`` and
``ru_maxrss``). The 0.5 s is judged on the CPU time (:data:`JUDGED`): on a shared machine the
wall time mostly measures the other tenants. The reference is the same
command's floor: ``python -c pass`` (interpreter start alone), measured the same way.

Without ``--db`` it builds a store of ``--n`` synthetic events with the ``append`` phase of
:mod:`run` (same seed, same batches); either way it then saves the checkpoint with run's
``checkpoint`` phase (a checkpoint made by other code would be refused, and every report would
replay the log instead: a kind whose command says so on stderr is counted as missed). The
measured processes cache their byte code in a temporary folder, as an installed copy does, and
one report per projection warms that cache before anything is timed. ``run.py`` calls
:func:`measure` as its ``cold reports`` phase. Targets (issue 13): each under 0.5 s and 200 MiB.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from run import LAST_DAY, _spawn  # the sibling script's helpers (benchmarks/ is sys.path[0])

Json = dict[str, Any]

#: Seconds and bytes every cold report must stay under (issue 13).
TARGET_S = 0.5
TARGET_RSS = 200 * 2**20
#: Runs per kind; the median is judged (the box is shared).
REPEAT = 3
#: What the 0.5 s is judged on: the process's CPU time (user + system). On a shared machine
#: the wall time mostly measures the other tenants; on an idle one the two differ by the few
#: milliseconds of waiting for the file (the wall time is recorded beside it).
JUDGED = "median_cpu_s"


def kinds() -> list[tuple[str, str | None]]:
    """Every registered projection, in total and by each of its groupings and period kinds."""
    from ssp_ledger.projection import PERIOD_KINDS, load_projections

    out: list[tuple[str, str | None]] = []
    for name, factory in sorted(load_projections().items()):
        groupings = tuple(getattr(factory, "groupings", ()) or ())
        out += [(name, None), *((name, by) for by in (*groupings, *PERIOD_KINDS))]
    return out


def _child_env(cache: str) -> dict[str, str]:
    """The environment of the measured processes: byte-code cached (in ``cache``, never beside
    the sources) as on any installed copy, even where the caller turned caching off."""
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = cache
    return env


def _timed(argv: Sequence[str], env: dict[str, str] | None = None,
           ) -> tuple[float, int, int, str, float]:
    """Wall seconds, peak RSS (bytes), exit status, stderr and CPU seconds (user + system) of
    one child process."""
    with tempfile.TemporaryFile() as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=err, env=env)
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        err.seek(0)
        text = err.read().decode("utf-8", "replace")
    peak = usage.ru_maxrss if sys.platform == "darwin" else usage.ru_maxrss * 1024
    return seconds, peak, proc.returncode, text, usage.ru_utime + usage.ru_stime


def measure(db: str, *, as_of: str = LAST_DAY.isoformat(), repeat: int = REPEAT,
            log: Any = None, only: Sequence[str] = ()) -> Json:
    """Median wall time and peak RSS of ``ssp-ledger report`` per kind, from the checkpoint
    (``only``: just these projections)."""
    python = sys.executable
    with tempfile.TemporaryDirectory(prefix="ssp-pyc-") as cache:
        env = _child_env(cache)
        floor = statistics.median(_timed([python, "-c", "pass"], env)[0] for _ in range(repeat))
        every = [(name, by) for name, by in kinds() if not only or name in only]
        for name in sorted({name for name, _ in every}):  # fills the byte-code cache
            _timed(_argv(python, db, as_of, name, None), env)
        rows = [_kind(python, db, as_of, name, by, repeat, env, log) for name, by in every]
    return {"as_of": as_of, "repeat": repeat, "python_floor_s": floor, "kinds": rows,
            "judged": JUDGED, "slowest_s": max(r[JUDGED] for r in rows),
            "largest_rss": max(r["peak_rss"] for r in rows),
            "all_met": all(r["met"] for r in rows)}


def _argv(python: str, db: str, as_of: str, name: str, by: str | None) -> list[str]:
    return [python, "-m", "ssp_ledger", "report", name, "--as-of", as_of, "--store", db,
            "--format", "csv", *(["--by", by] if by else [])]


def _kind(python: str, db: str, as_of: str, name: str, by: str | None, repeat: int,
          env: dict[str, str], log: Any) -> Json:
    """One projection x grouping, ``repeat`` fresh processes."""
    runs = [_timed(_argv(python, db, as_of, name, by), env) for _ in range(repeat)]
    failed = [r for r in runs if r[2] != 0]
    noted = [r[3].strip() for r in runs if r[3].strip()]
    row: Json = {"projection": name, "by": by,
                 "median_s": statistics.median(r[0] for r in runs),
                 "median_cpu_s": statistics.median(r[4] for r in runs),
                 "peak_rss": max(r[1] for r in runs),
                 "failed": failed[0][3].strip().splitlines()[-1] if failed else None,
                 "stderr": noted[0] if noted else None}
    row["met"] = (not failed and not noted and row[JUDGED] < TARGET_S
                  and row["peak_rss"] < TARGET_RSS)
    if log is not None:
        log(f"  {name} by {by or 'total'}: {row['median_s']:.3f} s ({row['median_cpu_s']:.3f} "
            "s CPU), "
            f"{row['peak_rss'] / 2**20:.0f} MiB{'' if row['met'] else '  MISS'}"
            f"{'  ' + noted[0] if noted else ''}")
    return row


def render(result: Json) -> str:
    """The measurements as a plain-text table."""
    lines = [f"{'projection':<18} {'by':<16} {'wall':>8} {'CPU':>8} {'peak RSS':>9}  target",
             "-" * 73]
    for r in result["kinds"]:
        lines.append(f"{r['projection']:<18} {r['by'] or 'total':<16} "
                     f"{r['median_s']:>7.3f}s {r['median_cpu_s']:>7.3f}s "
                     f"{r['peak_rss'] / 2**20:>6.0f} MiB  {'met' if r['met'] else 'MISS'}")
    lines.append(f"medians of {result['repeat']} fresh processes; python -c pass: "
                 f"{result['python_floor_s']:.3f} s; targets: each < {TARGET_S} s CPU and < "
                 f"{TARGET_RSS // 2**20} MiB")
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    """Build (or take) a store with a checkpoint and measure every cold report."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--db", help="a store with a checkpoint named 'default'")
    parser.add_argument("--n", type=int, default=100_000, help="events when building a store")
    parser.add_argument("--seed", type=int, default=2006)
    parser.add_argument("--batch", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=REPEAT)
    parser.add_argument("--out", help="JSON results file")
    parser.add_argument("--only", action="append", default=[], metavar="PROJECTION",
                        help="measure just this projection's kinds (repeatable)")
    parser.add_argument("--no-save", action="store_true",
                        help="use the store's saved checkpoint as it is (with --db)")
    args = parser.parse_args(argv)

    def log(text: str) -> None:
        sys.stderr.write(text + "\n")
        sys.stderr.flush()

    with tempfile.TemporaryDirectory(prefix="ssp-cold-") as work:
        db = args.db
        if db is None:
            db = str(Path(work) / f"ledger-{args.n}.db")
            log(f"building {args.n:,} events in {db}")
            _spawn("append", db=db, n=args.n, seed=args.seed, batch=args.batch)
        if not (args.no_save and args.db):
            log("saving a checkpoint (a checkpoint made by other code is not used)")
            _spawn("checkpoint", db=db)
        result = measure(db, repeat=args.repeat, log=log, only=args.only)
    result["events"] = args.n if args.db is None else None
    sys.stdout.write(render(result))
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return 0 if result["all_met"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
