"""The registry: finding projections, and fingerprinting the code that built their state.

Projections are found through the ``ssp_ledger.projections`` entry-point group
(:func:`load_projections`), the standard ones exactly like a user's own: a package declares
``[project.entry-points."ssp_ledger.projections"] name = "module:Class"``.

A checkpoint is only as good as the code that made it. :func:`projection_fingerprint` hashes the
projections' names and classes, the source of every package defining them (and of ssp_ledger),
the Python version and the checkpoint format version; a checkpoint saved under another
fingerprint is never restored, the log is replayed instead.
"""

from __future__ import annotations

import hashlib
import importlib.util
import sys
from collections.abc import Mapping
from functools import cache
from importlib.metadata import entry_points
from pathlib import Path

from ssp_ledger.projection.checkpoint import STATE_FORMAT, STATE_VERSION
from ssp_ledger.projection.protocol import ProjectionFactory

__all__ = ["ENTRY_POINT_GROUP", "load_projections", "projection_fingerprint"]

ENTRY_POINT_GROUP = "ssp_ledger.projections"


@cache
def _source_digest(top: str) -> str:
    """SHA-256 over every source file of a top-level package (or of a single module)."""
    h = hashlib.sha256()
    try:
        spec = importlib.util.find_spec(top)
    except (ImportError, ValueError):
        spec = None
    if spec is None:
        return "missing"
    files: list[Path] = []
    if spec.submodule_search_locations:
        for location in spec.submodule_search_locations:
            files.extend(sorted(Path(location).rglob("*.py")))
    elif spec.origin and spec.origin.endswith(".py"):
        files.append(Path(spec.origin))
    for path in files:
        h.update(path.name.encode() + b"\0")
        try:
            h.update(path.read_bytes())
        except OSError:
            h.update(b"unreadable")
    return h.hexdigest()


def projection_fingerprint(factories: Mapping[str, ProjectionFactory]) -> str:
    """Identifies a set of projections and the code that built their state.

    Covers each name and class, the source of the packages defining them and of ssp_ledger, the
    Python version and the checkpoint format and version (see
    :mod:`~ssp_ledger.projection.checkpoint`): a checkpoint made by other code, e.g. an older
    release's pickled one, is never restored (the log is replayed instead).
    """
    h = hashlib.sha256(f"state {STATE_FORMAT} version {STATE_VERSION} "
                       f"python {sys.version_info[:2]}".encode())
    tops = {"ssp_ledger"}
    for name in sorted(factories):
        factory = factories[name]
        module = str(getattr(factory, "__module__", "") or "")
        qualname = str(getattr(factory, "__qualname__", "") or repr(factory))
        h.update(f"\0{name}={module}:{qualname}".encode())
        if module:
            tops.add(module.partition(".")[0])
    for top in sorted(tops):
        h.update(f"\0{top}:{_source_digest(top)}".encode())
    return h.hexdigest()


def load_projections() -> dict[str, ProjectionFactory]:
    """Projection classes registered under the ``ssp_ledger.projections`` entry-point group."""
    found: dict[str, ProjectionFactory] = {}
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        cls = ep.load()
        if not isinstance(getattr(cls, "name", None), str):
            msg = f"entry point {ep.name!r} ({ep.value}) is not a projection class"
            raise TypeError(msg)
        found[ep.name] = cls
    return found

