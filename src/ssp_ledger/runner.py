"""Projection runners: follow the log and keep materialised projections in the store.

A :class:`ProjectionRunner` reads the notification log from its tracking position with a pull
loop over eventsourcing's ``recorder.select_notifications`` (the same on SQLite, where
eventsourcing's own ``ProjectionRunner`` raises ``NotImplementedError``, and on PostgreSQL),
applies the records through a :class:`~ssp_ledger.projection.ProjectionSet`, and every
``checkpoint_every`` records (and when it catches up, goes quiet or stops) commits the whole
projection state together with an eventsourcing tracking record of its position **in one
transaction** of the store's own database (:meth:`ssp_ledger.store.EventLog.save_checkpoint`).
The state is plain data and each checkpoint is bound to the log it was built from (stream heads,
record count, state hash: see :mod:`ssp_ledger.checkpoints`).
State and position therefore never disagree: after a crash (even ``kill -9``) the runner resumes
from its last checkpoint, and every record is reflected in the saved figures exactly once.

A :class:`~ssp_ledger.application.Ledger` opened with ``checkpoint="default"`` loads its live
projections from that checkpoint instead of replaying the log from position 0, then catches up
the tail, so a large store opens fast.

Run one from the command line::

    python -m ssp_ledger.runner postgresql://ssp@db.example/ssp --follow
    SSP_LEDGER_STORE=ssp.db python -m ssp_ledger.runner --checkpoint-every 20000
"""

from __future__ import annotations

import argparse
import bisect
import json
import operator
import signal
import sys
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from types import FrameType, TracebackType
from typing import Self

from eventsourcing.persistence import IntegrityError

from ssp_ledger.application import Ledger, utc_now
from ssp_ledger.checkpoints import fit_checkpoint, make_checkpoint, unreadable_note
from ssp_ledger.errors import LedgerError, StoreError, UnknownProjection
from ssp_ledger.projection import (
    ProjectionFactory,
    ProjectionSet,
    paused_gc,
    projection_fingerprint,
)
from ssp_ledger.projection.checkpoint import UnreadableCheckpoint
from ssp_ledger.store import Clock, Decoded, Recorded
from ssp_ledger.subscription import Subscription

__all__ = ["DEFAULT_CHECKPOINT_EVERY", "DEFAULT_NAME", "ProjectionRunner", "main"]

#: Name of the checkpoint a runner writes unless told otherwise.
DEFAULT_NAME = "default"
#: Records applied between checkpoints while catching up.
DEFAULT_CHECKPOINT_EVERY = 10_000
#: Records read before they are applied together while catching up (see
#: :meth:`~ssp_ledger.projection.ProjectionSet.process_all`: batched projections sum columns).
CATCH_UP_CHUNK = 20_000
_RECORD = operator.itemgetter(1)
_STREAM_NUMBER = operator.attrgetter("originator_id.int")


