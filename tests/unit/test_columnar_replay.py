"""Columnar replay: batches fed to projections equal the fact-by-fact path, exactly.

A replay (``ProjectionSet.process_all``) hands ``Batched`` projections their facts in batches,
netted per series and day with numpy; a live append (``ProjectionSet.process``) feeds them one by
one. These tests hold the fast path to the slow one: the same snapshot bytes (the whole state of
every checkpointed projection) and the same tables, over random histories with corrections,
retractions and back-dated events, as of any date and as known at any recorded time.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from itertools import pairwise
from typing import ClassVar

import msgspec
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ssp_ledger import Ledger, Table
from ssp_ledger.events import (
    ClubRun,
    CompetitionHeld,
    CorrectableEvent,
    DomainEvent,
    EventCorrected,
    EventRetracted,
    LeaderTrained,
    PartnershipFormed,
    ResourceShared,
    SchoolJoined,
)
from ssp_ledger.projection import (
    AdditiveProjection,
    Fact,
    PartitionedIndex,
    ProjectionSet,
    Query,
    Series,
    columnar,
)
from ssp_ledger.projection.additive import split_by_kind
from ssp_ledger.projection.in_force import FactsInForce
from ssp_ledger.projection.projection_set import Batched
from ssp_ledger.projection.protocol import sibling_names
from ssp_ledger.projection.series import add_netted
from ssp_ledger.store import Recorded
from ssp_ledger_projections.staff_time_cost import StaffTimeCost
from tests.strategies import ACTIVITIES, FakeClock, History, dates, histories

SETTINGS = settings(max_examples=40, deadline=None)
_CORRECTABLE = (ClubRun, CompetitionHeld, LeaderTrained, ResourceShared)


def _changed(data: st.DataObject, event: CorrectableEvent) -> CorrectableEvent:
    """``event`` with other figures (a club often with another activity, so another group)."""
    day = event.occurred_on
    if isinstance(event, ClubRun):
        participants = data.draw(st.integers(0, 40))
        return msgspec.structs.replace(
            event, occurred_on=day, participants=participants,
            send_participants=data.draw(st.integers(0, participants)),
            activity=data.draw(st.sampled_from(ACTIVITIES)),
            staff_minutes=data.draw(st.integers(0, 120)))
    if isinstance(event, CompetitionHeld):
        return msgspec.structs.replace(event, occurred_on=day,
                                       participants=data.draw(st.integers(0, 200)))
    if isinstance(event, LeaderTrained):
        return msgspec.structs.replace(event, occurred_on=day, people=data.draw(st.integers(0, 20)))
    assert isinstance(event, ResourceShared)
    return msgspec.structs.replace(event, occurred_on=day,
                                   value_pence=data.draw(st.integers(0, 50_000)))


def _history(data: st.DataObject) -> list[list[DomainEvent]]:
    """Batches to record, in order: two partnerships' structure, their activity in a shuffled
    (so back-dated) order, corrections (of corrections too) and retractions, then exits."""
    parts = [data.draw(histories(pid=pid, max_activity=30)) for pid in ("p", "q")]
    activity: list[DomainEvent] = data.draw(st.permutations(
        [e for h in parts for e in h.activity]))
    amended: list[DomainEvent] = []
    live = {(e.partnership_id, e.event_id): e for e in activity
            if isinstance(e, _CORRECTABLE)}
    for n in range(data.draw(st.integers(0, 8))):
        if not live:
            break
        key = data.draw(st.sampled_from(sorted(live)))
        pid, target = key
        if data.draw(st.integers(0, 3)):
            replacement = _changed(data, live[key])
            amended.append(EventCorrected(
                partnership_id=pid, occurred_on=replacement.occurred_on, event_id=f"fix-{n}",
                target_event_id=target, reason="recount", replacement=replacement))
            live[key] = replacement
        else:
            amended.append(EventRetracted(
                partnership_id=pid, occurred_on=live[key].occurred_on, event_id=f"drop-{n}",
                target_event_id=target, reason="duplicate"))
            del live[key]
    stream = [*(e for h in parts for e in h.structure), *activity, *amended,
              *(e for h in parts for e in h.exits)]
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=4)))
    bounds = [0, *cuts, len(stream)]
    return [stream[a:b] for a, b in pairwise(bounds) if b > a]


def _recorded(data: st.DataObject) -> Ledger:
    """An in-memory ledger holding a :func:`_history`, each batch recorded a day after the
    one before."""
    clock = FakeClock()
    ledger = Ledger.in_memory(clock=clock)
    for batch in _history(data):
        ledger.record_many(batch)
        clock.advance(1)
    return ledger


def _tables(projections: ProjectionSet, day: dt.date) -> dict[tuple[str, str | None], Table]:
    return {(name, by): p.report(Query(as_of=day, by=by))
            for name, p in projections.projections.items()
            for by in (None, *p.groupings, "term")}


def _one_by_one(ledger: Ledger, records: Iterable[tuple[int, Recorded]]) -> ProjectionSet:
    out = ProjectionSet(ledger.factories, ledger.load)
    for position, recorded in records:
        out.process(position, recorded)
    return out


@SETTINGS
@given(st.data())
def test_batched_replay_equals_fact_by_fact(data: st.DataObject) -> None:
    """Every projection's state (snapshot bytes) and every table, as of any date."""
    ledger = _recorded(data)
    records = list(ledger.read())
    batched = ProjectionSet(ledger.factories, ledger.load)
    batched.batch_size = data.draw(st.integers(1, 40))  # many batches, cut anywhere
    batched.min_batch = data.draw(st.sampled_from((1, 1, 8, 30)))  # mostly columnar; small
    # queues wait for the next batch (30)
    assert any(isinstance(p, Batched) for p in batched.projections.values())
    batched.process_all(records)
    reference = _one_by_one(ledger, records)
    assert batched.position == reference.position == len(records)
    assert batched.snapshot() == reference.snapshot()
    for day in (data.draw(dates(History([], [], [], dt.date(2010, 10, 10)))),
                dt.date(2011, 7, 31)):
        assert _tables(batched, day) == _tables(reference, day)


