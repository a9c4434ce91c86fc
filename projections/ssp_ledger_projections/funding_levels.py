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
from collections.abc import Iterable, Sequence
from typing import Any, NamedTuple

import numpy as np

from ssp_ledger.events import FundingChanged
from ssp_ledger.periods import ONE_DAY

__all__ = ["DAYS_PER_YEAR", "FundingLevels", "LevelsTable", "NamedRow", "StreamLevels"]

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

    def steps(self) -> tuple[list[int], list[int]]:
        """(day ordinals of the changes, ascending; the level in force from each): the step
        function :meth:`level` reads, for a caller vectorising over many days."""
        return self._days, self._levels

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


_DAY_BITS = 22
"""Bits of a day ordinal in a key ``stream << 22 | day`` (``date.max`` is below ``2 ** 22``)."""
_SAFE = 1 << 62
"""Level-days whose bound stays under this are summed as 8-byte integers, else as Python ones."""
_LAST_PAID = _paid_days(dt.date.max.toordinal())


class NamedRow(NamedTuple):
    """What a stream row shows on a day: the streams of one name summed over partnerships."""

    level: int
    """Summed annual level in force."""
    since: dt.date
    """Date of the latest change in force."""
    reasons: tuple[str, ...]
    """Distinct non-empty reasons of the changes in force, by partnership."""
    citations: tuple[str, ...]
    """Distinct non-empty citations of the changes in force, by partnership."""


class LevelsTable:
    """Every stream of one partnership, or of all of them, read at once.

    The streams' changes sit in shared arrays keyed ``stream << 22 | day``, so the level-days
    of every stream at several days are one ``searchsorted``: the money received over a range
    or over each period is a few array operations whatever the number of streams, summed from
    each stream's own rounded amount (exactly what adding up :meth:`StreamLevels.received`
    gives). What a stream row shows besides money (summed level, latest change in force, its
    reasons and citations) changes only on change days, so it is kept per change day of each
    stream name and found by one bisection. A cache of :class:`FundingLevels`, built on first
    use after a change.
    """

    def __init__(self, streams: list[tuple[str, str, StreamLevels]]) -> None:
        ordered = sorted(streams, key=lambda s: (s[1], s[0]))  # by name, then partnership
        self.names = sorted({name for _, name, _ in ordered})
        """Stream names, sorted."""
        self.order = [(pid, name) for pid, name, _ in ordered]
        """(partnership_id, stream name) of each stream, in the table's order (by name, then
        partnership): the columns of :meth:`received_each`."""
        self._name_of = np.asarray([self.names.index(name) for _, name, _ in ordered],
                                   dtype=np.int64)
        keys: list[int] = []
        levels: list[int] = []
        paid: list[int] = []
        cum: list[int] = []
        starts: list[int] = []
        bound = 0
        for i, (_, _, stream) in enumerate(ordered):
            starts.append(len(keys))
            keys += [(i << _DAY_BITS) | d for d in stream._days]
            levels += stream._levels
            paid += stream._paid
            cum += stream._cum
            bound += max((abs(v) for v in stream._levels), default=0) * _LAST_PAID
        dtype: type = np.int64 if 2 * bound < _SAFE else object
        self._keys = np.asarray(keys, dtype=np.int64)
        self._starts = np.asarray(starts, dtype=np.int64)
        self._groups = np.arange(len(ordered), dtype=np.int64) << _DAY_BITS
        # Row k + 1 holds change k; row 0 (a day before a stream's first change) is zeros.
        self._level: Any = np.asarray([0, *levels], dtype=dtype)
        self._paid: Any = np.asarray([0, *paid], dtype=dtype)
        self._cum: Any = np.asarray([0, *cum], dtype=dtype)
        self._dtype = dtype
        firsts = [stream.first_day() for _, _, stream in ordered]
        self.first = min((d for d in firsts if d is not None), default=None)
        """Date of the first change of any stream, or None."""
        self._rows: list[tuple[list[int], list[NamedRow]]] = [
            _named_rows([s for _, name, s in ordered if name == n]) for n in self.names]

    def _at(self, ordinals: list[int]) -> tuple[Any, Any]:
        """(level in force, level-days through the day) of every stream on each of
        ``ordinals``: arrays ``[ordinal, stream]``."""
        at = np.asarray(ordinals, dtype=np.int64)
        k = np.searchsorted(self._keys, self._groups[None, :] | at[:, None], side="right")
        row = np.where(k > self._starts, k, 0)
        paid: Any = np.asarray([_paid_days(o) if o > 0 else 0 for o in ordinals],
                          dtype=self._dtype)
        level = self._level[row]
        days = self._cum[row] + level * (paid[:, None] - self._paid[row])
        return level, days

    def received_each(self, ranges: Sequence[tuple[dt.date | None, dt.date]]) -> Any:
        """Pence each stream received over each ``[start, end]`` (``start`` None: from the
        beginning): an array ``[range, stream]``, streams in :attr:`order`, each its
        :meth:`StreamLevels.received` (0 over an empty range)."""
        count = len(ranges)
        if not len(self._starts):
            return np.zeros((count, 0), dtype=np.int64)
        ends = [end.toordinal() for _, end in ranges]
        befores = [0 if start is None else start.toordinal() - 1 for start, _ in ranges]
        _, days = self._at([*ends, *befores])
        amounts = days // DAYS_PER_YEAR
        out = amounts[:count] - amounts[count:]
        empty = [k for k, (start, end) in enumerate(ranges) if start is not None and end < start]
        out[empty] = 0
        return out

    def received(self, ranges: Sequence[tuple[dt.date | None, dt.date]]) -> list[int]:
        """Pence received over each ``[start, end]`` (``start`` None: from the beginning),
        summed over the streams: each stream's :meth:`StreamLevels.received`, added up."""
        if not len(self._starts):
            return [0] * len(ranges)
        return _row_sums(self.received_each(ranges))

    def levels(self, days: list[dt.date]) -> list[int]:
        """Summed annual level in force on each of ``days``."""
        if not len(self._starts):
            return [0] * len(days)
        level, _ = self._at([d.toordinal() for d in days])
        return _row_sums(level)

    def rows(self, start: dt.date | None, end: dt.date) -> dict[str, tuple[NamedRow, int]]:
        """Per stream name known on ``end`` (a change on or before it): its row on ``end`` and
        the pence its streams received over ``[start, end]``, by name, sorted."""
        shown: dict[str, NamedRow] = {}
        for name, (days, rows) in zip(self.names, self._rows, strict=True):
            i = bisect_right(days, end.toordinal()) - 1
            if i >= 0:
                shown[name] = rows[i]
        if not shown:
            return {}
        received = [0] * len(self.names)
        if start is None or start <= end:
            _, days_at = self._at([end.toordinal(),
                                   0 if start is None else start.toordinal() - 1])
            amounts = days_at // DAYS_PER_YEAR
            per_stream = amounts[0] - amounts[1]
            if self._dtype is object:
                for g, amount in zip(self._name_of.tolist(), per_stream.tolist(), strict=True):
                    received[g] += amount
            else:
                summed = np.zeros(len(self.names), dtype=np.int64)
                np.add.at(summed, self._name_of, per_stream)
                received = summed.tolist()
        return {name: (row, received[self.names.index(name)]) for name, row in shown.items()}


