"""The ``ssp-ledger scenario`` commands: researchers' what-if runs and parameter sweeps.

A command module of the CLI package: it builds on :mod:`ssp_ledger.cli.common` and
:mod:`ssp_ledger.cli.render` and is added to the ``ssp-ledger`` application by
:mod:`ssp_ledger.cli.app` as the ``scenario`` group. The scenario machinery itself
(:mod:`ssp_ledger.scenarios`), the renderers and rich are imported when a command runs, so
``ssp-ledger --help`` stays fast.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Protocol, TypeVar

import typer

from ssp_ledger.cli.common import (
    TYPER_SETTINGS,
    FormatOption,
    OutputFormat,
    console,
    examples,
    handled,
)
from ssp_ledger.cli.progress import progress

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table as RichTable

    from ssp_ledger.backtest import BacktestResult
    from ssp_ledger.cli.render import Grid
    from ssp_ledger.ensembles import EnsembleResult
    from ssp_ledger.projection import Cell, Table
    from ssp_ledger.scenarios import Scenario, ScenarioResult

__all__ = ["scenario_app"]

scenario_app = typer.Typer(
    name="scenario",
    help=("Researchers' what-if scenarios: branch a history in memory at a fork date, apply a "
          "reform, compare with the baseline (the same model without it). The store is only "
          "read."),
    **TYPER_SETTINGS,
)

ScenarioFileArgument = Annotated[
    Path, typer.Argument(metavar="FILE", help="Scenario file (.toml or .json).")
]
_DIFF_HEADERS = ("period", "measure", "baseline", "scenario", "difference", "change")


def figure_text(measure: str, value: Cell) -> str:
    """A figure of ``measure`` for people: money in pounds, counts with thousands separators."""
    from ssp_ledger.cli.render import cell_text, money
    from ssp_ledger.scenarios import MEASURE_UNITS

    unit = MEASURE_UNITS.get(measure)
    if unit is not None and unit.unit.startswith("pence") and isinstance(value, int):
        return money(value)
    if unit is not None and isinstance(value, int):
        return f"{value:,}"
    return cell_text(measure, value)


def measure_label(measure: str) -> str:
    """The measure as tables for people name it: ``hidden staff cost (£)``, never a ``_pence``
    name over pounds; levels say they are at the period's end."""
    from ssp_ledger.scenarios import MEASURE_UNITS

    unit = MEASURE_UNITS.get(measure)
    return unit.label if unit is not None else measure


def _diff_rows(table: Table) -> list[list[str]]:
    """The cells of a diff table as text: labelled measures, money in pounds, a change column."""
    rows = []
    for period, measure, base, scen, diff in table.rows:
        name = str(measure)
        change = (f"{diff * 100 / base:+.1f}%" if isinstance(base, int) and base
                  and isinstance(diff, int) else "")
        rows.append([str(period), measure_label(name),
                     *(figure_text(name, v) for v in (base, scen, diff)), change])
    return rows


def scenario_grid(table: Table) -> Grid:
    """A diff table as cells: money in pounds (by measure name), a change column, a rule per
    period; printed folded to the terminal like every table (:func:`print_grid`)."""
    from ssp_ledger.cli.render import Grid

    rows = _diff_rows(table)
    rules = frozenset(i for i in range(1, len(rows)) if rows[i][0] != rows[i - 1][0])
    return Grid(headers=_DIFF_HEADERS, cells=tuple(tuple(r) for r in rows),
                right=frozenset({2, 3, 4, 5}), rules=rules)


def scenario_rich_table(table: Table) -> RichTable:
    """The whole diff table as one rich table (see :func:`scenario_grid`)."""
    return scenario_grid(table).rich(range(len(_DIFF_HEADERS)))


_RUNS_HEADERS = ("period", "measure", "baseline mean", "scenario mean", "difference mean",
                 "5%", "95%")


def _runs_rows(table: Table) -> list[list[str]]:
    """The cells of an ensemble table as text (labelled measures, money in pounds)."""
    return [[str(row[0]), measure_label(str(row[1])),
             *(figure_text(str(row[1]), v) for v in row[2:])] for row in table.rows]


