"""The survey measure: the share of pupils doing at least two (and three) hours of PE and school
sport a week, and participation and staff cost per pupil on roll.

Sources. ``SurveyReturned`` facts are schools' returns to the annual PE and School Sport Survey
(pupils surveyed, pupils at two hours, at three hours from 2008/09); ``RollCounted`` facts are
school rolls (the census). ``SchoolJoined`` gives a school's phase and ``PartnershipFormed`` its
partnership's cohort (:func:`~ssp_ledger_projections.partnership_age.cohort_label`).

What a row counts. For one survey year ``Y`` and one window of valid dates ``W``:

* each school's **return** for ``Y``: the latest dated inside the query's window (so a later
  return for the same school and year replaces an earlier one; ties go to the greater event id);
* each school's **roll**: its latest ``RollCounted`` dated inside ``W``;
* for the schools with a roll, their club **attendances** and their **staff cost** over ``W``,
  read from the set's ``participation`` and ``staff_time_cost`` projections (attached through
  :meth:`Survey.attach`, as ``funding`` reads ``staff_time_cost``). Staff cost is the cost
  attributed to the school (its staff's release time and activity minutes); CPD and
  unattributed partnership-wide time, which belong to no school, are not in it. Without those
  siblings (a Survey used alone) both columns are None.

Every count adds up across schools (a row is the sum of its schools' figures, the ``total`` row
the sum of all), and the shares are computed from the sums, never averaged:
``share_2_hours_per_mille = 1000 * pupils_2_hours // surveyed_pupils``, likewise three hours over
the pupils of returns that asked about three hours (``asked_3_hours_pupils``);
``attendances_per_100_pupils = 100 * attendances // pupils_on_roll``;
``staff_cost_per_pupil_pence = staff_cost_pence // pupils_on_roll``. A ratio with a zero
denominator is None.

Groupings. ``school``, ``phase``, ``partnership`` and ``cohort`` (query parameter ``cohort``:
``formed`` or ``age``) report one survey year: ``params["year"]`` (e.g. ``2008/09``) or, by
default, the latest year with a return dated in the window; ``W`` is that academic year cut to
the window. ``year`` gives one row per survey year with a return in the window. A period kind
(``academic_year``, ``term``, ...) gives one row per period, counting the returns, rolls and
activity dated inside it.

Checkpoints (:meth:`Survey.dump_state`): the fields it reads of the facts it keeps, as plain
columns (lists of strings and integers, days as ordinals) per kind of fact, in (partnership,
event id) order: a :class:`SurveyState`. Loading one builds no event: a cold report reads its
figures from the columns.

School figures. The per-pupil figures are the siblings' (checkpointed under their own names),
but a cold report reading them there paid for both siblings: reading, hashing and decoding
18 MB of parts at 1M events, and importing the staff costing (numpy and all), 0.2-0.3 s of a
0.6 s report. Yet it reads a few numbers per school: each school's attendances and staff cost
through the day before a row starts and through the day it ends, and those days are known in
advance (period bounds, the survey's first day, the last day anything changes). The siblings'
checkpoints keep exactly those sums for the survey (:class:`~ssp_ledger_projections.
participation.KeptAttendances`, :class:`~ssp_ledger_projections.staff_cost.kept.
SchoolCostRows`); so the state also holds a copy of them (:class:`SchoolFigures`), made when it
is dumped (:meth:`Survey.dump_state`, from the siblings as they are then: it is plain data
bound to the same log position, and a rebuild from the log makes the same bytes). A restored
survey answers from the copy while no sibling is loaded (a sibling the set has not loaded has
been fed no fact since the checkpoint: the set loads every projection before feeding any), the
query costs at the shipped rate and the copy holds every day the rows read; the costs after the
staff costing's last day add what its open tails accrue, as its own table does
(:meth:`KeptCosts.upto`). Otherwise it loads the siblings through the set (:meth:`Survey.attach`
binds them when the set loads them, whoever asks) and reads them as before. At 1M events: a
cold survey report 0.62 -> 0.35 s CPU and 85 -> 50 MiB (docs/performance.md); the copy adds
0.3 MB to the checkpoint.

Speed. The facts are kept as plain tuples per kind (:meth:`Survey.apply` takes what a report
reads from each event). A query reads them through an index built from them on first use and
dropped by any change (:class:`_Index`): returns (also per survey year) and rolls per
partnership sorted by valid date (a row's window is two bisections), each school's joins sorted
by (valid date, event id) (its phase on a day is one bisection) and each partnership's first
formation. The per-pupil figures of every school, partnership and row come from one look-up of
each sibling (:meth:`Participation.school_attendances
<ssp_ledger_projections.participation.Participation.school_attendances>` and
:meth:`StaffTimeCost.school_costs
<ssp_ledger_projections.staff_time_cost.StaffTimeCost.school_costs>`). It answers exactly as
the scans of every fact and the report of each sibling per partnership and row would (the tests
hold it to such a reference, ``tests/unit/test_fact_indexes.py``).
"""

from __future__ import annotations

import datetime as dt
import sys
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import TYPE_CHECKING, ClassVar, cast

import msgspec

