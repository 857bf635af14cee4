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
        before = sorted(conn.state)  # read first: a shared dict would show the last request's key
        conn.state["request_only"] = True
        return before

    @contextlib.asynccontextmanager
    async def lifespan(app: App) -> AsyncIterator[dict[str, Any]]:
        yield {"shared": 1}

    with TestClient(aaf([router], lifespan=lifespan)) as client:
        assert client.get("/set").json() == ["shared"]
        assert client.get("/set").json() == ["shared"]  # no "request_only" from the first one


def test_app_state_set_at_import_time_reaches_handlers() -> None:
    app = aaf([state_router()])
    app.state["config"] = "from import"
    with TestClient(app) as client:  # like a server: the scope brings its own state dict
        assert client.get("/state").json() == {"config": "from import"}


def test_app_state_set_by_a_startup_hook_reaches_handlers() -> None:
    apps: list[App] = []
    app = aaf([state_router()], on_startup=[lambda: apps[0].state.update(pool="open")])
    apps.append(app)
    with TestClient(app) as client:
        assert client.get("/state").json() == {"pool": "open"}


def test_what_the_lifespan_yields_overrides_app_state_and_is_copied_into_it() -> None:
    @contextlib.asynccontextmanager
    async def lifespan(app: App) -> AsyncIterator[dict[str, Any]]:
        yield {"db": "connected", "cache": "warm"}

    app = aaf([state_router()], lifespan=lifespan)
    app.state.update(db="placeholder", config="from import")
    with TestClient(app) as client:
        expected = {"db": "connected", "cache": "warm", "config": "from import"}
        assert client.get("/state").json() == expected
        assert app.state == expected  # code outside handlers sees the lifespan state too


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


# ------------------------------------------------------------------ the startup-failure rule
def failure_point_app(fail_at: str, events: list[str]) -> App:
    """Two startup hooks, a context manager, two mounted apps and two shutdown hooks, each
    recording what ran; the step named ``fail_at`` fails."""

    def hook(name: str) -> Any:
        def run() -> None:
            if name == fail_at:
                events.append(f"{name}!")
                raise RuntimeError(f"{name} broke")
            events.append(name)

        return run

    @contextlib.asynccontextmanager
    async def lifespan(app: App) -> AsyncIterator[Any]:
        if fail_at == "enter":
            events.append("enter!")
            raise RuntimeError("enter broke")
        events.append("enter")
        yield ["not a dict"] if fail_at == "yield" else {}
        events.append("exit")

    def mounted(name: str) -> Any:
        async def app(scope: Any, receive: Any, send: Any) -> None:
            await receive()
            if name == fail_at:
                events.append(f"{name}!")
                await send({"type": "lifespan.startup.failed", "message": f"{name} broke"})
                return
            events.append(f"{name} up")
            await send({"type": "lifespan.startup.complete"})
            await receive()
            events.append(f"{name} down")
            await send({"type": "lifespan.shutdown.complete"})

        return app

    router = Router()
    router.mount("/m1", mounted("m1"))
    router.mount("/m2", mounted("m2"))
    return aaf(
        [router],
        lifespan=lifespan,
        on_startup=[hook("start1"), hook("start2")],
        on_shutdown=[hook("stop1"), hook("stop2")],
    )


@pytest.mark.parametrize(
    ("fail_at", "expected"),
    [
        # No startup hook completed them all: no shutdown hook runs (as in Starlette).
        ("start1", ["start1!"]),
        ("start2", ["start1", "start2!"]),
        # The hooks completed: their undo (the shutdown hooks) runs.
        ("enter", ["start1", "start2", "enter!", "stop1", "stop2"]),
        # The context manager was entered: it exits normally (the code after yield runs).
        ("yield", ["start1", "start2", "enter", "exit", "stop1", "stop2"]),
        # Mounted apps that started are shut down, then the rest in reverse.
        (
            "m2",
            ["start1", "start2", "enter", "m1 up", "m2!", "m1 down", "exit", "stop1", "stop2"],
        ),
    ],
)
def test_a_failed_startup_undoes_every_step_that_completed(
    fail_at: str, expected: list[str]
) -> None:
    events: list[str] = []
    with pytest.raises(RuntimeError, match="failed to start"):
        TestClient(failure_point_app(fail_at, events)).__enter__()
    assert events == expected


def test_without_failure_shutdown_undoes_every_step_in_reverse() -> None:
    events: list[str] = []
    with TestClient(failure_point_app("nothing", events)):
        assert events == ["start1", "start2", "enter", "m1 up", "m2 up"]
    assert events[5:] == ["m2 down", "m1 down", "exit", "stop1", "stop2"]


def test_an_error_while_undoing_a_failed_startup_does_not_hide_the_startup_error(
    caplog: pytest.LogCaptureFixture,
) -> None:
    events: list[str] = []

    def stop1() -> None:
        events.append("stop1!")
        raise ValueError("stop1 broke")

    @contextlib.asynccontextmanager
    async def lifespan(app: App) -> AsyncIterator[None]:
        raise KeyError("enter broke")
        yield

    app = aaf([], lifespan=lifespan, on_shutdown=[stop1, lambda: events.append("stop2")])
    with pytest.raises(RuntimeError, match="failed to start: KeyError: 'enter broke'"):
        TestClient(app).__enter__()
    assert events == ["stop1!", "stop2"]  # the undo goes on after an error
    assert "stop1 broke" in caplog.text  # and that error is logged


def test_a_failed_shutdown_step_does_not_skip_the_others() -> None:
    events: list[str] = []

    async def fails_shutdown(scope: Any, receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "lifespan.startup.complete"})
        await receive()
        await send({"type": "lifespan.shutdown.failed", "message": "flush failed"})

    @contextlib.asynccontextmanager
    async def lifespan(app: App) -> AsyncIterator[None]:
        yield
        events.append("exit")  # not in a finally: a thrown-in error would skip it

    router = Router()
    router.mount("/m", fails_shutdown)
    client = TestClient(
        aaf([router], lifespan=lifespan, on_shutdown=[lambda: events.append("stop")])
    )
    client.__enter__()
    with pytest.raises(RuntimeError, match="failed to shut down: RuntimeError: app at '/m'"):
        client.__exit__()
    assert events == ["exit", "stop"]
