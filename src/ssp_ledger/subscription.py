"""Follow the ledger's log from a position, for systems that embed the ledger.

::

    with ledger.subscribe(after=position, timeout=5.0) as sub:
        for position, recorded in sub:
            ...                       # every record stored after ``position``, in log order

Iteration yields ``(position, Recorded)`` pairs and ends when ``timeout`` seconds pass without a
new record (``None``: wait until :meth:`Subscription.stop` is called, from any thread). A
subscription never keeps the interpreter alive: on SQLite and in memory it polls the log from
the iterating thread; on PostgreSQL it uses eventsourcing's LISTEN/NOTIFY subscription, whose
threads are started on ``__enter__`` and always stopped and joined on ``__exit__``, and whose
blocking ``__next__`` (it has no timeout upstream) is read through a queue here with our own
timeout. Use it as a context manager; iterating one that was not entered is an error.
"""

from __future__ import annotations

import queue
import threading
import time
from collections import deque
from collections.abc import Iterator
from types import TracebackType
from typing import Any, Self

from eventsourcing.persistence import Notification, PersistenceError

from ssp_ledger.errors import StoreError
from ssp_ledger.store import EventLog, Recorded
from ssp_ledger.store.log import RawRow

__all__ = ["Subscription"]

_END = object()
_TICK = 0.1


class Subscription(Iterator[tuple[int, Recorded]]):
    """An iterator over records stored after a position (see the module docstring)."""

    def __init__(
        self,
        log: EventLog,
        after: int = 0,
        *,
        timeout: float | None = None,
        poll_interval: float = 0.1,
        batch: int = 5_000,
    ) -> None:
        if after < 0:
            msg = f"after must be a position (>= 0); got {after}"
            raise ValueError(msg)
        if timeout is not None and timeout < 0:
            msg = f"timeout must be >= 0 seconds or None; got {timeout}"
            raise ValueError(msg)
        if poll_interval <= 0:
            msg = f"poll_interval must be > 0 seconds; got {poll_interval}"
            raise ValueError(msg)
        self._log = log
        self.position = after
        """Position of the last record yielded (``after`` until the first)."""
        self.timeout = timeout
        """Seconds to wait for the next record before iteration ends (None: until stopped)."""
        self._poll_interval = poll_interval
        self._listen = False
        self._batch = batch
        self._fetched = after
        self._rows: deque[RawRow] = deque()
        self._stopped = threading.Event()
        self._entered = False
        self._closed = False
        self._upstream: Any = None
        self._queue: queue.Queue[object] | None = None
        self._pump: threading.Thread | None = None
        self._error: BaseException | None = None

    # ------------------------------------------------------------------ lifecycle

    def __enter__(self) -> Self:
        if self._entered:
            msg = "a subscription can be entered only once"
            raise RuntimeError(msg)
        self._entered = True
        upstream = self._log.listen(self._fetched)
        if upstream is not None:
            self._listen = True
            self._start_listening(upstream)
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def stop(self) -> None:
        """End the iteration promptly (safe to call from any thread)."""
        self._stopped.set()
        upstream = self._upstream
        if upstream is not None:
            upstream.stop()

    def close(self) -> None:
        """Stop, and wait for any helper threads to finish."""
        if self._closed:
            return
        self._closed = True
        self.stop()
        upstream, self._upstream = self._upstream, None
        if upstream is not None:
            upstream.__exit__(None, None, None)  # joins eventsourcing's threads
        if self._pump is not None:
            self._pump.join(timeout=5.0)

    def __del__(self) -> None:
        if hasattr(self, "_upstream"):  # fully constructed
            self.stop()

    @property
    def stopped(self) -> bool:
        """True once :meth:`stop` (or ``__exit__``) was called."""
        return self._stopped.is_set()

    # ------------------------------------------------------------------ iteration

    def __iter__(self) -> Self:
        return self

    def __next__(self) -> tuple[int, Recorded]:
        if not self._entered:
            msg = "use the subscription as a context manager: `with ledger.subscribe(...) as sub:`"
            raise RuntimeError(msg)
        row = self._next_listened() if self._listen else self._next_polled()
        if row is None:
            raise StopIteration
        for position, recorded in self._log.mapper.decode_rows([row]):
            self.position = position
            return position, recorded
        raise StopIteration  # pragma: no cover

    def _deadline(self) -> float | None:
        return None if self.timeout is None else time.monotonic() + self.timeout

    def _next_polled(self) -> RawRow | None:
        deadline = self._deadline()
        while not self._stopped.is_set():
            if self._rows:
                return self._rows.popleft()
            try:
                rows = self._log.rows(self._fetched + 1, self._batch)
            except PersistenceError as e:
                msg = f"cannot read the log after position {self._fetched}: {e}"
                raise StoreError(msg) from e
            if rows:
                self._rows.extend(rows)
                self._fetched = rows[-1][0]
                continue
            wait = self._poll_interval
            if deadline is not None:
                wait = min(wait, deadline - time.monotonic())
                if wait <= 0:
                    return None
            self._stopped.wait(wait)
        return None

    # -- PostgreSQL: eventsourcing's LISTEN/NOTIFY subscription read through a queue

    def _start_listening(self, upstream: Any) -> None:
        upstream.__enter__()
        self._upstream = upstream
        self._queue = queue.Queue(maxsize=self._batch)
        self._pump = threading.Thread(target=self._pump_rows, args=(upstream, self._queue),
                                      name="ssp-ledger-subscription", daemon=True)
        self._pump.start()

    def _pump_rows(self, upstream: Iterator[Notification], out: queue.Queue[object]) -> None:
        try:
            for row in upstream:
                if not self._put(out, row):
                    return
        except BaseException as e:  # handed to the iterating thread
            self._error = e
        self._put(out, _END)

    def _put(self, out: queue.Queue[object], item: object) -> bool:
        while not self._stopped.is_set():
            try:
                out.put(item, timeout=_TICK)
            except queue.Full:
                continue
            return True
        return False

    def _next_listened(self) -> RawRow | None:
        assert self._queue is not None
        deadline = self._deadline()
        while not self._stopped.is_set():
            wait = _TICK
            if deadline is not None:
                wait = min(wait, deadline - time.monotonic())
                if wait <= 0:
                    return None
            try:
                item = self._queue.get(timeout=wait)
            except queue.Empty:
                continue
            if item is _END:
                self._stopped.set()
                if self._error is not None:
                    msg = f"the PostgreSQL subscription failed: {self._error}"
                    raise StoreError(msg) from self._error
                return None
            assert isinstance(item, Notification)
            return (item.id, item.originator_id, item.originator_version, item.topic, item.state)
        return None
