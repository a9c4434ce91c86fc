"""The columnar activity of a staff-facts checkpoint (:mod:`ssp_ledger_projections.staff_cost.
columns`): a loaded state answers as the facts it was dumped from, through the arrays alone (no
Series built until a change needs them), and every malformed state is refused with a one-line
ValueError naming the staff facts, at load or, for the ids, when a change first reads them.
"""

from __future__ import annotations

import datetime as dt
import zlib
from unittest.mock import patch

import msgspec
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ssp_ledger.events import ClubRun, CorrectableEvent, CpdDelivered, StaffAssigned
from ssp_ledger.projection import Fact, Query, Series
from ssp_ledger.projection.checkpoint import pack
from ssp_ledger_projections.staff_cost import columns
from ssp_ledger_projections.staff_cost.columns import (
    _ENCODER,
    ActivityColumns,
    arrays_of,
    pack_list,
)
from ssp_ledger_projections.staff_cost.rates import rate_of, shipped_rate
from ssp_ledger_projections.staff_cost.state import (
    STATE_VERSION,
    StaffFactsState,
    pack_state,
    unpack_state,
)
from ssp_ledger_projections.staff_cost.steps import (
    Walk,
    _activity,
    _day_stretches,
    _stretches,
    planned,
    walk,
    walk_planned,
)
from ssp_ledger_projections.staff_time_cost import StaffTimeCost
from tests.strategies import History, histories

T0 = dt.datetime(2012, 1, 1, tzinfo=dt.UTC)
DAY = dt.date(2010, 1, 4)


def _events() -> list[ClubRun | CpdDelivered | StaffAssigned]:
    out: list[ClubRun | CpdDelivered | StaffAssigned] = [
        StaffAssigned(partnership_id=pid, occurred_on=DAY, event_id=f"{pid}-a", staff_id="t",
                      role="PDM", school_id="s1", release_minutes_per_week=300,
                      hourly_cost_pence=2400)
        for pid in ("p", "q")]
    for pid in ("p", "q"):
        for d in range(0, 40, 3):
            out.append(ClubRun(partnership_id=pid, occurred_on=DAY + dt.timedelta(days=d),
                               event_id=f"{pid}-c{d}", club_id="k", school_id=f"s{d % 2}",
                               activity="dance", participants=d % 5, staff_minutes=30 + d,
                               staff_id="t" if d % 4 else None))
        out.append(CpdDelivered(partnership_id=pid, occurred_on=DAY, event_id=f"{pid}-cpd",
                                minutes=45, topic="x", teachers=3))
    return out


def _fed() -> StaffTimeCost:
    p = StaffTimeCost()
    for i, e in enumerate(_events(), start=1):
        p.apply(Fact(i, T0, e))
    return p


def _state() -> StaffFactsState:
    return unpack_state(_fed().dump_state())


def _with(**fields: object) -> bytes:
    state = _state()
    activity = msgspec.structs.replace(state.activity, **fields)
    return pack_state(msgspec.structs.replace(state, activity=activity))


def _read(data: bytes) -> StaffTimeCost:
    """A projection given ``data``, its facts read (a loaded state reads them when first
    needed: ValueError, an UnreadableCheckpoint, then)."""
    loaded = StaffTimeCost()
    loaded.load_state(data)
    assert loaded.facts is not None
    return loaded


def _i4(*values: int) -> bytes:
    return np.asarray(values, dtype="<i4").tobytes()


def test_a_loaded_state_walks_and_reports_from_the_arrays_alone() -> None:
    original = _fed()
    loaded = StaffTimeCost()
    loaded.load_state(original.dump_state())
    assert loaded.facts._columns is not None
    rate = rate_of(None)
    for pids in (["p", "q"], ["p"], ["q"], ["r"]):
        a, b = walk(original.facts, pids, rate), walk(loaded.facts, pids, rate)
        assert a.series_days == b.series_days
        assert a.series_school == b.series_school
        for x, y in ((a.act_day, b.act_day), (a.act_segment, b.act_segment),
                     (a.act_hidden, b.act_hidden), *zip(a.act_values, b.act_values,
                                                        strict=True)):
            assert x.tolist() == y.tolist()
    for by in (None, "school", "staff", "role"):
        for _ in range(3):  # piece by piece, then from the tables
            q = Query(as_of=DAY + dt.timedelta(days=400), by=by)
            assert loaded.report(q) == original.report(q)
    assert loaded.first_day("q") == original.first_day("q")
    assert loaded.facts._columns is not None  # the reports built no Series
    assert loaded.dump_state() == original.dump_state()


