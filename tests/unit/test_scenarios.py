"""Parameters, scenarios, the response model, diff tables, sweeps and plots (issue 4).

Runs use a small synthetic partnership (2 secondaries, 6 primaries, 1 special school) and short
horizons; the base history and the baseline arm are built once per module and shared.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from ssp_ledger import Ledger
from ssp_ledger.errors import InputError
from ssp_ledger.events import FundingChanged, ObjectiveSet, SchoolLeft
from ssp_ledger.io import export_jsonl
from ssp_ledger.parameters import (
    Override,
    Parameter,
    ParameterNotInForce,
    ParameterSet,
    ParameterValue,
    UnknownParameter,
    default_parameters,
    load_parameters,
)
from ssp_ledger.scenarios import (
    AREAS,
    MEASURE_UNITS,
    Scenario,
    ScenarioError,
    build_arm,
    load_base,
    load_scenario,
    parse_scenario,
    plot,
    run_scenario,
    scenario_variant,
    sweep,
)
from ssp_ledger.synthetic import SyntheticConfig, generate

ROOT = Path(__file__).resolve().parents[2]
SMALL: dict[str, Any] = {"seed": 7, "partnerships": 1, "secondaries": 2, "primaries": 6,
                         "specials": 1}
FORK = dt.date(2010, 9, 1)
HORIZON = dt.date(2011, 8, 31)
REPORTS = ("participation", "staff_time_cost", "funding", "partnership_age", "leaders")
PROPERTY = settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def scenario(**changes: Any) -> Scenario:
    data: dict[str, Any] = {"name": "test", "fork_date": FORK.isoformat(),
                            "horizon": HORIZON.isoformat(), "synthetic": SMALL, "seed": 3}
    data.update(changes)
    return parse_scenario(data)


@functools.cache
def shared_base() -> list[Any]:
    """The small base history (built once; not a fixture so hypothesis never prints it)."""
    return load_base(scenario())


@functools.cache
def shared_baseline() -> Ledger:
    """The baseline arm of :func:`scenario` (built once, shared read-only)."""
    return build_arm(scenario(), shared_base(), default_parameters(), reform=False)


@pytest.fixture(scope="module")
def base() -> list[Any]:
    return shared_base()


def events_of(ledger: Ledger) -> list[Any]:
    return [rec.event for rec in ledger.events()]


def reports(ledger: Ledger, as_of: dt.date) -> dict[str, Any]:
    out: dict[str, Any] = {name: ledger.report(name, as_of=as_of).rows for name in REPORTS}
    for name in ("participation", "staff_time_cost", "funding", "leaders"):
        out[f"{name}-by-term"] = ledger.report(name, as_of=as_of, by="term").rows
    return out


# --------------------------------------------------------------------------- parameters


def value(day: str, amount: int, citation: str = "a source") -> ParameterValue:
    return ParameterValue(effective_from=dt.date.fromisoformat(day), value=amount,
                          citation=citation)


def test_shipped_parameters_are_dated_and_cited() -> None:
    params = load_parameters()
    assert {"funding.ssp-grant", "funding.pe-teacher-day", "cost.SSCO", "release.PLT"} <= set(
        params.names)
    for p in params.parameters:
        assert len(p.values) >= 1
        for v in p.values:
            assert v.citation.strip()
    grant = params.get("funding.ssp-grant")
    assert len(grant.values) >= 3
    assert params.value_at("funding.ssp-grant", dt.date(2011, 8, 31)) > 0
    assert params.value_at("funding.ssp-grant", dt.date(2011, 9, 1)) == 0
    assert params.value_at("release.PE_TEACHER", dt.date(2012, 1, 10)) == 450


def test_future_dated_value_neither_freezes_nor_skips_earlier_values() -> None:
    # Listed out of order, with one value far in the future.
    p = Parameter(name="cost.SSCO", unit="pence_per_hour",
                  values=(value("2030-09-01", 5000), value("2008-09-01", 2700),
                          value("2009-09-01", 2800)))
    assert [v.effective_from.year for v in p.values] == [2008, 2009, 2030]
    assert p.value_at(dt.date(2008, 9, 1)) == 2700
    assert p.value_at(dt.date(2009, 8, 31)) == 2700
    assert p.value_at(dt.date(2009, 9, 1)) == 2800
    assert p.value_at(dt.date(2030, 8, 31)) == 2800
    assert p.value_at(dt.date(2030, 9, 1)) == 5000
    with pytest.raises(ParameterNotInForce, match="first value takes effect on 2008-09-01"):
        p.value_at(dt.date(2008, 8, 31))


@given(
    dates=st.lists(st.dates(dt.date(2000, 1, 1), dt.date(2020, 12, 31)), min_size=1,
                   max_size=8, unique=True),
    future=st.dates(dt.date(2021, 1, 1), dt.date(2090, 1, 1)),
    probe=st.dates(dt.date(1999, 1, 1), dt.date(2020, 12, 31)),
)
def test_value_at_is_the_latest_value_on_or_before_the_date(
        dates: list[dt.date], future: dt.date, probe: dt.date) -> None:
    values = tuple(value(d.isoformat(), i) for i, d in enumerate(dates))
    p = Parameter(name="release.PLT", unit="minutes_per_week", values=values)
    later = p.model_copy(update={"values": (*p.values, value(future.isoformat(), 999))})
    later = Parameter.model_validate(later.model_dump())
    expected = max(((d, i) for i, d in enumerate(dates) if d <= probe), default=None)
    for param in (p, later):  # adding a future value changes nothing before it
        entry = param.entry_at(probe)
        if expected is None:
            assert entry is None
        else:
            assert entry is not None
            assert entry.value == expected[1]


@pytest.mark.parametrize(("data", "field"), [
    ({"name": "cost.SSCO", "unit": "pence_per_hour",
      "values": [{"effective_from": "2008-09-01", "value": 1, "citation": "x"},
                 {"effective_from": "2008-09-01", "value": 2, "citation": "y"}]}, "values"),
    ({"name": "cost.SSCO", "unit": "pence_per_hour",
      "values": [{"effective_from": "2008-09-01", "value": 1}]}, "values[0].citation"),
    ({"name": "cost.SSCO", "unit": "pence_per_hour",
      "values": [{"effective_from": "2008-09-01", "value": -1, "citation": "x"}]},
     "values[0].value"),
    ({"name": "cost.WIZARD", "unit": "pence_per_hour",
      "values": [{"effective_from": "2008-09-01", "value": 1, "citation": "x"}]}, ""),
    ({"name": "funding.x", "unit": "pence_per_hour",
      "values": [{"effective_from": "2008-09-01", "value": 1, "citation": "x"}]}, ""),
])
def test_bad_parameter_files_name_the_field(tmp_path: Path, data: dict[str, Any],
                                            field: str) -> None:
    from ssp_ledger.parameters import parse_parameters

    with pytest.raises(InputError) as caught:
        parse_parameters({"parameters": [data]}, "p.toml")
    expected = f"parameters[0].{field}" if field else "parameters[0]"
    assert caught.value.field == expected
    assert str(caught.value).startswith("p.toml")


def test_custom_parameter_file(tmp_path: Path) -> None:
    path = tmp_path / "p.toml"
    path.write_text('[[parameters]]\nname = "funding.x"\nunit = "pence_per_year"\n'
                    'basis = "partnership"\nvalues = [{ effective_from = 2010-01-01, '
                    'value = 5, citation = "c" }]\n', encoding="utf-8")
    assert load_parameters(path).value_at("funding.x", dt.date(2011, 1, 1)) == 5
    path.write_text("not = [toml", encoding="utf-8")
    with pytest.raises(InputError, match="not valid TOML"):
        load_parameters(path)


def test_overrides_set_or_scale_a_range_then_restore() -> None:
    params = default_parameters()
    cut = Override(parameter="funding.ssp-grant", effective_from=dt.date(2009, 9, 1),
                   until=dt.date(2010, 12, 31), scale=0.5, citation="half")
    new = params.with_overrides([cut])
    grant = params.get("funding.ssp-grant")
    assert new.value_at("funding.ssp-grant", dt.date(2009, 8, 31)) == grant.value_at(
        dt.date(2009, 8, 31))
    assert new.value_at("funding.ssp-grant", dt.date(2009, 9, 1)) == round(
        grant.value_at(dt.date(2009, 9, 1)) * 0.5)
    assert new.value_at("funding.ssp-grant", dt.date(2010, 9, 1)) == round(
        grant.value_at(dt.date(2010, 9, 1)) * 0.5)
    assert new.value_at("funding.ssp-grant", dt.date(2011, 1, 1)) == grant.value_at(
        dt.date(2011, 1, 1))
    assert new.value_at("funding.ssp-grant", dt.date(2011, 9, 1)) == 0
    assert "half" in new.get("funding.ssp-grant").entry_at(dt.date(2010, 1, 1)).citation  # type: ignore[union-attr]
    keep = Override(parameter="funding.ssp-grant", effective_from=dt.date(2011, 9, 1),
                    value=123, citation="kept")
    assert params.with_overrides([keep]).value_at("funding.ssp-grant", dt.date(2020, 1, 1)) == 123
    assert params.value_at("funding.ssp-grant", dt.date(2020, 1, 1)) == 0  # unchanged original
    with pytest.raises(UnknownParameter, match=r"funding\.ssp-grnt"):
        params.with_overrides([keep.model_copy(update={"parameter": "funding.ssp-grnt"})])


# --------------------------------------------------------------------------- scenario files


@pytest.mark.parametrize(("change", "field"), [
    ({"fork_date": None}, "fork_date"),
    ({"horizon": "2009-01-01"}, "horizon"),
    ({"colour": "red"}, "colour"),
    ({"by": "week"}, "by"),
    ({"synthetic": {"partnerships": 0}}, "synthetic.partnerships"),
    ({"response": {"sessions_elasticity": -1}}, "response.sessions_elasticity"),
    ({"response": {"elasticity": 1}}, "response.elasticity"),
    ({"overrides": [{"parameter": "funding.ssp-grant", "effective_from": "2011-01-01",
                     "valeu": 1, "citation": "c"}]}, "overrides[0].valeu"),
    ({"overrides": [{"parameter": "funding.ssp-grant", "effective_from": "2011-01-01",
                     "value": 1, "scale": 2, "citation": "c"}]}, "overrides[0]"),
    ({"overrides": [{"parameter": "funding.ssp-grant", "effective_from": "2009-01-01",
                     "value": 1, "citation": "c"}]}, "overrides[0].effective_from"),
    ({"events": [{"type": "FundingChanged", "partnership_id": "*", "occurred_on": "2011-01-01",
                  "event_id": "e", "funding_stream": "ssp-grant",
                  "annual_amount_pence": "lots"}]}, "events[0].annual_amount_pence"),
    ({"events": [{"type": "FundingChanged", "partnership_id": "*", "occurred_on": "2011-01-01",
                  "event_id": "e", "funding_stream": "ssp-grant",
                  "annual_amount_pence": -5}]}, "events[0].annual_amount_pence"),
    ({"events": [{}, {"type": "Funding", "partnership_id": "p"}]}, "events[0].type"),
    ({"events": [{"type": "SchoolLeft", "partnership_id": "p", "occurred_on": "2011-01-01",
                  "event_id": "e"}]}, "events[0].school_id"),
    ({"events": [{"type": "SchoolLeft", "partnership_id": "p", "occurred_on": "2011-01-01",
                  "event_id": "e", "school_id": "s", "shcool": 1}]}, "events[0].shcool"),
    ({"events": [{"type": "SchoolLeft", "partnership_id": "p", "occurred_on": "2010-01-01",
                  "event_id": "e", "school_id": "s"}]}, "events[0].occurred_on"),
    ({"events": [{"type": "EventRetracted", "partnership_id": "p",
                  "occurred_on": "2011-01-01", "event_id": "e", "target_event_id": "x",
                  "reason": "r"}]}, "events[0].type"),
    ({"base": "synthetic", "base_known_at": "2012-01-01T00:00:00Z"}, "base_known_at"),
])
def test_bad_scenarios_name_the_field(change: dict[str, Any], field: str) -> None:
    data: dict[str, Any] = {"name": "bad", "fork_date": "2010-09-01", "horizon": "2011-08-31"}
    data.update(change)
    data = {k: v for k, v in data.items() if v is not None}
    with pytest.raises(InputError) as caught:
        parse_scenario(data, source="bad.toml")
    assert caught.value.field == field, str(caught.value)
    assert str(caught.value).startswith(f"bad.toml, field {field!r}: ")


def test_scenario_files_toml_and_json(tmp_path: Path) -> None:
    toml = tmp_path / "s.toml"
    toml.write_text('name = "t"\nfork_date = 2010-09-01\nhorizon = 2011-08-31\n'
                    'base = "data/ssp.db"\n[[events]]\ntype = "FundingChanged"\n'
                    'partnership_id = "*"\noccurred_on = 2011-01-01\nevent_id = "e1"\n'
                    'funding_stream = "ssp-grant"\nannual_amount_pence = 0\n', encoding="utf-8")
    loaded = load_scenario(toml)
    assert loaded.base == str(tmp_path / "data" / "ssp.db")
    assert isinstance(loaded.events[0], FundingChanged)
    as_json = tmp_path / "s.json"
    as_json.write_text(json.dumps(loaded.model_dump(mode="json")), encoding="utf-8")
    assert load_scenario(as_json) == loaded
    toml.write_text('name = "t"\nfork_date = 2010-09-01\nhorizon = [', encoding="utf-8")
    with pytest.raises(InputError, match="not valid TOML"):
        load_scenario(toml)
    (tmp_path / "s.txt").write_text("x", encoding="utf-8")
    with pytest.raises(InputError, match=r"\.toml or \.json"):
        load_scenario(tmp_path / "s.txt")
    with pytest.raises(InputError, match="no such file"):
        load_scenario(tmp_path / "missing.toml")


def test_every_example_scenario_loads_and_runs_small() -> None:
    files = sorted((ROOT / "examples").glob("scenario_*.toml")) + sorted(
        (ROOT / "examples").glob("scenario_*.json"))
    assert len(files) >= 3
    for path in files:
        s = load_scenario(path)
        assert s.is_reform, path.name
        small = s.model_copy(update={
            "synthetic": s.synthetic.model_copy(update={**SMALL, "partnerships": 1}),
            "horizon": min(s.horizon, dt.date(s.fork_date.year + 1, 12, 31))})
        result = run_scenario(small)
        assert set(result.tables) == set(AREAS)
        result.close()


# --------------------------------------------------------------------------- running


def test_no_reform_equals_the_baseline(base: list[Any]) -> None:
    result = run_scenario(scenario(), base=base)
    assert all(row[4] == 0 for t in result.tables.values() for row in t.rows)
    assert events_of(result.baseline) == events_of(result.reform)
    result.close()


@PROPERTY
@given(seed=st.integers(0, 10_000),
       elasticity=st.floats(0, 3, allow_nan=False),
       share=st.floats(0, 1, allow_nan=False))
def test_property_without_reform_both_arms_are_identical(
        seed: int, elasticity: float, share: float) -> None:
    base = shared_base()
    s = scenario(seed=seed, response={"sessions_elasticity": elasticity,
                                      "unfunded_share": share})
    a = build_arm(s, base, default_parameters(), reform=False)
    b = build_arm(s, base, default_parameters(), reform=True)
    assert events_of(a) == events_of(b)
    a.close()
    b.close()


#: Upper bounds of generated override values, by parameter kind (plausible units).
LIMITS = {"funding": 40_000_000, "cost": 10_000, "release": 3_000, "survey": 100,
          "partnerships": 500, "response": 100}
reform_overrides = st.builds(
    lambda name, days, scale, share, use_scale: {
        "parameter": name, "effective_from": days, "citation": "property",
        **({"scale": scale} if use_scale
           else {"value": round(share * LIMITS[name.partition(".")[0]])})},
    name=st.sampled_from(sorted(default_parameters().names)),
    days=st.integers(0, 365),
    scale=st.floats(0, 3, allow_nan=False),
    share=st.floats(0, 1, allow_nan=False),
    use_scale=st.booleans(),
)


def _parameter(override: dict[str, Any]) -> str:
    """One override per parameter in a reform: two scales of up to 3 of the same parameter
    could leave its plausible range, which the scenario then rightly refuses."""
    return str(override["parameter"])


def _dated(overrides: list[dict[str, Any]], start: dt.date) -> list[dict[str, Any]]:
    return [{**o, "effective_from": (start + dt.timedelta(days=o["effective_from"])).isoformat()}
            for o in overrides]


def _funding_events(amounts: list[int], start: dt.date) -> list[dict[str, Any]]:
    return [{"type": "FundingChanged", "partnership_id": "*", "event_id": f"reform-{i}",
             "occurred_on": (start + dt.timedelta(days=37 * i)).isoformat(),
             "funding_stream": "ssp-grant" if i % 2 == 0 else "new-stream",
             "annual_amount_pence": amount} for i, amount in enumerate(amounts)]


@PROPERTY
@given(overrides=st.lists(reform_overrides, max_size=3, unique_by=_parameter),
       amounts=st.lists(st.integers(0, 40_000_000), max_size=2))
def test_property_a_reform_after_the_horizon_changes_nothing(
        overrides: list[dict[str, Any]], amounts: list[int]) -> None:
    base, baseline = shared_base(), shared_baseline()
    after = HORIZON + dt.timedelta(days=1)
    s = scenario(overrides=_dated(overrides, after), events=_funding_events(amounts, after))
    reformed = build_arm(s, base, default_parameters(), reform=True)
    assert events_of(reformed) == events_of(baseline)
    reformed.close()


@PROPERTY
@given(overrides=st.lists(reform_overrides, min_size=1, max_size=3, unique_by=_parameter),
       amounts=st.lists(st.integers(0, 40_000_000), max_size=2),
       seed=st.integers(0, 100))
def test_property_a_reform_never_changes_figures_before_its_fork(
        overrides: list[dict[str, Any]], amounts: list[int], seed: int) -> None:
    base = shared_base()
    s = scenario(seed=seed, overrides=_dated(overrides, FORK),
                 events=_funding_events(amounts, FORK))
    result = run_scenario(s, base=base)
    before = FORK - dt.timedelta(days=1)
    assert reports(result.baseline, before) == reports(result.reform, before)
    assert [rec.event for rec in result.baseline.events() if rec.event.occurred_on < before] == \
        [rec.event for rec in result.reform.events() if rec.event.occurred_on < before]
    result.close()


def test_an_impossible_override_names_the_override(base: list[Any]) -> None:
    s = scenario(overrides=[{"parameter": "release.PDM", "effective_from": "2010-10-01",
                             "value": 20_000, "citation": "more minutes than a week has"}])
    with pytest.raises(InputError) as caught:
        run_scenario(s, base=base)
    assert caught.value.field == "overrides[0]"
    assert "largest plausible minutes_per_week" in str(caught.value)
    unknown = scenario(overrides=[{"parameter": "release.WIZARD",
                                   "effective_from": "2010-10-01", "value": 1,
                                   "citation": "c"}])
    with pytest.raises(InputError, match=r"no parameter named 'release\.WIZARD'") as caught:
        run_scenario(unknown, base=base)
    assert caught.value.field == "overrides[0].parameter"


@settings(max_examples=5, deadline=None, suppress_health_check=list(HealthCheck))
@given(name=st.sampled_from(sorted(default_parameters().names)), days=st.integers(0, 364))
@example(name="funding.ssp-grant", days=0)  # the grant changes again inside the window
def test_property_an_override_to_the_same_value_changes_no_figure(
        name: str, days: int) -> None:
    base = shared_base()
    day = FORK + dt.timedelta(days=days)
    same = default_parameters().value_or_none(name, day)
    assume(same is not None)
    # The value in force on ``day``, until the parameter's own next change (an open-ended
    # override would replace later values too, e.g. the reduced grant from April 2011).
    later = [v.effective_from for v in default_parameters().get(name).values
             if v.effective_from > day]
    override: dict[str, Any] = {"parameter": name, "effective_from": day.isoformat(),
                                "value": same, "citation": "no-op"}
    if later:
        override["until"] = (later[0] - dt.timedelta(days=1)).isoformat()
    s = scenario(overrides=[override])
    result = run_scenario(s, base=base)
    assert all(row[4] == 0 for t in result.tables.values() for row in t.rows)
    result.close()


def test_continued_grant_keeps_activity_and_cuts_hidden_cost(base: list[Any]) -> None:
    s = scenario(fork_date="2011-04-01", horizon="2012-08-31", overrides=[
        {"parameter": "funding.ssp-grant", "effective_from": "2011-09-01", "value": 28_350_000,
         "citation": "continued"},
        {"parameter": "funding.pe-teacher-day", "effective_from": "2011-09-01", "value": 0,
         "citation": "no concession"}])
    result = run_scenario(s)
    assert result.figure("participation", "sessions", "2010/11") == 0
    assert result.figure("participation", "sessions", "2011/12") > 0
    assert result.figure("participation", "attendances", "2011/12") > 0
    assert result.figure("staff_time_cost", "funded_pence", "2011/12") > 0
    assert result.figure("staff_time_cost", "hidden_pence", "2011/12") < 0
    assert result.figure("funding", "received_pence", "2011/12") > 0
    assert result.figure("funding", "funding_gap_pence", "2011/12") < 0
    rows = result.rows()
    assert {r["table"] for r in rows} == set(AREAS)
    assert result.to_csv().splitlines()[0] == "table,period,measure,baseline,scenario,difference"
    doc = json.loads(result.to_json())
    assert doc["window"] == "2011-04-01..2012-08-31"
    assert set(doc["tables"]) == set(AREAS)
    result.close()


def test_runs_are_deterministic_for_a_seed(base: list[Any]) -> None:
    s = scenario(overrides=[{"parameter": "funding.ssp-grant", "effective_from": "2010-09-01",
                             "scale": 0.5, "citation": "half"}])
    first, second = run_scenario(s, base=base), run_scenario(s, base=base)
    assert first.tables == second.tables
    assert events_of(first.reform) == events_of(second.reform)
    other = run_scenario(scenario_variant(s, "seed", 4), base=base)
    assert events_of(other.reform) != events_of(first.reform)
    for r in (first, second, other):
        r.close()


def test_hypothetical_events_reach_every_partnership_and_drive_the_model() -> None:
    two = {**SMALL, "partnerships": 2}
    cut = {"type": "FundingChanged", "partnership_id": "*", "occurred_on": "2010-10-01",
           "event_id": "cut", "funding_stream": "ssp-grant", "annual_amount_pence": 0}
    note = {"type": "ObjectiveSet", "partnership_id": "*", "occurred_on": "2010-09-01",
            "event_id": "obj", "objective_id": "o", "text": "survive"}
    result = run_scenario(scenario(synthetic=two, events=[cut, note]))
    objectives = [e for e in events_of(result.reform) if isinstance(e, ObjectiveSet)
                  and e.event_id == "obj"]
    assert sorted(e.partnership_id for e in objectives) == ["ssp-000", "ssp-001"]
    assert result.figure("participation", "sessions", result.window.label) < 0
    assert result.figure("staff_time_cost", "funded_pence", result.window.label) < 0
    result.close()


def test_a_hypothetical_event_breaking_a_rule_is_a_clear_error(base: list[Any]) -> None:
    bad = {"type": "ClubRun", "partnership_id": "ssp-000", "occurred_on": "2010-10-05",
           "event_id": "x", "club_id": "c", "school_id": "no-such-school",
           "activity": "golf", "participants": 3}
    with pytest.raises(ScenarioError, match=r"a hypothetical event breaks a rule.*no-such-school"):
        run_scenario(scenario(events=[bad]), base=base)


def test_schools_leave_more_without_funding(base: list[Any]) -> None:
    s = scenario(fork_date="2011-04-01", horizon="2012-08-31",
                 response={"leave_rate_funded": 0.0, "leave_rate_unfunded": 1.0})
    result = run_scenario(s, base=base)
    left = [e for e in events_of(result.baseline) if isinstance(e, SchoolLeft)
            and e.occurred_on >= s.fork_date]
    # The grant ends on 31 Aug 2011; a small PE-teacher stream remains, so some leave, not all.
    assert left
    assert all(e.occurred_on in (dt.date(2011, 7, 31), dt.date(2012, 7, 31)) for e in left)
    result.close()


def test_the_real_store_is_never_written(tmp_path: Path) -> None:
    store = tmp_path / "real.db"
    config = SyntheticConfig(**SMALL, horizon=dt.date(2011, 12, 31))
    with Ledger.open(store) as ledger:
        ledger.record_many(generate(config))
        expected = ledger.participation(as_of=FORK - dt.timedelta(days=1)).rows
    before = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in tmp_path.iterdir()}
    s = scenario(base=str(store), overrides=[{"parameter": "funding.ssp-grant",
                                               "effective_from": "2010-10-01", "value": 0,
                                               "citation": "cut"}])
    result = run_scenario(s)
    assert result.baseline.participation(as_of=FORK - dt.timedelta(days=1)).rows == expected
    assert result.figure("participation", "sessions", result.window.label) < 0
    result.close()
    after = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in tmp_path.iterdir()}
    assert after == before
    known = scenario(base=str(store), base_known_at="2000-01-01T00:00:00Z")
    assert load_base(known) == []


def test_a_jsonl_export_can_be_the_base(tmp_path: Path, base: list[Any]) -> None:
    export = tmp_path / "base.jsonl"
    export_jsonl(base, export)
    assert load_base(scenario(base=str(export))) == load_base(scenario())
    with pytest.raises(ScenarioError, match="no such file"):
        load_base(scenario(base=str(tmp_path / "missing.db")))


# --------------------------------------------------------------------------- sweep and plot


def test_sweep_returns_one_row_per_value_in_order(base: list[Any]) -> None:
    s = scenario(overrides=[{"parameter": "funding.ssp-grant", "effective_from": "2010-10-01",
                             "scale": 0.5, "citation": "cut"}])
    seen: list[tuple[int, int]] = []
    result = sweep(s, "overrides.0.scale", ["0.25", "1", "0.75"], workers=2, base=base,
                   progress=lambda done, total: seen.append((done, total)))
    assert [row["value"] for row in result.rows] == [0.25, 1, 0.75]
    assert seen[-1] == (3, 3)
    assert len(result.to_csv().splitlines()) == 4
    by_value = {row["value"]: row for row in result.rows}
    assert by_value[1]["difference_sessions"] == 0
    assert by_value[0.25]["difference_funded_pence"] < by_value[0.75]["difference_funded_pence"]
    single = run_scenario(scenario_variant(s, "overrides.0.scale", 0.25), base=base)
    assert {k: by_value[0.25][k] for k in single.summary()} == single.summary()
    single.close()
    assert result.table().rows[0][1] == "0.25"


def test_sweep_a_parameter_of_the_set(base: list[Any]) -> None:
    s = scenario(fork_date="2011-04-01", horizon="2012-08-31")
    result = sweep(s, "release.PE_TEACHER", [450, 900], workers=1, base=base)
    low, high = result.rows
    assert low["difference_sessions"] == 0  # 450 is the shipped value: no reform
    assert high["difference_hidden_pence"] > 0  # the unfunded second day is hidden cost
    assert high["difference_sessions"] > 0


def test_sweep_errors_name_the_setting(base: list[Any]) -> None:
    with pytest.raises(ScenarioError, match="no setting 'elastic'"):
        sweep(scenario(), "elastic", [1], base=base)
    with pytest.raises(ScenarioError, match=r"response\.sessions_elasticity"):
        sweep(scenario(), "sessions_elasticity", [-2], base=base)
    with pytest.raises(ScenarioError, match="at least one value"):
        sweep(scenario(), "seed", [], base=base)


def test_plot_png_and_svg(tmp_path: Path, base: list[Any]) -> None:
    result = run_scenario(scenario(overrides=[{"parameter": "funding.ssp-grant",
                                               "effective_from": "2010-10-01", "value": 0,
                                               "citation": "cut"}]), base=base)
    png = plot(result, tmp_path / "p.png")
    svg = plot(result, tmp_path / "p.svg")
    assert png.read_bytes().startswith(b"\x89PNG")
    assert b"<svg" in svg.read_bytes()
    again = plot(result, tmp_path / "q.svg")
    assert again.read_bytes() == svg.read_bytes()  # reproducible output
    with pytest.raises(ScenarioError, match=r"\.png, \.svg or \.pdf"):
        plot(result, tmp_path / "p.gif")
    with pytest.raises(ScenarioError, match="does not exist"):
        plot(result, tmp_path / "nowhere" / "p.png")
    result.close()


def test_parameter_set_is_a_pydantic_model_with_a_table() -> None:
    params = default_parameters()
    assert isinstance(params, ParameterSet)
    rows = params.table(dt.date(2012, 1, 1))
    assert {r["name"] for r in rows} == set(params.names)  # every parameter in force in 2012
    assert all(r["citation"] for r in rows)
    assert len(params.table()) > len(rows)


def _level_at(ledger: Ledger, day: dt.date) -> int:
    """Sum over partnerships and streams of the latest FundingChanged on or before ``day``
    (an independent reference for the funding table's level in force)."""
    latest: dict[tuple[str, str], tuple[dt.date, int]] = {}
    for _, rec in ledger.read():
        e = rec.event
        if isinstance(e, FundingChanged) and e.occurred_on <= day:
            key = (e.partnership_id, e.funding_stream)
            if key not in latest or e.occurred_on >= latest[key][0]:
                latest[key] = (e.occurred_on, e.annual_amount_pence)
    return sum(level for _, level in latest.values())


def test_levels_are_at_period_end_and_flows_add_up(base: list[Any]) -> None:
    s = scenario(by="term", overrides=[{
        "parameter": "funding.ssp-grant", "effective_from": "2011-01-10", "scale": 0.5,
        "citation": "test: halved mid-year"}])
    result = run_scenario(s, base=base)
    try:
        assert MEASURE_UNITS["level_in_force_pence"].aggregation == "end"
        assert set(MEASURE_UNITS) == {m for _, ms in AREAS.values() for m in ms}
        for period in result.periods:
            end = min(period.end, s.horizon)
            for arm, ledger in (("baseline", result.baseline), ("scenario", result.reform)):
                level = result.figure("funding", "level_in_force_pence", period.label, arm)
                assert level == _level_at(ledger, end), (period.label, arm)
        # Flows over the terms add up to the window; a level is not a sum of the terms'.
        labels = [p.label for p in result.periods]
        for table, measure in (("participation", "sessions"), ("funding", "received_pence")):
            terms = sum(result.figure(table, measure, label, "scenario") for label in labels)
            assert terms == result.figure(table, measure, result.window.label, "scenario")
        window_level = result.figure("funding", "level_in_force_pence", result.window.label,
                                     "scenario")
        assert window_level == _level_at(result.reform, s.horizon)
        assert window_level != sum(result.figure("funding", "level_in_force_pence", label,
                                                  "scenario") for label in labels)
        doc = json.loads(result.to_json())
        assert doc["units"]["received_pence"]["unit"] == "pence"
    finally:
        result.close()
