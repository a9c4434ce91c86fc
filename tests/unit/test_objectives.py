"""The objectives projection: objectives in force, their evaluations, independence, recency.

Every report is checked against a naive reference computed straight from the events, whatever
order they were recorded in; the state is canonical data; explain's contributions sum to rows.
"""

from __future__ import annotations

import datetime as dt
import random
import tomllib
from dataclasses import dataclass
from pathlib import Path

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ssp_ledger import Ledger
from ssp_ledger.audit import explain
from ssp_ledger.events import (
    DomainEvent,
    EvaluationRecorded,
    EventCorrected,
    ObjectiveSet,
    PartnershipDissolved,
    PartnershipFormed,
)
from ssp_ledger.periods import parse_period
from ssp_ledger.projection import Fact, Query, Stateful
from ssp_ledger_projections.objectives import (
    OBJECTIVE_COLUMNS,
    Objectives,
)

SETTINGS = settings(max_examples=40, deadline=None)
FORMED = dt.date(2006, 9, 1)
SPAN = 1500
T0 = dt.datetime(2011, 1, 1, tzinfo=dt.UTC)
PERIODS = (None, "2007/08", "2009/10", "FY2008/09", "2010")


@dataclass(frozen=True)
class ObjectiveHistory:
    formed: list[DomainEvent]
    body: list[DomainEvent]
    """Objectives and evaluations: recordable in any order after the formations."""
    dissolved: list[DomainEvent]

    @property
    def events(self) -> list[DomainEvent]:
        return [*self.formed, *self.body, *self.dissolved]


@st.composite
def objective_histories(draw: st.DrawFn) -> ObjectiveHistory:
    pids = draw(st.sampled_from((("p",), ("p", "q"))))
    formed: list[DomainEvent] = [PartnershipFormed(
        partnership_id=pid, occurred_on=FORMED, event_id="formed", name=pid.upper(),
        hub_school_id="s") for pid in pids]
    body: list[DomainEvent] = []
    for n in range(draw(st.integers(0, 14))):
        pid = draw(st.sampled_from(pids))
        day = FORMED + dt.timedelta(days=draw(st.integers(0, SPAN)))
        oid = draw(st.sampled_from(("o1", "o2", "o3", "total")))
        if draw(st.booleans()):
            body.append(ObjectiveSet(partnership_id=pid, occurred_on=day, event_id=f"set-{n}",
                                     objective_id=oid, text=f"aim {n}"))
        else:
            body.append(EvaluationRecorded(
                partnership_id=pid, occurred_on=day, event_id=f"ev-{n}", objective_id=oid,
                outcome=f"found {n}", independent=draw(st.booleans())))
    dissolved: list[DomainEvent] = []
    if draw(st.booleans()):
        last = max([e.occurred_on for e in body if e.partnership_id == "p"], default=FORMED)
        day = last + dt.timedelta(days=draw(st.integers(0, 200)))
        dissolved.append(PartnershipDissolved(partnership_id="p", occurred_on=day,
                                              event_id="gone", reason="grant ended"))
    return ObjectiveHistory(formed, body, dissolved)


def reference(events: list[DomainEvent], as_of: dt.date, period: str | None,
              limit: int, partnership_id: str | None = None) -> list[tuple[object, ...]]:
    """Rows by objective, straight from the events (the projection's documented rules)."""
    p = parse_period(period) if period else None
    start = p.start if p else None
    end = min(p.end, as_of) if p else as_of
    chosen = [e for e in events if e.occurred_on <= end
              and (partnership_id is None or e.partnership_id == partnership_id)]
    gone = {e.partnership_id: e.occurred_on for e in chosen
            if isinstance(e, PartnershipDissolved)}
    keys = sorted({(e.objective_id, e.partnership_id) for e in chosen
                   if isinstance(e, ObjectiveSet) and not (e.partnership_id in gone
                                                           and gone[e.partnership_id] < end)})
    rows = []
    for oid, pid in keys:
        sets = [e for e in chosen if isinstance(e, ObjectiveSet)
                and (e.objective_id, e.partnership_id) == (oid, pid)]
        evs = [e for e in chosen if isinstance(e, EvaluationRecorded)
               and (e.objective_id, e.partnership_id) == (oid, pid)]
        window = [e for e in evs if start is None or e.occurred_on >= start]
        last = max(evs, key=lambda e: (e.occurred_on, e.event_id), default=None)
        ind = max((e for e in evs if e.independent), key=lambda e: (e.occurred_on, e.event_id),
                  default=None)
        wording = max(sets, key=lambda e: (e.occurred_on, e.event_id))
        set_on = min(e.occurred_on for e in sets)
        since = ind.occurred_on if ind else set_on
        rows.append((
            oid, pid, set_on.isoformat(), wording.text, 1, len(window),
            sum(1 for e in window if e.independent),
            last.occurred_on.isoformat() if last else None,
            (end - last.occurred_on).days if last else None,
            ind.occurred_on.isoformat() if ind else None,
            (end - ind.occurred_on).days if ind else None,
            int((end - since).days > limit), last.outcome if last else None))
    return rows


