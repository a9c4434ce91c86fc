"""What every ``ssp-ledger`` command shares: options, errors, consoles, store opening, parsing.

This is the bottom layer of the CLI package (:mod:`ssp_ledger.cli`); the command modules import
it, it imports no command module. It holds no domain knowledge, only the shell conventions:

* **Options** are declared once here (``StoreOption``, ``AsOfOption``, ...), so every command
  spells, documents and reads an option the same way.
* **Errors**: :func:`handled` turns an expected failure into one ``error: <message>`` line on
  standard error and exit status 1 (never a traceback); :func:`fail` does it directly.
* **Stores** are opened only through :func:`open_store`, which names the mode: ``read``
  commands never write and refuse a missing, empty or foreign store; ``create`` commands make a
  new store where there is none; ``write`` commands need an existing ledger store.
* **Options from the shell are untrusted**: dates, datetimes and periods are parsed here with a
  message naming the option.
* **Values are read without pydantic** where they can be (:mod:`ssp_ledger.cli.values`).
* **Help stays fast.** ``ssp-ledger --help`` imports this module and the command modules but no
  command's work: the ledger, rich and the research stack are imported inside the functions
  that use them (``import ssp_ledger.cli`` costs little more than ``import typer``). Help is
  plain text (typer's ``rich_markup_mode=None``, see :data:`TYPER_SETTINGS`): rich-formatted
  help alone would cost more than the whole of the rest.
"""

from __future__ import annotations

import datetime as dt
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal, NoReturn
from urllib.parse import urlsplit, urlunsplit

import typer

from ssp_ledger.cli.values import Commands
from ssp_ledger.errors import LedgerError, StoreError

if TYPE_CHECKING:
    from rich.console import Console

    from ssp_ledger.application import Ledger
    from ssp_ledger.periods import Period
    from ssp_ledger.projection import Build
    from ssp_ledger.store import Clock

__all__ = [
    "ALIASES",
    "DEFAULT_CHECKPOINT",
    "DEFAULT_STORE",
    "PIPE_WIDTH",
    "STORE_ENV",
    "TYPER_SETTINGS",
    "AsOfOption",
    "ByOption",
    "CheckpointOption",
    "KnownAtOption",
    "OpenMode",
    "OutputFormat",
    "PartnershipOption",
    "PeriodOption",
    "StoreOption",
    "console",
    "fail",
    "handled",
    "one_line",
    "open_store",
    "output_path",
    "parse_date_option",
    "parse_datetime_option",
    "parse_period_option",
    "examples",
    "printable",
    "projection_name",
    "shown_store",
]

DEFAULT_STORE = "ssp-ledger.db"
DEFAULT_CHECKPOINT = "default"
#: Console width when standard output is not a terminal and COLUMNS is unset: wide enough that
#: report tables are never wrapped, so piped output is stable and greppable.
PIPE_WIDTH = 200
#: Short report names the CLI accepts besides the registered projection names.
ALIASES = {"cost": "staff_time_cost", "age": "partnership_age"}

OpenMode = Literal["read", "write", "create"]
#: Environment variable naming the store (the value of ``ssp_ledger.store.STORE_ENV``, spelled
#: here so that declaring the options does not import the store; a test keeps them equal).
STORE_ENV = "SSP_LEDGER_STORE"

#: Settings every ``typer.Typer`` of the CLI shares: plain help text (fast, see the module
#: docstring), ``-h`` as well as ``--help``, no shell-completion commands, no rich tracebacks,
#: and option values read without pydantic where typer's reading would need it
#: (:class:`~ssp_ledger.cli.values.Commands`).
TYPER_SETTINGS: dict[str, Any] = {
    "cls": Commands,
    "no_args_is_help": True,
    "add_completion": False,
    "pretty_exceptions_enable": False,
    "rich_markup_mode": None,
    "context_settings": {"help_option_names": ["-h", "--help"], "max_content_width": 120},
}


def examples(*lines: str) -> str:
    """A command's help epilog: ``Examples:`` then ``lines``, one per line, as written (the
    help formatter rewraps paragraphs; the ``\\b`` marker keeps these lines apart)."""
    return "Examples:\n\n\b\n" + "\n".join(f"  {line}" for line in lines)


class OutputFormat(StrEnum):
    """How a command prints a table."""

    table = "table"
    json = "json"
    csv = "csv"
    markdown = "markdown"


# --------------------------------------------------------------------------- options

StoreOption = Annotated[
    str,
    typer.Option(
        "--store",
        envvar=STORE_ENV,
        show_envvar=True,
        metavar="PATH",
        help="Store: a SQLite file, :memory: or a postgresql:// URL.",
    ),
]
PartnershipOption = Annotated[
    str | None,
    typer.Option("--partnership", metavar="ID", help="Only this partnership (its id)."),
]
AsOfOption = Annotated[
    str, typer.Option("--as-of", metavar="DATE",
                      help="Valid date: count what happened on or before it (YYYY-MM-DD).")
]
KnownAtOption = Annotated[
    str | None,
    typer.Option("--known-at", metavar="ISO-DATETIME",
                 help="Recorded time: only what the ledger knew then (UTC if no offset)."),
]
ByOption = Annotated[
    str | None,
    typer.Option("--by", metavar="GROUP",
                 help="Grouping, e.g. school, phase, role, funded, academic_year, term."),
]
PeriodOption = Annotated[
    str | None,
    typer.Option("--period", metavar="PERIOD",
                 help="Only this period: 2010/11, 2010/11:autumn, FY2010/11, 2011, D1..D2."),
]
CheckpointOption = Annotated[
    str,
    typer.Option("--checkpoint", metavar="NAME",
                 help=("Start from this saved checkpoint when it fits (made by `ssp-ledger "
                       "checkpoint`); an empty name, or no such checkpoint: replay the log.")),
]
FormatOption = Annotated[
    OutputFormat,
    typer.Option("--format", "-f", help="Output format: table, json, csv or markdown."),
]


