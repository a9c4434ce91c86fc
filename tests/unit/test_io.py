"""Import and export at the boundary: JSONL and club CSV, errors naming line and field."""

from __future__ import annotations

import datetime as dt
import io
import json
from pathlib import Path
from typing import Any

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from ssp_ledger.application import Ledger
from ssp_ledger.errors import DomainRuleViolation, InputError, NotAMember
from ssp_ledger.events import (
    ClubRun,
    CompetitionHeld,
    DomainEvent,
    EventCorrected,
    EventRetracted,
    PartnershipFormed,
    SchoolJoined,
)
from ssp_ledger.io import (
    MAX_LINE_BYTES,
    export_file,
    export_jsonl,
    import_file,
    iter_jsonl,
    read_club_csv,
    read_jsonl,
)

D = dt.date(2010, 9, 7)
P = "tyneside"


def _base() -> list[DomainEvent]:
    return [
        PartnershipFormed(partnership_id=P, occurred_on=dt.date(2010, 9, 1), event_id="f",
                          name="Tyneside SSP", hub_school_id="hub"),
        SchoolJoined(partnership_id=P, occurred_on=dt.date(2010, 9, 1), event_id="j1",
                     school_id="hub", school_name="Hub College", phase="sports_college"),
        SchoolJoined(partnership_id=P, occurred_on=dt.date(2010, 9, 1), event_id="j2",
                     school_id="s2", school_name="St Mary's", phase="primary"),
    ]


def _events() -> list[DomainEvent]:
    club = ClubRun(partnership_id=P, occurred_on=D, event_id="c1", club_id="fb",
                   school_id="s2", activity="football", participants=20, send_participants=3,
                   staff_minutes=60, staff_id="ssco1", setting="lunchtime")
    return [
        *_base(),
        club,
        CompetitionHeld(partnership_id=P, occurred_on=D, event_id="k1", kind="inter_school",
                        school_ids=("hub", "s2"), activity="netball", participants=40),
        EventCorrected(partnership_id=P, occurred_on=D, event_id="x1", target_event_id="c1",
                       reason="typo", replacement=msgspec.structs.replace(club, participants=22)),
        EventRetracted(partnership_id=P, occurred_on=D, event_id="x2", target_event_id="k1",
                       reason="never happened"),
    ]


def _club(**over: Any) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "type": "ClubRun", "partnership_id": P, "occurred_on": "2010-09-07", "event_id": "c9",
        "club_id": "fb", "school_id": "s2", "activity": "football", "participants": 20,
    }
    obj.update(over)
    return obj


def _write_jsonl(path: Path, *objs: dict[str, Any] | bytes) -> Path:
    lines = [o if isinstance(o, bytes) else json.dumps(o).encode() for o in objs]
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path


def _good_lines() -> list[bytes]:
    return [msgspec.json.encode(e) for e in _base()]


def _jsonl_error(tmp_path: Path, bad: dict[str, Any] | bytes) -> InputError:
    path = _write_jsonl(tmp_path / "in.jsonl", *_good_lines(), bad)
    with pytest.raises(InputError) as info:
        read_jsonl(path)
    assert info.value.source == str(path)
    return info.value


# --------------------------------------------------------------------------- round trip


def test_round_trip_through_sqlite_file(tmp_path: Path) -> None:
    with Ledger.open(tmp_path / "a.db", projections={}) as ledger:
        ledger.record_many(_events())
        out = tmp_path / "out.jsonl"
        assert export_file(ledger, out) == len(_events())
    with Ledger.open(tmp_path / "b.db", projections={}) as fresh:
        result = import_file(fresh, out)
        assert result.recorded == len(_events())
        assert [r.event for r in fresh.events()] == _events()
        again = tmp_path / "again.jsonl"
        export_file(fresh, again)
    assert again.read_bytes() == out.read_bytes()


