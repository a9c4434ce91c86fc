"""Checkpoint encoding: the one place that turns projection state into bytes and back."""

from __future__ import annotations

import pickle
import zlib
from typing import Any

__all__ = ["STATE_FORMAT", "pack", "unpack"]

STATE_FORMAT = 4


def pack(pickled: bytes) -> bytes:
    """A part of a snapshot: ``z`` and the zlib'd pickle, or ``p`` and the pickle itself when
    compressing saves under a fifth (the part already holds compressed pieces, e.g. an index's
    dimensions, and inflating it again would be wasted)."""
    packed = zlib.compress(pickled, 1)
    if len(packed) < 0.8 * len(pickled):
        return b"z" + packed
    return b"p" + pickled


def unpack(part: bytes) -> Any:
    """The object a :func:`pack` part holds."""
    body = memoryview(part)[1:]
    if part[:1] == b"z":
        return pickle.loads(zlib.decompress(body))
    if part[:1] == b"p":
        return pickle.loads(body)
    msg = f"unknown snapshot part kind {part[:1]!r}"
    raise ValueError(msg)
