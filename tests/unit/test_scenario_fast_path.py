"""The fast path of ``run_scenario`` against the straightforward one (issue 13).

``run_scenario`` computes the diff tables without recording the arms: partnerships are dealt to
processes, the base facts and the modelled events both arms share are decided and projected once,
each arm's own events in turn. The reference is the plain path: two in-memory ledgers built by
``build_arm`` (every rule checked, every record stored) read by ``diff_tables``. The tables, and
the error when a rule is broken, must be the same, whatever the number of worker processes.
"""

from __future__ import annotations

import datetime as dt
import functools
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ssp_ledger.events import ClubRun, CorrectableEvent, PartnershipDissolved
from ssp_ledger.parameters import default_parameters
from ssp_ledger.scenarios import (
    Scenario,
    ScenarioError,
    build_arm,
    diff_tables,
    load_base,
    parse_scenario,
    run_scenario,
    sweep,
)

FORK = dt.date(2010, 10, 20)
HORIZON = dt.date(2012, 3, 31)
THREE: dict[str, Any] = {"seed": 11, "partnerships": 3, "secondaries": 2, "primaries": 4,
                         "specials": 1}
PROPERTY = settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def scenario(**changes: Any) -> Scenario:
    data: dict[str, Any] = {"name": "fast", "fork_date": FORK.isoformat(),
                            "horizon": HORIZON.isoformat(), "synthetic": THREE, "seed": 5,
                            "by": "term"}
    data.update(changes)
    return parse_scenario(data)


@functools.cache
def three_base() -> list[CorrectableEvent]:
    return load_base(scenario())


def slow_tables(s: Scenario, base: list[CorrectableEvent]) -> dict[str, Any]:
    """The reference: both arms recorded into ledgers, then read."""
    params = default_parameters()
    baseline = build_arm(s, base, params, reform=False)
    reform = build_arm(s, base, params, reform=True)
    try:
        return diff_tables(baseline, reform, s)[2]
    finally:
        baseline.close()
        reform.close()


def fast_tables(s: Scenario, base: list[CorrectableEvent], workers: int) -> dict[str, Any]:
    result = run_scenario(s, base=base, workers=workers)
    try:
        return dict(result.tables)
    finally:
        result.close()


def grant_cut(day: str = "2011-09-01", value: int = 0) -> dict[str, Any]:
    return {"parameter": "funding.ssp-grant", "effective_from": day, "value": value,
            "citation": "test"}


def test_tables_equal_the_recorded_arms_for_any_number_of_workers() -> None:
    pid = sorted({f.partnership_id for f in three_base()})[1]
    s = scenario(overrides=[grant_cut()], events=[
        {"type": "FundingChanged", "partnership_id": "*", "occurred_on": "2011-01-04",
         "event_id": "extra", "funding_stream": "county", "annual_amount_pence": 500_000,
         "reason": "county top-up"},
        {"type": "SchoolLeft", "partnership_id": pid, "occurred_on": "2011-04-01",
         "event_id": "gone", "school_id": f"{pid}-pri-01", "reason": "closed"},
    ])
    reference = slow_tables(s, three_base())
    assert fast_tables(s, three_base(), workers=1) == reference
    assert fast_tables(s, three_base(), workers=2) == reference
    assert fast_tables(s, three_base(), workers=3) == reference
    # The reform changed something (the test compares tables that differ between arms).
    assert any(row[4] for t in reference.values() for row in t.rows)


def test_arms_that_never_diverge_give_zero_differences() -> None:
    s = scenario()
    tables = fast_tables(s, three_base(), workers=2)
    assert tables == slow_tables(s, three_base())
    assert all(row[4] == 0 for t in tables.values() for row in t.rows)


@PROPERTY
@given(day=st.dates(dt.date(2010, 10, 20), dt.date(2011, 12, 31)),
       value=st.sampled_from([0, 1_000_000, 28_350_000, 60_000_000]),
       seed=st.integers(0, 2**16), workers=st.integers(1, 3))
