"""Participation: club sessions, attendances, SEND attendances and competition participants.

Competitions count at their host school (the first of ``school_ids``) so that school rows add up
to the total. ``phase`` is derived from ``school`` at query time from the SchoolJoined facts in
force, so correcting a school's phase needs no re-indexing.

Checkpoints (:meth:`Participation.dump_state`): the index's state (as the base class dumps it)
and the phase of each ``SchoolJoined`` fact, in a :class:`ParticipationState`, with the
attendances of every (partnership, school) kept on the days a survey reads them
(:class:`KeptAttendances`).

Kept attendances. The survey (:meth:`Participation.school_attendances`) reads every school's
attendances summed through the end of each row and through the day before its start, and from a
checkpoint that meant inflating and decoding every partnership's school dimension (the largest
part of the index) for a few numbers per school. Those days are known in advance: a row ends on
a period's end or on the report's as-of day (any day from the last one the dimension keys on
gives its full sums), and starts on a period start or on the survey's first day (which the
survey says: :meth:`Participation.keep_school_attendances`). So the state also keeps every
school's sums through those days (:func:`kept_attendances`): the day before each period start
of every kind between the first and the last day the school dimension keys, the day before
each day a sibling's rows start on, and the last day; and every measure of every school through
that last day (``totals``), which a national report by school or phase as of the last day or
later sums instead of inflating the dimension (:meth:`Participation.report`). Like the staff
checkpoint's kept answers, they are derived (computed by
:func:`~ssp_ledger.projection.index.every_group_upto` over the index, so equal by construction,
and dumped anew each time, so ``verify`` compares them), checked for shape on load, and dropped
by the first change of the facts; a range or window with a day they do not hold is read from
the index as before.
"""

from __future__ import annotations

import datetime as dt
import sys
from array import array
from collections.abc import Callable, Iterable, Mapping, Sequence
from itertools import pairwise
from typing import ClassVar

import msgspec

from ssp_ledger.events import ClubRun, CompetitionHeld, CorrectableEvent, SchoolJoined
from ssp_ledger.periods import periods_between
from ssp_ledger.projection import (
    PERIOD_KINDS,
    AdditiveProjection,
    Columns,
    Fact,
    Query,
    Table,
)
from ssp_ledger.projection.additive import split_by_kind
from ssp_ledger.projection.checkpoint import PartitionedIndexState, decode_state
from ssp_ledger.projection.index import (
    PartitionedIndex,
    every_group_between,
    every_group_upto,
    range_bounds,
    ranges_from,
)

__all__ = ["STATE_VERSION", "KeptAttendances", "Participation", "ParticipationState",
           "SchoolPhase", "kept_attendances", "kept_ranges"]

STATE_VERSION = 2
"""Version of :class:`ParticipationState`; a checkpoint of another version is refused (1 kept
no attendances)."""

_ORDINALS = (1, dt.date.max.toordinal())


class SchoolPhase(msgspec.Struct, frozen=True, array_like=True):
    """The phase a ``SchoolJoined`` fact gives its school."""

    partnership_id: str
    event_id: str
    school_id: str
    phase: str


class KeptAttendances(msgspec.Struct, frozen=True, array_like=True):
    """Every (partnership, school)'s attendances summed through each of a few days (see the
    module doc): ``sums`` holds, mark after mark, one little-endian integer of ``itemsize``
    bytes per school."""

    partnership_ids: list[str]
    school_ids: list[str]
    """The schools, sorted by (partnership, school): every series of the school dimension."""
    marks: bytes
    """The days (4-byte ordinals, ascending), the last one the last day the series key."""
    first: int
    """The first day the series key (through any earlier day every sum is 0)."""
    itemsize: int
    sums: bytes
    totals: bytes
    """Every measure of each school through the last day (``itemsize``-byte integers, school
    after school): what a national report by school or phase as of that day or later sums."""

    def check(self) -> list[int]:
        """The marks; ValueError (one line) unless the columns have the shape
        :func:`kept_attendances` writes."""
        def fail(what: str) -> None:
            msg = f"participation state: the kept attendances' {what}"
            raise ValueError(msg)

        if len(self.partnership_ids) != len(self.school_ids):
            fail("schools are columns of different lengths")
        schools = list(zip(self.partnership_ids, self.school_ids, strict=True))
        if any(a >= b for a, b in pairwise(schools)):
            fail("schools are not ascending")
        if len(self.marks) % 4 or not self.marks:
            fail(f"marks have {len(self.marks)} bytes")
        marks = _ints(self.marks, 4).tolist()
        if any(a >= b for a, b in pairwise(marks)) or not (
                _ORDINALS[0] <= self.first <= marks[0] and marks[-1] <= _ORDINALS[1]):
            fail("marks are not ascending days from the first")
        if self.itemsize not in (4, 8) or len(self.sums) != (
                len(marks) * len(schools) * self.itemsize):
            fail(f"sums have {len(self.sums)} bytes of {self.itemsize}-byte figures")
        if len(self.totals) != len(schools) * len(Participation.measures) * self.itemsize:
            fail(f"totals have {len(self.totals)} bytes")
        return marks


