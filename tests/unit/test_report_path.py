"""The report path's shortcuts give what the long way gives, and never let misuse through.

``Ledger.report`` remembers report arguments it has checked (projection, grouping, period,
partnership) and builds its :class:`~ssp_ledger.projection.Query` without the dataclass
constructor; these tests hold both to the long way: the same query, the same tables, and the
same one-line errors however often and in whatever order the arguments come.
"""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest

from ssp_ledger import ClubRun, Ledger
from ssp_ledger.application import _query
from ssp_ledger.errors import UnknownPartnership, UnknownProjection
from ssp_ledger.events import PartnershipFormed, SchoolJoined
from ssp_ledger.periods import parse_period
from ssp_ledger.projection import Query

D = dt.date(2010, 1, 4)
AS_OF = dt.date(2011, 7, 31)


def _events(pid: str) -> list[PartnershipFormed | SchoolJoined | ClubRun]:
    return [
        PartnershipFormed(partnership_id=pid, occurred_on=D, event_id="f", name="P",
                          hub_school_id="s"),
        SchoolJoined(partnership_id=pid, occurred_on=D, event_id="j", school_id="s",
                     school_name="S", phase="secondary"),
        ClubRun(partnership_id=pid, occurred_on=D, event_id="c", club_id="k", school_id="s",
                activity="netball", participants=7),
    ]


@pytest.fixture
def ledger() -> Ledger:
    ledger = Ledger.in_memory()
    ledger.record_many(_events("p"))
    return ledger


def test_the_report_query_equals_the_constructed_one() -> None:
    period = parse_period("2010/11")
    moment = dt.datetime(2012, 1, 1, tzinfo=dt.UTC)
    for args in ((AS_OF, None, None, None, None, {}),
                 (AS_OF, moment, "school", period, "p", {"cohort": "2004"})):
        made = _query(*args)
        constructed = Query(as_of=args[0], known_at=args[1], by=args[2], period=args[3],
                            partnership_id=args[4], params=args[5])
        assert made == constructed
        assert type(made) is Query
        assert dataclasses.asdict(made) == dataclasses.asdict(constructed)
        assert made.window == constructed.window
        assert made.period_kind == constructed.period_kind
        assert dataclasses.replace(made, by=None) == dataclasses.replace(constructed, by=None)
        with pytest.raises(dataclasses.FrozenInstanceError):
            made.by = "x"  # type: ignore[misc]


def test_checked_arguments_answer_as_the_first_time(ledger: Ledger) -> None:
    first = [ledger.report("participation", as_of=AS_OF, by="school", period="2009/10",
                           partnership_id="p") for _ in range(3)]
    assert first[0] == first[1] == first[2]
    as_period = ledger.report("participation", as_of=AS_OF, by="school",
                              period=parse_period("2009/10"), partnership_id="p")
    assert as_period == first[0]
    assert as_period.period == first[0].period == "2009/10"
    assert ledger.report("participation", as_of="2011-07-31", by="school", period="2009/10",
                         partnership_id="p") == first[0]


def test_misuse_is_refused_every_time_even_beside_checked_arguments(ledger: Ledger) -> None:
    ledger.report("participation", as_of=AS_OF, by="school", partnership_id="p")
    for _ in range(2):
        with pytest.raises(UnknownPartnership, match="no partnership 'q'"):
            ledger.report("participation", as_of=AS_OF, by="school", partnership_id="q")
        with pytest.raises(UnknownProjection, match="no projection named 'participaton'"):
            ledger.report("participaton", as_of=AS_OF, by="school")
        with pytest.raises(ValueError, match="cannot group by 'colour'"):
            ledger.report("participation", as_of=AS_OF, by="colour")
        with pytest.raises(TypeError, match="by must be a grouping name"):
            ledger.report("participation", as_of=AS_OF, by=["school"])  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="period must be a Period"):
            ledger.report("participation", as_of=AS_OF, period={"2010/11"})  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="partnership_id must be a string"):
            ledger.report("participation", as_of=AS_OF, partnership_id=["p"])  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="as_of must be a date"):
            ledger.report("participation", as_of=20110731)  # type: ignore[arg-type]


def test_a_partnership_refused_once_is_found_after_it_is_recorded(ledger: Ledger) -> None:
    with pytest.raises(UnknownPartnership):
        ledger.report("participation", as_of=AS_OF, partnership_id="q")
    ledger.record_many(_events("q"))
    table = ledger.report("participation", as_of=AS_OF, partnership_id="q")
    assert table.row("total")["sessions"] == 1


def test_a_tables_basis_is_its_own(ledger: Ledger) -> None:
    first = ledger.report("participation", as_of=AS_OF)
    assert first.basis is not None
    first.basis["position"] = -1  # a caller's change to one table's basis stays there
    again = ledger.report("participation", as_of=AS_OF)
    assert again.basis is not None
    assert again.basis["position"] == 3
