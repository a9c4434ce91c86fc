"""Participation's kept attendances (state version 2): every school's attendances through the
days a survey reads them, kept in the checkpoint, against the index a projection fed the facts
keeps (:func:`~ssp_ledger.projection.index.every_group_between`)."""

from __future__ import annotations

import datetime as dt

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ssp_ledger.events import ClubRun, CorrectableEvent
from ssp_ledger.projection import Fact, Query
from ssp_ledger.projection.index import every_group_between
from ssp_ledger_projections.participation import Participation
from tests.strategies import FORMED, History, histories

T0 = dt.datetime(2012, 1, 1, tzinfo=dt.UTC)
D = dt.date


def _facts(*histories: History) -> list[Fact]:
    events = [e for h in histories for e in h.events if isinstance(e, CorrectableEvent)]
    return [Fact(i, T0, e) for i, e in enumerate(events, start=1)]


def _fed(facts: list[Fact], retracted: int = 0) -> Participation:
    p = Participation()
    for fact in facts:
        p.apply(fact)
    for fact in facts[:retracted]:
        p.retract(fact)
    return p


def _reference(p: Participation, ranges: list[tuple[dt.date | None, dt.date]]
               ) -> list[dict[tuple[str, str], int]]:
    labels, sums = every_group_between(p.index, "school", p.measures.index("attendances"),
                                       ranges)
    return [dict(zip(labels, row, strict=True)) for row in sums]


def _undecoded(p: Participation) -> bool:
    """No partnership's school dimension was inflated."""
    return all("school" in part._raw for part in p.index._parts.values())


@settings(max_examples=40, deadline=None)
@given(histories(max_activity=25), histories(pid="q", max_activity=12), st.integers(0, 1700),
       st.integers(0, 5), st.lists(st.tuples(st.integers(-30, 1800), st.integers(-30, 1800)),
                                   max_size=6))
def test_kept_attendances_and_totals_are_the_index(
        history: History, other: History, offset: int, retracted: int,
        spans: list[tuple[int, int]]) -> None:
    """A loaded state answers the survey's ranges (period rows from a sibling's start day,
    academic years, from the beginning, late as-of days) from the kept attendances without
    inflating any school dimension, and any range (kept days or not, empty ones) as the index
    of a projection fed the facts does; so do reports (by school and phase as of a late day from
    the kept totals, inflating nothing); a change drops them and the answers stay the
    index's."""
    facts = _facts(history, other)
    start = FORMED + dt.timedelta(days=offset)
    original = _fed(facts, retracted)
    original.keep_school_attendances(lambda: [start])
    data = original.dump_state()
    loaded = Participation()
    loaded.load_state(data)
    late = history.horizon + dt.timedelta(days=400)
    kept = [(start, D(2008, 3, 31)), (D(2008, 4, 1), late), (None, late), (D(2007, 9, 1), late),
            (D(2009, 9, 1), D(2010, 8, 31)), (start, start - dt.timedelta(days=1)),
            (D(1990, 1, 1), D(1995, 1, 1))]
    assert loaded.school_attendances(kept) == _reference(original, kept)
    assert (loaded._kept is None) == (msgspec.msgpack.decode(data)["attendances"] is None)
    if loaded._kept is not None:
        assert _undecoded(loaded)
    anywhere = [(FORMED + dt.timedelta(days=a), FORMED + dt.timedelta(days=b))
                for a, b in spans]
    assert loaded.school_attendances(anywhere) == _reference(original, anywhere)
    assert loaded.dump_state() is data  # unchanged, no sibling asked: given back
    moved = Participation()
    moved.keep_school_attendances(lambda: [start + dt.timedelta(days=40)])
    moved.load_state(data)
    fed = _fed(facts, retracted)
    fed.keep_school_attendances(lambda: [start + dt.timedelta(days=40)])
    assert moved.dump_state() == fed.dump_state()  # the sibling's day moved: dumped anew
    for by in ("school", "phase", None, "activity", "term"):
        for day in (late, history.horizon - dt.timedelta(days=300)):
            query = Query(as_of=day, by=by)
            assert loaded.report(query) == original.report(query)
    if loaded._kept is not None:
        fresh = Participation()
        fresh.load_state(data)
        for by in ("school", "phase"):
            query = Query(as_of=late, by=by)
            assert fresh.report(query) == original.report(query)
        assert _undecoded(fresh)  # a national report by school as of a late day: the totals
    if facts:
        loaded.retract(facts[-1])
        assert loaded._kept is None
        fed = _fed(facts, retracted)
        fed.retract(facts[-1])
        assert loaded.school_attendances(kept) == _reference(fed, kept)