def test_fast_path_equals_recorded_arms(day: dt.date, value: int, seed: int,
                                        workers: int) -> None:
    s = scenario(seed=seed, overrides=[grant_cut(day.isoformat(), value)])
    assert fast_tables(s, three_base(), workers) == slow_tables(s, three_base())


def test_a_dissolved_partnership_gets_no_copy_of_a_star_event() -> None:
    base = list(three_base())
    pid = sorted({f.partnership_id for f in base})[0]
    end = dt.date(2009, 3, 31)
    base = [f for f in base if f.partnership_id != pid or f.occurred_on <= end]
    base.append(PartnershipDissolved(partnership_id=pid, occurred_on=end, event_id="end",
                                     reason="merged"))
    s = scenario(events=[{"type": "FundingChanged", "partnership_id": "*",
                          "occurred_on": "2011-01-04", "event_id": "extra",
                          "funding_stream": "county", "annual_amount_pence": 500_000,
                          "reason": "county top-up"}])
    reference = slow_tables(s, base)
    assert fast_tables(s, base, workers=1) == reference
    assert fast_tables(s, base, workers=2) == reference


def broken_message(s: Scenario, base: list[CorrectableEvent], workers: int | None) -> str:
    def attempt() -> object:
        return slow_tables(s, base) if workers is None else run_scenario(s, base=base,
                                                                         workers=workers)

    with pytest.raises(ScenarioError) as caught:
        attempt()
    return str(caught.value)


@pytest.mark.parametrize("workers", [1, 3])
def test_a_broken_rule_is_reported_as_the_recorded_arms_report_it(workers: int) -> None:
    pids = sorted({f.partnership_id for f in three_base()})
    # Two broken hypothetical events in different partnerships (so, with three workers, in
    # different processes): the one a ledger meets first is reported.
    s = scenario(events=[
        {"type": "StaffReleased", "partnership_id": pids[2], "occurred_on": "2011-02-01",
         "event_id": "late", "staff_id": "nobody", "reason": "x"},
        {"type": "StaffReleased", "partnership_id": pids[0], "occurred_on": "2011-01-10",
         "event_id": "early", "staff_id": "nobody", "reason": "x"},
    ])
    expected = broken_message(s, three_base(), None)
    assert "a hypothetical event breaks a rule" in expected
    assert "early" in expected
    assert broken_message(s, three_base(), workers) == expected


@pytest.mark.parametrize("workers", [1, 2])
def test_a_broken_base_fact_is_reported_as_the_recorded_arms_report_it(workers: int) -> None:
    base = list(three_base())
    pid = base[-1].partnership_id
    late = base[-1]
    # A club session at a school that never joined, in the base history.
    base.append(ClubRun(partnership_id=pid, occurred_on=late.occurred_on, event_id="stray",
                        club_id="c", school_id="no-such-school", activity="football",
                        participants=3))
    s = scenario()
    expected = broken_message(s, base, None)
    assert "stray" in expected
    assert broken_message(s, base, workers) == expected


def test_the_arms_ledgers_are_recorded_on_first_use_and_answer_as_built_arms() -> None:
    s = scenario(overrides=[grant_cut()])
    result = run_scenario(s, base=three_base(), workers=1)
    reference = build_arm(s, three_base(), default_parameters(), reform=True)
    try:
        day = dt.date(2011, 12, 31)
        assert result.reform.report("participation", as_of=day, by="school") == \
            reference.report("participation", as_of=day, by="school")
        assert result.reform is result.reform  # recorded once
    finally:
        result.close()
        reference.close()


def test_a_sweep_gives_the_same_rows_on_one_worker_and_on_several() -> None:
    s = scenario(overrides=[grant_cut()])
    values = ["0", "14000000", "28350000"]
    one = sweep(s, "overrides.0.value", values, workers=1, base=three_base())
    many = sweep(s, "overrides.0.value", values, workers=3, base=three_base())
    assert one == many
    assert len({row["difference_sessions"] for row in one.rows}) > 1
