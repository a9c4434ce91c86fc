"""Partnership age and member tenure as of any valid date.

Age runs from formation to the as-of date (or to dissolution, if earlier). ``by="cohort"`` puts
partnerships in cohorts (:func:`cohort_label`: the academic year of formation, or with query
parameter ``cohort=age`` the age band) with their count, mean age, active members and mean
tenure; the ``survey`` projection groups the survey measure, attendances and staff cost per pupil
by the same cohorts, so "do older partnerships do better?" is one report. A member's tenure is the
number of days from joining to the as-of date (or to its last day of membership). Audits found that
longer-established partnerships do better: ``by`` a period kind gives the membership and tenure at
the end of each period, to set beside participation over the same periods.

:meth:`PartnershipAge.explain_fact` lists the formation, joins, leaves and dissolution behind a
row: the formation gives the age, each active member's join one member and its tenure.

Checkpoints (:meth:`PartnershipAge.dump_state`) are data: the facts it remembers, embedded as
their event Structs in a :class:`PartnershipAgeState`, by partnership and event id.

Speed. Queries read the facts through an index built on first use and dropped by any change: the
facts of each class, per partnership and for all, in the order a scan of every fact meets them
(so sorting and tie-breaking are those of the scan), and per partnership its joins sorted by
school and date with each school's leaving dates sorted. A report by a period kind asks for each
partnership's members at the end of every period: each reads one partnership's roster (a
bisection per member for its leaving date), never every fact.
"""

from __future__ import annotations

import datetime as dt
from bisect import bisect_left
from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar, TypeVar, cast

import msgspec

from ssp_ledger.events import (
    CorrectableEvent,
    PartnershipDissolved,
    PartnershipFormed,
    SchoolJoined,
    SchoolLeft,
)
from ssp_ledger.periods import academic_year, periods_between
from ssp_ledger.projection import Cell, Fact, Query, Table

__all__ = [
    "AGE_BANDS",
    "COHORT_KINDS",
    "STATE_VERSION",
    "MemberTenure",
    "PartnershipAge",
    "PartnershipAgeState",
    "cohort_kind",
    "cohort_label",
]

STATE_VERSION = 1
"""Version of :class:`PartnershipAgeState`; a checkpoint of another version is refused."""

Key = tuple[str, str]
Structure = PartnershipFormed | PartnershipDissolved | SchoolJoined | SchoolLeft
S = TypeVar("S", PartnershipFormed, PartnershipDissolved, SchoolJoined, SchoolLeft)


class PartnershipAgeState(msgspec.Struct, frozen=True, kw_only=True,
                          tag="ssp-ledger/partnership_age", tag_field="format"):
    """The facts a PartnershipAge remembers, by partnership and event id."""

    version: int
    facts: list[PartnershipFormed | PartnershipDissolved | SchoolJoined | SchoolLeft]


_CLASSES: tuple[type[Structure], ...] = (
    PartnershipFormed, PartnershipDissolved, SchoolJoined, SchoolLeft)
"""The classes of fact kept (what :meth:`PartnershipAge.apply` remembers)."""

_ENCODER = msgspec.msgpack.Encoder(order="deterministic")
_DECODER = msgspec.msgpack.Decoder(PartnershipAgeState)


@dataclass(frozen=True)
class MemberTenure:
    """One membership period seen at a date."""

    partnership_id: str
    """The partnership."""
    school_id: str
    """The school."""
    phase: str
    """Its phase."""
    joined_on: dt.date
    """First day of membership."""
    left_on: dt.date | None
    """Last day, if it has left by the date asked about."""
    tenure_days: int
    """Days from joining to the date asked about (or to leaving)."""
    active: bool
    """Still a member on the date asked about."""


def _whole_years(start: dt.date, end: dt.date) -> int:
    years = end.year - start.year
    return years - 1 if (end.month, end.day) < (start.month, start.day) else years