def ledger_of(events: list[DomainEvent]) -> Ledger:
    ledger = Ledger.in_memory(projections={"objectives": Objectives})
    ledger.record_many(events)
    return ledger


def shuffled(history: ObjectiveHistory, seed: int) -> list[DomainEvent]:
    body = list(history.body)
    random.Random(seed).shuffle(body)
    return [*history.formed, *body, *history.dissolved]


query_dates = st.dates(FORMED - dt.timedelta(days=30), FORMED + dt.timedelta(days=SPAN + 300))


@SETTINGS
@given(objective_histories(), query_dates, st.sampled_from(PERIODS),
       st.sampled_from((30, 365, 1000)), st.integers(0, 10**6))
def test_report_equals_the_naive_reference_in_any_recording_order(
        history: ObjectiveHistory, as_of: dt.date, period: str | None, limit: int,
        seed: int) -> None:
    ledger = ledger_of(shuffled(history, seed))
    table = ledger.report("objectives", as_of=as_of, period=period,
                          max_days_between_evaluations=limit)
    expected = reference(history.events, as_of, period, limit)
    assert table.columns == OBJECTIVE_COLUMNS
    assert list(table.groups) == expected
    assert table.total is not None
    assert table.total[4:7] == (len(expected), sum(int(r[5]) for r in expected),  # type: ignore[call-overload]
                                sum(int(r[6]) for r in expected))  # type: ignore[call-overload]
    assert table.total[11] == sum(int(r[11]) for r in expected)  # type: ignore[call-overload]
    by_pid = ledger.report("objectives", as_of=as_of, period=period, by="partnership",
                           max_days_between_evaluations=limit)
    for row in by_pid:
        mine = [r for r in expected if r[1] == row["partnership"]]
        assert row["objectives"] == len(mine)
        assert row["evaluations"] == sum(int(r[5]) for r in mine)  # type: ignore[call-overload]
        assert row["never_independently_evaluated"] == sum(1 for r in mine if r[9] is None)
        assert row["overdue"] == sum(int(r[11]) for r in mine)  # type: ignore[call-overload]
    assert sum(len([r for r in expected if r[1] == row["partnership"]]) for row in by_pid) \
        == len(expected)
    only_p = ledger.report("objectives", as_of=as_of, period=period, partnership_id="p",
                           max_days_between_evaluations=limit)
    assert list(only_p.groups) == reference(history.events, as_of, period, limit, "p")


@SETTINGS
@given(objective_histories(), query_dates, st.sampled_from(("academic_year", "term")))
def test_by_period_kind_is_each_period_as_of_its_last_day(
        history: ObjectiveHistory, as_of: dt.date, kind: str) -> None:
    ledger = ledger_of(history.events)
    table = ledger.report("objectives", as_of=as_of, by=kind)
    assert table.total is None
    for row in table:
        label = str(row[kind])
        p = parse_period(label if kind == "academic_year" else label.replace(" ", ":"))
        expected = reference(history.events, min(p.end, as_of), None, 365)
        assert row["objectives"] == len(expected)
        window = [e for e in history.events if isinstance(e, EvaluationRecorded)
                  and p.start <= e.occurred_on <= min(p.end, as_of)
                  and (e.objective_id, e.partnership_id) in {(r[0], r[1]) for r in expected}]
        assert row["evaluations"] == len(window)


def facts_of(events: list[DomainEvent]) -> list[Fact]:
    return [Fact(i + 1, T0, e) for i, e in enumerate(events)
            if isinstance(e, ObjectiveSet | EvaluationRecorded | PartnershipDissolved)]


@SETTINGS
@given(objective_histories(), st.integers(0, 10**6), query_dates)
def test_state_is_canonical_data_and_round_trips(history: ObjectiveHistory, seed: int,
                                                 as_of: dt.date) -> None:
    one, two = Objectives(), Objectives()
    assert isinstance(one, Stateful)
    facts = facts_of(history.events)
    for fact in facts:
        one.apply(fact)
    mixed = list(facts)
    random.Random(seed).shuffle(mixed)
    for fact in mixed:
        two.apply(fact)
    query = Query(as_of=as_of)
    two.report(query)  # asking changes nothing
    assert one.dump_state() == two.dump_state()
    restored = Objectives()
    restored.load_state(one.dump_state())
    assert restored.report(query) == one.report(query)
    assert restored.dump_state() == one.dump_state()
    # retracting every evaluation leaves the state of never having seen them
    only_sets = Objectives()
    for fact in facts:
        if not isinstance(fact.event, EvaluationRecorded):
            only_sets.apply(fact)
    for fact in facts:
        if isinstance(fact.event, EvaluationRecorded):
            one.retract(fact)
    assert one.dump_state() == only_sets.dump_state()


