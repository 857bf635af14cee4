"""Fault injection over real sockets: the tasks API and the demo under uvicorn, on a PostgreSQL
(and Redis) the tests start, then freeze (SIGSTOP), stop and bring back.

While the database is out, requests get a 503 in the API's JSON error shape with Retry-After
within a bound on the wait (3x the configured timeout: generous, it is not a speed test); once
it is back, the same server process answers again.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from typing import IO

import httpx
import pytest
from examples.tasks.postgres import PostgresTaskRepository

from ..support.postgres import PostgresServer, start_postgres
from ..support.postgres_faults import Outage, frozen
from ..support.redis import redis_process
from ..support.servers import free_port, repo_env, run_process, server_command, tail

pytestmark = pytest.mark.integration

TASKS = "examples.tasks.app:app"
DEMO = "examples.demo.app:app"
# The DATABASE_TIMEOUT these tests configure, in seconds.
BOUND = 1.0
# More concurrent requests than the pool has connections (POOL_MAX_SIZE = 10): the ones
# waiting for a connection are bounded too.
CONCURRENT = 12
UNAVAILABLE = {"error": "database unavailable"}
# The PUBLISH_TIMEOUT the Redis test configures: 3x it is still below the broadcast's own
# publish bound (1 s), so the test tells the feed's bound from the broadcast's.
PUBLISH_BOUND = 0.3


@pytest.fixture(scope="module")
def faulty_postgres() -> Iterator[PostgresServer]:
    """A server of this module's own: the tests freeze it, so no other test may share it."""
    with start_postgres("faults") as server:
        yield server


@pytest.fixture
async def faulty_postgres_url(faulty_postgres: PostgresServer) -> str:
    return await faulty_postgres.areset()


def env_for(database_url: str, **extra: str) -> dict[str, str]:
    return {"DATABASE_URL": database_url, "DATABASE_TIMEOUT": str(BOUND), **extra}


@contextlib.contextmanager
def served(target: str, env: dict[str, str], log: IO[bytes] | None = None) -> Iterator[str]:
    """``target`` under uvicorn; yields its base URL. On a clean exit, asserts that the server
    logged no traceback (into ``log``, if given): an outage is one warning line per request."""
    port = free_port()
    with contextlib.ExitStack() as stack:
        if log is None:
            log = stack.enter_context(tempfile.TemporaryFile())
        command = server_command("uvicorn", target, port)
        with run_process(command, port, f"uvicorn serving {target}", env=repo_env(env), log=log):
            yield f"http://127.0.0.1:{port}"
        logged = tail(log, 50_000)
    assert "Traceback" not in logged, logged
    assert "Internal Server Error" not in logged, logged


async def timed_get(client: httpx.AsyncClient, path: str) -> tuple[httpx.Response, float]:
    """One request and how long its answer took (monotonic clock)."""
    start = time.monotonic()
    response = await client.get(path)
    return response, time.monotonic() - start


def assert_unavailable(response: httpx.Response) -> None:
    assert response.status_code == 503, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert response.json() == UNAVAILABLE  # no host, port or driver message
    assert response.headers["retry-after"] == "1"


async def test_a_frozen_database_gets_bounded_503s_then_the_pool_recovers(
    faulty_postgres: PostgresServer, faulty_postgres_url: str
) -> None:
    with served(TASKS, env_for(faulty_postgres_url)) as base_url:
        async with httpx.AsyncClient(base_url=base_url, timeout=30) as client:
            created = await client.post("/tasks", json={"title": "before the freeze"})
            assert created.status_code == 201
            with frozen(faulty_postgres):
                # The pooled connection's statement gets no answer...
                response, elapsed = await timed_get(client, "/tasks")
                assert_unavailable(response)
                assert elapsed <= 3 * BOUND
                # ...nor do new connections (the kernel accepts them, nobody answers), nor the
                # requests queued for a free connection, nor writes.
                answers = await asyncio.gather(
                    *(timed_get(client, "/tasks") for _ in range(CONCURRENT))
                )
                for response, elapsed in answers:
                    assert_unavailable(response)
                    assert elapsed <= 3 * BOUND
                start = time.monotonic()
                write = await client.post("/tasks", json={"title": "during the freeze"})
                assert_unavailable(write)
                assert time.monotonic() - start <= 3 * BOUND
            # Thawed: the same server process answers from the database again.
            listed = await client.get("/tasks")
            assert listed.status_code == 200, listed.text
            titles = [task["title"] for task in listed.json()["items"]]
            assert titles[0] == "before the freeze"


