"""The projection machinery's fast paths: packed series, per-partnership indexes summed at query
time, lazily restored data-only checkpoints (stateful projections decoded, the others replayed)
and dispatch by event type. Each is checked against the plain answer it replaces."""

from __future__ import annotations

import datetime as dt
import gc
import pickle
import random
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import ClassVar

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ssp_ledger import ClubRun, Fact, GroupedIndex, Ledger, Query, Series, Table
from ssp_ledger.errors import UnknownProjection
from ssp_ledger.events import CorrectableEvent, EventCorrected, EventRetracted, SchoolJoined
from ssp_ledger.projection import (
    AdditiveProjection,
    PartitionedIndex,
    ProjectionSet,
    handled_types,
    load_projections,
)
from ssp_ledger.projection.checkpoint import (
    MAGIC,
    SAMPLE,
    STATE_VERSION,
    Part,
    PartRef,
    SetState,
    UnreadableCheckpoint,
    bytes_reader,
    decode_set,
    encode_set,
    encode_state,
    pack,
    pack_part,
    pack_pieces,
    read_header,
    unpack_part,
)
from ssp_ledger.projection.projection_set import PROMOTE_FROM, paused_gc
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


def _header(data: bytes) -> SetState:
    """The checked header of snapshot bytes."""
    return decode_set(read_header(len(data), bytes_reader(data)), len(data))


def _pieces(data: bytes) -> tuple[SetState, dict[str, Part], Part]:
    """The header, every projection's part and the facts in force of snapshot bytes."""
    raw = read_header(len(data), bytes_reader(data))
    state = decode_set(raw, len(data))
    start = len(raw)

    def part(ref: PartRef) -> Part:
        return Part(compressed=ref.compressed,
                    data=memoryview(data[start + ref.offset:start + ref.offset + ref.length]))

    return state, {name: part(ref) for name, ref in state.parts.items()}, part(state.current)


def _relaid(data: bytes, parts: Mapping[str, Part] | None = None,
            current: Part | None = None) -> bytes:
    """``data`` with some parts replaced, laid out again with every hash recomputed (what
    someone who can write the store and rehash everything could make)."""
    state, old, old_current = _pieces(data)
    return encode_set(position=state.position, latest_us=state.latest_us, names=state.names,
                      parts={**old, **(parts or {})}, current=current or old_current).join()


def _with_header(data: bytes, header: SetState | bytes) -> bytes:
    """``data``'s body behind another header (its own prefix recomputed)."""
    raw = read_header(len(data), bytes_reader(data))
    encoded = header if isinstance(header, bytes) else encode_state(header)
    return MAGIC + len(encoded).to_bytes(4, "big") + encoded + data[len(raw):]


def _flipped(data: bytes, name: str) -> bytes:
    """``data`` with one byte of part ``name`` (or of the facts in force) changed, its hash
    left as it was: an edit of the stored state."""
    raw = read_header(len(data), bytes_reader(data))
    state = decode_set(raw, len(data))
    ref = state.current if name == "current" else state.parts[name]
    at = len(raw) + ref.offset + ref.length // 2
    return data[:at] + bytes([data[at] ^ 0x5A]) + data[at + 1:]


def test_restoring_reads_only_the_projection_asked_for() -> None:
    """A cold start answers one report without reading the other projections' parts."""
    ledger = Ledger.in_memory()
    ledger.record_many(_club_history())
    data = ledger.view(None).snapshot()
    restored = _restore(data, ledger)
    broken = _restore(_relaid(data, {"leaders": Part(compressed=True,
                                                     data=memoryview(b"not a checkpoint"))}),
                      ledger)
    table = broken["participation"].report(Query(as_of=DAY))
    assert table == restored["participation"].report(Query(as_of=DAY))
    with pytest.raises(UnreadableCheckpoint, match=r"projection 'leaders' of the checkpoint at "
                                                   r"position 3 cannot be read .*not zlib data"):
        broken["leaders"]
    # a part that is valid zlib'd msgpack but not an index of this projection
    for compressed in (True, False):  # a part zlib'd or kept as it is
        bad = encode_state({"a": 1})
        part = Part(compressed=compressed, data=memoryview(pack(bad) if compressed else bad))
        wrong = _restore(_relaid(data, {"leaders": part}), ledger)
        with pytest.raises(UnreadableCheckpoint, match="leaders: state is not an index"):
            wrong["leaders"]


