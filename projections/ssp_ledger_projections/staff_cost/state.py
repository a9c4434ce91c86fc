"""The facts staff cost is computed from, and the timelines derived from them.

:class:`StaffFacts` is everything the staff-time projection *knows*; every figure is computed
from it at query time (:mod:`.costing`, :mod:`.cumulative`, :mod:`.explain`):

* ``StaffAssigned`` facts by partnership, staff member and event id;
* ``StaffReleased`` dates by partnership, staff member and event id;
* ``FundingChanged`` facts, in the shared :class:`~ssp_ledger_projections.funding_levels.
  FundingLevels`;
* activity minutes and attendances (:class:`Activity`) summed by (partnership, staff, school) in
  a two-measure :class:`~ssp_ledger.projection.Series` each, with a count of the facts in each
  series so the last one retracted drops it (the state then equals a rebuild without it);
* the ids of those activity facts by series and day (:attr:`StaffFacts.same_day`): the days a
  cumulative table walks, and the order :mod:`.explain` costs the facts of one day in. A day
  of one fact keeps its id only; a day of several keeps a :class:`SameDay` whose first fact's
  minutes are *derived* (the day's sum in the series less the others'), so a day of one fact
  costs no more than a dictionary slot.

The facts are checkpointed as plain data (:class:`StaffFactsState`, see :meth:`StaffFacts.dump`):
msgspec Structs with the events embedded as their own Struct classes, in a canonical order, so
the same facts applied in the same order always give the same bytes. The activity series are
kept columnar (:mod:`.columns`: every series' days and each day's values as a few arrays, the
ids of each day's facts as one encoded :class:`DayIdsState` per series, compressed apart). A
loaded instance keeps those arrays as they are until a change, an explanation or a
piece-by-piece costing needs :class:`~ssp_ledger.projection.Series` objects (:attr:`activity`
then builds them), and the ids encoded until a change or an explanation reads them: a cold
report reads the arrays, so it builds no per-series or per-fact object of the staff time.

Beside the facts, the state keeps one thing derived from them (:class:`WalkPlanState`): the
stretches, release runs and open tails of every person as the national walk at the shipped
unattributed rate computes them in Python (:func:`~.steps.plan_state`). It is bound to the same
log position as the facts, rebuilt with them (so ``ssp-ledger verify`` compares it too), checked
for shape when loaded (:func:`_check_plan`), and forgotten by the first change
(:meth:`StaffFacts.kept_plan`), after which a dump computes it afresh.

Derived from those and cached until a fact of the person (or partnership) comes or goes: each
person's *timeline* (:class:`Segment`: assignments and the gaps around them, covering every day)
and each partnership's first day. A checkpoint keeps the facts (and the plan), never the
caches.

Timelines: an assignment runs until the day before the same person's next ``StaffAssigned``, or
to the first ``StaffReleased`` dated on or after its start (inclusive), or stays open. Two
assignments of one person on the same date are ordered by ``event_id``: the greater id is the one
in force, and the other never runs.
"""

from __future__ import annotations

import datetime as dt
import operator
import sys
from array import array
from bisect import bisect_left
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import Any, NamedTuple, TypeVar

import msgspec
import numpy as np

from ssp_ledger.events import (
    ClubRun,
    CompetitionHeld,
    CorrectableEvent,
    CpdDelivered,
    FundingChanged,
    LeaderTrained,
    ResourceShared,
    StaffAssigned,
    StaffReleased,
)
from ssp_ledger.periods import ONE_DAY, TeachingCalendar
from ssp_ledger.projection import Series
from ssp_ledger.projection.checkpoint import pack, unpack
from ssp_ledger_projections.funding_levels import FundingLevels, StreamLevels
from ssp_ledger_projections.staff_cost.columns import (
    ActivityColumns,
    ActivityState,
    SeriesKey,
    arrays_of,
)

__all__ = [
    "STATE_VERSION",
    "Activity",
    "KeptTableState",
    "NationalAnswersState",
    "SameDay",
    "Segment",
    "SeriesKey",
    "StaffFacts",
    "StaffFactsPart",
    "StoredPart",
    "StaffFactsState",
    "activity_of",
    "answers_of",
    "body_of",
    "funding_of",
    "pack_state",
    "unpack_part",
    "unpack_state",
]

DAY = ONE_DAY  # the calendar's one day (ssp_ledger.periods)
_EMPTY: Mapping[str, Series] = {}
_T = TypeVar("_T")


class Activity(NamedTuple):
    """What an activity fact adds to staff time."""

    staff: str
    """The staff member ("" when the fact names none)."""
    school: str
    """The school the minutes are grouped under ("" for CPD)."""
    minutes: int
    """Staff minutes."""
    attendances: int
    """Participants (clubs and competitions; 0 otherwise)."""


def activity_of(event: CorrectableEvent) -> Activity | None:
    """The staff time of an activity fact, or None when the event is no activity."""
    found = _staff_time(event)
    return None if found is None else Activity._make(found)


def _staff_time(event: CorrectableEvent) -> tuple[str, str, int, int] | None:
    """:func:`activity_of` as a plain tuple, in :class:`Activity` field order: the path every
    replayed fact takes, where building the named tuple would double the cost."""
    if isinstance(event, ClubRun):
        return (event.staff_id or "", event.school_id, event.staff_minutes, event.participants)
    if isinstance(event, CompetitionHeld):
        return ("", event.school_ids[0], event.staff_minutes, event.participants)
    if isinstance(event, LeaderTrained):
        return ("", event.school_id, event.minutes, 0)
    if isinstance(event, CpdDelivered):
        return ("", "", event.minutes, 0)
    if isinstance(event, ResourceShared):
        return ("", event.from_school_id, event.staff_minutes, 0)
    return None


class SameDay(NamedTuple):
    """The activity facts with minutes or attendances one series holds on one day, when more
    than one (a day of one fact keeps just its id)."""

    first: str
    """Id of the fact whose minutes are derived: the day's sum less the others' minutes."""
    others: dict[str, int]
    """Minutes of every other fact of the day, by id (never empty)."""


@dataclass(frozen=True, slots=True)
class Segment:
    """A stretch of one person's timeline: an assignment, or a gap outside any assignment."""

    start: dt.date | None
    """First day (None: from the beginning of time; only for the leading gap)."""
    end: dt.date | None
    """Last day (None: open)."""
    assignment: StaffAssigned | None
    """The terms in force, or None for a gap."""