def test_export_is_msgspec_tagged_json_one_per_line() -> None:
    buf = io.BytesIO()
    assert export_jsonl(_events(), buf) == len(_events())
    lines = buf.getvalue().splitlines()
    assert len(lines) == len(_events())
    first = json.loads(lines[3])
    assert first["type"] == "ClubRun"
    assert first["occurred_on"] == "2010-09-07"
    assert next(iter(first)) == "type"
    assert read_jsonl(io.BytesIO(buf.getvalue())) == _events()


def test_export_accepts_recorded_envelopes_and_filters_by_partnership() -> None:
    ledger = Ledger.in_memory(projections={})
    ledger.record_many(_events())
    ledger.record_many([
        PartnershipFormed(partnership_id="other", occurred_on=D, event_id="f", name="O",
                          hub_school_id="h"),
    ])
    buf = io.BytesIO()
    assert export_file(ledger, buf, partnership_id=P) == len(_events())
    assert export_jsonl(ledger.events(), io.BytesIO()) == len(_events()) + 1


def test_import_is_idempotent(tmp_path: Path) -> None:
    path = tmp_path / "e.ndjson"
    export_jsonl(_events(), path)
    ledger = Ledger.in_memory(projections={})
    assert import_file(ledger, path).recorded == len(_events())
    again = import_file(ledger, path)
    assert (again.recorded, again.duplicates) == (0, len(_events()))


def test_blank_lines_crlf_and_bom_are_accepted(tmp_path: Path) -> None:
    body = b"\r\n\r\n".join(msgspec.json.encode(e) for e in _base())
    path = tmp_path / "e.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + body + b"\r\n\n   \n")
    assert read_jsonl(path) == _base()


def test_progress_reports_lines(tmp_path: Path) -> None:
    path = tmp_path / "e.jsonl"
    export_jsonl(_events(), path)
    calls: list[tuple[int, int | None]] = []
    import_file(Ledger.in_memory(projections={}), path,
                progress=lambda done, total: calls.append((done, total)))
    assert calls[-1] == (len(_events()), len(_events()))


# --------------------------------------------------------------------------- JSONL errors


def test_malformed_json(tmp_path: Path) -> None:
    err = _jsonl_error(tmp_path, b'{"type": "ClubRun", ')
    assert err.line == 4
    assert err.reason.startswith("malformed JSON")
    assert f"{tmp_path / 'in.jsonl'}:4" in str(err)


def test_wrong_type_names_field_path(tmp_path: Path) -> None:
    err = _jsonl_error(tmp_path, _club(participants="twenty"))
    assert (err.line, err.field) == (4, "participants")
    assert err.reason == "expected int, got str"
    assert "`" not in str(err)


def test_wrong_type_in_list_and_nested_replacement(tmp_path: Path) -> None:
    comp = {"type": "CompetitionHeld", "partnership_id": P, "occurred_on": "2010-09-07",
            "event_id": "k", "kind": "festival", "school_ids": ["hub", 7], "activity": "x",
            "participants": 3}
    assert _jsonl_error(tmp_path, comp).field == "school_ids[1]"
    fix = {"type": "EventCorrected", "partnership_id": P, "occurred_on": "2010-09-07",
           "event_id": "x", "target_event_id": "c9", "reason": "r",
           "replacement": _club(participants="2")}
    assert _jsonl_error(tmp_path, fix).field == "replacement.participants"
    fix["replacement"] = _club(participants=2, send_participants=5)
    err = _jsonl_error(tmp_path, fix)
    assert err.field == "replacement.send_participants"
    assert "exceeds" in err.reason


def test_unknown_type(tmp_path: Path) -> None:
    err = _jsonl_error(tmp_path, _club(type="Foo"))
    assert (err.line, err.field) == (4, "type")
    assert err.reason.startswith("unknown event type 'Foo'; expected one of ")
    assert "ClubRun" in err.reason


