"""The valid-time index and the period calendar."""

from __future__ import annotations

import datetime as dt
from itertools import pairwise

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ssp_ledger import Series, TeachingCalendar, parse_period
from ssp_ledger.periods import academic_year, easter_sunday, financial_year, periods_between

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
