"""Researchers' scenarios: branch a history at a fork date, apply a reform, compare with a baseline.

A :class:`Scenario` (a TOML or JSON file, validated by pydantic) names a base history (a store,
a JSONL export, or ``synthetic``), a fork date and a horizon, and a reform: parameter
:class:`~ssp_ledger.parameters.Override` entries and hypothetical events written exactly like
lines of a JSONL import (``{"type": "FundingChanged", ...}``; ``"partnership_id": "*"`` means
every partnership). :func:`run_scenario` copies the base facts dated before the fork into two
in-memory ledgers and lets the behavioural response model (:mod:`ssp_ledger.response`) write the
history from the fork to the horizon in each: the *baseline* with the shipped parameters and no
hypothetical events, the *scenario* with the reform. Both arms use the same model, seed and
response parameters, so their difference is the reform alone. The base store is only read (a
SQLite file through a temporary copy), never written.

:class:`ScenarioResult` holds both ledgers (ask them anything) and diff tables per period:
participation, staff-time cost (funded vs hidden), membership, funding and leaders. Every figure
is an integer whose unit and aggregation :data:`MEASURE_UNITS` records: flows are summed over a
period, levels (a funding level in force, member schools, tenure) are as at its last day.
Repeating both arms over many seeds (an interval of each difference) is
:mod:`ssp_ledger.ensembles`; checking the model against the recorded history is
:mod:`ssp_ledger.backtest`.
:func:`sweep` runs a scenario for several values of one setting in parallel processes and
returns one row per value; :func:`plot` draws baseline against scenario with matplotlib (the
``scenarios`` extra).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import os
import re
import shutil
import tempfile
import threading
import tomllib
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal, NamedTuple, Self, get_args

import msgspec
import pydantic
from pydantic import BaseModel, ConfigDict, Field, PlainSerializer, PlainValidator, model_validator

from ssp_ledger.application import Ledger
from ssp_ledger.decode_errors import parse_decode_error
from ssp_ledger.errors import DomainRuleViolation, InputError, LedgerError
from ssp_ledger.events import (
    EVENT_TYPES,
    CorrectableEvent,
    DomainEvent,
    EventCorrected,
    EventRetracted,
    PartnershipDissolved,
)
from ssp_ledger.parameters import (
    InvalidOverride,
    Override,
    ParameterSet,
    UnknownParameter,
    default_parameters,
    load_parameters,
    pydantic_problems,
)
from ssp_ledger.partnership import Facts, Partnership, valid_time_order
from ssp_ledger.periods import Period, PeriodKind, periods_between
from ssp_ledger.projection import (
    Batched,
    Cell,
    Fact,
    ProjectionSet,
    Query,
    Table,
    handled_types,
    load_projections,
    paused_gc,
)
from ssp_ledger.response import (
    ForkState,
    ResponseParameters,
    fact_order,
    fork_states,
    simulate,
    simulate_arms,
)
from ssp_ledger.store import Recorded
from ssp_ledger.synthetic import SyntheticConfig, generate

__all__ = [
    "AREAS",
    "DIFF_COLUMNS",
    "MEASURE_UNITS",
    "MeasureUnit",
    "SWEEP_MEASURES",
    "Scenario",
    "ScenarioError",
    "check_plot_path",
    "ScenarioResult",
    "SweepResult",
    "SyntheticBase",
    "facts_in_force",
    "figures",
    "load_base",
    "load_history",
    "load_scenario",
    "parse_scenario",
    "plot",
    "run_scenario",
    "scenario_variant",
    "sweep",
    "tidy_csv",
]

AREAS: Mapping[str, tuple[str, tuple[str, ...]]] = {
    "participation": ("participation", ("sessions", "attendances", "send_attendances",
                                        "competitions", "competition_participants")),
    "staff_time_cost": ("staff_time_cost", ("funded_minutes", "hidden_minutes", "funded_pence",
                                            "hidden_pence", "total_pence")),
    "membership": ("partnership_age", ("active_members", "mean_tenure_days")),
    "funding": ("funding", ("level_in_force_pence", "received_pence", "staff_cost_pence",
                            "funding_gap_pence")),
    "leaders": ("leaders", ("people_trained", "courses", "cpd_teachers")),
}
"""Diff table name -> (projection it reads, measures compared)."""
DIFF_COLUMNS: tuple[str, ...] = ("period", "measure", "baseline", "scenario", "difference")
"""Columns of every diff table (one row per period and measure)."""


@dataclass(frozen=True)
class MeasureUnit:
    """What a diff table's figure is: its unit and how a period's figure is formed."""

    unit: str
    """``count``, ``minutes``, ``days``, ``pence`` or ``pence_per_year`` (money is always integer
    pence in the data; only tables for people show pounds)."""
    aggregation: Literal["sum", "end"]
    """``sum``: a flow, summed over the period; ``end``: a level or stock, as at the period's
    last day (the horizon for a period it cuts), never summed."""
    label: str
    """How a table for people names it (money shown in pounds says so: ``(£)``)."""

    def describe(self) -> dict[str, str]:
        """Plain metadata for JSON output."""
        return {"unit": self.unit, "aggregation": ("sum over the period" if self.aggregation ==
                                                   "sum" else "at the period's last day"),
                "label": self.label}


MEASURE_UNITS: Mapping[str, MeasureUnit] = {
    "sessions": MeasureUnit("count", "sum", "club sessions"),
    "attendances": MeasureUnit("count", "sum", "attendances"),
    "send_attendances": MeasureUnit("count", "sum", "SEND attendances"),
    "competitions": MeasureUnit("count", "sum", "competitions"),
    "competition_participants": MeasureUnit("count", "sum", "competition participants"),
    "funded_minutes": MeasureUnit("minutes", "sum", "funded staff minutes"),
    "hidden_minutes": MeasureUnit("minutes", "sum", "hidden staff minutes"),
    "funded_pence": MeasureUnit("pence", "sum", "funded staff cost (£)"),
    "hidden_pence": MeasureUnit("pence", "sum", "hidden staff cost (£)"),
    "total_pence": MeasureUnit("pence", "sum", "total staff cost (£)"),
    "active_members": MeasureUnit("count", "end", "member schools (at period end)"),
    "mean_tenure_days": MeasureUnit("days", "end", "mean tenure, days (at period end)"),
    "level_in_force_pence": MeasureUnit("pence_per_year", "end",
                                        "funding level (£ a year, at period end)"),
    "received_pence": MeasureUnit("pence", "sum", "funding received (£)"),
    "staff_cost_pence": MeasureUnit("pence", "sum", "staff cost (£)"),
    "funding_gap_pence": MeasureUnit("pence", "sum", "funding gap (£)"),
    "people_trained": MeasureUnit("count", "sum", "people trained"),
    "courses": MeasureUnit("count", "sum", "courses"),
    "cpd_teachers": MeasureUnit("count", "sum", "CPD teacher places"),
}
"""Unit, aggregation and display label of every measure of :data:`AREAS`."""
SWEEP_MEASURES: tuple[tuple[str, str], ...] = (
    ("participation", "sessions"),
    ("participation", "attendances"),
    ("staff_time_cost", "funded_pence"),
    ("staff_time_cost", "hidden_pence"),
    ("funding", "funding_gap_pence"),
    ("membership", "active_members"),
    ("leaders", "people_trained"),
)
"""(table, measure) pairs a sweep reports for the window from the fork to the horizon."""
MAX_YEARS = 25
"""Longest span from fork date to horizon."""
_JSONL_SUFFIXES = (".jsonl", ".ndjson")


class ScenarioError(LedgerError, ValueError):
    """A scenario cannot be run (bad reference, rule broken by a hypothetical event, ...)."""


class _FieldProblem(ValueError):
    """A validation problem with a field path below the pydantic location."""

    def __init__(self, reason: str, field: str = "") -> None:
        super().__init__(reason)
        self.field = field


# --------------------------------------------------------------------------- the scenario model

_IDENT = re.compile(r"[a-z_]+")


def _event_problem(message: str, data: object) -> _FieldProblem:
    """Turn a msgspec validation message into a reason and a field path."""
    problem = parse_decode_error(message)
    msg, path = problem.message, problem.path
    if problem.missing or problem.unknown:
        what = "missing required field" if problem.missing else "unknown field"
        return _FieldProblem(what, problem.field)
    if path == "type":
        return _FieldProblem(f"{msg[:1].lower()}{msg[1:]}; expected one of "
                             f"{', '.join(_HYPOTHETICAL_TYPES)}", "type")
    if path:
        return _FieldProblem(msg.replace("`", "")[:1].lower() + msg.replace("`", "")[1:], path)
    # A rule checked by the event itself: name the first field its message mentions.
    tag = data.get("type") if isinstance(data, dict) else None
    cls = EVENT_TYPES.get(tag) if isinstance(tag, str) else None
    names = {f.name for f in msgspec.structs.fields(cls)} if cls is not None else set()
    field = next((w for w in _IDENT.findall(msg) if w in names), "")
    return _FieldProblem(msg, field)


_HYPOTHETICAL_TYPES = tuple(n for n in EVENT_TYPES if n not in ("EventCorrected",
                                                                 "EventRetracted"))


def _to_event(value: object) -> CorrectableEvent:
    if isinstance(value, EventCorrected | EventRetracted):
        raise _FieldProblem("corrections cannot be hypothetical events", "type")
    if not isinstance(value, dict):
        if isinstance(value, get_args(CorrectableEvent)):
            return value  # type: ignore[no-any-return]
        msg = "expected an event: a table/object with a \"type\" field"
        raise _FieldProblem(msg)
    if value.get("type") in ("EventCorrected", "EventRetracted"):
        msg = (f"{value['type']} cannot be a hypothetical event: a scenario adds facts after its "
               "fork, it does not correct the base history")
        raise _FieldProblem(msg, "type")
    try:
        event = msgspec.convert(value, DomainEvent)
    except msgspec.ValidationError as e:
        raise _event_problem(str(e), value) from None
    assert not isinstance(event, EventCorrected | EventRetracted)
    return event  # type: ignore[no-any-return]


def _event_builtins(event: CorrectableEvent) -> Any:
    return msgspec.to_builtins(event)


HypotheticalEvent = Annotated[
    CorrectableEvent, PlainValidator(_to_event), PlainSerializer(_event_builtins)
]
"""An event given as a JSON-like mapping (the JSONL import format), validated by msgspec."""


class SyntheticBase(BaseModel):
    """The synthetic history used as base when ``base = "synthetic"`` (see SyntheticConfig)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    seed: int = 2006
    """Seed of the synthetic history (not of the response model)."""
    partnerships: int = Field(default=1, ge=1, le=50)
    """Number of partnerships."""
    secondaries: int = Field(default=6, ge=0, le=60)
    """Secondary schools besides the hub, per partnership."""
    primaries: int = Field(default=30, ge=0, le=300)
    """Primary schools per partnership."""
    specials: int = Field(default=2, ge=0, le=30)
    """Special schools per partnership."""
    formed_on: dt.date = dt.date(2006, 9, 1)
    """Formation date of every partnership."""

    def config(self) -> SyntheticConfig:
        """The generator configuration."""
        return SyntheticConfig(seed=self.seed, partnerships=self.partnerships,
                               secondaries=self.secondaries, primaries=self.primaries,
                               specials=self.specials, formed_on=self.formed_on)