class ProjectionRunner:
    """Keeps checkpoint ``name`` of a store's projections up to date (see the module docstring).

    ``store`` is a location (SQLite path, ``postgresql://`` URL, ...) or an open
    :class:`~ssp_ledger.application.Ledger` (required for an in-memory store; it is not closed by
    the runner). ``names`` selects some of the registered projections (default: all); a Ledger
    loading the checkpoint must have the same projections.
    """

    def __init__(
        self,
        store: str | Path | Ledger,
        *,
        name: str = DEFAULT_NAME,
        names: Iterable[str] | None = None,
        projections: Mapping[str, ProjectionFactory] | None = None,
        checkpoint_every: int = DEFAULT_CHECKPOINT_EVERY,
        env: Mapping[str, str] | None = None,
        clock: Clock = utc_now,
    ) -> None:
        if checkpoint_every < 1:
            msg = f"checkpoint_every must be at least 1; got {checkpoint_every}"
            raise ValueError(msg)
        if isinstance(store, Ledger):
            self.ledger = store
            self._owns_ledger = False
        else:
            self.ledger = Ledger(store, projections=projections, env=env, mode="write")
            self._owns_ledger = True
        try:
            factories = self.ledger.factories
            if names is not None:
                wanted = list(names)
                unknown = [n for n in wanted if n not in factories]
                if unknown:
                    msg = (f"no projection named {', '.join(map(repr, unknown))}; registered: "
                           f"{', '.join(sorted(factories))}")
                    raise UnknownProjection(msg)
                factories = {n: factories[n] for n in wanted}
            self.name = name
            """Checkpoint name (one runner per name; several names may share a store)."""
            self.factories: dict[str, ProjectionFactory] = dict(factories)
            """The projections this runner keeps."""
            self.checkpoint_every = checkpoint_every
            """Records applied between checkpoints (at least; the interval grows to half the
            position so far, so catching up a long log writes O(log n) checkpoints)."""
            self.fingerprint = projection_fingerprint(self.factories)
            self.log = self.ledger.log
            """The store (its checkpoints live beside the events)."""
        except BaseException:
            if self._owns_ledger:
                self.ledger.close()
            raise
        self._clock = clock
        self._stop = threading.Event()
        self._subscription: Subscription | None = None
        self._pending = 0
        self.checkpoints = 0
        """Checkpoints written by this runner."""
        self.conflicts = 0
        """Times another runner with the same name had checkpointed further (state adopted)."""
        self.resumed_from = 0
        """Position of the checkpoint this runner started from (0: from the beginning)."""
        self.resume_note = ""
        """Why it started there."""
        self._set = self._resume()

    # ------------------------------------------------------------------ lifecycle

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close(commit=exc is None)

    def close(self, *, commit: bool = True) -> None:
        """Write a last checkpoint (unless ``commit`` is false) and release the store."""
        try:
            if commit:
                self.commit()
        finally:
            if self._owns_ledger:
                self.ledger.close()

    def stop(self) -> None:
        """Make :meth:`follow` or :meth:`catch_up` return soon (safe from any thread)."""
        self._stop.set()
        subscription = self._subscription
        if subscription is not None:
            subscription.stop()

    @property
    def position(self) -> int:
        """Position of the last record applied (saved or not yet)."""
        return self._set.position

    @property
    def projections(self) -> ProjectionSet:
        """The projections as the runner currently has them."""
        return self._set

    @property
    def saved_position(self) -> int:
        """Position of the last committed checkpoint (from eventsourcing's tracking table)."""
        return self.log.tracked_position(self.name)

    def wait(self, position: int, timeout: float = 1.0) -> None:
        """Block until a checkpoint covers ``position`` (eventsourcing's ``wait``: TimeoutError)."""
        self.log.wait(self.name, position, timeout)

    def _resume(self) -> ProjectionSet:
        checkpoint = self.log.open_checkpoint(self.name)  # its parts are read one by one
        restored: ProjectionSet | None = None
        self._versions: dict[str, int] = {}
        if checkpoint is None:
            note = f"no checkpoint named {self.name!r}: starting from position 0"
        else:
            restored, binding, note = fit_checkpoint(self.log, checkpoint, self.factories,
                                                     self.log.read)
            if restored is not None:
                try:  # every projection is fed from here on: check every part now
                    restored.load_all()
                except UnreadableCheckpoint as e:
                    restored, binding = None, None
                    note = unreadable_note(self.name, e)
            if restored is None or binding is None:
                # Made by other code, or the log changed under it: start again from 0. The
                # tracking record goes too, or position 0.. could never be committed again.
                self.log.delete_checkpoint(self.name)
                note = note.replace("replayed the log", "rebuilding from position 0")
                restored = None
            else:
                self._versions = {h.stream: h.version for h in binding.heads}
        self.resumed_from = restored.position if restored is not None else 0
        self.resume_note = note
        self._pending = 0
        return restored or ProjectionSet(self.factories, self.log.load)

    # ------------------------------------------------------------------ applying

    def _due(self, position: int) -> int:
        """Records still to apply before the next checkpoint, as of ``position``.

        The interval grows with the log (at least checkpoint_every, at least half the position
        so far): catching up a log of n records writes O(log n) checkpoints, whose sizes sum
        to about twice the last, so saving costs a bounded share of the replay, not O(n^2).
        """
        return max(self.checkpoint_every, position // 2) - self._pending

    def _apply(self, position: int, recorded: Recorded) -> None:
        self._apply_many([(position, recorded)])

    def _apply_many(self, chunk: Sequence[tuple[int, Recorded]]) -> int:
        """Apply a run of consecutive records (those not yet reflected) through
        :meth:`ProjectionSet.process_all`, so batched projections get their columnar path,
        then checkpoint if one is due; return how many were applied."""
        start = self._set.position
        fresh = chunk if not chunk or chunk[0][0] > start else [  # not already reflected
            item for item in chunk if item[0] > start]
        if not fresh:
            return 0
        self._set.process_all(fresh)
        records = list(map(_RECORD, fresh))  # each stream's last record, by its 128-bit number
        last = dict(zip(map(_STREAM_NUMBER, records), records, strict=True))
        versions = self._versions
        for recorded in last.values():
            versions[recorded.originator_id.hex] = recorded.originator_version
        self._pending += len(fresh)
        if self._due(fresh[-1][0]) <= 0:
            self.commit()
        return len(fresh)

    def commit(self) -> bool:
        """Save the state and its position in one transaction; False when nothing was new.

        The checkpoint is bound to the log (see :mod:`ssp_ledger.checkpoints`). If another
        runner with the same name has meanwhile saved a further position, the tracking insert is
        refused (eventsourcing ``IntegrityError``, nothing written) and this runner adopts that
        checkpoint instead.
        """
        if self._pending == 0:
            return False
        try:
            checkpoint = make_checkpoint(self.log, self.name, self._set, self.factories,
                                         self._versions, self._clock())
        except StoreError as e:
            msg = f"cannot checkpoint at position {self._set.position}: {e}"
            raise LedgerError(msg) from e
        try:
            self.log.save_checkpoint(checkpoint)
        except IntegrityError:
            self.conflicts += 1
            self._set = self._resume()
            return False
        self._pending = 0
        self.checkpoints += 1
        return True

    def catch_up(self, *, limit: int | None = None, commit: bool = True) -> int:
        """Apply every record stored after :attr:`position` (at most ``limit``), checkpointing
        every ``checkpoint_every`` records and (unless ``commit`` is false) at the end; return
        how many were applied."""
        with paused_gc():  # as in ProjectionSet.process_all: no cycles, millions of objects
            applied = self._catch_up(limit)
        if commit:
            self.commit()
        return applied

    def _catch_up(self, limit: int | None) -> int:
        """Apply the records after the set's position, a run at a time: a run ends where a
        checkpoint falls due (so checkpoints are taken at the same positions as record by
        record), at :data:`CATCH_UP_CHUNK` records, at ``limit`` or when :meth:`stop` is
        called. The log is read as columns (:meth:`Ledger.read_columns`, no
        :class:`~ssp_ledger.store.records.Recorded` per record) and cut where a run ends; the
        record where a run may end is found by jumping ahead: the due count can only grow with
        the position, so no record before ``pending + min(CATCH_UP_CHUNK, due)`` can end it."""
        applied = 0
        while True:
            run: list[Decoded] = []
            held = 0  # records in run
            restart = False
            for got in self.ledger.read_columns(self._set.position + 1):
                positions = got.positions
                i, n = 0, len(positions)
                while i < n:
                    if self._stop.is_set():
                        return applied + self._apply_columns(run)
                    if limit is not None:
                        room = limit - applied - held
                        if room <= 0:
                            return applied + self._apply_columns(run)
                        n_here = min(n, i + room)
                    else:
                        n_here = n
                    # The first record of got[i:] at which the run could end.
                    end = i + max(0, min(CATCH_UP_CHUNK, self._due(positions[i])) - held - 1)
                    if end >= n_here:
                        run.append(got if i == 0 and n_here == n else got.cut(i, n_here))
                        held += n_here - i
                        i = n_here
                        continue
                    run.append(got.cut(i, end + 1))
                    held += end + 1 - i
                    i = end + 1
                    position = positions[end]
                    if held >= min(CATCH_UP_CHUNK, self._due(position)):
                        applied += self._apply_columns(run)
                        run, held = [], 0
                        if self._set.position != position:
                            restart = True  # another runner's further checkpoint: read on
                            break
                if restart:
                    break
            if not restart:
                return applied + self._apply_columns(run)

    def _apply_columns(self, run: list[Decoded]) -> int:
        """:meth:`_apply_many` of consecutive records read as columns (those already
        reflected left out), then checkpoint if one is due; return how many were applied."""
        start = self._set.position
        fresh = [part if part.positions[0] > start else part.cut(
                     bisect.bisect_right(part.positions, start), len(part.positions))
                 for part in run if part.positions and part.positions[-1] > start]
        if not fresh:
            return 0
        self._set.process_columns(fresh)
        versions = self._versions
        for part in fresh:
            for stream, version in part.heads:
                versions[stream.hex] = version
        count = sum(len(part.positions) for part in fresh)
        self._pending += count
        if self._due(fresh[-1].positions[-1]) <= 0:
            self.commit()
        return count

    def follow(self, *, timeout: float | None = None, idle: float = 1.0,
               poll_interval: float = 0.1) -> int:
        """Catch up, then apply records as they are stored until :meth:`stop` is called or
        ``timeout`` seconds pass without a new record; checkpoint after ``idle`` quiet seconds
        (and every ``checkpoint_every`` records). Returns how many records were applied.

        One subscription (LISTEN/NOTIFY on PostgreSQL, polling elsewhere) serves the whole call.
        """
        applied = self.catch_up()
        quiet_since = time.monotonic()
        with self.ledger.subscribe(after=self._set.position, timeout=idle,
                                   poll_interval=poll_interval) as subscription:
            self._subscription = subscription
            try:
                while not self._stop.is_set():
                    wait = idle
                    if timeout is not None:
                        wait = min(wait, timeout - (time.monotonic() - quiet_since))
                        if wait <= 0:
                            break
                    subscription.timeout = wait
                    got = 0
                    for position, recorded in subscription:  # ends after `wait` quiet seconds
                        before = self._set.position
                        self._apply(position, recorded)
                        got += self._set.position > before
                    if got:
                        applied += got
                        quiet_since = time.monotonic()
                    self.commit()
            finally:
                self._subscription = None
        self.commit()
        return applied


# --------------------------------------------------------------------------- command line


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m ssp_ledger.runner",
        description="Keep a store's projections checkpointed in the store (exactly once).")
    parser.add_argument("store", nargs="?", default=None,
                        help="SQLite path or postgresql:// URL (default: SSP_LEDGER_STORE, or "
                             "eventsourcing's PERSISTENCE_MODULE/POSTGRES_* variables)")
    parser.add_argument("--name", default=DEFAULT_NAME,
                        help="checkpoint name (default: %(default)s)")
    parser.add_argument("--projections", default=None,
                        help="comma-separated projection names (default: all registered)")
    parser.add_argument("--checkpoint-every", type=int, default=DEFAULT_CHECKPOINT_EVERY,
                        help="records between checkpoints (default: %(default)s)")
    parser.add_argument("--follow", action="store_true",
                        help="keep following new records until interrupted (or --timeout)")
    parser.add_argument("--timeout", type=float, default=None,
                        help="with --follow: stop after this many seconds without a new record")
    parser.add_argument("--idle", type=float, default=1.0,
                        help="with --follow: checkpoint after this many quiet seconds")
    return parser


