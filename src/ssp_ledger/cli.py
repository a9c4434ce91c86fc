"""The ``ssp-ledger`` command: record, import, export and report on a ledger from the shell.

Every command that touches a store takes ``--store PATH`` (environment variable
``SSP_LEDGER_STORE``, default ``ssp-ledger.db`` in the current directory; ``demo`` defaults to
``ssp-demo.db`` and ignores the variable). A store is a SQLite file, ``:memory:`` or a
``postgresql://`` URL.

Output is deterministic: the same store and arguments give the same bytes (no clock, no run
timestamps). Tables go to standard output; progress bars and diagnostics to standard error.
Errors print one line ``error: <message>`` on standard error and exit with status 1 (usage
errors: status 2, reported by the argument parser); never a traceback.

Input from the shell is untrusted: dates, datetimes and periods are parsed here with messages
naming the option, and every user-supplied string shown in a rich table is wrapped in
:class:`rich.text.Text`, so identifiers containing ``[`` are shown verbatim, never as markup.
"""

from __future__ import annotations

import csv
import datetime as dt
import io as _stdio
import json
import os
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from enum import StrEnum
from itertools import groupby
from pathlib import Path
from typing import Annotated, Any, Literal, NoReturn
from urllib.parse import urlsplit, urlunsplit

import typer
from rich.console import Console
from rich.markup import escape
from rich.measure import Measurement
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table as RichTable
from rich.text import Text

from ssp_ledger.application import Ledger
from ssp_ledger.cli_export import register as register_export
from ssp_ledger.cli_options import (
    DEFAULT_CHECKPOINT,
    DEFAULT_STORE,
    AsOfOption,
    ByOption,
    CheckpointOption,
    KnownAtOption,
    PartnershipOption,
    PeriodOption,
    StoreOption,
)
from ssp_ledger.errors import LedgerError, StoreError
from ssp_ledger.periods import Period, parse_period
from ssp_ledger.projection import Cell, Table
from ssp_ledger.runner import DEFAULT_CHECKPOINT_EVERY, ProjectionRunner

__all__ = ["app", "main"]

DEMO_STORE = "ssp-demo.db"
#: Console width when standard output is not a terminal and COLUMNS is unset: wide enough that
#: report tables are never wrapped, so piped output is stable and greppable.
PIPE_WIDTH = 200
#: Valid dates the demo reports on: before, during and after the end of the ring-fenced grant.
DEMO_DATES = (
    dt.date(2008, 7, 31),
    dt.date(2010, 7, 31),
    dt.date(2011, 7, 31),
    dt.date(2012, 7, 31),
)
#: Short report names the CLI accepts besides the registered projection names.
ALIASES = {"cost": "staff_time_cost", "age": "partnership_age"}


class OutputFormat(StrEnum):
    """How ``report`` prints a table."""

    table = "table"
    json = "json"
    csv = "csv"


class ImportFormat(StrEnum):
    """Input formats ``import`` understands."""

    auto = "auto"
    jsonl = "jsonl"
    csv = "csv"


_IMPORT_FORMATS: dict[ImportFormat, Literal["auto", "jsonl", "csv"]] = {
    ImportFormat.auto: "auto",
    ImportFormat.jsonl: "jsonl",
    ImportFormat.csv: "csv",
}

app = typer.Typer(
    name="ssp-ledger",
    epilog=(
        "Start with:  ssp-ledger demo    (builds ssp-demo.db from a synthetic history)\n\n"
        "Store: --store PATH, or the SSP_LEDGER_STORE environment variable; "
        "default ssp-ledger.db."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)

# --------------------------------------------------------------------------- shared options



# --------------------------------------------------------------------------- errors and output


def _one_line(message: str) -> str:
    return " ".join(message.split()) or "unknown error"


def _fail(message: str, code: int = 1) -> NoReturn:
    sys.stderr.write(f"error: {_one_line(message)}\n")
    sys.stderr.flush()
    raise typer.Exit(code)


@contextmanager
def _handled() -> Iterator[None]:
    """Turn expected failures into one ``error:`` line and exit status 1 (never a traceback)."""
    try:
        yield
    except typer.Exit:
        raise
    except BrokenPipeError:
        # The reader went away (``ssp-ledger export | head``): stop quietly.
        with suppress(OSError):
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        raise typer.Exit(1) from None
    except KeyboardInterrupt:
        _fail("interrupted", 130)
    except OSError as e:
        if e.strerror and e.filename is not None:
            _fail(f"{e.filename}: {e.strerror}")
        _fail(str(e) or type(e).__name__)
    except (LedgerError, ValueError) as e:
        _fail(str(e) or type(e).__name__)


def _console(*, stderr: bool = False) -> Console:
    stream = sys.stderr if stderr else sys.stdout
    width: int | None = None
    if not stream.isatty() and not os.environ.get("COLUMNS", "").isdigit():
        width = PIPE_WIDTH
    return Console(file=stream, width=width, highlight=False, emoji=False, soft_wrap=False)


def _progress(console: Console) -> Progress:
    return Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
        disable=not console.is_terminal,
    )