class Scenario(BaseModel):
    """A reform to compare with the baseline (see the module docstring and docs/researchers.md).

    ``base`` is ``"synthetic"`` (configured by ``synthetic``), a SQLite store file, a JSONL
    export (``.jsonl``) or a ``postgresql://`` URL; relative paths are resolved against the
    scenario file's folder when loaded with :func:`load_scenario`.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    """Short name shown on tables and plots."""
    description: str = ""
    """What the reform is and why."""
    base: str = Field(default="synthetic", min_length=1)
    """The history to branch: ``synthetic``, a store path or URL, or a JSONL export."""
    synthetic: SyntheticBase = SyntheticBase()
    """The synthetic history's settings (when ``base`` is ``synthetic``)."""
    base_known_at: dt.datetime | None = None
    """Read the base store as known at this recorded time (None: everything)."""
    fork_date: dt.date
    """First day the arms may differ: base facts dated before it are kept, the rest modelled."""
    horizon: dt.date
    """Last day modelled (inclusive)."""
    by: PeriodKind = "academic_year"
    """Periods of the diff tables."""
    seed: int = 1
    """Seed of the response model (both arms)."""
    parameters: str | None = None
    """Path of a parameter set to use instead of the shipped one."""
    overrides: tuple[Override, ...] = ()
    """Parameter changes (scenario arm only); none may start before the fork date."""
    events: tuple[HypotheticalEvent, ...] = ()
    """Hypothetical events (scenario arm only), dated on or after the fork date."""
    response: ResponseParameters = ResponseParameters()
    """Assumptions of the response model (both arms)."""

    @model_validator(mode="after")
    def _dates(self) -> Self:
        if self.horizon < self.fork_date:
            msg = (f"horizon {self.horizon.isoformat()} is before fork_date "
                   f"{self.fork_date.isoformat()}")
            raise _FieldProblem(msg, "horizon")
        if (self.horizon - self.fork_date).days > MAX_YEARS * 366:
            raise _FieldProblem(f"horizon is more than {MAX_YEARS} years after fork_date",
                                "horizon")
        for i, override in enumerate(self.overrides):
            if override.effective_from < self.fork_date:
                msg = (f"{override.effective_from.isoformat()} is before fork_date "
                       f"{self.fork_date.isoformat()}: a scenario cannot change history before "
                       "its fork")
                raise _FieldProblem(msg, f"overrides[{i}].effective_from")
        for i, event in enumerate(self.events):
            if event.occurred_on < self.fork_date:
                msg = (f"{event.occurred_on.isoformat()} is before fork_date "
                       f"{self.fork_date.isoformat()}: hypothetical events start at the fork")
                raise _FieldProblem(msg, f"events[{i}].occurred_on")
        if self.base_known_at is not None:
            if self.base == "synthetic":
                raise _FieldProblem("only a stored base has recorded times", "base_known_at")
            if self.base_known_at.utcoffset() is None:
                raise _FieldProblem("give a timezone, e.g. 2012-01-01T00:00:00Z",
                                    "base_known_at")
        return self

    @property
    def is_reform(self) -> bool:
        """True when the scenario changes anything (overrides or events)."""
        return bool(self.overrides or self.events)


