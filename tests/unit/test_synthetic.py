"""Tests of the seeded synthetic-history generator (ssp_ledger.synthetic)."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

import msgspec
import pytest

from ssp_ledger.events import (
    ClubRun,
    CompetitionHeld,
    CpdDelivered,
    DomainEvent,
    EventCorrected,
    EventRetracted,
    FundingChanged,
    LeaderTrained,
    PartnershipDissolved,
    PartnershipFormed,
    ResourceShared,
    RollCounted,
    SchoolJoined,
    SchoolLeft,
    StaffAssigned,
    StaffReleased,
    SurveyReturned,
    schools_named,
)
from ssp_ledger.parameters import load_parameters
from ssp_ledger.partnership import Partnership, valid_time_order
from ssp_ledger.periods import TeachingCalendar, school_year
from ssp_ledger.synthetic import (
    SyntheticConfig,
    generate,
    generate_partnership,
    mean_partnership_age,
    record,
)

GRANT_END = dt.date(2011, 8, 31)
PE_DAY_START = dt.date(2011, 9, 1)
PE_DAY_END = dt.date(2013, 12, 31)

#: Three partnerships (index 2 is dissolved) over the real timeline, with fewer schools.
SMALL = SyntheticConfig(seed=7, partnerships=3, secondaries=2, primaries=8, specials=1)


def _fold(events: Iterable[DomainEvent]) -> dict[str, Partnership]:
    """Fold events through the aggregate, asserting each one is accepted as new."""
    states: dict[str, Partnership] = {}
    for event in events:
        state = states.setdefault(event.partnership_id, Partnership(event.partnership_id))
        assert state.decide(event) is True, event
        state.apply(event)
    return states


def _by_partnership(events: Iterable[DomainEvent]) -> dict[str, list[DomainEvent]]:
    out: dict[str, list[DomainEvent]] = defaultdict(list)
    for event in events:
        out[event.partnership_id].append(event)
    return dict(out)


def _term(day: dt.date) -> tuple[int, str]:
    year = day.year if day.month >= 9 else day.year - 1
    return year, "autumn" if day.month >= 9 else "spring" if day.month < 4 else "summer"


def test_same_config_gives_identical_events() -> None:
    first = list(generate(SMALL))
    assert first == list(generate(SMALL))
    assert first != list(generate(SyntheticConfig(seed=8, partnerships=3, secondaries=2,
                                                  primaries=8, specials=1)))


def test_partnership_depends_only_on_seed_and_index() -> None:
    wider = SyntheticConfig(seed=7, partnerships=5, secondaries=2, primaries=8, specials=1)
    streams = _by_partnership(generate(SMALL))
    assert list(streams) == ["ssp-000", "ssp-001", "ssp-002"]
    assert list(generate_partnership(wider, 1)) == streams["ssp-001"]


def test_limit_yields_a_prefix() -> None:
    everything = list(generate(SMALL))
    assert list(generate(SMALL, limit=1234)) == everything[:1234]
    assert list(generate(SMALL, limit=0)) == []
    assert list(generate(SMALL, limit=len(everything) + 10)) == everything
    _fold(generate(SMALL, limit=777))
    with pytest.raises(ValueError, match="limit"):
        generate(SMALL, limit=-1)


@pytest.mark.parametrize(
    "config",
    [
        SMALL,
        SyntheticConfig(seed=3, partnerships=2, secondaries=1, primaries=5, specials=1,
                        horizon=dt.date(2009, 12, 31), clubs_per_school=1),
        SyntheticConfig(seed=4, partnerships=3, secondaries=2, primaries=5, specials=0,
                        formed_on=dt.date(2010, 1, 4), horizon=dt.date(2015, 3, 31)),
        SyntheticConfig(seed=5, partnerships=1, secondaries=0, primaries=0, specials=0),
    ],
    ids=["small", "early-horizon", "late-formation", "hub-only"],
)
def test_every_event_passes_the_domain_rules(config: SyntheticConfig) -> None:
    events = list(generate(config))
    states = _fold(events)
    assert list(states) == [f"ssp-{i:03d}" for i in range(config.partnerships)]
    for stream in _by_partnership(events).values():
        assert isinstance(stream[0], PartnershipFormed)
        facts = [e for e in stream if not isinstance(e, EventCorrected | EventRetracted)]
        assert facts == stream
        assert facts == sorted(facts, key=valid_time_order)
    for event in events:
        assert config.formed_on <= event.occurred_on <= config.horizon
        state = states[event.partnership_id]
        if isinstance(event, ClubRun) and event.staff_id is not None:
            assert state.assigned(event.staff_id, event.occurred_on), event


def test_event_ids_unique_within_each_partnership() -> None:
    for pid, stream in _by_partnership(generate(SMALL)).items():
        ids = [event.event_id for event in stream]
        assert len(set(ids)) == len(ids)
        assert all(event_id.startswith(pid) for event_id in ids)


def test_leavers_are_not_named_after_leaving() -> None:
    config = SyntheticConfig(seed=11, partnerships=2, secondaries=2, primaries=10, specials=1)
    events = list(generate(config))
    left = {(e.partnership_id, e.school_id): e.occurred_on
            for e in events if isinstance(e, SchoolLeft)}
    assert left, "expected some primaries to leave"
    for event in events:
        for school_id in schools_named(event):
            last = left.get((event.partnership_id, school_id))
            assert last is None or event.occurred_on <= last


def test_grant_ends_and_pe_teacher_day_follows() -> None:
    later = dataclasses.replace(SMALL, horizon=dt.date(2014, 6, 30))
    for pid, stream in _by_partnership(generate(later)).items():
        funding = [e for e in stream if isinstance(e, FundingChanged)]
        grant = [e for e in funding if e.funding_stream == "ssp-grant"]
        assert grant[0].annual_amount_pence > 20_000_000
        assert grant[-1].occurred_on == GRANT_END + dt.timedelta(days=1)  # level 0 from 1 Sep
        assert grant[-1].annual_amount_pence == 0
        assert grant[-1].citation
        pe_day = [e for e in funding if e.funding_stream == "pe-teacher-day"]
        assert pe_day[0].occurred_on == PE_DAY_START
        assert pe_day[0].annual_amount_pence > 0
        if pid != "ssp-002":  # not dissolved: the stream stops after 31 Dec 2013
            assert (pe_day[-1].occurred_on, pe_day[-1].annual_amount_pence) == (
                PE_DAY_END + dt.timedelta(days=1), 0)

        state = Partnership(pid)
        roles: dict[str, str] = {}
        for event in stream:
            if event.occurred_on > GRANT_END:
                break
            state.apply(event)
            if isinstance(event, StaffAssigned):
                roles[event.staff_id] = event.role
        released = {e.staff_id for e in stream
                    if isinstance(e, StaffReleased) and e.occurred_on == GRANT_END}
        in_force = {
            staff_id: role for staff_id, role in roles.items()
            if role in ("PDM", "SSCO", "PLT", "COMPETITION_MANAGER")
            and state.assigned(staff_id, GRANT_END - dt.timedelta(days=1))
        }
        assert {"PDM", "SSCO", "PLT", "COMPETITION_MANAGER"} == set(in_force.values())
        assert set(in_force) <= released
        assert not any(state.assigned(staff_id, PE_DAY_START) for staff_id in in_force)

        pe_teachers: dict[str, StaffAssigned] = {}
        for e in stream:
            if isinstance(e, StaffAssigned) and e.role == "PE_TEACHER":
                pe_teachers.setdefault(e.staff_id, e)
        assert len(pe_teachers) == SMALL.secondaries + 1
        for event in pe_teachers.values():
            assert event.occurred_on == PE_DAY_START
            assert event.release_minutes_per_week == 450
            assert event.funding_stream == "pe-teacher-day"
        ends = {e.staff_id: e.occurred_on for e in stream if isinstance(e, StaffReleased)}
        assert all(ends[staff_id] == PE_DAY_END for staff_id in pe_teachers)


def test_generator_and_parameters_agree() -> None:
    """Release, hourly costs, funding levels and their dates come from parameters.toml."""
    params = load_parameters()
    config = dataclasses.replace(SMALL, formed_on=dt.date(2005, 9, 1),
                                 horizon=dt.date(2014, 6, 30))
    for stream in _by_partnership(generate(config)).values():
        assigned: dict[str, list[StaffAssigned]] = defaultdict(list)
        released: dict[str, dt.date] = {}
        secondaries = 0
        for event in stream:
            if isinstance(event, StaffAssigned):
                assigned[event.staff_id].append(event)
            elif isinstance(event, StaffReleased):
                released[event.staff_id] = event.occurred_on
            elif isinstance(event, SchoolJoined) and event.phase in ("secondary",
                                                                     "sports_college"):
                secondaries += 1
        hub = next(e for e in stream if isinstance(e, PartnershipFormed)).hub_school_id
        holders = {(e[0].role, e[0].school_id) for e in assigned.values()}
        assert ("SSCO", hub) in holders  # the hub sports college has its SSCO too
        assert ("COMPETITION_MANAGER", hub) in holders
        for staff_id, terms in assigned.items():
            role = terms[0].role
            cost = params.get(f"cost.{role}")
            release = params.get(f"release.{role}") if role != "COACH" else None
            last = released.get(staff_id, config.horizon)
            # The terms in force on every date a parameter changes are the parameters' values.
            checks = {terms[0].occurred_on} | {
                v.effective_from for p in (cost, release) if p is not None for v in p.values
                if terms[0].occurred_on <= v.effective_from <= last}
            for day in checks:
                in_force = [t for t in terms if t.occurred_on <= day][-1]
                assert in_force.hourly_cost_pence == cost.value_at(day), (staff_id, day)
                if release is not None:
                    assert in_force.release_minutes_per_week == release.value_at(day), staff_id
        for name, per in (("ssp-grant", 1), ("pe-teacher-day", secondaries)):
            param = params.get(f"funding.{name}")
            levels = [e for e in stream
                      if isinstance(e, FundingChanged) and e.funding_stream == name]
            assert levels
            ratios = set()
            for event in levels:
                entry = param.entry_at(event.occurred_on)
                assert entry is not None
                assert event.citation == entry.citation
                if entry.value == 0:
                    assert event.annual_amount_pence == 0
                    continue
                ratio = event.annual_amount_pence / (entry.value * per)
                assert 0.89 <= ratio <= 1.11
                ratios.add(round(ratio, 2))
            assert len(ratios) == 1  # one allocation per partnership, scaled with the parameter
            dates = [e.occurred_on for e in levels]
            assert dates[1:] == [v.effective_from for v in param.values
                                 if dates[0] < v.effective_from <= stream[-1].occurred_on]


def test_competition_managers_from_2005_and_the_reduced_2011_payment() -> None:
    config = dataclasses.replace(SMALL, partnerships=1, formed_on=dt.date(2005, 9, 1))
    stream = list(generate(config))
    managers = [e for e in stream
                if isinstance(e, StaffAssigned) and e.role == "COMPETITION_MANAGER"]
    # 20, 62, 91 and 226 posts for 450 partnerships, a full-time post being 2,220 minutes.
    assert [(e.occurred_on.year, e.release_minutes_per_week) for e in managers][:4] == [
        (2005, 99), (2006, 306), (2007, 449), (2008, 1115)]
    grant = {e.occurred_on: e for e in stream
             if isinstance(e, FundingChanged) and e.funding_stream == "ssp-grant"}
    full, reduced = grant[dt.date(2010, 9, 1)], grant[dt.date(2011, 4, 1)]
    assert reduced.annual_amount_pence / full.annual_amount_pence == pytest.approx(
        47 / (162 * 5 / 12), abs=0.002)
    assert "£47 million" in reduced.citation


def test_activity_falls_on_teaching_days_of_the_one_calendar() -> None:
    calendar = TeachingCalendar()
    term_starts = {t.start for y in range(2005, 2015) for t in school_year(y).terms}
    activity = (ClubRun, CompetitionHeld, LeaderTrained, CpdDelivered, ResourceShared)
    seen: Counter[str] = Counter()
    for event in generate(SMALL):
        if isinstance(event, activity):
            seen[type(event).__name__] += 1
            assert calendar.is_teaching_day(event.occurred_on), event
        elif isinstance(event, SchoolJoined) and event.occurred_on != SMALL.formed_on:
            seen["late joiner"] += 1
            assert event.occurred_on in term_starts, event
    assert set(seen) == {t.__name__ for t in activity} | {"late joiner"}


def test_dissolved_partnership_ends_on_its_dissolution() -> None:
    stream = list(generate_partnership(SMALL, 2))
    assert isinstance(stream[-1], PartnershipDissolved)
    assert stream[-1].occurred_on == PE_DAY_END
    assert not any(isinstance(e, PartnershipDissolved) for e in generate_partnership(SMALL, 0))


def test_participation_falls_after_the_grant() -> None:
    per_term: Counter[tuple[int, str]] = Counter()
    for event in generate(SMALL):
        if isinstance(event, ClubRun):
            per_term[_term(event.occurred_on)] += event.participants
    before = [v for (year, _), v in per_term.items() if year == 2010]
    after = [v for (year, _), v in per_term.items() if year >= 2011]
    early = [v for (year, _), v in per_term.items() if year == 2006]
    assert len(before) == 3
    assert after
    assert sum(after) / len(after) < sum(before) / len(before)
    assert sum(early) / len(early) < sum(before) / len(before)


def test_default_config_is_realistic_in_size_and_shape() -> None:
    events = list(generate())
    counts = Counter(type(e).__name__ for e in events)
    # One partnership of 39 schools over 2006-2013: about 20,000 events (18,909 for the default
    # seed, 18.9k-22.9k over seeds 2000-2011), nearly all of them club sessions.
    assert 15_000 <= len(events) <= 40_000
    assert counts["ClubRun"] > 0.9 * len(events)
    expected = {
        "PartnershipFormed", "SchoolJoined", "SchoolLeft", "StaffAssigned", "StaffReleased",
        "FundingChanged", "ClubRun", "CompetitionHeld", "LeaderTrained", "CpdDelivered",
        "ResourceShared", "ObjectiveSet", "EvaluationRecorded", "RollCounted", "SurveyReturned",
    }
    assert expected <= set(counts)
    kinds = Counter(e.kind for e in events if isinstance(e, CompetitionHeld))
    assert set(kinds) == {"intra_school", "inter_school", "festival"}
    for event in events:
        if isinstance(event, CompetitionHeld) and event.kind != "intra_school":
            assert 2 <= len(event.school_ids) <= 8
            assert 20 <= event.participants <= 200


def test_config_and_index_are_validated() -> None:
    with pytest.raises(ValueError, match="horizon"):
        SyntheticConfig(formed_on=dt.date(2010, 1, 1), horizon=dt.date(2009, 1, 1))
    with pytest.raises(ValueError, match="primaries"):
        SyntheticConfig(primaries=-1)
    with pytest.raises(ValueError, match="index"):
        generate_partnership(SMALL, 3)


def test_events_round_trip_through_json() -> None:
    decoder = msgspec.json.Decoder(DomainEvent)
    for event in generate(SMALL, limit=3000):
        assert decoder.decode(msgspec.json.encode(event)) == event


# --------------------------------------------------------------------------- pupils and the survey

#: Many small partnerships formed in the PESSCL waves, up to the end of the survey.
WAVES = SyntheticConfig(seed=11, partnerships=40, secondaries=2, primaries=6, specials=1,
                        formation="waves", horizon=dt.date(2010, 8, 31))


def test_waves_spread_formation_dates_and_sizes() -> None:
    params = load_parameters()
    starts = {v.effective_from for v in params.get("partnerships.formed").values}
    formed: dict[str, dt.date] = {}
    sizes: Counter[str] = Counter()
    for event in generate(WAVES):
        if isinstance(event, PartnershipFormed):
            formed[event.partnership_id] = event.occurred_on
        elif isinstance(event, SchoolJoined):
            sizes[event.partnership_id] += 1
    assert set(formed.values()) <= starts
    assert len(set(formed.values())) >= 4  # several waves in 40 draws
    assert dt.date(2000, 9, 1) in formed.values()  # the first partnerships, autumn 2000
    assert len(set(sizes.values())) > 3  # sizes vary around 1 + 2 + 6 + 1 schools
    assert all(5 <= n <= 15 for n in sizes.values())
    with pytest.raises(ValueError, match="formation must be fixed or waves"):
        SyntheticConfig(formation="wave")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="before the last PESSCL wave"):
        SyntheticConfig(formation="waves", horizon=dt.date(2005, 1, 1))
    assert mean_partnership_age(params, dt.date(2000, 8, 31)) == 0.0
    # 2003/04: 27 partnerships of 3.8 years, 61 of 2.8, 61 of 1.8 and 73 of 0.8.
    assert 1.9 < mean_partnership_age(params, dt.date(2004, 6, 20)) < 2.1


def test_survey_shares_follow_the_published_results() -> None:
    """Pupil-weighted shares over the partnerships of the waves are the national results of
    parameters.toml, year by year (two hours from 2003/04, three hours from 2008/09)."""
    params = load_parameters()
    sums: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    for event in generate(WAVES):
        if isinstance(event, SurveyReturned):
            t = sums[event.survey_year]
            t[0] += event.pupils_on_roll
            t[1] += event.pupils_2_hours
            if event.pupils_3_hours is not None:
                t[2] += event.pupils_on_roll
                t[3] += event.pupils_3_hours
    assert sorted(sums) == ["2003/04", "2004/05", "2005/06", "2006/07", "2007/08", "2008/09",
                            "2009/10"]
    for year, (surveyed, two, asked, three) in sums.items():
        start = dt.date(int(year[:4]), 9, 1)
        assert abs(100 * two / surveyed - params.value_at("survey.at_2_hours", start)) < 2.5
        national_3 = params.value_or_none("survey.at_3_hours", start)
        if national_3 is None:
            assert asked == 0
        else:
            assert asked == surveyed
            assert abs(100 * three / asked - national_3) < 2.5


def test_rolls_and_returns_come_from_member_schools_and_older_partnerships_do_better() -> None:
    events = list(generate(WAVES))
    _fold(events)  # every count and return passes the rules (a member school on the day)
    formed = {e.partnership_id: e.occurred_on for e in events
              if isinstance(e, PartnershipFormed)}
    rolls = [e for e in events if isinstance(e, RollCounted)]
    assert {e.occurred_on.month for e in rolls} == {1}
    by_cohort: dict[bool, list[int]] = defaultdict(lambda: [0, 0])
    for e in events:
        if isinstance(e, SurveyReturned) and e.survey_year == "2008/09":
            old = formed[e.partnership_id] < dt.date(2004, 9, 1)
            by_cohort[old][0] += e.pupils_on_roll
            by_cohort[old][1] += e.pupils_2_hours
    old_share = by_cohort[True][1] / by_cohort[True][0]
    young_share = by_cohort[False][1] / by_cohort[False][0]
    assert old_share > young_share
    # The fixed default history forms in 2006: no returns before 2006/07, none after 2009/10.
    years = {e.survey_year for e in generate() if isinstance(e, SurveyReturned)}
    assert years == {"2006/07", "2007/08", "2008/09", "2009/10"}


# --------------------------------------------------------------------------- England


def test_national_config_is_read_from_the_parameters() -> None:
    """One source of truth: the national size and number of partnerships are parameters."""
    params = load_parameters()
    national = SyntheticConfig.national()
    size_at = dt.date(2006, 9, 1)
    assert national.partnerships == params.get("partnerships.formed").values[-1].value == 449
    assert national.secondaries == params.value_at("partnerships.secondaries", size_at)
    assert national.primaries == params.value_at("partnerships.primaries", size_at)
    assert national.specials == params.value_at("partnerships.specials", size_at)
    assert national.formation == "waves"
    assert national.horizon == dt.date(2013, 12, 31)
    assert SyntheticConfig.national(seed=3, partnerships=5).partnerships == 5
    assert SyntheticConfig.national(seed=3) == SyntheticConfig.national(seed=3)


def test_national_partnerships_form_from_2000_to_2006_with_parameters_in_force() -> None:
    """Every wave from September 2000 appears, the early ones under the co-ordinator
    programme's name, and a partnership of the first wave is a valid history whose every
    parameter was in force when it was read (no date before a parameter's first value)."""
    national = SyntheticConfig.national(partnerships=60)
    firsts = [next(generate_partnership(national, i)) for i in range(national.partnerships)]
    assert all(isinstance(e, PartnershipFormed) for e in firsts)
    formed = Counter(e.occurred_on for e in firsts)
    assert set(formed) == {dt.date(year, 9, 1) for year in range(2000, 2007)}
    for event in firsts:
        assert isinstance(event, PartnershipFormed)
        assert event.strategy == ("PESSCL" if event.occurred_on >= dt.date(2002, 10, 1)
                                  else "School Sport Co-ordinator programme")
    oldest = next(i for i, e in enumerate(firsts) if e.occurred_on == dt.date(2000, 9, 1))
    small = dataclasses.replace(national, secondaries=2, primaries=6, specials=1)
    stream = list(generate_partnership(small, oldest))
    _fold(stream)
    assert stream[0].occurred_on == dt.date(2000, 9, 1)
    grant = [e for e in stream if isinstance(e, FundingChanged)]
    assert grant[0].occurred_on == dt.date(2000, 9, 1)
    assert grant[0].annual_amount_pence > 0
    posts = {e.role for e in stream if isinstance(e, StaffAssigned)
             and e.occurred_on == dt.date(2000, 9, 1)}
    assert {"PDM", "SSCO", "PLT"} <= posts


class _Batches:
    """A fake ledger: keeps each batch it is given, as the ledger's ``record_many`` would
    store it, and answers how many it recorded."""

    def __init__(self) -> None:
        self.batches: list[list[DomainEvent]] = []
        self.streamed: list[bool] = []

    def record_many(self, events: Iterable[DomainEvent], /) -> Any:
        self.streamed.append(not isinstance(events, Sequence))
        self.batches.append(list(events))
        return dataclasses.make_dataclass("Result", ["recorded"])(len(self.batches[-1]))


TINY_NATIONAL = dataclasses.replace(SyntheticConfig.national(seed=5, partnerships=4),
                                    secondaries=1, primaries=3, specials=0,
                                    horizon=dt.date(2007, 8, 31))


def test_record_streams_one_partnership_per_batch() -> None:
    fake = _Batches()
    seen: list[tuple[int, int]] = []
    done = record(fake, TINY_NATIONAL, progress=lambda p, n: seen.append((p, n)))
    expected = list(generate(TINY_NATIONAL))
    assert [e for batch in fake.batches for e in batch] == expected
    assert all(fake.streamed)  # generators, never lists: memory holds one partnership at most
    assert [{e.partnership_id for e in batch} for batch in fake.batches] == [
        {f"ssp-{i:03d}"} for i in range(4)]
    assert done.events == len(expected)
    assert done.partnerships == 4
    assert sum(done.cohorts.values()) == 4
    assert list(done.cohorts) == sorted(done.cohorts)
    assert seen == [(i + 1, sum(len(b) for b in fake.batches[:i + 1])) for i in range(4)]
    # A limit cuts the history where generate's limit does, mid-partnership if need be.
    cut = _Batches()
    limit = len(fake.batches[0]) + 7
    assert record(cut, TINY_NATIONAL, limit=limit).events == limit
    assert [e for batch in cut.batches for e in batch] == expected[:limit]
    assert len(cut.batches) == 2
    with pytest.raises(ValueError, match="limit must not be negative"):
        record(cut, TINY_NATIONAL, limit=-1)