@SETTINGS
@given(st.data())
def test_a_set_built_asked_holds_what_a_set_built_all_holds(data: st.DataObject) -> None:
    """Projections made only when asked for: before anything is fed, between two feeds
    (brought to the set's position by a private replay, several in one pass), by a look-up, or
    all at once for a snapshot. Only those made are fed; each holds exactly what it holds in
    a set that made them all from the start: the same tables and the same snapshot bytes."""
    ledger = _recorded(data)
    records = list(ledger.read())
    names = sorted(ledger.factories)
    every = ProjectionSet(ledger.factories, ledger.load)
    every.process_all(records)
    asked = ProjectionSet(ledger.factories, ledger.load, read=ledger.read, build="asked")
    asked.batch_size = data.draw(st.integers(1, 40))
    assert asked.made == ()
    cuts = sorted(data.draw(st.lists(st.integers(0, len(records)), max_size=3)))
    wanted: set[str] = set()
    for lo, hi in pairwise([0, *cuts, len(records)]):
        now = data.draw(st.lists(st.sampled_from(names), max_size=3))
        asked.want(*now)
        wanted.update(now)
        if data.draw(st.booleans()):
            for position, recorded in records[lo:hi]:
                asked.process(position, recorded)
        else:
            asked.process_all(records[lo:hi])
    # each wanted projection is made with the siblings it reads (the survey's, funding's)
    assert set(asked.made) == wanted.union(*(sibling_names(every[n]) for n in wanted))
    assert asked.position == every.position
    day = dt.date(2011, 7, 31)
    looked_up = data.draw(st.sampled_from(names))
    assert asked[looked_up].report(Query(as_of=day)) == every[looked_up].report(Query(as_of=day))
    assert _tables(asked, day) == _tables(every, day)
    assert asked.made == every.made == tuple(names)
    assert asked.snapshot() == every.snapshot()


