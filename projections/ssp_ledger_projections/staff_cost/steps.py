"""Every step of the staff-time figures of some partnerships, as arrays: what a grouped table sums.

A cumulative table (:mod:`.grouped`) needs, for each timeline of each person, the steps
:mod:`.cumulative` defines: each activity day's minutes, attendances and pence (the step of the
cumulative pence ``minutes * rate // 60`` of its stretch, anchored at the stretch's start), funded
or hidden by the level in force on that day; and each assignment's release time, in runs of
teaching days of constant funded status (:func:`~.cumulative.release_runs`). :func:`walk`
computes them once for a scope (one partnership, or every one) and one unattributed rate; a
:class:`Walk` then files them under any grouping (:meth:`Walk.codes`) without walking again.

How, without a Python step per day: every series' days and each day's own minutes and
attendances come as arrays end to end (:meth:`~.state.StaffFacts.activity_arrays`: a loaded
checkpoint's arrays as they are, :mod:`.columns`); one ``searchsorted`` of ``person << 22 |
day`` among the starts of every person's stretches finds each day's stretch; a stretch's days
are consecutive, so the cumulative minutes from its anchor are a running sum less the one
before the stretch's first day, the cumulative pence is their floor division, and a step is
the difference with the day before in the same stretch (0 at its first day): exactly the
steps :class:`~.cumulative.CostTable`'s day-by-day walk takes. A day's funded
flag is one more ``searchsorted`` among the change days of every stream. Figures that 8-byte
integers might not hold (a bound of the pence is checked first) are computed as Python integers
in object arrays: slower, never wrong.

Release time is kept per run (first teaching day, length, teaching days before it, terms): a
look-up evaluates the closed form ``per_week * k // 5`` at the run's day count, so nothing is
expanded per teaching day.

The Python part (stretches, runs, tails: O(stretches + runs)) of the national walk at the shipped
rate is what a checkpoint keeps beside the facts (:func:`plan_state`, a
:class:`~.state.WalkPlanState`); a loaded state's first national walk reads it back
(:func:`walk_planned`, equal to :func:`walk`: tests compare them) and computes only the arrays.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from typing import Any, NamedTuple, cast

import numpy as np

from ssp_ledger.events import StaffAssigned
from ssp_ledger_projections.funding_levels import StreamLevels
from ssp_ledger_projections.staff_cost.costing import NONE_LABEL, UNATTRIBUTED, label
from ssp_ledger_projections.staff_cost.cumulative import (
    OpenTail,
    assignment_pieces,
    release_runs,
)
from ssp_ledger_projections.staff_cost.rates import UnattributedRate, shipped_rate
from ssp_ledger_projections.staff_cost.state import Segment, StaffFacts, WalkPlanState

__all__ = ["PAIRS", "SCHOOLS", "TOTAL", "Walk", "pair_label", "plan_state", "planned",
           "rate_key", "walk", "walk_planned"]

TOTAL = ""
"""The one group of a table built for no grouping."""
SCHOOLS = "partnership_school"
"""Grouping by (partnership, school), labelled by :func:`pair_label` (school labels as in a
report by school): what the survey reads of every partnership at once."""
PAIRS = "partnership_stream"
"""Grouping by (partnership, funding stream), labelled by :func:`pair_label`: what the covered
figures (:mod:`.covered`) read, for every partnership at once."""
_DAY_BITS = 22
"""Bits of a day ordinal in a key ``index << 22 | day`` (``date.max`` is below ``2 ** 22``)."""
_SAFE = 1 << 60
"""Bound under which figures and their sums are computed as 8-byte integers."""
_CHUNK = 1 << 16
"""Days of series computed at once (bounds the memory of the temporaries)."""


def pair_label(pid: str, stream: str) -> str:
    """The label of a (partnership, stream) group of :data:`PAIRS` (unambiguous: JSON)."""
    return json.dumps([pid, stream])


class Walk:
    """The steps of every timeline of a scope at one unattributed rate (see the module doc)."""

    __slots__ = ("act_bound", "act_day", "act_hidden", "act_segment", "act_segments",
                 "act_values", "base", "last", "people", "rel", "rel_bound",
                 "rel_segment", "release_segments", "segment_person", "segment_terms",
                 "series_days", "series_person", "series_school", "tails", "teaching")

    def __init__(self, base: int, last: int, teaching: list[int]) -> None:
        self.base = base
        """Ordinal of the first day anything changes."""
        self.last = last
        """Ordinal of the last day anything changes but open assignments' release."""
        self.teaching = teaching
        """Teaching days in ``[base, last]``, ascending."""
        self.people: list[tuple[str, str]] = []
        """(partnership, staff label) of each person walked."""
        self.segment_person: list[int] = []
        """Per stretch, its person."""
        self.segment_terms: list[StaffAssigned | None] = []
        """Per stretch, its assignment (None: a gap)."""
        self.series_school: list[str] = []
        self.series_person: list[int] = []
        """Per series, its person."""
        """Per series, its school's label (what activity is filed under by school)."""
        self.act_day: np.ndarray = np.zeros(0, dtype=np.int64)
        """Day ordinal of each activity step."""
        self.act_segment: np.ndarray = np.zeros(0, dtype=np.int64)
        """Stretch of each activity step."""
        self.series_days: list[int] = []
        """Activity steps of each series (a series' steps follow the previous one's)."""
        self.act_values: tuple[np.ndarray, np.ndarray, np.ndarray] = (
            np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64),
            np.zeros(0, dtype=np.int64))
        """Each activity step's minutes, pence and attendances: the minutes and attendances
        are the series' own values (views of :meth:`~.state.StaffFacts.activity_arrays`' rows,
        2- to 8-byte integers), the pence 4-byte integers where every one fits, else 8-byte;
        all three Python integers where 8 bytes might not hold a sum."""
        self.act_hidden: np.ndarray = np.zeros(0, dtype=bool)
        """Whether each activity step is hidden (else funded)."""
        self.act_bound = 0
        """A bound of the magnitude of any sum of activity steps."""
        self.rel_segment: list[int] = []
        """Stretch of each release run."""
        self.rel: list[list[int]] = [[], [], [], [], [], []]
        """Per release run: first teaching index, teaching days, teaching days before it,
        minutes per week, hourly pence, funded (0 or 1)."""
        self.rel_bound = 0
        """A bound of the magnitude of any release figure (and of its intermediates)."""
        self.release_segments: list[int] = []
        """Stretches with release time (a group even when no teaching day falls in them)."""
        self.act_segments: list[int] = []
        """Stretches with an activity step."""
        self.tails: list[tuple[int, OpenTail]] = []
        """(stretch, tail) of each assignment open after :attr:`last`."""

    def act_series(self) -> np.ndarray:
        """The series of each activity step."""
        return np.repeat(np.arange(len(self.series_days), dtype=np.int32), self.series_days)

    def codes(self, by: str | None) -> tuple[list[str], np.ndarray, bool, np.ndarray, list[int]]:
        """(sorted labels; the group of each stretch, or of each series when
        ``by_series``; ``by_series``; the group of each release run; of each tail) of grouping
        ``by`` (None: one group, :data:`TOTAL`; :data:`PAIRS`; or one of
        :data:`~.grouped.GROUPINGS`). Only groups with a step or with release time; an
        activity step's group is that of its stretch (or series)."""
        by_series = by in ("school", SCHOOLS)
        of_segment = self.segment_labels(by)
        of_release = self.segment_labels("school") if by == "school" else of_segment
        of_series = self.series_labels(by) if by_series else []
        names = {of_release[s] for s in self.release_segments}
        if by_series:
            names.update(of_series)  # every series has a step
        else:
            names.update(of_segment[s] for s in self.act_segments)
        labels = sorted(names)
        index = {name: g for g, name in enumerate(labels)}
        act = np.asarray([index.get(n, -1) for n in (
            of_series if by_series else of_segment)], dtype=np.int64)
        rel_of = [index.get(n, -1) for n in of_release]
        release = np.asarray([rel_of[s] for s in self.rel_segment], dtype=np.int64)
        tails = [rel_of[s] for s, _ in self.tails]
        return labels, act, by_series, release, tails


    def series_labels(self, by: str | None) -> list[str]:
        """Each series' label in a grouping that files activity by series (``school``: its
        school; :data:`SCHOOLS`: its partnership and school)."""
        if by == SCHOOLS:
            people = self.people
            named: dict[tuple[str, str], str] = {}
            out: list[str] = []
            for p, school in zip(self.series_person, self.series_school, strict=True):
                pair = (people[p][0], school)
                found = named.get(pair)
                if found is None:
                    found = named[pair] = pair_label(*pair)
                out.append(found)
            return out
        return self.series_school

    def segment_labels(self, by: str | None) -> list[str]:
        """Each stretch's label in grouping ``by`` (``school``: its assignment's school, what
        release time is filed under)."""
        terms = self.segment_terms
        if by is None:
            return [TOTAL] * len(terms)
        if by in ("staff", "partnership"):
            column = 1 if by == "staff" else 0
            people = [person[column] for person in self.people]
            return [people[p] for p in self.segment_person]
        if by == PAIRS:
            pids = self.segment_labels("partnership")
            streams = self.segment_labels("funding_stream")
            named = {pair: pair_label(*pair) for pair in set(zip(pids, streams, strict=True))}
            return [named[pair] for pair in zip(pids, streams, strict=True)]
        if by == "role":
            return [UNATTRIBUTED if a is None else a.role for a in terms]
        if by == "funding_stream":
            return [NONE_LABEL if a is None else label(a.funding_stream) for a in terms]
        if by == "school":
            return [NONE_LABEL if a is None else label(a.school_id) for a in terms]
        if by == SCHOOLS:
            pids = self.segment_labels("partnership")
            schools = self.segment_labels("school")
            named = {pair: pair_label(*pair) for pair in set(zip(pids, schools, strict=True))}
            return [named[pair] for pair in zip(pids, schools, strict=True)]
        msg = f"no grouped cost table for grouping {by!r}"
        raise ValueError(msg)


