"""Writing an output file the way users expect: whole or not at all, as ``open()`` would.

Every file ssp-ledger writes on request (``export --out``, ``export-table --out`` and its
manifest, ``schema --out``, ``scenario sweep --out``, ``scenario run --plot``) goes through
:func:`open_output`, which decides by what the path names:

* **a regular file, or a path that does not exist yet**: the bytes go to a temporary file in the
  same folder that replaces the target (``os.replace``) only when complete, so a failed or
  interrupted write leaves the old file as it was and a reader never sees half a file. The
  new file gets the permissions a plain ``open()`` would give: those of the file it replaces,
  or ``0o666`` less the umask for a new one (``mkstemp`` alone would give ``0600``).
* **a symbolic link**: its target is written (by the rule above), the link stays a link.
* **anything else**: a character or block device (``/dev/null``, ``/dev/stdout``), a FIFO or a
  process substitution, or ``-`` for standard output: written through, in place, never
  replaced (replacing ``/dev/null`` by a regular file would break the system; a FIFO's reader
  is waiting on that very FIFO).

:func:`check_output` validates a target before the work starts, so a typo in a folder name is
reported at once rather than after a long export.
"""

from __future__ import annotations

import contextlib
import os
import stat
import sys
from pathlib import Path
from types import TracebackType
from typing import IO

__all__ = ["STDOUT", "OutputFile", "check_output", "is_stream", "open_output"]

#: The target name meaning standard output.
STDOUT = "-"


def _umask() -> int:
    """The process umask, read without changing it where the system allows (Linux)."""
    with contextlib.suppress(OSError, ValueError), \
            open("/proc/self/status", encoding="ascii") as f:
        for line in f:
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    mask = os.umask(0o022)  # elsewhere: the classic read-by-setting (not thread-safe)
    os.umask(mask)
    return mask


def _resolved(target: str | os.PathLike[str]) -> Path:
    """The path ``target`` names with ``~`` expanded and symbolic links followed."""
    return Path(os.path.realpath(Path(target).expanduser()))


def is_stream(target: str | os.PathLike[str]) -> bool:
    """True when ``target`` is written through rather than replaced (``-``, a device, a FIFO)."""
    if str(target) == STDOUT:
        return True
    try:
        mode = _resolved(target).stat().st_mode
    except FileNotFoundError:
        return False
    return not stat.S_ISREG(mode) and not stat.S_ISDIR(mode)


def check_output(target: str | os.PathLike[str], option: str = "--out") -> Path:
    """``target`` as a path, or a ValueError naming ``option``: a folder, a missing folder."""
    path = Path(target).expanduser()
    if str(target) == STDOUT:
        return path
    if not str(target).strip():
        msg = f"{option}: empty file name"
        raise ValueError(msg)
    real = _resolved(path)
    if real.is_dir():
        msg = f"{option}: {target} is a folder; give a file name"
        raise ValueError(msg)
    if not real.parent.is_dir():
        msg = f"{option}: folder {real.parent} does not exist"
        raise ValueError(msg)
    if _is_database(real):
        msg = (f"{option}: {target} is a SQLite database (a ledger store?); exports never "
               "replace one: give another file name")
        raise ValueError(msg)
    return path


_SQLITE_MAGIC = b"SQLite format 3\x00"


def _is_database(real: Path) -> bool:
    """True when ``real`` is a regular file holding a SQLite database (or its journal files):
    what the ledger exports (JSONL, CSV, Parquet, pictures) never is one, so writing over it is a
    mistake, most likely the store itself given as ``--out``."""
    if real.name.endswith(("-wal", "-shm", "-journal")):
        return real.is_file()
    try:
        if not real.is_file():
            return False
        with real.open("rb") as f:
            return f.read(len(_SQLITE_MAGIC)) == _SQLITE_MAGIC
    except OSError:
        return False


class OutputFile:
    """A binary file to write ``target``'s bytes to, delivered by :meth:`commit`.

    A regular file (or a new path, or a symbolic link's target) is written to a temporary file
    beside it that :meth:`commit` moves into place with ``open()``'s permissions;
    :meth:`discard` removes it and leaves the target unchanged. A device, a FIFO or ``-``
    (``stdout``, default ``sys.stdout.buffer``) is written in place: :meth:`commit` flushes it,
    :meth:`discard` cannot take back what was written. As a context manager it commits when
    the block ends normally and discards when it raises.
    """

    def __init__(self, target: str | os.PathLike[str], *,
                 stdout: IO[bytes] | None = None) -> None:
        self._tmp: str | None = None
        self._real: Path | None = None
        self._owned = True
        if str(target) == STDOUT:
            self.stream: IO[bytes] = stdout if stdout is not None else sys.stdout.buffer
            self._owned = False
            return
        real = _resolved(check_output(target))
        try:
            existing = real.stat()
        except FileNotFoundError:
            existing = None
        if existing is not None and not stat.S_ISREG(existing.st_mode):
            self.stream = open(real, "wb")  # noqa: SIM115 - closed by commit/discard
            return
        mode = (stat.S_IMODE(existing.st_mode) if existing is not None
                else 0o666 & ~_umask())
        import tempfile  # on first use: the CLI imports this module to declare options

        fd, self._tmp = tempfile.mkstemp(dir=real.parent, prefix=f".{real.name}.",
                                         suffix=".tmp")
        self._real = real
        self.stream = os.fdopen(fd, "wb")
        try:
            os.fchmod(fd, mode)
        except BaseException:
            self.discard()
            raise

    def commit(self) -> None:
        """Deliver the bytes: flush a stream, or move the complete file into place."""
        self.stream.flush()
        if self._tmp is not None:
            os.fsync(self.stream.fileno())
        if self._owned:
            self.stream.close()
        if self._tmp is not None and self._real is not None:
            try:
                os.replace(self._tmp, self._real)
            except BaseException:
                self.discard()
                raise
            self._tmp = None

    def discard(self) -> None:
        """Give up: close, and remove the temporary file (the target stays as it was)."""
        if self._owned:
            with contextlib.suppress(OSError):
                self.stream.close()
        if self._tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(self._tmp)
            self._tmp = None

    def __enter__(self) -> IO[bytes]:
        return self.stream

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 tb: TracebackType | None) -> None:
        if kind is None:
            self.commit()
        else:
            self.discard()


def open_output(target: str | os.PathLike[str], *,
                stdout: IO[bytes] | None = None) -> OutputFile:
    """``with open_output(path) as f: f.write(...)``: write ``target`` as the module describes."""
    return OutputFile(target, stdout=stdout)
