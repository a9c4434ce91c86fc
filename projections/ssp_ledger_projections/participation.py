"""Participation: club sessions, attendances, SEND attendances and competition participants.

Competitions count at their host school (the first of ``school_ids``) so that school rows add up
to the total. ``phase`` is derived from ``school`` at query time from the SchoolJoined facts in
force, so correcting a school's phase needs no re-indexing.

Checkpoints (:meth:`Participation.dump_state`): the index's state (as the base class dumps it)
and the phase of each ``SchoolJoined`` fact, in a :class:`ParticipationState`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import ClassVar

import msgspec

from ssp_ledger.events import ClubRun, CompetitionHeld, CorrectableEvent, SchoolJoined
from ssp_ledger.projection import AdditiveProjection, Columns, Fact, Query
from ssp_ledger.projection.additive import split_by_kind
from ssp_ledger.projection.index import every_group_between

__all__ = ["STATE_VERSION", "Participation", "ParticipationState", "SchoolPhase"]

STATE_VERSION = 1
"""Version of :class:`ParticipationState`; a checkpoint of another version is refused."""


class SchoolPhase(msgspec.Struct, frozen=True, array_like=True):
    """The phase a ``SchoolJoined`` fact gives its school."""

    partnership_id: str
    event_id: str
    school_id: str
    phase: str


class ParticipationState(msgspec.Struct, frozen=True, kw_only=True,
                         tag="ssp-ledger/participation", tag_field="format"):
    """A Participation's state: its index and the phases, by partnership and event id."""

    version: int
    index: bytes
    """The index, as :meth:`AdditiveProjection.dump_state` gives it."""
    phases: list[SchoolPhase]


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

    def dump_state(self) -> bytes:
        """The index and the phases as canonical msgpack (a :class:`ParticipationState`)."""
        phases = [SchoolPhase(pid, eid, *self._phases[(pid, eid)])
                  for pid, eid in sorted(self._phases)]
        return _ENCODER.encode(ParticipationState(version=STATE_VERSION,
                                                  index=super().dump_state(), phases=phases))

    def load_state(self, data: bytes) -> None:
        """Take the state of :meth:`dump_state` bytes (on a fresh instance); ValueError when
        they are not such bytes."""
        state = _DECODER.decode(data)
        if state.version != STATE_VERSION:
            msg = f"participation state version {state.version} is not {STATE_VERSION}"
            raise ValueError(msg)
        super().load_state(state.index)
        self._phases = {(p.partnership_id, p.event_id): (p.school_id, p.phase)
                        for p in state.phases}

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
        event = fact.event
        if isinstance(event, SchoolJoined):
            self._phases[(event.partnership_id, event.event_id)] = (event.school_id, event.phase)
        super().apply(fact)

    def retract(self, fact: Fact) -> None:
        """Undo :meth:`apply`."""
        event = fact.event
        if isinstance(event, SchoolJoined):
            self._phases.pop((event.partnership_id, event.event_id), None)
        super().retract(fact)

    def apply_batch(self, facts: Sequence[Fact], signs: Sequence[int]) -> None:
        """:meth:`apply`/:meth:`retract` of each fact, in order: the phases one by one, the
        activity as one columnar batch (:meth:`AdditiveProjection.index_batch`)."""
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

    def school_attendances(self, ranges: Sequence[tuple[dt.date | None, dt.date]]
                           ) -> list[dict[tuple[str, str], int]]:
        """Attendances of every (partnership, school) over each of ``ranges`` (``(start,
        end)``, start None: from the first day): what :meth:`report` by school of each
        partnership gives as ``attendances`` (a school it leaves out, or maps to 0), for every
        partnership and range in one vectorised look-up
        (:func:`~ssp_ledger.projection.index.every_group_between`; the survey's attendances
        per pupil on roll)."""
        labels, sums = every_group_between(self.index, "school",
                                           self.measures.index("attendances"), ranges)
        return [dict(zip(labels, row, strict=True)) for row in sums]

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
