"""Domain events: the immutable vocabulary of the ledger.

Every event is a frozen, tagged :class:`msgspec.Struct`. The tag (``"type"`` field in JSON) is the
class name, so ``{"type": "ClubRun", ...}`` decodes straight into :class:`ClubRun`. Field rules
(non-negative counts, closed vocabularies, SEND participants not above participants) are checked in
``__post_init__``, which msgspec runs both on construction and on decoding, so an invalid event can
never exist in memory.

Units: money is integer pence, time spent is integer minutes, dates are :class:`datetime.date`
(the *valid* date ``occurred_on``). Recorded time is not part of a domain event: the ledger adds it
when the event is stored (see :mod:`ssp_ledger.store`).

Schema evolution follows eventsourcing's convention: a class that changes shape raises its
``class_version`` and provides ``upcast_vN_vN+1(state: dict) -> None`` static methods that rewrite
an older stored state in place (see :class:`ClubRun`).
"""

from __future__ import annotations

import datetime as dt
import re
import types
import typing
from collections.abc import Mapping
from typing import Any, ClassVar, Literal, Union, get_args, get_origin

import msgspec

__all__ = [
    "ActivityEvent",
    "ClubRun",
    "CompetitionHeld",
    "CorrectableEvent",
    "CpdDelivered",
    "DomainEvent",
    "EVENT_TYPES",
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
    "RollCounted",
    "SchoolJoined",
    "SchoolLeft",
    "StaffAssigned",
    "StaffReleased",
    "SurveyReturned",
    "event_schema",
    "schools_named",
]

Phase = Literal["secondary", "primary", "special", "sports_college"]
Role = Literal["PDM", "SSCO", "PLT", "PE_TEACHER", "COMPETITION_MANAGER", "COACH", "OTHER"]
Setting = Literal["after_school", "lunchtime", "community_club"]
CompetitionKind = Literal["intra_school", "inter_school", "festival"]
LeaderKind = Literal["young_leader", "volunteer", "coach"]
ResourceKind = Literal["equipment", "facility", "coach", "expertise"]

#: Upper bound for any count or minutes field: far above anything real, low enough to catch typos
#: such as a value in pence entered as a head count.
MAX_COUNT = 10_000_000
#: Upper bound for money fields, in pence (one billion pounds).
MAX_PENCE = 100_000_000_000
#: Earliest and latest valid dates the ledger accepts (SSPs ran 2002-2011; later years cover the
#: PE-teacher funding to 2013 and researchers' horizons).
MIN_DATE = dt.date(1990, 1, 1)
MAX_DATE = dt.date(2100, 12, 31)
MAX_TEXT = 2_000


class Event(
    msgspec.Struct,
    frozen=True,
    kw_only=True,
    tag=True,
    tag_field="type",
    forbid_unknown_fields=True,
):
    """Base of every ledger event. Not recorded itself."""

    partnership_id: str
    """Identifier of the partnership (its event stream), e.g. ``"tyneside"``."""
    occurred_on: dt.date
    """Valid date: when it happened in the world (not when the ledger learned it)."""
    event_id: str
    """Unique identifier of this event within its partnership; re-recording the same id with the
    same content is a no-op, with different content an error."""

    class_version: ClassVar[int] = 1
    _literal_fields: ClassVar[dict[str, tuple[str, ...]]] = {}
    _int_fields: ClassVar[tuple[str, ...]] = ()
    _text_fields: ClassVar[tuple[str, ...]] = ()
    _required: ClassVar[tuple[str, ...]] = ()
    """Text fields that must not be empty (nor blank), checked in this order after the common
    rules."""
    _required_if_set: ClassVar[tuple[str, ...]] = ()
    """Optional text fields that must not be empty (nor blank) when given, checked next."""
    _not_above: ClassVar[tuple[tuple[str, str], ...]] = ()
    """``(part, whole)`` integer fields where ``part`` may not exceed ``whole``, checked next;
    then :meth:`check`."""

    def __post_init__(self) -> None:
        self._validate()

    def _validate(self) -> None:
        """Every rule of the event, in order: the common field rules, the required text fields,
        the ``part <= whole`` pairs, then the class's own :meth:`check`. Each class replaces it,
        when its first event is checked, with the same checks unrolled into one function
        (:func:`_compile_validate`, :func:`_on_first_check`)."""
        Event._check_common(self)
        for name in self._required:
            _require(getattr(self, name), name)
        for name in self._required_if_set:
            value = getattr(self, name)
            if value is not None:
                _require(value, name)
        for part, whole in self._not_above:
            if getattr(self, part) > getattr(self, whole):
                raise ValueError(f"{part} ({getattr(self, part)}) exceeds "
                                 f"{whole} ({getattr(self, whole)})")
        self.check()

    def _check_common(self) -> None:
        if not MIN_DATE <= self.occurred_on <= MAX_DATE:
            raise ValueError(
                f"occurred_on {self.occurred_on.isoformat()} is outside "
                f"{MIN_DATE.isoformat()}..{MAX_DATE.isoformat()}"
            )
        for name in ("partnership_id", "event_id"):
            if not getattr(self, name).strip():
                raise ValueError(f"{name} must not be empty")
        for name in self._text_fields:
            if len(getattr(self, name)) > MAX_TEXT:
                raise ValueError(f"{name} is longer than {MAX_TEXT} characters")
        for name, allowed in self._literal_fields.items():
            value = getattr(self, name)
            if value not in allowed:
                raise ValueError(f"{name} must be one of {', '.join(allowed)}; got {value!r}")
        for name in self._int_fields:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise ValueError(f"{name} must be an integer; got {value!r}")
            limit = MAX_PENCE if name.endswith("_pence") else MAX_COUNT
            if value < 0:
                raise ValueError(f"{name} must not be negative; got {value}")
            if value > limit:
                raise ValueError(f"{name} is implausibly large ({value} > {limit})")

    def check(self) -> None:
        """Cross-field rules of one event class (override; the default has none)."""


