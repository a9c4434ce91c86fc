"""Where a store is: locations, eventsourcing's environment for them, and opening one.

A location is a SQLite file path (the default; ``file:`` URIs such as ``file:x.db?mode=ro`` too),
``:memory:``, a ``postgresql://`` URL, or :data:`ENV_LOCATION` to leave everything to
eventsourcing's own variables. :func:`store_env` turns it into the environment eventsourcing
reads (``PERSISTENCE_MODULE`` and the ledger's recorder classes by topic), and :func:`open_log`
opens the backend's :class:`~ssp_ledger.store.log.EventLog` — importing that backend only then,
so a SQLite user never imports psycopg.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import parse_qsl, unquote, urlsplit

from ssp_ledger.errors import StoreError
from ssp_ledger.store.log import Backend, EventLog, Mode

__all__ = [
    "ENV_LOCATION",
    "POSTGRES_URL_OPTIONS",
    "STORE_ENV",
    "backend_of",
    "open_log",
    "store_env",
]

#: Environment variable naming the store (a SQLite path or a ``postgresql://`` URL).
STORE_ENV = "SSP_LEDGER_STORE"

#: Location meaning "configure the store from eventsourcing's environment variables"
#: (``PERSISTENCE_MODULE``, ``POSTGRES_DBNAME``, ``POSTGRES_HOST``, ... or ``SQLITE_DBNAME``).
ENV_LOCATION = "env:"

#: Query parameters of a ``postgresql://`` URL and the eventsourcing variables they set.
POSTGRES_URL_OPTIONS = {
    "schema": "POSTGRES_SCHEMA",
    "host": "POSTGRES_HOST",
    "connect_timeout": "POSTGRES_CONNECT_TIMEOUT",
    "pool_size": "POSTGRES_POOL_SIZE",
    "max_overflow": "POSTGRES_MAX_OVERFLOW",
    "max_waiting": "POSTGRES_MAX_WAITING",
    "conn_max_age": "POSTGRES_CONN_MAX_AGE",
    "pre_ping": "POSTGRES_PRE_PING",
    "lock_timeout": "POSTGRES_LOCK_TIMEOUT",
    "idle_in_transaction_session_timeout": "POSTGRES_IDLE_IN_TRANSACTION_SESSION_TIMEOUT",
}

_TOPICS = {
    "memory": ("ssp_ledger.store.memory:LedgerPOPORecorder",
               "ssp_ledger.store.memory:POPOCheckpointRecorder"),
    "sqlite": ("ssp_ledger.store.sqlite:LedgerSQLiteRecorder",
               "ssp_ledger.store.sqlite:SQLiteCheckpointRecorder"),
    "postgres": ("ssp_ledger.store.postgres:LedgerPostgresRecorder",
                 "ssp_ledger.store.postgres:PostgresCheckpointRecorder"),
}
#: eventsourcing's in-memory factory, choosing its application recorder by topic.
_MEMORY_FACTORY = "ssp_ledger.store.memory:LedgerPOPOFactory"
#: The EventLog class of each backend (imported only when a store of that kind is opened).
_LOGS = {
    "memory": "ssp_ledger.store.memory:MemoryLog",
    "sqlite": "ssp_ledger.store.sqlite:SQLiteLog",
    "postgres": "ssp_ledger.store.postgres:PostgresLog",
}


def _topics(backend: Backend) -> dict[str, str]:
    """eventsourcing's recorder topics for the ledger's recorders of ``backend``, unless the
    environment names its own."""
    application, tracking = _TOPICS[backend]
    out = {}
    if "APPLICATION_RECORDER_TOPIC" not in os.environ:
        out["APPLICATION_RECORDER_TOPIC"] = application
    if "TRACKING_RECORDER_TOPIC" not in os.environ:
        out["TRACKING_RECORDER_TOPIC"] = tracking
    return out


def _pair(backend: Backend) -> dict[str, str]:
    application, tracking = _TOPICS[backend]
    return {"APPLICATION_RECORDER_TOPIC": application, "TRACKING_RECORDER_TOPIC": tracking}


def backend_of(location: str | Path, environ: Mapping[str, str] | None = None) -> Backend:
    """Which kind of store a location names (:data:`ENV_LOCATION` asks ``PERSISTENCE_MODULE``)."""
    text = str(location)
    if text in (":memory:", "memory"):
        return "memory"
    if text.startswith(("postgresql://", "postgres://")):
        return "postgres"
    if text == ENV_LOCATION:
        module = (os.environ if environ is None else environ).get("PERSISTENCE_MODULE", "")
        if module in ("eventsourcing.postgres", "postgres"):
            return "postgres"
        if module in ("eventsourcing.sqlite", "sqlite"):
            return "sqlite"
        if module in ("", "eventsourcing.popo", "popo"):
            return "memory"
        msg = f"PERSISTENCE_MODULE={module!r} is not a store ssp-ledger supports"
        raise ValueError(msg)
    if "://" in text and not text.startswith("file:"):
        scheme = text.partition("://")[0]
        msg = (f"{scheme}:// is not a store ssp-ledger supports; give a SQLite file path, "
               "':memory:' or a postgresql:// URL")
        raise ValueError(msg)
    return "sqlite"


def store_env(location: str | Path, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """eventsourcing environment for a store location (merged over ``os.environ``).

    ``":memory:"`` or ``"memory"`` selects eventsourcing's POPO recorders; a
    ``postgresql://user:password@host:port/dbname?schema=...`` URL the PostgreSQL module (query
    parameters: see :data:`POSTGRES_URL_OPTIONS`; a password left out of the URL is taken from
    ``POSTGRES_PASSWORD`` or libpq's ``PGPASSWORD``/``~/.pgpass``); :data:`ENV_LOCATION` leaves
    everything to eventsourcing's own variables; anything else is a SQLite file path.
    """
    text = str(location)
    env: dict[str, str]
    backend = backend_of(text)
    if text == ENV_LOCATION:
        env = _topics(backend)
        if backend == "memory":
            env["PERSISTENCE_MODULE"] = _MEMORY_FACTORY
    elif backend == "memory":
        env = {"PERSISTENCE_MODULE": _MEMORY_FACTORY, **_pair(backend)}
    elif backend == "postgres":
        url = urlsplit(text)
        env = {
            "PERSISTENCE_MODULE": "eventsourcing.postgres",
            **_pair(backend),
            "POSTGRES_DBNAME": unquote(url.path.lstrip("/")) or "postgres",
            "POSTGRES_HOST": url.hostname or "127.0.0.1",
            "POSTGRES_PORT": str(url.port or 5432),
            "POSTGRES_USER": unquote(url.username or "postgres"),
        }
        if url.password is not None:
            env["POSTGRES_PASSWORD"] = unquote(url.password)
        elif "POSTGRES_PASSWORD" not in os.environ:
            env["POSTGRES_PASSWORD"] = ""  # eventsourcing requires the key; libpq may find one
        for key, value in parse_qsl(url.query, keep_blank_values=True):
            name = POSTGRES_URL_OPTIONS.get(key)
            if name is None:
                msg = (f"unknown option {key!r} in the PostgreSQL URL; "
                       f"known: {', '.join(POSTGRES_URL_OPTIONS)}")
                raise ValueError(msg)
            env[name] = value
    else:
        env = {
            "PERSISTENCE_MODULE": "eventsourcing.sqlite",
            **_pair(backend),
            "SQLITE_DBNAME": text,
            "SQLITE_LOCK_TIMEOUT": "30",
        }
    if extra:
        env.update(extra)
    return env


def open_log(location: str | Path, mode: Mode = "create",
             env: Mapping[str, str] | None = None) -> EventLog:
    """Open the store at ``location`` (see :data:`~ssp_ledger.store.log.Mode`).

    Raises :class:`~ssp_ledger.errors.StoreError` (or its subclass
    :class:`~ssp_ledger.errors.ForeignStore`) with a one-line reason when it cannot.
    """
    text = str(location)
    if mode not in ("read", "write", "create"):
        msg = f"mode must be 'read', 'write' or 'create'; got {mode!r}"
        raise ValueError(msg)
    try:
        backend = backend_of(text)
        environment = store_env(text, env)
    except ValueError as e:
        msg = f"cannot open store {text!r}: {e}"
        raise StoreError(msg) from e
    module, _, name = _LOGS[backend].partition(":")
    try:
        cls: type[EventLog] = getattr(importlib.import_module(module), name)
    except ImportError as e:
        msg = (f"cannot open store {text!r}: {e} (PostgreSQL needs the 'postgres' extra: "
               "pip install 'ssp-ledger[postgres]')")
        raise StoreError(msg) from e
    try:
        return cls(text, mode, environment)  # type: ignore[call-arg]
    except StoreError:
        raise
    except (OSError, ImportError) as e:
        msg = f"cannot open store {text!r}: {e}"
        raise StoreError(msg) from e
    except Exception as e:  # a driver's own error (psycopg, sqlite3, eventsourcing)
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        msg = f"cannot open store {text!r}: {first}"
        raise StoreError(msg) from e
