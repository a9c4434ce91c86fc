"""Back-tests: how far the response model's continuation of a history can be trusted.

A scenario continues a history from its fork with the response model (:mod:`ssp_ledger.response`)
and compares model with model. A back-test asks how close that model comes to what was recorded:
it takes the scenario's base history, pretends it ends at an earlier **cut-off**, lets the model
continue it from there with the recorded policy path (the shipped parameters, no reform, the
scenario's response assumptions and seed, used as they are: nothing is fitted) up to the day
before the scenario's fork (or ``until``), and compares the modelled figures with the recorded
ones, per measure and academic year. Everything the model sees is dated before the cut-off, so
the error is out of sample.

The **error** of a measure in a year is ``100 * (modelled - recorded) / recorded``: the
percentage by which the model over (+) or under (-) states the recorded figure (None when the
recorded figure is 0). :attr:`BacktestResult.summary` gives each measure's mean absolute error
over the years. A year the window cuts (the last, ending the day before the fork) is compared
over the same days in both.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ssp_ledger.application import Ledger
from ssp_ledger.events import CorrectableEvent
from ssp_ledger.parameters import ParameterSet
from ssp_ledger.periods import ONE_DAY, Period, periods_between
from ssp_ledger.response import fact_order
from ssp_ledger.scenarios import (
    MEASURE_UNITS,
    Scenario,
    ScenarioError,
    build_arm,
    check_plot_path,
    figures,
    load_history,
    scenario_parameters,
)

__all__ = [
    "BACKTEST_COLUMNS",
    "BACKTEST_MEASURES",
    "BacktestResult",
    "default_cutoff",
    "plot_backtest",
    "run_backtest",
]

BACKTEST_MEASURES: tuple[tuple[str, str], ...] = (
    ("participation", "sessions"),
    ("participation", "attendances"),
    ("participation", "competitions"),
    ("participation", "competition_participants"),
    ("staff_time_cost", "funded_minutes"),
    ("staff_time_cost", "hidden_minutes"),
    ("staff_time_cost", "total_pence"),
    ("funding", "received_pence"),
    ("membership", "active_members"),
    ("leaders", "people_trained"),
    ("leaders", "cpd_teachers"),
)
"""(diff table, measure) pairs a back-test compares."""
BACKTEST_COLUMNS: tuple[str, ...] = ("period", "measure", "recorded", "modelled",
                                     "error_percent")
"""Columns of a back-test's rows."""


def default_cutoff(fork: dt.date) -> dt.date:
    """1 September two academic years before the one holding ``fork``."""
    start = fork.year if fork.month >= 9 else fork.year - 1
    return dt.date(start - 2, 9, 1)


def _error(recorded: int, modelled: int) -> float | None:
    return None if recorded == 0 else round(100 * (modelled - recorded) / recorded, 1)


@dataclass(frozen=True)
class BacktestResult:
    """Recorded against modelled figures per academic year after the cut-off."""

    scenario: Scenario
    """The scenario whose base, response assumptions and seed were tested."""
    cutoff: dt.date
    """First day modelled: the model saw only facts dated before it."""
    until: dt.date
    """Last day compared."""
    rows: tuple[dict[str, Any], ...]
    """One record per year and measure: :data:`BACKTEST_COLUMNS` (pence stay integers)."""

    def summary(self) -> dict[str, float | None]:
        """Each measure's mean absolute error (percent) over the years compared."""
        out: dict[str, float | None] = {}
        for _, measure in BACKTEST_MEASURES:
            errors = [abs(r["error_percent"]) for r in self.rows
                      if r["measure"] == measure and r["error_percent"] is not None]
            out[measure] = round(sum(errors) / len(errors), 1) if errors else None
        return out

    def to_csv(self) -> str:
        """The rows as CSV (integer pence and counts, error in percent)."""
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=BACKTEST_COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(self.rows)
        return buffer.getvalue()

    def to_json(self) -> str:
        """Settings, rows, summary and units as pretty JSON."""
        doc = {
            "scenario": self.scenario.name, "cutoff": self.cutoff.isoformat(),
            "until": self.until.isoformat(), "seed": self.scenario.seed,
            "error": "100 * (modelled - recorded) / recorded, per measure and academic year",
            "units": {m: MEASURE_UNITS[m].describe() for _, m in BACKTEST_MEASURES},
            "rows": list(self.rows), "mean_absolute_error_percent": self.summary(),
        }
        return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"