def test_the_start_day_is_kept_and_the_state_is_dumped_anew() -> None:
    """The day before a sibling's start is a mark; re-dumping a loaded state (no change)
    gives the bytes a projection fed the same facts with the same sibling dumps."""
    facts = [Fact(i, T0, ClubRun(
        partnership_id=pid, occurred_on=day, event_id=f"c{i}", club_id="c", school_id=school,
        activity="football", participants=10 + i, send_participants=0, staff_minutes=60))
        for i, (pid, school, day) in enumerate([
            ("p", "a", D(2006, 9, 12)), ("p", "b", D(2007, 1, 10)), ("q", "a", D(2007, 1, 20)),
            ("p", "a", D(2008, 5, 1))], start=1)]
    start = D(2007, 1, 15)
    fed = _fed(facts)
    fed.keep_school_attendances(lambda: [start])
    data = fed.dump_state()
    loaded = Participation()
    loaded.keep_school_attendances(lambda: [start])
    loaded.load_state(data)
    assert loaded._kept is not None
    kept, marks = loaded._kept
    assert (kept.partnership_ids, kept.school_ids) == (["p", "p", "q"], ["a", "b", "a"])
    assert (kept.first, marks[-1]) == (D(2006, 9, 12).toordinal(), D(2008, 5, 1).toordinal())
    assert start.toordinal() - 1 in marks
    assert loaded.school_attendances([(start, D(2007, 3, 31)), (None, D(2020, 1, 1))]) == [
        {("p", "a"): 0, ("p", "b"): 0, ("q", "a"): 13},
        {("p", "a"): 11 + 14, ("p", "b"): 12, ("q", "a"): 13}]
    assert _undecoded(loaded)
    assert loaded.dump_state() == data
    table = loaded.report(Query(as_of=D(2013, 1, 1), by="school"))
    assert [r[:3] for r in table.rows] == [("a", 3, 11 + 14 + 13), ("b", 1, 12),
                                            ("total", 4, 50)]
    assert _undecoded(loaded)


def _i4(*values: int) -> bytes:
    return b"".join(v.to_bytes(4, "little", signed=True) for v in values)


@pytest.mark.parametrize(("field", "value", "message"), [
    ("partnership_ids", ["p"], "different lengths"),
    ("school_ids", ["b", "a"], "not ascending"),
    ("marks", b"\x00\x01", "marks have 2 bytes"),
    ("marks", _i4(733000, 732000), "not ascending days"),
    ("first", 733001, "not ascending days"),
    ("itemsize", 2, "2-byte"),
    ("sums", b"\x00" * 4, "sums have 4 bytes"),
    ("totals", b"\x00" * 4, "totals have 4 bytes"),
])
def test_malformed_kept_attendances_are_refused(field: str, value: object,
                                                message: str) -> None:
    good = {"partnership_ids": ["p", "p"], "school_ids": ["a", "b"],
            "marks": _i4(732000, 733000), "first": 731000, "itemsize": 4,
            "sums": _i4(1, 2, 3, 4), "totals": _i4(*range(10))}
    base = msgspec.msgpack.decode(Participation().dump_state())
    Participation().load_state(msgspec.msgpack.encode(
        {**base, "attendances": list(good.values())}))
    bad = {**good, field: value}
    with pytest.raises(ValueError, match=message):
        Participation().load_state(msgspec.msgpack.encode(
            {**base, "attendances": list(bad.values())}))


def test_a_version_1_state_is_refused() -> None:
    base = msgspec.msgpack.decode(Participation().dump_state())
    assert base["version"] == 2
    with pytest.raises(ValueError, match="version 1 is not 2"):
        Participation().load_state(msgspec.msgpack.encode({**base, "version": 1}))