def _row_sums(values: Any) -> list[int]:
    """Sums of each row of a 2-D integer array, as Python integers (exact: the arrays are
    8-byte only where their sums cannot leave that range)."""
    if values.dtype == object:
        return [sum(row) for row in values.tolist()]
    return [int(v) for v in values.sum(axis=1).tolist()]


def _named_rows(streams: list[StreamLevels]) -> tuple[list[int], list[NamedRow]]:
    """The row of streams of one name (in partnership order) after each of their change days."""
    days = sorted({d for s in streams for d in s._days})
    rows: list[NamedRow] = []
    for day in days:
        level = 0
        since = dt.date.min
        reasons: list[str] = []
        citations: list[str] = []
        for stream in streams:
            i = bisect_right(stream._days, day) - 1
            if i < 0:
                continue
            change = stream._facts[i]
            level += stream._levels[i]
            since = max(since, change.occurred_on)
            if change.reason and change.reason not in reasons:
                reasons.append(change.reason)
            if change.citation and change.citation not in citations:
                citations.append(change.citation)
        rows.append(NamedRow(level, since, tuple(reasons), tuple(citations)))
    return days, rows


class FundingLevels:
    """``FundingChanged`` facts by partnership and stream, with cached :class:`StreamLevels`."""

    def __init__(self) -> None:
        self._changes: dict[str, dict[str, dict[str, FundingChanged]]] = {}
        self._cache: dict[tuple[str, str], StreamLevels] = {}
        self._tables: dict[str | None, LevelsTable] = {}

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
        self._tables.clear()

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
        self._tables.clear()

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

    def table(self, partnership_id: str | None) -> LevelsTable:
        """Every stream of one partnership (None: of all of them) as one :class:`LevelsTable`,
        built on first use after a change."""
        found = self._tables.get(partnership_id)
        if found is None:
            streams = [(pid, name, levels) for pid, name in self.streams(partnership_id)
                       if (levels := self.stream(pid, name)) is not None]
            found = self._tables[partnership_id] = LevelsTable(streams)
        return found
