"""Embedding ssp-ledger: record a small partnership, ask point-in-time questions, add a projection.

Run: python examples/embed_quickstart.py [STORE]   (default: a temporary SQLite file)
"""

from __future__ import annotations

import datetime as dt
import sys
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import ClassVar

from ssp_ledger import (
    ClubRun,
    FundingChanged,
    Ledger,
    NotAMember,
    PartnershipFormed,
    SchoolJoined,
    StaffAssigned,
)
from ssp_ledger.events import CorrectableEvent
from ssp_ledger.projection import AdditiveProjection, load_projections

P = "tyneside"


class LunchtimeClubs(AdditiveProjection):
    """A user projection: lunchtime sessions per school (looks exactly like the standard ones)."""

    name: ClassVar[str] = "lunchtime"
    groupings: ClassVar[tuple[str, ...]] = ("school",)
    dimensions: ClassVar[tuple[str, ...]] = ("school",)
    measures: ClassVar[tuple[str, ...]] = ("lunchtime_sessions", "lunchtime_attendances")

    def contribution(
        self, event: CorrectableEvent
    ) -> tuple[Mapping[str, str | Iterable[str]], tuple[int, ...]] | None:
        if isinstance(event, ClubRun) and event.setting == "lunchtime":
            return {"school": event.school_id}, (1, event.participants)
        return None


def history() -> list[CorrectableEvent]:
    d = dt.date
    return [
        PartnershipFormed(partnership_id=P, occurred_on=d(2006, 9, 1), event_id="formed",
                          name="Tyneside SSP", hub_school_id="hub"),
        SchoolJoined(partnership_id=P, occurred_on=d(2006, 9, 1), event_id="join-hub",
                     school_id="hub", school_name="Tyne Sports College", phase="sports_college"),
        SchoolJoined(partnership_id=P, occurred_on=d(2006, 9, 1), event_id="join-st-marys",
                     school_id="st-marys", school_name="St Mary's Primary", phase="primary"),
        FundingChanged(partnership_id=P, occurred_on=d(2006, 9, 1), event_id="grant-2006",
                       funding_stream="ssp-grant", annual_amount_pence=27_000_000,
                       reason="PESSCL grant", citation="grant letter 2006/07"),
        StaffAssigned(partnership_id=P, occurred_on=d(2006, 9, 1), event_id="plt-1",
                      staff_id="plt-st-marys", role="PLT", school_id="st-marys",
                      release_minutes_per_week=90, hourly_cost_pence=2300,
                      funding_stream="ssp-grant"),
        ClubRun(partnership_id=P, occurred_on=d(2006, 9, 13), event_id="club-1",
                club_id="netball", school_id="st-marys", activity="netball", participants=14,
                send_participants=1, staff_minutes=60, staff_id="plt-st-marys",
                setting="lunchtime"),
        ClubRun(partnership_id=P, occurred_on=d(2006, 9, 14), event_id="club-2",
                club_id="football", school_id="hub", activity="football", participants=22,
                staff_minutes=75),
    ]


def main(store: Path) -> None:
    factories = {**load_projections(), "lunchtime": LunchtimeClubs}
    with Ledger.open(store, projections=factories) as ledger:
        result = ledger.record_many(history())
        print(f"recorded {result.recorded} events at {result.recorded_at:%Y-%m-%d %H:%M} UTC")
        try:  # a batch with one bad event stores nothing
            ledger.record(ClubRun(partnership_id=P, occurred_on=dt.date(2006, 9, 20),
                                  event_id="club-x", club_id="c", school_id="unknown-school",
                                  activity="dance", participants=5))
        except NotAMember as e:
            print(f"rejected: {e}")
        as_of = dt.date(2006, 12, 31)
        for name in ("participation", "staff_time_cost", "lunchtime"):
            table = ledger.report(name, as_of=as_of, by="school")
            print(f"\n{name} as of {as_of}:")
            for row in table.to_dicts():
                print("  ", row)
        cost = ledger.staff_time_cost(as_of=as_of, by="funded").to_dicts()
        print("\nfunded vs hidden:", [(r["funded"], r["total_pence"]) for r in cost])


if __name__ == "__main__":
    if len(sys.argv) > 1:
        main(Path(sys.argv[1]))
    else:
        with tempfile.TemporaryDirectory() as folder:
            main(Path(folder) / "example.db")