COHORT_KINDS: tuple[str, ...] = ("formed", "age")
"""How partnerships are put in cohorts (query parameter ``cohort``): by the academic year they
were formed in (``formed``, the default: ``2003/04``, ...), or by their age band on the day
asked about (``age``, :data:`AGE_BANDS`)."""
AGE_BANDS: tuple[tuple[int, str], ...] = (
    (2, "0-1 years"), (4, "2-3 years"), (6, "4-5 years"), (8, "6-7 years"),
)
"""(whole years below which, label) of the age bands; older partnerships are ``8+ years``."""


def cohort_kind(query: Query) -> str:
    """The cohort kind a query asks for (``params["cohort"]``, default ``formed``); ValueError
    naming the choices for any other."""
    kind = str(query.params.get("cohort", "formed"))
    if kind not in COHORT_KINDS:
        msg = f"cohort must be one of {', '.join(COHORT_KINDS)}; got {kind!r}"
        raise ValueError(msg)
    return kind


def cohort_label(formed_on: dt.date, day: dt.date, kind: str = "formed") -> str:
    """The cohort of a partnership formed on ``formed_on``, seen on ``day``.

    ``formed``: the academic year of formation (``2004/05``: the PESSCL wave it joined);
    ``age``: its age band on ``day`` in whole years (``2-3 years``; ``not formed`` before
    formation). The one definition used by ``partnership_age``, ``participation``-style
    groupings and the ``survey`` projection, so cohorts mean the same in every report.
    """
    if kind == "formed":
        return academic_year(formed_on).label
    if day < formed_on:
        return "not formed"
    years = _whole_years(formed_on, day)
    for below, label in AGE_BANDS:
        if years < below:
            return label
    return f"{AGE_BANDS[-1][0]}+ years"