class _Person(NamedTuple):
    """One person: partnership, staff member and timeline."""

    pid: str
    staff: str
    timeline: tuple[Segment, ...]


class _Series(NamedTuple):
    """The activity series of a walk's people, as arrays (:meth:`~.state.StaffFacts.
    activity_arrays`), series without a day left out."""

    person: list[int]
    """Each series' person."""
    schools: list[str]
    """Each series' school."""
    lengths: np.ndarray
    """Days of each series (int64)."""
    days: np.ndarray
    """Their day ordinals end to end (int32)."""
    values: np.ndarray
    """Each day's own minutes and attendances ``[day, 2]`` (integers of 2, 4 or 8 bytes; no
    row when the walk's plan asked for the days alone)."""


def _people(facts: StaffFacts, pids: Sequence[str], *, values: bool = True
            ) -> tuple[list[_Person], _Series, int | None, int | None]:
    """Every person of ``pids``, their series' days and values, and the first and last day
    anything changes (the days :func:`~.cumulative.plan_of` gives, from the series' days
    rather than the facts' dates); ``values`` false: without the days' values (a plan)."""
    people, index, starts, marks = _persons(facts, pids)
    series = _series_of(facts, pids, index, values=values)
    lengths, days = series.lengths, series.days
    if len(days):
        ends = np.cumsum(lengths)
        starts.append(int(days[ends - lengths].min()))
        marks.append(int(days[ends - 1].max()))
    if not starts:
        return people, series, None, None
    return people, series, min(starts), max(max(starts), max(marks, default=0))