def _grid(headers: tuple[str, ...], rows: list[list[str]]) -> Grid:
    from ssp_ledger.cli.render import Grid

    rules = frozenset(i for i in range(1, len(rows)) if rows[i][0] != rows[i - 1][0])
    return Grid(headers=headers, cells=tuple(tuple(r) for r in rows),
                right=frozenset(range(2, len(headers))), rules=rules)


class _Exported(Protocol):
    """A result that exports itself (scenario, ensemble, back-test)."""

    def to_json(self) -> str: ...

    def to_csv(self) -> str: ...


def _emit(result: _Exported, fmt: OutputFormat, markdown: Callable[[], str],
          table: Callable[[Console], None]) -> None:
    """Write ``result`` in ``fmt``: its own JSON or CSV, ``markdown()``, or ``table`` drawn on
    the console (the one place the scenario commands branch on the output format)."""
    if fmt is OutputFormat.json:
        sys.stdout.write(result.to_json())
    elif fmt is OutputFormat.csv:
        sys.stdout.write(result.to_csv())
    elif fmt is OutputFormat.markdown:
        sys.stdout.write(markdown())
    else:
        table(console())


def _print_ensemble(result: EnsembleResult, fmt: OutputFormat) -> None:
    from rich.text import Text

    from ssp_ledger.cli.render import print_grid, rows_markdown

    scenario = result.scenario

    def markdown() -> str:
        return "".join(f"*{name} by {scenario.by}, {result.runs} runs*\n\n" + rows_markdown(
            _RUNS_HEADERS, _runs_rows(table), right=(2, 3, 4, 5, 6)) + "\n"
            for name, table in result.tables.items())

    def draw(out: Console) -> None:
        out.print(Text(f"Scenario: {scenario.name} (fork {scenario.fork_date}, horizon "
                       f"{scenario.horizon}); means of {result.runs} runs (seeds from "
                       f"{scenario.seed}); 5%-95%: interval of the difference over the runs",
                       style="bold"), soft_wrap=True)
        for name, table in result.tables.items():
            out.print(Text(f"{name} by {scenario.by}", style="italic"), soft_wrap=True)
            print_grid(out, _grid(_RUNS_HEADERS, _runs_rows(table)))

    _emit(result, fmt, markdown, draw)


def _with_base(scenario: Scenario, base: str | None) -> Scenario:
    """The scenario with its base replaced by ``--base`` (a store, export or URL)."""
    if base is None:
        return scenario
    return scenario.model_copy(update={"base": base, "base_known_at": None})


_R = TypeVar("_R", "ScenarioResult", "EnsembleResult", "BacktestResult")


def _save_plot(result: _R, target: Path, plot: Callable[[_R, Path], Path]) -> None:
    """Draw into a private folder, then write the file to ``target`` (see ssp_ledger.outfile)."""
    import tempfile

    from ssp_ledger.outfile import open_output

    with tempfile.TemporaryDirectory(prefix="ssp-plot-") as folder:
        drawn = plot(result, Path(folder) / f"plot{target.suffix.lower()}")
        with drawn.open("rb") as source, open_output(target) as stream:
            shutil.copyfileobj(source, stream)


