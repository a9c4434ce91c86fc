"""The valid-time index and the period calendar."""

from __future__ import annotations

import datetime as dt
import sys
from array import array
from itertools import pairwise

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from ssp_ledger import Series, TeachingCalendar, parse_period
from ssp_ledger.periods import academic_year, easter_sunday, financial_year, periods_between
from ssp_ledger.projection import SeriesState
from ssp_ledger.projection.checkpoint import GroupedIndexState, shuffle, unshuffle
from ssp_ledger.projection.index import GroupedIndex

entries = st.lists(st.tuples(st.dates(dt.date(2000, 1, 1), dt.date(2020, 1, 1)),
                             st.integers(-1000, 1000)), max_size=60)


@given(entries, st.dates(dt.date(1999, 1, 1), dt.date(2021, 1, 1)), st.integers(1, 20))
def test_series_prefix_sum_equals_naive_sum(items: list[tuple[dt.date, int]], day: dt.date,
                                            query_every: int) -> None:
    series = Series(1)
    for i, (d, v) in enumerate(items):
        series.add(d, (v,))
        if i % query_every == 0:
            series.upto(day)  # interleave queries: incremental builds must equal one build
    assert series.upto(day) == (sum(v for d, v in items if d <= day),)


@given(entries, st.dates(dt.date(2000, 1, 1), dt.date(2020, 1, 1)),
       st.dates(dt.date(2000, 1, 1), dt.date(2020, 1, 1)))
def test_series_between(items: list[tuple[dt.date, int]], a: dt.date, b: dt.date) -> None:
    series = Series(1)
    for d, v in items:
        series.add(d, (v,))
    assert series.between(a, b) == (sum(v for d, v in items if a <= d <= b),)


def test_periods() -> None:
    assert parse_period("2010/11") == academic_year(dt.date(2011, 3, 1))
    assert parse_period("FY2010/11").end == dt.date(2011, 3, 31)
    assert financial_year(dt.date(2011, 3, 31)).label == "FY2010/11"
    spring = parse_period("2010/11:spring")
    assert (spring.start, spring.end) == (dt.date(2011, 1, 1), easter_sunday(2011))
    assert easter_sunday(2011) == dt.date(2011, 4, 24)
    terms = periods_between("term", dt.date(2010, 9, 1), dt.date(2011, 8, 31))
    assert [t.label for t in terms] == ["2010/11:autumn", "2010/11:spring", "2010/11:summer"]
    assert all(a.end + dt.timedelta(days=1) == b.start for a, b in pairwise(terms))
    with pytest.raises(ValueError, match="does not follow"):
        parse_period("2010/12")
    with pytest.raises(ValueError, match="not understood"):
        parse_period("last year")


@given(st.dates(dt.date(2000, 1, 1), dt.date(2020, 1, 1)), st.integers(-3, 800))
def test_teaching_days_match_a_day_by_day_count(start: dt.date, length: int) -> None:
    cal = TeachingCalendar()
    end = start + dt.timedelta(days=length)
    naive = sum(cal.is_teaching_day(start + dt.timedelta(days=i)) for i in range(length + 1))
    assert cal.teaching_days(start, end) == naive


def test_about_190_teaching_days_a_year() -> None:
    cal = TeachingCalendar()
    for y in range(2002, 2014):
        assert 185 <= cal.teaching_days(dt.date(y, 9, 1), dt.date(y + 1, 8, 31)) <= 196


def test_cancelled_days_leave_no_trace() -> None:
    series = Series(2)
    series.add(dt.date(2008, 9, 1), (1, 5))
    series.add(dt.date(2010, 9, 1), (1, 7))
    assert series.first_day() == dt.date(2008, 9, 1)
    series.add(dt.date(2008, 9, 1), (-1, -5))  # the fact was retracted
    assert series.first_day() == dt.date(2010, 9, 1)
    assert series.upto(dt.date(2011, 1, 1)) == (1, 7)


# ----------------------------------------------------------------------------- the series codec

big_entries = st.lists(st.tuples(st.dates(dt.date(2000, 1, 1), dt.date(2020, 1, 1)),
                                 st.integers(-(2**40), 2**40) | st.integers(-1000, 1000)),
                       max_size=60)


def _series(items: list[tuple[dt.date, int]]) -> Series:
    series = Series(2)
    for d, v in items:
        series.add(d, (v, -2 * v))
    return series


@given(big_entries, st.dates(dt.date(1999, 1, 1), dt.date(2021, 1, 1)))
def test_series_dump_load_round_trip(items: list[tuple[dt.date, int]], day: dt.date) -> None:
    series = _series(items)
    state = series.dump()
    restored = Series.load(state)
    assert restored.upto(day) == series.upto(day)
    assert restored.first_day() == series.first_day()
    assert restored.dump() == state
    assert msgspec.msgpack.decode(msgspec.msgpack.encode(state), type=SeriesState) == state


