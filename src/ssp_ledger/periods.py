"""Periods users think in, and the school calendar release time accrues over.

* academic year ``2010/11``: 1 Sep 2010 - 31 Aug 2011;
* terms ``2010/11:autumn`` (1 Sep - 31 Dec), ``:spring`` (1 Jan - Easter Sunday),
  ``:summer`` (Easter Monday - 31 Aug): together they cover the year with no gap;
* financial year ``FY2010/11``: 1 Apr 2010 - 31 Mar 2011;
* calendar year ``2011`` and explicit ranges ``2010-09-01..2011-03-31``.

Release time (SSCo days, PLT days) accrues on *teaching days*: weekdays outside the Christmas,
Easter and summer holidays and the three half-terms, about 190 a year as in English maintained
schools. Dates are approximations of the common pattern; :class:`TeachingCalendar` documents them.
"""

from __future__ import annotations

import datetime as dt
import re
from array import array
from dataclasses import dataclass, field
from typing import Literal

__all__ = [
    "Period",
    "PeriodKind",
    "TeachingCalendar",
    "academic_year",
    "easter_sunday",
    "financial_year",
    "parse_period",
    "period_of",
    "periods_between",
]

PeriodKind = Literal["academic_year", "term", "financial_year", "calendar_year"]
_DAY = dt.timedelta(days=1)


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


def _terms(start_year: int) -> tuple[Period, Period, Period]:
    label = _ay_label(start_year)
    easter = easter_sunday(start_year + 1)
    return (
        Period(dt.date(start_year, 9, 1), dt.date(start_year, 12, 31), f"{label}:autumn"),
        Period(dt.date(start_year + 1, 1, 1), easter, f"{label}:spring"),
        Period(easter + _DAY, dt.date(start_year + 1, 8, 31), f"{label}:summer"),
    )


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
        day = period.end + _DAY
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


def _monday_of(day: dt.date) -> dt.date:
    return day - dt.timedelta(days=day.weekday())


class TeachingCalendar:
    """Counts teaching days (term-time weekdays) between two dates in O(1) after a per-year setup.

    Holidays per academic year starting in September of year ``y``: summer from 22 Jul to 2 Sep,
    Christmas 20 Dec - 3 Jan, Easter from Palm Sunday to the Sunday after Easter, and the half-term
    weeks containing the last Monday of October, the third Monday of February and the last Monday
    of May.

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
        """Holiday ranges (inclusive) that fall in calendar year ``year``."""
        easter = easter_sunday(year)
        oct_last_monday = _monday_of(dt.date(year, 10, 31))
        feb_third_monday = _monday_of(dt.date(year, 2, 21))
        may_last_monday = _monday_of(dt.date(year, 5, 31))
        return [
            (dt.date(year, 1, 1), dt.date(year, 1, 3)),
            (feb_third_monday, feb_third_monday + 4 * _DAY),
            (easter - 7 * _DAY, easter + 7 * _DAY),
            (may_last_monday, may_last_monday + 4 * _DAY),
            (dt.date(year, 7, 22), dt.date(year, 9, 2)),
            (oct_last_monday, oct_last_monday + 4 * _DAY),
            (dt.date(year, 12, 20), dt.date(year, 12, 31)),
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
