"""Fixtures of the adversarial tests: one clean store per session, copied by each test that
attacks it; the PostgreSQL server fixtures of the integration tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.adversarial.attack import build_store
from tests.integration.conftest import postgres_server, postgres_store

__all__ = ["checkpointed", "plain", "postgres_server", "postgres_store"]


@pytest.fixture(scope="session")
def plain(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The two-partnership store of :mod:`tests.adversarial.attack`, without a checkpoint."""
    return build_store(tmp_path_factory.mktemp("plain") / "s.db")


@pytest.fixture(scope="session")
def checkpointed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The same records in a store holding checkpoint ``default`` at the last position."""
    return build_store(tmp_path_factory.mktemp("checkpointed") / "s.db", checkpoint=True)
