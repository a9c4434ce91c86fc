"""The behavioural response model: how partnerships carry on after a scenario's fork date.

Pure: no I/O, no clock, no module state. Given the facts of a history up to the fork, a
:class:`~ssp_ledger.parameters.ParameterSet`, optional hypothetical events, the
:class:`ResponseParameters` and a seed, :func:`simulate` returns the events of every partnership
from the fork date to the horizon. A scenario runs it twice -- once with the shipped parameters and
no hypothetical events (the baseline), once with the scenario's overrides and events -- with the
same seed and the same response parameters, so the difference between the arms is the reform
alone. The equations are documented in ``docs/researchers.md``; in short:

**Funding** (per partnership *p*, stream *s*). At each date a ``funding.<s>`` parameter changes,
the partnership's level becomes ``P_s(t) * n_s * f_ps``: the parameter's value, times the number of
secondary schools for a per-school stream (1 for a per-partnership stream), times the
partnership's own allocation relative to the parameter at the fork, ``f_ps = L_ps(fork-1) /
(P_s(fork-1) * n_s)`` (1 when either is 0). Coverage ``c_s(t) = min(1, L_s(t) / L_s(fork-1))``
(1 or 0 for a stream not running at the fork).

**Posts.** A post funded by stream *s* gets ``round(F * c_s)`` minutes of funded release a week;
schools backfill a share ``beta`` of the rest from their own budgets as a hidden assignment
(``round(F * (1 - c_s) * beta)``). ``F`` is the post's full release: its release at the fork, or
``release.<ROLE>`` for a post the model creates, scaled when that parameter changes. Hourly costs
follow ``cost.<ROLE>`` in proportion. While a stream funds a partnership, the posts of its template
(:data:`STREAM_POSTS`) exist at every member school of the right phase.

**Activity.** ``K(t)`` is the release time given to partnership work (funded and backfilled
minutes a week, all posts); ``x = min(K / K_ref, kappa)`` with ``K_ref = K(fork-1)``. Club
sessions (and so attendances and staff minutes) and resource sharing run at the reference rate
measured over the ``reference_days`` before the fork times ``M_e(x) / M_e(x0)``, ``M_e(x) = phi +
(1 - phi) * x ** e`` (elasticity ``e`` = ``sessions_elasticity``; competitions use
``competitions_elasticity``). Leader training and CPD follow PDM presence ``D`` (the PDMs' release
as a share of ``release.PDM``): rate times ``(1 - lambda * (1 - D)) / (1 - lambda * (1 - D0))``.

**Partnership age.** Longer-established partnerships do better (Hansard, 27 Apr 2004: 68% of
pupils at two hours in partnerships three years old against 62% overall). Participation -- the
expected weekly counts of club sessions and of competitions -- is also multiplied by

    G(t) = A(y(t)) / A(y_ref),    A(y) = 1 + a * min(y, Y)

where ``y(t)`` is the partnership's age in years (since its ``PartnershipFormed``) on the week's
first teaching day and ``y_ref`` its age at the middle of the reference window (the part of it
after formation), so ``G = 1`` at the reference activity and grows while the partnership ages.
``a`` is ``response.age-growth`` (per mille a year, :mod:`ssp_ledger.parameters`) and ``Y``
``response.age-growth-years``, both read as in force on the day before the fork, unless the
scenario's ``age_growth`` / ``age_growth_years`` response parameters replace them. ``G`` is the
same in both arms, so a reform's effect on participation scales with it: the same cut costs an
older partnership more sessions.

**Membership.** Every 31 July each member school other than the hub leaves with probability
``h = h_u - (h_u - h_f) * g``: ``h_f`` = ``leave_rate_funded``, ``h_u`` = ``leave_rate_unfunded``,
``g`` the partnership's total funding relative to the fork (capped at 1).

**Randomness.** Every draw comes from a generator seeded by (seed, partnership, school, week,
purpose), the same in both arms (common random numbers): a change of inputs changes only the
draws' outcomes it must, never the draws themselves.
"""

from __future__ import annotations

import datetime as dt
import math
import random
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Final

import msgspec
from pydantic import BaseModel, ConfigDict, Field

from ssp_ledger.events import (
    MAX_PENCE,
    ClubRun,
    CompetitionHeld,
    CorrectableEvent,
    CpdDelivered,
    FundingChanged,
    LeaderTrained,
    PartnershipDissolved,
    PartnershipFormed,
    ResourceShared,
    Role,
    SchoolJoined,
    SchoolLeft,
    StaffAssigned,
    StaffReleased,
)
from ssp_ledger.parameters import ParameterSet
from ssp_ledger.partnership import valid_time_order
from ssp_ledger.periods import ONE_DAY, TeachingCalendar, period_of

