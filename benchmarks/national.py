"""Synthetic England at scale: import, replay, checkpoint, cold start and as-of queries.

    python benchmarks/national.py                       # 10M events, SQLite (+ PostgreSQL)
    python benchmarks/national.py --events 200000 --out /tmp/national.json
    bash .ci/postgres.sh .venv/bin/python benchmarks/national.py --events 200000
    python benchmarks/national.py --show benchmarks/national.json

Needs the ``bench`` extra (duckdb, pyarrow, psutil); never part of the test suite. The history
is :meth:`ssp_ledger.synthetic.SyntheticConfig.national` (449 partnerships formed 2000-2006, about
17 million events in all) cut after ``--events`` events: the first partnerships whole, the last
one cut. Every phase runs in a fresh subprocess, so each one's peak RSS (``ru_maxrss``) is its
own, on each backend (SQLite, and PostgreSQL when ``--postgres URL`` or
``SSP_LEDGER_TEST_POSTGRES`` names a server, as ``bash .ci/postgres.sh`` sets it; each run gets
a fresh schema, dropped at the end):

generate    the generator alone (the floor of a streamed import);
import      ``Ledger.record_many`` fed straight from the generator in batches of ``--batch``
            events (one partnership never needs to be in memory whole);
replay      a fresh ``Ledger`` answering its first report, which replays the log into every
            registered projection;
checkpoint  a ``ProjectionRunner`` catching up and saving, as ``ssp-ledger checkpoint`` does;
cold start  a fresh process opening the store from that checkpoint and answering one report
            of every projection x grouping (the first one of a projection restores it);
queries     in the same process, ``--queries`` as-of queries per projection x grouping at
            random valid dates, after a warm-up: medians.

References, measured side by side on SQLite with the code of ``benchmarks/run.py`` (its child
phases, run as subprocesses): raw ``sqlite3`` ``executemany`` of the very rows the ledger stored,
a raw select of every row with msgspec decoding, and with ``--duckdb`` DuckDB over the same
events exported to Parquet: a sorted database file and cumulative tables (off by default: the
Parquet export runs at about 6,000 events a second, some half an hour at 10M). Our answers
(participation by school on a few dates) are checked against the checkpoint's (and DuckDB's).
Writes JSON (``--out``) and prints a table; ``--show FILE`` prints a run's tables as Markdown.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import random
import shutil
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from itertools import islice
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

import run  # benchmarks/run.py: the shared helpers and the reference phases

HERE = Path(__file__).resolve()
RUN = HERE.with_name("run.py")
FIRST_DAY = dt.date(2000, 9, 1)
LAST_DAY = dt.date(2013, 12, 31)
#: Dates on which our answers are compared with the checkpoint's and DuckDB's.
CHECK_DATES = run.CHECK_DATES
#: The recorded time of every imported event (the same store for a seed).
RECORDED_AT = dt.datetime(2014, 1, 1, tzinfo=dt.UTC)
POSTGRES_ENV = "SSP_LEDGER_TEST_POSTGRES"
#: Partnerships to draw from for a given size: about 39,000 events each on average, but the
#: youngest have half that; the generator is lazy, so unused ones cost nothing.
EVENTS_PER_PARTNERSHIP_FLOOR = 15_000

Json = dict[str, Any]


# --------------------------------------------------------------------------- helpers


def national_events(n: int, seed: int) -> Iterator[Any]:
    """The first ``n`` events of synthetic England (more partnerships than the 449 of the
    waves if ``n`` needs them)."""
    from ssp_ledger.synthetic import SyntheticConfig, generate

    partnerships = max(449, n // EVENTS_PER_PARTNERSHIP_FLOOR + 1)
    return generate(SyntheticConfig.national(seed=seed, partnerships=partnerships), limit=n)


def query_dates(seed: int, count: int) -> list[dt.date]:
    rng = random.Random(f"national-as-of:{seed}")
    span = (LAST_DAY - FIRST_DAY).days
    return [FIRST_DAY + dt.timedelta(days=rng.randint(0, span)) for _ in range(count)]


def _answers(ledger: Any) -> Json:
    return {d.isoformat(): [list(r) for r in ledger.report("participation", as_of=d,
                                                            by="school").rows]
            for d in CHECK_DATES}


# --------------------------------------------------------------------------- children


def child_generate(n: int, seed: int) -> Json:
    t0 = time.perf_counter()
    count = sum(1 for _ in national_events(n, seed))
    assert count == n, (count, n)
    return {"seconds": time.perf_counter() - t0, "events": count,
            "peak_rss": run._maxrss_bytes()}


def child_import(store: str, n: int, seed: int, batch: int) -> Json:
    """Record the first ``n`` events straight from the generator, ``batch`` at a time."""
    from ssp_ledger import Ledger

    events = national_events(n, seed)
    batches = 0
    with Ledger.open(store, clock=lambda: RECORDED_AT) as ledger:
        t0 = time.perf_counter()
        while chunk := list(islice(events, batch)):
            ledger.record_many(chunk)
            batches += 1
        seconds = time.perf_counter() - t0
        position = ledger.position
    assert position == n, (position, n)
    out: Json = {"seconds": seconds, "events": n, "batches": batches,
                 "peak_rss": run._maxrss_bytes()}
    if "://" not in store:
        out["file_bytes"] = os.path.getsize(store)
    return out


def child_replay(store: str) -> Json:
    """A fresh ledger's first report: the whole log replayed into every projection."""
    from ssp_ledger import Ledger

    t0 = time.perf_counter()
    with Ledger.open(store, mode="read") as ledger:
        ledger.report("participation", as_of=LAST_DAY, by="school")
        seconds = time.perf_counter() - t0
        answers = _answers(ledger)
        events = ledger.position
    return {"seconds": seconds, "events": events, "peak_rss": run._maxrss_bytes(),
            "answers": answers}


