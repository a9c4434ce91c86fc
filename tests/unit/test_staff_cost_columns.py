"""The columnar activity of a staff-facts checkpoint (:mod:`ssp_ledger_projections.staff_cost.
columns`): a loaded state answers as the facts it was dumped from, through the arrays alone (no
Series built until a change needs them), and every malformed state is refused with a one-line
ValueError naming the staff facts, at load or, for the ids, when a change first reads them.
"""

from __future__ import annotations

import datetime as dt
import zlib

import msgspec
import numpy as np
import pytest

from ssp_ledger.events import ClubRun, CpdDelivered, StaffAssigned
from ssp_ledger.projection import Fact, Query
from ssp_ledger.projection.checkpoint import pack
from ssp_ledger_projections.staff_cost.columns import _ENCODER, ActivityColumns
from ssp_ledger_projections.staff_cost.rates import rate_of
from ssp_ledger_projections.staff_cost.state import StaffFactsState
from ssp_ledger_projections.staff_cost.steps import walk
from ssp_ledger_projections.staff_time_cost import StaffTimeCost

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
    return msgspec.msgpack.decode(_fed().dump_state(), type=StaffFactsState)


def _with(**fields: object) -> bytes:
    state = _state()
    activity = msgspec.structs.replace(state.activity, **fields)
    return msgspec.msgpack.encode(msgspec.structs.replace(state, activity=activity))


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
    state = msgspec.msgpack.decode(big.dump_state(), type=StaffFactsState)
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
    "days that do not add up": {"days": _i4(1)},
    "day ordinals cut short": {"days": b"\1\0"},
    "an unknown item size": {"itemsize": 2},
    "values cut short": {"values": b"\1\0\0\0"},
    "eight-byte values that fit four": {"itemsize": 8},
}


@pytest.mark.parametrize("fields", MALFORMED.values(), ids=list(MALFORMED))
def test_malformed_columns_are_refused_at_load(fields: dict[str, object]) -> None:
    state = _state()
    fields = dict(fields)
    if fields.get("itemsize") == 8:  # the same values, eight bytes each
        values = np.frombuffer(state.activity.values, dtype="<i4").astype("<i8").tobytes()
        fields["values"] = values
    with pytest.raises(ValueError, match=r"^staff facts: [^\n]*$"):
        StaffTimeCost().load_state(_with(**fields))


def test_a_day_with_nothing_is_refused() -> None:
    values = bytearray(_state().activity.values)
    values[:8] = bytes(8)
    with pytest.raises(ValueError, match="staff facts: an activity day has no minutes"):
        StaffTimeCost().load_state(_with(values=bytes(values)))


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
    state = msgspec.msgpack.decode(empty.dump_state(), type=StaffFactsState)
    assert ActivityColumns.load(state.activity).keys == []