@SETTINGS
@given(st.data())
def test_known_at_views_equal_a_fact_by_fact_fold(data: st.DataObject) -> None:
    """A known-at view (replayed in batches, marks kept on the way) equals folding, one by one,
    the records recorded by then."""
    clock = FakeClock()
    ledger = Ledger.in_memory(clock=clock, known_at_marks_every=3)
    times = []
    for batch in _history(data):
        ledger.record_many(batch)
        times.append(clock.now)
        clock.advance(2)
    records = list(ledger.read())
    day = dt.date(2009, 3, 31)
    with _small_batches(data.draw(st.integers(1, 9))):
        _check_known_at(data, ledger, records, times, day)


@contextmanager
def _small_batches(size: int) -> Iterator[None]:
    """Every set replays in batches of ``size`` records, each applied columnar (however few)."""
    saved = ProjectionSet.batch_size, ProjectionSet.min_batch
    ProjectionSet.batch_size, ProjectionSet.min_batch = size, 1
    try:
        yield
    finally:
        ProjectionSet.batch_size, ProjectionSet.min_batch = saved


def _check_known_at(data: st.DataObject, ledger: Ledger, records: list[tuple[int, Recorded]],
                    times: list[dt.datetime], day: dt.date) -> None:
    for known in data.draw(st.lists(st.sampled_from(times), min_size=1, max_size=3)):
        known += dt.timedelta(hours=data.draw(st.sampled_from((-1, 0, 1))))
        reference = _one_by_one(ledger, [(p, r) for p, r in records
                                         if r.recorded_at <= known])
        for name in ("participation", "leaders", "resources", "staff_time_cost"):
            by = reference[name].groupings[0]
            got = ledger.report(name, as_of=day, known_at=known, by=by)
            want = reference[name].report(Query(as_of=day, known_at=known, by=by))
            assert got == want


# ---------------------------------------------------------------- the parts, against their
# one-by-one references


def _rows(draw: st.DrawFn, width: int, big: bool) -> list[tuple[int, tuple[int, ...]]]:
    value = st.integers(-(2**40), 2**40) if big else st.integers(-50, 50)
    days = st.integers(733_000, 733_040)
    return draw(st.lists(st.tuples(days, st.tuples(*[value] * width)), max_size=60))


@settings(max_examples=80, deadline=None)
@given(st.data())
def test_series_add_many_equals_add_ordinal(data: st.DataObject) -> None:
    """Batches and single rows, in any mix and order, with queries between: the same sums and
    the same dump (days that net to zero vanish; 8-byte sums where needed)."""
    width = data.draw(st.integers(0, 3))
    one, many = Series(width), Series(width)
    for _ in range(data.draw(st.integers(1, 5))):
        rows = _rows(data.draw, width, data.draw(st.booleans()))
        for day, row in rows:
            one.add_ordinal(day, row)
        if data.draw(st.booleans()) or not rows:
            for day, row in rows:
                many.add_ordinal(day, row)
        else:
            many.add_many(np.array([d for d, _ in rows], dtype=np.int64),
                          np.array([r for _, r in rows], dtype=np.int64).reshape(len(rows), width))
        asked = data.draw(st.integers(732_990, 733_050))
        assert many.upto_ordinal(asked) == one.upto_ordinal(asked)
    assert many.dump() == one.dump()
    assert many.first_day() == one.first_day()


def test_series_add_many_of_values_near_64_bits_takes_the_row_by_row_path() -> None:
    """Rows too large for the overflow-free numpy sums are added one by one (same sums, and the
    same OverflowError once a sum leaves 8 bytes)."""
    one, many = Series(1), Series(1)
    huge = 2**61
    for day in (733_001, 733_000, 733_002):
        one.add_ordinal(day, (huge,))
        many.add_many(np.array([day], dtype=np.int64), np.array([[huge]], dtype=np.int64))
        assert many.dump() == one.dump()
    assert many.upto_ordinal(733_002) == (3 * huge,)
    one.add_ordinal(733_003, (huge,))
    many.add_many(np.array([733_003], dtype=np.int64), np.array([[huge]], dtype=np.int64))
    with pytest.raises(OverflowError):
        one.dump()
    with pytest.raises(OverflowError):
        many.dump()


def test_series_add_many_refuses_rows_of_the_wrong_shape() -> None:
    with pytest.raises(ValueError, match="rows of shape"):
        Series(2).add_many(np.array([733_000], dtype=np.int64), np.zeros((1, 3), dtype=np.int64))