def child_checkpoint(store: str) -> Json:
    """Catch up and save, as ``ssp-ledger checkpoint`` does (default name and interval)."""
    from ssp_ledger import Ledger
    from ssp_ledger.runner import ProjectionRunner

    t0 = time.perf_counter()
    with Ledger.open(store, mode="write") as ledger, ProjectionRunner(ledger) as runner:
        applied = runner.catch_up()
        position = runner.saved_position
        saved = runner.log.load_checkpoint(runner.name)
    return {"seconds": time.perf_counter() - t0, "applied": applied, "position": position,
            "state_bytes": len(saved.state) if saved else None,
            "peak_rss": run._maxrss_bytes()}


def child_cold(store: str, seed: int, queries: int) -> Json:
    """Open from the checkpoint in this fresh process; time the first report of every
    projection x grouping, then ``queries`` as-of queries of each at random dates."""
    from ssp_ledger import Ledger

    t0 = time.perf_counter()
    ledger = Ledger.open(store, mode="read", checkpoint="default")
    opened = time.perf_counter() - t0
    first: Json = {}
    for name, by in run.GROUPED:
        t1 = time.perf_counter()
        ledger.report(name, as_of=LAST_DAY, by=by)
        first[f"{name} by {by or 'total'}"] = time.perf_counter() - t1
    cold_total = time.perf_counter() - t0
    peak_cold = run._maxrss_bytes()
    note, used = ledger.checkpoint_note, ledger.checkpoint_position
    dates = query_dates(seed, queries)
    grouped = {f"{name} by {by or 'total'}": run._latencies(
        lambda d, name=name, by=by: ledger.report(name, as_of=d, by=by), dates)
        for name, by in run.GROUPED}
    answers = _answers(ledger)
    ledger.close()
    return {"open_s": opened, "first_report_s": first, "seconds": cold_total,
            "checkpoint_position": used, "note": note, "peak_rss": peak_cold,
            "peak_rss_after_queries": run._maxrss_bytes(), "grouped": grouped,
            "answers": answers}


