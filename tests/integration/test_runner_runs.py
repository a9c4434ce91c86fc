"""A runner's catch-up cuts the log where the record-by-record rule says, whatever lists it reads.

:meth:`ProjectionRunner._catch_up` reads the log in lists and cuts them by slicing, jumping
ahead to the first record at which a run may end. These tests hold it to the rule it replaces,
written here record by record: a run ends after the record at which it holds
``min(CATCH_UP_CHUNK, due)`` records (``due`` = ``max(checkpoint_every, position // 2)`` less
the records applied since the last checkpoint), before the record that would pass ``limit``;
a checkpoint is saved when a run leaves nothing due, and at the end. Real SQLite store, lists
of 500 records (the store's decode chunk), several of them per catch-up.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ssp_ledger import Ledger
from ssp_ledger import runner as runner_module
from ssp_ledger.events import ClubRun, PartnershipFormed, SchoolJoined
from ssp_ledger.runner import ProjectionRunner
from ssp_ledger.store import Decoded

EVENTS = 1_733
"""Records in the store: several of the store's 500-record lists, the last one short."""


def _events() -> Iterator[object]:
    day = dt.date(2005, 9, 1)
    yield PartnershipFormed(partnership_id="p", occurred_on=day, event_id="formed", name="p",
                            hub_school_id="sec")
    yield SchoolJoined(partnership_id="p", occurred_on=day, event_id="join", school_id="sec",
                       school_name="sec", phase="secondary")
    for k in range(EVENTS - 2):
        yield ClubRun(partnership_id="p", occurred_on=day + dt.timedelta(days=k % 300),
                      event_id=f"c{k}", club_id="fb", school_id="sec", activity="football",
                      participants=1 + k % 7)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("runs") / "ledger.db"
    with Ledger.open(path, projections={}) as ledger:
        ledger.record_many(list(_events()))  # type: ignore[arg-type]
    return path


class RecordingRunner(ProjectionRunner):
    """A runner that notes the position of every run it applies and every checkpoint it saves
    (and saves nothing: the store stays as the fixture made it)."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.runs: list[int] = []
        self.saved: list[int] = []

    def _apply_many(self, chunk: list[tuple[int, object]]) -> int:  # type: ignore[override]
        if chunk:
            self.runs.append(chunk[-1][0])
        return super()._apply_many(chunk)  # type: ignore[arg-type]

    def _apply_columns(self, run: list[Decoded]) -> int:
        if run:  # a catch-up's run, read as columns
            self.runs.append(run[-1].positions[-1])
        return super()._apply_columns(run)

    def commit(self) -> bool:
        if self._pending == 0:
            return False
        self.saved.append(self._set.position)
        self._pending = 0
        return True


def reference(every: int, chunk: int, limit: int | None) -> tuple[list[int], list[int]]:
    """The runs and checkpoints of the record-by-record loop, over positions 1..EVENTS."""
    runs: list[int] = []
    saved: list[int] = []
    pending = applied = 0
    run: list[int] = []

    def apply() -> None:
        nonlocal pending, applied, run
        if run:
            runs.append(run[-1])
            applied += len(run)
            pending += len(run)
            if max(every, run[-1] // 2) - pending <= 0:
                saved.append(run[-1])
                pending = 0
        run = []

    for position in range(1, EVENTS + 1):
        if limit is not None and applied + len(run) >= limit:
            break
        run.append(position)
        if len(run) >= min(chunk, max(every, position // 2) - pending):
            apply()
    apply()
    if pending:
        saved.append(runs[-1])
    return runs, saved


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(every=st.integers(1, 2_500), chunk=st.integers(1, 2_500),
       limit=st.none() | st.integers(0, EVENTS + 10))
def test_runs_and_checkpoints_fall_where_the_record_by_record_rule_puts_them(
        store: Path, monkeypatch: pytest.MonkeyPatch, every: int, chunk: int,
        limit: int | None) -> None:
    monkeypatch.setattr(runner_module, "CATCH_UP_CHUNK", chunk)
    with RecordingRunner(store, projections={}, checkpoint_every=every) as runner:
        applied = runner.catch_up(limit=limit)
        expected_runs, expected_saved = reference(every, chunk, limit)
        assert runner.runs == expected_runs
        assert runner.saved == expected_saved
        assert applied == (EVENTS if limit is None else min(limit, EVENTS))
        assert runner.position == applied