def _require(value: str, name: str) -> None:
    if not value.strip():
        raise ValueError(f"{name} must not be empty")


# --------------------------------------------------------------------------- structure


class PartnershipFormed(Event, frozen=True, kw_only=True):
    """A partnership starts; must be the first event of its stream."""

    name: str
    """Human name of the partnership."""
    hub_school_id: str
    """School id of the hub (usually the specialist sports college)."""
    strategy: str = "PESSCL"
    """Free text naming the national strategy it was formed under (e.g. PESSCL, PESSYP)."""

    _required: ClassVar[tuple[str, ...]] = ("name", "hub_school_id")


class SchoolJoined(Event, frozen=True, kw_only=True):
    """A school becomes a member of the partnership from ``occurred_on``."""

    school_id: str
    """Stable school identifier (e.g. a URN)."""
    school_name: str
    """Display name of the school."""
    phase: Phase
    """secondary, primary, special or sports_college."""

    _required: ClassVar[tuple[str, ...]] = ("school_id",)


class SchoolLeft(Event, frozen=True, kw_only=True):
    """A school stops being a member; ``occurred_on`` is its last day of membership."""

    school_id: str
    """The leaving school."""
    reason: str = ""
    """Why it left."""

    _required: ClassVar[tuple[str, ...]] = ("school_id",)


class StaffAssigned(Event, frozen=True, kw_only=True):
    """A member of staff takes (or changes) a partnership role from ``occurred_on``.

    Recording it again for the same ``staff_id`` replaces the terms from its date on.
    """

    staff_id: str
    """Stable identifier of the person."""
    role: Role
    """PDM, SSCO, PLT, PE_TEACHER, COMPETITION_MANAGER, COACH or OTHER."""
    school_id: str
    """School where the person is employed."""
    release_minutes_per_week: int
    """Term-time minutes per week released from other duties for partnership work."""
    hourly_cost_pence: int
    """Full hourly cost of the person's time (salary plus on-costs), in pence."""
    funding_stream: str | None = None
    """Funding stream paying for the release, or None when it is hidden in salary budgets."""

    _required: ClassVar[tuple[str, ...]] = ("staff_id", "school_id")
    _required_if_set: ClassVar[tuple[str, ...]] = ("funding_stream",)


class StaffReleased(Event, frozen=True, kw_only=True):
    """A member of staff stops partnership work; ``occurred_on`` is the last day."""

    staff_id: str
    """The person released."""
    reason: str = ""
    """Why (end of funding, left post, ...)."""

    _required: ClassVar[tuple[str, ...]] = ("staff_id",)


class FundingChanged(Event, frozen=True, kw_only=True):
    """The annual level of a funding stream changes from ``occurred_on`` (0 ends it)."""

    funding_stream: str
    """Stream name, e.g. ``"ssp-grant"`` or ``"pe-teacher-day"``."""
    annual_amount_pence: int
    """New annual level in pence; 0 ends the stream."""
    reason: str = ""
    """Why the level changed."""
    citation: str = ""
    """Source of the figure (grant letter, DfE announcement, audit report)."""

    _required: ClassVar[tuple[str, ...]] = ("funding_stream",)