from ssp_ledger.events import (
    ClubRun,
    CorrectableEvent,
    PartnershipFormed,
    RollCounted,
    SchoolJoined,
    SurveyReturned,
)
from ssp_ledger.periods import (
    Period,
    TeachingCalendar,
    academic_year,
    parse_period,
    period_of,
    periods_between,
)
from ssp_ledger.projection import Cell, Fact, Query, Table
from ssp_ledger_projections.participation import KeptAttendances, Participation, kept_ranges
from ssp_ledger_projections.partnership_age import cohort_kind, cohort_label

if TYPE_CHECKING:  # imported when the sibling is (numpy and the staff costing: not cold)
    from ssp_ledger_projections.staff_cost.kept import SchoolCostRows
    from ssp_ledger_projections.staff_time_cost import StaffTimeCost

__all__ = ["COLUMNS", "STATE_VERSION", "KeptCosts", "SchoolFigures", "Survey", "SurveyState"]

STATE_VERSION = 3
"""Version of :class:`SurveyState`; a checkpoint of another version is refused (1 kept the
facts as events, 2 no school figures)."""

RATE_PARAMETER = "default_hourly_cost_pence"
"""The query parameter that costs unattributed staff time at a flat rate (the staff costing's
own: a query giving it reads the costs from the sibling)."""

COLUMNS: tuple[str, ...] = (
    "survey_year",
    "returns",
    "surveyed_pupils",
    "pupils_2_hours",
    "share_2_hours_per_mille",
    "asked_3_hours_pupils",
    "pupils_3_hours",
    "share_3_hours_per_mille",
    "pupils_on_roll",
    "attendances",
    "attendances_per_100_pupils",
    "staff_cost_pence",
    "staff_cost_per_pupil_pence",
)
"""Columns after the group label."""

Kept = PartnershipFormed | SchoolJoined | RollCounted | SurveyReturned
Key = tuple[str, str]
"""(partnership id, event id)."""
School = tuple[str, str]
"""(partnership id, school id)."""
Joined = tuple[int, str, str]
"""A join: (day ordinal, school id, phase)."""
Roll = tuple[int, str, str, str, int]
"""A roll count: (day ordinal, event id, partnership id, school id, pupils on roll)."""
Return = tuple[int, str, str, str, str, int, int, int | None]
"""A survey return: (day ordinal, event id, partnership id, school id, survey year, pupils
surveyed, pupils at two hours, pupils at three hours or None)."""

_FIRST_DAY, _LAST_DAY = dt.date.min.toordinal(), dt.date.max.toordinal()


class Formations(msgspec.Struct, frozen=True, array_like=True):
    """The ``PartnershipFormed`` facts kept, as columns."""

    partnership_ids: list[str]
    event_ids: list[str]
    days: list[int]
    """Valid dates as ``date.toordinal()``."""


class Joins(msgspec.Struct, frozen=True, array_like=True):
    """The ``SchoolJoined`` facts kept, as columns."""

    partnership_ids: list[str]
    event_ids: list[str]
    days: list[int]
    school_ids: list[str]
    phases: list[str]


class Rolls(msgspec.Struct, frozen=True, array_like=True):
    """The ``RollCounted`` facts kept, as columns."""

    partnership_ids: list[str]
    event_ids: list[str]
    days: list[int]
    school_ids: list[str]
    pupils_on_roll: list[int]


class Returns(msgspec.Struct, frozen=True, array_like=True):
    """The ``SurveyReturned`` facts kept, as columns."""

    partnership_ids: list[str]
    event_ids: list[str]
    days: list[int]
    school_ids: list[str]
    survey_years: list[str]
    pupils_on_roll: list[int]
    pupils_2_hours: list[int]
    pupils_3_hours: list[int | None]


class KeptCosts(msgspec.Struct, frozen=True, array_like=True):
    """Every school's staff cost at the shipped rate through a few days, as the staff costing's
    checkpoint keeps them (:class:`~ssp_ledger_projections.staff_cost.kept.SchoolCostRows`):
    the pence through each mark, and the open tails that accrue after the last day."""

    partnership_ids: list[str]
    school_ids: list[str]
    """The schools, sorted by (partnership, school)."""
    base: int
    """Through any day before this one (an ordinal) every cost is 0."""
    marks: list[int]
    """The days (ordinals, ascending; the last one the last day anything changes)."""
    pence: list[int]
    """Each school's total pence through each mark, mark after mark."""
    tails: list[list[int]]
    """The open tails as five columns: school (index), teaching days, minutes a week, hourly
    pence, pence through the last day."""

    def check(self) -> None:
        """ValueError (one line) unless the columns have the shape :meth:`of` writes."""
        count = len(self.school_ids)
        if len(self.partnership_ids) != count or not self.marks or any(
                a >= b for a, b in pairwise(self.marks)) or not (
                _FIRST_DAY <= self.base <= self.marks[0] and self.marks[-1] <= _LAST_DAY) or len(
                self.pence) != count * len(self.marks) or len(self.tails) != 5 or len(
                {len(column) for column in self.tails}) != 1 or any(
                not 0 <= i < count for i in self.tails[0]):
            msg = "survey state: its kept costs do not have the shape of a table"
            raise ValueError(msg)

    @classmethod
    def of(cls, rows: SchoolCostRows) -> KeptCosts:
        """The copy of the staff costing's table."""
        return cls([pid for pid, _ in rows.labels], [school for _, school in rows.labels],
                   rows.base, rows.marks, rows.pence, rows.tails)

    def upto(self, ordinal: int, calendar: TeachingCalendar) -> list[int] | None:
        """Every school's pence through day ``ordinal``, as the staff costing's table answers
        it (:meth:`~ssp_ledger_projections.staff_cost.kept.KeptTable.columns_at`): 0 before
        the base, a mark's row, the last day's row plus what the open tails accrue after it;
        None for any other day (not kept)."""
        count = len(self.school_ids)
        if ordinal < self.base:
            return [0] * count
        last = self.marks[-1]
        i = bisect_left(self.marks, min(ordinal, last))
        if i == len(self.marks) or self.marks[i] != min(ordinal, last):
            return None
        out = self.pence[i * count:(i + 1) * count]
        if ordinal > last:
            more = calendar.teaching_days_between(last + 1, ordinal)
            for school, days, per_week, hourly, pence in zip(*self.tails, strict=True):
                out[school] += per_week * (days + more) // 5 * hourly // 60 - pence
        return out


