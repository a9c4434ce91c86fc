"""Dated, cited parameters: funding levels, hourly staff costs and release time over time.

A :class:`ParameterSet` holds named parameters (``funding.ssp-grant``, ``cost.SSCO``,
``release.PLT``, ...). Each parameter is a step function of the valid date: a list of values,
each with the date it takes effect (``effective_from``, inclusive) and a ``citation`` naming its
source in words. :meth:`ParameterSet.value_at` answers the value in force on a date: the value
with the latest ``effective_from`` on or before it, whatever order the file lists them in, so a
value dated in the future never hides (or freezes) the values before it. Asking for a date
before a parameter's first value is an error, never a silent zero.

The package ships one set (``ssp_ledger/data/parameters.toml``, loaded with
:func:`load_parameters`); researchers may pass their own file. Scenarios change a set with
:class:`Override` entries (a new value, or a scale factor, over a date range) through
:meth:`ParameterSet.with_overrides`, which returns a new set and leaves the original unchanged.

Names: ``funding.<stream>`` (pence a year, per partnership or per secondary school),
``cost.<ROLE>`` (full hourly cost in pence) and ``release.<ROLE>`` (term-time minutes a week),
where ROLE is one of the roles of :class:`~ssp_ledger.events.StaffAssigned` (and, for costs only,
``UNATTRIBUTED``: staff time recorded without a named staff member, or outside any assignment);
``survey.<measure>`` (the national PE and School Sport Survey result of the survey year starting
on the value's date, in per cent), ``partnerships.<count>`` (a count of partnerships in force
from the value's date, e.g. how many had been formed) and ``response.<name>`` (an assumption of
the behavioural response model, :mod:`ssp_ledger.response`: ``response.age-growth`` in per mille
a year of partnership age, ``response.age-growth-years`` in years).
"""

from __future__ import annotations

import datetime as dt
import tomllib
from bisect import bisect_right
from collections.abc import Iterable, Mapping, Sequence
from importlib.resources import files
from itertools import pairwise
from pathlib import Path
from typing import Any, Literal, Self, get_args

import pydantic
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from ssp_ledger.errors import InputError, LedgerError
from ssp_ledger.events import Role
from ssp_ledger.periods import ONE_DAY

__all__ = [
    "Basis",
    "InvalidOverride",
    "Override",
    "Parameter",
    "ParameterNotInForce",
    "ParameterSet",
    "ParameterValue",
    "UNIT_LIMITS",
    "Unit",
    "UnknownParameter",
    "default_parameters",
    "load_parameters",
    "pydantic_problems",
]

Unit = Literal["pence_per_year", "pence_per_hour", "minutes_per_week", "percent", "count",
               "per_mille", "years"]
"""Unit of a parameter's integer values."""
Basis = Literal["partnership", "secondary_school"]
"""What a funding level is given per: a whole partnership, or each secondary school in it."""

_KIND_UNITS: dict[str, tuple[Unit, ...]] = {
    "funding": ("pence_per_year",),
    "cost": ("pence_per_hour",),
    "release": ("minutes_per_week",),
    "survey": ("percent",),
    "partnerships": ("count",),
    "response": ("per_mille", "years"),
}
_ROLES: tuple[str, ...] = get_args(Role)
_UNATTRIBUTED = "UNATTRIBUTED"
"""The key of ``cost.UNATTRIBUTED``: the hourly cost of staff time no assignment covers (no named
staff member, or a person outside any assignment), which the staff-time cost report uses."""
#: Largest plausible value of each unit: £10m a year, £10,000 an hour, every minute of a week,
#: 100 per cent, 100,000 partnerships, 1,000 per mille, 100 years.
UNIT_LIMITS: Mapping[str, int] = {
    "pence_per_year": 1_000_000_000,
    "pence_per_hour": 1_000_000,
    "minutes_per_week": 7 * 24 * 60,
    "percent": 100,
    "count": 100_000,
    "per_mille": 1_000,
    "years": 100,
}