__all__ = [
    "STREAM_POSTS",
    "ForkState",
    "ResponseParameters",
    "age_level",
    "fork_states",
    "fact_order",
    "first_difference",
    "simulate",
    "simulate_arms",
]


STREAM_POSTS: Final[Mapping[str, tuple[tuple[Role, tuple[str, ...]], ...]]] = {
    "ssp-grant": (
        ("PDM", ("hub",)),
        ("COMPETITION_MANAGER", ("hub",)),
        ("SSCO", ("secondary", "sports_college")),
        ("PLT", ("primary", "special")),
    ),
    "pe-teacher-day": (("PE_TEACHER", ("secondary", "sports_college")),),
}
"""Posts a funding stream pays for: (role, phases of the schools that have one; ``hub`` is the
partnership's hub school). Streams not listed here bring money but no posts."""

_SECONDARY = ("secondary", "sports_college")
_COORDINATORS = ("SSCO", "PLT", "PE_TEACHER")


class ResponseParameters(BaseModel):
    """The response model's assumptions (see the module docstring and docs/researchers.md)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    sessions_elasticity: float = Field(default=0.7, ge=0, le=5)
    """Elasticity of club sessions (and resource sharing) to partnership release time."""
    competitions_elasticity: float = Field(default=1.0, ge=0, le=5)
    """Elasticity of competitions and festivals to partnership release time."""
    unfunded_share: float = Field(default=0.4, ge=0, le=1)
    """Share of the reference activity schools keep with no release time at all (phi)."""
    max_capacity_ratio: float = Field(default=2.0, ge=1, le=10)
    """Cap on release time relative to the fork (kappa): activity stops growing beyond it."""
    leaders_without_pdm: float = Field(default=0.4, ge=0, le=1)
    """Fall in leader training and CPD when no PDM is in post (lambda)."""
    backfill_share: float = Field(default=0.25, ge=0, le=1)
    """Share of lost funded release time schools keep paying for themselves, hidden (beta)."""
    leave_rate_funded: float = Field(default=0.01, ge=0, le=1)
    """Yearly probability a member school leaves at the fork's level of funding (or more)."""
    leave_rate_unfunded: float = Field(default=0.05, ge=0, le=1)
    """Yearly probability a member school leaves with no funding at all."""
    reference_days: int = Field(default=365, ge=28, le=1096)
    """Days before the fork whose activity sets the reference rates."""
    age_growth: float | None = Field(default=None, ge=0, le=1)
    """Participation growth per year of partnership age, a fraction (a); None: the parameter
    ``response.age-growth`` (per mille) in force on the day before the fork."""
    age_growth_years: float | None = Field(default=None, ge=0, le=50)
    """Age in years after which participation stops growing (Y); None: the parameter
    ``response.age-growth-years`` in force on the day before the fork."""


def fact_order(event: CorrectableEvent) -> tuple[int, int, str]:
    """Valid-time order with ties broken by event id (the greater id is applied last)."""
    return (*valid_time_order(event), event.event_id)


# --------------------------------------------------------------------------- state at the fork


@dataclass
class _Post:
    """A post the model manages: a funded assignment and its hidden backfill."""

    staff_id: str
    role: Role
    school_id: str
    stream: str | None
    full_release: float
    hourly: int
    start: dt.date
    release: int
    active: bool
    backfill: int = 0
    backfill_start: dt.date | None = None
    funded_hourly: int | None = None
    """Hourly cost of the funded assignment in force (None: not yet set by the model)."""
    backfill_hourly: int | None = None
    """Hourly cost of the backfill assignment in force."""

    @property
    def backfill_id(self) -> str:
        return f"{self.staff_id}-backfill"

    @property
    def minutes(self) -> int:
        return (self.release if self.active else 0) + self.backfill


def _term(day: dt.date) -> str:
    return period_of("term", day).label.rpartition(":")[2]


@dataclass
class ForkState:
    """One partnership as it stood on the day before the fork, with its reference activity."""

    partnership_id: str
    """The partnership."""
    hub_school_id: str = ""
    """Its hub school."""
    formed_on: dt.date | None = None
    """Its formation date (None: no ``PartnershipFormed`` before the fork)."""
    dissolved_on: dt.date | None = None
    """Dissolution date, if dissolved before the fork."""
    members: dict[str, str] = field(default_factory=dict)
    """Member schools on the day before the fork: school id -> phase."""
    posts: dict[str, _Post] = field(default_factory=dict)
    """Assignments in force on the day before the fork, by staff id."""
    levels: dict[str, int] = field(default_factory=dict)
    """Annual level in force per funding stream on the day before the fork."""
    clubs: dict[str, dict[str, list[ClubRun]]] = field(default_factory=dict)
    """Reference club sessions: school -> term name -> sessions."""
    other: dict[str, dict[str, list[CorrectableEvent]]] = field(default_factory=dict)
    """Reference partnership activity: kind (competitions, leaders, cpd, resources) -> term."""
    term_days: dict[str, int] = field(default_factory=dict)
    """Teaching days of each term name inside the reference window (after formation)."""

    def reference_age(self, fork: dt.date, reference_days: int) -> float:
        """Age in years at the middle of the reference window's part after formation."""
        if self.formed_on is None:
            return 0.0
        start = max(self.formed_on, fork - dt.timedelta(days=reference_days))
        middle = start + (fork - start) / 2
        return max(0.0, (middle - self.formed_on).days / 365.25)


