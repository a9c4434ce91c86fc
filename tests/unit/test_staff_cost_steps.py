"""The vectorised walk and every way a grouped table sums it answer exactly as costing piece by
piece: any grouping (and the (partnership, stream) pairs the covered figures read), any chunk
size of the walk, any activity summing (dense in blocks, at look-up, sorted), figures in 4 or 8
bytes or beyond."""

from __future__ import annotations

import datetime as dt
import sys
from array import array
from collections.abc import Sequence
from itertools import pairwise
from unittest.mock import patch

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ssp_ledger.events import (
    ClubRun,
    CorrectableEvent,
    DomainEvent,
    FundingChanged,
    StaffAssigned,
)
from ssp_ledger.projection import Fact
from ssp_ledger_projections.funding_levels import StreamLevels
from ssp_ledger_projections.staff_cost import grouped
from ssp_ledger_projections.staff_cost.costing import ZERO, Columns
from ssp_ledger_projections.staff_cost.cumulative import Piece, assignment_pieces
from ssp_ledger_projections.staff_cost.grouped import GROUPINGS, GroupedTable, table_of
from ssp_ledger_projections.staff_cost.rates import rate_of
from ssp_ledger_projections.staff_cost.steps import PAIRS, SCHOOLS, pair_label, walk
from ssp_ledger_projections.staff_time_cost import StaffTimeCost
from tests.strategies import History, dates, histories

SETTINGS = settings(max_examples=30, deadline=None)
KEEP = (1 << 16, 2048)
"""The defaults of ``table_of(keep=...)``: small tables never keep rows (summed every time)."""
T0 = dt.datetime(2012, 1, 1, tzinfo=dt.UTC)
NEVER = 10**9
SCALES = ((1, 1500, None), (10**7, 10**9, None), (10**7, 10**11, None), (60, 1500, 2**70))
"""Minutes of one extra club, the hourly cost of an extra assignment of its staff member, and
the rate of unattributed minutes: figures in 4 bytes, in 8 bytes, beyond 8 bytes' sums."""


def facts_of(events: Sequence[DomainEvent]) -> list[CorrectableEvent]:
    return [e for e in events if isinstance(e, CorrectableEvent)]


def staff_cost(facts: Sequence[CorrectableEvent]) -> StaffTimeCost:
    p = StaffTimeCost()
    p.tables_after = NEVER  # piece by piece: the reference
    for i, e in enumerate(facts, start=1):
        p.apply(Fact(i, T0, e))
    return p


def reference(p: StaffTimeCost, pids: Sequence[str], by: str | None, start: dt.date | None,
              end: dt.date, rate: int | None) -> dict[str, Columns]:
    """Every group's columns over ``[start, end]``, costed piece by piece (zeros left out)."""
    out: dict[str, Columns] = {}
    for pid in pids:
        pieces = p.cumulative.pieces(pid, rate_of(rate))
        if by is None:
            found = {"": pieces.between(start, end)}
        elif by == PAIRS:
            found = {pair_label(pid, stream): columns for stream, columns
                     in pieces.grouped("funding_stream", start, end).items()}
        else:
            found = pieces.grouped(by, start, end)
        for group, columns in found.items():
            out[group] = out.get(group, ZERO).plus(columns)
    return {g: c for g, c in out.items() if c != ZERO}


def answers(table: GroupedTable, start: dt.date | None, end: dt.date) -> dict[str, Columns]:
    return {g: c for g, c in table.between(start, end).items() if c != ZERO}


@SETTINGS
@given(st.data())
def test_every_summing_of_every_walk_answers_as_piece_by_piece(data: st.DataObject) -> None:
    history: History = data.draw(histories(max_activity=30))
    other: History = data.draw(histories(pid="q", max_activity=10))
    minutes, hourly, rate = data.draw(st.sampled_from(SCALES))
    day = history.horizon - dt.timedelta(days=3)
    extra = [ClubRun(partnership_id="p", occurred_on=day, event_id="big", club_id="c",
                     school_id="s0", activity="dance", participants=9, staff_minutes=minutes,
                     staff_id="t0"),
             StaffAssigned(partnership_id="p", occurred_on=day - dt.timedelta(days=9),
                           event_id="dear", staff_id="t0", role="PDM", school_id="s0",
                           release_minutes_per_week=300, hourly_cost_pence=hourly,
                           funding_stream="ssp-grant")]
    p = staff_cost(facts_of([*history.events, *other.events, *extra]))
    pids = data.draw(st.sampled_from((["p"], ["q"], ["p", "q"])))
    by = data.draw(st.sampled_from((None, PAIRS, *GROUPINGS)))
    chunk = data.draw(st.sampled_from((1, 7, 1 << 16)))
    steps = walk(p.facts, pids, rate_of(rate), chunk=chunk)
    ways = [table_of(steps, by, p.facts.calendar)]
    exact = steps.act_values[0].dtype != object and steps.act_bound < 2**53
    for activity in ("dense", "summed", "sorted"):
        cells = data.draw(st.sampled_from((1, 300, 1 << 16)))
        if activity == "sorted" or exact:  # dense and summed sums are exact floats only
            ways.append(table_of(steps, by, p.facts.calendar, activity=activity,
                                 dense=cells, keep=data.draw(st.sampled_from(((0, 0), KEEP)))))
    days = sorted(data.draw(st.lists(dates(history), min_size=1, max_size=4)))
    end = days[-1] + dt.timedelta(days=data.draw(st.integers(0, 3000)))
    for start in (None, *days):
        expected = reference(p, pids, by, start, end, rate)
        for table in ways:
            assert answers(table, start, end) == expected, (by, start, chunk)
    # Many days at once (a summed table then builds its rows): each as two look-ups.
    ordinals = [d.toordinal() for d in days] * 3
    first = ways[0].columns_at(ordinals).tolist()
    for table in ways[1:]:
        assert table.columns_at(ordinals).tolist() == first
    # One group at a time, on a fresh table: its first look-up evaluates the release runs, the
    # next ones read the release kept per teaching day; every one gives that group's rows.
    fresh = table_of(steps, by, p.facts.calendar, keep=(0, 0))
    for g in range(len(fresh.labels)):
        assert fresh.columns_at(ordinals, g).tolist() == [[row[g]] for row in first], (by, g)


