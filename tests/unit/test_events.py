"""Event classes: validation, tags, JSON Schema."""

from __future__ import annotations

import datetime as dt
import re

import msgspec
import pytest

from ssp_ledger import EVENT_TYPES, ClubRun, CompetitionHeld, EventCorrected, event_schema
from ssp_ledger.events import DomainEvent, ResourceShared, StaffAssigned

D = dt.date(2010, 9, 7)


def club(**kw: object) -> ClubRun:
    fields: dict[str, object] = {
        "partnership_id": "p", "occurred_on": D, "event_id": "e1", "club_id": "c",
        "school_id": "s", "activity": "football", "participants": 10,
    }
    fields.update(kw)
    return ClubRun(**fields)  # type: ignore[arg-type]


def test_valid_event_round_trips_through_json() -> None:
    event = club(send_participants=2, staff_minutes=60, staff_id="t1")
    data = msgspec.json.encode(event)
    assert b'"type":"ClubRun"' in data
    assert msgspec.json.decode(data, type=DomainEvent) == event  # type: ignore[arg-type]


@pytest.mark.parametrize(("kw", "message"), [
    ({"participants": -1}, "participants must not be negative"),
    ({"send_participants": 11}, "send_participants (11) exceeds participants (10)"),
    ({"setting": "breakfast"}, "setting must be one of"),
    ({"event_id": " "}, "event_id must not be empty"),
    ({"occurred_on": dt.date(3000, 1, 1)}, "occurred_on 3000-01-01 is outside"),
    ({"participants": 10**9}, "implausibly large"),
    ({"participants": True}, "must be an integer"),
])
def test_invalid_fields_are_rejected_on_construction(kw: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        club(**kw)


def test_invalid_fields_are_rejected_on_decoding_with_path() -> None:
    bad = b'{"type":"ClubRun","partnership_id":"p","occurred_on":"2010-09-07","event_id":"e",' \
          b'"club_id":"c","school_id":"s","activity":"f","participants":"ten"}'
    with pytest.raises(msgspec.ValidationError, match=r"\$\.participants"):
        msgspec.json.decode(bad, type=DomainEvent)  # type: ignore[arg-type]


def test_cross_field_rules() -> None:
    with pytest.raises(ValueError, match="must differ"):
        ResourceShared(partnership_id="p", occurred_on=D, event_id="r", from_school_id="a",
                       to_school_id="a", resource="equipment")
    with pytest.raises(ValueError, match="repeat"):
        CompetitionHeld(partnership_id="p", occurred_on=D, event_id="c", kind="festival",
                        school_ids=("a", "a"), activity="x", participants=1)
    with pytest.raises(ValueError, match=r"replacement\.event_id"):
        EventCorrected(partnership_id="p", occurred_on=D, event_id="x", target_event_id="e1",
                       reason="typo", replacement=club(event_id="other"))
    with pytest.raises(ValueError, match="role must be one of"):
        StaffAssigned(partnership_id="p", occurred_on=D, event_id="s", staff_id="t",
                      role="HEAD", school_id="s", release_minutes_per_week=0,  # type: ignore[arg-type]
                      hourly_cost_pence=0)


def test_catalogue_and_schema_cover_every_event() -> None:
    expected = {
        "PartnershipFormed", "SchoolJoined", "SchoolLeft", "StaffAssigned", "StaffReleased",
        "FundingChanged", "ClubRun", "CompetitionHeld", "LeaderTrained", "CpdDelivered",
        "ResourceShared", "RollCounted", "SurveyReturned", "ObjectiveSet", "EvaluationRecorded",
        "PartnershipDissolved",
        "EventCorrected", "EventRetracted",
    }
    assert set(EVENT_TYPES) == expected
    schema = event_schema()
    assert expected <= set(schema["$defs"])
    assert schema["$defs"]["ClubRun"]["properties"]["type"] == {"enum": ["ClubRun"]}
