"""The indexes ``survey`` and ``partnership_age`` answer from, held to scans of every fact.

Both projections keep their facts in a dict and, since every query used to scan all of them
(per school, per period), now read them through an index built on first use and dropped by any
change. These properties feed both the same random facts (two partnerships, a handful of days
so valid dates tie, event ids in random order so ties go either way, facts applied out of date
order and some retracted, asked before and after the changes) and compare:

* every index look-up with the naive scan it replaces (kept here as the reference folds);
* whole reports (every grouping and period kind) with ``NaiveSurvey``, the survey as first
  written: its facts kept as events, every selection one of those scans, and (with siblings)
  each school's attendances and staff cost read from the sibling's report by school of its
  partnership, per school and row, where the survey reads every school and row in one
  look-up of each sibling and restores its state from plain columns.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any, Protocol, cast

from hypothesis import given, settings
from hypothesis import strategies as st

from ssp_ledger.events import (
    EventCorrected,
    EventRetracted,
    PartnershipDissolved,
    PartnershipFormed,
    RollCounted,
    SchoolJoined,
    SchoolLeft,
    SurveyReturned,
)
from ssp_ledger.periods import Period, academic_year, parse_period, periods_between
from ssp_ledger.projection import Cell, Fact, Query, Table
from ssp_ledger_projections.participation import Participation
from ssp_ledger_projections.partnership_age import (
    MemberTenure,
    PartnershipAge,
    cohort_kind,
    cohort_label,
)
from ssp_ledger_projections.staff_time_cost import StaffTimeCost
from ssp_ledger_projections.survey import COLUMNS, Kept, School, Survey, _Row
from tests.strategies import History, histories

D = dt.date
T0 = dt.datetime(2012, 1, 1, tzinfo=dt.UTC)
SETTINGS = settings(max_examples=60, deadline=None)
DAYS = (D(2008, 9, 1), D(2009, 1, 15), D(2009, 6, 1), D(2009, 9, 1), D(2010, 1, 15),
        D(2010, 6, 30))
PIDS = ("p", "q")
SCHOOLS = ("a", "b", "c")
PHASES = ("primary", "secondary", "special", "sports_college")
YEARS = ("2008/09", "2009/10")


@st.composite
def kept_facts(draw: st.DrawFn) -> list[Kept]:
    """Formations, joins, rolls and returns on few days (ties), ids in random order."""
    count = draw(st.integers(1, 30))
    ids = draw(st.permutations([f"e{i:02d}" for i in range(count)]))
    out: list[Kept] = []
    for event_id in ids:
        pid = draw(st.sampled_from(PIDS))
        day = draw(st.sampled_from(DAYS))
        school = draw(st.sampled_from(SCHOOLS))
        kind = draw(st.integers(0, 3))
        common: dict[str, Any] = {"partnership_id": pid, "occurred_on": day,
                                  "event_id": event_id}
        if kind == 0:
            out.append(PartnershipFormed(**common, name="P", hub_school_id="a"))
        elif kind == 1:
            out.append(SchoolJoined(**common, school_id=school, school_name="S",
                                    phase=draw(st.sampled_from(PHASES))))
        elif kind == 2:
            out.append(RollCounted(**common, school_id=school,
                                   pupils_on_roll=draw(st.integers(1, 500))))
        else:
            pupils = draw(st.integers(1, 500))
            two = draw(st.integers(0, pupils))
            years = [y for y in YEARS if D(int(y[:4]), 9, 1) <= day]
            if not years:  # no survey year had started: a roll instead
                out.append(RollCounted(**common, school_id=school, pupils_on_roll=pupils))
                continue
            out.append(SurveyReturned(
                **common, school_id=school, survey_year=draw(st.sampled_from(years)),
                pupils_on_roll=pupils, pupils_2_hours=two,
                pupils_3_hours=draw(st.none() | st.integers(0, two))))
    return out


# --------------------------------------------------------------------------- reference folds


def _later(a: Kept, b: Kept) -> bool:
    """True when ``a`` replaces ``b`` (later valid date; ties to the greater event id)."""
    return (a.occurred_on, a.event_id) > (b.occurred_on, b.event_id)


def naive_phase(facts: Iterable[Kept], school: School, day: D) -> str:
    """The phase of the school's latest join on or before ``day`` (the original scan)."""
    pid, school_id = school
    phase = "unknown"
    joined: SchoolJoined | None = None
    for f in facts:
        if (isinstance(f, SchoolJoined) and f.partnership_id == pid
                and f.school_id == school_id and f.occurred_on <= day
                and (joined is None or _later(f, joined))):
            joined, phase = f, f.phase
    return phase


