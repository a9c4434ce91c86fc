"""Uncertainty of a scenario: both arms repeated over many seeds of the response model.

One scenario run draws its activity from one seed (:mod:`ssp_ledger.response`), so a difference
between the arms is one draw of the model's noise as well as the reform. :func:`run_ensemble`
repeats both arms over ``N`` seeds derived from the scenario's seed (:func:`derive_seeds`: the
scenario's own seed first, so one run is the plain run) in parallel processes, and reports for
every period and measure the mean of each arm, the mean difference and the 5th-95th percentile
interval of the difference (:data:`ENSEMBLE_COLUMNS`). Percentiles interpolate linearly between
the sorted differences (the ``inclusive`` method of :func:`statistics.quantiles`); means and
percentiles are rounded to integers (pence, minutes, counts). The same scenario and ``N`` give
the same numbers, whatever the number of workers.

The interval is the model's own randomness for the given assumptions: it says how much of a
difference could be noise, not how wrong the assumptions are (sweep those, and back-test the
model: :mod:`ssp_ledger.backtest`).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

from ssp_ledger.errors import LedgerError
from ssp_ledger.events import CorrectableEvent
from ssp_ledger.parameters import ParameterSet
from ssp_ledger.periods import Period, periods_between
from ssp_ledger.projection import Cell, Table
from ssp_ledger.scenarios import (
    AREAS,
    Scenario,
    ScenarioError,
    draw_panels,
    load_base,
    run_scenario,
    scenario_parameters,
    tidy_csv,
    units_metadata,
)

__all__ = [
    "ENSEMBLE_COLUMNS",
    "MAX_RUNS",
    "EnsembleResult",
    "derive_seeds",
    "percentile",
    "plot_ensemble",
    "run_ensemble",
]

ENSEMBLE_COLUMNS: tuple[str, ...] = ("period", "measure", "baseline_mean", "scenario_mean",
                                     "difference_mean", "difference_p5", "difference_p95")
"""Columns of every ensemble table (one row per period and measure)."""
MAX_RUNS = 1_000
"""Most runs one ensemble may ask for."""

_Rows = dict[str, list[tuple[str, str, int, int, int]]]
"""Diff table name -> rows (period, measure, baseline, scenario, difference) of one run."""


def derive_seeds(seed: int, runs: int) -> tuple[int, ...]:
    """``runs`` seeds from ``seed``: ``seed`` itself, then 32-bit numbers hashed from
    ``f"{seed}:{i}"`` (SHA-256), so the list depends on nothing else."""
    if runs < 1:
        msg = f"--runs: give at least 1; got {runs}"
        raise ScenarioError(msg)
    return (seed, *(int.from_bytes(hashlib.sha256(f"{seed}:{i}".encode()).digest()[:4], "big")
                    for i in range(1, runs)))


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0-100) of ``values``, interpolating linearly between the sorted
    values (position ``q / 100 * (n - 1)``)."""
    if not values:
        msg = "percentile of no values"
        raise ValueError(msg)
    ordered = sorted(values)
    position = q / 100 * (len(ordered) - 1)
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


# --------------------------------------------------------------------------- workers

_WORKER: dict[str, object] = {}


def _init_worker(parameters: ParameterSet, base: Sequence[CorrectableEvent]) -> None:
    """Hand a worker process the parameters and base history once (not once per run)."""
    _WORKER["parameters"] = parameters
    _WORKER["base"] = base


def _run_rows(scenario: Scenario, parameters: ParameterSet,
              base: Sequence[CorrectableEvent], workers: int = 1) -> _Rows:
    try:
        result = run_scenario(scenario, parameters=parameters, base=base, workers=workers)
    except LedgerError as e:
        raise ScenarioError(str(e)) from None  # a plain, picklable error
    try:
        return {name: [_diff_row(row) for row in t.rows] for name, t in result.tables.items()}
    finally:
        result.close()


def _diff_row(row: tuple[Cell, ...]) -> tuple[str, str, int, int, int]:
    period, measure, base, scen, diff = row
    assert isinstance(base, int)
    assert isinstance(scen, int)
    assert isinstance(diff, int)
    return str(period), str(measure), base, scen, diff


def _worker_run(scenario: Scenario) -> _Rows:
    parameters = _WORKER["parameters"]
    base = _WORKER["base"]
    assert isinstance(parameters, ParameterSet)
    assert isinstance(base, list)
    return _run_rows(scenario, parameters, base)


# --------------------------------------------------------------------------- result


@dataclass(frozen=True)
class EnsembleResult:
    """Both arms over many seeds: means and the interval of each difference."""

    scenario: Scenario
    """The scenario (its ``seed`` is the first of :attr:`seeds`)."""
    seeds: tuple[int, ...]
    """The response model's seed of each run."""
    periods: tuple[Period, ...]
    """Periods of the tables (as :class:`~ssp_ledger.scenarios.ScenarioResult`)."""
    window: Period
    """From the fork date to the horizon: the last row of every table."""
    tables: Mapping[str, Table]
    """Tables by name (as :data:`~ssp_ledger.scenarios.AREAS`); columns
    :data:`ENSEMBLE_COLUMNS`."""
    differences: Mapping[tuple[str, str, str], tuple[int, ...]]
    """(table, measure, period label) -> the difference of every run, in seed order."""

    @property
    def runs(self) -> int:
        """Number of runs."""
        return len(self.seeds)

    def figure(self, table: str, measure: str, period: str, column: str) -> int:
        """One figure; ``column`` is one of :data:`ENSEMBLE_COLUMNS` after ``measure``."""
        i = ENSEMBLE_COLUMNS.index(column)
        for row in self.tables[table].rows:
            if row[0] == period and row[1] == measure:
                value = row[i]
                assert isinstance(value, int)
                return value
        raise KeyError((table, measure, period))

    def rows(self) -> list[dict[str, Cell]]:
        """Every row as a tidy record (table, period, measure, baseline_mean, ...)."""
        return [{"table": name, **row} for name, t in self.tables.items()
                for row in t.to_dicts()]

    def to_csv(self) -> str:
        """The tidy rows as CSV (raw integers: pence, minutes, counts)."""
        return tidy_csv(ENSEMBLE_COLUMNS, self.rows())

    def to_json(self) -> str:
        """Settings, seeds, units and tables as pretty JSON (integer pence)."""
        s = self.scenario
        doc = {
            "scenario": s.name, "fork_date": s.fork_date.isoformat(),
            "horizon": s.horizon.isoformat(), "by": s.by, "window": self.window.label,
            "runs": self.runs, "seeds": list(self.seeds),
            "interval": "5th to 95th percentile of the difference over the runs",
            "units": units_metadata(),
            "tables": {name: t.to_dicts() for name, t in self.tables.items()},
        }
        return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"


