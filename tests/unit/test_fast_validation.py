"""Each event class's unrolled validation does exactly what the generic one does.

Every event is validated on construction and on every decode (each replay), so each class
compiles its rules into one function at import (``events._compile_validate``): the common field
rules, the required text fields, the ``part <= whole`` pairs and, where the class has rules of
its own, :meth:`Event.check`. These tests hold it to the generic :meth:`Event._validate`
(which loops over the same declarations) on every field of every class set to every kind of
bad value, one or two fields at a time: the same outcome, exception type and message.
"""

from __future__ import annotations

import msgspec
import pytest

from ssp_ledger.events import ClubRun, Event, StaffAssigned
from tests.unit.test_fast_checks import assert_same_outcomes, club, one_of_each


@pytest.mark.parametrize("event", one_of_each(), ids=lambda e: type(e).__name__)
def test_unrolled_validation_equals_the_generic_validation(event: Event) -> None:
    cls = type(event)
    assert cls._validate is not Event._validate
    assert_same_outcomes(event, cls._validate, Event._validate)


def test_the_rules_run_in_order_on_construction_and_decoding() -> None:
    """Common rules first, then the required fields in order, then the pairs, then check()."""
    with pytest.raises(ValueError, match=r"^participants must not be negative; got -1$"):
        club(club_id="", participants=-1)
    with pytest.raises(ValueError, match=r"^club_id must not be empty$"):
        club(club_id=" ", school_id="", send_participants=99)
    with pytest.raises(ValueError, match=r"^school_id must not be empty$"):
        club(school_id="", send_participants=99)
    with pytest.raises(ValueError, match=r"^send_participants \(13\) exceeds participants \(12\)$"):
        club(send_participants=13)
    data = msgspec.json.encode(club()).replace(b'"activity":"football"', b'"activity":"  "')
    with pytest.raises(msgspec.ValidationError, match=r"activity must not be empty"):
        msgspec.json.decode(data, type=ClubRun)
    assigned = next(e for e in one_of_each() if isinstance(e, StaffAssigned))
    with pytest.raises(ValueError, match=r"^funding_stream must not be empty$"):
        msgspec.structs.replace(assigned, funding_stream=" ")
    assert msgspec.structs.replace(assigned, funding_stream=None).funding_stream is None


def test_a_class_compiles_its_rules_when_its_first_event_is_checked() -> None:
    """Importing the events compiles nothing (a cold report builds no event); the first event
    of a class, constructed or decoded, compiles that class's rules and is checked by them."""
    import subprocess
    import sys

    script = """
import msgspec
from ssp_ledger import events
assert all("_int_fields" not in vars(cls) for cls in events.EVENT_TYPES.values())
try:
    msgspec.json.decode(b'{"type": "RollCounted", "partnership_id": "p", "event_id": "e",'
                        b' "occurred_on": "2009-01-01", "school_id": "s",'
                        b' "pupils_on_roll": -1}', type=events.DomainEvent)
except msgspec.ValidationError as e:
    assert "pupils_on_roll must not be negative; got -1" in str(e), e
else:
    raise AssertionError("an invalid event was decoded")
assert vars(events.RollCounted)["_int_fields"] == ("pupils_on_roll",)
assert events.RollCounted._validate.__name__ == "_validate"
assert "_int_fields" not in vars(events.ClubRun)
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          check=False)
    assert done.returncode == 0, done.stderr
