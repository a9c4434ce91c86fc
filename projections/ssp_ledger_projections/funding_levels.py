"""Funding levels: the annual level of each funding stream in force on any valid date.

A stream's level comes from its ``FundingChanged`` facts: on day ``d`` it is the
``annual_amount_pence`` of the latest change of that stream (same partnership) dated on or before
``d``; before the first change it is 0. Two changes of one stream on the same date are ordered by
``event_id``: the greater id is in force.

Two projections read these levels, and both from the same object so they can never disagree:

* the staff-time cost (:mod:`ssp_ledger_projections.staff_cost`) calls a piece of an assignment
  *funded* when its stream's level is above 0 on those days, else *hidden* in salary budgets;
* the funding projection (:mod:`ssp_ledger_projections.funding`) reports the level in force and
  the money received.

Money received over a range integrates the level over its days on a 365-day year (29 February
receives nothing): the cumulative amount up to day ``d`` is ``level_days(d) // 365`` and a range
receives the difference, so consecutive ranges add up to the whole exactly and any twelve
consecutive months at a constant level receive exactly the annual amount, leap year or not.

:class:`FundingLevels` holds the facts (the state a checkpoint keeps, see :meth:`changes`);
:class:`StreamLevels` is the per-stream index built from them on first use, a cache.
"""

from __future__ import annotations

import datetime as dt
from bisect import bisect_left, bisect_right
from collections.abc import Iterable

from ssp_ledger.events import FundingChanged
from ssp_ledger.periods import ONE_DAY

__all__ = ["DAYS_PER_YEAR", "FundingLevels", "StreamLevels"]

DAYS_PER_YEAR = 365
"""Days an annual funding level is spread over. 29 February receives nothing, so any twelve
consecutive months at a constant level receive exactly the annual amount."""

_DAY = ONE_DAY


def _leap_days_upto(ordinal: int) -> int:
    """How many 29 Februarys fall on or before the day with this ordinal."""
    day = dt.date.fromordinal(ordinal)
    y = day.year - 1
    count = y // 4 - y // 100 + y // 400
    leap = day.year % 4 == 0 and (day.year % 100 != 0 or day.year % 400 == 0)
    return count + (1 if leap and (day.month, day.day) >= (2, 29) else 0)


def _paid_days(ordinal: int) -> int:
    """Days on or before ``ordinal`` that receive funding (every day but 29 February)."""
    return ordinal - _leap_days_upto(ordinal)



