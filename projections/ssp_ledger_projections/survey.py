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

Checkpoints (:meth:`Survey.dump_state`): the facts it keeps, as event Structs in a
:class:`SurveyState`, in (partnership, event id) order. The per-pupil figures are the siblings'
state, checkpointed under their own names.

Speed. A query reads the facts through an index built from them on first use and dropped by any
change (:class:`_Index`): returns and rolls per partnership sorted by valid date (a row's window
is two bisections), each school's joins sorted by (valid date, event id) (its phase on a day is
one bisection) and each partnership's first formation. It answers exactly as a scan of every fact
would (the tests hold it to such scans); the per-pupil figures ask each sibling once per
partnership and row.
"""

from __future__ import annotations

import datetime as dt
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, fields
from typing import ClassVar

import msgspec

from ssp_ledger.events import (
    ClubRun,
    CorrectableEvent,
    PartnershipFormed,
    RollCounted,
    SchoolJoined,
    SurveyReturned,
)
from ssp_ledger.periods import Period, academic_year, parse_period, period_of, periods_between
from ssp_ledger.projection import Cell, Fact, Query, Table
from ssp_ledger_projections.participation import Participation
from ssp_ledger_projections.partnership_age import cohort_kind, cohort_label
from ssp_ledger_projections.staff_time_cost import StaffTimeCost, default_hourly_cost

__all__ = ["COLUMNS", "STATE_VERSION", "Survey", "SurveyState"]

STATE_VERSION = 1
"""Version of :class:`SurveyState`; a checkpoint of another version is refused."""

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
School = tuple[str, str]
"""(partnership id, school id)."""


class SurveyState(msgspec.Struct, frozen=True, kw_only=True, tag="ssp-ledger/survey",
                  tag_field="format"):
    """The facts a Survey keeps, by partnership and event id."""

    version: int
    facts: list[PartnershipFormed | SchoolJoined | RollCounted | SurveyReturned]


_ENCODER = msgspec.msgpack.Encoder(order="deterministic")
_DECODER = msgspec.msgpack.Decoder(SurveyState)


@dataclass
class _Sums:
    """The additive figures of a row."""

    returns: int = 0
    surveyed_pupils: int = 0
    pupils_2_hours: int = 0
    asked_3_hours_pupils: int = 0
    pupils_3_hours: int = 0
    pupils_on_roll: int = 0
    attendances: int = 0
    staff_cost_pence: int = 0

    def add(self, other: _Sums) -> None:
        for f in fields(self):
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))

    def cells(self, year: str | None, per_pupil: bool) -> tuple[Cell, ...]:
        def ratio(scale: int, num: int, den: int) -> int | None:
            return scale * num // den if den else None

        roll = self.pupils_on_roll
        return (
            year, self.returns, self.surveyed_pupils, self.pupils_2_hours,
            ratio(1000, self.pupils_2_hours, self.surveyed_pupils),
            self.asked_3_hours_pupils, self.pupils_3_hours,
            ratio(1000, self.pupils_3_hours, self.asked_3_hours_pupils),
            roll,
            self.attendances if per_pupil else None,
            ratio(100, self.attendances, roll) if per_pupil else None,
            self.staff_cost_pence if per_pupil else None,
            ratio(1, self.staff_cost_pence, roll) if per_pupil else None,
        )


def _of_return(event: SurveyReturned) -> _Sums:
    asked = event.pupils_3_hours is not None
    return _Sums(returns=1, surveyed_pupils=event.pupils_on_roll,
                 pupils_2_hours=event.pupils_2_hours,
                 asked_3_hours_pupils=event.pupils_on_roll if asked else 0,
                 pupils_3_hours=event.pupils_3_hours or 0)


def _later(a: CorrectableEvent, b: CorrectableEvent) -> bool:
    """True when ``a`` replaces ``b`` (later valid date; ties to the greater event id)."""
    return (a.occurred_on, a.event_id) > (b.occurred_on, b.event_id)


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
    """The returns and the rolls of one partnership (or of all), each sorted by valid date."""

    def __init__(self, returns: list[SurveyReturned], rolls: list[RollCounted]) -> None:
        returns.sort(key=_day)
        rolls.sort(key=_day)
        self.returns = returns
        self.return_days = [f.occurred_on for f in returns]
        self.rolls = rolls
        self.roll_days = [f.occurred_on for f in rolls]

    def returns_between(self, start: dt.date | None, end: dt.date) -> list[SurveyReturned]:
        """The returns dated in ``[start, end]`` (``start`` None: from the first)."""
        lo = 0 if start is None else bisect_left(self.return_days, start)
        return self.returns[lo:bisect_right(self.return_days, end)]

    def rolls_between(self, start: dt.date, end: dt.date) -> list[RollCounted]:
        """The rolls dated in ``[start, end]``."""
        return self.rolls[bisect_left(self.roll_days, start):bisect_right(self.roll_days, end)]

    def first_day(self) -> dt.date | None:
        """The earliest date of a return or roll, or None."""
        days = [d[0] for d in (self.return_days, self.roll_days) if d]
        return min(days) if days else None


def _day(f: CorrectableEvent) -> dt.date:
    return f.occurred_on


def _order(f: CorrectableEvent) -> tuple[dt.date, str]:
    return f.occurred_on, f.event_id


class _Index:
    """The kept facts arranged for queries (built from them in one pass, never changed).

    * :meth:`scope`: a partnership's (or every partnership's) returns and rolls by date;
    * :meth:`phase`: a school's phase on a day, from its latest join dated on or before it
      (latest by valid date, ties to the greater event id, as :func:`_later` decides);
    * :meth:`formed_on`: a partnership's earliest formation date.
    """

    def __init__(self, facts: Iterable[Kept]) -> None:
        returns: dict[str, list[SurveyReturned]] = {}
        rolls: dict[str, list[RollCounted]] = {}
        joins: dict[School, list[SchoolJoined]] = {}
        self._formed: dict[str, dt.date] = {}
        for f in facts:
            pid = f.partnership_id
            if isinstance(f, SurveyReturned):
                returns.setdefault(pid, []).append(f)
            elif isinstance(f, RollCounted):
                rolls.setdefault(pid, []).append(f)
            elif isinstance(f, SchoolJoined):
                joins.setdefault((pid, f.school_id), []).append(f)
            else:
                seen = self._formed.get(pid)
                if seen is None or f.occurred_on < seen:
                    self._formed[pid] = f.occurred_on
        self._scopes: dict[str | None, _Scope] = {
            pid: _Scope(returns.get(pid, []), rolls.get(pid, []))
            for pid in returns.keys() | rolls.keys()}
        self._scopes[None] = _Scope([f for fs in returns.values() for f in fs],
                                    [f for fs in rolls.values() for f in fs])
        self._joins: dict[School, tuple[list[dt.date], list[str]]] = {}
        for school, found in joins.items():
            found.sort(key=_order)
            self._joins[school] = ([f.occurred_on for f in found], [f.phase for f in found])

    def scope(self, partnership_id: str | None) -> _Scope:
        """The returns and rolls of ``partnership_id`` (None: of every partnership)."""
        found = self._scopes.get(partnership_id)
        return found if found is not None else _Scope([], [])

    def phase(self, school: School, day: dt.date) -> str:
        """The phase of the school's latest join dated on or before ``day``, or ``unknown``."""
        found = self._joins.get(school)
        if found is None:
            return "unknown"
        days, phases = found
        i = bisect_right(days, day)
        return phases[i - 1] if i else "unknown"

    def formed_on(self, partnership_id: str) -> dt.date | None:
        """The earliest formation date of the partnership, or None."""
        return self._formed.get(partnership_id)


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
        self._facts: dict[Key, Kept] = {}
        self._index: _Index | None = None
        """The facts arranged for queries (built on first use, dropped by any change)."""
        self._participation: Participation | None = None
        self._staff: StaffTimeCost | None = None

    # ------------------------------------------------------------------ facts and state

    def attach(self, siblings: Mapping[str, object]) -> None:
        """Read attendances and staff cost from the set's ``participation`` and
        ``staff_time_cost`` (the set feeds them every fact, so nothing is counted twice)."""
        participation = siblings.get(self.siblings[0])
        staff = siblings.get(self.siblings[1])
        self._participation = participation if isinstance(participation, Participation) else None
        self._staff = staff if isinstance(staff, StaffTimeCost) else None

    def apply(self, fact: Fact) -> None:
        """Remember formations, joins, rolls and survey returns."""
        event = fact.event
        if isinstance(event, PartnershipFormed | SchoolJoined | RollCounted | SurveyReturned):
            self._facts[(event.partnership_id, event.event_id)] = event
            self._index = None

    def retract(self, fact: Fact) -> None:
        """Forget what :meth:`apply` remembered."""
        self._facts.pop((fact.event.partnership_id, fact.event.event_id), None)
        self._index = None

    def dump_state(self) -> bytes:
        """The facts kept, as canonical msgpack (a :class:`SurveyState`)."""
        facts = [self._facts[key] for key in sorted(self._facts)]
        return _ENCODER.encode(SurveyState(version=STATE_VERSION, facts=facts))

    def load_state(self, data: bytes) -> None:
        """Take the facts of :meth:`dump_state` bytes (on a fresh instance); ValueError when
        they are not such bytes."""
        state = _DECODER.decode(data)
        if state.version != STATE_VERSION:
            msg = f"survey state version {state.version} is not {STATE_VERSION}"
            raise ValueError(msg)
        if self._facts:
            msg = "survey: load_state needs a fresh instance (this one has facts)"
            raise ValueError(msg)
        self._facts = {(f.partnership_id, f.event_id): f for f in state.facts}
        self._index = None

    # ------------------------------------------------------------------ selection

    def _indexed(self) -> _Index:
        """The index of the facts kept (built now if a change dropped it)."""
        if self._index is None:
            self._index = _Index(self._facts.values())
        return self._index

    def _scope(self, query: Query) -> _Scope:
        return self._indexed().scope(query.partnership_id)

    def _returns(self, query: Query, row: _Row) -> dict[School, SurveyReturned]:
        """Each school's return counted in ``row`` (the latest of its year, or of its latest
        year when the row names none)."""
        out: dict[School, SurveyReturned] = {}
        for f in self._scope(query).returns_between(row.returns_from, row.returns_to):
            if row.year is not None and f.survey_year != row.year:
                continue
            key = (f.partnership_id, f.school_id)
            seen = out.get(key)
            if seen is None or (f.survey_year, f.occurred_on, f.event_id) > (
                    seen.survey_year, seen.occurred_on, seen.event_id):
                out[key] = f
        return out

    def _rolls(self, query: Query, window: Period) -> dict[School, RollCounted]:
        """Each school's latest roll count dated inside ``window``."""
        out: dict[School, RollCounted] = {}
        for f in self._scope(query).rolls_between(window.start, window.end):
            key = (f.partnership_id, f.school_id)
            seen = out.get(key)
            if seen is None or _later(f, seen):
                out[key] = f
        return out

    def _years(self, query: Query) -> list[str]:
        start, end = query.window
        return sorted({f.survey_year for f in self._scope(query).returns_between(start, end)})

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

    def _group_of(self, query: Query, school: School, day: dt.date) -> str:
        """The label of ``school`` under the query's grouping, seen on ``day``."""
        pid, school_id = school
        by = query.by
        if by == "school":
            return school_id
        if by == "partnership":
            return pid
        if by == "phase":
            return self._indexed().phase(school, day)
        if by == "cohort":
            kind = cohort_kind(query)
            formed_on = self._indexed().formed_on(pid)
            return "unknown" if formed_on is None else cohort_label(formed_on, day, kind)
        return "total"

    def _staff_costs(self, query: Query, rows: Sequence[_Row]
                     ) -> list[Mapping[School, int]]:
        """Staff cost pence of every school over each row's window, every row in one look-up
        of one table of every partnership (:meth:`StaffTimeCost.school_costs`)."""
        staff = self._staff
        if staff is None or self._participation is None or not rows:
            return [{} for _ in rows]
        return list(staff.school_costs([(row.window.start, row.window.end) for row in rows],
                                       default_hourly_cost_pence=default_hourly_cost(query)))

    def _per_school_activity(self, query: Query, schools: Iterable[School], window: Period,
                             costs: Mapping[School, int]) -> dict[School, tuple[int, int]]:
        """(attendances, staff cost pence) of each school over ``window``: attendances from
        the participation sibling, costs from ``costs`` (:meth:`_staff_costs`)."""
        participation, staff = self._participation, self._staff
        out: dict[School, tuple[int, int]] = {}
        if participation is None or staff is None:
            return out
        wanted: dict[str, set[str]] = {}
        for pid, school_id in schools:
            wanted.setdefault(pid, set()).add(school_id)
        rate = default_hourly_cost(query)
        for pid in sorted(wanted):
            sub = Query(as_of=window.end, by="school", period=window, partnership_id=pid,
                        params={} if rate is None else {"default_hourly_cost_pence": rate})
            attendances = {r["school"]: r["attendances"]
                           for r in participation.report(sub).to_dicts()}
            for school_id in wanted[pid]:
                a = attendances.get(school_id, 0)
                out[(pid, school_id)] = (a if isinstance(a, int) else 0,
                                         costs.get((pid, school_id), 0))
        return out

    def _figures(self, query: Query, row: _Row, costs: Mapping[School, int]
                 ) -> dict[str, _Sums]:
        """The row's sums, per group of the query's dimension (or one group); ``costs``: the
        staff cost of each school over the row's window."""
        grouped: dict[str, _Sums] = {}
        day = row.window.end
        for school, event in self._returns(query, row).items():
            grouped.setdefault(self._group_of(query, school, day), _Sums()).add(
                _of_return(event))
        rolls = self._rolls(query, row.window) if row.window.start <= row.window.end else {}
        activity = self._per_school_activity(query, rolls, row.window, costs)
        for school, roll in rolls.items():
            attendances, cost = activity.get(school, (0, 0))
            grouped.setdefault(self._group_of(query, school, day), _Sums()).add(_Sums(
                pupils_on_roll=roll.pupils_on_roll, attendances=attendances,
                staff_cost_pence=cost))
        return grouped

    def report(self, query: Query) -> Table:
        """Rows per group (or survey year, or period), then a ``total`` row; see the module
        docstring. Raises ValueError for an unknown grouping, cohort kind or year."""
        query.check_grouping(self.name, self.groupings)
        per_pupil = self._participation is not None and self._staff is not None
        dimension = query.by in ("school", "phase", "partnership", "cohort")
        rows: list[tuple[Cell, ...]] = []
        total = _Sums()
        year_of_total: str | None = None
        every = self._rows(query)
        for row, costs in zip(every, self._staff_costs(query, every), strict=True):
            grouped = self._figures(query, row, costs)
            if dimension:
                year_of_total = row.year
                for label in sorted(grouped):
                    rows.append((label, *grouped[label].cells(row.year, per_pupil)))
                    total.add(grouped[label])
                continue
            sums = _Sums()
            for part in grouped.values():
                sums.add(part)
            total.add(sums)
            if query.by is None:
                year_of_total = row.year
            else:
                rows.append((row.label, *sums.cells(row.year, per_pupil)))
        rows.append(("total", *total.cells(year_of_total, per_pupil)))
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
            counted = self._returns(query, row).get(school)
            if counted is None or counted.event_id != event.event_id:
                return {}
            sums = _of_return(event)
            return {"returns": 1, "surveyed_pupils": sums.surveyed_pupils,
                    "pupils_2_hours": sums.pupils_2_hours,
                    "asked_3_hours_pupils": sums.asked_3_hours_pupils,
                    "pupils_3_hours": sums.pupils_3_hours}
        if row.window.start > row.window.end:
            return {}
        roll = self._rolls(query, row.window).get(school)
        if roll is None:
            return {}
        if isinstance(event, RollCounted):
            return {"pupils_on_roll": event.pupils_on_roll} \
                if roll.event_id == event.event_id else {}
        if self._participation is None or self._staff is None:
            return {}
        if not row.window.start <= event.occurred_on <= row.window.end:
            return {}
        return {"attendances": event.participants}