class SchoolFigures(msgspec.Struct, frozen=True, array_like=True):
    """The per-pupil figures' sources, copied from the siblings' states when the survey's
    state is dumped (see :meth:`Survey.dump_state`)."""

    attendances: KeptAttendances
    """:meth:`Participation.kept_school_attendances
    <ssp_ledger_projections.participation.Participation.kept_school_attendances>`."""
    costs: KeptCosts
    """:meth:`StaffTimeCost.kept_school_costs
    <ssp_ledger_projections.staff_time_cost.StaffTimeCost.kept_school_costs>`."""


class SurveyState(msgspec.Struct, frozen=True, kw_only=True, tag="ssp-ledger/survey",
                  tag_field="format"):
    """The facts a Survey keeps (the fields it reads), per kind, by partnership and event id,
    and the schools' figures copied from its siblings (None without them)."""

    version: int
    formations: Formations
    joins: Joins
    rolls: Rolls
    returns: Returns
    figures: SchoolFigures | None = None


class _Version(msgspec.Struct, frozen=True, tag="ssp-ledger/survey", tag_field="format"):
    """Just the version of a state (other fields are skipped), read first."""

    version: int


_ENCODER = msgspec.msgpack.Encoder(order="deterministic")
_VERSION = msgspec.msgpack.Decoder(_Version)
_DECODER = msgspec.msgpack.Decoder(SurveyState)

_RETURNS, _SURVEYED, _TWO, _ASKED_3, _THREE, _ROLL, _ATTENDANCES, _COST = range(8)
"""Positions of the additive figures of a row in its list of sums (:func:`_cells`)."""
_WIDTH = 8


def _cells(sums: Sequence[int], year: str | None, per_pupil: bool) -> tuple[Cell, ...]:
    """A row's cells after its label, from its sums."""
    def ratio(scale: int, num: int, den: int) -> int | None:
        return scale * num // den if den else None

    roll, attendances, cost = sums[_ROLL], sums[_ATTENDANCES], sums[_COST]
    return (
        year, sums[_RETURNS], sums[_SURVEYED], sums[_TWO],
        ratio(1000, sums[_TWO], sums[_SURVEYED]),
        sums[_ASKED_3], sums[_THREE],
        ratio(1000, sums[_THREE], sums[_ASKED_3]),
        roll,
        attendances if per_pupil else None,
        ratio(100, attendances, roll) if per_pupil else None,
        cost if per_pupil else None,
        ratio(1, cost, roll) if per_pupil else None,
    )


def _added(into: list[int], sums: Sequence[int]) -> None:
    for i in range(_WIDTH):
        into[i] += sums[i]


@dataclass(frozen=True)
class _Row:
    """One row to compute: its label, survey year filter, return dates and activity window."""

    label: str
    year: str | None
    """Survey year of the returns counted (None: the latest year of each school's returns)."""
    returns_from: dt.date | None
    returns_to: dt.date
    window: Period
    """Valid dates of the rolls, attendances and staff cost."""


class _Scope:
    """The returns (all, and per survey year) and the rolls of one partnership (or of all),
    each sorted by valid date."""

    def __init__(self, returns: list[Return], rolls: list[Roll]) -> None:
        returns.sort()
        rolls.sort()
        self.returns = returns
        self.return_days = [f[0] for f in returns]
        by_year: dict[str, list[Return]] = {}
        for f in returns:
            by_year.setdefault(f[4], []).append(f)
        self.by_year = {year: ([f[0] for f in found], found) for year, found in by_year.items()}
        self.rolls = rolls
        self.roll_days = [f[0] for f in rolls]

    def returns_between(self, start: int | None, end: int, year: str | None = None
                        ) -> list[Return]:
        """The returns dated in ``[start, end]`` (ordinals; ``start`` None: from the first),
        of survey year ``year`` (None: of any)."""
        if year is None:
            days, found = self.return_days, self.returns
        else:
            days, found = self.by_year.get(year, ([], []))
        lo = 0 if start is None else bisect_left(days, start)
        return found[lo:bisect_right(days, end)]

    def years_between(self, start: int | None, end: int) -> list[str]:
        """The survey years of the returns dated in ``[start, end]``, sorted."""
        return sorted(year for year, (days, _) in self.by_year.items()
                      if bisect_right(days, end) > (0 if start is None
                                                    else bisect_left(days, start)))

    def rolls_between(self, start: int, end: int) -> list[Roll]:
        """The rolls dated in ``[start, end]`` (ordinals)."""
        return self.rolls[bisect_left(self.roll_days, start):bisect_right(self.roll_days, end)]

    def first_day(self) -> dt.date | None:
        """The earliest date of a return or roll, or None."""
        days = [d[0] for d in (self.return_days, self.roll_days) if d]
        return dt.date.fromordinal(min(days)) if days else None


