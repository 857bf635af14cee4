"""examples/tasks: settings from the environment, database URLs, repository life cycle."""

from __future__ import annotations

from pathlib import Path

import pytest
from examples.tasks import Settings, repository_for
from examples.tasks.app import build_app
from examples.tasks.postgres import PostgresTaskRepository
from examples.tasks.repository import RepositoryClosedError
from examples.tasks.sqlite import SQLiteTaskRepository, sqlite_path

from aaf.testing import AsyncTestClient


def test_settings_defaults() -> None:
    settings = Settings.from_env({})
    assert settings == Settings("sqlite:///tasks.db", None, "127.0.0.1", 8000)


def test_settings_read_every_variable() -> None:
    env = {
        "DATABASE_URL": "postgresql://app:secret@db.internal:5432/tasks",
        "REDIS_URL": "redis://:hush@cache:6379/0",
        "HOST": "0.0.0.0",
        "PORT": "9000",
    }
    settings = Settings.from_env(env)
    assert settings == Settings(env["DATABASE_URL"], env["REDIS_URL"], "0.0.0.0", 9000)
    # Passwords never reach logs through repr().
    text = repr(settings)
    assert "secret" not in text
    assert "hush" not in text
    assert "postgresql://app:***@db.internal:5432/tasks" in text
    assert "redis://:***@cache:6379/0" in text


def test_settings_treat_empty_variables_as_unset() -> None:
    blank = {"DATABASE_URL": " ", "REDIS_URL": "", "HOST": "", "PORT": ""}
    assert Settings.from_env(blank) == Settings()


def test_repr_keeps_urls_without_passwords() -> None:
    settings = Settings("postgresql://app@db/tasks", "redis://cache:6379")
    assert "postgresql://app@db/tasks" in repr(settings)
    assert "redis://cache:6379" in repr(settings)


def test_settings_read_os_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PORT", "8123")
    monkeypatch.setenv("DATABASE_URL", "sqlite:///other.db")
    settings = Settings.from_env()
    assert (settings.port, settings.database_url) == (8123, "sqlite:///other.db")


@pytest.mark.parametrize("port", ["0", "65536", "http", "-1", "80.5", "٨٠"])
def test_settings_refuse_a_bad_port(port: str) -> None:
    with pytest.raises(ValueError, match="PORT must be a number from 1 to 65535"):
        Settings.from_env({"PORT": port})


@pytest.mark.parametrize(
    ("url", "path"),
    [
        ("sqlite:///tasks.db", "tasks.db"),
        ("sqlite:///data/tasks.db", "data/tasks.db"),
        ("sqlite:////srv/app/tasks.db", "/srv/app/tasks.db"),
        ("sqlite:///:memory:", ":memory:"),
    ],
)
def test_sqlite_urls(url: str, path: str) -> None:
    assert sqlite_path(url) == path
    repo = repository_for(url)
    assert isinstance(repo, SQLiteTaskRepository)
    assert repo.path == path


@pytest.mark.parametrize("url", ["sqlite://", "sqlite:///", "sqlite://tasks.db"])
def test_sqlite_urls_need_a_path(url: str) -> None:
    with pytest.raises(ValueError, match=r"needs a path: sqlite:///tasks.db"):
        repository_for(url)


@pytest.mark.parametrize(
    "url",
    ["postgresql://u:p@h/db", "postgres://h/db", "postgresql+asyncpg://u:p@h:5433/db"],
)
def test_postgres_urls(url: str) -> None:
    repo = repository_for(url)
    assert isinstance(repo, PostgresTaskRepository)
    assert repo.dsn.startswith(("postgresql://", "postgres://"))
    assert "p@" not in repr(repo)


@pytest.mark.parametrize(
    ("url", "scheme"),
    [("mysql://u:p@h/db", "'mysql'"), ("tasks.db", "'tasks.db'"), ("", "''")],
)
def test_unknown_database_urls_say_what_is_supported(url: str, scheme: str) -> None:
    with pytest.raises(ValueError, match="is not supported; use sqlite:///") as caught:
        repository_for(url)
    assert f"scheme {scheme}" in str(caught.value)
    assert "p@h" not in str(caught.value)


async def test_startup_fails_clearly_when_the_sqlite_directory_is_missing(
    tmp_path: Path,
) -> None:
    app = build_app(Settings(database_url=f"sqlite:///{tmp_path}/missing/tasks.db"))
    with pytest.raises(RuntimeError, match="does not exist; create it or point DATABASE_URL"):
        async with AsyncTestClient(app):
            pass


async def test_startup_fails_when_postgres_is_unreachable() -> None:
    # Port 1 on loopback: nothing listens there, the connection is refused at once.
    app = build_app(Settings(database_url="postgresql://nobody@127.0.0.1:1/tasks"))
    with pytest.raises(RuntimeError, match="failed to start"):
        async with AsyncTestClient(app):
            pass


async def test_in_memory_sqlite_works_for_one_process() -> None:
    async with AsyncTestClient(build_app(Settings(database_url="sqlite:///:memory:"))) as client:
        created = await client.post("/tasks", json={"title": "ephemeral"})
        assert (await client.get("/tasks")).json()["items"] == [created.json()]


async def test_open_and_close_are_idempotent(database_url: str) -> None:
    repo = repository_for(database_url)
    with pytest.raises(RepositoryClosedError, match="not open; open it in the app lifespan"):
        await repo.find()
    await repo.open()
    await repo.open()  # a second open keeps the same connections
    try:
        task = await repo.create("once")
        assert (await repo.find()).items == [task]
    finally:
        await repo.close()
        await repo.close()
    with pytest.raises(RepositoryClosedError):
        await repo.get(task.id)
    async with repo:
        assert await repo.get(task.id) == task
