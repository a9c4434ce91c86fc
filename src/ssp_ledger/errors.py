"""Typed errors. Every message names the event (or input line) and the field at fault."""

from __future__ import annotations

__all__ = [
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
    "UnknownPartnership",
    "UnknownProjection",
]


class LedgerError(Exception):
    """Base class of every error raised on purpose by ssp-ledger."""


class InputError(LedgerError, ValueError):
    """Untrusted input (a file, a CLI argument) is malformed; nothing was written.

    ``line`` is 1-based (the header of a CSV file is line 1); ``field`` is a dotted path.
    """

    def __init__(self, reason: str, *, source: str = "", line: int | None = None,
                 field: str | None = None) -> None:
        self.reason = reason
        self.source = source
        self.line = line
        self.field = field
        where = source
        if line is not None:
            where = f"{where}:{line}" if where else f"line {line}"
        parts = [p for p in (where, f"field {field!r}" if field else "") if p]
        prefix = ", ".join(parts)
        super().__init__(f"{prefix}: {reason}" if prefix else reason)


class StoreError(LedgerError):
    """The store could not be read or written (read-only file, full disk, bad DSN)."""


class DamagedRecord(StoreError, ValueError):
    """A stored row is not a record this ledger wrote (NULLs, wrong types, undecodable bytes).

    ``position`` is the row's log position (notification id) when known. ``ssp-ledger verify``
    lists every such row; other commands stop at the first with this one-line error.
    """

    def __init__(self, message: str, *, position: int | None = None) -> None:
        self.position = position
        super().__init__(message)


class ForeignStore(StoreError):
    """The location holds something that is not an ssp-ledger store; it was left untouched."""


class UnknownProjection(LedgerError, KeyError):
    """No projection with that name is registered."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "unknown projection"


class UnknownPartnership(LedgerError, KeyError):
    """A report was asked about a partnership the store holds no event of."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "unknown partnership"


class DomainRuleViolation(LedgerError, ValueError):
    """An event breaks a rule of the partnership; the whole batch was rejected."""

    def __init__(self, event_id: str, partnership_id: str, reason: str) -> None:
        self.event_id = event_id
        self.partnership_id = partnership_id
        self.reason = reason
        super().__init__(f"event {event_id!r} (partnership {partnership_id!r}): {reason}")


class NotFormed(DomainRuleViolation):
    """The partnership has no PartnershipFormed event yet, or has two."""


class BeforeFormation(DomainRuleViolation):
    """The event is dated before the partnership was formed."""


class AfterDissolution(DomainRuleViolation):
    """The event is dated after the partnership was dissolved."""


class NotAMember(DomainRuleViolation):
    """The event names a school that is not a member on the event's valid date."""


class StaffNotAssigned(DomainRuleViolation):
    """A StaffReleased names a person with no assignment in force on that date."""


class DuplicateEventId(DomainRuleViolation):
    """The event id was already recorded with different content."""


class TargetNotFound(DomainRuleViolation):
    """A correction or retraction names an event that does not exist (or cannot be targeted)."""


class TargetRetracted(DomainRuleViolation):
    """A correction or retraction names an event that is already retracted."""
