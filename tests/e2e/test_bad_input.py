"""The bad-input corpus (tests/corpus/bad): each file is rejected whole through the CLI with one
line naming the line and field, a non-zero exit and the store's bytes unchanged; the importers are
also fuzzed with hypothesis."""

from __future__ import annotations

import io
import json
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ssp_ledger import InputError
from ssp_ledger.io import read_club_csv, read_jsonl
from tests.e2e.test_cli import assert_one_line_error, ssp

CORPUS = Path(__file__).resolve().parents[1] / "corpus" / "bad"
SEED = [
    {"type": "PartnershipFormed", "partnership_id": "p", "occurred_on": "2006-09-01",
     "event_id": "f", "name": "P", "hub_school_id": "h"},
    {"type": "SchoolJoined", "partnership_id": "p", "occurred_on": "2006-09-01",
     "event_id": "j", "school_id": "h", "school_name": "Hub", "phase": "secondary"},
]

# file -> (line, text the one-line error must contain)
EXPECTED: dict[str, tuple[int, str]] = {
    "malformed_json.jsonl": (3, "malformed JSON"),
    "wrong_type.jsonl": (3, "field 'participants'"),
    "unknown_event_type.jsonl": (2, "unknown event type 'MatchWon'"),
    "negative_count.jsonl": (3, "participants must not be negative"),
    "absurd_count.jsonl": (3, "implausibly large"),
    "send_exceeds_participants.jsonl": (3, "send_participants (9) exceeds participants (5)"),
    "date_before_formation.jsonl": (3, "before formation"),
    "far_future_date.jsonl": (3, "outside"),
    "invalid_date.jsonl": (3, "field 'occurred_on'"),
    "unknown_school.jsonl": (3, "'nowhere' is not a member"),
    "duplicate_id_different_content.jsonl": (4, "c1"),
    "unknown_field.jsonl": (3, "field 'send_particpants'"),
    "missing_field.jsonl": (3, "field 'activity'"),
    "not_an_object.jsonl": (3, "expected a JSON object"),
    "event_before_formation_record.jsonl": (1, "no PartnershipFormed"),
    "non_utf8.jsonl": (3, "UTF-8"),
    "csv_wrong_columns.csv": (1, "club"),
    "csv_bad_int.csv": (3, "field 'participants'"),
    "csv_send_exceeds.csv": (2, "send_participants"),
    "duplicate_key.jsonl": (3, "field 'participants' appears more than once"),
    "nul_in_string.jsonl": (3, "control character '\\x00'"),
    "csv_nul_cell.csv": (3, "control character '\\x00' in the cell"),
}


def test_the_corpus_is_covered() -> None:
    assert {p.name for p in CORPUS.iterdir()} == set(EXPECTED)


@pytest.fixture
def seeded(tmp_path: Path) -> Path:
    """A store holding one partnership and its hub, for the corpus to be imported into."""
    seed = tmp_path / "seed.jsonl"
    seed.write_text("".join(json.dumps(e) + "\n" for e in SEED), encoding="utf-8")
    assert ssp(tmp_path, "import", str(seed), "--store", "s.db").code == 0
    return tmp_path / "s.db"


def _rows(store: Path) -> list[tuple[object, ...]]:
    with sqlite3.connect(store) as conn:
        return conn.execute("SELECT rowid, * FROM stored_events ORDER BY rowid").fetchall()


@pytest.mark.e2e
@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_bad_file_is_rejected_whole(name: str, seeded: Path) -> None:
    before = _rows(seeded)
    line, text = EXPECTED[name]
    run = ssp(seeded.parent, "import", str(CORPUS / name), "--store", str(seeded))
    assert_one_line_error(run)
    assert f"{name}:{line}" in run.err, run.err
    assert text in run.err, run.err
    assert _rows(seeded) == before


@pytest.mark.e2e
def test_huge_line_is_rejected_without_decoding(seeded: Path) -> None:
    huge = seeded.parent / "huge.jsonl"
    huge.write_text(json.dumps(SEED[0]) + "\n" + '{"type": "ClubRun", "activity": "'
                    + "x" * (2 * 1024 * 1024) + '"}\n', encoding="utf-8")
    before = _rows(seeded)
    run = ssp(seeded.parent, "import", str(huge), "--store", str(seeded))
    assert_one_line_error(run)
    assert "huge.jsonl:2" in run.err
    assert _rows(seeded) == before


def _error_of(call: Callable[[], object]) -> InputError | None:
    """The InputError a reader raised, or None; any other exception fails the test."""
    try:
        call()
    except InputError as e:
        return e
    return None


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=400))
def test_jsonl_reader_never_fails_otherwise(data: bytes) -> None:
    error = _error_of(lambda: read_jsonl(io.BytesIO(data), name="fuzz"))
    assert error is None or error.line is not None


def _json_lines() -> st.SearchStrategy[bytes]:
    values = st.recursive(
        st.none() | st.booleans() | st.integers(-2**40, 2**40) | st.text(max_size=12)
        | st.sampled_from(["2006-09-01", "ClubRun", "p", "h", "football", "after_school"]),
        lambda children: st.lists(children, max_size=3)
        | st.dictionaries(st.sampled_from(["type", "participants", "school_id", "x"]), children,
                          max_size=3),
        max_leaves=8,
    )
    fields = st.fixed_dictionaries(
        {"type": st.sampled_from(["ClubRun", "SchoolJoined", "EventCorrected", "Nope"])},
        optional=dict.fromkeys(("partnership_id", "occurred_on", "event_id", "club_id",
                                "school_id", "activity", "participants", "send_participants",
                                "replacement", "phase"), values),
    )
    return st.lists(fields, max_size=4).map(
        lambda rows: "".join(json.dumps(r) + "\n" for r in rows).encode())


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(_json_lines())
def test_jsonl_reader_on_near_valid_objects(data: bytes) -> None:
    error = _error_of(lambda: read_jsonl(io.BytesIO(data), name="fuzz"))
    assert error is None or (error.line is not None and str(error).startswith("fuzz:"))


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(alphabet=st.sampled_from("p,2006-09-01c1hfootball10\n\"x"), max_size=200))
def test_csv_reader_never_fails_otherwise(text: str) -> None:
    header = "partnership_id,occurred_on,event_id,club_id,school_id,activity,participants\n"
    error = _error_of(lambda: read_club_csv(io.StringIO(header + text), name="fuzz"))
    assert error is None or error.line is not None
