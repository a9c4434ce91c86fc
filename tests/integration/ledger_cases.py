"""Reusable test cases every store backend must pass, in the style of eventsourcing's own.

:class:`LedgerBackendCases` is not collected itself (its name does not start with ``Test``);
``test_backends.py`` subclasses it once per backend (memory, SQLite, PostgreSQL) and provides
the hooks: :meth:`make_location` (and, for tamper tests, :meth:`tamper`).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import msgspec
import pytest

from ssp_ledger import (
    ClubRun,
    ConcurrencyError,
    DomainEvent,
    EventCorrected,
    EventRetracted,
    Ledger,
    NotAMember,
    UnknownProjection,
)
from ssp_ledger.audit import Digest, digest, verify
from ssp_ledger.errors import UnknownPartnership
from ssp_ledger.projection.checkpoint import (
    Part,
    PartRef,
    bytes_reader,
    decode_set,
    encode_set,
    pack_part,
    read_header,
)
from ssp_ledger.runner import ProjectionRunner
from ssp_ledger.store import (
    GENESIS,
    Binding,
    Checkpoint,
    OpenCheckpoint,
    record_hash,
    stream_id,
)
from ssp_ledger.synthetic import SyntheticConfig, generate
from tests.strategies import FORMED
from tests.unit.test_partnership import club, formed, joined

AS_OF = dt.date(2007, 7, 31)
T0 = dt.datetime(2011, 1, 1, 9, 0, tzinfo=dt.UTC)

#: Reports compared between a full rebuild and checkpoint-based projections.
REPORTS: tuple[tuple[str, str | None, dt.date], ...] = (
    ("participation", None, dt.date(2013, 12, 31)),
    ("participation", "school", dt.date(2010, 7, 31)),
    ("participation", "academic_year", dt.date(2013, 12, 31)),
    ("staff_time_cost", "funded", dt.date(2011, 7, 31)),
    ("staff_time_cost", "role", dt.date(2013, 12, 31)),
    ("funding", None, dt.date(2012, 3, 31)),
    ("partnership_age", None, dt.date(2012, 9, 1)),
    ("leaders", None, dt.date(2013, 12, 31)),
    ("resources", None, dt.date(2013, 12, 31)),
)


def figures(ledger: Ledger) -> list[Any]:
    """A fingerprint of the standard reports, for comparing two ways of computing them."""
    return [ledger.report(name, as_of=as_of, by=by) for name, by, as_of in REPORTS]


def synthetic(partnerships: int = 2, horizon: dt.date = dt.date(2010, 12, 31),
              ) -> list[DomainEvent]:
    """A small synthetic history (~5,000 events) with corrections and retractions added."""
    events: list[DomainEvent] = list(generate(SyntheticConfig(
        partnerships=partnerships, primaries=3, secondaries=1, specials=1, horizon=horizon)))
    clubs = [e for e in events if isinstance(e, ClubRun)]
    for i, target in enumerate(clubs[::97]):
        events.append(EventCorrected(
            partnership_id=target.partnership_id, occurred_on=target.occurred_on,
            event_id=f"fix-{i}", target_event_id=target.event_id, reason="register recount",
            replacement=msgspec.structs.replace(target, participants=target.participants + 3)))
    for i, target in enumerate(clubs[50::101]):
        events.append(EventRetracted(
            partnership_id=target.partnership_id, occurred_on=target.occurred_on,
            event_id=f"rm-{i}", target_event_id=target.event_id, reason="never ran"))
    return events


def _setup_stream(partnership_id: str) -> list[DomainEvent]:
    return [msgspec.structs.replace(formed(), partnership_id=partnership_id),
            msgspec.structs.replace(joined(), partnership_id=partnership_id)]


class Clock:
    """A settable UTC clock."""

    def __init__(self, now: dt.datetime = T0) -> None:
        self.now = now

    def __call__(self) -> dt.datetime:
        return self.now

    def tick(self, **delta: float) -> dt.datetime:
        self.now += dt.timedelta(**delta)
        return self.now


class LedgerBackendCases:
    """Behaviour every backend shares. Subclasses set :attr:`backend` and the hooks."""

    backend: ClassVar[str]
    #: Can a second Ledger object open the same store (false for memory)?
    shared: ClassVar[bool] = True

    location: str
    tmp_path: Path

    # ------------------------------------------------------------------ hooks

    def make_location(self, request: pytest.FixtureRequest, tmp_path: Path) -> str:
        """A fresh, empty store location for one test."""
        raise NotImplementedError

    def tamper(self, ledger: Ledger, position: int) -> None:
        """Change one byte of the stored state at ``position``, behind the ledger's back."""
        raise NotImplementedError

    def set_checkpoint_state(self, ledger: Ledger, checkpoint: Checkpoint) -> None:
        """Overwrite the stored row of ``checkpoint`` (state and binding) behind the ledger's
        back."""
        raise NotImplementedError

    # ------------------------------------------------------------------ plumbing

    @pytest.fixture(autouse=True)
    def _store(self, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[None]:
        self.tmp_path = tmp_path
        self._opened: list[Ledger | ProjectionRunner] = []
        self.location = self.make_location(request, tmp_path)
        yield
        for thing in reversed(self._opened):
            if isinstance(thing, ProjectionRunner):
                thing.close(commit=False)
            else:
                thing.close()

    def make_ledger(self, **kwargs: Any) -> Ledger:
        """A Ledger on this test's store (closed after the test)."""
        ledger = Ledger.open(self.location, **kwargs)
        self._opened.append(ledger)
        return ledger

    def open_again(self, **kwargs: Any) -> Ledger:
        """A second Ledger object on the same store (skips where a store cannot be shared)."""
        if not self.shared:
            pytest.skip(f"a {self.backend} store lives inside one Ledger object")
        return self.make_ledger(**kwargs)

    def make_runner(self, store: Ledger, **kwargs: Any) -> ProjectionRunner:
        """A ProjectionRunner on this store: its own Ledger where the store can be shared."""
        runner = ProjectionRunner(self.location if self.shared else store, **kwargs)
        self._opened.append(runner)
        return runner

    # ------------------------------------------------------------------ recording

    def test_backend_is_the_one_asked_for(self) -> None:
        assert self.make_ledger().backend == self.backend

    def test_records_and_reports(self) -> None:
        ledger = self.make_ledger()
        result = ledger.record_many([formed(), joined(), joined("p1", 3), club(5), club(6, "p1")])
        assert (result.recorded, result.duplicates) == (5, 0)
        assert result.position == ledger.position == 5
        table = ledger.participation(as_of=AS_OF, by="school")
        assert table.row("hub")["sessions"] == 1
        assert table.row("total")["attendances"] == 20
        assert [r.event.event_id for r in ledger.events()] == ["f", "j-hub-0", "j-p1-3", "c5", "c6"]
        assert [r.originator_version for r in ledger.events("tyne")] == [1, 2, 3, 4, 5]
        assert [p for p, _ in ledger.read(4)] == [4, 5]
        assert ledger.partnerships() == ["tyne"]

    def test_a_batch_is_atomic(self) -> None:
        ledger = self.make_ledger()
        ledger.record_many([formed(), joined()])
        with pytest.raises(NotAMember):
            ledger.record_many([club(1), club(2), club(3, "ghost")])
        assert ledger.position == 2
        assert len(list(ledger.events())) == 2
        # nothing of the failed batch lingers in the decision state either
        result = ledger.record_many([club(1), club(2)])
        assert (result.recorded, result.position) == (2, 4)
        # re-recording identical events is idempotent
        again = ledger.record_many([club(1), club(2), club(3)])
        assert (again.recorded, again.duplicates) == (1, 2)
        assert [r.originator_version for r in ledger.events("tyne")] == [1, 2, 3, 4, 5]

    def test_a_large_batch_is_one_transaction(self) -> None:
        ledger = self.make_ledger()
        events = [formed(), joined()] + [
            ClubRun(partnership_id="tyne", occurred_on=FORMED + dt.timedelta(days=i % 300),
                    event_id=f"c{i}", club_id="fc", school_id="hub", activity="football",
                    participants=i % 30) for i in range(6000)]
        assert ledger.record_many(events).recorded == 6002
        assert ledger.position == 6002
        assert [p for p, _ in ledger.read()] == list(range(1, 6003))
        assert ledger.participation(as_of=dt.date(2008, 1, 1)).row("total")["attendances"] == (
            sum(i % 30 for i in range(6000)))
        with pytest.raises(NotAMember):  # one bad event at the very end rejects all of it
            ledger.record_many([*events[2:3], *[ClubRun(
                partnership_id="tyne", occurred_on=FORMED, event_id=f"x{i}", club_id="fc",
                school_id="hub" if i < 4999 else "ghost", activity="football", participants=1)
                for i in range(5000)]])
        assert ledger.position == 6002

    def test_reopen_continues_the_store(self) -> None:
        ledger = self.make_ledger()
        ledger.record_many([formed(), joined(), club(1), club(2)])
        before = ledger.participation(as_of=AS_OF, by="school")
        records = list(ledger.events())
        ledger.close()
        again = self.open_again()
        assert list(again.events()) == records
        assert again.participation(as_of=AS_OF, by="school") == before
        again.record(club(3))  # continues the hash chain where the store left off
        prev = GENESIS
        mapper = again.log.mapper
        for row in again.log.app.recorder.select_events(stream_id("tyne")):
            assert mapper.decode(row).prev_hash == prev
            prev = record_hash(row, mapper.plaintext(row))
        assert verify(again).ok

    def test_two_ledgers_catch_up_with_each_other(self) -> None:
        writer = self.make_ledger()
        reader = self.open_again()
        writer.record_many([formed(), joined(), club(1)])
        assert reader.participation(as_of=AS_OF).row("total")["sessions"] == 1
        writer.record(club(2))
        assert reader.participation(as_of=AS_OF).row("total")["sessions"] == 2
        reader.record(club(3))  # the reader's decision state catches up before it writes
        writer.record(club(4))
        assert writer.participation(as_of=AS_OF).row("total")["sessions"] == 4
        assert [r.originator_version for r in reader.events("tyne")] == [1, 2, 3, 4, 5, 6]
        assert writer.conflicts == reader.conflicts == 0
        assert verify(reader).ok

    def test_many_processes_may_open_a_new_store_at_once(self) -> None:
        if not self.shared:
            pytest.skip(f"a {self.backend} store lives inside one Ledger object")
        # Opening runs eventsourcing's DDL (and the checkpoint tables'); on PostgreSQL some of
        # several sessions doing that together fail unless retried ("tuple concurrently updated").
        barrier = threading.Barrier(6)
        errors: list[BaseException] = []

        def open_and_write(i: int) -> None:
            barrier.wait()
            try:
                with Ledger.open(self.location, projections={}) as ledger:
                    ledger.log.app.checkpoint_recorder()
                    ledger.record_many([
                        *_setup_stream(f"p{i}"),
                    ])
            except BaseException as e:
                errors.append(e)

        threads = [threading.Thread(target=open_and_write, args=(i,)) for i in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert not errors, [repr(e) for e in errors]
        ledger = self.make_ledger(projections={})
        assert sorted({r.event.partnership_id for r in ledger.events()}) == [
            f"p{i}" for i in range(6)]
        assert verify(ledger).ok

    def test_a_stale_head_is_reloaded_and_the_batch_decided_again(
            self, monkeypatch: pytest.MonkeyPatch) -> None:
        first = self.make_ledger()
        second = self.open_again()
        first.record_many([formed(), joined()])
        second.record(club(1))  # second caches the stream head at version 3
        first.record(joined("p1", 2))  # first appends version 4

        # Widen the race window deterministically: second decides its next batch on its cached
        # head as if first's append had landed between reading the head and inserting.
        reload = second._head
        stale: list[str] = []

        def stale_once(partnership_id: str, writer: Any) -> Any:
            if not stale:
                stale.append(partnership_id)
                return second._heads[partnership_id]
            return reload(partnership_id, writer)

        monkeypatch.setattr(second, "_head", stale_once)
        result = second.record(club(5))  # conflicts on (stream, version 4), then retried
        assert result.recorded == 1
        assert second.conflicts == 1
        assert [r.event.event_id for r in first.events("tyne")] == [
            "f", "j-hub-0", "c1", "j-p1-2", "c5"]
        assert verify(first).ok

        # With no attempts left the conflict surfaces, and nothing of the batch is stored.
        first.record(club(6))
        stale.clear()
        second.max_attempts = 1
        position = first.position  # on PostgreSQL, failed inserts leave gaps in the positions
        with pytest.raises(ConcurrencyError, match="tyne"):
            second.record_many([club(7), club(8)])
        assert first.position == position
        assert len(list(first.events("tyne"))) == 6
        assert second.record_many([club(7), club(8)]).recorded == 2
        assert verify(first).ok

    # ------------------------------------------------------------------ quiet reports

    def test_an_unchanged_store_is_not_read_again(self, monkeypatch: pytest.MonkeyPatch) -> None:
        ledger = self.make_ledger()
        ledger.record_many([formed(), joined(), club(1), club(2)])
        asked = [("participation", None, None), ("participation", "school", "tyne"),
                 ("staff_time_cost", "term", None), ("funding", None, "tyne")]
        first = [ledger.report(name, as_of=AS_OF, by=by, partnership_id=pid)
                 for name, by, pid in asked]
        reads: list[str] = []
        for method in ("rows", "stream_rows", "stream_row", "rows_at", "count",
                       "stream_versions", "load_checkpoint"):
            real = getattr(ledger.log, method)

            def counted(*args: Any, _real: Any = real, _name: str = method, **kw: Any) -> Any:
                reads.append(_name)
                return _real(*args, **kw)

            monkeypatch.setattr(ledger.log, method, counted)
        for _ in range(3):
            again = [ledger.report(name, as_of=AS_OF, by=by, partnership_id=pid)
                     for name, by, pid in asked]
            assert again == first
            assert [t.basis for t in again] == [t.basis for t in first]
        assert reads == []
        ledger.record(club(3))  # its own write is a change: the next report looks
        reads.clear()
        assert ledger.participation(as_of=AS_OF).row("total")["sessions"] == 3
        assert ledger.participation(as_of=AS_OF).basis["position"] == 5
        assert reads
        reads.clear()
        ledger.participation(as_of=AS_OF)
        assert reads == []

    def test_reports_see_what_another_ledger_appended(self) -> None:
        writer = self.make_ledger()
        writer.record_many([formed(), joined(), club(1)])
        for mode in ("write", "read"):
            reader = self.open_again(mode=mode)
            assert reader.participation(as_of=AS_OF) == writer.participation(as_of=AS_OF)
            with pytest.raises(UnknownPartnership):
                reader.participation(as_of=AS_OF, partnership_id=f"wear-{mode}")
            writer.record_many([club(2), club(3)])
            writer.record(msgspec.structs.replace(formed(), partnership_id=f"wear-{mode}"))
            table = reader.participation(as_of=AS_OF)
            assert table.row("total")["sessions"] == writer.participation(
                as_of=AS_OF).row("total")["sessions"]
            assert reader.participation(as_of=AS_OF, partnership_id=f"wear-{mode}").rows
            fresh = self.open_again(mode="read")
            assert table == fresh.participation(as_of=AS_OF)
            assert table.basis == fresh.participation(as_of=AS_OF).basis
            writer.record(club(10 if mode == "write" else 11))

    def test_reports_see_what_another_process_appended(self) -> None:
        writer = self.make_ledger()
        writer.record_many([formed(), joined(), club(1)])
        reader = self.open_again(mode="read")
        assert reader.participation(as_of=AS_OF).row("total")["sessions"] == 1
        script = (
            "import sys\n"
            "from ssp_ledger import Ledger\n"
            "from tests.unit.test_partnership import club\n"
            "with Ledger.open(sys.argv[1], mode='write') as ledger:\n"
            "    ledger.record_many([club(i) for i in range(2, 6)])\n"
        )
        done = subprocess.run([sys.executable, "-c", script, self.location], capture_output=True,
                              text=True, timeout=120, check=False,
                              cwd=Path(__file__).resolve().parents[2])
        assert done.returncode == 0, done.stderr
        table = reader.participation(as_of=AS_OF)
        assert table.row("total")["sessions"] == 5
        assert table.basis["position"] == 7
        assert table.basis == self.open_again(mode="read").participation(as_of=AS_OF).basis

    def test_a_report_from_a_checkpoint_sees_later_appends(self) -> None:
        writer = self.make_ledger()
        writer.record_many([formed(), joined(), club(1), club(2)])
        self.make_runner(writer).catch_up()
        writer.record_many([club(3), joined("p1", 4), club(5, "p1")])
        reader = self.open_again(mode="read", checkpoint="default")
        first = reader.participation(as_of=AS_OF, by="school")
        assert reader.checkpoint_position == 4, reader.checkpoint_note
        assert first.row("total")["sessions"] == 4
        writer.record(club(6, "p1"))
        table = reader.participation(as_of=AS_OF, by="school")
        replayed = self.open_again(mode="read").participation(as_of=AS_OF, by="school")
        assert table == replayed
        assert table.row("p1")["sessions"] == 2
        assert (table.basis["position"], table.basis["heads_sha256"]) == (
            replayed.basis["position"], replayed.basis["heads_sha256"])
        assert table.basis["checkpoint"] == "'default' at 4"

    def test_rows_at_and_count_agree_with_point_reads(self) -> None:
        ledger = self.make_ledger()
        ledger.record_many([formed(), joined(), *[club(i) for i in range(1, 12)]])
        ledger.record(msgspec.structs.replace(formed(), partnership_id="wear"))
        ledger.record_many([club(i) for i in range(12, 20)])
        log = ledger.log
        top = log.max_position()
        for stop in range(top + 2):
            assert log.count(stop) == sum(1 for _ in log.raw(1, stop)), stop
        streams = [stream_id("tyne"), stream_id("wear"), stream_id("nobody")]
        wanted = [(s, v) for s in streams for v in (0, 1, 2, 21, 22)]
        expected = {(s.hex, v): row for s, v in wanted
                    if (row := log.stream_row(s, v)) is not None}
        assert log.rows_at(wanted) == expected
        assert sorted(v for _, v in expected) == [1, 1, 2, 21]  # tyne 1, 2, 21; wear 1
        assert log.rows_at([]) == {}

    # ------------------------------------------------------------------ known_at

    def test_known_at_sees_what_was_known_then(self) -> None:
        clock = Clock()
        ledger = self.make_ledger(clock=clock)
        ledger.record_many([formed(), joined(), club(1, participants=10), club(2)])
        t1 = clock.now
        clock.tick(days=30)
        ledger.record(EventCorrected(partnership_id="tyne", occurred_on=club(1).occurred_on,
                                     event_id="fix1", target_event_id="c1", reason="typo",
                                     replacement=club(1, participants=25)))
        clock.tick(days=30)
        ledger.record(EventRetracted(partnership_id="tyne", occurred_on=club(2).occurred_on,
                                     event_id="rm2", target_event_id="c2", reason="duplicate"))
        total = lambda **kw: ledger.participation(as_of=AS_OF, **kw).row("total")  # noqa: E731
        assert total(known_at=t1)["attendances"] == 20
        assert total(known_at=t1 + dt.timedelta(days=31))["attendances"] == 35
        assert total()["attendances"] == 25
        assert total(known_at=t1 - dt.timedelta(seconds=1))["attendances"] == 0
        if self.shared:
            other = self.open_again(clock=clock)
            assert other.participation(as_of=AS_OF, known_at=t1).row("total")["attendances"] == 20

    # ------------------------------------------------------------------ audit

    def test_verify_and_digest(self) -> None:
        ledger = self.make_ledger()
        ledger.record_many([formed(), joined(), *[club(i) for i in range(1, 9)]])
        head = digest(ledger)
        assert head.position == 10
        report = verify(ledger, head)
        assert report.ok
        assert report.checked == 10
        ledger.record(club(20))
        assert verify(ledger, head).ok  # growth after a digest is fine
        assert verify(ledger, Digest(head.position, "0" * 64)).problems[0].kind == (
            "digest-mismatch")

    def test_verify_names_a_tampered_record(self) -> None:
        ledger = self.make_ledger()
        ledger.record_many([formed(), joined(), *[club(i) for i in range(1, 9)]])
        head = digest(ledger)
        self.tamper(ledger, 5)
        problems = [str(p) for p in verify(ledger, head).problems]
        assert problems[0].startswith("position 5: "), problems
        assert any("digest-mismatch" in p for p in problems)

    # ------------------------------------------------------------------ subscriptions

    def test_subscription_follows_new_records_and_times_out(self) -> None:
        ledger = self.make_ledger()
        ledger.record_many([formed(), joined()])
        writer = self.open_again() if self.shared else ledger

        def write_later() -> None:
            for i in range(1, 4):
                time.sleep(0.05)
                writer.record(club(i))

        seen: list[tuple[int, str]] = []
        thread = threading.Thread(target=write_later)
        started = time.monotonic()
        with ledger.subscribe(after=0, timeout=1.0) as sub:
            thread.start()
            for position, recorded in sub:
                seen.append((position, recorded.event.event_id))
            assert sub.position == 5
        thread.join()
        elapsed = time.monotonic() - started
        assert seen == [(1, "f"), (2, "j-hub-0"), (3, "c1"), (4, "c2"), (5, "c3")]
        assert 1.0 <= elapsed < 6.0, elapsed
        with ledger.subscribe(timeout=0.2) as sub:  # default: from the current end
            assert list(sub) == []

    def test_subscription_stops_promptly_from_another_thread(self) -> None:
        ledger = self.make_ledger()
        ledger.record_many([formed(), joined()])
        with ledger.subscribe(after=0, timeout=None) as sub:
            timer = threading.Timer(0.3, sub.stop)
            timer.start()
            started = time.monotonic()
            got = [p for p, _ in sub]
            assert time.monotonic() - started < 3.0
        assert got == [1, 2]
        assert sub.stopped

    def test_subscription_never_keeps_the_process_alive(self) -> None:
        self.make_ledger().record_many([formed(), joined()])
        script = (
            "import sys, threading\n"
            "from ssp_ledger import Ledger\n"
            "ledger = Ledger.open(sys.argv[1], projections={})\n"
            "sub = ledger.subscribe(after=0, timeout=None)\n"
            "sub.__enter__()\n"
            "threading.Timer(0.2, sub.stop).start()\n"
            "print(len(list(sub)))\n"
            "left_open = ledger.subscribe(after=0, timeout=None)\n"  # never entered
            "try:\n"
            "    with ledger.subscribe(after=0, timeout=None):\n"
            "        raise SystemExit(0)\n"  # leaving by an exception stops it too
            "finally:\n"
            "    sub.__exit__(None, None, None)\n"
        )
        started = time.monotonic()
        done = subprocess.run([sys.executable, "-c", script, self.location],
                              capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        assert done.stdout.split() == [str(2 if self.shared else 0)]
        assert time.monotonic() - started < 30

    def test_subscription_must_be_entered(self) -> None:
        ledger = self.make_ledger()
        sub = ledger.subscribe(after=0, timeout=0.1)
        with pytest.raises(RuntimeError, match="context manager"):
            next(sub)
        with sub, pytest.raises(RuntimeError, match="only once"):
            sub.__enter__()

    # ------------------------------------------------------------------ projection runners

    def _synthetic_store(self, **kwargs: Any) -> tuple[Ledger, list[DomainEvent]]:
        ledger = self.make_ledger(**kwargs)
        events = synthetic()
        head, tail = events[: len(events) * 3 // 4], events[len(events) * 3 // 4:]
        ledger.record_many(head)
        return ledger, tail

    def test_runner_checkpoint_opens_a_ledger_without_replay(self) -> None:
        ledger, tail = self._synthetic_store()
        runner = self.make_runner(ledger, checkpoint_every=2_000)
        assert runner.resumed_from == 0
        applied = runner.catch_up()
        assert applied == ledger.position == runner.position == runner.saved_position
        assert runner.checkpoints == _expected_checkpoints(applied, 2_000)
        saved = runner.position
        ledger.record_many(tail)  # a tail the checkpoint has not seen
        if self.shared:
            fast = self.open_again(checkpoint="default")
        else:
            fast = Ledger.in_memory()
            fast._log = ledger.log  # the same in-memory store, as a second object
            fast.checkpoint, fast._use_checkpoint = "default", True
        assert figures(fast) == figures(ledger)
        assert fast.checkpoint_position == saved, fast.checkpoint_note
        assert "loaded checkpoint 'default'" in fast.checkpoint_note
        fast.rebuild()  # a rebuild ignores the checkpoint
        assert figures(fast) == figures(ledger)
        assert fast.checkpoint_position is None

    # ------------------------------------------------------------------ checkpoints by parts

    def _checkpointed_reader(self) -> tuple[Ledger, Ledger, list[DomainEvent]]:
        """A store holding checkpoint ``default`` of a synthetic history, and a second Ledger
        object reading it from that checkpoint (the same in-memory store where not shared), and
        the rest of the history, not recorded yet."""
        ledger, tail = self._synthetic_store()
        self.make_runner(ledger).catch_up()
        if self.shared:
            return ledger, self.open_again(mode="read", checkpoint="default"), tail
        reader = Ledger.in_memory()
        reader._log = ledger.log  # the same in-memory store, as a second object
        reader.checkpoint, reader._use_checkpoint = "default", True
        return ledger, reader, tail

    def test_a_checkpoint_is_read_by_ranges(self) -> None:
        """open_checkpoint gives the row without its state and reads any range of it as
        stored: the same bytes as load_checkpoint, short past the end."""
        ledger, _, _ = self._checkpointed_reader()
        whole = ledger.log.load_checkpoint("default")
        opened = ledger.log.open_checkpoint("default")
        assert whole is not None
        assert opened is not None
        assert ledger.log.open_checkpoint("nothing-saved") is None
        state = whole.state
        assert (opened.name, opened.position, opened.fingerprint, opened.binding,
                opened.saved_at, opened.size) == (
            whole.name, whole.position, whole.fingerprint, whole.binding, whole.saved_at,
            len(state))
        size = len(state)
        for offset, length in ((0, 12), (0, size), (5, 1), (size // 3, size // 3),
                               (size - 7, 7), (size - 3, 10), (size, 5), (size + 9, 4), (1, 0)):
            assert opened.read(offset, length) == state[offset:offset + length], (offset, length)

    def test_a_report_from_a_checkpoint_reads_the_header_and_the_parts_it_needs(self) -> None:
        """A report by one projection reads the state's header and that projection's part:
        no other projection's part and not the facts in force (nothing to catch up)."""
        ledger, reader, _ = self._checkpointed_reader()
        opened = ledger.log.open_checkpoint("default")
        assert opened is not None
        header = read_header(opened.size, opened.read)
        layout = decode_set(header, opened.size)
        ranges: list[tuple[int, int]] = []
        log = reader.log
        real = log.open_checkpoint

        def counted(name: str) -> OpenCheckpoint | None:
            found = real(name)
            if found is None:
                return None

            def read(offset: int, length: int) -> bytes:
                ranges.append((offset, length))
                return found.read(offset, length)

            return dataclasses.replace(found, read=read)

        log.open_checkpoint = counted  # type: ignore[method-assign]
        table = reader.participation(as_of=AS_OF, by="school")
        assert reader.checkpoint_position == opened.position, reader.checkpoint_note
        assert table == ledger.participation(as_of=AS_OF, by="school")
        part = layout.parts["participation"]
        start = len(header)
        assert ranges[0][0] == 0
        assert (start + part.offset, part.length) in ranges
        read_bytes = sum(length for _, length in ranges)
        assert read_bytes <= len(header) + part.length + 4096
        for name, ref in (*layout.parts.items(), ("current", layout.current)):
            if name != "participation":
                assert (start + ref.offset, ref.length) not in ranges, name

    def test_a_reader_keeps_answering_while_a_runner_saves_again(self) -> None:
        """A reader restored from the checkpoint reads a part only when first asked; if a
        runner has saved the checkpoint again by then, the reader rebuilds that projection from
        the log (the bytes at the old offsets belong to another state): right figures, no
        note of damage, and the checkpoint still in use."""
        ledger, reader, tail = self._checkpointed_reader()
        first = reader.participation(as_of=AS_OF, by="school")
        position = reader.checkpoint_position
        assert position is not None
        ledger.record_many(tail)
        runner = self.make_runner(ledger)
        runner.catch_up()
        assert runner.saved_position > position
        for name in ("leaders", "staff_time_cost", "participation"):
            assert reader.report(name, as_of=AS_OF) == ledger.report(name, as_of=AS_OF), name
        assert reader.checkpoint_position == position
        assert reader.checkpoint_note.startswith("loaded checkpoint 'default'")
        assert first.basis is not None

    @pytest.mark.parametrize("edit", ["part", "malformed", "current"])
    def test_an_edited_checkpoint_part_gives_a_replay(self, edit: str) -> None:
        """A byte of the part a report needs changed in the store (its hash left alone), or
        that part replaced by well-hashed bytes that are not its state (binding recomputed),
        or the facts in force damaged while a record waits to be caught up: the report
        answers what a replay answers, and says why in one line."""
        ledger, reader, tail = self._checkpointed_reader()
        whole = ledger.log.load_checkpoint("default")
        assert whole is not None
        state = whole.state
        header = read_header(len(state), bytes_reader(state))
        layout = decode_set(header, len(state))
        start = len(header)
        binding = whole.binding
        if edit in ("part", "current"):
            ref = layout.parts["participation"] if edit == "part" else layout.current
            at = start + ref.offset + ref.length // 2
            state = state[:at] + bytes([state[at] ^ 0x5A]) + state[at + 1:]
        else:
            body = state[start:]

            def kept(ref: PartRef) -> Part:
                return Part(compressed=ref.compressed,
                            data=memoryview(body[ref.offset:ref.offset + ref.length]))

            parts = {name: kept(ref) for name, ref in layout.parts.items()}
            parts["participation"] = pack_part(b"\x81\xa3not\xa8an index")
            snapshot = encode_set(position=layout.position, latest_us=layout.latest_us,
                                  names=layout.names, parts=parts, current=kept(layout.current))
            state = snapshot.join()
            binding = msgspec.structs.replace(
                Binding.decode(binding), state_sha256=snapshot.digest).encode()
        self.set_checkpoint_state(ledger, dataclasses.replace(whole, state=state,
                                                              binding=binding))
        if edit == "current":
            ledger.record_many(tail[:20])
        table = reader.participation(as_of=AS_OF, by="school")
        assert table == ledger.participation(as_of=AS_OF, by="school")
        assert reader.checkpoint_position is None
        note = reader.checkpoint_note
        assert note.startswith("checkpoint 'default' is damaged: ")
        assert note.endswith("replayed the log")
        assert "\n" not in note
        assert ("the facts in force" if edit == "current" else "projection 'participation'") \
            in note
        [check] = verify(ledger).checkpoints
        assert check.status == "mismatch"

    def test_runner_resumes_after_a_crash_exactly_once(self) -> None:
        ledger, tail = self._synthetic_store()
        ledger.record_many(tail)
        crashed = self.make_runner(ledger, checkpoint_every=1_000)
        crashed.catch_up(limit=2_500, commit=False)  # saved at 1000 and 2000, 500 unsaved
        assert (crashed.position, crashed.saved_position) == (2_500, 2_000)
        crashed.close(commit=False)  # as if killed: the unsaved 500 are lost, not half-saved
        runner = self.make_runner(ledger, checkpoint_every=1_000)
        assert runner.resumed_from == 2_000, runner.resume_note
        runner.catch_up()
        assert runner.position == runner.saved_position == ledger.position
        rebuilt = [p.report(_query(by, as_of)) for (name, by, as_of) in REPORTS
                   for p in [runner.projections[name]]]
        assert rebuilt == figures(ledger)

    def test_runners_racing_on_one_name_never_go_backwards(self) -> None:
        ledger, tail = self._synthetic_store()
        ledger.record_many(tail)
        late = self.make_runner(ledger, checkpoint_every=500)
        early = self.make_runner(ledger, checkpoint_every=500)
        early.catch_up()
        end = early.saved_position
        late.catch_up(limit=100)  # its checkpoint at 100 is refused: 'early' saved further
        assert late.conflicts == 1
        assert late.position == end
        assert late.saved_position == end
        late.catch_up()
        assert late.saved_position == end

    def test_runner_with_other_projections_is_not_loaded(self) -> None:
        ledger, _ = self._synthetic_store()
        runner = self.make_runner(ledger, names=["participation"])
        runner.catch_up()
        with pytest.raises(UnknownProjection):
            self.make_runner(ledger, names=["nope"])
        if not self.shared:
            return
        fast = self.open_again(checkpoint="default")
        assert figures(fast) == figures(ledger)
        assert fast.checkpoint_position is None
        assert "other projections, code" in fast.checkpoint_note
        narrow = self.open_again(checkpoint="default",
                                 projections={"participation": ledger.factories["participation"]})
        narrow.participation(as_of=AS_OF)
        assert narrow.checkpoint_position == runner.position

    def test_runner_checkpoint_of_a_rewritten_log_is_not_loaded(self) -> None:
        ledger, _ = self._synthetic_store()
        runner = self.make_runner(ledger)
        runner.catch_up()
        self.tamper(ledger, runner.position)
        if self.shared:
            fast = self.open_again(checkpoint="default")
            fast.participation(as_of=AS_OF)
            assert fast.checkpoint_position is None
            assert "does not fit this log" in fast.checkpoint_note
        again = self.make_runner(ledger)
        assert again.resumed_from == 0
        assert "rebuilding from position 0" in again.resume_note

    def test_runner_follows_new_records(self) -> None:
        ledger, tail = self._synthetic_store()
        runner = self.make_runner(ledger, checkpoint_every=100_000)
        writer = self.open_again() if self.shared else ledger

        def write_later_then_stop() -> None:
            time.sleep(0.1)
            writer.record_many(tail[:50])
            time.sleep(0.3)
            writer.record_many(tail[50:])
            deadline = time.monotonic() + 30
            while runner.saved_position < writer.position and time.monotonic() < deadline:
                time.sleep(0.02)
            runner.stop()

        thread = threading.Thread(target=write_later_then_stop)
        thread.start()
        runner.follow(timeout=30, idle=0.2)
        thread.join()
        assert runner.position == runner.saved_position == writer.position
        assert runner.checkpoints >= 2  # after catching up, then after quiet spells
        idle = self.make_runner(ledger)  # resumes from the checkpoint: nothing to apply
        assert idle.resumed_from == runner.position
        stopper = threading.Timer(0.3, idle.stop)
        stopper.start()
        started = time.monotonic()
        assert idle.follow(timeout=None, idle=0.1) == 0
        assert time.monotonic() - started < 3.0


def _query(by: str | None, as_of: dt.date) -> Any:
    from ssp_ledger.projection import Query

    return Query(as_of=as_of, by=by)


def _expected_checkpoints(applied: int, every: int) -> int:
    """Checkpoints a runner writes catching up ``applied`` records from position 0: one each
    time the records pending reach ``max(every, position // 2)``, and one for the rest."""
    count = pending = 0
    for position in range(1, applied + 1):
        pending += 1
        if pending >= max(every, position // 2):
            count, pending = count + 1, 0
    return count + (pending > 0)