def parse_scenario(data: Mapping[str, Any], *, source: str = "scenario",
                   folder: Path | None = None) -> Scenario:
    """Validate a scenario given as plain data; resolve relative paths against ``folder``.

    Raises :class:`~ssp_ledger.errors.InputError` naming the source and the field
    (``events[1].annual_amount_pence``, ``overrides[0].effective_from``, ...).
    """
    try:
        scenario = Scenario.model_validate(data)
    except pydantic.ValidationError as e:
        problems = pydantic_problems(e)
        field, reason = problems[0]
        if len(problems) > 1:
            reason += " (also " + "; ".join(f"{f}: {r}" for f, r in problems[1:4]) + ")"
        raise InputError(reason, source=source, field=field or None) from None
    if folder is not None:
        updates: dict[str, str] = {}
        if scenario.base != "synthetic" and "://" not in scenario.base:
            updates["base"] = str(folder / Path(scenario.base).expanduser())
        if scenario.parameters is not None:
            updates["parameters"] = str(folder / Path(scenario.parameters).expanduser())
        if updates:
            scenario = scenario.model_copy(update=updates)
    return scenario


def load_scenario(path: str | Path) -> Scenario:
    """Read a scenario from a ``.toml`` or ``.json`` file (errors name the file and field)."""
    path = Path(path)
    source = str(path)
    if not path.is_file():
        raise InputError("no such file" if not path.exists() else "not a file", source=source)
    text = path.read_text(encoding="utf-8")
    data: Any
    if path.suffix.lower() == ".toml":
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as e:
            raise InputError(f"not valid TOML: {e}", source=source) from None
    elif path.suffix.lower() == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            raise InputError(f"not valid JSON: {e}", source=source) from None
    else:
        raise InputError("a scenario file must end in .toml or .json", source=source)
    if not isinstance(data, dict):
        raise InputError("a scenario must be a table/object", source=source)
    return parse_scenario(data, source=source, folder=path.resolve().parent)


def tidy_csv(columns: Sequence[str], rows: Iterable[Mapping[str, Cell]]) -> str:
    """Tidy rows (each a ``table`` name then ``columns``) as CSV, raw integers."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(("table", *columns))
    for row in rows:
        writer.writerow(row.values())
    return buffer.getvalue()


def scenario_parameters(scenario: Scenario) -> ParameterSet:
    """The parameter set the scenario names, or the shipped one."""
    if scenario.parameters is None:
        return default_parameters()
    return load_parameters(scenario.parameters)


# --------------------------------------------------------------------------- the base history


def facts_in_force(events: Iterable[DomainEvent]) -> list[CorrectableEvent]:
    """The facts in force after applying corrections and retractions, in first-recorded order."""
    current: dict[tuple[str, str], CorrectableEvent] = {}
    for event in events:
        if isinstance(event, EventCorrected):
            current[(event.partnership_id, event.target_event_id)] = event.replacement
        elif isinstance(event, EventRetracted):
            current.pop((event.partnership_id, event.target_event_id), None)
        else:
            current[(event.partnership_id, event.event_id)] = event
    return list(current.values())


def _read_ledger(ledger: Ledger, known_at: dt.datetime | None) -> list[DomainEvent]:
    return [rec.event for _, rec in ledger.read()
            if known_at is None or rec.recorded_at <= known_at]


def load_base(scenario: Scenario) -> list[CorrectableEvent]:
    """The base facts dated before the fork (the store is read, never written).

    A SQLite store is copied to a temporary folder and read there, so not a byte of the original
    (or its folder) changes; a PostgreSQL store is only read.
    """
    fork = scenario.fork_date
    return [f for f in load_history(scenario) if f.occurred_on < fork]


def load_history(scenario: Scenario) -> list[CorrectableEvent]:
    """Every fact in force of the scenario's base, whatever its date (read as :func:`load_base`
    reads it); a back-test compares the model with the part after its cut-off."""
    if scenario.base == "synthetic":
        events: Iterable[DomainEvent] = generate(scenario.synthetic.config())
    elif "://" in scenario.base:
        with Ledger.open(scenario.base) as ledger:
            events = _read_ledger(ledger, scenario.base_known_at)
    else:
        path = Path(scenario.base)
        if not path.is_file():
            msg = f"base {scenario.base!r}: {'not a file' if path.exists() else 'no such file'}"
            raise ScenarioError(msg)
        if path.suffix.lower() in _JSONL_SUFFIXES:
            if scenario.base_known_at is not None:
                msg = "base_known_at needs a store: a JSONL export has no recorded times"
                raise ScenarioError(msg)
            from ssp_ledger.io import read_jsonl

            events = read_jsonl(path)
        else:
            with tempfile.TemporaryDirectory(prefix="ssp-scenario-") as tmp:
                copy = Path(tmp) / "base.db"
                shutil.copyfile(path, copy)
                wal = path.with_name(path.name + "-wal")
                if wal.is_file():
                    shutil.copyfile(wal, copy.with_name(copy.name + "-wal"))
                try:
                    with Ledger.open(copy) as ledger:
                        events = _read_ledger(ledger, scenario.base_known_at)
                except LedgerError as e:  # name the user's file, not the temporary copy
                    msg = str(e).replace(str(copy), str(path))
                    raise ScenarioError(f"base {scenario.base!r}: {msg}") from None
    return facts_in_force(events)


# --------------------------------------------------------------------------- running


def _fixed_clock(scenario: Scenario) -> Callable[[], dt.datetime]:
    moment = dt.datetime.combine(scenario.fork_date, dt.time(), tzinfo=dt.UTC)
    return lambda: moment


def _expand(events: Sequence[CorrectableEvent], partnerships: Iterable[str]
            ) -> list[CorrectableEvent]:
    """Hypothetical events with ``partnership_id = "*"`` copied to every partnership."""
    ids = sorted(partnerships)
    out: list[CorrectableEvent] = []
    for event in events:
        if event.partnership_id == "*":
            out.extend(msgspec.structs.replace(event, partnership_id=pid) for pid in ids)
        else:
            out.append(event)
    return out


def _arm_parameters(scenario: Scenario, parameters: ParameterSet) -> ParameterSet:
    """The parameters with the scenario's overrides (errors name the override)."""
    for i, override in enumerate(scenario.overrides):
        try:
            parameters = parameters.with_overrides([override])
        except UnknownParameter as e:
            raise InputError(str(e), source=scenario.name,
                             field=f"overrides[{i}].parameter") from None
        except InvalidOverride as e:
            raise InputError(str(e), source=scenario.name, field=f"overrides[{i}]") from None
    return parameters


_FED_BATCH = 10_000
"""Events per batch when building an arm ledger: small enough that the ledger feeds each
batch's records straight to its live projections instead of reading (decoding, re-admitting)
them back from the log on the first report."""


def _record_fed(ledger: Ledger, events: Sequence[CorrectableEvent]) -> None:
    """Record ``events`` in batches that keep the ledger's live projections fed as it writes."""
    ledger.view()  # the live projections exist from the start, so every batch feeds them
    for start in range(0, len(events), _FED_BATCH):
        ledger.record_many(events[start:start + _FED_BATCH])


@dataclass(frozen=True)
class _ArmEvents:
    """What one arm records: the base facts before the fork, then the history after it."""

    facts: Sequence[CorrectableEvent]
    """Base facts dated before the fork, in :func:`~ssp_ledger.response.fact_order`."""
    after: list[CorrectableEvent]
    """Hypothetical and modelled events from the fork to the horizon, in recording order."""
    hypothetical: frozenset[str]
    """Ids of the hypothetical events among them (to say where a broken rule came from)."""


def _fork_facts(scenario: Scenario, base: Iterable[CorrectableEvent]
                ) -> list[CorrectableEvent]:
    """The base facts dated before the fork, in the order both arms record them."""
    fork = scenario.fork_date
    return sorted((f for f in base if f.occurred_on < fork), key=fact_order)


