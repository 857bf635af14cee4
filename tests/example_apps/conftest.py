"""Fixtures for the example apps: databases for the tasks API (SQLite file, PostgreSQL) and
the real-time backends of chat and feed (memory, Redis)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from ..support.postgres import PostgresServer, start_postgres
from ..support.redis import redis_server


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


@pytest.fixture(scope="session")
def redis_server_url() -> Iterator[str]:
    """One redis-server for the session (started only if a test needs it)."""
    with redis_server() as url:
        yield url


@pytest.fixture
def redis_url(redis_server_url: str) -> str:
    """The session's Redis, emptied before the test (keys, counters and logs start afresh)."""
    client = redis.Redis.from_url(redis_server_url)
    try:
        client.flushall()
    finally:
        client.close()
    return redis_server_url


@pytest.fixture(params=["memory", "redis"])
def events_url(request: pytest.FixtureRequest) -> str | None:
    """Real-time backends: None (in-memory, one process) and a Redis URL; each test using this
    runs on both (Redis starts only when needed)."""
    if request.param == "memory":
        return None
    url: str = request.getfixturevalue("redis_url")
    return url
