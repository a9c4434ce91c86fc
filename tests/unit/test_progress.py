"""Progress: the library reports through callbacks, the CLI draws only on a terminal.

The library side (``Ledger.progress``, ``audit.verify(progress=...)``) is tested with a recording
callback; the drawing side (:mod:`ssp_ledger.cli.progress`) with streams that say they are, or
are not, terminals.
"""

from __future__ import annotations

import datetime as dt
import io
import sys

import pytest

from ssp_ledger import ClubRun, Ledger, PartnershipFormed, SchoolJoined
from ssp_ledger.application import PROGRESS_EVERY
from ssp_ledger.audit import verify
from ssp_ledger.cli.progress import PROGRESS_ENV, progress, progress_wanted

D = dt.date(2010, 9, 1)


class Terminal(io.StringIO):
    """A text stream that says it is a terminal (what a pty would say)."""

    def isatty(self) -> bool:
        return True


def _ledger(clubs: int) -> Ledger:
    ledger = Ledger.in_memory()
    ledger.record_many([
        PartnershipFormed(partnership_id="p", occurred_on=D, event_id="f", name="P",
                          hub_school_id="hub"),
        SchoolJoined(partnership_id="p", occurred_on=D, event_id="j", school_id="hub",
                     school_name="Hub", phase="secondary"),
        *(ClubRun(partnership_id="p", occurred_on=D + dt.timedelta(days=i % 300),
                  event_id=f"c{i}", club_id="fc", school_id="hub", activity="football",
                  participants=10, staff_minutes=60) for i in range(clubs)),
    ])
    return ledger


class Calls:
    """A progress callback that keeps what it was told."""

    def __init__(self) -> None:
        self.seen: list[tuple[int, int | None]] = []

    def __call__(self, done: int, total: int | None = None) -> None:
        self.seen.append((done, total))


# --------------------------------------------------------------------------- the library


def test_a_replay_reports_its_progress_from_zero_to_the_whole_log() -> None:
    ledger = _ledger(2 * PROGRESS_EVERY + 10)
    calls = Calls()
    ledger.progress = calls
    table = ledger.report("participation", as_of=D + dt.timedelta(days=400))
    total = ledger.position
    assert calls.seen[0] == (0, total)
    assert calls.seen[-1] == (total, total)
    done = [d for d, _ in calls.seen]
    assert done == sorted(done)
    assert len(calls.seen) >= 4  # start, every PROGRESS_EVERY records, end
    assert {t for _, t in calls.seen} == {total}
    # The figures do not depend on being watched.
    ledger.progress = None
    ledger.rebuild()
    assert ledger.report("participation", as_of=D + dt.timedelta(days=400)) == table


def test_a_partial_read_counts_only_what_was_asked_for() -> None:
    ledger = _ledger(50)
    calls = Calls()
    ledger.progress = calls
    rows = list(ledger.read(11, 30))
    assert [p for p, _ in rows] == list(range(11, 31))
    assert calls.seen[0] == (0, 20)
    assert calls.seen[-1] == (20, 20)


def test_without_a_callback_nothing_is_called_and_reading_is_unchanged() -> None:
    ledger = _ledger(20)
    assert ledger.progress is None
    assert [p for p, _ in ledger.read()] == list(range(1, ledger.position + 1))


def test_verify_reports_progress_and_the_same_verdict() -> None:
    ledger = _ledger(PROGRESS_EVERY + 5)
    calls = Calls()
    watched = verify(ledger, progress=calls)
    plain = verify(ledger)
    assert watched.ok
    assert plain.ok
    assert watched.digest == plain.digest
    total = ledger.position
    assert calls.seen[0] == (0, total)
    assert calls.seen[-1] == (total, total)
    assert len(calls.seen) >= 3


# --------------------------------------------------------------------------- the CLI side


def test_progress_is_wanted_on_a_terminal_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(PROGRESS_ENV, raising=False)
    assert progress_wanted(Terminal())
    assert not progress_wanted(io.StringIO())
    monkeypatch.setenv(PROGRESS_ENV, "1")
    assert progress_wanted(io.StringIO())
    monkeypatch.setenv(PROGRESS_ENV, "0")
    assert not progress_wanted(Terminal())


def test_no_terminal_no_output_and_rich_never_needed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(PROGRESS_ENV, raising=False)
    stream = io.StringIO()
    with progress("replaying", stream=stream) as bar:
        bar.spin()
        for i in range(5):
            bar(i, 5)
        bar.describe("still replaying")
        assert not bar.shown
    assert stream.getvalue() == ""


def test_a_terminal_shows_the_bar_and_clears_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(PROGRESS_ENV, raising=False)
    stream = Terminal()
    with progress("replaying [the] log", stream=stream) as bar:
        bar.spin()  # shown at once: a spinner needs no count
        assert bar.shown
        bar(3, 10)
    text = stream.getvalue()
    assert "replaying [the] log" in text  # plain text, never markup
    assert not bar.shown


def test_a_counted_bar_waits_before_it_appears(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(PROGRESS_ENV, raising=False)
    stream = Terminal()
    with progress("quick work", stream=stream) as bar:
        bar(1, 2)
        bar(2, 2)
        assert not bar.shown  # finished within the delay: never drawn
    assert stream.getvalue() == ""


def test_forcing_draws_at_once_even_into_a_pipe(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(PROGRESS_ENV, "1")
    stream = io.StringIO()
    with progress("forced", stream=stream) as bar:
        bar(1, 2)
        assert bar.shown
    assert "forced" in stream.getvalue()


def test_progress_never_writes_to_standard_output(monkeypatch: pytest.MonkeyPatch,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv(PROGRESS_ENV, "1")
    with progress("to stderr") as bar:
        bar(1, 2)
        sys.stdout.write("table\n")
    out, err = capsys.readouterr()
    assert out == "table\n"
    assert "to stderr" in err
