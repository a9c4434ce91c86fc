"""The projection machinery's fast paths: packed series, per-partnership indexes summed at query
time, lazily restored data-only checkpoints (stateful projections decoded, the others replayed)
and dispatch by event type. Each is checked against the plain answer it replaces."""

from __future__ import annotations

import datetime as dt
import pickle
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import ClassVar

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ssp_ledger import ClubRun, Fact, GroupedIndex, Ledger, Query, Series, Table
from ssp_ledger.events import CorrectableEvent, EventCorrected, EventRetracted, SchoolJoined
from ssp_ledger.projection import (
    AdditiveProjection,
    PartitionedIndex,
    ProjectionSet,
    handled_types,
    load_projections,
)
from ssp_ledger.projection.checkpoint import STATE_VERSION as V
from ssp_ledger.projection.checkpoint import SetState, encode_state, pack
from ssp_ledger.store import Recorded
from tests.strategies import History, histories

SETTINGS = settings(max_examples=25, deadline=None)
ADDITIVE = ("participation", "leaders", "resources")
DAY = dt.date(2010, 7, 31)


def _tables(ledger: Ledger, name: str, day: dt.date, partnership_id: str | None = None
            ) -> dict[str | None, Table]:
    projection = ledger.view(None)[name]
    return {by: ledger.report(name, as_of=day, by=by, partnership_id=partnership_id)
            for by in (None, *projection.groupings, "academic_year", "term")}


def _add(rows: dict[str, list[int]], table: Table) -> None:
    for row in table.rows:
        label = str(row[0])
        sums = rows.setdefault(label, [0] * (len(row) - 1))
        for j, value in enumerate(row[1:]):
            assert isinstance(value, int)
            sums[j] += value


@SETTINGS
@given(st.lists(histories(max_activity=15), min_size=2, max_size=3), st.data())
def test_all_partnerships_answer_the_sum_of_each(found: list[History], data: st.DataObject
                                                 ) -> None:
    """No all-partnerships index is kept: its answer must equal adding up the partnerships."""
    ledger = Ledger.in_memory()
    pids = [f"p{i}" for i in range(len(found))]
    for pid, history in zip(pids, found, strict=True):
        # histories() draws partnership "p": give each its own id
        ledger.record_many([_renamed(e, pid) for e in history.events])
    day = data.draw(st.dates(dt.date(2006, 8, 1), dt.date(2011, 1, 1)))
    for name in ADDITIVE:
        together = _tables(ledger, name, day)
        for by, table in together.items():
            if by == "phase":
                continue  # derived from schools, whose ids repeat across partnerships
            expected: dict[str, list[int]] = {}
            for pid in pids:
                _add(expected, ledger.report(name, as_of=day, by=by, partnership_id=pid))
            got: dict[str, list[int]] = {}
            _add(got, table)
            if by is not None and by in PERIOD_BY:
                # a partnership reports periods from its own first day: zero rows may differ
                expected = {k: v for k, v in expected.items() if any(v)}
                got = {k: v for k, v in got.items() if any(v)}
            assert got == expected, (name, by)


PERIOD_BY = ("academic_year", "term")


def _renamed(event: CorrectableEvent | EventCorrected | EventRetracted, pid: str
             ) -> CorrectableEvent | EventCorrected | EventRetracted:
    return msgspec.structs.replace(event, partnership_id=pid)


@SETTINGS
@given(histories(max_activity=20), st.integers(0, 40))
def test_a_restored_set_answers_like_the_original(history: History, cut: int) -> None:
    """Snapshot, restore, load one projection, snapshot again: nothing changes any answer."""
    ledger = Ledger.in_memory()
    events = history.events
    ledger.record_many(events[:cut] or events[:1])
    live = ledger.view(None)
    restored = _restore(live.snapshot(), ledger)
    assert restored.names == live.names
    assert restored.latest == live.latest is not None
    assert restored["participation"].report(Query(as_of=DAY)) == \
        live["participation"].report(Query(as_of=DAY))
    # re-snapshot a partly loaded set (unloaded parts are copied as they are), restore again
    again = _restore(restored.snapshot(), ledger)
    rest = events[max(cut, 1):]
    if rest:
        ledger.record_many(rest)
    records = list(ledger.read(again.position + 1))
    again.process_all(records)
    live = ledger.view(None)
    for name in live.names:
        projection = live[name]
        for by in (None, *projection.groupings):
            query = Query(as_of=DAY, by=by)
            assert again[name].report(query) == projection.report(query), (name, by)
    assert sorted(again.contributing()) == sorted(live.contributing())


