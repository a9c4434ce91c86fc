"""The msgspec mapper: round trips, class_version upcasting, hash chaining."""

from __future__ import annotations

import datetime as dt
import uuid

import msgspec
import pytest
from eventsourcing.persistence import StoredEvent

from ssp_ledger import ClubRun, EventCorrected, Ledger, PartnershipFormed, SchoolJoined
from ssp_ledger.store import (
    GENESIS,
    MsgspecMapper,
    MsgspecTranscoder,
    Recorded,
    record_hash,
    stream_id,
)

AT = dt.datetime(2011, 9, 1, 12, 30, tzinfo=dt.UTC)


def mapper() -> MsgspecMapper:
    return MsgspecMapper(transcoder=MsgspecTranscoder())


def club(**kw: object) -> ClubRun:
    fields: dict[str, object] = {
        "partnership_id": "p", "occurred_on": dt.date(2010, 9, 7), "event_id": "c1",
        "club_id": "c", "school_id": "s", "activity": "football", "participants": 10,
        "setting": "lunchtime",
    }
    fields.update(kw)
    return ClubRun(**fields)  # type: ignore[arg-type]


def test_round_trip_keeps_envelope_and_event() -> None:
    rec = Recorded(originator_id=stream_id("p"), originator_version=3, recorded_at=AT,
                   prev_hash=b"\x01" * 32, event=club())
    stored, plain = mapper().encode(rec)
    assert stored.topic == "ssp_ledger.events:ClubRun"
    assert stored.state == plain
    assert mapper().decode(stored) == rec


def test_naive_recorded_time_is_refused() -> None:
    rec = Recorded(originator_id=stream_id("p"), originator_version=1,
                   recorded_at=dt.datetime(2011, 9, 1), prev_hash=GENESIS, event=club())
    with pytest.raises(ValueError, match="timezone-aware"):
        mapper().encode(rec)


def _v1_club_row(version: int = 1) -> StoredEvent:
    """A ClubRun stored before ``setting`` existed (class_version 1), byte for byte."""
    enc = msgspec.msgpack.Encoder()
    payload = {
        "type": "ClubRun", "partnership_id": "p", "occurred_on": "2008-05-06", "event_id": "old",
        "club_id": "c", "school_id": "s", "activity": "cricket", "participants": 12,
        "send_participants": 1, "staff_minutes": 60, "staff_id": None,
    }
    us = int((AT - dt.datetime(1970, 1, 1, tzinfo=dt.UTC)).total_seconds() * 1_000_000)
    state = enc.encode([{}, us, GENESIS, msgspec.Raw(enc.encode(payload))])
    return StoredEvent(originator_id=stream_id("p"), originator_version=version,
                       topic="ssp_ledger.events:ClubRun", state=state)


def test_old_class_version_is_upcast_on_read() -> None:
    rec = mapper().decode(_v1_club_row())
    assert isinstance(rec.event, ClubRun)
    assert rec.event.setting == "after_school"
    assert rec.event.participants == 12
    assert rec.recorded_at == AT


def test_upcasting_applies_inside_a_correction() -> None:
    enc = msgspec.msgpack.Encoder()
    replacement = {
        "type": "ClubRun", "partnership_id": "p", "occurred_on": "2008-05-06", "event_id": "old",
        "club_id": "c", "school_id": "s", "activity": "cricket", "participants": 14,
    }
    payload = {"type": "EventCorrected", "partnership_id": "p", "occurred_on": "2008-05-06",
               "event_id": "fix", "target_event_id": "old", "reason": "count",
               "replacement": replacement}
    state = enc.encode([{}, 0, GENESIS, msgspec.Raw(enc.encode(payload))])
    row = StoredEvent(originator_id=stream_id("p"), originator_version=2,
                      topic="ssp_ledger.events:EventCorrected", state=state)
    event = mapper().decode(row).event
    assert isinstance(event, EventCorrected)
    assert isinstance(event.replacement, ClubRun)
    assert event.replacement.setting == "after_school"


def test_ledger_reads_an_old_version_event_from_its_store() -> None:
    ledger = Ledger.in_memory()
    ledger.log.app.recorder.insert_events([_v1_club_row()])
    [rec] = list(ledger.events("p"))
    assert isinstance(rec.event, ClubRun)
    assert rec.event.setting == "after_school"


def test_corrupt_state_names_the_stored_event() -> None:
    row = StoredEvent(originator_id=uuid.uuid4(), originator_version=7,
                      topic="ssp_ledger.events:ClubRun", state=b"\xc1garbage")
    with pytest.raises(ValueError, match="cannot decode stored event 7"):
        mapper().decode(row)


def test_records_are_hash_chained_per_stream() -> None:
    ledger = Ledger.in_memory(projections={})
    d = dt.date(2006, 9, 1)
    ledger.record(PartnershipFormed(partnership_id="p", occurred_on=d, event_id="f", name="P",
                                    hub_school_id="s"))
    ledger.record(SchoolJoined(partnership_id="p", occurred_on=d, event_id="j", school_id="s",
                               school_name="S", phase="primary"))
    rows = ledger.log.app.recorder.select_events(stream_id("p"))
    m = ledger.log.mapper
    recs = [m.decode(r) for r in rows]
    assert recs[0].prev_hash == GENESIS
    assert recs[1].prev_hash == record_hash(rows[0], m.plaintext(rows[0]))
    assert recs[1].recorded_at >= recs[0].recorded_at
