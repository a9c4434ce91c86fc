"""Wall time of short ``ssp-ledger`` commands, against interpreter start-up measured beside them.

    python benchmarks/startup.py --events 100000 --rounds 15 --out startup.json

A command a person types should answer at once, so what matters is the whole process: the
interpreter starting, the imports, opening the store, the answer. Each command is run as a
fresh process (``python -m ssp_ledger ...``, so a ``PYTHONPATH`` checkout is what is measured),
its output thrown away, in rounds: every round runs each command once, in the same order, so a
machine that speeds up or slows down during the run moves commands and references alike. Per
command it gives the median wall time and the median of the per-round ratios to two references
run in the same rounds, and the median CPU time (user + system) of the process, which a busy
machine does not inflate as it does wall time:

python     ``python -c pass``: the floor no Python command can beat;
typer      ``python -c "import typer"``: the floor of a typer command line (typer is needed to
           print the help at all).

The commands:

help       ``ssp-ledger --help`` (target: under 150 ms);
report     ``ssp-ledger report participation --as-of 2013-12-31 --by school`` on a store of
           ``--events`` synthetic events that holds a checkpoint made by ``ssp-ledger
           checkpoint`` (target: under 250 ms at 100k events);
report_csv the same report with ``--format csv``: the report without rich's table layout;
replay     with ``--replay``: the same report with ``--checkpoint ''`` (the whole log replayed),
           to show what the checkpoint saves (a few rounds only: it takes seconds).

The store is built once (seeded generator, fixed recorded times) in ``--workdir`` and reused
when it is already there with the right number of events. The processes run as an installed
package does, with its bytecode cached: ``PYTHONDONTWRITEBYTECODE`` is dropped and the bytecode
goes to a ``pycache`` folder beside the store (``PYTHONPYCACHEPREFIX``, so a checkout stays
clean), written by the warm-up round; without it every run would compile the ledger's modules
again (about a third of a report's time). Never part of the test suite: the tests check
behaviour, this measures speed.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

Json = dict[str, Any]
AS_OF = "2013-12-31"
#: Targets of the speed issue, seconds of wall time.
TARGETS = {"help": 0.150, "report": 0.250}


#: Where the measured processes keep their bytecode (set by :func:`main`; None: Python's own).
PYCACHE: Path | None = None


def _env() -> dict[str, str]:
    """The environment of every measured process: no progress bars, no store variable, no
    forced colour, bytecode cached (in :data:`PYCACHE`)."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("SSP_LEDGER_STORE", "SSP_LEDGER_PROGRESS", "COLUMNS", "FORCE_COLOR",
                        "TTY_COMPATIBLE", "PYTHONDONTWRITEBYTECODE")}
    env["SSP_LEDGER_PROGRESS"] = "0"
    if PYCACHE is not None:
        env["PYTHONPYCACHEPREFIX"] = str(PYCACHE)
    return env


def build_store(db: Path, events: int, seed: int) -> Json:
    """A store of ``events`` synthetic events with a default checkpoint made by the CLI of the
    code measured (a checkpoint made by other code does not fit, and is made again)."""
    from ssp_ledger import Ledger

    if db.exists():
        with Ledger.open(db, mode="read") as ledger:
            fits = ledger.position == events
        if fits:
            return {"built": False, "events": events, **_checkpoint(db)}
        for suffix in ("", "-wal", "-shm"):
            Path(f"{db}{suffix}").unlink(missing_ok=True)
    return _build(db, events, seed)


def _checkpoint(db: Path) -> Json:
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "ssp_ledger", "checkpoint", "--store", str(db)],
                   check=True, env=_env(), stdout=subprocess.DEVNULL)
    return {"checkpoint_s": time.perf_counter() - t0}


def _build(db: Path, events: int, seed: int) -> Json:
    from ssp_ledger import Ledger
    from ssp_ledger.synthetic import SyntheticConfig, generate

    partnerships = max(1, math.ceil(events / 19_000) + 1)
    history = list(generate(SyntheticConfig(seed=seed, partnerships=partnerships),
                            limit=events))
    start = dt.datetime(2014, 1, 1, tzinfo=dt.UTC)
    ticks = iter(range(10**9))

    def clock() -> dt.datetime:
        return start + dt.timedelta(seconds=next(ticks))

    t0 = time.perf_counter()
    with Ledger.open(db, clock=clock) as ledger:
        for i in range(0, len(history), 10_000):
            ledger.record_many(history[i:i + 10_000])
        position = ledger.position
    recorded = time.perf_counter() - t0
    return {"built": True, "events": position, "record_s": recorded, **_checkpoint(db)}


