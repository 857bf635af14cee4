"""Tasks in a SQLite file (the default: nothing to install or start), through aiosqlite.

One connection per process: aiosqlite runs it on its own thread and queues the calls, and every
statement commits by itself (autocommit), so concurrent requests cannot interleave inside a
transaction. Several processes may share the file: WAL mode lets readers run beside the one
writer, and a busy timeout (the repository's ``timeout``) makes a writer wait for the lock
instead of failing at once; a lock held longer raises ``DatabaseUnavailable`` (503).
Needs SQLite 3.35+ (RETURNING).
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Iterable
from pathlib import Path
from uuid import UUID, uuid4

import aiosqlite

from .models import Task, TaskPage
from .repository import (
    DEFAULT_PAGE_SIZE,
    SQLITE_SCHEME,
    DatabaseUnavailable,
    RepositoryClosedError,
    TaskRepository,
)
from .settings import DEFAULT_DATABASE_TIMEOUT

__all__ = ["SQLiteTaskRepository", "sqlite_path"]

MEMORY = ":memory:"
# SQLite's primary result codes for "another connection holds the lock" (the busy timeout ran
# out) and "a table in this shared cache is locked".
_LOCK_ERRORS = frozenset({sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED})

logger = logging.getLogger("examples.tasks")

SCHEMA = """
CREATE TABLE IF NOT EXISTS tasks (
    seq   INTEGER PRIMARY KEY,  -- creation order
    id    TEXT    NOT NULL UNIQUE,
    title TEXT    NOT NULL,
    done  INTEGER NOT NULL CHECK (done IN (0, 1))
)
"""
INSERT = "INSERT INTO tasks (id, title, done) VALUES (?, ?, ?) RETURNING id, title, done"
# Static SQL with optional filters: a NULL parameter switches its filter off.
# SQLite's own lower() folds ASCII only; fold_case (Python's str.lower) folds every script.
# PERF: a page is "seq > cursor ... LIMIT n" on the primary key: each page costs the same
# however deep the client has paged (no OFFSET to skip rows). One row more than the page
# tells whether another page follows.
SELECT = (
    "SELECT id, title, done, seq FROM tasks"
    " WHERE seq > ?3"
    " AND (?1 IS NULL OR instr(fold_case(title), ?1) > 0) AND (?2 IS NULL OR done = ?2)"
    " ORDER BY seq LIMIT ?4"
)
SELECT_ONE = "SELECT id, title, done FROM tasks WHERE id = ?"
UPDATE = (
    "UPDATE tasks SET title = coalesce(?, title), done = coalesce(?, done)"
    " WHERE id = ? RETURNING id, title, done"
)
DELETE = "DELETE FROM tasks WHERE id = ? RETURNING id, title, done"


def sqlite_path(database_url: str) -> str:
    """``sqlite:///tasks.db`` -> ``tasks.db`` (relative); ``sqlite:////srv/tasks.db`` ->
    ``/srv/tasks.db``; ``sqlite:///:memory:`` -> a private in-memory database."""
    rest = database_url.removeprefix(SQLITE_SCHEME)
    if not rest.startswith("/") or len(rest) < 2:
        raise ValueError(
            f"SQLite URL {database_url!r} needs a path: sqlite:///tasks.db (relative) or "
            "sqlite:////absolute/path/tasks.db"
        )
    return rest[1:]


def _fold_case(text: str | None) -> str | None:
    return None if text is None else text.lower()


def _task(row: aiosqlite.Row | tuple[str, str, int]) -> Task:
    return Task(UUID(row[0]), row[1], bool(row[2]))


class SQLiteTaskRepository(TaskRepository):
    def __init__(self, path: str | Path, *, timeout: float = DEFAULT_DATABASE_TIMEOUT) -> None:
        self.path = str(path)
        self.timeout = timeout
        self._db: aiosqlite.Connection | None = None

    def __repr__(self) -> str:
        return f"SQLiteTaskRepository({self.path!r})"

    async def open(self) -> None:
        if self._db is not None:
            return
        if self.path != MEMORY and not Path(self.path).parent.is_dir():
            raise FileNotFoundError(
                f"the directory of the SQLite database {self.path!r} does not exist; "
                "create it or point DATABASE_URL elsewhere"
            )
        db = await aiosqlite.connect(self.path, isolation_level=None)
        try:
            # The busy timeout first: the statements below may meet another process's lock.
            await db.execute(f"PRAGMA busy_timeout = {self.busy_timeout_ms}")
            if self.path != MEMORY:
                await db.execute("PRAGMA journal_mode = WAL")
                # PERF: in WAL mode NORMAL cannot corrupt the file; a power cut may lose the
                # last commits, not the database.
                await db.execute("PRAGMA synchronous = NORMAL")
            await db.create_function("fold_case", 1, _fold_case, deterministic=True)
            await db.execute(SCHEMA)
        except BaseException:
            await db.close()
            raise
        self._db = db

    async def close(self) -> None:
        db, self._db = self._db, None
        if db is not None:
            await db.close()

    @property
    def busy_timeout_ms(self) -> int:
        return max(1, round(self.timeout * 1000))

    @property
    def db(self) -> aiosqlite.Connection:
        if self._db is None:
            raise RepositoryClosedError("SQLite")
        return self._db

    async def _fetch(self, sql: str, params: tuple[object, ...]) -> list[aiosqlite.Row]:
        """All rows of one statement; ``DatabaseUnavailable`` when the lock stayed taken for
        the whole busy timeout."""
        db = self.db
        try:
            # execute_fetchall steps the statement to its end, so a change is committed here.
            rows: Iterable[aiosqlite.Row] = await db.execute_fetchall(sql, params)
        except sqlite3.OperationalError as exc:
            if exc.sqlite_errorcode & 0xFF not in _LOCK_ERRORS:  # extended codes keep the low byte
                raise
            logger.warning(
                "SQLite %r locked for over %ss (DATABASE_TIMEOUT)", self.path, self.timeout
            )
            raise DatabaseUnavailable() from exc
        return list(rows)

    async def _one(self, sql: str, params: tuple[object, ...]) -> Task | None:
        rows = await self._fetch(sql, params)
        return _task(rows[0]) if rows else None

    async def ping(self) -> None:
        await self._fetch("SELECT 1", ())

    async def create(self, title: str, done: bool = False) -> Task:
        task = await self._one(INSERT, (str(uuid4()), title, int(done)))
        if task is None:  # RETURNING always yields the inserted row
            raise RuntimeError("SQLite returned no row for an INSERT")
        return task

    async def find(
        self,
        *,
        contains: str | None = None,
        done: bool | None = None,
        after: int = 0,
        limit: int = DEFAULT_PAGE_SIZE,
    ) -> TaskPage:
        needle = None if contains is None else contains.lower()
        state = None if done is None else int(done)
        rows = await self._fetch(SELECT, (needle, state, after, limit + 1))
        page = rows[:limit]
        cursor = str(page[-1][3]) if len(rows) > limit else None
        return TaskPage([_task(row) for row in page], cursor)

    async def get(self, task_id: UUID) -> Task | None:
        return await self._one(SELECT_ONE, (str(task_id),))

    async def update(
        self, task_id: UUID, *, title: str | None = None, done: bool | None = None
    ) -> Task | None:
        state = None if done is None else int(done)
        return await self._one(UPDATE, (title, state, str(task_id)))

    async def delete(self, task_id: UUID) -> Task | None:
        return await self._one(DELETE, (str(task_id),))
