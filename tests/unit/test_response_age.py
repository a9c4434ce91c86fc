"""The response model's partnership-age term: ``G(t) = A(y(t)) / A(y_ref)`` (issue: research
credibility, item 1). Runs the model directly on a small synthetic partnership, one year on."""

from __future__ import annotations

import datetime as dt
import functools
from typing import Any

import pytest

from ssp_ledger.events import ClubRun, CompetitionHeld, CorrectableEvent, PartnershipFormed
from ssp_ledger.parameters import default_parameters, parse_parameters
from ssp_ledger.response import ResponseParameters, age_level, fork_states, simulate
from ssp_ledger.scenarios import facts_in_force
from ssp_ledger.synthetic import SyntheticConfig, generate

FORK = dt.date(2009, 9, 1)
HORIZON = dt.date(2011, 7, 31)


@functools.cache
def facts() -> list[CorrectableEvent]:
    config = SyntheticConfig(seed=11, secondaries=2, primaries=6, specials=1,
                             formed_on=dt.date(2005, 9, 1))
    return [f for f in facts_in_force(generate(config)) if f.occurred_on < FORK]


def run(**response: Any) -> list[CorrectableEvent]:
    return simulate(fork_states(facts(), FORK), parameters=default_parameters(),
                    response=ResponseParameters(**response), seed=4, fork=FORK,
                    horizon=HORIZON)


def count(events: list[CorrectableEvent], kind: type) -> int:
    return sum(1 for e in events if isinstance(e, kind))


def test_age_level_is_the_documented_equation() -> None:
    assert age_level(0, 0.055, 6) == 1.0
    assert age_level(2, 0.055, 6) == pytest.approx(1.11)
    assert age_level(10, 0.055, 6) == pytest.approx(1.33)  # no growth after Y years
    assert age_level(-1, 0.055, 6) == 1.0
    assert age_level(4, 0.0, 6) == 1.0


def test_reference_age_is_the_middle_of_the_window_after_formation() -> None:
    state = fork_states(facts(), FORK)["ssp-000"]
    assert state.formed_on == dt.date(2005, 9, 1)
    # Window 2008-09-01 .. 2009-08-31: its middle is 3.5 years after formation.
    assert state.reference_age(FORK, 365) == pytest.approx(3.5, abs=0.01)
    young = fork_states(facts(), dt.date(2006, 3, 1))["ssp-000"]
    # Formed six months before the fork: the middle of those six months.
    assert young.reference_age(dt.date(2006, 3, 1), 365) == pytest.approx(0.25, abs=0.01)
    # ... and its reference rates are per teaching day since formation, not over a whole year.
    assert sum(young.term_days.values()) < 0.7 * sum(state.term_days.values())


def test_older_partnerships_grow_participation_deterministically() -> None:
    flat, grown = run(age_growth=0.0), run(age_growth=0.3, age_growth_years=20)
    assert run(age_growth=0.3, age_growth_years=20) == grown  # same seed, same events
    assert count(grown, ClubRun) > 1.08 * count(flat, ClubRun)
    assert count(grown, CompetitionHeld) >= count(flat, CompetitionHeld)
    # Capped at the reference age: no growth at all.
    assert count(run(age_growth=0.3, age_growth_years=3), ClubRun) == count(flat, ClubRun)


def test_growth_comes_from_the_cited_parameter_unless_the_scenario_sets_it() -> None:
    params = default_parameters()
    entry = params.entry_at("response.age-growth", FORK)
    assert entry is not None
    assert entry.value == 55
    assert "estimate" in entry.note
    assert params.entry_at("response.age-growth-years", FORK) is not None
    assert run() == run(age_growth=0.055, age_growth_years=6)
    assert run() != run(age_growth=0.0)


def test_a_parameter_set_without_the_age_terms_has_no_age_effect() -> None:
    data = default_parameters().model_dump(mode="json")
    data["parameters"] = [p for p in data["parameters"]
                          if not p["name"].startswith("response.")]
    bare = parse_parameters(data)
    events = simulate(fork_states(facts(), FORK), parameters=bare,
                      response=ResponseParameters(), seed=4, fork=FORK, horizon=HORIZON)
    assert events == run(age_growth=0.0)


def test_a_partnership_without_formation_has_no_age_effect() -> None:
    unformed = [f for f in facts() if not isinstance(f, PartnershipFormed)]
    states = fork_states(unformed, FORK)
    assert all(s.formed_on is None for s in states.values())