def _arm_events(scenario: Scenario, facts: Sequence[CorrectableEvent],
                states: Mapping[str, ForkState], parameters: ParameterSet, *,
                reform: bool) -> _ArmEvents:
    """One arm's events (``facts`` as :func:`_fork_facts` gives them, ``states`` their
    :func:`~ssp_ledger.response.fork_states`)."""
    fork, horizon = scenario.fork_date, scenario.horizon
    live = [pid for pid, s in states.items() if s.dissolved_on is None]
    arm_parameters = _arm_parameters(scenario, parameters) if reform else parameters
    hypothetical = [e for e in _expand(scenario.events, live) if e.occurred_on <= horizon] \
        if reform else []
    by_partnership: dict[str, list[CorrectableEvent]] = {}
    for event in hypothetical:
        by_partnership.setdefault(event.partnership_id, []).append(event)
    modelled = simulate(states, parameters=arm_parameters, response=scenario.response,
                        seed=scenario.seed, fork=fork, horizon=horizon,
                        hypothetical=by_partnership)
    after = sorted([*hypothetical, *modelled], key=lambda e: fact_order(e)[:2])
    return _ArmEvents(facts, after, frozenset(e.event_id for e in hypothetical))


def _broken_rule(e: DomainRuleViolation, hypothetical: frozenset[str]) -> ScenarioError:
    origin = "a hypothetical event" if e.event_id in hypothetical else "the modelled history"
    return ScenarioError(f"{origin} breaks a rule: {e}")


def _arm_ledger(scenario: Scenario, arm: _ArmEvents) -> Ledger:
    """An in-memory ledger that records the arm's events (the reference path: every rule
    checked, every record stored and hash-chained, the live projections fed)."""
    ledger = Ledger.in_memory(clock=_fixed_clock(scenario))
    try:
        _record_fed(ledger, arm.facts)
        _record_fed(ledger, arm.after)
    except DomainRuleViolation as e:
        ledger.close()
        raise _broken_rule(e, arm.hypothetical) from None
    return ledger


def build_arm(scenario: Scenario, base: Sequence[CorrectableEvent], parameters: ParameterSet,
              *, reform: bool) -> Ledger:
    """One arm in memory: the base facts before the fork, then the modelled history.

    ``reform=False`` gives the baseline (``parameters`` as they are, no hypothetical events);
    ``reform=True`` applies the scenario's overrides and events. This is the straightforward
    path (a full ledger per arm), the reference :func:`run_scenario`'s figures are tested
    against.
    """
    facts = _fork_facts(scenario, base)
    states = fork_states(facts, scenario.fork_date, scenario.response.reference_days)
    return _arm_ledger(scenario, _arm_events(scenario, facts, states, parameters, reform=reform))


# --------------------------------------------------------------------------- the fast path

_AREA_PROJECTIONS: tuple[str, ...] = tuple(dict.fromkeys(p for p, _ in AREAS.values()))
"""The projections the diff tables read."""

Report = Callable[[str, dt.date, Period | None], Table]
"""``report(projection, as_of, period)``: one arm's table (as ``Ledger.report`` answers it)."""

_Raw = dict[tuple[str, str], int]
"""(table, measure) -> figure of one period, before partitions are added up."""
_TENURE = ("membership", "member_tenure_days")
"""Raw figure: the sum of every member school's tenure (the mean's numerator)."""


class _Branch:
    """The projections a diff table reads, fed an arm's facts without a log.

    A ledger that records an arm also encodes, hash-chains and stores every record, and feeds
    projections no diff table reads; a branch feeds only the projections of :data:`AREAS`, and
    hands them facts directly: every event fed is a new fact (the arms hold no corrections), so
    there is no record to keep and no correction to resolve. A :class:`~ssp_ledger.projection.
    Batched` projection gets a whole feed as one batch (``apply_batch``, which its contract holds
    equal to applying the facts one by one), the others fact by fact; each fact has the position
    and recorded time a ledger's live view would give it. Facts fed last can be withdrawn
    (:meth:`withdraw`: retracted, which projections undo exactly), so the history both arms share
    is fed once and each arm's own part in turn. The projections are made and wired to each
    other (``attach``) by a :class:`~ssp_ledger.projection.ProjectionSet`, which also answers
    which of them takes facts of each class.
    """

    def __init__(self, recorded_at: dt.datetime) -> None:
        self._recorded_at = recorded_at
        self.position = 0
        """Position of the last record a ledger holding the same history would have written."""
        factories = load_projections()
        self.view = ProjectionSet({name: factories[name] for name in _AREA_PROJECTIONS},
                                  self._load)
        self._routes: dict[type, tuple[int, ...]] = {}
        self._projections = tuple(self.view.projections.values())
        for projection in self._projections:
            # Every arm is asked a dozen questions between two feeds: a projection that builds
            # a table after a few of them (the staff-time cost's cumulative tables) builds it at
            # the first rather than also answering that one piece by piece. Same answers.
            if hasattr(projection, "tables_after"):
                projection.tables_after = 1

    @staticmethod
    def _load(position: int) -> Recorded:
        msg = f"a branch keeps no records (asked for position {position})"
        raise LookupError(msg)

    def _route(self, kind: type) -> tuple[int, ...]:
        """Indexes of the projections taking facts of class ``kind``."""
        found = self._routes.get(kind)
        if found is None:
            found = self._routes[kind] = tuple(
                i for i, p in enumerate(self._projections)
                if (handles := handled_types(p)) is None or issubclass(kind, handles))
        return found

    def _hand(self, facts: Sequence[Fact], sign: int) -> None:
        """Apply (``sign`` 1) or retract (-1) ``facts``, in order, in every projection taking
        them."""
        shares: list[list[Fact]] = [[] for _ in self._projections]
        routes = self._routes
        for fact in facts:
            kind = fact.event.__class__
            for i in routes.get(kind) or self._route(kind):
                shares[i].append(fact)
        for projection, share in zip(self._projections, shares, strict=True):
            if not share:
                continue
            if isinstance(projection, Batched):
                projection.apply_batch(share, [sign] * len(share))
            else:
                step = projection.apply if sign > 0 else projection.retract
                for fact in share:
                    step(fact)

    def feed(self, events: Sequence[CorrectableEvent]) -> list[Fact]:
        """Feed events (already admitted, none fed before) in order, as the next records of the
        log; the facts fed (to :meth:`withdraw` them)."""
        at, start = self._recorded_at, self.position
        facts = [Fact(start + i, at, event) for i, event in enumerate(events, 1)]
        self.position += len(facts)
        self._hand(facts, 1)
        return facts

    def withdraw(self, facts: Sequence[Fact]) -> None:
        """Take back facts fed before (as a ledger's retractions would, the last first: each
        takes a position)."""
        self.position += len(facts)
        self._hand(facts[::-1], -1)

    def report(self, projection: str, as_of: dt.date, period: Period | None) -> Table:
        """The table ``Ledger.report(projection, as_of=..., period=...)`` would answer."""
        return self.view[projection].report(Query(as_of=as_of, period=period))


@dataclass(frozen=True)
class _Job:
    """What every partition of a run shares (handed to each worker process once)."""

    scenario: Scenario
    parameters: ParameterSet
    facts: Sequence[CorrectableEvent]
    """Base facts before the fork, in recording order (:func:`_fork_facts`)."""
    live: tuple[str, ...]
    """Partnerships not dissolved before the fork (those ``"*"`` events are copied to)."""
    rows_of: tuple[Period, ...]
    """The periods of the diff tables, then the window."""


@dataclass(frozen=True)
class _PartResult:
    """One partition's figures of both arms (or the first rule it found broken)."""

    baseline: list[_Raw]
    reform: list[_Raw]
    broken: tuple[tuple[Any, ...], str] | None = None
    """(where in the recording order, message) of the first broken rule."""


