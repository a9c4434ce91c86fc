"""On-demand benchmark of a 20-partnership scenario against a plain replay of its base store.

    python benchmarks/scenario.py                       # 20 partnerships, the shipped example
    python benchmarks/scenario.py --partnerships 5 --recorded-arms --out scenario.json

Never part of the test suite. It generates a synthetic history (:mod:`ssp_ledger.synthetic`,
``--partnerships`` partnerships of the default size: 38 schools each, about 11,500 events a
partnership up to the fork) into a SQLite store, then times, each in a fresh subprocess so no
phase inherits another's heap or warm caches:

replay         the reference: a fresh ``Ledger`` on the store answering its first report, which
               replays the whole log into every registered projection;
run            ``run_scenario`` of ``examples/scenario_continued_grant.toml`` with the store as
               base (fork 20 October 2010, horizon 31 August 2013): reading the store, modelling
               both arms, the diff tables; with ``--workers`` processes (default: every core);
cli            ``ssp-ledger scenario run FILE --base STORE --format csv`` as a user runs it
               (``python -m ssp_ledger``, interpreter start and imports included);
recorded-arms  (``--recorded-arms``) the straightforward path the fast one is tested against:
               both arms recorded into in-memory ledgers, then read.

Each phase reports wall time and the CPU time of the process and its children, each divided by
the replay's. The box is shared: read the ratios, not the seconds; on a busy box (more runnable
jobs than cores) wall time counts the turns other jobs took, so read the CPU ratio.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve()
ROOT = HERE.parents[1]
EXAMPLE = ROOT / "examples" / "scenario_continued_grant.toml"


def _cpu() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def _build(store: Path, partnerships: int, seed: int) -> int:
    from ssp_ledger import Ledger
    from ssp_ledger.synthetic import SyntheticConfig, generate

    events = list(generate(SyntheticConfig(seed=seed, partnerships=partnerships)))
    with Ledger.open(store) as ledger:
        for start in range(0, len(events), 10_000):
            ledger.record_many(events[start:start + 10_000])
    return len(events)


def _phase(name: str, store: Path, workers: int | None) -> dict[str, Any]:
    """Run one phase in this process and return its timings."""
    cpu, wall = _cpu(), time.perf_counter()
    out: dict[str, Any] = {}
    if name == "replay":
        from ssp_ledger import Ledger

        with Ledger.open(store, mode="read") as ledger:
            table = ledger.report("participation", as_of="2013-08-31")
            out["records"] = ledger.position
            out["sessions"] = table.row("total")["sessions"]
    elif name in ("run", "recorded-arms"):
        from ssp_ledger.scenarios import (
            build_arm,
            diff_tables,
            load_base,
            load_scenario,
            run_scenario,
            scenario_parameters,
        )

        scenario = load_scenario(EXAMPLE).model_copy(update={"base": str(store)})
        if name == "run":
            result = run_scenario(scenario, workers=workers)
            tables = result.tables
        else:
            params = scenario_parameters(scenario)
            base = load_base(scenario)
            arms = [build_arm(scenario, base, params, reform=r) for r in (False, True)]
            tables = diff_tables(arms[0], arms[1], scenario)[2]
        out["window_difference_sessions"] = next(
            row[4] for row in tables["participation"].rows
            if row[1] == "sessions" and ".." in str(row[0]))
    else:
        raise SystemExit(f"unknown phase {name!r}")
    out["wall_s"] = time.perf_counter() - wall
    out["cpu_s"] = _cpu() - cpu
    return out


def _in_subprocess(name: str, store: Path, workers: int | None) -> dict[str, Any]:
    argv = [sys.executable, str(HERE), "--phase", name, "--store", str(store)]
    if workers is not None:
        argv += ["--workers", str(workers)]
    proc = subprocess.run(argv, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"phase {name} failed:\n{proc.stderr}")
    result: dict[str, Any] = json.loads(proc.stdout.splitlines()[-1])
    return result


def _cli(store: Path, workers: int | None) -> dict[str, Any]:
    argv = [sys.executable, "-m", "ssp_ledger", "scenario", "run", str(EXAMPLE), "--base",
            str(store), "--format", "csv"]
    if workers is not None:
        argv += ["--workers", str(workers)]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    wall = time.perf_counter()
    proc = subprocess.run(argv, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - wall
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise SystemExit(f"the CLI failed:\n{proc.stderr}")
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    return {"wall_s": wall, "cpu_s": cpu, "csv_lines": len(proc.stdout.splitlines())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--partnerships", type=int, default=20)
    parser.add_argument("--seed", type=int, default=2006, help="of the synthetic history")
    parser.add_argument("--workers", type=int, default=None,
                        help="processes for the scenario (default: every core)")
    parser.add_argument("--recorded-arms", action="store_true",
                        help="also time the straightforward path (two recorded ledgers)")
    parser.add_argument("--out", type=Path, help="write the results as JSON")
    parser.add_argument("--phase", help=argparse.SUPPRESS)
    parser.add_argument("--store", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.phase:
        print(json.dumps(_phase(args.phase, args.store, args.workers)))
        return
    with tempfile.TemporaryDirectory(prefix="ssp-bench-scenario-") as tmp:
        store = Path(tmp) / "base.db"
        started = time.perf_counter()
        events = _build(store, args.partnerships, args.seed)
        print(f"{args.partnerships} partnerships, {events:,} events stored in "
              f"{time.perf_counter() - started:.1f} s", flush=True)
        results: dict[str, dict[str, Any]] = {"replay": _in_subprocess("replay", store, None)}
        results["run"] = _in_subprocess("run", store, args.workers)
        results["cli"] = _cli(store, args.workers)
        if args.recorded_arms:
            results["recorded-arms"] = _in_subprocess("recorded-arms", store, None)
            same = (results["recorded-arms"]["window_difference_sessions"]
                    == results["run"]["window_difference_sessions"])
            print(f"recorded arms give the same window difference: {same}")
    wall, cpu = results["replay"]["wall_s"], results["replay"]["cpu_s"]
    print(f"{'phase':<14} {'wall s':>8} {'cpu s':>8} {'wall / replay':>14} {'cpu / replay':>13}")
    for name, r in results.items():
        print(f"{name:<14} {r['wall_s']:>8.2f} {r['cpu_s']:>8.2f} {r['wall_s'] / wall:>14.2f} "
              f"{r['cpu_s'] / cpu:>13.2f}")
    if args.out is not None:
        doc = {"partnerships": args.partnerships, "events": events, "seed": args.seed,
               "workers": args.workers or os.cpu_count(), "cpus": os.cpu_count(),
               "python": platform.python_version(), "load_average": os.getloadavg(),
               "results": results}
        args.out.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