def shown_store(store: str) -> str:
    """The store as printed: a URL's password is masked, control characters escaped."""
    if "://" in store:
        url = urlsplit(store)
        if url.password:
            netloc = url.netloc.replace(f":{url.password}@", ":***@", 1)
            store = urlunsplit(url._replace(netloc=netloc))
    return _printable(store)


def _is_file_store(store: str) -> bool:
    return store not in (":memory:", "memory") and "://" not in store


def _open(store: str, *, create: bool, checkpoint: str | None = None) -> Ledger:
    """Open the ledger at ``store``; read-only commands refuse to create a missing file.

    ``checkpoint`` names a saved checkpoint to start the live projections from when it fits
    (None or empty: replay the log)."""
    if not store.strip():
        msg = "--store: empty path"
        raise ValueError(msg)
    if _is_file_store(store):
        path = Path(store).expanduser()
        if path.is_dir():
            msg = f"store {store!r} is a folder, not a store file"
            raise StoreError(msg)
        if not create and not path.exists():
            msg = (f"store {store!r} does not exist (create it with `ssp-ledger init`, "
                   "`ssp-ledger import` or `ssp-ledger demo`)")
            raise StoreError(msg)
    try:
        return Ledger.open(store, checkpoint=checkpoint or None)
    except ImportError as e:
        msg = f"cannot load the registered projections: {e}"
        raise StoreError(msg) from e


# --------------------------------------------------------------------------- argument parsing


def _why(e: ValueError) -> str:
    reason = str(e)
    return "" if reason.startswith("Invalid isoformat") else f" ({reason})"


def parse_date_option(option: str, text: str) -> dt.date:
    """An ISO date (YYYY-MM-DD) given to ``option``, or a ValueError naming the option."""
    try:
        return dt.date.fromisoformat(text.strip())
    except ValueError as e:
        msg = f"{option}: {text!r} is not a valid date{_why(e)}; use YYYY-MM-DD, e.g. 2010-07-31"
        raise ValueError(msg) from None


def parse_datetime_option(option: str, text: str) -> dt.datetime:
    """An ISO datetime given to ``option``; without an offset it is taken as UTC."""
    try:
        moment = dt.datetime.fromisoformat(text.strip())
    except ValueError as e:
        msg = (f"{option}: {text!r} is not a valid ISO datetime{_why(e)}; "
               "use e.g. 2011-09-01T12:00:00+00:00")
        raise ValueError(msg) from None
    if moment.tzinfo is None or moment.utcoffset() is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment


def parse_period_option(option: str, text: str) -> Period:
    """A period (2010/11, 2010/11:autumn, FY2010/11, 2011, D1..D2) given to ``option``."""
    try:
        return parse_period(text)
    except ValueError as e:
        raise ValueError(f"{option}: {e}") from None


def output_path(out: str) -> Path:
    """The file ``--out`` names, refusing a missing folder or a folder in its place."""
    target = Path(out).expanduser()
    if not target.parent.is_dir():
        msg = f"--out: folder {target.parent} does not exist"
        raise ValueError(msg)
    if target.is_dir():
        msg = f"--out: {out} is a folder"
        raise ValueError(msg)
    return target


def projection_name(name: str) -> str:
    """The registered projection a report name refers to (``cost`` -> ``staff_time_cost``)."""
    return ALIASES.get(name.strip(), name.strip())


# --------------------------------------------------------------------------- rendering tables


def money(pence: int) -> str:
    """Integer pence as pounds with two decimals: ``-123456`` -> ``-£1,234.56``."""
    sign = "-" if pence < 0 else ""
    pounds, rest = divmod(abs(pence), 100)
    return f"{sign}£{pounds:,}.{rest:02d}"


def _is_figure_column(table: Table, index: int) -> bool:
    values = [row[index] for row in table.rows if row[index] is not None]
    return bool(values) and all(
        isinstance(v, int) and not isinstance(v, bool) for v in values
    )


def _is_pence(column: str) -> bool:
    return column.endswith("_pence") or column.startswith("pence_")


def _header(column: str) -> str:
    """Column name as a table header: words split (so they can wrap) and pence shown as £."""
    if column.endswith("_pence"):
        column = f"{column.removesuffix('_pence')} (£)"
    elif column.startswith("pence_"):
        column = f"{column.removeprefix('pence_')} (£)"
    return column.replace("_", " ")


def _cell_text(column: str, value: Cell) -> str:
    if value is None:
        return ""
    if isinstance(value, int) and not isinstance(value, bool):
        return money(value) if _is_pence(column) else f"{value:,}"
    return str(value)


def table_title(table: Table, partnership_id: str | None = None) -> str:
    """A one-line description built only from the query's arguments."""
    parts = [f"{table.projection} as of {table.as_of.isoformat()}"]
    if table.known_at is not None:
        parts.append(f"known at {table.known_at.isoformat()}")
    if table.by is not None:
        parts.append(f"by {table.by}")
    if table.period is not None:
        parts.append(f"period {table.period}")
    if partnership_id is not None:
        parts.append(f"partnership {partnership_id}")
    return ", ".join(parts)