def run_backtest(scenario: Scenario, *, cutoff: dt.date | None = None,
                 until: dt.date | None = None, parameters: ParameterSet | None = None,
                 history: Sequence[CorrectableEvent] | None = None) -> BacktestResult:
    """Model the base history from ``cutoff`` (default :func:`default_cutoff` of the fork) to
    ``until`` (default the day before the fork) and compare with the record (module docstring).

    ``history`` supplies the base's facts (as :func:`~ssp_ledger.scenarios.load_history` returns
    them). Raises :class:`~ssp_ledger.scenarios.ScenarioError` for dates that leave nothing to
    compare.
    """
    cutoff = cutoff if cutoff is not None else default_cutoff(scenario.fork_date)
    until = until if until is not None else scenario.fork_date - ONE_DAY
    if until < cutoff:
        msg = (f"--until {until.isoformat()} is before --cutoff {cutoff.isoformat()}: nothing "
               "to compare")
        raise ScenarioError(msg)
    params = parameters if parameters is not None else scenario_parameters(scenario)
    facts = list(history) if history is not None else load_history(scenario)
    before = [f for f in facts if f.occurred_on < cutoff]
    if not before:
        msg = f"--cutoff {cutoff.isoformat()}: the base holds no facts before it"
        raise ScenarioError(msg)
    test = scenario.model_copy(update={"fork_date": cutoff, "horizon": until,
                                       "by": "academic_year", "overrides": (), "events": ()})
    model = build_arm(test, before, params, reform=False)
    recorded = Ledger.in_memory()
    try:
        known: list[CorrectableEvent] = sorted(
            (f for f in facts if f.occurred_on <= until), key=fact_order)
        recorded.record_many(known)
        rows: list[dict[str, Any]] = []
        for period in periods_between("academic_year", cutoff, until):
            shown = Period(max(period.start, cutoff), min(period.end, until), period.label)
            a, b = figures(recorded, shown, until), figures(model, shown, until)
            for table, measure in BACKTEST_MEASURES:
                r, m = a[(table, measure)], b[(table, measure)]
                rows.append({"period": period.label, "measure": measure, "recorded": r,
                             "modelled": m, "error_percent": _error(r, m)})
    finally:
        recorded.close()
        model.close()
    return BacktestResult(scenario, cutoff, until, tuple(rows))


def plot_backtest(result: BacktestResult, path: str | Path) -> Path:
    """The error (percent) of each measure per academic year, one line per measure, with the
    zero line; reproducible like :func:`ssp_ledger.scenarios.plot`."""
    path = check_plot_path(path)
    suffix = path.suffix.lower()
    try:
        import matplotlib as mpl
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        msg = "plotting needs matplotlib: pip install 'ssp-ledger[scenarios]'"
        raise ScenarioError(msg) from None
    labels = list(dict.fromkeys(r["period"] for r in result.rows))
    with mpl.rc_context({"svg.hashsalt": "ssp-ledger", "font.size": 8}):
        fig = Figure(figsize=(9, 5), layout="constrained")
        FigureCanvasAgg(fig)
        ax = fig.subplots()
        ax.axhline(0, color="0.3", linewidth=0.8)
        for _, measure in BACKTEST_MEASURES:
            points = {r["period"]: r["error_percent"] for r in result.rows
                      if r["measure"] == measure}
            ys = [points.get(label) for label in labels]
            ax.plot(labels, [float("nan") if y is None else y for y in ys], marker="o",
                    label=MEASURE_UNITS[measure].label)
        ax.set_ylabel("error: (modelled - recorded) / recorded, %")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, ncols=2)
        fig.suptitle(f"{result.scenario.name}: back-test from {result.cutoff.isoformat()} to "
                     f"{result.until.isoformat()} (seed {result.scenario.seed})")
        metadata: dict[str, Any] = {"Date": None} if suffix in (".svg", ".pdf") else {}
        if suffix == ".png":
            metadata = {"Software": None}
        fig.savefig(path, metadata=metadata)
    return path