STATE_VERSION = 5
"""Version of :class:`StaffFactsState` and :class:`StaffFactsPart`; a checkpoint of another
version is refused."""


class ReleaseState(msgspec.Struct, frozen=True, array_like=True):
    """A ``StaffReleased`` fact as the projection keeps it: its date."""

    partnership_id: str
    staff_id: str
    event_id: str
    last_day: int
    """Ordinal of the last day of the assignment it ends."""


class OtherFactState(msgspec.Struct, frozen=True, array_like=True):
    """An activity fact of a day shared with others: its id and minutes."""

    event_id: str
    minutes: int


class SharedDayState(msgspec.Struct, frozen=True, array_like=True):
    """A day of one series with several facts (a :class:`SameDay`)."""

    index: int
    """Position of the day in the series' days."""
    others: list[OtherFactState]
    """The facts of the day other than the first, by id (at least one)."""


class DayIdsState(msgspec.Struct, frozen=True, array_like=True):
    """The ids of the facts one series holds, day by day (:attr:`StaffFacts.same_day`)."""

    firsts: list[str]
    """Per day (in the order of the series' days, :attr:`.columns.ActivityState.days`): the
    id of the fact whose minutes are derived (the only one on most days)."""
    shared: list[SharedDayState]
    """The days with several facts, by ascending index."""


class WalkPlanState(msgspec.Struct, frozen=True, kw_only=True, array_like=True):
    """What the national walk (:func:`~.steps.walk` of every partnership at the shipped
    unattributed rate) computes in Python before its arrays: every person's stretches, the
    release runs of their assignments and the open tails, as little-endian 4-byte integers
    (rates 8-byte). Derived from the facts beside it, in the same checkpoint (so bound to the
    same log position); :mod:`.steps` writes and reads it, :meth:`StaffFacts.load` checks its
    shape (:func:`_check_plan`)."""

    pids: list[str]
    """The partnerships walked, ascending."""
    rate: list[int]
    """The unattributed rate walked at: (first day's ordinal, pence) of each value, flat."""
    base: int
    """Ordinal of the first day anything changes."""
    last: int
    """Ordinal of the last day anything changes but open assignments' release."""
    people_pid: bytes
    """Each person's partnership (an index of :attr:`pids`)."""
    people_staff: list[str]
    """Each person's staff member ("" for none)."""
    seg_person: bytes
    """Each stretch's person (ascending)."""
    seg_start: bytes
    """Each stretch's first day (0: from the beginning), ascending within a person."""
    seg_terms: bytes
    """Each stretch's assignment (an index of :attr:`StaffFactsState.assignments`; -1: a gap)."""
    seg_stream: bytes
    """Each stretch's stream levels (an index of :attr:`stream_pid`; -1: none)."""
    seg_rate: bytes
    """Each stretch's hourly pence (8-byte)."""
    stream_pid: list[str]
    stream_name: list[str]
    """The (partnership, stream) of each stream with levels, in walk order."""
    rel_segment: bytes
    """Each release run's stretch (an assignment), ascending."""
    rel_lo: bytes
    """Each run's first teaching day (an index of the walk's teaching days)."""
    rel_count: bytes
    """Each run's teaching days."""
    rel_done: bytes
    """Teaching days of the assignment before each run."""
    rel_funded: bytes
    """Whether each run is funded (one byte, 0 or 1)."""
    release_segments: bytes
    """The stretches with release time (assignments), ascending."""
    release_days: bytes
    """Teaching days of each of those through the walk's last day."""
    tail_segments: bytes
    """The stretches still open after the last day (a subset of :attr:`release_segments`)."""
    tail_funded: bytes
    """Whether each tail's last piece is funded (one byte, 0 or 1)."""
    day_size: int
    """Bytes of each entry of :attr:`day_stretch`: 1, 2 or 4, the fewest that hold them."""
    day_stretch: bytes
    """Each activity day's stretch (in the walk's order of series and days, series without a
    day left out), as its index among its person's stretches: unsigned little-endian."""
    day_hidden: bytes
    """Whether each activity day's step is hidden, bit-packed (``numpy.packbits``, first day
    in the highest bit; unused bits 0)."""


class KeptTableState(msgspec.Struct, frozen=True, array_like=True):
    """One national table's rows on its marks."""

    by: str
    """Its grouping: "" (the total, :data:`~.grouped.TOTAL`), :data:`~.grouped.PAIRS` or one
    of :data:`~.grouped.GROUPINGS`."""
    labels: list[str]
    """Its groups, sorted."""
    marks: bytes
    """The days kept, ascending, the last one the walk's last day: 4-byte little-endian
    ordinals."""
    itemsize: int
    """Bytes of each figure in :attr:`rows`: 4 or 8, the fewest that hold every one."""
    rows: bytes
    """Every group's :class:`~.costing.Columns` summed up to each mark, ``[mark, group,
    column]`` row-major, little-endian signed."""
    tail_groups: bytes
    """Each open tail's group: 4-byte little-endian."""


class NationalAnswersState(msgspec.Struct, frozen=True, kw_only=True, array_like=True):
    """What :mod:`.kept` keeps (see :mod:`.kept`), as checkpoint data."""

    rate: list[int]
    """The unattributed rate of the tables, as :attr:`~.state.WalkPlanState.rate`."""
    base: int
    """Ordinal of the first day anything changes (earlier days are 0)."""
    last: int
    """Ordinal of the walk's last day."""
    first_day: int
    """Ordinal of the earliest assignment start or activity date."""
    tails: list[bytes]
    """The open tails' teaching days, minutes per week, hourly pence, minutes and pence through
    the last day: 8-byte little-endian each."""
    tails_funded: bytes
    """Whether each tail's last piece is funded (one byte, 0 or 1)."""
    tables: list[KeptTableState]
    """The total, the pairs, then :data:`~.grouped.GROUPINGS`."""


class StaffFactsState(msgspec.Struct, frozen=True, kw_only=True, tag="ssp-ledger/staff-facts",
                      tag_field="format"):
    """Everything :class:`StaffFacts` knows, as data, in a canonical order (by partnership,
    staff member, school, day and event id)."""

    version: int
    assignments: list[StaffAssigned]
    releases: list[ReleaseState]
    funding: list[FundingChanged]
    activity: ActivityState
    """Every activity series, columnar (:mod:`.columns`): the days of a series are those of
    its sums, and its ids are those of the same days."""
    plan: WalkPlanState | None = None
    """The national walk's stretches (derived; None when there is no partnership)."""
    answers: NationalAnswersState | None = None
    """The national tables' rows on the days a cold report reads (derived, :mod:`.kept`; None
    when there is no partnership or a figure might not fit 8 bytes)."""


