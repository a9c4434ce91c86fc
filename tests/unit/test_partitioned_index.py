"""Group sums over every partnership: the vectorised structure answers as a naive fold and as
adding up each partnership's groups, through additions, removals (corrections), back-dated
entries and queries in any order; it is a cache, so checkpoints do not see it."""

from __future__ import annotations

import datetime as dt

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ssp_ledger.projection import Query
from ssp_ledger.projection.checkpoint import (
    GroupedIndexState,
    PartitionedIndexState,
    SeriesState,
    encode_state,
    pack,
    shuffle,
    unpack,
    unshuffle,
)
from ssp_ledger.projection.index import PartitionedIndex, every_group_between

DIMENSIONS = ("school", "activity")
MEASURES = ("sessions", "attendances")
FIRST = dt.date(2005, 1, 1)

Entry = tuple[str, dt.date, tuple[str, ...], str, tuple[int, int]]
"""(partnership, day, schools, activity, values)."""

entries = st.tuples(
    st.sampled_from(("p", "q", "r")),
    st.dates(FIRST, FIRST + dt.timedelta(days=900)),
    st.lists(st.sampled_from(("s1", "s2", "s3", "s4")), min_size=1, max_size=2, unique=True)
    .map(tuple),
    st.sampled_from(("dance", "golf", "rugby")),
    st.tuples(st.integers(-3, 9), st.integers(0, 40)),
)
days = st.dates(FIRST - dt.timedelta(days=10), FIRST + dt.timedelta(days=950))


def _keys(entry: Entry) -> dict[str, str | tuple[str, ...]]:
    _, _, schools, activity, _ = entry
    return {"school": schools, "activity": activity}


def _add(index: PartitionedIndex, entry: Entry, sign: int = 1) -> None:
    pid, day, _, _, values = entry
    if sign > 0:
        index.add(pid, day, _keys(entry), values)
    else:
        index.remove(pid, day, _keys(entry), values)


def _naive(live: list[Entry], dimension: str, start: dt.date | None, end: dt.date
           ) -> dict[str, tuple[int, ...]]:
    """Sums per group folded over the entries in force, omitting all-zero groups."""
    out: dict[str, list[int]] = {}
    for entry in live:
        _, day, schools, activity, values = entry
        if day > end or (start is not None and day < start):
            continue
        for group in schools if dimension == "school" else (activity,):
            row = out.setdefault(group, [0, 0])
            row[0] += values[0]
            row[1] += values[1]
    return {group: tuple(row) for group, row in out.items() if any(row)}


def _dump(index: PartitionedIndex) -> bytes:
    return encode_state(index.dump())


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_groups_over_every_partnership_answer_as_a_naive_fold(data: st.DataObject) -> None:
    """Adds, removals (a correction is a removal and an add, possibly back-dated) and queries
    interleaved: every answer equals the naive fold and the per-partnership sum, and the
    index dumps the same bytes as one that was never queried."""
    index = PartitionedIndex(DIMENSIONS, MEASURES)
    index.across_from = data.draw(st.sampled_from((0, 0, 3, 4096)))  # mostly the array
    # from a dimension's second query on: the array, or still the sums
    index.across_again_from = data.draw(st.sampled_from((0, 2, 256)))
    quiet = PartitionedIndex(DIMENSIONS, MEASURES)  # the same additions, never queried
    live: list[Entry] = []
    steps = data.draw(st.lists(st.sampled_from(("add", "add", "add", "remove", "correct",
                                                "ask")), max_size=40))
    for step in [*steps, "ask"]:
        if step == "add" or (step in ("remove", "correct") and not live):
            entry = data.draw(entries)
            live.append(entry)
            _add(index, entry)
            _add(quiet, entry)
        elif step in ("remove", "correct"):
            old = live.pop(data.draw(st.integers(0, len(live) - 1)))
            _add(index, old, -1)
            _add(quiet, old, -1)
            if step == "correct":
                new = data.draw(entries)
                live.append(new)
                _add(index, new)
                _add(quiet, new)
        else:
            end = data.draw(days)
            start = data.draw(st.none() | days)
            for dimension in DIMENSIONS:
                expected = _naive(live, dimension, start, end)
                assert index.groups(dimension, start, end) == expected, (dimension, start, end)
                assert index.summed_groups(dimension, start, end) == expected
                assert index.group_rows(dimension, start, end) == [
                    (label, *expected[label]) for label in sorted(expected)]
    assert _dump(index) == _dump(quiet)
    loaded = PartitionedIndex.load(msgspec.msgpack.decode(
        _dump(index), type=type(index.dump())))
    end = FIRST + dt.timedelta(days=950)
    assert loaded.groups("school", None, end) == _naive(live, "school", None, end)


def test_reports_by_group_over_every_partnership_read_the_same_rows() -> None:
    index = PartitionedIndex(DIMENSIONS, MEASURES)
    live: list[Entry] = [
        ("p", FIRST, ("s1",), "golf", (1, 10)),
        ("q", FIRST + dt.timedelta(days=3), ("s1", "s2"), "golf", (1, 5)),
        ("q", FIRST + dt.timedelta(days=9), ("s3",), "dance", (2, 0)),
    ]
    for entry in live:
        _add(index, entry)
    query = Query(as_of=FIRST + dt.timedelta(days=5), by="school")
    table = index.table("participation", query)
    assert table.rows == (("s1", 2, 15), ("s2", 1, 5), ("total", 2, 15))
    _add(index, ("r", FIRST - dt.timedelta(days=1), ("s2",), "golf", (1, 1)))  # back-dated
    assert index.table("participation", query).rows == (
        ("s1", 2, 15), ("s2", 2, 6), ("total", 3, 16))


