"""The projection protocol: what a projection sees, what it is asked and what it answers.

A projection sees *facts* (:class:`Fact`): the effective content of an event at a point of the
log. Corrections and retractions never reach a projection as such; the runner
(:class:`~ssp_ledger.projection.ProjectionSet`) turns them into ``retract(old fact)`` and
``apply(new fact)`` calls, so a projection only has to know how to add and remove the effect of
one fact. Queries carry both time axes (:class:`Query`): the runner chooses which facts a
projection has seen (``known_at``), the projection answers for valid dates (``as_of``,
``period``) from its own state without touching the log, as a :class:`Table`.

Writing a projection means implementing :class:`Projection` (three methods and two class
attributes). Two optional protocols add to it: :class:`Explainable` (say what one fact
contributed to a row, for ``ssp-ledger explain``) and :class:`Stateful` (describe the state as
data, so a checkpoint can hold it; without it the projection is replayed from the log after a
restart). This module is the bottom of the package: it imports only
:mod:`~ssp_ledger.projection.display` (how cells read) from it.
"""

from __future__ import annotations

import datetime as dt
import importlib
import json
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol, runtime_checkable

import msgspec

from ssp_ledger.events import CorrectableEvent
from ssp_ledger.periods import Period, PeriodKind
from ssp_ledger.projection.display import aligned, cell_text, header, unit_of

__all__ = [
    "PERIOD_KINDS",
    "Cell",
    "Explainable",
    "Fact",
    "Projection",
    "ProjectionFactory",
    "Query",
    "Stateful",
    "Table",
    "handled_types",
]

PERIOD_KINDS: tuple[PeriodKind, ...] = ("academic_year", "term", "financial_year", "calendar_year")

Cell = str | int | None
"""A table cell: labels are text, figures are integers (pence, minutes, counts, days)."""


class Fact(msgspec.Struct, frozen=True):
    """The effective content of one event, as a projection sees it."""

    position: int
    """Notification id of the stored record that made this content effective."""
    recorded_at: dt.datetime
    """When the ledger learned this content (the original's or the correction's time)."""
    event: CorrectableEvent
    """The event content in force."""


@dataclass(frozen=True, kw_only=True)
class Query:
    """What a report is asked for: both time axes, a grouping and an optional filter."""

    as_of: dt.date
    """Valid date: include facts with ``occurred_on <= as_of``."""
    known_at: dt.datetime | None = None
    """Recorded time: include only what the ledger knew then (None: everything)."""
    by: str | None = None
    """Grouping: a dimension of the projection, or a period kind (academic_year, term, ...)."""
    period: Period | None = None
    """Restrict to facts dated inside this period (and not after ``as_of``)."""
    partnership_id: str | None = None
    """Restrict to one partnership."""
    params: Mapping[str, int | str] = field(default_factory=dict)
    """Projection-specific parameters (e.g. ``default_hourly_cost_pence``)."""

    @property
    def window(self) -> tuple[dt.date | None, dt.date]:
        """(first day or None, last day) of the valid dates this query covers."""
        if self.period is None:
            return None, self.as_of
        return self.period.start, min(self.period.end, self.as_of)

    @property
    def period_kind(self) -> PeriodKind | None:
        """The period kind when grouping by period, else None."""
        for kind in PERIOD_KINDS:
            if self.by == kind:
                return kind
        return None

    def check_grouping(self, projection: str, groupings: Sequence[str]) -> None:
        """Raise ValueError naming the choices unless ``by`` is None, a period kind or one of
        ``groupings`` (the one message every projection gives for a grouping it lacks)."""
        if self.by is None or self.by in groupings or self.period_kind is not None:
            return
        choices = ", ".join((*groupings, *PERIOD_KINDS))
        msg = f"{projection}: cannot group by {self.by!r}; choose one of {choices}"
        raise ValueError(msg)


#: Optional libraries behind :meth:`Table.to_pandas` and friends, and the extra installing each.
_EXTRAS = {"pandas": "pandas", "polars": "polars", "pyarrow": "arrow"}