def test_load_state_refuses_bad_data() -> None:
    p = Objectives()
    p.apply(Fact(1, T0, ObjectiveSet(partnership_id="p", occurred_on=FORMED, event_id="s",
                                     objective_id="o", text="t")))
    data = p.dump_state()
    with pytest.raises(ValueError, match="fresh instance"):
        p.load_state(data)
    with pytest.raises(msgspec.DecodeError):
        Objectives().load_state(b"not msgpack")
    other = msgspec.msgpack.decode(data)
    other["version"] = 99
    with pytest.raises(ValueError, match="version 99"):
        Objectives().load_state(msgspec.msgpack.encode(other))


@SETTINGS
@given(objective_histories(), query_dates, st.sampled_from((None, "partnership",
                                                            "academic_year")),
       st.sampled_from((None, "2008/09")))
def test_explain_contributions_sum_to_every_row(history: ObjectiveHistory, as_of: dt.date,
                                                by: str | None, period: str | None) -> None:
    ledger = ledger_of(history.events)
    table = ledger.report("objectives", as_of=as_of, by=by, period=period)
    labels = {str(r[0]) for r in table.rows}
    for label in labels:
        shown, parts = explain(ledger, "objectives", as_of=as_of, by=by, group=label,
                               period=period)
        assert shown == table
        rows = [r for r in table.to_dicts() if r[table.columns[0]] == label]
        if label == "total" and table.total is not None:
            rows = [table.totals] if table.totals is not None else []
        for measure in ("objectives", "evaluations", "independent_evaluations"):
            assert sum(p.values.get(measure, 0) for p in parts) == sum(
                int(r[measure] or 0) for r in rows), (label, measure)  # type: ignore[call-overload]


def test_a_story_of_one_objective() -> None:
    day = dt.date
    ledger = ledger_of([
        PartnershipFormed(partnership_id="p", occurred_on=FORMED, event_id="f", name="P",
                          hub_school_id="s"),
        ObjectiveSet(partnership_id="p", occurred_on=day(2006, 9, 1), event_id="s1",
                     objective_id="obj-2hours", text="two hours of PE"),
        EvaluationRecorded(partnership_id="p", occurred_on=day(2007, 7, 25), event_id="e1",
                           objective_id="obj-2hours", outcome="86%", independent=True),
        EvaluationRecorded(partnership_id="p", occurred_on=day(2008, 3, 1), event_id="e2",
                           objective_id="obj-2hours", outcome="self-review"),
    ])
    row = ledger.report("objectives", as_of=day(2008, 7, 31)).row("obj-2hours")
    assert row["evaluations"] == 2
    assert row["independent_evaluations"] == 1
    assert row["last_evaluated_on"] == "2008-03-01"
    assert row["days_since_evaluation"] == (day(2008, 7, 31) - day(2008, 3, 1)).days
    assert row["days_since_independent"] == (day(2008, 7, 31) - day(2007, 7, 25)).days
    assert row["overdue"] == 1
    assert row["last_outcome"] == "self-review"
    later = ledger.report("objectives", as_of=day(2008, 7, 31),
                          max_days_between_evaluations=400).row("obj-2hours")
    assert later["overdue"] == 0
    # a correction making the self-review independent is followed
    ledger.record(EventCorrected(
        partnership_id="p", occurred_on=day(2008, 3, 1), event_id="fix", target_event_id="e2",
        reason="was external", replacement=EvaluationRecorded(
            partnership_id="p", occurred_on=day(2008, 3, 1), event_id="e2",
            objective_id="obj-2hours", outcome="external review", independent=True)))
    fixed = ledger.report("objectives", as_of=day(2008, 7, 31)).row("obj-2hours")
    assert fixed["independent_evaluations"] == 2
    assert fixed["overdue"] == 0
    with pytest.raises(ValueError, match="max_days_between_evaluations"):
        ledger.report("objectives", as_of=FORMED, max_days_between_evaluations=0)
    with pytest.raises(TypeError, match="'max_days'"):
        ledger.report("objectives", as_of=FORMED, max_days=10)


def test_registered_as_an_entry_point() -> None:
    pyproject = Path(__file__).parents[2] / "pyproject.toml"
    entries = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]["entry-points"]
    assert entries["ssp_ledger.projections"]["objectives"] == (
        "ssp_ledger_projections.objectives:Objectives")


def test_objectives_stay_in_force_until_the_dissolution_day_inclusive() -> None:
    gone = dt.date(2009, 3, 31)
    ledger = ledger_of([
        PartnershipFormed(partnership_id="p", occurred_on=FORMED, event_id="f", name="P",
                          hub_school_id="s"),
        ObjectiveSet(partnership_id="p", occurred_on=FORMED, event_id="s1", objective_id="o",
                     text="aim"),
        PartnershipDissolved(partnership_id="p", occurred_on=gone, event_id="d", reason="end"),
    ])
    assert len(ledger.report("objectives", as_of=gone)) == 1
    assert len(ledger.report("objectives", as_of=gone + dt.timedelta(days=1))) == 0
    assert len(ledger.report("objectives", as_of=gone - dt.timedelta(days=1))) == 1