def test_many_additions_after_a_query_rebuild_the_structure() -> None:
    """An overlay larger than the structure allows is dropped and the structure built again:
    answers stay exact across the rebuild."""
    index = PartitionedIndex(DIMENSIONS, MEASURES)
    live: list[Entry] = []
    for i in range(3000):
        entry: Entry = ("pqr"[i % 3], FIRST + dt.timedelta(days=i % 700), (f"s{i % 50}",),
                        ("dance", "golf")[i % 2], (1, i % 7))
        live.append(entry)
        _add(index, entry)
        if i % 400 == 0:
            end = FIRST + dt.timedelta(days=i % 650)
            assert index.groups("school", None, end) == _naive(live, "school", None, end)
            assert index.groups("activity", FIRST, end) == _naive(live, "activity", FIRST, end)
    end = FIRST + dt.timedelta(days=800)
    assert index.groups("school", None, end) == _naive(live, "school", None, end)


def test_sums_near_the_8_byte_limit_stay_exact() -> None:
    """Sums whose bound could leave 8 bytes are kept as Python integers (each series, and the
    total series over partnerships, still fit 8 bytes: a Series holds no more)."""
    index = PartitionedIndex(DIMENSIONS, MEASURES)
    big = 2**60
    live: list[Entry] = [(pid, FIRST + dt.timedelta(days=k), ("s1",), "golf", (big, 1))
                         for k, pid in enumerate("pqr")]
    for entry in live:
        _add(index, entry)
    end = FIRST + dt.timedelta(days=5)
    found = index.groups("school", None, end)
    assert found == {"s1": (3 * big, 3)}
    assert index.groups("school", FIRST + dt.timedelta(days=1), end) == {"s1": (2 * big, 2)}
    assert index.table("x", Query(as_of=end, by="activity")).rows[0] == ("golf", 3 * big, 3)


@settings(max_examples=100, deadline=None)
@given(st.data())
def test_one_measure_of_every_partnerships_groups_answers_as_their_groups(
        data: st.DataObject) -> None:
    """:func:`every_group_between` (every (partnership, group) over several ranges at once,
    read from the dimensions' bytes) equals each partnership's own :meth:`groups`, whether the
    index was restored from its state (dimensions still encoded), queried since (decoded) or
    built by additions; with sums that need 8 bytes too."""
    index = PartitionedIndex(DIMENSIONS, MEASURES)
    big = data.draw(st.booleans())
    for entry in data.draw(st.lists(entries, max_size=30)):
        pid, day, schools, activity, values = entry
        if big:
            values = (values[0] * 2**40, values[1] - 2**35)
        index.add(pid, day, _keys((pid, day, schools, activity, values)), values)
    ranges = data.draw(st.lists(st.tuples(st.none() | days, days), max_size=4))
    how = data.draw(st.sampled_from(("built", "restored", "decoded")))
    if how != "built":
        index = PartitionedIndex.load(msgspec.msgpack.decode(
            _dump(index), type=PartitionedIndexState))
        if how == "decoded":
            index.groups("school", None, FIRST)  # decodes every partnership's schools
    dimension = data.draw(st.sampled_from(DIMENSIONS))
    measure = data.draw(st.sampled_from((0, 1)))
    labels, sums = every_group_between(index, dimension, measure, ranges)
    assert labels == sorted(labels)
    assert len(sums) == len(ranges)
    for (start, end), found in zip(ranges, sums, strict=True):
        expected = {(pid, group): values[measure]
                    for pid in index.partnerships()
                    for group, values in index._parts[pid].groups(dimension, start, end).items()}
        got = dict(zip(labels, found, strict=True))
        assert {k: v for k, v in got.items() if v} == {k: v for k, v in expected.items() if v}
        assert set(expected) <= set(got)


def _swapped(days: bytes) -> bytes:
    """Two 4-byte days in the other order."""
    return days[4:8] + days[:4]


def test_one_measure_of_every_group_refuses_inconsistent_states() -> None:
    """A dimension whose bytes decode but do not describe series (days out of order, a first
    row that is not zero) is refused, as :meth:`Series.load` refuses it."""
    index = PartitionedIndex(DIMENSIONS, MEASURES)
    index.add("p", FIRST, {"school": "s1", "activity": "golf"}, (1, 2))
    index.add("p", FIRST + dt.timedelta(days=3), {"school": "s1", "activity": "golf"}, (1, 2))
    state = index.dump()
    planes = msgspec.msgpack.decode(unpack(state.parts["p"].groups["school"]),
                                    type=dict[str, SeriesState])
    series = planes["s1"]
    for broken, message in (
            (SeriesState(series.width, shuffle(_swapped(unshuffle(series.keys, 4)), 4),
                         series.itemsize, series.prefix), "ascending"),
            (SeriesState(series.width, series.keys, series.itemsize,
                         b"\x01" + series.prefix[1:]), "first row"),
            (SeriesState(series.width, series.keys, 3, series.prefix), "bytes")):
        part = state.parts["p"]
        groups = {**part.groups, "school": memoryview(pack(encode_state({"s1": broken})))}
        bad = PartitionedIndexState(state.dimensions, state.measures, state.total, {
            "p": GroupedIndexState(part.dimensions, part.measures, part.total, groups)})
        with pytest.raises(ValueError, match=message):
            every_group_between(PartitionedIndex.load(bad), "school", 1,
                                [(None, FIRST + dt.timedelta(days=9))])
