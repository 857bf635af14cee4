"""aaf.health: liveness, readiness across the lifecycle, and the checks."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest

from aaf import App, aaf
from aaf.health import Check, health_router
from aaf.lifespan import LifespanClient
from aaf.testing import AsyncTestClient, TestClient

# No timing assertions: this only bounds a wait that would otherwise hang a broken test.
GENEROUS = 30.0


async def healthy() -> None:
    return None


async def forever() -> None:
    await asyncio.get_running_loop().create_future()


def blocked_hook(entered: asyncio.Event, release: asyncio.Event) -> Callable[[], Awaitable[None]]:
    async def hook() -> None:
        entered.set()
        await release.wait()

    return hook


def test_liveness_answers_ok_without_any_lifespan() -> None:
    client = TestClient(aaf([health_router({"never": forever})]))
    response = client.get("/livez")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert response.headers["cache-control"] == "no-store"


def test_readiness_is_ok_after_startup_and_lists_the_checks() -> None:
    app = aaf([health_router({"database": healthy})])
    with TestClient(app) as client:
        response = client.get("/readyz")
        assert response.status_code == 200
        assert response.json() == {"status": "ok", "checks": {"database": "ok"}}
        assert "retry-after" not in response.headers
    assert app.lifecycle.draining
    assert not app.lifecycle.started


async def test_readiness_is_starting_until_startup_completes() -> None:
    entered, release = asyncio.Event(), asyncio.Event()
    app = aaf([health_router({"database": healthy})], on_startup=[blocked_hook(entered, release)])
    client = AsyncTestClient(app)
    lifespan = LifespanClient("test", app)
    starting = asyncio.ensure_future(lifespan.startup({}))
    await asyncio.wait_for(entered.wait(), GENEROUS)

    response = await client.get("/readyz")
    assert response.status_code == 503
    assert response.headers["retry-after"] == "1"
    assert response.json() == {
        "status": "unavailable",
        "reason": "starting",
        "checks": {"database": "skipped"},
    }

    release.set()
    assert await asyncio.wait_for(starting, GENEROUS)
    assert (await client.get("/readyz")).status_code == 200
    await lifespan.shutdown()


async def test_readiness_is_draining_while_shutdown_runs() -> None:
    entered, release = asyncio.Event(), asyncio.Event()
    app = aaf([health_router({"database": healthy})], on_shutdown=[blocked_hook(entered, release)])
    client = AsyncTestClient(app)
    lifespan = LifespanClient("test", app)
    assert await lifespan.startup({})
    assert (await client.get("/readyz")).status_code == 200

    stopping = asyncio.ensure_future(lifespan.shutdown())
    await asyncio.wait_for(entered.wait(), GENEROUS)
    response = await client.get("/readyz")
    assert response.status_code == 503
    assert response.headers["retry-after"] == "1"
    assert response.json()["reason"] == "draining"
    assert (await client.get("/livez")).status_code == 200  # still alive while draining

    release.set()
    await asyncio.wait_for(stopping, GENEROUS)


def test_a_failing_check_is_named_and_its_error_is_not_shown() -> None:
    async def broken() -> None:
        raise RuntimeError("password=hunter2")

    async def says_no() -> bool:
        return False

    checks: dict[str, Check] = {"database": healthy, "cache": broken, "queue": says_no}
    with TestClient(aaf([health_router(checks)])) as client:
        response = client.get("/readyz")
    assert response.status_code == 503
    assert response.headers["retry-after"] == "1"
    assert response.json() == {
        "status": "unavailable",
        "reason": "checks failed",
        "checks": {"database": "ok", "cache": "failed", "queue": "failed"},
    }
    assert "hunter2" not in response.text


async def test_a_slow_check_times_out_within_its_bound_and_is_cancelled() -> None:
    cancelled = asyncio.Event()

    async def hangs() -> None:
        try:
            await forever()
        except asyncio.CancelledError:
            cancelled.set()
            raise

    app = aaf([health_router({"database": healthy, "redis": hangs}, timeouts={"redis": 0.05})])
    async with AsyncTestClient(app) as client:
        response = await asyncio.wait_for(client.get("/readyz"), GENEROUS)
    assert response.status_code == 503
    assert response.json()["checks"] == {"database": "ok", "redis": "timeout"}
    assert cancelled.is_set()


async def test_checks_run_concurrently() -> None:
    # Each check waits until every check has begun: run one after the other, the first would
    # wait until its timeout and the answer would be "timeout".
    names = ["a", "b", "c"]
    begun: set[str] = set()
    all_begun = asyncio.Event()

    def waits_for_the_others(name: str) -> Check:
        async def check() -> bool:
            begun.add(name)
            if begun == set(names):
                all_begun.set()
            await all_begun.wait()
            return True

        return check

    checks = {name: waits_for_the_others(name) for name in names}
    app = aaf([health_router(checks, timeout=GENEROUS)])
    async with AsyncTestClient(app) as client:
        response = await asyncio.wait_for(client.get("/readyz"), GENEROUS)
    assert response.status_code == 200
    assert response.json()["checks"] == dict.fromkeys(names, "ok")


def test_without_a_lifespan_readiness_follows_the_checks_unless_startup_is_required() -> None:
    relaxed = TestClient(aaf([health_router({"database": healthy})]))
    assert relaxed.get("/readyz").status_code == 200

    app = aaf([health_router(require_startup=True)])
    strict = TestClient(app)
    response = strict.get("/readyz")
    assert response.status_code == 503
    assert response.json() == {"status": "unavailable", "reason": "starting", "checks": {}}
    with TestClient(app) as client:
        assert client.get("/readyz").status_code == 200


def test_prefix_paths_and_route_names() -> None:
    app: App = aaf([health_router(prefix="/_health", live="/live", ready="/ready")])
    with TestClient(app) as client:
        assert client.get("/_health/live").status_code == 200
        assert client.get("/_health/ready").status_code == 200
        assert client.get("/livez").status_code == 404
    assert app.url_for("health.ready") == "/_health/ready"


def test_bad_timeouts_are_refused_with_the_fix() -> None:
    with pytest.raises(ValueError, match="positive"):
        health_router({"database": healthy}, timeout=0)
    with pytest.raises(ValueError, match="do not exist: redis"):
        health_router({"database": healthy}, timeouts={"redis": 1.0})