def naive_formed_on(facts: Iterable[Kept], pid: str) -> D | None:
    formed = [f.occurred_on for f in facts
              if isinstance(f, PartnershipFormed) and f.partnership_id == pid]
    return min(formed) if formed else None


REFERENCE_COUNTS = ("returns", "surveyed_pupils", "pupils_2_hours", "asked_3_hours_pupils",
                    "pupils_3_hours", "pupils_on_roll", "attendances", "staff_cost_pence")


class NaiveSurvey:
    """The survey as it was first written, the reference: its facts kept as events, every
    selection a scan of all of them, a row's attendances read from ``participation``'s report
    by school of each partnership and its staff cost from ``staff_time_cost``'s report by
    school of each partnership (what the fast path's one-table look-ups stand for)."""

    name = "survey"

    def __init__(self) -> None:
        self._facts: dict[tuple[str, str], Kept] = {}
        self._participation: Participation | None = None
        self._staff: StaffTimeCost | None = None

    def attach(self, siblings: dict[str, object]) -> None:
        participation, staff = siblings.get("participation"), siblings.get("staff_time_cost")
        self._participation = participation if isinstance(participation, Participation) else None
        self._staff = staff if isinstance(staff, StaffTimeCost) else None

    def apply(self, fact: Fact) -> None:
        event = fact.event
        if isinstance(event, PartnershipFormed | SchoolJoined | RollCounted | SurveyReturned):
            self._facts[(event.partnership_id, event.event_id)] = event

    def retract(self, fact: Fact) -> None:
        self._facts.pop((fact.event.partnership_id, fact.event.event_id), None)

    def _selected(self, query: Query) -> Iterable[Kept]:
        pid = query.partnership_id
        return (f for (p, _), f in self._facts.items() if pid is None or p == pid)

    def _returns(self, query: Query, row: _Row) -> dict[School, SurveyReturned]:
        out: dict[School, SurveyReturned] = {}
        for f in self._selected(query):
            if not isinstance(f, SurveyReturned) or f.occurred_on > row.returns_to:
                continue
            if row.returns_from is not None and f.occurred_on < row.returns_from:
                continue
            if row.year is not None and f.survey_year != row.year:
                continue
            key = (f.partnership_id, f.school_id)
            seen = out.get(key)
            if seen is None or (f.survey_year, f.occurred_on, f.event_id) > (
                    seen.survey_year, seen.occurred_on, seen.event_id):
                out[key] = f
        return out

    def _rolls(self, query: Query, window: Period) -> dict[School, RollCounted]:
        out: dict[School, RollCounted] = {}
        for f in self._selected(query):
            if isinstance(f, RollCounted) and window.start <= f.occurred_on <= window.end:
                key = (f.partnership_id, f.school_id)
                seen = out.get(key)
                if seen is None or _later(f, seen):
                    out[key] = f
        return out

    def _years(self, query: Query) -> list[str]:
        start, end = query.window
        return sorted({f.survey_year for f in self._selected(query)
                       if isinstance(f, SurveyReturned) and f.occurred_on <= end
                       and (start is None or f.occurred_on >= start)})

    def _rows(self, query: Query) -> list[_Row]:
        start, end = query.window
        kind = query.period_kind
        if kind is not None:
            firsts = [f.occurred_on for f in self._selected(query)
                      if isinstance(f, RollCounted | SurveyReturned)]
            lo = start if start is not None else (min(firsts) if firsts else None)
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
        period = parse_period(year)
        start, end = query.window
        lo = period.start if start is None else max(period.start, start)
        return _Row(label, year, start, end, Period(lo, min(period.end, end), year))

    def _group_of(self, query: Query, school: School, day: D) -> str:
        by = query.by
        if by == "school":
            return school[1]
        if by == "partnership":
            return school[0]
        if by == "phase":
            return naive_phase(self._facts.values(), school, day)
        if by == "cohort":
            formed_on = naive_formed_on(self._facts.values(), school[0])
            return "unknown" if formed_on is None else cohort_label(
                formed_on, day, cohort_kind(query))
        return "total"

    def _activity(self, query: Query, school: School, window: Period) -> tuple[int, int]:
        """(attendances, staff cost pence) of the school over ``window``, from each sibling's
        report by school of its partnership."""
        assert self._participation is not None
        assert self._staff is not None
        pid, school_id = school
        rate = query.params.get("default_hourly_cost_pence")
        sub = Query(as_of=window.end, by="school", period=window, partnership_id=pid,
                    params={} if rate is None else {"default_hourly_cost_pence": rate})
        found = [0, 0]
        for i, (table, column) in enumerate(((self._participation.report(sub), "attendances"),
                                             (self._staff.report(sub), "total_pence"))):
            for r in table.to_dicts()[:-1]:
                if r["school"] == school_id and isinstance(r[column], int):
                    found[i] = r[column]
        return found[0], found[1]

    def _figures(self, query: Query, row: _Row) -> dict[str, dict[str, int]]:
        grouped: dict[str, dict[str, int]] = {}
        day = row.window.end

        def add(school: School, **sums: int) -> None:
            into = grouped.setdefault(self._group_of(query, school, day),
                                      dict.fromkeys(REFERENCE_COUNTS, 0))
            for name, value in sums.items():
                into[name] += value

        for school, event in self._returns(query, row).items():
            asked = event.pupils_3_hours is not None
            add(school, returns=1, surveyed_pupils=event.pupils_on_roll,
                pupils_2_hours=event.pupils_2_hours,
                asked_3_hours_pupils=event.pupils_on_roll if asked else 0,
                pupils_3_hours=event.pupils_3_hours or 0)
        if row.window.start <= row.window.end:
            per_pupil = self._participation is not None and self._staff is not None
            for school, roll in self._rolls(query, row.window).items():
                attendances, cost = self._activity(query, school, row.window) if per_pupil \
                    else (0, 0)
                add(school, pupils_on_roll=roll.pupils_on_roll, attendances=attendances,
                    staff_cost_pence=cost)
        return grouped

    @staticmethod
    def _cells(sums: dict[str, int], year: str | None, per_pupil: bool) -> tuple[Cell, ...]:
        def ratio(scale: int, num: int, den: int) -> int | None:
            return scale * num // den if den else None

        roll = sums["pupils_on_roll"]
        return (year, sums["returns"], sums["surveyed_pupils"], sums["pupils_2_hours"],
                ratio(1000, sums["pupils_2_hours"], sums["surveyed_pupils"]),
                sums["asked_3_hours_pupils"], sums["pupils_3_hours"],
                ratio(1000, sums["pupils_3_hours"], sums["asked_3_hours_pupils"]), roll,
                sums["attendances"] if per_pupil else None,
                ratio(100, sums["attendances"], roll) if per_pupil else None,
                sums["staff_cost_pence"] if per_pupil else None,
                ratio(1, sums["staff_cost_pence"], roll) if per_pupil else None)

    def report(self, query: Query) -> Table:
        per_pupil = self._participation is not None and self._staff is not None
        dimension = query.by in ("school", "phase", "partnership", "cohort")
        rows: list[tuple[Cell, ...]] = []
        total = dict.fromkeys(REFERENCE_COUNTS, 0)
        year_of_total: str | None = None

        def plus(into: dict[str, int], part: dict[str, int]) -> None:
            for name in REFERENCE_COUNTS:
                into[name] += part[name]

        for row in self._rows(query):
            grouped = self._figures(query, row)
            if dimension:
                year_of_total = row.year
                for label in sorted(grouped):
                    rows.append((label, *self._cells(grouped[label], row.year, per_pupil)))
                    plus(total, grouped[label])
                continue
            sums = dict.fromkeys(REFERENCE_COUNTS, 0)
            for part in grouped.values():
                plus(sums, part)
            plus(total, sums)
            if query.by is None:
                year_of_total = row.year
            else:
                rows.append((row.label, *self._cells(sums, row.year, per_pupil)))
        rows.append(("total", *self._cells(total, year_of_total, per_pupil)))
        return Table.answer(self.name, query, (query.by or "group", *COLUMNS), rows)