def _persons(facts: StaffFacts, pids: Sequence[str]
             ) -> tuple[list[_Person], dict[tuple[str, str], int], list[int], list[int]]:
    """Every person of ``pids`` with their timeline, each one's index by (partnership, staff
    member), and the first days of their assignments and the days their ends or levels change
    (what :func:`_people` reads besides the series)."""
    people: list[_Person] = []
    index: dict[tuple[str, str], int] = {}
    starts: list[int] = []
    marks: list[int] = []
    for pid in pids:
        for staff in facts.staff_of(pid):
            timeline = facts.timeline(pid, staff)
            for seg in timeline:
                a = seg.assignment
                if a is None:
                    continue
                starts.append(a.occurred_on.toordinal())
                if seg.end is not None:
                    marks.append(seg.end.toordinal())
                levels = facts.stream_of(pid, a)
                if levels is not None and (changed := levels.last_day()) is not None:
                    marks.append(changed.toordinal())  # the level after the table stays put
            index[(pid, staff)] = len(people)
            people.append(_Person(pid, staff, timeline))
    return people, index, starts, marks


def _series_of(facts: StaffFacts, pids: Sequence[str], index: dict[tuple[str, str], int], *,
               values: bool = True) -> _Series:
    """The activity series of ``pids`` with a day, each with its person (``index``);
    ``values`` false: without the days' values where they would have to be built."""
    keys, lengths, days, rows = facts.activity_arrays(pids, values=values)
    if len(lengths) and not lengths.all():
        kept = np.flatnonzero(lengths).tolist()
        keys = [keys[i] for i in kept]
        lengths = lengths[kept]
    person: list[int] = []
    for pid, staff, _ in keys:
        p = index.get((pid, staff))
        if p is None:
            msg = f"staff facts: the walk plan has no person for ({pid!r}, {staff!r})"
            raise ValueError(msg)
        person.append(p)
    return _Series(person, [school for _, _, school in keys], lengths, days, rows)


