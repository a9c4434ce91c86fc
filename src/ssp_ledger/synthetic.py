"""Seeded, deterministic synthetic histories of School Sport Partnerships (England).

The generator follows the real programme's shape so that projections, benchmarks and demos see
realistic data:

* a partnership forms (under the School Sport Co-ordinator programme before October 2002, then
  PESSCL) around a specialist sports college (the hub), where a full-time Partnership
  Development Manager (PDM) is based; every secondary school, the hub included,
  releases a School Sport Co-ordinator (SSCO) two days a week and each primary or special school
  a Primary Link Teacher (PLT) for about twelve days a year; schools join at the start or over
  the first two years, and a couple of primaries leave later;
* the hub holds a share of a Competition Manager from the 2005 pilot, growing with the national
  network (20 posts in 2005/06 to 226 in 2008/09 for about 450 partnerships);
* release time, hourly costs (so the September pay awards, recorded as a repeated
  ``StaffAssigned``), funding levels and the dates the grant and the PE-teacher day end are read
  from the shipped parameter set (``ssp_ledger/data/parameters.toml``, see
  :mod:`ssp_ledger.parameters`), each funding event carrying its value's citation: a partnership's
  levels are the parameters' times its own allocation (within 10% of the typical one);
* the ring-fenced grant ends: from April 2011 partnerships get the reduced payment (£47 million
  nationally for April-August 2011), every grant-funded post is released on 31 August 2011 and
  the grant falls to 0 the next day; from 1 September 2011 a smaller stream funds one day a week
  of a PE teacher in each secondary school, up to the end of 2013;
* pupils: every member school's roll is counted each January (``RollCounted``) and, in the
  years the PE and School Sport Survey ran (2003/04-2009/10), each returns the survey in late
  June (``SurveyReturned``). A school's shares are the year's national result (parameters
  ``survey.at_2_hours`` and, from 2008/09, ``survey.at_3_hours``) plus
  :data:`AGE_EFFECT_POINTS` per year its partnership is older than the national mean that year
  (:func:`mean_partnership_age`, from the waves of ``partnerships.formed``), plus a lasting
  school effect and yearly noise; so over partnerships formed in the waves the pupil-weighted
  shares follow the published results, and older partnerships do better (as the 2004 evidence
  on three-year-old partnerships found). These draws use their own generator
  (``f"{seed}:{index}:pupils"``);
* with ``formation="waves"`` partnerships form in the waves of the School Sport Co-ordinator
  programme and PESSCL (27 in September 2000, 149 by September 2002, 222 by 2003/04, 313 by
  September 2004, 449 by 2006/07: parameter ``partnerships.formed``) with sizes around the
  configured one; :meth:`SyntheticConfig.national` is the whole of England, about 450 such
  partnerships of the typical size (parameters ``partnerships.secondaries``, ``.primaries``,
  ``.specials``), some 17 million events generated one partnership at a time (see
  :func:`record`);
* activity -- weekly clubs, competitions and festivals, young-leader training, CPD and resource
  sharing -- follows the school year of :func:`ssp_ledger.periods.school_year`, the one calendar
  release time also accrues over: every such event falls on a teaching day (a term-time weekday
  outside half-term), and schools join and coaches start on term starts. Participation grows
  with the partnership's age and falls once the grant ends (fewer clubs keep running).

Everything is pure but for reading the shipped parameter set (once per process): no other I/O,
no clock, no module state (:func:`record` hands the events to a ledger it is given). Each
partnership draws from its own ``random.Random(f"{seed}:{index}")``, so the same configuration
always yields identical events, and events are built lazily one academic year at a time, so
memory stays flat however many partnerships are generated. Events of one partnership come out in
valid-date order with the same-day order the aggregate uses (structure first, then activity,
then releases, leavers and dissolution), so every prefix of the output is a valid history.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from itertools import chain, islice
from typing import Any, Literal, Protocol

from ssp_ledger.events import (
    ClubRun,
    CompetitionHeld,
    CpdDelivered,
    DomainEvent,
    EvaluationRecorded,
    FundingChanged,
    LeaderTrained,
    ObjectiveSet,
    PartnershipDissolved,
    PartnershipFormed,
    ResourceShared,
    RollCounted,
    SchoolJoined,
    SchoolLeft,
    StaffAssigned,
    StaffReleased,
    SurveyReturned,
)
from ssp_ledger.parameters import ParameterSet, default_parameters
from ssp_ledger.periods import ONE_DAY, school_year

__all__ = [
    "AGE_EFFECT_POINTS",
    "RecordedHistory",
    "Recorder",
    "SyntheticConfig",
    "generate",
    "generate_partnership",
    "mean_partnership_age",
    "record",
]


@dataclass(frozen=True, kw_only=True)
class SyntheticConfig:
    """Parameters of a synthetic run; equal configurations give identical events."""

    seed: int = 2006
    """Master seed; partnership ``i`` is seeded from ``f"{seed}:{i}"``."""
    partnerships: int = 1
    """Number of partnerships (event streams) that :func:`generate` yields."""
    secondaries: int = 6
    """Secondary schools besides the hub sports college."""
    primaries: int = 30
    """Primary schools."""
    specials: int = 2
    """Special schools."""
    formed_on: date = date(2006, 9, 1)
    """Formation date of every partnership."""
    horizon: date = date(2013, 12, 31)
    """Last valid date generated (inclusive)."""
    clubs_per_school: int = 2
    """Weekly clubs each secondary starts with (primaries and special schools start with one)."""
    formation: Literal["fixed", "waves"] = "fixed"
    """``fixed``: every partnership forms on :attr:`formed_on` with the configured number of
    schools. ``waves``: each partnership's formation date is drawn from the waves of parameter
    ``partnerships.formed`` (27 partnerships in September 2000, 149 by September 2002, 222 by
    2003/04, 313 by September 2004, 449 by 2006/07) and its size varies around the configured
    one (secondaries and primaries within 25%, specials within one), so a run holds
    partnerships of different ages and cohorts; :attr:`formed_on` is then unused."""

    @classmethod
    def national(cls, *, seed: int = 2006, partnerships: int | None = None,
                 horizon: date = date(2013, 12, 31)) -> SyntheticConfig:
        """England: every partnership of the waves (449, the last value of
        ``partnerships.formed``, unless ``partnerships`` says otherwise), each formed in its wave
        from September 2000 to September 2006 with about the typical number of schools
        (``partnerships.secondaries``, ``partnerships.primaries``, ``partnerships.specials`` as
        in force in 2006/07), up to ``horizon``.

        The full run is some 17 million events (about 39,000 a partnership: the oldest run for
        thirteen years); :func:`generate` yields them one partnership at a time and
        :func:`record` records them one partnership per batch, so neither holds more than one
        partnership's year in memory.
        """
        params = default_parameters()
        formed = params.get("partnerships.formed").values
        size = _NATIONAL_SIZE_FROM
        return cls(
            seed=seed,
            partnerships=formed[-1].value if partnerships is None else partnerships,
            secondaries=params.value_at("partnerships.secondaries", size),
            primaries=params.value_at("partnerships.primaries", size),
            specials=params.value_at("partnerships.specials", size),
            formation="waves",
            horizon=horizon,
        )

    def __post_init__(self) -> None:
        """Reject negative counts, an unknown formation option and a horizon before formation
        (before the last wave, with ``waves``)."""
        for name in ("partnerships", "secondaries", "primaries", "specials", "clubs_per_school"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"{name} must be a non-negative integer; got {value!r}")
        if self.formation not in ("fixed", "waves"):
            raise ValueError(f"formation must be fixed or waves; got {self.formation!r}")
        first = self.formed_on
        if self.formation == "waves":
            first = _waves(default_parameters())[-1][0]
        if self.horizon < first:
            what = "the last PESSCL wave" if self.formation == "waves" else "formed_on"
            raise ValueError(
                f"horizon {self.horizon.isoformat()} is before {what} {first.isoformat()}"
            )


# --------------------------------------------------------------------------- the real timeline

#: The date the national partnership size is read at: 2006/07, when every maintained school
#: belonged to one of the 449 partnerships.
_NATIONAL_SIZE_FROM = date(2006, 9, 1)
#: PESSCL (announced October 2002) took over the School Sport Co-ordinator programme's
#: partnerships; those formed before it are recorded under the programme's name.
_PESSCL_START = date(2002, 10, 1)

#: The PE and Sport Strategy for Young People (PESSYP) succeeded PESSCL from the 2008/09 year.
_PESSYP_START = date(2008, 9, 1)
#: Percentage points a partnership's survey shares gain per year of age above the national mean
#: age of partnerships that year (and lose below it), within three years either way. Estimate
#: from Hansard, HC written answer, 27 Apr 2004: 68% of pupils in schools that had been in a
#: partnership for three years took up the two hours, against 62% in all partnership schools
#: in 2003/04, when the mean partnership (over the waves of ``partnerships.formed``) was about
#: two years old: 6 points over one to two years of age, 3 to 6 points a year. The lower end is
#: kept (a judgement: the early partnerships were placed in areas of greatest need, so age and
#: selection are mixed in the comparison).
AGE_EFFECT_POINTS = 3.0
#: Spread (standard deviation, percentage points) of a school's own lasting effect on its shares,
#: and of the year-to-year noise of its returns. Estimates.
_SCHOOL_SPREAD, _YEAR_SPREAD = 4.0, 2.0
#: Pupils on roll by phase (uniform draw), about the English averages of the 2000s (estimate:
#: DfES school census, secondaries about 1,000 pupils, primaries about 230).
_ROLL = {"sports_college": (800, 1500), "secondary": (600, 1400), "primary": (90, 420),
         "special": (40, 160)}
#: Roles whose posts the grant funds, and who holds one: the hub, each secondary school
#: (the hub sports college included) or each primary and special school.
_GRANT_ROLES: tuple[tuple[str, tuple[str, ...], float], ...] = (
    ("PDM", ("hub",), 0.1),
    ("COMPETITION_MANAGER", ("hub",), 0.0),
    ("SSCO", ("sports_college", "secondary"), 0.2),
    ("PLT", ("primary", "special"), 0.15),
)
"""(role, who holds one, chance the holder is replaced at a school year's end)."""


@dataclass(frozen=True, slots=True)
class _Timeline:
    """The programme's dates, read from the parameter set's funding streams."""

    grant_end: date
    """Last day the ring-fenced grant pays (the day before ``funding.ssp-grant`` falls to 0)."""
    pe_day_start: date
    """First day of the PE-teacher day (the first non-zero ``funding.pe-teacher-day``)."""
    pe_day_end: date
    """Last funded day of the PE-teacher day."""

    @classmethod
    def of(cls, params: ParameterSet) -> _Timeline:
        pe_day = params.get("funding.pe-teacher-day").values
        return cls(grant_end=_last_funded(params, "funding.ssp-grant"),
                   pe_day_start=next(v.effective_from for v in pe_day if v.value > 0),
                   pe_day_end=_last_funded(params, "funding.pe-teacher-day"))


def _last_funded(params: ParameterSet, name: str) -> date:
    last = params.get(name).values[-1]
    if last.value != 0:
        raise ValueError(f"parameter {name!r} must end with a value of 0 (the stream's end)")
    return last.effective_from - ONE_DAY


def _waves(params: ParameterSet) -> list[tuple[date, int]]:
    """(date, partnerships formed from that date until the next) of ``partnerships.formed``."""
    out: list[tuple[date, int]] = []
    previous = 0
    for v in params.get("partnerships.formed").values:
        if v.value > previous:
            out.append((v.effective_from, v.value - previous))
        previous = max(previous, v.value)
    return out


def mean_partnership_age(params: ParameterSet, day: date) -> float:
    """Mean age in years on ``day`` of the partnerships formed by then, following the waves of
    ``partnerships.formed`` (0 before the first)."""
    formed = [(start, n) for start, n in _waves(params) if start <= day]
    total = sum(n for _, n in formed)
    if not total:
        return 0.0
    return sum(n * (day - start).days / 365.25 for start, n in formed) / total


# Same-day order; a refinement of ssp_ledger.partnership.valid_time_order.
_R_FORMED, _R_JOINED, _R_ASSIGNED, _R_FUNDING, _R_OBJECTIVE = 0, 1, 2, 3, 4
_R_ACTIVITY, _R_EVALUATION, _R_RELEASED, _R_LEFT, _R_DISSOLVED = 5, 6, 7, 8, 9

# --------------------------------------------------------------------------- vocabulary

_TOWNS = (
    "Ashbourne", "Barnsworth", "Castleford Vale", "Dunmore", "Eastleigh Downs", "Fenwick",
    "Glenfield", "Harrowgate Park", "Ingleby", "Kingsbridge", "Langton", "Marlow Heath",
    "Northgate", "Oakham Vale", "Penbury", "Redcliffe", "Stanmore Edge", "Thornbury",
    "Upton Moor", "Wexcombe",
)
_PLACES = (
    "Abbey", "Alder", "Ash Grove", "Barley Lane", "Beacon", "Beech Hill", "Birchwood", "Brook",
    "Castle", "Cedars", "Chapel End", "Church Hill", "Clayton", "Coppice", "Cross Lane", "Dale",
    "Elmfield", "Fairfield", "Fernhill", "Field End", "Fox Hollow", "Gorse Hill", "Greenacres",
    "Hawthorn", "Heath", "Highfield", "Hill Top", "Holly Bank", "Kings Meadow", "Lakeside",
    "Larkrise", "Lime Tree", "Long Lane", "Manor", "Maple", "Meadowside", "Mill Lane",
    "Moorland", "Northfield", "Oakwood", "Orchard", "Park View", "Pinewood", "Priory", "Queens",
    "Riverside", "Rosehill", "Rowan", "Southfield", "Spring Bank", "Stonebridge", "Sunnyside",
    "Thorn Lea", "Valley", "Westfield", "Willow Brook", "Windmill", "Woodlands", "Yew Tree",
)
_SAINTS = ("St Mary's", "St John's", "St Peter's", "Holy Trinity", "St Anne's", "St Joseph's")

_SECONDARY_SEASON = (
    "football", "netball", "hockey", "rugby union", "basketball", "badminton", "table tennis",
    "dance", "gymnastics", "trampolining", "cross country", "swimming", "fitness",
)
_SECONDARY_SUMMER = (
    "athletics", "cricket", "rounders", "tennis", "softball", "dance", "swimming", "badminton",
)
_PRIMARY_SEASON = (
    "football", "netball", "tag rugby", "multi-skills", "dance", "gymnastics", "quicksticks hockey",
    "mini basketball", "cross country", "swimming",
)
_PRIMARY_SUMMER = (
    "athletics", "kwik cricket", "rounders", "tennis", "multi-skills", "dance", "orienteering",
)
_SPECIAL_ALL = (
    "boccia", "new age kurling", "table cricket", "polybat", "swimming", "dance", "multi-skills",
    "goalball", "sitting volleyball",
)
_FESTIVALS = (
    "multi-skills", "dance", "athletics", "tag rugby", "kwik cricket", "gymnastics",
    "orienteering", "swimming",
)
_CPD_TOPICS = (
    "Dance in KS2", "Inclusive PE", "Gymnastics in KS1", "Assessment for learning in PE",
    "Outdoor and adventurous activities", "Games for understanding", "Athletics: Sportshall",
    "High-quality PE: what it looks like", "Swimming and water safety", "Leading playtimes",
    "Tag rugby for teachers", "Health and well-being through PE",
)
_COACH_AWARDS = (
    "FA Level 1 Certificate in Coaching Football", "England Netball Level 1 Coaching",
    "ECB Level 1 Coach", "England Athletics Leader in Running Fitness",
)
_VOLUNTEER_AWARDS = ("Step into Sport", "Young Ambassadors", "Event volunteer training")
_LEAVE_REASONS = (
    "amalgamated with a neighbouring primary school",
    "transferred to a neighbouring partnership",
    "school closed",
)


# --------------------------------------------------------------------------- plan


@dataclass(frozen=True, slots=True)
class _School:
    school_id: str
    name: str
    phase: str
    joined: date
    left: date | None

    def member(self, day: date) -> bool:
        return self.joined <= day and (self.left is None or day <= self.left)

    @property
    def secondary(self) -> bool:
        return self.phase in ("secondary", "sports_college")


@dataclass(slots=True)
class _Post:
    staff_id: str
    role: str
    school_id: str
    start: date
    end: date | None

    def in_force(self, day: date) -> bool:
        return self.start <= day and (self.end is None or day <= self.end)


@dataclass(slots=True)
class _Club:
    number: int
    weekday: int
    setting: str
    minutes: int
    base_size: int
    activity: str = ""


@dataclass(slots=True)
class _YearTally:
    competition_entries: int = 0
    leaders: int = 0
    sessions: int = 0
    attendances: int = 0
    surveyed: int = 0
    at_2_hours: int = 0
    at_3_hours: int = 0
    asked_3_hours: int = 0


#: (ordinal, rank, sequence, date, event class, fields): sorts by valid date and same-day rank.
_Spec = tuple[int, int, int, date, Callable[..., DomainEvent], dict[str, Any]]


def _academic_year(day: date) -> int:
    return day.year if day.month >= 9 else day.year - 1


def _year_label(year: int) -> str:
    return f"{year}/{(year + 1) % 100:02d}"


class _Partnership:
    """Plans one partnership's structure up front, then yields its history year by year."""

    def __init__(self, config: SyntheticConfig, index: int) -> None:
        self.config = config
        self.rng = random.Random(f"{config.seed}:{index}")
        self.pid = f"ssp-{index:03d}"
        self.params = default_parameters()
        self.t = _Timeline.of(self.params)
        self.formed = config.formed_on
        self.secondaries, self.primaries, self.specials = (
            config.secondaries, config.primaries, config.specials)
        if config.formation == "waves":
            self._draw_wave(random.Random(f"{config.seed}:{index}:formed"))
        # Rolls and survey returns draw from their own generator, so adding them left every
        # other draw of the partnership unchanged.
        self.pupil_rng = random.Random(f"{config.seed}:{index}:pupils")
        pe_day_end = self.t.pe_day_end
        self.dissolved = (
            pe_day_end
            if index % 3 == 2 and self.formed <= pe_day_end <= config.horizon
            else None
        )
        self.end = self.dissolved or config.horizon
        self.seq = 0
        self.structure: list[_Spec] = []
        self.posts: list[_Post] = []
        self.role_counts: dict[str, int] = {}
        self.town = self.rng.choice(_TOWNS)
        self.schools = self._plan_schools()
        self.hub = self.schools[0]
        self._plan_formation()
        self._plan_staff()
        self._plan_funding()
        self._plan_objectives()
        if self.dissolved is not None:
            self._add(
                self.structure, self.dissolved, _R_DISSOLVED, PartnershipDissolved,
                reason="no central funding after the PE-teacher day; schools continue through "
                "the School Games",
            )
        self.structure.sort()
        self.coordinators: dict[str, list[_Post]] = {}
        for post in self.posts:
            if post.role in ("SSCO", "PLT", "PE_TEACHER"):
                self.coordinators.setdefault(post.school_id, []).append(post)
        self.coaches = [p for p in self.posts if p.role == "COACH"]
        self.rolls: dict[str, int] = {}
        self.school_effect: dict[str, float] = {}
        self.clubs: dict[str, list[_Club]] = {}
        self.club_year: dict[str, int] = {}
        self.cut_done: set[str] = set()

    def _draw_wave(self, rng: random.Random) -> None:
        """Formation date from the PESSCL waves and a size around the configured one."""
        waves = _waves(self.params)
        pick = rng.randrange(sum(n for _, n in waves))
        for start, n in waves:
            if pick < n:
                self.formed = start
                break
            pick -= n
        cfg = self.config
        self.secondaries = max(1, round(cfg.secondaries * rng.uniform(0.75, 1.25))) \
            if cfg.secondaries else 0
        self.primaries = round(cfg.primaries * rng.uniform(0.75, 1.25))
        self.specials = max(0, cfg.specials + rng.randint(-1, 1))

    # ------------------------------------------------------------------ helpers

    def _add(
        self,
        into: list[_Spec],
        day: date,
        rank: int,
        cls: Callable[..., DomainEvent],
        **fields: Any,
    ) -> None:
        """Queue an event if ``day`` lies inside the partnership's life."""
        if self.formed <= day <= self.end:
            self.seq += 1
            into.append((day.toordinal(), rank, self.seq, day, cls, fields))

    def _term_start_after(self, after: date, within_days: int) -> date:
        """A term start after ``after`` within ``within_days`` (or ``after`` when there is none).

        Schools join, and coaches start, at the start of a term.
        """
        last = after + timedelta(days=within_days)
        starts = [
            start
            for year in range(_academic_year(after), last.year + 1)
            for start in (term.start for term in school_year(year).terms)
            if after < start <= last
        ]
        return self.rng.choice(starts) if starts else after

    def _member_days(self, school: _School, days: list[date]) -> list[date]:
        return [d for d in days if school.member(d)]

    # ------------------------------------------------------------------ structure

    def _plan_schools(self) -> list[_School]:
        rng, pid = self.rng, self.pid
        places = list(_PLACES)
        rng.shuffle(places)
        secondaries, primaries, specials = self.secondaries, self.primaries, self.specials
        needed = 1 + secondaries + primaries + specials
        names = [
            places[i % len(places)] + ("" if i < len(places) else f" {i // len(places) + 1}")
            for i in range(needed)
        ]
        schools = [_School(f"{pid}-hub", f"{names[0]} Sports College", "sports_college",
                           self.formed, None)]
        for k in range(1, secondaries + 1):
            joined = self.formed if rng.random() < 0.7 else self._term_start_after(self.formed, 730)
            suffix = rng.choice(("High School", "Community College", "School", "Academy"))
            schools.append(_School(f"{pid}-sec-{k:02d}", f"{names[k]} {suffix}", "secondary",
                                   joined, None))
        first_primary = len(schools)
        for k in range(1, primaries + 1):
            joined = self.formed if rng.random() < 0.6 else self._term_start_after(self.formed, 730)
            place = names[secondaries + k]
            if rng.random() < 0.2:
                name = f"{rng.choice(_SAINTS)} CE Primary School ({place})"
            else:
                name = f"{place} {rng.choice(('Primary School', 'Junior School', 'Infant School'))}"
            schools.append(_School(f"{pid}-pri-{k:02d}", name, "primary", joined, None))
        for k in range(1, specials + 1):
            joined = self.formed if rng.random() < 0.5 else self._term_start_after(self.formed, 730)
            place = names[secondaries + primaries + k]
            schools.append(_School(f"{pid}-spe-{k:02d}", f"{place} Special School", "special",
                                   joined, None))
        # A couple of primaries leave later, at the end of a school year.
        indexes = list(range(first_primary, first_primary + primaries))
        for i in rng.sample(indexes, min(2, primaries // 5)):
            school = schools[i]
            candidates = [
                date(year, 7, 31)
                for year in range(school.joined.year + 1, self.end.year + 1)
                if date(year, 7, 31) >= school.joined + timedelta(days=365)
                and date(year, 7, 31) <= self.end
            ]
            if candidates:
                schools[i] = _School(school.school_id, school.name, school.phase, school.joined,
                                     rng.choice(candidates))
        for school in schools:
            self._add(self.structure, school.joined, _R_JOINED, SchoolJoined,
                      school_id=school.school_id, school_name=school.name, phase=school.phase)
            if school.left is not None:
                self._add(self.structure, school.left, _R_LEFT, SchoolLeft,
                          school_id=school.school_id, reason=rng.choice(_LEAVE_REASONS))
        return schools

    def _plan_formation(self) -> None:
        self._add(
            self.structure, self.formed, _R_FORMED, PartnershipFormed,
            name=f"{self.town} School Sport Partnership", hub_school_id=self.hub.school_id,
            strategy="PESSCL" if self.formed >= _PESSCL_START
            else "School Sport Co-ordinator programme",
        )

    def _terms_at(self, role: str, day: date, minutes: int | None) -> tuple[int, int]:
        """(release minutes a week, hourly cost) of ``role`` on ``day`` from the parameters;
        ``minutes`` fixes the release of a role the parameters do not release (coaches)."""
        release = self.params.value_at(f"release.{role}", day) if minutes is None else minutes
        return release, self.params.value_at(f"cost.{role}", day)

    def _assign(
        self,
        role: str,
        school: _School,
        start: date,
        end: date | None,
        funding: str | None,
        reason: str,
        minutes: int | None = None,
    ) -> _Post:
        """Plan one post: its assignment, a change of terms each time its role's release or
        cost parameter changes while it is held (pay awards, new release time), its release."""
        self.role_counts[role] = self.role_counts.get(role, 0) + 1
        tag = {"PE_TEACHER": "pe", "COMPETITION_MANAGER": "cm"}.get(role, role.lower())
        post = _Post(f"{self.pid}-{tag}-{self.role_counts[role]:02d}", role, school.school_id,
                     start, end)
        self.posts.append(post)
        changes = sorted({v.effective_from
                          for kind in ("release", "cost") if f"{kind}.{role}" in self.params
                          for v in self.params.get(f"{kind}.{role}").values
                          if start < v.effective_from and (end is None or v.effective_from <= end)})
        terms: tuple[int, int] | None = None
        for day in (start, *changes):
            now = self._terms_at(role, day, minutes)
            if now != terms:
                terms = now
                self._add(self.structure, day, _R_ASSIGNED, StaffAssigned,
                          staff_id=post.staff_id, role=role, school_id=school.school_id,
                          release_minutes_per_week=now[0], hourly_cost_pence=now[1],
                          funding_stream=funding)
        if end is not None:
            self._add(self.structure, end, _R_RELEASED, StaffReleased,
                      staff_id=post.staff_id, reason=reason)
        return post

    def _grant_post(self, role: str, school: _School, start: date, turnover: float) -> None:
        """A grant-funded post from ``start`` to the end of the grant (or the school leaving)."""
        rng = self.rng
        if start > self.t.grant_end:
            return
        end, reason = self.t.grant_end, "grant ended"
        if school.left is not None and school.left < end:
            end, reason = school.left, "school left the partnership"
        # Occasionally the post holder leaves at the end of a school year and is replaced.
        changes = [
            date(year, 8, 31) for year in range(start.year, end.year + 1)
            if start + timedelta(days=180) < date(year, 8, 31) < end
        ]
        if changes and rng.random() < turnover:
            change = rng.choice(changes)
            self._assign(role, school, start, change, "ssp-grant", "left post")
            start = change + ONE_DAY
        self._assign(role, school, start, end, "ssp-grant", reason)

    def _first_release(self, role: str) -> date | None:
        """First date ``release.<role>`` is above zero (None if never)."""
        return next((v.effective_from for v in self.params.get(f"release.{role}").values
                     if v.value > 0), None)

    def _plan_staff(self) -> None:
        rng = self.rng
        for role, holders, turnover in _GRANT_ROLES:
            first = self._first_release(role)
            if first is None:
                continue
            for school in self.schools:
                if school.phase in holders or (school is self.hub and "hub" in holders):
                    self._grant_post(role, school, max(school.joined, first), turnover)
        secondaries = [s for s in self.schools if s.secondary]
        for school in secondaries:
            start = max(self.formed, school.joined, self.t.pe_day_start)
            if start <= self.t.pe_day_end:
                self._assign("PE_TEACHER", school, start, self.t.pe_day_end, "pe-teacher-day",
                             "pe-teacher-day funding ended")
        # Coaches paid from school budgets: their cost is hidden (no funding stream).
        for _ in range(2 + (len(secondaries) + 1) // 4):
            school = rng.choice(secondaries)
            start = self._term_start_after(school.joined, 3 * 365)
            if start > self.end:
                continue
            end: date | None = None
            reason = "contract ended"
            if rng.random() < 0.35:
                end = start + timedelta(days=rng.randint(365, 4 * 365))
            if self.dissolved is not None and (end is None or end > self.dissolved):
                end, reason = self.dissolved, "partnership dissolved"
            self._assign("COACH", school, start, end, None, reason,
                         minutes=rng.choice((180, 240, 300, 360)))

    def _plan_stream(self, stream: str, start: date, per: int, note: str) -> None:
        """FundingChanged events of ``stream`` following ``funding.<stream>`` from ``start``:
        the parameter's value times ``per`` (1, or the secondary schools of a per-school
        stream) times the partnership's own allocation (a draw around the typical level)."""
        param = self.params.get(f"funding.{stream}")
        entry = param.entry_at(start)
        dated = ([(start, entry)] if entry is not None else []) + [
            (v.effective_from, v) for v in param.values if start < v.effective_from]
        while dated and dated[0][1].value == 0:
            del dated[0]
        own = self.rng.uniform(0.9, 1.1)
        digits = -4 if param.basis == "partnership" else -2
        for i, (day, value) in enumerate(dated):
            level = int(round(value.value * per * own, digits))
            if i == 0:
                reason = f"{note}: {stream} from {day.isoformat()}"
            elif level == 0:
                reason = f"{stream} funding ended"
            else:
                reason = f"{stream} allocation from {day.isoformat()}"
            self._add(self.structure, day, _R_FUNDING, FundingChanged, funding_stream=stream,
                      annual_amount_pence=level, reason=reason, citation=value.citation)

    def _plan_funding(self) -> None:
        self._plan_stream("ssp-grant", self.formed, 1, "partnership formed")
        secondaries = sum(1 for school in self.schools if school.secondary)
        self._plan_stream("pe-teacher-day", max(self.formed, self.t.pe_day_start), secondaries,
                          "one day a week of a PE teacher per secondary school")

    def _plan_objectives(self) -> None:
        add, s = self._add, self.structure
        objectives = [
            (self.formed, "obj-2hours", "85% of pupils doing at least two hours a week of "
             "high-quality PE and school sport by 2008 (PSA target)"),
            (self.formed, "obj-competition", "More young people taking part in inter-school "
             "competition every term"),
            (self.formed, "obj-leaders", "Young leaders trained in every secondary school "
             "through Sports Leaders UK awards"),
            (self.formed, "obj-clubs", "Stronger school-club links so more pupils join "
             "community sports clubs"),
            (max(self.formed, _PESSYP_START), "obj-5hours", "Offer every 5-16 year old five hours "
             "of PE and sport a week by 2011 (PESSYP five-hour offer)"),
            (max(self.formed, self.t.pe_day_start), "obj-school-games", "Run School Games level 1 "
             "and 2 competitions with the released PE teacher day"),
        ]
        for day, objective_id, text in objectives:
            if objective_id == "obj-5hours" and day > self.t.grant_end:
                continue
            add(s, day, _R_OBJECTIVE, ObjectiveSet, objective_id=objective_id, text=text)

    # ------------------------------------------------------------------ activity

    def events(self) -> Iterator[DomainEvent]:
        """Yield the partnership's events in valid-date order, one school year at a time."""
        pid, counter, structure, position = self.pid, 0, self.structure, 0
        year = _academic_year(self.formed)
        while date(year, 9, 1) <= self.end or year == _academic_year(self.formed):
            last = min(self.end, date(year + 1, 8, 31))
            chunk: list[_Spec] = []
            while position < len(structure) and structure[position][0] <= last.toordinal():
                chunk.append(structure[position])
                position += 1
            self._year(year, chunk)
            chunk.sort()
            for _, _, _, day, cls, fields in chunk:
                counter += 1
                yield cls(partnership_id=pid, occurred_on=day,
                          event_id=f"{pid}-{counter:07d}", **fields)
            year += 1

    def _age_factor(self, day: date) -> float:
        """Participation multiplier: grows with the partnership's age, falls after the grant."""
        age = (min(day, self.t.grant_end) - self.formed).days / 365.25
        factor = 1.0 + 0.06 * max(0.0, age)
        return factor * 0.85 if day > self.t.grant_end else factor

    def _year(self, year: int, out: list[_Spec]) -> None:
        tally = _YearTally()
        for term in school_year(year).terms:
            days = [d for d in term.teaching_days() if self.formed <= d <= self.end]
            if days:
                self._term(year, term.name, days, out, tally)
        self._pupils(year, out, tally)
        self._evaluate(year, out, tally)

    # ------------------------------------------------------------------ pupils and the survey

    def _roll(self, school: _School, year: int) -> int:
        """The school's roll in ``year``: its own size, drifting a little from year to year."""
        base = self.rolls.get(school.school_id)
        if base is None:
            low, high = _ROLL[school.phase]
            base = self.rolls[school.school_id] = self.pupil_rng.randint(low, high)
            self.school_effect[school.school_id] = self.pupil_rng.gauss(0.0, _SCHOOL_SPREAD)
        return max(1, round(base * (1 + 0.005 * (year - 2006)) * self.pupil_rng.uniform(0.97,
                                                                                         1.03)))

    def _share(self, national: int, school: _School, day: date) -> float:
        """A school's expected share (per cent) around the national result of the year: the
        partnership's age against the national mean age (:data:`AGE_EFFECT_POINTS`), the
        school's lasting effect and this year's noise."""
        age = (day - self.formed).days / 365.25
        gap = max(-3.0, min(3.0, age - mean_partnership_age(self.params, day)))
        share = (national + AGE_EFFECT_POINTS * gap + self.school_effect[school.school_id]
                 + self.pupil_rng.gauss(0.0, _YEAR_SPREAD))
        return max(0.0, min(100.0, share))

    def _pupils(self, year: int, out: list[_Spec], tally: _YearTally) -> None:
        """January roll counts of every member school and, in survey years, every member
        school's PE and School Sport Survey return (late June)."""
        spring, summer = school_year(year).terms[1], school_year(year).terms[2]
        census = next((d for d in spring.teaching_days() if d >= date(year + 1, 1, 15)), None)
        if census is not None and self.formed <= census <= self.end:
            for school in self.schools:
                if school.member(census):
                    self._add(out, census, _R_ACTIVITY, RollCounted, school_id=school.school_id,
                              pupils_on_roll=self._roll(school, year))
        returned = next((d for d in summer.teaching_days() if d >= date(year + 1, 6, 20)), None)
        start = date(year, 9, 1)
        two = self.params.value_or_none("survey.at_2_hours", start)
        three = self.params.value_or_none("survey.at_3_hours", start)
        if returned is None or not two or not self.formed <= returned <= self.end:
            return
        for school in self.schools:
            if not school.member(returned):
                continue
            roll = self._roll(school, year)
            at_2 = round(roll * self._share(two, school, returned) / 100)
            at_3 = None if not three else min(
                at_2, round(roll * self._share(three, school, returned) / 100))
            self._add(out, returned, _R_ACTIVITY, SurveyReturned, school_id=school.school_id,
                      survey_year=_year_label(year), pupils_on_roll=roll, pupils_2_hours=at_2,
                      pupils_3_hours=at_3)
            tally.surveyed += roll
            tally.at_2_hours += at_2
            tally.at_3_hours += at_3 or 0
            tally.asked_3_hours += roll if at_3 is not None else 0

    def _term(self, year: int, term: str, days: list[date], out: list[_Spec],
              tally: _YearTally) -> None:
        post_grant = days[0] > self.t.grant_end
        by_weekday: dict[int, list[date]] = {}
        for day in days:
            by_weekday.setdefault(day.weekday(), []).append(day)
        for school in self.schools:
            if school.joined <= days[-1] and (school.left is None or school.left >= days[0]):
                self._clubs(year, term, school, by_weekday, post_grant, out, tally)
        self._competitions(days, post_grant, out, tally)
        self._leaders(days, post_grant, out, tally)
        self._cpd_and_resources(days, post_grant, out)

    def _update_clubs(self, year: int, school: _School, post_grant: bool) -> list[_Club]:
        """Start, grow or cut a school's clubs once per school year."""
        rng = self.rng
        clubs = self.clubs.setdefault(school.school_id, [])
        if self.club_year.get(school.school_id) == year:
            return clubs
        fresh = school.school_id not in self.club_year
        self.club_year[school.school_id] = year

        def new_club() -> _Club:
            low, high = {"special": (6, 12), "primary": (8, 20)}.get(school.phase, (12, 30))
            setting = rng.choices(("after_school", "lunchtime", "community_club"),
                                  weights=(75, 15, 10))[0]
            number = clubs[-1].number + 1 if clubs else 1
            return _Club(number, rng.randrange(5), setting, rng.choice((60, 75, 90)),
                         rng.randint(low, high))

        if fresh:
            for _ in range(self.config.clubs_per_school if school.secondary else 1):
                clubs.append(new_club())
        elif not post_grant:
            growth, cap = (0.8, self.config.clubs_per_school + 5) if school.secondary \
                else (0.4, 3)
            if rng.random() < growth and len(clubs) < cap:
                clubs.append(new_club())
        if post_grant:
            keep = 0.9 if school.school_id in self.cut_done else 0.6
            self.cut_done.add(school.school_id)
            clubs[:] = [club for club in clubs if rng.random() < keep]
            if rng.random() < 0.1:
                clubs.append(new_club())
        return clubs

    def _clubs(self, year: int, term: str, school: _School, by_weekday: dict[int, list[date]],
               post_grant: bool, out: list[_Spec], tally: _YearTally) -> None:
        rng = self.rng
        clubs = self._update_clubs(year, school, post_grant)
        season: tuple[str, ...]
        if school.phase == "special":
            season = _SPECIAL_ALL
        elif school.secondary:
            season = _SECONDARY_SUMMER if term == "summer" else _SECONDARY_SEASON
        else:
            season = _PRIMARY_SUMMER if term == "summer" else _PRIMARY_SEASON
        taken: list[str] = []
        coordinators = self.coordinators.get(school.school_id, [])
        for club in clubs:
            if club.activity not in season or club.activity in taken or rng.random() < 0.4:
                options = [a for a in season if a not in taken] or list(season)
                club.activity = rng.choice(options)
            taken.append(club.activity)
            club_id = f"{school.school_id}-club{club.number:02d}-{club.activity.replace(' ', '-')}"
            runner = rng.choices(("coordinator", "coach", "unknown"), weights=(55, 20, 25))[0]
            coach = rng.choice(self.coaches) if runner == "coach" and self.coaches else None
            days = by_weekday.get(club.weekday, [])
            if not days:
                continue
            size = club.base_size * self._age_factor(days[0]) * rng.uniform(0.9, 1.1)
            for day in days:
                if not school.member(day) or rng.random() < 0.05:
                    continue
                participants = max(1, min(45, round(size * rng.uniform(0.8, 1.15))))
                if school.phase == "special":
                    send = max(0, participants - rng.choice((0, 0, 1, 2)))
                else:
                    send = min(participants, rng.choice((0, 0, 0, 1, 1, 2, 3)))
                staff_id: str | None = None
                if runner == "coordinator":
                    for post in coordinators:
                        if post.in_force(day):
                            staff_id = post.staff_id
                            break
                elif coach is not None and coach.in_force(day):
                    staff_id = coach.staff_id
                self._add(out, day, _R_ACTIVITY, ClubRun, club_id=club_id,
                          school_id=school.school_id, activity=club.activity,
                          participants=participants, send_participants=send,
                          staff_minutes=club.minutes, staff_id=staff_id, setting=club.setting)
                tally.sessions += 1
                tally.attendances += participants

    def _competitions(self, days: list[date], post_grant: bool, out: list[_Spec],
                      tally: _YearTally) -> None:
        rng = self.rng
        if post_grant:
            era = 1.3  # School Games, run with the PE teacher day
        else:
            # Competition Managers: up to 60% more competition with a full share of one (a post
            # serving two partnerships, the PESSYP density), in proportion below it.
            cm = self.params.value_at("release.COMPETITION_MANAGER", days[0])
            era = 1.0 + 0.6 * min(1.0, cm / (self.params.value_at("release.PDM", days[0]) / 2))
        scale = era * max(1.0, len(self.schools) / 20)
        plans = ["inter_school"] * round(rng.randint(3, 5) * scale)
        plans += ["festival"] * round(rng.randint(2, 4) * scale)
        for kind in plans:
            day = rng.choice(days)
            members = [s for s in self.schools if s.member(day)]
            secondaries = [s for s in members if s.secondary]
            younger = [s for s in members if not s.secondary]
            if not secondaries:
                continue
            if kind == "inter_school" and ((len(secondaries) >= 2 and rng.random() < 0.45)
                                           or not younger):
                host = rng.choice(secondaries)
                pool = [s for s in secondaries if s is not host]
                activity = rng.choice(_SECONDARY_SEASON + _SECONDARY_SUMMER)
            else:
                host = rng.choice(secondaries)
                pool = younger
                inclusive = kind == "festival" and rng.random() < 0.15
                if inclusive:
                    activity = rng.choice(_SPECIAL_ALL[:4])
                elif kind == "festival":
                    activity = rng.choice(_FESTIVALS)
                else:
                    activity = rng.choice(_PRIMARY_SEASON + _PRIMARY_SUMMER)
            if not pool:
                continue
            guests = rng.sample(pool, rng.randint(1 if kind == "inter_school" else 2,
                                                  min(7, len(pool))) if len(pool) > 1 else 1)
            school_ids = (host.school_id, *(s.school_id for s in guests))
            per_school = rng.randint(8, 20) if kind == "inter_school" else rng.randint(15, 30)
            participants = min(200, max(20, len(school_ids) * per_school))
            self._add(out, day, _R_ACTIVITY, CompetitionHeld, kind=kind, school_ids=school_ids,
                      activity=activity, participants=participants,
                      staff_minutes=rng.randrange(120, 481, 15))
            tally.competition_entries += participants
        for school in self.schools:
            if not school.secondary or rng.random() >= 0.8:
                continue
            member_days = self._member_days(school, days)
            if member_days:
                self._add(out, rng.choice(member_days), _R_ACTIVITY, CompetitionHeld,
                          kind="intra_school", school_ids=(school.school_id,),
                          activity=rng.choice(_SECONDARY_SEASON + _SECONDARY_SUMMER),
                          participants=rng.randint(30, 200),
                          staff_minutes=rng.randrange(120, 481, 15))

    def _leaders(self, days: list[date], post_grant: bool, out: list[_Spec],
                 tally: _YearTally) -> None:
        rng = self.rng
        for school in self.schools:
            member_days = self._member_days(school, days)
            if not member_days:
                continue
            courses: list[tuple[str, str, int, int]] = []
            if school.secondary:
                if rng.random() < (0.45 if post_grant else 0.7):
                    level = "1" if rng.random() < 0.7 else "2"
                    courses.append(("young_leader", f"Sports Leaders UK Level {level}", 5, 25))
                if rng.random() < 0.15:
                    courses.append(("volunteer", rng.choice(_VOLUNTEER_AWARDS), 3, 12))
                if rng.random() < 0.1:
                    courses.append(("coach", rng.choice(_COACH_AWARDS), 2, 10))
            elif rng.random() < 0.05:
                courses.append(("young_leader", "Playground Leaders", 8, 20))
            for kind, award, low, high in courses:
                people = rng.randint(low, high)
                self._add(out, rng.choice(member_days), _R_ACTIVITY, LeaderTrained,
                          school_id=school.school_id, leader_kind=kind, award=award,
                          people=people, minutes=rng.randrange(300, 901, 30))
                tally.leaders += people

    def _cpd_and_resources(self, days: list[date], post_grant: bool, out: list[_Spec]) -> None:
        rng = self.rng
        for _ in range(rng.randint(0, 2) if post_grant else rng.randint(2, 4)):
            self._add(out, rng.choice(days), _R_ACTIVITY, CpdDelivered,
                      topic=rng.choice(_CPD_TOPICS), teachers=rng.randint(5, 30),
                      minutes=rng.randrange(90, 361, 30))
        scale = max(1.0, len(self.schools) / 20)
        count = rng.randint(1, 3) if post_grant else round(rng.randint(3, 6) * scale)
        for _ in range(count):
            day = rng.choice(days)
            givers = [s for s in self.schools if s.secondary and s.member(day)]
            takers = [s for s in self.schools if not s.secondary and s.member(day)]
            if not givers or not takers:
                continue
            resource = rng.choices(("equipment", "facility", "coach", "expertise"),
                                   weights=(40, 25, 20, 15))[0]
            value = {
                "equipment": rng.randrange(2_000, 50_001, 100),
                "facility": rng.randrange(5_000, 40_001, 500),
                "coach": rng.randrange(3_000, 20_001, 500),
                "expertise": rng.randrange(0, 10_001, 500),
            }[resource]
            minutes = rng.choice((0, 30, 60)) if resource == "equipment" \
                else rng.randrange(60, 241, 30)
            self._add(out, day, _R_ACTIVITY, ResourceShared,
                      from_school_id=rng.choice(givers).school_id,
                      to_school_id=rng.choice(takers).school_id, resource=resource,
                      staff_minutes=minutes, value_pence=value)

    def _evaluate(self, year: int, out: list[_Spec], tally: _YearTally) -> None:
        """End-of-year evaluations: the national survey (independent) and the partnership's own."""
        rng = self.rng
        day = date(year + 1, 7, 25)
        label = _year_label(year)
        if tally.surveyed and day <= self.t.grant_end:
            # The partnership's own survey result, from its schools' returns this year.
            hours, pupils, of = ((3, tally.at_3_hours, tally.asked_3_hours) if tally.asked_3_hours
                                 else (2, tally.at_2_hours, tally.surveyed))
            objective = "obj-2hours" if hours == 2 else "obj-5hours"
            self._add(out, day, _R_EVALUATION, EvaluationRecorded, objective_id=objective,
                      outcome=f"PE and School Sport Survey {label}: {100 * pupils // of}% of "
                      f"pupils in partnership schools did at least {hours} hours of PE and "
                      "school sport a week", independent=True)
        if day <= self.t.grant_end:
            self._add(out, day, _R_EVALUATION, EvaluationRecorded, objective_id="obj-competition",
                      outcome=f"Annual review {label}: {tally.competition_entries} competition "
                      f"and festival places; {tally.sessions} club sessions, "
                      f"{tally.attendances} attendances", independent=False)
            self._add(out, day, _R_EVALUATION, EvaluationRecorded, objective_id="obj-leaders",
                      outcome=f"Annual review {label}: {tally.leaders} leaders, volunteers and "
                      "coaches trained", independent=False)
        elif day <= self.t.pe_day_end:
            external = rng.random() < 0.3
            self._add(out, day, _R_EVALUATION, EvaluationRecorded,
                      objective_id="obj-school-games",
                      outcome=f"{'External s' if external else 'S'}chool Games review {label}: "
                      f"{tally.competition_entries} competition places; {tally.sessions} club "
                      "sessions", independent=external)


def generate_partnership(config: SyntheticConfig, index: int) -> Iterator[DomainEvent]:
    """Yield the history of partnership ``index`` (``"ssp-000"``, ...) in valid-date order.

    Deterministic: seeded from ``(config.seed, index)`` alone, so a partnership's events do not
    depend on how many others are generated. Raises ``ValueError`` for an index outside
    ``range(config.partnerships)``.
    """
    if not 0 <= index < config.partnerships:
        raise ValueError(f"index must be in range({config.partnerships}); got {index}")
    return _Partnership(config, index).events()


_DEFAULT_CONFIG = SyntheticConfig()


def generate(
    config: SyntheticConfig = _DEFAULT_CONFIG, *, limit: int | None = None
) -> Iterator[DomainEvent]:
    """Yield the events of partnership 0, then 1, ..., lazily; stop after ``limit`` events.

    Each partnership's events are in valid-date order, so any prefix is a valid history.
    """
    if limit is not None and limit < 0:
        raise ValueError(f"limit must not be negative; got {limit}")
    streams = chain.from_iterable(
        generate_partnership(config, index) for index in range(config.partnerships)
    )
    return streams if limit is None else islice(streams, limit)


class Recorder(Protocol):
    """Anything that records a batch of events, as :meth:`ssp_ledger.Ledger.record_many` does
    (returning a result with the number of events ``recorded``)."""

    def record_many(self, events: Iterable[DomainEvent], /) -> Any: ...


@dataclass(frozen=True, slots=True)
class RecordedHistory:
    """What :func:`record` recorded."""

    events: int
    """Events recorded."""
    partnerships: int
    """Partnerships recorded (the last one may be cut short by a limit)."""
    cohorts: dict[str, int]
    """Partnerships by the academic year they were formed in (``"2000/01"``), oldest first."""


def record(
    ledger: Recorder,
    config: SyntheticConfig = _DEFAULT_CONFIG,
    *,
    limit: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> RecordedHistory:
    """Record the synthetic history of ``config`` into ``ledger``, one partnership per batch
    (stopping after ``limit`` events), and say what was recorded.

    Each partnership is handed to ``record_many`` as a generator, so memory holds one
    partnership at most (on SQLite, not even that: it is decided and inserted in rounds inside
    the batch's transaction) and a national run of some 17 million events needs no more memory
    than one partnership does. A failure leaves the partnerships recorded before it.
    ``progress(partnerships_done, events_recorded)`` is called after each partnership. The
    ledger's clock sets the recorded times: a fixed clock gives the same store for a seed.
    """
    if limit is not None and limit < 0:
        raise ValueError(f"limit must not be negative; got {limit}")
    recorded = 0
    cohorts: dict[str, int] = {}
    done = 0
    for index in range(config.partnerships):
        left = None if limit is None else limit - recorded
        if left == 0:
            break
        events = generate_partnership(config, index)
        first = next(events)  # PartnershipFormed: structure comes first on the formation day
        cohort = _year_label(_academic_year(first.occurred_on))
        cohorts[cohort] = cohorts.get(cohort, 0) + 1
        stream = chain((first,), events)
        result = ledger.record_many(stream if left is None else islice(stream, left))
        recorded += int(result.recorded)
        done += 1
        if progress is not None:
            progress(done, recorded)
    return RecordedHistory(events=recorded, partnerships=done,
                           cohorts=dict(sorted(cohorts.items())))
