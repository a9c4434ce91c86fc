"""The reporting API refuses misuse clearly: wrong keywords, types and partnerships."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from ssp_ledger import ClubRun, Ledger
from ssp_ledger.errors import LedgerError, UnknownPartnership, UnknownProjection
from ssp_ledger.events import PartnershipFormed, SchoolJoined

D = dt.date(2010, 1, 4)
AS_OF = dt.date(2011, 7, 31)


@pytest.fixture
def ledger() -> Ledger:
    ledger = Ledger.in_memory()
    ledger.record_many([
        PartnershipFormed(partnership_id="p", occurred_on=D, event_id="f", name="P",
                          hub_school_id="s"),
        SchoolJoined(partnership_id="p", occurred_on=D, event_id="j", school_id="s",
                     school_name="S", phase="secondary"),
        ClubRun(partnership_id="p", occurred_on=D, event_id="c", club_id="k", school_id="s",
                activity="netball", participants=7),
    ])
    return ledger


def test_a_misspelt_keyword_is_named_with_a_suggestion(ledger: Ledger) -> None:
    with pytest.raises(TypeError, match=r"'perod' \(did you mean 'period'\?\)"):
        ledger.participation(as_of=AS_OF, perod="2010/11")
    with pytest.raises(TypeError, match=r"'partnership' \(did you mean 'partnership_id'\?\)"):
        ledger.funding(as_of=AS_OF, partnership="p")
    with pytest.raises(TypeError, match="'colour'"):
        ledger.report("leaders", as_of=AS_OF, colour="red")


def test_a_projection_parameter_only_where_it_is_declared(ledger: Ledger) -> None:
    cost = ledger.staff_time_cost(as_of=AS_OF, default_hourly_cost_pence=3000)
    assert cost.totals is not None
    funding = ledger.funding(as_of=AS_OF, default_hourly_cost_pence=3000)
    assert funding.totals is not None
    with pytest.raises(TypeError, match="'default_hourly_cost_pence'"):
        ledger.participation(as_of=AS_OF, default_hourly_cost_pence=3000)
    with pytest.raises(TypeError, match="integer or a string"):
        ledger.staff_time_cost(as_of=AS_OF, default_hourly_cost_pence=[1])


def test_as_of_takes_a_date_or_an_iso_string(ledger: Ledger) -> None:
    assert ledger.participation(as_of="2011-07-31") == ledger.participation(as_of=AS_OF)
    for bad in (20110731, dt.datetime(2011, 7, 31, tzinfo=dt.UTC), None, b"2011-07-31"):
        with pytest.raises(TypeError, match="as_of must be a date"):
            ledger.participation(as_of=bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="as_of: '31/07/2011' is not an ISO date"):
        ledger.participation(as_of="31/07/2011")


def test_known_at_takes_an_aware_datetime_or_an_iso_string(ledger: Ledger) -> None:
    moment = dt.datetime(2100, 1, 1, tzinfo=dt.UTC)
    by_string = ledger.participation(as_of=AS_OF, known_at="2100-01-01T00:00:00Z")
    assert by_string == ledger.participation(as_of=AS_OF, known_at=moment)
    assert by_string.known_at == moment
    with pytest.raises(TypeError, match="known_at must be a timezone-aware datetime"):
        ledger.participation(as_of=AS_OF, known_at=AS_OF)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="timezone-aware"):
        ledger.participation(as_of=AS_OF, known_at="2100-01-01T00:00:00")
    with pytest.raises(ValueError, match="not an ISO datetime"):
        ledger.participation(as_of=AS_OF, known_at="tomorrow")


def test_an_unknown_partnership_is_refused_not_answered_with_zeros(ledger: Ledger) -> None:
    with pytest.raises(UnknownPartnership, match="no partnership 'q' in this store") as e:
        ledger.participation(as_of=AS_OF, partnership_id="q")
    assert isinstance(e.value, LedgerError)
    assert isinstance(e.value, KeyError)
    assert str(e.value) == "no partnership 'q' in this store"
    known = ledger.participation(as_of=AS_OF, partnership_id="p")
    assert known.row("total")["attendances"] == 7
    with pytest.raises(TypeError, match="partnership_id must be a string"):
        ledger.participation(as_of=AS_OF, partnership_id=3)


def test_other_arguments_of_the_wrong_type(ledger: Ledger) -> None:
    with pytest.raises(UnknownProjection, match="no projection named 'nope'"):
        ledger.report("nope", as_of=AS_OF)
    with pytest.raises(TypeError, match="period must be a Period"):
        ledger.participation(as_of=AS_OF, period=2010)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="by must be a grouping name"):
        ledger.participation(as_of=AS_OF, by=1)  # type: ignore[arg-type]


def test_open_refuses_what_is_not_a_path(tmp_path: Path) -> None:
    for bad in (3, None, b"x.db", ["x.db"]):
        with pytest.raises(TypeError, match="location must be a path"):
            Ledger.open(bad)  # type: ignore[arg-type]
    with Ledger.open(tmp_path / "ok.db") as ledger:
        assert ledger.position == 0