class StaffFactsPart(msgspec.Struct, frozen=True, kw_only=True, tag="ssp-ledger/staff-facts",
                     tag_field="format"):
    """A :class:`StaffFactsState` as a checkpoint stores it (:func:`pack_state`): the facts a
    change or a live table reads zlib-compressed in :attr:`body`; the activity's ids (compressed
    on their own already, :mod:`.columns`) beside it; and apart, each compressed on its own,
    the two things a cold national report reads: the funding changes (:attr:`levels`) and the
    kept national answers (:attr:`answers`, :mod:`.kept`). Nothing compresses further, so the
    checkpoint keeps the part as it is; a cold report answered from the kept answers inflates
    the levels and the answers only (a few hundred kilobytes), and a report that needs the facts
    inflates the body then (:meth:`~ssp_ledger_projections.staff_time_cost.StaffTimeCost.
    load_state`). The ids, nearly incompressible and read only by a change or an explanation,
    are never inflated twice (the whole state compressed again by the checkpoint made every
    report inflate them)."""

    version: int
    body: bytes = b""
    """zlib of the msgpack of the :class:`StaffFactsState`, its activity's ``ids``, its
    ``funding`` and its ``answers`` empty."""
    ids: bytes = b""
    """The activity's :attr:`~.columns.ActivityState.ids`."""
    levels: bytes = b""
    """zlib of the msgpack of the state's ``funding``."""
    answers: bytes = b""
    """zlib of the msgpack of the state's ``answers`` (empty when None)."""


class StoredPart(msgspec.Struct, frozen=True, kw_only=True, tag="ssp-ledger/staff-facts",
                  tag_field="format"):
    """A :class:`StaffFactsPart` as read: its byte strings views of the bytes read (msgspec
    decodes a ``memoryview`` field without copying), so loading a state copies nothing but
    what it inflates."""

    version: int
    body: memoryview = memoryview(b"")
    ids: memoryview = memoryview(b"")
    levels: memoryview = memoryview(b"")
    answers: memoryview = memoryview(b"")


_STATE_ENCODER = msgspec.msgpack.Encoder(order="deterministic")
_STATE_DECODER = msgspec.msgpack.Decoder(StaffFactsState)
_PART_DECODER = msgspec.msgpack.Decoder(StoredPart)
_FUNDING_DECODER = msgspec.msgpack.Decoder(list[FundingChanged])
_ANSWERS_DECODER = msgspec.msgpack.Decoder(NationalAnswersState)


def pack_state(state: StaffFactsState) -> bytes:
    """The canonical bytes of ``state`` as a checkpoint keeps them (:class:`StaffFactsPart`)."""
    activity = state.activity
    body = msgspec.structs.replace(state, activity=msgspec.structs.replace(activity, ids=b""),
                                   funding=[], answers=None)
    return _STATE_ENCODER.encode(StaffFactsPart(
        version=state.version, body=pack(_STATE_ENCODER.encode(body)), ids=activity.ids,
        levels=pack(_STATE_ENCODER.encode(state.funding)),
        answers=b"" if state.answers is None else pack(_STATE_ENCODER.encode(state.answers))))


def unpack_part(data: bytes) -> StoredPart:
    """The part of :func:`pack_state` bytes, none of it inflated yet; ValueError (one line)
    when they are not such bytes, or of another :data:`STATE_VERSION`."""
    part = _PART_DECODER.decode(data)
    if part.version != STATE_VERSION:
        msg = f"staff facts state version {part.version} is not {STATE_VERSION}"
        raise ValueError(msg)
    return part


def funding_of(part: StoredPart) -> list[FundingChanged]:
    """The funding changes of a part (ValueError when they cannot be read)."""
    return _FUNDING_DECODER.decode(unpack(part.levels))


def answers_of(part: StoredPart) -> NationalAnswersState | None:
    """The kept national answers of a part, or None (ValueError when they cannot be read)."""
    return _ANSWERS_DECODER.decode(unpack(part.answers)) if part.answers else None


def body_of(part: StoredPart) -> StaffFactsState:
    """The state in a part's body, with its activity's ids (its ``funding`` and ``answers``
    are the part's :func:`funding_of` and :func:`answers_of`); ValueError when it is not one
    :func:`pack_state` could write."""
    state = _STATE_DECODER.decode(unpack(part.body))
    if state.activity.ids or state.funding or state.answers is not None:
        msg = "staff facts: the state's body holds ids, funding or answers (kept beside it)"
        raise ValueError(msg)
    return msgspec.structs.replace(
        state, activity=msgspec.structs.replace(state.activity, ids=bytes(part.ids)))


def unpack_state(data: bytes) -> StaffFactsState:
    """The state of :func:`pack_state` bytes; ValueError (one line) when they are not such
    bytes, or of another :data:`STATE_VERSION`."""
    part = unpack_part(data)
    return msgspec.structs.replace(body_of(part), funding=funding_of(part),
                                   answers=answers_of(part))