def test_a_change_after_loading_builds_the_series_and_keeps_the_bytes_canonical() -> None:
    original = _fed()
    loaded = StaffTimeCost()
    loaded.load_state(original.dump_state())
    extra = Fact(999, T0, ClubRun(partnership_id="p", occurred_on=DAY, event_id="p-z",
                                  club_id="k", school_id="s0", activity="dance",
                                  participants=2, staff_minutes=5, staff_id="t"))
    for p in (original, loaded):
        p.apply(extra)
    assert loaded.facts._columns is None
    assert loaded.dump_state() == original.dump_state()
    for p in (original, loaded):
        p.retract(extra)
    assert loaded.dump_state() == original.dump_state()
    q = Query(as_of=DAY + dt.timedelta(days=60), by="school")
    assert loaded.report(q) == original.report(q)


def test_values_of_eight_bytes_round_trip() -> None:
    big = StaffTimeCost()
    for i in range(3):
        big.apply(Fact(i + 1, T0, ClubRun(
            partnership_id="p", occurred_on=DAY, event_id=f"c{i}", club_id="k",
            school_id="s", activity="dance", participants=9_000_000,
            staff_minutes=9_000_000)))
    for i in range(300):
        big.apply(Fact(i + 10, T0, ClubRun(
            partnership_id="p", occurred_on=DAY + dt.timedelta(days=1), event_id=f"d{i}",
            club_id="k", school_id="s", activity="dance", participants=9_000_000,
            staff_minutes=9_000_000)))
    state = unpack_state(big.dump_state())
    assert state.activity.itemsize == 8
    loaded = StaffTimeCost()
    loaded.load_state(big.dump_state())
    q = Query(as_of=DAY + dt.timedelta(days=3), by="school")
    assert loaded.report(q) == big.report(q)
    assert loaded.dump_state() == big.dump_state()


MALFORMED = {
    "lists of unequal lengths": {"staff": []},
    "keys out of order": {"schools": ["z", "a", "a", "z", "a", "z"]},
    "fact counts cut short": {"facts": b"\1\0\0"},
    "too few fact counts": {"facts": _i4(1)},
    "a series of no facts": {"facts": _i4(1, 0, 1, 1, 1, 1)},
    "negative day counts": {"lengths": _i4(-1, 1, 1, 1, 1, 1)},
    "days that do not add up": {"days": b"\0\0"},
    "day ordinals cut short": {"days": b"\1"},
    "an unknown day size": {"day_size": 3},
    "days that are not offsets from the first": {"day0": 1000},
    "days that do not start at the first": {"days": b"\1\0" * 30},
    "no first day": {"day0": 0},
    "four-byte days that fit two": {"day_size": 4},
    "an unknown item size": {"itemsize": 3},
    "values cut short": {"values": b"\1\0\0"},
    "eight-byte values that fit two": {"itemsize": 8},
}


@pytest.mark.parametrize("fields", MALFORMED.values(), ids=list(MALFORMED))
def test_malformed_columns_are_refused_at_load(fields: dict[str, object]) -> None:
    state = _state()
    fields = dict(fields)
    assert state.activity.itemsize == 2
    assert state.activity.day_size == 2
    if fields.get("itemsize") == 8:  # the same values, eight bytes each
        values = np.frombuffer(state.activity.values, dtype="<i2").astype("<i8").tobytes()
        fields["values"] = values
    if fields.get("day_size") == 4:  # the same days, four bytes each
        fields["days"] = np.frombuffer(state.activity.days, dtype="<u2").astype(
            "<i4").tobytes()
    if fields.get("day0") == 1000:
        fields["day0"] = state.activity.day0 + 10**7
    with pytest.raises(ValueError, match=r"^staff facts: [^\n]*$"):
        _read(_with(**fields))


