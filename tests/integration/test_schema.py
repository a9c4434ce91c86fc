"""The published JSON Schema (``ssp-ledger schema``) validates every exported event."""

from __future__ import annotations

import datetime as dt
import io
import json
import subprocess
import sys
from typing import Any

import pytest

from ssp_ledger import EVENT_TYPES
from ssp_ledger.io import export_jsonl
from tests.integration.ledger_cases import synthetic

jsonschema = pytest.importorskip("jsonschema")


@pytest.fixture(scope="module")
def published() -> dict[str, Any]:
    out = subprocess.run([sys.executable, "-m", "ssp_ledger", "schema"], check=True,
                         capture_output=True, text=True).stdout
    schema: dict[str, Any] = json.loads(out)
    return schema


@pytest.fixture(scope="module")
def validator(published: dict[str, Any]) -> Any:
    cls = jsonschema.validators.validator_for(published)
    cls.check_schema(published)
    return cls(published, format_checker=cls.FORMAT_CHECKER)


def test_every_exported_event_of_a_synthetic_history_validates(validator: Any) -> None:
    events = synthetic(partnerships=1, horizon=dt.date(2008, 12, 31))
    buffer = io.BytesIO()
    count = export_jsonl(events, buffer)
    lines = buffer.getvalue().splitlines()
    assert count == len(lines) == len(events)
    seen: set[str] = set()
    for number, line in enumerate(lines, 1):
        document = json.loads(line)
        errors = sorted(validator.iter_errors(document), key=str)
        assert not errors, f"line {number}: {errors[0].message}"
        seen.add(document["type"])
    # the history exercises most of the catalogue, corrections and retractions included
    assert {"PartnershipFormed", "SchoolJoined", "ClubRun", "CompetitionHeld", "StaffAssigned",
            "FundingChanged", "EventCorrected", "EventRetracted"} <= seen
    assert seen <= set(EVENT_TYPES)


def test_the_schema_rejects_malformed_events(validator: Any) -> None:
    # (Numeric rules such as "participants >= 0" are checked by the events' own validation,
    # not expressed in the schema.)
    good = {"type": "ClubRun", "partnership_id": "p", "occurred_on": "2010-09-07",
            "event_id": "c1", "club_id": "fc", "school_id": "s", "activity": "football",
            "participants": 10}
    assert validator.is_valid(good)
    for bad in (
        {**good, "participants": "ten"},
        {**good, "occurred_on": "2010-13-07"},
        {**good, "colour": "red"},
        {**good, "type": "ClubWalked"},
        {k: v for k, v in good.items() if k != "school_id"},
    ):
        assert not validator.is_valid(bad), bad