_DIMS = ("school", "activity")


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(
    st.sampled_from(("p", "q", "r")), st.integers(733_000, 733_030),
    st.sampled_from(("s0", "s1", "s2", ("s0", "s2"), ("s1",), ())),
    st.sampled_from(ACTIVITIES), st.tuples(st.integers(-9, 9), st.integers(-(2**33), 2**33)),
), max_size=50))
def test_add_columns_equals_add_one_by_one(rows: list[tuple[str, int, str | tuple[str, ...],
                                                              str, tuple[int, int]]]) -> None:
    """Groups named by several rows or none, negated rows, sums beyond 4 bytes."""
    one = PartitionedIndex(_DIMS, ("n", "pence"))
    for pid, day, school, activity, values in rows:
        one.add(pid, dt.date.fromordinal(day), {"school": school, "activity": activity}, values)
    many = PartitionedIndex(_DIMS, ("n", "pence"))
    keyed = PartitionedIndex(_DIMS, ("n", "pence"))  # rows as key tuples (the replay's form)
    half = len(rows) // 2
    for batch in (rows[:half], rows[half:]):
        many.add_columns([r[0] for r in batch], [r[1] for r in batch],
                         {"school": [r[2] for r in batch], "activity": [r[3] for r in batch]},
                         [r[4] for r in batch])
        keyed.add_keyed([(r[0], r[2], r[3]) for r in batch], [r[1] for r in batch],
                        np.array([r[4] for r in batch], dtype=np.int64).reshape(len(batch), 2))
        # a grouped query over all partnerships between batches (it builds structures that
        # the next batch must not leave stale)
        many.table("t", Query(as_of=dt.date.fromordinal(733_020), by="school"))
        keyed.table("t", Query(as_of=dt.date.fromordinal(733_020), by="school"))
    assert many.dump() == one.dump()
    assert keyed.dump() == one.dump()
    for pid in (None, "p", "q"):
        for by in (None, "school", "activity", "term"):
            query = Query(as_of=dt.date.fromordinal(733_020), by=by, partnership_id=pid)
            assert many.table("t", query) == one.table("t", query)
            assert keyed.table("t", query) == one.table("t", query)


@settings(max_examples=80, deadline=None)
@given(st.data())
def test_add_keyed_of_one_group_a_dimension_equals_add_one_by_one(data: st.DataObject) -> None:
    """The keyed path proper (one group a dimension, small values): each dimension netted per
    (series, day), the partnerships' totals netted from the dimension leaving the fewest rows
    and the index's total from theirs; with no dimension at all, with sums that outgrow 4 bytes
    (or the packed form: added as arrays), on top of rows added one by one."""
    dimensions = ("school", "activity", "setting")[:data.draw(st.integers(0, 3))]
    measures = ("n", "pence")
    groups = st.sampled_from(("a", "b", "c", "d"))
    value = st.integers(-(2**31) + 1, 2**31 - 1) if data.draw(st.booleans()) else st.integers(
        -9, 9)
    row = st.tuples(st.sampled_from(("p", "q", "r")), st.integers(733_000, 733_030),
                    st.tuples(*[groups] * len(dimensions)), st.tuples(value, value))
    one = PartitionedIndex(dimensions, measures)
    keyed = PartitionedIndex(dimensions, measures)
    for before in data.draw(st.lists(row, max_size=5)):  # rows added one by one first
        for index in (one, keyed):
            index.add(before[0], dt.date.fromordinal(before[1]),
                      dict(zip(dimensions, before[2], strict=True)), before[3])
    for batch in data.draw(st.lists(st.lists(row, min_size=1, max_size=40), max_size=3)):
        for pid, day, named, values in batch:
            one.add(pid, dt.date.fromordinal(day), dict(zip(dimensions, named, strict=True)),
                    values)
        keyed.add_keyed([(r[0], *r[2]) for r in batch],
                        np.array([r[1] for r in batch], dtype=np.int64),
                        np.array([r[3] for r in batch], dtype=np.int64).reshape(len(batch), 2))
    assert keyed.dump() == one.dump()
    for by in (None, *dimensions, "term"):
        query = Query(as_of=dt.date.fromordinal(733_020), by=by)
        assert keyed.table("t", query) == one.table("t", query)


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_add_netted_equals_add_ordinal(data: st.DataObject) -> None:
    """Rows netted per (series, day) and handed to each series as packed slices (or, when a
    sum is too large for that, as arrays): the series equal ones given each row, also on top
    of rows added before (some with 8-byte sums) and with some codes going nowhere."""
    width = data.draw(st.integers(0, 3))
    big = data.draw(st.booleans())
    one = [Series(width) for _ in range(4)]
    many = [Series(width) for _ in range(4)]
    for _ in range(data.draw(st.integers(1, 3))):
        rows = _rows(data.draw, width, big)
        codes = [data.draw(st.integers(0, 4)) for _ in rows]  # 4: no series
        for code, (day, row) in zip(codes, rows, strict=True):
            if code < 4:
                one[code].add_ordinal(day, row)
        add_netted(lambda code: many[code] if code < 4 else None,
                   np.array(codes, dtype=np.int64),
                   np.array([d for d, _ in rows], dtype=np.int64),
                   np.array([r for _, r in rows], dtype=np.int64).reshape(len(rows), width))
    for a, b in zip(one, many, strict=True):
        assert b.dump() == a.dump()