def test_a_day_with_nothing_is_refused() -> None:
    values = bytearray(_state().activity.values)
    values[:4] = bytes(4)
    with pytest.raises(ValueError, match="staff facts: an activity day has no minutes"):
        _read(_with(values=bytes(values)))


def test_ids_that_cannot_be_read_are_refused_when_a_change_reads_them() -> None:
    count = len(_state().activity.partnerships)
    raws = [msgspec.Raw(_ENCODER.encode(1))] * count
    for ids in (b"not zlib", zlib.compress(b"\xc1"), pack(_ENCODER.encode(raws[:1])),
                pack(_ENCODER.encode(raws))):
        loaded = StaffTimeCost()
        loaded.load_state(_with(ids=ids))
        fact = Fact(999, T0, ClubRun(partnership_id="p", occurred_on=DAY, event_id="p-z",
                                     club_id="k", school_id="s0", activity="dance",
                                     participants=2, staff_minutes=5, staff_id="t"))
        with pytest.raises(ValueError, match="staff facts"):
            loaded.apply(fact)


def test_an_empty_state_round_trips() -> None:
    empty = StaffTimeCost()
    loaded = StaffTimeCost()
    loaded.load_state(empty.dump_state())
    assert loaded.dump_state() == empty.dump_state()
    state = unpack_state(empty.dump_state())
    assert ActivityColumns.load(state.activity).keys == []


# --------------------------------------------------------------------------- the kept walk plan


def _same_walk(a: Walk, b: Walk) -> None:
    for name in ("base", "last", "teaching", "people", "segment_person", "segment_terms",
                 "series_school", "series_days", "rel_segment", "rel", "rel_bound",
                 "release_segments", "act_segments", "tails", "act_bound"):
        assert getattr(a, name) == getattr(b, name), name
    for x, y in ((a.act_day, b.act_day), (a.act_segment, b.act_segment),
                 (a.act_hidden, b.act_hidden), *zip(a.act_values, b.act_values, strict=True)):
        assert x.tolist() == y.tolist()


@settings(max_examples=40, deadline=None)
@given(histories(max_activity=20), histories(pid="q", max_activity=10))
def test_the_kept_plan_walks_as_the_facts(history: History, other: History) -> None:
    """A loaded state's national walk at the shipped rate, from its kept plan, equals the walk
    computed from the facts (and a report from it equals the original's)."""
    original = StaffTimeCost()
    events = [e for e in (*history.events, *other.events) if isinstance(e, CorrectableEvent)]
    for i, e in enumerate(events, start=1):
        original.apply(Fact(i, T0, e))
    loaded = StaffTimeCost()
    loaded.load_state(original.dump_state())
    pids = original.facts.partnerships(None)
    rate = shipped_rate()
    kept = planned(loaded.facts, pids, rate)
    if not pids or original.first_day() is None:
        return
    assert kept is not None
    _same_walk(walk_planned(loaded.facts, *kept, chunk=7), walk(original.facts, pids, rate))
    assert planned(loaded.facts, pids, rate_of(2500)) is None  # a flat rate walks afresh
    day = history.horizon + dt.timedelta(days=200)
    for by in (None, "role", "school", "term"):
        for _ in range(2):
            q = Query(as_of=day, by=by)
            assert loaded.report(q) == original.report(q)
    assert loaded.dump_state() == original.dump_state()


