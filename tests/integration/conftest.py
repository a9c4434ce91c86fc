"""Fixtures for the backend tests: a PostgreSQL server when one is configured.

The PostgreSQL tests need ``SSP_LEDGER_TEST_POSTGRES=postgresql://USER[:PASSWORD]@HOST:PORT/DB``
(a database in which the tests may create and drop schemas). ``bash .ci/run`` starts a
throwaway server and sets it; so does ``bash .ci/postgres.sh COMMAND``. Without it the
PostgreSQL tests skip with that message, unless ``SSP_LEDGER_REQUIRE_POSTGRES=1`` (set by the CI
script when it started a server) turns the skip into a failure.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from urllib.parse import urlencode, urlsplit, urlunsplit

import pytest

POSTGRES_ENV = "SSP_LEDGER_TEST_POSTGRES"
REQUIRE_ENV = "SSP_LEDGER_REQUIRE_POSTGRES"
HOW_TO_ENABLE = (
    f"set {POSTGRES_ENV}=postgresql://USER[:PASSWORD]@HOST:PORT/DBNAME (a database the tests may "
    "create schemas in), or run `bash .ci/run` or `bash .ci/postgres.sh .venv/bin/python -m "
    "pytest`, which start a throwaway server"
)


def skip_or_fail(reason: str) -> None:
    """Skip, or fail when the CI script promised a server."""
    if os.environ.get(REQUIRE_ENV) == "1":
        pytest.fail(f"{reason} ({REQUIRE_ENV}=1: a server was expected)")
    pytest.skip(reason)


def server_url() -> str:
    """The configured server's URL after checking it answers (skips or fails otherwise)."""
    url = os.environ.get(POSTGRES_ENV, "").strip()
    if not url:
        skip_or_fail(f"PostgreSQL tests skipped: {HOW_TO_ENABLE}")
    try:
        import psycopg
    except ImportError:
        skip_or_fail("PostgreSQL tests skipped: psycopg is not installed "
                     "(pip install -e '.[test]' installs the postgres extra)")
    try:
        with psycopg.connect(url, connect_timeout=5) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as e:
        shown = urlsplit(url)._replace(netloc=urlsplit(url).netloc.rpartition("@")[2])
        skip_or_fail(f"PostgreSQL tests skipped: cannot connect to {urlunsplit(shown)} "
                     f"({str(e).strip()}); {HOW_TO_ENABLE}")
    return url


def new_schema(url: str) -> str:
    """Create an empty schema for one test; returns its name."""
    import psycopg

    schema = f"t_{uuid.uuid4().hex[:16]}"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    return schema


def drop_schema(url: str, schema: str) -> None:
    """Drop a test's schema and everything in it."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SET lock_timeout = '10s'")
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def ledger_url(url: str, schema: str, **options: object) -> str:
    """The ssp-ledger store URL of a schema on the server."""
    parts = urlsplit(url)
    query = {"schema": schema, "connect_timeout": 10, "pool_size": 1, "max_overflow": 9}
    query.update(options)
    return urlunsplit(parts._replace(query=urlencode(query)))


@pytest.fixture(scope="session")
def postgres_server() -> str:
    """URL of a reachable PostgreSQL database (skips or fails without one)."""
    return server_url()


@pytest.fixture
def postgres_store(postgres_server: str) -> Iterator[str]:
    """A ``postgresql://...?schema=...`` store URL of a fresh schema, dropped afterwards."""
    schema = new_schema(postgres_server)
    try:
        yield ledger_url(postgres_server, schema)
    finally:
        drop_schema(postgres_server, schema)
