"""Periods users think in, and the one school calendar behind them.

Periods users type:

* academic year ``2010/11``: 1 Sep 2010 - 31 Aug 2011;
* terms ``2010/11:autumn`` (1 Sep - 31 Dec), ``:spring`` (1 Jan - Easter Sunday),
  ``:summer`` (Easter Monday - 31 Aug): together they cover the year with no gap;
* financial year ``FY2010/11``: 1 Apr 2010 - 31 Mar 2011;
* calendar year ``2011`` and explicit ranges ``2010-09-01..2011-03-31``.

**The school calendar** is defined once, by :func:`school_year`: each school year has three
*teaching terms* (:class:`SchoolTerm`), each with a half-term week, and the holidays are what
lies between them. The dates approximate the common pattern of English maintained schools
(about 190 teaching days a year):

=========  ==================================  ==========================================
term       first - last day                    half-term (Monday - Friday)
=========  ==================================  ==========================================
autumn     3 Sep - 19 Dec                      week of the last Monday of October
spring     4 Jan - Saturday before Palm Sunday week of the third Monday of February
summer     Monday after Easter week - 21 Jul   week of the last Monday of May (bank holiday)
=========  ==================================  ==========================================

so the holidays are Christmas (20 Dec - 3 Jan), Easter (Palm Sunday - the Sunday after Easter)
and summer (22 Jul - 2 Sep), plus the three half-terms.

Everything calendar-shaped derives from those dates:

* *teaching days* are the weekdays of a teaching term outside its half-term. Release time (SSCO
  and PLT days) accrues on them (:class:`TeachingCalendar`), the response model's weekly
  activity happens on them, and the synthetic generator (:mod:`ssp_ledger.synthetic`) puts its
  club sessions, competitions and training on them and lets schools join on term starts;
* *reporting terms* (the ``:autumn`` / ``:spring`` / ``:summer`` periods) must partition the
  year, so they cannot stop at the teaching terms' edges: each is cut inside a holiday -- on
  1 September (summer holiday), 1 January (Christmas) and Easter Monday (Easter holiday) -- and
  holds its teaching term with the holiday days around it up to the cuts.
  :meth:`SchoolYear.reporting_terms` builds them, so every teaching day's reporting term is the
  teaching term it belongs to.
"""

from __future__ import annotations

import datetime as dt
import re
from array import array
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Literal

__all__ = [
    "ONE_DAY",
    "Period",
    "PeriodKind",
    "SchoolTerm",
    "SchoolYear",
    "TeachingCalendar",
    "TermName",
    "academic_year",
    "easter_sunday",
    "financial_year",
    "parse_period",
    "period_of",
    "periods_between",
    "school_year",
]

PeriodKind = Literal["academic_year", "term", "financial_year", "calendar_year"]
TermName = Literal["autumn", "spring", "summer"]
"""The three terms of an English school year, in order."""
ONE_DAY = dt.timedelta(days=1)
"""One day: the step between consecutive valid dates (``end + ONE_DAY`` is the day after)."""


@dataclass(frozen=True, order=True)
class Period:
    """A closed range of valid dates with the label users type."""

    start: dt.date
    """First day."""
    end: dt.date
    """Last day (inclusive)."""
    label: str = field(compare=False)
    """How it is written, e.g. ``"2010/11"``."""

    def __contains__(self, day: object) -> bool:
        return isinstance(day, dt.date) and self.start <= day <= self.end


def easter_sunday(year: int) -> dt.date:
    """Western Easter Sunday (anonymous Gregorian algorithm)."""
    a = year % 19
    b, c = divmod(year, 100)
    d, e = divmod(b, 4)
    f = (b + 8) // 25
    g = (b - f + 1) // 3
    h = (19 * a + b - d - g + 15) % 30
    i, k = divmod(c, 4)
    l_ = (32 + 2 * e + 2 * i - h - k) % 7
    m = (a + 11 * h + 22 * l_) // 451
    month, day = divmod(h + l_ - 7 * m + 114, 31)
    return dt.date(year, month, day + 1)


