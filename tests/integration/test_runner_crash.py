"""kill -9 a projection runner mid-catch-up, restart it: the figures equal a full rebuild.

The runner commits projection state and its tracking position in one transaction, so the
checkpoint left by the killed process reflects exactly the records up to its position, and the
restarted runner applies each later record exactly once.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ssp_ledger import Ledger
from ssp_ledger.checkpoints import restore_checkpoint
from ssp_ledger.projection import ProjectionSet, Query
from ssp_ledger.store import tracking_name
from ssp_ledger.synthetic import SyntheticConfig, generate
from tests.integration.ledger_cases import REPORTS, figures

CHECKPOINT_EVERY = 500  # ~30 checkpoints: the runner is still busy when the first one is seen


@pytest.fixture(params=["sqlite", "postgres"])
def big_store(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        location = str(tmp_path / "big.db")
    else:
        location = request.getfixturevalue("postgres_store")
    config = SyntheticConfig(partnerships=3, primaries=3, secondaries=2)  # ~15,000 events
    with Ledger.open(location, projections={}) as ledger:
        ledger.record_many(generate(config))
    return location


def _runner(location: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "ssp_ledger.runner", location,
         "--checkpoint-every", str(CHECKPOINT_EVERY)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _reports(projections: ProjectionSet) -> list[object]:
    return [projections[name].report(Query(as_of=as_of, by=by)) for name, by, as_of in REPORTS]


def test_kill_9_mid_catch_up_then_resume_equals_a_full_rebuild(big_store: str) -> None:
    with Ledger.open(big_store, projections={}) as watcher:
        end = watcher.position
        tracking = watcher.log.app.checkpoint_recorder()
        proc = _runner(big_store)
        deadline = time.monotonic() + 120
        saved = 0
        try:
            while time.monotonic() < deadline and proc.poll() is None:
                saved = tracking.max_tracking_id(tracking_name("default")) or 0
                if saved:
                    break
                time.sleep(0.005)
        finally:
            if proc.poll() is None:
                os.kill(proc.pid, signal.SIGKILL)
            proc.communicate(timeout=60)
        assert proc.returncode == -signal.SIGKILL, "the runner finished before it was killed"
        saved = tracking.max_tracking_id(tracking_name("default")) or 0
        assert 0 < saved < end, (saved, end)

    # What the killed runner left is consistent: its state is exactly the log up to `saved`.
    with Ledger.open(big_store) as ledger:
        killed, _, note = restore_checkpoint(ledger.log, "default", ledger.factories,
                                             ledger.read)
        assert killed is not None, note
        assert killed.position == saved
        replayed = ProjectionSet(ledger.factories, ledger.load)
        replayed.process_all(ledger.read(1, stop=saved))
        assert _reports(killed) == _reports(replayed)

    restarted = subprocess.run(
        [sys.executable, "-m", "ssp_ledger.runner", big_store,
         "--checkpoint-every", str(CHECKPOINT_EVERY)],
        capture_output=True, text=True, timeout=300, check=True)
    lines = [json.loads(line) for line in restarted.stdout.splitlines()]
    start, done = lines[0], lines[-1]
    assert (start["event"], start["resumed_from"]) == ("start", saved), lines
    assert (done["event"], done["position"]) == ("done", end), lines
    assert done["applied"] == end - saved  # each remaining record once

    with Ledger.open(big_store, checkpoint="default") as fast, Ledger.open(big_store) as full:
        assert figures(fast) == figures(full)
        assert fast.checkpoint_position == end, fast.checkpoint_note
