"""Tasks in PostgreSQL through an asyncpg connection pool (``DATABASE_URL=postgresql://...``).

Every server process has its own pool; all of them share the database, which is what lets
several processes and machines serve the same tasks.

Each operation (a free connection from the pool, a new connection if the pool must reconnect,
the statement) finishes within ``timeout`` seconds or raises ``DatabaseUnavailable``; so does a
refused or lost connection. The connection it was using is then dropped, not reused: its state
is unknown (a frozen server may answer the old statement later). The pool reconnects on its
own once the database is back.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from uuid import UUID, uuid4

import asyncpg

from .models import Task, TaskPage
from .repository import (
    DEFAULT_PAGE_SIZE,
    DatabaseUnavailable,
    RepositoryClosedError,
    TaskRepository,
)
from .settings import DEFAULT_DATABASE_TIMEOUT

__all__ = ["PostgresTaskRepository"]

# No floor: asyncpg restores a floor with a background loop that, while the database is out,
# logs a traceback on every retry. Connections open on demand instead (inside the request's
# bound) and stay pooled while used.
POOL_MIN_SIZE = 0
POOL_MAX_SIZE = 10
# Any constant shared by every process: the key of the advisory lock around schema creation.
SCHEMA_LOCK_KEY = 0x7A5C5
SCHEMA = """
CREATE TABLE IF NOT EXISTS tasks (
    seq   BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,  -- creation order
    id    UUID    NOT NULL UNIQUE,
    title TEXT    NOT NULL,
    done  BOOLEAN NOT NULL
)
"""
INSERT = "INSERT INTO tasks (id, title, done) VALUES ($1, $2, $3) RETURNING id, title, done"
# Static SQL with optional filters: a NULL parameter switches its filter off. strpos() rather
# than LIKE, so "%" and "_" in the search text are plain characters.
# PERF: a page is "seq > cursor ... LIMIT n" on the primary key: each page costs the same
# however deep the client has paged (no OFFSET). One row more than the page tells whether
# another page follows.
SELECT = (
    "SELECT id, title, done, seq FROM tasks"
    " WHERE seq > $3::bigint"
    " AND ($1::text IS NULL OR strpos(lower(title), lower($1::text)) > 0)"
    " AND ($2::boolean IS NULL OR done = $2::boolean)"
    " ORDER BY seq LIMIT $4::bigint"
)
SELECT_ONE = "SELECT id, title, done FROM tasks WHERE id = $1"
UPDATE = (
    "UPDATE tasks SET title = coalesce($2, title), done = coalesce($3, done)"
    " WHERE id = $1 RETURNING id, title, done"
)
DELETE = "DELETE FROM tasks WHERE id = $1 RETURNING id, title, done"

logger = logging.getLogger("examples.tasks")

# What an unreachable, stopped or restarting database raises (refused or reset sockets, lost
# connections, "the database system is shutting down"); errors in a statement are not here.
_OUTAGES = (OSError, asyncpg.PostgresConnectionError, asyncpg.OperatorInterventionError)


def _task(row: asyncpg.Record) -> Task:
    return Task(row["id"], row["title"], row["done"])


class PostgresTaskRepository(TaskRepository):
    def __init__(self, dsn: str, *, timeout: float = DEFAULT_DATABASE_TIMEOUT) -> None:
        # asyncpg speaks postgresql:// itself; "+asyncpg" is SQLAlchemy's spelling of the driver.
        self.dsn = dsn.replace("postgresql+asyncpg://", "postgresql://", 1)
        self.timeout = timeout
        self._pool: asyncpg.Pool | None = None

    def __repr__(self) -> str:
        return "PostgresTaskRepository(<dsn hidden>)"  # the DSN may hold a password

    async def open(self) -> None:
        if self._pool is not None:
            return
        # The connect and command timeouts bound the work done outside _fetch (the schema
        # below, the pool's own reconnects); _fetch bounds each request's operation as a whole.
        pool = await asyncpg.create_pool(
            self.dsn,
            min_size=POOL_MIN_SIZE,
            max_size=POOL_MAX_SIZE,
            timeout=self.timeout,
            command_timeout=self.timeout,
        )
        try:
            async with pool.acquire(timeout=self.timeout) as conn, conn.transaction():
                # Workers starting together would race on CREATE TABLE IF NOT EXISTS (it can
                # still fail with a duplicate key when two run at once); the lock serializes them.
                await conn.execute("SELECT pg_advisory_xact_lock($1)", SCHEMA_LOCK_KEY)
                await conn.execute(SCHEMA)
        except BaseException:
            await pool.close()
            raise
        self._pool = pool

    async def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is None:
            return
        try:
            # A graceful close waits for the database to acknowledge; a frozen one must not
            # hold the server's shutdown, so past the bound the connections are just dropped.
            async with asyncio.timeout(self.timeout):
                await pool.close()
        except TimeoutError:
            logger.warning("PostgreSQL did not close within %ss; connections dropped", self.timeout)
            pool.terminate()

    @property
    def pool(self) -> asyncpg.Pool:
        if self._pool is None:
            raise RepositoryClosedError("PostgreSQL")
        return self._pool

    async def _fetch(self, sql: str, *args: object) -> list[asyncpg.Record]:
        """The rows of one statement, within ``timeout`` from the request for a connection to
        the last row; ``DatabaseUnavailable`` when that fails for want of a database."""
        pool = self.pool
        try:
            # One deadline for the whole operation: separate acquire and command timeouts
            # would add up (and asyncpg's release after a timed-out command waits again).
            async with asyncio.timeout(self.timeout):
                conn = await pool.acquire()
                try:
                    rows: list[asyncpg.Record] = await conn.fetch(sql, *args)
                except asyncpg.PostgresError as exc:
                    if isinstance(exc, _OUTAGES):
                        _drop(conn)
                    raise
                except BaseException:
                    # Cancelled mid-statement (the deadline) or the socket failed: drop the
                    # connection at once; releasing it would wait on the database again.
                    _drop(conn)
                    raise
                finally:
                    await pool.release(conn)
        except (TimeoutError, *_OUTAGES) as exc:
            logger.warning("PostgreSQL unavailable (%s): %r", _reason(exc, self.timeout), exc)
            raise DatabaseUnavailable() from exc
        return rows

    async def _one(self, sql: str, *args: object) -> Task | None:
        rows = await self._fetch(sql, *args)
        return _task(rows[0]) if rows else None

    async def ping(self) -> None:
        await self._fetch("SELECT 1")

    async def create(self, title: str, done: bool = False) -> Task:
        task = await self._one(INSERT, uuid4(), title, done)
        if task is None:  # RETURNING always yields the inserted row
            raise RuntimeError("PostgreSQL returned no row for an INSERT")
        return task

    async def find(
        self,
        *,
        contains: str | None = None,
        done: bool | None = None,
        after: int = 0,
        limit: int = DEFAULT_PAGE_SIZE,
    ) -> TaskPage:
        if contains is not None and "\x00" in contains:
            return TaskPage([], None)  # PostgreSQL text cannot hold NUL, so no title has it
        rows = await self._fetch(SELECT, contains, done, after, limit + 1)
        page = rows[:limit]
        cursor = str(page[-1]["seq"]) if len(rows) > limit else None
        return TaskPage([_task(row) for row in page], cursor)

    async def get(self, task_id: UUID) -> Task | None:
        return await self._one(SELECT_ONE, task_id)

    async def update(
        self, task_id: UUID, *, title: str | None = None, done: bool | None = None
    ) -> Task | None:
        return await self._one(UPDATE, task_id, title, done)

    async def delete(self, task_id: UUID) -> Task | None:
        return await self._one(DELETE, task_id)


def _drop(conn: asyncpg.pool.PoolConnectionProxy) -> None:
    # A connection that closed by itself is already back in the pool: nothing to drop.
    with contextlib.suppress(asyncpg.InterfaceError):
        conn.terminate()


def _reason(exc: BaseException, timeout: float) -> str:
    if isinstance(exc, TimeoutError):
        return f"no answer within {timeout}s (DATABASE_TIMEOUT)"
    return "connection failed"
