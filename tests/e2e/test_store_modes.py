"""Each command opens the store in the mode it needs: reading commands never create or change a
file, creating commands make a new store where there is none and say so, nobody touches a file
that is not an ssp-ledger store."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.test_cli import GOOD_EVENTS, assert_one_line_error, ssp, write_jsonl

pytestmark = pytest.mark.e2e

READERS: list[tuple[str, ...]] = [
    ("report", "participation", "--as-of", "2011-07-31"),
    ("export",),
    ("export-table", "log", "--out", "log.csv"),
    ("events",),
    ("verify",),
    ("digest",),
    ("explain", "participation", "--as-of", "2011-07-31"),
    ("restatement", "participation", "--as-of", "2011-07-31", "--before", "2011-01-01",
     "--after", "2012-01-01"),
    ("checkpoint",),
]


@pytest.mark.parametrize("args", READERS, ids=lambda a: a[0])
@pytest.mark.parametrize("content", [None, b"", b"not a database, a shopping list\n"],
                         ids=["missing", "empty", "foreign"])
def test_non_creating_commands_refuse_and_leave_the_file_alone(
        tmp_path: Path, args: tuple[str, ...], content: bytes | None) -> None:
    store = tmp_path / "s.db"
    if content is not None:
        store.write_bytes(content)
    run = ssp(tmp_path, *args, "--store", store.name)
    assert_one_line_error(run)
    if content is None:
        assert not store.exists()
    else:
        assert store.read_bytes() == content
    assert sorted(p.name for p in tmp_path.iterdir()) == ([store.name] if content is not None
                                                          else [])


def test_reading_commands_never_change_the_store(tmp_path: Path) -> None:
    write_jsonl(tmp_path / "e.jsonl", GOOD_EVENTS)
    assert ssp(tmp_path, "import", "e.jsonl", "--store", "s.db").code == 0
    before = (tmp_path / "s.db").read_bytes()
    for args in READERS[:-1]:
        assert ssp(tmp_path, *args, "--store", "s.db").code == 0, args
        # (a WAL reader may leave SQLite's -shm/-wal side files; the database is unchanged)
        assert (tmp_path / "s.db").read_bytes() == before, args


@pytest.mark.parametrize("empty", [False, True])
def test_init_creates_a_store_and_says_so(tmp_path: Path, empty: bool) -> None:
    if empty:
        (tmp_path / "s.db").write_bytes(b"")
    run = ssp(tmp_path, "init", "--store", "s.db")
    assert run.code == 0, run.err
    assert run.out == "store s.db holds 0 events\n"
    assert run.err == "note: created a new store at s.db\n"
    again = ssp(tmp_path, "init", "--store", "s.db")
    assert (again.code, again.err) == (0, "")


def test_init_refuses_a_foreign_file(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_bytes(b"hello\n")
    run = ssp(tmp_path, "init", "--store", "notes.txt")
    assert_one_line_error(run)
    assert (tmp_path / "notes.txt").read_bytes() == b"hello\n"
