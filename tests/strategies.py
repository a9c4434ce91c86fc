"""Hypothesis strategies shared by every property test: valid partnership histories.

A history is generated structure-first (formation, memberships, staff, funding) and then activity
dated inside the memberships, so every event satisfies the domain rules whatever order the
activity is recorded in.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from hypothesis import strategies as st

from ssp_ledger.events import (
    ClubRun,
    CompetitionHeld,
    CpdDelivered,
    DomainEvent,
    FundingChanged,
    LeaderTrained,
    PartnershipFormed,
    ResourceShared,
    RollCounted,
    SchoolJoined,
    SchoolLeft,
    StaffAssigned,
    StaffReleased,
    SurveyReturned,
)
from ssp_ledger.periods import academic_year

FORMED = dt.date(2006, 9, 1)
ACTIVITIES = ("football", "netball", "dance", "athletics")
PHASES = ("secondary", "primary", "special", "sports_college")


@dataclass(frozen=True)
class History:
    """A valid history of one partnership, split so activity can be recorded in any order."""

    structure: list[DomainEvent]
    """Formation, joins, staff and funding, in an order the rules accept."""
    activity: list[DomainEvent]
    """Activity events, each valid whatever order they are recorded in."""
    exits: list[DomainEvent]
    """SchoolLeft / StaffReleased events, recordable after all activity."""
    horizon: dt.date
    """Last date any event can have."""

    @property
    def events(self) -> list[DomainEvent]:
        """Everything in a recordable order."""
        return [*self.structure, *self.activity, *self.exits]


@st.composite
def histories(draw: st.DrawFn, pid: str = "p", max_schools: int = 4,
              max_activity: int = 25) -> History:
    """A random valid history of partnership ``pid``."""
    horizon = FORMED + dt.timedelta(days=1500)
    structure: list[DomainEvent] = [PartnershipFormed(
        partnership_id=pid, occurred_on=FORMED, event_id="formed", name="P", hub_school_id="s0")]
    exits: list[DomainEvent] = []
    windows: list[tuple[str, dt.date, dt.date]] = []
    for i in range(draw(st.integers(1, max_schools))):
        school = f"s{i}"
        joined = FORMED + dt.timedelta(days=draw(st.integers(0, 400)))
        structure.append(SchoolJoined(
            partnership_id=pid, occurred_on=joined, event_id=f"join-{i}", school_id=school,
            school_name=f"School {i}", phase=draw(st.sampled_from(PHASES))))
        left: dt.date | None = None
        if draw(st.booleans()):
            left = joined + dt.timedelta(days=draw(st.integers(30, 900)))
            exits.append(SchoolLeft(partnership_id=pid, occurred_on=left, event_id=f"left-{i}",
                                    school_id=school, reason="moved"))
        end = left or horizon
        windows.append((school, joined, end))
        if draw(st.booleans()):
            start = joined + dt.timedelta(days=draw(st.integers(0, 60)))
            if start <= end:
                structure.append(StaffAssigned(
                    partnership_id=pid, occurred_on=start, event_id=f"staff-{i}",
                    staff_id=f"t{i}", role=draw(st.sampled_from(("SSCO", "PLT", "COACH"))),
                    school_id=school, release_minutes_per_week=draw(st.integers(0, 900)),
                    hourly_cost_pence=draw(st.integers(1500, 4000)),
                    funding_stream=draw(st.sampled_from(("ssp-grant", None)))))
                if draw(st.booleans()):
                    released = start + dt.timedelta(days=draw(st.integers(0, 400)))
                    if released <= end:
                        exits.append(StaffReleased(
                            partnership_id=pid, occurred_on=released, event_id=f"rel-{i}",
                            staff_id=f"t{i}", reason="grant ended"))
    for k in range(draw(st.integers(0, 3))):
        structure.append(FundingChanged(
            partnership_id=pid, occurred_on=FORMED + dt.timedelta(days=draw(st.integers(0, 1400))),
            event_id=f"fund-{k}", funding_stream="ssp-grant",
            annual_amount_pence=draw(st.integers(0, 30_000_000)), citation="test"))
    activity: list[DomainEvent] = []
    for n in range(draw(st.integers(0, max_activity))):
        school, start, end = draw(st.sampled_from(windows))
        day = start + dt.timedelta(days=draw(st.integers(0, (end - start).days)))
        kind = draw(st.sampled_from(("club", "club", "competition", "leaders", "cpd", "share",
                                     "roll", "survey")))
        eid = f"a{n}"
        if kind == "club":
            participants = draw(st.integers(0, 40))
            activity.append(ClubRun(
                partnership_id=pid, occurred_on=day, event_id=eid, club_id=f"c{n % 3}",
                school_id=school, activity=draw(st.sampled_from(ACTIVITIES)),
                participants=participants, send_participants=draw(st.integers(0, participants)),
                staff_minutes=draw(st.integers(0, 120)),
                staff_id=draw(st.sampled_from((None, f"t{school[1:]}"))),
                setting=draw(st.sampled_from(("after_school", "lunchtime", "community_club")))))
        elif kind == "competition":
            activity.append(CompetitionHeld(
                partnership_id=pid, occurred_on=day, event_id=eid, kind="festival",
                school_ids=(school,), activity=draw(st.sampled_from(ACTIVITIES)),
                participants=draw(st.integers(0, 200)), staff_minutes=draw(st.integers(0, 300))))
        elif kind == "leaders":
            activity.append(LeaderTrained(
                partnership_id=pid, occurred_on=day, event_id=eid, school_id=school,
                leader_kind="young_leader", award="L1", people=draw(st.integers(0, 20)),
                minutes=draw(st.integers(0, 600))))
        elif kind == "roll":
            activity.append(RollCounted(
                partnership_id=pid, occurred_on=day, event_id=eid, school_id=school,
                pupils_on_roll=draw(st.integers(0, 1500))))
        elif kind == "survey":
            surveyed = draw(st.integers(0, 1500))
            two = draw(st.integers(0, surveyed))
            activity.append(SurveyReturned(
                partnership_id=pid, occurred_on=day, event_id=eid, school_id=school,
                survey_year=academic_year(day).label, pupils_on_roll=surveyed,
                pupils_2_hours=two,
                pupils_3_hours=draw(st.one_of(st.none(), st.integers(0, two)))))
        elif kind == "cpd":
            activity.append(CpdDelivered(
                partnership_id=pid, occurred_on=day, event_id=eid, topic="Inclusive PE",
                teachers=draw(st.integers(0, 20)), minutes=draw(st.integers(0, 300))))
        else:
            others = [w for w in windows if w[0] != school and w[1] <= day <= w[2]]
            if others:
                to = draw(st.sampled_from(others))[0]
                activity.append(ResourceShared(
                    partnership_id=pid, occurred_on=day, event_id=eid, from_school_id=school,
                    to_school_id=to, resource="equipment", staff_minutes=draw(st.integers(0, 60)),
                    value_pence=draw(st.integers(0, 50_000))))
    return History(structure, activity, exits, horizon)


def dates(history: History) -> st.SearchStrategy[dt.date]:
    """Query dates from before formation to after the horizon."""
    return st.dates(FORMED - dt.timedelta(days=30), history.horizon + dt.timedelta(days=30))


utc_datetimes = st.datetimes(
    min_value=dt.datetime(2010, 1, 1), max_value=dt.datetime(2030, 1, 1), timezones=st.just(dt.UTC)
)
"""Timezone-aware UTC datetimes for recorded times."""


class FakeClock:
    """A ledger clock the test moves by hand (recorded time is never read from the machine)."""

    def __init__(self, start: dt.datetime = dt.datetime(2011, 1, 1, tzinfo=dt.UTC)) -> None:
        self.now = start

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, days: int = 1) -> dt.datetime:
        """Move on and return the new time."""
        self.now += dt.timedelta(days=days)
        return self.now
