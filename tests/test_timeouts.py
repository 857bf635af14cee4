"""aaf.timeouts: the timeout() handler decorator and TimeoutMiddleware."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from aaf import Connection, HttpResponse, Middleware, Router, StreamingResponse, aaf
from aaf.testing import TestClient, WebSocketDenied
from aaf.timeouts import TimeoutMiddleware, timeout
from aaf.websocket import WebSocketDisconnect
from tests.support.servers import serve


async def forever() -> None:
    await asyncio.Event().wait()  # never set: only a cancellation ends it


def bounded_app(cleanups: list[str] | None = None, **options: Any) -> TestClient:
    router = Router()
    done = cleanups if cleanups is not None else []

    @router.get("/slow")
    @timeout(0.05, **options)
    async def slow(conn: Connection) -> str:
        try:
            await forever()
        finally:
            done.append("slow cleaned up")
        return "never"

    @router.get("/fast")
    @timeout(0.05, **options)
    async def fast(conn: Connection, **_: Any) -> dict[str, bool]:
        return {"fast": True}

    return TestClient(aaf([router]))


def test_a_slow_handler_is_answered_503_with_a_json_error() -> None:
    response = bounded_app().get("/slow")
    assert response.status_code == 503
    assert response.json() == {"error": "the request took longer than 0.05 s"}


def test_a_fast_handler_is_unaffected() -> None:
    response = bounded_app().get("/fast")
    assert response.status_code == 200
    assert response.json() == {"fast": True}


def test_the_cancelled_handler_runs_its_finally() -> None:
    cleanups: list[str] = []
    assert bounded_app(cleanups).get("/slow").status_code == 503
    assert cleanups == ["slow cleaned up"]


def test_a_custom_status() -> None:
    assert bounded_app(status=504).get("/slow").status_code == 504


def test_a_custom_response_replaces_headers_the_handler_put() -> None:
    router = Router()

    @router.get("/slow")
    @timeout(0.05, response=HttpResponse("busy, try later", 503, {"retry-after": "3"}))
    async def slow(conn: Connection) -> None:
        conn.put_resp_header("x-partial", "yes")
        await forever()

    response = TestClient(aaf([router])).get("/slow")
    assert (response.status_code, response.text) == (503, "busy, try later")
    assert response.headers["retry-after"] == "3"
    assert "x-partial" not in response.headers


def test_exception_handlers_see_the_timeout_as_an_http_error() -> None:
    router = Router()

    @router.get("/slow")
    @timeout(0.05)
    async def slow(conn: Connection) -> None:
        await forever()

    def on_503(conn: Connection, exc: Exception) -> str:
        return f"handled: {exc}"

    client = TestClient(aaf([router], exception_handlers={503: on_503}))
    response = client.get("/slow")
    assert response.status_code == 503
    assert response.text == "handled: 503: the request took longer than 0.05 s"


def test_the_handlers_own_timeout_error_is_not_taken_for_the_deadline() -> None:
    router = Router()

    @router.get("/own")
    @timeout(5)
    async def own(conn: Connection) -> None:
        raise TimeoutError("the database did not answer")

    assert TestClient(aaf([router])).get("/own").status_code == 500


def test_a_router_wide_timeout_via_decorators() -> None:
    router = Router(decorators=[timeout(0.05)])

    @router.get("/a")
    async def a(conn: Connection) -> None:
        await forever()

    @router.get("/b/<int:n>")
    async def b(conn: Connection, n: int) -> dict[str, int]:
        return {"n": n}

    client = TestClient(aaf([router]))
    assert client.get("/a").status_code == 503
    assert client.get("/b/7").json() == {"n": 7}


def test_a_stream_cut_after_it_started_is_left_unfinished(
    caplog: pytest.LogCaptureFixture,
) -> None:
    router = Router()

    @router.get("/stream")
    @timeout(0.05)
    async def stream(conn: Connection) -> None:
        await conn.send("first chunk")
        await forever()

    with caplog.at_level(logging.WARNING), pytest.raises(httpx.RemoteProtocolError):
        TestClient(aaf([router])).get("/stream")
    assert "the request took longer than 0.05 s" in caplog.text


def test_a_returned_streaming_response_is_inside_the_bound() -> None:
    router = Router()

    async def chunks() -> AsyncIterator[bytes]:
        yield b"first"
        await forever()

    @router.get("/stream")
    @timeout(0.05)
    async def stream(conn: Connection) -> StreamingResponse:
        return StreamingResponse(chunks())

    with pytest.raises(httpx.RemoteProtocolError):
        TestClient(aaf([router])).get("/stream")


def test_a_websocket_session_is_closed_at_its_limit() -> None:
    router = Router()

    @router.websocket("/ws")
    @timeout(0.05)
    async def chat(conn: Connection) -> None:
        await conn.accept()
        await conn.send_text("hello")
        await forever()

    with TestClient(aaf([router])).websocket_connect("/ws") as ws:
        assert ws.receive_text() == "hello"
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_text()
    assert (closed.value.code, closed.value.reason) == (1000, "session time limit reached")


def test_a_websocket_slow_before_accept_is_denied_with_the_status() -> None:
    router = Router()

    @router.websocket("/ws")
    @timeout(0.05)
    async def chat(conn: Connection) -> None:
        await forever()

    with (
        pytest.raises(WebSocketDenied) as denied,
        TestClient(aaf([router])).websocket_connect("/ws"),
    ):
        pass
    assert denied.value.status_code == 503


def test_the_decorator_refuses_plain_def_handlers_and_bad_bounds() -> None:
    def blocking(conn: Connection) -> str:
        return "x"

    with pytest.raises(TypeError, match="async def"):
        timeout(1)(blocking)
    with pytest.raises(ValueError, match="positive number of seconds"):
        timeout(0)
    with pytest.raises(ValueError, match="4xx/5xx"):
        timeout(1, status=200)


# ------------------------------------------------------------------ TimeoutMiddleware


def middleware_app() -> TestClient:
    router = Router()

    @router.get("/slow")
    async def slow(conn: Connection) -> None:
        await forever()

    @router.get("/fast")
    async def fast(conn: Connection) -> str:
        return "fast"

    @router.get("/stream")
    async def stream(conn: Connection) -> None:
        await conn.send("first chunk")
        await forever()

    @router.websocket("/ws")
    async def echo(conn: Connection) -> None:
        await conn.accept()
        await conn.send_text(await conn.receive_text())
        await conn.close()

    middleware = [Middleware(TimeoutMiddleware, seconds=0.05)]
    return TestClient(aaf([router], middleware=middleware))


def test_the_middleware_answers_503_for_a_slow_request() -> None:
    response = middleware_app().get("/slow")
    assert response.status_code == 503
    assert response.json() == {"error": "the request took longer than 0.05 s"}


def test_the_middleware_answers_head_without_a_body() -> None:
    # The strict test client refuses body bytes on HEAD: the 503 keeps its headers only.
    response = middleware_app().head("/slow")
    assert response.status_code == 503
    assert response.content == b""
    assert response.headers["content-length"] == str(
        len(b'{"error":"the request took longer than 0.05 s"}')
    )


def test_the_middleware_leaves_fast_requests_and_websockets_alone() -> None:
    client = middleware_app()
    assert client.get("/fast").text == "fast"
    with client.websocket_connect("/ws") as ws:
        ws.send_text("hi")
        assert ws.receive_text() == "hi"


def test_the_middleware_cuts_a_started_response() -> None:
    with pytest.raises(httpx.RemoteProtocolError):
        middleware_app().get("/stream")


# ------------------------------------------------------------------ a real server


@pytest.mark.integration
def test_a_real_server_answers_503_for_a_slow_route() -> None:
    with serve("tests.support.timeout_app:app") as url, httpx.Client(base_url=url) as client:
        slow = client.get("/slow", timeout=30)
        assert slow.status_code == 503
        assert slow.json() == {"error": "the request took longer than 0.05 s"}
        assert client.get("/fast", timeout=30).text == "fast"