class _Index:
    """The kept facts arranged for queries (each part built from them on its first use, then
    never changed: a report over every partnership sorts nobody's facts twice, one not by
    phase never orders the joins).

    * :meth:`scope`: a partnership's (or every partnership's) returns and rolls by date;
    * :meth:`phase`: a school's phase on a day, from its latest join dated on or before it
      (latest by valid date, ties to the greater event id);
    * :meth:`formed_on`: a partnership's earliest formation date.
    """

    def __init__(self, formed: Mapping[Key, int], joined: Mapping[Key, Joined],
                 rolls: Mapping[Key, tuple[int, str, int]],
                 returns: Mapping[Key, tuple[int, str, str, int, int, int | None]]) -> None:
        self._kept = (formed, joined, rolls, returns)
        self._scopes: dict[str | None, _Scope] = {}
        self._joins: dict[School, tuple[list[int], list[str]]] | None = None
        self._formed: dict[str, int] | None = None

    def scope(self, partnership_id: str | None) -> _Scope:
        """The returns and rolls of ``partnership_id`` (None: of every partnership)."""
        found = self._scopes.get(partnership_id)
        if found is None:
            _, _, rolls, returns = self._kept
            pid = partnership_id
            found = self._scopes[pid] = _Scope(
                [(day, eid, p, school, year, pupils, two, three)
                 for (p, eid), (day, school, year, pupils, two, three) in returns.items()
                 if pid is None or p == pid],
                [(day, eid, p, school, pupils)
                 for (p, eid), (day, school, pupils) in rolls.items()
                 if pid is None or p == pid])
        return found

    def phase(self, school: School, day: dt.date) -> str:
        """The phase of the school's latest join dated on or before ``day``, or ``unknown``."""
        if self._joins is None:
            joins: dict[School, list[tuple[int, str, str]]] = {}
            for (pid, eid), (joined_on, school_id, phase) in self._kept[1].items():
                joins.setdefault((pid, school_id), []).append((joined_on, eid, phase))
            self._joins = {}
            for member, found in joins.items():
                found.sort()
                self._joins[member] = ([f[0] for f in found], [f[2] for f in found])
        kept = self._joins.get(school)
        if kept is None:
            return "unknown"
        days, phases = kept
        i = bisect_right(days, day.toordinal())
        return phases[i - 1] if i else "unknown"

    def formed_on(self, partnership_id: str) -> dt.date | None:
        """The earliest formation date of the partnership, or None."""
        if self._formed is None:
            self._formed = {}
            for (pid, _), day in self._kept[0].items():
                seen = self._formed.get(pid)
                if seen is None or day < seen:
                    self._formed[pid] = day
        found = self._formed.get(partnership_id)
        return None if found is None else dt.date.fromordinal(found)


def _staff_class() -> type:
    """:class:`~ssp_ledger_projections.staff_time_cost.StaffTimeCost` when its module is
    loaded, else a class no sibling is an instance of: checking a sibling's class never
    imports the staff costing (numpy and all), which a cold report from the survey's own
    figures does not need."""
    module = sys.modules.get("ssp_ledger_projections.staff_time_cost")
    found = getattr(module, "StaffTimeCost", None)
    return found if isinstance(found, type) else _NoSibling


class _NoSibling:
    """A class nothing is an instance of (:func:`_staff_class`)."""