def test_missing_type_and_missing_field(tmp_path: Path) -> None:
    obj = _club()
    del obj["type"]
    err = _jsonl_error(tmp_path, obj)
    assert (err.line, err.field) == (4, "type")
    obj = _club()
    del obj["club_id"]
    err = _jsonl_error(tmp_path, obj)
    assert (err.field, err.reason) == ("club_id", "missing required field")


def test_unknown_field_is_rejected(tmp_path: Path) -> None:
    err = _jsonl_error(tmp_path, _club(send_particpants=3))
    assert (err.line, err.field) == (4, "send_particpants")


def test_negative_participants(tmp_path: Path) -> None:
    err = _jsonl_error(tmp_path, _club(participants=-1))
    assert (err.line, err.field) == (4, "participants")
    assert "negative" in err.reason


def test_send_above_participants(tmp_path: Path) -> None:
    err = _jsonl_error(tmp_path, _club(participants=20, send_participants=30))
    assert (err.line, err.field) == (4, "send_participants")
    assert err.reason == "send_participants (30) exceeds participants (20)"


def test_bad_enum_and_date(tmp_path: Path) -> None:
    err = _jsonl_error(tmp_path, _club(setting="evening"))
    assert err.field == "setting"
    assert "after_school" in err.reason
    err = _jsonl_error(tmp_path, _club(occurred_on="07/09/2010"))
    assert (err.field, err.reason) == ("occurred_on", "invalid date; expected YYYY-MM-DD")


def test_not_an_object(tmp_path: Path) -> None:
    err = _jsonl_error(tmp_path, b"[1, 2]")
    assert (err.line, err.field) == (4, None)
    assert "JSON object" in err.reason


def test_non_utf8(tmp_path: Path) -> None:
    bad = json.dumps(_club()).encode().replace(b"football", b"f\xf6otball")
    err = _jsonl_error(tmp_path, bad)
    assert err.line == 4
    assert "not valid UTF-8" in err.reason


def test_huge_line_rejected_unread(tmp_path: Path) -> None:
    path = tmp_path / "in.jsonl"
    with path.open("wb") as f:
        f.write(msgspec.json.encode(_base()[0]) + b"\n")
        f.write(b'{"type": "ClubRun", "activity": "' + b"x" * (MAX_LINE_BYTES + 10) + b'"}\n')
    with pytest.raises(InputError) as info:
        read_jsonl(path)
    assert info.value.line == 2
    assert "longer than" in info.value.reason


def test_partnership_filter(tmp_path: Path) -> None:
    path = _write_jsonl(tmp_path / "in.jsonl", *_good_lines())
    with pytest.raises(InputError) as info:
        read_jsonl(path, partnership_id="elsewhere")
    assert (info.value.line, info.value.field) == (1, "partnership_id")


# --------------------------------------------------------------------------- atomicity


def test_bad_last_line_writes_nothing(tmp_path: Path) -> None:
    path = _write_jsonl(tmp_path / "in.jsonl", *_good_lines(), _club(participants=-5))
    ledger = Ledger.in_memory(projections={})
    with pytest.raises(InputError) as info:
        import_file(ledger, path)
    assert info.value.line == 4
    assert ledger.position == 0