def _say(**fields: object) -> None:
    sys.stdout.write(json.dumps(fields) + "\n")
    sys.stdout.flush()


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; prints one JSON line per step."""
    args = _parser().parse_args(argv)
    names = [n.strip() for n in args.projections.split(",") if n.strip()] if args.projections \
        else None
    try:
        ledger = (Ledger.from_env(mode="write") if args.store is None
                  else Ledger.open(args.store, mode="write"))
        runner = ProjectionRunner(ledger, name=args.name, names=names,
                                  checkpoint_every=args.checkpoint_every)
    except (LedgerError, ValueError) as e:
        sys.stderr.write(f"error: {e}\n")
        return 2

    def _stop(signum: int, frame: FrameType | None) -> None:
        runner.stop()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    started = time.monotonic()
    try:
        _say(event="start", name=runner.name, resumed_from=runner.resumed_from,
             note=runner.resume_note, log_position=ledger.position)
        if args.follow:
            applied = runner.follow(timeout=args.timeout, idle=args.idle)
        else:
            applied = runner.catch_up()
        runner.close()
    finally:
        ledger.close()
    _say(event="done", name=runner.name, applied=applied, position=runner.position,
         checkpoints=runner.checkpoints, seconds=round(time.monotonic() - started, 3))
    return 0


if __name__ == "__main__":
    sys.exit(main())