class PartnershipDissolved(Event, frozen=True, kw_only=True):
    """The partnership ends; no event may be dated after ``occurred_on``."""

    reason: str = ""
    """Why it was dissolved."""


class ObjectiveSet(Event, frozen=True, kw_only=True):
    """A governance objective is set (NAO: clear objectives)."""

    objective_id: str
    """Identifier of the objective."""
    text: str
    """What the objective is."""

    _required: ClassVar[tuple[str, ...]] = ("objective_id",)


class EvaluationRecorded(Event, frozen=True, kw_only=True):
    """An objective is evaluated (NAO: independent evaluation)."""

    objective_id: str
    """The objective evaluated."""
    outcome: str
    """What the evaluation found."""
    independent: bool = False
    """True when carried out by someone outside the partnership."""

    _required: ClassVar[tuple[str, ...]] = ("objective_id",)


# --------------------------------------------------------------------------- activity


class ClubRun(Event, frozen=True, kw_only=True):
    """One session of a club at a school.

    ``class_version`` 2 added ``setting``; version-1 stored events are upcast to
    ``after_school``, which is what every club was before the field existed.
    """

    club_id: str
    """Identifier of the club (sessions of the same club share it)."""
    school_id: str
    """School where the session ran."""
    activity: str
    """Sport or activity, e.g. ``"football"``."""
    participants: int
    """Young people attending this session."""
    send_participants: int = 0
    """Of those, young people with special educational needs and disabilities."""
    staff_minutes: int = 0
    """Staff minutes spent running the session."""
    staff_id: str | None = None
    """Who ran it, when known; unknown staff time is costed as hidden at the default rate."""
    setting: Setting = "after_school"
    """after_school, lunchtime or community_club."""

    class_version: ClassVar[int] = 2

    @staticmethod
    def upcast_v1_v2(state: dict[str, Any]) -> None:
        """Version 1 had no ``setting``: every club then was an after-school club."""
        state["setting"] = "after_school"

    _required: ClassVar[tuple[str, ...]] = ("club_id", "school_id", "activity")
    _not_above: ClassVar[tuple[tuple[str, str], ...]] = (("send_participants", "participants"),)


class CompetitionHeld(Event, frozen=True, kw_only=True):
    """A competition or festival."""

    kind: CompetitionKind
    """intra_school, inter_school or festival."""
    school_ids: tuple[str, ...]
    """Schools taking part; the first is the host."""
    activity: str
    """Sport or activity."""
    participants: int
    """Young people taking part."""
    staff_minutes: int = 0
    """Staff minutes spent organising and running it."""

    _required: ClassVar[tuple[str, ...]] = ("activity",)

    def check(self) -> None:
        if not self.school_ids:
            raise ValueError("school_ids must name at least one school")
        if len(set(self.school_ids)) != len(self.school_ids):
            raise ValueError("school_ids must not repeat a school")
        for school_id in self.school_ids:
            _require(school_id, "school_ids[]")


class LeaderTrained(Event, frozen=True, kw_only=True):
    """People trained as young leaders, volunteers or coaches."""

    school_id: str
    """School the people belong to."""
    leader_kind: LeaderKind
    """young_leader, volunteer or coach."""
    award: str
    """Award or course, e.g. ``"Sports Leaders UK Level 1"``."""
    people: int
    """How many people completed it."""
    minutes: int = 0
    """Staff minutes spent delivering the training."""

    _required: ClassVar[tuple[str, ...]] = ("school_id", "award")


class CpdDelivered(Event, frozen=True, kw_only=True):
    """Continuing professional development delivered to teachers."""

    topic: str
    """What the CPD covered."""
    teachers: int
    """Teachers attending."""
    minutes: int
    """Length in minutes (staff time of the deliverer)."""

    _required: ClassVar[tuple[str, ...]] = ("topic",)


class ResourceShared(Event, frozen=True, kw_only=True):
    """One school lends another equipment, a facility, a coach or expertise."""

    from_school_id: str
    """School providing the resource."""
    to_school_id: str
    """School receiving it."""
    resource: ResourceKind
    """equipment, facility, coach or expertise."""
    staff_minutes: int = 0
    """Staff minutes the sharing took."""
    value_pence: int = 0
    """Estimated value of what was shared, in pence."""

    _required: ClassVar[tuple[str, ...]] = ("from_school_id", "to_school_id")

    def check(self) -> None:
        if self.from_school_id == self.to_school_id:
            raise ValueError("from_school_id and to_school_id must differ")