def _restore(data: bytes, ledger: Ledger) -> ProjectionSet:
    return ProjectionSet.restore(data, ledger.factories, ledger.load, ledger.read)


def _replace_part(data: bytes, name: str, part: bytes) -> bytes:
    state = msgspec.msgpack.decode(data, type=SetState)
    return msgspec.msgpack.encode(msgspec.structs.replace(state, parts={**state.parts, name: part}))


def test_restoring_reads_only_the_projection_asked_for() -> None:
    """A cold start answers one report without decoding the other projections."""
    ledger = Ledger.in_memory()
    ledger.record_many(_club_history())
    data = ledger.view(None).snapshot()
    restored = _restore(data, ledger)
    broken = _restore(_replace_part(data, "leaders", b"not a checkpoint"), ledger)
    table = broken["participation"].report(Query(as_of=DAY))
    assert table == restored["participation"].report(Query(as_of=DAY))
    with pytest.raises(ValueError, match=r"projection 'leaders' of the checkpoint at position 3 "
                                         r"cannot be read .*not zlib data"):
        broken["leaders"]
    # a part that is valid zlib'd msgpack but not an index of this projection
    wrong = _restore(_replace_part(data, "leaders", pack(encode_state({"a": 1}))), ledger)
    with pytest.raises(ValueError, match="leaders: state is not an index"):
        wrong["leaders"]


def test_a_checkpoint_in_another_format_is_refused() -> None:
    ledger = Ledger.in_memory()
    old = pickle.dumps((4, 0, None, ("participation",), {}, b""))  # an older release's format
    for data in (old, b"", b"\x80", msgspec.msgpack.encode({"format": "other", "version": 2})):
        with pytest.raises(ValueError, match=rf"^checkpoint state is not the data-only format "
                                             rf"version {V} \(made by an older ssp-ledger\?\)$"):
            _restore(data, ledger)
    for other in (V - 1, V + 1):  # the previous version (another layout) and a newer one
        data = msgspec.msgpack.encode({"format": "ssp-ledger/projections", "version": other})
        with pytest.raises(ValueError, match=rf"version {V} \(it is version {other}\)"):
            _restore(data, ledger)
    fine = ledger.view(None).snapshot()
    with pytest.raises(ValueError, match="holds projections"):
        ProjectionSet.restore(fine, {"seen": _Seen}, ledger.load, ledger.read)
    header = msgspec.msgpack.decode(fine, type=SetState)
    for bad, message in ((msgspec.structs.replace(header, position=-1), "negative"),
                         (msgspec.structs.replace(header, compression="lzma"), "compression"),
                         (msgspec.structs.replace(header, parts={"x": b""}), "unlisted")):
        with pytest.raises(ValueError, match=message):
            _restore(msgspec.msgpack.encode(bad), ledger)


def test_a_damaged_map_of_facts_in_force_is_refused_on_use() -> None:
    ledger = Ledger.in_memory()
    ledger.record_many(_club_history())
    header = msgspec.msgpack.decode(ledger.view(None).snapshot(), type=SetState)
    damaged = msgspec.structs.replace(header, current=pack(encode_state({"p": {"c1": "x"}})))
    restored = _restore(msgspec.msgpack.encode(damaged), ledger)
    with pytest.raises(ValueError, match="facts in force of the checkpoint at position 3"):
        list(restored.contributing())


def test_catching_up_nothing_leaves_the_facts_in_force_unread() -> None:
    """A cold report (restored set, no new record) never decodes the map of facts in force,
    the largest part of a checkpoint; the first new record does."""
    ledger = Ledger.in_memory()
    ledger.record_many(_club_history())
    header = msgspec.msgpack.decode(ledger.view(None).snapshot(), type=SetState)
    damaged = msgspec.structs.replace(header, current=b"not zlib data")
    restored = _restore(msgspec.msgpack.encode(damaged), ledger)
    restored.process_all(iter(()))
    expected = ledger.view(None)["participation"].report(Query(as_of=DAY))
    assert restored["participation"].report(Query(as_of=DAY)) == expected
    ledger.record(ClubRun(partnership_id="p", occurred_on=DAY, club_id="k9", school_id="s0",
                          activity="golf", participants=2, event_id="c9"))
    with pytest.raises(ValueError, match="facts in force of the checkpoint at position 3"):
        restored.process_all(ledger.read(4))


