"""The packed map of facts in force behaves as a plain dict, whatever the ids and the order of
changes, merges and checkpoints (ssp_ledger.projection.in_force)."""

from __future__ import annotations

import zlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ssp_ledger.projection.checkpoint import InForceState, encode_state
from ssp_ledger.projection.in_force import (
    LONGEST,
    NUMPY_FROM,
    RETRACTED,
    FactsInForce,
    merge_appending,
    merge_numpy,
    merge_python,
)
from ssp_ledger.projection.in_force import _planes as planes

PARTNERSHIPS = st.sampled_from(["p1", "p2", "ssp-001"])
EVENT_IDS = st.one_of(
    st.builds(lambda n: f"p1-{n:07d}", st.integers(0, 300)),  # a shared prefix, one width
    st.builds(lambda n: f"e{n}", st.integers(0, 3000)),  # widths differ
    st.text(min_size=1, max_size=6),  # any text, NUL included
    st.sampled_from(["x" * (LONGEST + 1), "a\x00", "\x00", "é", "p1-", "p1"]),
)
POSITIONS = st.integers(0, 2**63 - 1)

# One step: ("set", pid, id, position), ("many", [(pid, id, position), ...]) (a replay's chunk),
# ("remove", pid, id), ("settle",), ("all",), ("cycle",)
STEPS = st.lists(st.one_of(
    st.tuples(st.just("set"), PARTNERSHIPS, EVENT_IDS, POSITIONS),
    st.tuples(st.just("many"), st.one_of(
        st.lists(st.tuples(PARTNERSHIPS, EVENT_IDS, POSITIONS), max_size=8),
        st.builds(lambda pid, ids: [(pid, f"{pid}-{n:07d}", n) for n in sorted(ids)],
                  PARTNERSHIPS, st.sets(st.integers(0, 10**6), max_size=30)))),
    st.tuples(st.just("remove"), PARTNERSHIPS, EVENT_IDS),
    st.tuples(st.sampled_from(["settle", "all", "cycle"])),
), max_size=80)


def _run(steps: list[tuple[object, ...]]) -> tuple[FactsInForce, dict[tuple[str, str], int]]:
    facts = FactsInForce()
    model: dict[tuple[str, str], int] = {}
    for step in steps:
        if step[0] == "set":
            _, pid, eid, position = step
            assert isinstance(pid, str)
            assert isinstance(eid, str)
            assert isinstance(position, int)
            facts.set(pid, eid, position)
            model[pid, eid] = position
        elif step[0] == "many":
            _, rows = step
            assert isinstance(rows, list)
            facts.set_many([r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows])
            model.update(((pid, eid), position) for pid, eid, position in rows)
        elif step[0] == "remove":
            _, pid, eid = step
            assert isinstance(pid, str)
            assert isinstance(eid, str)
            if (pid, eid) in model:
                facts.remove(pid, eid)
                del model[pid, eid]
            else:
                with pytest.raises(KeyError):
                    facts.remove(pid, eid)
        elif step[0] == "settle":
            facts.settle()
        elif step[0] == "all":
            facts.settle(everything=True)
        else:  # through a checkpoint and back
            facts = FactsInForce.load(facts.dump())
    return facts, model


@given(STEPS, st.lists(st.tuples(PARTNERSHIPS, EVENT_IDS), max_size=10))
@settings(max_examples=300, deadline=None)
def test_the_packed_map_answers_as_a_dict(steps: list[tuple[object, ...]],
                                          probes: list[tuple[str, str]]) -> None:
    facts, model = _run(steps)
    for key in [*model, *probes]:
        assert facts.get(*key) == model.get(key)
    assert sorted((p, e, v) for p, e, v in facts.items()) == sorted(
        (p, e, v) for (p, e), v in model.items())
    assert len(facts) == len(model)
    restored = FactsInForce.load(facts.dump())
    assert {(p, e): v for p, e, v in restored.items()} == model


