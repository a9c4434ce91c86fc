"""Reading msgspec's validation messages, for errors that name the field.

msgspec reports a problem as one string such as
``"Object missing required field `activity` - at `$.replacement`"`` or
``"Expected `int`, got `str` - at `$.school_ids[1]`"``. Both boundaries that decode events with
msgspec, the JSONL importer (:mod:`ssp_ledger.io`) and scenario files
(:mod:`ssp_ledger.scenarios`), turn that into a reason and a field path with
:func:`parse_decode_error`, so the two cannot drift apart when msgspec's wording changes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["DecodeProblem", "parse_decode_error"]

_AT = re.compile(r"^(?P<msg>.*?)(?: - at `\$(?P<path>[^`]*)`)?$", re.DOTALL)
_NAMED = re.compile(
    r"^Object (?P<what>missing required|contains unknown) field `(?P<name>[^`]+)`$")


@dataclass(frozen=True)
class DecodeProblem:
    """One msgspec validation message, taken apart."""

    message: str
    """The message without its location (``Expected `int`, got `str```)."""
    path: str
    """Where: a dotted path from the top object (``replacement.participants``,
    ``school_ids[1]``), empty for the top object itself."""
    missing: str | None = None
    """The required field that is missing, if that is the problem."""
    unknown: str | None = None
    """The unknown field given, if that is the problem."""

    @property
    def field(self) -> str:
        """The full path of the field concerned (the missing or unknown one, else ``path``)."""
        name = self.missing or self.unknown
        if not name:
            return self.path
        return f"{self.path}.{name}" if self.path else name


def parse_decode_error(text: str) -> DecodeProblem:
    """Take apart a msgspec ``ValidationError`` message (any string is accepted)."""
    m = _AT.match(text)
    assert m is not None  # the pattern matches any string
    message, path = m["msg"], (m["path"] or "").removeprefix(".")
    named = _NAMED.match(message)
    if named is None:
        return DecodeProblem(message, path)
    if named["what"] == "missing required":
        return DecodeProblem(message, path, missing=named["name"])
    return DecodeProblem(message, path, unknown=named["name"])
