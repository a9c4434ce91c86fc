"""Staff cost of every (partnership, school) over several windows at once
(:meth:`StaffTimeCost.school_costs`, what the survey reads) equals each partnership's report by
school, from one national table or piece by piece, at the shipped rate and a flat one."""

from __future__ import annotations

import datetime as dt

from hypothesis import given, settings
from hypothesis import strategies as st

from ssp_ledger.events import CorrectableEvent
from ssp_ledger.periods import parse_period
from ssp_ledger.projection import Fact, Query
from ssp_ledger_projections.staff_time_cost import StaffTimeCost
from tests.strategies import History, dates, histories

T0 = dt.datetime(2012, 1, 1, tzinfo=dt.UTC)
NEVER = 10**9


def _by_report(p: StaffTimeCost, start: dt.date | None, end: dt.date, rate: int | None
               ) -> dict[tuple[str, str], int]:
    out: dict[tuple[str, str], int] = {}
    for pid in p.facts.partnerships(None):
        period = None if start is None else parse_period(
            f"{start.isoformat()}..{end.isoformat()}")
        q = Query(as_of=end, by="school", partnership_id=pid, period=period,
                  params={} if rate is None else {"default_hourly_cost_pence": rate})
        for row in p.report(q).to_dicts():
            if row["school"] != "total":
                pence = row["total_pence"]
                assert isinstance(pence, int)
                out[(pid, str(row["school"]))] = pence
    return out


@settings(max_examples=30, deadline=None)
@given(histories(max_activity=20), histories(pid="q", max_activity=10), st.data())
def test_school_costs_equal_the_reports_by_school(history: History, other: History,
                                                  data: st.DataObject) -> None:
    events = [e for e in (*history.events, *other.events) if isinstance(e, CorrectableEvent)]
    days = sorted(data.draw(st.lists(dates(history), min_size=2, max_size=3)))
    ranges: list[tuple[dt.date | None, dt.date]] = [(None, days[-1]), (days[0], days[-1]),
                                                    (days[0], days[1])]
    for tables_after in (2, NEVER):
        for rate in (None, 1799):
            p = StaffTimeCost()
            p.tables_after = tables_after
            for i, e in enumerate(events, start=1):
                p.apply(Fact(i, T0, e))
            found = p.school_costs(ranges, default_hourly_cost_pence=rate)
            for (start, end), costs in zip(ranges, found, strict=True):
                expected = _by_report(p, start, end, rate)
                assert {k: v for k, v in costs.items() if v} == {
                    k: v for k, v in expected.items() if v}