# --------------------------------------------------------------------------- errors


def one_line(message: str) -> str:
    """``message`` on one line (runs of whitespace, newlines included, become one space)."""
    return " ".join(message.split()) or "unknown error"


def fail(message: str, code: int = 1) -> NoReturn:
    """Print ``error: <message>`` on one line of standard error and exit with ``code``."""
    sys.stderr.write(f"error: {one_line(message)}\n")
    sys.stderr.flush()
    raise typer.Exit(code)


@contextmanager
def handled() -> Iterator[None]:
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
        fail("interrupted", 130)
    except OSError as e:
        if e.strerror and e.filename is not None:
            fail(f"{e.filename}: {e.strerror}")
        fail(str(e) or type(e).__name__)
    except (LedgerError, ValueError) as e:
        fail(str(e) or type(e).__name__)


# --------------------------------------------------------------------------- consoles


def console(*, stderr: bool = False) -> Console:
    """A rich console on standard output (or error) that never highlights or guesses markup."""
    from rich.console import Console

    stream = sys.stderr if stderr else sys.stdout
    width: int | None = None
    if not stream.isatty() and not os.environ.get("COLUMNS", "").isdigit():
        width = PIPE_WIDTH
    return Console(file=stream, width=width, highlight=False, emoji=False, soft_wrap=False)


def printable(text: str) -> str:
    """``text`` with control characters escaped, so one value stays on one line."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def shown_store(store: str) -> str:
    """The store as printed: a URL's password is masked, control characters escaped."""
    if "://" in store:
        url = urlsplit(store)
        if url.password:
            netloc = url.netloc.replace(f":{url.password}@", ":***@", 1)
            store = urlunsplit(url._replace(netloc=netloc))
    return printable(store)


# --------------------------------------------------------------------------- stores


def open_store(store: str, *, mode: OpenMode, checkpoint: str | None = None,
               clock: Clock | None = None, build: Build = "all") -> Ledger:
    """Open the ledger at ``store`` for a command; the one place the CLI opens stores.

    ``mode`` says what the command does with it: ``read`` (never writes; a missing, empty or
    foreign store is refused), ``write`` (an existing ledger store) or ``create`` (a new store
    is made where the file does not exist or is empty). ``checkpoint`` names a saved checkpoint
    to start the live projections from when it fits (None or empty: replay the log).
    ``clock`` replaces the ledger's clock (``demo`` records history at the times it arrived).
    ``build``: ``"asked"`` for a command that reads one projection (a replay then builds that
    one alone; see :class:`~ssp_ledger.application.Ledger`).
    What opening did (``created a new store at x.db``) is in the ledger's ``note``; the
    creating commands print it with their result.
    """
    if not store.strip():
        msg = "--store: empty path"
        raise ValueError(msg)
    if store not in (":memory:", "memory") and "://" not in store \
            and not store.startswith("file:"):  # a SQLite URI: the store checks it
        path = Path(store).expanduser()
        if path.is_dir():
            msg = f"store {store!r} is a folder, not a store file"
            raise StoreError(msg)
        if mode != "create" and not path.exists():
            msg = (f"store {store!r} does not exist (create it with `ssp-ledger init`, "
                   "`ssp-ledger import` or `ssp-ledger demo`)")
            raise StoreError(msg)
    from ssp_ledger.application import Ledger

    try:
        if clock is not None:
            return Ledger.open(store, mode=mode, checkpoint=checkpoint or None, clock=clock,
                               build=build)
        return Ledger.open(store, mode=mode, checkpoint=checkpoint or None, build=build)
    except ImportError as e:
        msg = f"cannot load the registered projections: {e}"
        raise StoreError(msg) from e


# --------------------------------------------------------------------------- option parsing


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
    from ssp_ledger.periods import parse_period

    try:
        return parse_period(text)
    except ValueError as e:
        raise ValueError(f"{option}: {e}") from None


def output_path(out: str, option: str = "--out") -> Path:
    """The file ``option`` names, refusing a missing folder or a folder in its place."""
    target = Path(out).expanduser()
    if not target.parent.is_dir():
        msg = f"{option}: folder {target.parent} does not exist"
        raise ValueError(msg)
    if target.is_dir():
        msg = f"{option}: {out} is a folder"
        raise ValueError(msg)
    return target


def projection_name(name: str) -> str:
    """The registered projection a report name refers to (``cost`` -> ``staff_time_cost``)."""
    return ALIASES.get(name.strip(), name.strip())