def _child_main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="national.py child")
    parser.add_argument("mode", choices=["generate", "import", "replay", "checkpoint", "cold"])
    parser.add_argument("--store")
    for opt in ("--n", "--seed", "--batch", "--queries"):
        parser.add_argument(opt, type=int)
    args = parser.parse_args(argv)
    result: Json
    if args.mode == "generate":
        result = child_generate(args.n, args.seed)
    elif args.mode == "import":
        result = child_import(args.store, args.n, args.seed, args.batch)
    elif args.mode == "replay":
        result = child_replay(args.store)
    elif args.mode == "checkpoint":
        result = child_checkpoint(args.store)
    else:
        result = child_cold(args.store, args.seed, args.queries)
    sys.stdout.write(json.dumps(result, default=str) + "\n")
    return 0


# --------------------------------------------------------------------------- orchestration


def _spawn(script: Path, mode: str, **kwargs: object) -> Json:
    """One phase in a fresh interpreter (``run.py``'s children take the same form)."""
    return run._spawn(mode, script=script, **kwargs)


@contextlib.contextmanager
def postgres_store(server: str) -> Iterator[str]:
    """A store URL of a fresh schema on ``server``, dropped afterwards."""
    import psycopg

    schema = f"national_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    try:
        parts = urlsplit(server)
        yield urlunsplit(parts._replace(query=urlencode({"schema": schema})))
    finally:
        with psycopg.connect(server, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def _normalise(rows: list[list[Any]]) -> list[tuple[Any, ...]]:
    return sorted(tuple(r) for r in rows)


def run_backend(backend: str, store: str, n: int, args: argparse.Namespace,
                work: Path) -> Json:
    """Every phase on one backend; references too when it is SQLite."""
    def log(text: str) -> None:
        sys.stderr.write(f"[{backend} {n:>11,}] {text}\n")
        sys.stderr.flush()

    out: Json = {"backend": backend, "events": n}
    log(f"import: Ledger.record_many from the generator (load {os.getloadavg()[0]:.2f})")
    out["import"] = _spawn(HERE, "import", store=store, n=n, seed=args.seed, batch=args.batch)
    log(f"  {out['import']['seconds']:.1f} s. replay")
    out["replay"] = _spawn(HERE, "replay", store=store)
    log(f"  {out['replay']['seconds']:.1f} s. checkpoint")
    out["checkpoint"] = _spawn(HERE, "checkpoint", store=store)
    log(f"  {out['checkpoint']['seconds']:.1f} s. cold start + queries")
    out["cold"] = _spawn(HERE, "cold", store=store, seed=args.seed, queries=args.queries)
    log(f"  {out['cold']['seconds']:.2f} s cold.")
    mismatches: list[str] = []
    if out["cold"]["checkpoint_position"] != n:
        mismatches.append(f"cold start did not use the checkpoint: {out['cold']['note']}")
    ours = out["replay"].pop("answers")
    for day, rows in out["cold"].pop("answers").items():
        if _normalise(rows) != _normalise(ours[day]):
            mismatches.append(f"{day} (checkpoint)")
    if backend == "sqlite":
        ref = str(work / f"raw-{n}.db")
        log("raw sqlite3 executemany")
        out["raw_append"] = _spawn(RUN, "raw-append", db=store, ref=ref, batch=args.batch)
        log(f"  {out['raw_append']['seconds']:.1f} s. raw select + decode")
        out["raw_read"] = _spawn(RUN, "raw-read", db=store)
        log(f"  {out['raw_read']['seconds']:.1f} s.")
        for suffix in ("", "-wal", "-shm"):
            Path(ref + suffix).unlink(missing_ok=True)
        if args.duckdb:
            parquet = str(work / f"facts-{n}.parquet")
            log("export to Parquet")
            out["export"] = _spawn(RUN, "export", db=store, parquet=parquet)
            log(f"  {out['export']['seconds']:.1f} s. DuckDB")
            duck = _spawn(RUN, "duckdb", parquet=parquet, seed=args.seed,
                          queries=args.queries)
            for day, rows in duck.pop("answers").items():
                if _normalise(rows) != _normalise(ours[day]):
                    mismatches.append(f"{day} (DuckDB)")
            for day, found in duck.pop("answers_file").items():
                for kind in ("sorted", "cumulative"):
                    if _normalise(found[kind]) != _normalise(ours[day]):
                        mismatches.append(f"{day} (DuckDB {kind})")
            duck.pop("answers_numpy", None)
            out["duckdb"] = duck
            log(f"  file build {duck['file_build_s']:.1f} s.")
            if not args.keep:
                Path(parquet).unlink(missing_ok=True)
    if mismatches:
        log(f"WARNING: answers differ: {', '.join(mismatches)}")
    out["mismatches"] = mismatches
    return out


# --------------------------------------------------------------------------- report


def _mib(value: int | None) -> str:
    return f"{value / 2**20:,.0f} MiB" if value else ""


def table_rows(result: Json) -> list[list[str]]:
    """(measure, ours, peak RSS, reference) rows of one backend's run."""
    n = result["events"]
    fmt, rate = run._fmt_s, run._rate
    imp, rep, chk, cold = (result[k] for k in ("import", "replay", "checkpoint", "cold"))
    raw_a, raw_r, duck = result.get("raw_append"), result.get("raw_read"), result.get("duckdb")
    rows = [
        ["import (record_many from the generator)", f"{fmt(imp['seconds'])} "
         f"({rate(n, imp['seconds'])})", _mib(imp["peak_rss"]),
         f"{fmt(raw_a['seconds'])} ({rate(n, raw_a['seconds'])}) sqlite3 executemany"
         if raw_a else ""],
        ["replay into every projection", f"{fmt(rep['seconds'])} ({rate(n, rep['seconds'])})",
         _mib(rep["peak_rss"]),
         f"{fmt(raw_r['seconds'])} ({rate(n, raw_r['seconds'])}) select+decode"
         if raw_r else ""],
        ["checkpoint (catch up and save)", fmt(chk["seconds"]), _mib(chk["peak_rss"]), ""],
        ["cold start: open + first report of each projection x grouping",
         fmt(cold["seconds"]), _mib(cold["peak_rss"]),
         f"{fmt(duck['cold_s'])} DuckDB read_parquet + 1 query" if duck else ""],
    ]
    by_school = cold["grouped"].get("participation by school")
    if by_school and duck:
        rows.append(["as-of participation by school (median)", f"{by_school['p50_ms']:.3f} ms",
                     _mib(cold["peak_rss_after_queries"]),
                     f"{duck['q_file_sorted']['p50_ms']:.3f} ms DuckDB sorted file, "
                     f"{duck['q_file_cumulative']['p50_ms']:.3f} ms cumulative"])
    return rows


def grouped_rows(result: Json) -> list[list[str]]:
    cold = result["cold"]
    return [[name, f"{cold['first_report_s'][name] * 1000:.1f} ms",
             f"{found['p50_ms']:.3f} ms", f"{found['p95_ms']:.3f} ms"]
            for name, found in cold["grouped"].items()]


def markdown(doc: Json) -> str:
    lines: list[str] = []
    for result in doc["results"]:
        bad = result["mismatches"]
        lines += [f"**{result['backend']}, N = {result['events']:,} events**"
                  f"{' (answers differ: ' + ', '.join(bad) + ')' if bad else ''}", "",
                  "| phase | ours | peak RSS | reference |", "|---|---|---|---|"]
        lines += ["| " + " | ".join(c or " " for c in row) + " |" for row in table_rows(result)]
        lines += ["", f"| {result['backend']}: projection x grouping | first report (cold) | "
                      f"median of {doc['config']['queries']} | p95 |", "|---|---|---|---|"]
        lines += ["| " + " | ".join(row) + " |" for row in grouped_rows(result)]
        lines.append("")
    if "estimate" in doc:
        lines.append(doc["estimate"])
    return "\n".join(lines) + "\n"


def estimate(doc: Json, target: int) -> str:
    """The wall time of this benchmark at ``target`` events, scaling the measured time of every
    phase that reads or writes the whole log (generation, import, replay, checkpoint, cold
    start, the references) linearly with the events and keeping the rest (process start-ups,
    the as-of queries, which stay flat) as measured."""
    scale = target / doc["config"]["events"]
    total = doc["generate"]["wall_s"] - doc["generate"]["seconds"]
    total += doc["generate"]["seconds"] * scale
    parts = []
    for r in doc["results"]:
        mine = 0.0
        for key in ("import", "replay", "checkpoint", "cold", "raw_append", "raw_read",
                    "export"):
            if key in r:
                linear = r[key]["seconds"]
                mine += linear * scale + (r[key]["wall_s"] - linear)
        if "duckdb" in r:
            mine += r["duckdb"]["wall_s"] * scale
        total += mine
        parts.append(f"{r['backend']} {mine / 60:,.0f} min")
    return (f"Estimated wall time at {target:,} events, scaling the whole-log phases of this "
            f"run linearly: about {total / 60:,.0f} min ({', '.join(parts)}, generation "
            f"{doc['generate']['seconds'] * scale / 60:,.0f} min).")


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["child"]:
        return _child_main(argv[1:])
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--events", type=lambda s: int(s.replace("_", "")),
                        default=10_000_000, help="events to import (default 10,000,000)")
    parser.add_argument("--backends", default="sqlite,postgres",
                        help="comma-separated; postgres runs only with a server")
    parser.add_argument("--postgres", metavar="URL",
                        help=f"PostgreSQL database to create a schema in (default ${POSTGRES_ENV})")
    parser.add_argument("--queries", type=int, default=200, help="as-of queries per kind")
    parser.add_argument("--batch", type=int, default=10_000, help="events per record_many")
    parser.add_argument("--seed", type=int, default=2006, help="synthetic generator seed")
    parser.add_argument("--duckdb", action="store_true",
                        help="add the Parquet export and the DuckDB references (slow: the "
                             "export runs at about 6,000 events a second)")
    parser.add_argument("--out", default="benchmarks/national.json", help="JSON results file")
    parser.add_argument("--workdir", help="folder for the stores (default: a temporary one)")
    parser.add_argument("--keep", action="store_true", help="keep the SQLite store")
    parser.add_argument("--show", metavar="JSON",
                        help="print the tables of an earlier run as Markdown and exit")
    args = parser.parse_args(argv)
    if args.show:
        sys.stdout.write(markdown(json.loads(Path(args.show).read_text(encoding="utf-8"))))
        return 0
    n = args.events
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    server = args.postgres or os.environ.get(POSTGRES_ENV)
    work = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix="ssp-national-"))
    work.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    results: list[Json] = []
    try:
        sys.stderr.write(f"generating {n:,} events alone\n")
        generated = _spawn(HERE, "generate", n=n, seed=args.seed)
        if "sqlite" in backends:
            db = str(work / f"national-{n}.db")
            for suffix in ("", "-wal", "-shm"):
                Path(db + suffix).unlink(missing_ok=True)
            results.append(run_backend("sqlite", db, n, args, work))
            if not args.keep:
                for suffix in ("", "-wal", "-shm"):
                    Path(db + suffix).unlink(missing_ok=True)
        if "postgres" in backends:
            if server:
                with postgres_store(server) as store:
                    results.append(run_backend("postgres", store, n, args, work))
            else:
                sys.stderr.write(f"postgres: skipped (no --postgres and no ${POSTGRES_ENV})\n")
    finally:
        if not args.workdir and not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    doc: Json = {
        "command": "python benchmarks/national.py " + " ".join(argv),
        "machine": run._machine(), "git": run._git(), "versions": run._versions(),
        "load_average_at_end": os.getloadavg(),
        "config": {"events": n, "backends": [r["backend"] for r in results],
                   "queries": args.queries, "batch": args.batch, "seed": args.seed},
        "generate": generated,
        "elapsed_s": time.perf_counter() - started,
        "results": results,
    }
    doc["estimate"] = estimate(doc, 10_000_000)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(doc, indent=2, default=str) + "\n", encoding="utf-8")
    sys.stdout.write(markdown(doc))
    sys.stdout.write(f"\ngenerator alone: {run._fmt_s(generated['seconds'])} "
                     f"({run._rate(n, generated['seconds'])})\n"
                     f"wrote {out} in {doc['elapsed_s']:.0f} s\n")
    return 1 if any(r["mismatches"] for r in results) else 0


if __name__ == "__main__":
    raise SystemExit(main())
