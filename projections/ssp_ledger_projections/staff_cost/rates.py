"""The hourly cost of unattributed staff time: a dated, cited parameter, or a query's flat rate.

Minutes no assignment covers (a fact naming no staff member, or a person outside any assignment)
are *unattributed*. They are costed at the parameter ``cost.UNATTRIBUTED`` of the parameter set
shipped with the package (``ssp_ledger/data/parameters.toml``): a main-scale teacher's full
hourly cost, an estimate, dated by the teachers' pay awards. Each record is costed at the value
in force on its date; a record dated before the first value takes the first value. A query's
``default_hourly_cost_pence`` replaces the parameter by one flat rate for every date (pass 2500
to reproduce the figures of releases that costed them at an undated £25 an hour).

**Rounding when the rate changes.** Figures are differences of cumulative integer functions
(:mod:`.costing`). A stretch of a person's timeline outside any assignment (a *gap*) is cut at
the dates the rate changes (:meth:`UnattributedRate.cut_gaps`) into pieces of one rate, each
anchored at its own first day: the pence of a piece over ``[a, b]`` are ``M(b) * r // 60 -
M(a - 1) * r // 60`` with ``M`` the minutes since the piece's first day. Consecutive ranges
still add up to the whole exactly. A flat rate cuts nothing, so it gives exactly the figures of
one undated rate.

**Reading the parameter.** The file is read once per process with :mod:`tomllib` rather than
through :mod:`ssp_ledger.parameters`, whose validating models cost about 0.1 s to import on
every report; the file is the same one, and a test checks that both read the same values (the
models validate the whole file). A missing or malformed ``cost.UNATTRIBUTED`` is a ValueError
naming the file and the field.
"""

from __future__ import annotations

import datetime as dt
import tomllib
from bisect import bisect_right
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import cache
from importlib.resources import files
from typing import Any, NamedTuple

from ssp_ledger.projection import Query
from ssp_ledger_projections.staff_cost.state import DAY, Segment

__all__ = [
    "PARAMETER",
    "QUERY_PARAMETER",
    "RateValue",
    "UnattributedRate",
    "default_hourly_cost",
    "shipped_rate",
    "unattributed_rate",
]

PARAMETER = "cost.UNATTRIBUTED"
"""Name of the dated, cited parameter unattributed minutes are costed at."""
QUERY_PARAMETER = "default_hourly_cost_pence"
"""The query parameter that replaces it by one flat rate."""
_SOURCE = "ssp_ledger/data/parameters.toml"


class RateValue(NamedTuple):
    """One dated value of the rate, with its source."""

    effective_from: dt.date
    """First day it is in force (``date.min`` for a query's flat rate)."""
    pence: int
    """Hourly cost in pence."""
    citation: str
    """Where the figure comes from."""
    note: str = ""
    """Qualification, e.g. ``estimate: ...``."""