@given(STEPS, st.randoms(use_true_random=False))
@settings(max_examples=200, deadline=None)
def test_the_same_facts_give_the_same_bytes(steps: list[tuple[object, ...]],
                                            rng: object) -> None:
    """However the facts in force were reached (order, merges, checkpoints on the way), equal
    maps dump to equal bytes: snapshots stay canonical."""
    facts, model = _run(steps)
    items = list(model.items())
    rng.shuffle(items)  # type: ignore[attr-defined]
    other = FactsInForce()
    for (pid, eid), position in items:
        other.set(pid, eid, position)
    assert other.dump() == facts.dump()


@given(st.dictionaries(EVENT_IDS, POSITIONS, max_size=40),
       st.dictionaries(EVENT_IDS, st.one_of(POSITIONS, st.just(RETRACTED)), max_size=40))
@settings(max_examples=300, deadline=None)
def test_the_numpy_merge_builds_the_reference_block(old: dict[str, int],
                                                    recent: dict[str, int]) -> None:
    block = merge_python(None, old)
    expected = merge_python(block, recent)
    got = merge_numpy(block, recent)
    if expected is None:
        assert got is None
        return
    assert got is not None
    assert got.state() == expected.state()
    first = merge_numpy(None, old)
    assert (None if first is None else first.state()) == (None if block is None else block.state())


def test_large_merges_take_the_array_path_and_keep_every_fact() -> None:
    facts = FactsInForce()
    model: dict[tuple[str, str], int] = {}
    for i in range(3 * NUMPY_FROM):
        pid = f"p{i % 2}"
        eid = f"{pid}-{(i * 7919) % 100_003:07d}"  # arrives out of order
        facts.set(pid, eid, i + 1)
        model[pid, eid] = i + 1
        if i % 1000 == 999:
            facts.settle()
    for i in range(0, 3 * NUMPY_FROM, 5):  # retract a fifth of them, correct another fifth
        pid = f"p{i % 2}"
        eid = f"{pid}-{(i * 7919) % 100_003:07d}"
        if i % 10 == 0:
            facts.remove(pid, eid)
            del model[pid, eid]
        else:
            facts.set(pid, eid, 10**12 + i)
            model[pid, eid] = 10**12 + i
    facts.settle(everything=True)
    assert {(p, e): v for p, e, v in facts.items()} == model
    assert all(facts.get(*key) == value for key, value in model.items())
    assert facts.get("p0", "p0-9999999") is None
    assert FactsInForce.load(facts.dump()).dump() == facts.dump()


def test_a_damaged_block_is_refused_in_one_line() -> None:
    data = encode_state({"p": InForceState(prefix=b"", width=5, keys=b"ab",
                                           positions=bytes(16), odd={})})
    with pytest.raises(ValueError, match="facts in force of partnership 'p'"):
        FactsInForce.load(data)


def test_ids_numbered_in_sequence_compress_to_little() -> None:
    """A snapshot stores slots and positions as byte planes: a partnership's sequential ids and
    their positions compress to a small fraction of their packed size (and load back)."""
    facts = FactsInForce()
    for i in range(20_000):
        facts.set("ssp-001", f"ssp-001-{i:07d}", 3 * i + 1)
    facts.settle(everything=True)
    data = facts.dump()
    assert len(zlib.compress(data, 1)) < len(data) // 20
    assert FactsInForce.load(data).get("ssp-001", "ssp-001-0012345") == 3 * 12345 + 1


@given(st.dictionaries(st.tuples(st.text(max_size=4), EVENT_IDS), POSITIONS, max_size=60))
@settings(max_examples=200, deadline=None)
def test_the_dump_in_pieces_is_the_map_encoded_whole(facts_in_force: dict[tuple[str, str],
                                                                          int]) -> None:
    """dump_pieces writes the map's header, then each partnership's id and state by id: the
    bytes encode_state gives the whole map (its keys sorted), any partnership ids."""
    facts = FactsInForce()
    for (pid, eid), position in facts_in_force.items():
        facts.set(pid, eid, position)
    pieces = list(facts.dump_pieces())
    whole = encode_state({pid: planes(block.state()) for pid, block in facts._blocks.items()})
    assert b"".join(pieces) == whole
    assert facts.dump() == whole