def test_bad_last_line_writes_nothing_to_sqlite(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    with Ledger.open(db, projections={}) as ledger:
        ledger.record_many(_base())
        before = ledger.position
    path = _write_jsonl(tmp_path / "in.jsonl", _club(event_id="a"), _club(event_id="b"),
                        b'{"type": "ClubRun"')
    with Ledger.open(db, projections={}) as ledger:
        with pytest.raises(InputError):
            import_file(ledger, path)
        assert ledger.position == before
    with Ledger.open(db, projections={}) as ledger:
        assert len(list(ledger.events())) == before


def test_domain_rule_violation_names_line(tmp_path: Path) -> None:
    path = _write_jsonl(tmp_path / "in.jsonl", *_good_lines(), _club(event_id="ok"),
                        _club(event_id="bad", school_id="stranger"), _club(event_id="later"))
    ledger = Ledger.in_memory(projections={})
    with pytest.raises(InputError) as info:
        import_file(ledger, path)
    err = info.value
    assert err.line == 5
    assert "'stranger' is not a member" in err.reason
    assert isinstance(err.__cause__, NotAMember)
    assert ledger.position == 0


def test_conflicting_duplicate_id_points_at_second_occurrence(tmp_path: Path) -> None:
    path = _write_jsonl(tmp_path / "in.jsonl", *_good_lines(), _club(participants=1),
                        _club(participants=1), _club(participants=2))
    with pytest.raises(InputError) as info:
        import_file(Ledger.in_memory(projections={}), path)
    assert info.value.line == 6
    assert "line 4" in info.value.reason
    assert isinstance(info.value.__cause__, DomainRuleViolation)


def test_batch_size_writes_in_chunks(tmp_path: Path) -> None:
    path = tmp_path / "e.jsonl"
    export_jsonl(_events(), path)
    ledger = Ledger.in_memory(projections={})
    result = import_file(ledger, path, batch_size=2)
    assert (result.recorded, result.position) == (len(_events()), len(_events()))


def test_unknown_suffix(tmp_path: Path) -> None:
    path = tmp_path / "e.txt"
    path.write_text("")
    with pytest.raises(InputError, match="suffix"):
        import_file(Ledger.in_memory(projections={}), path)
    assert import_file(Ledger.in_memory(projections={}), path, format="jsonl").recorded == 0


def test_missing_file_is_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="cannot open"):
        import_file(Ledger.in_memory(projections={}), tmp_path / "nope.csv")


# --------------------------------------------------------------------------- CSV

HEADER = "partnership_id,occurred_on,event_id,club_id,school_id,activity,participants,"\
         "send_participants,staff_minutes,staff_id,setting\n"