class _Stretches(NamedTuple):
    """Every stretch of a walk (what :func:`_activity` reads besides the series), the levels
    of the streams they index, and the release days of each stretch with release time."""

    start: list[int]
    person: list[int]
    rate: list[int]
    stream: list[int]
    levels: list[StreamLevels]
    streams: list[tuple[str, str]]
    release_days: list[int]


def walk(facts: StaffFacts, pids: Sequence[str], rate: UnattributedRate, *,
         chunk: int = _CHUNK) -> Walk:
    """The steps of every timeline of partnerships ``pids``, unattributed minutes at ``rate``:
    O(stretches + runs) in Python, O(activity days) in numpy, about ``chunk`` days at a
    time."""
    out, series, stretches = _stretches(facts, pids, rate)
    out.series_person = series.person
    if len(series.days):
        _activity(out, series, stretches.start, stretches.person, stretches.rate,
                  stretches.stream, stretches.levels, chunk)
    return out


def _stretches(facts: StaffFacts, pids: Sequence[str], rate: UnattributedRate, *,
               values: bool = True) -> tuple[Walk, _Series, _Stretches]:
    """The Python part of :func:`walk`: every person's stretches, release runs and tails
    (filled into the walk), and the series and stretches its arrays are computed from
    (``values`` false: the series without their days' values, as a plan needs them)."""
    people, series, first, horizon = _people(facts, pids, values=values)
    if first is None or horizon is None:
        nothing = dt.date.max.toordinal() + 1  # every day is before the table: all zeros
        return Walk(nothing, nothing - 1, []), series, _Stretches([], [], [], [], [], [], [])
    out = Walk(first, horizon, facts.calendar.teaching_ordinals(first, horizon))
    teaching = out.teaching
    out.people = [(person.pid, label(person.staff)) for person in people]
    terms = out.segment_terms
    seg_start: list[int] = []
    seg_person = out.segment_person
    seg_rate: list[int] = []
    seg_stream: list[int] = []
    stream_index: dict[tuple[str, str], int] = {}
    stream_levels: list[StreamLevels] = []
    release_days: list[int] = []
    lo_of, count_of, done_of, per_week_of, hourly_of, funded_of = out.rel
    rel_segment = out.rel_segment
    rel_bound = 0
    gap_rate = rate.at
    out.series_school = list(map(label, series.schools))
    for p, person in enumerate(people):
        pid = person.pid
        for seg in rate.cut_gaps(person.timeline):
            s = len(seg_start)
            seg_start.append(0 if seg.start is None else seg.start.toordinal())
            seg_person.append(p)
            a = seg.assignment
            terms.append(a)
            if a is None:
                seg_rate.append(gap_rate(seg.start))
                seg_stream.append(-1)
                continue
            hourly = a.hourly_cost_pence
            seg_rate.append(hourly)
            levels = facts.stream_of(pid, a)
            q = -1
            if levels is not None:
                key = (pid, a.funding_stream or "")
                q = stream_index.get(key, -1)
                if q < 0:
                    q = stream_index[key] = len(stream_levels)
                    stream_levels.append(levels)
            seg_stream.append(q)
            per_week = a.release_minutes_per_week
            if not per_week:
                continue
            out.release_segments.append(s)
            start = a.occurred_on.toordinal()
            end = horizon if seg.end is None else seg.end.toordinal()
            pieces = assignment_pieces(levels, start, end)
            days = 0
            for run in release_runs(teaching, pieces):
                count = run.hi - run.lo
                days = run.done + count
                rel_segment.append(s)
                lo_of.append(run.lo)
                count_of.append(count)
                done_of.append(run.done)
                per_week_of.append(per_week)
                hourly_of.append(hourly)
                funded_of.append(1 if run.funded else 0)
            rel_bound += abs(per_week) * days * (abs(hourly) + 1) + 1
            release_days.append(days)
            if seg.end is None:
                minutes = per_week * days // 5
                out.tails.append((s, OpenTail(start, per_week, hourly, pieces[-1].funded,
                                              minutes, minutes * hourly // 60, days)))
    out.rel_bound = rel_bound
    return out, series, _Stretches(seg_start, seg_person, seg_rate, seg_stream, stream_levels,
                                   list(stream_index), release_days)


# --------------------------------------------------------------------------- the kept plan


def rate_key(rate: UnattributedRate) -> list[int]:
    """A dated rate as :attr:`~.state.WalkPlanState.rate` keeps it (flat rates: none)."""
    if rate.parameter is None:
        return []
    return [n for v in rate.values for n in (v.effective_from.toordinal(), v.pence)]


def _i4(values: Sequence[int]) -> bytes:
    return np.asarray(values, dtype="<i4").tobytes()


def plan_state(facts: StaffFacts, assignments: Sequence[StaffAssigned]
               ) -> WalkPlanState | None:
    """The stretches of the national walk at the shipped rate as checkpoint data
    (:class:`~.state.WalkPlanState`), its assignments indexed in ``assignments`` (the
    state's order); None without a partnership or a day."""
    pids = facts.partnerships(None)
    rate = shipped_rate()
    out, series, st = _stretches(facts, pids, rate, values=False) if pids else (
        None, None, None)
    if out is None or st is None or series is None or not out.people:
        return None
    stretch = np.zeros(0, dtype=np.int64)
    hidden = np.zeros(0, dtype=bool)
    if len(series.days):
        segment, hidden = _day_stretches(series, st.start, st.person, st.stream, st.levels,
                                         _CHUNK)
        firsts = np.searchsorted(np.asarray(st.person, dtype=np.int64),
                                 np.asarray(series.person, dtype=np.int64))
        stretch = segment.astype(np.int64) - np.repeat(firsts, series.lengths)
        del segment
    size = next(n for n in (1, 2, 4) if not len(stretch) or int(stretch.max()) < 1 << 8 * n)
    of_assignment = {id(a): i for i, a in enumerate(assignments)}
    pid_index = {pid: i for i, pid in enumerate(pids)}
    people = [(person.pid, person.staff) for person in _persons(facts, pids)[0]]
    release = out.release_segments
    tails = out.tails
    return WalkPlanState(
        pids=list(pids), rate=rate_key(rate), base=out.base, last=out.last,
        people_pid=_i4([pid_index[pid] for pid, _ in people]),
        people_staff=[staff for _, staff in people],
        seg_person=_i4(st.person), seg_start=_i4(st.start),
        seg_terms=_i4([-1 if a is None else of_assignment[id(a)] for a in out.segment_terms]),
        seg_stream=_i4(st.stream), seg_rate=np.asarray(st.rate, dtype="<i8").tobytes(),
        stream_pid=[pid for pid, _ in st.streams], stream_name=[name for _, name in st.streams],
        rel_segment=_i4(out.rel_segment), rel_lo=_i4(out.rel[0]), rel_count=_i4(out.rel[1]),
        rel_done=_i4(out.rel[2]), rel_funded=bytes(out.rel[5]),
        release_segments=_i4(release), release_days=_i4(st.release_days),
        tail_segments=_i4([s for s, _ in tails]),
        tail_funded=bytes(1 if t.funded else 0 for _, t in tails), day_size=size,
        day_stretch=stretch.astype(f"<u{size}").tobytes(),
        day_hidden=np.packbits(hidden).tobytes())


def planned(facts: StaffFacts, pids: Sequence[str], rate: UnattributedRate
            ) -> tuple[WalkPlanState, list[StaffAssigned]] | None:
    """The plan a loaded state kept, when it is the walk of ``pids`` at ``rate`` and no fact
    changed since."""
    kept = facts.kept_plan()
    if kept is None or kept[0].pids != list(pids) or kept[0].rate != rate_key(rate):
        return None
    return kept


def walk_planned(facts: StaffFacts, plan: WalkPlanState,
                 assignments: Sequence[StaffAssigned], *, chunk: int = _CHUNK) -> Walk:
    """:func:`walk` of the plan's partnerships at its rate, from the kept stretches (the
    Python part read back as arrays) and the series' arrays: equal to the walk computed."""
    out = Walk(plan.base, plan.last, facts.calendar.teaching_ordinals(plan.base, plan.last))
    pids = plan.pids

    def ints(data: bytes) -> list[int]:
        return cast("list[int]", np.frombuffer(data, dtype="<i4").tolist())

    people = list(zip((pids[p] for p in ints(plan.people_pid)), plan.people_staff,
                      strict=True))
    out.people = [(pid, label(staff)) for pid, staff in people]
    index = {person: p for p, person in enumerate(people)}
    terms = [None if i < 0 else assignments[i] for i in ints(plan.seg_terms)]
    out.segment_terms = terms
    out.segment_person = ints(plan.seg_person)
    levels: list[StreamLevels] = []
    for pid, name in zip(plan.stream_pid, plan.stream_name, strict=True):
        found = facts.funding_levels.stream(pid, name)
        if found is None:
            msg = f"staff facts: the walk plan names stream {name!r} of {pid!r} without levels"
            raise ValueError(msg)
        levels.append(found)
    rel_segment = ints(plan.rel_segment)
    run_terms = [terms[s] for s in rel_segment]
    out.rel_segment = rel_segment
    out.rel = [ints(plan.rel_lo), ints(plan.rel_count), ints(plan.rel_done),
               [a.release_minutes_per_week for a in run_terms if a is not None],
               [a.hourly_cost_pence for a in run_terms if a is not None],
               list(plan.rel_funded)]
    out.release_segments = ints(plan.release_segments)
    days_of = dict(zip(out.release_segments, ints(plan.release_days), strict=True))
    bound = 0
    for s, days in days_of.items():
        a = terms[s]
        assert a is not None  # checked when loaded: release stretches are assignments
        bound += abs(a.release_minutes_per_week) * days * (abs(a.hourly_cost_pence) + 1) + 1
    out.rel_bound = bound
    for s, funded in zip(ints(plan.tail_segments), plan.tail_funded, strict=True):
        a = terms[s]
        assert a is not None
        days = days_of[s]
        per_week, hourly = a.release_minutes_per_week, a.hourly_cost_pence
        minutes = per_week * days // 5
        out.tails.append((s, OpenTail(a.occurred_on.toordinal(), per_week, hourly,
                                      bool(funded), minutes, minutes * hourly // 60, days)))
    series = _series_of(facts, pids, index)
    out.series_school = list(map(label, series.schools))
    out.series_person = series.person
    if len(series.days):
        _activity(out, series, ints(plan.seg_start), out.segment_person,
                  np.frombuffer(plan.seg_rate, dtype="<i8").tolist(), ints(plan.seg_stream),
                  levels, chunk, _known(plan, series))
    return out


def _known(plan: WalkPlanState, series: _Series) -> tuple[np.ndarray, np.ndarray]:
    """Each activity day's stretch (an index of the walk's) and hidden flag, as the plan kept
    them; ValueError (one line) when they do not fit the series and stretches."""
    count = len(series.days)
    size = plan.day_size
    if size not in (1, 2, 4) or len(plan.day_stretch) != size * count or len(
            plan.day_hidden) != (count + 7) // 8:
        msg = (f"staff facts: the walk plan keeps {len(plan.day_stretch)} bytes of stretches "
               f"and {len(plan.day_hidden)} of flags for {count} activity days")
        raise ValueError(msg)
    seg_person = np.frombuffer(plan.seg_person, dtype="<i4")
    people = len(plan.people_staff)
    bounds = np.searchsorted(seg_person, np.arange(people + 1, dtype=np.int64))
    persons = np.asarray(series.person, dtype=np.int64)
    base = bounds[persons]  # each series' person's first stretch, and how many they have
    limit = bounds[persons + 1] - base
    offset = np.frombuffer(plan.day_stretch, dtype=f"<u{size}")
    top = np.maximum.reduceat(offset, np.cumsum(series.lengths) - series.lengths)
    bits = np.unpackbits(np.frombuffer(plan.day_hidden, dtype=np.uint8))
    if (top >= limit).any() or bits[count:].any() or (
            size > 1 and int(top.max()) < 1 << 4 * size):
        msg = ("staff facts: the walk plan's activity days name stretches of other people, "
               "set unused flags or take more bytes than they need")
        raise ValueError(msg)
    # 4-byte stretches (an index of the walk's stretches, far below 2 ** 31): half the memory.
    stretch = np.repeat(base.astype(np.int32 if len(seg_person) < 1 << 31 else np.int64),
                        series.lengths)
    np.add(stretch, offset, out=stretch, casting="unsafe")  # below ``limit``: checked above
    return stretch, bits[:count].view(bool)


def _activity(out: Walk, series: _Series, seg_start: list[int], seg_person: list[int],
              seg_rate: list[int], seg_stream: list[int], stream_levels: list[StreamLevels],
              chunk: int, known: tuple[np.ndarray, np.ndarray] | None = None) -> None:
    """Fill ``out``'s activity steps (see the module doc) from every series' days and values
    and every stretch's start, rate and stream, a chunk of series at a time: in 8-byte
    integers (kept in 4 bytes when they fit), or again in Python integers when a bound says 8
    bytes might not hold a figure or a sum. ``known``: each day's stretch and hidden flag
    already (a kept plan's), so neither is searched."""
    starts = (np.asarray(seg_person, dtype=np.int64) << _DAY_BITS) | np.asarray(
        seg_start, dtype=np.int64)
    streams = np.asarray(seg_stream, dtype=np.int64)
    rates_top = max(map(abs, seg_rate), default=0)
    person = np.asarray(series.person, dtype=np.int64)
    lengths = series.lengths
    offsets, chunks = _chunks(lengths, chunk)
    out.series_days = lengths.tolist()
    total = offsets[-1]
    changes = _changes(stream_levels)
    # The days, and a kept plan's stretches and flags, are the walk's as they are (no copy).
    out.act_day = _read_only(np.asarray(series.days, dtype=np.int32))
    if known is not None:
        out.act_segment, out.act_hidden = known
    else:
        out.act_segment = np.empty(total, dtype=np.int32)
        out.act_hidden = np.empty(total, dtype=bool)
    # Pence in 4 bytes where they fit (most), else 8, else Python integers; the minutes and
    # attendances are the series' own values (views) unless they must be Python integers.
    for dtype in (np.int32, np.int64, object) if rates_top < _SAFE else (object,):
        exact = dtype is not object
        rates: Any = np.asarray(seg_rate, dtype=np.int64 if exact else object)
        pence = np.empty(total, dtype=dtype)
        if exact:
            stored: tuple[np.ndarray, ...] = (pence,)
            out.act_values = (_read_only(series.values[:, 0]), pence,
                              _read_only(series.values[:, 1]))
        else:
            out.act_values = stored = (np.empty(total, dtype=dtype), pence,
                                       np.empty(total, dtype=dtype))
        largest = 0
        variation = 0.0
        for lo, hi in chunks:
            at, end = offsets[lo], offsets[hi]
            chunk_variation, figures = _chunk(
                out, at, lengths[lo:hi], series.days[at:end], series.values[at:end], lo,
                person, starts, rates, streams, changes, exact=exact,
                known=None if known is None else (known[0][at:end], known[1][at:end]))
            variation += chunk_variation
            if dtype is np.int32:
                largest = max(largest, int(np.abs(figures[1]).max()) if end > at else 0)
                if largest >= 1 << 31:
                    break
            for kept, figure in zip(stored, figures[1:2] if exact else figures, strict=True):
                kept[at:end] = figure
        fits = (int(variation) + 1) * (rates_top + 1) < _SAFE
        if not exact or (fits and largest < 1 << 31):
            break
    out.act_segments = np.flatnonzero(np.bincount(out.act_segment,
                                                  minlength=len(seg_start))).tolist()
    out.act_bound = (int(variation) + 1) * (rates_top + 1) + 1


def _read_only(values: np.ndarray) -> np.ndarray:
    """A read-only view of ``values``: the walk reads the series' own arrays without copying
    them, so a stray write into a walk would otherwise change the facts themselves."""
    view = values.view()
    view.flags.writeable = False
    return view


def _chunk(out: Walk, at: int, lengths: np.ndarray, days32: np.ndarray, values: np.ndarray,
           offset: int, series_person: np.ndarray, starts: np.ndarray, seg_rate: np.ndarray,
           seg_stream: np.ndarray, changes: tuple[np.ndarray, np.ndarray, np.ndarray], *,
           exact: bool, known: tuple[np.ndarray, np.ndarray] | None = None
           ) -> tuple[float, tuple[Any, Any, Any]]:
    """The activity steps of some series (the ``offset``-th on, with ``lengths`` days each,
    ``values`` each day's own minutes and attendances): their days, series, stretches and
    funded flags written into ``out``'s arrays from index ``at`` (unless ``known``: the
    walk's arrays are those already); (a bound of the sum of the
    minutes' and attendances' sizes, and the minutes, pence and attendances of each step).
    The cumulative minutes of a stretch are a running sum of the chunk's minutes less the
    running sum before the stretch's first day: every intermediate is at most that bound."""
    count = len(days32)
    end = at + count
    minutes_step: Any = values[:, 0]  # the day's own minutes
    seen_step: Any = values[:, 1]  # and attendances
    variation = (float(np.abs(minutes_step.astype(np.float64)).sum())
                 + float(np.abs(seen_step.astype(np.float64)).sum()) + count)
    if not exact:
        minutes_step = minutes_step.astype(object)  # Python integers: never overflow
        seen_step = seen_step.astype(object)
    new = np.zeros(count, dtype=bool)  # the first day of a stretch in a series
    new[(np.cumsum(lengths) - lengths)[lengths > 0]] = True
    if known is None:
        segment, hidden = _segments(days32, lengths, offset, series_person, starts, seg_stream,
                                    changes)
    else:
        segment, hidden = known
    new[1:] |= segment[1:] != segment[:-1]
    firsts = np.flatnonzero(new)
    # Cumulative minutes from the stretch's start, and their pence at its rate.
    running = np.cumsum(minutes_step)
    minutes = running - np.repeat(running[firsts] - minutes_step[firsts],
                                  np.diff(np.r_[firsts, count]))
    del running
    pence: Any = minutes * seg_rate[segment] // 60
    del minutes
    pence_step: Any = pence.copy()
    pence_step[1:] -= pence[:-1]
    pence_step[firsts] = pence[firsts]
    if known is None:  # else the walk's arrays are the plan's
        out.act_segment[at:end] = segment
        out.act_hidden[at:end] = hidden
    return variation, (minutes_step, pence_step, seen_step)


def _chunks(lengths: np.ndarray, chunk: int) -> tuple[list[int], list[tuple[int, int]]]:
    """Where each series' days start (one more at the end: their count), and the runs of
    series ``(first, end)`` of about ``chunk`` days each that the walk takes at a time."""
    offsets: list[int] = np.r_[0, np.cumsum(lengths)].tolist()
    chunks: list[tuple[int, int]] = []
    first = size = 0
    for i, n in enumerate(lengths.tolist()):
        size += n
        if size >= chunk or i + 1 == len(lengths):
            chunks.append((first, i + 1))
            first, size = i + 1, 0
    return offsets, chunks


def _segments(days32: np.ndarray, lengths: np.ndarray, offset: int, series_person: np.ndarray,
              starts: np.ndarray, seg_stream: np.ndarray,
              changes: tuple[np.ndarray, np.ndarray, np.ndarray]
              ) -> tuple[np.ndarray, np.ndarray]:
    """Each day's stretch (an index of ``starts``) and whether its step is hidden (its
    stretch's stream has no level above 0 that day), for some series (the ``offset``-th on,
    with ``lengths`` days each)."""
    days = days32.astype(np.int64)
    series = np.repeat(np.arange(offset, offset + len(lengths), dtype=np.int64), lengths)
    segment = np.searchsorted(
        starts, (series_person[series] << _DAY_BITS) | days, side="right") - 1
    return segment, ~_funded(days, seg_stream[segment], changes)


def _day_stretches(series: _Series, seg_start: list[int], seg_person: list[int],
                   seg_stream: list[int], stream_levels: list[StreamLevels], chunk: int
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Each activity day's stretch and hidden flag, what :func:`_activity` writes into
    ``act_segment`` and ``act_hidden``, without the minutes, pence and attendances of its
    steps (a plan keeps these two only): the same :func:`_segments`, a chunk at a time."""
    starts = (np.asarray(seg_person, dtype=np.int64) << _DAY_BITS) | np.asarray(
        seg_start, dtype=np.int64)
    streams = np.asarray(seg_stream, dtype=np.int64)
    person = np.asarray(series.person, dtype=np.int64)
    changes = _changes(stream_levels)
    offsets, chunks = _chunks(series.lengths, chunk)
    segment = np.empty(offsets[-1], dtype=np.int32)
    hidden = np.empty(offsets[-1], dtype=bool)
    for lo, hi in chunks:
        at, end = offsets[lo], offsets[hi]
        segment[at:end], hidden[at:end] = _segments(
            series.days[at:end], series.lengths[lo:hi], lo, person, starts, streams, changes)
    return segment, hidden


def _changes(levels: list[StreamLevels]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The change days of every stream as keys ``stream << 22 | day`` (ascending), whether the
    level from each is above 0 (one more False at the end), and each stream's first key."""
    change_keys: list[int] = []
    positive: list[bool] = []
    firsts: list[int] = []
    for q, stream_levels in enumerate(levels):
        on, values = stream_levels.steps()
        firsts.append(len(change_keys))
        change_keys += [(q << _DAY_BITS) | d for d in on]
        positive += [v > 0 for v in values]
    return (np.asarray(change_keys, dtype=np.int64), np.asarray([*positive, False], dtype=bool),
            np.asarray(firsts, dtype=np.int64))


def _funded(days: np.ndarray, stream: np.ndarray,
            changes: tuple[np.ndarray, np.ndarray, np.ndarray]) -> np.ndarray:
    """Whether each day's stream (an index of :func:`_changes`, -1 none) has a level above 0
    then."""
    keys, flags, firsts = changes
    if not len(firsts):
        return np.zeros(len(days), dtype=bool)
    has = stream >= 0
    q = np.where(has, stream, 0)
    k = np.searchsorted(keys, (q << _DAY_BITS) | days, side="right") - 1
    found: np.ndarray = has & (k >= firsts[q])
    return cast("np.ndarray", found & flags[np.where(found, k, -1)])  # -1: the False at the end
