"""A replay's columnar read decodes and checks every row exactly as the record-by-record read.

:meth:`MsgspecMapper.decode_columns` (what :meth:`EventLog.read_columns` gives a replay) decodes a
current row's envelope and typed event with one msgspec call and keeps no
:class:`~ssp_ledger.store.Recorded` per row; :meth:`MsgspecMapper.decode_batch` (the reference
here, itself held to the general :meth:`MsgspecMapper.decode` in
``tests/integration/test_fast_read.py``) builds the records. For the same rows the two must give
the same positions, recorded times and events (same classes, equal), the last version of every
stream, and, for a damaged row, the same rows before it and the same one-line
:class:`~ssp_ledger.errors.DamagedRecord` naming its position: for every field of every event
class set to every probe value (each kind of invalid field), every kind of damaged envelope or
row, and any mix of streams, recorded times and rows the fast path leaves to the general one.
On SQLite the replay fetches compact rows (the stream id and topic NULL where they repeat the
last row's): every shape of damaged row gives there what the general rows give.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ssp_ledger import Ledger
from ssp_ledger.errors import DamagedRecord
from ssp_ledger.events import DomainEvent
from ssp_ledger.projection import ProjectionSet
from ssp_ledger.store import GENESIS, MsgspecMapper, MsgspecTranscoder, Recorded, stream_id
from ssp_ledger.store import sqlite as sqlite_store
from ssp_ledger.store.log import EventLog
from ssp_ledger.store.records import Decoded, to_us
from tests.adversarial.attack import build_store, events_of, interleaved
from tests.adversarial.test_damaged_rows import SQLITE_SHAPES
from tests.unit.test_columnar_replay import _history, _one_by_one
from tests.unit.test_fast_checks import PROBES, one_of_each
from tests.unit.test_persistence import _v1_club_row

AT = dt.datetime(2011, 9, 1, 12, 30, tzinfo=dt.UTC)
_ENC = msgspec.msgpack.Encoder()

Row = tuple[Any, ...]


def _mapper() -> MsgspecMapper:
    return MsgspecMapper(transcoder=MsgspecTranscoder())


def _row(mapper: MsgspecMapper, position: int, partnership: str, version: int,
         event: DomainEvent, at: dt.datetime = AT) -> Row:
    stored, _ = mapper.encode(Recorded(originator_id=stream_id(partnership),
                                       originator_version=version, recorded_at=at,
                                       prev_hash=GENESIS, event=event))
    return (position, stream_id(partnership).hex, version, stored.topic, stored.state)


def _with_event(row: Row, event: dict[str, Any]) -> Row | None:
    """``row`` with its event's msgpack replaced by ``event`` (None: msgpack cannot hold a
    value of it)."""
    env = msgspec.msgpack.decode(row[4])
    try:
        env[3] = msgspec.Raw(_ENC.encode(event))
    except (TypeError, OverflowError):
        return None
    return (*row[:4], _ENC.encode(env))


def _heads(records: list[tuple[int, Recorded]]) -> list[tuple[Any, int]]:
    """(stream, version) of the last record of each run of one stream."""
    out: list[tuple[Any, int]] = []
    for _, rec in records:
        if out and out[-1][0] == rec.originator_id:
            out[-1] = (rec.originator_id, rec.originator_version)
        else:
            out.append((rec.originator_id, rec.originator_version))
    return out


def _ends(records: list[tuple[int, Recorded]]) -> list[int]:
    """The index after the last record of each run of one stream."""
    out: list[int] = []
    for i, (_, rec) in enumerate(records):
        if i and records[i - 1][1].originator_id == rec.originator_id:
            out[-1] = i + 1
        else:
            out.append(i + 1)
    return out


def _same(rows: list[Row]) -> DamagedRecord | None:
    """Assert decode_columns gives what decode_batch gives for ``rows`` (each on a fresh
    mapper, so the first row of a stream takes the general path in both); the damage, if
    any."""
    records, damage = _mapper().decode_batch(rows)
    columns, damage_too = _mapper().decode_columns(rows)
    assert columns.positions == [p for p, _ in records]
    assert columns.times == [r.recorded_at for _, r in records]
    assert [type(e) for e in columns.events] == [type(r.event) for _, r in records]
    assert columns.events == [r.event for _, r in records]
    assert [(s, v) for s, v in columns.heads] == _heads(records)
    assert columns.versions == [r.originator_version for _, r in records]
    assert columns.ends == _ends(records)
    for lo in range(len(records)):  # every cut: what a runner applies when a checkpoint is due
        for hi in range(lo + 1, len(records) + 1):
            cut = columns.cut(lo, hi)
            assert cut.positions == columns.positions[lo:hi]
            assert cut.times == columns.times[lo:hi]
            assert cut.events == columns.events[lo:hi]
            assert cut.versions == columns.versions[lo:hi]
            assert cut.heads == _heads(records[lo:hi])
            assert cut.ends == _ends(records[lo:hi])
    if damage is None:
        assert damage_too is None
    else:
        assert damage_too is not None
        assert (str(damage_too), damage_too.position) == (str(damage), damage.position)
        assert len(str(damage_too).splitlines()) == 1
    return damage


EVENTS = one_of_each()


@pytest.mark.parametrize("event", EVENTS, ids=lambda e: type(e).__name__)
def test_every_invalid_field_gives_the_same_error_at_the_same_position(
        event: DomainEvent) -> None:
    """Each field of each class set to each probe (and left out): the rows before the bad one
    decoded, the same error naming position 3 (a valid row of the class after it is never
    reached)."""
    mapper = _mapper()
    good = _row(mapper, 3, "p", 3, event)
    before = [_row(mapper, 1, "p", 1, EVENTS[0]), _row(mapper, 2, "p", 2, event)]
    plain: dict[str, Any] = msgspec.msgpack.decode(good[4])[3]
    damaged = 0
    for name in [*plain, "unknown_field"]:
        for value in (*PROBES, "missing"):
            broken = dict(plain)
            if value == "missing":
                broken.pop(name, None)
            else:
                broken[name] = value
            row = _with_event(good, broken)
            if row is None:
                continue
            damage = _same([*before, row, _row(mapper, 4, "p", 4, event)])
            damaged += damage is not None
            if damage is not None:
                assert damage.position == 3
    assert damaged  # the probes do break it


def _bad_envelopes(mapper: MsgspecMapper) -> list[Row]:
    """Rows damaged outside the event: the envelope, the version, the topic, the stream."""
    good = _row(mapper, 3, "p", 3, EVENTS[6])
    env = msgspec.msgpack.decode(good[4])
    out: list[Row] = []
    for i, value in ((0, {"ClubRun": 1}), (0, {"ClubRun": 9}), (0, []), (1, -2**63 - 1),
                     (1, 10**17), (1, "now"), (2, "hash"), (2, None), (3, None), (3, 5)):
        changed = list(env)
        changed[i] = value
        try:
            out.append((*good[:4], _ENC.encode(changed)))
        except OverflowError:
            continue
    out += [(*good[:4], good[4][:-3]), (*good[:4], good[4] + b"\x00"), (*good[:4], b""),
            (*good[:4], None), (*good[:4], "text"), (*good[:3], None, good[4]),
            (*good[:3], "ssp_ledger.events:Nope", good[4]), (*good[:3], "os:system", good[4]),
            (*good[:3], "ssp_ledger.events:CompetitionHeld", good[4]),
            (good[0], good[1], 0, *good[3:]), (good[0], good[1], None, *good[3:]),
            (good[0], good[1], True, *good[3:]), (good[0], good[1], "3", *good[3:]),
            (good[0], "not-a-uuid", *good[2:]), (good[0], None, *good[2:]),
            (*good[:4], _v1_club_row(3).state)]
    return out


def test_every_damaged_envelope_or_row_gives_the_same_error() -> None:
    mapper = _mapper()
    before = [_row(mapper, 1, "p", 1, EVENTS[0]), _row(mapper, 2, "p", 2, EVENTS[6])]
    outcomes = [_same([*before, bad, _row(mapper, 4, "p", 4, EVENTS[6])])
                for bad in _bad_envelopes(mapper)]
    # four decode: versions maps naming v1 or v9 (upcast or left as is), a recorded time in
    # the year 5138 and a version-1 row stored under a current envelope
    assert sum(d is None for d in outcomes) == 4


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_columns_equal_records_for_any_mix_of_rows(data: st.DataObject) -> None:
    """Runs of streams and recorded times, rows left to the general path (corrections,
    version-1 rows, ids stored in another form) and at most one damaged row anywhere."""
    mapper = _mapper()
    bad = _bad_envelopes(mapper)
    count = data.draw(st.integers(0, 30))
    rows: list[Row] = []
    versions: dict[str, int] = {}
    for position in range(1, count + 1):
        partnership = data.draw(st.sampled_from(("p", "p", "p", "q", "r")))
        version = versions[partnership] = versions.get(partnership, 0) + 1
        at = AT + dt.timedelta(seconds=data.draw(st.integers(0, 2)))
        kind = data.draw(st.integers(0, 9))
        if kind == 0:  # stored before ClubRun's setting existed: upcast
            env = msgspec.msgpack.decode(_v1_club_row(version).state)
            env[1] = to_us(at)
            row: Row = (position, stream_id(partnership).hex, version,
                        "ssp_ledger.events:ClubRun", _ENC.encode(env))
        else:
            row = _row(mapper, position, partnership, version,
                       data.draw(st.sampled_from(EVENTS)), at)
            if kind == 1:  # the stream id as eventsourcing may store it
                row = (row[0], str(stream_id(partnership)), *row[2:])
        rows.append(row)
    if rows and data.draw(st.booleans()):
        i = data.draw(st.integers(0, len(rows) - 1))
        damaged = data.draw(st.sampled_from(bad))
        rows[i] = (rows[i][0], *damaged[1:])
    _same(rows)


@settings(max_examples=30, deadline=None)
@given(st.data())
def test_a_ledger_replay_read_as_columns_equals_fact_by_fact(data: st.DataObject) -> None:
    """A live view (read as columns, corrections and retractions included) holds the state
    of the records applied one by one, and notes each stream's last version."""
    ledger = Ledger.in_memory()
    for batch in _history(data):
        ledger.record_many(batch)
    records = list(ledger.read())
    reference: ProjectionSet = _one_by_one(ledger, records)
    view = ledger.view(None)
    assert view.position == reference.position
    assert view.snapshot() == reference.snapshot()
    heads = {rec.originator_id.hex: rec.originator_version for _, rec in records}
    assert ledger._live_versions == heads