def rich_table(table: Table) -> RichTable:
    """A rich table: figures right-aligned and never cut, pence in pounds, text never markup."""
    out = RichTable()
    cells = [[_cell_text(c, v) for c, v in zip(table.columns, row, strict=True)]
             for row in table.rows]
    for i, name in enumerate(table.columns):
        header = _header(name)
        # Headers wrap between words only; figures never wrap.
        widest = max([len(word) for word in header.split()]
                     + [len(row[i]) for row in cells if _is_figure_column(table, i)])
        out.add_column(Text(header), min_width=widest, overflow="fold",
                       justify="right" if _is_figure_column(table, i) else "left")
    for row, texts in zip(table.rows, cells, strict=True):
        is_total = bool(row) and row[0] == "total"
        if is_total and out.row_count:
            out.add_section()
        out.add_row(*(Text(t) for t in texts), style="bold" if is_total else None)
    return out


def print_table(console: Console, table: Table, title: str) -> None:
    """The title on its own line (no padding), then the table."""
    console.print(Text(title, style="italic"), soft_wrap=True)
    print_unclipped(console, rich_table(table))


def print_unclipped(console: Console, rendered: RichTable) -> None:
    """Print a table without ever cropping it.

    A table whose columns cannot fit the console is printed at its natural width (the terminal
    wraps the long lines) rather than cut at the edge.
    """
    needed = Measurement.get(console, console.options.update(max_width=10_000), rendered)
    width = console.width
    if needed.minimum > width:
        console.width = needed.maximum
        try:
            console.print(rendered, crop=False)
        finally:
            console.width = width
    else:
        console.print(rendered)


def table_json(table: Table, partnership_id: str | None = None) -> str:
    """The table and the arguments that produced it, as pretty JSON (raw integers)."""
    doc: dict[str, Any] = {
        "projection": table.projection,
        "as_of": table.as_of.isoformat(),
        "known_at": table.known_at.isoformat() if table.known_at is not None else None,
        "by": table.by,
        "period": table.period,
        "partnership": partnership_id,
        "columns": list(table.columns),
        "rows": table.to_dicts(),
    }
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"


def table_csv(table: Table) -> str:
    """Header and rows as CSV (raw integers; empty field for a missing value)."""
    buffer = _stdio.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(table.columns)
    for row in table.rows:
        writer.writerow(["" if v is None else v for v in row])
    return buffer.getvalue()


# --------------------------------------------------------------------------- commands


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


@app.command(epilog=(
    "Examples:\n\n"
    "  ssp-ledger init\n"
    "  ssp-ledger init --store data/tyneside.db\n"
    "  SSP_LEDGER_STORE=ledger.db ssp-ledger init"
))
def init(store: StoreOption = DEFAULT_STORE) -> None:
    """Create an empty store (or open an existing one) and say how many events it holds."""
    with _handled(), _open(store, create=True) as ledger:
        count = ledger.position
        plural = "" if count == 1 else "s"
        sys.stdout.write(f"store {shown_store(store)} holds {count} event{plural}\n")


@app.command(epilog=(
    "Examples:\n\n"
    "  ssp-ledger demo\n"
    "  ssp-ledger demo --partnerships 3 --seed 7 --store three.db\n"
    "  ssp-ledger report cost --store ssp-demo.db --as-of 2011-07-31 --by role"
))
def demo(
    store: Annotated[
        str,
        typer.Option("--store", metavar="PATH",
                     help="Store to fill and report on (SSP_LEDGER_STORE is ignored here)."),
    ] = DEMO_STORE,
    seed: Annotated[int, typer.Option(help="Seed of the synthetic history.")] = 2006,
    partnerships: Annotated[
        int, typer.Option(min=1, help="Number of synthetic partnerships.")
    ] = 1,
) -> None:
    """Fill an empty store with a synthetic history, then report on it at four dates.

    The history (2006-2013) follows the real programme: formation under PESSCL, SSCOs and PLTs
    released from schools, Competition Managers from 2008, the end of the ring-fenced grant in
    August 2011 and the one-day-a-week PE teacher funding after it. Reports are printed as of
    2008-07-31, 2010-07-31, 2011-07-31 and 2012-07-31. A store that already holds events is only
    reported on.
    """
    out = _console()
    with _handled(), _open(store, create=True) as ledger:
        if ledger.position == 0:
            _fill_demo(ledger, seed=seed, partnerships=partnerships, store=store)
        else:
            sys.stdout.write(
                f"store {shown_store(store)} already holds {ledger.position} events: "
                "reporting only\n")
        for day in DEMO_DATES:
            _demo_reports(ledger, day, out)


