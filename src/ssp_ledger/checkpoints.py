"""Checkpoints: saved projection state that is trusted only as far as it can be checked.

A checkpoint is plain data (:mod:`ssp_ledger.projection.checkpoint` encodes the state; nothing is
ever unpickled) and is *bound* to the log it was built from: its
:class:`~ssp_ledger.store.log.Binding` holds the number of records up to its position, the head
(version and record hash) of every stream there, and the SHA-256 of its state bytes.

:func:`fit_checkpoint` uses a checkpoint only when all of these hold, and otherwise says why in
one line (the ledger then replays the log from position 0):

1. it was made by the same projection classes, code and state format (the fingerprint);
2. its state's header still hashes to what the binding says (a row edited in the table is
   caught), and lays the parts out one after another to the end of the state;
3. the store's own records agree with the binding: every stream head hashes the same and sits
   at or before the position, and the store holds exactly that many records up to there — so a
   checkpoint copied in from a doctored copy of the store, or left behind by a rewritten log,
   is refused;
4. its state decodes as data (a malformed or foreign blob is refused, never executed).

Only the header is read up front: a report needs one projection's part, not the whole state.
Each part is read when first needed and used only if its bytes hash to what the header says and
decode as that projection's state; otherwise the set raises
:class:`~ssp_ledger.projection.checkpoint.UnreadableCheckpoint` (one line) and the ledger drops
the checkpoint and replays the log, as for a checkpoint refused here. A part is trusted exactly
as far as the whole state was before: its hash is in the header, the header's in the binding.

What this cannot catch is state that was *computed* wrongly and then bound honestly (a checkpoint
forged by someone who can write the table and recompute the hashes): ``ssp-ledger verify``
rebuilds every checkpoint's state from the log and compares the hashes (see
:func:`ssp_ledger.audit.verify`).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable, Iterator, Mapping

from ssp_ledger.errors import StoreError
from ssp_ledger.projection import ProjectionFactory, ProjectionSet, projection_fingerprint
from ssp_ledger.projection.checkpoint import UnreadableCheckpoint, read_header
from ssp_ledger.store import Binding, Checkpoint, EventLog, OpenCheckpoint, Recorded
from ssp_ledger.store.records import to_us

__all__ = [
    "MAX_STATE_BYTES",
    "fit_checkpoint",
    "make_checkpoint",
    "restore_checkpoint",
    "unreadable_note",
]

MAX_STATE_BYTES = 1_000_000_000
"""Largest checkpoint state a store keeps: one row's blob, whose limit is SQLite's default
``SQLITE_MAX_LENGTH`` (10^9 bytes; PostgreSQL's ``bytea`` holds at most 1 GiB). The state is
compressed, about 30 bytes a record (about 300 MB at 10M records)."""

Read = Callable[[int, int | None], Iterator[tuple[int, Recorded]]]


def make_checkpoint(log: EventLog, name: str, projections: ProjectionSet,
                    factories: Mapping[str, ProjectionFactory], versions: Mapping[str, int],
                    saved_at: dt.datetime, *,
                    max_bytes: int = MAX_STATE_BYTES) -> Checkpoint:
    """A checkpoint of ``projections`` bound to the log: ``versions`` maps each stream (hex)
    to its last version at the set's position. StoreError when the state is longer than
    ``max_bytes`` (a store could not keep it: see :data:`MAX_STATE_BYTES`)."""
    position = projections.position
    state = projections.snapshot_parts()  # each part packed in turn, the header hashed once
    if state.size > max_bytes:
        msg = (f"the projections' state at position {position} is {state.size:,} bytes, over "
               f"the {max_bytes:,} a store keeps in one checkpoint; open the ledger without "
               "a checkpoint (it replays the log)")
        raise StoreError(msg)
    heads = log.heads_at(dict(versions))
    latest = projections.latest
    binding = Binding(count=sum(versions.values()), heads=heads,
                      state_sha256=state.digest,
                      latest_us=None if latest is None else to_us(latest))
    return Checkpoint(name, position, projection_fingerprint(factories), binding.encode(),
                      state.join(release=True), saved_at)


def restore_checkpoint(log: EventLog, name: str, factories: Mapping[str, ProjectionFactory],
                       read: Read) -> tuple[ProjectionSet | None, Binding | None, str]:
    """The projections saved as checkpoint ``name`` if they fit, their binding, and a note."""
    try:
        checkpoint = log.open_checkpoint(name)
    except StoreError as e:
        return None, None, f"cannot read checkpoint {name!r} ({e}): replayed the log"
    if checkpoint is None:
        return None, None, f"no checkpoint named {name!r}: replayed the log"
    return fit_checkpoint(log, checkpoint, factories, read)


def fit_checkpoint(log: EventLog, checkpoint: Checkpoint | OpenCheckpoint,
                   factories: Mapping[str, ProjectionFactory],
                   read: Read) -> tuple[ProjectionSet | None, Binding | None, str]:
    """Restore a checkpoint if it fits these projections and this log (see the module
    docstring), with its binding and a one-line note saying what was done. Only the state's
    header is read here; the parts are read as the restored set needs them."""
    name = checkpoint.name
    if checkpoint.fingerprint != projection_fingerprint(factories):
        return None, None, (f"checkpoint {name!r} was made by other projections, code or state "
                            "format: ignored, replayed the log")
    try:
        binding = Binding.decode(checkpoint.binding)
    except ValueError:
        return None, None, (f"checkpoint {name!r} is in an older or unknown format: ignored, "
                            "replayed the log")
    opened = checkpoint if isinstance(checkpoint, OpenCheckpoint) else OpenCheckpoint.of(checkpoint)
    try:
        header = read_header(opened.size, opened.read)
    except StoreError as e:
        return None, None, f"cannot read checkpoint {name!r} ({e}): replayed the log"
    except ValueError as e:
        return None, None, f"checkpoint {name!r} cannot be read ({e}): replayed the log"
    if hashlib.sha256(header).digest() != binding.state_sha256:
        return None, None, (f"checkpoint {name!r} is damaged: its state does not match its own "
                            "hash (altered in the store): ignored, replayed the log")
    try:
        why = log.check_binding(checkpoint.position, binding)
    except StoreError as e:
        why = str(e)
    if why is not None:
        return None, None, (f"checkpoint {name!r} does not fit this log ({why}): ignored, "
                            "replayed the log")
    try:
        restored = ProjectionSet.restore_from(header, opened.size, opened.read, factories,
                                              log.load, read)
    except ValueError as e:
        return None, None, f"checkpoint {name!r} cannot be read ({e}): replayed the log"
    if restored.position != checkpoint.position:
        return None, None, (f"checkpoint {name!r} does not match its own header: replayed "
                            "the log")
    return restored, binding, f"loaded checkpoint {name!r} at position {checkpoint.position}"


def unreadable_note(name: str, error: UnreadableCheckpoint) -> str:
    """The one-line note of a restored checkpoint ``name`` whose part failed when first needed
    (the ledger then drops it and replays the log)."""
    return f"checkpoint {name!r} is damaged: {error}: ignored, replayed the log"