class PartnershipAge:
    """Days since formation, active members, member tenure, dissolved or not."""

    name: ClassVar[str] = "partnership_age"
    parameters: ClassVar[tuple[str, ...]] = ("cohort",)
    """Query parameters it takes (:meth:`ssp_ledger.Ledger.report` refuses others)."""
    groupings: ClassVar[tuple[str, ...]] = ("school", "phase", "cohort")
    handles: ClassVar[tuple[type[CorrectableEvent], ...]] = (
        PartnershipFormed, PartnershipDissolved, SchoolJoined, SchoolLeft)
    """Event classes this projection reacts to (the set offers it no others)."""

    def __init__(self) -> None:
        self._facts: dict[Key, Structure] = {}
        self._index: dict[tuple[type, str | None], list[Structure]] | None = None
        """Facts by (class, partnership or None for all), in scan order (built on first use,
        dropped by any change)."""
        self._rosters: dict[str, tuple[list[SchoolJoined], dict[str, list[dt.date]]]] = {}
        """Per partnership, what :meth:`members` reads (built on use, dropped by any change)."""

    def apply(self, fact: Fact) -> None:
        """Remember formation, dissolution, joins and leaves."""
        event = fact.event
        if isinstance(event, PartnershipFormed | PartnershipDissolved | SchoolJoined | SchoolLeft):
            self._facts[(event.partnership_id, event.event_id)] = event
            self._index = None
            self._rosters = {}

    def retract(self, fact: Fact) -> None:
        """Forget what :meth:`apply` remembered."""
        self._facts.pop((fact.event.partnership_id, fact.event.event_id), None)
        self._index = None
        self._rosters = {}

    def dump_state(self) -> bytes:
        """The facts remembered, as canonical msgpack (a :class:`PartnershipAgeState`)."""
        facts = [self._facts[key] for key in sorted(self._facts)]
        return _ENCODER.encode(PartnershipAgeState(version=STATE_VERSION, facts=facts))

    def load_state(self, data: bytes) -> None:
        """Take the facts of :meth:`dump_state` bytes (on a fresh instance); ValueError when
        they are not such bytes."""
        state = _DECODER.decode(data)
        if state.version != STATE_VERSION:
            msg = f"partnership_age state version {state.version} is not {STATE_VERSION}"
            raise ValueError(msg)
        if self._facts:
            msg = "partnership_age: load_state needs a fresh instance (this one has facts)"
            raise ValueError(msg)
        self._facts = {(f.partnership_id, f.event_id): f for f in state.facts}
        self._index = None
        self._rosters = {}

    def _of(self, cls: type[S], partnership_id: str | None) -> list[S]:
        """The facts of class ``cls`` of one partnership (None: of all), in the order a scan of
        every fact meets them (:meth:`_scanned` is that scan). Do not change the list."""
        index = self._index
        if index is None:
            index = self._index = {}
            for f in self._facts.values():
                for kind in _CLASSES:
                    if isinstance(f, kind):
                        index.setdefault((kind, f.partnership_id), []).append(f)
                        index.setdefault((kind, None), []).append(f)
        return cast("list[S]", index.get((cls, partnership_id), []))

    def _scanned(self, cls: type[S], partnership_id: str | None) -> list[S]:
        """:meth:`_of` by scanning every fact (the reference the index is tested against)."""
        return [f for f in self._facts.values() if isinstance(f, cls)
                and (partnership_id is None or f.partnership_id == partnership_id)]

    # ------------------------------------------------------------------ queries

    def _selected(self, query: Query) -> list[PartnershipFormed]:
        return sorted(self._of(PartnershipFormed, query.partnership_id),
                      key=lambda f: f.partnership_id)

    def _dissolved_on(self, partnership_id: str) -> dt.date | None:
        dates = [d.occurred_on for d in self._of(PartnershipDissolved, partnership_id)]
        return min(dates) if dates else None

    def members(self, partnership_id: str, day: dt.date) -> list[MemberTenure]:
        """Every membership period of a partnership that had started by ``day``."""
        joins, leaves = self._roster(partnership_id)
        out: list[MemberTenure] = []
        for join in joins:
            if join.occurred_on > day:
                continue
            dates = leaves.get(join.school_id, ())
            i = bisect_left(dates, join.occurred_on)
            left = dates[i] if i < len(dates) and dates[i] <= day else None
            end = day if left is None else min(left, day)
            out.append(MemberTenure(
                partnership_id, join.school_id, join.phase, join.occurred_on, left,
                (end - join.occurred_on).days, left is None or left >= day,
            ))
        return out

    def _roster(self, partnership_id: str
                ) -> tuple[list[SchoolJoined], dict[str, list[dt.date]]]:
        """A partnership's joins sorted by (school, date) (ties in scan order) and each
        school's leaving dates sorted: what :meth:`members` reads, kept with the index."""
        found = self._rosters.get(partnership_id)
        if found is None:
            joins = sorted(self._of(SchoolJoined, partnership_id),
                           key=lambda j: (j.school_id, j.occurred_on))
            leaves: dict[str, list[dt.date]] = {}
            for leave in self._of(SchoolLeft, partnership_id):
                leaves.setdefault(leave.school_id, []).append(leave.occurred_on)
            for dates in leaves.values():
                dates.sort()
            found = self._rosters[partnership_id] = (joins, leaves)
        return found

    def _scanned_members(self, partnership_id: str, day: dt.date) -> list[MemberTenure]:
        """:meth:`members` from a scan of every fact (the reference it is tested against)."""
        leaves: dict[str, list[dt.date]] = {}
        for leave in self._scanned(SchoolLeft, partnership_id):
            if leave.occurred_on <= day:
                leaves.setdefault(leave.school_id, []).append(leave.occurred_on)
        out: list[MemberTenure] = []
        joins = sorted(
            (j for j in self._scanned(SchoolJoined, partnership_id) if j.occurred_on <= day),
            key=lambda j: (j.school_id, j.occurred_on),
        )
        for join in joins:
            left = min((d for d in leaves.get(join.school_id, ()) if d >= join.occurred_on),
                       default=None)
            end = day if left is None else min(left, day)
            out.append(MemberTenure(
                partnership_id, join.school_id, join.phase, join.occurred_on, left,
                (end - join.occurred_on).days, left is None or left >= day,
            ))
        return out

    def report(self, query: Query) -> Table:
        """One row per partnership (or per school / phase / period)."""
        _, day = query.window
        kind = query.period_kind
        columns: tuple[str, ...]
        rows: list[tuple[Cell, ...]] = []
        if query.by is None or kind is not None:
            columns = ("partnership", *((kind,) if kind else ()), "formed_on", "age_days",
                       "age_years", "active_members", "mean_tenure_days", "dissolved_on")
            for formed in self._selected(query):
                if formed.occurred_on > day:
                    continue
                if kind is None:
                    rows.append(self._row(formed, day))
                    continue
                for p in periods_between(kind, formed.occurred_on, day):
                    row = self._row(formed, min(p.end, day))
                    rows.append((row[0], p.label, *row[1:]))
        elif query.by == "school":
            columns = ("school", "partnership", "phase", "joined_on", "left_on", "tenure_days",
                       "active")
            for formed in self._selected(query):
                for m in self.members(formed.partnership_id, day):
                    rows.append((m.school_id, m.partnership_id, m.phase, m.joined_on.isoformat(),
                                 m.left_on.isoformat() if m.left_on else None, m.tenure_days,
                                 int(m.active)))
        elif query.by == "cohort":
            columns = ("cohort", "partnerships", "mean_age_days", "active_members",
                       "mean_tenure_days")
            grouping = cohort_kind(query)
            cohorts: dict[str, list[tuple[int, list[int]]]] = {}
            for formed in self._selected(query):
                if formed.occurred_on > day:
                    continue
                row = self._row(formed, day)
                end = self._end(formed, day)
                tenures = [m.tenure_days for m in self.members(formed.partnership_id, end)
                           if m.active]
                age = row[2]
                assert isinstance(age, int)
                label = cohort_label(formed.occurred_on, day, grouping)
                cohorts.setdefault(label, []).append((age, tenures))
            for label in sorted(cohorts):
                parts = cohorts[label]
                ages = [a for a, _ in parts]
                tenure_all = [t for _, ts in parts for t in ts]
                rows.append((label, len(parts), sum(ages) // len(ages), len(tenure_all),
                             sum(tenure_all) // len(tenure_all) if tenure_all else 0))
        elif query.by == "phase":
            columns = ("phase", "active_members", "mean_tenure_days")
            tenure: dict[str, list[int]] = {}
            for formed in self._selected(query):
                for m in self.members(formed.partnership_id, day):
                    if m.active:
                        tenure.setdefault(m.phase, []).append(m.tenure_days)
            for phase in sorted(tenure):
                days = tenure[phase]
                rows.append((phase, len(days), sum(days) // len(days)))
        else:
            query.check_grouping(self.name, self.groupings)
        # Rows are partnerships, schools or phases, never a total: a school may be "total".
        return Table.answer(self.name, query, columns, rows, total=False)

    # ------------------------------------------------------------------ explain

    def explain_fact(self, query: Query, group: str, fact: Fact) -> Mapping[str, int] | None:
        """What ``fact`` contributed to the row(s) labelled ``group`` of ``report(query)``.

        * ``by`` None (rows labelled by partnership, figures at the window's last day or at
          dissolution if earlier): ``PartnershipFormed`` gives ``age_days`` and ``age_years``;
          a ``SchoolJoined`` of a member active then gives ``active_members`` 1 and its
          ``tenure_days`` (they sum to ``active_members`` and to ``mean_tenure_days`` times it,
          before the floor division); a ``SchoolLeft`` that ended a membership before then and
          the ``PartnershipDissolved`` that caps the age are listed with an empty mapping;
        * ``by="phase"``: the same for the active members of that phase (rows labelled by phase);
        * ``by="cohort"``: each ``PartnershipFormed`` of the cohort gives ``partnerships`` 1 and
          its ``age_days`` (they sum to ``partnerships`` and to ``mean_age_days`` times it, before
          the floor division), each active member's join as with ``by`` None;
        * ``by="school"``: rows are memberships labelled by their *partnership*, so ``group``
          names all of a partnership's membership rows: each ``SchoolJoined`` gives its
          ``tenure_days`` and ``active`` (0 or 1), summing to those columns over the rows; the
          ``SchoolLeft`` closing a membership is listed with an empty mapping.

        Period kinds are refused (ValueError): their rows are snapshots sharing the partnership's
        label, so a group names no single row and the snapshots do not add up; explain the
        snapshot at a period's end with ``by`` None and ``as_of`` (or ``period``) instead.
        """
        event = fact.event
        if not isinstance(event, PartnershipFormed | PartnershipDissolved | SchoolJoined
                          | SchoolLeft):
            return None
        pid = event.partnership_id
        if query.partnership_id is not None and pid != query.partnership_id:
            return None
        if query.period_kind is not None:
            msg = (f"{self.name}: rows by {query.by} are snapshots labelled by partnership and do "
                   "not add up; explain one snapshot with by=None and as_of or period instead")
            raise ValueError(msg)
        _, day = query.window
        if query.by is None:
            if pid != group:
                return None
            formed = next((f for f in self._selected(query) if f.partnership_id == pid), None)
            if formed is None or formed.occurred_on > day:
                return None
            dissolved = self._dissolved_on(pid)
            end = day if dissolved is None else min(day, dissolved)
            if isinstance(event, PartnershipFormed):
                return {"age_days": (end - event.occurred_on).days,
                        "age_years": _whole_years(event.occurred_on, end)}
            if isinstance(event, PartnershipDissolved):
                return {} if event.occurred_on == dissolved and dissolved <= day else None
            return self._member_part(event, end, phase=None)
        if query.by == "phase":
            return self._member_part(event, day, phase=group)
        if query.by == "cohort":
            formed = next((f for f in self._selected(query) if f.partnership_id == pid), None)
            if formed is None or formed.occurred_on > day or \
                    cohort_label(formed.occurred_on, day, cohort_kind(query)) != group:
                return None
            end = self._end(formed, day)
            if isinstance(event, PartnershipFormed):
                return {"partnerships": 1, "age_days": (end - event.occurred_on).days}
            if isinstance(event, PartnershipDissolved):
                return {} if event.occurred_on == end and end <= day else None
            return self._member_part(event, end, phase=None)
        if query.by == "school":
            if isinstance(event, PartnershipFormed | PartnershipDissolved):
                return None
            if event.school_id != group:
                return None
            for m in self.members(pid, day):
                if isinstance(event, SchoolJoined):
                    if (m.school_id, m.joined_on) == (event.school_id, event.occurred_on):
                        return {"tenure_days": m.tenure_days, "active": int(m.active)}
                elif (m.school_id, m.left_on) == (event.school_id, event.occurred_on):
                    return {}
        return None

    def _member_part(self, event: Structure, day: dt.date, phase: str | None
                     ) -> dict[str, int] | None:
        """A join's or leave's part in the active members at ``day`` (of one phase or all)."""
        if not isinstance(event, SchoolJoined | SchoolLeft):
            return None
        for m in self.members(event.partnership_id, day):
            if event.school_id != m.school_id or (phase is not None and m.phase != phase):
                continue
            if isinstance(event, SchoolJoined):
                if m.joined_on == event.occurred_on and m.active:
                    return {"active_members": 1, "tenure_days": m.tenure_days}
            elif m.left_on == event.occurred_on and not m.active:
                return {}
        return None

    def _end(self, formed: PartnershipFormed, day: dt.date) -> dt.date:
        """``day``, or the dissolution date if earlier."""
        dissolved = self._dissolved_on(formed.partnership_id)
        return day if dissolved is None else min(day, dissolved)

    def _row(self, formed: PartnershipFormed, day: dt.date) -> tuple[Cell, ...]:
        dissolved = self._dissolved_on(formed.partnership_id)
        end = self._end(formed, day)
        active = [m for m in self.members(formed.partnership_id, end) if m.active]
        mean = sum(m.tenure_days for m in active) // len(active) if active else 0
        return (
            formed.partnership_id, formed.occurred_on.isoformat(),
            (end - formed.occurred_on).days, _whole_years(formed.occurred_on, end),
            len(active), mean,
            dissolved.isoformat() if dissolved is not None and dissolved <= day else None,
        )