def test_a_ledger_built_asked_replays_only_the_projections_asked_for(tmp_path: Path) -> None:
    """``build="asked"`` (the command line's ``report`` and ``explain``): a report replays the
    log into its projection alone (with a sibling it reads when attached), a later report of
    another brings that one up to date; every table, and the state a checkpoint would save,
    is the one a ledger building all of them gives."""
    path = tmp_path / "asked.db"
    with Ledger.open(path) as ledger:
        ledger.record_many(_club_history())
    with Ledger.open(path, mode="read", build="asked") as asked, \
            Ledger.open(path, mode="read") as every:
        assert asked.build == "asked"
        assert asked.report("participation", as_of=DAY, by="school") == every.report(
            "participation", as_of=DAY, by="school")
        assert asked.view().made == ("participation",)
        assert every.view().made == tuple(every.projection_names)
        assert asked.report("funding", as_of=DAY) == every.report("funding", as_of=DAY)
        assert asked.view().made == ("funding", "participation", "staff_time_cost")
        assert asked.view().state_digest() == every.view().state_digest()
        assert asked.view().made == tuple(every.projection_names)
    with pytest.raises(ValueError, match="build must be 'all' or 'asked'"):
        Ledger.in_memory(build="every")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="a sequence of projection names; got the string"):
        Ledger.in_memory(build="asked").view(wanted="participation")
    with pytest.raises(UnknownProjection, match="no projection named 'nothing'"):
        Ledger.in_memory(build="asked").view(wanted=("nothing",))


def test_a_projection_asked_for_late_comes_with_its_siblings_in_one_replay() -> None:
    """The survey reads participation and the staff time: asked for after the set has been
    fed, the three are brought up to date by one private pass over the log, not three."""
    ledger = Ledger.in_memory()
    ledger.record_many(_club_history())
    reads: list[tuple[int, int]] = []

    def read(start: int, stop: int) -> Iterator[tuple[int, Recorded]]:
        reads.append((start, stop))
        return ledger.read(start, stop)

    asked = ProjectionSet(ledger.factories, ledger.load, read=read, build="asked")
    asked.want("leaders")
    asked.process_all(ledger.read())
    assert reads == []
    asked.want("survey")
    assert reads == [(1, asked.position)]
    assert asked.made == ("leaders", "participation", "staff_time_cost", "survey")
    every = ledger.view(None)
    query = Query(as_of=DAY, by="academic_year")
    assert asked["survey"].report(query) == every["survey"].report(query)


def test_a_sibling_is_announced_when_loaded_never_looked_up() -> None:
    """``when_loaded`` calls back at once for a loaded projection (every one of a fresh set),
    and for a restored set's when the set loads it (after its state, before anything reads
    it), once; never for a name the set does not have; a part that fails leaves it waiting
    for the load that succeeds."""
    from ssp_ledger.projection.projection_set import _Siblings

    ledger = Ledger.in_memory()
    ledger.record_many(_club_history())
    live = ledger.view(None)
    heard: list[tuple[str, object]] = []
    siblings = _Siblings(live)
    siblings.when_loaded("leaders", lambda p: heard.append(("fresh", p)))
    siblings.when_loaded("no such", lambda p: heard.append(("none", p)))
    assert heard == [("fresh", live["leaders"])]
    data = live.snapshot()
    restored = _restore(data, ledger)
    siblings = _Siblings(restored)
    siblings.when_loaded("leaders", lambda p: heard.append(("restored", p)))
    restored["participation"].report(Query(as_of=DAY))
    assert len(heard) == 1
    assert "leaders" not in restored._loaded
    leaders = restored["leaders"]
    assert heard[1:] == [("restored", leaders)]
    restored["leaders"].report(Query(as_of=DAY))
    assert len(heard) == 2
    broken = _restore(_flipped(data, "leaders"), ledger)
    _Siblings(broken).when_loaded("leaders", lambda p: heard.append(("broken", p)))
    with pytest.raises(UnreadableCheckpoint):
        broken["leaders"]
    assert len(heard) == 2