# --------------------------------------------------------------------------- pupils and the survey

_SURVEY_YEAR = re.compile(r"^(?P<first>[0-9]{4})/(?P<second>[0-9]{2})$")


class RollCounted(Event, frozen=True, kw_only=True):
    """The number of pupils on a school's roll, counted on ``occurred_on`` (e.g. the January
    school census). The count stays in force until the school's next ``RollCounted``; per-pupil
    figures (the ``survey`` projection) divide by the roll in force."""

    school_id: str
    """The school counted."""
    pupils_on_roll: int
    """Pupils on roll on the day of the count."""

    _required: ClassVar[tuple[str, ...]] = ("school_id",)


class SurveyReturned(Event, frozen=True, kw_only=True):
    """A school's return to the annual PE and School Sport Survey (2003/04-2009/10).

    The survey asked every partnership school how many of its pupils (in the year groups
    surveyed) took part in at least two hours of high-quality PE and school sport in a typical
    week, and from 2008/09 also at least three hours. ``occurred_on`` is the day the return was
    made, not before the survey year starts (1 September); a later return for the same school and
    year replaces an earlier one (the ``survey`` projection reads the latest). ``class_version`` 1.
    """

    school_id: str
    """The school returning the survey."""
    survey_year: str
    """Academic year surveyed, as ``2008/09``."""
    pupils_on_roll: int
    """Pupils on roll in the year groups surveyed (the denominator of both shares)."""
    pupils_2_hours: int
    """Of those, pupils doing at least two hours a week."""
    pupils_3_hours: int | None = None
    """Of those, pupils doing at least three hours a week; None when the survey did not ask
    (before 2008/09). Never above ``pupils_2_hours``."""

    _required: ClassVar[tuple[str, ...]] = ("school_id",)

    def check(self) -> None:
        m = _SURVEY_YEAR.match(self.survey_year)
        if m is None or (int(m["first"]) + 1) % 100 != int(m["second"]):
            raise ValueError(
                f"survey_year must be an academic year such as 2008/09; got {self.survey_year!r}")
        first = int(m["first"])
        if self.occurred_on < dt.date(first, 9, 1):
            raise ValueError(
                f"occurred_on {self.occurred_on.isoformat()} is before survey_year "
                f"{self.survey_year} starts ({first}-09-01)")
        three = self.pupils_3_hours
        if three is not None:
            if isinstance(three, bool) or not isinstance(three, int):
                raise ValueError(f"pupils_3_hours must be an integer or null; got {three!r}")
            if three < 0:
                raise ValueError(f"pupils_3_hours must not be negative; got {three}")
            if three > self.pupils_2_hours:
                raise ValueError(
                    f"pupils_3_hours ({three}) exceeds pupils_2_hours ({self.pupils_2_hours}): "
                    "a pupil doing three hours also does two")
        if self.pupils_2_hours > self.pupils_on_roll:
            raise ValueError(
                f"pupils_2_hours ({self.pupils_2_hours}) exceeds "
                f"pupils_on_roll ({self.pupils_on_roll})")

    @property
    def survey_start(self) -> int:
        """First calendar year of :attr:`survey_year` (2008 for ``2008/09``)."""
        return int(self.survey_year[:4])


CorrectableEvent = Union[  # noqa: UP007 -- msgspec needs a runtime Union object for tagged decoding
    PartnershipFormed,
    SchoolJoined,
    SchoolLeft,
    StaffAssigned,
    StaffReleased,
    FundingChanged,
    ClubRun,
    CompetitionHeld,
    LeaderTrained,
    CpdDelivered,
    ResourceShared,
    RollCounted,
    SurveyReturned,
    ObjectiveSet,
    EvaluationRecorded,
    PartnershipDissolved,
]
"""Every event that states a fact about the world (everything except corrections)."""

ActivityEvent = Union[  # noqa: UP007 -- runtime Union, see CorrectableEvent
    ClubRun, CompetitionHeld, LeaderTrained, CpdDelivered, ResourceShared
]
"""Events that record partnership activity (participation and staff time)."""


# --------------------------------------------------------------------------- corrections