def _optional(module: str, method: str) -> Any:
    """Import an optional library for ``Table.<method>()``, or say how to install it."""
    try:
        return importlib.import_module(module)
    except ImportError:
        msg = (f"Table.{method}() needs {module}, which is not installed: "
               f"pip install 'ssp-ledger[{_EXTRAS[module]}]' (or pip install {module})")
        raise ImportError(msg, name=module) from None


class Table(msgspec.Struct, frozen=True, kw_only=True, eq=False):
    """A projection's answer: named columns of labels and integer figures.

    **Groups and total.** A table holds one row per group (:attr:`groups`) and, apart from them,
    an optional total row (:attr:`total`): a group may be labelled anything, ``"total"``
    included, without being taken for the total. :attr:`rows` is every row in display order
    (the groups, then the total last), as it always was. An ungrouped report has no groups,
    only its total.

    **For code.** Iterating a table gives its group rows as mappings (column -> cell);
    ``len(table)`` counts the groups; :meth:`row` finds a group by label (``row("total")``
    still gives the total as long as no group is called ``"total"``; use :attr:`total` or
    :attr:`totals` to be sure); :attr:`units` says each column's unit. ``str(table)`` is plain
    aligned text; notebooks show it through ``_repr_html_`` and rich through ``__rich__``;
    :meth:`to_arrow`, :meth:`to_pandas` and :meth:`to_polars` need the optional extras
    ``ssp-ledger[arrow]``, ``[pandas]`` and ``[polars]``.

    Two tables are equal when their query and figures are: :attr:`basis` says where the figures
    came from (a replay or a checkpoint), which does not change what they are; :attr:`notes`
    and :attr:`sources` say what they mean and rest on.
    """

    projection: str
    """Name of the projection that produced it."""
    columns: tuple[str, ...]
    """Column names; figures carry their unit in the name (``_pence``, ``_minutes``, ``_days``)."""
    rows: tuple[tuple[Cell, ...], ...]
    """Every row in display order: one tuple per group, in a stable order, then the total (when
    there is one) last."""
    as_of: dt.date
    """Valid date asked for."""
    known_at: dt.datetime | None = None
    """Recorded time asked for (None: everything)."""
    by: str | None = None
    """Grouping asked for."""
    period: str | None = None
    """Period label asked for."""
    basis: dict[str, Any] | None = None
    """What the figures were computed from (log position, stream-heads hash, checkpoint or
    replay, known-at time), set by :meth:`ssp_ledger.Ledger.report`; None for a table made
    directly by a projection."""
    total: tuple[Cell, ...] | None = None
    """The total row (also the last of :attr:`rows`), or None when the table has none."""
    notes: tuple[str, ...] = ()
    """What a reader needs to read the figures right, one line each: what a measure means and
    what it rests on (shown under the table). Like :attr:`basis`, they describe the figures and
    are not compared by ``==``."""
    sources: tuple[dict[str, Any], ...] = ()
    """The dated, cited parameter values the figures rest on, each a mapping with at least
    ``name``, ``effective_from``, ``value``, ``unit``, ``citation`` and ``note``, and what it was
    used for (``applies_to``); not compared by ``==``."""

    def __post_init__(self) -> None:
        if self.total is not None and (not self.rows or self.rows[-1] != self.total):
            msg = "Table.total must be the last of Table.rows"
            raise ValueError(msg)

    @classmethod
    def answer(cls, projection: str, query: Query, columns: Sequence[str],
               rows: Iterable[tuple[Cell, ...]],
               total: Sequence[Cell] | bool | None = None, *, notes: Iterable[str] = (),
               sources: Iterable[Mapping[str, Any]] = ()) -> Table:
        """A projection's answer to ``query``: the query's time axes, grouping and period label
        are carried over, so every projection reports them the same way.

        ``total`` says which row is the total, kept apart from the groups: a row (appended after
        ``rows``), False (``rows`` are all groups), or None, the convention projections have
        always followed: a last row labelled ``"total"`` is the total. A projection whose groups
        may end with a label ``"total"`` and that adds no total row must pass False.
        ``notes`` and ``sources`` become :attr:`notes` and :attr:`sources`.
        """
        body = tuple(rows)
        found: tuple[Cell, ...] | None = None
        if total is None:
            if body and body[-1] and body[-1][0] == "total":
                found = body[-1]
        elif total is not False and total is not True:
            found = tuple(total)
            body = (*body, found)
        elif total is True:
            if not body:
                msg = f"{projection}: total=True but there are no rows"
                raise ValueError(msg)
            found = body[-1]
        return cls(
            projection=projection,
            columns=tuple(columns),
            rows=body,
            as_of=query.as_of,
            known_at=query.known_at,
            by=query.by,
            period=query.period.label if query.period else None,
            total=found,
            notes=tuple(notes),
            sources=tuple(dict(s) for s in sources),
        )

    def _content(self) -> tuple[object, ...]:
        return (self.projection, self.columns, self.rows, self.as_of, self.known_at, self.by,
                self.period, self.total is not None)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Table):
            return NotImplemented
        return self._content() == other._content()

    def __hash__(self) -> int:
        return hash(self._content())

    # ------------------------------------------------------------------ rows

    @property
    def groups(self) -> tuple[tuple[Cell, ...], ...]:
        """The group rows (every row but the total)."""
        return self.rows[:-1] if self.total is not None else self.rows

    @property
    def totals(self) -> dict[str, Cell] | None:
        """The total row as a mapping (column -> cell), or None."""
        if self.total is None:
            return None
        return dict(zip(self.columns, self.total, strict=True))

    def __iter__(self) -> Iterator[dict[str, Cell]]:
        """The group rows as mappings (column -> cell); the total is :attr:`totals`."""
        for row in self.groups:
            yield dict(zip(self.columns, row, strict=True))

    def __len__(self) -> int:
        """Number of group rows (the total is not counted)."""
        return len(self.groups)

    def __bool__(self) -> bool:
        """Always true: a table with no groups still answers (its total, its query)."""
        return True

    def to_dicts(self) -> list[dict[str, Cell]]:
        """Every row (groups, then the total) as dictionaries keyed by column name."""
        return [dict(zip(self.columns, row, strict=True)) for row in self.rows]

    def column(self, name: str) -> list[Cell]:
        """All values of one column (groups, then the total)."""
        i = self.columns.index(name)
        return [row[i] for row in self.rows]

    def row(self, group: str) -> dict[str, Cell]:
        """The group row labelled ``group``; for ``"total"``, the total row unless a group is
        labelled ``"total"`` (then that group: ask :attr:`totals` for the total)."""
        for row in self.groups:
            if row[0] == group:
                return dict(zip(self.columns, row, strict=True))
        if group == "total" and self.total is not None:
            return dict(zip(self.columns, self.total, strict=True))
        raise KeyError(group)

    @property
    def units(self) -> dict[str, str | None]:
        """Each column's unit as its name gives it (``pence``, ``minutes``, ``days``,
        ``years``; None for counts and labels)."""
        return {c: unit_of(c) for c in self.columns}

    # ------------------------------------------------------------------ showing

    def title(self) -> str:
        """A one-line description of the query: ``participation as of 2011-07-31, by term``."""
        parts = [f"{self.projection} as of {self.as_of.isoformat()}"]
        if self.known_at is not None:
            parts.append(f"known at {self.known_at.isoformat()}")
        if self.by is not None:
            parts.append(f"by {self.by}")
        if self.period is not None:
            parts.append(f"period {self.period}")
        return ", ".join(parts)

    def _figures(self) -> set[int]:
        return {i for i in range(len(self.columns))
                if any(isinstance(r[i], int) for r in self.rows)
                and all(r[i] is None or isinstance(r[i], int) for r in self.rows)}

    def __str__(self) -> str:
        """The title, then the table as aligned plain text (pence in pounds), total last."""
        figures = self._figures()
        cells = [[cell_text(c, v) for c, v in zip(self.columns, row, strict=True)]
                 for row in self.rows]
        text = aligned([header(c) for c in self.columns], cells, right=sorted(figures))
        if self.total is not None:
            lines = text.splitlines(keepends=True)
            lines.insert(len(lines) - 1, lines[1])  # a rule above the total
            text = "".join(lines)
        return f"{self.title()}\n{text}"

    def __rich__(self) -> Any:
        """A rich table (``rich.print(table)``): figures right-aligned, the total in bold."""
        from rich.table import Table as RichTable
        from rich.text import Text

        figures = self._figures()
        out = RichTable(title=Text(self.title(), style="italic"))
        for i, name in enumerate(self.columns):
            out.add_column(Text(header(name)), justify="right" if i in figures else "left",
                           no_wrap=i in figures)
        for row in self.groups:
            out.add_row(*(Text(cell_text(c, v)) for c, v in zip(self.columns, row,
                                                                strict=True)))
        if self.total is not None:
            if out.row_count:
                out.add_section()
            out.add_row(*(Text(cell_text(c, v)) for c, v in zip(self.columns, self.total,
                                                                strict=True)), style="bold")
        return out

    def _repr_html_(self) -> str:
        """An HTML table for notebooks: the title as caption, the total in the footer."""
        import html

        figures = self._figures()

        def cells(row: Sequence[Cell], tag: str) -> str:
            return "".join(
                f'<{tag} style="text-align: {"right" if i in figures else "left"}">'
                f"{html.escape(cell_text(c, v))}</{tag}>"
                for i, (c, v) in enumerate(zip(self.columns, row, strict=True)))

        head = "".join(f"<th>{html.escape(header(c))}</th>" for c in self.columns)
        body = "".join(f"<tr>{cells(row, 'td')}</tr>" for row in self.groups)
        foot = (f"<tfoot><tr>{cells(self.total, 'th')}</tr></tfoot>"
                if self.total is not None else "")
        return (f"<table><caption>{html.escape(self.title())}</caption>"
                f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody>{foot}</table>")

    # ------------------------------------------------------------------ data frames

    def _records(self, total: bool) -> list[dict[str, Cell]]:
        rows = self.rows if total else self.groups
        return [dict(zip(self.columns, row, strict=True)) for row in rows]

    def to_arrow(self, *, total: bool = False) -> Any:
        """The group rows (and the total last, with ``total=True``) as a ``pyarrow.Table``;
        figures are int64, the units are in the schema's metadata (``ssp_ledger.units``).
        Needs ``pip install 'ssp-ledger[arrow]'``."""
        pa = _optional("pyarrow", "to_arrow")
        figures = self._figures()
        fields = [pa.field(c, pa.int64() if i in figures else pa.string())
                  for i, c in enumerate(self.columns)]
        metadata = {"ssp_ledger.units": json.dumps(self.units),
                    "ssp_ledger.title": self.title()}
        schema = pa.schema(fields, metadata=metadata)
        data = {c: [row[i] if i in figures or row[i] is None else str(row[i])
                    for row in (self.rows if total else self.groups)]
                for i, c in enumerate(self.columns)}
        return pa.Table.from_pydict(data, schema=schema)

    def to_pandas(self, *, total: bool = False) -> Any:
        """The group rows (and the total last, with ``total=True``) as a ``pandas.DataFrame``;
        the units are in ``frame.attrs["units"]``. Needs ``pip install 'ssp-ledger[pandas]'``."""
        pd = _optional("pandas", "to_pandas")
        frame = pd.DataFrame.from_records(self._records(total), columns=list(self.columns))
        frame.attrs["units"] = self.units
        frame.attrs["title"] = self.title()
        return frame

    def to_polars(self, *, total: bool = False) -> Any:
        """The group rows (and the total last, with ``total=True``) as a ``polars.DataFrame``
        (units: :attr:`units`). Needs ``pip install 'ssp-ledger[polars]'``."""
        pl = _optional("polars", "to_polars")
        figures = self._figures()
        schema = {c: (pl.Int64 if i in figures else pl.Utf8) for i, c in enumerate(self.columns)}
        return pl.DataFrame(self._records(total), schema=schema)


@runtime_checkable
class Projection(Protocol):
    """What the runner needs from a projection. Write your own against this and register it."""

    name: ClassVar[str]
    """Registry name, e.g. ``"participation"``."""
    groupings: ClassVar[tuple[str, ...]]
    """Values ``Query.by`` accepts besides None and the period kinds."""

    # Optional: ``parameters: ClassVar[tuple[str, ...]]``, the names of the query parameters
    # (``Query.params``) the projection reads; ``Ledger.report`` refuses any other keyword with
    # a TypeError naming it. Without it the projection takes no parameters.

    def apply(self, fact: Fact) -> None:
        """Add the effect of a fact."""

    def retract(self, fact: Fact) -> None:
        """Remove the effect of a fact previously applied (corrections, retractions)."""

    def report(self, query: Query) -> Table:
        """Answer a query from the projection's own state (never from the log)."""


def handled_types(projection: object) -> tuple[type, ...] | None:
    """The event classes a projection reacts to, from its optional ``handles`` attribute.

    A projection may declare ``handles`` (a tuple of event classes; a class attribute, or an
    instance attribute set before the first fact, e.g. in ``attach``): the set then offers it only
    facts of those classes (and subclasses), which spares a call per projection for every fact it
    would ignore. Without it (or with None) it is offered every fact.
    """
    found = getattr(projection, "handles", None)
    if found is None:
        return None
    return tuple(found)


def sibling_names(projection: object) -> tuple[str, ...]:
    """The projections of its set a projection reads, from its optional ``siblings``
    attribute (a tuple of names; the survey reads participation and the staff time, the
    funding gap the staff time). A set that builds projections when asked for
    (:attr:`ProjectionSet.build <ssp_ledger.projection.projection_set.ProjectionSet.build>`)
    makes them with it, in the same replay. Anything but a tuple or list of strings counts as
    none."""
    found = getattr(projection, "siblings", ())
    if not isinstance(found, tuple | list) or not all(isinstance(n, str) for n in found):
        return ()
    return tuple(found)


@runtime_checkable
class Explainable(Protocol):
    """A projection that can say what one fact contributed to one row of a report.

    :func:`ssp_ledger.audit.explain` offers every fact in force (in log order) and lists those
    for which this returns a mapping. For additive measures the contributions sum to the row;
    a fact that shapes a row without adding to it (a funding level deciding funded vs hidden)
    may return an empty mapping so it is still listed.
    """

    def explain_fact(self, query: Query, group: str, fact: Fact) -> Mapping[str, int] | None:
        """What ``fact`` contributed to row ``group`` of ``report(query)``, or None."""


@runtime_checkable
class Stateful(Protocol):
    """A projection whose state can be checkpointed as data.

    ``dump_state`` returns msgpack bytes (msgspec, typed, no pickle) that are *canonical*: two
    instances given the same facts in the same order give identical bytes, whatever queries were
    asked of them and whether one was restored from a checkpoint in between. ``load_state`` is
    called on a fresh instance from the projection's factory (after ``attach``) and raises
    ValueError on malformed data. A projection that does not implement this (or whose
    ``dump_state`` raises NotImplementedError) is replayed from the log instead of checkpointed.
    """

    def dump_state(self) -> bytes:
        """The projection's state as canonical msgpack bytes."""

    def load_state(self, data: bytes) -> None:
        """Replace a fresh instance's state by ``data`` (from :meth:`dump_state`)."""


ProjectionFactory = Callable[[], Projection]
"""What a registry entry is: a class (or function) making a fresh, empty projection."""
