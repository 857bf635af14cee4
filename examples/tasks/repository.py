"""Where tasks live: a small async interface with one implementation per database.

A repository is created from a database URL without touching the database; ``open()`` (or
``async with repo:``) connects and creates the schema, ``close()`` disconnects. The app does
both in its lifespan, so connections live exactly as long as the server process serves.

Every database wait is bounded by the repository's ``timeout``: when the database is down,
frozen or locked, a method raises :class:`DatabaseUnavailable` (a 503 with ``Retry-After``)
instead of waiting for the outage to end.
"""

from __future__ import annotations

import abc
from types import TracebackType
from typing import Self
from uuid import UUID

from aaf import HTTPError

from .models import Task, TaskPage
from .settings import DEFAULT_DATABASE_TIMEOUT

__all__ = [
    "DEFAULT_PAGE_SIZE",
    "DatabaseUnavailable",
    "RepositoryClosedError",
    "TaskRepository",
    "repository_for",
]

SQLITE_SCHEME = "sqlite://"
POSTGRES_SCHEMES = ("postgresql://", "postgres://", "postgresql+asyncpg://")
DEFAULT_PAGE_SIZE = 50


class RepositoryClosedError(RuntimeError):
    """The repository was used before ``open()`` or after ``close()``."""

    def __init__(self, name: str) -> None:
        super().__init__(
            f"the {name} task repository is not open; open it in the app lifespan "
            "(async with repo: ...) before serving requests"
        )


class DatabaseUnavailable(HTTPError):
    """The database did not answer within the repository's timeout, refused the connection or
    is locked. Raised in a handler it answers 503 ``{"error": "database unavailable"}`` with
    ``Retry-After`` (the cause stays in the log, not in the answer: it may name the host).

    A write that fails this way may still have been stored: the statement may have reached
    the database before the connection was given up.
    """

    #: Seconds a client is asked to wait before retrying (the ``Retry-After`` header).
    retry_after = 1

    def __init__(self) -> None:
        super().__init__(503, "database unavailable", {"retry-after": str(self.retry_after)})


class TaskRepository(abc.ABC):
    """Tasks in creation order. Every method is one statement, so each is atomic by itself."""

    @abc.abstractmethod
    async def open(self) -> None:
        """Connect and create the schema if it does not exist."""

    @abc.abstractmethod
    async def close(self) -> None:
        """Disconnect; safe to call twice."""

    @abc.abstractmethod
    async def ping(self) -> None:
        """One cheap round trip (``SELECT 1``), for readiness checks; raises when the database
        cannot be reached (or the repository is not open)."""

    @abc.abstractmethod
    async def create(self, title: str, done: bool = False) -> Task: ...

    @abc.abstractmethod
    async def find(
        self,
        *,
        contains: str | None = None,
        done: bool | None = None,
        after: int = 0,
        limit: int = DEFAULT_PAGE_SIZE,
    ) -> TaskPage:
        """Up to ``limit`` tasks created after cursor ``after`` (0: from the first) whose title
        contains ``contains`` (case-insensitive) and whose state is ``done``; ``None`` means
        no filter. The page's ``next`` is the cursor to pass as ``after`` for the next page
        (as a string: the API sends it as it is)."""

    @abc.abstractmethod
    async def get(self, task_id: UUID) -> Task | None: ...

    @abc.abstractmethod
    async def update(
        self, task_id: UUID, *, title: str | None = None, done: bool | None = None
    ) -> Task | None:
        """Change the given fields; the task as stored afterwards, or None if unknown."""

    @abc.abstractmethod
    async def delete(self, task_id: UUID) -> Task | None:
        """Remove the task; the removed task, or None if unknown."""

    async def __aenter__(self) -> Self:
        await self.open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()


def repository_for(
    database_url: str, *, timeout: float = DEFAULT_DATABASE_TIMEOUT
) -> TaskRepository:
    """The repository for ``database_url``: ``sqlite:///path`` or ``postgresql://...``;
    ``timeout`` bounds each operation's wait for the database, in seconds.

    Drivers are imported here, so an app on SQLite does not need asyncpg installed.
    """
    if database_url.startswith(SQLITE_SCHEME):
        from .sqlite import SQLiteTaskRepository, sqlite_path

        return SQLiteTaskRepository(sqlite_path(database_url), timeout=timeout)
    if database_url.startswith(POSTGRES_SCHEMES):
        from .postgres import PostgresTaskRepository

        return PostgresTaskRepository(database_url, timeout=timeout)
    scheme = database_url.partition(":")[0] or database_url
    raise ValueError(
        f"DATABASE_URL scheme {scheme!r} is not supported; use sqlite:///path/to/tasks.db "
        "or postgresql://user:password@host:5432/dbname"
    )