def _ay_label(start_year: int) -> str:
    return f"{start_year}/{(start_year + 1) % 100:02d}"


def academic_year(day: dt.date) -> Period:
    """The academic year (1 Sep - 31 Aug) containing ``day``."""
    y = day.year if day.month >= 9 else day.year - 1
    return Period(dt.date(y, 9, 1), dt.date(y + 1, 8, 31), _ay_label(y))


def financial_year(day: dt.date) -> Period:
    """The UK financial year (1 Apr - 31 Mar) containing ``day``."""
    y = day.year if day.month >= 4 else day.year - 1
    return Period(dt.date(y, 4, 1), dt.date(y + 1, 3, 31), f"FY{_ay_label(y)}")


def _monday_of(day: dt.date) -> dt.date:
    return day - dt.timedelta(days=day.weekday())


def _week_from(monday: dt.date) -> tuple[dt.date, dt.date]:
    return monday, monday + 4 * ONE_DAY


@dataclass(frozen=True)
class SchoolTerm:
    """One teaching term of the school calendar: its first and last day and its half-term."""

    name: TermName
    """``autumn``, ``spring`` or ``summer``."""
    start: dt.date
    """First day of term (may fall on a weekend; teaching starts on the next weekday)."""
    end: dt.date
    """Last day of term (inclusive)."""
    half_term: tuple[dt.date, dt.date]
    """The half-term holiday, Monday to Friday (inclusive)."""

    def is_teaching_day(self, day: dt.date) -> bool:
        """True on a weekday of the term outside its half-term."""
        return (self.start <= day <= self.end and day.weekday() < 5
                and not self.half_term[0] <= day <= self.half_term[1])

    def teaching_days(self) -> list[dt.date]:
        """The term's teaching days, in order."""
        out: list[dt.date] = []
        day = self.start
        while day <= self.end:
            if self.is_teaching_day(day):
                out.append(day)
            day += ONE_DAY
        return out


@dataclass(frozen=True)
class SchoolYear:
    """The school year starting in September of ``start_year``: its three teaching terms."""

    start_year: int
    """Calendar year of the September it starts in."""
    terms: tuple[SchoolTerm, SchoolTerm, SchoolTerm]
    """Autumn, spring and summer teaching terms."""

    @property
    def label(self) -> str:
        """How the year is written, e.g. ``2010/11``."""
        return _ay_label(self.start_year)

    def term(self, name: TermName) -> SchoolTerm:
        """The teaching term called ``name``."""
        return self.terms[("autumn", "spring", "summer").index(name)]

    def reporting_terms(self) -> tuple[Period, Period, Period]:
        """The reporting terms: the year cut on 1 Jan and Easter Monday (see the module doc).

        Each cut lies in the holiday between two teaching terms, so each reporting term holds
        exactly one teaching term.
        """
        y = self.start_year
        new_year, easter_monday = dt.date(y + 1, 1, 1), easter_sunday(y + 1) + ONE_DAY
        return (
            Period(dt.date(y, 9, 1), new_year - ONE_DAY, f"{self.label}:autumn"),
            Period(new_year, easter_monday - ONE_DAY, f"{self.label}:spring"),
            Period(easter_monday, dt.date(y + 1, 8, 31), f"{self.label}:summer"),
        )


@lru_cache(maxsize=256)
def school_year(start_year: int) -> SchoolYear:
    """The school calendar of the year starting in September ``start_year`` (see the module
    doc for the rules)."""
    y, easter = start_year, easter_sunday(start_year + 1)
    return SchoolYear(start_year, (
        SchoolTerm("autumn", dt.date(y, 9, 3), dt.date(y, 12, 19),
                   _week_from(_monday_of(dt.date(y, 10, 31)))),
        SchoolTerm("spring", dt.date(y + 1, 1, 4), easter - 8 * ONE_DAY,
                   _week_from(_monday_of(dt.date(y + 1, 2, 21)))),
        SchoolTerm("summer", easter + 8 * ONE_DAY, dt.date(y + 1, 7, 21),
                   _week_from(_monday_of(dt.date(y + 1, 5, 31)))),
    ))