def age_level(years: float, growth: float, cap: float) -> float:
    """``A(y) = 1 + a * min(y, Y)``: a partnership's participation level at age ``years``
    relative to a new one (``growth`` = a per year, ``cap`` = Y years; negative ages count 0)."""
    return 1.0 + growth * min(max(0.0, years), cap)


def _term_days(start: dt.date, end: dt.date, calendar: TeachingCalendar) -> dict[str, int]:
    """Teaching days of each term name in ``[start, end)``."""
    out: dict[str, int] = defaultdict(int)
    day = start
    while day < end:
        if calendar.is_teaching_day(day):
            out[_term(day)] += 1
        day += ONE_DAY
    return dict(out)


def fork_states(facts: Iterable[CorrectableEvent], fork: dt.date,
                reference_days: int = 365, *, ordered: bool = False) -> dict[str, ForkState]:
    """Fold facts dated before ``fork`` into each partnership's state on the day before it
    (``ordered``: ``facts`` are already in :func:`fact_order`, so they are not sorted again)."""
    calendar = TeachingCalendar()
    window_start = fork - dt.timedelta(days=reference_days)
    term_days = _term_days(window_start, fork, calendar)
    states: dict[str, ForkState] = {}
    terms: dict[dt.date, str] = {}  # term name by day (days repeat over thousands of facts)
    before = [f for f in facts if f.occurred_on < fork]
    for event in (before if ordered else sorted(before, key=fact_order)):
        pid = event.partnership_id
        state = states.get(pid)
        if state is None:
            state = states[pid] = ForkState(pid, term_days=dict(term_days))
        if isinstance(event, PartnershipFormed):
            state.hub_school_id = event.hub_school_id
            state.formed_on = event.occurred_on
            if event.occurred_on > window_start:
                # Formed inside the window: rates are per teaching day since formation.
                state.term_days = _term_days(event.occurred_on, fork, calendar)
        elif isinstance(event, PartnershipDissolved):
            state.dissolved_on = event.occurred_on
        elif isinstance(event, SchoolJoined):
            state.members[event.school_id] = event.phase
        elif isinstance(event, SchoolLeft):
            state.members.pop(event.school_id, None)
        elif isinstance(event, StaffAssigned):
            state.posts[event.staff_id] = _post_from(event, None)
        elif isinstance(event, StaffReleased):
            state.posts.pop(event.staff_id, None)
        elif isinstance(event, FundingChanged):
            state.levels[event.funding_stream] = event.annual_amount_pence
        if event.occurred_on < window_start:
            continue
        term = terms.get(event.occurred_on)
        if term is None:
            term = terms[event.occurred_on] = _term(event.occurred_on)
        if isinstance(event, ClubRun):
            state.clubs.setdefault(event.school_id, {}).setdefault(term, []).append(event)
        elif isinstance(event, CompetitionHeld | LeaderTrained | CpdDelivered | ResourceShared):
            kind = {CompetitionHeld: "competitions", LeaderTrained: "leaders",
                    CpdDelivered: "cpd", ResourceShared: "resources"}[type(event)]
            state.other.setdefault(kind, {}).setdefault(term, []).append(event)
    return states


# --------------------------------------------------------------------------- simulation


def _rng(*key: object) -> random.Random:
    return random.Random("|".join(map(str, key)))


def _count(expected: float, rng: random.Random) -> int:
    """floor(expected), plus one with probability equal to its fraction."""
    whole = math.floor(expected)
    return whole + (1 if rng.random() < expected - whole else 0)


@dataclass
class _Inputs:
    parameters: ParameterSet
    response: ResponseParameters
    seed: int
    fork: dt.date
    horizon: dt.date