def _read(columns: Any) -> tuple[tuple[list[Any], ...], str | None]:
    """Columns read until the end or a damaged row, joined (runs of a stream merged), and the
    error."""
    positions: list[int] = []
    times: list[dt.datetime] = []
    events: list[DomainEvent] = []
    heads: list[tuple[Any, int]] = []
    error = None
    try:
        for chunk in columns:
            assert isinstance(chunk, Decoded)
            positions += chunk.positions
            times += chunk.times
            events += chunk.events
            for stream, version in chunk.heads:
                if heads and heads[-1][0] == stream:
                    heads[-1] = (stream, version)
                else:
                    heads.append((stream, version))
    except DamagedRecord as e:
        error = f"{e.position}: {e}"
    return (positions, times, events, [type(e) for e in events], heads), error


@pytest.mark.parametrize("runs", [False, True], ids=["interleaved", "runs"])
@pytest.mark.parametrize("shape", [None, *sorted(SQLITE_SHAPES)])
def test_sqlite_compact_rows_read_as_the_general_rows(tmp_path: Any, monkeypatch: Any,
                                                      shape: str | None, runs: bool) -> None:
    """Partnerships interleaved row by row, or in runs (the damaged row's stream id and topic
    then fetched as NULL), read a few rows per round trip (so the repeated values cross
    round trips): the same columns and the same error as the general rows."""
    wear = events_of("wear")
    # in runs: the damaged row (position 9) is the fifth of a run of tyne's, after a club
    events = [*wear[:4], *events_of("tyne"), *wear[4:]] if runs else interleaved()
    store = build_store(tmp_path / "s.db", events=events)
    if shape is not None:
        SQLITE_SHAPES[shape][0](store)
    monkeypatch.setattr(sqlite_store, "READ_BATCH", 3)
    monkeypatch.setattr(sqlite_store, "DECODE_CHUNK", 2)
    with Ledger.open(store, mode="read") as ledger:
        log = ledger._log
        assert isinstance(log, sqlite_store.SQLiteLog)
        fast = _read(log.read_columns())
        general = _read(EventLog.read_columns(log))
        assert fast == general
        assert (fast[1] is None) == (shape is None)
        assert _read(log.read_columns(4, 11)) == _read(EventLog.read_columns(log, 4, 11))