# --------------------------------------------------------------------------- survey


def _kept(facts: Iterable[Kept]) -> Survey:
    survey = Survey()
    for i, f in enumerate(facts, start=1):
        survey.apply(Fact(i, T0, f))
    return survey


@SETTINGS
@given(kept_facts(), st.sampled_from(DAYS), st.sampled_from((*DAYS, D(2007, 1, 1))))
def test_survey_index_matches_the_scans(facts: list[Kept], day: D, other: D) -> None:
    kept = {(f.partnership_id, f.event_id): f for f in facts}.values()  # as a survey keeps them
    index = _kept(facts)._indexed()
    for pid in PIDS:
        assert index.formed_on(pid) == naive_formed_on(kept, pid)
        for school_id in SCHOOLS:
            assert index.phase((pid, school_id), day) == naive_phase(kept, (pid, school_id), day)
    start, end = min(day, other), max(day, other)
    for pid in (None, *PIDS):
        scope = index.scope(pid)
        chosen = [f for f in kept if pid is None or f.partnership_id == pid]
        assert sorted(f[1] for f in scope.rolls_between(start.toordinal(), end.toordinal())) \
            == sorted(f.event_id for f in chosen if isinstance(f, RollCounted)
                      and start <= f.occurred_on <= end)
        for year in (None, *YEARS):
            assert sorted(f[1] for f in scope.returns_between(None, end.toordinal(), year)) \
                == sorted(f.event_id for f in chosen if isinstance(f, SurveyReturned)
                          and f.occurred_on <= end and year in (None, f.survey_year))
        assert scope.years_between(start.toordinal(), end.toordinal()) == sorted(
            {f.survey_year for f in chosen if isinstance(f, SurveyReturned)
             and start <= f.occurred_on <= end})
        firsts = [f.occurred_on for f in chosen if isinstance(f, RollCounted | SurveyReturned)]
        assert scope.first_day() == (min(firsts) if firsts else None)