class EventCorrected(Event, frozen=True, kw_only=True):
    """Replaces the content of an earlier event from the correction's recorded time on.

    The replacement keeps the target's ``event_id`` and type: it is the same fact, restated.
    """

    target_event_id: str
    """Id of the event being corrected."""
    reason: str
    """Why it was corrected (shown to auditors)."""
    replacement: CorrectableEvent
    """The event as it should have been recorded."""

    _required: ClassVar[tuple[str, ...]] = ("target_event_id", "reason")

    def check(self) -> None:
        if self.replacement.event_id != self.target_event_id:
            raise ValueError(
                f"replacement.event_id ({self.replacement.event_id!r}) must equal "
                f"target_event_id ({self.target_event_id!r})"
            )
        if self.replacement.partnership_id != self.partnership_id:
            raise ValueError("replacement.partnership_id must equal partnership_id")
        if self.target_event_id == self.event_id:
            raise ValueError("a correction cannot target itself")


class EventRetracted(Event, frozen=True, kw_only=True):
    """Withdraws an earlier event from the correction's recorded time on."""

    target_event_id: str
    """Id of the event being withdrawn."""
    reason: str
    """Why it was withdrawn (shown to auditors)."""

    _required: ClassVar[tuple[str, ...]] = ("target_event_id", "reason")

    def check(self) -> None:
        if self.target_event_id == self.event_id:
            raise ValueError("a retraction cannot target itself")


DomainEvent = Union[  # noqa: UP007 -- runtime Union, see CorrectableEvent
    CorrectableEvent, EventCorrected, EventRetracted
]
"""The tagged union of every recordable event."""


def _members(union: Any) -> tuple[type[Event], ...]:
    out: list[type[Event]] = []
    for arg in get_args(union):
        if get_origin(arg) in (Union, types.UnionType):
            out.extend(_members(arg))
        else:
            out.append(arg)
    return tuple(out)


EVENT_TYPES: Mapping[str, type[Event]] = types.MappingProxyType(
    {cls.__name__: cls for cls in _members(DomainEvent)}
)
"""Event classes by their tag (``"type"`` in JSON)."""


def _prepare_field_rules(cls: type[Event]) -> None:
    """Derive the generic field checks of an event class from its annotations, and compile
    them (once per class, when its first event is checked: :func:`_on_first_check`)."""
    hints = typing.get_type_hints(cls)
    literals: dict[str, tuple[str, ...]] = {}
    ints: list[str] = []
    texts: list[str] = []
    for f in msgspec.structs.fields(cls):
        hint = hints[f.name]
        if get_origin(hint) is Literal:
            literals[f.name] = tuple(get_args(hint))
        elif hint is int:
            ints.append(f.name)
        elif hint is str:
            texts.append(f.name)
    cls._literal_fields = literals
    cls._int_fields = tuple(ints)
    cls._text_fields = tuple(texts)
    cls._check_common = _compile_common_check(cls)  # type: ignore[method-assign]
    cls._validate = _compile_validate(cls)  # type: ignore[method-assign]


def _compile_common_check(cls: type[Event]) -> Any:
    """One straight-line function doing what :meth:`Event._check_common` does for ``cls``.

    The generic method loops over field-name tuples with ``getattr``; the checks run on every
    construction *and* every decode (each replay), so each class gets them unrolled once (when
    its first event is checked). Same checks, same order, same exceptions and messages
    (``test_fast_checks`` compares the two on every field of every class).
    """
    return _compiled(cls, "_check_common", validate=False)


def _compile_validate(cls: type[Event]) -> Any:
    """One straight-line function doing what :meth:`Event._validate` does for ``cls``: the
    unrolled common checks, then the required fields and ``part <= whole`` pairs inline, then
    :meth:`Event.check` only where the class defines rules of its own. A decoded club session
    (most of a replay) is then checked by a single Python call: same checks, same order, same
    exceptions and messages (``test_fast_validation`` compares the two)."""
    return _compiled(cls, "_validate", validate=True)