class _Engine:
    """Generates one partnership's history from the fork to the horizon."""

    def __init__(self, state: ForkState, inputs: _Inputs,
                 hypothetical: Sequence[CorrectableEvent]) -> None:
        self.s = state
        self.pid = state.partnership_id
        self.inp = inputs
        self.params = inputs.parameters
        self.resp = inputs.response
        self.calendar = TeachingCalendar()
        self.members = dict(state.members)
        self.posts = {k: _copy(p) for k, p in state.posts.items()}
        self.levels = dict(state.levels)
        self.fork_levels = dict(state.levels)
        self.dissolved: dt.date | None = None
        self.day = inputs.fork
        """The next day to model."""
        self.out: list[CorrectableEvent] = []
        self.counter = 0
        self.coordinators: dict[str, str | None] = {}
        """School -> who runs a session whose runner left (see :meth:`_runner`), while the posts
        stay as they are: only :meth:`_structure` changes them, and it empties this."""
        self.created: dict[str, int] = defaultdict(int)
        self.hypothetical: dict[dt.date, list[CorrectableEvent]] = defaultdict(list)
        for event in sorted(hypothetical, key=fact_order):
            self.hypothetical[event.occurred_on].append(event)
        self.planned: dict[dt.date, list[tuple[str, CorrectableEvent]]] = defaultdict(list)
        before = inputs.fork - ONE_DAY
        self.allocation: dict[str, float] = {}
        for p in self.params.of_kind("funding"):
            level0 = self.fork_levels.get(p.key, 0)
            value0 = self.params.value_or_none(p.name, before)
            n0 = self._basis_count(p.basis)
            self.allocation[p.key] = (level0 / (value0 * n0) if level0 and value0 and n0
                                      else 1.0)
        self.k0 = self._capacity()
        self.k_ref = float(self.k0) if self.k0 > 0 else float(self._full_programme(before))
        self.x0 = self.k0 / self.k_ref if self.k_ref > 0 else 0.0
        self.d0 = self._pdm_presence(before)
        self.breakpoints = self._breakpoints()
        resp = self.resp
        growth = resp.age_growth if resp.age_growth is not None else (
            self.params.value_or_none("response.age-growth", before) or 0) / 1000
        cap = resp.age_growth_years if resp.age_growth_years is not None else float(
            self.params.value_or_none("response.age-growth-years", before) or 0)
        self.age_growth, self.age_cap = growth, cap
        self.age_ref = self._age_level(state.reference_age(inputs.fork, resp.reference_days))

    # ------------------------------------------------------------------ helpers

    def _basis_count(self, basis: str | None) -> int:
        if basis == "secondary_school":
            return sum(1 for phase in self.members.values() if phase in _SECONDARY)
        return 1

    def _age_level(self, years: float) -> float:
        return age_level(years, self.age_growth, self.age_cap)

    def _age_multiplier(self, day: dt.date) -> float:
        """G(t) = A(y(t)) / A(y_ref): participation relative to the reference, by age alone."""
        formed = self.s.formed_on
        if formed is None:
            return 1.0
        return self._age_level((day - formed).days / 365.25) / self.age_ref

    def _capacity(self) -> int:
        return sum(p.minutes for p in self.posts.values())

    def _full_programme(self, day: dt.date) -> int:
        total = 0
        for role, phases in STREAM_POSTS["ssp-grant"]:
            release = self.params.value_or_none(f"release.{role}", day) or 0
            total += release * sum(1 for school in self.members if self._fits(school, phases))
        return total

    def _pdm_presence(self, day: dt.date) -> float:
        full = self.params.value_or_none("release.PDM", day) or 0
        minutes = sum(p.minutes for p in self.posts.values() if p.role == "PDM")
        if full <= 0:
            return 1.0 if minutes > 0 else 0.0
        return min(1.0, minutes / full)

    def _fits(self, school: str, phases: tuple[str, ...]) -> bool:
        if school == self.s.hub_school_id and "hub" in phases:
            return True
        return self.members.get(school) in phases

    def _coverage(self, stream: str | None) -> float:
        if stream is None:
            return 1.0
        level = self.levels.get(stream, 0)
        level0 = self.fork_levels.get(stream, 0)
        if level0 > 0:
            return min(1.0, level / level0)
        return 1.0 if level > 0 else 0.0

    def _next_id(self) -> str:
        self.counter += 1
        return f"{self.pid}-model-{self.counter:07d}"

    def _release(self, staff_id: str, day: dt.date, reason: str) -> None:
        self.out.append(StaffReleased(partnership_id=self.pid, occurred_on=day,
                                      event_id=self._next_id(), staff_id=staff_id,
                                      reason=f"{reason} (scenario model)"))

    def _breakpoints(self) -> set[dt.date]:
        fork, horizon = self.inp.fork, self.inp.horizon
        # The fork itself: posts are brought in line with the funded templates in both arms, so
        # a later breakpoint that changes nothing (a no-op override) changes no event.
        days: set[dt.date] = {fork, *self.hypothetical}
        for kind in ("funding", "cost", "release"):
            for p in self.params.of_kind(kind):
                days.update(v.effective_from for v in p.changes(fork, horizon))
        for year in range(fork.year, horizon.year + 1):
            leave = dt.date(year, 7, 31)
            if fork <= leave <= horizon:
                days.add(leave)
        return days

    # ------------------------------------------------------------------ run

    def run(self) -> list[CorrectableEvent]:
        """Model every day up to the horizon; the events."""
        self.advance()
        return self.out

    def advance(self, until: dt.date | None = None) -> None:
        """Model the days not modelled yet up to the horizon, only those before ``until`` if
        given."""
        if self.s.dissolved_on is not None or not self.s.hub_school_id:
            return
        day, horizon = self.day, self.inp.horizon
        while day <= horizon and (until is None or day < until) and self.dissolved is None:
            if day in self.breakpoints:
                self._structure(day)
            if day == self.inp.fork or day.weekday() == 0:
                self._plan_week(day)
            self._emit_planned(day)
            if self.dissolved is not None:
                break
            day += ONE_DAY
        self.day = day

    def branch(self, inputs: _Inputs, hypothetical: Sequence[CorrectableEvent]) -> _Engine:
        """An engine for other inputs that continues from where this one stands.

        Only valid while the other inputs would have modelled the days so far exactly as these
        did (see :func:`simulate_arms`): the copy starts from this engine's state, its events so
        far included (shared, not copied: events are immutable).
        """
        other = _Engine(self.s, inputs, hypothetical)
        other.day = self.day
        other.members = dict(self.members)
        other.posts = {k: _copy(p) for k, p in self.posts.items()}
        other.levels = dict(self.levels)
        other.dissolved = self.dissolved
        other.out = list(self.out)
        other.counter = self.counter
        other.created = defaultdict(int, self.created)
        other.planned = defaultdict(list, {d: list(v) for d, v in self.planned.items()})
        return other

    # ------------------------------------------------------------------ structure

    def _structure(self, day: dt.date) -> None:
        self.coordinators.clear()  # posts may change
        hypothetical = self.hypothetical.get(day, [])
        funded_by_event = {e.funding_stream for e in hypothetical if isinstance(e, FundingChanged)}
        staff_by_event = {e.staff_id for e in hypothetical
                          if isinstance(e, StaffAssigned | StaffReleased)}
        for event in hypothetical:
            self._apply_hypothetical(event, day, staff_by_event)
        for p in self.params.of_kind("funding"):
            entry = next(iter(p.changes(day, day)), None)
            if entry is None or p.key in funded_by_event:
                continue
            level = min(MAX_PENCE, round(entry.value * self._basis_count(p.basis)
                                         * self.allocation[p.key]))
            self.out.append(FundingChanged(
                partnership_id=self.pid, occurred_on=day, event_id=self._next_id(),
                funding_stream=p.key, annual_amount_pence=level,
                reason=f"{p.name} from {day.isoformat()} (scenario model)",
                citation=entry.citation))
            self.levels[p.key] = level
        if day.month == 7 and day.day == 31:
            self._leavers(day, staff_by_event)
        self._reconcile(day, staff_by_event)
        if self.dissolved is not None:
            for post in sorted(self.posts.values(), key=lambda p: p.staff_id):
                self._end_post(post, day, staff_by_event, on=day)
            self.posts.clear()

    def _apply_hypothetical(self, event: CorrectableEvent, day: dt.date,
                            staff_by_event: set[str]) -> None:
        if isinstance(event, FundingChanged):
            self.levels[event.funding_stream] = event.annual_amount_pence
        elif isinstance(event, SchoolJoined):
            self.members[event.school_id] = event.phase
        elif isinstance(event, SchoolLeft):
            self._drop_school(event.school_id, day, staff_by_event)
        elif isinstance(event, StaffAssigned):
            self.posts[event.staff_id] = _post_from(event, self.posts.get(event.staff_id))
        elif isinstance(event, StaffReleased):
            post = self.posts.pop(event.staff_id, None)
            if post is not None and post.backfill:
                self._release(post.backfill_id, day, "post ended by a scenario event")
        elif isinstance(event, PartnershipDissolved):
            self.dissolved = day

    def _end_post(self, post: _Post, day: dt.date, staff_by_event: set[str], *,
                  on: dt.date | None = None) -> None:
        """Release both assignments of a post (on ``on``, else the day before ``day``)."""
        if post.active and post.staff_id not in staff_by_event:
            self._release(post.staff_id, on or max(post.start, day - ONE_DAY), "post ended")
        if post.backfill and post.backfill_start is not None:
            self._release(post.backfill_id, on or max(post.backfill_start, day - ONE_DAY),
                          "backfill ended")
        post.active, post.backfill = False, 0

    def _drop_school(self, school: str, day: dt.date, staff_by_event: set[str]) -> None:
        for post in sorted(self.posts.values(), key=lambda p: p.staff_id):
            if post.school_id == school:
                self._end_post(post, day, staff_by_event, on=day)
                del self.posts[post.staff_id]
        self.members.pop(school, None)

    def _funding_share(self) -> float:
        """Total funding now relative to the fork, capped at 1 (1 or 0 if none at the fork)."""
        now, then = sum(self.levels.values()), sum(self.fork_levels.values())
        if then > 0:
            return min(1.0, now / then)
        return 1.0 if now > 0 else 0.0

    def _leavers(self, day: dt.date, staff_by_event: set[str]) -> None:
        funded, unfunded = self.resp.leave_rate_funded, self.resp.leave_rate_unfunded
        rate = unfunded - (unfunded - funded) * self._funding_share()
        for school in sorted(self.members):
            if school == self.s.hub_school_id:
                continue
            if _rng(self.inp.seed, self.pid, school, day.year, "leave").random() < rate:
                self._drop_school(school, day, staff_by_event)
                self.out.append(SchoolLeft(partnership_id=self.pid, occurred_on=day,
                                           event_id=self._next_id(), school_id=school,
                                           reason="left the partnership (scenario model)"))

    def _reconcile(self, day: dt.date, staff_by_event: set[str]) -> None:
        params, before = self.params, day - ONE_DAY
        release_changed = {p.key for p in params.of_kind("release") if p.changes(day, day)}
        cost_changed = {p.key for p in params.of_kind("cost") if p.changes(day, day)}
        # Posts a funded stream's template asks for and nobody holds yet.
        for stream, template in STREAM_POSTS.items():
            if self._coverage(stream) <= 0:
                continue
            for role, phases in template:
                full = params.value_or_none(f"release.{role}", day)
                hourly = params.value_or_none(f"cost.{role}", day)
                if not full or hourly is None:
                    continue
                for school in sorted(self.members):
                    if not self._fits(school, phases) or any(
                            p.role == role and p.school_id == school and p.stream == stream
                            for p in self.posts.values()):
                        continue
                    self.created[f"{role}-{school}"] += 1
                    staff_id = (f"{self.pid}-model-{role.lower().replace('_', '-')}-{school}-"
                                f"{self.created[f'{role}-{school}']}")
                    self.posts[staff_id] = _Post(staff_id, role, school, stream, float(full),
                                                 hourly, day, release=0, active=False)
        for post in sorted(self.posts.values(), key=lambda p: p.staff_id):
            if post.staff_id in staff_by_event:
                continue
            if post.role in release_changed:
                new, old = params.value_at(f"release.{post.role}", day), \
                    params.value_or_none(f"release.{post.role}", before)
                post.full_release = post.full_release * new / old if old else float(new)
            if post.role in cost_changed:
                new, old = params.value_at(f"cost.{post.role}", day), \
                    params.value_or_none(f"cost.{post.role}", before)
                post.hourly = round(post.hourly * new / old) if old else new
            c = self._coverage(post.stream)
            funded = round(post.full_release * c)
            backfill = round(post.full_release * (1 - c) * self.resp.backfill_share)
            self._set_assignment(post, day, funded, backfill=False)
            self._set_assignment(post, day, backfill, backfill=True)

    def _set_assignment(self, post: _Post, day: dt.date, minutes: int, *, backfill: bool) -> None:
        """Start, change or end one of a post's two assignments so it gives ``minutes``."""
        staff_id = post.backfill_id if backfill else post.staff_id
        active = post.backfill > 0 if backfill else post.active
        current = post.backfill if backfill else post.release
        start = post.backfill_start if backfill else post.start
        in_force = post.backfill_hourly if backfill else post.funded_hourly
        if minutes <= 0:
            if active:
                assert start is not None
                self._release(staff_id, max(start, day - ONE_DAY),
                              "backfill no longer needed" if backfill
                              else "funding for the post ended")
            if backfill:
                post.backfill, post.backfill_start = 0, None
            else:
                post.active, post.release = False, 0
            return
        if active and minutes == current and in_force == post.hourly:
            return
        self.out.append(StaffAssigned(
            partnership_id=self.pid, occurred_on=day, event_id=self._next_id(),
            staff_id=staff_id, role=post.role, school_id=post.school_id,
            release_minutes_per_week=minutes, hourly_cost_pence=post.hourly,
            funding_stream=None if backfill else post.stream))
        if backfill:
            post.backfill, post.backfill_start, post.backfill_hourly = minutes, day, post.hourly
        else:
            post.active, post.release, post.start = True, minutes, day
            post.funded_hourly = post.hourly

    # ------------------------------------------------------------------ activity

    def _multiplier(self, x: float, elasticity: float) -> float:
        phi = self.resp.unfunded_share

        def level(v: float) -> float:
            return phi + (1 - phi) * float(min(v, self.resp.max_capacity_ratio) ** elasticity)

        base = level(self.x0)
        return level(x) / base if base > 0 else 1.0

    def _rate(self, by_term: Mapping[str, Sequence[CorrectableEvent]], term: str
              ) -> tuple[float, Sequence[CorrectableEvent]]:
        """Events per teaching day in ``term`` and the events to draw from."""
        days = self.s.term_days.get(term, 0)
        refs = by_term.get(term, ())
        if days > 0:
            return len(refs) / days, refs
        pooled = [e for events in by_term.values() for e in events]
        total = sum(self.s.term_days.values())
        return (len(pooled) / total if total else 0.0), pooled

    def _club_rate(self, school: str, term: str) -> tuple[float, Sequence[CorrectableEvent]]:
        own = self.s.clubs.get(school)
        if own:
            return self._rate(own, term)
        # A school with no reference sessions runs at its phase's average.
        phase = self.members.get(school)
        peers = [s for s, p in self.s.members.items() if p == phase and self.s.clubs.get(s)]
        if not peers:
            return 0.0, ()
        rates = [self._rate(self.s.clubs[s], term) for s in peers]
        pooled = [e for _, events in rates for e in events]
        members_of_phase = sum(1 for p in self.s.members.values() if p == phase) or 1
        return sum(r for r, _ in rates) / members_of_phase, pooled

    def _plan_week(self, day: dt.date) -> None:
        end = min(day + dt.timedelta(days=6 - day.weekday()), self.inp.horizon)
        days = [d for d in (day + dt.timedelta(days=i) for i in range((end - day).days + 1))
                if self.calendar.is_teaching_day(d)]
        if not days:
            return
        term = _term(days[0])
        x = min(self._capacity() / self.k_ref, self.resp.max_capacity_ratio) \
            if self.k_ref > 0 else 0.0
        m_sessions = self._multiplier(x, self.resp.sessions_elasticity)
        m_competitions = self._multiplier(x, self.resp.competitions_elasticity)
        age = self._age_multiplier(days[0])
        lam = self.resp.leaders_without_pdm
        presence = self._pdm_presence(day)
        base = 1 - lam * (1 - self.d0)
        m_leaders = (1 - lam * (1 - presence)) / base if base > 0 else 1.0
        seed, week = self.inp.seed, day.isoformat()
        slots = {d.weekday(): d for d in days}
        for school in sorted(self.members):
            rate, refs = self._club_rate(school, term)
            self._draw(("clubs", school), rate * len(days) * m_sessions * age, refs, days,
                       _rng(seed, self.pid, school, week, "clubs"), slots)
        for kind, m in (("competitions", m_competitions * age), ("leaders", m_leaders),
                        ("cpd", m_leaders), ("resources", m_sessions)):
            rate, refs = self._rate(self.s.other.get(kind, {}), term)
            self._draw((kind, ""), rate * len(days) * m, refs, days,
                       _rng(seed, self.pid, kind, week), slots)

    def _draw(self, what: tuple[str, str], expected: float, refs: Sequence[CorrectableEvent],
              days: list[dt.date], rng: random.Random,
              slots: Mapping[int, dt.date] | None = None) -> None:
        """Plan ``expected`` events (rounded by ``rng``) drawn from ``refs`` on ``days`` (one
        week's teaching days; ``slots`` maps their weekdays to them): each on its reference's
        weekday if that is a teaching day, else on a random one."""
        if not refs:
            return
        if slots is None:
            slots = {d.weekday(): d for d in days}
        planned, kind, count = self.planned, what[0], len(refs)
        for _ in range(_count(expected, rng)):
            ref = refs[rng.randrange(count)]
            target = slots.get(ref.occurred_on.weekday())
            if target is None:
                target = days[rng.randrange(len(days))]
            planned[target].append((kind, ref))

    def _emit_planned(self, day: dt.date) -> None:
        planned = self.planned.pop(day, None)
        if not planned:
            return
        out, pid, replace_fields = self.out, self.pid, msgspec.structs.replace
        for _kind, ref in planned:
            fields = self._activity_fields(ref)
            if fields is None:
                continue
            out.append(replace_fields(ref, partnership_id=pid, occurred_on=day,
                                      event_id=self._next_id(), **fields))

    def _activity_fields(self, ref: CorrectableEvent) -> dict[str, object] | None:
        """Fields to change when re-dating ``ref``, or None when it cannot happen now."""
        members = self.members
        if isinstance(ref, ClubRun):
            if ref.school_id not in members:
                return None
            return {"staff_id": self._runner(ref)}
        if isinstance(ref, CompetitionHeld):
            schools = tuple(s for s in ref.school_ids if s in members)
            if not schools or schools[0] != ref.school_ids[0]:
                return None
            return {"school_ids": schools}
        if isinstance(ref, LeaderTrained):
            return {} if ref.school_id in members else None
        if isinstance(ref, ResourceShared):
            ok = ref.from_school_id in members and ref.to_school_id in members
            return {} if ok else None
        return {}

    def _runner(self, ref: ClubRun) -> str | None:
        """Who runs a re-dated session: the same person if still in post, else a coordinator."""
        if ref.staff_id is None:
            return None
        post = self.posts.get(ref.staff_id)
        if post is not None and post.active:
            return post.staff_id
        school = ref.school_id
        if school in self.coordinators:
            return self.coordinators[school]
        candidates = sorted(
            (p for p in self.posts.values()
             if p.school_id == school and p.role in _COORDINATORS and p.minutes > 0),
            key=lambda p: p.staff_id)
        found = None
        for p in candidates:
            found = p.staff_id if p.active else p.backfill_id
            break
        self.coordinators[school] = found
        return found