def _ints(data: bytes, size: int) -> array[int]:
    """Little-endian integers of ``size`` (4 or 8) bytes."""
    out = array("i" if size == 4 else "q")
    out.frombytes(data)
    if sys.byteorder != "little":
        out.byteswap()
    return out


def _le(values: Iterable[int], size: int) -> bytes:
    out = array("i" if size == 4 else "q", values)
    if sys.byteorder != "little":
        out.byteswap()
    return out.tobytes()


class ParticipationState(msgspec.Struct, frozen=True, kw_only=True,
                         tag="ssp-ledger/participation", tag_field="format"):
    """A Participation's state: its index and the phases, by partnership and event id, and the
    kept attendances (None when the index has no school)."""

    version: int
    index: memoryview
    """The index, as :meth:`AdditiveProjection.dump_state` gives it (decoded as a view of the
    state's bytes: the index keeps views of it, not a copy)."""
    phases: list[SchoolPhase]
    attendances: KeptAttendances | None = None


_ENCODER = msgspec.msgpack.Encoder(order="deterministic")
_DECODER = msgspec.msgpack.Decoder(ParticipationState)


class Participation(AdditiveProjection):
    """Participation counts as of any valid date, grouped by school, phase, activity or setting."""

    name: ClassVar[str] = "participation"
    groupings: ClassVar[tuple[str, ...]] = ("school", "phase", "activity", "setting")
    handles: ClassVar[tuple[type[CorrectableEvent], ...]] = (ClubRun, CompetitionHeld, SchoolJoined)
    """Event classes this projection reacts to (the set offers it no others)."""
    dimensions: ClassVar[tuple[str, ...]] = ("school", "activity", "setting")
    measures: ClassVar[tuple[str, ...]] = (
        "sessions",
        "attendances",
        "send_attendances",
        "competitions",
        "competition_participants",
    )

    columns: ClassVar[Mapping[type, Columns]] = {
        ClubRun: Columns({"school": "school_id", "activity": "activity", "setting": "setting"},
                         (1, "participants", "send_participants", 0, 0)),
        CompetitionHeld: Columns({"school": lambda e: e.school_ids[0], "activity": "activity",
                                  "setting": "kind"}, (0, 0, 0, 1, "participants")),
    }
    """:meth:`contribution`, column by column (what a replay reads)."""

    def __init__(self) -> None:
        super().__init__()
        self._phases: dict[tuple[str, str], tuple[str, str]] = {}
        self._kept: tuple[KeptAttendances, list[int]] | None = None
        """A loaded state's kept attendances and their marks, while no fact has changed
        since."""
        self._row_starts: list[Callable[[], Iterable[dt.date]]] = []
        """What siblings said their rows start on (:meth:`keep_school_attendances`)."""
        self._loaded: bytes | None = None
        """The bytes a state was loaded from, while no fact has changed since."""

    def keep_school_attendances(self, row_starts: Callable[[], Iterable[dt.date]]) -> None:
        """Have a dumped state keep every school's attendances also through the day before each
        day ``row_starts()`` gives (asked when a state is dumped): a sibling whose rows start
        on days no period starts on (the survey's rows by period start on its first return or
        roll) then reads them from a checkpoint without inflating the index."""
        self._row_starts.append(row_starts)

    def _starts(self) -> set[int]:
        """The ordinals of every day a sibling said its rows start on."""
        return {day.toordinal() for starts in self._row_starts for day in starts()}

    def dump_state(self) -> bytes:
        """The index and the phases as canonical msgpack (a :class:`ParticipationState`), with
        the kept attendances (computed anew from the index). A loaded state no fact has changed
        since gives back its bytes while the siblings' days are the ones it kept, or no
        sibling asked (a restored set that has not loaded the survey fed no fact since)."""
        if self._loaded is not None and (
                not self._row_starts or self._kept is None or self._kept[1] == _marks(
                    self._kept[0].first, self._kept[1][-1], self._starts())):
            return self._loaded
        phases = [SchoolPhase(pid, eid, *self._phases[(pid, eid)])
                  for pid, eid in sorted(self._phases)]
        index = super().dump_state()
        # The kept attendances from the index's dumped bytes (each partnership's school
        # dimension inflated in turn, its byte planes read in place): half the work of reading
        # the live series again (0.08 against 0.18 s at 1M events).
        kept = kept_attendances(PartitionedIndex.load(decode_state(index, PartitionedIndexState)),
                                self.measures.index("attendances"), self._starts())
        # Kept as a loaded state keeps them (dropped by the next change, as those are): the
        # survey, dumped after this, copies them (kept_school_attendances).
        self._kept = None if kept is None else (kept, kept.check())
        return _ENCODER.encode(ParticipationState(
            version=STATE_VERSION, index=memoryview(index), phases=phases, attendances=kept))

    def load_state(self, data: bytes) -> None:
        """Take the state of :meth:`dump_state` bytes (on a fresh instance); ValueError when
        they are not such bytes."""
        state = _DECODER.decode(data)
        if state.version != STATE_VERSION:
            msg = f"participation state version {state.version} is not {STATE_VERSION}"
            raise ValueError(msg)
        kept = state.attendances
        marks = None if kept is None else kept.check()
        self.load_index(state.index)
        self._phases = {(p.partnership_id, p.event_id): (p.school_id, p.phase)
                        for p in state.phases}
        self._kept = None if kept is None or marks is None else (kept, marks)
        self._loaded = data

    def contribution(
        self, event: CorrectableEvent
    ) -> tuple[Mapping[str, str | Iterable[str]], tuple[int, ...]] | None:
        """A club session or a competition (counted at its host school)."""
        if isinstance(event, ClubRun):
            keys = {"school": event.school_id, "activity": event.activity, "setting": event.setting}
            return keys, (1, event.participants, event.send_participants, 0, 0)
        if isinstance(event, CompetitionHeld):
            keys = {"school": event.school_ids[0], "activity": event.activity,
                    "setting": event.kind}
            return keys, (0, 0, 0, 1, event.participants)
        return None

    def apply(self, fact: Fact) -> None:
        """Index activity; remember the phase of each school from SchoolJoined."""
        self._kept = self._loaded = None
        event = fact.event
        if isinstance(event, SchoolJoined):
            self._phases[(event.partnership_id, event.event_id)] = (event.school_id, event.phase)
        super().apply(fact)

    def retract(self, fact: Fact) -> None:
        """Undo :meth:`apply`."""
        self._kept = self._loaded = None
        event = fact.event
        if isinstance(event, SchoolJoined):
            self._phases.pop((event.partnership_id, event.event_id), None)
        super().retract(fact)

    def apply_batch(self, facts: Sequence[Fact], signs: Sequence[int]) -> None:
        """:meth:`apply`/:meth:`retract` of each fact, in order: the phases one by one, the
        activity as one columnar batch (:meth:`AdditiveProjection.index_batch`)."""
        self._kept = self._loaded = None
        by_kind = split_by_kind(facts, signs)
        joined = by_kind.get(SchoolJoined)
        if joined is not None:  # in log order (the only facts that move the phases)
            phases = self._phases
            for event, sign in zip(*joined, strict=True):
                key = (event.partnership_id, event.event_id)
                if sign > 0:
                    phases[key] = (event.school_id, event.phase)
                else:
                    phases.pop(key, None)
        self.index_batch(facts, signs, by_kind)

    def kept_school_attendances(self) -> KeptAttendances | None:
        """Every school's attendances through the days a dumped state keeps them on
        (:class:`KeptAttendances`, for the siblings' days as they are now), or None when the
        school dimension keys no day: the ones a state loaded or dumped since the last change
        holds, else computed now. The survey keeps a copy in its own state."""
        starts = self._starts()
        if self._kept is not None:
            kept, marks = self._kept
            if marks == _marks(kept.first, marks[-1], starts):
                return kept
        return kept_attendances(self.index, self.measures.index("attendances"), starts)

    def school_attendances(self, ranges: Sequence[tuple[dt.date | None, dt.date]]
                           ) -> list[dict[tuple[str, str], int]]:
        """Attendances of every (partnership, school) over each of ``ranges`` (``(start,
        end)``, start None: from the first day): what :meth:`report` by school of each
        partnership gives as ``attendances`` (a school it leaves out, or maps to 0), for every
        partnership and range in one vectorised look-up
        (:func:`~ssp_ledger.projection.index.every_group_between`; the survey's attendances
        per pupil on roll): from the kept attendances when a loaded state kept every day the
        ranges read (see the module doc)."""
        found = None if self._kept is None else kept_ranges(*self._kept, ranges)
        if found is None:
            found = every_group_between(self.index, "school",
                                        self.measures.index("attendances"), ranges)
        labels, sums = found
        return [dict(zip(labels, row, strict=True)) for row in sums]

    def report(self, query: Query) -> Table:
        """See :meth:`AdditiveProjection.report`; a national report by school or phase as of
        the last day its schools key or later sums the kept totals (see the module doc)."""
        return self.index.table(self.name, query, self.derived(query), self._known)

    def _known(self, dimension: str, start: dt.date | None, end: dt.date
               ) -> dict[str, tuple[int, ...]] | None:
        """Every school's sums over ``[start, end]`` across every partnership, from the kept
        totals when they hold the window (from before the first day to the last or later),
        omitting all-zero schools as the index does; None otherwise."""
        if self._kept is None or dimension != "school":
            return None
        kept, marks = self._kept
        if end.toordinal() < marks[-1] or (start is not None and start.toordinal() > kept.first):
            return None
        width = len(self.measures)
        totals = _ints(kept.totals, kept.itemsize).tolist()
        out: dict[str, list[int]] = {}
        for i, school in enumerate(kept.school_ids):
            row = totals[i * width:(i + 1) * width]
            sums = out.get(school)
            if sums is None:
                out[school] = row
            else:
                for m in range(width):
                    sums[m] += row[m]
        return {school: tuple(sums) for school, sums in out.items() if any(sums)}

    def derived(self, query: Query) -> Mapping[str, tuple[str, Callable[[str], str]]]:
        """``phase`` from ``school``, using the schools of the partnership asked about.

        The school-to-phase map is built on first use (grouping by phase), so other queries stay
        O(log n).
        """
        phases: dict[str, str] | None = None

        def phase_of(school: str) -> str:
            nonlocal phases
            if phases is None:
                phases = {
                    school_id: phase
                    for (pid, _), (school_id, phase) in sorted(self._phases.items())
                    if query.partnership_id is None or pid == query.partnership_id
                }
            return phases.get(school, "unknown")

        return {"phase": ("school", phase_of)}