class StreamLevels:
    """The annual level of one funding stream of one partnership over valid dates.

    Built from the stream's ``FundingChanged`` facts; answers the level in force on a day, the
    change dates inside a range and the money received over a range, each in O(log n).
    """

    __slots__ = ("_cum", "_days", "_facts", "_levels", "_paid")

    def __init__(self, changes: Iterable[FundingChanged]) -> None:
        days: list[int] = []
        facts: list[FundingChanged] = []
        for event in sorted(changes, key=lambda e: (e.occurred_on, e.event_id)):
            day = event.occurred_on.toordinal()
            if days and days[-1] == day:
                facts[-1] = event  # same date: the greater event id is in force
            else:
                days.append(day)
                facts.append(event)
        self._days = days
        self._facts = facts
        self._levels = [f.annual_amount_pence for f in facts]
        self._paid = [_paid_days(d - 1) for d in days]
        cum = [0]
        for i in range(1, len(days)):
            cum.append(cum[-1] + self._levels[i - 1] * (self._paid[i] - self._paid[i - 1]))
        self._cum = cum
        """``_cum[i]``: sum of the annual level in force over the paid days before change ``i``."""

    def first_day(self) -> dt.date | None:
        """Date of the first change, or None when the stream has none."""
        return dt.date.fromordinal(self._days[0]) if self._days else None

    def last_day(self) -> dt.date | None:
        """Date of the last change, or None when the stream has none."""
        return dt.date.fromordinal(self._days[-1]) if self._days else None

    def in_force(self, day: dt.date) -> FundingChanged | None:
        """The ``FundingChanged`` in force on ``day`` (None before the first)."""
        i = bisect_right(self._days, day.toordinal()) - 1
        return self._facts[i] if i >= 0 else None

    def span(self, event: FundingChanged) -> tuple[dt.date, dt.date | None] | None:
        """(first day, last day or None: open) over which ``event`` is the change in force.

        None when it never is: not one of this stream's changes, or superseded by a change of the
        same date with a greater event id.
        """
        i = bisect_left(self._days, event.occurred_on.toordinal())
        if i == len(self._days) or self._facts[i].event_id != event.event_id:
            return None
        last = dt.date.fromordinal(self._days[i + 1] - 1) if i + 1 < len(self._days) else None
        return event.occurred_on, last

    def level(self, day: dt.date) -> int:
        """Annual level in pence in force on ``day`` (0 before the first change)."""
        i = bisect_right(self._days, day.toordinal()) - 1
        return self._levels[i] if i >= 0 else 0

    def changes_in(self, start: dt.date, end: dt.date) -> list[dt.date]:
        """Dates of changes ``c`` with ``start < c <= end``, in order."""
        lo = bisect_right(self._days, start.toordinal())
        hi = bisect_right(self._days, end.toordinal())
        return [dt.date.fromordinal(d) for d in self._days[lo:hi]]

    def level_days(self, day: dt.date | None) -> int:
        """Sum over the paid days up to ``day`` (inclusive) of the annual level in force then.

        Paid days are all days but 29 February (a 365-day year).
        """
        if day is None:
            return 0
        o = day.toordinal()
        i = bisect_right(self._days, o) - 1
        if i < 0:
            return 0
        return self._cum[i] + self._levels[i] * (_paid_days(o) - self._paid[i])

    def received(self, start: dt.date | None, end: dt.date) -> int:
        """Pence received over ``[start, end]`` (``start`` None: from the first change).

        The cumulative amount up to day ``d`` is ``level_days(d) // 365``; a range receives the
        difference, so consecutive ranges add up to the whole exactly, and a year (any twelve
        consecutive months, leap or not) at a constant level receives the annual amount.
        """
        before = None if start is None else start - _DAY
        if start is not None and end < start:
            return 0
        return self.level_days(end) // DAYS_PER_YEAR - self.level_days(before) // DAYS_PER_YEAR


class FundingLevels:
    """``FundingChanged`` facts by partnership and stream, with cached :class:`StreamLevels`."""

    def __init__(self) -> None:
        self._changes: dict[str, dict[str, dict[str, FundingChanged]]] = {}
        self._cache: dict[tuple[str, str], StreamLevels] = {}

    def changes(self) -> list[FundingChanged]:
        """Every change held, by partnership, stream and event id: the state a checkpoint
        keeps (the :class:`StreamLevels` are rebuilt from it on use)."""
        return [by_id[eid] for pid in sorted(self._changes)
                for _, by_id in sorted(self._changes[pid].items()) for eid in sorted(by_id)]

    def add(self, event: FundingChanged) -> None:
        """Take a ``FundingChanged`` fact into account."""
        pid, stream = event.partnership_id, event.funding_stream
        self._changes.setdefault(pid, {}).setdefault(stream, {})[event.event_id] = event
        self._cache.pop((pid, stream), None)

    def remove(self, event: FundingChanged) -> None:
        """Undo :meth:`add` of the same fact."""
        pid, stream = event.partnership_id, event.funding_stream
        streams = self._changes.get(pid)
        if streams is None or stream not in streams:
            return
        streams[stream].pop(event.event_id, None)
        if not streams[stream]:
            del streams[stream]
            if not streams:
                del self._changes[pid]
        self._cache.pop((pid, stream), None)

    def streams(self, partnership_id: str | None) -> list[tuple[str, str]]:
        """Sorted (partnership_id, stream) pairs with a change, in one or all partnerships."""
        pids = sorted(self._changes) if partnership_id is None else [partnership_id]
        return [(pid, s) for pid in pids for s in sorted(self._changes.get(pid, {}))]

    def stream(self, partnership_id: str, stream: str) -> StreamLevels | None:
        """Levels of one stream of one partnership, or None when it has no change."""
        key = (partnership_id, stream)
        cached = self._cache.get(key)
        if cached is not None:
            return cached
        changes = self._changes.get(partnership_id, {}).get(stream)
        if not changes:
            return None
        levels = self._cache[key] = StreamLevels(changes.values())
        return levels
