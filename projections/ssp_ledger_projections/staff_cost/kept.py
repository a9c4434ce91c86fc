"""The national answers a checkpoint keeps: every national table's rows on the days reports read.

A cold national report (``ssp-ledger report staff_time_cost --by role``, or ``funding``, in a
fresh process) would otherwise inflate and decode every fact of the staff state, walk every
timeline (:mod:`.steps`) and build two national tables (:mod:`.grouped`) to read one or two rows
of each. But the days it reads are few and known in advance: a report as of a day on or after the
last day anything changes (:attr:`~.steps.Walk.last`) reads every table at that last day (then
adds the release the open assignments accrue after it), and a report by period also reads the
day before each period's first day. So, beside the facts, the state keeps
(:class:`NationalAnswersState`, derived, like the walk plan):

* the national tables at the shipped unattributed rate, each as its rows
  (:class:`~.costing.Columns` of every group) on its *marks*: the total (one group), the
  (partnership, stream) pairs that the covered figures read, and the ``role`` and
  ``funding_stream`` tables (a handful of groups each), and the (partnership, school) table the
  survey costs schools from (:data:`~.steps.SCHOOLS`), on the day before every period start of
  every period kind between the first and the last day, and on the last day (so a report of one
  period, ``--period``, reads them too); the (partnership, school) table also on the day before
  each day a sibling said its rows start on (:func:`school_marks`: the survey's rows by period
  start on its first return or roll, which is no period start); the ``school`` and ``staff``
  tables (a group per school or person) on the last day;
* the open tails (:class:`~.cumulative.OpenTail`) and each table's group of each;
* the first day anything costs (what a report's periods start from).

:class:`KeptTable` answers :meth:`~.grouped.CumulativeTable.columns_at` from those rows: a day
before the first is 0, a day on or after the last is the last day's row plus the tails'
release since (:func:`~.grouped.add_tails`, the live table's own code), a mark is its row, and
any other day raises :class:`NotKept`: the projection then loads its facts and answers as
before. The rows are :meth:`~.grouped.GroupedTable.columns_at` of the live tables on those days
(:func:`answers_state`), so the answers are equal by construction; tests hold every grouping and
period kind of a kept report to the live one.

Like the plan, the answers are bound to the same log position as the facts (the checkpoint's
hash covers them), rebuilt with them when a checkpoint is made (so ``ssp-ledger verify``, which
rebuilds every checkpoint from the log and compares the bytes, checks them), checked for shape
when loaded (:meth:`KeptAnswers.load`: ValueError in one line), and dropped by the first change
of the facts. None are kept when a figure might not fit 8-byte integers (the live tables then
compute in Python integers).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Sequence
from itertools import pairwise
from typing import NamedTuple

import numpy as np

from ssp_ledger.periods import TeachingCalendar, periods_between
from ssp_ledger.projection import PERIOD_KINDS
from ssp_ledger.projection.checkpoint import release_free_memory
from ssp_ledger_projections.staff_cost.costing import Columns
from ssp_ledger_projections.staff_cost.grouped import (
    GROUPINGS,
    PAIRS,
    TOTAL,
    CumulativeTable,
    Tails,
    add_tails,
    table_of,
)
from ssp_ledger_projections.staff_cost.state import KeptTableState, NationalAnswersState
from ssp_ledger_projections.staff_cost.steps import SCHOOLS, Walk

__all__ = ["KeptAnswers", "KeptTable", "KeptTableState", "NationalAnswersState", "NotKept",
           "SchoolCostRows", "SchoolPence", "answers_state", "school_marks", "school_pence"]

_WIDTH = len(Columns._fields)
_LAST_ORDINAL = dt.date.max.toordinal()
_INT64 = 1 << 63
_EVERY_MARK = (None, PAIRS, "role", "funding_stream", SCHOOLS)
"""The tables kept on every mark: the handful of groups of each of the first four, and the
(partnership, school) table the survey costs each row's schools from (0.9 MB more state at 1M
events: a cold survey whose rows start on period starts, or at the beginning, reads no fact);
the others (a group per school or staff member) on the last day only."""
_TAIL_FIELDS = ("days", "per_week", "hourly", "minutes", "pence")
"""The :class:`~.cumulative.OpenTail` fields a table adds tails from, in
:data:`~.grouped.Tails` order."""


class NotKept(LookupError):
    """A national look-up asked for a day (or a table) the checkpoint did not keep."""


def _marks(base: int, last: int) -> list[int]:
    """The days a national report by period reads inside ``[base, last)`` (the day before each
    period start of every kind), and ``last``."""
    first, end = dt.date.fromordinal(base), dt.date.fromordinal(last)
    days = {p.start.toordinal() - 1 for kind in PERIOD_KINDS
            for p in periods_between(kind, first, end)}
    return sorted({d for d in days if base <= d < last} | {last})


def school_marks(base: int, last: int, starts: Iterable[int]) -> list[int]:
    """The days the (partnership, school) table is kept on: :func:`_marks`, and the day before
    each of ``starts`` (ordinals of the days a sibling's rows start on, beside period starts:
    :meth:`~ssp_ledger_projections.staff_time_cost.StaffTimeCost.keep_school_costs`) inside
    ``[base, last)``."""
    before = {d - 1 for d in starts}
    return sorted(set(_marks(base, last)) | {d for d in before if base <= d < last})


def _le(values: Sequence[int] | np.ndarray, dtype: str) -> bytes:
    return np.asarray(values, dtype=dtype).tobytes()


def answers_state(steps: Walk, calendar: TeachingCalendar, rate: list[int], first_day: int,
                  starts: Iterable[int] = ()) -> NationalAnswersState | None:
    """The national answers of a walk of every partnership at ``rate`` (its key): the tables
    of :func:`~.grouped.table_of` read on their marks (the schools' also on the day before
    each of ``starts``: :func:`school_marks`). None when the walk has no day or a table
    computes in Python integers (a figure might not fit 8 bytes)."""
    if not steps.people or not steps.base:
        return None
    every = _marks(steps.base, steps.last)
    schools = school_marks(steps.base, steps.last, starts)
    tables: list[KeptTableState] = []
    for by in (None, PAIRS, *GROUPINGS, SCHOOLS):
        table = table_of(steps, by, calendar)
        marks = schools if by == SCHOOLS else every if by in _EVERY_MARK else [steps.last]
        if table._dtype is not np.int64:
            return None
        rows = table.columns_at(marks)
        itemsize = 4 if not rows.size or (
            int(rows.min()) >= -(1 << 31) and int(rows.max()) < 1 << 31) else 8
        tables.append(KeptTableState(
            by or TOTAL, table.labels, _le(marks, "<i4"), itemsize,
            _le(rows, f"<i{itemsize}"), _le(table.tail_groups(), "<i4")))
        del table, rows  # one table at a time: the next is built after this one is freed,
        release_free_memory()  # and its garbage handed back (else the tables' spikes pile up)
    tails = [t for _, t in steps.tails]
    return NationalAnswersState(
        rate=rate, base=steps.base, last=steps.last, first_day=first_day,
        tails=[_le([getattr(t, f) for t in tails], "<i8") for f in _TAIL_FIELDS],
        tails_funded=bytes(1 if t.funded else 0 for t in tails), tables=tables)


class KeptTable(CumulativeTable):
    """A national table answering from the rows the checkpoint kept (see the module doc)."""

    __slots__ = ("_calendar", "_dtype", "_marks", "_rows", "_tails", "base", "groups", "labels",
                 "last")

    def __init__(self, calendar: TeachingCalendar, base: int, last: int, labels: list[str],
                 marks: np.ndarray, rows: np.ndarray, tails: Tails) -> None:
        self._calendar = calendar
        self.base = base
        self.last = last
        self.labels = labels
        self.groups = {name: g for g, name in enumerate(labels)}
        self._dtype = np.int64
        self._marks = marks
        self._rows = rows
        self._tails = tails

    def columns_at(self, ordinals: Sequence[int], group: int | None = None) -> np.ndarray:
        """See :meth:`~.grouped.CumulativeTable.columns_at`; :class:`NotKept` for a day
        between the first and the last that is no mark."""
        at = np.asarray(ordinals, dtype=np.int64)
        day = np.minimum(at, self.last)
        found = np.searchsorted(self._marks, day)
        inside = at >= self.base
        if not (self._marks[np.minimum(found, len(self._marks) - 1)] == day)[inside].all():
            msg = "a national look-up of a day the checkpoint did not keep"
            raise NotKept(msg)
        rows = self._rows if group is None else self._rows[:, [group]]
        out: np.ndarray = rows[np.where(inside, found, 0)].astype(np.int64)
        out[~inside] = 0
        if len(self._tails[0]):
            for b in np.flatnonzero(at > self.last).tolist():
                add_tails(out[b], int(at[b]), group, self._calendar, self.last, self._tails)
        return out


class KeptAnswers:
    """The national answers of a loaded state, checked (see the module doc)."""

    __slots__ = ("first_day", "rate", "tables")

    def __init__(self, rate: list[int], first_day: dt.date,
                 tables: dict[str, KeptTable]) -> None:
        self.rate = rate
        """The unattributed rate the tables were computed at (its key)."""
        self.first_day = first_day
        """The earliest assignment start or activity date."""
        self.tables = tables
        """The tables by grouping (:data:`~.grouped.TOTAL` for the total)."""

    def keeps_schools_for(self, starts: Iterable[int]) -> bool:
        """Whether the (partnership, school) table is kept on exactly the days
        :func:`answers_state` would keep it on for ``starts`` (a state dumped again with the
        same facts and the same ``starts`` would be the same bytes)."""
        table = self.tables[SCHOOLS]
        return bool(table._marks.tolist() == school_marks(table.base, table.last, starts))

    def table(self, by: str | None) -> KeptTable:
        """The table of grouping ``by`` (None: the total); :class:`NotKept` when there is
        none."""
        found = self.tables.get(TOTAL if by is None else by)
        if found is None:
            msg = f"no national table by {by!r} kept"
            raise NotKept(msg)
        return found

    @classmethod
    def load(cls, state: NationalAnswersState, calendar: TeachingCalendar) -> KeptAnswers:
        """The answers of ``state``; ValueError (one line) unless it has the shape
        :func:`answers_state` writes."""
        def fail(what: str) -> None:
            msg = f"staff facts: the kept national answers' {what}"
            raise ValueError(msg)

        def ints(data: bytes, size: int, what: str) -> np.ndarray:
            if len(data) % size:
                fail(f"{what} has {len(data)} bytes")
            return np.frombuffer(data, dtype=f"<i{size}")

        if len(state.rate) % 2:
            fail("rate is not (day, pence) pairs")
        if not 1 <= state.base <= state.last <= _LAST_ORDINAL or not (
                1 <= state.first_day <= _LAST_ORDINAL):
            fail(f"days {state.base}, {state.first_day}, {state.last} are not in order")
        if len(state.tails) != len(_TAIL_FIELDS):
            fail(f"tails have {len(state.tails)} columns")
        tails = [ints(column, 8, "tails").astype(np.int64) for column in state.tails]
        funded = np.frombuffer(state.tails_funded, dtype=np.uint8)
        if any(len(column) != len(funded) for column in tails) or (
                len(funded) and int(funded.max()) > 1):
            fail("tails have columns of different lengths or flags other than 0 and 1")
        if [t.by for t in state.tables] != [TOTAL, PAIRS, *GROUPINGS, SCHOOLS]:
            fail("tables are not the total, the pairs, every grouping and the schools")
        tables: dict[str, KeptTable] = {}
        for kept in state.tables:
            marks = ints(kept.marks, 4, "marks").astype(np.int64)
            if not len(marks) or int(marks[-1]) != state.last or int(marks[0]) < state.base or (
                    len(marks) > 1 and not (marks[1:] > marks[:-1]).all()):
                fail(f"marks of {kept.by!r} are not ascending days ending on the last")
            if any(a >= b for a, b in pairwise(kept.labels)):
                fail(f"labels of {kept.by!r} are not ascending")
            if kept.itemsize not in (4, 8):
                fail(f"rows of {kept.by!r} have {kept.itemsize}-byte figures")
            rows = ints(kept.rows, kept.itemsize, "rows")
            if len(rows) != len(marks) * len(kept.labels) * _WIDTH:
                fail(f"rows of {kept.by!r} do not fill its marks and groups")
            where = ints(kept.tail_groups, 4, "tail groups").astype(np.int64)
            if len(where) != len(funded) or (len(where) and (
                    int(where.min()) < 0 or int(where.max()) >= len(kept.labels))):
                fail(f"tail groups of {kept.by!r} do not match its groups")
            tables[kept.by] = KeptTable(
                calendar, state.base, state.last, kept.labels, marks,
                rows.reshape(len(marks), len(kept.labels), _WIDTH),
                (where, tails, funded.astype(bool)))
        return cls(list(state.rate), dt.date.fromordinal(state.first_day), tables)


class SchoolCostRows(NamedTuple):
    """The (partnership, school) table of kept answers in plain integers, as the survey keeps a
    copy of it (:meth:`SchoolPence.rows`): each school's total pence (funded and hidden)
    through each mark, and the open tails that accrue after the last day."""

    labels: list[tuple[str, str]]
    """The schools, sorted (the table's groups)."""
    base: int
    """Ordinal of the first day anything changes (through any earlier day every sum is 0)."""
    last: int
    """Ordinal of the walk's last day (the last mark)."""
    marks: list[int]
    """The days kept (ordinals, ascending, ending on ``last``)."""
    pence: list[int]
    """Total pence of each school through each mark, mark after mark."""
    tails: list[list[int]]
    """The open tails as columns: each one's school (an index of ``labels``), teaching days,
    minutes a week, hourly pence and pence through ``last`` (what
    :func:`~.grouped.add_tails` reads: ``minutes = per_week * (days + more) // 5`` after
    ``more`` teaching days, then ``minutes * hourly // 60 - pence``)."""


class SchoolPence(NamedTuple):
    """The (partnership, school) table of kept answers reduced to what the survey copies:
    each school's total pence (funded and hidden) on each mark, and the open tails. What a
    staff costing holds after a dump (a tenth of the table's bytes: no view of the dumped
    answers is kept alive)."""

    labels: list[str]
    """The schools, sorted: JSON ``[partnership, school]`` pairs (the table's groups)."""
    base: int
    last: int
    marks: np.ndarray
    pence: np.ndarray
    """``[mark, school]``."""
    tails: tuple[np.ndarray, ...]
    """Each open tail's school, teaching days, minutes a week, hourly pence and pence through
    the last day."""

    def keeps_for(self, starts: Iterable[int]) -> bool:
        """Whether the marks are the ones :func:`answers_state` keeps for ``starts``."""
        return bool(self.marks.tolist() == school_marks(self.base, self.last, starts))

    def rows(self) -> SchoolCostRows:
        """As plain integers."""
        labels = [(pid, school) for pid, school in json.loads("[" + ",".join(self.labels) + "]")]
        return SchoolCostRows(labels, self.base, self.last, self.marks.tolist(),
                              self.pence.ravel().tolist(), [t.tolist() for t in self.tails])


def school_pence(kept: KeptAnswers) -> SchoolPence:
    """The (partnership, school) table of ``kept`` as :class:`SchoolPence` (copies)."""
    table = kept.tables[SCHOOLS]
    funded, hidden = Columns._fields.index("pence_funded"), Columns._fields.index(
        "pence_hidden")
    where, (days, per_week, hourly, _, pence), _ = table._tails
    return SchoolPence(list(table.labels), table.base, table.last, table._marks.copy(),
                       table._rows[:, :, funded].astype(np.int64) + table._rows[:, :, hidden],
                       tuple(np.array(t, dtype=np.int64) for t in (where, days, per_week,
                                                                    hourly, pence)))