@settings(max_examples=30, deadline=None)
@given(histories(max_activity=20), histories(pid="q", max_activity=10), st.integers(1, 9))
def test_a_plan_finds_each_days_stretch_as_the_walk_does(history: History, other: History,
                                                         chunk: int) -> None:
    """The plan's days (stretch and hidden flag, found without the steps' figures and without
    the days' values) are those the whole walk writes, whatever the chunk."""
    p = StaffTimeCost()
    events = [e for e in (*history.events, *other.events) if isinstance(e, CorrectableEvent)]
    for i, e in enumerate(events, start=1):
        p.apply(Fact(i, T0, e))
    facts = p.facts
    pids = facts.partnerships(None)
    if not pids:
        return
    out, series, s = _stretches(facts, pids, shipped_rate())
    lean = _stretches(facts, pids, shipped_rate(), values=False)[1]
    assert len(lean.values) == 0
    assert lean.days.tolist() == series.days.tolist()
    if not len(series.days):
        return
    _activity(out, series, s.start, s.person, s.rate, s.stream, s.levels, 5)
    segment, hidden = _day_stretches(lean, s.start, s.person, s.stream, s.levels, chunk)
    assert segment.tolist() == out.act_segment.tolist()
    assert hidden.tolist() == out.act_hidden.tolist()


def test_a_change_drops_the_kept_plan() -> None:
    loaded = StaffTimeCost()
    loaded.load_state(_fed().dump_state())
    assert loaded.facts.kept_plan() is not None
    loaded.apply(Fact(999, T0, StaffAssigned(
        partnership_id="p", occurred_on=DAY, event_id="p-b", staff_id="u", role="COACH",
        school_id="s1", release_minutes_per_week=60, hourly_cost_pence=2000)))
    assert loaded.facts.kept_plan() is None


def _plan_with(**fields: object) -> bytes:
    state = _state()
    assert state.plan is not None
    plan = msgspec.structs.replace(state.plan, **fields)
    # Without kept answers: a report would read them, and walk nothing (tests/unit/
    # test_staff_cost_kept.py holds them to the walk).
    return pack_state(msgspec.structs.replace(state, plan=plan, answers=None))


BAD_PLANS = {
    "no partnerships": {"pids": []},
    "partnerships unsorted": {"pids": ["q", "p"]},
    "other partnerships": {"pids": ["p", "x"]},
    "an odd rate": {"rate": [1]},
    "days not dates": {"base": 0},
    "people cut short": {"people_pid": b"\0\0"},
    "a person of no partnership": {"people_pid": _i4(0, 9, 1, 1)},
    "people of other staff": {"people_staff": ["", "x", "", "t"]},
    "streams of unequal lengths": {"stream_name": ["x"]},
    "stretches of unequal lengths": {"seg_start": _i4(1)},
    "a stretch of no assignment": {"seg_terms": _i4(*([99] * 8))},
    "stretches out of order": {"seg_start": _i4(*([5] * 8))},
    "runs of unequal lengths": {"rel_funded": b"\1\1\1"},
    "rates cut short": {"seg_rate": b"\0" * 12},
    "tails of unequal lengths": {"tail_funded": b""},
}


@pytest.mark.parametrize("fields", BAD_PLANS.values(), ids=list(BAD_PLANS))
def test_a_malformed_plan_is_refused_at_load(fields: dict[str, object]) -> None:
    state = _state()
    assert state.plan is not None
    if "seg_terms" in fields or ("seg_start" in fields and len(fields["seg_start"]) > 4):
        count = len(state.plan.seg_person) // 4
        key = "seg_terms" if "seg_terms" in fields else "seg_start"
        fields = {key: _i4(*([99 if key == "seg_terms" else 5] * count))}
    with pytest.raises(ValueError, match=r"^staff facts: [^\n]*$"):
        _read(_plan_with(**fields))


def test_a_plan_naming_a_stream_without_levels_is_refused_when_walked() -> None:
    state = _state()
    assert state.plan is not None
    count = len(state.plan.seg_person) // 4
    plan = msgspec.structs.replace(state.plan, stream_pid=["p"], stream_name=["nowhere"],
                                   seg_stream=_i4(*([0] * count)))
    # Without kept answers (else the report reads them and walks nothing).
    data = pack_state(msgspec.structs.replace(state, plan=plan, answers=None))
    loaded = StaffTimeCost()
    loaded.load_state(data)
    with pytest.raises(ValueError, match="staff facts: the walk plan names stream"):
        loaded.report(Query(as_of=DAY + dt.timedelta(days=90), by="role"))


