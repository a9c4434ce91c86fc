"""Staff time and what it costs: recurring release time plus activity minutes, funded or hidden.

Staff time has two sources:

* **release time**: a ``StaffAssigned`` fact starts an assignment that runs until the day before
  the same person's next ``StaffAssigned``, or to the first ``StaffReleased`` dated on or after
  its start (inclusive), or stays open. Release minutes accrue on teaching days
  (:class:`~ssp_ledger.periods.TeachingCalendar`): ``release_minutes_per_week * days // 5``;
* **activity minutes**: ``ClubRun.staff_minutes``, ``CompetitionHeld.staff_minutes``,
  ``LeaderTrained.minutes``, ``CpdDelivered.minutes`` and ``ResourceShared.staff_minutes``.

Activity minutes are attributed **at query time** to the assignment of their staff member in force
on their date, costed at that assignment's ``hourly_cost_pence``. Minutes of a person outside any
assignment and minutes with no known person are *unattributed*: role ``UNATTRIBUTED``, funding
stream ``none``, hidden, costed at the dated, cited parameter ``cost.UNATTRIBUTED`` (a
main-scale teacher's full hourly cost, an estimate) in force on their date, or at the query's
flat ``default_hourly_cost_pence`` when it sets one (:mod:`~ssp_ledger_projections.staff_cost.
rates`).

A piece of an assignment is *funded* when its funding stream is set and the stream's annual level
in force on those days (:mod:`~ssp_ledger_projections.funding_levels`) is above 0: its cost is
*assigned to* the stream, whether or not the stream's money covers it. Otherwise its cost is
*hidden* in salary budgets. Assignments are cut at their stream's funding-change dates.
``covered_pence`` is the part of the funded cost the money received covers: ``min(funded,
received)`` per partnership and stream over the row's days, summed
(:mod:`~ssp_ledger_projections.staff_cost.covered`). Every table states these definitions and the
parameter values it rests on in its notes (:mod:`~ssp_ledger_projections.staff_cost.notes`).

Because nothing is attributed when a fact is applied, answers do not depend on recording order and
back-dated ``StaffAssigned``/``FundingChanged`` facts restate earlier figures correctly; applying a
fact and retracting it leaves the state exactly as before.

This module assembles :class:`StaffTimeCost` from the rooms of
:mod:`ssp_ledger_projections.staff_cost`:

* :mod:`~ssp_ledger_projections.staff_cost.state`: the facts and the timelines;
* :mod:`~ssp_ledger_projections.staff_cost.rates`: what unattributed minutes cost, by date;
* :mod:`~ssp_ledger_projections.staff_cost.costing`: figures, rounding (every figure a
  difference of a cumulative integer function, so pieces add up to the whole exactly) and the
  piece-by-piece costing;
* :mod:`~ssp_ledger_projections.staff_cost.cumulative` and
  :mod:`~ssp_ledger_projections.staff_cost.grouped`: cumulative tables (a partnership's total;
  every group of a grouping, for one partnership or all of them), answering exactly as the
  piece-by-piece costing in O(log n) per group;
* :mod:`~ssp_ledger_projections.staff_cost.steps`: every timeline's steps as numpy arrays, which
  the grouped tables sum (one walk per scope, shared by its groupings);
* :mod:`~ssp_ledger_projections.staff_cost.cache`: which costing answers, tables built on the
  :attr:`StaffTimeCost.tables_after`-th answer after the last change of their scope;
* :mod:`~ssp_ledger_projections.staff_cost.covered`: what the funding received covers;
* :mod:`~ssp_ledger_projections.staff_cost.notes`: the definitions and parameter values a
  table states;
* :mod:`~ssp_ledger_projections.staff_cost.explain`: the facts behind a figure.

Checkpoints are data only (:meth:`StaffTimeCost.dump_state`): the facts as msgspec Structs in a
canonical order, the activity series as a few arrays, and the national walk's plan derived from
them (:mod:`~ssp_ledger_projections.staff_cost.state`), so a cold national report reads arrays
and walks only their numpy part. Tables, timelines and the teaching calendar's per-year counts
are caches: they are left out and rebuilt on use.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import ClassVar, cast

import msgspec
import numpy as np

from ssp_ledger.events import (
    ClubRun,
    CompetitionHeld,
    CorrectableEvent,
    CpdDelivered,
    FundingChanged,
    LeaderTrained,
    ResourceShared,
    StaffAssigned,
    StaffReleased,
)
from ssp_ledger.periods import PeriodKind, TeachingCalendar, periods_between
from ssp_ledger.projection import Cell, Fact, Query, Table
from ssp_ledger.projection.checkpoint import UnreadableCheckpoint, release_free_memory
from ssp_ledger_projections.funding_levels import DAYS_PER_YEAR, FundingLevels, StreamLevels
from ssp_ledger_projections.staff_cost.cache import CumulativeCosts
from ssp_ledger_projections.staff_cost.costing import (
    COLUMNS,
    DEFAULT_HOURLY_COST_PENCE,
    MEASURES,
    NONE_LABEL,
    UNATTRIBUTED,
    ZERO,
    Columns,
    Costing,
    CostSummary,
    Figures,
)
from ssp_ledger_projections.staff_cost.covered import Coverage
from ssp_ledger_projections.staff_cost.explain import explain_fact
from ssp_ledger_projections.staff_cost.grouped import TOTAL, CumulativeTable
from ssp_ledger_projections.staff_cost.kept import (
    KeptAnswers,
    NotKept,
    SchoolCostRows,
    SchoolPence,
    answers_state,
    school_pence,
)
from ssp_ledger_projections.staff_cost.notes import cost_notes
from ssp_ledger_projections.staff_cost.rates import (
    UnattributedRate,
    default_hourly_cost,
    rate_of,
    shipped_rate,
    unattributed_rate,
)
from ssp_ledger_projections.staff_cost.state import (
    NationalAnswersState,
    StaffFacts,
    StoredPart,
    WalkPlanState,
    answers_of,
    body_of,
    funding_of,
    pack_state,
    unpack_part,
)
from ssp_ledger_projections.staff_cost.steps import (
    PAIRS,
    SCHOOLS,
    plan_state,
    rate_key,
    walk,
    walk_planned,
)

__all__ = [
    "COLUMNS",
    "DAYS_PER_YEAR",
    "DEFAULT_HOURLY_COST_PENCE",
    "MEASURES",
    "NONE_LABEL",
    "UNATTRIBUTED",
    "Columns",
    "CostSummary",
    "Costing",
    "Figures",
    "FundingLevels",
    "StaffTimeCost",
    "StreamLevels",
    "default_hourly_cost",
]




def _cells(group: str, figures: Figures, covered: int | None) -> tuple[Cell, ...]:
    """A row in :data:`COLUMNS` order: covered after funded pence, cost per attendance last."""
    attendances = figures.attendances
    return (group, *figures[:_COVERED_AT], covered, *figures[_COVERED_AT:],
            figures.total_pence // attendances if attendances else None)


_COVERED_AT = MEASURES.index("funded_pence") + 1
"""Where ``covered_pence`` sits among the measures of a row."""
_TOTAL_PENCE = MEASURES.index("total_pence")
_ATTENDANCES = MEASURES.index("attendances")


def _group_rows(labels: list[str], columns: np.ndarray,
                covered: Mapping[str, int] | None = None
                ) -> tuple[list[tuple[Cell, ...]], Figures]:
    """:func:`_cells` of every group with a figure (``labels`` sorted; ``columns`` an array
    ``[group, Columns field]``) and the sum of every group, a column at a time: the same
    :meth:`Columns.total` and cost per attendance as :func:`_cells` without a Python object per
    group until the rows themselves (a national report by school has thousands). ``covered``:
    each group's covered pence (None: the grouping has none)."""
    figures = cast("tuple[np.ndarray, ...]",
                   Columns._make(cast("Iterable[int]", columns.T)).total())  # whole columns
    kept = np.flatnonzero(np.any(np.stack(figures) != 0, axis=0)).tolist()
    values: list[list[int]] = [column.tolist() for column in figures]
    total = Figures._make(sum(column) for column in values)
    if len(kept) < len(labels):
        labels = [labels[i] for i in kept]
        values = [[column[i] for i in kept] for column in values]
    per_attendance = [pence // seen if seen else None for pence, seen in zip(
        values[_TOTAL_PENCE], values[_ATTENDANCES], strict=True)]
    shares = [None if covered is None else covered.get(label, 0) for label in labels]
    return list(zip(labels, *values[:_COVERED_AT], shares, *values[_COVERED_AT:],
                    per_attendance, strict=True)), total