_BASE, _BASELINE, _REFORM = 0, 1, 3
"""Phases of recording, in the order a ledger per arm meets them (the reform's own copy of the
base facts, phase 2, breaks a rule only where the baseline's did)."""


def _after_keys(scenario: Scenario, live: Sequence[str], pids: frozenset[str], *,
                reform: bool) -> tuple[list[CorrectableEvent], dict[int, tuple[Any, ...]]]:
    """An arm's hypothetical events of partition ``pids`` with their place before sorting."""
    if not reform:
        return [], {}
    expanded = [e for e in _expand(scenario.events, live) if e.occurred_on <= scenario.horizon]
    mine = [(i, e) for i, e in enumerate(expanded) if e.partnership_id in pids]
    return [e for _, e in mine], {id(e): (0, i) for i, e in mine}


def _run_partition(job: _Job, pids: frozenset[str]) -> _PartResult:
    """Both arms' raw figures over the partnerships ``pids`` (they depend on no other
    partnership: rules, the model and every figure are per partnership, and national figures
    are sums). Rules are decided partnership by partnership in recording order; the first broken
    one is reported with its place in the order two ledgers would have met it.

    The cyclic garbage collector is paused meanwhile, as for a replay: the run creates millions
    of long-lived objects (events, facts, decision state) and each full collection would walk
    them all (about a tenth of the run, measured)."""
    with paused_gc():
        return _partition_figures(job, pids)


def _partition_figures(job: _Job, pids: frozenset[str]) -> _PartResult:
    scenario = job.scenario
    facts = [f for f in job.facts if f.partnership_id in pids]
    states = fork_states(facts, scenario.fork_date, scenario.response.reference_days,
                         ordered=True)
    # Each arm's hypothetical events of the partition, with their place before sorting.
    arms = [_after_keys(scenario, job.live, pids, reform=reform) for reform in (False, True)]
    by_partnership: dict[str, list[CorrectableEvent]] = {}
    for event in arms[1][0]:
        by_partnership.setdefault(event.partnership_id, []).append(event)
    reform_parameters = _arm_parameters(scenario, job.parameters)
    modelled: tuple[list[CorrectableEvent], list[CorrectableEvent]] = ([], [])
    for pid in sorted(states):
        # Both arms of one partnership, the days before their inputs differ modelled once.
        engines = simulate_arms(states[pid], baseline=job.parameters, reform=reform_parameters,
                                response=scenario.response, seed=scenario.seed,
                                fork=scenario.fork_date, horizon=scenario.horizon,
                                hypothetical=by_partnership.get(pid, ()))
        for arm, engine in enumerate(engines):
            arms[arm][1].update((id(e), (1, pid, i)) for i, e in enumerate(engine))
            modelled[arm].extend(engine)
    afters: list[list[CorrectableEvent]] = []
    places: list[dict[int, tuple[Any, ...]]] = []
    hypothetical: list[frozenset[str]] = []
    for (hyp, place), events in zip(arms, modelled, strict=True):
        afters.append(sorted([*hyp, *events], key=valid_time_order))  # fact_order's (day, rank)
        places.append(place)
        hypothetical.append(frozenset(e.event_id for e in hyp))
    # Per partnership: its base facts, the events both arms share from the fork, each arm's own.
    base: dict[str, list[CorrectableEvent]] = {}
    for f in facts:
        base.setdefault(f.partnership_id, []).append(f)
    split: list[dict[str, list[CorrectableEvent]]] = [{}, {}]
    for arm in (0, 1):
        for event in afters[arm]:
            split[arm].setdefault(event.partnership_id, []).append(event)
    shared: list[CorrectableEvent] = []
    shared_after: list[CorrectableEvent] = []
    own: list[list[CorrectableEvent]] = [[], []]
    broken: list[tuple[tuple[Any, ...], str]] = []
    for pid in sorted(set(base) | set(split[0]) | set(split[1])):
        a, b = split[0].get(pid, []), split[1].get(pid, [])
        common = _common_prefix(a, b)
        decided = _decide(pid, [(base.get(pid, []), _BASE), (a, _BASELINE), (b, _REFORM)],
                          common, lambda phase, e: (phase, *_place(phase, e, job.facts, places)),
                          hypothetical)
        if isinstance(decided, _Broken):
            broken.append((decided.place, decided.message))
            continue
        shared += decided.base
        shared_after += decided.common
        own[0] += decided.baseline
        own[1] += decided.reform
    if broken:
        return _PartResult([], [], min(broken))
    branch = _Branch(_fixed_clock(scenario)())
    branch.feed(shared)
    branch.feed(shared_after)
    first = 0 if len(own[0]) <= len(own[1]) else 1
    figures: list[list[_Raw]] = [[], []]
    fed = branch.feed(own[first])
    figures[first] = [_figures(branch.report, p, scenario.horizon) for p in job.rows_of]
    branch.withdraw(fed)
    branch.feed(own[1 - first])
    figures[1 - first] = [_figures(branch.report, p, scenario.horizon) for p in job.rows_of]
    return _PartResult(figures[0], figures[1])


def _place(phase: int, event: CorrectableEvent, facts: Sequence[CorrectableEvent],
           places: Sequence[Mapping[int, tuple[Any, ...]]]) -> tuple[Any, ...]:
    """Where ``event`` stands in a ledger's recording order within its phase (asked only for an
    event that breaks a rule)."""
    if phase == _BASE:
        return (next(i for i, f in enumerate(facts) if f is event),)
    day, rank = fact_order(event)[:2]
    return (day, rank, *places[0 if phase == _BASELINE else 1][id(event)])


class _Decided(NamedTuple):
    """One partnership's events to store (a ledger skips exact re-recordings)."""

    base: list[CorrectableEvent]
    common: list[CorrectableEvent]
    """From the fork, the same in both arms."""
    baseline: list[CorrectableEvent]
    reform: list[CorrectableEvent]


class _Broken(NamedTuple):
    """The first rule an arm breaks: where a ledger would meet it, and the error's message."""

    place: tuple[Any, ...]
    message: str


def _decide(pid: str, segments: Sequence[tuple[Sequence[CorrectableEvent], int]], common: int,
            place: Callable[[int, CorrectableEvent], tuple[Any, ...]],
            hypothetical: Sequence[frozenset[str]]
            ) -> _Decided | _Broken:
    """Decide one partnership's events as two ledgers would (base facts and baseline, then the
    reform's own events on a copy of the state at their common start). Returns the events to
    store (base, common, baseline's own, reform's own), or the first broken rule."""
    (base, _), (a, _), (b, _) = segments
    # Unpacked facts: the events are held anyway, and packing each would cost time for nothing.
    partnership = Partnership(pid, facts=Facts(pid, packing=False))
    kept = _Decided([], [], [], [])

    def admit(target: Partnership, events: Iterable[CorrectableEvent], phase: int,
              out: list[CorrectableEvent]) -> _Broken | None:
        for event in events:
            try:
                if target.admit(event):
                    out.append(event)
            except DomainRuleViolation as e:
                arm_ids = hypothetical[1 if phase == _REFORM else 0]
                return _Broken(place(phase, event), str(_broken_rule(e, arm_ids)))
        return None

    problem = (admit(partnership, base, _BASE, kept.base)
               or admit(partnership, a[:common], _BASELINE, kept.common))
    if problem is not None:
        return problem
    reform = partnership.clone()
    problem = (admit(partnership, a[common:], _BASELINE, kept.baseline)
               or admit(reform, b[common:], _REFORM, kept.reform))
    return problem if problem is not None else kept