def _fill_demo(ledger: Ledger, *, seed: int, partnerships: int, store: str) -> None:
    from ssp_ledger.synthetic import SyntheticConfig, generate

    config = SyntheticConfig(seed=seed, partnerships=partnerships)
    recorded = 0
    with _progress(_console(stderr=True)) as progress:
        task = progress.add_task("recording partnerships", total=partnerships)
        for partnership_id, events in groupby(generate(config), key=lambda e: e.partnership_id):
            progress.update(task, description=f"recording {escape(partnership_id)}")
            result = ledger.record_many(events)
            recorded += result.recorded
            progress.advance(task)
    sys.stdout.write(
        f"recorded {recorded} synthetic events ({partnerships} partnership"
        f"{'s' if partnerships != 1 else ''}, seed {seed}) into {shown_store(store)}\n"
    )


def _total(table: Table, column: str) -> int | None:
    """The figure in ``column`` of the total row (or the sum over rows without one)."""
    if column not in table.columns:
        return None
    i = table.columns.index(column)
    for row in table.rows:
        if row[0] == "total":
            value = row[i]
            return value if isinstance(value, int) else None
    values = [row[i] for row in table.rows]
    ints = [v for v in values if isinstance(v, int)]
    return sum(ints) if ints else None


def _plural(count: int, word: str) -> str:
    return f"{count:,} {word}{'' if count == 1 else 's'}"


def _headline(day: dt.date, tables: dict[str, Table]) -> str:
    """One line per date: age and members, participation, cost, funding and gap."""
    parts: list[str] = []
    age = tables.get("age")
    if age is not None and age.rows and "age_days" in age.columns:
        ages = [v for v in age.column("age_days") if isinstance(v, int)]
        members = _total(age, "active_members")
        oldest = f" (oldest {max(ages):,} days)" if len(ages) > 1 else (
            f" aged {ages[0]:,} days" if ages else "")
        parts.append(_plural(len(age.rows), "partnership") + oldest
                     + (f", {_plural(members, 'school')}" if members is not None else ""))
    part = tables.get("participation")
    if part is not None:
        sessions = _total(part, "sessions")
        attendances = _total(part, "attendances")
        if sessions is not None and attendances is not None:
            parts.append(f"{_plural(sessions, 'session')}, "
                         f"{_plural(attendances, 'attendance')}")
    cost = tables.get("cost")
    if cost is not None:
        total = _total(cost, "total_pence")
        hidden = _total(cost, "hidden_pence")
        if total is not None:
            share = f" ({hidden * 100 // total}% hidden)" if hidden and total else ""
            parts.append(f"staff time {money(total)}{share}")
    funding = tables.get("funding")
    if funding is not None:
        received = _total(funding, "received_pence")
        gap = _total(funding, "funding_gap_pence")
        if received is not None:
            parts.append(f"funding {money(received)}"
                         + (f", gap {money(gap)}" if gap is not None else ""))
    return f"As of {day.isoformat()}: " + ("; ".join(parts) if parts else "nothing recorded yet")


def _demo_reports(ledger: Ledger, day: dt.date, out: Console) -> None:
    specs: list[tuple[str, str, str | None]] = [
        ("participation", "participation", "academic_year"),
        ("cost", "staff_time_cost", "funded"),
        ("cost-role", "staff_time_cost", "role"),
        ("age", "partnership_age", None),
        ("funding", "funding", "academic_year"),
    ]
    tables: dict[str, Table] = {}
    problems: list[str] = []
    for key, name, by in specs:
        try:
            tables[key] = ledger.report(name, as_of=day, by=by)
        except (LedgerError, ValueError) as e:
            problems.append(f"{name} by {by}: {_one_line(str(e))}")
    out.print()
    out.print(Text(_headline(day, tables), style="bold"), soft_wrap=True)
    for table in tables.values():
        print_table(out, table, table_title(table))
    for problem in problems:
        out.print(Text(f"(not available: {problem})"))