class _KeptCosts:
    """The cost tables the covered figures read (:class:`~.staff_cost.covered.Costs`), from a
    checkpoint's kept national answers: the pairs' table, nothing by partnership."""

    def __init__(self, kept: KeptAnswers) -> None:
        self._kept = kept

    def pair_table(self, rate: UnattributedRate) -> CumulativeTable | None:
        del rate  # the kept answers are at the shipped rate, what the covered figures read
        return self._kept.table(PAIRS)

    def grouped(self, partnership_id: str | None, by: str, rate: UnattributedRate,
                start: dt.date | None, end: dt.date) -> dict[str, Columns]:
        msg = "the kept national answers hold no partnership's table"
        raise NotKept(msg)


class StaffTimeCost:
    """Staff minutes and their cost, funded vs hidden in salary budgets, and cost per attendance.

    Groupings: ``role``, ``school``, ``funding_stream``, ``staff``, ``funded`` (rows ``funded`` and
    ``hidden``) or a period kind. Release time is grouped under the assignment's school, activity
    minutes under the activity's school (``none`` for CPD). Query parameter:
    ``default_hourly_cost_pence``, a flat rate for unattributed minutes instead of the dated
    parameter ``cost.UNATTRIBUTED``.
    """

    name: ClassVar[str] = "staff_time_cost"
    parameters: ClassVar[tuple[str, ...]] = ("default_hourly_cost_pence",)
    """Query parameters it takes (:meth:`ssp_ledger.Ledger.report` refuses others)."""
    groupings: ClassVar[tuple[str, ...]] = ("role", "school", "funding_stream", "staff", "funded")
    handles: ClassVar[tuple[type[CorrectableEvent], ...]] = (
        StaffAssigned, StaffReleased, FundingChanged,
        ClubRun, CompetitionHeld, LeaderTrained, CpdDelivered, ResourceShared)
    """Event classes this projection reacts to (the set offers it no others)."""

    def __init__(self) -> None:
        self.calendar = TeachingCalendar()
        """Teaching-day calendar release time accrues over."""
        self.funding_levels = FundingLevels()
        """Funding levels per (partnership, stream). The funding projection reads them (and
        the costs) from the StaffTimeCost it owns or is attached to, so both always agree."""
        self._facts = StaffFacts(self.calendar, self.funding_levels)
        self._cumulative = CumulativeCosts(self._facts)
        self._coverage = Coverage(self._cumulative, self.funding_levels)
        self._pending: StoredPart | None = None
        """A loaded state whose facts are not read yet (:meth:`load_state`)."""
        self._kept: tuple[KeptAnswers, Coverage] | None = None
        """A loaded state's kept national answers, and the covered figures read from them,
        while no fact has changed since."""
        self._loaded: bytes | None = None
        """The bytes a state was loaded from, while no fact has changed since (what
        :meth:`dump_state` gives back)."""
        self._row_starts: list[Callable[[], Iterable[dt.date]]] = []
        """What siblings said their rows start on (:meth:`keep_school_costs`)."""
        self._dumped: SchoolPence | None = None
        """The schools' table the last :meth:`dump_state` kept, reduced to what
        :meth:`kept_school_costs` reads, while no fact has changed since."""

    @property
    def facts(self) -> StaffFacts:
        """What the projection knows (:mod:`~ssp_ledger_projections.staff_cost.state`)."""
        self._ready()
        return self._facts

    @property
    def cumulative(self) -> CumulativeCosts:
        """Which costing answers for a partnership, with the cumulative tables built."""
        self._ready()
        return self._cumulative

    @property
    def coverage(self) -> Coverage:
        """What the funding received covers of the funded cost."""
        self._ready()
        return self._coverage

    def read_state(self) -> None:
        """Read the facts of a loaded state now, if not yet (UnreadableCheckpoint when they
        cannot be): what a restored set's ``load_all`` calls before feeding every projection."""
        self._ready()

    def _ready(self) -> None:
        """Read the facts of a loaded state, if not yet (:meth:`load_state`): UnreadableCheckpoint
        when they cannot be, so the ledger answers from the log instead."""
        part = self._pending
        if part is None:
            return
        self._pending = None
        try:
            self._facts.load(body_of(part), levels_loaded=True)
        except ValueError as e:
            raise UnreadableCheckpoint(str(e)) from e

    def _changed(self) -> None:
        """Forget what a loaded state kept beside its facts: a fact comes or goes."""
        self._ready()
        self._kept = None
        self._loaded = None
        self._dumped = None

    def _kept_for(self, partnership_id: str | None, rate: UnattributedRate
                  ) -> tuple[KeptAnswers, Coverage] | None:
        """The kept national answers, when they answer a question about ``partnership_id``
        (None: every one) at ``rate``."""
        kept = self._kept
        if kept is None or partnership_id is not None or kept[0].rate != rate_key(rate):
            return None
        return kept

    def keep_school_costs(self, row_starts: Callable[[], Iterable[dt.date]]) -> None:
        """Have a dumped state's kept answers hold the (partnership, school) table that
        :meth:`school_costs` reads also on the day before each day ``row_starts()`` gives (asked
        when a state is dumped, of the sibling's facts then): a sibling whose rows start on days
        no period starts on (the survey's rows by period start on its first return or roll)
        then reads no fact for them from a checkpoint. The state's bytes depend on those days,
        so a loaded state is given back as it was while they are the ones it kept, or while no
        sibling asked (a restored set that has not loaded the survey: it fed no fact since, so
        the survey's days are the ones the state was saved with)."""
        self._row_starts.append(row_starts)

    def _starts(self) -> set[int]:
        """The ordinals of every day a sibling said its rows start on."""
        return {day.toordinal() for starts in self._row_starts for day in starts()}

    # ------------------------------------------------------------------ protocol: Stateful

    def dump_state(self) -> bytes:
        """The facts as canonical bytes (:class:`~ssp_ledger_projections.staff_cost.state.
        StaffFactsState` as :func:`~ssp_ledger_projections.staff_cost.state.pack_state` keeps
        it), with what is derived from them: the national walk's plan and the kept national
        answers (:mod:`~ssp_ledger_projections.staff_cost.kept`). No cache, no tuning
        (``tables_after``), no code. A loaded state no fact has changed since gives back the
        bytes it was loaded from.

        The derived parts are made first, each walk's arrays freed before the facts' dump
        makes its own (the dump's peak is then the only large one)."""
        if self._loaded is not None and (
                self._kept is None or not self._row_starts
                or self._kept[0].keeps_schools_for(self._starts())):
            return self._loaded
        facts = self.facts
        plan, assignments = self._plan()
        release_free_memory()  # each walk's arrays handed back before the next walk makes its own
        answers = self._answers(plan, assignments)
        self._dumped = None if answers is None else school_pence(
            KeptAnswers.load(answers, self.calendar))
        release_free_memory()
        state = msgspec.structs.replace(facts.dump(), plan=plan, answers=answers)
        release_free_memory()  # the dump's garbage, before its encoding and compression
        return pack_state(state)

    def _plan(self) -> tuple[WalkPlanState | None, list[StaffAssigned]]:
        """The national walk's plan a dumped state keeps, and the assignments in order."""
        facts = self.facts
        kept = facts.kept_plan()
        assignments = kept[1] if kept is not None else facts.assignments_in_order()
        return (kept[0] if kept is not None else plan_state(facts, assignments)), assignments

    def kept_school_costs(self) -> SchoolCostRows | None:
        """The (partnership, school) table a dumped state's kept answers hold (every school's
        total pence at the shipped rate through each of its days, for the siblings' days as
        they are now, and the open tails), as plain integers, or None when none is kept: the
        table of a state loaded or dumped since the last change, else computed now. The
        survey keeps a copy in its own state."""
        starts = self._starts()
        if self._kept is not None and self._kept[0].keeps_schools_for(starts):
            return school_pence(self._kept[0]).rows()
        if self._dumped is not None and self._dumped.keeps_for(starts):
            return self._dumped.rows()
        answers = self._answers(*self._plan())
        return None if answers is None else school_pence(
            KeptAnswers.load(answers, self.calendar)).rows()

    def _answers(self, plan: WalkPlanState | None, assignments: list[StaffAssigned]
                 ) -> NationalAnswersState | None:
        """The national answers to keep: a national walk at the shipped rate, from ``plan``
        (its stretches are the walk's Python half, already computed) when it is that walk's."""
        facts = self.facts
        pids = facts.partnerships(None)
        first = facts.first_day(None)
        if not pids or first is None:
            return None
        rate = shipped_rate()
        steps = (walk_planned(facts, plan, assignments)
                 if plan is not None and plan.pids == list(pids) and plan.rate == rate_key(rate)
                 else walk(facts, pids, rate))
        release_free_memory()  # the series' arrays the walk was computed from, before the tables
        return answers_state(steps, self.calendar, rate_key(rate), first.toordinal(),
                             self._starts())

    def load_state(self, data: bytes) -> None:
        """Take the facts of :meth:`dump_state` bytes (on a fresh instance); ValueError when
        they are not such bytes.

        Reads the funding changes and the kept national answers now (checked), and the rest
        of the facts when something first needs them (:attr:`facts`): a national report at the
        shipped rate on the days the answers kept (:mod:`~ssp_ledger_projections.staff_cost.
        kept`) never inflates them. They are checked then, UnreadableCheckpoint when they
        cannot be read."""
        if self._pending is not None or self._facts.knows_anything():
            msg = "staff facts: load_state needs a fresh instance (this one has facts)"
            raise ValueError(msg)
        part = unpack_part(data)
        funding = funding_of(part)
        answers = answers_of(part)
        kept = None if answers is None else KeptAnswers.load(answers, self.calendar)
        for change in funding:
            self.funding_levels.add(change)
        self._pending = part
        self._loaded = data
        if kept is not None:
            self._kept = (kept, Coverage(_KeptCosts(kept), self.funding_levels))

    @property
    def tables_after(self) -> int:
        """Which answer (total, period rows or funded split) of a partnership since its last
        change builds its cumulative table; earlier ones are costed piece by piece (see
        :class:`~ssp_ledger_projections.staff_cost.cache.CumulativeCosts`)."""
        return self._cumulative.tables_after

    @tables_after.setter
    def tables_after(self, value: int) -> None:
        self._cumulative.tables_after = value

    # ------------------------------------------------------------------ protocol: updates

    def apply(self, fact: Fact) -> None:
        """Add the effect of a fact."""
        self._changed()
        self._facts.change(fact.event, 1)

    def retract(self, fact: Fact) -> None:
        """Remove the effect of a fact previously applied."""
        self._changed()
        self._facts.change(fact.event, -1)

    def apply_batch(self, facts: Sequence[Fact], signs: Sequence[int]) -> None:
        """Apply (sign 1) or retract (sign -1) each fact, in order, as one batch (a replay:
        see :class:`~ssp_ledger.projection.projection_set.Batched`)."""
        self._changed()
        self._facts.change_many([fact.event for fact in facts], signs)

    # ------------------------------------------------------------------ queries

    def first_day(self, partnership_id: str | None = None) -> dt.date | None:
        """Earliest assignment start or activity date (one or all partnerships), or None."""
        if partnership_id is None and self._kept is not None and self._pending is not None:
            return self._kept[0].first_day
        return self.facts.first_day(partnership_id)

    def _costings(self, partnership_id: str | None, rate: UnattributedRate,
                  kept: KeptAnswers | None = None) -> list[Costing]:
        """Costings adding up to the partnership(s) asked about (a table where built, else
        piece by piece: :class:`CumulativeCosts` is the one place that choice is made), or
        (``kept``) the kept national total."""
        if kept is not None:
            return [kept.table(None).group(TOTAL)]
        return self.cumulative.costings(partnership_id, rate)

    def _between(self, partnership_id: str | None, start: dt.date | None, end: dt.date,
                 rate: UnattributedRate, kept: KeptAnswers | None = None) -> Columns:
        out = ZERO
        for costing in self._costings(partnership_id, rate, kept):
            found = costing.between(start, end)
            out = found if out is ZERO else out.plus(found)
        return out

    def _by_period(self, partnership_id: str | None, kind: PeriodKind, lo: dt.date,
                   end: dt.date, rate: UnattributedRate, kept: KeptAnswers | None = None
                   ) -> dict[str, Figures]:
        """Figures per period of ``kind`` over ``[lo, end]``, in date order (one pass)."""
        periods = periods_between(kind, lo, end)
        starts = [lo, *(p.start for p in periods[1:])]
        sums = [ZERO] * len(periods)
        for costing in self._costings(partnership_id, rate, kept):
            sums = [a.plus(b) for a, b in zip(sums, costing.periods(starts, end), strict=True)]
        return {p.label: c.total() for p, c in zip(periods, sums, strict=True)}

    @staticmethod
    def _period_ranges(kind: PeriodKind, lo: dt.date, start: dt.date | None, end: dt.date
                       ) -> dict[str, tuple[dt.date | None, dt.date]]:
        """The days of each period of ``kind`` from the one holding ``lo`` to the one holding
        ``end``, inside the window ``[start, end]``, by label: a period row's range (money
        received before the first cost of a period is the period's too)."""
        return {p.label: (p.start if start is None else max(p.start, start), min(p.end, end))
                for p in periods_between(kind, lo, end)}

    def cost_between(self, start: dt.date | None, end: dt.date, *,
                     partnership_id: str | None = None,
                     default_hourly_cost_pence: int | None = None) -> CostSummary:
        """Total figures over ``[start, end]`` (``start`` None: from the beginning);
        unattributed minutes at ``cost.UNATTRIBUTED`` by date, or at a flat
        ``default_hourly_cost_pence``."""
        rate = rate_of(default_hourly_cost_pence)
        kept = self._kept_for(partnership_id, rate)
        if kept is not None:
            try:
                return CostSummary.from_sums(self._between(None, start, end, rate,
                                                           kept[0]).total())
            except NotKept:
                pass
        return CostSummary.from_sums(self._between(partnership_id, start, end, rate).total())

    def cost_by_period(self, kind: PeriodKind, start: dt.date, end: dt.date, *,
                       partnership_id: str | None = None,
                       default_hourly_cost_pence: int | None = None
                       ) -> dict[str, CostSummary]:
        """Figures per period of ``kind`` (by label, in date order) over ``[start, end]``.

        Every period from the one containing ``start`` to the one containing ``end`` is present;
        they add up to :meth:`cost_between` over the same range.
        """
        if end < start:
            return {}
        rate = rate_of(default_hourly_cost_pence)
        kept = self._kept_for(partnership_id, rate)
        sums: dict[str, Figures] | None = None
        if kept is not None:
            try:
                sums = self._by_period(None, kind, start, end, rate, kept[0])
            except NotKept:
                sums = None
        if sums is None:
            sums = self._by_period(partnership_id, kind, start, end, rate)
        return {group: CostSummary.from_sums(row) for group, row in sums.items()}

    def school_costs(self, ranges: Sequence[tuple[dt.date | None, dt.date]], *,
                     default_hourly_cost_pence: int | None = None
                     ) -> list[dict[tuple[str, str], int]]:
        """Total pence of every (partnership, school label) of every partnership over each of
        ``ranges``: what :meth:`report` by school of each partnership gives as
        ``total_pence`` (release time under the assignment's school, activity under its own),
        from one table of every partnership (the survey's per-pupil costs): the by-school
        table a loaded checkpoint kept when it holds every range's days (each start the
        beginning or a period start, each end a period end or the last change or later), else
        the facts'."""
        rate = rate_of(default_hourly_cost_pence)
        found: np.ndarray | None = None
        kept = self._kept_for(None, rate)
        if kept is not None:
            try:
                table = kept[0].table(SCHOOLS)
                labels, found = table.labels, table.ranges(ranges)
            except NotKept:
                found = None
        if found is None:
            labels, found = self.cumulative.every_group(SCHOOLS, rate, ranges)
        # Every label (a JSON pair) decoded in one call: a few ms less than one call each.
        keys: list[tuple[str, str]] = [(pid, school) for pid, school in json.loads(
            "[" + ",".join(labels) + "]")]
        funded, hidden = Columns._fields.index("pence_funded"), Columns._fields.index(
            "pence_hidden")
        pence = found[:, :, funded] + found[:, :, hidden]
        return [dict(zip(keys, row, strict=True)) for row in pence.tolist()]

    def cost(self, query: Query) -> CostSummary:
        """Total figures over the query's window and partnership (its grouping is ignored)."""
        start, end = query.window
        return self.cost_between(start, end, partnership_id=query.partnership_id,
                                 default_hourly_cost_pence=default_hourly_cost(query))

    def report(self, query: Query) -> Table:
        """One row per group (sorted by label) or per period, then a ``total`` row.

        Columns: the group label, :data:`COLUMNS` (``covered_pence`` None in rows by role,
        school or staff member). Period rows start at the first period with any figure. The
        table's notes define funded, hidden and covered and give the values of
        ``cost.UNATTRIBUTED`` in force over its days (or the query's flat rate), with their
        citations; :attr:`~ssp_ledger.projection.Table.sources` has them as data. Raises
        ValueError for an unknown grouping. A national report at the shipped rate reads the
        answers a loaded checkpoint kept, when they hold its days
        (:mod:`~ssp_ledger_projections.staff_cost.kept`), else the facts.
        """
        query.check_grouping(self.name, self.groupings)
        kept = self._kept_for(query.partnership_id, unattributed_rate(query))
        if kept is not None:
            try:
                return self._report(query, kept)
            except NotKept:
                pass
        return self._report(query, None)

    def _report(self, query: Query, kept: tuple[KeptAnswers, Coverage] | None) -> Table:
        """:meth:`report` from the facts, or from ``kept`` national answers (NotKept when
        they do not hold a day it reads)."""
        start, end = query.window
        rate = unattributed_rate(query)
        kind = query.period_kind
        by = query.by
        pid = query.partnership_id
        answers = None if kept is None else kept[0]
        coverage = self.coverage if kept is None else kept[1]
        rows: list[tuple[Cell, ...]] = []
        total = Figures()
        ranges: dict[str, tuple[dt.date | None, dt.date]] = {}
        lo = start if start is not None else (
            self.first_day(pid) if answers is None else answers.first_day)
        if kind is not None and lo is not None and lo <= end:
            ranges = self._period_ranges(kind, lo, start, end)
        # Covered by stream over the window (last) and each period: one look-up per
        # partnership with funding and range.
        *in_periods, in_window = coverage.by_stream(pid, [*ranges.values(), (start, end)])
        covered = dict(zip(ranges, (sum(c.values()) for c in in_periods), strict=True))
        if kind is not None:
            if lo is not None and ranges:
                for group, figures in self._by_period(pid, kind, lo, end, rate,
                                                      answers).items():
                    if rows or any(figures):  # leading periods with nothing are left out
                        rows.append(_cells(group, figures, covered[group]))
                        total = total.plus(figures)
        elif by == "funded":
            shares = {"funded": sum(in_window.values()), "hidden": 0}
            for group, figures in sorted(self._between(pid, start, end, rate,
                                                       answers).split().items()):
                rows.append(_cells(group, figures, shares[group]))
                total = total.plus(figures)
        elif by is not None:
            # Every costed piece lands in exactly one group: the total is their sum.
            if answers is None:
                labels, columns = self.cumulative.grouped_columns(pid, by, rate, start, end)
            else:
                table = answers.table(by)
                labels, columns = table.labels, table.between_all(start, end)
            rows, total = _group_rows(labels, columns,
                                      covered=in_window if by == "funding_stream" else None)
        else:
            total = self._between(pid, start, end, rate, answers).total()
        rows.append(_cells("total", total, sum(in_window.values())))
        notes, sources = cost_notes(rate, lo, end)
        return Table.answer(self.name, query, (by or "group", *COLUMNS), rows,
                            notes=notes, sources=sources)

    # ------------------------------------------------------------------ explain

    def explain_fact(self, query: Query, group: str, fact: Fact) -> Mapping[str, int] | None:
        """What ``fact`` contributed to row ``group`` of ``report(query)``, or None.

        * ``StaffAssigned``: the release minutes of the assignment in the row and their cost;
          an empty mapping when it adds no release time to the row but its terms cost activity
          minutes in it (grouping by school: activity at another school);
        * an activity fact: its minutes, their cost at the terms in force for its staff member on
          its date (or unattributed) and its attendances;
        * ``FundingChanged``: an empty mapping when it is the level in force on a piece of an
          assignment in the row (so it decides funded or hidden, or cuts the assignment there);
        * ``StaffReleased``: an empty mapping when it ends an assignment inside the row's range.

        Mappings with figures have every key of :data:`MEASURES`; summed over the facts listed
        they equal the row exactly, pence included (see
        :mod:`~ssp_ledger_projections.staff_cost.explain`). O(log n) per fact for activity,
        O(segments) for the others.
        """
        return explain_fact(self.facts, self.coverage, self.groupings, query, group, fact)
