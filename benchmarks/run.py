"""On-demand benchmarks of ssp-ledger against references measured in the same run.

    python benchmarks/run.py --sizes 10000,100000,1000000 --out benchmarks/results.json

Needs the ``bench`` extra (``pip install -e '.[bench]'``: duckdb, pyarrow, psutil). Never part of
the test suite. For each size N it generates N events with the seeded synthetic generator and
measures, each phase in a fresh subprocess so that no phase inherits another's heap:

append     ``Ledger.record_many`` in batches into a fresh SQLite file, against raw ``sqlite3``
           ``executemany`` of the same rows (the very bytes the ledger stored, read back from its
           file) into an identical table with the same journal mode, in the same batches;
replay     a fresh ``Ledger`` on that file answering its first report (which replays the log into
           every registered projection), against a raw ``sqlite3`` select of the same rows plus
           msgspec decoding of the envelope and of the typed event; peak RSS of the replay;
queries    after the build, 1,000 as-of queries at random valid dates (participation by school,
           participation total, staff_time_cost total), against DuckDB SQL (``GROUP BY school
           WHERE occurred_on <= D``) over the same events exported to Parquet with
           :func:`ssp_ledger.export.export_log`, warm (over the Parquet file, and over a table
           loaded from it); answers are cross-checked on a few dates;
cold       our replay against DuckDB opening the Parquet file and answering one query;
cold reports  every projection x grouping through ``ssp-ledger report`` from the checkpoint, a
           fresh process each, with its peak RSS (:mod:`coldstart`; ``--cold-reports 0`` skips).

It prints a table (ours, reference, ``speed = reference time / our time``: above 1 we are
faster) and the targets of issue 6, and writes everything to ``--out`` as JSON.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import importlib
import json
import math
import os
import platform
import random
import resource
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import msgspec

HERE = Path(__file__).resolve()
FIRST_DAY = dt.date(2006, 9, 1)
LAST_DAY = dt.date(2013, 12, 31)
#: Dates on which our answers and DuckDB's are compared row by row.
CHECK_DATES = (dt.date(2007, 7, 31), dt.date(2009, 3, 15), dt.date(2011, 7, 31),
               dt.date(2013, 12, 31))
WARMUP = 5
#: Projection x grouping timed through ``Ledger.report`` (issue: grouped queries flat).
GROUPED = (("staff_time_cost", None), ("staff_time_cost", "role"),
           ("staff_time_cost", "school"), ("staff_time_cost", "funding_stream"),
           ("staff_time_cost", "staff"), ("staff_time_cost", "funded"),
           ("staff_time_cost", "term"), ("staff_time_cost", "academic_year"),
           ("funding", None), ("funding", "academic_year"), ("funding", "term"),
           ("participation", "school"), ("participation", "activity"),
           ("participation", "term"))
#: Queries per grouped kind (the first ones of the as-of dates).
GROUPED_QUERIES = 200
GIB = 1 << 30
TABLE = "stored_events"

Json = dict[str, Any]


# --------------------------------------------------------------------------- helpers


def _events_for(n: int, seed: int) -> list[Any]:
    from ssp_ledger.synthetic import SyntheticConfig, generate

    partnerships = max(1, math.ceil(n / 19_000) + 1)  # ~21k events each; limit cuts the last
    events = list(generate(SyntheticConfig(seed=seed, partnerships=partnerships), limit=n))
    if len(events) != n:
        msg = f"the generator gave {len(events)} events, not {n}"
        raise RuntimeError(msg)
    return events


def _dates(seed: int, count: int) -> list[dt.date]:
    rng = random.Random(f"as-of:{seed}")
    span = (LAST_DAY - FIRST_DAY).days
    return [FIRST_DAY + dt.timedelta(days=rng.randint(0, span)) for _ in range(count)]


def _maxrss_bytes() -> int:
    """Peak resident set size of this process so far (Linux reports KiB, macOS bytes)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024


def _rss_bytes() -> int | None:
    """Current resident set size (psutil if installed)."""
    try:
        psutil = importlib.import_module("psutil")
    except ImportError:
        return None
    return int(psutil.Process().memory_info().rss)


