"""Leaders: people trained as young leaders, volunteers and coaches, and CPD for teachers."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import ClassVar

from ssp_ledger.events import CorrectableEvent, CpdDelivered, LeaderTrained
from ssp_ledger.projection import AdditiveProjection, Columns

__all__ = ["Leaders"]


class Leaders(AdditiveProjection):
    """People trained by kind, award and school; CPD teachers and minutes."""

    name: ClassVar[str] = "leaders"
    groupings: ClassVar[tuple[str, ...]] = ("leader_kind", "award", "school")
    handles: ClassVar[tuple[type[CorrectableEvent], ...]] = (LeaderTrained, CpdDelivered)
    """Event classes this projection reacts to (the set offers it no others)."""
    dimensions: ClassVar[tuple[str, ...]] = groupings
    measures: ClassVar[tuple[str, ...]] = (
        "people_trained", "courses", "training_minutes", "cpd_teachers", "cpd_minutes"
    )

    columns: ClassVar[Mapping[type, Columns]] = {
        LeaderTrained: Columns({"leader_kind": "leader_kind", "award": "award",
                                "school": "school_id"}, ("people", 1, "minutes", 0, 0)),
        CpdDelivered: Columns({"leader_kind": lambda _: "teacher_cpd", "award": "topic",
                               "school": lambda _: "(partnership)"},
                              (0, 0, 0, "teachers", "minutes")),
    }
    """:meth:`contribution`, column by column (what a replay reads)."""

    def contribution(
        self, event: CorrectableEvent
    ) -> tuple[Mapping[str, str | Iterable[str]], tuple[int, ...]] | None:
        """A training course (LeaderTrained) or a CPD session (kind ``teacher_cpd``)."""
        if isinstance(event, LeaderTrained):
            keys = {"leader_kind": event.leader_kind, "award": event.award,
                    "school": event.school_id}
            return keys, (event.people, 1, event.minutes, 0, 0)
        if isinstance(event, CpdDelivered):
            keys = {"leader_kind": "teacher_cpd", "award": event.topic, "school": "(partnership)"}
            return keys, (0, 0, 0, event.teachers, event.minutes)
        return None