def test_a_part_is_used_only_if_it_matches_its_hash() -> None:
    """A byte of one part changed in the store (its hash in the header left alone): the other
    parts still answer; that one is refused in one line when first needed, never decoded."""
    ledger = Ledger.in_memory()
    ledger.record_many(_club_history())
    data = ledger.view(None).snapshot()
    expected = ledger.view(None)["participation"].report(Query(as_of=DAY))
    for name in ("leaders", "participation"):
        edited = _restore(_flipped(data, name), ledger)
        other = "participation" if name == "leaders" else "leaders"
        edited[other].report(Query(as_of=DAY))
        with pytest.raises(UnreadableCheckpoint) as e:
            edited[name]
        message = str(e.value)
        assert message == (f"projection {name!r} of the checkpoint at position 3 cannot be read "
                           "(its bytes do not match their hash in the header (altered in the "
                           "store))")
        with pytest.raises(UnreadableCheckpoint):  # and so is a snapshot that would copy it
            _restore(_flipped(data, name), ledger).snapshot()
    assert _restore(data, ledger)["participation"].report(Query(as_of=DAY)) == expected
    with pytest.raises(UnreadableCheckpoint, match=r"the facts in force of the checkpoint at "
                                                   r"position 3 cannot be read .*hash"):
        list(_restore(_flipped(data, "current"), ledger).contributing())


def test_a_part_read_from_a_failing_store_is_refused_in_one_line() -> None:
    """The store failing to give a part's bytes (a read error, a short read) is refused like a
    damaged part: one line, no traceback of the store's."""
    from ssp_ledger.errors import StoreError

    ledger = Ledger.in_memory()
    ledger.record_many(_club_history())
    data = ledger.view(None).snapshot()
    header = read_header(len(data), bytes_reader(data))

    def failing(offset: int, length: int) -> bytes:
        if offset >= len(header):
            msg = "disk I/O error\nsecond line"
            raise StoreError(msg)
        return data[offset:offset + length]

    def short(offset: int, length: int) -> bytes:
        end = offset + (length - 1 if offset >= len(header) else length)
        return data[offset:end]

    for read, why in ((failing, "disk I/O error"), (short, "of the part's")):
        restored = ProjectionSet.restore_from(header, len(data), read, ledger.factories,
                                              ledger.load, ledger.read)
        with pytest.raises(UnreadableCheckpoint, match=why) as e:
            restored["participation"]
        assert "\n" not in str(e.value)


@pytest.mark.parametrize("edit", ["outside", "overlap", "gap", "longer", "shorter", "order",
                                  "hash-length", "header-past-end", "cut-in-header",
                                  "body-cut", "body-longer"])