class Survey:
    """Shares of pupils meeting the survey's thresholds, and participation and cost per pupil."""

    name: ClassVar[str] = "survey"
    parameters: ClassVar[tuple[str, ...]] = ("year", "cohort", "default_hourly_cost_pence")
    """Query parameters it takes (:meth:`ssp_ledger.Ledger.report` refuses others)."""
    groupings: ClassVar[tuple[str, ...]] = ("school", "phase", "partnership", "cohort", "year")
    handles: ClassVar[tuple[type[CorrectableEvent], ...]] = (
        PartnershipFormed, SchoolJoined, RollCounted, SurveyReturned)
    """Event classes this projection reacts to (the set offers it no others)."""
    siblings: ClassVar[tuple[str, str]] = ("participation", "staff_time_cost")
    """Names of the projections :meth:`attach` reads attendances and staff cost from."""

    def __init__(self) -> None:
        # What a report reads of each fact kept, per kind, by (partnership id, event id).
        self._formed: dict[Key, int] = {}
        """Formations: day ordinal."""
        self._joined: dict[Key, Joined] = {}
        self._rolls: dict[Key, tuple[int, str, int]] = {}
        """Roll counts: (day ordinal, school id, pupils on roll)."""
        self._returns: dict[Key, tuple[int, str, str, int, int, int | None]] = {}
        """Returns: (day ordinal, school id, survey year, pupils surveyed, at two hours, at
        three hours or None)."""
        self._index: _Index | None = None
        """The facts arranged for queries (built on first use, dropped by any change)."""
        self._siblings: Mapping[str, object] = {}
        self._participation: Participation | None = None
        self._staff: StaffTimeCost | None = None
        self._kept: tuple[SchoolFigures, list[int]] | None = None
        """A loaded state's school figures (and their attendance marks), while no sibling is
        loaded: a sibling that is not loaded has not changed since the checkpoint."""
        self._loaded: bytes | None = None
        """The bytes a state was loaded from, while no fact has changed since."""
        self._calendar: TeachingCalendar | None = None
        """The staff costing's teaching calendar (its default), for the kept costs' tails."""

    # ------------------------------------------------------------------ facts and state

    def attach(self, siblings: Mapping[str, object]) -> None:
        """Read attendances and staff cost from the set's ``participation`` and
        ``staff_time_cost`` (the set feeds them every fact, so nothing is counted twice).

        A set's siblings (a mapping with ``when_loaded``, see :class:`~ssp_ledger.projection.
        projection_set.ProjectionSet`) are bound when the set loads them: a restored survey
        answers from the figures its own state copied from them (:meth:`dump_state`) and
        loads them only when it needs more (:meth:`_school_figures`). Any other mapping's are
        bound now."""
        self._siblings = siblings
        when_loaded = getattr(siblings, "when_loaded", None)
        if when_loaded is None:
            for name in self.siblings:
                found = siblings.get(name)
                if found is not None:
                    self._bind(found)
            return
        for name in self.siblings:
            when_loaded(name, self._bind)

    def _bind(self, sibling: object) -> None:
        """Read attendances or staff cost from ``sibling`` from now on, and have its state
        keep them on the days this survey's rows start on. The figures a loaded state copied
        are dropped: the sibling may change from now on."""
        if isinstance(sibling, Participation):
            self._participation = sibling
            sibling.keep_school_attendances(self._row_starts)
        elif isinstance(sibling, _staff_class()):
            self._staff = cast("StaffTimeCost", sibling)
            self._staff.keep_school_costs(self._row_starts)
        else:
            return
        self._kept = None

    def _bind_siblings(self) -> bool:
        """Load (through the set) and bind both siblings if not yet; whether both are."""
        if self._participation is None or self._staff is None:
            for name in self.siblings:
                found = self._siblings.get(name)
                if found is not None and found is not self._participation \
                        and found is not self._staff:
                    self._bind(found)
        return self._participation is not None and self._staff is not None

    def _row_starts(self) -> list[dt.date]:
        """The day the first row of a report by period over every partnership starts on, when
        no window start is given (:meth:`_rows`: the first return or roll), which no period
        starts on: the siblings' checkpoints keep the school attendances and costs through the
        day before it too (:meth:`Participation.keep_school_attendances`,
        :meth:`StaffTimeCost.keep_school_costs`)."""
        days = [d[0] for kept in (self._rolls, self._returns) for d in kept.values()]
        return [dt.date.fromordinal(min(days))] if days else []

    def _forget(self, key: Key) -> None:
        self._loaded = None
        self._formed.pop(key, None)
        self._joined.pop(key, None)
        self._rolls.pop(key, None)
        self._returns.pop(key, None)
        self._index = None

    def apply(self, fact: Fact) -> None:
        """Remember formations, joins, rolls and survey returns (what a report reads of
        them)."""
        event = fact.event
        if not isinstance(event, PartnershipFormed | SchoolJoined | RollCounted
                          | SurveyReturned):
            return
        key = (event.partnership_id, event.event_id)
        self._forget(key)  # an id names one fact, whatever its kind
        day = event.occurred_on.toordinal()
        if isinstance(event, SurveyReturned):
            self._returns[key] = (day, event.school_id, event.survey_year,
                                  event.pupils_on_roll, event.pupils_2_hours,
                                  event.pupils_3_hours)
        elif isinstance(event, RollCounted):
            self._rolls[key] = (day, event.school_id, event.pupils_on_roll)
        elif isinstance(event, SchoolJoined):
            self._joined[key] = (day, event.school_id, event.phase)
        else:
            self._formed[key] = day

    def retract(self, fact: Fact) -> None:
        """Forget what :meth:`apply` remembered."""
        self._forget((fact.event.partnership_id, fact.event.event_id))

    def dump_state(self) -> bytes:
        """The facts kept, as canonical msgpack columns (a :class:`SurveyState`), with the
        schools' figures copied from the siblings (loaded now if not yet), which a cold report
        reads instead of loading them. A loaded state no fact has changed since gives back its
        bytes while no sibling is loaded (so none changed: the figures are the ones copied)."""
        if self._loaded is not None and self._participation is None and self._staff is None:
            return self._loaded
        figures = None
        if self._bind_siblings():
            assert self._participation is not None
            assert self._staff is not None
            attendances = self._participation.kept_school_attendances()
            costs = self._staff.kept_school_costs()
            if attendances is not None and costs is not None:
                figures = SchoolFigures(attendances, KeptCosts.of(costs))
        formed = sorted(self._formed.items())
        joined = sorted(self._joined.items())
        rolls = sorted(self._rolls.items())
        returns = sorted(self._returns.items())
        formations = Formations([k[0] for k, _ in formed], [k[1] for k, _ in formed],
                                [day for _, day in formed])
        joins = Joins([k[0] for k, _ in joined], [k[1] for k, _ in joined],
                      [f[0] for _, f in joined], [f[1] for _, f in joined],
                      [f[2] for _, f in joined])
        counts = Rolls([k[0] for k, _ in rolls], [k[1] for k, _ in rolls],
                       [f[0] for _, f in rolls], [f[1] for _, f in rolls],
                       [f[2] for _, f in rolls])
        made = Returns([k[0] for k, _ in returns], [k[1] for k, _ in returns],
                       [f[0] for _, f in returns], [f[1] for _, f in returns],
                       [f[2] for _, f in returns], [f[3] for _, f in returns],
                       [f[4] for _, f in returns], [f[5] for _, f in returns])
        return _ENCODER.encode(SurveyState(version=STATE_VERSION, formations=formations,
                                           joins=joins, rolls=counts, returns=made,
                                           figures=figures))

    def load_state(self, data: bytes) -> None:
        """Take the facts of :meth:`dump_state` bytes (on a fresh instance); ValueError when
        they are not such bytes."""
        version = _VERSION.decode(data).version
        if version != STATE_VERSION:
            msg = f"survey state version {version} is not {STATE_VERSION}"
            raise ValueError(msg)
        state = _DECODER.decode(data)
        marks = None
        if state.figures is not None:
            marks = state.figures.attendances.check()
            state.figures.costs.check()
        if self._formed or self._joined or self._rolls or self._returns:
            msg = "survey: load_state needs a fresh instance (this one has facts)"
            raise ValueError(msg)
        kinds = (("formations", state.formations), ("joins", state.joins),
                 ("rolls", state.rolls), ("returns", state.returns))
        for name, columns in kinds:
            lengths = {len(getattr(columns, f)) for f in columns.__struct_fields__}
            if len(lengths) > 1:
                msg = f"survey state: its {name} columns differ in length ({sorted(lengths)})"
                raise ValueError(msg)
            if columns.days and (min(columns.days) < _FIRST_DAY
                                 or max(columns.days) > _LAST_DAY):
                msg = f"survey state: a day of its {name} is not a date"
                raise ValueError(msg)
        keys = [list(zip(c.partnership_ids, c.event_ids, strict=True)) for _, c in kinds]
        if len({k for found in keys for k in found}) != sum(map(len, keys)):
            msg = "survey state: an event id is kept twice"
            raise ValueError(msg)
        f, j, r, s = state.formations, state.joins, state.rolls, state.returns
        self._formed = dict(zip(keys[0], f.days, strict=True))
        self._joined = dict(zip(keys[1], zip(j.days, j.school_ids, j.phases, strict=True),
                                strict=True))
        self._rolls = dict(zip(keys[2], zip(r.days, r.school_ids, r.pupils_on_roll,
                                            strict=True), strict=True))
        self._returns = dict(zip(keys[3], zip(s.days, s.school_ids, s.survey_years,
                                              s.pupils_on_roll, s.pupils_2_hours,
                                              s.pupils_3_hours, strict=True), strict=True))
        self._index = None
        if state.figures is not None and marks is not None and self._participation is None \
                and self._staff is None and set(self.siblings) <= set(self._siblings):
            self._kept = (state.figures, marks)  # the set has them, none loaded yet
        self._loaded = data

    # ------------------------------------------------------------------ selection

    def _indexed(self) -> _Index:
        """The index of the facts kept (built now if a change dropped it)."""
        if self._index is None:
            self._index = _Index(self._formed, self._joined, self._rolls, self._returns)
        return self._index

    def _scope(self, query: Query) -> _Scope:
        return self._indexed().scope(query.partnership_id)

    def _counted(self, query: Query, row: _Row) -> dict[School, Return]:
        """Each school's return counted in ``row`` (the latest of its year, or of its latest
        year when the row names none)."""
        out: dict[School, Return] = {}
        start = None if row.returns_from is None else row.returns_from.toordinal()
        found = self._scope(query).returns_between(start, row.returns_to.toordinal(), row.year)
        if row.year is not None:  # one year: the latest by (day, event id), and they are sorted
            for f in found:
                out[(f[2], f[3])] = f
            return out
        for f in found:
            key = (f[2], f[3])
            seen = out.get(key)
            if seen is None or (f[4], f[0], f[1]) > (seen[4], seen[0], seen[1]):
                out[key] = f
        return out

    def _rolls_in(self, query: Query, window: Period) -> dict[School, Roll]:
        """Each school's latest roll count dated inside ``window`` (by day, then event id: the
        order they are sorted in)."""
        return {(f[2], f[3]): f for f in self._scope(query).rolls_between(
            window.start.toordinal(), window.end.toordinal())}

    def _years(self, query: Query) -> list[str]:
        start, end = query.window
        return self._scope(query).years_between(None if start is None else start.toordinal(),
                                                end.toordinal())

    def _rows(self, query: Query) -> list[_Row]:
        """The rows a query asks for (before grouping by a dimension)."""
        start, end = query.window
        kind = query.period_kind
        if kind is not None:
            lo = start if start is not None else self._scope(query).first_day()
            if lo is None or lo > end:
                return []
            return [_Row(p.label, None, max(p.start, lo), min(p.end, end),
                         Period(max(p.start, lo), min(p.end, end), p.label))
                    for p in periods_between(kind, lo, end)]
        if query.by == "year":
            return [self._year_row(query, year, year) for year in self._years(query)]
        year = query.params.get("year")
        if year is None:
            years = self._years(query)
            year = years[-1] if years else academic_year(end).label
        return [self._year_row(query, "total", str(year))]

    def _year_row(self, query: Query, label: str, year: str) -> _Row:
        try:
            period = parse_period(year)
        except ValueError:
            period = None
        if period is None or period.label != year or (period.start.month, period.start.day) \
                != (9, 1):
            msg = f"survey: year must be an academic year such as 2008/09; got {year!r}"
            raise ValueError(msg)
        start, end = query.window
        lo = period.start if start is None else max(period.start, start)
        return _Row(label, year, start, end, Period(lo, min(period.end, end), year))

    # ------------------------------------------------------------------ figures

    def _labels(self, query: Query, day: dt.date) -> Callable[[School], str]:
        """The label of a school under the query's grouping, seen on ``day`` (remembered per
        school or partnership for the row)."""
        by = query.by
        if by == "school":
            return lambda school: school[1]
        if by == "partnership":
            return lambda school: school[0]
        index = self._indexed()
        if by == "phase":
            return lambda school: index.phase(school, day)
        seen: dict[str, str] = {}
        if by == "cohort":
            def cohort(school: School) -> str:
                pid = school[0]
                found = seen.get(pid)
                if found is None:
                    formed_on = index.formed_on(pid)
                    found = seen[pid] = "unknown" if formed_on is None else cohort_label(
                        formed_on, day, cohort_kind(query))
                return found
            return cohort
        return lambda school: "total"

    def _group_of(self, query: Query, school: School, day: dt.date) -> str:
        """The label of ``school`` under the query's grouping, seen on ``day``."""
        return self._labels(query, day)(school)

    def _per_pupil(self) -> bool:
        """Whether reports give the per-pupil figures: the survey has both siblings (or a
        copy of their figures)."""
        return self._kept is not None or self._bind_siblings()

    def _school_figures(self, query: Query, rows: Sequence[_Row]
                        ) -> tuple[list[Mapping[School, int]], list[Mapping[School, int]]]:
        """Club attendances and staff cost pence of every school over each row's window: from
        the figures a loaded state copied when they hold every day the windows read and the
        query costs at the shipped rate (:meth:`_kept_figures`), else one look-up of each
        sibling for every row (:meth:`Participation.school_attendances`,
        :meth:`StaffTimeCost.school_costs`), loaded now if not yet. Empty maps without them."""
        ranges = [(row.window.start, row.window.end) for row in rows]
        if not rows:
            return [], []
        found = self._kept_figures(query, ranges)
        if found is not None:
            return found
        if not self._bind_siblings():
            return [{} for _ in rows], [{} for _ in rows]
        assert self._participation is not None
        assert self._staff is not None
        from ssp_ledger_projections.staff_cost.rates import default_hourly_cost  # loaded

        return (list(self._participation.school_attendances(ranges)),
                list(self._staff.school_costs(
                    ranges, default_hourly_cost_pence=default_hourly_cost(query))))

    def _kept_figures(self, query: Query, ranges: Sequence[tuple[dt.date, dt.date]]
                      ) -> tuple[list[Mapping[School, int]], list[Mapping[School, int]]] | None:
        """:meth:`_school_figures` from the copied figures, or None when there are none or
        they lack a day (or the query asks for a flat rate)."""
        if self._kept is None or query.params.get(RATE_PARAMETER) is not None:
            return None
        figures, marks = self._kept
        attendances = kept_ranges(figures.attendances, marks, ranges)
        if attendances is None:
            return None
        costs = figures.costs
        if self._calendar is None:
            self._calendar = TeachingCalendar()
        at: dict[int, list[int]] = {}
        for start, end in ranges:
            for ordinal in (end.toordinal(), start.toordinal() - 1):
                if ordinal not in at:
                    found = costs.upto(ordinal, self._calendar)
                    if found is None:
                        return None
                    at[ordinal] = found
        labels, sums = attendances
        schools = list(zip(costs.partnership_ids, costs.school_ids, strict=True))
        pence: list[Mapping[School, int]] = []
        for start, end in ranges:
            if end < start:
                pence.append({})
                continue
            hi, lo = at[end.toordinal()], at[start.toordinal() - 1]
            pence.append({school: a - b for school, a, b in zip(schools, hi, lo, strict=True)})
        return [dict(zip(labels, row, strict=True)) for row in sums], pence

    def _figures(self, query: Query, row: _Row, attendances: Mapping[School, int],
                 costs: Mapping[School, int]) -> dict[str, list[int]]:
        """The row's sums (:func:`_cells` order), per group of the query's dimension (or one
        group); ``attendances`` and ``costs``: each school's over the row's window."""
        grouped: dict[str, list[int]] = {}
        label = self._labels(query, row.window.end)
        for school, f in self._counted(query, row).items():
            group = label(school)
            sums = grouped.get(group)
            if sums is None:
                sums = grouped[group] = [0] * _WIDTH
            sums[_RETURNS] += 1
            sums[_SURVEYED] += f[5]
            sums[_TWO] += f[6]
            three = f[7]
            if three is not None:
                sums[_ASKED_3] += f[5]
                sums[_THREE] += three
        if row.window.start <= row.window.end:
            for school, roll in self._rolls_in(query, row.window).items():
                group = label(school)
                sums = grouped.get(group)
                if sums is None:
                    sums = grouped[group] = [0] * _WIDTH
                sums[_ROLL] += roll[4]
                sums[_ATTENDANCES] += attendances.get(school, 0)
                sums[_COST] += costs.get(school, 0)
        return grouped

    def report(self, query: Query) -> Table:
        """Rows per group (or survey year, or period), then a ``total`` row; see the module
        docstring. Raises ValueError for an unknown grouping, cohort kind or year."""
        query.check_grouping(self.name, self.groupings)
        per_pupil = self._per_pupil()
        dimension = query.by in ("school", "phase", "partnership", "cohort")
        rows: list[tuple[Cell, ...]] = []
        total = [0] * _WIDTH
        year_of_total: str | None = None
        every = self._rows(query)
        for row, attendances, costs in zip(every, *self._school_figures(query, every),
                                           strict=True):
            grouped = self._figures(query, row, attendances, costs)
            if dimension:
                year_of_total = row.year
                for label in sorted(grouped):
                    rows.append((label, *_cells(grouped[label], row.year, per_pupil)))
                    _added(total, grouped[label])
                continue
            sums = [0] * _WIDTH
            for part in grouped.values():
                _added(sums, part)
            _added(total, sums)
            if query.by is None:
                year_of_total = row.year
            else:
                rows.append((row.label, *_cells(sums, row.year, per_pupil)))
        rows.append(("total", *_cells(total, year_of_total, per_pupil)))
        return Table.answer(self.name, query, (query.by or "group", *COLUMNS), rows)

    # ------------------------------------------------------------------ explain

    def explain_fact(self, query: Query, group: str, fact: Fact) -> Mapping[str, int] | None:
        """What ``fact`` contributed to row ``group`` of ``report(query)``, or None.

        * a ``SurveyReturned`` counted in the row (its school's latest return there):
          ``returns`` 1, ``surveyed_pupils``, ``pupils_2_hours``, ``asked_3_hours_pupils`` and
          ``pupils_3_hours`` (a return replaced by a later one is not listed);
        * a ``RollCounted`` counted in the row: ``pupils_on_roll``;
        * a ``ClubRun`` at a school with a roll in the row: its ``attendances`` (as
          ``participation`` explains it over the row's window).

        The mappings sum to the row's counts exactly. Staff cost is explained by
        ``staff_time_cost`` (grouped by school, over the same window).
        """
        event = fact.event
        if not isinstance(event, SurveyReturned | RollCounted | ClubRun):
            return None
        if query.partnership_id is not None and event.partnership_id != query.partnership_id:
            return None
        kind = query.period_kind
        if kind is not None:
            if group == "total":
                rows = self._rows(query)
            else:
                chosen = period_of(kind, parse_period(group).start)
                rows = [r for r in self._rows(query) if r.label == chosen.label]
        elif query.by == "year":
            rows = [r for r in self._rows(query) if group in ("total", r.label)]
        else:
            rows = self._rows(query)
        school = (event.partnership_id, event.school_id)
        out: dict[str, int] = {}
        for row in rows:
            day = row.window.end
            if group != "total" and query.by in ("school", "phase", "partnership", "cohort") \
                    and self._group_of(query, school, day) != group:
                continue
            part = self._explain_in(query, row, event, school)
            for name, value in part.items():
                out[name] = out.get(name, 0) + value
        return out or None

    def _explain_in(self, query: Query, row: _Row,
                    event: SurveyReturned | RollCounted | ClubRun, school: School
                    ) -> dict[str, int]:
        if isinstance(event, SurveyReturned):
            counted = self._counted(query, row).get(school)
            if counted is None or counted[1] != event.event_id:
                return {}
            asked = event.pupils_3_hours is not None
            return {"returns": 1, "surveyed_pupils": event.pupils_on_roll,
                    "pupils_2_hours": event.pupils_2_hours,
                    "asked_3_hours_pupils": event.pupils_on_roll if asked else 0,
                    "pupils_3_hours": event.pupils_3_hours or 0}
        if row.window.start > row.window.end:
            return {}
        roll = self._rolls_in(query, row.window).get(school)
        if roll is None:
            return {}
        if isinstance(event, RollCounted):
            return {"pupils_on_roll": event.pupils_on_roll} if roll[1] == event.event_id else {}
        if not self._per_pupil():
            return {}
        if not row.window.start <= event.occurred_on <= row.window.end:
            return {}
        return {"attendances": event.participants}
