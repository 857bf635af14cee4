"""Lifespan: hooks, a state-yielding context manager, failures, forwarding to mounted apps."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import pytest

from aaf import App, Connection, Router, aaf
from aaf.lifespan import LifespanClient
from aaf.testing import AsyncTestClient, TestClient

from .conftest import Message


def state_router() -> Router:
    router = Router()

    @router.route("/state")
    async def state(conn: Connection) -> Any:
        return {key: str(value) for key, value in conn.state.items()}

    return router


def test_hooks_and_context_manager_run_in_order_and_state_reaches_handlers() -> None:
    events: list[str] = []

    async def async_start() -> None:
        events.append("async startup")

    @contextlib.asynccontextmanager
    async def lifespan(app: App) -> AsyncIterator[dict[str, Any]]:
        events.append("enter")
        yield {"db": "connected"}
        events.append("exit")

    app = aaf(
        [state_router()],
        lifespan=lifespan,
        on_startup=[lambda: events.append("sync startup"), async_start],
        on_shutdown=[lambda: events.append("shutdown 1"), lambda: events.append("shutdown 2")],
    )
    with TestClient(app) as client:
        assert client.get("/state").json() == {"db": "connected"}
        assert events == ["sync startup", "async startup", "enter"]
    assert events[3:] == ["exit", "shutdown 1", "shutdown 2"]  # hooks in listed order


def test_bare_async_generator_lifespan_is_accepted() -> None:
    async def lifespan(app: App) -> AsyncIterator[dict[str, Any]]:
        yield {"pool": 1}

    with TestClient(aaf([state_router()], lifespan=lifespan)) as client:
        assert client.get("/state").json() == {"pool": "1"}


def test_state_is_a_per_request_copy() -> None:
    router = Router()

    @router.route("/set")
    async def set_(conn: Connection) -> Any:
        conn.state["request_only"] = True
        return sorted(conn.state)

    @contextlib.asynccontextmanager
    async def lifespan(app: App) -> AsyncIterator[dict[str, Any]]:
        yield {"shared": 1}

    with TestClient(aaf([router], lifespan=lifespan)) as client:
        assert client.get("/set").json() == ["request_only", "shared"]
        assert client.get("/set").json() == ["request_only", "shared"]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"on_startup": [lambda: 1 / 0]}, "ZeroDivisionError"),
        ({"lifespan": lambda app: "nope"}, "must return an async context manager"),
        ({"lifespan": "yields-a-list"}, "yield a dict"),
    ],
)
def test_failing_startup_reports_startup_failed(kwargs: dict[str, Any], message: str) -> None:
    if kwargs.get("lifespan") == "yields-a-list":

        @contextlib.asynccontextmanager
        async def bad(app: App) -> AsyncIterator[Any]:
            yield ["not", "a", "dict"]

        kwargs = {"lifespan": bad}
    with pytest.raises(RuntimeError, match=f"failed to start: .*{message}"):
        TestClient(aaf([], **kwargs)).__enter__()


async def test_startup_failure_message_goes_to_the_server() -> None:
    sent: list[Message] = []
    incoming: list[Message] = [{"type": "lifespan.startup"}]

    async def receive() -> Message:
        return incoming.pop(0)

    async def send(message: Message) -> None:
        sent.append(message)

    def explode() -> None:
        raise ValueError("database unreachable")

    await aaf([], on_startup=[explode])({"type": "lifespan"}, receive, send)
    assert sent == [
        {"type": "lifespan.startup.failed", "message": "ValueError: database unreachable"}
    ]


async def test_shutdown_failure_is_reported() -> None:
    def explode() -> None:
        raise ValueError("flush failed")

    client = AsyncTestClient(aaf([], on_shutdown=[explode]))
    await client.__aenter__()
    with pytest.raises(RuntimeError, match="failed to shut down: ValueError: flush failed"):
        await client.__aexit__()


def test_lifespan_is_forwarded_to_mounted_apps() -> None:
    events: list[str] = []

    @contextlib.asynccontextmanager
    async def inner_lifespan(app: App) -> AsyncIterator[dict[str, Any]]:
        events.append("inner up")
        yield {"inner": "ready"}
        events.append("inner down")

    inner_router = Router()

    @inner_router.route("/")
    async def inner_state(conn: Connection) -> Any:
        return {"state": conn.state}

    inner = aaf([inner_router], lifespan=inner_lifespan)

    async def raw_lifespan_app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await receive()
            events.append("raw up")
            await send({"type": "lifespan.startup.complete"})
            await receive()
            events.append("raw down")
            await send({"type": "lifespan.shutdown.complete"})

    async def http_only_app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            raise RuntimeError("only HTTP")  # the ASGI way to say "no lifespan"

    outer = Router()
    outer.mount("/inner", inner)
    outer.mount("/raw", raw_lifespan_app)
    outer.mount("/plain", http_only_app)
    outer.mount("/again", inner)  # the same app twice starts once

    @contextlib.asynccontextmanager
    async def outer_lifespan(app: App) -> AsyncIterator[None]:
        events.append("outer up")
        yield
        events.append("outer down")

    with TestClient(aaf([outer], lifespan=outer_lifespan)) as client:
        assert events == ["outer up", "inner up", "raw up"]
        assert client.get("/inner/").json() == {"state": {"inner": "ready"}}
    assert events[3:] == ["raw down", "inner down", "outer down"]


def test_failing_mounted_app_fails_the_whole_startup() -> None:
    async def failing(scope: Any, receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "lifespan.startup.failed", "message": "no config"})

    router = Router()
    router.mount("/bad", failing)
    with pytest.raises(RuntimeError, match="app at '/bad' failed to start: no config"):
        TestClient(aaf([router])).__enter__()


async def test_lifespan_client_needs_startup_first() -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        return None

    client = LifespanClient("x", app)
    with pytest.raises(RuntimeError, match="not started"):
        await client.shutdown()
    assert await client.startup({}) is False


async def test_async_client_runs_lifespan() -> None:
    events: list[str] = []
    app = aaf(
        [state_router()],
        on_startup=[lambda: events.append("up")],
        on_shutdown=[lambda: events.append("down")],
    )
    async with AsyncTestClient(app) as client:
        assert (await client.get("/state")).json() == {}
        assert events == ["up"]
    assert events == ["up", "down"]
    await asyncio.sleep(0)


def test_a_mounted_app_that_never_finishes_shutdown_is_cancelled(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(LifespanClient, "shutdown_timeout", 0.2)
    stuck = asyncio.Event()

    async def never_stops(scope: Any, receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "lifespan.startup.complete"})
        await receive()
        await stuck.wait()  # never answers lifespan.shutdown

    router = Router()
    router.mount("/stuck", never_stops)
    with TestClient(aaf([router])):
        pass
    assert "did not finish its shutdown within 0.2s" in caplog.text