class _Reporting(Protocol):
    def apply(self, fact: Fact) -> None: ...

    def retract(self, fact: Fact) -> None: ...

    def report(self, query: Query) -> Table: ...


def _in_step(fast: _Reporting, slow: _Reporting, facts: list[Fact], query: Query,
             data: st.DataObject) -> None:
    """Apply ``facts`` to both, comparing their reports between changes at drawn moments (so
    a stale index would show), then retract a few drawn facts from both."""
    for fact in facts:
        fast.apply(fact)
        slow.apply(fact)
        if data.draw(st.booleans()):
            assert fast.report(query) == slow.report(query)
    for fact in data.draw(st.lists(st.sampled_from(facts), max_size=5)):
        fast.retract(fact)
        slow.retract(fact)


BYS = (None, "school", "phase", "partnership", "cohort", "year", "academic_year", "term",
       "calendar_year")


def _query(data: st.DataObject, days: Iterable[D]) -> Query:
    day = data.draw(st.sampled_from(sorted(days)))
    by = data.draw(st.sampled_from(BYS))
    params: dict[str, int | str] = {}
    if by == "cohort":
        params["cohort"] = data.draw(st.sampled_from(("formed", "age")))
    pid = data.draw(st.none() | st.sampled_from(PIDS))
    return Query(as_of=day, by=by, partnership_id=pid, params=params)


@SETTINGS
@given(kept_facts(), st.data())
def test_survey_reports_match_the_scanning_survey(facts: list[Kept], data: st.DataObject
                                                  ) -> None:
    """Applied in any order, some retracted, asked between changes (so a stale index would
    show): every report equals the scanning Survey's, and so does the report of a Survey
    restored from the state (columns) of the first."""
    fast, slow = Survey(), NaiveSurvey()
    query = _query(data, DAYS)
    _in_step(fast, slow, [Fact(i, T0, e) for i, e in enumerate(facts, start=1)], query, data)
    assert fast.report(query) == slow.report(query)
    restored = Survey()
    restored.load_state(fast.dump_state())
    assert restored.report(query) == slow.report(query)
    assert restored.dump_state() == fast.dump_state()


def _sibling_set(survey: Any) -> tuple[Any, Participation, StaffTimeCost]:
    participation, staff = Participation(), StaffTimeCost()
    survey.attach({"survey": survey, "participation": participation,
                   "staff_time_cost": staff})
    return survey, participation, staff


