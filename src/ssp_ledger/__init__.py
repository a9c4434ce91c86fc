"""ssp-ledger: an event-sourced, tamper-evident ledger of School Sport Partnerships.

This module only re-exports the public API; see the submodules for the layers.
"""

from ssp_ledger.application import BatchResult, ConcurrencyError, Ledger, utc_now
from ssp_ledger.errors import (
    AfterDissolution,
    BeforeFormation,
    DomainRuleViolation,
    DuplicateEventId,
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
from ssp_ledger.store import Recorded
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
from ssp_ledger.subscription import Subscription

__version__ = "0.1.0"

__all__ = [
    # application
    "BatchResult",
    "ConcurrencyError",
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
    "DomainRuleViolation",
    "DuplicateEventId",
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
    # persistence and projections
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
