"""The registry: finding projections, and fingerprinting the code that built their state.

Projections are found through the ``ssp_ledger.projections`` entry-point group, the standard
ones exactly like a user's own: a package declares
``[project.entry-points."ssp_ledger.projections"] name = "module:Class"``.
:func:`load_projections` imports every registered class; :func:`registered_projections` gives
an :class:`EntryPointFactory` per entry point instead, which imports its class only when it is
first called (or asked for an attribute), so a ledger answering one report from a checkpoint
imports that projection's module alone (and not, say, numpy for another one).

A checkpoint is only as good as the code that made it. :func:`projection_fingerprint` hashes the
projections' names and classes, the source of every package defining them (and of ssp_ledger),
the Python version and the checkpoint format version; a checkpoint saved under another
fingerprint is never restored, the log is replayed instead. A class is named by its module and
qualified name: for an entry-point factory, those its entry point gives (``module:Class``), read
without importing anything, so a report can check a checkpoint's fingerprint without loading
the projections it does not use. The standard entry points name the module that defines each
class (a test holds them to it), so a set of entry-point factories and the same classes given
directly have one fingerprint. A plugin whose entry point names a class re-exported from another
package is fingerprinted by the package its entry point names: like code a projection calls in
another package, the re-exported class's own source is not covered.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import sys
from collections.abc import Mapping
from functools import cache
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

from ssp_ledger.projection.checkpoint import STATE_FORMAT, STATE_VERSION
from ssp_ledger.projection.protocol import Projection, ProjectionFactory

__all__ = [
    "ENTRY_POINT_GROUP",
    "EntryPointFactory",
    "load_projections",
    "projection_fingerprint",
    "registered_projections",
]

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
        module, qualname = _identity(factories[name])
        h.update(f"\0{name}={module}:{qualname}".encode())
        if module:
            tops.add(module.partition(".")[0])
    for top in sorted(tops):
        h.update(f"\0{top}:{_source_digest(top)}".encode())
    return h.hexdigest()


def _identity(factory: ProjectionFactory) -> tuple[str, str]:
    """``(module, qualified name)`` of a factory, without importing an entry point's class."""
    if isinstance(factory, EntryPointFactory):
        return factory.module, factory.qualname
    module = str(getattr(factory, "__module__", "") or "")
    qualname = str(getattr(factory, "__qualname__", "") or repr(factory))
    return module, qualname


class EntryPointFactory:
    """A registered projection class, imported when first called or asked for an attribute.

    Calling it makes a fresh projection, as calling the class does; any other attribute
    (``parameters``, ``name``...) is the class's. Importing the class checks that it is a
    projection class (a string ``name``), with a ``TypeError`` naming the entry point
    otherwise. Holds the entry point as three strings, so it pickles.
    """

    __slots__ = ("_loaded", "group", "name", "value")

    def __init__(self, name: str, value: str, group: str = "") -> None:
        self.name = name
        """The entry point's name: the projection's name in the ledger."""
        self.value = value
        """``module:Class`` (or ``module:outer.Class``)."""
        self.group = group
        self._loaded: ProjectionFactory | None = None

    @property
    def module(self) -> str:
        """The module the entry point names."""
        return self.value.partition(":")[0].strip()

    @property
    def qualname(self) -> str:
        """The qualified name of the class within :attr:`module`."""
        return self.value.partition(":")[2].strip()

    def load(self) -> ProjectionFactory:
        """The class (imported on first use)."""
        if self._loaded is None:
            found: Any = importlib.import_module(self.module)
            for attr in filter(None, self.qualname.split(".")):
                found = getattr(found, attr)
            if not isinstance(getattr(found, "name", None), str):
                msg = f"entry point {self.name!r} ({self.value}) is not a projection class"
                raise TypeError(msg)
            self._loaded = found
        return self._loaded

    def __call__(self) -> Projection:
        return self.load()()

    def __getattr__(self, attr: str) -> Any:
        if attr.startswith("__"):  # copy, pickle and friends ask for dunders: not the class's
            raise AttributeError(attr)
        return getattr(self.load(), attr)

    def __getstate__(self) -> tuple[str, str, str]:
        return self.name, self.value, self.group

    def __setstate__(self, state: tuple[str, str, str]) -> None:
        self.name, self.value, self.group = state
        self._loaded = None

    def __repr__(self) -> str:
        return f"<projection {self.name!r} = {self.value}>"


def registered_projections() -> dict[str, ProjectionFactory]:
    """A factory per entry point of the ``ssp_ledger.projections`` group, none imported yet
    (see :class:`EntryPointFactory`): what a ledger answers with by default."""
    return {ep.name: EntryPointFactory(ep.name, ep.value, ENTRY_POINT_GROUP)
            for ep in entry_points(group=ENTRY_POINT_GROUP)}


def load_projections() -> dict[str, ProjectionFactory]:
    """Projection classes registered under the ``ssp_ledger.projections`` entry-point group
    (every one imported)."""
    return {name: factory.load() if isinstance(factory, EntryPointFactory) else factory
            for name, factory in registered_projections().items()}

