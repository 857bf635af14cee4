"""Fixtures for the example apps: databases for the tasks API (SQLite file, PostgreSQL)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from ..support.postgres import PostgresServer, start_postgres


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """One PostgreSQL server for the session (started only if a test needs it)."""
    with start_postgres() as server:
        yield server


@pytest.fixture
async def postgres_url(postgres_server: PostgresServer) -> str:
    """The session's database, emptied (what the previous test created is gone)."""
    return await postgres_server.areset()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'tasks.db'}"  # an absolute path: sqlite:////tmp/...


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest) -> str:
    """Each test using this runs once per database (PostgreSQL starts only when needed)."""
    url: str = request.getfixturevalue(f"{request.param}_url")
    return url
