"""Progress on standard error for the commands that can take more than a second.

The library never draws anything: the functions that take long accept a callback
``progress(done, total)`` (:class:`~ssp_ledger.Ledger` while it reads the log,
:func:`~ssp_ledger.audit.verify`, :func:`~ssp_ledger.io.import_file`, the scenario runners),
and this module turns such calls into a transient rich progress bar. It is the only place the
CLI draws progress, so every command behaves the same way:

* **Only on a terminal.** Progress goes to standard error, and only when standard error is a
  terminal: never into a pipe, a file or a test's captured output, and never on standard
  output (so ``ssp-ledger report ... > out.csv`` in a terminal still shows it, and ``out.csv``
  holds only the table). The environment variable :data:`PROGRESS_ENV` overrides the guess:
  ``1`` draws it anyway (for tests, or a terminal Python cannot recognise), ``0`` never.
* **Only when it is slow.** A bar fed by callbacks appears once the work has lasted
  :data:`DELAY` seconds (at once when forced), so fast commands never flicker and never pay
  for importing rich. A bar with nothing to count (:meth:`Bar.spin`) shows a spinner at once.
* **Nothing when off.** :func:`progress` then yields a :class:`Bar` whose methods return at
  once; rich is not imported.

Usage::

    with progress("replaying the log") as bar:
        ledger.progress = bar          # bar(done, total) is the callback
        table = ledger.report(...)

Bottom layer of the CLI package (beside :mod:`~ssp_ledger.cli.common`); it imports nothing of
the ledger.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO, TYPE_CHECKING

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID

__all__ = ["DELAY", "PROGRESS_ENV", "Bar", "progress", "progress_wanted"]

#: ``1``: draw progress even when standard error is not a terminal; ``0``: never draw it.
PROGRESS_ENV = "SSP_LEDGER_PROGRESS"
#: Seconds a counted task runs before its bar appears (none for a forced display).
DELAY = 0.5


def progress_wanted(stream: IO[str] | None = None) -> bool:
    """Whether progress should be drawn on ``stream`` (standard error by default): the
    :data:`PROGRESS_ENV` override if set to ``0`` or ``1``, else whether it is a terminal."""
    forced = os.environ.get(PROGRESS_ENV, "").strip()
    if forced in ("0", "1"):
        return forced == "1"
    stream = sys.stderr if stream is None else stream
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # a closed or odd stream
        return False


class Bar:
    """One task's progress: call it as ``bar(done, total)`` (the library's callback shape);
    :meth:`describe` changes its label, :meth:`spin` shows it at once without a count.

    A disabled bar (standard error is not a terminal) does nothing at all.
    """

    def __init__(self, description: str, *, enabled: bool, delay: float,
                 stream: IO[str]) -> None:
        self.description = description
        self.enabled = enabled
        self.done = 0
        self.total: int | None = None
        self._delay = delay
        self._stream = stream
        self._started = time.monotonic()
        self._display: Progress | None = None
        self._task: TaskID | None = None

    @property
    def shown(self) -> bool:
        """Whether the bar has been drawn (it never is when disabled)."""
        return self._display is not None

    def __call__(self, done: int, total: int | None = None) -> None:
        """Record that ``done`` of ``total`` units are finished (``total`` None: unknown)."""
        if not self.enabled:
            return
        self.done, self.total = done, total
        if self._display is None:
            if time.monotonic() - self._started < self._delay:
                return
            self._show(counted=True)
        self._refresh()

    def advance(self, step: int = 1) -> None:
        """``step`` more units are finished."""
        self(self.done + step, self.total)

    def describe(self, description: str) -> None:
        """Change the label (plain text: never read as markup)."""
        self.description = description
        if self._display is not None:
            self._refresh()

    def spin(self) -> None:
        """Show the bar now, as a spinner with its label, for work that reports no count."""
        if self.enabled and self._display is None:
            self._show(counted=False)
            self._refresh()

    def _show(self, *, counted: bool) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            ProgressColumn,
            SpinnerColumn,
            TextColumn,
            TimeElapsedColumn,
        )

        console = Console(file=self._stream, force_terminal=True, highlight=False,
                          emoji=False, markup=False)
        columns: list[ProgressColumn | str] = [SpinnerColumn(),
                                               TextColumn("{task.description}", markup=False)]
        if counted:
            columns += [BarColumn(), MofNCompleteColumn()]
        columns.append(TimeElapsedColumn())
        # Standard output is never redirected into the display: tables stay on stdout.
        self._display = Progress(*columns, console=console, transient=True,
                                 redirect_stdout=False)
        self._task = self._display.add_task(self.description, total=self.total)
        self._display.start()

    def _refresh(self) -> None:
        assert self._display is not None
        assert self._task is not None
        self._display.update(self._task, completed=self.done, total=self.total,
                             description=self.description)

    def close(self) -> None:
        """Remove the bar from the terminal (it is transient)."""
        if self._display is not None:
            self._display.stop()
            self._display = None


@contextmanager
def progress(description: str, *, total: int | None = None,
             stream: IO[str] | None = None) -> Iterator[Bar]:
    """A :class:`Bar` for the duration of the block, drawn on ``stream`` (standard error)
    only when :func:`progress_wanted` says so, and removed at the end of the block."""
    out = sys.stderr if stream is None else stream
    forced = os.environ.get(PROGRESS_ENV, "").strip() == "1"
    bar = Bar(description, enabled=progress_wanted(out), delay=0.0 if forced else DELAY,
              stream=out)
    bar.total = total
    try:
        yield bar
    finally:
        bar.close()