@lru_cache(maxsize=256)
def _terms(start_year: int) -> tuple[Period, Period, Period]:
    return school_year(start_year).reporting_terms()


def period_of(kind: PeriodKind, day: dt.date) -> Period:
    """The period of ``kind`` containing ``day``."""
    if kind == "academic_year":
        return academic_year(day)
    if kind == "financial_year":
        return financial_year(day)
    if kind == "calendar_year":
        return Period(dt.date(day.year, 1, 1), dt.date(day.year, 12, 31), str(day.year))
    for term in _terms(academic_year(day).start.year):
        if day in term:
            return term
    raise AssertionError(day)  # pragma: no cover -- terms cover the year


def periods_between(kind: PeriodKind, start: dt.date, end: dt.date) -> list[Period]:
    """Consecutive periods of ``kind`` from the one containing ``start`` to the one with ``end``."""
    out: list[Period] = []
    day = start
    while day <= end:
        period = period_of(kind, day)
        out.append(period)
        day = period.end + ONE_DAY
    return out


_AY = re.compile(r"^(\d{4})/(\d{2})$")
_TERM = re.compile(r"^(\d{4})/(\d{2})[: ](autumn|spring|summer)$")
_FY = re.compile(r"^FY(\d{4})/(\d{2})$", re.IGNORECASE)
_RANGE = re.compile(r"^(\d{4}-\d{2}-\d{2})\.\.(\d{4}-\d{2}-\d{2})$")


def _start_year(first: str, second: str, text: str) -> int:
    y = int(first)
    if (y + 1) % 100 != int(second):
        msg = f"period {text!r}: {second} does not follow {first} (write e.g. 2010/11)"
        raise ValueError(msg)
    return y


def parse_period(text: str) -> Period:
    """Parse ``2010/11``, ``2010/11:autumn``, ``FY2010/11``, ``2011`` or ``D1..D2``."""
    t = text.strip()
    if m := _AY.match(t):
        y = _start_year(m[1], m[2], t)
        return academic_year(dt.date(y, 9, 1))
    if m := _TERM.match(t):
        y = _start_year(m[1], m[2], t)
        return {p.label.split(":")[1]: p for p in _terms(y)}[m[3]]
    if m := _FY.match(t):
        y = _start_year(m[1], m[2], t)
        return financial_year(dt.date(y, 4, 1))
    if re.fullmatch(r"\d{4}", t):
        return period_of("calendar_year", dt.date(int(t), 1, 1))
    if m := _RANGE.match(t):
        try:
            start, end = dt.date.fromisoformat(m[1]), dt.date.fromisoformat(m[2])
        except ValueError as e:
            msg = f"period {text!r}: {e}"
            raise ValueError(msg) from None
        if end < start:
            msg = f"period {text!r}: end is before start"
            raise ValueError(msg)
        return Period(start, end, t)
    msg = (
        f"period {text!r} not understood; use 2010/11, 2010/11:autumn, FY2010/11, 2011 "
        "or 2010-09-01..2011-03-31"
    )
    raise ValueError(msg)


