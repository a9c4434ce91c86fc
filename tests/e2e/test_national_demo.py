"""End-to-end tests of ``ssp-ledger demo --national`` at a tiny scale: synthetic England recorded
one partnership per batch at one fixed recorded time, the same store for a seed."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.e2e.test_cli import Run, assert_one_line_error, ssp

pytestmark = pytest.mark.e2e



def ok(run: Run) -> Run:
    assert run.code == 0, run
    return run


TINY = ("demo", "--national", "--partnerships", "3", "--events", "6000", "--store", "e.db")


def test_national_demo_records_a_verifiable_deterministic_store(tmp_path: Path) -> None:
    first, second = tmp_path / "a", tmp_path / "b"
    first.mkdir()
    second.mkdir()
    run = ok(ssp(first, *TINY))
    found = re.fullmatch(
        r"recorded 6,000 synthetic events of (\d) partnerships? of England \(seed 2006\) into "
        r"e\.db in \d+\.\d s; partnerships by the year they formed: (.+)\n", run.out)
    assert found, run.out
    cohorts = dict(part.split(" ") for part in found.group(2).split(", "))
    assert sum(int(n) for n in cohorts.values()) == int(found.group(1))
    assert all(re.fullmatch(r"200[0-6]/0[1-7]", year) for year in cohorts)
    ok(ssp(second, *TINY))
    digests = [ok(ssp(folder, "digest", "--store", "e.db")).out for folder in (first, second)]
    assert digests[0] == digests[1]
    assert digests[0].startswith("6000:")
    ok(ssp(first, "verify", "--store", "e.db"))
    report = ok(ssp(first, "report", "participation", "--as-of", "2013-12-31", "--store",
                    "e.db", "--format", "csv"))
    assert "sessions" in report.out


def test_national_demo_refuses_a_store_with_events_and_events_without_national(
        tmp_path: Path) -> None:
    ok(ssp(tmp_path, *TINY))
    again = ssp(tmp_path, *TINY)
    assert_one_line_error(again)
    assert "already holds 6,000 events" in again.err
    alone = ssp(tmp_path, "demo", "--events", "10", "--store", "other.db")
    assert_one_line_error(alone)
    assert "--events applies only with --national" in alone.err
    assert not (tmp_path / "other.db").exists()