@SETTINGS
@given(st.data())
def test_look_ups_in_small_blocks_answer_as_in_one(data: st.DataObject) -> None:
    """A summed table's look-up takes the steps a block at a time and the release runs a block
    of cells at a time (what bounds a checkpoint's kept answers' memory): blocks of one step
    and one cell give the rows the default blocks give, for every grouping, any days."""
    history: History = data.draw(histories(max_activity=30))
    other: History = data.draw(histories(pid="q", max_activity=10))
    p = staff_cost(facts_of([*history.events, *other.events]))
    steps = walk(p.facts, ["p", "q"], rate_of(None))
    days = sorted(data.draw(st.lists(dates(history), min_size=1, max_size=6)))
    ordinals = [d.toordinal() for d in days] + [history.horizon.toordinal() + 400]
    for by in (None, PAIRS, SCHOOLS, *GROUPINGS):
        want = table_of(steps, by, p.facts.calendar, activity="summed", dense=1
                        ).columns_at(ordinals).tolist()
        with patch.object(grouped, "_STEPS", 1), patch.object(grouped, "_CELLS", 1):
            got = table_of(steps, by, p.facts.calendar, activity="summed", dense=1
                           ).columns_at(ordinals).tolist()
        assert got == want, by
        assert table_of(steps, by, p.facts.calendar).columns_at(ordinals).tolist() == want, by


@SETTINGS
@given(st.lists(st.tuples(st.integers(0, 60), st.integers(0, 3)), max_size=6),
       st.integers(0, 70), st.integers(0, 70))
def test_assignment_pieces_cut_at_the_stream_changes(changes: list[tuple[int, int]],
                                                     first: int, length: int) -> None:
    """Each piece runs from its first day (the start, or a change) to the day before the
    next, funded when the level in force on its first day is above 0."""
    base = dt.date(2010, 1, 1)
    levels = StreamLevels([
        FundingChanged(partnership_id="p", occurred_on=base + dt.timedelta(days=day),
                       event_id=f"f{i}", funding_stream="s", annual_amount_pence=level)
        for i, (day, level) in enumerate(changes)])
    start = base.toordinal() + first
    last = start + length
    pieces = assignment_pieces(levels, start, last)
    assert pieces[0].first == start
    assert pieces[-1].last == last
    for before, after in pairwise(pieces):
        assert after.first == before.last + 1
    for piece in pieces:
        day = dt.date.fromordinal(piece.first)
        assert piece.funded == (levels.level(day) > 0)
        inside = levels.changes_in(day, dt.date.fromordinal(piece.last))
        assert inside == []  # no change cuts a piece
    assert assignment_pieces(None, start, last) == [Piece(start, last, False)]


@pytest.mark.parametrize("days", [[6, 5, 4], [5, 4, 6], [4, 4, 6], [4, 6, 5]])
def test_a_state_whose_series_days_are_out_of_order_is_refused(days: list[int]) -> None:
    """The days of every series are checked at once when a state is loaded."""
    events = [ClubRun(partnership_id="p", occurred_on=dt.date(2010, 1, d), event_id=f"c{d}",
                      club_id="c", school_id=school, activity="dance", participants=3,
                      staff_minutes=30, staff_id="t")
              for school in ("a", "b") for d in (4, 5, 6)]
    state = staff_cost(events).facts.dump()
    # Offsets (2-byte) from the first day, the 4th of January: the days of series "a", then
    # those of "b".
    offsets = array("H", [0, 1, 2, *(d - 4 for d in days)])
    if sys.byteorder == "big":
        offsets.byteswap()
    activity = msgspec.structs.replace(state.activity, days=offsets.tobytes())
    fresh = StaffTimeCost()
    with pytest.raises(ValueError, match="staff facts: activity day ordinals"):
        fresh.facts.load(msgspec.structs.replace(state, activity=activity))
    fresh = StaffTimeCost()
    fresh.facts.load(state)  # the state as dumped loads
    assert fresh.facts.days_with_entries("p", "t", "b") == [
        dt.date(2010, 1, d) for d in (4, 5, 6)]
