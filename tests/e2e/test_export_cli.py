"""End-to-end tests of ``ssp-ledger export-table`` (run as ``python -m ssp_ledger``).

The command lives in :mod:`ssp_ledger.cli.export`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ssp_ledger import ClubRun, Ledger, PartnershipFormed, SchoolJoined
from tests.strategies import FakeClock


def _ssp(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("SSP_LEDGER_STORE", "COLUMNS")}
    env["PYTHONIOENCODING"] = "utf-8"
    return subprocess.run([sys.executable, "-m", "ssp_ledger", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, encoding="utf-8", timeout=120,
                          check=False)


pytestmark = pytest.mark.e2e

P = "tyne"


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite store with one partnership, two schools and a few clubs."""
    folder = tmp_path_factory.mktemp("export")
    day = dt.date(2010, 9, 1)
    with Ledger.open(folder / "ssp.db", clock=FakeClock()) as ledger:
        ledger.record_many([
            PartnershipFormed(partnership_id=P, occurred_on=day, event_id="f", name="Tyne SSP",
                              hub_school_id="hub"),
            SchoolJoined(partnership_id=P, occurred_on=day, event_id="j1", school_id="hub",
                         school_name="Hub College", phase="sports_college"),
            SchoolJoined(partnership_id=P, occurred_on=day, event_id="j2", school_id="p1",
                         school_name="Park Primary", phase="primary"),
            *(ClubRun(partnership_id=P, occurred_on=day + dt.timedelta(days=7 * i + 6),
                      event_id=f"c{i}", club_id="fc", school_id="hub" if i % 2 else "p1",
                      activity="football", participants=10 + i, staff_minutes=60)
              for i in range(8)),
        ])
    return folder


def test_parquet_export_and_manifest(store: Path) -> None:
    pq = pytest.importorskip("pyarrow.parquet")
    run = _ssp(store, "export-table", "participation", "--as-of", "2011-07-31", "--by",
               "school", "--out", "p.parquet", "--store", "ssp.db")
    assert run.returncode == 0, run.stderr
    assert run.stdout.startswith("exported 3 rows to p.parquet (parquet); manifest "
                                 "p.parquet.manifest.json\ndigest 11:")
    rows = pq.read_table(store / "p.parquet").to_pylist()
    assert [r["school"] for r in rows] == ["hub", "p1", "total"]
    assert rows[-1]["attendances"] == sum(10 + i for i in range(8))
    manifest = json.loads((store / "p.parquet.manifest.json").read_text(encoding="utf-8"))
    assert manifest["ledger"]["log_position"] == 11
    assert run.stdout.split("digest ")[1].strip() == manifest["ledger"]["digest"]
    assert manifest["sha256"] == hashlib.sha256((store / "p.parquet").read_bytes()).hexdigest()
    assert manifest["parameters"]["by"] == "school"
    digest = _ssp(store, "digest", "--store", "ssp.db")
    assert manifest["ledger"]["digest"] in digest.stdout


def test_csv_export_equals_report_csv_and_is_deterministic(store: Path) -> None:
    args = ("export-table", "cost", "--as-of", "2011-07-31", "--by", "role", "--store",
            "ssp.db", "--out")
    first = _ssp(store, *args, "a.csv")
    second = _ssp(store, *args, "a.csv")
    assert first.returncode == second.returncode == 0, first.stderr
    assert first.stdout == second.stdout
    report = _ssp(store, "report", "cost", "--as-of", "2011-07-31", "--by", "role",
                  "--format", "csv", "--store", "ssp.db")
    assert (store / "a.csv").read_text(encoding="utf-8") == report.stdout
    manifest = json.loads((store / "a.csv.manifest.json").read_text(encoding="utf-8"))
    assert manifest["projection"] == "staff_time_cost"
    assert manifest["format"] == "csv"


def test_log_export(store: Path) -> None:
    run = _ssp(store, "export-table", "log", "--effective", "--out", "facts.csv",
               "--store", "ssp.db")
    assert run.returncode == 0, run.stderr
    assert run.stdout.startswith("exported 11 facts to facts.csv (csv)")
    lines = (store / "facts.csv").read_text(encoding="utf-8").splitlines()
    assert lines[0].startswith("position,recorded_at,partnership_id,type,event_id,occurred_on")
    assert len(lines) == 12


@pytest.mark.parametrize("args", [
    ("participation", "--out", "x.csv"),                                 # no --as-of
    ("log", "--by", "school", "--out", "x.csv"),                         # --by on the log
    ("nope", "--as-of", "2011-07-31", "--out", "x.csv"),                 # unknown projection
    ("participation", "--as-of", "2011-13-01", "--out", "x.csv"),        # bad date
    ("participation", "--as-of", "2011-07-31", "--out", "missing/x.csv"),  # no such folder
])
def test_errors_are_one_line(store: Path, args: tuple[str, ...]) -> None:
    run = _ssp(store, "export-table", *args, "--store", "ssp.db")
    assert run.returncode == 1, run
    assert "Traceback" not in run.stderr
    assert len(run.stderr.splitlines()) == 1
    assert run.stderr.startswith("error: ")
    assert not (store / "x.csv").exists()


def test_missing_store_is_not_created(tmp_path: Path) -> None:
    run = _ssp(tmp_path, "export-table", "log", "--out", "x.csv", "--store", "none.db")
    assert run.returncode == 1
    assert "does not exist" in run.stderr
    assert not (tmp_path / "none.db").exists()
