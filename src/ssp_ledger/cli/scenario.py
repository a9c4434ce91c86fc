"""The ``ssp-ledger scenario`` commands: researchers' what-if runs and parameter sweeps.

A command module of the CLI package: it builds on :mod:`ssp_ledger.cli.common` and
:mod:`ssp_ledger.cli.render` and is added to the ``ssp-ledger`` application by
:mod:`ssp_ledger.cli.app` as the ``scenario`` group. The scenario machinery itself
(:mod:`ssp_ledger.scenarios`) is imported when a command runs, so ``ssp-ledger --help`` stays fast.
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape
from rich.table import Table as RichTable
from rich.text import Text

from ssp_ledger.cli.common import FormatOption, OutputFormat, console, handled, progress_bar
from ssp_ledger.cli.render import Grid, cell_text, print_grid, render_table, rows_markdown
from ssp_ledger.outfile import check_output, open_output
from ssp_ledger.projection import Table

if TYPE_CHECKING:
    from ssp_ledger.scenarios import ScenarioResult

__all__ = ["scenario_app"]

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

ScenarioFileArgument = Annotated[
    Path, typer.Argument(metavar="FILE", help="Scenario file (.toml or .json).")
]
_DIFF_HEADERS = ("period", "measure", "baseline", "scenario", "difference", "change")


def _diff_rows(table: Table) -> list[list[str]]:
    """The cells of a diff table as text: money in pounds (by measure name), a change column."""
    rows = []
    for period, measure, base, scen, diff in table.rows:
        name = str(measure)
        change = (f"{diff * 100 / base:+.1f}%" if isinstance(base, int) and base
                  and isinstance(diff, int) else "")
        rows.append([str(period), name, *(cell_text(name, v) for v in (base, scen, diff)),
                     change])
    return rows


def scenario_grid(table: Table) -> Grid:
    """A diff table as cells: money in pounds (by measure name), a change column, a rule per
    period; printed folded to the terminal like every table (:func:`print_grid`)."""
    rows = _diff_rows(table)
    rules = frozenset(i for i in range(1, len(rows)) if rows[i][0] != rows[i - 1][0])
    return Grid(headers=_DIFF_HEADERS, cells=tuple(tuple(r) for r in rows),
                right=frozenset({2, 3, 4, 5}), rules=rules)


def scenario_rich_table(table: Table) -> RichTable:
    """The whole diff table as one rich table (see :func:`scenario_grid`)."""
    return scenario_grid(table).rich(range(len(_DIFF_HEADERS)))


def _save_plot(result: ScenarioResult, target: Path,
               plot: Callable[[ScenarioResult, Path], Path]) -> None:
    """Draw into a private folder, then write the file to ``target`` (see ssp_ledger.outfile)."""
    with tempfile.TemporaryDirectory(prefix="ssp-plot-") as folder:
        drawn = plot(result, Path(folder) / f"plot{target.suffix.lower()}")
        with drawn.open("rb") as source, open_output(target) as stream:
            shutil.copyfileobj(source, stream)


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
    fmt: FormatOption = OutputFormat.table,
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

    with handled():
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
                _save_plot(result, plot_file, plot)
            if fmt is OutputFormat.json:
                sys.stdout.write(result.to_json())
            elif fmt is OutputFormat.csv:
                sys.stdout.write(result.to_csv())
            elif fmt is OutputFormat.markdown:
                for name, table in result.tables.items():
                    sys.stdout.write(f"*{name} by {scenario.by}*\n\n" + rows_markdown(
                        _DIFF_HEADERS, _diff_rows(table), right=(2, 3, 4, 5)) + "\n")
            else:
                out = console()
                out.print(Text(f"Scenario: {scenario.name} (fork {scenario.fork_date}, horizon "
                               f"{scenario.horizon}); baseline = the same model without the "
                               "reform", style="bold"), soft_wrap=True)
                for name, table in result.tables.items():
                    out.print(Text(f"{name} by {scenario.by}", style="italic"), soft_wrap=True)
                    print_grid(out, scenario_grid(table))
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
    fmt: FormatOption = OutputFormat.table,
    workers: Annotated[
        int, typer.Option("--workers", min=1, max=32, help="Parallel processes.")
    ] = 2,
) -> None:
    """Run a scenario once per value of one setting, in parallel; one row per value.

    Each row gives baseline, scenario and difference from the fork date to the horizon.
    """
    from ssp_ledger.scenarios import load_scenario, sweep

    with handled():
        chosen = [v.strip() for v in values.split(",") if v.strip()]
        if not chosen:
            msg = "--values: give at least one value, e.g. --values 0.5,1,1.5"
            raise ValueError(msg)
        if out_file is not None:
            check_output(out_file)
        scenario = load_scenario(file)
        with progress_bar(console(stderr=True)) as progress:
            task = progress.add_task(f"sweeping {escape(param)}", total=len(chosen))

            def report_progress(done: int, total: int) -> None:
                progress.update(task, completed=done, total=total)

            result = sweep(scenario, param, chosen, workers=workers, progress=report_progress)
        if out_file is not None:
            with open_output(out_file) as stream:
                stream.write(result.to_csv().encode("utf-8"))
            sys.stdout.write(f"wrote {len(result.rows)} row{'s' if len(result.rows) != 1 else ''}"
                             f" to {out_file}\n")
        elif fmt is OutputFormat.json:
            sys.stdout.write(json.dumps(list(result.rows), indent=2, ensure_ascii=False) + "\n")
        elif fmt is OutputFormat.csv:
            sys.stdout.write(result.to_csv())
        else:
            render_table(console(), result.table(), fmt,
                         title=(f"{scenario.name}: sweep of {param} ({scenario.fork_date} to "
                                f"{scenario.horizon})"))

