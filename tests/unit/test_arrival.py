"""arrival: a synthetic history recorded the way it would have arrived, at deterministic times."""

from __future__ import annotations

import datetime as dt
from collections import Counter

import pytest

from ssp_ledger import Ledger
from ssp_ledger.arrival import ArrivalConfig, Batch, SetClock, arrivals
from ssp_ledger.events import ClubRun, EventCorrected, EventRetracted, FundingChanged
from ssp_ledger.periods import parse_period, period_of
from ssp_ledger.synthetic import SyntheticConfig, generate

CONFIG = SyntheticConfig(seed=11, partnerships=2, primaries=6, secondaries=2, specials=1,
                         horizon=dt.date(2012, 8, 31))


@pytest.fixture(scope="module")
def batches() -> list[Batch]:
    return list(arrivals(generate(CONFIG), ArrivalConfig(seed=11)))


@pytest.fixture(scope="module")
def ledger(batches: list[Batch]) -> Ledger:
    clock = SetClock()
    ledger = Ledger.in_memory(clock=clock)
    for batch in batches:
        clock.now = batch.recorded_at
        result = ledger.record_many(batch.events)
        assert result.recorded == len(batch.events), batch.label
    return ledger


def test_the_same_history_and_seed_give_the_same_batches(batches: list[Batch]) -> None:
    again = list(arrivals(generate(CONFIG), ArrivalConfig(seed=11)))
    assert [(b.recorded_at, b.label, b.events) for b in again] == [
        (b.recorded_at, b.label, b.events) for b in batches]
    other = list(arrivals(generate(CONFIG), ArrivalConfig(seed=12)))
    assert [b.recorded_at for b in other] != [b.recorded_at for b in batches]


def test_every_event_arrives_once_after_it_happened(batches: list[Batch]) -> None:
    history = list(generate(CONFIG))
    arrived = [e for b in batches if b.kind != "audit" for e in b.events]
    assert Counter(e.event_id + e.partnership_id for e in arrived) == Counter(
        e.event_id + e.partnership_id for e in history)
    times = [b.recorded_at for b in batches]
    assert times == sorted(times)
    for batch in batches:
        for event in batch.events:
            assert event.occurred_on < batch.recorded_at.date(), batch.label


def test_returns_come_after_their_term_some_late(batches: list[Batch]) -> None:
    returns = [b for b in batches if b.kind == "return"]
    for batch in returns:
        term = period_of("term", batch.events[0].occurred_on)
        assert all(e.occurred_on in term for e in batch.events)
        delay = (batch.recorded_at.date() - term.end).days
        assert (35 <= delay <= 56) if batch.late else (7 <= delay <= 21), batch.label
    assert 0 < sum(b.late for b in returns) < len(returns)


def test_the_audit_corrects_and_retracts_recorded_club_sessions(batches: list[Batch]) -> None:
    config = ArrivalConfig(seed=11)
    audits = [b for b in batches if b.kind == "audit"]
    assert {b.partnership_id for b in audits} == {"ssp-000", "ssp-001"}
    year = parse_period(config.audited_year)
    for audit in audits:
        assert audit.recorded_at == config.audit_at
        earlier = {e.event_id: e for b in batches if b.recorded_at < audit.recorded_at
                   and b.partnership_id == audit.partnership_id for e in b.events}
        kinds = Counter(type(e) for e in audit.events)
        assert kinds == {EventCorrected: config.corrections, EventRetracted: config.retractions}
        for change in audit.events:
            assert isinstance(change, EventCorrected | EventRetracted)
            target = earlier[change.target_event_id]
            assert isinstance(target, ClubRun)
            assert target.occurred_on in year
            assert change.reason.startswith("audit 2011-11-08: ")
            if isinstance(change, EventCorrected):
                assert isinstance(change.replacement, ClubRun)
                assert change.replacement.participants < target.participants
        hub = f"{audit.partnership_id}-hub"
        assert any(earlier[c.target_event_id].school_id == hub  # type: ignore[union-attr]
                   for c in audit.events if isinstance(c, EventCorrected | EventRetracted))


def test_a_funding_change_arrives_back_dated(batches: list[Batch]) -> None:
    funding = [b for b in batches if b.kind == "funding"]
    assert len(funding) == 2  # one per partnership
    for batch in funding:
        (event,) = batch.events
        assert isinstance(event, FundingChanged)
        assert event.occurred_on == dt.date(2011, 4, 1)
        assert batch.recorded_at == ArrivalConfig().funding_found_at
        assert "back-dated" in batch.label


def test_figures_differ_between_known_at_times(ledger: Ledger, batches: list[Batch]) -> None:
    as_of = dt.date(2011, 8, 31)
    config = ArrivalConfig(seed=11)
    before_audit = config.audit_at - dt.timedelta(seconds=1)
    then = ledger.participation(as_of=as_of, known_at=before_audit, period="2010/11")
    now = ledger.participation(as_of=as_of, period="2010/11")
    changes = [e for b in batches if b.kind == "audit" for e in b.events]
    assert then.row("total")["sessions"] - now.row("total")["sessions"] == sum(
        isinstance(e, EventRetracted) for e in changes)
    assert now.row("total")["attendances"] < then.row("total")["attendances"]
    money = "received_pence"
    old = ledger.report("funding", as_of=as_of, period="2010/11",
                        known_at=config.funding_found_at - dt.timedelta(seconds=1))
    new = ledger.report("funding", as_of=as_of, period="2010/11")
    assert new.row("total")[money] < old.row("total")[money]  # the cut, back-dated
    nothing = ledger.participation(as_of=as_of, known_at=batches[0].recorded_at
                                   - dt.timedelta(seconds=1))
    assert nothing.row("total")["sessions"] == 0
    recorded = {rec.recorded_at for _, rec in ledger.read()}
    assert recorded == {b.recorded_at for b in batches}


@pytest.mark.parametrize(("kwargs", "field"), [
    ({"late_share": 1.5}, "late_share"),
    ({"corrections": -1}, "corrections"),
    ({"audit_at": dt.datetime(2011, 11, 8)}, "audit_at"),  # naive: refused
    ({"audited_year": "2010-11"}, "2010-11"),
])
def test_bad_settings_are_refused_naming_them(kwargs: dict[str, object], field: str) -> None:
    with pytest.raises(ValueError, match=field):
        ArrivalConfig(**kwargs)  # type: ignore[arg-type]