def _compiled(cls: type[Event], function: str, *, validate: bool) -> Any:
    consts: dict[str, Any] = {"MIN_DATE": MIN_DATE, "MAX_DATE": MAX_DATE, "_int": int,
                              "_bool": bool, "_type": type}

    def const(value: object) -> str:
        key = f"_c{len(consts)}"
        consts[key] = value
        return key

    def not_blank(name: str) -> list[str]:
        return [f"    if not self.{name}.strip():",
                f"        raise ValueError({const(f'{name} must not be empty')})"]

    lines = [
        f"def {function}(self):",
        "    day = self.occurred_on",
        "    if not MIN_DATE <= day <= MAX_DATE:",
        "        raise ValueError(",
        "            f'occurred_on {self.occurred_on.isoformat()} is outside '",
        "            f'{MIN_DATE.isoformat()}..{MAX_DATE.isoformat()}'",
        "        )",
    ]
    for name in ("partnership_id", "event_id"):
        lines += not_blank(name)
    for name in cls._text_fields:
        too_long = const(f"{name} is longer than {MAX_TEXT} characters")
        lines += [f"    if len(self.{name}) > {MAX_TEXT}:",
                  f"        raise ValueError({too_long})"]
    for name, allowed in cls._literal_fields.items():
        choices = const(allowed)
        prefix = const(f"{name} must be one of {', '.join(allowed)}; got ")
        lines += [f"    value = self.{name}",
                  f"    if value not in {choices}:",
                  f"        raise ValueError(f'{{{prefix}}}{{value!r}}')"]
    for name in cls._int_fields:
        limit = MAX_PENCE if name.endswith("_pence") else MAX_COUNT
        not_int = const(f"{name} must be an integer; got ")
        negative = const(f"{name} must not be negative; got ")
        too_large = const(f"{name} is implausibly large (")
        lines += [f"    value = self.{name}",
                  "    if _type(value) is not _int and (",
                  "            isinstance(value, _bool) or not isinstance(value, _int)):",
                  f"        raise ValueError(f'{{{not_int}}}{{value!r}}')",
                  "    if value < 0:",
                  f"        raise ValueError(f'{{{negative}}}{{value}}')",
                  f"    if value > {limit}:",
                  f"        raise ValueError(f'{{{too_large}}}{{value}} > {limit})')"]
    if validate:
        for field in cls._required:
            lines += not_blank(field)
        for field in cls._required_if_set:
            empty = const(f"{field} must not be empty")
            lines += [f"    value = self.{field}",
                      "    if value is not None and not value.strip():",
                      f"        raise ValueError({empty})"]
        for part, whole in cls._not_above:
            lines += [f"    if self.{part} > self.{whole}:",
                      f"        raise ValueError(f'{part} ({{self.{part}}}) exceeds '",
                      f"                         f'{whole} ({{self.{whole}}})')"]
        if cls.check is not Event.check:
            lines.append("    self.check()")
    namespace: dict[str, Any] = dict(consts)
    exec("\n".join(lines), namespace)  # the source is built above from field names only
    check = namespace[function]
    check.__qualname__ = f"{cls.__qualname__}.{function}"
    return check


def _on_first_check(cls: type[Event]) -> None:
    """Have ``cls`` prepare its field rules (:func:`_prepare_field_rules`) when its first event
    is checked, rather than at import.

    Reading the annotations and compiling two functions per class took about 15 ms of every
    process that imports the events (a fifth of a cold report's floor), for the few classes
    a process ever builds: a report answered from a checkpoint builds no event at all. So
    ``cls._validate`` and ``cls._check_common`` start as stand-ins that prepare the class,
    which replaces them with the compiled functions, then run the compiled one: the first
    event is checked exactly as every later one (an event cannot exist unchecked, since
    msgspec runs ``__post_init__`` on construction and on decoding alike). The stand-ins
    prepare the class they were set on, so an instance of a subclass runs its parent's
    compiled checks, as when they were compiled at import.
    """
    def stand_in(function: str) -> Any:
        def first(self: Event) -> None:
            if getattr(cls, function) is stand_ins[function]:  # not prepared yet
                _prepare_field_rules(cls)
            getattr(cls, function)(self)

        first.__qualname__ = f"{cls.__qualname__}.{function}"
        return first

    stand_ins = {name: stand_in(name) for name in ("_validate", "_check_common")}
    cls._validate = stand_ins["_validate"]  # type: ignore[method-assign]
    cls._check_common = stand_ins["_check_common"]  # type: ignore[method-assign]


for _cls in EVENT_TYPES.values():
    _on_first_check(_cls)
del _cls


def schools_named(event: Event) -> tuple[str, ...]:
    """School ids an event names, which must be members on its valid date."""
    if isinstance(event, ClubRun | LeaderTrained | StaffAssigned | SchoolLeft | RollCounted
                  | SurveyReturned):
        return (event.school_id,)
    if isinstance(event, CompetitionHeld):
        return event.school_ids
    if isinstance(event, ResourceShared):
        return (event.from_school_id, event.to_school_id)
    return ()


def event_schema() -> dict[str, Any]:
    """JSON Schema (2020-12) of every recordable event, for non-Python integrators."""
    return msgspec.json.schema(DomainEvent)
