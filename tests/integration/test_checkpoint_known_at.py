"""A saved checkpoint serves known-at views: a view as known at T starts from it when every record
it holds was stored by T, and answers exactly as a fold of the log from position 0 — also when
records stored after it are back-dated or correct what it holds."""

from __future__ import annotations

import datetime as dt
import tempfile
from pathlib import Path

import msgspec
from hypothesis import given, settings
from hypothesis import strategies as st

from ssp_ledger import ClubRun, Ledger
from ssp_ledger.events import EventCorrected
from ssp_ledger.runner import ProjectionRunner
from tests.strategies import FakeClock, History, histories

REPORTS = (("participation", "school"), ("staff_time_cost", "funded"), ("funding", None),
           ("partnership_age", None), ("leaders", None), ("resources", None))


@settings(max_examples=15, deadline=None)
@given(histories(max_activity=20), st.data())
def test_known_at_from_a_checkpoint_equals_a_fold_from_zero(history: History,
                                                            data: st.DataObject) -> None:
    events = history.events
    cut = data.draw(st.integers(1, len(events)))
    clock = FakeClock()
    with tempfile.TemporaryDirectory() as folder:
        path = str(Path(folder) / "ssp.db")
        with Ledger.open(path, clock=clock) as ledger:
            for event in events[:cut]:
                clock.advance()
                ledger.record(event)
            saved_at = clock.now
            with ProjectionRunner(ledger) as runner:
                runner.catch_up()
                saved = runner.saved_position
            later = events[cut:]
            clubs = [e for e in events[:cut] if isinstance(e, ClubRun)]
            for event in later:  # back-dated as much as the history is
                clock.advance()
                ledger.record(event)
            if clubs:  # correct a fact the checkpoint holds
                target = clubs[0]
                clock.advance()
                ledger.record(EventCorrected(
                    partnership_id=target.partnership_id, occurred_on=target.occurred_on,
                    event_id="fix-1", target_event_id=target.event_id, reason="recount",
                    replacement=msgspec.structs.replace(target, participants=0,
                                                        send_participants=0)))
            end = clock.now
        offsets = data.draw(st.lists(st.integers(-3, 3 + len(later)), min_size=1, max_size=3))
        # distinct times (after clamping to the end): a repeated one is answered from the cached
        # view, not built again, so known_at_start would describe an earlier view
        times = dict.fromkeys(min(saved_at + dt.timedelta(days=o), end) for o in offsets)
        with Ledger.open(path, checkpoint="default") as fast, Ledger.open(path) as slow:
            for known_at in times:
                for name, by in REPORTS:
                    day = history.horizon
                    got = fast.report(name, as_of=day, known_at=known_at, by=by)
                    assert got == slow.report(name, as_of=day, known_at=known_at, by=by), \
                        (name, by, known_at)
                assert fast.known_at_start == (saved if known_at >= saved_at else 0)
                assert slow.known_at_start == 0