class StaffFacts:
    """The facts of staff time (see the module docstring), updated by :meth:`change`."""

    def __init__(self, calendar: TeachingCalendar, funding_levels: FundingLevels) -> None:
        self.calendar = calendar
        """Teaching-day calendar release time accrues over."""
        self.funding_levels = funding_levels
        """Funding levels per (partnership, stream)."""
        self.assignments: dict[str, dict[str, dict[str, StaffAssigned]]] = {}
        """``StaffAssigned`` by partnership, staff member and event id."""
        self.releases: dict[str, dict[str, dict[str, dt.date]]] = {}
        """``StaffReleased`` dates by partnership, staff member and event id."""
        self._activity: dict[str, dict[str, dict[str, Series]]] = {}
        self._live: dict[SeriesKey, int] = {}
        self.same_day: dict[SeriesKey, dict[dt.date, str | SameDay]] = {}
        """Ids of the activity facts with minutes or attendances, by series and day (a series
        still in :attr:`_packed` is not here yet)."""
        self._days: dict[dt.date, dt.date] = {}
        """One date object per day, shared by every series as its key in :attr:`same_day`
        (each fact's own date would keep a date object alive per fact: 27 MB of a 1M-event
        replay's 313; one per distinct day instead). Not state: equal dates either way."""
        self._packed_ids: dict[SeriesKey, tuple[bytes, msgspec.Raw]] = {}
        self._columns: ActivityColumns | None = None
        """The activity series of a loaded state, columnar, until something needs them as
        :attr:`activity` (a change, an explanation, a piece-by-piece costing)."""
        self._pending_ids: tuple[ActivityColumns, list[tuple[SeriesKey, bytes]]] | None = None
        """Once the series are built: the loaded columns and each series' days, until a change
        or an explanation needs the ids of those days (:attr:`_packed`)."""
        # Derived caches, rebuilt on use:
        self._timelines: dict[tuple[str, str], tuple[Segment, ...]] = {}
        self._first_days: dict[str, dt.date | None] = {}
        self.derived: list[dict[str, Any]] = [self._first_days]
        """Caches by partnership that a change of the partnership's facts drops; a cache
        derived from these facts (e.g. the cumulative tables) registers here."""
        self._plan: dict[str, tuple[WalkPlanState, list[StaffAssigned]]] = {}
        """The national walk's plan of a loaded state, with the assignments its stretches
        index, until a change (see :meth:`kept_plan`)."""
        self._first_all: dict[None, dt.date | None] = {}
        """The first day over every partnership (:meth:`first_day`), once asked."""
        self.derived_all: list[dict[Any, Any]] = [self._plan, self._first_all]
        """Caches over every partnership (e.g. national tables), which a change of any
        partnership's facts empties."""

    @property
    def activity(self) -> dict[str, dict[str, dict[str, Series]]]:
        """Activity (minutes, attendances) by partnership, staff member and school."""
        if self._columns is not None:
            self._materialise()
        return self._activity

    @property
    def live(self) -> dict[SeriesKey, int]:
        """How many facts each activity series holds."""
        if self._columns is not None:
            self._materialise()
        return self._live

    @property
    def _packed(self) -> dict[SeriesKey, tuple[bytes, msgspec.Raw]]:
        """Series of a loaded state whose days' ids are still encoded (day ordinals, ids)."""
        if self._columns is not None:
            self._materialise()
        if self._pending_ids is not None:
            columns, days = self._pending_ids
            ids = columns.id_lists()  # ValueError when they cannot be read: kept pending
            self._packed_ids = {key: (on, raw) for (key, on), raw in zip(days, ids, strict=True)
                                if on and key in self._live}
            self._pending_ids = None
        return self._packed_ids

    def _materialise(self) -> None:
        """Turn the columnar activity of a loaded state into :attr:`activity` and
        :attr:`live`; the ids of the series' days follow when :attr:`_packed` is first read
        (a piece-by-piece costing never reads them)."""
        columns = self._columns
        assert columns is not None
        activity: dict[str, dict[str, dict[str, Series]]] = {}
        live: dict[SeriesKey, int] = {}
        days: list[tuple[SeriesKey, bytes]] = []
        for key, facts, series, on in columns.series():
            live[key] = facts
            activity.setdefault(key[0], {}).setdefault(key[1], {})[key[2]] = series
            days.append((key, on))
        self._activity, self._live = activity, live
        self._pending_ids = (columns, days)
        self._columns = None

    # ------------------------------------------------------------------ updates

    def change(self, event: CorrectableEvent, sign: int) -> None:
        """Add (``sign`` 1) or remove (-1) the effect of a fact, and drop what was derived from
        the partnership's facts (its entry in every cache of :attr:`derived`, and every cache
        of :attr:`derived_all`)."""
        pid = event.partnership_id
        if isinstance(event, StaffAssigned):
            _keep(self.assignments, pid, event.staff_id, event.event_id, event, sign)
            self._timelines.pop((pid, event.staff_id), None)
        elif isinstance(event, StaffReleased):
            _keep(self.releases, pid, event.staff_id, event.event_id, event.occurred_on, sign)
            self._timelines.pop((pid, event.staff_id), None)
        elif isinstance(event, FundingChanged):
            if sign > 0:
                self.funding_levels.add(event)
            else:
                self.funding_levels.remove(event)
        else:
            found = _staff_time(event)
            if found is None:
                return  # no staff time: nothing derived from the partnership's facts moves
            staff, school, minutes, attendances = found
            key = (pid, staff, school)
            self._add_activity(key, event.occurred_on, (sign * minutes, sign * attendances),
                               sign)
            if minutes or attendances:  # else no figure moves: no day to keep
                self._note_day(key, event.occurred_on, event.event_id, minutes, sign)
        for cache in self.derived:
            cache.pop(pid, None)
        for every in self.derived_all:
            every.clear()

    def change_many(self, events: Sequence[CorrectableEvent], signs: Sequence[int]) -> None:
        """:meth:`change` of each event with its sign, in order, with the activity series fed
        as one columnar batch (:meth:`Series.add_many <ssp_ledger.projection.Series.add_many>`).

        The state equals the one-by-one calls': ids of the day are noted in order; a series
        whose facts all went is dropped (its sums netted to zero, so adding the batch's rows
        to it, or to a new one, gives the same sums).
        """
        if -1 not in signs:
            self._apply_many(events)
            return
        touched: set[str] = set()
        live: dict[SeriesKey, int] = {}  # change of each series' fact count, first-seen order
        codes: list[int] = []
        ordinals: list[int] = []
        rows: list[tuple[int, int]] = []
        code_of: dict[SeriesKey, int] = {}
        same_day, packed = self.same_day, self._packed
        for event, sign in zip(events, signs, strict=True):
            found = _staff_time(event)
            if found is None:
                self.change(event, sign)  # structural facts (or no staff time): one by one
                continue
            pid = event.partnership_id
            staff, school, minutes, attendances = found
            key = (pid, staff, school)
            code = code_of.get(key)
            if code is None:
                touched.add(pid)
                code = code_of[key] = len(code_of)
                live[key] = sign
            else:
                live[key] += sign
            codes.append(code)
            day = event.occurred_on
            ordinals.append(day.toordinal())
            if sign > 0:
                rows.append((minutes, attendances))
            else:
                rows.append((-minutes, -attendances))
            if minutes or attendances:  # else no figure moves: no day to keep
                if packed and key in packed:
                    self._unpack(key)
                by_day = same_day.get(key)
                if sign > 0 and by_day is not None and day not in by_day:
                    # _note_day's common case (its day object shared: see _days)
                    by_day[self._days.setdefault(day, day)] = event.event_id
                else:
                    self._note_day(key, day, event.event_id, minutes, sign)
        if not codes:
            return
        series_of = self._batch_series(live)
        from ssp_ledger.projection import columnar  # numpy, on first use

        matrix = columnar.int_matrix(rows, 2)
        if matrix is None or not columnar.small(matrix):
            for code, ordinal, row in zip(codes, ordinals, rows, strict=True):
                series = series_of[code]
                if series is not None:
                    series.add_ordinal(ordinal, row)
        else:
            from ssp_ledger.projection.series import add_netted

            np = columnar.np
            add_netted(series_of.__getitem__, np.array(codes, dtype=np.int64),
                       np.array(ordinals, dtype=np.int64), matrix)
        for pid in touched:
            for cache in self.derived:
                cache.pop(pid, None)
        for every in self.derived_all:
            every.clear()

    def _apply_many(self, events: Sequence[CorrectableEvent]) -> None:
        """:meth:`change_many` of facts all applied (no retraction, a replay's common case):
        one pass over the events, reading each once while it is in the processor's cache.

        The loop of :meth:`change_many` with what a retraction needs taken out: a club's staff
        time read inline (no :func:`_staff_time` call and tuple for nine facts in ten), each
        series' key hashed once per fact (its code and its days' ids found together), the
        fact counts taken from the codes afterwards. Structural facts are applied one by one,
        as there. The state is the one :meth:`change` of each fact gives (a property test
        holds them to each other, dictionaries' order included).
        """
        same_day, packed = self.same_day, self._packed
        code_of: dict[SeriesKey, int] = {}
        keys: list[SeriesKey] = []  # first-seen order, as change_many counts them
        ids_of: list[dict[dt.date, str | SameDay] | None] = []  # by code, once noted
        codes: list[int] = []
        ordinals: list[int] = []
        values: list[int] = []  # minutes, attendances of each row, flat
        note_day = self._note_day
        shared = self._days
        for event in events:
            if type(event) is ClubRun:
                staff = event.staff_id or ""
                school = event.school_id
                minutes = event.staff_minutes
                attendances = event.participants
            else:
                found = _staff_time(event)
                if found is None:
                    self.change(event, 1)  # structural facts (or no staff time): one by one
                    continue
                staff, school, minutes, attendances = found
            key = (event.partnership_id, staff, school)
            code = code_of.get(key)
            if code is None:
                code = code_of[key] = len(keys)
                keys.append(key)
                ids_of.append(None)
            codes.append(code)
            day = event.occurred_on
            ordinals.append(day.toordinal())
            values.append(minutes)
            values.append(attendances)
            if minutes or attendances:  # else no figure moves: no day to keep
                by_day = ids_of[code]
                if by_day is None:  # the series' first noted fact: as _note_day finds it
                    if packed and key in packed:
                        self._unpack(key)
                    by_day = ids_of[code] = same_day.setdefault(key, {})
                if day in by_day:
                    note_day(key, day, event.event_id, minutes, 1)
                else:
                    # _note_day's common case (its day object shared: see _days)
                    by_day[shared.setdefault(day, day)] = event.event_id
        if not codes:
            return
        from ssp_ledger.projection import columnar  # numpy, on first use

        np = columnar.np
        counts = np.bincount(np.array(codes, dtype=np.int64), minlength=len(keys)).tolist()
        series_of = self._batch_series(dict(zip(keys, counts, strict=True)))
        try:
            matrix = np.array(values, dtype=np.int64).reshape(len(codes), 2)
        except OverflowError:
            matrix = None
        if matrix is None or not columnar.small(matrix):
            for code, ordinal, minutes, attendances in zip(
                    codes, ordinals, values[::2], values[1::2], strict=True):
                series = series_of[code]
                if series is not None:
                    series.add_ordinal(ordinal, (minutes, attendances))
        else:
            from ssp_ledger.projection.series import add_netted

            add_netted(series_of.__getitem__, np.array(codes, dtype=np.int64),
                       np.array(ordinals, dtype=np.int64), matrix)
        for pid in dict.fromkeys(key[0] for key in keys):
            for cache in self.derived:
                cache.pop(pid, None)
        for every in self.derived_all:
            every.clear()

    def _batch_series(self, changes: dict[SeriesKey, int]) -> list[Series | None]:
        """The series each key of a batch adds to (None: its last fact went, so it is dropped),
        in the order of ``changes``, with the fact counts updated."""
        return [self._counted(key, change) for key, change in changes.items()]

    def _counted(self, key: SeriesKey, change: int) -> Series | None:
        """Add ``change`` to the fact count of ``key``'s series and return the series (created
        if new), or None when its last fact went: the series is then dropped, so the state
        equals a rebuild without the retracted facts."""
        pid, staff, school = key
        live = self.live.get(key, 0) + change
        if live <= 0:
            self.live.pop(key, None)
            self._packed.pop(key, None)
            by_staff = self.activity.get(pid, {})
            by_school = by_staff.get(staff, {})
            by_school.pop(school, None)
            if not by_school:
                by_staff.pop(staff, None)
                if not by_staff:
                    self.activity.pop(pid, None)
            return None
        self.live[key] = live
        by_school = self.activity.setdefault(pid, {}).setdefault(staff, {})
        series = by_school.get(school)
        if series is None:
            series = by_school[school] = Series(2)
        return series

    def _add_activity(self, key: SeriesKey, day: dt.date, values: tuple[int, int],
                      sign: int) -> None:
        series = self._counted(key, sign)
        if series is not None:
            series.add(day, values)

    def _note_day(self, key: SeriesKey, day: dt.date, eid: str, minutes: int,
                  sign: int) -> None:
        """Keep (or forget) the id of an activity fact with minutes or attendances."""
        if key in self._packed:
            self._unpack(key)
        if sign > 0:
            by_day = self.same_day.setdefault(key, {})
            held = by_day.get(day)
            if held is None:
                by_day[self._days.setdefault(day, day)] = eid
            elif isinstance(held, str):
                by_day[day] = SameDay(held, {eid: minutes})
            else:
                held.others[eid] = minutes
            return
        days = self.same_day.get(key)
        held = days.get(day) if days is not None else None
        if days is None or held is None:
            return
        if isinstance(held, SameDay):
            if eid == held.first:
                # The next first (the least id, whatever the dictionary's order) has its minutes
                # derived from the day's sum instead.
                first = min(held.others)
                del held.others[first]
                days[day] = SameDay(first, held.others) if held.others else first
            elif held.others.pop(eid, None) is not None and not held.others:
                days[day] = held.first
            return
        if held != eid:
            return
        del days[day]
        if not days:
            del self.same_day[key]

    # ------------------------------------------------------------------ state as data

    def dump(self) -> StaffFactsState:
        """The facts as data, canonical: the same facts applied in the same order give an equal
        state, whatever was asked or cached in between (caches are left out). The activity of
        a loaded instance that no change touched is written back as it was read; the days of a
        series never unpacked are copied as they were read."""
        columns = self._columns
        if columns is not None:
            activity = columns.state
        else:
            series = [((pid, staff, school), self._live[pid, staff, school], by_school[school])
                      for pid, by_staff in sorted(self._activity.items())
                      for staff, by_school in sorted(by_staff.items())
                      for school in sorted(by_school)]
            activity = ActivityColumns.build(series, self._day_ids(series))
        return StaffFactsState(
            version=STATE_VERSION,
            assignments=self.assignments_in_order(),
            releases=[ReleaseState(pid, staff, eid, by_id[eid].toordinal())
                      for pid in sorted(self.releases)
                      for staff, by_id in sorted(self.releases[pid].items())
                      for eid in sorted(by_id)],
            funding=self.funding_levels.changes(),
            activity=activity,
        )

    def assignments_in_order(self) -> list[StaffAssigned]:
        """Every assignment in force, in the order :meth:`dump` lists them (by partnership,
        staff member and event id): what a walk plan's stretches index."""
        return [by_id[eid] for pid in sorted(self.assignments)
                for staff, by_id in sorted(self.assignments[pid].items())
                for eid in sorted(by_id)]

    def _day_ids(self, series: Sequence[tuple[SeriesKey, int, Series]]) -> Iterator[bytes]:
        """The encoded ids of each series' days, in turn (made one at a time, so a dump never
        holds them all: :func:`~.columns.pack_list`); the days of a series never unpacked are
        copied as they were read."""
        packed = self._packed
        for key, _, s in series:
            found = packed.get(key)
            days, ids = found if found is not None else _pack_days(self.same_day.get(key))
            if days != _le_ordinals(s.packed()[0]):
                msg = f"staff facts: the days of series {key} are not its sums'"
                raise AssertionError(msg)  # a bug: every day with a fact moves one
            yield ids

    def load(self, state: StaffFactsState, *, levels_loaded: bool = False) -> None:
        """Take the facts of :meth:`dump` (on an instance that has none yet; ``levels_loaded``:
        but for the funding changes, which :attr:`funding_levels` holds already and the state
        leaves out).

        The activity stays columnar (:mod:`.columns`) until a change, an explanation or a
        piece-by-piece costing needs it as Series (:meth:`_materialise`), and the ids of each
        series' days stay encoded until a change or an explanation first reads them
        (:meth:`_unpack`): a report reads only the arrays, the timelines and the levels.
        Raises ValueError when the state is not one :meth:`dump` could give (the ids are
        checked when read).
        """
        if state.version != STATE_VERSION:
            msg = f"staff facts state version {state.version} is not {STATE_VERSION}"
            raise ValueError(msg)
        if (self.assignments or self.releases or self._activity or self._columns is not None
                or self._pending_ids is not None
                or (not levels_loaded and self.funding_levels.streams(None))
                or (levels_loaded and state.funding)):
            msg = "staff facts: load_state needs a fresh instance (this one has facts)"
            raise ValueError(msg)
        columns = ActivityColumns.load(state.activity)
        for a in state.assignments:
            _keep(self.assignments, a.partnership_id, a.staff_id, a.event_id, a, 1)
        for r in state.releases:
            _keep(self.releases, r.partnership_id, r.staff_id, r.event_id,
                  _date(r.last_day, "release"), 1)
        for f in state.funding:  # none when levels_loaded
            self.funding_levels.add(f)
        self._columns = columns if columns.keys else None
        self._first_all.clear()  # asked before the facts came
        if state.plan is not None:
            plan = state.plan
            _check_plan(plan, len(state.assignments))
            people = np.frombuffer(plan.people_pid, dtype="<i4").tolist()
            known = {(pid, staff) for pid in self.partnerships(None)
                     for staff in self.staff_of(pid)}
            if plan.pids != self.partnerships(None) or len(known) != len(people) or any(
                    (plan.pids[p], staff) not in known
                    for p, staff in zip(people, plan.people_staff, strict=True)):
                msg = "staff facts: the walk plan's people are not those of the facts"
                raise ValueError(msg)
            self._plan["national"] = (plan, state.assignments)

    def knows_anything(self) -> bool:
        """Whether any fact was applied or loaded (funding changes included)."""
        return bool(self.assignments or self.releases or self._activity
                    or self._columns is not None or self._pending_ids is not None
                    or self.funding_levels.streams(None))

    def kept_plan(self) -> tuple[WalkPlanState, list[StaffAssigned]] | None:
        """The national walk's plan a loaded state came with, and the assignments (in the
        state's order) its stretches index, while no fact has changed since."""
        return self._plan.get("national")

    def _unpack(self, key: SeriesKey) -> None:
        """Decode the ids of a loaded series' days into :attr:`same_day` (first use only)."""
        days, raw = self._packed.pop(key)
        try:
            ids = _IDS_DECODER.decode(raw)
        except ValueError as e:
            msg = f"staff facts: the ids of the days of series {key} cannot be read ({e})"
            raise ValueError(msg) from None
        shared_days = self._days
        dates = [shared_days.setdefault(day, day)
                 for day in map(dt.date.fromordinal, _ordinals(days, key))]
        if len(ids.firsts) != len(dates):
            msg = (f"staff facts: series {key} has {len(dates)} days but ids for "
                   f"{len(ids.firsts)}")
            raise ValueError(msg)
        by_day: dict[dt.date, str | SameDay] = dict(zip(dates, ids.firsts, strict=True))
        last = -1
        for shared in ids.shared:
            if not last < shared.index < len(dates) or not shared.others:
                msg = f"staff facts: series {key} has a malformed shared day {shared.index}"
                raise ValueError(msg)
            last = shared.index
            day = dates[last]
            first = by_day[day]
            assert isinstance(first, str)
            by_day[day] = SameDay(first, {o.event_id: o.minutes for o in shared.others})
        self.same_day[key] = by_day

    # ------------------------------------------------------------------ reading

    def partnerships(self, partnership_id: str | None) -> list[str]:
        """The partnership asked about, or every one with staff or activity, sorted."""
        if partnership_id is not None:
            return [partnership_id]
        return sorted(set(self.assignments) | set(self._active()))

    def _active(self) -> Mapping[str, Any]:
        """The partnerships with activity: with the staff members of theirs with a series."""
        return self._activity if self._columns is None else self._columns.people()

    def knows(self, pid: str) -> bool:
        """Whether the partnership has any assignment or activity."""
        return pid in self.assignments or pid in self._active()

    def staff_of(self, pid: str) -> list[str]:
        """Staff members of a partnership with an assignment or activity ("" for none), sorted."""
        return sorted(set(self.assignments.get(pid, {})) | set(self._active().get(pid, ())))

    def activity_arrays(self, pids: Sequence[str], *, values: bool = True
                        ) -> tuple[list[SeriesKey], np.ndarray, np.ndarray, np.ndarray]:
        """The activity series of ``pids`` (sorted) as arrays, by key: (keys, days per series,
        their day ordinals end to end, each day's own minutes and attendances ``[day, 2]``);
        what the walk (:mod:`.steps`) reads. Views of a loaded state's arrays, or built from
        the series (``values`` false: then without the values, as a walk's plan needs them)."""
        if self._columns is not None:
            return self._columns.select(pids)
        series = [((pid, staff, school), by_school[school])
                  for pid in pids for staff, by_school in sorted(
                      self._activity.get(pid, {}).items()) for school in sorted(by_school)]
        return arrays_of(series, values=values)

    def series_of(self, pid: str, staff: str) -> Mapping[str, Series]:
        """A person's activity series by school."""
        return self.activity.get(pid, {}).get(staff, _EMPTY)

    def days_with_entries(self, pid: str, staff: str, school: str) -> list[dt.date]:
        """Days the series of (partnership, staff, school) has facts with figures on, sorted."""
        found = self._packed.get((pid, staff, school))
        if found is not None:  # a loaded series: its ordinals, checked when loaded
            return [dt.date.fromordinal(o) for o in _ordinals(found[0], (pid, staff, school))]
        return sorted(self.same_day.get((pid, staff, school), ()))

    def minutes_earlier_that_day(self, pid: str, staff: str, school: str,
                                 event: CorrectableEvent) -> int:
        """Minutes of the facts of the same series and day ordered before ``event`` (by id)."""
        day = event.occurred_on
        key = (pid, staff, school)
        if key in self._packed:
            self._unpack(key)
        held = self.same_day.get(key, {}).get(day)
        if not isinstance(held, SameDay):
            return 0
        explicit = sum(held.others.values())
        first = self.activity[pid][staff][school].between(day, day)[0] - explicit
        earlier = sum(m for eid, m in held.others.items() if eid < event.event_id)
        return earlier + (first if held.first < event.event_id else 0)

    def first_day(self, partnership_id: str | None = None) -> dt.date | None:
        """Earliest assignment start or activity date (one or all partnerships), or None."""
        if partnership_id is None:
            if None not in self._first_all:  # every national report asks: kept until a change
                self._first_all[None] = self._first_day(None)
            return self._first_all[None]
        return self._first_day(partnership_id)

    def _first_day(self, partnership_id: str | None) -> dt.date | None:
        first: dt.date | None = None
        for pid in self.partnerships(partnership_id):
            if pid in self._first_days:
                low = self._first_days[pid]
            else:
                days = [a.occurred_on for by_id in self.assignments.get(pid, {}).values()
                        for a in by_id.values()]
                if self._columns is not None:
                    found = self._columns.first_day(pid)
                    if found is not None:
                        days.append(dt.date.fromordinal(found))
                else:
                    days += [d for by_school in self._activity.get(pid, {}).values()
                             for s in by_school.values() if (d := s.first_day()) is not None]
                low = min(days) if days else None
                if self.knows(pid):
                    self._first_days[pid] = low  # unknown ids are not remembered
            if low is not None:
                first = low if first is None else min(first, low)
        return first

    def timeline(self, pid: str, staff: str) -> tuple[Segment, ...]:
        """The person's assignments and the gaps around them, covering every day."""
        key = (pid, staff)
        cached = self._timelines.get(key)
        if cached is not None:
            return cached
        assigned = sorted(self.assignments.get(pid, {}).get(staff, {}).values(),
                          key=lambda e: (e.occurred_on, e.event_id))
        releases = sorted(self.releases.get(pid, {}).get(staff, {}).values())
        segments: list[Segment] = []
        cursor: dt.date | None = None  # first day not yet covered (None: the beginning)
        open_ended = False
        for i, a in enumerate(assigned):
            start = a.occurred_on
            end: dt.date | None = None
            if i + 1 < len(assigned):
                end = assigned[i + 1].occurred_on - DAY
            j = bisect_left(releases, start)
            if j < len(releases) and (end is None or releases[j] < end):
                end = releases[j]
            if end is not None and end < start:
                continue  # superseded on its own date
            if cursor is None or cursor < start:
                segments.append(Segment(cursor, start - DAY, None))
            segments.append(Segment(start, end, a))
            if end is None:
                open_ended = True
                break
            cursor = end + DAY
        if not open_ended:
            segments.append(Segment(cursor, None, None))
        result = self._timelines[key] = tuple(segments)
        return result

    def stream_of(self, pid: str, a: StaffAssigned) -> StreamLevels | None:
        """Levels of the funding stream of assignment ``a`` (None: no stream or no change)."""
        if a.funding_stream is None:
            return None
        return self.funding_levels.stream(pid, a.funding_stream)

    def release_upto(self, a: StaffAssigned, day: dt.date) -> int:
        """Release minutes of assignment ``a`` from its start through ``day``:
        ``release_minutes_per_week * teaching days // 5``."""
        days = self.calendar.teaching_days(a.occurred_on, day)
        return a.release_minutes_per_week * days // 5