def _post_from(event: StaffAssigned, previous: _Post | None) -> _Post:
    """The post as a StaffAssigned sets it (keeping any backfill of an earlier post)."""
    release = event.release_minutes_per_week
    post = _Post(event.staff_id, event.role, event.school_id, event.funding_stream,
                 float(release), event.hourly_cost_pence, event.occurred_on, release=release,
                 active=True, funded_hourly=event.hourly_cost_pence)
    if previous is not None and previous.backfill:
        post.backfill, post.backfill_start = previous.backfill, previous.backfill_start
        post.backfill_hourly = previous.backfill_hourly
    return post


def _copy(post: _Post) -> _Post:
    return replace(post)


def first_difference(a: ParameterSet, b: ParameterSet) -> dt.date | None:
    """The first day the two sets may answer differently (None: never): the earliest date of a
    value one set holds and the other does not. Before it every value in force, and every change,
    is the same in both; parameters that differ in anything but their dated values (or sets
    with other parameters) differ from the first day, ``date.min``."""
    if [p.name for p in a.parameters] != [p.name for p in b.parameters]:
        return dt.date.min
    first: dt.date | None = None
    for pa, pb in zip(a.parameters, b.parameters, strict=True):
        if pa == pb:
            continue
        if pa.model_dump(exclude={"values"}) != pb.model_dump(exclude={"values"}):
            return dt.date.min
        i = 0
        while i < min(len(pa.values), len(pb.values)) and pa.values[i] == pb.values[i]:
            i += 1
        days = [v.effective_from for v in (*pa.values[i:i + 1], *pb.values[i:i + 1])]
        if days and (first is None or min(days) < first):
            first = min(days)
    return first