class UnknownParameter(LedgerError, KeyError):
    """No parameter of that name is in the set."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "unknown parameter"


class ParameterNotInForce(LedgerError, ValueError):
    """A parameter was asked for on a date before its first value."""


class InvalidOverride(LedgerError, ValueError):
    """An override would give a parameter an impossible value."""


class ParameterValue(BaseModel):
    """One dated value of a parameter, with its source."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    effective_from: dt.date
    """First day the value is in force (it stays in force until the next value's date)."""
    value: int = Field(ge=0, le=100_000_000_000)
    """The value, in the parameter's unit (pence or minutes)."""
    citation: str = Field(min_length=1, max_length=2_000)
    """Where the figure comes from, in words (document, author, date)."""
    note: str = Field(default="", max_length=2_000)
    """Qualification, e.g. ``estimate`` when the figure is a judgement rather than a source's."""

    @field_validator("citation")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            msg = "citation must not be blank"
            raise ValueError(msg)
        return value


class Parameter(BaseModel):
    """A named step function of the valid date."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(
        pattern=r"^(funding|cost|release|survey|partnerships|response)\.[A-Za-z0-9_-]+$")
    """``funding.<stream>``, ``cost.<ROLE>``, ``release.<ROLE>``, ``survey.<measure>``,
    ``partnerships.<count>`` or ``response.<name>``."""
    unit: Unit
    """Unit of the values; must match the name's kind."""
    basis: Basis | None = None
    """For funding: per partnership or per secondary school (required); None otherwise."""
    description: str = ""
    """What the parameter measures."""
    values: tuple[ParameterValue, ...] = Field(min_length=1)
    """Dated values, kept sorted by ``effective_from`` (the file may list them in any order)."""

    @field_validator("values")
    @classmethod
    def _sorted_unique(cls, values: tuple[ParameterValue, ...]) -> tuple[ParameterValue, ...]:
        ordered = tuple(sorted(values, key=lambda v: v.effective_from))
        for a, b in pairwise(ordered):
            if a.effective_from == b.effective_from:
                msg = f"two values take effect on {a.effective_from.isoformat()}"
                raise ValueError(msg)
        return ordered

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        kind, _, rest = self.name.partition(".")
        if self.unit not in _KIND_UNITS[kind]:
            msg = (f"unit of a {kind}.* parameter must be {' or '.join(_KIND_UNITS[kind])}, "
                   f"not {self.unit}")
            raise ValueError(msg)
        if kind == "funding" and self.basis is None:
            msg = "a funding parameter needs a basis: partnership or secondary_school"
            raise ValueError(msg)
        if kind != "funding" and self.basis is not None:
            msg = f"basis applies only to funding parameters, not {kind}.*"
            raise ValueError(msg)
        roles = (*_ROLES, _UNATTRIBUTED) if kind == "cost" else _ROLES
        if kind in ("cost", "release") and rest not in roles:
            msg = f"role {rest!r} of {self.name!r} must be one of {', '.join(roles)}"
            raise ValueError(msg)
        limit = UNIT_LIMITS[self.unit]
        for v in self.values:
            if v.value > limit:
                msg = (f"value {v.value} from {v.effective_from.isoformat()} is above the "
                       f"largest plausible {self.unit} ({limit})")
                raise ValueError(msg)
        return self

    @property
    def kind(self) -> str:
        """``funding``, ``cost``, ``release``, ``survey``, ``partnerships`` or ``response``."""
        return self.name.partition(".")[0]

    @property
    def key(self) -> str:
        """The stream or role the parameter is about (the part after the dot)."""
        return self.name.partition(".")[2]

    def entry_at(self, day: dt.date) -> ParameterValue | None:
        """The value in force on ``day`` (the latest dated on or before it), or None before."""
        i = bisect_right([v.effective_from for v in self.values], day) - 1
        return self.values[i] if i >= 0 else None

    def value_at(self, day: dt.date) -> int:
        """The value in force on ``day``; :class:`ParameterNotInForce` before the first."""
        entry = self.entry_at(day)
        if entry is None:
            msg = (f"parameter {self.name!r} has no value in force on {day.isoformat()} "
                   f"(its first value takes effect on {self.values[0].effective_from.isoformat()})")
            raise ParameterNotInForce(msg)
        return entry.value

    def changes(self, start: dt.date, end: dt.date) -> list[ParameterValue]:
        """Values taking effect in ``[start, end]``, in date order."""
        return [v for v in self.values if start <= v.effective_from <= end]

    def overridden(self, override: Override) -> Parameter:
        """A copy with ``override`` applied over its date range (see :class:`Override`)."""
        start, end = override.effective_from, override.until
        kept = [v for v in self.values if v.effective_from < start]
        if override.value is not None:
            kept.append(ParameterValue(effective_from=start, value=override.value,
                                       citation=override.citation, note="scenario override"))
        else:
            scale = override.scale
            assert scale is not None
            inside = [v for v in self.values
                      if v.effective_from > start and (end is None or v.effective_from <= end)]
            first = self.entry_at(start)
            for v in ([first] if first is not None else []) + inside:
                kept.append(ParameterValue(
                    effective_from=max(v.effective_from, start),
                    value=round(v.value * scale),
                    citation=f"{override.citation} (x{scale:g} of: {v.citation})",
                    note="scenario override"))
        if end is not None:
            after = end + ONE_DAY
            restored = self.entry_at(after)
            if restored is not None and restored.effective_from < after:
                kept.append(restored.model_copy(update={"effective_from": after}))
            kept.extend(v for v in self.values if v.effective_from >= after)
        values = tuple(sorted(kept, key=lambda v: v.effective_from))
        try:
            return Parameter.model_validate({**self.model_dump(), "values": values})
        except pydantic.ValidationError as e:
            reason = pydantic_problems(e)[0][1]
            msg = f"override of {self.name!r} from {start.isoformat()}: {reason}"
            raise InvalidOverride(msg) from None


