"""The export commands of ``ssp-ledger``: the log as JSON Lines, a table as Parquet or CSV.

* ``export`` writes stored events as JSONL, which ``import`` reads back;
* ``export-table`` writes a projection table (or the log) to Parquet or CSV with a manifest
  beside it that traces it to the ledger (:mod:`ssp_ledger.export`).

A command module of the CLI package, added to the application with :func:`register`; it builds
on :mod:`ssp_ledger.cli.common` only. Both commands only read the store.
"""

from __future__ import annotations

import sys
from enum import StrEnum
from typing import Annotated

import typer

from ssp_ledger.cli.common import (
    DEFAULT_CHECKPOINT,
    DEFAULT_STORE,
    ByOption,
    CheckpointOption,
    KnownAtOption,
    PartnershipOption,
    PeriodOption,
    StoreOption,
    examples,
    handled,
    open_store,
    parse_date_option,
    parse_datetime_option,
    parse_period_option,
    projection_name,
)
from ssp_ledger.outfile import STDOUT, check_output, open_output

__all__ = ["TableFormat", "export_command", "export_table_command", "register"]

_EXPORT_EPILOG = examples(
    "ssp-ledger export --out all.jsonl",
    "ssp-ledger export --partnership ssp-000 > ssp-000.jsonl",
    "ssp-ledger export --store a.db --out a.jsonl && ssp-ledger import a.jsonl --store b.db",
)


def export_command(
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
    with handled():
        from ssp_ledger.io import export_file

        check_output(out)
        with open_store(store, mode="read") as ledger:
            sys.stdout.flush()
            with open_output(out) as stream:
                count = export_file(ledger, stream, partnership_id=partnership)
        note = f"exported {count} event{'s' if count != 1 else ''}"
        if out == STDOUT:
            sys.stderr.write(f"{note}\n")
        else:
            sys.stdout.write(f"{note} to {out}\n")



#: Name that selects the log instead of a projection.
LOG = "log"


class TableFormat(StrEnum):
    """File formats ``export-table`` writes."""

    auto = "auto"
    parquet = "parquet"
    csv = "csv"


def export_table_command(
    name: Annotated[
        str,
        typer.Argument(
            metavar="NAME",
            help=("participation, cost (staff_time_cost), age (partnership_age), funding, "
                  "leaders, resources, any other registered projection, or 'log' for the "
                  "stored events."),
        ),
    ],
    out: Annotated[
        str, typer.Option("--out", "-o", metavar="FILE",
                          help="Data file to write (- for standard output); the manifest goes "
                               "to FILE.manifest.json.")
    ],
    manifest: Annotated[
        str | None, typer.Option("--manifest", metavar="FILE",
                                 help="Write the manifest here instead (needed to get one when "
                                      "--out is standard output, a device or a FIFO).")
    ] = None,
    as_of: Annotated[
        str | None,
        typer.Option("--as-of", metavar="DATE",
                     help="Valid date (YYYY-MM-DD); required for a projection, a filter for "
                          "the log."),
    ] = None,
    known_at: KnownAtOption = None,
    by: ByOption = None,
    period: PeriodOption = None,
    partnership: PartnershipOption = None,
    effective: Annotated[
        bool,
        typer.Option("--effective",
                     help="log only: the facts in force (corrections applied, retractions "
                          "removed) instead of every stored record."),
    ] = False,
    fmt: Annotated[
        TableFormat,
        typer.Option("--format", "-f", help="File format; auto: csv for *.csv, else parquet."),
    ] = TableFormat.auto,
    store: StoreOption = DEFAULT_STORE,
    checkpoint: CheckpointOption = DEFAULT_CHECKPOINT,
) -> None:
    """Write a projection table (or the log) to Parquet or CSV with a manifest beside it.

    The manifest (FILE.manifest.json) names the log position, the digest, the package version,
    the query and the file's SHA-256, so the table can be traced back to the ledger. Same store
    and arguments: byte-identical files. Parquet needs pyarrow (the parquet extra of ssp-ledger).
    """
    from ssp_ledger.export import ExportFormat, export_log, export_table

    with handled():
        as_of_date = parse_date_option("--as-of", as_of) if as_of is not None else None
        known = parse_datetime_option("--known-at", known_at) if known_at is not None else None
        chosen = parse_period_option("--period", period) if period is not None else None
        target = check_output(out)
        if manifest is not None:
            check_output(manifest, "--manifest")
        file_format: ExportFormat | None = (
            None if fmt is TableFormat.auto else "csv" if fmt is TableFormat.csv else "parquet")
        is_log = name.strip() == LOG
        if is_log:
            if by is not None or period is not None:
                msg = "--by and --period apply to projections, not to the log"
                raise ValueError(msg)
        else:
            if as_of_date is None:
                msg = "--as-of is required when exporting a projection (e.g. --as-of 2011-07-31)"
                raise ValueError(msg)
            if effective:
                msg = "--effective applies to the log only"
                raise ValueError(msg)
        with open_store(store, mode="read", checkpoint=checkpoint) as ledger:
            if is_log:
                written = export_log(ledger, target, known_at=known, as_of=as_of_date,
                                      partnership_id=partnership, effective=effective,
                                      format=file_format, manifest=manifest)
            else:
                assert as_of_date is not None
                written = export_table(ledger, projection_name(name), target,
                                        as_of=as_of_date, known_at=known, by=by or None,
                                        period=chosen, partnership_id=partnership,
                                        format=file_format, manifest=manifest)
        what = "records" if is_log and not effective else "facts" if is_log else "rows"
        where = (f"manifest {manifest if manifest is not None else manifest_name(out)}"
                 if written.path is not None else
                 "no manifest written (the output is not a regular file; use --manifest FILE)")
        note = (f"exported {written.rows} {what} to {out} ({written.format}); {where}\n"
                f"digest {written.digest}\n")
        (sys.stderr if out == STDOUT else sys.stdout).write(note)
        if not written.chain_verified:
            sys.stderr.write("warning: the store did not verify (run `ssp-ledger verify`); "
                             "the manifest records chain_verified: false\n")


def manifest_name(out: str) -> str:
    """The manifest file name printed for ``--out`` (as the user typed it)."""
    return f"{out}.manifest.json"


def register(app: typer.Typer) -> None:
    """Add ``export`` and ``export-table`` to ``app`` (the ``ssp-ledger`` Typer application)."""
    app.command(name="export", epilog=_EXPORT_EPILOG)(export_command)
    app.command(
        name="export-table",
        epilog=examples(
            "ssp-ledger export-table participation --as-of 2011-07-31 --by school"
            " --out participation.parquet",
            "ssp-ledger export-table cost --as-of 2011-07-31 --by role --period 2010/11"
            " --out cost.csv",
            "ssp-ledger export-table funding --as-of 2012-07-31"
            " --known-at 2011-09-01T00:00:00Z --out funding-2011.parquet",
            "ssp-ledger export-table log --effective --out facts.parquet",
            "ssp-ledger export-table funding --as-of 2012-07-31 --format csv --out -"
            " --manifest funding.manifest.json | head",
        ),
    )(export_table_command)
