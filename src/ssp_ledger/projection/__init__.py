"""Projection machinery: the protocol, the valid-time indexes, the runner and the registry.

A projection author needs two modules: :mod:`~ssp_ledger.projection.protocol` (what a projection
sees and answers: :class:`Fact`, :class:`Query`, :class:`Table`, :class:`Projection`) and, for
figures that are sums, :mod:`~ssp_ledger.projection.additive` (:class:`AdditiveProjection`).
The rest is machinery, one concern per module, each importing only those listed before it:

* :mod:`~ssp_ledger.projection.display`: how cells read (units from column names, pence as
  pounds, aligned text), shared by ``str(table)`` and the command line;
* :mod:`~ssp_ledger.projection.protocol`: the protocol;
* :mod:`~ssp_ledger.projection.checkpoint`: the one place that encodes and decodes checkpoint
  data;
* :mod:`~ssp_ledger.projection.series`: :class:`Series`, integer measures over valid dates;
* :mod:`~ssp_ledger.projection.columnar`: numpy kernels netting a replay's batch of facts per
  (series, day), loaded on first use;
* :mod:`~ssp_ledger.projection.index`: :class:`GroupedIndex` and :class:`PartitionedIndex`, a
  series per group, and the standard additive report;
* :mod:`~ssp_ledger.projection.additive`: :class:`AdditiveProjection` (and :class:`Columns`,
  how a replay reads its contributions column by column);
* :mod:`~ssp_ledger.projection.projection_set`: :class:`ProjectionSet`, which feeds projections
  from the log (:class:`Batched` ones in batches during a replay) and checkpoints them;
* :mod:`~ssp_ledger.projection.registry`: :func:`registered_projections` and
  :func:`load_projections` (the entry-point registry, lazy or imported) and
  :func:`projection_fingerprint`.

Standard projections live outside the core (the ``ssp_ledger_projections`` package in the
top-level ``projections/`` folder) and are found through the ``ssp_ledger.projections``
entry-point group, exactly like a user's own. Everything public is importable from here.
"""

from __future__ import annotations

from ssp_ledger.projection.additive import AdditiveProjection, Columns
from ssp_ledger.projection.index import GroupedIndex, PartitionedIndex
from ssp_ledger.projection.projection_set import (
    Batched,
    Build,
    ProjectionSet,
    ReadLog,
    paused_gc,
)
from ssp_ledger.projection.protocol import (
    PERIOD_KINDS,
    Cell,
    Explainable,
    Fact,
    Projection,
    ProjectionFactory,
    Query,
    Stateful,
    Table,
    handled_types,
    sibling_names,
)
from ssp_ledger.projection.registry import (
    ENTRY_POINT_GROUP,
    EntryPointFactory,
    load_projections,
    projection_fingerprint,
    registered_projections,
)
from ssp_ledger.projection.series import Series, SeriesState

__all__ = [
    "ENTRY_POINT_GROUP",
    "PERIOD_KINDS",
    "AdditiveProjection",
    "Batched",
    "Build",
    "Cell",
    "Columns",
    "EntryPointFactory",
    "Explainable",
    "Fact",
    "GroupedIndex",
    "PartitionedIndex",
    "Projection",
    "ProjectionFactory",
    "ProjectionSet",
    "Query",
    "ReadLog",
    "Series",
    "SeriesState",
    "Stateful",
    "Table",
    "handled_types",
    "load_projections",
    "paused_gc",
    "projection_fingerprint",
    "registered_projections",
    "sibling_names",
]