def _latencies(run: Callable[[dt.date], object], dates: Sequence[dt.date]) -> Json:
    for day in dates[:WARMUP]:
        run(day)
    times: list[float] = []
    clock = time.perf_counter
    for day in dates:
        t0 = clock()
        run(day)
        times.append(clock() - t0)
    times.sort()
    return {
        "queries": len(times),
        "total_s": sum(times),
        "mean_ms": 1000 * statistics.fmean(times),
        "p50_ms": 1000 * times[len(times) // 2],
        "p95_ms": 1000 * times[min(len(times) - 1, int(len(times) * 0.95))],
        "max_ms": 1000 * times[-1],
    }


class _Profile:
    """pyinstrument around a block when a path is given (text report written there)."""

    def __init__(self, path: str | None) -> None:
        self.path = path
        self._profiler: Any = None

    def __enter__(self) -> None:
        if self.path:
            pyinstrument = importlib.import_module("pyinstrument")
            self._profiler = pyinstrument.Profiler(interval=0.001)
            self._profiler.start()

    def __exit__(self, *exc: object) -> None:
        if self._profiler is not None:
            self._profiler.stop()
            assert self.path is not None
            Path(self.path).write_text(
                self._profiler.output_text(unicode=True, color=False, show_all=False),
                encoding="utf-8")


# --------------------------------------------------------------------------- children


def child_append(db: str, n: int, seed: int, batch: int, profile: str | None) -> Json:
    """Generate N events, then time Ledger.record_many in batches into a fresh SQLite file."""
    from ssp_ledger import Ledger

    t0 = time.perf_counter()
    events = _events_for(n, seed)
    generated = time.perf_counter() - t0
    start = dt.datetime(2014, 1, 1, tzinfo=dt.UTC)
    ticks = iter(range(10**9))

    def clock() -> dt.datetime:
        return start + dt.timedelta(seconds=next(ticks))

    for suffix in ("", "-wal", "-shm"):
        Path(db + suffix).unlink(missing_ok=True)
    with Ledger.open(db, clock=clock) as ledger, _Profile(profile):
        t0 = time.perf_counter()
        for i in range(0, n, batch):
            ledger.record_many(events[i:i + batch])
        seconds = time.perf_counter() - t0
        position = ledger.position
    assert position == n, (position, n)
    return {"seconds": seconds, "events": n, "batches": math.ceil(n / batch),
            "generate_s": generated, "file_bytes": os.path.getsize(db)}


def child_raw_append(db: str, ref: str, batch: int) -> Json:
    """Time raw sqlite3 executemany of the ledger's stored rows into an identical table."""
    src = sqlite3.connect(db)
    (create,) = src.execute("SELECT sql FROM sqlite_master WHERE type='table' AND name=?",
                            (TABLE,)).fetchone()
    rows = src.execute(f"SELECT originator_id, originator_version, topic, state FROM {TABLE} "
                       "ORDER BY rowid").fetchall()
    src.close()
    for suffix in ("", "-wal", "-shm"):
        Path(ref + suffix).unlink(missing_ok=True)
    dst = sqlite3.connect(ref, isolation_level=None)
    dst.execute("PRAGMA journal_mode=WAL")  # what eventsourcing sets on SQLite files
    dst.execute(create)
    insert = f"INSERT INTO {TABLE} VALUES (?,?,?,?)"
    t0 = time.perf_counter()
    for i in range(0, len(rows), batch):
        dst.execute("BEGIN")
        dst.executemany(insert, rows[i:i + batch])
        dst.execute("COMMIT")
    seconds = time.perf_counter() - t0
    (count,) = dst.execute(f"SELECT count(*) FROM {TABLE}").fetchone()
    dst.close()
    assert count == len(rows)
    return {"seconds": seconds, "events": count,
            "payload_bytes": sum(len(r[3]) for r in rows)}


def child_raw_read(db: str) -> Json:
    """Time a raw sqlite3 select of every row plus msgspec decoding of envelope and event."""
    from ssp_ledger.events import DomainEvent

    class Envelope(msgspec.Struct, array_like=True):
        versions: dict[str, int]
        recorded_at_us: int
        prev_hash: bytes
        event: msgspec.Raw

    envelope = msgspec.msgpack.Decoder(Envelope)
    event = msgspec.msgpack.Decoder(DomainEvent)
    before = _rss_bytes()
    t0 = time.perf_counter()
    c0 = time.process_time()
    con = sqlite3.connect(db)
    cur = con.execute(f"SELECT rowid, originator_id, originator_version, topic, state "
                      f"FROM {TABLE} ORDER BY rowid")
    count = 0
    while rows := cur.fetchmany(5000):
        for row in rows:
            env = envelope.decode(row[4])
            event.decode(env.event)
            count += 1
    seconds = time.perf_counter() - t0
    cpu = time.process_time() - c0
    con.close()
    return {"seconds": seconds, "cpu_seconds": cpu, "events": count, "rss_before": before,
            "peak_rss": _maxrss_bytes()}


def child_ledger_read(db: str) -> Json:
    """Time Ledger.read() over the whole log (eventsourcing + our mapper, no projections)."""
    from ssp_ledger import Ledger

    t0 = time.perf_counter()
    with Ledger.open(db) as ledger:
        count = sum(1 for _ in ledger.read())
    return {"seconds": time.perf_counter() - t0, "events": count}


def child_read_columns(db: str) -> Json:
    """Time a replay's read path alone: the store's columnar read (the compact SQLite fetch,
    the decoding and every event's checks, what :meth:`Ledger.view` feeds the projections)
    over the whole log, with no projection: the part of a replay to hold against raw-read."""
    from ssp_ledger import Ledger
    from ssp_ledger.projection.projection_set import paused_gc

    gc.collect()
    before = _rss_bytes()
    t0 = time.perf_counter()
    c0 = time.process_time()
    count = 0
    with Ledger.open(db) as ledger, paused_gc():  # opened and read as child_replay's replay
        for chunk in ledger.read_columns():
            count += len(chunk.positions)
    return {"seconds": time.perf_counter() - t0, "cpu_seconds": time.process_time() - c0,
            "events": count, "rss_before": before, "peak_rss": _maxrss_bytes()}


def _table_rows(table: Any) -> list[list[Any]]:
    return [list(row) for row in table.rows]


def child_replay(db: str, seed: int, queries: int, profile: str | None) -> Json:
    """Replay into every projection (first report), then time as-of queries on the build."""
    from ssp_ledger import Ledger

    gc.collect()
    before = _rss_bytes()
    peak_before = _maxrss_bytes()
    with _Profile(profile):
        t0 = time.perf_counter()
        c0 = time.process_time()
        ledger = Ledger.open(db)
        ledger.report("participation", as_of=LAST_DAY, by="school")
        replay = time.perf_counter() - t0
        replay_cpu = time.process_time() - c0
    peak = _maxrss_bytes()
    after = _rss_bytes()
    first: Json = {}
    for name in ledger.projection_names:
        t0 = time.perf_counter()
        ledger.report(name, as_of=LAST_DAY)
        first[name] = time.perf_counter() - t0
    dates = _dates(seed, queries)
    out: Json = {
        "seconds": replay, "cpu_seconds": replay_cpu, "events": ledger.position,
        "rss_before": before, "rss_after": after,
        "peak_rss_before": peak_before, "peak_rss": peak, "first_report_s": first,
        "first_reports_total_s": sum(first.values()),
    }
    out["q_participation_by_school"] = _latencies(
        lambda d: ledger.report("participation", as_of=d, by="school"), dates)
    out["q_participation_total"] = _latencies(
        lambda d: ledger.report("participation", as_of=d), dates)
    out["q_staff_time_cost_total"] = _latencies(
        lambda d: ledger.report("staff_time_cost", as_of=d), dates)
    # The same queries straight on the projection, without the ledger's catch-up read.
    participation = ledger.view(None)["participation"]
    from ssp_ledger.projection import Query

    out["q_participation_by_school_index_only"] = _latencies(
        lambda d: participation.report(Query(as_of=d, by="school")), dates)
    out["q_participation_total_index_only"] = _latencies(
        lambda d: participation.report(Query(as_of=d)), dates)
    grouped_dates = dates[:GROUPED_QUERIES]
    out["grouped"] = {
        f"{name} by {by or 'total'}": _latencies(
            lambda d, name=name, by=by: ledger.report(name, as_of=d, by=by), grouped_dates)
        for name, by in GROUPED}
    out["answers"] = {d.isoformat(): _table_rows(ledger.report("participation", as_of=d,
                                                               by="school"))
                      for d in CHECK_DATES}
    ledger.close()
    return out


PARTICIPATION_SQL = """
SELECT coalesce(school, 'total') AS school,
       count(*) FILTER (WHERE type = 'ClubRun') AS sessions,
       coalesce(sum(participants) FILTER (WHERE type = 'ClubRun'), 0) AS attendances,
       coalesce(sum(send_participants) FILTER (WHERE type = 'ClubRun'), 0) AS send_attendances,
       count(*) FILTER (WHERE type = 'CompetitionHeld') AS competitions,
       coalesce(sum(participants) FILTER (WHERE type = 'CompetitionHeld'), 0)
           AS competition_participants
FROM (
    SELECT CASE WHEN type = 'ClubRun' THEN school_id ELSE school_ids[1] END AS school,
           type, participants, send_participants
    FROM {source}
    WHERE occurred_on <= $1 AND type IN ('ClubRun', 'CompetitionHeld')
)
GROUP BY ROLLUP (school)
ORDER BY school NULLS LAST
"""


def child_duckdb(parquet: str, seed: int, queries: int) -> Json:
    """DuckDB over the exported Parquet: cold (open + one query) and warm repeated queries."""
    import duckdb

    source = f"read_parquet('{parquet}')"
    t0 = time.perf_counter()
    con = duckdb.connect()
    con.execute(PARTICIPATION_SQL.format(source=source), [LAST_DAY]).fetchall()
    cold = time.perf_counter() - t0
    dates = _dates(seed, queries)

    def over(src: str) -> Callable[[dt.date], object]:
        sql = PARTICIPATION_SQL.format(source=src)
        return lambda d: con.execute(sql, [d]).fetchall()

    out: Json = {"cold_s": cold, "threads": con.execute(
        "SELECT current_setting('threads')").fetchone()}
    out["q_parquet"] = _latencies(over(source), dates)
    t0 = time.perf_counter()
    con.execute(f"CREATE TABLE ev AS SELECT type, occurred_on, school_id, school_ids, "
                f"participants, send_participants FROM {source}")
    out["load_table_s"] = time.perf_counter() - t0
    out["q_table"] = _latencies(over("ev"), dates)
    out["answers"] = {d.isoformat(): [list(r) for r in over("ev")(d)]  # type: ignore[attr-defined]
                      for d in CHECK_DATES}
    con.close()
    out.update(_duckdb_file(parquet, dates, source))
    out.update(_numpy_prefix(parquet, dates))
    return out


SORTED_SQL = """
CREATE TABLE ev AS
SELECT occurred_on, type, school_id, school_ids, participants, send_participants
FROM {source}
WHERE type IN ('ClubRun', 'CompetitionHeld')
ORDER BY occurred_on
"""
#: Cumulative sums per (school, day) with facts: an as-of answer per school is the last row of
#: each school on or before the date.
CUMULATIVE_SQL = """
CREATE TABLE cum AS
SELECT school, day,
       sum(sessions) OVER w AS sessions, sum(attendances) OVER w AS attendances,
       sum(send_attendances) OVER w AS send_attendances,
       sum(competitions) OVER w AS competitions,
       sum(competition_participants) OVER w AS competition_participants
FROM (
    SELECT school, occurred_on AS day,
           count(*) FILTER (WHERE type = 'ClubRun') AS sessions,
           coalesce(sum(participants) FILTER (WHERE type = 'ClubRun'), 0) AS attendances,
           coalesce(sum(send_participants) FILTER (WHERE type = 'ClubRun'), 0)
               AS send_attendances,
           count(*) FILTER (WHERE type = 'CompetitionHeld') AS competitions,
           coalesce(sum(participants) FILTER (WHERE type = 'CompetitionHeld'), 0)
               AS competition_participants
    FROM (SELECT *, CASE WHEN type = 'ClubRun' THEN school_id ELSE school_ids[1] END AS school
          FROM ev)
    GROUP BY school, occurred_on
)
WINDOW w AS (PARTITION BY school ORDER BY day)
ORDER BY school, day
"""
CUMULATIVE_BY_SCHOOL_SQL = """
SELECT coalesce(school, 'total') AS school, sum(sessions), sum(attendances),
       sum(send_attendances), sum(competitions), sum(competition_participants)
FROM (SELECT school, arg_max(sessions, day) AS sessions, arg_max(attendances, day) AS attendances,
             arg_max(send_attendances, day) AS send_attendances,
             arg_max(competitions, day) AS competitions,
             arg_max(competition_participants, day) AS competition_participants
      FROM cum WHERE day <= $1 GROUP BY school)
GROUP BY ROLLUP (school)
ORDER BY school NULLS LAST
"""
#: The same per day over every school: a total is one row.
DAILY_SQL = """
CREATE TABLE daily AS
SELECT day, sum(sessions) OVER w AS sessions, sum(attendances) OVER w AS attendances,
       sum(send_attendances) OVER w AS send_attendances,
       sum(competitions) OVER w AS competitions,
       sum(competition_participants) OVER w AS competition_participants
FROM (SELECT day, sum(sessions) AS sessions, sum(attendances) AS attendances,
             sum(send_attendances) AS send_attendances, sum(competitions) AS competitions,
             sum(competition_participants) AS competition_participants
      FROM (SELECT school, day, sessions - coalesce(lag(sessions) OVER s, 0) AS sessions,
                   attendances - coalesce(lag(attendances) OVER s, 0) AS attendances,
                   send_attendances - coalesce(lag(send_attendances) OVER s, 0)
                       AS send_attendances,
                   competitions - coalesce(lag(competitions) OVER s, 0) AS competitions,
                   competition_participants - coalesce(lag(competition_participants) OVER s, 0)
                       AS competition_participants
            FROM cum WINDOW s AS (PARTITION BY school ORDER BY day))
      GROUP BY day)
WINDOW w AS (ORDER BY day)
ORDER BY day
"""
DAILY_TOTAL_SQL = "SELECT * EXCLUDE (day) FROM daily WHERE day <= $1 ORDER BY day DESC LIMIT 1"


def _duckdb_file(parquet: str, dates: Sequence[dt.date], source: str) -> Json:
    """Stronger DuckDB references: a persistent database file with the events sorted by date
    (zone maps prune the date filter), and cumulative tables per (school, day) and per day."""
    import duckdb

    path = parquet + ".duckdb"
    Path(path).unlink(missing_ok=True)
    out: Json = {}
    t0 = time.perf_counter()
    con = duckdb.connect(path)
    con.execute(SORTED_SQL.format(source=source))
    con.execute(CUMULATIVE_SQL)
    con.execute(DAILY_SQL)
    con.close()
    out["file_build_s"] = time.perf_counter() - t0
    con = duckdb.connect(path, read_only=True)
    by_school = PARTICIPATION_SQL.format(source="ev")
    out["q_file_sorted"] = _latencies(lambda d: con.execute(by_school, [d]).fetchall(), dates)
    out["q_file_cumulative"] = _latencies(
        lambda d: con.execute(CUMULATIVE_BY_SCHOOL_SQL, [d]).fetchall(), dates)
    out["q_file_daily_total"] = _latencies(
        lambda d: con.execute(DAILY_TOTAL_SQL, [d]).fetchall(), dates)
    out["answers_file"] = {
        d.isoformat(): {"sorted": [list(r) for r in con.execute(by_school, [d]).fetchall()],
                        "cumulative": [list(r) for r in con.execute(
                            CUMULATIVE_BY_SCHOOL_SQL, [d]).fetchall()],
                        "daily_total": [list(r) for r in con.execute(
                            DAILY_TOTAL_SQL, [d]).fetchall()]}
        for d in CHECK_DATES}
    con.close()
    Path(path).unlink(missing_ok=True)
    return out


def _numpy_prefix(parquet: str, dates: Sequence[dt.date]) -> Json:
    """The floor of any as-of total: ``numpy.searchsorted`` over per-day prefix sums."""
    import numpy as np
    import pyarrow.parquet as pq

    t = pq.read_table(parquet, columns=["type", "occurred_on", "participants",
                                        "send_participants"]).to_pydict()
    club = [(d.toordinal(), p or 0, s or 0) for ty, d, p, s in zip(
        t["type"], t["occurred_on"], t["participants"], t["send_participants"], strict=True)
        if ty == "ClubRun"]
    club.sort()
    day = np.array([c[0] for c in club], dtype=np.int64)
    sums = np.cumsum(np.array([[1, c[1], c[2]] for c in club], dtype=np.int64), axis=0)
    days, first = np.unique(day, return_index=True)
    prefix = sums[np.append(first[1:], len(day)) - 1]

    def total(d: dt.date) -> list[int]:
        i = int(np.searchsorted(days, d.toordinal(), side="right")) - 1
        return [int(v) for v in prefix[i]] if i >= 0 else [0, 0, 0]

    return {"q_numpy_total": _latencies(total, dates),
            "answers_numpy": {d.isoformat(): total(d) for d in CHECK_DATES}}


def child_polars(parquet: str, seed: int, queries: int) -> Json:
    """polars over the exported Parquet: a filter + group_by per query (by school), and a
    per-day cumulative frame searched with ``search_sorted`` (the total)."""
    import polars as pl

    t0 = time.perf_counter()
    ev = (pl.read_parquet(parquet, columns=["type", "occurred_on", "school_id", "school_ids",
                                            "participants", "send_participants"])
          .filter(pl.col("type").is_in(["ClubRun", "CompetitionHeld"]))
          .with_columns(pl.when(pl.col("type") == "ClubRun").then(pl.col("school_id"))
                        .otherwise(pl.col("school_ids").list.first()).alias("school"),
                        (pl.col("type") == "ClubRun").cast(pl.Int64).alias("club"))
          .select("occurred_on", "school", "club", "participants", "send_participants")
          .sort("occurred_on"))
    load = time.perf_counter() - t0
    measures = [pl.col("club").sum().alias("sessions"),
                (pl.col("participants") * pl.col("club")).sum().alias("attendances"),
                (pl.col("send_participants").fill_null(0) * pl.col("club")).sum()
                .alias("send_attendances"),
                (1 - pl.col("club")).sum().alias("competitions"),
                (pl.col("participants") * (1 - pl.col("club"))).sum()
                .alias("competition_participants")]

    def by_school(d: dt.date) -> list[list[Any]]:
        part = ev.filter(pl.col("occurred_on") <= d)
        rows = part.group_by("school").agg(measures).sort("school").rows()
        total = part.select(measures).row(0)
        return [list(r) for r in rows] + [["total", *(v or 0 for v in total)]]

    t0 = time.perf_counter()
    daily = (ev.group_by("occurred_on").agg(measures).sort("occurred_on")
             .with_columns(pl.exclude("occurred_on").cum_sum()))
    days = daily["occurred_on"]
    prefix = daily.drop("occurred_on")
    cumulative = time.perf_counter() - t0

    def total(d: dt.date) -> list[int]:
        i = int(days.search_sorted(d, side="right")) - 1
        return list(prefix.row(i)) if i >= 0 else [0] * prefix.width

    dates = _dates(seed, queries)
    return {"load_s": load, "cumulative_s": cumulative, "version": pl.__version__,
            "q_by_school": _latencies(by_school, dates),
            "q_total": _latencies(total, dates),
            "answers": {d.isoformat(): {"by_school": by_school(d), "total": total(d)}
                        for d in CHECK_DATES}}


def child_export(db: str, parquet: str) -> Json:
    """Export the effective log to Parquet (what an analyst would hand to DuckDB)."""
    from ssp_ledger import Ledger
    from ssp_ledger.export import export_log

    t0 = time.perf_counter()
    with Ledger.open(db) as ledger:
        manifest = export_log(ledger, Path(parquet), effective=True, format="parquet")
    return {"seconds": time.perf_counter() - t0, "rows": manifest.rows,
            "file_bytes": os.path.getsize(parquet), "digest": manifest.digest}


def child_checkpoint(db: str) -> Json:
    """Replay once with a projection runner and save one checkpoint of every projection."""
    from ssp_ledger.runner import ProjectionRunner

    t0 = time.perf_counter()
    with ProjectionRunner(db, checkpoint_every=2**62) as runner:
        runner.catch_up()
        position = runner.saved_position
        saved = runner.log.open_checkpoint(runner.name)  # its size: the state is not read
    return {"seconds": time.perf_counter() - t0, "position": position,
            "state_bytes": saved.size if saved else None, "peak_rss": _maxrss_bytes()}


def child_cold_start(db: str) -> Json:
    """Open the store from its checkpoint in a fresh process and answer one report."""
    from ssp_ledger import Ledger

    gc.collect()
    t0 = time.perf_counter()
    with Ledger.open(db, checkpoint="default") as ledger:
        table = ledger.report("participation", as_of=LAST_DAY, by="school")
        seconds = time.perf_counter() - t0
        note = ledger.checkpoint_note
        used = ledger.checkpoint_position
    return {"seconds": seconds, "rows": len(table.rows), "note": note,
            "checkpoint_position": used, "peak_rss": _maxrss_bytes()}


def _child_main(args: argparse.Namespace) -> None:
    mode = args.mode
    result: Json
    if mode == "append":
        result = child_append(args.db, args.n, args.seed, args.batch, args.profile)
    elif mode == "raw-append":
        result = child_raw_append(args.db, args.ref, args.batch)
    elif mode == "raw-read":
        result = child_raw_read(args.db)
    elif mode == "ledger-read":
        result = child_ledger_read(args.db)
    elif mode == "read-columns":
        result = child_read_columns(args.db)
    elif mode == "replay":
        result = child_replay(args.db, args.seed, args.queries, args.profile)
    elif mode == "export":
        result = child_export(args.db, args.parquet)
    elif mode == "duckdb":
        result = child_duckdb(args.parquet, args.seed, args.queries)
    elif mode == "polars":
        result = child_polars(args.parquet, args.seed, args.queries)
    elif mode == "checkpoint":
        result = child_checkpoint(args.db)
    elif mode == "cold-start":
        result = child_cold_start(args.db)
    else:  # pragma: no cover -- argparse restricts the choices
        raise SystemExit(f"unknown mode {mode}")
    sys.stdout.write(json.dumps(result, default=str) + "\n")


# --------------------------------------------------------------------------- orchestration


def _spawn(mode: str, *, script: Path = HERE, **kwargs: object) -> Json:
    """One phase in a fresh interpreter: ``script child MODE --key value ...`` (this script's
    children, or another benchmark's of the same form); its last stdout line is the JSON."""
    argv = [sys.executable, str(script), "child", mode]
    for key, value in kwargs.items():
        if value is not None:
            argv += [f"--{key.replace('_', '-')}", str(value)]
    t0 = time.perf_counter()
    proc = subprocess.run(argv, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr)
        msg = f"benchmark phase {mode} failed (exit {proc.returncode})"
        raise RuntimeError(msg)
    result: Json = json.loads(proc.stdout.strip().splitlines()[-1])
    result["wall_s"] = time.perf_counter() - t0
    return result


def _normalise(rows: list[list[Any]]) -> list[tuple[Any, ...]]:
    return sorted(tuple(r) for r in rows)


def run_size(n: int, work: Path, args: argparse.Namespace) -> Json:
    """Every phase for one size; returns the measurements and the derived ratios."""
    db = str(work / f"ledger-{n}.db")
    ref = str(work / f"raw-{n}.db")
    parquet = str(work / f"facts-{n}.parquet")
    prof = Path(args.profile_dir) if args.profile_dir else None

    def log(text: str) -> None:
        sys.stderr.write(f"[{n:>9,}] {text}\n")
        sys.stderr.flush()

    log(f"append: Ledger.record_many (load average {os.getloadavg()[0]:.2f})")
    append = _spawn("append", db=db, n=n, seed=args.seed, batch=args.batch,
                    profile=str(prof / f"append-{n}.txt") if prof else None)
    log(f"  {append['seconds']:.2f} s. append: raw sqlite3 executemany")
    raw_append = _spawn("raw-append", db=db, ref=ref, batch=args.batch)
    log(f"  {raw_append['seconds']:.2f} s. replay, then as-of queries")
    replay = _spawn("replay", db=db, seed=args.seed, queries=args.queries,
                    profile=str(prof / f"replay-{n}.txt") if prof else None)
    log(f"  {replay['seconds']:.2f} s. raw select + decode")
    raw_read = _spawn("raw-read", db=db)
    log(f"  {raw_read['seconds']:.2f} s. Ledger.read only")
    ledger_read = _spawn("ledger-read", db=db)
    log(f"  {ledger_read['seconds']:.2f} s. export_log to Parquet")
    export = _spawn("export", db=db, parquet=parquet)
    log(f"  {export['seconds']:.2f} s. DuckDB")
    duck = _spawn("duckdb", parquet=parquet, seed=args.seed, queries=args.queries)
    log(f"  cold {duck['cold_s']:.3f} s. polars")
    polars = _spawn("polars", parquet=parquet, seed=args.seed, queries=args.queries)
    log(f"  load {polars['load_s']:.3f} s. checkpoint (runner)")
    checkpoint = _spawn("checkpoint", db=db)
    log(f"  {checkpoint['seconds']:.2f} s. cold start from the checkpoint")
    cold = min((_spawn("cold-start", db=db) for _ in range(3)), key=lambda c: c["seconds"])
    log(f"  {cold['seconds']:.3f} s (best of 3).")
    cold_reports: Json | None = None
    if args.cold_reports:
        log("  every projection x grouping through the CLI from the checkpoint")
        # The sibling script, run as a program (it imports this one's helpers: no circle).
        with tempfile.TemporaryDirectory(prefix="ssp-cold-") as tmp:
            found = Path(tmp) / "cold.json"
            subprocess.run([sys.executable, str(Path(__file__).with_name("coldstart.py")),
                            "--db", db, "--repeat", str(args.cold_reports), "--out", str(found)],
                           check=False, stdout=subprocess.DEVNULL)
            cold_reports = json.loads(found.read_text(encoding="utf-8"))
        log(f"  slowest {cold_reports['slowest_s']:.3f} s, largest "
            f"{cold_reports['largest_rss'] / 2**20:.0f} MiB.")
    log("  done")
    mismatches = [
        day for day in replay["answers"]
        if _normalise(replay["answers"][day]) != _normalise(duck["answers"][day])
    ]
    if mismatches:
        log(f"WARNING: DuckDB and ledger answers differ on {', '.join(mismatches)}")
    for day, rows in replay["answers"].items():
        ours = _normalise(rows)
        total = next(list(r[1:]) for r in rows if r[0] == "total")
        theirs = {"DuckDB file (sorted)": _normalise(duck["answers_file"][day]["sorted"]),
                  "DuckDB cumulative": _normalise(duck["answers_file"][day]["cumulative"]),
                  "polars": _normalise(polars["answers"][day]["by_school"])}
        mismatches += [f"{day} ({name})" for name, found in theirs.items() if found != ours]
        totals = {"DuckDB daily": list(duck["answers_file"][day]["daily_total"][0])
                  if duck["answers_file"][day]["daily_total"] else [0] * 5,
                  "polars total": polars["answers"][day]["total"],
                  "numpy": [*duck["answers_numpy"][day], *total[3:]]}
        mismatches += [f"{day} ({name})" for name, found in totals.items()
                       if [int(v) for v in found] != total]
    if mismatches:
        log(f"WARNING: reference answers differ: {', '.join(mismatches)}")
    checked = {day: len(rows) for day, rows in replay.pop("answers").items()}
    for key in ("answers", "answers_file", "answers_numpy"):
        duck.pop(key)
    polars.pop("answers")
    if not args.keep:
        for path in (db, ref):
            for suffix in ("", "-wal", "-shm"):
                Path(path + suffix).unlink(missing_ok=True)
        Path(parquet).unlink(missing_ok=True)
    q_ours = replay["q_participation_by_school"]
    duck_best = min(duck["q_parquet"]["mean_ms"], duck["q_table"]["mean_ms"])
    by_school_refs = {"DuckDB on Parquet": duck["q_parquet"]["mean_ms"],
                      "DuckDB table": duck["q_table"]["mean_ms"],
                      "DuckDB file (sorted)": duck["q_file_sorted"]["mean_ms"],
                      "DuckDB cumulative (school, day)": duck["q_file_cumulative"]["mean_ms"],
                      "polars": polars["q_by_school"]["mean_ms"]}
    total_refs = {"DuckDB cumulative (day)": duck["q_file_daily_total"]["mean_ms"],
                  "polars cumulative": polars["q_total"]["mean_ms"],
                  "numpy searchsorted": duck["q_numpy_total"]["mean_ms"]}
    best_school = min(by_school_refs, key=by_school_refs.__getitem__)
    best_total = min(total_refs, key=total_refs.__getitem__)
    q_total = replay["q_participation_total"]["mean_ms"]
    return {
        "events": n,
        "load_average": os.getloadavg(),
        "append": append,
        "raw_append": raw_append,
        "replay": replay,
        "raw_read": raw_read,
        "ledger_read": ledger_read,
        "export": export,
        "duckdb": duck,
        "polars": polars,
        "best_reference": {"by_school": [best_school, by_school_refs[best_school]],
                           "total": [best_total, total_refs[best_total]]},
        "checkpoint": checkpoint,
        "cold_start": cold,
        **({"cold_reports": cold_reports} if cold_reports is not None else {}),
        "answers_match": not mismatches,
        "answers_checked": checked,  # date -> rows compared
        "speed": {  # reference time / our time: above 1 we are faster
            "append": raw_append["seconds"] / append["seconds"],
            "replay": raw_read["seconds"] / replay["seconds"],
            "queries_vs_duckdb_parquet": duck["q_parquet"]["mean_ms"] / q_ours["mean_ms"],
            "queries_vs_duckdb_table": duck["q_table"]["mean_ms"] / q_ours["mean_ms"],
            "queries_vs_duckdb_best": duck_best / q_ours["mean_ms"],
            "by_school_vs_best_reference": by_school_refs[best_school] / q_ours["mean_ms"],
            "total_report_vs_best_reference": total_refs[best_total] / q_total,
            "total_report_vs_numpy": duck["q_numpy_total"]["mean_ms"] / q_total,
            "total_index_vs_numpy": (duck["q_numpy_total"]["mean_ms"]
                                     / replay["q_participation_total_index_only"]["mean_ms"]),
            "cold_rebuild": duck["cold_s"] / replay["seconds"],
            "cold_start": duck["cold_s"] / cold["seconds"],
        },
    }


# --------------------------------------------------------------------------- report


def _fmt_s(seconds: float) -> str:
    if seconds < 1e-3:
        return f"{seconds * 1e6:.0f} µs"
    if seconds < 1:
        return f"{seconds * 1e3:.1f} ms"
    return f"{seconds:.2f} s"


def _rate(events: int, seconds: float) -> str:
    return f"{events / seconds / 1000:,.0f}k/s"


def _row(name: str, ours: str, ref: str, speed: float) -> list[str]:
    better = "ours" if speed > 1 else "reference"
    return [name, ours, ref, f"{speed:.2f}x", better]


def table_rows(result: Json) -> list[list[str]]:
    """The printed comparison rows for one size."""
    n = result["events"]
    a, ra = result["append"], result["raw_append"]
    r, rr = result["replay"], result["raw_read"]
    d, s = result["duckdb"], result["speed"]
    q = r["q_participation_by_school"]
    return [
        _row("append (batched)", f"{_fmt_s(a['seconds'])} ({_rate(n, a['seconds'])})",
             f"{_fmt_s(ra['seconds'])} ({_rate(n, ra['seconds'])}) sqlite3 executemany",
             s["append"]),
        _row("replay, all projections", f"{_fmt_s(r['seconds'])} ({_rate(n, r['seconds'])})",
             f"{_fmt_s(rr['seconds'])} ({_rate(n, rr['seconds'])}) select+decode",
             s["replay"]),
        _row("as-of by school x1000 (mean)", f"{q['mean_ms']:.3f} ms",
             f"{d['q_parquet']['mean_ms']:.3f} ms DuckDB on Parquet",
             s["queries_vs_duckdb_parquet"]),
        _row("", "", f"{d['q_table']['mean_ms']:.3f} ms DuckDB table",
             s["queries_vs_duckdb_table"]),
        *([_row("as-of by school vs best reference", f"{q['mean_ms']:.3f} ms",
                f"{best['by_school'][1]:.3f} ms {best['by_school'][0]}",
                s["by_school_vs_best_reference"]),
           _row("participation total via report", f"{qt['mean_ms']:.3f} ms",
                f"{best['total'][1]:.4f} ms {best['total'][0]}",
                s["total_report_vs_best_reference"]),
           *([_row("", "", f"{d['q_numpy_total']['mean_ms']:.4f} ms numpy searchsorted",
                   s["total_report_vs_numpy"])] if best["total"][0] != "numpy searchsorted"
             else [])]
          if (best := result.get("best_reference")) and (qt := r["q_participation_total"])
          else []),
        _row("cold rebuild + 1 query", _fmt_s(r["seconds"]),
             f"{_fmt_s(d['cold_s'])} DuckDB read_parquet", s["cold_rebuild"]),
        *([_row("cold start from checkpoint + 1 query", _fmt_s(c["seconds"]),
                f"{_fmt_s(d['cold_s'])} DuckDB read_parquet", s["cold_start"])]
          if (c := result.get("cold_start")) else []),
        ["participation total (mean/p95)",
         f"{r['q_participation_total']['mean_ms']:.3f}/{r['q_participation_total']['p95_ms']:.3f}"
         " ms", "", "", ""],
        ["staff_time_cost total (mean/p95)",
         f"{r['q_staff_time_cost_total']['mean_ms']:.3f}/"
         f"{r['q_staff_time_cost_total']['p95_ms']:.3f} ms", "", "", ""],
        ["replay peak RSS", f"{r['peak_rss'] / 2**20:,.0f} MiB",
         f"{rr['peak_rss'] / 2**20:,.0f} MiB select+decode", "", ""],
    ]


def grouped_rows(results: Sequence[Json]) -> list[list[str]]:
    """Median (mean) time of each projection x grouping through ``Ledger.report``, one column
    per size, then the growth of the median from the smallest size to the largest."""
    measured = [r for r in results if "grouped" in r["replay"]]
    if not measured:
        return []
    first, top = measured[0], measured[-1]
    rows = [["query", *(f"{r['events']:,}" for r in measured),
             f"median growth {first['events']:,} -> {top['events']:,}"]]
    for name in first["replay"]["grouped"]:
        found = [r["replay"]["grouped"][name] for r in measured]
        rows.append([name, *(f"{f['p50_ms']:.3f} ({f['mean_ms']:.3f}) ms" for f in found),
                     f"{found[-1]['p50_ms'] / found[0]['p50_ms']:.2f}"])
    return rows


def render(results: Sequence[Json]) -> str:
    """A plain-text table of every size."""
    header = ["", "ours", "reference", "speed", "better"]
    lines: list[str] = []
    for result in results:
        rows = table_rows(result)
        widths = [max(len(c), *(len(r[i]) for r in rows)) for i, c in enumerate(header)]
        lines.append(f"N = {result['events']:,} events"
                     f"{'' if result['answers_match'] else '  (ANSWERS DIFFER)'}")
        for row in (header, ["-" * w for w in widths], *rows):
            lines.append("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
        lines.append("")
    grouped = grouped_rows(results)
    if grouped:
        widths = [max(len(row[i]) for row in grouped) for i in range(len(grouped[0]))]
        lines.append("Grouped queries through Ledger.report (median (mean) of "
                     f"{GROUPED_QUERIES} after {WARMUP} warm-up)")
        for row in grouped:
            lines.append("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
        lines.append("")
    return "\n".join(lines)


def markdown(doc: Json) -> str:
    """The results of a run (a parsed ``--out`` file) as Markdown tables, for docs."""
    lines: list[str] = []
    for result in doc["results"]:
        lines += [f"**N = {result['events']:,} events**"
                  f"{'' if result['answers_match'] else ' (answers differ!)'}", "",
                  "| measure | ours | reference | speed | better |",
                  "|---|---|---|---|---|"]
        lines += ["| " + " | ".join(c or " " for c in row) + " |" for row in table_rows(result)]
        lines.append("")
    grouped = grouped_rows(doc["results"])
    if grouped:
        lines += ["| " + " | ".join(grouped[0]) + " |",
                  "|" + "---|" * len(grouped[0])]
        lines += ["| " + " | ".join(row) + " |" for row in grouped[1:]]
        lines.append("")
    lines += ["| target (largest size) | value | met |", "|---|---|---|"]
    lines += [f"| {t['target']} | {t['value']} | {'yes' if t['met'] else '**no**'} |"
              for t in doc["targets"]]
    return "\n".join(lines) + "\n"


def targets(results: Sequence[Json]) -> list[Json]:
    """Issue 6's targets, judged on the largest size measured."""
    top = max(results, key=lambda r: r["events"])
    n = top["events"]
    r, s = top["replay"], top["speed"]
    smallest = min(results, key=lambda x: x["events"])
    growth = (r["q_participation_total_index_only"]["mean_ms"]
              / smallest["replay"]["q_participation_total_index_only"]["mean_ms"])
    return [
        {"target": "append >= 0.5x raw sqlite3", "value": round(s["append"], 3),
         "met": s["append"] >= 0.5},
        {"target": "replay >= 0.5x raw select+decode", "value": round(s["replay"], 3),
         "met": s["replay"] >= 0.5},
        {"target": f"one as-of query < 1 ms at {n:,} (participation total, mean)",
         "value": round(r["q_participation_total"]["mean_ms"], 4),
         "met": r["q_participation_total"]["mean_ms"] < 1.0},
        {"target": f"one as-of query < 1 ms at {n:,} (staff_time_cost total, mean)",
         "value": round(r["q_staff_time_cost_total"]["mean_ms"], 4),
         "met": r["q_staff_time_cost_total"]["mean_ms"] < 1.0},
        {"target": f"O(log n): index-only total query time growth {smallest['events']:,} -> "
                   f"{n:,} (x{n / smallest['events']:.0f} events)",
         "value": round(growth, 2), "met": growth < 3.0},
        {"target": "beat DuckDB on repeated as-of queries (best of Parquet/table)",
         "value": round(s["queries_vs_duckdb_best"], 3), "met": s["queries_vs_duckdb_best"] > 1},
        {"target": "cold full rebuild within 3x of DuckDB", "value": round(s["cold_rebuild"], 4),
         "met": s["cold_rebuild"] >= 1 / 3},
        *([{"target": "cold start from a checkpoint within 3x of DuckDB's cold query",
            "value": round(s["cold_start"], 4), "met": s["cold_start"] >= 1 / 3}]
          if "cold_start" in s else []),
        *_grouped_targets(smallest, top),
        *_report_targets(top),
        *_cold_report_targets(top),
        {"target": f"replay of {n:,} events under 1 GiB peak RSS",
         "value": f"{r['peak_rss'] / 2**20:,.0f} MiB", "met": r["peak_rss"] < GIB},
    ]


def _grouped_targets(smallest: Json, top: Json) -> list[Json]:
    """Every grouped query under 2 ms at the largest size and within 2x of its time at the
    smallest (by school and by staff the rows grow with the data: only the 2 ms is judged).
    Medians: on a shared box the means carry the scheduler's stalls (see the p95/max)."""
    if "grouped" not in top["replay"] or "grouped" not in smallest["replay"]:
        return []
    out: list[Json] = []
    for name, found in top["replay"]["grouped"].items():
        mean = found["p50_ms"]
        growth = mean / smallest["replay"]["grouped"][name]["p50_ms"]
        per_group = name.endswith(("by school", "by staff"))  # O(groups): rows grow with n
        out.append({"target": f"{name}: median < 2 ms at {top['events']:,}"
                              + ("" if per_group else ", growth < 2x"),
                    "value": f"{mean:.3f} ms, x{growth:.2f}",
                    "met": mean < 2 and (per_group or growth < 2)})
    return out


def _report_targets(top: Json) -> list[Json]:
    """Participation total through ``Ledger.report`` (and straight on the projection) against
    ``numpy.searchsorted`` over the same prefix sums: medians, times numpy's."""
    duck = top["duckdb"]
    if "q_numpy_total" not in duck:
        return []
    floor = duck["q_numpy_total"]["p50_ms"]
    report = top["replay"]["q_participation_total"]["p50_ms"] / floor
    index = top["replay"]["q_participation_total_index_only"]["p50_ms"] / floor
    return [{"target": f"participation total via Ledger.report within 5x of numpy searchsorted "
                       f"at {top['events']:,} (median, x numpy)", "value": round(report, 1),
             "met": report <= 5},
            {"target": "... the projection's own answer (no catch-up check, no basis)",
             "value": round(index, 1), "met": index <= 5}]


def _cold_report_targets(top: Json) -> list[Json]:
    """Every projection x grouping through the CLI from a checkpoint, a fresh process each
    (``benchmarks/coldstart.py``): under 0.5 s and 200 MiB."""
    cold = top.get("cold_reports")
    if not cold:
        return []
    missed = [f"{k['projection']} by {k['by'] or 'total'}" for k in cold["kinds"] if not k["met"]]
    return [{"target": f"every report from a checkpoint through the CLI at {top['events']:,} "
                       "under 0.5 s CPU and 200 MiB (median of fresh processes)",
             "value": (f"slowest {cold['slowest_s']:.3f} s, largest "
                       f"{cold['largest_rss'] / 2**20:.0f} MiB"
                       + (f"; missed: {', '.join(missed)}" if missed else "")),
             "met": cold["all_met"]}]


def _versions() -> Json:
    out: Json = {"python": platform.python_version()}
    for name in ("ssp_ledger", "eventsourcing", "msgspec", "duckdb", "pyarrow", "polars", "numpy"):
        try:
            module = importlib.import_module(name)
            out[name] = str(getattr(module, "__version__", "?"))
        except ImportError:
            out[name] = None
    out["sqlite"] = sqlite3.sqlite_version
    return out


def _git() -> Json:
    """The commit measured and whether the work tree had local changes (read-only git)."""
    def git(*args: str) -> str | None:
        try:
            proc = subprocess.run(["git", *args], cwd=HERE.parent, capture_output=True,
                                  text=True, check=False, timeout=30)
        except OSError:
            return None
        return proc.stdout.strip() if proc.returncode == 0 else None

    status = git("status", "--porcelain", "--untracked-files=no")
    return {"head": git("rev-parse", "HEAD"), "dirty": bool(status) if status is not None else None}


def _machine() -> Json:
    return {"platform": platform.platform(), "cpus": os.cpu_count(),
            "processor": platform.processor() or platform.machine()}


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmarks (or one child phase when called as ``run.py child MODE``)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["child"]:
        child = argparse.ArgumentParser(prog="run.py child")
        child.add_argument("mode", choices=["append", "raw-append", "raw-read", "ledger-read",
                                            "read-columns", "replay", "export", "duckdb",
                                            "polars", "checkpoint", "cold-start"])
        for opt in ("--db", "--ref", "--parquet", "--profile"):
            child.add_argument(opt)
        for opt in ("--n", "--seed", "--batch", "--queries"):
            child.add_argument(opt, type=int)
        _child_main(child.parse_args(argv[1:]))
        return 0
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--sizes", default="10000,100000",
                        help="comma-separated event counts (default 10000,100000)")
    parser.add_argument("--out", default="benchmarks/results.json", help="JSON results file")
    parser.add_argument("--queries", type=int, default=1000, help="as-of queries per kind")
    parser.add_argument("--batch", type=int, default=10_000, help="events per record_many")
    parser.add_argument("--seed", type=int, default=2006, help="synthetic generator seed")
    parser.add_argument("--workdir", help="folder for the stores (default: a temporary one)")
    parser.add_argument("--keep", action="store_true", help="keep the stores and Parquet files")
    parser.add_argument("--cold-reports", type=int, default=3, metavar="RUNS",
                        help="fresh CLI processes per projection x grouping from the checkpoint "
                             "(benchmarks/coldstart.py; 0 skips the phase; default 3)")
    parser.add_argument("--show", metavar="JSON",
                        help="print the tables of an earlier run as Markdown and exit")
    parser.add_argument("--profile-dir",
                        help="write pyinstrument profiles of append and replay here (timings "
                             "are then inflated by the profiler: do not quote them)")
    args = parser.parse_args(argv)
    if args.show:
        sys.stdout.write(markdown(json.loads(Path(args.show).read_text(encoding="utf-8"))))
        return 0
    sizes = [int(s.replace("_", "")) for s in args.sizes.split(",") if s.strip()]
    if args.profile_dir:
        Path(args.profile_dir).mkdir(parents=True, exist_ok=True)
    work = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix="ssp-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    results: list[Json] = []
    try:
        for n in sizes:
            results.append(run_size(n, work, args))
    finally:
        if not args.workdir and not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    judged = targets(results)
    doc: Json = {
        "command": "python benchmarks/run.py " + " ".join(argv),
        "machine": _machine(),
        "git": _git(),
        "load_average_at_end": os.getloadavg(),
        "versions": _versions(),
        "config": {"sizes": sizes, "queries": args.queries, "batch": args.batch,
                   "seed": args.seed, "profiled": bool(args.profile_dir)},
        "elapsed_s": time.perf_counter() - started,
        "results": results,
        "targets": judged,
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(doc, indent=2, default=str) + "\n", encoding="utf-8")
    sys.stdout.write(render(results))
    sys.stdout.write("\nTargets (largest size):\n")
    for t in judged:
        sys.stdout.write(f"  [{'met ' if t['met'] else 'MISS'}] {t['target']}: {t['value']}\n")
    sys.stdout.write(f"\nwrote {out} in {doc['elapsed_s']:.0f} s\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
