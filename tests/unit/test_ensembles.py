"""Scenario runs repeated over seeds: means and the 5th-95th percentile interval of each
difference (research credibility, item 3). Small synthetic partnership, one-year horizon."""

from __future__ import annotations

import functools
import statistics
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ssp_ledger.ensembles import (
    ENSEMBLE_COLUMNS,
    derive_seeds,
    percentile,
    plot_ensemble,
    run_ensemble,
)
from ssp_ledger.scenarios import Scenario, ScenarioError, load_base, parse_scenario, run_scenario

SCENARIO: dict[str, Any] = {
    "name": "half the grant", "fork_date": "2010-09-01", "horizon": "2011-08-31", "seed": 5,
    "synthetic": {"seed": 7, "secondaries": 2, "primaries": 6, "specials": 1},
    "overrides": [{"parameter": "funding.ssp-grant", "effective_from": "2010-10-01",
                   "scale": 0.5, "citation": "test"}],
}


@functools.cache
def scenario() -> Scenario:
    return parse_scenario(SCENARIO)


@functools.cache
def base() -> list[Any]:
    return load_base(scenario())


def test_seeds_are_derived_from_the_seed_alone() -> None:
    seeds = derive_seeds(5, 4)
    assert seeds[0] == 5
    assert len(set(seeds)) == 4
    assert derive_seeds(5, 4) == seeds
    assert derive_seeds(5, 2) == seeds[:2]
    assert derive_seeds(6, 4) != seeds
    with pytest.raises(ScenarioError, match="--runs"):
        derive_seeds(5, 0)


@given(st.lists(st.integers(-10**9, 10**9), min_size=2, max_size=40),
       st.sampled_from([5, 25, 50, 95]))
def test_percentile_matches_the_inclusive_quantiles(values: list[int], q: int) -> None:
    cuts = statistics.quantiles(values, n=100, method="inclusive")
    assert percentile(values, q) == pytest.approx(cuts[q - 1], rel=1e-9, abs=1e-6)


def test_percentile_edges() -> None:
    assert percentile([7], 5) == 7
    assert percentile([1, 2, 3], 0) == 1
    assert percentile([1, 2, 3], 100) == 3
    with pytest.raises(ValueError, match="no values"):
        percentile([], 50)


def test_one_run_is_the_plain_run() -> None:
    plain = run_scenario(scenario(), base=base())
    try:
        one = run_ensemble(scenario(), 1, base=base())
        for name, table in plain.tables.items():
            for row, summary in zip(table.rows, one.tables[name].rows, strict=True):
                period, measure, b, s, d = row
                assert summary == (period, measure, b, s, d, d, d)
    finally:
        plain.close()


def test_runs_summarise_every_seed_and_do_not_depend_on_workers() -> None:
    serial = run_ensemble(scenario(), 4, base=base(), workers=1)
    parallel = run_ensemble(scenario(), 4, base=base(), workers=2)
    assert serial.tables == parallel.tables
    assert serial.seeds == derive_seeds(5, 4)
    # Each seed's own run gives the recorded difference.
    second = run_scenario(scenario().model_copy(update={"seed": serial.seeds[1]}), base=base())
    try:
        label = second.window.label
        key = ("participation", "sessions", label)
        assert serial.differences[key][1] == second.figure("participation", "sessions", label)
    finally:
        second.close()
    for name, table in serial.tables.items():
        assert table.columns == ENSEMBLE_COLUMNS
        for period, measure, _b, _s, mean, low, high in table.rows:
            diffs = serial.differences[(name, str(measure), str(period))]
            assert isinstance(mean, int)
            assert isinstance(low, int)
            assert isinstance(high, int)
            assert min(diffs) <= low <= mean <= high <= max(diffs)
            assert mean == round(statistics.fmean(diffs))
    sessions = serial.differences[("participation", "sessions", serial.window.label)]
    assert len(set(sessions)) > 1  # the seeds do draw different histories
    assert serial.figure("participation", "sessions", serial.window.label,
                         "difference_p5") < 0  # halving the grant loses sessions in every run


def test_ensemble_json_csv_and_plot(tmp_path: Path) -> None:
    result = run_ensemble(scenario(), 3, base=base(), workers=1)
    assert '"runs": 3' in result.to_json()
    assert result.to_csv().splitlines()[0] == "table," + ",".join(ENSEMBLE_COLUMNS)
    pytest.importorskip("matplotlib")
    a = plot_ensemble(result, tmp_path / "a.svg").read_bytes()
    b = plot_ensemble(result, tmp_path / "b.svg").read_bytes()
    assert a == b
    assert b"5-95%" in a  # the band's legend
