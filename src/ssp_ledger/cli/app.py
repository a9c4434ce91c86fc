"""The ``ssp-ledger`` commands: record, import, report on and audit a ledger from the shell.

Every command that touches a store takes ``--store PATH`` (environment variable
``SSP_LEDGER_STORE``, default ``ssp-ledger.db`` in the current directory; ``demo`` defaults to
``ssp-demo.db`` and ignores the variable). A store is a SQLite file, ``:memory:`` or a
``postgresql://`` URL, and is opened through :func:`~ssp_ledger.cli.common.open_store` in the
mode the command needs: reading commands never write and never create a store.

Output is deterministic: the same store and arguments give the same bytes (no clock, no run
timestamps). Tables go to standard output; progress bars and diagnostics to standard error.
Errors print one line ``error: <message>`` on standard error and exit with status 1 (usage
errors: status 2, reported by the argument parser); never a traceback.

This module sits above :mod:`~ssp_ledger.cli.common` and :mod:`~ssp_ledger.cli.render` and
beside the other command modules (:mod:`~ssp_ledger.cli.export`,
:mod:`~ssp_ledger.cli.scenario`), which it adds to :data:`app`. It holds no domain knowledge:
the demo's headline comes from the ``summary`` module of the package that registered the
projections (see :func:`_summary`).

Declaring the commands is cheap, so ``ssp-ledger --help`` is fast: this module imports typer
and the CLI's own light modules only; the ledger, rich and the research stack are imported
inside the command (or helper) that uses them. Long work shows a progress bar on standard error
when it is a terminal (:mod:`~ssp_ledger.cli.progress`).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from enum import StrEnum
from pathlib import Path
from typing import IO, TYPE_CHECKING, Annotated, NamedTuple

import typer

from ssp_ledger.cli import export as export_commands
from ssp_ledger.cli.common import (
    DEFAULT_CHECKPOINT,
    DEFAULT_STORE,
    TYPER_SETTINGS,
    AsOfOption,
    ByOption,
    CheckpointOption,
    FormatOption,
    KnownAtOption,
    OutputFormat,
    PartnershipOption,
    PeriodOption,
    StoreOption,
    console,
    examples,
    fail,
    handled,
    one_line,
    open_store,
    parse_date_option,
    parse_datetime_option,
    parse_period_option,
    printable,
    projection_name,
    shown_store,
)
from ssp_ledger.cli.progress import progress
from ssp_ledger.cli.scenario import scenario_app
from ssp_ledger.errors import LedgerError

if TYPE_CHECKING:

    from ssp_ledger.application import Ledger
    from ssp_ledger.arrival import SetClock
    from ssp_ledger.audit import ChangeRecord, FigureChange, Restatement
    from ssp_ledger.events import DomainEvent
    from ssp_ledger.projection import Table
    from ssp_ledger.store import Recorded

__all__ = ["app", "main"]

DEMO_STORE = "ssp-demo.db"
#: Valid dates the demo reports on: before, during and after the end of the ring-fenced grant.
DEMO_DATES = (
    dt.date(2008, 7, 31),
    dt.date(2010, 7, 31),
    dt.date(2011, 7, 31),
    dt.date(2012, 7, 31),
)


class ImportFormat(StrEnum):
    """Input formats ``import`` understands."""

    auto = "auto"
    jsonl = "jsonl"
    csv = "csv"


app = typer.Typer(
    name="ssp-ledger",
    epilog=(
        "\b\nStart with:  ssp-ledger demo    (builds ssp-demo.db from a synthetic history)\n\n"
        "Store: --store PATH, or the SSP_LEDGER_STORE environment variable; "
        "default ssp-ledger.db."
    ),
    **TYPER_SETTINGS,
)


def _note(ledger: Ledger) -> None:
    """Say on standard error what opening the store did (``note: created a new store ...``).

    Printed once the command has succeeded, so a failure still ends with one ``error:`` line.
    """
    if ledger.note:
        sys.stderr.write(f"note: {printable(ledger.note)}\n")


def _known_at_note(ledger: Ledger, option: str, known: dt.datetime | None) -> None:
    """Say on standard error when a recorded time predates every record of the store (the
    figures as known then are empty, which is easy to mistake for a fault).

    Recorded times grow with the log position (a ledger's clock never runs backwards), so the
    first record's time is the earliest; only writers with skewed clocks could make it not so.
    """
    if known is None:
        return
    first = next(ledger.read(1, 1), None)
    if first is None:
        sys.stderr.write(f"note: {option} {known.isoformat()}: the store holds no records\n")
    elif known < first[1].recorded_at:
        sys.stderr.write(
            f"note: {option} {known.isoformat()} predates every record (the first was recorded "
            f"at {first[1].recorded_at.isoformat()}): nothing was known then\n")


@app.callback(invoke_without_command=True)
def _root(
    version: Annotated[
        bool, typer.Option("--version", help="Show the version and exit.", is_eager=True)
    ] = False,
) -> None:
    """Event-sourced ledger of School Sport Partnerships: record what happened, then ask what
    was true on any date, as known at any time.
    """
    if version:
        from ssp_ledger import __version__

        sys.stdout.write(f"ssp-ledger {__version__}\n")
        raise typer.Exit(0)


@app.command(epilog=examples(
    "ssp-ledger init",
    "ssp-ledger init --store data/tyneside.db",
    "SSP_LEDGER_STORE=ledger.db ssp-ledger init",
))
def init(store: StoreOption = DEFAULT_STORE) -> None:
    """Create an empty store (or open an existing one) and say how many events it holds."""
    with handled(), open_store(store, mode="create") as ledger:
        count = ledger.position
        plural = "" if count == 1 else "s"
        _note(ledger)
        sys.stdout.write(f"store {shown_store(store)} holds {count} event{plural}\n")


@app.command(epilog=examples(
    "ssp-ledger demo",
    "ssp-ledger demo --partnerships 3 --seed 7 --store three.db",
    "ssp-ledger demo --national --store england.db",
    "ssp-ledger report cost --store ssp-demo.db --as-of 2011-07-31 --by role",
))
def demo(
    store: Annotated[
        str,
        typer.Option("--store", metavar="PATH",
                     help="Store to fill and report on (SSP_LEDGER_STORE is ignored here)."),
    ] = DEMO_STORE,
    seed: Annotated[int, typer.Option(help="Seed of the synthetic history.")] = 2006,
    partnerships: Annotated[
        int | None, typer.Option(min=1, show_default=False,
                                 help="Number of synthetic partnerships (default 1; 449 "
                                      "with --national).")
    ] = None,
    national: Annotated[
        bool, typer.Option("--national", help=(
            "England instead: every partnership formed in the waves of 2000-2006, of the "
            "typical size (about 17 million events); recorded as fast as possible, with no "
            "reports."))
    ] = False,
    events: Annotated[
        int | None, typer.Option("--events", metavar="N", min=1,
                                 help="With --national: stop after N events.")
    ] = None,
    fmt: FormatOption = OutputFormat.table,
) -> None:
    """Fill an empty store with a synthetic history, then report on it at four dates.

    The history (2006-2013) follows the real programme: formation under PESSCL, SSCOs and PLTs
    released from schools, Competition Managers from 2008, the end of the ring-fenced grant in
    August 2011 and the one-day-a-week PE teacher funding after it. It is recorded the way it
    would have arrived, at fixed recorded times (the same store, byte for byte, for a seed):
    termly returns after each term (some late), an audit of 2010/11 on 2011-11-08 (corrections
    and retractions), and the April 2011 grant cut recorded back-dated on 2011-11-22 (see
    ssp-ledger events, report --known-at, restatement and history). Reports are printed as of
    2008-07-31, 2010-07-31, 2011-07-31 and 2012-07-31. A store that already holds events is only
    reported on. With --format json, csv or markdown the reports are printed in that format
    (csv: one row per figure, columns as_of, report, row, row_kind, column, value) and what was
    recorded is said on standard error.

    With --national it records England instead (ssp_ledger.synthetic.SyntheticConfig.national),
    one partnership per batch, all at one recorded time, and prints what it recorded.
    """
    from ssp_ledger.arrival import SetClock

    if events is not None and not national:
        fail("--events applies only with --national")
    # Machine-readable output keeps standard output for the reports alone.
    say = sys.stdout if fmt is OutputFormat.table else sys.stderr
    clock = SetClock()
    with handled(), open_store(store, mode="create", clock=clock) as ledger:
        if national:
            _fill_national(ledger, clock, seed=seed, partnerships=partnerships, events=events,
                           store=store)
            return
        if ledger.position == 0:
            _fill_demo(ledger, clock, seed=seed, partnerships=partnerships or 1, store=store,
                       say=say)
        else:
            say.write(
                f"store {shown_store(store)} already holds {ledger.position} events: "
                "reporting only\n")
        summary = _summary(ledger)
        with progress("reporting") as bar:
            ledger.progress = bar
            dates = [_demo_reports(ledger, day, summary) for day in DEMO_DATES]
            ledger.progress = None
        _print_demo(dates, fmt)


def _fill_demo(ledger: Ledger, clock: SetClock, *, seed: int, partnerships: int,
               store: str, say: IO[str]) -> None:
    """Create the demo store and record the synthetic history the way it would have arrived
    (:mod:`ssp_ledger.arrival`): termly returns, an audit, a back-dated funding change, each
    batch at its own recorded time, so the store is the same, byte for byte, for a seed."""
    from ssp_ledger.arrival import ArrivalConfig, arrivals
    from ssp_ledger.events import EventCorrected, EventRetracted
    from ssp_ledger.synthetic import SyntheticConfig, generate

    config = SyntheticConfig(seed=seed, partnerships=partnerships)
    recorded = 0
    with progress("generating the synthetic history") as bar:
        bar.spin()
        batches = list(arrivals(generate(config), ArrivalConfig(seed=seed)))
        bar.describe("recording the history as it arrived")
        bar(0, len(batches))
        for batch in batches:
            bar.describe(f"recording {batch.label}")
            clock.now = batch.recorded_at
            recorded += ledger.record_many(batch.events).recorded
            bar.advance()
    _note(ledger)
    returns = [b for b in batches if b.kind == "return"]
    audit = [e for b in batches if b.kind == "audit" for e in b.events]
    funding = [b for b in batches if b.kind == "funding"]
    audits = sorted({b.recorded_at.date().isoformat() for b in batches if b.kind == "audit"})
    found = sorted({b.recorded_at.date().isoformat() for b in funding})
    say.write(
        f"recorded {recorded} synthetic events ({partnerships} partnership"
        f"{'s' if partnerships != 1 else ''}, seed {seed}) into {shown_store(store)} as they "
        f"would have arrived: {len(returns)} termly returns ({sum(b.late for b in returns)} "
        f"late) recorded {returns[0].recorded_at.date()} to {returns[-1].recorded_at.date()}; "
        f"an audit on {', '.join(audits) or 'no date'} "
        f"({sum(isinstance(e, EventCorrected) for e in audit)} corrections, "
        f"{sum(isinstance(e, EventRetracted) for e in audit)} retractions); "
        f"{len(funding)} back-dated funding change{'' if len(funding) == 1 else 's'} "
        f"recorded {', '.join(found) or 'never'}\n"
    )


def _fill_national(ledger: Ledger, clock: SetClock, *, seed: int, partnerships: int | None,
                   events: int | None, store: str) -> None:
    """Record synthetic England (:func:`ssp_ledger.synthetic.record`) into an empty store at one
    fixed recorded time, with a progress bar on a terminal, and say what was recorded."""
    from ssp_ledger.synthetic import SyntheticConfig, record

    if ledger.position:
        msg = (f"store {shown_store(store)} already holds {ledger.position:,} events; "
               "demo --national fills only an empty store")
        raise ValueError(msg)
    config = SyntheticConfig.national(seed=seed, partnerships=partnerships)
    clock.now = dt.datetime(2014, 1, 1, tzinfo=dt.UTC)  # after the horizon: the same store
    started = time.monotonic()
    with progress("recording synthetic England", total=config.partnerships) as bar:
        def step(done_partnerships: int, recorded: int) -> None:
            bar.describe(f"recorded {recorded:,} events")
            bar(done_partnerships, config.partnerships)

        done = record(ledger, config, limit=events, progress=step)
    _note(ledger)
    cohorts = ", ".join(f"{year} {n}" for year, n in done.cohorts.items())
    sys.stdout.write(
        f"recorded {done.events:,} synthetic events of {done.partnerships} partnership"
        f"{'' if done.partnerships == 1 else 's'} of England (seed {seed}) into "
        f"{shown_store(store)} in {time.monotonic() - started:.1f} s; partnerships by the year "
        f"they formed: {cohorts or 'none'}\n")


#: How the demo summarises a date: the reports to print and a headline made from them.
Summary = tuple[Sequence[tuple[str, str, str | None]],
                Callable[[Mapping[str, "Table"]], str] | None]


def _summary(ledger: Ledger) -> Summary:
    """The demo's reports and headline, from the package that registered the projections.

    The CLI names no projection: each package behind an ``ssp_ledger.projections`` entry point
    may ship a ``summary`` module with ``REPORTS`` ((key, projection, by) triples) and
    ``headline(tables)``; the first one found is used. Without one, every projection the ledger
    knows is printed ungrouped, under no headline.
    """
    import importlib
    from importlib.metadata import entry_points

    from ssp_ledger.projection import ENTRY_POINT_GROUP

    for package in dict.fromkeys(ep.module.partition(".")[0]
                                 for ep in entry_points(group=ENTRY_POINT_GROUP)):
        module: object
        try:
            module = importlib.import_module(f"{package}.summary")
        except ModuleNotFoundError as e:
            if e.name not in (package, f"{package}.summary"):
                raise
            module = None
        reports = getattr(module, "REPORTS", None)
        headline = getattr(module, "headline", None)
        if reports is not None and callable(headline):
            return tuple(reports), headline
    return tuple((name, name, None) for name in ledger.projection_names), None


class _DemoDate(NamedTuple):
    """The demo's reports at one valid date."""

    day: dt.date
    headline: str | None
    tables: dict[str, Table]
    problems: list[str]


def _demo_reports(ledger: Ledger, day: dt.date, summary: Summary) -> _DemoDate:
    reports, headline = summary
    tables: dict[str, Table] = {}
    problems: list[str] = []
    for key, name, by in reports:
        try:
            tables[key] = ledger.report(name, as_of=day, by=by)
        except (LedgerError, ValueError) as e:
            problems.append(f"{name} by {by}: {one_line(str(e))}")
    return _DemoDate(day, headline(tables) if headline is not None else None, tables, problems)


def _print_demo(dates: Sequence[_DemoDate], fmt: OutputFormat) -> None:
    """The demo's reports in format ``fmt``: for people (table, markdown) a headline per date
    and its tables; json one document (``dates``: as_of, headline, tables as ``report
    --format json`` gives them, not_available); csv one row per figure."""
    from ssp_ledger.cli.render import (
        LONG_COLUMNS,
        long_rows,
        print_table,
        rows_csv,
        table_doc,
        table_markdown,
        table_title,
    )

    def line(date: _DemoDate) -> str:
        return f"As of {date.day.isoformat()}" + (f": {date.headline}" if date.headline else "")

    if fmt is OutputFormat.json:
        sys.stdout.write(json.dumps({"dates": [
            {"as_of": d.day.isoformat(), "headline": d.headline,
             "tables": {key: table_doc(t) for key, t in d.tables.items()},
             "not_available": d.problems} for d in dates]}, indent=2, ensure_ascii=False) + "\n")
    elif fmt is OutputFormat.csv:
        sys.stdout.write(rows_csv(("as_of", "report", *LONG_COLUMNS), [
            (d.day.isoformat(), key, *row)
            for d in dates for key, t in d.tables.items() for row in long_rows(t)]))
    elif fmt is OutputFormat.markdown:
        for d in dates:
            sys.stdout.write(f"\n**{line(d)}**\n")
            for t in d.tables.values():
                sys.stdout.write("\n" + table_markdown(t, table_title(t)))
            for problem in d.problems:
                sys.stdout.write(f"\n(not available: {problem})\n")
    else:
        from rich.text import Text

        out = console()
        for d in dates:
            out.print()
            out.print(Text(line(d), style="bold"), soft_wrap=True)
            for t in d.tables.values():
                print_table(out, t, table_title(t))
            for problem in d.problems:
                out.print(Text(f"(not available: {problem})"))


@app.command(name="import", epilog=examples(
    "ssp-ledger import events.jsonl --store ssp.db",
    "ssp-ledger import clubs-2010.csv --partnership tyneside --store tyneside.db",
    "ssp-ledger import export.txt --format jsonl --store ssp.db",
    "zcat events.jsonl.gz | ssp-ledger import - --store ssp.db",
))
def import_(
    file: Annotated[str, typer.Argument(
        metavar="FILE",
        help="JSONL events or a club CSV; - for standard input (pipes and FIFOs work too).")],
    store: StoreOption = DEFAULT_STORE,
    fmt: Annotated[
        ImportFormat, typer.Option("--format", help=("Input format; auto picks by extension "
                                                     "(standard input: by the first line)."))
    ] = ImportFormat.auto,
    partnership: Annotated[
        str | None,
        typer.Option("--partnership", metavar="ID",
                     help=("Partnership every event must belong to; also fills a missing "
                           "partnership_id column of a club CSV.")),
    ] = None,
) -> None:
    """Record every event of a file, all or nothing.

    A JSONL file holds one event per line as ssp-ledger export writes it; a club CSV holds club
    sessions of one partnership. The input is read as it is recorded (any size, standard input
    included). Events already in the store with the same content are skipped, so re-importing
    a file is harmless. A bad line stops the import with its line number and nothing is
    recorded.
    """
    with handled():
        from ssp_ledger.io import STDIN, import_file

        if file != STDIN:
            path = Path(file).expanduser()
            if not path.exists():
                msg = f"{file}: no such file"
                raise OSError(msg)
            if path.is_dir():
                msg = f"{file}: is a folder, not a file"
                raise OSError(msg)
        shown = "standard input" if file == STDIN else Path(file).name
        with open_store(store, mode="create") as ledger, \
                progress(f"importing {printable(shown)}") as bar:
            result = import_file(ledger, file if file == STDIN else Path(file).expanduser(),
                                 format=fmt.value, partnership_id=partnership, progress=bar)
        _note(ledger)
        sys.stdout.write(
            f"recorded {result.recorded} event{'s' if result.recorded != 1 else ''}, "
            f"skipped {result.duplicates} duplicate{'s' if result.duplicates != 1 else ''}"
            f" (store {shown_store(store)}, log position {result.position})\n"
        )


@app.command(epilog=examples(
    "ssp-ledger report participation --as-of 2010-07-31 --by academic_year",
    "ssp-ledger report cost --as-of 2011-07-31 --by role --period 2010/11",
    "ssp-ledger report funding --as-of 2012-07-31 --known-at 2011-09-01T00:00:00Z",
    "ssp-ledger report age --as-of 2011-07-31 --by school --format csv > tenure.csv",
    "ssp-ledger report leaders --as-of 2011-07-31 --by leader_kind --format json",
))
def report(
    name: Annotated[
        str,
        typer.Argument(
            metavar="NAME",
            help=("participation, cost (staff_time_cost), age (partnership_age), funding, "
                  "leaders, resources, or any other registered projection."),
        ),
    ],
    as_of: AsOfOption,
    known_at: KnownAtOption = None,
    by: ByOption = None,
    period: PeriodOption = None,
    partnership: PartnershipOption = None,
    fmt: FormatOption = OutputFormat.table,
    store: StoreOption = DEFAULT_STORE,
    checkpoint: CheckpointOption = DEFAULT_CHECKPOINT,
) -> None:
    """Print a projection as of a valid date (and, optionally, as known at a recorded time).

    Table output shows money in pounds and folds to the terminal's width (every figure whole);
    json and csv give raw integers (pence, minutes, days). A line under the table (a ``basis``
    member in json) states what the figures were computed from: log position, stream-heads
    hash, checkpoint or replay, known-at time. A store with a saved checkpoint (`ssp-ledger
    checkpoint`) answers without replaying the log; one that does not fit is said on stderr.
    """
    with handled():
        as_of_date = parse_date_option("--as-of", as_of)
        known = parse_datetime_option("--known-at", known_at) if known_at is not None else None
        chosen = parse_period_option("--period", period) if period is not None else None
        from ssp_ledger.projection import paused_gc

        # One report, then the process ends: the cyclic collector would only walk, again and
        # again, every object the checkpoint's state was decoded into (a tenth of a cold
        # survey report's CPU at 1M events), to find no cycle worth freeing.
        # One projection asked for: a replay (no checkpoint fits) builds that one alone.
        with paused_gc(), open_store(store, mode="read", checkpoint=checkpoint,
                                     build="asked") as ledger, \
                progress("reading the log") as bar:
            ledger.progress = bar
            table = ledger.report(projection_name(name), as_of=as_of_date, known_at=known,
                                  by=by or None, period=chosen, partnership_id=partnership)
            ledger.progress = None
            _known_at_note(ledger, "--known-at", known)
        from ssp_ledger.cli.render import render_table

        render_table(None, table, fmt, partnership)
        _checkpoint_note(ledger, checkpoint)


def _checkpoint_note(ledger: Ledger, checkpoint: str) -> None:
    """Say on standard error why a checkpoint was not used (``note: checkpoint 'x' does not fit
    this log ...``). Silent when the default checkpoint was simply never made."""
    note = ledger.checkpoint_note
    if not checkpoint or ledger.checkpoint_position is not None or not note:
        return
    if checkpoint == DEFAULT_CHECKPOINT and note.startswith("no checkpoint named"):
        return
    sys.stderr.write(f"note: {printable(note)}\n")


@app.command(epilog=examples(
    "ssp-ledger checkpoint --store ssp.db",
    "ssp-ledger checkpoint --store ssp.db --follow --timeout 3600",
    "ssp-ledger report participation --as-of 2011-07-31 --store ssp.db   # starts from it",
))
def checkpoint(
    name: Annotated[
        str, typer.Option("--name", metavar="NAME", help="Checkpoint name.")
    ] = DEFAULT_CHECKPOINT,
    follow: Annotated[
        bool, typer.Option("--follow", help="Keep applying new records until stopped.")
    ] = False,
    timeout: Annotated[
        float | None,
        typer.Option("--timeout", metavar="SECONDS",
                     help="With --follow: stop after this many seconds without a new record."),
    ] = None,
    every: Annotated[
        int | None, typer.Option("--every", metavar="N", min=1,
                                 help="Save a checkpoint every N records applied (and at the "
                                      "end); default: the runner's, 10,000 and growing with "
                                      "the log.")
    ] = None,
    store: StoreOption = DEFAULT_STORE,
) -> None:
    """Save the projections' state in the store, so reports start from it instead of replaying.

    Catches up from the previous checkpoint of that name (if it still fits the log and the
    code), saves state and log position in one transaction, and prints where it stands. Reports
    then load only the projection they need and apply the records stored since.
    """
    from ssp_ledger.runner import DEFAULT_CHECKPOINT_EVERY, ProjectionRunner

    with handled(), open_store(store, mode="write") as ledger:
        started = time.monotonic()
        with ProjectionRunner(ledger, name=name,
                              checkpoint_every=every or DEFAULT_CHECKPOINT_EVERY) as runner:
            if follow:
                applied = runner.follow(timeout=timeout)
            else:
                with progress(f"checkpoint {name!r}: applying the log") as bar:
                    ledger.progress = bar
                    applied = runner.catch_up()
                    ledger.progress = None
            resumed, note = runner.resumed_from, runner.resume_note
        seconds = time.monotonic() - started
        sys.stdout.write(
            f"checkpoint {name!r} at position {runner.saved_position:,}: applied "
            f"{applied:,} record{'' if applied == 1 else 's'} in {seconds:.1f} s "
            f"({'resumed from position ' + format(resumed, ',') if resumed else note})\n")


# --------------------------------------------------------------------------- audit



@app.command(epilog=examples(
    "ssp-ledger verify --store ssp.db",
    "ssp-ledger verify --store ssp.db --digest 20379:5f0c...e1",
))
def verify(
    store: StoreOption = DEFAULT_STORE,
    digest_: Annotated[
        str | None,
        typer.Option("--digest", metavar="POSITION:SHA256",
                     help="A digest written down earlier: prove the log up to it is unchanged."),
    ] = None,
) -> None:
    """Check the hash chain of the whole store (and, given a digest, that nothing up to it changed).

    Exit status 0 when the store verifies; 1 with every problem listed (the first is where to
    look), each naming the event.
    """
    from ssp_ledger.audit import Digest
    from ssp_ledger.audit import verify as verify_store

    with handled():
        expected = Digest.parse(digest_) if digest_ is not None else None
        with open_store(store, mode="read") as ledger, \
                progress("verifying the log") as bar:
            result = verify_store(ledger, expected, progress=bar)
        if result.ok:
            against = f", matches digest {expected}" if expected else ""
            sys.stdout.write(f"verified {result.checked} events in {shown_store(store)}"
                             f"{against}\ndigest {result.digest}\n")
            return
        for problem in result.problems:
            sys.stdout.write(f"{printable(str(problem))}\n")
        fail(f"{shown_store(store)} failed verification ({len(result.problems)} problem"
              f"{'' if len(result.problems) == 1 else 's'}); first: {result.problems[0]}")


@app.command(epilog=examples(
    "ssp-ledger digest --store ssp.db > digest-2011-09-01.txt",
))
def digest(store: StoreOption = DEFAULT_STORE) -> None:
    """Print the ledger digest POSITION:SHA256 to write down (see ``verify --digest``)."""
    from ssp_ledger.audit import digest as store_digest

    with handled(), open_store(store, mode="read") as ledger:
        sys.stdout.write(f"{store_digest(ledger)}\n")


@app.command(epilog=examples(
    "ssp-ledger explain participation --as-of 2011-07-31 --by school --group ssp-000-hub",
    "ssp-ledger explain funding --as-of 2011-08-31 --period 2010/11 --group ssp-grant",
    "ssp-ledger explain leaders --as-of 2011-07-31 --period 2010/11 --format csv",
))
def explain(
    name: Annotated[str, typer.Argument(metavar="NAME",
                                        help="participation, cost, age, funding, leaders, "
                                             "resources (or your own explainable projection).")],
    as_of: AsOfOption,
    group: Annotated[str, typer.Option("--group", metavar="LABEL",
                                       help="Row of the report to explain.")] = "total",
    by: ByOption = None,
    period: PeriodOption = None,
    known_at: KnownAtOption = None,
    partnership: PartnershipOption = None,
    fmt: FormatOption = OutputFormat.table,
    store: StoreOption = DEFAULT_STORE,
) -> None:
    """List the events behind one figure row, with what each contributed (they sum to the row).

    Each line is the record holding the fact's content in force: its recorded time, what it
    added (money in pounds in table and markdown output, pence in json and csv) and its reason
    (a correction's, or the fact's own). The report's notes follow (what its words mean, the
    parameter values it rests on); a rate a record was costed at is stated, not summed.
    """
    from ssp_ledger.audit import explain as explain_figure
    from ssp_ledger.cli.render import aligned, cell_text, rows_csv, rows_markdown, table_title

    with handled():
        as_of_date = parse_date_option("--as-of", as_of)
        known = parse_datetime_option("--known-at", known_at) if known_at is not None else None
        if period is not None:
            parse_period_option("--period", period)
        with open_store(store, mode="read", build="asked") as ledger, \
                progress("reading the log") as bar:
            ledger.progress = bar
            table, parts = explain_figure(
                ledger, projection_name(name), as_of=as_of_date, known_at=known, by=by,
                group=group, period=period, partnership_id=partnership)
            ledger.progress = None
            _known_at_note(ledger, "--known-at", known)
        # The figures the contributions carry (an age row explains tenure_days, say, which the
        # table shows only as a mean), in the order they first appear.
        measures = list(dict.fromkeys(k for c in parts for k in c.values))
        columns = ("position", "occurred_on", "type", "event_id", "recorded_at", *measures,
                   "reason")
        human = fmt in (OutputFormat.table, OutputFormat.markdown)
        rows = [(str(c.position), c.occurred_on.isoformat(), c.event_type,
                 printable(c.event_id), c.recorded_at.isoformat(),
                 *((cell_text(m, c.values[m]) if human else str(c.values[m]))
                   if m in c.values else "" for m in measures),
                 printable(_why(c.reason, c.corrected_by))) for c in parts]
        right = (0, *range(5, 5 + len(measures)))
        if fmt is OutputFormat.json:
            payload = {"row": table.row(group), "contributions": [
                {"position": c.position, "occurred_on": c.occurred_on.isoformat(),
                 "type": c.event_type, "event_id": c.event_id,
                 "recorded_at": c.recorded_at.isoformat(), **c.values, "reason": c.reason,
                 "corrected_by": c.corrected_by or None} for c in parts],
                "notes": list(table.notes), "sources": list(table.sources)}
            sys.stdout.write(json.dumps(payload, indent=2, ensure_ascii=False) + "\n")
        elif fmt is OutputFormat.csv:
            sys.stdout.write(rows_csv(columns, rows))
        elif fmt is OutputFormat.markdown:
            sys.stdout.write(rows_markdown(columns, rows, right=right))
        else:
            row = table.row(group)
            figures = ", ".join(f"{k} {cell_text(k, v)}" for k, v in row.items()
                                if k != table.columns[0] and v is not None)
            sys.stdout.write(f"{table_title(table, partnership)}; row {printable(group)}: "
                             f"{figures}\n{len(parts)} contributing events\n")
            sys.stdout.write(aligned(columns, rows, right=right))
            sys.stdout.write("".join(f"{note}\n" for note in table.notes))


def _why(reason: str, corrected_by: str) -> str:
    """A record's reason as shown: a correction names itself."""
    if corrected_by:
        return f"corrected by {corrected_by}: {reason}"
    return reason


@app.command(epilog=examples(
    "ssp-ledger restatement participation --as-of 2011-08-31 --period 2010/11 \\",
    "    --before 2011-11-01T00:00:00Z --after 2011-12-01T00:00:00Z",
    "ssp-ledger restatement funding --as-of 2011-08-31 --period 2010/11 \\",
    "    --before 2011-11-01 --after 2011-12-01 --format json",
))
def restatement(
    name: Annotated[str, typer.Argument(metavar="NAME",
                                        help="Any projection (cost, funding, ...).")],
    as_of: AsOfOption,
    before: Annotated[str, typer.Option("--before", metavar="ISO-DATETIME",
                                        help="First recorded time (what the ledger said then).")],
    after: Annotated[str, typer.Option("--after", metavar="ISO-DATETIME",
                                       help="Second recorded time (what it says since).")],
    by: ByOption = None,
    period: PeriodOption = None,
    partnership: PartnershipOption = None,
    fmt: FormatOption = OutputFormat.table,
    store: StoreOption = DEFAULT_STORE,
) -> None:
    """Show the figures of a report that changed between two recorded times, and why.

    Each changed figure is shown before, after and the difference (money in pounds), followed
    by the records stored in between that changed it, with their reasons: a late return, a
    correction, a retraction, a back-dated change. Figures that did not change are not shown.
    """
    from ssp_ledger.audit import restatement as restate
    from ssp_ledger.cli.render import aligned, cell_text, rows_csv, rows_markdown

    with handled():
        as_of_date = parse_date_option("--as-of", as_of)
        first = parse_datetime_option("--before", before)
        second = parse_datetime_option("--after", after)
        if second < first:
            msg = (f"--after {second.isoformat()} is earlier than --before {first.isoformat()}; "
                   "give the earlier time first")
            raise ValueError(msg)
        if period is not None:
            parse_period_option("--period", period)
        with open_store(store, mode="read") as ledger, progress("reading the log") as bar:
            ledger.progress = bar
            result = restate(ledger, projection_name(name), as_of=as_of_date, before=first,
                             after=second, by=by, period=period, partnership_id=partnership)
            ledger.progress = None
            _known_at_note(ledger, "--before", first)
        if fmt is OutputFormat.json:
            sys.stdout.write(json.dumps(_restatement_json(result, first, second), indent=2,
                                        ensure_ascii=False) + "\n")
            return
        human = fmt in (OutputFormat.table, OutputFormat.markdown)

        def shown(column: str, value: object) -> str:
            if value is None:
                return ""
            if not human:
                return printable(str(value))
            text = printable(cell_text(column, value))  # type: ignore[arg-type]
            return text if len(text) <= TEXT_WIDTH else text[:TEXT_WIDTH - 3] + "..."

        columns = ("row", "figure", "before", "after", "difference")
        rows = [(printable(str(f.group)), f.column, shown(f.column, f.before),
                 shown(f.column, f.after),
                 "" if f.difference is None else shown(f.column, f.difference))
                for f in result.figures]
        if fmt is OutputFormat.csv:
            # One table: each changed figure with the positions of the records that changed it
            # (space-separated; ``events --format csv`` lists them).
            sys.stdout.write(rows_csv(
                (*columns, "records"),
                [(*row, " ".join(str(r.position) for r in f.records))
                 for row, f in zip(rows, result.figures, strict=True)]))
            return
        markdown = fmt is OutputFormat.markdown

        def table(headers: Sequence[str], cells: Sequence[Sequence[str]],
                  right: Sequence[int]) -> str:
            return (rows_markdown(headers, cells, right=right) if markdown
                    else aligned(headers, cells, right=right))

        groups = list(dict.fromkeys(str(f.group) for f in result.figures))
        what = (f"{result.after.projection} as of {as_of_date}" + (f", by {by}" if by else "")
                + (f", period {period}" if period else "")
                + (f", partnership {printable(partnership)}" if partnership else ""))
        sys.stdout.write(
            f"{what}, known at {first.isoformat()} and at "
            f"{second.isoformat()}: {len(result.figures)} figure"
            f"{'' if len(result.figures) == 1 else 's'} changed"
            + (f" in {len(groups)} row{'' if len(groups) == 1 else 's'}" if groups else "")
            + f"; {len(result.events)} record{'' if len(result.events) == 1 else 's'} stored "
            "in between bear on the report\n")
        if not result.figures:
            return
        sys.stdout.write("\n" + table(columns, rows, (2, 3, 4)))
        for label, figures, records in _by_records(result.figures):
            what = ", ".join(f"{f.column} ({shown(f.column, f.difference)})"
                             if f.difference is not None else f.column for f in figures)
            sys.stdout.write(f"\n{printable(label)}: {what} changed by "
                             f"{len(records)} record{'' if len(records) == 1 else 's'}:\n"
                             + ("\n" if markdown else ""))
            sys.stdout.write(table(
                ("position", "recorded_at", "type", "event_id", "change", "reason"),
                [(str(r.position), r.recorded_at.isoformat(), r.event_type,
                  printable(r.event_id), _change(r.event_type, r.target),
                  printable(r.reason)) for r in records], (0,)))


#: Characters of a text figure (a reason, a citation) the restatement table shows.
TEXT_WIDTH = 40


def _change(event_type: str, target: str) -> str:
    if event_type == "EventCorrected":
        return f"corrects {printable(target)}"
    if event_type == "EventRetracted":
        return f"retracts {printable(target)}"
    return "new fact"


def _by_records(figures: Sequence[FigureChange]) -> list[tuple[str, list[FigureChange],
                                                               tuple[ChangeRecord, ...]]]:
    """Changed figures grouped by row, then by the records that changed them (in order)."""
    out: list[tuple[str, list[FigureChange], tuple[ChangeRecord, ...]]] = []
    for f in figures:
        label = str(f.group)
        for item in out:
            if item[0] == label and item[2] == f.records:
                item[1].append(f)
                break
        else:
            out.append((label, [f], f.records))
    return out


def _restatement_json(result: Restatement, first: dt.datetime,
                      second: dt.datetime) -> dict[str, object]:
    def record(r: ChangeRecord) -> dict[str, object]:
        return {"position": r.position, "recorded_at": r.recorded_at.isoformat(),
                "type": r.event_type, "event_id": r.event_id, "target": r.target or None,
                "reason": r.reason}

    return {
        "projection": result.after.projection, "before": first.isoformat(),
        "after": second.isoformat(),
        "figures": [{"row": f.group, "figure": f.column, "before": f.before, "after": f.after,
                     "difference": f.difference,
                     "records": [r.position for r in f.records]} for f in result.figures],
        "records": [record(r) for r in sorted({r for f in result.figures for r in f.records},
                                              key=lambda r: r.position)],
    }


@app.command(epilog=examples(
    "ssp-ledger history ssp-000-0011714 --store ssp-demo.db",
    "ssp-ledger history ssp-000-audit-01 --partnership ssp-000 --format json",
))
def history(
    event_id: Annotated[str, typer.Argument(
        metavar="EVENT_ID",
        help="A fact's id, or the id of a correction or retraction of it.")],
    partnership: PartnershipOption = None,
    fmt: FormatOption = OutputFormat.table,
    store: StoreOption = DEFAULT_STORE,
) -> None:
    """Show an event as first recorded and every correction or retraction of it, in order.

    For each record: its log position, recorded time, reason, and for a correction the fields
    it changed (old -> new). The last line says what is in force now. Without --partnership
    the whole log is searched (an id used in several partnerships must be given one). csv and
    markdown give one row per record (columns position, recorded_at, type, event_id, change,
    reason, fields); json the records whole.
    """
    with handled():
        with open_store(store, mode="read") as ledger, progress("searching the log") as bar:
            ledger.progress = bar
            records = _history(ledger, event_id, partnership)
        if fmt is OutputFormat.json:
            sys.stdout.write(_history_json(records))
        elif fmt is OutputFormat.csv:
            from ssp_ledger.cli.render import rows_csv

            sys.stdout.write(rows_csv(HISTORY_COLUMNS, _history_rows(records, shown=False)))
        elif fmt is OutputFormat.markdown:
            from ssp_ledger.cli.render import rows_markdown

            lines = _history_text(records).splitlines()
            sys.stdout.write(f"{lines[0]}\n\n" + rows_markdown(
                HISTORY_COLUMNS, _history_rows(records, shown=True), right=(0,))
                + f"\n{lines[-1]}\n")
        else:
            sys.stdout.write(_history_text(records))


#: Columns of ``history --format csv`` and ``markdown``: one row per record.
HISTORY_COLUMNS = ("position", "recorded_at", "type", "event_id", "change", "reason", "fields")


def _history(ledger: Ledger, event_id: str,
             partnership: str | None) -> list[tuple[int, Recorded]]:
    """The records of the fact ``event_id`` names (or whose change it is), in log order."""
    from ssp_ledger.events import EventCorrected, EventRetracted

    def scan(fact_id: str) -> tuple[dict[str, list[tuple[int, Recorded]]], dict[str, str]]:
        found: dict[str, list[tuple[int, Recorded]]] = {}
        changes: dict[str, str] = {}  # partnership -> target, when event_id is a change
        for position, rec in ledger.read():
            event = rec.event
            if partnership is not None and event.partnership_id != partnership:
                continue
            changed = isinstance(event, EventCorrected | EventRetracted)
            target = event.target_event_id if changed else event.event_id  # type: ignore[union-attr]
            if target == fact_id:
                found.setdefault(event.partnership_id, []).append((position, rec))
            elif changed and event.event_id == event_id:
                changes[event.partnership_id] = target
        return found, changes

    found, changes = scan(event_id)
    if not found and changes:
        found, _ = scan(next(iter(changes.values())))
        if len(changes) > 1:
            found = {pid: records for pid, records in found.items() if pid in changes}
    where = f" in partnership {partnership!r}" if partnership else ""
    if not found:
        msg = f"no event {event_id!r}{where} in the store"
        raise LedgerError(msg)
    if len(found) > 1:
        msg = (f"event id {event_id!r} is used in {len(found)} partnerships "
               f"({', '.join(sorted(found))}): choose one with --partnership")
        raise LedgerError(msg)
    return next(iter(found.values()))


def _fields(event: DomainEvent) -> dict[str, object]:
    import msgspec

    data: dict[str, object] = msgspec.to_builtins(event)
    return {k: v for k, v in data.items() if k not in ("type", "partnership_id", "event_id")}


def _history_steps(records: list[tuple[int, Recorded]]) -> list[tuple[str, str]]:
    """For each record, what it did (``original``, ``corrects ID``, ``retracts ID``) and its
    detail: the fields of an original (JSON), the fields a correction changed (``name old ->
    new; ...``, values as JSON, or ``nothing``), nothing for a retraction. Text unescaped."""
    from ssp_ledger.events import EventCorrected, EventRetracted

    steps: list[tuple[str, str]] = []
    current: DomainEvent | None = None
    for _, rec in records:
        event = rec.event
        if isinstance(event, EventCorrected):
            old = _fields(current) if current is not None else {}
            new = _fields(event.replacement)
            changed = [f"{k} {json.dumps(old.get(k), ensure_ascii=False)} -> "
                       f"{json.dumps(v, ensure_ascii=False)}"
                       for k, v in new.items() if old.get(k) != v]
            steps.append((f"corrects {event.target_event_id}", "; ".join(changed) or "nothing"))
            current = event.replacement
        elif isinstance(event, EventRetracted):
            steps.append((f"retracts {event.target_event_id}", ""))
            current = None
        else:
            steps.append(("original", json.dumps(_fields(event), ensure_ascii=False)))
            current = event
    return steps


def _history_rows(records: list[tuple[int, Recorded]], *,
                  shown: bool) -> list[tuple[str, ...]]:
    """One row of :data:`HISTORY_COLUMNS` per record; ``shown``: text escaped for a screen."""
    keep = printable if shown else str
    return [(str(position), rec.recorded_at.isoformat(), type(rec.event).__name__,
             keep(rec.event.event_id), keep(change), keep(getattr(rec.event, "reason", "")),
             keep(detail))
            for (position, rec), (change, detail) in zip(records, _history_steps(records),
                                                         strict=True)]


def _history_text(records: list[tuple[int, Recorded]]) -> str:
    from ssp_ledger.events import EventCorrected, EventRetracted

    first = records[0][1].event
    kinds = [type(rec.event).__name__ for _, rec in records]
    summary = (f"{kinds.count('EventCorrected')} correction"
               f"{'' if kinds.count('EventCorrected') == 1 else 's'}, "
               f"{kinds.count('EventRetracted')} retraction"
               f"{'' if kinds.count('EventRetracted') == 1 else 's'}")
    lines = [f"history of {printable(first.event_id)} ({type(first).__name__}, partnership "
             f"{printable(first.partnership_id)}): recorded once, {summary}"]
    for (position, rec), (_, detail) in zip(records, _history_steps(records), strict=True):
        event = rec.event
        head = (f"position {position}  recorded {rec.recorded_at.isoformat()}  "
                f"{type(event).__name__} {printable(event.event_id)}")
        if isinstance(event, EventCorrected):
            lines.append(head)
            lines.append(f"  reason: {printable(event.reason)}")
            lines.append(f"  changed: {printable(detail)}")
        elif isinstance(event, EventRetracted):
            lines.append(head)
            lines.append(f"  reason: {printable(event.reason)}")
        else:
            lines.append(f"{head} (original)")
            lines.append("  " + printable(detail))
    last = records[-1][1].event
    if isinstance(last, EventRetracted):
        lines.append(f"now: retracted by {printable(last.event_id)}")
    elif isinstance(last, EventCorrected):
        lines.append(f"now: in force as corrected by {printable(last.event_id)}")
    else:
        lines.append("now: in force as recorded")
    return "\n".join(lines) + "\n"


def _history_json(records: list[tuple[int, Recorded]]) -> str:
    import msgspec

    payload = [{"position": position, "recorded_at": rec.recorded_at.isoformat(),
                "event": msgspec.to_builtins(rec.event)} for position, rec in records]
    return json.dumps(payload, indent=2, ensure_ascii=False) + "\n"


@app.command(epilog=examples(
    "ssp-ledger schema",
    "ssp-ledger schema --out ssp-ledger-events.schema.json",
))
def schema(
    out: Annotated[
        Path | None, typer.Option("--out", "-o", metavar="FILE",
                                  help="Write to this file instead of standard output.")
    ] = None,
) -> None:
    """Print the JSON Schema (2020-12) of every event type, for non-Python integrators."""
    with handled():
        from ssp_ledger.events import event_schema
        from ssp_ledger.outfile import STDOUT, check_output, open_output

        text = json.dumps(event_schema(), indent=2, ensure_ascii=False) + "\n"
        if out is None or str(out) == STDOUT:
            sys.stdout.write(text)
        else:
            with open_output(check_output(out)) as stream:
                stream.write(text.encode("utf-8"))
            sys.stdout.write(f"wrote the event schema to {out}\n")


@app.command(epilog=examples(
    "ssp-ledger events --limit 20",
    "ssp-ledger events --type EventCorrected,EventRetracted --store ssp-demo.db",
    "ssp-ledger events --type FundingChanged --from 2011-01-01 --to 2011-12-31",
    "ssp-ledger events --id ssp-000-0011714 --partnership ssp-000 --format json",
))
def events(
    store: StoreOption = DEFAULT_STORE,
    partnership: PartnershipOption = None,
    types: Annotated[
        str | None, typer.Option("--type", metavar="TYPE[,TYPE...]",
                                 help="Only these event types (e.g. ClubRun,FundingChanged).")
    ] = None,
    start: Annotated[
        str | None, typer.Option("--from", metavar="DATE",
                                 help="Only events valid on or after this date.")
    ] = None,
    end: Annotated[
        str | None, typer.Option("--to", metavar="DATE",
                                 help="Only events valid on or before this date.")
    ] = None,
    event_id: Annotated[
        str | None, typer.Option("--id", metavar="EVENT_ID",
                                 help="Only this event and the corrections or retractions of it.")
    ] = None,
    limit: Annotated[
        int | None, typer.Option("--limit", "-n", min=0, metavar="N",
                                 help="Show at most N events (the first N in log order).")
    ] = None,
    fmt: FormatOption = OutputFormat.table,
) -> None:
    """List stored events in log order: position, recorded time, type, valid date and id.

    Filters combine: --type (one or more types, comma-separated), --from/--to (valid dates,
    inclusive), --partnership and --id (an event and every correction or retraction of it).
    The table is plain aligned text (fast for the whole log, easy to grep and cut); text that
    is not printable is shown escaped. json gives one object per event with the whole event.
    """
    from ssp_ledger.cli.render import aligned, rows_csv, rows_markdown
    from ssp_ledger.events import EVENT_TYPES

    with handled():
        wanted: set[str] | None = None
        if types is not None:
            wanted = {t.strip() for t in types.split(",") if t.strip()}
            unknown = sorted(wanted - set(EVENT_TYPES))
            if unknown or not wanted:
                named = ", ".join(map(repr, unknown)) or "''"
                msg = (f"--type: unknown event type {named} "
                       f"(types: {', '.join(sorted(EVENT_TYPES))})")
                raise ValueError(msg)
        first = parse_date_option("--from", start) if start is not None else None
        last = parse_date_option("--to", end) if end is not None else None
        if first is not None and last is not None and last < first:
            msg = f"--to {last} is before --from {first}"
            raise ValueError(msg)
        with open_store(store, mode="read") as ledger, progress("reading the log") as bar:
            ledger.progress = bar
            found: list[tuple[int, Recorded]] = []
            for position, rec in ledger.read():
                if limit is not None and len(found) >= limit:
                    break
                event = rec.event
                if partnership is not None and event.partnership_id != partnership:
                    continue
                if wanted is not None and type(event).__name__ not in wanted:
                    continue
                day = event.occurred_on
                if (first is not None and day < first) or (last is not None and day > last):
                    continue
                if event_id is not None and event.event_id != event_id and getattr(
                        event, "target_event_id", None) != event_id:
                    continue
                found.append((position, rec))
        if fmt is OutputFormat.json:
            import msgspec

            sys.stdout.write(json.dumps(
                [{"position": position, "recorded_at": rec.recorded_at.isoformat(),
                  "event": msgspec.to_builtins(rec.event)} for position, rec in found],
                indent=2, ensure_ascii=False) + "\n")
            return
        rows = [(str(position), rec.recorded_at.isoformat(), printable(rec.event.partnership_id),
                 type(rec.event).__name__, rec.event.occurred_on.isoformat(),
                 printable(rec.event.event_id)) for position, rec in found]
        if fmt is OutputFormat.csv:
            sys.stdout.write(rows_csv(EVENT_COLUMNS, rows))
            return
        if fmt is OutputFormat.markdown:
            sys.stdout.write(rows_markdown(EVENT_COLUMNS, rows, right=(0,)))
            return
        filters = [f"partnership {printable(partnership)}" if partnership else "",
                   f"type {', '.join(sorted(wanted))}" if wanted else "",
                   f"valid from {first}" if first else "", f"valid to {last}" if last else "",
                   f"id {printable(event_id)}" if event_id is not None else ""]
        shown = "".join(f", {f}" for f in filters if f)
        sys.stdout.write(f"events in {shown_store(store)}{shown}: {len(rows)} event"
                         f"{'' if len(rows) == 1 else 's'}\n")
        sys.stdout.write(aligned(EVENT_COLUMNS, rows, right=(0,)))


EVENT_COLUMNS = ("position", "recorded_at", "partnership", "type", "occurred_on", "event_id")


app.add_typer(scenario_app, name="scenario")
export_commands.register(app)  # export (JSONL), export-table (Parquet or CSV with a manifest)


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of the ``ssp-ledger`` command.

    Typer turns every registered command into a click command (evaluating each one's
    annotations) before it runs any: about 17 ms of CPU for the whole application, 2 ms for one
    command, which a cold report pays every time. So when the first argument names a plain
    command, the command line is handed to a copy of :data:`app` holding that command alone:
    the same callback, options, help and errors for it (``ssp-ledger report --help`` is the
    same text), without building the others. Anything else (no command, ``--help``,
    ``--version``, a group such as ``scenario``, a misspelt name) goes to the whole
    application.
    """
    single_threaded_blas()
    args = list(argv) if argv is not None else sys.argv[1:]
    _for(args[0] if args else "")(args=args, prog_name="ssp-ledger")


BLAS_THREADS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")
"""Variables that size the thread pool of numpy's BLAS, read once when numpy is loaded."""


def single_threaded_blas() -> None:
    """Ask numpy's BLAS for one thread (unless the caller's environment already sizes it).

    The ledger does no linear algebra, but OpenBLAS starts a worker thread per core when numpy
    is first imported, and those workers spin while they wait: on a 2-core box that made
    numpy's import cost 0.15 s of CPU instead of 0.07 s, in every report that reads numpy
    arrays (a cold staff or funding report: docs/performance.md). The variables are read when
    the library is loaded, so this runs before any command can import numpy; the command's own
    process only (a library user's process keeps its environment)."""
    if not any(name in os.environ for name in BLAS_THREADS):
        os.environ["OPENBLAS_NUM_THREADS"] = "1"


def _for(name: str) -> typer.Typer:
    """:data:`app`, or a copy of it holding only the plain command called ``name``."""
    from copy import copy

    from typer.main import get_command_name

    found = [info for info in app.registered_commands if info.callback is not None and (
        info.name or get_command_name(info.callback.__name__)) == name]
    if len(found) != 1:
        return app
    single = copy(app)
    single.registered_commands = found
    single.registered_groups = []
    return single