class Override(BaseModel):
    """A scenario's change to one parameter from ``effective_from`` (to ``until``, inclusive).

    Give either ``value`` (the parameter takes this value over the whole range, replacing any
    value dated inside it) or ``scale`` (every value in force over the range is multiplied by it,
    rounded to an integer). After ``until`` the parameter's own values apply again.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    parameter: str = Field(min_length=1)
    """Name of the parameter, e.g. ``funding.ssp-grant``."""
    effective_from: dt.date
    """First day of the change."""
    until: dt.date | None = None
    """Last day of the change (None: open-ended)."""
    value: int | None = Field(default=None, ge=0, le=100_000_000_000)
    """New value in the parameter's unit."""
    scale: float | None = Field(default=None, ge=0, le=100)
    """Factor applied to the values in force."""
    citation: str = Field(min_length=1, max_length=2_000)
    """Why: the hypothesis or the source of the alternative figure."""

    @model_validator(mode="after")
    def _one_change(self) -> Self:
        if (self.value is None) == (self.scale is None):
            msg = "give exactly one of value or scale"
            raise ValueError(msg)
        if self.until is not None and self.until < self.effective_from:
            msg = (f"until {self.until.isoformat()} is before effective_from "
                   f"{self.effective_from.isoformat()}")
            raise ValueError(msg)
        return self


