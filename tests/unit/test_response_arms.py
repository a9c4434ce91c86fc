"""Both arms of the response model from one run up to the day they part (issue 13).

:func:`~ssp_ledger.response.simulate_arms` models the days before the arms' inputs first differ
once (the model draws the same numbers in both arms, so until then it does the same thing) and
branches the engine there. The reference is two plain :func:`~ssp_ledger.response.simulate`
runs; the events must be the same, whatever the reform: parameter overrides (a value or a
scale, from any day, with or without an end), hypothetical events, both or neither.
"""

from __future__ import annotations

import datetime as dt
import functools
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ssp_ledger.events import CorrectableEvent, FundingChanged, SchoolLeft, StaffReleased
from ssp_ledger.parameters import Override, ParameterSet, default_parameters
from ssp_ledger.response import (
    ForkState,
    ResponseParameters,
    first_difference,
    fork_states,
    simulate,
    simulate_arms,
)
from ssp_ledger.scenarios import facts_in_force
from ssp_ledger.synthetic import SyntheticConfig, generate

FORK = dt.date(2010, 10, 20)
HORIZON = dt.date(2012, 3, 31)
PROPERTY = settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@functools.cache
def states() -> dict[str, ForkState]:
    config = SyntheticConfig(seed=11, partnerships=2, secondaries=2, primaries=4, specials=1)
    facts = [f for f in facts_in_force(generate(config)) if f.occurred_on < FORK]
    return fork_states(facts, FORK)


def override(parameter: str, day: dt.date, *, value: int | None = None,
             scale: float | None = None, until: dt.date | None = None) -> Override:
    return Override(parameter=parameter, effective_from=day, until=until, value=value,
                    scale=scale, citation="test")


def two_runs(state: ForkState, reform: ParameterSet, hypothetical: list[CorrectableEvent],
             seed: int) -> tuple[list[CorrectableEvent], list[CorrectableEvent]]:
    """The reference: each arm simulated from the fork on its own."""
    common: dict[str, Any] = {"response": ResponseParameters(), "seed": seed, "fork": FORK,
                              "horizon": HORIZON}
    pid = state.partnership_id
    return (simulate({pid: state}, parameters=default_parameters(), **common),
            simulate({pid: state}, parameters=reform, hypothetical={pid: hypothetical},
                     **common))


def both_arms(state: ForkState, reform: ParameterSet, hypothetical: list[CorrectableEvent],
              seed: int) -> tuple[list[CorrectableEvent], list[CorrectableEvent]]:
    return simulate_arms(state, baseline=default_parameters(), reform=reform,
                         response=ResponseParameters(), seed=seed, fork=FORK, horizon=HORIZON,
                         hypothetical=hypothetical)


DAYS = st.dates(FORK, HORIZON + dt.timedelta(days=30))


@PROPERTY
@given(parameter=st.sampled_from(["funding.ssp-grant", "release.PDM", "cost.SSCO",
                                  "funding.pe-teacher-day"]),
       day=DAYS, value=st.sampled_from([None, 0, 1]),
       until=st.none() | DAYS, event_day=st.none() | DAYS,
       event=st.sampled_from(["funding", "leaves", "released"]),
       seed=st.integers(0, 2**16), which=st.integers(0, 1))
def test_both_arms_equal_two_runs(parameter: str, day: dt.date, value: int | None,
                                  until: dt.date | None, event_day: dt.date | None, event: str,
                                  seed: int, which: int) -> None:
    state = states()[sorted(states())[which]]
    until = until if until is None or until >= day else None
    if value == 1:  # a plausible value of the parameter's own unit
        value = {"release.PDM": 200, "cost.SSCO": 3_000}.get(parameter, 28_350_000)
    change = (override(parameter, day, value=value, until=until) if value is not None
              else override(parameter, day, scale=0.5, until=until))
    reform = default_parameters().with_overrides([change])
    pid = state.partnership_id
    hypothetical: list[CorrectableEvent] = []
    if event_day is not None and event_day <= HORIZON:
        school = sorted(s for s in state.members if s != state.hub_school_id)[0]
        staff = sorted(state.posts)[0]
        common: dict[str, Any] = {"partnership_id": pid, "occurred_on": event_day,
                                  "event_id": "hyp"}
        made: dict[str, CorrectableEvent] = {
            "funding": FundingChanged(**common, funding_stream="county",
                                      annual_amount_pence=500_000),
            "leaves": SchoolLeft(**common, school_id=school),
            "released": StaffReleased(**common, staff_id=staff),
        }
        hypothetical.append(made[event])
    arms = both_arms(state, reform, hypothetical, seed)
    assert arms == two_runs(state, reform, hypothetical, seed)


def test_arms_that_never_part_are_modelled_once_and_equal() -> None:
    state = states()[sorted(states())[0]]
    baseline, reform = both_arms(state, default_parameters(), [], 3)
    assert baseline == reform == two_runs(state, default_parameters(), [], 3)[0]
    assert baseline is not reform  # two lists: an arm may be changed without the other
    assert baseline


def test_arms_that_part_at_the_fork_equal_two_runs() -> None:
    state = states()[sorted(states())[1]]
    reform = default_parameters().with_overrides([override("funding.ssp-grant", FORK,
                                                           value=0)])
    arms = both_arms(state, reform, [], 8)
    assert arms == two_runs(state, reform, [], 8)
    assert arms[0] != arms[1]


def test_first_difference_is_the_first_value_one_set_holds_and_the_other_does_not() -> None:
    shipped = default_parameters()
    assert first_difference(shipped, shipped) is None
    assert first_difference(shipped, shipped.with_overrides([])) is None
    day = dt.date(2011, 9, 1)
    cut = shipped.with_overrides([override("funding.ssp-grant", day, value=0)])
    assert first_difference(shipped, cut) == day
    assert first_difference(cut, shipped) == day
    # Two changes: the earlier one counts, whichever parameter it is.
    earlier = dt.date(2011, 1, 4)
    both = cut.with_overrides([override("release.PDM", earlier, scale=0.5,
                                        until=dt.date(2011, 3, 31))])
    assert first_difference(shipped, both) == earlier
    # Overriding a value with the value already in force changes nothing the model can see
    # before it, and is still a difference from its day (the citation is not the same).
    grant = shipped.get("funding.ssp-grant")
    same = grant.value_at(day)
    assert first_difference(shipped, shipped.with_overrides(
        [override("funding.ssp-grant", day, value=same)])) == day
    # Anything but the dated values differing: different from the start.
    other_basis = shipped.model_copy(update={"parameters": tuple(
        p.model_copy(update={"description": "changed"}) if p.name == "funding.ssp-grant" else p
        for p in shipped.parameters)})
    assert first_difference(shipped, other_basis) == dt.date.min
    fewer = shipped.model_copy(update={"parameters": shipped.parameters[1:]})
    assert first_difference(shipped, fewer) == dt.date.min
