"""ssp-ledger: an event-sourced, tamper-evident ledger of School Sport Partnerships.

This module only re-exports the public API; see the submodules for the layers.

The ledger itself (events, store, projections, periods) is imported with the package. The research
stack -- parameters, the response model, scenarios and the synthetic generator, which pull in
pydantic (and, for plots, matplotlib) -- is imported on first use of one of its names (PEP 562
module ``__getattr__``), so ``import ssp_ledger`` (every CLI call) stays light.
``from ssp_ledger import Scenario`` works as before; ``dir(ssp_ledger)`` and ``__all__`` list
every name.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

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
from ssp_ledger.periods import Period, TeachingCalendar, parse_period
from ssp_ledger.projection import Fact, GroupedIndex, Projection, Query, Series, Table
from ssp_ledger.store import EventLog, Recorded
from ssp_ledger.subscription import Subscription

if TYPE_CHECKING:
    from ssp_ledger.parameters import Override, ParameterSet, load_parameters
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

_LAZY: dict[str, str] = {
    "Override": "ssp_ledger.parameters",
    "ParameterSet": "ssp_ledger.parameters",
    "load_parameters": "ssp_ledger.parameters",
    "ResponseParameters": "ssp_ledger.response",
    "Scenario": "ssp_ledger.scenarios",
    "ScenarioError": "ssp_ledger.scenarios",
    "ScenarioResult": "ssp_ledger.scenarios",
    "SweepResult": "ssp_ledger.scenarios",
    "load_scenario": "ssp_ledger.scenarios",
    "run_scenario": "ssp_ledger.scenarios",
    "sweep": "ssp_ledger.scenarios",
}
"""Research-stack names, imported from their module on first use."""

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
    """Import a research-stack name on first use (and keep it, so this runs once per name)."""
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