@given(st.lists(st.tuples(st.sampled_from((1, "a", b"b", 2.0)), st.sampled_from((1, -1))),
                max_size=40))
def test_split_by_kind_keeps_each_class_in_order(items: list[tuple[object, int]]) -> None:
    """Classes in first-appearance order, each one's events and signs in the order given."""
    facts = [Fact(i, dt.datetime(2011, 1, 1, tzinfo=dt.UTC), event)  # type: ignore[arg-type]
             for i, (event, _) in enumerate(items)]
    signs = [sign for _, sign in items]
    expected: dict[type, tuple[list[object], list[int]]] = {}
    for (event, sign) in items:
        events, kind_signs = expected.setdefault(type(event), ([], []))
        events.append(event)
        kind_signs.append(sign if -1 in signs else 1)
    found = split_by_kind(facts, signs)
    assert list(found) == list(expected)
    assert found == expected


@given(st.lists(st.sampled_from((int, str, bytes, float)), max_size=40))
def test_grouped_gives_each_label_its_indexes_in_order(labels: list[type]) -> None:
    expected: dict[type, list[int]] = {}
    for i, label in enumerate(labels):
        expected.setdefault(label, []).append(i)
    assert columnar.grouped(labels) == list(expected.items())


class _Counting(AdditiveProjection):
    """Overrides apply/retract only: the batch path must not bypass them."""

    name: ClassVar[str] = "counting"
    groupings = dimensions = ("school",)
    measures = ("sessions",)
    handles = (ClubRun,)

    def __init__(self) -> None:
        super().__init__()
        self.seen = 0

    def contribution(self, event: CorrectableEvent
                     ) -> tuple[Mapping[str, str | Iterable[str]], tuple[int, ...]] | None:
        return ({"school": event.school_id}, (1,)) if isinstance(event, ClubRun) else None

    def apply(self, fact: Fact) -> None:
        self.seen += 1
        super().apply(fact)


def test_a_subclass_overriding_apply_only_is_fed_one_by_one() -> None:
    facts = [Fact(i, dt.datetime(2011, 1, 1, tzinfo=dt.UTC), ClubRun(
        partnership_id="p", occurred_on=dt.date(2010, 1, 1) + dt.timedelta(days=i),
        event_id=f"c{i}", club_id="c", school_id=f"s{i % 2}", activity="dance",
        participants=3, send_participants=0, staff_minutes=0, setting="after_school"))
        for i in range(5)]
    projection = _Counting()
    projection.apply_batch(facts, [1] * 5)
    assert projection.seen == 5
    assert projection.report(Query(as_of=dt.date(2011, 1, 1))).totals == {"group": "total",
                                                                          "sessions": 5}


