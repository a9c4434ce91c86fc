"""Resources: equipment, facilities, coaches and expertise shared between schools (a network).

``by="link"`` gives one row per directed pair ``from -> to``: the edges of the sharing network.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import ClassVar

from ssp_ledger.events import CorrectableEvent, ResourceShared
from ssp_ledger.projection import AdditiveProjection, Columns

__all__ = ["Resources"]


class Resources(AdditiveProjection):
    """Sharing between schools by resource kind, giver, receiver or link."""

    name: ClassVar[str] = "resources"
    groupings: ClassVar[tuple[str, ...]] = ("resource", "from_school", "to_school", "link")
    handles: ClassVar[tuple[type[CorrectableEvent], ...]] = (ResourceShared,)
    """Event classes this projection reacts to (the set offers it no others)."""
    dimensions: ClassVar[tuple[str, ...]] = groupings
    measures: ClassVar[tuple[str, ...]] = ("times_shared", "staff_minutes", "value_pence")

    columns: ClassVar[Mapping[type, Columns]] = {
        ResourceShared: Columns(
            {"resource": "resource", "from_school": "from_school_id",
             "to_school": "to_school_id",
             "link": lambda e: f"{e.from_school_id} -> {e.to_school_id}"},
            (1, "staff_minutes", "value_pence")),
    }
    """:meth:`contribution`, column by column (what a replay reads)."""

    def contribution(
        self, event: CorrectableEvent
    ) -> tuple[Mapping[str, str | Iterable[str]], tuple[int, ...]] | None:
        """One sharing: counted for its kind, giver, receiver and link."""
        if not isinstance(event, ResourceShared):
            return None
        keys = {
            "resource": event.resource,
            "from_school": event.from_school_id,
            "to_school": event.to_school_id,
            "link": f"{event.from_school_id} -> {event.to_school_id}",
        }
        return keys, (1, event.staff_minutes, event.value_pence)
