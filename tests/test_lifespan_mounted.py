"""Lifespan forwarding to mounted raw ASGI apps: which apps count as speaking lifespan, and
that the forwarding task of every other app is ended at startup (never left to delay shutdown).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

from aaf import Connection, Router, aaf
from aaf.lifespan import MOUNT_STARTUP_TIMEOUT, LifespanClient, LifespanRunner
from aaf.testing import AsyncTestClient, TestClient

from .conftest import Message

# A hang guard, not a timing assertion: the fixed code answers at once.
HANG_GUARD = 10.0


async def read_body(receive: Any) -> bytes:
    """How many raw apps read a body: loop until an http.request says no more body follows."""
    body = b""
    more_body = True
    while more_body:
        message = await receive()
        if message["type"] == "http.request":
            body += message.get("body", b"")
            more_body = message.get("more_body", False)
    return body


def body_first_app(ended: list[str]) -> Any:
    """Reads the body before looking at scope["type"]: waits for one on a lifespan scope."""

    async def app(scope: Any, receive: Any, send: Any) -> None:
        try:
            body = await read_body(receive)
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b"got " + body})
        finally:
            ended.append(scope["type"])

    return app


def http_answer_then_stuck_app(ended: list[str]) -> Any:
    """Answers any scope with an HTTP response, then waits forever."""

    async def app(scope: Any, receive: Any, send: Any) -> None:
        try:
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b"hi"})
            if scope["type"] == "lifespan":
                await asyncio.Event().wait()
        finally:
            ended.append(scope["type"])

    return app


def silent_app(ended: list[str]) -> Any:
    """Takes lifespan.startup and then never answers (nor asks for anything)."""

    async def app(scope: Any, receive: Any, send: Any) -> None:
        try:
            await receive()
            await asyncio.Event().wait()
        finally:
            ended.append(scope["type"])

    return app


def records_at_or_above(caplog: pytest.LogCaptureFixture, level: int) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= level]


async def noop_drain() -> None:
    return None


def runner_for(mounted: list[tuple[str, Any]], **kwargs: Any) -> LifespanRunner:
    return LifespanRunner(
        None, [], [], state={}, mounted_apps=lambda: mounted, drain=noop_drain, **kwargs
    )


async def test_an_app_reading_a_body_first_is_detected_without_waiting_for_a_timeout() -> None:
    ended: list[str] = []
    client = LifespanClient("/raw", body_first_app(ended), startup_timeout=None)
    async with asyncio.timeout(HANG_GUARD):
        assert await client.startup({}) is False
    assert ended == ["lifespan"]  # its forwarding task was cancelled and awaited


async def test_an_app_reading_a_body_first_does_not_hang_server_startup(
    caplog: pytest.LogCaptureFixture,
) -> None:
    ended: list[str] = []
    router = Router()
    router.mount("/raw", body_first_app(ended))
    async with asyncio.timeout(HANG_GUARD):
        async with AsyncTestClient(aaf([router])) as client:
            assert ended == ["lifespan"]
            response = await client.post("/raw/", content=b"body")
            assert (response.status_code, response.content) == (200, b"got body")
    assert records_at_or_above(caplog, logging.WARNING) == []


def test_an_app_answering_lifespan_with_http_messages_is_ended_at_startup(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # Were it waited for at shutdown, the bound below would log an error instead of hanging.
    monkeypatch.setattr(LifespanClient, "shutdown_timeout", 0.5)
    ended: list[str] = []
    router = Router()
    router.mount("/raw", http_answer_then_stuck_app(ended))
    with TestClient(aaf([router])) as client:
        assert ended == ["lifespan"]  # ended before startup completed, not left as a phantom
        assert client.get("/raw/").content == b"hi"
    assert ended == ["lifespan", "http"]
    assert records_at_or_above(caplog, logging.WARNING) == []


def test_an_app_raising_on_lifespan_is_without_lifespan_quietly(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="aaf.lifespan")

    async def http_only(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            raise RuntimeError("only HTTP")

    router = Router()
    router.mount("/plain", http_only)
    with TestClient(aaf([router])):
        pass
    assert records_at_or_above(caplog, logging.INFO) == []
    assert "app at '/plain' does not support lifespan (it returned or raised)" in caplog.text


async def test_a_silent_app_is_ended_after_the_startup_timeout(
    caplog: pytest.LogCaptureFixture,
) -> None:
    ended: list[str] = []
    runner = runner_for([("/silent", silent_app(ended))], mount_startup_timeout=0.05)
    async with asyncio.timeout(HANG_GUARD):
        await runner.startup({})
        assert ended == ["lifespan"]
        await runner.shutdown()  # nothing left to wait for
    [warning] = records_at_or_above(caplog, logging.WARNING)
    assert "app at '/silent' did not answer lifespan.startup within 0.05s" in warning
    assert "lifespan=False" in warning


def test_the_mount_startup_timeout_has_a_sane_default() -> None:
    assert runner_for([]).mount_startup_timeout == MOUNT_STARTUP_TIMEOUT
    assert 1.0 <= MOUNT_STARTUP_TIMEOUT <= 30.0


async def test_only_the_apps_the_callable_lists_at_startup_get_lifespan() -> None:
    events: list[str] = []

    def speaking(name: str) -> Any:
        async def app(scope: Any, receive: Any, send: Any) -> None:
            await receive()
            events.append(f"{name} up")
            await send({"type": "lifespan.startup.complete"})
            await receive()
            events.append(f"{name} down")
            await send({"type": "lifespan.shutdown.complete"})

        return app

    mounted = [("/a", speaking("a"))]
    runner = runner_for(mounted)
    mounted.append(("/b", speaking("b")))  # read when startup runs, not when the runner is made
    await runner.startup({})
    await runner.shutdown()
    assert events == ["a up", "b up", "b down", "a down"]


async def test_an_app_breaking_the_protocol_at_shutdown_is_ended_at_once(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # A long bound: reaching it would log "did not finish its shutdown" (and take an hour).
    monkeypatch.setattr(LifespanClient, "shutdown_timeout", 3600.0)
    ended: list[str] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        try:
            await receive()
            await send({"type": "lifespan.startup.complete"})
            await receive()  # lifespan.shutdown
            await receive()  # asks again instead of answering
        finally:
            ended.append("ended")

    client = LifespanClient("/odd", app)
    async with asyncio.timeout(HANG_GUARD):
        assert await client.startup({}) is True
        await client.shutdown()
    assert ended == ["ended"]
    assert "app at '/odd' broke the lifespan protocol at shutdown" in caplog.text


async def test_a_failed_startup_answer_raises_and_ends_the_app() -> None:
    ended: list[str] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        try:
            await receive()
            await send({"type": "lifespan.startup.failed", "message": "no config"})
            await asyncio.Event().wait()  # should have returned
        finally:
            ended.append("ended")

    client = LifespanClient("/bad", app)
    client.shutdown_timeout = 0.05  # how long it may take to return after failing
    with pytest.raises(RuntimeError, match="app at '/bad' failed to start: no config"):
        await client.startup({})
    assert ended == ["ended"]


def test_mounted_apps_see_app_state_in_their_lifespan_state() -> None:
    seen: list[Message] = []

    async def reads_state(scope: Any, receive: Any, send: Any) -> None:
        await receive()
        seen.append(dict(scope["state"]))
        await send({"type": "lifespan.startup.complete"})
        await receive()
        await send({"type": "lifespan.shutdown.complete"})

    router = Router()
    router.mount("/reader", reads_state)

    @router.route("/")
    async def index(conn: Connection) -> Any:
        return {}

    app = aaf([router])
    app.state["config"] = "from import"
    with TestClient(app):
        assert seen == [{"config": "from import"}]
