"""Back-tests of the response model against the recorded history (research credibility, 4)."""

from __future__ import annotations

import datetime as dt
import functools
from pathlib import Path
from typing import Any

import pytest

from ssp_ledger.backtest import (
    BACKTEST_MEASURES,
    default_cutoff,
    plot_backtest,
    run_backtest,
)
from ssp_ledger.events import ClubRun
from ssp_ledger.scenarios import Scenario, ScenarioError, load_history, parse_scenario

SCENARIO: dict[str, Any] = {
    "name": "test", "fork_date": "2010-09-01", "horizon": "2011-08-31", "seed": 3,
    "synthetic": {"seed": 7, "secondaries": 2, "primaries": 6, "specials": 1},
}
CUTOFF = dt.date(2009, 9, 1)


@functools.cache
def scenario() -> Scenario:
    return parse_scenario(SCENARIO)


@functools.cache
def history() -> list[Any]:
    return load_history(scenario())


def test_default_dates() -> None:
    assert default_cutoff(dt.date(2010, 10, 20)) == dt.date(2008, 9, 1)
    assert default_cutoff(dt.date(2010, 4, 1)) == dt.date(2007, 9, 1)
    result = run_backtest(scenario(), history=history())
    assert result.cutoff == dt.date(2008, 9, 1)
    assert result.until == dt.date(2010, 8, 31)
    assert [r["period"] for r in result.rows][::len(BACKTEST_MEASURES)] == ["2008/09", "2009/10"]


def test_recorded_figures_are_the_record_and_errors_are_percentages() -> None:
    result = run_backtest(scenario(), cutoff=CUTOFF, history=history())
    sessions = next(r for r in result.rows if r["measure"] == "sessions")
    recorded = sum(1 for f in history() if isinstance(f, ClubRun)
                   and CUTOFF <= f.occurred_on <= dt.date(2010, 8, 31))
    assert sessions["recorded"] == recorded
    assert sessions["modelled"] > 0
    assert sessions["error_percent"] == round(
        100 * (sessions["modelled"] - recorded) / recorded, 1)
    # Funding follows the recorded policy path: the model receives what was received.
    received = next(r for r in result.rows if r["measure"] == "received_pence")
    assert abs(received["error_percent"]) < 0.5
    summary = result.summary()
    assert set(summary) == {m for _, m in BACKTEST_MEASURES}
    assert summary["sessions"] == abs(sessions["error_percent"])


def test_the_model_sees_nothing_after_the_cutoff() -> None:
    # Changing the record after the cut-off changes the recorded column only.
    a = run_backtest(scenario(), cutoff=CUTOFF, history=history())
    fewer = [f for f in history() if not (isinstance(f, ClubRun) and f.occurred_on >= CUTOFF)]
    b = run_backtest(scenario(), cutoff=CUTOFF, history=fewer)
    assert [r["modelled"] for r in a.rows] == [r["modelled"] for r in b.rows]
    sessions = next(r for r in b.rows if r["measure"] == "sessions")
    assert sessions["recorded"] == 0
    assert sessions["error_percent"] is None


def test_more_age_growth_changes_the_error_deterministically() -> None:
    flat = scenario().model_copy(update={"response": scenario().response.model_copy(
        update={"age_growth": 0.0})})
    steep = scenario().model_copy(update={"response": scenario().response.model_copy(
        update={"age_growth": 0.3, "age_growth_years": 20})})
    a = run_backtest(flat, cutoff=CUTOFF, history=history())
    b = run_backtest(steep, cutoff=CUTOFF, history=history())
    assert run_backtest(steep, cutoff=CUTOFF, history=history()).rows == b.rows

    def sessions(result: Any) -> int:
        return next(r["modelled"] for r in result.rows if r["measure"] == "sessions")

    assert sessions(b) > sessions(a)


def test_bad_dates_are_clear_errors() -> None:
    with pytest.raises(ScenarioError, match="before --cutoff"):
        run_backtest(scenario(), cutoff=CUTOFF, until=dt.date(2009, 1, 1), history=history())
    with pytest.raises(ScenarioError, match="no facts before it"):
        run_backtest(scenario(), cutoff=dt.date(2001, 9, 1), history=history())


def test_outputs(tmp_path: Path) -> None:
    result = run_backtest(scenario(), cutoff=CUTOFF, history=history())
    assert result.to_csv().splitlines()[0] == "period,measure,recorded,modelled,error_percent"
    assert '"mean_absolute_error_percent"' in result.to_json()
    pytest.importorskip("matplotlib")
    a = plot_backtest(result, tmp_path / "a.svg").read_bytes()
    assert a == plot_backtest(result, tmp_path / "b.svg").read_bytes()