@app.command(name="import", epilog=(
    "Examples:\n\n"
    "  ssp-ledger import events.jsonl\n"
    "  ssp-ledger import clubs-2010.csv --partnership tyneside --store tyneside.db\n"
    "  ssp-ledger import export.txt --format jsonl"
))
def import_(
    file: Annotated[Path, typer.Argument(metavar="FILE", help="JSONL events or a club CSV.")],
    store: StoreOption = DEFAULT_STORE,
    fmt: Annotated[
        ImportFormat, typer.Option("--format", help="Input format; auto picks by extension.")
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
    sessions of one partnership. Events already in the store with the same content are skipped,
    so re-importing a file is harmless. A bad line stops the import with its line number and
    nothing is recorded.
    """
    with _handled():
        from ssp_ledger.io import import_file

        if not file.exists():
            msg = f"{file}: no such file"
            raise OSError(msg)
        if file.is_dir():
            msg = f"{file}: is a folder, not a file"
            raise OSError(msg)
        with _open(store, create=True) as ledger, \
                _progress(_console(stderr=True)) as progress:
            task = progress.add_task(f"importing {escape(file.name)}", total=None)

            def report_progress(done: int, total: int | None) -> None:
                progress.update(task, completed=done, total=total)

            result = import_file(ledger, file, format=_IMPORT_FORMATS[fmt],
                                 partnership_id=partnership,
                                 progress=report_progress)
        sys.stdout.write(
            f"recorded {result.recorded} event{'s' if result.recorded != 1 else ''}, "
            f"skipped {result.duplicates} duplicate{'s' if result.duplicates != 1 else ''}"
            f" (store {shown_store(store)}, log position {result.position})\n"
        )


@app.command(epilog=(
    "Examples:\n\n"
    "  ssp-ledger export --out all.jsonl\n"
    "  ssp-ledger export --partnership ssp-000 > ssp-000.jsonl\n"
    "  ssp-ledger export --store a.db --out a.jsonl && ssp-ledger import a.jsonl --store b.db"
))
def export(
    store: StoreOption = DEFAULT_STORE,
    out: Annotated[
        str, typer.Option("--out", "-o", metavar="FILE",
                          help="Where to write JSONL; - for standard output.")
    ] = "-",
    partnership: PartnershipOption = None,
) -> None:
    """Write stored events as JSON Lines, one event per line, in log order.

    The output imports back with ssp-ledger import (same event ids, so nothing is duplicated).
    """
    with _handled():
        from ssp_ledger.io import export_file

        with _open(store, create=False) as ledger:
            if out == "-":
                sys.stdout.flush()
                count = export_file(ledger, sys.stdout.buffer, partnership_id=partnership)
                sys.stdout.buffer.flush()
                sys.stderr.write(f"exported {count} event{'s' if count != 1 else ''}\n")
            else:
                target = output_path(out)
                count = export_file(ledger, target, partnership_id=partnership)
                sys.stdout.write(
                    f"exported {count} event{'s' if count != 1 else ''} to {out}\n")


@app.command(epilog=(
    "Examples:\n\n"
    "  ssp-ledger report participation --as-of 2010-07-31 --by academic_year\n"
    "  ssp-ledger report cost --as-of 2011-07-31 --by role --period 2010/11\n"
    "  ssp-ledger report funding --as-of 2012-07-31 --known-at 2011-09-01T00:00:00Z\n"
    "  ssp-ledger report age --as-of 2011-07-31 --by school --format csv > tenure.csv\n"
    "  ssp-ledger report leaders --as-of 2011-07-31 --by leader_kind --format json"
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
    fmt: Annotated[
        OutputFormat, typer.Option("--format", "-f", help="Output format.")
    ] = OutputFormat.table,
    store: StoreOption = DEFAULT_STORE,
    checkpoint: CheckpointOption = DEFAULT_CHECKPOINT,
) -> None:
    """Print a projection as of a valid date (and, optionally, as known at a recorded time).

    Table output shows money in pounds; json and csv give raw integers (pence, minutes, days).
    A store with a saved checkpoint (`ssp-ledger checkpoint`) answers without replaying the log.
    """
    with _handled():
        as_of_date = parse_date_option("--as-of", as_of)
        known = parse_datetime_option("--known-at", known_at) if known_at is not None else None
        chosen = parse_period_option("--period", period) if period is not None else None
        with _open(store, create=False, checkpoint=checkpoint) as ledger:
            table = ledger.report(projection_name(name), as_of=as_of_date, known_at=known,
                                  by=by or None, period=chosen, partnership_id=partnership)
        if fmt is OutputFormat.json:
            sys.stdout.write(table_json(table, partnership))
        elif fmt is OutputFormat.csv:
            sys.stdout.write(table_csv(table))
        else:
            print_table(_console(), table, table_title(table, partnership))


@app.command(epilog=(
    "Examples:\n\n"
    "  ssp-ledger checkpoint --store ssp.db\n"
    "  ssp-ledger checkpoint --store ssp.db --follow --timeout 3600\n"
    "  ssp-ledger report participation --as-of 2011-07-31 --store ssp.db   # starts from it"
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
        int, typer.Option("--every", metavar="N", min=1,
                          help="Save a checkpoint every N records applied (and at the end).")
    ] = DEFAULT_CHECKPOINT_EVERY,
    store: StoreOption = DEFAULT_STORE,
) -> None:
    """Save the projections' state in the store, so reports start from it instead of replaying.

    Catches up from the previous checkpoint of that name (if it still fits the log and the
    code), saves state and log position in one transaction, and prints where it stands. Reports
    then load only the projection they need and apply the records stored since.
    """
    with _handled(), _open(store, create=False) as ledger:
        started = time.monotonic()
        with ProjectionRunner(ledger, name=name, checkpoint_every=every) as runner:
            applied = (runner.follow(timeout=timeout) if follow else runner.catch_up())
            resumed, note = runner.resumed_from, runner.resume_note
        seconds = time.monotonic() - started
        sys.stdout.write(
            f"checkpoint {name!r} at position {runner.saved_position:,}: applied "
            f"{applied:,} record{'' if applied == 1 else 's'} in {seconds:.1f} s "
            f"({'resumed from position ' + format(resumed, ',') if resumed else note})\n")


# --------------------------------------------------------------------------- audit



@app.command(epilog=(
    "Examples:\n\n"
    "  ssp-ledger verify --store ssp.db\n"
    "  ssp-ledger verify --store ssp.db --digest 20379:5f0c...e1"
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

    with _handled():
        expected = Digest.parse(digest_) if digest_ is not None else None
        with _open(store, create=False) as ledger:
            result = verify_store(ledger, expected)
        if result.ok:
            against = f", matches digest {expected}" if expected else ""
            sys.stdout.write(f"verified {result.checked} events in {shown_store(store)}"
                             f"{against}\ndigest {result.digest}\n")
            return
        for problem in result.problems:
            sys.stdout.write(f"{_printable(str(problem))}\n")
        _fail(f"{shown_store(store)} failed verification ({len(result.problems)} problem"
              f"{'' if len(result.problems) == 1 else 's'}); first: {result.problems[0]}")


@app.command(epilog=(
    "Examples:\n\n"
    "  ssp-ledger digest --store ssp.db > digest-2011-09-01.txt"
))
def digest(store: StoreOption = DEFAULT_STORE) -> None:
    """Print the ledger digest POSITION:SHA256 to write down (see ``verify --digest``)."""
    from ssp_ledger.audit import digest as store_digest

    with _handled(), _open(store, create=False) as ledger:
        sys.stdout.write(f"{store_digest(ledger)}\n")


@app.command(epilog=(
    "Examples:\n\n"
    "  ssp-ledger explain participation --as-of 2011-07-31 --by school --group ssp-000-hub\n"
    "  ssp-ledger explain leaders --as-of 2011-07-31 --period 2010/11 --format csv"
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
    fmt: Annotated[OutputFormat, typer.Option("--format", "-f", help="Output format.")
                   ] = OutputFormat.table,
    store: StoreOption = DEFAULT_STORE,
) -> None:
    """List the events behind one figure row, with what each contributed (they sum to the row)."""
    from ssp_ledger.audit import explain as explain_figure

    with _handled():
        as_of_date = parse_date_option("--as-of", as_of)
        known = parse_datetime_option("--known-at", known_at) if known_at is not None else None
        if period is not None:
            parse_period_option("--period", period)
        with _open(store, create=False) as ledger:
            table, parts = explain_figure(
                ledger, projection_name(name), as_of=as_of_date, known_at=known, by=by,
                group=group, period=period, partnership_id=partnership)
        # The figures the contributions carry (an age row explains tenure_days, say, which the
        # table shows only as a mean), in the order they first appear.
        measures = list(dict.fromkeys(k for c in parts for k in c.values))
        columns = ("position", "occurred_on", "type", "event_id", "recorded_at", *measures)
        rows = [(str(c.position), c.occurred_on.isoformat(), c.event_type,
                 _printable(c.event_id), c.recorded_at.isoformat(),
                 *(str(c.values.get(m, "")) for m in measures)) for c in parts]
        if fmt is OutputFormat.json:
            payload = {"row": table.row(group), "contributions": [dict(zip(columns, r,
                                                                           strict=True))
                                                                  for r in rows]}
            sys.stdout.write(json.dumps(payload, indent=2, ensure_ascii=False) + "\n")
        elif fmt is OutputFormat.csv:
            buffer = _stdio.StringIO()
            writer = csv.writer(buffer, lineterminator="\n")
            writer.writerow(columns)
            writer.writerows(rows)
            sys.stdout.write(buffer.getvalue())
        else:
            row = table.row(group)
            figures = ", ".join(f"{k} {v}" for k, v in row.items() if k != table.columns[0])
            sys.stdout.write(f"{table_title(table, partnership)}; row {_printable(group)}: "
                             f"{figures}\n{len(parts)} contributing events\n")
            sys.stdout.write(aligned(columns, rows, right=(0, *range(5, len(columns)))))


@app.command(epilog=(
    "Examples:\n\n"
    "  ssp-ledger restatement participation --as-of 2011-08-31 --period 2010/11 \\\n"
    "      --before 2011-09-01T00:00:00Z --after 2011-10-04T00:00:00Z"
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
    store: StoreOption = DEFAULT_STORE,
) -> None:
    """Show how a report changed between two recorded times, and the records that changed it."""
    from ssp_ledger.audit import restatement as restate

    with _handled():
        as_of_date = parse_date_option("--as-of", as_of)
        first = parse_datetime_option("--before", before)
        second = parse_datetime_option("--after", after)
        if period is not None:
            parse_period_option("--period", period)
        with _open(store, create=False) as ledger:
            result = restate(ledger, projection_name(name), as_of=as_of_date, before=first,
                             after=second, by=by, period=period, partnership_id=partnership)
        out = _console()
        print_table(out, result.before, f"{table_title(result.before, partnership)}, "
                                        f"known at {first.isoformat()}")
        print_table(out, result.after, f"{table_title(result.after, partnership)}, "
                                       f"known at {second.isoformat()}")
        sys.stdout.flush()
        changed = "none" if not result.changed else ", ".join(
            _printable(str(row[0])) for row in result.changed)
        sys.stdout.write(f"rows changed: {changed}\n{len(result.events)} records between "
                         "the two times:\n")
        sys.stdout.write(aligned(
            ("position", "recorded_at", "type", "event_id", "target"),
            [(str(p), t.isoformat(), k, _printable(e), _printable(g))
             for p, t, k, e, g in result.events], right=(0,)))


@app.command(epilog=(
    "Examples:\n\n"
    "  ssp-ledger schema\n"
    "  ssp-ledger schema --out ssp-ledger-events.schema.json"
))
def schema(
    out: Annotated[
        Path | None, typer.Option("--out", "-o", metavar="FILE",
                                  help="Write to this file instead of standard output.")
    ] = None,
) -> None:
    """Print the JSON Schema (2020-12) of every event type, for non-Python integrators."""
    with _handled():
        from ssp_ledger.events import event_schema

        text = json.dumps(event_schema(), indent=2, ensure_ascii=False) + "\n"
        if out is None or str(out) == "-":
            sys.stdout.write(text)
        else:
            out.write_text(text, encoding="utf-8")
            sys.stdout.write(f"wrote the event schema to {out}\n")


@app.command(epilog=(
    "Examples:\n\n"
    "  ssp-ledger events --limit 20\n"
    "  ssp-ledger events --partnership ssp-000 --store ssp-demo.db --limit 50"
))
def events(
    store: StoreOption = DEFAULT_STORE,
    partnership: PartnershipOption = None,
    limit: Annotated[
        int | None, typer.Option("--limit", "-n", min=0, metavar="N",
                                 help="Show at most N events (the first N in log order).")
    ] = None,
) -> None:
    """List stored events in log order: position, recorded time, type, valid date and id.

    The listing is plain aligned text (fast for the whole log, easy to grep and cut); text that
    is not printable is shown escaped.
    """
    with _handled(), _open(store, create=False) as ledger:
        rows: list[tuple[str, ...]] = []
        for position, rec in ledger.read():
            if limit is not None and len(rows) >= limit:
                break
            event = rec.event
            if partnership is not None and event.partnership_id != partnership:
                continue
            rows.append((
                str(position), rec.recorded_at.isoformat(), _printable(event.partnership_id),
                type(event).__name__, event.occurred_on.isoformat(), _printable(event.event_id),
            ))
        sys.stdout.write(f"events in {shown_store(store)}"
                         + (f", partnership {_printable(partnership)}" if partnership else "")
                         + f": {len(rows)} event{'' if len(rows) == 1 else 's'}\n")
        sys.stdout.write(aligned(EVENT_COLUMNS, rows, right=(0,)))


EVENT_COLUMNS = ("position", "recorded_at", "partnership", "type", "occurred_on", "event_id")


def _printable(text: str) -> str:
    """``text`` with control characters escaped, so one value stays on one line."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def aligned(columns: Sequence[str], rows: Sequence[Sequence[str]],
            right: Sequence[int] = ()) -> str:
    """A plain-text table: header, dashes, rows; columns two spaces apart, no trailing blanks."""
    widths = [max([len(c), *(len(r[i]) for r in rows)]) for i, c in enumerate(columns)]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(
            cell.rjust(w) if i in right else cell.ljust(w)
            for i, (cell, w) in enumerate(zip(cells, widths, strict=True))
        ).rstrip() + "\n"

    return "".join([line(columns), line(["-" * w for w in widths]), *map(line, rows)])


# --------------------------------------------------------------------------- scenarios

scenario_app = typer.Typer(
    name="scenario",
    help=("Researchers' what-if scenarios: branch a history in memory at a fork date, apply a "
          "reform, compare with the baseline (the same model without it). The store is only "
          "read."),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
app.add_typer(scenario_app, name="scenario")

ScenarioFileArgument = Annotated[
    Path, typer.Argument(metavar="FILE", help="Scenario file (.toml or .json).")
]
_DIFF_HEADERS = ("period", "measure", "baseline", "scenario", "difference", "change")


def scenario_rich_table(table: Table) -> RichTable:
    """A diff table: money in pounds (by measure name), a change column, a rule per period."""
    out = RichTable()
    for i, name in enumerate(_DIFF_HEADERS):
        out.add_column(Text(name), justify="right" if i >= 2 else "left", no_wrap=True)
    last: Cell = None
    for period, measure, base, scen, diff in table.rows:
        if last is not None and period != last:
            out.add_section()
        last = period
        name = str(measure)
        change = (f"{diff * 100 / base:+.1f}%" if isinstance(base, int) and base
                  and isinstance(diff, int) else "")
        out.add_row(Text(str(period)), Text(name),
                    *(Text(_cell_text(name, v)) for v in (base, scen, diff)), Text(change))
    return out


@scenario_app.command("run", epilog=(
    "Examples:\n\n"
    "  ssp-ledger scenario run examples/scenario_continued_grant.toml\n"
    "  ssp-ledger scenario run cut.toml --plot cut.png --format csv > cut.csv\n"
    "  ssp-ledger scenario run cut.json --by financial_year --format json"
))
def scenario_run(
    file: ScenarioFileArgument,
    plot_file: Annotated[
        Path | None, typer.Option("--plot", metavar="FILE",
                                  help="Also draw baseline vs scenario (.png, .svg or .pdf).")
    ] = None,
    fmt: Annotated[OutputFormat, typer.Option("--format", "-f", help="Output format.")
                   ] = OutputFormat.table,
    by: Annotated[
        str | None, typer.Option("--by", metavar="PERIOD-KIND",
                                 help="academic_year, term, financial_year or calendar_year "
                                      "(default: the scenario's, else academic_year).")
    ] = None,
) -> None:
    """Run a scenario and print baseline vs scenario per period, with the differences.

    Tables: participation, staff-time cost (funded vs hidden), membership, funding (and the
    funding gap) and leaders; the last row of each covers the fork date to the horizon.
    """
    from ssp_ledger.projection import PERIOD_KINDS
    from ssp_ledger.scenarios import check_plot_path, load_scenario, plot, run_scenario

    with _handled():
        scenario = load_scenario(file)
        if by is not None:
            if by not in PERIOD_KINDS:
                msg = f"--by: {by!r} is not one of {', '.join(PERIOD_KINDS)}"
                raise ValueError(msg)
            scenario = scenario.model_copy(update={"by": by})
        if plot_file is not None:
            check_plot_path(plot_file)
        result = run_scenario(scenario)
        try:
            if plot_file is not None:
                plot(result, plot_file)
            if fmt is OutputFormat.json:
                sys.stdout.write(result.to_json())
            elif fmt is OutputFormat.csv:
                sys.stdout.write(result.to_csv())
            else:
                out = _console()
                out.print(Text(f"Scenario: {scenario.name} (fork {scenario.fork_date}, horizon "
                               f"{scenario.horizon}); baseline = the same model without the "
                               "reform", style="bold"), soft_wrap=True)
                for name, table in result.tables.items():
                    out.print(Text(f"{name} by {scenario.by}", style="italic"), soft_wrap=True)
                    print_unclipped(out, scenario_rich_table(table))
        finally:
            result.close()
        if plot_file is not None:
            sys.stderr.write(f"wrote the plot to {plot_file}\n")


@scenario_app.command("sweep", epilog=(
    "Examples:\n\n"
    "  ssp-ledger scenario sweep cont.toml --param sessions_elasticity --values 0.35,0.7,1.4\n"
    "  ssp-ledger scenario sweep cut.toml --param overrides.0.scale --values 0.5,0.7,0.9 "
    "--out sweep.csv\n"
    "  ssp-ledger scenario sweep cont.toml --param seed --values 1,2,3,4 --format json"
))
def scenario_sweep(
    file: ScenarioFileArgument,
    param: Annotated[
        str, typer.Option("--param", metavar="NAME",
                          help="Setting to vary: a response parameter (sessions_elasticity), "
                               "a parameter (release.PE_TEACHER: its value from the fork on) or "
                               "a dotted path (seed, overrides.0.scale, response.NAME).")
    ],
    values: Annotated[
        str, typer.Option("--values", metavar="V1,V2,...", help="Comma-separated values.")
    ],
    out_file: Annotated[
        Path | None, typer.Option("--out", "-o", metavar="FILE",
                                  help="Write the table as CSV to this file.")
    ] = None,
    fmt: Annotated[OutputFormat, typer.Option("--format", "-f", help="Output format.")
                   ] = OutputFormat.table,
    workers: Annotated[
        int, typer.Option("--workers", min=1, max=32, help="Parallel processes.")
    ] = 2,
) -> None:
    """Run a scenario once per value of one setting, in parallel; one row per value.

    Each row gives baseline, scenario and difference from the fork date to the horizon.
    """
    from ssp_ledger.scenarios import load_scenario, sweep

    with _handled():
        chosen = [v.strip() for v in values.split(",") if v.strip()]
        if not chosen:
            msg = "--values: give at least one value, e.g. --values 0.5,1,1.5"
            raise ValueError(msg)
        if out_file is not None and not out_file.expanduser().parent.is_dir():
            msg = f"--out: folder {out_file.parent} does not exist"
            raise OSError(msg)
        scenario = load_scenario(file)
        with _progress(_console(stderr=True)) as progress:
            task = progress.add_task(f"sweeping {escape(param)}", total=len(chosen))

            def report_progress(done: int, total: int) -> None:
                progress.update(task, completed=done, total=total)

            result = sweep(scenario, param, chosen, workers=workers, progress=report_progress)
        if out_file is not None:
            out_file.expanduser().write_text(result.to_csv(), encoding="utf-8")
            sys.stdout.write(f"wrote {len(result.rows)} row{'s' if len(result.rows) != 1 else ''}"
                             f" to {out_file}\n")
        elif fmt is OutputFormat.json:
            sys.stdout.write(json.dumps(list(result.rows), indent=2, ensure_ascii=False) + "\n")
        elif fmt is OutputFormat.csv:
            sys.stdout.write(result.to_csv())
        else:
            print_table(_console(), result.table(),
                        f"{scenario.name}: sweep of {param} ({scenario.fork_date} to "
                        f"{scenario.horizon})")


register_export(app)  # export-table / export-log: Parquet or CSV with a manifest


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of the ``ssp-ledger`` command."""
    app(args=list(argv) if argv is not None else None, prog_name="ssp-ledger")