def test_a_layout_that_does_not_tile_the_state_is_refused_before_any_part_is_read(
        edit: str) -> None:
    """Offsets pointing outside the state, parts sharing bytes or leaving gaps, lengths that
    disagree with the state's size, a header longer than the state: each is refused in one
    line when the header is read, before any part is."""
    ledger = Ledger.in_memory()
    ledger.record_many(_club_history())
    data = ledger.view(None).snapshot()
    state = _header(data)
    names = sorted(state.parts)
    first, second = state.parts[names[0]], state.parts[names[1]]

    def moved(name: str, **changes: object) -> SetState:
        ref = msgspec.structs.replace(state.parts[name], **changes)
        return msgspec.structs.replace(state, parts={**state.parts, name: ref})

    def current(**changes: object) -> SetState:
        return msgspec.structs.replace(
            state, current=msgspec.structs.replace(state.current, **changes))

    raw = read_header(len(data), bytes_reader(data))
    swapped = msgspec.structs.replace(state, parts={
        **state.parts, names[0]: msgspec.structs.replace(first, offset=second.offset),
        names[1]: msgspec.structs.replace(second, offset=first.offset)})
    edited = {
        "outside": lambda: _with_header(data, current(offset=10**9)),
        "overlap": lambda: _with_header(data, moved(names[1], offset=first.offset)),
        "gap": lambda: _with_header(data, moved(names[1], offset=second.offset + 1)),
        "longer": lambda: _with_header(data, moved(names[0], length=first.length + 1)),
        "shorter": lambda: _with_header(data, current(length=state.current.length - 1)),
        "order": lambda: _with_header(data, swapped),
        "hash-length": lambda: _with_header(data, moved(names[0], sha256=b"short")),
        "header-past-end": lambda: MAGIC + (len(data) * 2).to_bytes(4, "big") + data[12:],
        "cut-in-header": lambda: data[:len(raw) - 3],
        "body-cut": lambda: data[:-5],
        "body-longer": lambda: data + b"\x00",
    }[edit]()
    reads: list[tuple[int, int]] = []
    reader = bytes_reader(edited)

    def read(offset: int, length: int) -> bytes:
        reads.append((offset, length))
        return reader(offset, length)

    with pytest.raises(ValueError, match=f"^checkpoint state is not the data-only format version "
                                         f"{STATE_VERSION}: ") as e:
        ProjectionSet.restore_from(read_header(len(edited), read), len(edited), read,
                                   ledger.factories, ledger.load, ledger.read)
    assert "\n" not in str(e.value)
    assert [offset for offset, _ in reads] == [0]  # the header alone (it is short)


def test_parts_are_compressed_only_where_it_pays() -> None:
    """A part zlib shrinks well is stored compressed; one it barely shrinks (bytes that are
    compressed already) as it is; both read back to the same bytes."""
    text = encode_state({"school": ["s1"] * 500})
    noise = random.Random(7).randbytes(4096)  # incompressible, like zlib'd dimensions
    for data, compressed in ((text, True), (noise, False)):
        part = pack_part(data)
        assert part.compressed is compressed
        assert len(part.data) < len(data) or not compressed
        assert unpack_part(part) == data


@pytest.mark.parametrize("kind", ["text", "noise", "noise then text", "text then noise",
                                  "empty"])