async def test_a_stopped_database_gets_503s_and_a_restart_on_the_same_port_recovers() -> None:
    with (
        start_postgres("outage") as server,
        Outage(server) as outage,
        served(TASKS, env_for(server.dsn)) as base_url,
    ):
        async with httpx.AsyncClient(base_url=base_url, timeout=30) as client:
            created = await client.post("/tasks", json={"title": "kept"})
            assert created.status_code == 201
            outage.stop()
            for path in ("/tasks", f"/tasks/{created.json()['id']}"):
                response, elapsed = await timed_get(client, path)
                assert_unavailable(response)  # not a plain-text 500
                assert elapsed <= 3 * BOUND
            outage.start()
            # The pool's old connections died with the server; it connects anew at once.
            response = await client.get(f"/tasks/{created.json()['id']}")
            assert response.status_code == 200, response.text
            assert response.json()["title"] == "kept"


async def test_shutdown_on_a_frozen_database_is_bounded(
    faulty_postgres: PostgresServer, faulty_postgres_url: str
) -> None:
    repo = PostgresTaskRepository(faulty_postgres_url, timeout=BOUND)
    await repo.open()
    try:
        await repo.create("pooled")  # a connection in the pool, to be closed
        with frozen(faulty_postgres):
            start = time.monotonic()
            await repo.close()  # the lifespan's exit: must not wait for the thaw
            assert time.monotonic() - start <= 3 * BOUND
    finally:
        await repo.close()


async def test_the_demo_readiness_fails_within_its_bound_while_the_database_is_frozen(
    faulty_postgres: PostgresServer, faulty_postgres_url: str
) -> None:
    with served(DEMO, env_for(faulty_postgres_url)) as base_url:
        async with httpx.AsyncClient(base_url=base_url, timeout=30) as client:
            assert (await client.get("/readyz")).status_code == 200
            with frozen(faulty_postgres):
                response, elapsed = await timed_get(client, "/readyz")
                assert response.status_code == 503
                assert response.json()["checks"]["database"] in ("timeout", "failed")
                assert elapsed <= 3 * BOUND
                live, _ = await timed_get(client, "/livez")  # the process itself is fine
                assert live.status_code == 200
            assert (await client.get("/readyz")).status_code == 200


@contextlib.contextmanager
def redis_frozen(process: subprocess.Popen[bytes]) -> Iterator[None]:
    """Redis stops answering until the block ends; only the redis-server this test started."""
    os.kill(process.pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.kill(process.pid, signal.SIGCONT)


async def test_a_frozen_or_stopped_redis_does_not_hold_a_write_answer(
    faulty_postgres_url: str,
) -> None:
    with redis_process() as (redis_url, redis), tempfile.TemporaryFile() as log:
        env = env_for(faulty_postgres_url, REDIS_URL=redis_url, PUBLISH_TIMEOUT=str(PUBLISH_BOUND))
        with served(DEMO, env, log) as base_url:
            async with httpx.AsyncClient(base_url=base_url, timeout=30) as client:
                warm = await client.post("/tasks", json={"title": "warm up"})
                assert warm.status_code == 201
                with redis_frozen(redis):
                    start = time.monotonic()
                    created = await client.post("/tasks", json={"title": "Buy milk"})
                    elapsed = time.monotonic() - start
                    assert created.status_code == 201  # stored whatever the feed does
                    assert elapsed <= 3 * PUBLISH_BOUND
                    # Reads never needed Redis.
                    assert (await client.get("/tasks")).status_code == 200
                # Redis is back: writes publish again (the stuck connection was dropped).
                after = await client.post("/tasks", json={"title": "after the freeze"})
                assert after.status_code == 201
                # Redis down: writes still answer, the lost event is one warning line.
                redis.terminate()
                redis.wait(10)
                start = time.monotonic()
                down = await client.post("/tasks", json={"title": "while Redis is down"})
                assert down.status_code == 201
                assert time.monotonic() - start <= 3 * PUBLISH_BOUND
                listed = (await client.get("/tasks")).json()["items"]
                assert [t["title"] for t in listed] == [
                    "warm up",
                    "Buy milk",
                    "after the freeze",
                    "while Redis is down",
                ]
        logged = tail(log, 50_000)
        # Only the writes made during the freeze and the outage lost their events.
        assert logged.count("feed event lost: created of task") == 2, logged
        assert logged.count("the event log failed") == 1, logged
