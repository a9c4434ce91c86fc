"""Option types shared by the ``ssp-ledger`` commands (one definition each, so every command
spells, documents and reads an option the same way)."""

from __future__ import annotations

from typing import Annotated

import typer

__all__ = [
    "DEFAULT_CHECKPOINT",
    "DEFAULT_STORE",
    "STORE_ENV",
    "AsOfOption",
    "ByOption",
    "CheckpointOption",
    "KnownAtOption",
    "PartnershipOption",
    "PeriodOption",
    "StoreOption",
]

DEFAULT_STORE = "ssp-ledger.db"
DEFAULT_CHECKPOINT = "default"
STORE_ENV = "SSP_LEDGER_STORE"

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
