"""Rate limits in a real redis-server: atomic, one round trip, shared by server processes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
import redis.asyncio as redis

from aaf import Middleware, Router, aaf
from aaf.middleware.ratelimit import RateLimitMiddleware
from aaf.ratelimit_backends import RateLimitBackendError, RedisBackend
from aaf.testing import AsyncTestClient
from tests.support.redis import redis_server
from tests.support.servers import free_port, serve

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def redis_url() -> Iterator[str]:
    with redis_server() as url:
        yield url


@pytest.fixture
async def backend(redis_url: str, request: pytest.FixtureRequest) -> AsyncIterator[RedisBackend]:
    # A prefix per test: tests share the server, never a key.
    limiter = RedisBackend(redis_url, prefix=f"test:{request.node.name}:")
    try:
        yield limiter
    finally:
        await limiter.aclose()


async def test_gcra_in_redis(backend: RedisBackend) -> None:
    results = [await backend.hit("k", 20.0, 60.0) for _ in range(4)]  # 3 per minute
    assert [allowed for allowed, _ in results] == [True, True, True, False]
    assert results[0][1] == pytest.approx(20, abs=0.5)
    assert results[2][1] == pytest.approx(60, abs=0.5)
    assert results[3][1] == pytest.approx(60, abs=0.5)  # refused: the TAT did not move
    assert (await backend.hit("other", 20.0, 60.0))[0]


async def test_concurrent_checks_are_atomic(backend: RedisBackend) -> None:
    results = await asyncio.gather(*(backend.hit("k", 6.0, 60.0) for _ in range(40)))
    assert sum(allowed for allowed, _ in results) == 10


async def test_one_round_trip_per_check(backend: RedisBackend, redis_url: str) -> None:
    await backend.hit("warm", 1.0, 10.0)  # loads the script (EVALSHA, then EVAL once)
    observer = redis.Redis.from_url(redis_url)
    try:
        before = await observer.info("commandstats")
        for _ in range(10):
            await backend.hit("k", 1.0, 10.0)
        after = await observer.info("commandstats")
    finally:
        await observer.aclose()
    calls = {
        name.removeprefix("cmdstat_"): stats["calls"] - before.get(name, {"calls": 0})["calls"]
        for name, stats in after.items()
    }
    # One EVALSHA per check; TIME, GET and SET ran inside it, in Redis (and the INFO is ours).
    assert {name: count for name, count in calls.items() if count} == {
        "evalsha": 10,
        "time": 10,
        "get": 10,
        "set": 10,
        "info": 1,
    }


async def test_keys_expire_in_redis(backend: RedisBackend, redis_url: str) -> None:
    await backend.hit("k", 2.0, 10.0)
    observer = redis.Redis.from_url(redis_url)
    try:
        ttl = await observer.pttl(backend.prefix + "k")
    finally:
        await observer.aclose()
    assert 0 < ttl <= 2000  # the key lives only as long as its TAT is ahead


async def test_redis_down_fails_fast_and_skips_redis_for_a_while() -> None:
    port = free_port()  # nothing listens there
    backend = RedisBackend(f"redis://127.0.0.1:{port}/0", timeout=0.5, retry_after_failure=60)
    try:
        with pytest.raises(RateLimitBackendError, match="Redis rate limit check failed"):
            await backend.hit("k", 1.0, 10.0)
        with pytest.raises(RateLimitBackendError, match="not asking again yet"):
            await backend.hit("k", 1.0, 10.0)
    finally:
        await backend.aclose()


async def test_the_middleware_fails_open_when_redis_is_down() -> None:
    router = Router()

    @router.get("/hello")
    async def hello(conn: object) -> str:
        return "hello"

    backend = RedisBackend(f"redis://127.0.0.1:{free_port()}/0", timeout=0.5)
    app = aaf(
        [router], middleware=[Middleware(RateLimitMiddleware, limit="1/hour", backend=backend)]
    )
    try:
        async with AsyncTestClient(app) as client:
            statuses = [(await client.get("/hello")).status_code for _ in range(3)]
    finally:
        await backend.aclose()
    assert statuses == [200, 200, 200]


def test_redis_backend_needs_a_url_or_a_client() -> None:
    with pytest.raises(ValueError, match="url="):
        RedisBackend()


def test_two_servers_share_one_limit(redis_url: str) -> None:
    limit = 5
    env = {"AAF_TEST_REDIS": redis_url, "AAF_TEST_RATE": f"{limit}/hour"}
    target = "tests.support.ratelimit_app:app"
    with serve(target, env=env) as one, serve(target, env=env) as two, httpx.Client() as http:
        answers = [http.get((one, two)[number % 2] + "/hello") for number in range(2 * limit)]
    statuses = [answer.status_code for answer in answers]
    assert statuses.count(200) == limit, statuses
    assert statuses.count(429) == limit, statuses
    assert statuses[:limit] == [200] * limit  # the first N, whichever server they reached
    assert answers[-1].headers["ratelimit-policy"] == f'"default";q={limit};w=3600'