@dataclass(frozen=True)
class UnattributedRate:
    """The hourly cost of unattributed minutes over valid dates: a step function.

    Equal (and hashed alike) when the parameter and its values are: a cache key.
    """

    parameter: str | None
    """:data:`PARAMETER`, or None for a query's flat :data:`QUERY_PARAMETER`."""
    values: tuple[RateValue, ...]
    """Dated values, ascending by date, not empty."""
    _starts: tuple[int, ...] = field(init=False, repr=False, compare=False)
    _cuts: tuple[int, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.values:
            msg = "an unattributed rate needs at least one value"
            raise ValueError(msg)
        starts = tuple(v.effective_from.toordinal() for v in self.values)
        object.__setattr__(self, "_starts", starts)
        # Where the rate changes (a repeated value cuts nothing).
        object.__setattr__(self, "_cuts", tuple(
            start for start, before, now in zip(starts[1:], self.values[:-1], self.values[1:],
                                                strict=True)
            if now.pence != before.pence))

    @classmethod
    def flat(cls, pence: int) -> UnattributedRate:
        """One rate for every date: a query's ``default_hourly_cost_pence``."""
        return cls(None, (RateValue(dt.date.min, pence, f"query parameter {QUERY_PARAMETER}"),))

    @property
    def is_flat(self) -> bool:
        """Whether it is one rate for every date."""
        return not self._cuts

    def at(self, day: dt.date | None) -> int:
        """Pence an hour in force on ``day`` (None or before the first value: the first)."""
        if day is None:
            return self.values[0].pence
        i = bisect_right(self._starts, day.toordinal()) - 1
        return self.values[max(i, 0)].pence

    def in_force(self, start: dt.date | None, end: dt.date) -> list[RateValue]:
        """The values in force on some day of ``[start, end]`` (``start`` None: from the
        first), in date order."""
        lo = 0 if start is None else max(bisect_right(self._starts, start.toordinal()) - 1, 0)
        hi = max(bisect_right(self._starts, end.toordinal()), 1)
        return list(self.values[lo:hi])

    def cut_gaps(self, timeline: Iterable[Segment]) -> Iterator[Segment]:
        """The segments of a timeline with every gap cut where the rate changes inside it
        (assignments as they are): each piece of a gap has one rate, :meth:`at` its start."""
        cuts = self._cuts
        for seg in timeline:
            if seg.assignment is not None or not cuts:
                yield seg
                continue
            lo = 0 if seg.start is None else bisect_right(cuts, seg.start.toordinal())
            hi = len(cuts) if seg.end is None else bisect_right(cuts, seg.end.toordinal())
            if lo == hi:
                yield seg
                continue
            start = seg.start
            for ordinal in cuts[lo:hi]:
                day = dt.date.fromordinal(ordinal)
                yield Segment(start, day - DAY, None)
                start = day
            yield Segment(start, seg.end, None)


def default_hourly_cost(query: Query) -> int | None:
    """The query's ``default_hourly_cost_pence`` (an integer >= 0), or None when unset."""
    raw = query.params.get(QUERY_PARAMETER)
    if raw is None:
        return None
    try:
        value = int(raw)
    except ValueError:
        msg = f"{QUERY_PARAMETER} must be an integer number of pence; got {raw!r}"
        raise ValueError(msg) from None
    if value < 0:
        msg = f"{QUERY_PARAMETER} must not be negative; got {value}"
        raise ValueError(msg)
    return value


def unattributed_rate(query: Query) -> UnattributedRate:
    """What a query costs unattributed minutes at: its flat ``default_hourly_cost_pence``,
    or the shipped parameter (:func:`shipped_rate`)."""
    return rate_of(default_hourly_cost(query))


def rate_of(pence: int | None) -> UnattributedRate:
    """A flat rate of ``pence`` an hour, or (None) the shipped parameter."""
    return shipped_rate() if pence is None else UnattributedRate.flat(pence)


@cache
def shipped_rate() -> UnattributedRate:
    """``cost.UNATTRIBUTED`` of the shipped parameter set (read once per process)."""
    text = files("ssp_ledger").joinpath("data", "parameters.toml").read_text(encoding="utf-8")
    return parse_rate(tomllib.loads(text), _SOURCE)


def parse_rate(data: dict[str, Any], source: str) -> UnattributedRate:
    """:data:`PARAMETER` of a parsed parameter file; ValueError naming ``source`` and the field
    when it is missing or malformed."""
    found = [p for p in data.get("parameters", ()) if p.get("name") == PARAMETER]
    if len(found) != 1:
        msg = f"{source}: parameter {PARAMETER!r} must be defined once (found {len(found)})"
        raise ValueError(msg)
    values: list[RateValue] = []
    for k, v in enumerate(found[0].get("values", ())):
        where = f"{source}: {PARAMETER} values[{k}]"
        day, pence, citation = v.get("effective_from"), v.get("value"), v.get("citation")
        if not isinstance(day, dt.date) or isinstance(day, dt.datetime):
            msg = f"{where}.effective_from: not a date: {day!r}"
            raise ValueError(msg)
        if not isinstance(pence, int) or isinstance(pence, bool) or pence < 0:
            msg = f"{where}.value: not a whole number of pence >= 0: {pence!r}"
            raise ValueError(msg)
        if not isinstance(citation, str) or not citation.strip():
            msg = f"{where}.citation: missing"
            raise ValueError(msg)
        values.append(RateValue(day, pence, citation, str(v.get("note", ""))))
    if not values:
        msg = f"{source}: {PARAMETER} has no values"
        raise ValueError(msg)
    values.sort(key=lambda v: v.effective_from)
    return UnattributedRate(PARAMETER, tuple(values))