def _keep(store: dict[str, dict[str, dict[str, _T]]], pid: str, staff: str, event_id: str,
          value: _T, sign: int) -> None:
    """Add (or remove) ``value`` at ``store[pid][staff][event_id]``, dropping emptied levels."""
    if sign > 0:
        store.setdefault(pid, {}).setdefault(staff, {})[event_id] = value
        return
    by_staff = store.get(pid)
    if by_staff is None or staff not in by_staff:
        return
    by_staff[staff].pop(event_id, None)
    if not by_staff[staff]:
        del by_staff[staff]
        if not by_staff:
            del store[pid]


def _date(ordinal: int, what: str) -> dt.date:
    """The date of a day ordinal read from a checkpoint (ValueError when out of range)."""
    try:
        return dt.date.fromordinal(ordinal)
    except (ValueError, OverflowError):
        msg = f"staff facts: {what} day ordinal {ordinal} is not a date"
        raise ValueError(msg) from None


_IDS_ENCODER = msgspec.msgpack.Encoder()
_IDS_DECODER = msgspec.msgpack.Decoder(DayIdsState)
_NO_DAYS = (b"", msgspec.Raw(_IDS_ENCODER.encode(DayIdsState([], []))))
_LAST_ORDINAL = dt.date.max.toordinal()