_SCHOOL = (PartnershipFormed(partnership_id="p", occurred_on=dt.date(2006, 9, 1), event_id="f",
                             name="P", hub_school_id="s0"),
           SchoolJoined(partnership_id="p", occurred_on=dt.date(2006, 9, 1), event_id="j",
                        school_id="s0", school_name="S", phase="primary"))


class _Batches(_Counting):
    """Counts the batches it is handed (and is fed one by one otherwise)."""

    def __init__(self) -> None:
        super().__init__()
        self.batches = 0

    def apply_batch(self, facts: Sequence[Fact], signs: Sequence[int]) -> None:
        self.batches += 1
        self.index_batch(facts, signs)


def _counted_club_runs(count: int) -> tuple[Ledger, list[tuple[int, Recorded]]]:
    """A ledger counting ``count`` club runs at one school (:class:`_Batches`), and its log."""
    ledger = Ledger.in_memory(projections={"counting": _Batches})
    ledger.record_many([*_SCHOOL, *(ClubRun(
        partnership_id="p", occurred_on=dt.date(2010, 1, 1) + dt.timedelta(days=i),
        event_id=f"c{i}", club_id="c", school_id="s0", activity="dance", participants=3,
        send_participants=0, staff_minutes=0, setting="after_school") for i in range(count))])
    return ledger, list(ledger.read())


def test_a_set_built_asked_refuses_to_make_a_projection_while_feeding() -> None:
    """A projection looked up while the set applies records would miss the rest of them: the
    set refuses, naming it, and makes nothing."""
    ledger, _ = _counted_club_runs(3)
    factories = {"peeking": _Peeking, "participation": Ledger.in_memory().factories[
        "participation"]}
    asked = ProjectionSet(factories, ledger.load, read=ledger.read, build="asked")
    asked.want("peeking")
    with pytest.raises(RuntimeError, match="projection participation asked for while"):
        asked.process_all(ledger.read())
    assert asked.made == ("peeking",)
    with pytest.raises(ValueError, match="needs read"):
        ProjectionSet(factories, ledger.load, build="asked")
    with pytest.raises(ValueError, match="build must be"):
        ProjectionSet(factories, ledger.load, read=ledger.read,
                      build="some")  # type: ignore[arg-type]


class _Peeking(_Counting):
    """Looks a sibling up while applying a fact (what a projection must not do)."""

    def attach(self, siblings: Mapping[str, object]) -> None:
        self.siblings = siblings

    def apply(self, fact: Fact) -> None:
        self.siblings["participation"]  # the look-up is the point
        super().apply(fact)


def test_a_few_facts_are_applied_one_by_one_and_many_in_batches() -> None:
    """Below ``min_batch`` facts (a live catch-up) the set calls ``apply``: no array set-up."""
    ledger, records = _counted_club_runs(3)
    for least, batches, seen in ((512, 0, 3), (2, 1, 0)):
        projections = ProjectionSet(ledger.factories, ledger.load)
        projections.min_batch = least
        projections.process_all(records)
        counting = projections["counting"]
        assert isinstance(counting, _Batches)
        assert (counting.batches, counting.seen) == (batches, seen)
        assert counting.report(Query(as_of=dt.date(2011, 1, 1))).totals == {
            "group": "total", "sessions": 3}


def test_a_projection_handed_a_few_facts_a_batch_waits_for_more() -> None:
    """During a replay a queue holding fewer than ``min_batch`` facts at a batch's end keeps
    them for the next (a projection of rare classes is fed in batches too); what is left at the
    end is applied one by one. The state is the same as fact by fact."""
    ledger, records = _counted_club_runs(10)
    projections = ProjectionSet(ledger.factories, ledger.load)
    projections.batch_size, projections.min_batch = 2, 4  # 5 batches of 2 records or fewer
    projections.process_all(records)
    counting = projections["counting"]
    assert isinstance(counting, _Batches)
    assert (counting.batches, counting.seen) == (2, 2)  # 4 facts, 4 facts, then 2 one by one
    assert counting.report(Query(as_of=dt.date(2011, 1, 1))).totals == {
        "group": "total", "sessions": 10}
    assert projections.snapshot() == _one_by_one(ledger, records).snapshot()


