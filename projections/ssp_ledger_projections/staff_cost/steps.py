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

    def codes(self, by: str | None) -> tuple[list[str], np.ndarray, bool, np.ndarray, list[int]]:
        """(sorted labels; the group of each stretch, or of each series when
        ``by_series``; ``by_series``; the group of each release run; of each tail) of grouping
        ``by`` (None: one group, :data:`TOTAL`; :data:`PAIRS`; or one of
        :data:`~.grouped.GROUPINGS`). Only groups with a step or with release time; an
        activity step's group is that of its stretch (or series)."""
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
        act = np.asarray([index.get(n, -1) for n in (
            self.series_school if by_series else of_segment)], dtype=np.int64)
        rel_of = [index.get(n, -1) for n in of_release]
        release = np.asarray([rel_of[s] for s in self.rel_segment], dtype=np.int64)
        tails = [rel_of[s] for s, _ in self.tails]
        return labels, act, by_series, release, tails


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


_CHUNK = 1 << 16
"""Days of series computed at once (bounds the memory of the temporaries)."""


def _activity(out: Walk, keys: list[array[int]], prefixes: list[array[int]],
              series_person: list[int], seg_start: list[int], seg_person: list[int],
              seg_rate: list[int], seg_stream: list[int],
              stream_levels: list[StreamLevels]) -> None:
    """Fill ``out``'s activity steps (see the module doc) from every series' packed days and
    prefix sums and every stretch's start, rate and stream, a chunk of series at a time: in
    8-byte integers, or again in Python integers when a bound says 8 bytes might not hold a
    figure or a sum."""
    starts = (np.asarray(seg_person, dtype=np.int64) << _DAY_BITS) | np.asarray(
        seg_start, dtype=np.int64)
    streams = np.asarray(seg_stream, dtype=np.int64)
    rates_top = max(map(abs, seg_rate), default=0)
    person = np.asarray(series_person, dtype=np.int64)
    chunks: list[tuple[int, int]] = []
    first = size = 0
    for i, k in enumerate(keys):
        size += len(k)
        if size >= _CHUNK or i + 1 == len(keys):
            chunks.append((first, i + 1))
            first, size = i + 1, 0
    total = sum(map(len, keys))
    changes = _changes(stream_levels)
    for exact in (True, False):
        rates: Any = np.asarray(seg_rate, dtype=np.int64 if exact else object)
        dtype: Any = np.int64 if exact else object
        out.act_day = np.empty(total, dtype=np.int32)
        out.act_series = np.empty(total, dtype=np.int32)
        out.act_segment = np.empty(total, dtype=np.int32)
        out.act_values = (np.empty(total, dtype=dtype), np.empty(total, dtype=dtype),
                          np.empty(total, dtype=dtype))
        out.act_hidden = np.empty(total, dtype=bool)
        top = 0
        variation = 0.0
        at = 0
        for lo, hi in chunks:
            size, chunk_variation, chunk_top = _chunk(
                out, at, keys[lo:hi], prefixes[lo:hi], lo, person, starts, rates, streams,
                changes, exact=exact)
            at += size
            top = max(top, chunk_top)
            variation += chunk_variation
        if not exact or ((4 * top + 1) * (rates_top + 1) < _SAFE
                         and (int(variation) + 1) * (rates_top + 1) < _SAFE):
            break
    out.act_segments = np.flatnonzero(np.bincount(out.act_segment,
                                                  minlength=len(seg_start))).tolist()
    out.act_bound = (int(variation) + 1) * (rates_top + 1) + 1


def _chunk(out: Walk, at: int, keys: list[array[int]], prefixes: list[array[int]],
           offset: int, series_person: np.ndarray, starts: np.ndarray, seg_rate: np.ndarray,
           seg_stream: np.ndarray, changes: tuple[np.ndarray, np.ndarray, np.ndarray], *,
           exact: bool) -> tuple[int, float, int]:
    """Write the activity steps of some series (the ``offset``-th on) into ``out``'s arrays
    from index ``at``: (how many, a bound of the sum of the minutes' and attendances' sizes,
    the largest size of a prefix sum)."""
    lengths = np.fromiter(map(len, keys), dtype=np.int64, count=len(keys))
    days = np.frombuffer(b"".join(k.tobytes() for k in keys), dtype=np.int32).astype(np.int64)
    sums: Any = _joined(prefixes)
    top = int(np.abs(sums).max()) if len(sums) else 0
    if not exact:
        sums = sums.astype(object)  # steps and their differences as Python integers
    count = len(days)
    end = at + count
    series = np.repeat(np.arange(offset, offset + len(keys), dtype=np.int64), lengths)
    row = 2 * (np.arange(count, dtype=np.int64) + series - offset)  # sums before each day
    before = sums[row]
    after = sums[row + 2]
    minutes_step, pence_step, seen_step = (values[at:end] for values in out.act_values)
    np.subtract(after, before, out=minutes_step)  # the day's own minutes
    np.subtract(sums[row + 3], sums[row + 1], out=seen_step)  # and attendances
    del row, sums
    variation = (float(np.abs(minutes_step.astype(np.float64)).sum())
                 + float(np.abs(seen_step.astype(np.float64)).sum()) + count)
    segment = np.searchsorted(
        starts, (series_person[series] << _DAY_BITS) | days, side="right") - 1
    new = np.ones(count, dtype=bool)  # the first day of a stretch in a series
    new[1:] = (series[1:] != series[:-1]) | (segment[1:] != segment[:-1])
    firsts = np.flatnonzero(new)
    # Cumulative minutes from the stretch's start, and their pence at its rate.
    minutes = after - np.repeat(before[firsts], np.diff(np.r_[firsts, count]))
    del before, after
    pence: Any = minutes * seg_rate[segment] // 60
    del minutes
    pence_step[:] = pence
    pence_step[1:] -= pence[:-1]
    pence_step[firsts] = pence[firsts]
    out.act_day[at:end] = days
    out.act_series[at:end] = series
    out.act_segment[at:end] = segment
    out.act_hidden[at:end] = ~_funded(days, seg_stream[segment], changes)
    return count, variation, top


def _joined(arrays: list[array[int]]) -> np.ndarray:
    """Packed 4- and 8-byte integer arrays end to end, as int64 (one ``frombuffer`` per run of
    one item size)."""
    parts: list[np.ndarray] = []
    start = 0
    for end in range(1, len(arrays) + 1):
        if end == len(arrays) or arrays[end].typecode != arrays[start].typecode:
            dtype = np.int32 if arrays[start].typecode == "i" else np.int64
            parts.append(np.frombuffer(b"".join(a.tobytes() for a in arrays[start:end]),
                                       dtype=dtype).astype(np.int64))
            start = end
    return np.concatenate(parts) if len(parts) != 1 else parts[0]


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
    found = has & (k >= firsts[q])
    return found & flags[np.where(found, k, -1)]  # k = -1 reads the False at the end
