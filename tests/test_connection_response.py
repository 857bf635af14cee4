"""Connection: the response state machine, on_finish callbacks, clients that leave."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from aaf import Connection, HttpResponse, ResponseStateError, Router, aaf
from aaf.cookies import CookieError
from aaf.testing import TestClient
from tests.support.one_route import app_with

from .conftest import Message, call, http_scope, noop_send


# ---------------------------------------------------------------------------- response side
def test_imperative_response_with_status_headers_and_cookies() -> None:
    async def handler(conn: Connection) -> None:
        conn.resp_status_code = 201
        conn.put_resp_header("x-one", "1")
        conn.put_resp_cookie("sid", "abc", httponly=True)
        conn.delete_resp_cookie("old")
        assert not conn.started
        await conn.send("part1 ", finish=False)
        assert conn.started
        assert not conn.finished
        await conn.send(b"part2")
        await conn.finish()
        assert conn.finished

    response = TestClient(app_with(handler)).get("/")
    assert response.status_code == 201
    assert response.text == "part1 part2"
    assert response.headers["x-one"] == "1"
    assert response.headers["content-type"] == "text/plain; charset=utf-8"
    assert "content-length" not in response.headers
    cookies = response.headers.get_list("set-cookie")
    assert cookies[0] == "sid=abc; Path=/; HttpOnly; SameSite=Lax"
    assert cookies[1].startswith("old=; Max-Age=0; Expires=")


def test_send_with_finish_in_one_call_sets_content_length() -> None:
    async def handler(conn: Connection) -> None:
        await conn.send(b"\x00\x01", finish=True)

    response = TestClient(app_with(handler)).get("/")
    assert response.headers["content-length"] == "2"
    assert response.headers["content-type"] == "application/octet-stream"
    assert response.content == b"\x00\x01"


def test_user_content_type_wins_over_the_default() -> None:
    async def handler(conn: Connection) -> None:
        conn.put_resp_header("content-type", "text/csv")
        await conn.send("a,b\n", finish=True)

    response = TestClient(app_with(handler)).get("/")
    assert response.headers.get_list("content-type") == ["text/csv"]


def test_misuse_raises_errors_that_explain_the_fix() -> None:
    errors: list[str] = []

    async def handler(conn: Connection) -> None:
        await conn.send("a")
        attempts: list[Callable[[], None]] = [
            lambda: conn.put_resp_header("x", "1"),
            lambda: conn.put_resp_cookie("a", "b"),
        ]
        for attempt in attempts:
            with pytest.raises(ResponseStateError) as info:
                attempt()
            errors.append(str(info.value))
        with pytest.raises(ResponseStateError) as info:
            await HttpResponse("again", conn)
        errors.append(str(info.value))
        await conn.finish()
        with pytest.raises(ResponseStateError) as info:
            await conn.send("late")
        errors.append(str(info.value))
        with pytest.raises(ResponseStateError) as info:
            await conn.finish()
        errors.append(str(info.value))
        with pytest.raises(ResponseStateError) as info:
            await HttpResponse("again", conn)
        errors.append(str(info.value))

    assert TestClient(app_with(handler)).get("/").text == "a"
    assert "Set headers before the first conn.send()" in errors[0]
    assert "already started" in errors[1]
    assert "end it with conn.finish()" in errors[2]
    assert "already finished" in errors[3]
    assert "call finish() once" in errors[4]
    assert "already sent" in errors[5]


def test_bad_header_or_cookie_raises_before_anything_is_sent() -> None:
    refused: list[str] = []

    async def handler(conn: Connection) -> None:
        try:
            conn.put_resp_cookie("a", "x\r\ny")
        except CookieError:
            refused.append("cookie")
        conn.put_resp_header("x-bad", "a\r\nset-cookie: evil=1")

    response = TestClient(app_with(handler)).get("/")
    assert refused == ["cookie"]
    assert response.status_code == 500
    assert "evil" not in str(response.headers)


def test_head_sends_headers_without_body() -> None:
    async def handler(conn: Connection) -> None:
        await conn.send("hello", finish=True)

    async def streamed(conn: Connection) -> None:
        await conn.send("a")
        await conn.send("b")
        await conn.finish()

    router = Router()
    router.add_route("/one", handler)
    router.add_route("/many", streamed)
    client = TestClient(aaf([router]))
    response = client.head("/one")
    assert response.headers["content-length"] == "5"
    assert response.content == b""
    assert client.head("/many").content == b""
    assert client.get("/many").text == "ab"


async def test_send_json_and_204_has_no_body_or_length() -> None:
    async def handler(conn: Connection) -> None:
        await conn.send_json({"a": 1}, status_code=202)

    rec = await call(app_with(handler), http_scope("/"))
    assert (rec.status, rec.body) == (202, b'{"a":1}')

    async def no_content(conn: Connection) -> None:
        conn.resp_status_code = 204
        await conn.send_json({"ignored": True})

    rec = await call(app_with(no_content), http_scope("/"))
    assert rec.status == 204
    assert rec.body == b""
    assert rec.header(b"content-length") is None


async def test_on_finish_callbacks_run_after_the_response_even_on_errors(
    caplog: pytest.LogCaptureFixture,
) -> None:
    order: list[str] = []

    async def async_cb() -> None:
        order.append("async")

    def broken() -> None:
        raise RuntimeError("cleanup failed")

    async def handler(conn: Connection) -> None:
        conn.on_finish(lambda: order.append("sync"))
        conn.on_finish(async_cb)
        conn.on_finish(broken)
        raise ValueError("boom")

    rec = await call(app_with(handler), http_scope("/"))
    assert rec.status == 500
    assert order == ["async", "sync"]  # newest first; the broken one is logged, not raised
    assert "on_finish callback" in caplog.text


async def test_a_cancelled_request_still_runs_every_on_finish_callback() -> None:
    import asyncio

    log: list[str] = []
    router = Router()

    @router.post("/up")
    async def up(conn: Connection) -> Any:
        conn.on_finish(lambda: log.append("released"))
        await conn.is_disconnected()  # starts a disconnect watcher (its stop is an on_finish)
        conn.add_background(asyncio.sleep, 30)
        return {"ok": True}

    forever = asyncio.Event()
    messages: list[Message] = [{"type": "http.request", "body": b"", "more_body": False}]

    async def receive() -> Message:
        if messages:
            return messages.pop()
        await forever.wait()
        return {"type": "http.disconnect"}

    task = asyncio.ensure_future(aaf([router])(http_scope("/up", "POST"), receive, noop_send))
    await asyncio.sleep(0.05)
    task.cancel()  # a server shutting down cancels the request task
    with pytest.raises(asyncio.CancelledError):
        await task
    await asyncio.sleep(0)
    assert log == ["released"]
    leftovers = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    assert [t for t in leftovers if "_watch" in repr(t.get_coro())] == []


def test_imperative_streaming_to_a_client_that_left_ends_quietly(
    caplog: pytest.LogCaptureFixture,
) -> None:
    import asyncio

    sent: list[int] = []

    async def count(conn: Connection) -> None:
        for i in range(100):
            await conn.send(f"count {i}\n")
            sent.append(i)
            await asyncio.sleep(0.01)
        await conn.finish()

    with TestClient(app_with(count)) as client, client.stream("GET", "/") as response:
        next(response.iter_bytes())
    assert len(sent) < 100  # the handler stopped at the first send after the client left
    assert "unhandled error" not in caplog.text