def _summarise(scenario: Scenario, seeds: tuple[int, ...], periods: tuple[Period, ...],
               window: Period, runs: Sequence[_Rows]) -> EnsembleResult:
    tables: dict[str, Table] = {}
    differences: dict[tuple[str, str, str], tuple[int, ...]] = {}
    for name in AREAS:
        rows: list[tuple[Cell, ...]] = []
        first = runs[0][name]
        for i, (period, measure, *_rest) in enumerate(first):
            values = [run[name][i] for run in runs]
            assert all(v[0] == period and v[1] == measure for v in values)
            base = [v[2] for v in values]
            scen = [v[3] for v in values]
            diff = [v[4] for v in values]
            differences[(name, measure, period)] = tuple(diff)
            rows.append((period, measure, round(sum(base) / len(base)),
                         round(sum(scen) / len(scen)), round(sum(diff) / len(diff)),
                         round(percentile(diff, 5)), round(percentile(diff, 95))))
        tables[name] = Table(projection=f"scenario-runs:{name}", columns=ENSEMBLE_COLUMNS,
                             rows=tuple(rows), as_of=scenario.horizon, by=scenario.by)
    return EnsembleResult(scenario, seeds, periods, window, tables, differences)


def run_ensemble(scenario: Scenario, runs: int, *, workers: int | None = None,
                 parameters: ParameterSet | None = None,
                 base: Sequence[CorrectableEvent] | None = None,
                 progress: Callable[[int, int], None] | None = None) -> EnsembleResult:
    """Run both arms once per seed of :func:`derive_seeds` and summarise (module docstring).

    ``workers`` processes (default: every core, ``os.cpu_count()``) share the runs, one run
    each at a time; each gets the base history once (a single run uses them all, see
    :func:`~ssp_ledger.scenarios.run_scenario`). ``progress(done, total)`` is called as runs finish.
    """
    if runs > MAX_RUNS:
        msg = f"--runs: at most {MAX_RUNS}; got {runs}"
        raise ScenarioError(msg)
    seeds = derive_seeds(scenario.seed, runs)
    workers = workers if workers is not None else (os.cpu_count() or 1)
    if workers < 1:
        msg = f"workers must be at least 1; got {workers}"
        raise ScenarioError(msg)
    params = parameters if parameters is not None else scenario_parameters(scenario)
    facts = list(base) if base is not None else load_base(scenario)
    variants = [scenario.model_copy(update={"seed": seed}) for seed in seeds]
    results: list[_Rows | None] = [None] * runs
    if progress is not None:
        progress(0, runs)
    done = 0
    if workers == 1 or runs == 1:
        for i, variant in enumerate(variants):
            results[i] = _run_rows(variant, params, facts, workers)
            done += 1
            if progress is not None:
                progress(done, runs)
    else:
        with ProcessPoolExecutor(max_workers=min(workers, runs), initializer=_init_worker,
                                 initargs=(params, facts)) as pool:
            futures: dict[Future[_Rows], int] = {pool.submit(_worker_run, variant): i
                                                 for i, variant in enumerate(variants)}
            for future in as_completed(futures):
                results[futures[future]] = future.result()
                done += 1
                if progress is not None:
                    progress(done, runs)
    fork, horizon = scenario.fork_date, scenario.horizon
    periods = tuple(periods_between(scenario.by, fork, horizon))
    window = Period(fork, horizon, f"{fork.isoformat()}..{horizon.isoformat()}")
    complete = [r for r in results if r is not None]
    assert len(complete) == runs
    return _summarise(scenario, seeds, periods, window, complete)


def plot_ensemble(result: EnsembleResult, path: str | Path) -> Path:
    """Baseline and scenario means per period, with the scenario's band: the baseline mean plus
    the 5th-95th percentile interval of the difference (see :func:`scenarios.draw_panels`)."""
    columns = {"baseline": "baseline_mean", "scenario": "scenario_mean"}
    s = result.scenario

    def band(table: str, measure: str, label: str) -> tuple[float, float]:
        base = result.figure(table, measure, label, "baseline_mean")
        return (base + result.figure(table, measure, label, "difference_p5"),
                base + result.figure(table, measure, label, "difference_p95"))

    return draw_panels(
        path, [p.label for p in result.periods],
        lambda table, measure, label, arm: result.figure(table, measure, label, columns[arm]),
        f"{s.name}: means of {result.runs} runs, band 5th-95th percentile of the difference "
        f"(fork {s.fork_date.isoformat()}, horizon {s.horizon.isoformat()})",
        band=band, band_label="scenario, 5-95%")

