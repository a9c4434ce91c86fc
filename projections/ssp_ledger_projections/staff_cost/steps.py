"""Every step of the staff-time figures of some partnerships, as arrays: what a grouped table sums.

A cumulative table (:mod:`.grouped`) needs, for each timeline of each person, the steps
:mod:`.cumulative` defines: each activity day's minutes, attendances and pence (the step of the
cumulative pence ``minutes * rate // 60`` of its stretch, anchored at the stretch's start), funded
or hidden by the level in force on that day; and each assignment's release time, in runs of
teaching days of constant funded status (:func:`~.cumulative.release_runs`). :func:`walk`
computes them once for a scope (one partnership, or every one) and one unattributed rate; a
:class:`Walk` then files them under any grouping (:meth:`Walk.codes`) without walking again.

How, without a Python step per day: every series' merged days and prefix sums
(:meth:`~ssp_ledger.projection.Series.packed`) are concatenated; one ``searchsorted`` of
``person << 22 | day`` among the starts of every person's stretches finds each day's stretch;
a stretch's days are consecutive, so the cumulative minutes from its anchor are the series'
prefix sums less the one before the stretch's first day, the cumulative pence is their floor
division, and a step is the difference with the day before in the same stretch (0 at its first
day): exactly the steps :class:`~.cumulative.CostTable`'s day-by-day walk takes. A day's funded
flag is one more ``searchsorted`` among the change days of every stream. Figures that 8-byte
integers might not hold (a bound of the pence is checked first) are computed as Python integers
in object arrays: slower, never wrong.

Release time is kept per run (first teaching day, length, teaching days before it, terms): a
look-up evaluates the closed form ``per_week * k // 5`` at the run's day count, so nothing is
expanded per teaching day.
"""

from __future__ import annotations

import datetime as dt
import json
from array import array
from collections.abc import Sequence
from typing import Any

import numpy as np

from ssp_ledger.projection import Series
from ssp_ledger_projections.funding_levels import StreamLevels
from ssp_ledger_projections.staff_cost.costing import NONE_LABEL, UNATTRIBUTED, label
from ssp_ledger_projections.staff_cost.cumulative import OpenTail, Piece, release_runs
from ssp_ledger_projections.staff_cost.rates import UnattributedRate
from ssp_ledger_projections.staff_cost.state import DAY, Segment, StaffFacts

__all__ = ["PAIRS", "TOTAL", "Walk", "pair_label", "walk"]

TOTAL = ""
"""The one group of a table built for no grouping."""
PAIRS = "partnership_stream"
"""Grouping by (partnership, funding stream), labelled by :func:`pair_label`: what the covered
figures (:mod:`.covered`) read, for every partnership at once."""
_DAY_BITS = 22
"""Bits of a day ordinal in a key ``index << 22 | day`` (``date.max`` is below ``2 ** 22``)."""
_SAFE = 1 << 60
"""Bound under which figures and their sums are computed as 8-byte integers."""


def pair_label(pid: str, stream: str) -> str:
    """The label of a (partnership, stream) group of :data:`PAIRS` (unambiguous: JSON)."""
    return json.dumps([pid, stream])


