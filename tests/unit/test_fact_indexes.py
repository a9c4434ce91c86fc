"""The indexes ``survey`` and ``partnership_age`` answer from, held to scans of every fact.

Both projections keep their facts in a dict and, since every query used to scan all of them
(per school, per period), now read them through an index built on first use and dropped by any
change. These properties feed both the same random facts (two partnerships, a handful of days
so valid dates tie, event ids in random order so ties go either way, facts applied out of date
order and some retracted, asked before and after the changes) and compare:

* every index look-up with the naive scan it replaces (kept here as the reference folds);
* whole reports (every grouping and period kind) with a ``Survey`` whose selection methods are
  those scans, as the projection had them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any, Protocol, cast

from hypothesis import given, settings
from hypothesis import strategies as st

from ssp_ledger.events import (
    PartnershipDissolved,
    PartnershipFormed,
    RollCounted,
    SchoolJoined,
    SchoolLeft,
    SurveyReturned,
)
from ssp_ledger.periods import Period, academic_year, periods_between
from ssp_ledger.projection import Fact, Query, Table
from ssp_ledger_projections.partnership_age import (
    MemberTenure,
    PartnershipAge,
    cohort_kind,
    cohort_label,
)
from ssp_ledger_projections.survey import Kept, School, Survey, _Index, _later, _Row

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


class NaiveSurvey(Survey):
    """A Survey selecting by scanning every fact, as it did before its index."""

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

    def _group_of(self, query: Query, school: School, day: D) -> str:
        by = query.by
        if by == "phase":
            return naive_phase(self._facts.values(), school, day)
        if by == "cohort":
            formed_on = naive_formed_on(self._facts.values(), school[0])
            return "unknown" if formed_on is None else cohort_label(
                formed_on, day, cohort_kind(query))
        return super()._group_of(query, school, day)


# --------------------------------------------------------------------------- survey


@SETTINGS
@given(kept_facts(), st.sampled_from(DAYS), st.sampled_from((*DAYS, D(2007, 1, 1))))
def test_survey_index_matches_the_scans(facts: list[Kept], day: D, other: D) -> None:
    index = _Index(facts)
    for pid in PIDS:
        assert index.formed_on(pid) == naive_formed_on(facts, pid)
        for school_id in SCHOOLS:
            assert index.phase((pid, school_id), day) == naive_phase(facts, (pid, school_id), day)
    start, end = min(day, other), max(day, other)
    for pid in (None, *PIDS):
        scope = index.scope(pid)
        chosen = [f for f in facts if pid is None or f.partnership_id == pid]
        assert sorted(f.event_id for f in scope.rolls_between(start, end)) == sorted(
            f.event_id for f in chosen if isinstance(f, RollCounted)
            and start <= f.occurred_on <= end)
        assert sorted(f.event_id for f in scope.returns_between(None, end)) == sorted(
            f.event_id for f in chosen if isinstance(f, SurveyReturned) and f.occurred_on <= end)
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


@SETTINGS
@given(kept_facts(), st.data())
def test_survey_reports_match_the_scanning_survey(facts: list[Kept], data: st.DataObject
                                                  ) -> None:
    """Applied in any order, some retracted, asked between changes (so a stale index would
    show): every report equals the scanning Survey's."""
    fast, slow = Survey(), NaiveSurvey()
    day = data.draw(st.sampled_from(DAYS))
    by = data.draw(st.sampled_from(BYS))
    params: dict[str, int | str] = {}
    if by == "cohort":
        params["cohort"] = data.draw(st.sampled_from(("formed", "age")))
    pid = data.draw(st.none() | st.sampled_from(PIDS))
    query = Query(as_of=day, by=by, partnership_id=pid, params=params)
    _in_step(fast, slow, [Fact(i, T0, e) for i, e in enumerate(facts, start=1)], query, data)
    assert fast.report(query) == slow.report(query)
    restored = Survey()
    restored.load_state(fast.dump_state())
    assert restored.report(query) == slow.report(query)


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