@settings(max_examples=25, deadline=None)
@given(st.data())
def test_per_pupil_figures_match_each_partnerships_reports(data: st.DataObject) -> None:
    """With its siblings (attendances and staff cost of every school read in one look-up of
    each, for every row), every report equals the reference's, which asks each sibling's
    report by school of each partnership per school and row; also once all three were
    restored from their states (the participation index's dimensions then read straight from
    their bytes)."""
    one: History = data.draw(histories(max_activity=25))
    two: History = data.draw(histories(pid="q", max_activity=10))
    rolls = [RollCounted(partnership_id=e.partnership_id, event_id=f"roll-{e.school_id}-{k}",
                         occurred_on=e.occurred_on + dt.timedelta(days=k),
                         school_id=e.school_id, pupils_on_roll=100 + k)
             for e in (*one.structure, *two.structure) if isinstance(e, SchoolJoined)
             for k in range(0, 1500, data.draw(st.integers(100, 400)))]
    facts = [Fact(i, T0, e) for i, e in enumerate([*one.events, *two.events, *rolls], start=1)
             if not isinstance(e, EventCorrected | EventRetracted)]
    fast, slow = _sibling_set(Survey()), _sibling_set(NaiveSurvey())
    for fact in facts:
        for p in (*fast, *slow):
            p.apply(fact)
    query = _query(data, [f.event.occurred_on for f in facts])
    if data.draw(st.booleans()):
        query = Query(as_of=query.as_of, by=query.by, partnership_id=query.partnership_id,
                      params={**query.params, "default_hourly_cost_pence": 2000})
    expected = slow[0].report(query)
    assert fast[0].report(query) == expected
    restored = _sibling_set(Survey())
    for mine, theirs in zip(restored, fast, strict=True):
        mine.load_state(theirs.dump_state())
    assert restored[0].report(query) == expected


# --------------------------------------------------------------------------- partnership age


@st.composite
def structure_facts(draw: st.DrawFn) -> list[Fact]:
    """Formations, dissolutions, joins and leaves on few days, ids in random order."""
    count = draw(st.integers(1, 25))
    ids = draw(st.permutations([f"e{i:02d}" for i in range(count)]))
    out: list[Fact] = []
    for i, event_id in enumerate(ids, start=1):
        common: dict[str, Any] = {"partnership_id": draw(st.sampled_from(PIDS)),
                                  "occurred_on": draw(st.sampled_from(DAYS)),
                                  "event_id": event_id}
        school = draw(st.sampled_from(SCHOOLS))
        kind = draw(st.integers(0, 3))
        event: Any
        if kind == 0:
            event = PartnershipFormed(**common, name="P", hub_school_id="a")
        elif kind == 1:
            event = PartnershipDissolved(**common)
        elif kind == 2:
            event = SchoolJoined(**common, school_id=school, school_name="S",
                                 phase=draw(st.sampled_from(PHASES)))
        else:
            event = SchoolLeft(**common, school_id=school)
        out.append(Fact(i, T0, event))
    return out


class ScanningAge(PartnershipAge):
    """A PartnershipAge whose look-ups scan every fact (the reference)."""

    def _of(self, cls: Any, partnership_id: str | None) -> Any:
        return self._scanned(cls, partnership_id)

    def members(self, partnership_id: str, day: D) -> list[MemberTenure]:
        return self._scanned_members(partnership_id, day)


@SETTINGS
@given(structure_facts(), st.data())
def test_partnership_age_index_matches_the_scan(facts: list[Fact], data: st.DataObject
                                                ) -> None:
    fast, slow = PartnershipAge(), ScanningAge()
    day = data.draw(st.sampled_from(DAYS))
    by = data.draw(st.sampled_from((None, "school", "phase", "cohort", "academic_year",
                                    "term")))
    query = Query(as_of=day, by=by, partnership_id=data.draw(st.none() | st.sampled_from(PIDS)))
    _in_step(fast, slow, facts, query, data)
    classes = (PartnershipFormed, PartnershipDissolved, SchoolJoined, SchoolLeft)
    for cls in classes:
        for pid in (None, *PIDS):
            assert fast._of(cast(Any, cls), pid) == fast._scanned(cast(Any, cls), pid)
    assert fast.report(query) == slow.report(query)
    for pid in PIDS:
        for when in DAYS:
            assert fast.members(pid, when) == slow.members(pid, when)