def _club_history() -> list[CorrectableEvent]:
    from ssp_ledger import PartnershipFormed

    return [
        PartnershipFormed(partnership_id="p", occurred_on=dt.date(2006, 9, 1), event_id="f",
                          name="P", hub_school_id="s0"),
        SchoolJoined(partnership_id="p", occurred_on=dt.date(2006, 9, 1), event_id="j",
                     school_id="s0", school_name="S0", phase="secondary"),
        ClubRun(partnership_id="p", occurred_on=dt.date(2007, 1, 9), event_id="c1", club_id="c",
                school_id="s0", activity="football", participants=12),
    ]


class _Seen:
    """A fake projection that records what the set offers it."""

    name: ClassVar[str] = "seen"
    groupings: ClassVar[tuple[str, ...]] = ()
    handles: ClassVar[tuple[type[CorrectableEvent], ...] | None] = (ClubRun,)

    def __init__(self) -> None:
        self.log: list[tuple[str, str, int]] = []

    def apply(self, fact: Fact) -> None:
        self.log.append(("apply", type(fact.event).__name__, fact.position))

    def retract(self, fact: Fact) -> None:
        self.log.append(("retract", type(fact.event).__name__, fact.position))

    def report(self, query: Query) -> Table:
        return Table.answer(self.name, query, ("group", "facts"), [("total", len(self.log))])


class _SeenAll(_Seen):
    name: ClassVar[str] = "seen_all"
    handles: ClassVar[tuple[type[CorrectableEvent], ...] | None] = None


def test_facts_are_offered_by_event_type() -> None:
    ledger = Ledger.in_memory(projections={"seen": _Seen, "seen_all": _SeenAll})
    events = _club_history()
    ledger.record_many(events)
    ledger.record(EventCorrected(
        partnership_id="p", occurred_on=dt.date(2007, 1, 9), event_id="fix",
        target_event_id="c1", reason="typo",
        replacement=ClubRun(partnership_id="p", occurred_on=dt.date(2007, 1, 9), event_id="c1",
                            club_id="c", school_id="s0", activity="football", participants=13)))
    live = ledger.view(None)
    seen = live["seen"]
    every = live["seen_all"]
    assert isinstance(seen, _Seen)
    assert isinstance(every, _SeenAll)
    assert seen.log == [("apply", "ClubRun", 3), ("retract", "ClubRun", 3),
                        ("apply", "ClubRun", 4)]
    assert [kind for _, kind, _ in every.log] == [
        "PartnershipFormed", "SchoolJoined", "ClubRun", "ClubRun", "ClubRun"]
    assert handled_types(seen) == (ClubRun,)
    assert handled_types(every) is None


def test_standard_projections_declare_what_they_handle() -> None:
    """Every standard projection says which facts it needs (funding: once attached)."""
    for name, factory in load_projections().items():
        live = ProjectionSet({name: factory, **_staff(name)}, _no_load)
        handles = handled_types(live[name])
        assert handles is not None, name


def _staff(name: str) -> dict[str, type]:
    if name != "funding":
        return {}
    from ssp_ledger_projections.staff_time_cost import StaffTimeCost

    return {"staff_time_cost": StaffTimeCost}


def _no_load(position: int) -> Recorded:
    raise AssertionError(position)


@given(st.lists(st.tuples(st.integers(700_000, 740_000), st.integers(-50, 50),
                          st.integers(-50, 50)), max_size=80),
       st.integers(699_000, 741_000))
def test_a_series_survives_dump_and_load(items: list[tuple[int, int, int]], day: int) -> None:
    series = Series(2)
    for i, (d, a, b) in enumerate(items):
        series.add_ordinal(d, (a, b))
        if i == len(items) // 2:
            series.upto_ordinal(day)  # half merged, half pending
    copy = Series.load(series.dump())
    expected = (sum(a for d, a, _ in items if d <= day), sum(b for d, _, b in items if d <= day))
    assert copy.upto_ordinal(day) == series.upto_ordinal(day) == expected
    assert copy.first_day() == series.first_day()
    copy.add_ordinal(day, (1, 1))
    assert copy.upto_ordinal(day) == (expected[0] + 1, expected[1] + 1)


