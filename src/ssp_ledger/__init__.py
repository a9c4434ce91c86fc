"""ssp-ledger: an event-sourced, tamper-evident ledger of School Sport Partnerships.

This module only re-exports the public API; see the submodules for the layers.

Nothing is imported with the package itself: every public name is imported from its module on
first use (PEP 562 module ``__getattr__``, driven by the explicit table :data:`_LAZY`) and then
kept as an ordinary attribute. So ``import ssp_ledger`` costs almost nothing, and each program
pays only for what it touches: ``from ssp_ledger import Ledger`` loads the ledger (events,
store, projection machinery), ``from ssp_ledger import Scenario`` the research stack (pydantic,
and matplotlib for plots), and ``ssp-ledger --help`` neither.

``from ssp_ledger import X``, ``ssp_ledger.X``, ``from ssp_ledger import *``,
``dir(ssp_ledger)`` and ``__all__`` behave as if every name had been imported eagerly. Type
checkers read the ``if TYPE_CHECKING:`` imports below, which name the same modules as
:data:`_LAZY` (a test keeps the two in step).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the names as the type checkers see them; at run time see _LAZY
    from ssp_ledger.application import Basis, BatchResult, ConcurrencyError, Ledger, utc_now
    from ssp_ledger.errors import (
        AfterDissolution,
        BeforeFormation,
        DamagedRecord,
        DomainRuleViolation,
        DuplicateEventId,
        ForeignStore,
        InputError,
        LedgerError,
        NotAMember,
        NotFormed,
        StaffNotAssigned,
        StoreError,
        TargetNotFound,
        TargetRetracted,
        UnknownProjection,
    )
    from ssp_ledger.events import (
        EVENT_TYPES,
        ClubRun,
        CompetitionHeld,
        CpdDelivered,
        DomainEvent,
        EvaluationRecorded,
        Event,
        EventCorrected,
        EventRetracted,
        FundingChanged,
        LeaderTrained,
        ObjectiveSet,
        PartnershipDissolved,
        PartnershipFormed,
        ResourceShared,
        SchoolJoined,
        SchoolLeft,
        StaffAssigned,
        StaffReleased,
        event_schema,
    )
    from ssp_ledger.parameters import Override, ParameterSet, load_parameters
    from ssp_ledger.periods import Period, TeachingCalendar, parse_period
    from ssp_ledger.projection import Fact, GroupedIndex, Projection, Query, Series, Table
    from ssp_ledger.response import ResponseParameters
    from ssp_ledger.scenarios import (
        Scenario,
        ScenarioError,
        ScenarioResult,
        SweepResult,
        load_scenario,
        run_scenario,
        sweep,
    )
    from ssp_ledger.store import EventLog, Recorded
    from ssp_ledger.subscription import Subscription

#: Every public name and the module it lives in: imported from there on first use, then kept.
_LAZY: dict[str, str] = {
    name: module
    for module, names in {
        "ssp_ledger.application": ("Basis", "BatchResult", "ConcurrencyError", "Ledger",
                                   "utc_now"),
        "ssp_ledger.errors": (
            "AfterDissolution", "BeforeFormation", "DamagedRecord", "DomainRuleViolation",
            "DuplicateEventId", "ForeignStore", "InputError", "LedgerError", "NotAMember",
            "NotFormed", "StaffNotAssigned", "StoreError", "TargetNotFound", "TargetRetracted",
            "UnknownProjection"),
        "ssp_ledger.events": (
            "EVENT_TYPES", "ClubRun", "CompetitionHeld", "CpdDelivered", "DomainEvent",
            "EvaluationRecorded", "Event", "EventCorrected", "EventRetracted", "FundingChanged",
            "LeaderTrained", "ObjectiveSet", "PartnershipDissolved", "PartnershipFormed",
            "ResourceShared", "SchoolJoined", "SchoolLeft", "StaffAssigned", "StaffReleased",
            "event_schema"),
        "ssp_ledger.periods": ("Period", "TeachingCalendar", "parse_period"),
        "ssp_ledger.projection": ("Fact", "GroupedIndex", "Projection", "Query", "Series",
                                  "Table"),
        "ssp_ledger.store": ("EventLog", "Recorded"),
        "ssp_ledger.subscription": ("Subscription",),
        "ssp_ledger.parameters": ("Override", "ParameterSet", "load_parameters"),
        "ssp_ledger.response": ("ResponseParameters",),
        "ssp_ledger.scenarios": ("Scenario", "ScenarioError", "ScenarioResult", "SweepResult",
                                 "load_scenario", "run_scenario", "sweep"),
    }.items()
    for name in names
}

__version__ = "0.1.0"

__all__ = [
    # application
    "BatchResult",
    "ConcurrencyError",
    "Basis",
    "Ledger",
    "utc_now",
    # events
    "EVENT_TYPES",
    "ClubRun",
    "CompetitionHeld",
    "CpdDelivered",
    "DomainEvent",
    "EvaluationRecorded",
    "Event",
    "EventCorrected",
    "EventRetracted",
    "FundingChanged",
    "LeaderTrained",
    "ObjectiveSet",
    "PartnershipDissolved",
    "PartnershipFormed",
    "ResourceShared",
    "SchoolJoined",
    "SchoolLeft",
    "StaffAssigned",
    "StaffReleased",
    "event_schema",
    # errors
    "AfterDissolution",
    "BeforeFormation",
    "DamagedRecord",
    "DomainRuleViolation",
    "DuplicateEventId",
    "ForeignStore",
    "InputError",
    "LedgerError",
    "NotAMember",
    "NotFormed",
    "StaffNotAssigned",
    "StoreError",
    "TargetNotFound",
    "TargetRetracted",
    "UnknownProjection",
    # periods
    "Period",
    "TeachingCalendar",
    "parse_period",
    # store and projections
    "EventLog",
    "Fact",
    "GroupedIndex",
    "Projection",
    "Query",
    "Recorded",
    "Series",
    "Table",
    # following the log (projection runners: ssp_ledger.runner, run as python -m)
    "Subscription",
    # parameters and scenarios
    "Override",
    "ParameterSet",
    "ResponseParameters",
    "Scenario",
    "ScenarioError",
    "ScenarioResult",
    "SweepResult",
    "load_parameters",
    "load_scenario",
    "run_scenario",
    "sweep",
    "__version__",
]


def __getattr__(name: str) -> object:
    """Import a public name from its module on first use (and keep it, so this runs once)."""
    module = _LAZY.get(name)
    if module is None:
        msg = f"module {__name__!r} has no attribute {name!r}"
        raise AttributeError(msg)
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    """Every public name, loaded or not."""
    return sorted({*globals(), *__all__})