def _common_prefix(a: Sequence[CorrectableEvent], b: Sequence[CorrectableEvent]) -> int:
    """How many events both arms record identically, from the fork on (the model draws the same
    numbers in both arms, so they agree until the first day the reform changes anything)."""
    n = min(len(a), len(b))
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return i


_JOB: dict[str, _Job] = {}


def _init_partition_worker(job: _Job) -> None:
    """Hand a worker process the run's inputs once (inherited, not copied, where processes
    fork)."""
    _JOB["job"] = job


def _worker_partition(pids: frozenset[str]) -> _PartResult:
    return _run_partition(_JOB["job"], pids)


def _partitions(facts: Sequence[CorrectableEvent], extra: Iterable[str], n: int
                ) -> list[frozenset[str]]:
    """Partnerships dealt into at most ``n`` groups of about equal numbers of base facts."""
    sizes: dict[str, int] = dict.fromkeys(sorted(extra), 0)
    for f in facts:
        sizes[f.partnership_id] = sizes.get(f.partnership_id, 0) + 1
    groups: list[tuple[int, list[str]]] = [(0, []) for _ in range(max(1, min(n, len(sizes))))]
    for pid in sorted(sizes, key=lambda p: (-sizes[p], p)):
        load, members = min(groups, key=lambda g: g[0])
        groups.remove((load, members))
        members.append(pid)
        groups.append((load + sizes[pid], members))
    return sorted((frozenset(m) for _, m in groups if m), key=sorted)


def _branched_figures(job: _Job, workers: int) -> tuple[list[_Raw], list[_Raw]]:
    """Both arms' figures per row of the diff tables, partitions run in up to ``workers``
    processes and added up (the same numbers whatever the number of workers)."""
    extra = {e.partnership_id for e in job.scenario.events if e.partnership_id != "*"}
    parts = _partitions(job.facts, extra, workers)
    if len(parts) <= 1:
        results = [_run_partition(job, part) for part in parts]
    else:
        with ProcessPoolExecutor(max_workers=len(parts), initializer=_init_partition_worker,
                                 initargs=(job,)) as pool:
            results = list(pool.map(_worker_partition, parts))
    broken = [r.broken for r in results if r.broken is not None]
    if broken:
        raise ScenarioError(min(broken)[1])
    rows = len(job.rows_of)
    out: list[list[_Raw]] = [[{} for _ in range(rows)], [{} for _ in range(rows)]]
    for result in results:
        for arm, figures in ((0, result.baseline), (1, result.reform)):
            for total, part in zip(out[arm], figures, strict=True):
                for key, value in part.items():
                    total[key] = total.get(key, 0) + value
    return out[0], out[1]


# --------------------------------------------------------------------------- results


class _ArmLedgers:
    """Both arms as in-memory ledgers, each recorded (by :func:`build_arm`) when first asked
    for."""

    def __init__(self, scenario: Scenario, base: Sequence[CorrectableEvent],
                 parameters: ParameterSet) -> None:
        self._scenario = scenario
        self._base = base
        self._parameters = parameters
        self._ledgers: dict[bool, Ledger] = {}
        self._lock = threading.Lock()

    def get(self, reform: bool) -> Ledger:
        with self._lock:
            ledger = self._ledgers.get(reform)
            if ledger is None:
                ledger = self._ledgers[reform] = build_arm(self._scenario, self._base,
                                                           self._parameters, reform=reform)
            return ledger

    def close(self) -> None:
        with self._lock:
            for ledger in self._ledgers.values():
                ledger.close()
            self._ledgers.clear()


@dataclass(frozen=True)
class ScenarioResult:
    """Both arms of a scenario run and their diff tables."""

    scenario: Scenario
    """The scenario run."""
    periods: tuple[Period, ...]
    """Periods of the diff tables (from the one holding the fork to the one with the horizon)."""
    window: Period
    """From the fork date to the horizon: the last row of every diff table."""
    tables: Mapping[str, Table]
    """Diff tables by name (see :data:`AREAS`); columns :data:`DIFF_COLUMNS`."""
    _arms: _ArmLedgers = field(repr=False, compare=False)

    @property
    def baseline(self) -> Ledger:
        """The baseline arm as an in-memory ledger (base facts, then the model with no reform),
        recorded on first use: ask it any report."""
        return self._arms.get(False)

    @property
    def reform(self) -> Ledger:
        """The scenario arm as an in-memory ledger (base facts, then the model with the
        reform), recorded on first use."""
        return self._arms.get(True)

    def figure(self, table: str, measure: str, period: str, arm: str = "difference") -> int:
        """One figure: ``arm`` is ``baseline``, ``scenario`` or ``difference``."""
        t = self.tables[table]
        i = DIFF_COLUMNS.index(arm)
        for row in t.rows:
            if row[0] == period and row[1] == measure:
                value = row[i]
                assert isinstance(value, int)
                return value
        raise KeyError((table, measure, period))

    def rows(self) -> list[dict[str, Cell]]:
        """Every diff row as a tidy record (table, period, measure, baseline, scenario, ...)."""
        return [{"table": name, **row} for name, t in self.tables.items() for row in t.to_dicts()]

    def summary(self) -> dict[str, int]:
        """Baseline, scenario and difference over the window for :data:`SWEEP_MEASURES`."""
        out: dict[str, int] = {}
        for table, measure in SWEEP_MEASURES:
            for arm in ("baseline", "scenario", "difference"):
                out[f"{arm}_{measure}"] = self.figure(table, measure, self.window.label, arm)
        return out

    def to_csv(self) -> str:
        """The tidy rows as CSV (raw integers: pence, minutes, counts)."""
        return tidy_csv(DIFF_COLUMNS, self.rows())

    def to_json(self) -> str:
        """The scenario's settings, its diff tables (integer pence, minutes, counts) and the
        unit and aggregation of every measure (``units``), as pretty JSON."""
        doc = {
            "scenario": self.scenario.name,
            "fork_date": self.scenario.fork_date.isoformat(),
            "horizon": self.scenario.horizon.isoformat(),
            "by": self.scenario.by,
            "window": self.window.label,
            "units": units_metadata(),
            "tables": {name: t.to_dicts() for name, t in self.tables.items()},
        }
        return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"

    def close(self) -> None:
        """Release the arms' in-memory ledgers (those recorded so far)."""
        self._arms.close()


def units_metadata() -> dict[str, dict[str, str]]:
    """Every measure's unit, aggregation and label, for JSON output."""
    return {measure: unit.describe() for measure, unit in MEASURE_UNITS.items()}


def _figures(report: Report, period: Period, horizon: dt.date) -> _Raw:
    """One period's figures before partitions are added up: member schools' tenure is a sum
    (:data:`_TENURE`), its mean taken by :func:`_finish`."""
    out: _Raw = {}
    for table, (projection, measures) in AREAS.items():
        if projection == "partnership_age":
            rows = report(projection, min(period.end, horizon), None).to_dicts()
            out[(table, "active_members")] = sum(int(r["active_members"] or 0) for r in rows)
            out[_TENURE] = sum(int(r["active_members"] or 0) * int(r["mean_tenure_days"] or 0)
                               for r in rows)
            continue
        total = report(projection, horizon, period).row("total")
        for measure in measures:
            value = total.get(measure)
            out[(table, measure)] = value if isinstance(value, int) else 0
    return out


def _finish(raw: Mapping[tuple[str, str], int]) -> dict[tuple[str, str], int]:
    """The figures of :data:`AREAS` from raw ones: the mean tenure from its sum."""
    out = {key: value for key, value in raw.items() if key != _TENURE}
    members = raw[("membership", "active_members")]
    out[("membership", "mean_tenure_days")] = raw[_TENURE] // members if members else 0
    return out