def commands(db: Path, *, replay: bool) -> dict[str, list[str]]:
    """Name -> argv of every process timed, the references first."""
    py = sys.executable
    report = [py, "-m", "ssp_ledger", "report", "participation", "--as-of", AS_OF,
              "--by", "school", "--store", str(db)]
    out = {
        "python": [py, "-c", "pass"],
        "typer": [py, "-c", "import typer"],
        "help": [py, "-m", "ssp_ledger", "--help"],
        "report": report,
        "report_csv": [*report, "--format", "csv"],
    }
    if replay:
        out["replay"] = [*report, "--checkpoint", ""]
    return out


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _once(argv: Sequence[str], env: dict[str, str]) -> tuple[float, float]:
    """Wall and CPU (user + system) seconds of one run of ``argv``."""
    cpu = _children_cpu()
    t0 = time.perf_counter()
    proc = subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                          check=False)
    seconds = time.perf_counter() - t0
    if proc.returncode != 0:
        msg = f"{' '.join(argv)} failed: {proc.stderr.decode(errors='replace').strip()}"
        raise RuntimeError(msg)
    return seconds, _children_cpu() - cpu


def measure(argvs: dict[str, list[str]], rounds: int, *, slow: Sequence[str] = (),
            slow_rounds: int = 3) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    """Wall and CPU seconds of every command per round (commands in ``slow`` only in the first
    ``slow_rounds`` rounds), after one warm-up round."""
    env = _env()
    for argv in argvs.values():  # warm the file cache and the bytecode cache
        _once(argv, env)
    times: dict[str, list[float]] = {name: [] for name in argvs}
    cpu: dict[str, list[float]] = {name: [] for name in argvs}
    for r in range(rounds):
        for name, argv in argvs.items():
            if name in slow and r >= slow_rounds:
                continue
            wall, used = _once(argv, env)
            times[name].append(wall)
            cpu[name].append(used)
    return times, cpu


def summarise(times: dict[str, list[float]], cpu: dict[str, list[float]]) -> Json:
    """Median wall time per command, the median of its per-round ratios to each reference, and
    its median CPU time (user + system: what a busy machine's wall time hides)."""
    out: Json = {}
    for name, values in times.items():
        entry: Json = {"median_s": statistics.median(values), "min_s": min(values),
                       "max_s": max(values), "rounds": len(values),
                       "cpu_median_s": statistics.median(cpu[name])}
        for ref in ("python", "typer"):
            pairs = [v / times[ref][i] for i, v in enumerate(values)]
            entry[f"vs_{ref}"] = statistics.median(pairs)
        target = TARGETS.get(name)
        if target is not None:
            entry["target_s"] = target
            entry["meets_target"] = entry["median_s"] < target
        out[name] = entry
    return out


def render(summary: Json) -> str:
    lines = [f"{'command':<10} {'median':>9} {'min':>9} {'max':>9} {'x python':>9} "
             f"{'x typer':>8} {'cpu':>9}  target"]
    for name, e in summary.items():
        target = (f"< {e['target_s'] * 1000:.0f} ms: {'met' if e['meets_target'] else 'missed'}"
                  if "target_s" in e else "")
        lines.append(f"{name:<10} {e['median_s'] * 1000:>7.1f}ms {e['min_s'] * 1000:>7.1f}ms "
                     f"{e['max_s'] * 1000:>7.1f}ms {e['vs_python']:>9.2f} {e['vs_typer']:>8.2f}"
                     f" {e['cpu_median_s'] * 1000:>7.1f}ms  {target}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--events", type=int, default=100_000, help="events in the store")
    parser.add_argument("--rounds", type=int, default=15, help="rounds of every command")
    parser.add_argument("--seed", type=int, default=2006, help="synthetic generator seed")
    parser.add_argument("--replay", action="store_true",
                        help="also time the report replaying the whole log (3 rounds)")
    parser.add_argument("--workdir", help="folder for the store (default: a temporary one)")
    parser.add_argument("--out", help="write the results here as JSON")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="ssp-startup-") as tmp:
        folder = Path(args.workdir) if args.workdir else Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        db = folder / f"startup-{args.events}.db"
        global PYCACHE  # one setting for every process this run starts
        PYCACHE = folder / "pycache"
        store = build_store(db, args.events, args.seed)
        times, cpu = measure(commands(db, replay=args.replay), args.rounds, slow=("replay",))
    summary = summarise(times, cpu)
    print(f"{args.events:,} events, {args.rounds} rounds, {platform.python_implementation()} "
          f"{platform.python_version()}, {os.cpu_count()} cores")
    print(render(summary))
    if args.out:
        doc = {"events": args.events, "rounds": args.rounds, "store": store,
               "python": platform.python_version(), "machine": platform.machine(),
               "cores": os.cpu_count(), "results": summary, "times": times, "cpu": cpu}
        Path(args.out).write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