@given(big_entries, st.integers(0, 60), st.integers(1, 20),
       st.dates(dt.date(2000, 1, 1), dt.date(2020, 1, 1)))
def test_series_dump_is_canonical(items: list[tuple[dt.date, int]], cut: int, query_every: int,
                                  day: dt.date) -> None:
    """Built in one go, or queried along the way, or dumped and loaded midway then continued:
    the same additions give the same bytes."""
    whole = _series(items)
    queried = Series(2)
    for i, (d, v) in enumerate(items):
        queried.add(d, (v, -2 * v))
        if i % query_every == 0:
            queried.upto(day)
    resumed = Series.load(_series(items[:cut]).dump())
    for d, v in items[cut:]:
        resumed.add(d, (v, -2 * v))
    encoded = msgspec.msgpack.encode(whole.dump())
    assert msgspec.msgpack.encode(queried.dump()) == encoded
    assert msgspec.msgpack.encode(resumed.dump()) == encoded


def test_series_dump_uses_8_byte_sums_only_when_needed() -> None:
    series = Series(1)
    series.add(dt.date(2010, 1, 1), (7,))
    assert series.dump().itemsize == 4
    series.add(dt.date(2010, 1, 2), (2**40,))
    assert series.dump().itemsize == 8
    series.add(dt.date(2010, 1, 2), (-(2**40),))  # retracted: as if never added
    small = Series(1)
    small.add(dt.date(2010, 1, 1), (7,))
    assert series.dump() == small.dump()
    # 8-byte sums that fit in 4 (a state written by other code) dump as 4-byte sums
    wide = SeriesState(1, _packed("i", [733000]), 8, _packed("q", [0, 7]))
    assert Series.load(wide).dump() == SeriesState(1, _packed("i", [733000]), 4,
                                                   _packed("i", [0, 7]))


def _packed(typecode: str, values: list[int]) -> bytes:
    out = array(typecode, values)
    if sys.byteorder == "big":
        out.byteswap()
    return out.tobytes()


@pytest.mark.parametrize(("state", "message"), [
    (SeriesState(-1, b"", 4, b""), "negative"),
    (SeriesState(1, b"", 2, b"\0\0"), "2 bytes"),
    (SeriesState(1, b"\1\0\0", 4, b"\0" * 8), "multiple of 4"),
    (SeriesState(1, _packed("i", [5]), 4, _packed("i", [0])), "expected 8"),
    (SeriesState(2, _packed("i", [5]), 8, _packed("q", [0, 0, 1])), "expected 32"),
    (SeriesState(1, _packed("i", [5]), 4, _packed("i", [3, 4])), "first row"),
    (SeriesState(1, _packed("i", [6, 5]), 4, _packed("i", [0, 1, 2])), "ascending"),
    (SeriesState(1, _packed("i", [5, 5]), 4, _packed("i", [0, 1, 2])), "ascending"),
])
def test_series_load_rejects_inconsistent_state(state: SeriesState, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Series.load(state)


@given(st.sampled_from([4, 8]), st.lists(st.integers(-(2**31), 2**31 - 1), max_size=40))
def test_byte_planes_come_back_as_the_integers(itemsize: int, values: list[int]) -> None:
    data = _packed("i" if itemsize == 4 else "q", values)
    planes = shuffle(data, itemsize)
    assert sorted(planes) == sorted(data)  # the same bytes, moved
    assert unshuffle(planes, itemsize) == data


def test_byte_planes_put_each_byte_of_every_integer_together() -> None:
    assert shuffle(bytes(range(1, 9)), 4) == bytes([1, 5, 2, 6, 3, 7, 4, 8])
    assert unshuffle(bytes([1, 5, 2, 6, 3, 7, 4, 8]), 4) == bytes(range(1, 9))
    with pytest.raises(ValueError, match="7 bytes are not a whole number of 4-byte integers"):
        unshuffle(bytes(7), 4)


def test_an_index_dumps_and_loads_its_dimensions_with_4_and_8_byte_sums() -> None:
    """A dimension's series go through byte planes (state version 5): groups whose sums need 8
    bytes and groups that fit 4 come back with the same answers and the same bytes."""
    index = GroupedIndex(("school",), ("sessions", "pence"))
    first = dt.date(2006, 9, 4)
    for k in range(30):
        day = first + dt.timedelta(days=3 * k)
        index.add(day, {"school": "big"}, (1, 2**40 + k))
        index.add(day, {"school": "small"}, (2, k))
    state = index.dump()
    loaded = GroupedIndex.load(msgspec.msgpack.decode(msgspec.msgpack.encode(state),
                                                      type=GroupedIndexState))
    end = first + dt.timedelta(days=100)
    assert loaded.groups("school", None, end) == index.groups("school", None, end)
    assert loaded.groups("school", first + dt.timedelta(days=10), end) == \
        index.groups("school", first + dt.timedelta(days=10), end)
    assert msgspec.msgpack.encode(loaded.dump()) == msgspec.msgpack.encode(state)