def simulate_arms(
    state: ForkState,
    *,
    baseline: ParameterSet,
    reform: ParameterSet,
    response: ResponseParameters,
    seed: int,
    fork: dt.date,
    horizon: dt.date,
    hypothetical: Sequence[CorrectableEvent] = (),
) -> tuple[list[CorrectableEvent], list[CorrectableEvent]]:
    """One partnership's modelled events in both arms of a scenario: :func:`simulate` with the
    ``baseline`` parameters and no hypothetical events, and with the ``reform`` parameters and
    ``hypothetical`` events (the partnership's).

    The same as two :func:`simulate` calls, with the days before the arms' inputs first differ
    (:func:`first_difference` of the parameters, the first hypothetical event) modelled once:
    the model draws the same numbers in both arms, so up to that day it does the same thing.
    """
    diverge = first_difference(baseline, reform)
    if hypothetical:
        first_event = min(e.occurred_on for e in hypothetical)
        diverge = first_event if diverge is None else min(diverge, first_event)
    engine = _Engine(state, _Inputs(baseline, response, seed, fork, horizon), ())
    if diverge is None or diverge > horizon:
        events = engine.run()
        return events, list(events)
    engine.advance(diverge)
    other = engine.branch(_Inputs(reform, response, seed, fork, horizon), hypothetical)
    return engine.run(), other.run()


def simulate(
    states: Mapping[str, ForkState],
    *,
    parameters: ParameterSet,
    response: ResponseParameters,
    seed: int,
    fork: dt.date,
    horizon: dt.date,
    hypothetical: Mapping[str, Sequence[CorrectableEvent]] | None = None,
) -> list[CorrectableEvent]:
    """Model events of every partnership from ``fork`` to ``horizon`` (inclusive).

    ``hypothetical`` maps a partnership id to scenario events the model must take into account
    (their structural effects: funding levels, members, posts); they are not in the result.
    Partnerships dissolved before the fork get no events.
    """
    inputs = _Inputs(parameters, response, seed, fork, horizon)
    hypothetical = hypothetical or {}
    out: list[CorrectableEvent] = []
    for pid in sorted(states):
        out.extend(_Engine(states[pid], inputs, hypothetical.get(pid, ())).run())
    return out