def _ledger_report(ledger: Ledger) -> Report:
    return lambda projection, as_of, period: ledger.report(projection, as_of=as_of,
                                                           period=period)


def figures(ledger: Ledger, period: Period, horizon: dt.date) -> dict[tuple[str, str], int]:
    """(table, measure) -> figure for one period: flows summed over it, levels and stocks at its
    last day (see :data:`MEASURE_UNITS`)."""
    return _finish(_figures(_ledger_report(ledger), period, horizon))


def _periods(scenario: Scenario) -> tuple[tuple[Period, ...], Period]:
    """The periods of the diff tables and the fork-to-horizon window."""
    fork, horizon = scenario.fork_date, scenario.horizon
    periods = tuple(periods_between(scenario.by, fork, horizon))
    return periods, Period(fork, horizon, f"{fork.isoformat()}..{horizon.isoformat()}")


def _tables(scenario: Scenario, rows_of: Sequence[Period],
            a: Sequence[Mapping[tuple[str, str], int]],
            b: Sequence[Mapping[tuple[str, str], int]]) -> dict[str, Table]:
    rows: dict[str, list[tuple[Cell, ...]]] = {name: [] for name in AREAS}
    for period, raw_a, raw_b in zip(rows_of, a, b, strict=True):
        fa, fb = _finish(raw_a), _finish(raw_b)
        for table, (_, measures) in AREAS.items():
            for measure in measures:
                x, y = fa[(table, measure)], fb[(table, measure)]
                rows[table].append((period.label, measure, x, y, y - x))
    return {name: Table(projection=f"scenario:{name}", columns=DIFF_COLUMNS,
                        rows=tuple(r), as_of=scenario.horizon, by=scenario.by)
            for name, r in rows.items()}


def diff_tables(baseline: Ledger, reform: Ledger, scenario: Scenario
                ) -> tuple[tuple[Period, ...], Period, dict[str, Table]]:
    """Periods, the fork-to-horizon window and the diff tables of two arms' ledgers."""
    periods, window = _periods(scenario)
    rows_of = (*periods, window)
    horizon = scenario.horizon
    a = [_figures(_ledger_report(baseline), p, horizon) for p in rows_of]
    b = [_figures(_ledger_report(reform), p, horizon) for p in rows_of]
    return periods, window, _tables(scenario, rows_of, a, b)


def run_scenario(scenario: Scenario, *, parameters: ParameterSet | None = None,
                 base: Sequence[CorrectableEvent] | None = None,
                 workers: int | None = None) -> ScenarioResult:
    """Run both arms and compare them (see the module docstring).

    ``parameters`` replaces the scenario's parameter set; ``base`` supplies already loaded base
    facts (as :func:`load_base` returns them), e.g. to run many variants of one scenario.
    ``workers`` processes (default: every core, ``os.cpu_count()``) share the partnerships.

    The figures are those of two ledgers built by :func:`build_arm` (tested), computed without
    them: every partnership's rules, model and figures depend on it alone, so partnerships are
    dealt to processes and their figures added up; within a process, the base facts and the
    modelled events both arms share (up to the first day the reform changes anything) are
    decided and projected once, each arm's own events in turn. The arms' ledgers
    (:attr:`ScenarioResult.baseline`, :attr:`ScenarioResult.reform`) are recorded when first
    asked for.
    """
    workers = workers if workers is not None else (os.cpu_count() or 1)
    if workers < 1:
        msg = f"workers must be at least 1; got {workers}"
        raise ScenarioError(msg)
    params = parameters if parameters is not None else scenario_parameters(scenario)
    facts = list(base) if base is not None else load_base(scenario)
    fork_facts = _fork_facts(scenario, facts)
    # As fork_states finds them: partnerships with a fact before the fork and not dissolved.
    dissolved = {f.partnership_id for f in fork_facts if isinstance(f, PartnershipDissolved)}
    live = tuple(dict.fromkeys(f.partnership_id for f in fork_facts
                               if f.partnership_id not in dissolved))
    periods, window = _periods(scenario)
    rows_of = (*periods, window)
    job = _Job(scenario, params, fork_facts, live, rows_of)
    a, b = _branched_figures(job, workers)
    return ScenarioResult(scenario, periods, window, _tables(scenario, rows_of, a, b),
                          _ArmLedgers(scenario, facts, params))


# --------------------------------------------------------------------------- sweep


def _coerce(text: str) -> int | float | str:
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def scenario_variant(scenario: Scenario, name: str, value: object,
                     parameters: ParameterSet | None = None) -> Scenario:
    """The scenario with one setting changed.

    ``name`` is a dotted path into the scenario (``seed``, ``response.sessions_elasticity``,
    ``overrides.0.scale``, ``events.1.annual_amount_pence``, ``synthetic.partnerships``), the
    bare name of a response parameter (``sessions_elasticity``), or the name of a parameter in
    ``parameters`` (``release.PE_TEACHER``): the scenario arm then gets one more override setting
    it to ``value`` from the fork date on.
    """
    data: Any = scenario.model_dump(mode="json")  # plain dicts and lists
    if parameters is not None and name.strip() in parameters:
        data["overrides"].append({"parameter": name.strip(),
                                  "effective_from": scenario.fork_date.isoformat(),
                                  "value": value, "citation": f"sweep: {name} = {value}"})
        path: list[str] = []
    else:
        path = name.strip().split(".")
    if len(path) == 1 and path[0] in ResponseParameters.model_fields:
        path = ["response", path[0]]
    node = data
    for i, part in enumerate(path):
        last = i == len(path) - 1
        if isinstance(node, dict) and part in node:
            key: str | int = part
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            key = int(part)
        else:
            known = ", ".join(sorted(ResponseParameters.model_fields))
            msg = (f"--param: the scenario has no setting {name!r} (use a parameter name such "
                   "as release.PE_TEACHER, a dotted path such as seed, overrides.0.scale or "
                   f"response.NAME; response parameters: {known})")
            raise ScenarioError(msg)
        if last:
            node[key] = value
        else:
            node = node[key]
    try:
        return Scenario.model_validate(data)
    except pydantic.ValidationError as e:
        field, reason = pydantic_problems(e)[0]
        raise ScenarioError(f"--param {name}={value!r}: {field}: {reason}") from None


@dataclass(frozen=True)
class SweepResult:
    """One row per value of the swept setting, in the order the values were given."""

    parameter: str
    """The setting swept."""
    columns: tuple[str, ...]
    """``parameter``, ``value``, then baseline/scenario/difference of each measure."""
    rows: tuple[dict[str, int | float | str], ...]
    """The table: a plain list of records (``pandas.DataFrame(rows)`` or
    ``polars.DataFrame(rows)`` turn it into a data frame)."""

    def to_csv(self) -> str:
        """The rows as CSV."""
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=self.columns, lineterminator="\n")
        writer.writeheader()
        writer.writerows(self.rows)
        return buffer.getvalue()

    def table(self) -> Table:
        """The rows as a :class:`~ssp_ledger.projection.Table` (the value as text)."""
        rows = tuple(tuple(str(r[c]) if c == "value" else r[c] for c in self.columns)
                     for r in self.rows)
        return Table(projection="scenario:sweep", columns=self.columns,
                     rows=rows,  # type: ignore[arg-type]
                     as_of=dt.date.min)