APPENDED_IDS = st.one_of(
    st.lists(st.integers(0, 10**7 - 1), unique=True, min_size=1, max_size=40).map(
        lambda ns: [f"p1-{n:07d}" for n in sorted(ns)]),  # the common case: one width, in order
    st.lists(EVENT_IDS, min_size=1, max_size=40),  # anything: usually not an append
)


@given(st.dictionaries(EVENT_IDS, POSITIONS, max_size=40), APPENDED_IDS,
       st.lists(st.one_of(POSITIONS, st.just(RETRACTED)), min_size=40, max_size=40),
       st.booleans())
@settings(max_examples=400, deadline=None)
def test_the_appending_merge_builds_the_reference_block(old: dict[str, int], ids: list[str],
                                                        positions: list[int],
                                                        after: bool) -> None:
    """merge_appending gives merge_python's block whenever it takes the merge (new ids after
    the block's last, ascending, fitting its prefix and width), and declines otherwise."""
    if after and old:  # new ids sorting after the old ones
        top = max(key.encode() for key in old if "\x00" not in key) if any(
            "\x00" not in key for key in old) else b""
        ids = [id_ for id_ in ids if id_.encode() > top] or ids
    recent = dict(zip(ids, positions, strict=False))
    block = merge_python(None, old)
    expected = merge_python(block, recent)
    got = merge_appending(block, list(recent), list(recent.values()), least=0)
    if got is False:
        return
    assert got is not None
    assert expected is not None
    assert got.state() == expected.state()


def test_a_replay_in_id_order_merges_by_appending() -> None:
    """Ids arriving in sequence, settled batch by batch, take the appending merge (the block's
    prefix shortening on the way: ids from 10000 on leave ``ssp-001-000``) and give the
    reference block."""
    facts = FactsInForce()
    reference: dict[str, int] = {}
    appended = merges = 0
    for i in range(1, 20_001):
        facts.set("ssp-001", f"ssp-001-{i:07d}", i)
        reference[f"ssp-001-{i:07d}"] = i
        if i % 1000 == 0:
            block = facts._blocks.get("ssp-001")
            recent = facts.recent.get("ssp-001", {})
            if len(recent) >= max(256, 0 if block is None else block.count // 16):
                merges += 1
                appended += merge_appending(block, list(recent), list(recent.values()),
                                            least=0) is not False
            facts.settle()
    assert merges == appended == 18
    facts.settle(everything=True)
    expected = merge_python(None, reference)
    assert expected is not None
    assert facts._blocks["ssp-001"].state() == expected.state()


def test_a_replay_s_chunks_merge_from_the_log_as_they_come() -> None:
    """Ids in sequence handed chunk by chunk (:meth:`FactsInForce.set_many`, two partnerships
    in turn as a log holds them), settled between batches, with a correction and a look-up on
    the way: the same map as set one by one, and the same bytes."""
    facts, reference = FactsInForce(), FactsInForce()
    position = 0
    for pid in ("ssp-000", "ssp-001"):
        for start in range(1, 20_001, 500):
            ids = [f"{pid}-{n:07d}" for n in range(start, start + 500)]
            positions = list(range(position + 1, position + 501))
            position += 500
            facts.set_many([pid] * 500, ids, positions)
            for event_id, at in zip(ids, positions, strict=True):
                reference.set(pid, event_id, at)
            if start % 5000 == 1:
                facts.settle()
            if start == 9501:  # a correction reads the log, then writes after it
                assert facts.get(pid, ids[7]) == positions[7]
                facts.set(pid, ids[7], 10**9)
                reference.set(pid, ids[7], 10**9)
    facts.set_many(["ssp-000", "ssp-001", "ssp-000"], ["ssp-000-0000001", "x", "y"], [1, 2, 3])
    for pid, event_id, at in (("ssp-000", "ssp-000-0000001", 1), ("ssp-001", "x", 2),
                              ("ssp-000", "y", 3)):
        reference.set(pid, event_id, at)
    assert facts.get("ssp-001", "x") == 2
    assert facts.dump() == reference.dump()