class TeachingCalendar:
    """Counts teaching days (term-time weekdays) between two dates in O(1) after a per-year setup.

    Teaching days are those of :func:`school_year`: weekdays inside a teaching term and outside
    its half-term. :meth:`holidays` lists, per calendar year, the ranges between those terms:
    the end of the Christmas holiday (1 - 3 Jan), the February half-term, Easter (Palm Sunday to
    the Sunday after Easter), the May half-term, summer (22 Jul - 2 Sep), the October half-term
    and the start of Christmas (20 - 31 Dec).

    Per calendar year it keeps, built on first use, the ordinal of 1 January, the running count
    of teaching days by day of the year and the ordinals of the teaching days, so counting is
    ordinal arithmetic and two look-ups per year spanned. These tables are derived: they are not
    pickled (a projection holding a calendar checkpoints without them).
    """

    def __init__(self) -> None:
        self._years: dict[int, tuple[int, array[int], array[int]]] = {}

    def __getstate__(self) -> dict[str, object]:
        return {}

    def __setstate__(self, state: dict[str, object]) -> None:
        self._years = {}

    def holidays(self, year: int) -> list[tuple[dt.date, dt.date]]:
        """Holiday ranges (inclusive) that fall in calendar year ``year``, in date order."""
        _, spring, summer = school_year(year - 1).terms
        autumn = school_year(year).terms[0]
        return [
            (dt.date(year, 1, 1), spring.start - ONE_DAY),
            spring.half_term,
            (spring.end + ONE_DAY, summer.start - ONE_DAY),
            summer.half_term,
            (summer.end + ONE_DAY, autumn.start - ONE_DAY),
            autumn.half_term,
            (autumn.end + ONE_DAY, dt.date(year, 12, 31)),
        ]

    def is_teaching_day(self, day: dt.date) -> bool:
        """True on a term-time weekday."""
        if day.weekday() >= 5:
            return False
        return not any(a <= day <= b for a, b in self.holidays(day.year))

    def _year(self, year: int) -> tuple[int, array[int], array[int]]:
        """(ordinal of 1 January, ``prefix``, teaching-day ordinals) of ``year``, where
        ``prefix[i]`` counts the teaching days among the first ``i`` days of the year."""
        found = self._years.get(year)
        if found is None:
            first = dt.date(year, 1, 1).toordinal()
            length = dt.date(year + 1, 1, 1).toordinal() - first
            teaching = [True] * length
            for a, b in self.holidays(year):
                for i in range(a.toordinal() - first, b.toordinal() - first + 1):
                    teaching[i] = False
            weekday = dt.date(year, 1, 1).weekday()  # Monday 0
            prefix = array("H", [0])
            ordinals = array("i")
            count = 0
            for i in range(length):
                if teaching[i] and (weekday + i) % 7 < 5:
                    count += 1
                    ordinals.append(first + i)
                prefix.append(count)
            found = self._years[year] = (first, prefix, ordinals)
        return found

    def _before(self, ordinal: int) -> tuple[int, int]:
        """(year of ``ordinal``, teaching days from 1 January of that year up to the day
        before ``ordinal``)."""
        year = dt.date.fromordinal(ordinal).year
        first, prefix, _ = self._year(year)
        return year, prefix[ordinal - first]

    def teaching_days(self, start: dt.date, end: dt.date) -> int:
        """Teaching days in ``[start, end]`` (0 when end < start)."""
        if end < start:
            return 0
        return self.teaching_days_between(start.toordinal(), end.toordinal())

    def teaching_days_between(self, first: int, last: int) -> int:
        """Teaching days among the days with ordinals in ``[first, last]`` (0 when
        ``last < first``): :meth:`teaching_days` on ``date.toordinal()`` values."""
        if last < first:
            return 0
        start_year, before_start = self._before(first)
        end_year, before_end = self._before(last + 1)
        total = before_end - before_start
        for year in range(start_year, end_year):
            total += self._year(year)[1][-1]
        return total

    def teaching_ordinals(self, first: int, last: int) -> list[int]:
        """Ordinals of the teaching days in ``[first, last]`` (ordinals), ascending."""
        if last < first:
            return []
        out: list[int] = []
        for year in range(dt.date.fromordinal(first).year, dt.date.fromordinal(last).year + 1):
            start, prefix, ordinals = self._year(year)
            lo = prefix[max(first - start, 0)]
            hi = prefix[min(last - start + 1, len(prefix) - 1)]
            out.extend(ordinals[lo:hi])
        return out
