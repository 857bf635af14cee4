"""examples/tasks: the bounds on database and feed waits, their settings, and the 503 a locked
SQLite database answers with (the PostgreSQL faults are in test_faults_postgres.py)."""

from __future__ import annotations

import sqlite3
import time

import pytest
from examples.feed import MemoryEventLog, TaskFeed
from examples.tasks import Settings, repository_for
from examples.tasks.app import build_app
from examples.tasks.postgres import PostgresTaskRepository
from examples.tasks.repository import DatabaseUnavailable
from examples.tasks.sqlite import SQLiteTaskRepository

from aaf.broadcast import Broadcast
from aaf.testing import AsyncTestClient

# The busy timeout these tests configure, in seconds.
BOUND = 0.3


def test_the_default_bounds_are_short() -> None:
    settings = Settings.from_env({})
    assert settings.database_timeout == 2.0
    assert settings.publish_timeout <= 0.5  # a write's answer never waits long for its event


def test_settings_read_the_timeouts() -> None:
    settings = Settings.from_env({"DATABASE_TIMEOUT": " 5 ", "PUBLISH_TIMEOUT": "0.25"})
    assert (settings.database_timeout, settings.publish_timeout) == (5.0, 0.25)
    assert "database_timeout=5.0" in repr(settings)
    blank = Settings.from_env({"DATABASE_TIMEOUT": "", "PUBLISH_TIMEOUT": " "})
    assert (blank.database_timeout, blank.publish_timeout) == (2.0, 0.5)


@pytest.mark.parametrize("name", ["DATABASE_TIMEOUT", "PUBLISH_TIMEOUT"])
@pytest.mark.parametrize("text", ["soon", "0", "-1", "nan", "inf", "301"])
def test_settings_refuse_a_bad_timeout(name: str, text: str) -> None:
    with pytest.raises(ValueError, match=f"{name} must be a number of seconds"):
        Settings.from_env({name: text})


def test_the_timeout_reaches_the_repository() -> None:
    sqlite = repository_for("sqlite:///:memory:", timeout=0.25)
    assert isinstance(sqlite, SQLiteTaskRepository)
    assert (sqlite.timeout, sqlite.busy_timeout_ms) == (0.25, 250)
    postgres = repository_for("postgresql://app@db/tasks", timeout=7)
    assert isinstance(postgres, PostgresTaskRepository)
    assert postgres.timeout == 7


def test_database_unavailable_is_a_json_503_with_retry_after() -> None:
    error = DatabaseUnavailable()
    assert error.status_code == 503
    assert error.json_body() == b'{"error":"database unavailable"}'
    assert dict(error.raw_headers) == {b"retry-after": b"1"}


async def test_the_feed_bound_is_the_shorter_of_its_own_and_the_broadcasts() -> None:
    broadcast = Broadcast("memory://", publish_timeout=1.0)
    log = MemoryEventLog(broadcast, channel="feed")
    assert TaskFeed(log, broadcast).publish_timeout == 0.5
    assert TaskFeed(log, broadcast, publish_timeout=3).publish_timeout == 1.0
    with pytest.raises(ValueError, match="publish_timeout is seconds above 0"):
        TaskFeed(log, broadcast, publish_timeout=0)


async def test_a_locked_sqlite_database_answers_503_within_the_busy_timeout(
    sqlite_url: str,
) -> None:
    settings = Settings(database_url=sqlite_url, database_timeout=BOUND)
    async with AsyncTestClient(build_app(settings)) as client:
        created = await client.post("/tasks", json={"title": "before the lock"})
        assert created.status_code == 201
        holder = sqlite3.connect(sqlite_url.removeprefix("sqlite:///"))  # another writer
        try:
            holder.execute("BEGIN IMMEDIATE")  # the write lock, until the rollback
            start = time.monotonic()
            refused = await client.post("/tasks", json={"title": "while locked"})
            elapsed = time.monotonic() - start
            assert refused.status_code == 503
            assert refused.json() == {"error": "database unavailable"}
            assert refused.headers["retry-after"] == "1"
            assert elapsed <= 3 * BOUND  # it waited for the lock, boundedly
            # Readers are not blocked in WAL mode.
            assert (await client.get("/tasks")).status_code == 200
        finally:
            holder.rollback()
            holder.close()
        again = await client.post("/tasks", json={"title": "after the lock"})
        assert again.status_code == 201