@given(st.lists(st.tuples(st.integers(700_000, 700_050),
                          st.integers(-(2**40), 2**40)), max_size=40),
       st.integers(699_990, 700_060))
def test_series_sums_beyond_four_bytes_stay_exact(items: list[tuple[int, int]], day: int) -> None:
    """Sums start in 4-byte arrays and widen to 8 bytes when one needs it, in either build path."""
    series = Series(1)
    for i, (d, v) in enumerate(items):
        series.add_ordinal(d, (v,))
        if i % 7 == 3:
            series.upto_ordinal(day)
    assert series.upto_ordinal(day) == (sum(v for d, v in items if d <= day),)
    copy = Series.load(series.dump())
    assert copy.upto_ordinal(day) == series.upto_ordinal(day)


def _index() -> GroupedIndex:
    index = GroupedIndex(("school", "activity"), ("sessions",))
    index.add(dt.date(2008, 1, 8), {"school": "s1", "activity": "dance"}, (1,))
    index.add(dt.date(2008, 1, 9), {"school": "s2", "activity": "golf"}, (2,))
    return index


def test_a_loaded_index_decodes_only_the_dimensions_read() -> None:
    """A dimension no query reads is never decoded: damage there goes unnoticed until read."""
    state = _index().dump()
    broken = msgspec.structs.replace(
        state, groups={**state.groups, "activity": msgspec.Raw(b"\xc1")})  # invalid msgpack
    copy = GroupedIndex.load(broken)
    end = dt.date(2009, 1, 1)
    assert copy.groups("school", None, end) == {"s1": (1,), "s2": (2,)}
    assert copy.between(None, end) == (3,)
    assert copy.dump() == broken  # an undecoded dimension is written back as it was read
    with pytest.raises(ValueError, match="index state of dimension 'activity'"):
        copy.groups("activity", None, end)


def test_a_loaded_index_keeps_answering_and_adding() -> None:
    copy = GroupedIndex.load(_index().dump())
    end = dt.date(2009, 1, 1)
    copy.add(dt.date(2008, 1, 10), {"school": "s1", "activity": "golf"}, (4,))
    assert copy.groups("activity", None, end) == {"dance": (1,), "golf": (6,)}
    again = GroupedIndex.load(copy.dump())
    assert again.groups("school", None, end) == {"s1": (5,), "s2": (2,)}
    whole = _index()
    whole.add(dt.date(2008, 1, 10), {"school": "s1", "activity": "golf"}, (4,))
    assert encode_state(again.dump()) == encode_state(whole.dump())


def test_index_states_are_checked() -> None:
    state = _index().dump()
    with pytest.raises(ValueError, match="do not match its groups"):
        GroupedIndex.load(msgspec.structs.replace(state, dimensions=["school"]))
    with pytest.raises(ValueError, match="width 1 where the index has 2 measures"):
        GroupedIndex.load(msgspec.structs.replace(state, measures=["a", "b"]))
    index = PartitionedIndex(("school", "activity"), ("sessions",))
    index.add("p", dt.date(2008, 1, 8), {"school": "s1", "activity": "dance"}, (1,))
    whole = index.dump()
    assert PartitionedIndex.load(whole).dump() == whole
    other = msgspec.structs.replace(whole, parts={"p": msgspec.structs.replace(
        whole.parts["p"], dimensions=["activity", "school"])})
    with pytest.raises(ValueError, match="index state of partnership 'p'"):
        PartitionedIndex.load(other)


class _Kept(_Seen):
    """A fake stateful projection: its state is its log, as msgpack."""

    name: ClassVar[str] = "kept"
    events: ClassVar[list[str]] = []

    def attach(self, siblings: Mapping[str, object]) -> None:
        _Kept.events.append("attach")

    def dump_state(self) -> bytes:
        return msgspec.msgpack.encode(self.log)

    def load_state(self, data: bytes) -> None:
        _Kept.events.append("load_state")
        self.log = msgspec.msgpack.decode(data, type=list[tuple[str, str, int]])