@scenario_app.command("run", epilog=examples(
    "ssp-ledger scenario run examples/scenario_continued_grant.toml",
    "ssp-ledger scenario run cut.toml --plot cut.png --format csv > cut.csv",
    "ssp-ledger scenario run cut.json --by financial_year --format json",
    "ssp-ledger scenario run cut.toml --base ssp-demo.db --runs 20 --plot cut.png",
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
    runs: Annotated[
        int, typer.Option("--runs", min=1, max=1000, metavar="N",
                          help="Repeat both arms over N seeds derived from the scenario's "
                               "seed; report means and the 5th-95th percentile interval of "
                               "each difference.")
    ] = 1,
    workers: Annotated[
        int | None, typer.Option("--workers", min=1, max=256,
                                 help="Processes (default: every core).")
    ] = None,
    base: Annotated[
        str | None, typer.Option("--base", metavar="STORE",
                                 help="Branch this store, JSONL export or postgresql:// URL "
                                      "instead of the scenario's base.")
    ] = None,
) -> None:
    """Run a scenario and print baseline vs scenario per period, with the differences.

    Tables: participation, staff-time cost (funded vs hidden), membership, funding (and the
    funding gap) and leaders; the last row of each covers the fork date to the horizon.
    Money is shown in pounds under labels that say so; flows are summed over each period,
    levels (funding level, member schools, tenure) are at its last day. With --runs N both arms
    are repeated over N seeds in parallel: the tables show each arm's mean, the mean difference
    and the 5th-95th percentile of the difference over the runs (the model's own noise).
    """
    from rich.text import Text

    from ssp_ledger.cli.render import print_grid, rows_markdown
    from ssp_ledger.projection import PERIOD_KINDS
    from ssp_ledger.scenarios import check_plot_path, load_scenario, plot, run_scenario

    with handled():
        scenario = _with_base(load_scenario(file), base)
        if by is not None:
            if by not in PERIOD_KINDS:
                msg = f"--by: {by!r} is not one of {', '.join(PERIOD_KINDS)}"
                raise ValueError(msg)
            scenario = scenario.model_copy(update={"by": by})
        if plot_file is not None:
            check_plot_path(plot_file)
        if runs > 1:
            from ssp_ledger.ensembles import plot_ensemble, run_ensemble

            with progress(f"{runs} runs") as bar:
                ensemble = run_ensemble(scenario, runs, workers=workers, progress=bar)
            if plot_file is not None:
                _save_plot(ensemble, plot_file, plot_ensemble)
            _print_ensemble(ensemble, fmt)
            if plot_file is not None:
                sys.stderr.write(f"wrote the plot to {plot_file}\n")
            return
        with progress(f"running {scenario.name}") as bar:
            bar.spin()
            result = run_scenario(scenario, workers=workers)
        try:
            if plot_file is not None:
                _save_plot(result, plot_file, plot)
            tables = result.tables

            def markdown() -> str:
                return "".join(f"*{name} by {scenario.by}*\n\n" + rows_markdown(
                    _DIFF_HEADERS, _diff_rows(table), right=(2, 3, 4, 5)) + "\n"
                    for name, table in tables.items())

            def draw(out: Console) -> None:
                out.print(Text(f"Scenario: {scenario.name} (fork {scenario.fork_date}, horizon "
                               f"{scenario.horizon}); baseline = the same model without the "
                               "reform", style="bold"), soft_wrap=True)
                for name, table in tables.items():
                    out.print(Text(f"{name} by {scenario.by}", style="italic"), soft_wrap=True)
                    print_grid(out, scenario_grid(table))

            _emit(result, fmt, markdown, draw)
        finally:
            result.close()
        if plot_file is not None:
            sys.stderr.write(f"wrote the plot to {plot_file}\n")


@scenario_app.command("sweep", epilog=examples(
    "ssp-ledger scenario sweep cont.toml --param sessions_elasticity --values 0.35,0.7,1.4",
    "ssp-ledger scenario sweep cut.toml --param overrides.0.scale --values 0.5,0.7,0.9"
    " --out sweep.csv",
    "ssp-ledger scenario sweep cont.toml --param seed --values 1,2,3,4 --format json",
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
        int | None, typer.Option("--workers", min=1, max=256,
                                 help="Parallel processes (default: every core).")
    ] = None,
) -> None:
    """Run a scenario once per value of one setting, in parallel; one row per value.

    Each row gives baseline, scenario and difference from the fork date to the horizon.
    """
    from ssp_ledger.cli.render import render_table
    from ssp_ledger.outfile import check_output, open_output
    from ssp_ledger.scenarios import load_scenario, sweep

    with handled():
        chosen = [v.strip() for v in values.split(",") if v.strip()]
        if not chosen:
            msg = "--values: give at least one value, e.g. --values 0.5,1,1.5"
            raise ValueError(msg)
        if out_file is not None:
            check_output(out_file)
        scenario = load_scenario(file)
        with progress(f"sweeping {param}", total=len(chosen)) as bar:
            result = sweep(scenario, param, chosen, workers=workers, progress=bar)
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



_BACKTEST_HEADERS = ("period", "measure", "recorded", "modelled", "error")


def _backtest_rows(rows: Sequence[Mapping[str, Any]]) -> list[list[str]]:
    out = []
    for r in rows:
        measure = str(r["measure"])
        error = r["error_percent"]
        out.append([str(r["period"]), measure_label(measure),
                    figure_text(measure, r["recorded"]), figure_text(measure, r["modelled"]),
                    "n/a" if error is None else
                    f"{error:.1f}%" if r["recorded"] is None else f"{error:+.1f}%"])
    return out


@scenario_app.command("backtest", epilog=examples(
    "ssp-ledger scenario backtest examples/scenario_continued_grant.toml",
    "ssp-ledger scenario backtest cut.toml --base ssp-demo.db --cutoff 2008-09-01"
    " --plot backtest.png",
    "ssp-ledger scenario backtest cut.toml --until 2011-08-31 --format csv",
))
def scenario_backtest(
    file: ScenarioFileArgument,
    cutoff: Annotated[
        dt.datetime | None, typer.Option("--cutoff", formats=["%Y-%m-%d"], metavar="DATE",
                                         help="First day modelled (default: 1 September two "
                                              "academic years before the fork).")
    ] = None,
    until: Annotated[
        dt.datetime | None, typer.Option("--until", formats=["%Y-%m-%d"], metavar="DATE",
                                         help="Last day compared (default: the day before "
                                              "the fork).")
    ] = None,
    base: Annotated[
        str | None, typer.Option("--base", metavar="STORE",
                                 help="Test on this store, JSONL export or postgresql:// URL "
                                      "instead of the scenario's base.")
    ] = None,
    plot_file: Annotated[
        Path | None, typer.Option("--plot", metavar="FILE",
                                  help="Also draw the error per year (.png, .svg or .pdf).")
    ] = None,
    fmt: FormatOption = OutputFormat.table,
) -> None:
    """Check the response model against the recorded history: out-of-sample error per measure
    and academic year.

    The model sees only the base's facts dated before the cut-off and continues them with the
    recorded policy path (shipped parameters, no reform; the scenario's response assumptions
    and seed, used as they are, nothing fitted) up to --until. "error" is the percentage by
    which the modelled figure over (+) or under (-) states the recorded one in that academic
    year: 100 x (modelled - recorded) / recorded ("n/a" when nothing was recorded). The last
    row group gives each measure's mean absolute error over the years: how far to trust a
    scenario's continuation of this history.
    """
    from rich.text import Text

    from ssp_ledger.backtest import plot_backtest, run_backtest
    from ssp_ledger.cli.render import print_grid, rows_markdown
    from ssp_ledger.scenarios import check_plot_path, load_scenario

    with handled():
        scenario = _with_base(load_scenario(file), base)
        if plot_file is not None:
            check_plot_path(plot_file)
        with progress(f"back-testing {scenario.name}") as bar:
            bar.spin()
            result = run_backtest(scenario, cutoff=cutoff.date() if cutoff else None,
                                  until=until.date() if until else None)
        if plot_file is not None:
            _save_plot(result, plot_file, plot_backtest)
        summary = [{"period": "mean |error|", "measure": m, "recorded": None,
                    "modelled": None, "error_percent": e} for m, e in result.summary().items()]
        rows = _backtest_rows([*result.rows, *summary])

        def draw(out: Console) -> None:
            out.print(Text(f"Back-test of {scenario.name}: modelled from {result.cutoff} "
                           f"(seeing only facts before it) to {result.until}, against the "
                           "record; error = 100 x (modelled - recorded) / recorded",
                           style="bold"), soft_wrap=True)
            print_grid(out, _grid(_BACKTEST_HEADERS, rows))

        _emit(result, fmt, lambda: rows_markdown(_BACKTEST_HEADERS, rows, right=(2, 3, 4)),
              draw)
        if plot_file is not None:
            sys.stderr.write(f"wrote the plot to {plot_file}\n")