@pytest.mark.parametrize("fields", [
    {"day_size": 3}, {"day_stretch": b""}, {"day_hidden": b""}, {"day_hidden": None},
    {"day_stretch": None}, {"day_size": 2}])
def test_malformed_days_of_a_plan_are_refused_when_walked(fields: dict[str, object]) -> None:
    """The per-day stretches and flags are checked when the national walk first reads them
    (they need the series' people): a one-line ValueError naming the staff facts."""
    state = _state()
    assert state.plan is not None
    count = len(state.plan.day_stretch)  # one byte a day here
    if fields.get("day_hidden", 0) is None:  # an unused bit set
        fields = {"day_hidden": state.plan.day_hidden[:-1] + b"\xff"}
    elif fields.get("day_stretch", 0) is None:  # a stretch past its person's
        fields = {"day_stretch": b"\xff" * count}
    elif fields.get("day_size") == 2:  # two bytes where one holds every stretch
        fields = {"day_size": 2, "day_stretch": np.frombuffer(
            state.plan.day_stretch, dtype=np.uint8).astype("<u2").tobytes()}
    loaded = StaffTimeCost()
    loaded.load_state(_plan_with(**fields))
    with pytest.raises(ValueError, match=r"^staff facts: the walk plan[^\n]*$"):
        loaded.report(Query(as_of=DAY + dt.timedelta(days=90), by="role"))


def test_series_built_for_a_costing_leave_the_ids_packed() -> None:
    """A piece-by-piece costing needs Series but never the ids: a state whose ids cannot be
    read still answers it, and the first change then refuses the ids."""
    original = _fed()
    loaded = StaffTimeCost()
    loaded.load_state(_with(ids=b"not zlib"))
    q = Query(as_of=DAY + dt.timedelta(days=90), by="school", partnership_id="p")
    assert loaded.report(q) == original.report(q)
    assert loaded.facts._columns is None  # the series were built
    with pytest.raises(ValueError, match="staff facts: the ids of the activity days"):
        loaded.apply(Fact(999, T0, ClubRun(
            partnership_id="p", occurred_on=DAY, event_id="p-z", club_id="k", school_id="s0",
            activity="dance", participants=2, staff_minutes=5, staff_id="t")))


def test_the_stored_state_keeps_the_ids_beside_the_compressed_body() -> None:
    """A checkpoint keeps the staff part as it is (zlib would not shrink it by a fifth), so a
    report inflates the body alone; the bytes are canonical and round-trip."""
    from ssp_ledger.projection.checkpoint import pack_part
    from ssp_ledger_projections.staff_cost.state import StaffFactsPart

    data = _fed().dump_state()
    part = msgspec.msgpack.decode(data, type=StaffFactsPart)
    state = _state()
    assert part.ids == state.activity.ids
    assert msgspec.msgpack.decode(zlib.decompress(part.body),
                                  type=StaffFactsState).activity.ids == b""
    assert pack_state(state) == data
    big = StaffTimeCost()
    for i in range(300):
        big.apply(Fact(i + 1, T0, ClubRun(
            partnership_id=f"p{i % 7}", occurred_on=DAY + dt.timedelta(days=i), club_id="k",
            event_id=f"e{i:05d}-{i * 7919 % 10007}", school_id=f"s{i % 5}", activity="dance",
            participants=i % 9, staff_minutes=30 + i % 11, staff_id=f"t{i % 3}")))
    assert not pack_part(big.dump_state()).compressed