def _sweep_point(scenario: Scenario, parameters: ParameterSet,
                 base: Sequence[CorrectableEvent], workers: int = 1) -> dict[str, int]:
    """Run one variant (in a worker process: on one core) and return its summary."""
    try:
        result = run_scenario(scenario, parameters=parameters, base=base, workers=workers)
    except LedgerError as e:
        raise ScenarioError(str(e)) from None  # a plain, picklable error
    try:
        return result.summary()
    finally:
        result.close()


_SWEEP: dict[str, Any] = {}


def _init_sweep_worker(parameters: ParameterSet, base: Sequence[CorrectableEvent]) -> None:
    """Hand a worker process the parameters and base history once (not once per value)."""
    _SWEEP["parameters"] = parameters
    _SWEEP["base"] = base


def _sweep_worker(scenario: Scenario) -> dict[str, int]:
    return _sweep_point(scenario, _SWEEP["parameters"], _SWEEP["base"])


def sweep(scenario: Scenario, name: str, values: Sequence[object], *,
          workers: int | None = None,
          parameters: ParameterSet | None = None,
          base: Sequence[CorrectableEvent] | None = None,
          progress: Callable[[int, int], None] | None = None) -> SweepResult:
    """Run the scenario once per value of setting ``name``, in up to ``workers`` processes
    (default: every core, ``os.cpu_count()``), each given the base history once; a single
    value runs on all of them (:func:`run_scenario`). The rows are the same whatever the number
    of workers.

    ``name`` is anything :func:`scenario_variant` accepts. Values given as text are read as
    integers or decimals where they look like them. Every variant is validated before anything
    runs, so a bad value fails fast, naming the setting.
    ``progress(done, total)`` is called as runs finish.
    """
    if not values:
        msg = "--values: give at least one value"
        raise ScenarioError(msg)
    workers = workers if workers is not None else (os.cpu_count() or 1)
    if workers < 1:
        msg = f"workers must be at least 1; got {workers}"
        raise ScenarioError(msg)
    coerced = [_coerce(v) if isinstance(v, str) else v for v in values]
    params = parameters if parameters is not None else scenario_parameters(scenario)
    variants = [scenario_variant(scenario, name, v, params) for v in coerced]
    # Every variant shares the base history (only the model's inputs change): load it once.
    facts = list(base) if base is not None else load_base(scenario)
    summaries: list[dict[str, int] | None] = [None] * len(variants)
    done = 0
    if progress is not None:
        progress(0, len(variants))
    if workers == 1 or len(variants) == 1:
        for i, variant in enumerate(variants):
            summaries[i] = _sweep_point(variant, params, facts, workers)
            done += 1
            if progress is not None:
                progress(done, len(variants))
    else:
        with ProcessPoolExecutor(max_workers=min(workers, len(variants)),
                                 initializer=_init_sweep_worker,
                                 initargs=(params, facts)) as pool:
            futures: dict[Future[dict[str, int]], int] = {
                pool.submit(_sweep_worker, variant): i for i, variant in enumerate(variants)}
            for future in as_completed(futures):
                summaries[futures[future]] = future.result()
                done += 1
                if progress is not None:
                    progress(done, len(variants))
    measures = [f"{arm}_{m}" for _, m in SWEEP_MEASURES
                for arm in ("baseline", "scenario", "difference")]
    rows = tuple({"parameter": name, "value": v, **(s or {})}
                 for v, s in zip(coerced, summaries, strict=True))
    return SweepResult(name, ("parameter", "value", *measures), rows)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- plot

PLOT_PANELS: tuple[tuple[str, str, str], ...] = (
    ("participation", "attendances", "Attendances at clubs"),
    ("participation", "sessions", "Club sessions"),
    ("staff_time_cost", "hidden_pence", "Hidden staff cost (£)"),
    ("staff_time_cost", "funded_pence", "Funded staff cost (£)"),
    ("funding", "funding_gap_pence", "Funding gap (£)"),
    ("membership", "active_members", "Member schools (end of period)"),
)
"""(table, measure, title) of each panel of :func:`plot`."""
PlotFormat = Literal[".png", ".svg", ".pdf"]


def check_plot_path(path: str | Path) -> Path:
    """The plot's path, if its suffix is supported and its folder exists (else ScenarioError)."""
    path = Path(path).expanduser()
    if path.suffix.lower() not in get_args(PlotFormat):
        msg = f"--plot: {path.name}: use a .png, .svg or .pdf file name"
        raise ScenarioError(msg)
    if not path.parent.is_dir():
        msg = f"--plot: folder {path.parent} does not exist"
        raise ScenarioError(msg)
    return path


Band = Callable[[str, str, str], tuple[float, float]]
"""(table, measure, period label) -> (low, high) of a shaded band, in the figure's unit."""


def plot(result: ScenarioResult, path: str | Path) -> Path:
    """Draw baseline against scenario per period and save it (``.png``, ``.svg`` or ``.pdf``).

    Needs matplotlib (``pip install 'ssp-ledger[scenarios]'``); uses the Agg canvas and no
    global pyplot state. Output is reproducible: no dates in the metadata, fixed SVG ids.
    """
    s = result.scenario
    return draw_panels(
        path, [p.label for p in result.periods],
        lambda table, measure, label, arm: result.figure(table, measure, label, arm),
        f"{s.name}: baseline vs scenario (fork {s.fork_date.isoformat()}, "
        f"horizon {s.horizon.isoformat()})")


def draw_panels(path: str | Path, labels: Sequence[str],
                figure: Callable[[str, str, str, str], float], title: str, *,
                band: Band | None = None, band_label: str = "",
                arms: tuple[str, str] = ("baseline", "scenario")) -> Path:
    """The panels of :data:`PLOT_PANELS`: ``figure(table, measure, period, arm)`` per arm (money
    given in pence, drawn in pounds), an optional shaded ``band`` around the second arm."""
    path = check_plot_path(path)
    suffix = path.suffix.lower()
    try:
        import matplotlib as mpl
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
        from matplotlib.ticker import StrMethodFormatter
    except ImportError:
        msg = "plotting needs matplotlib: pip install 'ssp-ledger[scenarios]'"
        raise ScenarioError(msg) from None
    with mpl.rc_context({"svg.hashsalt": "ssp-ledger", "font.size": 8}):
        fig = Figure(figsize=(11, 6.5), layout="constrained")
        FigureCanvasAgg(fig)
        axes = fig.subplots(2, 3)
        for ax, (table, measure, panel_title) in zip(axes.flat, PLOT_PANELS, strict=True):
            scale = 100 if measure.endswith("_pence") else 1
            for arm, style in ((arms[0], {"color": "0.45", "linestyle": "--"}),
                               (arms[1], {"color": "tab:blue", "linestyle": "-"})):
                ys = [figure(table, measure, label, arm) / scale for label in labels]
                ax.plot(labels, ys, marker="o", label=arm, **style)
            if band is not None:
                lows, highs = zip(*(band(table, measure, label) for label in labels),
                                  strict=True)
                ax.fill_between(labels, [v / scale for v in lows], [v / scale for v in highs],
                                color="tab:blue", alpha=0.2, linewidth=0, label=band_label)
            ax.set_title(panel_title)
            ax.yaxis.set_major_formatter(StrMethodFormatter("{x:,.0f}"))
            ax.tick_params(axis="x", labelrotation=30)
            ax.grid(alpha=0.3)
        axes.flat[0].legend()
        fig.suptitle(title)
        metadata: dict[str, Any] = {"Date": None} if suffix in (".svg", ".pdf") else {}
        if suffix == ".png":
            metadata = {"Software": None}
        fig.savefig(path, metadata=metadata)
    return path