@settings(max_examples=100, deadline=None)
@given(st.lists(st.lists(st.tuples(st.sampled_from(("p1", "p2")),
                                   st.sampled_from(("e1", "e2", "e3", "p1-0000001", "é", "a\x00")),
                                   st.integers(1, 2**40)), max_size=12), max_size=6),
       st.booleans())
def test_facts_in_force_set_many_equals_set(chunks: list[list[tuple[str, str, int]]],
                                           one_partnership: bool) -> None:
    """A replay's chunk of facts in force (one partnership's run, or mixed; ids repeated: the
    last wins), then merged: the same map and the same bytes as one set() at a time."""
    one, many = FactsInForce(), FactsInForce()
    for chunk in chunks:
        if one_partnership:
            chunk = [("p1", eid, position) for _, eid, position in chunk]
        for pid, eid, position in chunk:
            one.set(pid, eid, position)
        many.set_many([c[0] for c in chunk], [c[1] for c in chunk], [c[2] for c in chunk])
        for pid, eid, _ in chunk:
            assert many.get(pid, eid) == one.get(pid, eid)
        many.settle()
    assert many.dump() == one.dump()


def _same_day_items(cost: StaffTimeCost) -> list[tuple[object, list[tuple[dt.date, object]]]]:
    """The ids of each series' days, in the dictionaries' own orders."""
    return [(key, list(by_day.items())) for key, by_day in cost.facts.same_day.items()]


def _fed(events: Sequence[DomainEvent], cost: StaffTimeCost, cuts: list[int],
         one_by_one: bool) -> None:
    """Feed ``events`` to ``cost``: one ``apply`` at a time, or as batches cut at ``cuts``."""
    facts = [Fact(i, _RECORDED, e) for i, e in enumerate(events, start=1)
             if isinstance(e, CorrectableEvent)]
    if one_by_one:
        for fact in facts:
            cost.apply(fact)
        return
    bounds = [0, *sorted(c for c in cuts if c < len(facts)), len(facts)]
    for lo, hi in pairwise(bounds):
        if hi > lo:
            cost.apply_batch(facts[lo:hi], [1] * (hi - lo))


_RECORDED = dt.datetime(2011, 1, 1, tzinfo=dt.UTC)


@SETTINGS
@given(st.data())
def test_staff_facts_applied_in_batches_equal_fact_by_fact(data: st.DataObject) -> None:
    """The staff facts' batch of facts all applied (``StaffFacts.change_many``, a replay's
    one-pass loop): the same state bytes as ``apply`` one by one, and the same ids of each
    series' days in the same dictionary order, with many facts on a few days (shared days, days
    held from an earlier batch), staff named or not; also fed after a restore, while the days'
    ids of the restored series are still packed."""
    parts = [data.draw(histories(pid=pid, max_activity=40)) for pid in ("p", "q")]
    days = data.draw(st.lists(st.integers(0, 6), min_size=1, max_size=3))
    activity = [msgspec.structs.replace(
        e, occurred_on=e.occurred_on.replace(day=1) + dt.timedelta(days=data.draw(
            st.sampled_from(days)))) for h in parts for e in h.activity]
    events = [*(e for h in parts for e in h.structure), *data.draw(st.permutations(activity)),
              *(e for h in parts for e in h.exits)]
    cut = data.draw(st.integers(0, len(events)))
    cuts = data.draw(st.lists(st.integers(0, len(events)), max_size=5))
    reference, columns = StaffTimeCost(), StaffTimeCost()
    _fed(events[:cut], reference, [], one_by_one=True)
    _fed(events[:cut], columns, cuts, one_by_one=False)
    assert columns.dump_state() == reference.dump_state()
    assert _same_day_items(columns) == _same_day_items(reference)
    if data.draw(st.booleans()):  # restored: the ids of the days still packed
        state = reference.dump_state()
        reference, columns = StaffTimeCost(), StaffTimeCost()
        reference.load_state(state)
        columns.load_state(state)
    _fed(events[cut:], reference, [], one_by_one=True)
    _fed(events[cut:], columns, cuts, one_by_one=False)
    assert columns.dump_state() == reference.dump_state()
    assert _same_day_items(columns) == _same_day_items(reference)
