"""Tests of the one school calendar (ssp_ledger.periods): terms, holidays, reporting terms."""

from __future__ import annotations

import datetime as dt
from itertools import pairwise

import pytest

from ssp_ledger.periods import (
    ONE_DAY,
    TeachingCalendar,
    easter_sunday,
    parse_period,
    period_of,
    school_year,
)

YEARS = range(1995, 2031)


def test_a_school_year_by_hand() -> None:
    # 2010/11 (Easter Sunday 24 April 2011):
    #   autumn Fri 3 Sep - Sun 19 Dec 2010: 1 + 15 weeks x 5 = 76 weekdays, less the half-term
    #     week of Mon 25 Oct = 71;
    #   spring Tue 4 Jan - Sat 16 Apr 2011: 4 + 14 x 5 = 74, less the week of Mon 21 Feb = 69;
    #   summer Mon 2 May - Thu 21 Jul 2011: 11 x 5 + 4 = 59, less the week of Mon 30 May = 54.
    year = school_year(2010)
    autumn, spring, summer = year.terms
    assert (autumn.start, autumn.end, autumn.half_term) == (
        dt.date(2010, 9, 3), dt.date(2010, 12, 19), (dt.date(2010, 10, 25), dt.date(2010, 10, 29)))
    assert (spring.start, spring.end, spring.half_term) == (
        dt.date(2011, 1, 4), dt.date(2011, 4, 16), (dt.date(2011, 2, 21), dt.date(2011, 2, 25)))
    assert (summer.start, summer.end, summer.half_term) == (
        dt.date(2011, 5, 2), dt.date(2011, 7, 21), (dt.date(2011, 5, 30), dt.date(2011, 6, 3)))
    assert [len(t.teaching_days()) for t in year.terms] == [71, 69, 54]
    assert TeachingCalendar().teaching_days(dt.date(2010, 9, 1), dt.date(2011, 8, 31)) == 194
    assert year.term("spring") is spring
    assert year.label == "2010/11"


def test_teaching_days_a_year_are_unchanged() -> None:
    # The counts release time (and so every staff-cost figure) accrues over.
    calendar = TeachingCalendar()
    counts = {y: calendar.teaching_days(dt.date(y, 9, 1), dt.date(y + 1, 8, 31))
              for y in range(2002, 2016)}
    assert counts == {2002: 194, 2003: 196, 2004: 194, 2005: 194, 2006: 194, 2007: 195,
                      2008: 195, 2009: 195, 2010: 194, 2011: 194, 2012: 194, 2013: 194,
                      2014: 195, 2015: 196}


@pytest.mark.parametrize("start_year", YEARS)
def test_teaching_calendar_and_school_year_agree(start_year: int) -> None:
    calendar = TeachingCalendar()
    year = school_year(start_year)
    day = dt.date(start_year, 9, 1)
    while day <= dt.date(start_year + 1, 8, 31):
        assert calendar.is_teaching_day(day) == any(t.is_teaching_day(day) for t in year.terms)
        day += ONE_DAY


@pytest.mark.parametrize("year", YEARS)
def test_holidays_are_ordered_disjoint_and_inside_the_year(year: int) -> None:
    holidays = TeachingCalendar().holidays(year)
    assert holidays[0][0] == dt.date(year, 1, 1)
    assert holidays[-1][1] == dt.date(year, 12, 31)
    for a, b in holidays:
        assert a <= b
    for (_, end), (start, _) in pairwise(holidays):
        assert end < start
    easter = easter_sunday(year)
    assert (easter - 7 * ONE_DAY, easter + 7 * ONE_DAY) in holidays  # Palm Sunday to Low Sunday
    assert (dt.date(year, 7, 22), dt.date(year, 9, 2)) in holidays


@pytest.mark.parametrize("start_year", YEARS)
def test_reporting_terms_partition_the_year_around_the_teaching_terms(start_year: int) -> None:
    year = school_year(start_year)
    reporting = year.reporting_terms()
    assert reporting[0].start == dt.date(start_year, 9, 1)
    assert reporting[-1].end == dt.date(start_year + 1, 8, 31)
    for a, b in pairwise(reporting):
        assert a.end + ONE_DAY == b.start
    for period, term in zip(reporting, year.terms, strict=True):
        assert period.label == f"{year.label}:{term.name}"
        assert period.start <= term.start
        assert term.end <= period.end
        assert parse_period(period.label) == period
        for day in term.teaching_days():
            assert period_of("term", day) == period