class Walk:
    """The steps of every timeline of a scope at one unattributed rate (see the module doc)."""

    __slots__ = ("act_bound", "act_day", "act_hidden", "act_segment", "act_series",
                 "act_segments", "act_values", "base",
                 "last", "rel", "rel_bound", "rel_segment", "release_segments", "segment_labels",
                 "series_school", "tails", "teaching")

    def __init__(self, base: int, last: int, teaching: list[int]) -> None:
        self.base = base
        """Ordinal of the first day anything changes."""
        self.last = last
        """Ordinal of the last day anything changes but open assignments' release."""
        self.teaching = teaching
        """Teaching days in ``[base, last]``, ascending."""
        self.segment_labels: dict[str, list[str]] = {
            "role": [], "funding_stream": [], "staff": [], "school": [], "partnership": []}
        """Per stretch, its label in each grouping (``school``: the assignment's school, what
        release time is filed under)."""
        self.series_school: list[str] = []
        """Per series, its school's label (what activity is filed under by school)."""
        self.act_day: np.ndarray = np.zeros(0, dtype=np.int64)
        """Day ordinal of each activity step."""
        self.act_segment: np.ndarray = np.zeros(0, dtype=np.int64)
        """Stretch of each activity step."""
        self.act_series: np.ndarray = np.zeros(0, dtype=np.int64)
        """Series of each activity step."""
        self.act_values: tuple[np.ndarray, np.ndarray, np.ndarray] = (
            np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64),
            np.zeros(0, dtype=np.int64))
        """Each activity step's minutes, pence and attendances (int64, or Python integers
        where 8 bytes might not hold a sum)."""
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

    def codes(self, by: str | None) -> tuple[list[str], np.ndarray, np.ndarray, list[int]]:
        """(sorted labels, group of each activity step, group of each release run, group of
        each tail) of grouping ``by`` (None: one group, :data:`TOTAL`; :data:`PAIRS`; or one
        of :data:`~.grouped.GROUPINGS`). Only groups with a step or with release time."""
        by_series = by == "school"
        if by is None:
            of_segment = [TOTAL] * len(self.segment_labels["role"])
        elif by == PAIRS:
            pairs = self.segment_labels["partnership"], self.segment_labels["funding_stream"]
            named = {pair: pair_label(*pair) for pair in set(zip(*pairs, strict=True))}
            of_segment = [named[pair] for pair in zip(*pairs, strict=True)]
        else:
            of_segment = self.segment_labels[by]
        of_release = self.segment_labels["school"] if by_series else of_segment
        names = {of_release[s] for s in self.release_segments}
        if by_series:
            names.update(self.series_school)  # every series has a step
        else:
            names.update(of_segment[s] for s in self.act_segments)
        labels = sorted(names)
        index = {name: g for g, name in enumerate(labels)}
        if by_series:
            act = np.asarray([index.get(n, -1) for n in self.series_school],
                             dtype=np.int64)[self.act_series]
        else:
            act = np.asarray([index.get(n, -1) for n in of_segment],
                             dtype=np.int64)[self.act_segment]
        rel_of = [index.get(n, -1) for n in of_release]
        release = np.asarray([rel_of[s] for s in self.rel_segment], dtype=np.int64)
        tails = [rel_of[s] for s, _ in self.tails]
        return labels, act, release, tails


class _Person:
    """One person's stretches and series, and the first and last day they change anything."""

    __slots__ = ("pid", "series", "staff", "timeline")

    def __init__(self, pid: str, staff: str, timeline: tuple[Segment, ...],
                 series: list[tuple[str, array[int], array[int]]]) -> None:
        self.pid = pid
        self.staff = staff
        self.timeline = timeline
        self.series = series


def _people(facts: StaffFacts, pids: Sequence[str]
            ) -> tuple[list[_Person], int | None, int | None]:
    """Every person of ``pids`` with their series' packed days and sums, and the first and
    last day anything changes (the days :func:`~.cumulative.plan_of` gives, from the series'
    days rather than the facts' dates)."""
    people: list[_Person] = []
    starts: list[int] = []
    marks: list[int] = []
    for pid in pids:
        for staff in facts.staff_of(pid):
            timeline = facts.timeline(pid, staff)
            packed: list[tuple[str, array[int], array[int]]] = []
            for school, s in facts.series_of(pid, staff).items():
                keys, prefix = Series.packed(s)
                if keys:
                    packed.append((school, keys, prefix))
                    starts.append(keys[0])
                    marks.append(keys[-1])
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
            people.append(_Person(pid, staff, timeline, packed))
    if not starts:
        return people, None, None
    return people, min(starts), max(max(starts), max(marks, default=0))