def test_stateful_projections_are_loaded_and_the_others_replayed() -> None:
    """The snapshot holds the Stateful projection; the other one is replayed from the log, up to
    the checkpoint's position only, when first used."""
    factories = {"seen": _Seen, "kept": _Kept}
    ledger = Ledger.in_memory(projections=factories)
    ledger.record_many(_club_history())
    live = ledger.view(None)
    data = live.snapshot()
    assert set(msgspec.msgpack.decode(data, type=SetState).parts) == {"kept"}
    ledger.record(ClubRun(partnership_id="p", occurred_on=dt.date(2007, 1, 10), event_id="c2",
                          club_id="c", school_id="s0", activity="dance", participants=3))
    reads: list[tuple[int, int]] = []

    def read(start: int, stop: int) -> Iterator[tuple[int, Recorded]]:
        reads.append((start, stop))
        return ledger.read(start, stop)

    _Kept.events.clear()
    restored = ProjectionSet.restore(data, factories, ledger.load, read)
    assert (_Kept.events, reads) == ([], [])  # nothing is read before it is needed
    kept = restored["kept"]
    assert (_Kept.events, reads) == (["attach", "load_state"], [])
    seen = restored["seen"]
    assert reads == [(1, 3)]
    assert isinstance(seen, _Seen)
    assert isinstance(kept, _Kept)
    assert seen.log == kept.log == [("apply", "ClubRun", 3)]
    restored.process_all(ledger.read(restored.position + 1))
    assert seen.log == kept.log == [("apply", "ClubRun", 3), ("apply", "ClubRun", 4)]
    assert restored.snapshot() == ledger.view(None).snapshot()


def test_a_replay_needs_the_log_up_to_the_checkpoint() -> None:
    ledger = Ledger.in_memory(projections={"seen": _Seen})
    ledger.record_many(_club_history())
    data = ledger.view(None).snapshot()
    restored = ProjectionSet.restore(data, {"seen": _Seen}, ledger.load,
                                     lambda start, stop: ledger.read(start, 2))
    with pytest.raises(ValueError, match="the log ends at position 2, before the checkpoint's 3"):
        restored["seen"]


def test_no_code_runs_on_loading_a_checkpoint() -> None:
    """The package that encodes checkpoints uses no serialiser able to build arbitrary objects."""
    import ssp_ledger.projection as package

    for path in Path(package.__file__).parent.glob("*.py"):
        source = path.read_text()
        for word in ("import pickle", "from pickle", "marshal", "copyreg", "dill", "eval(",
                     "exec("):
            assert word not in source, (path.name, word)


class _Trained(AdditiveProjection):
    name: ClassVar[str] = "trained"
    groupings: ClassVar[tuple[str, ...]] = ("school",)
    dimensions: ClassVar[tuple[str, ...]] = ("school",)
    measures: ClassVar[tuple[str, ...]] = ("clubs", "attendances")

    def contribution(self, event: CorrectableEvent
                     ) -> tuple[Mapping[str, str], tuple[int, ...]] | None:
        if isinstance(event, ClubRun):
            return {"school": event.school_id}, (1, event.participants)
        return None


class _TrainedWithMore(_Trained):
    def __init__(self) -> None:
        super().__init__()
        self.seen = 0


def test_an_additive_projection_checkpoints_its_index_only_when_that_is_all_it_keeps() -> None:
    trained, more = _Trained(), _TrainedWithMore()
    for i, event in enumerate(_club_history(), start=1):
        for p in (trained, more):
            p.apply(Fact(i, dt.datetime(2010, 1, 1, tzinfo=dt.UTC), event))
    copy = _Trained()
    copy.load_state(trained.dump_state())
    query = Query(as_of=DAY, by="school")
    assert copy.report(query) == trained.report(query)
    assert copy.dump_state() == trained.dump_state()
    with pytest.raises(NotImplementedError, match="trained: keeps seen besides its index"):
        more.dump_state()
    other = PartitionedIndex(("activity",), ("clubs", "attendances"))
    with pytest.raises(ValueError, match=r"trained: state indexes dimensions \['activity'\]"):
        copy.load_state(encode_state(other.dump()))