def _csv(tmp_path: Path, text: str, name: str = "in.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _csv_error(path: Path, **kwargs: Any) -> InputError:
    with pytest.raises(InputError) as info:
        read_club_csv(path, **kwargs)
    return info.value


def test_csv_rows_become_club_runs(tmp_path: Path) -> None:
    path = _csv(tmp_path, HEADER
                + f"{P},2010-09-07,c1,fb,s2,football,20,3,60,ssco1,lunchtime\n"
                + f"{P},2010-09-08,c2,fb,s2,football,18,,,,\n")
    runs = read_club_csv(path)
    assert runs[0] == _events()[3]
    assert runs[1] == ClubRun(partnership_id=P, occurred_on=dt.date(2010, 9, 8), event_id="c2",
                              club_id="fb", school_id="s2", activity="football", participants=18)
    ledger = Ledger.in_memory(projections={})
    ledger.record_many(_base())
    assert import_file(ledger, path).recorded == 2


def test_csv_partnership_argument_and_minimal_columns() -> None:
    text = "Occurred_On, event_id,club_id,school_id,activity,participants\n" \
           "2010-09-07,c1,fb,s2,football,20\n"
    runs = read_club_csv(io.StringIO(text), partnership_id=P)
    assert runs[0].partnership_id == P
    assert runs[0].setting == "after_school"
    assert read_club_csv(io.BytesIO(b"\xef\xbb\xbf" + text.encode()), partnership_id=P) == runs


def test_csv_missing_column(tmp_path: Path) -> None:
    path = _csv(tmp_path, "partnership_id,occurred_on,event_id,club_id,school_id,activity\n")
    err = _csv_error(path)
    assert (err.line, err.field) == (1, "participants")
    assert "missing column(s): participants" in err.reason
    err = _csv_error(_csv(tmp_path, "occurred_on,event_id,club_id,school_id,activity,"
                                    "participants\n"))
    assert err.field == "partnership_id"


def test_csv_unknown_column(tmp_path: Path) -> None:
    path = _csv(tmp_path, HEADER.rstrip("\n") + ",colour\n")
    err = _csv_error(path)
    assert (err.line, err.field) == (1, "colour")
    assert "unknown column(s): 'colour'" in err.reason


def test_csv_bad_int_on_row_3(tmp_path: Path) -> None:
    path = _csv(tmp_path, HEADER
                + f"{P},2010-09-07,c1,fb,s2,football,20,,,,\n"
                + f"{P},2010-09-08,c2,fb,s2,football,12.5,,,,\n")
    err = _csv_error(path)
    assert (err.line, err.field) == (3, "participants")
    assert "whole number" in err.reason
    assert "'12.5'" in err.reason


def test_csv_row_rules(tmp_path: Path) -> None:
    rows = [
        (f"{P},2010-09-07,c1,fb,s2,football,-2,,,,", "participants", "greater than or equal"),
        (f"{P},2010-09-07,c1,fb,s2,football,20,30,,,", "send_participants", "exceeds"),
        (f"{P},07/09/2010,c1,fb,s2,football,20,,,,", "occurred_on", "YYYY-MM-DD"),
        (f"{P},2010-09-07,c1,fb,s2,football,20,,,,evening", "setting", "after_school"),
        (f"{P},2010-09-07,c1,,s2,football,20,,,,", "club_id", "at least 1 character"),
    ]
    for row, field, text in rows:
        err = _csv_error(_csv(tmp_path, HEADER + "\n" + row + "\n"))
        assert (err.line, err.field) == (3, field), row
        assert text in err.reason, err.reason


def test_csv_cell_count_and_non_utf8(tmp_path: Path) -> None:
    err = _csv_error(_csv(tmp_path, HEADER + f"{P},2010-09-07,c1,fb\n"))
    assert err.line == 2
    assert "cells" in err.reason
    path = tmp_path / "latin1.csv"
    path.write_bytes((HEADER + f"{P},2010-09-07,c1,fb,s2,f\xf6otball,1,,,,\n").encode("latin-1"))
    err = _csv_error(path)
    assert err.line == 2
    assert "not valid UTF-8" in err.reason


def test_csv_empty_and_partnership_mismatch(tmp_path: Path) -> None:
    assert _csv_error(_csv(tmp_path, "")).line == 1
    path = _csv(tmp_path, HEADER + f"{P},2010-09-07,c1,fb,s2,football,20,,,,\n")
    err = _csv_error(path, partnership_id="other")
    assert (err.line, err.field) == (2, "partnership_id")


def test_csv_bad_row_writes_nothing(tmp_path: Path) -> None:
    ledger = Ledger.in_memory(projections={})
    ledger.record_many(_base())
    before = ledger.position
    path = _csv(tmp_path, HEADER
                + f"{P},2010-09-07,c1,fb,s2,football,20,,,,\n"
                + f"{P},2010-09-08,c2,fb,nowhere,football,20,,,,\n")
    with pytest.raises(InputError) as info:
        import_file(ledger, path)
    assert info.value.line == 3
    assert isinstance(info.value.__cause__, NotAMember)
    assert ledger.position == before


def test_progress_ticks_during_long_files(tmp_path: Path) -> None:
    runs = [ClubRun(partnership_id=P, occurred_on=D, event_id=f"c{i}", club_id="fb",
                    school_id="s2", activity="football", participants=i % 30)
            for i in range(2_500)]
    path = tmp_path / "many.jsonl"
    export_jsonl([*_base(), *runs], path)
    calls: list[tuple[int, int | None]] = []
    ledger = Ledger.in_memory(projections={})
    result = import_file(ledger, path, progress=lambda d, t: calls.append((d, t)))
    assert result.recorded == 2_503
    assert calls == [(1_000, 2_503), (2_000, 2_503), (2_503, 2_503)]


def test_repeated_type_key(tmp_path: Path) -> None:
    err = _jsonl_error(tmp_path, b'{"type": "ClubRun", "type": "SchoolLeft"}')
    assert (err.line, err.field) == (4, "type")
    assert "more than once" in err.reason


# --------------------------------------------------------------------------- streams


class _CountingReader(io.BytesIO):
    """A stream that records how far it has been read."""

    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.lines_read = 0

    def readline(self, size: int | None = -1) -> bytes:
        self.lines_read += 1
        return super().readline(size)


def test_jsonl_is_parsed_lazily_with_line_numbers() -> None:
    lines = [json.dumps(msgspec.to_builtins(e)).encode() for e in _base()]
    stream = _CountingReader(b"\n".join([lines[0], b"", *lines[1:]]) + b"\n")
    events = iter_jsonl(stream, name="in")
    assert next(events) == (1, _base()[0])
    assert stream.lines_read == 1
    assert [n for n, _ in events] == [3, 4]


def test_import_from_standard_input_reports_progress_without_a_total() -> None:
    data = b"".join(json.dumps(msgspec.to_builtins(e)).encode() + b"\n" for e in _events())
    seen: list[tuple[int, int | None]] = []
    ledger = Ledger.in_memory(projections={})
    result = import_file(ledger, "-", stdin=io.BytesIO(data),
                         progress=lambda done, total: seen.append((done, total)))
    assert result.recorded == len(_events())
    assert seen[-1] == (len(_events()), None)


def test_standard_input_format_is_sniffed() -> None:
    csv_data = (HEADER + "tyneside,2010-09-07,c1,fb,s2,football,20,,,,\n").encode()
    ledger = Ledger.in_memory(projections={})
    ledger.record_many(_base())
    assert import_file(ledger, "-", stdin=io.BytesIO(csv_data)).recorded == 1


def test_a_bad_line_on_standard_input_names_stdin() -> None:
    with pytest.raises(InputError) as info:
        import_file(Ledger.in_memory(projections={}), "-", stdin=io.BytesIO(b'{"type": 1}\n'))
    assert str(info.value).startswith("<stdin>:1")


# --------------------------------------------------------------------------- stricter input


@pytest.mark.parametrize(("line", "field"), [
    (b'{"type": "ClubRun", "participants": 5, "participants": 6}', "participants"),
    (b'{"type": "EventCorrected", "replacement": {"type": "ClubRun", "activity": "a", '
     b'"activity": "b"}}', "activity"),
    (b'{"type": "ClubRun", "event_id" : "c1", "event_id":"c2"}', "event_id"),
])
def test_a_repeated_key_is_refused_with_its_name(line: bytes, field: str) -> None:
    obj = json.loads(line)  # json keeps the last value too: rebuild a full, valid event
    good = _club(**{k: v for k, v in obj.items() if k in _club()})
    if obj["type"] == "EventCorrected":
        good = {"type": "EventCorrected", "partnership_id": P, "occurred_on": "2010-09-08",
                "event_id": "x1", "target_event_id": "c9", "reason": "r",
                "replacement": _club(activity="b")}
        text = json.dumps(good).replace('"activity": "b"', '"activity": "a", "activity": "b"')
    else:
        text = json.dumps(good).replace(f'"{field}": ',
                                        f'"{field}": {json.dumps(good[field])}, "{field}": ', 1)
    with pytest.raises(InputError) as info:
        read_jsonl(io.BytesIO(text.encode()))
    assert (info.value.line, info.value.field) == (1, field)
    assert "more than once" in info.value.reason


def _activity(event: DomainEvent) -> str:
    assert isinstance(event, ClubRun)
    return event.activity


def test_keys_inside_string_values_are_not_mistaken_for_repeats() -> None:
    line = json.dumps(_club(activity='say "participants": 3')).encode()
    assert _activity(read_jsonl(io.BytesIO(line))[0]) == 'say "participants": 3'


@pytest.mark.parametrize(("text", "char"), [
    ("foot\u0000ball", "\x00"), ("foot\nball", "\n"), ("foot\u007fball", "\x7f"),
    ("foot\u0085ball", "\x85"),
])
def test_control_characters_in_json_text_are_refused(text: str, char: str) -> None:
    for ascii_only in (True, False):
        line = json.dumps(_club(activity=text), ensure_ascii=ascii_only).encode()
        with pytest.raises(InputError) as info:
            read_jsonl(io.BytesIO(line))
        assert (info.value.line, info.value.field) == (1, "activity")
        assert repr(char) in info.value.reason


def test_a_tab_in_text_is_allowed() -> None:
    assert _activity(read_jsonl(io.BytesIO(json.dumps(_club(activity="a\tb")).encode()))[0]) \
        == "a\tb"


@pytest.mark.parametrize("cell", ["foot\x00ball", '"foot\nball"', "foot\x1bball"])
def test_control_characters_in_csv_cells_are_refused(cell: str) -> None:
    data = HEADER + f"tyneside,2010-09-07,c1,fb,s2,{cell},20,,,,\n"
    with pytest.raises(InputError) as info:
        read_club_csv(io.StringIO(data))
    assert (info.value.line, info.value.field) == (2, "activity")


def test_every_club_run_field_is_a_csv_column() -> None:
    event = ClubRun(partnership_id=P, occurred_on=D, event_id="c1", club_id="fb",
                    school_id="s2", activity="football", participants=20, send_participants=3,
                    staff_minutes=60, staff_id="ssco1", setting="lunchtime")
    values = msgspec.to_builtins(event)
    values.pop("type")
    data = ",".join(values) + "\n" + ",".join(str(v) for v in values.values()) + "\n"
    assert read_club_csv(io.StringIO(data)) == [event]


@pytest.mark.parametrize(("bad", "field"), [
    ({"participants": "x"}, "participants"),
    ({"unknown": 1}, "unknown"),
    ({"replacement": {"type": "ClubRun"}}, "replacement.partnership_id"),
])
def test_jsonl_and_scenario_files_name_the_same_field(bad: dict[str, Any], field: str) -> None:
    from ssp_ledger.scenarios import parse_scenario

    obj = _club(**bad) if "replacement" not in bad else {
        "type": "EventCorrected", "partnership_id": P, "occurred_on": "2010-09-08",
        "event_id": "x1", "target_event_id": "c9", "reason": "r", **bad}
    with pytest.raises(InputError) as info:
        read_jsonl(io.BytesIO(json.dumps(obj).encode()))
    assert info.value.field == field
    if obj["type"] == "ClubRun":
        scenario = {"name": "s", "fork_date": "2010-09-01", "horizon": "2011-08-31",
                    "events": [obj]}
        with pytest.raises(InputError, match=field):
            parse_scenario(scenario)


@st.composite
def _object_text(draw: st.DrawFn, depth: int = 0) -> str:
    """A JSON object whose keys may repeat, with blanks before colons and look-alike values."""
    keys = draw(st.lists(st.sampled_from(["a", "b", 'c":', "d e"]), max_size=4))
    parts = []
    for key in keys:
        value = (draw(_object_text(depth + 1)) if depth < 2 and draw(st.booleans())
                 else json.dumps(draw(st.sampled_from(['x":y', "{", 1, "p"]))))
        blank = draw(st.sampled_from(["", " ", "\t"]))
        parts.append(f"{json.dumps(key)}{blank}:{value}")
    return "{" + ", ".join(parts) + "}"


@given(_object_text())
def test_the_fast_repeated_key_check_agrees_with_json(text: str) -> None:
    from ssp_ledger.io import _repeated_key

    repeated: list[str] = []

    def hook(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        names = [k for k, _ in pairs]
        repeated.extend(k for i, k in enumerate(names) if k in names[:i])
        return dict(pairs)

    json.loads(text, object_pairs_hook=hook)
    assert (_repeated_key(text.encode()) is None) == (not repeated)