def _pack_days(held: Mapping[dt.date, str | SameDay] | None) -> tuple[bytes, msgspec.Raw]:
    """The days of one series as :attr:`_packed` keeps them (ordinals, encoded ids),
    canonical: days ascending, the other facts of a shared day by id."""
    if not held:
        return _NO_DAYS
    days = sorted(held)
    held_ids = list(map(held.__getitem__, days))
    firsts: list[Any] = held_ids.copy()
    shared: list[SharedDayState] = []
    for index in [i for i, ids in enumerate(held_ids) if type(ids) is not str]:
        ids = held_ids[index]
        assert isinstance(ids, SameDay)
        firsts[index] = ids.first
        shared.append(SharedDayState(index, [OtherFactState(e, m)
                                             for e, m in sorted(ids.others.items())]))
    ordinals = array("i", map(dt.date.toordinal, days))
    if sys.byteorder == "big":
        ordinals.byteswap()
    return ordinals.tobytes(), msgspec.Raw(_IDS_ENCODER.encode(DayIdsState(firsts, shared)))


def _check_plan(plan: WalkPlanState, assignments: int) -> None:
    """ValueError (one line) unless ``plan`` has the shape :mod:`.steps` writes: arrays of
    matching lengths, every index in range, stretches ascending by person and first day,
    release runs and tails on assignments. What its figures are is the facts' to say: a
    checkpoint is bound to the log it was built from."""
    def ints(data: bytes, what: str, size: int = 4) -> np.ndarray:
        if len(data) % size:
            msg = f"staff facts: the walk plan's {what} has {len(data)} bytes"
            raise ValueError(msg)
        return np.frombuffer(data, dtype=f"<i{size}").astype(np.int64)

    def fail(what: str) -> None:
        msg = f"staff facts: the walk plan's {what}"
        raise ValueError(msg)

    if not plan.pids or any(a >= b for a, b in pairwise(plan.pids)):
        fail("partnerships are not ascending")
    if len(plan.rate) % 2 or not plan.rate:
        fail("rate is not (day, pence) pairs")
    if not 1 <= plan.base <= plan.last + 1 <= _LAST_ORDINAL + 1:
        fail(f"days {plan.base}..{plan.last} are not dates")
    people = ints(plan.people_pid, "people")
    if len(people) != len(plan.people_staff) or (
            len(people) and (people.min() < 0 or people.max() >= len(plan.pids))):
        fail("people do not match its partnerships")
    streams = len(plan.stream_pid)
    if len(plan.stream_name) != streams:
        fail("streams do not match")
    person, start, terms, stream = (ints(getattr(plan, f"seg_{f}"), f"stretches' {f}")
                                    for f in ("person", "start", "terms", "stream"))
    count = len(person)
    if not len(start) == len(terms) == len(stream) == len(ints(plan.seg_rate, "rates", 8)
                                                          ) == count:
        fail("stretches have columns of different lengths")
    if count and (person.min() < 0 or person.max() >= len(people) or start.min() < 0
                  or start.max() > _LAST_ORDINAL or terms.min() < -1
                  or terms.max() >= assignments or stream.min() < -1
                  or stream.max() >= streams):
        fail("stretches index outside its people, assignments or streams")
    keys = (person << 22) | start
    if count > 1 and not (keys[1:] > keys[:-1]).all():
        fail("stretches are not ascending by person and day")
    runs = [ints(getattr(plan, f"rel_{f}"), f"runs' {f}") for f in ("segment", "lo", "count",
                                                                      "done")]
    flags = np.frombuffer(plan.rel_funded, dtype=np.uint8)
    if any(len(column) != len(flags) for column in runs):
        fail("release runs have columns of different lengths")
    rel = ints(plan.release_segments, "release stretches")
    days = ints(plan.release_days, "release days")
    tails = ints(plan.tail_segments, "tails")
    if len(days) != len(rel) or len(tails) != len(plan.tail_funded):
        fail("release stretches or tails have columns of different lengths")
    for what, column in (("runs", runs[0]), ("release stretches", rel), ("tails", tails)):
        if len(column) and (column.min() < 0 or column.max() >= count
                            or (terms[column] < 0).any()
                            or (len(column) > 1 and (column[1:] < column[:-1]).any())):
            fail(f"{what} are not ascending stretches of assignments")
    if len(flags) and (min(int(c.min()) for c in runs[1:]) < 0 or int(flags.max()) > 1):
        fail("release runs have negative days or flags other than 0 and 1")
    if len(days) and int(days.min()) < 0:
        fail("release stretches have negative days")
    if len(tails) and (not np.isin(tails, rel).all()
                       or int(np.frombuffer(plan.tail_funded, dtype=np.uint8).max()) > 1):
        fail("tails are not release stretches, or have flags other than 0 and 1")


def _le_ordinals(days: array[int]) -> bytes:
    """A series' day ordinals as :func:`_pack_days` writes them (4-byte little-endian)."""
    if sys.byteorder == "big":
        days = array("i", days)
        days.byteswap()
    return days.tobytes()


def _ordinals(days: bytes, key: SeriesKey) -> list[int]:
    """The day ordinals of a series' state, checked (ValueError naming the series)."""
    if len(days) % 4:
        msg = f"staff facts: series {key} has {len(days)} bytes of day ordinals"
        raise ValueError(msg)
    values = array("i")
    values.frombytes(days)
    if sys.byteorder == "big":
        values.byteswap()
    out = values.tolist()
    if out and (out[0] < 1 or out[-1] > _LAST_ORDINAL
                or not all(map(operator.lt, out, out[1:]))):
        msg = f"staff facts: series {key} has day ordinals out of order or not dates"
        raise ValueError(msg)
    return out
