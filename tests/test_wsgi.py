"""WSGIApp: WSGI applications mounted in an aaf router (a tiny one, and Flask)."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import pytest

from aaf import Connection, Router, aaf
from aaf.testing import TestClient
from aaf.wsgi import WSGIApp
from tests.conftest import Message, call, http_scope


def tiny_wsgi(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    """Echoes what WSGI saw, in a streamed body."""
    body = environ["wsgi.input"].read()
    start_response("201 Created", [("Content-Type", "text/plain"), ("X-Wsgi", "yes")])

    def chunks() -> Iterator[bytes]:
        yield f"method={environ['REQUEST_METHOD']}\n".encode()
        yield f"script={environ['SCRIPT_NAME']}\n".encode()
        yield f"path={environ['PATH_INFO']}\n".encode()
        yield f"query={environ['QUERY_STRING']}\n".encode()
        yield f"header={environ.get('HTTP_X_THING', '')}\n".encode()
        yield b"body=" + body

    return chunks()


def mounted(wsgi: Any, **options: Any) -> Any:
    router = Router()

    @router.get("/native")
    async def native(conn: Connection) -> str:
        return "aaf"

    router.mount("/legacy", WSGIApp(wsgi, **options))
    return aaf([router])


def test_a_tiny_wsgi_app_under_a_prefix() -> None:
    with TestClient(mounted(tiny_wsgi)) as client:
        response = client.post(
            "/legacy/items/3?x=1&y=two", content=b"payload", headers={"x-thing": "t"}
        )
        native = client.get("/native")
    assert response.status_code == 201
    assert response.headers["x-wsgi"] == "yes"
    assert response.text == (
        "method=POST\nscript=/legacy\npath=/items/3\nquery=x=1&y=two\nheader=t\nbody=payload"
    )
    assert native.text == "aaf"


def test_the_mount_root() -> None:
    with TestClient(mounted(tiny_wsgi)) as client:
        response = client.get("/legacy")
    assert "script=/legacy\npath=\n" in response.text


async def test_non_ascii_query_bytes_are_percent_encoded() -> None:
    app = mounted(tiny_wsgi)
    recorder = await call(app, http_scope("/legacy/q", query=b"name=caf\xc3\xa9&x=%20"))
    assert recorder.status == 201
    assert b"query=name=caf%C3%A9&x=%20\n" in recorder.body


async def test_a_declared_body_over_the_limit_is_413_before_the_wsgi_app() -> None:
    seen: list[str] = []

    def counting(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        seen.append(environ["PATH_INFO"])
        start_response("200 OK", [])
        return [b""]

    scope = http_scope("/legacy/up", "POST", headers=[(b"content-length", b"11")])
    recorder = await call(mounted(counting, max_body_size=10), scope)
    assert recorder.status == 413
    assert recorder.body == b"Request body too large"
    assert seen == []


async def test_a_streamed_body_over_the_limit_is_413_and_reading_stops() -> None:
    # APPSEC: the WSGI app sees the body end early (it cannot be told otherwise), so whatever
    # it answers is dropped: a cut body must never pass for a complete one.
    chunks = [
        {"type": "http.request", "body": b"12345", "more_body": True},
        {"type": "http.request", "body": b"67890", "more_body": True},
        {"type": "http.request", "body": b"abcde", "more_body": False},
    ]
    scope = http_scope("/legacy/up", "POST", headers=[(b"transfer-encoding", b"chunked")])
    recorder = await call(mounted(tiny_wsgi, max_body_size=8), scope, list(chunks))
    assert recorder.status == 413
    assert recorder.body == b"Request body too large"
    assert [m["type"] for m in recorder.sent] == ["http.response.start", "http.response.body"]
    assert recorder.received == 2  # the third chunk is never read
    unlimited = await call(mounted(tiny_wsgi, max_body_size=None), scope, list(chunks))
    assert unlimited.body.endswith(b"body=1234567890abcde")
    exact = await call(mounted(tiny_wsgi, max_body_size=15), scope, list(chunks))
    assert exact.body.endswith(b"body=1234567890abcde")
    odd_length = http_scope("/legacy/up", "POST", headers=[(b"content-length", b"+5")])
    assert (await call(mounted(tiny_wsgi), odd_length, list(chunks))).status == 201
    too_long = await call(mounted(tiny_wsgi, max_body_size=8), odd_length, list(chunks))
    assert too_long.status == 413


async def test_a_body_over_the_limit_after_the_response_started_aborts_it() -> None:
    def early(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        write = start_response("200 OK", [("Content-Type", "text/plain")])
        write(b"started ")
        body = environ["wsgi.input"].read()
        return [b"got %d bytes" % len(body)]

    sent: list[dict[str, Any]] = []
    started = asyncio.Event()
    reads = 0

    async def receive() -> dict[str, Any]:
        nonlocal reads
        reads += 1
        await asyncio.wait_for(started.wait(), 10)  # only once the response is out
        return {"type": "http.request", "body": b"x" * 20, "more_body": True}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)
        if message["type"] == "http.response.start":
            started.set()

    scope = http_scope("/legacy/up", "POST", headers=[(b"transfer-encoding", b"chunked")])
    await asyncio.wait_for(mounted(early, max_body_size=8)(scope, receive, send), 10)
    # The start and what was written before the body was read; no more, and no final
    # message: the server drops the connection and the client sees a cut response.
    assert [m["type"] for m in sent] == ["http.response.start", "http.response.body"]
    assert sent[1] == {"type": "http.response.body", "body": b"started ", "more_body": True}
    assert reads == 1


async def test_the_capped_body_stays_ended() -> None:
    from aaf.wsgi import _BodyCap

    messages = [{"type": "http.request", "body": b"x" * 10, "more_body": True}]
    sent: list[Message] = []

    async def receive() -> dict[str, Any]:
        return messages.pop(0)

    async def send(message: Message) -> None:
        sent.append(message)

    cap = _BodyCap(receive, send, 5)
    assert await cap.receive() == {"type": "http.disconnect"}
    assert await cap.receive() == {"type": "http.disconnect"}  # without reading any further
    assert messages == []
    await cap.send({"type": "http.response.start", "status": 200, "headers": []})
    assert [m["status"] for m in sent if m["type"] == "http.response.start"] == [413]


async def test_websocket_scopes_are_closed() -> None:
    scope = http_scope("/legacy/ws")
    scope["type"] = "websocket"
    recorder = await call(WSGIApp(tiny_wsgi), scope)
    assert recorder.sent == [{"type": "websocket.close", "code": 1000}]


def test_missing_a2wsgi_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "a2wsgi", None)
    with pytest.raises(ImportError, match=r"pip install a2wsgi"):
        WSGIApp(tiny_wsgi)


def test_flask() -> None:
    from flask import Flask, jsonify, request, url_for

    flask_app = Flask("legacy")

    @flask_app.route("/hello/<name>")
    def hello(name: str) -> Any:
        return jsonify(greeting=f"Hello, {name}", url=url_for("hello", name="x"), args=request.args)

    @flask_app.post("/echo")
    def echo() -> Any:
        return jsonify(request.get_json())

    with TestClient(mounted(flask_app)) as client:
        hello_response = client.get("/legacy/hello/ada?lang=en")
        echo_response = client.post("/legacy/echo", json={"a": [1, 2]})
        missing = client.get("/legacy/nope")
    assert hello_response.json() == {
        "greeting": "Hello, ada",
        "url": "/legacy/hello/x",  # Flask builds URLs under the mount prefix (SCRIPT_NAME)
        "args": {"lang": "en"},
    }
    assert echo_response.json() == {"a": [1, 2]}
    assert missing.status_code == 404