class ParameterSet(BaseModel):
    """Named, dated, cited parameters (see the module docstring)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    title: str = ""
    """What the set describes."""
    description: str = ""
    """Context and general sources."""
    parameters: tuple[Parameter, ...] = ()
    """The parameters, each name once."""

    @field_validator("parameters")
    @classmethod
    def _unique(cls, parameters: tuple[Parameter, ...]) -> tuple[Parameter, ...]:
        seen: set[str] = set()
        for p in parameters:
            if p.name in seen:
                msg = f"parameter {p.name!r} is defined twice"
                raise ValueError(msg)
            seen.add(p.name)
        return parameters

    @property
    def names(self) -> list[str]:
        """Sorted parameter names."""
        return sorted(p.name for p in self.parameters)

    def __contains__(self, name: object) -> bool:
        return any(p.name == name for p in self.parameters)

    def get(self, name: str) -> Parameter:
        """The parameter called ``name``; :class:`UnknownParameter` if there is none."""
        for p in self.parameters:
            if p.name == name:
                return p
        msg = f"no parameter named {name!r}; known: {', '.join(self.names)}"
        raise UnknownParameter(msg)

    def of_kind(self, kind: str) -> list[Parameter]:
        """Parameters whose name starts with ``kind.`` (funding, cost, release), by name."""
        return sorted((p for p in self.parameters if p.kind == kind), key=lambda p: p.name)

    def value_at(self, name: str, day: dt.date) -> int:
        """Value of ``name`` in force on ``day`` (errors for unknown names and early dates)."""
        return self.get(name).value_at(day)

    def value_or_none(self, name: str, day: dt.date) -> int | None:
        """Value of ``name`` in force on ``day``; None for an unknown name or before its first."""
        if name not in self:
            return None
        entry = self.get(name).entry_at(day)
        return entry.value if entry is not None else None

    def entry_at(self, name: str, day: dt.date) -> ParameterValue | None:
        """The dated, cited value of ``name`` in force on ``day`` (None before its first)."""
        return self.get(name).entry_at(day)

    def with_overrides(self, overrides: Iterable[Override]) -> ParameterSet:
        """A new set with each override applied in turn (later ones win where they overlap)."""
        by_name = {p.name: p for p in self.parameters}
        for override in overrides:
            if override.parameter not in by_name:
                self.get(override.parameter)  # raises UnknownParameter naming the known ones
            by_name[override.parameter] = by_name[override.parameter].overridden(override)
        return self.model_copy(update={"parameters": tuple(by_name[p.name]
                                                           for p in self.parameters)})

    def table(self, day: dt.date | None = None) -> list[dict[str, Any]]:
        """Every value (or, given ``day``, the value in force then) as plain rows."""
        rows: list[dict[str, Any]] = []
        for p in sorted(self.parameters, key=lambda p: p.name):
            entries: Sequence[ParameterValue | None] = (
                p.values if day is None else [p.entry_at(day)])
            for v in entries:
                if v is not None:
                    rows.append({"name": p.name, "unit": p.unit,
                                 "effective_from": v.effective_from.isoformat(),
                                 "value": v.value, "citation": v.citation, "note": v.note})
        return rows


def pydantic_problems(error: pydantic.ValidationError) -> list[tuple[str, str]]:
    """(field path, reason) for each problem of a pydantic error, e.g. ``values[2].value``."""
    out: list[tuple[str, str]] = []
    for item in error.errors():
        path = ""
        for part in item["loc"]:
            path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
        ctx: Mapping[str, Any] = item.get("ctx") or {}
        cause = ctx.get("error")
        extra_path = getattr(cause, "field", None)
        if isinstance(extra_path, str) and extra_path:
            path = f"{path}.{extra_path}" if path else extra_path
        reason = str(cause) if cause is not None else item["msg"]
        if item["type"] == "extra_forbidden":
            reason = "unknown field"
        elif item["type"] == "missing":
            reason = "missing required field"
        reason = reason[:1].lower() + reason[1:]
        out.append((path, reason))
    return out


def _input_error(error: pydantic.ValidationError, source: str) -> InputError:
    problems = pydantic_problems(error)
    field, reason = problems[0]
    more = "; ".join(f"{f}: {r}" for f, r in problems[1:4])
    if more:
        reason = f"{reason} (also {more})"
    return InputError(reason, source=source, field=field or None)


def parse_parameters(data: Mapping[str, Any], source: str = "parameters") -> ParameterSet:
    """Validate a parameter set given as plain data (parsed TOML or JSON)."""
    try:
        return ParameterSet.model_validate(data)
    except pydantic.ValidationError as e:
        raise _input_error(e, source) from None


def load_parameters(path: str | Path | None = None) -> ParameterSet:
    """Read a parameter set from a TOML file, or the one shipped in the package (None)."""
    if path is None:
        text = files("ssp_ledger").joinpath("data", "parameters.toml").read_text(encoding="utf-8")
        source = "ssp_ledger/data/parameters.toml"
    else:
        source = str(path)
        text = Path(path).read_text(encoding="utf-8")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise InputError(f"not valid TOML: {e}", source=source) from None
    return parse_parameters(data, source)


_DEFAULT: list[ParameterSet] = []


def default_parameters() -> ParameterSet:
    """The shipped parameter set (read once per process)."""
    if not _DEFAULT:
        _DEFAULT.append(load_parameters())
    return _DEFAULT[0]