@pytest.mark.parametrize("size", [100, SAMPLE, SAMPLE + 1, 3 * SAMPLE])
def test_a_part_packed_in_pieces_is_the_part_packed_whole(kind: str, size: int) -> None:
    """pack_pieces (compressed as the pieces come, joined only when kept plain) gives
    pack_part's part, however the bytes are cut; a part over SAMPLE bytes whose first SAMPLE
    zlib barely shrinks is kept as it is, whatever follows."""
    rng = random.Random(size)
    text = (b"school-%d," * size)[:size]
    noise = rng.randbytes(size)
    data = {"text": text, "noise": noise, "noise then text": (noise[:size // 2] + text)[:size],
            "text then noise": (text[:size // 2] + noise)[:size], "empty": b""}[kind]
    whole = pack_part(data)
    assert unpack_part(whole) == data
    for cut in (1, 7, 4096, SAMPLE // 3, size):
        calls: list[int] = []

        def pieces(cut: int = cut, calls: list[int] = calls) -> list[bytes]:
            calls.append(1)
            return [data[i:i + cut] for i in range(0, len(data), cut)]

        part = pack_pieces(pieces)
        assert part.compressed is whole.compressed
        assert bytes(part.data) == bytes(whole.data)
        assert len(calls) == (1 if part.compressed else 2)
    if kind == "noise then text" and size >= 2 * SAMPLE:
        assert not whole.compressed  # judged by its first SAMPLE bytes, all noise


def test_a_checkpoint_in_another_format_is_refused() -> None:
    ledger = Ledger.in_memory()
    old = pickle.dumps((4, 0, None, ("participation",), {}, b""))  # an older release's format
    older = msgspec.msgpack.encode({"format": "ssp-ledger/projections", "version": 3})
    for data in (old, b"", b"\x80", older, MAGIC, MAGIC + b"\x00\x00\x00\x02\x80\x80",
                 msgspec.msgpack.encode({"format": "other", "version": 2})):
        with pytest.raises(ValueError, match=r"^checkpoint state is not the data-only format "
                                             rf"version {STATE_VERSION} \(made by an older "
                                             r"ssp-ledger\?\)$"):
            _restore(data, ledger)
    fine = ledger.view(None).snapshot()
    for other in (3, STATE_VERSION + 1):  # the format before, and one not made yet
        newer = msgspec.msgpack.encode({"format": "ssp-ledger/projections", "version": other})
        with pytest.raises(ValueError, match=rf"version {STATE_VERSION} \(it is version "
                                             rf"{other}\)"):
            _restore(_with_header(fine, newer), ledger)
    with pytest.raises(ValueError, match="holds projections"):
        ProjectionSet.restore(fine, {"seen": _Seen}, ledger.load, ledger.read)
    header = _header(fine)
    for bad, message in ((_with_header(fine, msgspec.structs.replace(header, position=-1)),
                          "negative"),
                         (_with_header(fine, msgspec.structs.replace(header, compression="lzma")),
                          "compression"),
                         (_relaid(fine, {"x": pack_part(b"")}), "unlisted")):
        with pytest.raises(ValueError, match=message):
            _restore(bad, ledger)


def test_a_damaged_map_of_facts_in_force_is_refused_on_use() -> None:
    ledger = Ledger.in_memory()
    ledger.record_many(_club_history())
    data = ledger.view(None).snapshot()
    damaged = _relaid(data, current=pack_part(encode_state({"p": {"c1": "x"}})))
    restored = _restore(damaged, ledger)
    with pytest.raises(UnreadableCheckpoint,
                       match="facts in force of the checkpoint at position 3"):
        list(restored.contributing())


def test_catching_up_nothing_leaves_the_facts_in_force_unread() -> None:
    """A cold report (restored set, no new record) never reads the map of facts in force,
    the largest part of a checkpoint; the first new record does."""
    ledger = Ledger.in_memory()
    ledger.record_many(_club_history())
    damaged = _relaid(ledger.view(None).snapshot(),
                      current=Part(compressed=True, data=memoryview(b"not zlib data")))
    restored = _restore(damaged, ledger)
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
    assert set(_header(data).parts) == {"kept"}
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


def _restored_from(stored: list[bytes], ledger: Ledger) -> ProjectionSet:
    """A set restored from the snapshot in ``stored[0]``, reading its parts from there when it
    first needs them (so replacing ``stored[0]`` is saving the checkpoint again)."""

    def read(offset: int, length: int) -> bytes:
        return stored[0][offset:offset + length]

    size = len(stored[0])
    return ProjectionSet.restore_from(read_header(size, read), size, read, ledger.factories,
                                      ledger.load, ledger.read)


def test_a_checkpoint_saved_again_since_is_not_taken_for_a_damaged_one() -> None:
    """A set restored from a stored checkpoint reads its parts later; when a runner has saved
    the checkpoint again meanwhile, the bytes at those offsets belong to another state. The set
    sees that the header changed and rebuilds what it still needs from the log instead (no
    error): the same answers and the same snapshot as a replay to its position."""
    ledger = Ledger.in_memory()
    ledger.record_many(_club_history())
    first = ledger.view(None).snapshot()
    stored = [first]
    restored = _restored_from(stored, ledger)
    expected = {name: _restore(first, ledger)[name].report(Query(as_of=DAY))
                for name in ("participation", "leaders")}
    assert restored["participation"].report(Query(as_of=DAY)) == expected["participation"]
    ledger.record(ClubRun(partnership_id="p", occurred_on=DAY, club_id="k9", school_id="s0",
                          activity="golf", participants=2, event_id="c9"))
    stored[0] = ledger.view(None).snapshot()  # saved again, at position 4
    assert restored["leaders"].report(Query(as_of=DAY)) == expected["leaders"]
    assert restored.snapshot() == first  # unread parts rebuilt, not copied from the new state
    restored.process_all(ledger.read(4))  # the facts in force, rebuilt from the log too
    assert restored.snapshot() == stored[0]


def test_a_set_restored_before_a_save_rebuilds_its_facts_in_force_from_the_log() -> None:
    ledger = Ledger.in_memory()
    ledger.record_many(_club_history())
    first = ledger.view(None).snapshot()
    stored = [first]
    restored = _restored_from(stored, ledger)
    ledger.record(ClubRun(partnership_id="p", occurred_on=DAY, club_id="c", school_id="s0",
                          activity="golf", participants=2, event_id="c9"))
    stored[0] = b"gone"  # deleted and saved shorter: nothing of it can be read
    restored.process_all(ledger.read(4))
    assert sorted(restored.contributing()) == sorted(ledger.view(None).contributing())
    assert restored["participation"].report(Query(as_of=DAY)) == \
        ledger.view(None)["participation"].report(Query(as_of=DAY))


# -- the collector around a replay


def _young() -> int:
    """Tracked objects allocated since the last collection (net of those freed)."""
    return gc.get_count()[0]


def test_a_large_pause_moves_its_objects_to_the_oldest_generation_unwalked() -> None:
    assert gc.isenabled()
    with paused_gc():
        assert not gc.isenabled()
        kept = [[i] for i in range(PROMOTE_FROM + 1_000)]  # lists: tracked containers
        assert _young() >= PROMOTE_FROM
    assert gc.isenabled()
    assert _young() < 1_000  # promoted: the first young collection will not walk them
    assert gc.get_freeze_count() == 0  # nothing left frozen
    assert any(kept[-1] is obj for obj in gc.get_objects(generation=2))
    del kept


def test_a_small_pause_leaves_the_generations_alone() -> None:
    gc.collect()
    with paused_gc():
        kept = [[i] for i in range(500)]
    assert _young() >= 500  # a live append's catch-up: its objects stay young
    assert not any(kept[-1] is obj for obj in gc.get_objects(generation=2))


def test_a_pause_leaves_the_applications_frozen_objects_frozen() -> None:
    gc.collect()
    mine = [[0]]
    gc.freeze()  # as a pre-fork server does
    try:
        frozen = gc.get_freeze_count()
        with paused_gc():
            kept = [[i] for i in range(PROMOTE_FROM + 1_000)]
        assert gc.get_freeze_count() == frozen  # not unfrozen
        assert not any(mine[0] is obj for obj in gc.get_objects(generation=2))
        # and the pause's objects left to the collector as usual (walked young, not promoted)
        assert not any(kept[-1] is obj for obj in gc.get_objects(generation=2))
        del kept
    finally:
        gc.unfreeze()


def test_a_nested_pause_promotes_once_at_the_outer_end() -> None:
    with paused_gc():
        with paused_gc():
            kept = [[i] for i in range(PROMOTE_FROM + 1_000)]
        assert not gc.isenabled()
        assert _young() >= PROMOTE_FROM  # the inner end: still paused, nothing moved
    assert any(kept[-1] is obj for obj in gc.get_objects(generation=2))
    del kept