@pytest.mark.parametrize("data", [
    msgspec.msgpack.encode({"format": "ssp-ledger/staff-facts", "version": 3,
                            "assignments": [], "releases": [], "funding": [],
                            "activity": []}),
    msgspec.msgpack.encode({"format": "ssp-ledger/staff-facts", "version": 4,
                            "body": b"not zlib", "ids": b""}),
    msgspec.msgpack.encode({"format": "ssp-ledger/staff-facts", "version": 4,
                            "body": zlib.compress(b"\x93\x01\x02\x03"), "ids": b""}),
])
def test_an_older_or_malformed_stored_state_is_refused_in_one_line(data: bytes) -> None:
    with pytest.raises(ValueError, match=r"^[^\n]+$"):
        StaffTimeCost().load_state(data)


def test_a_body_holding_the_ids_is_refused() -> None:
    state = _state()
    body = zlib.compress(msgspec.msgpack.encode(state), 1)
    data = msgspec.msgpack.encode({"format": "ssp-ledger/staff-facts", "version": STATE_VERSION,
                                   "body": body, "ids": state.activity.ids,
                                   "levels": zlib.compress(msgspec.msgpack.encode([]))})
    with pytest.raises(ValueError, match="staff facts: the state's body holds ids"):
        _read(data)


@pytest.mark.parametrize("count", [0, 1, 15, 16, 65535, 65536])
def test_ids_packed_as_they_come_are_the_ids_packed_whole(count: int) -> None:
    raws = [msgspec.Raw(_ENCODER.encode([f"id-{i}-{j}" for j in range(i % 4)]))
            for i in range(count)]
    assert pack_list(iter(raws), count) == pack(_ENCODER.encode(raws))
    with pytest.raises(ValueError, match="encoded id lists"):
        pack_list(iter(raws), count + 1)


_SERIES = st.lists(st.lists(st.tuples(st.integers(730_000, 730_400),
                                      st.integers(-(1 << 40), 1 << 40),
                                      st.integers(-5, 5)), max_size=12), max_size=8)
_EDGE = st.sampled_from([(1 << 31) - 1, -(1 << 31), 1 << 31, -(1 << 31) - 1, -(1 << 32) + 1,
                        (1 << 32) - 1, 1 << 30, 7])


@settings(max_examples=80, deadline=None)
@given(_SERIES, st.sampled_from(["small", "large", "edge"]), st.lists(_EDGE, max_size=4),
       st.sampled_from([1, 3, 1 << 15]))
def test_the_arrays_of_series_are_each_series_rows_end_to_end(
        entries: list[list[tuple[int, int, int]]], kind: str, edges: list[int],
        block: int) -> None:
    """arrays_of writes each series' days and rows into one slice of arrays allocated once,
    in 4-byte integers while every row fits and 8-byte ones from the first that does not,
    checked a block of rows at a time (any block size); the reference takes each series' rows
    apart and joins them (4- and 8-byte sums; "edge" rows at the bounds of 4 bytes, whose
    4-byte prefix sums can differ by more than 4 bytes hold)."""
    series = []
    for i, rows in enumerate(entries):
        s = Series(2)
        for k, (day, minutes, people) in enumerate(rows):
            if kind == "edge":
                minutes = edges[k % len(edges)] if edges else minutes % 1000
            s.add(dt.date.fromordinal(day), (minutes % 1000 if kind == "small" else minutes,
                                             people))
        series.append((("p", f"t{i}", "s"), s))
    with patch.object(columns, "_ROWS", block):
        keys, lengths, days, values = arrays_of(series)
    want_days: list[int] = []
    want_rows: list[list[int]] = []
    for _, s in series:
        ordinals, prefix = s.packed()
        sums = list(prefix)
        want_days += list(ordinals)
        want_rows += [[sums[2 * r + 2 + j] - sums[2 * r + j] for j in range(2)]
                      for r in range(len(ordinals))]
    assert keys == [key for key, _ in series]
    assert lengths.tolist() == [len(s.packed()[0]) for _, s in series]
    assert days.dtype == np.int32
    assert days.tolist() == want_days
    fits = all(-(1 << 31) <= v < 1 << 31 for row in want_rows for v in row)
    assert values.dtype == (np.int32 if fits else np.int64)
    assert values.reshape(-1, 2).tolist() == want_rows