def kept_attendances(index: PartitionedIndex, measure: int, starts: Iterable[int]
                     ) -> KeptAttendances | None:
    """Measure ``measure`` (the attendances) of every (partnership, school) of ``index`` summed
    through the days :class:`KeptAttendances` keeps (see the module doc), the day before each
    of ``starts`` among them, and every measure through the last day; None when the school
    dimension keys no day."""
    keys = index.total.packed()[0]
    if not keys:
        return None
    measures = range(len(index.measures))
    at = _marks(keys[0], keys[-1], starts)
    labels, sums_at, span = every_group_upto(index, "school", measures, at)
    if span is not None and not keys[0] <= span[0] <= span[1] <= keys[-1]:
        # a school keys a day the total does not (a net zero there): mark from the schools'
        at = _marks(*span, starts)
        labels, sums_at, span = every_group_upto(index, "school", measures, at)
    if span is None:
        return None
    marks = _marks(*span, starts)  # those of at inside the span; the last's row: at's last
    row = {bound: r for r, bound in enumerate(at)}
    picked = [row[m if m < span[1] else at[-1]] for m in marks]
    sums = sums_at[picked, measure, :].ravel().tolist()
    totals = sums_at[row[at[-1]]].T.ravel().tolist()  # [school, measure]
    both = sums + totals
    size = 4 if not both or (min(both) >= -(1 << 31) and max(both) < 1 << 31) else 8
    return KeptAttendances([pid for pid, _ in labels], [school for _, school in labels],
                           _le(marks, 4), span[0], size, _le(sums, size), _le(totals, size))