def walk(facts: StaffFacts, pids: Sequence[str], rate: UnattributedRate) -> Walk:
    """The steps of every timeline of partnerships ``pids``, unattributed minutes at ``rate``:
    O(stretches + runs) in Python, O(activity days) in numpy."""
    people, first, horizon = _people(facts, pids)
    if first is None or horizon is None:
        nothing = dt.date.max.toordinal() + 1  # every day is before the table: all zeros
        return Walk(nothing, nothing - 1, [])
    out = Walk(first, horizon, facts.calendar.teaching_ordinals(first, horizon))
    teaching = out.teaching
    horizon_day = dt.date.fromordinal(horizon)
    labels = out.segment_labels
    roles, streams, staffs = labels["role"], labels["funding_stream"], labels["staff"]
    schools, partnerships = labels["school"], labels["partnership"]
    seg_start: list[int] = []
    seg_person: list[int] = []
    seg_rate: list[int] = []
    seg_stream: list[int] = []
    stream_index: dict[tuple[str, str], int] = {}
    stream_levels: list[StreamLevels] = []
    keys: list[array[int]] = []
    prefixes: list[array[int]] = []
    series_person: list[int] = []
    rel = out.rel
    rel_bound = 0
    for p, person in enumerate(people):
        pid = person.pid
        staff = label(person.staff)
        for school, k, prefix in person.series:
            keys.append(k)
            prefixes.append(prefix)
            series_person.append(p)
            out.series_school.append(label(school))
        for seg in rate.cut_gaps(person.timeline):
            s = len(seg_start)
            seg_start.append(0 if seg.start is None else seg.start.toordinal())
            seg_person.append(p)
            staffs.append(staff)
            partnerships.append(pid)
            a = seg.assignment
            if a is None:
                seg_rate.append(rate.at(seg.start))
                seg_stream.append(-1)
                roles.append(UNATTRIBUTED)
                streams.append(NONE_LABEL)
                schools.append(NONE_LABEL)
                continue
            seg_rate.append(a.hourly_cost_pence)
            roles.append(a.role)
            streams.append(label(a.funding_stream))
            schools.append(label(a.school_id))
            levels = facts.stream_of(pid, a)
            q = -1
            if levels is not None:
                key = (pid, a.funding_stream or "")
                q = stream_index.get(key, -1)
                if q < 0:
                    q = stream_index[key] = len(stream_levels)
                    stream_levels.append(levels)
            seg_stream.append(q)
            per_week, hourly = a.release_minutes_per_week, a.hourly_cost_pence
            if not per_week:
                continue
            out.release_segments.append(s)
            start = a.occurred_on
            end = horizon_day if seg.end is None else seg.end
            bounds = [start, *levels.changes_in(start, end)] if levels is not None else [start]
            lasts = [*(b - DAY for b in bounds[1:]), end]
            pieces = [Piece(b.toordinal(), last.toordinal(),
                            levels is not None and levels.level(b) > 0)
                      for b, last in zip(bounds, lasts, strict=True)]
            days = 0
            for run in release_runs(teaching, pieces):
                count = run.hi - run.lo
                days = run.done + count
                out.rel_segment.append(s)
                rel[0].append(run.lo)
                rel[1].append(count)
                rel[2].append(run.done)
                rel[3].append(per_week)
                rel[4].append(hourly)
                rel[5].append(1 if run.funded else 0)
            rel_bound += abs(per_week) * days * (abs(hourly) + 1) + 1
            if seg.end is None:
                minutes = per_week * days // 5
                out.tails.append((s, OpenTail(start.toordinal(), per_week, hourly,
                                              pieces[-1].funded, minutes,
                                              minutes * hourly // 60, days)))
    out.rel_bound = rel_bound
    if keys:
        _activity(out, keys, prefixes, series_person, seg_start, seg_person, seg_rate,
                  seg_stream, stream_levels)
    return out


def _activity(out: Walk, keys: list[array[int]], prefixes: list[array[int]],
              series_person: list[int], seg_start: list[int], seg_person: list[int],
              seg_rate: list[int], seg_stream: list[int],
              stream_levels: list[StreamLevels]) -> None:
    """Fill ``out``'s activity steps (see the module doc) from every series' packed days and
    prefix sums and every stretch's start, rate and stream."""
    lengths = np.fromiter(map(len, keys), dtype=np.int64, count=len(keys))
    days = np.frombuffer(b"".join(k.tobytes() for k in keys), dtype=np.int32).astype(np.int64)
    if all(p.typecode == "i" for p in prefixes):
        flat = np.frombuffer(b"".join(p.tobytes() for p in prefixes), dtype=np.int32)
    else:
        flat = np.frombuffer(b"".join(array("q", p).tobytes() for p in prefixes),
                             dtype=np.int64)
    sums: Any = flat.astype(np.int64)
    top = int(np.abs(sums).max()) if len(sums) else 0
    if top >= 1 << 61:
        sums = sums.astype(object)  # steps and their differences as Python integers
    count = len(days)
    series = np.repeat(np.arange(len(keys), dtype=np.int64), lengths)
    row = 2 * (np.arange(count, dtype=np.int64) + series)  # each day's sums before it
    minutes_before = sums[row]
    minutes_after = sums[row + 2]
    minutes_step = minutes_after - minutes_before  # the day's own minutes
    seen_step = sums[row + 3] - sums[row + 1]  # and attendances
    person = np.asarray(series_person, dtype=np.int64)[series]
    starts = (np.asarray(seg_person, dtype=np.int64) << _DAY_BITS) | np.asarray(seg_start,
                                                                               dtype=np.int64)
    segment = np.searchsorted(starts, (person << _DAY_BITS) | days, side="right") - 1
    new = np.ones(count, dtype=bool)  # the first day of a stretch in a series
    new[1:] = (series[1:] != series[:-1]) | (segment[1:] != segment[:-1])
    firsts = np.flatnonzero(new)
    anchor = np.repeat(minutes_before[firsts], np.diff(np.r_[firsts, count]))
    rates_top = max(map(abs, seg_rate), default=0)
    variation = (int(np.abs(minutes_step).sum()) + int(np.abs(seen_step).sum()) + count
                 if 4 * top * count < _SAFE else 4 * top * count)
    exact = (4 * top + 1) * (rates_top + 1) < _SAFE and variation * (rates_top + 1) < _SAFE
    dtype: Any = np.int64 if exact else object
    rates: Any = np.asarray(seg_rate, dtype=dtype)[segment]
    minutes: Any = minutes_after - anchor if exact else (
        minutes_after.astype(object) - anchor.astype(object))
    pence: Any = minutes * rates // 60
    pence_step: Any = pence.copy()
    pence_step[1:] -= pence[:-1]
    pence_step[firsts] = pence[firsts]
    out.act_day = days
    out.act_segment = segment
    out.act_segments = np.flatnonzero(np.bincount(segment, minlength=len(seg_start))).tolist()
    out.act_series = series
    out.act_values = (minutes_step if exact else minutes_step.astype(object), pence_step,
                      seen_step if exact else seen_step.astype(object))
    out.act_hidden = ~_funded(days, np.asarray(seg_stream, dtype=np.int64)[segment],
                              stream_levels)
    out.act_bound = variation * (rates_top + 1) + 1


def _funded(days: np.ndarray, stream: np.ndarray, levels: list[StreamLevels]) -> np.ndarray:
    """Whether each day's stream (index into ``levels``, -1 none) has a level above 0 then."""
    if not levels:
        return np.zeros(len(days), dtype=bool)
    change_keys: list[int] = []
    positive: list[bool] = []
    firsts: list[int] = []
    for q, stream_levels in enumerate(levels):
        on, values = stream_levels.steps()
        firsts.append(len(change_keys))
        change_keys += [(q << _DAY_BITS) | d for d in on]
        positive += [v > 0 for v in values]
    has = stream >= 0
    q = np.where(has, stream, 0)
    k = np.searchsorted(np.asarray(change_keys, dtype=np.int64), (q << _DAY_BITS) | days,
                        side="right") - 1
    flags = np.asarray([*positive, False], dtype=bool)  # k = -1 reads the False at the end
    found = has & (k >= np.asarray(firsts, dtype=np.int64)[q])
    return found & flags[np.where(found, k, -1)]
