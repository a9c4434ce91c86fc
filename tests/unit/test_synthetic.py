"""Tests of the seeded synthetic-history generator (ssp_ledger.synthetic)."""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from collections.abc import Iterable

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
    SchoolJoined,
    SchoolLeft,
    StaffAssigned,
    StaffReleased,
    schools_named,
)
from ssp_ledger.partnership import Partnership, valid_time_order
from ssp_ledger.periods import TeachingCalendar, school_year
from ssp_ledger.synthetic import SyntheticConfig, generate, generate_partnership

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
    events = list(generate(SMALL))
    for pid, stream in _by_partnership(events).items():
        funding = [e for e in stream if isinstance(e, FundingChanged)]
        grant = [e for e in funding if e.funding_stream == "ssp-grant"]
        assert grant[0].annual_amount_pence > 20_000_000
        assert grant[-1].occurred_on == GRANT_END + dt.timedelta(days=1)  # level 0 from 1 Sep
        assert grant[-1].annual_amount_pence == 0
        assert grant[-1].citation
        pe_day = [e for e in funding if e.funding_stream == "pe-teacher-day"]
        assert pe_day[0].occurred_on == PE_DAY_START
        assert pe_day[0].annual_amount_pence > 0
        assert (pe_day[-1].occurred_on, pe_day[-1].annual_amount_pence) == (PE_DAY_END, 0)

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

        pe_teachers = [e for e in stream if isinstance(e, StaffAssigned) and e.role == "PE_TEACHER"]
        assert len(pe_teachers) == SMALL.secondaries + 1
        for event in pe_teachers:
            assert event.occurred_on == PE_DAY_START
            assert event.release_minutes_per_week == 450
            assert event.funding_stream == "pe-teacher-day"


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
    assert 20_000 <= len(events) <= 40_000
    expected = {
        "PartnershipFormed", "SchoolJoined", "SchoolLeft", "StaffAssigned", "StaffReleased",
        "FundingChanged", "ClubRun", "CompetitionHeld", "LeaderTrained", "CpdDelivered",
        "ResourceShared", "ObjectiveSet", "EvaluationRecorded",
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