def _marks(first: int, last: int, starts: Iterable[int]) -> list[int]:
    """The days before each period start of every kind between ``first`` and ``last``, before
    each of ``starts``, and ``last``: ascending."""
    days = {p.start.toordinal() - 1 for kind in PERIOD_KINDS for p in periods_between(
        kind, dt.date.fromordinal(first), dt.date.fromordinal(last))}
    return sorted({d for d in days | {s - 1 for s in starts} if first <= d < last} | {last})


def kept_ranges(kept: KeptAttendances, marks: list[int],
                 ranges: Sequence[tuple[dt.date | None, dt.date]]
                 ) -> tuple[list[tuple[str, str]], list[list[int]]] | None:
    """What :func:`~ssp_ledger.projection.index.every_group_between` gives for ``ranges``,
    from ``kept``; None when a day they read is not kept."""
    first, last = kept.first, marks[-1]
    count = len(kept.school_ids)
    row = {m: r for r, m in enumerate(marks)}
    wanted: dict[int, int | None] = {}
    for bound in range_bounds(ranges):
        if bound < first:
            wanted[bound] = None
        else:
            found = row.get(min(bound, last))
            if found is None:
                return None
            wanted[bound] = found
    width = count * kept.itemsize
    zero = [0] * count
    at = {bound: zero if r is None else _ints(kept.sums[r * width:(r + 1) * width],
                                              kept.itemsize).tolist()
          for bound, r in wanted.items()}
    labels = list(zip(kept.partnership_ids, kept.school_ids, strict=True))
    return labels, ranges_from(ranges, count, at.__getitem__)
