"""Regressions of the core redesign, in-process: bad JSON as the client's error, cancellation,
unencodable error details, exception handlers (500 catch-all, WebSockets), unread bodies under
streamed answers, App subclasses with middleware, uploads seen by background tasks.

Each test names the item of the core review it guards (items 6-11; 1-5 are in
``test_core_regressions.py``).
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

import pytest

from aaf import (
    App,
    Connection,
    FileResponse,
    HTTPError,
    HttpResponse,
    Middleware,
    Router,
    StreamingResponse,
    UploadFile,
    WebSocketState,
    aaf,
)
from aaf._types import ASGIApp, Message, Receive, Scope, Send
from aaf.testing import TestClient
from tests.conftest import ASGIRecorder, call, http_scope
from tests.support.ws import CONNECT, binary, drive, text, ws_scope

BAD_UTF8_JSON = b'{"a":"\xff"}'


# ---------------------------------------------------------------------------- item 6: bad UTF-8
async def test_invalid_utf8_inside_a_json_string_is_a_400() -> None:
    """Item 6: conn.json() on a JSON string holding invalid UTF-8 answers 400, not 500."""
    router = Router()

    @router.post("/json")
    async def read_json(conn: Connection) -> Any:
        return await conn.json()

    scope = http_scope("/json", method="POST", headers=[(b"content-type", b"application/json")])
    recorder = await call(aaf([router]), scope, [{"type": "http.request", "body": BAD_UTF8_JSON}])
    assert recorder.status == 400
    assert b"invalid JSON" in recorder.body


@pytest.mark.parametrize("reader", ["receive_json", "iter_json"])
async def test_a_binary_frame_with_invalid_utf8_json_closes_with_1007(reader: str) -> None:
    """Item 6: a binary frame can carry invalid UTF-8 in a JSON string: receive_json and
    iter_json close the socket with 1007 (invalid payload), not 1011."""
    router = Router()

    @router.websocket("/ws")
    async def ws(conn: Connection) -> None:
        await conn.accept()
        if reader == "receive_json":
            await conn.receive_json()
        else:
            async for _ in conn.iter_json():
                pass

    driver = await drive(aaf([router]), ws_scope("/ws"), [CONNECT, binary(BAD_UTF8_JSON)])
    assert driver.close["code"] == 1007


# ---------------------------------------------------------------------------- item 7: cancel
async def test_background_work_of_a_request_cancelled_before_its_answer_never_runs() -> None:
    """Item 7: a request cancelled before it answered drops its background tasks. (One
    cancelled after its answer still runs them: test_background.py,
    test_work_goes_on_when_the_server_cancels_the_request.)"""
    ran: list[str] = []
    waiting = asyncio.Event()
    router = Router()

    @router.get("/forever")
    async def forever(conn: Connection) -> None:
        conn.add_background(ran.append, "background")
        waiting.set()
        await asyncio.Event().wait()

    app = aaf([router])
    recorder = ASGIRecorder()
    request = asyncio.ensure_future(app(http_scope("/forever"), recorder.receive, recorder.send))
    await asyncio.wait_for(waiting.wait(), 5)
    request.cancel()
    await asyncio.wait({request})
    assert request.cancelled()
    await asyncio.wait_for(app.background.drain(), 5)
    assert app.background.pending == 0
    assert ran == []
    assert recorder.sent == []


async def test_sending_to_another_dead_socket_closes_this_one_with_1011() -> None:
    """Item 7: a WebSocketDisconnect raised by sending to ANOTHER socket that is gone is an
    error of this handler: its own, still open socket is closed with 1011."""

    async def connect_once() -> Message:
        return CONNECT

    async def peer_gone(message: Message) -> None:
        if message["type"] == "websocket.send":
            raise OSError("peer gone")

    router = Router()

    @router.websocket("/ws")
    async def ws(conn: Connection) -> None:
        await conn.accept()
        other = Connection(ws_scope("/other"), connect_once, peer_gone)
        await other.accept()
        await other.send_text("to a dead peer")  # raises WebSocketDisconnect

    driver = await drive(aaf([router]), ws_scope("/ws"), [CONNECT, text("hi")])
    assert driver.types == ["websocket.accept", "websocket.close"]
    assert driver.close["code"] == 1011


# ---------------------------------------------------------------------------- item 8: errors
class Unencodable:
    """A detail msgspec cannot encode; its str() is what the client should see."""

    def __str__(self) -> str:
        return "a domain object"


def raising_router() -> Router:
    router = Router()

    @router.get("/http")
    async def http(conn: Connection) -> None:
        raise HTTPError(400, detail=Unencodable())

    @router.websocket("/before")
    async def before(conn: Connection) -> None:
        raise HTTPError(400, detail=Unencodable())

    @router.websocket("/after")
    async def after(conn: Connection) -> None:
        await conn.accept()
        raise HTTPError(400, detail=Unencodable())

    return router


async def test_an_unencodable_error_detail_is_sent_as_its_str() -> None:
    """Item 8: HTTPError(400, detail=<unencodable>) answers 400 with str(detail), not a 500."""
    recorder = await call(aaf([raising_router()]), http_scope("/http"))
    assert recorder.status == 400
    assert recorder.body == b'{"error":"a domain object"}'


async def test_an_unencodable_error_detail_on_a_websocket() -> None:
    """Item 8: the same detail denies a WebSocket with 400 before accept and closes it (1008,
    reason str(detail)) after."""
    app = aaf([raising_router()])
    driver = await drive(app, ws_scope("/before"))
    assert driver.types == ["websocket.http.response.start", "websocket.http.response.body"]
    assert driver.sent[0]["status"] == 400
    assert driver.sent[1]["body"] == b'{"error":"a domain object"}'
    driver = await drive(app, ws_scope("/after"), [CONNECT, text("hi")])
    assert driver.close["code"] == 1008
    assert driver.close["reason"] == "a domain object"


async def test_a_handler_for_500_catches_unhandled_exceptions() -> None:
    """Item 8: exception_handlers={500: h} answers an unhandled RuntimeError."""
    router = Router()

    @router.get("/bug")
    async def bug(conn: Connection) -> None:
        raise RuntimeError("bug")

    def on_500(conn: Connection, exc: Exception) -> HttpResponse:
        return HttpResponse(f"sorry: {type(exc).__name__}", 503)

    recorder = await call(aaf([router], exception_handlers={500: on_500}), http_scope("/bug"))
    assert recorder.status == 503
    assert recorder.body == b"sorry: RuntimeError"


class Teapot(Exception):
    pass


async def test_an_exception_handler_answers_a_websocket_error() -> None:
    """Item 8: a WebSocket handler's exception with an exception_handlers entry: before accept
    the handler's response is the denial; after accept the handler closes with its own code."""
    router = Router()

    @router.websocket("/before")
    async def before(conn: Connection) -> None:
        raise Teapot()

    @router.websocket("/after")
    async def after(conn: Connection) -> None:
        await conn.accept()
        raise Teapot()

    async def on_teapot(conn: Connection, exc: Teapot) -> HttpResponse | None:
        if conn.ws_state == WebSocketState.CONNECTING:
            return HttpResponse("short and stout", 418)
        await conn.close(4018, "teapot")
        return None

    app = aaf([router], exception_handlers={Teapot: on_teapot})
    driver = await drive(app, ws_scope("/before"))
    assert driver.sent[0]["type"] == "websocket.http.response.start"
    assert driver.sent[0]["status"] == 418
    assert driver.sent[1]["body"] == b"short and stout"
    driver = await drive(app, ws_scope("/after"), [CONNECT, text("hi")])
    assert (driver.close["code"], driver.close["reason"]) == (4018, "teapot")


# ---------------------------------------------------------------------------- item 9: bodies
BIG_BODY = b"b" * (1_200_000)  # past the default 1 MiB max_body_size


def answering_router(tmp_path: Path) -> Router:
    large = tmp_path / "large.bin"
    large.write_bytes(bytes(range(256)) * 1000)  # 256 000 bytes, four chunks of 64 KiB
    router = Router()

    @router.post("/stream")
    async def stream(conn: Connection) -> StreamingResponse:
        return StreamingResponse([b"one ", b"two"])

    @router.post("/file")
    async def file(conn: Connection) -> FileResponse:
        return FileResponse(large, chunk_size=64 * 1024)

    @router.post("/echo")
    async def echo(conn: Connection) -> StreamingResponse:
        chunks = conn.body_iter()
        return StreamingResponse(chunks)

    return router


@pytest.mark.parametrize("path", ["/stream", "/file"])
def test_a_streamed_answer_to_a_large_unread_body_is_no_413(tmp_path: Path, path: str) -> None:
    """Item 9: a StreamingResponse or a large FileResponse returned without reading a 1.2 MB
    body is sent whole with its 200 (the unread body is dropped, not read into a 413)."""
    client = TestClient(aaf([answering_router(tmp_path)]))
    response = client.post(path, content=BIG_BODY)
    assert response.status_code == 200
    if path == "/stream":
        assert response.content == b"one two"
    else:
        assert response.content == (tmp_path / "large.bin").read_bytes()


async def test_a_body_claimed_before_the_answer_streams_back(tmp_path: Path) -> None:
    """Item 9: a handler that claims the body (conn.body_iter()) and streams it back gets all
    of it, chunk by chunk (no disconnect watcher takes the body from it)."""
    parts = [b"p" * 100_000, b"q" * 100_000, b"r" * 50_000]
    messages: list[dict[str, Any]] = [
        {"type": "http.request", "body": part, "more_body": True} for part in parts
    ]
    messages.append({"type": "http.request", "body": b"", "more_body": False})
    app = aaf([answering_router(tmp_path)])
    recorder = await call(app, http_scope("/echo", method="POST"), messages)
    assert recorder.status == 200
    assert recorder.body == b"".join(parts)


# ---------------------------------------------------------------------------- item 10: subclass
class PassThrough:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, send)


class Point:
    def __init__(self, x: int, y: int) -> None:
        self.x, self.y = x, y


class PointApp(App):
    """An App whose send_result also knows how to send a Point."""

    async def send_result(self, conn: Connection, result: Any) -> None:
        if isinstance(result, Point):
            result = {"x": result.x, "y": result.y}
        await super().send_result(conn, result)


async def test_an_app_subclass_keeps_its_overrides_with_middleware() -> None:
    """Item 10: a subclass of App given middleware stays that class, and its overridden
    send_result is used."""
    router = Router()

    @router.get("/point")
    async def point(conn: Connection) -> Point:
        return Point(1, 2)

    app = PointApp([router], middleware=[Middleware(PassThrough)])
    assert type(app) is PointApp
    recorder = await call(app, http_scope("/point"))
    assert recorder.status == 200
    assert recorder.body == b'{"x":1,"y":2}'


# ---------------------------------------------------------------------------- item 11: uploads
def test_background_tasks_see_uploads_open_and_uploads_close_after(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Item 11: background tasks added before and after ``await conn.form()`` both read the
    upload (still open); the upload is closed once the request is over."""
    read: list[tuple[str, bytes]] = []
    uploads: list[UploadFile] = []
    router = Router()

    async def read_upload(label: str) -> None:
        upload = uploads[0]
        await upload.seek(0)
        read.append((label, await upload.read()))

    @router.post("/upload")
    async def upload(conn: Connection) -> str:
        conn.add_background(read_upload, "before form()")
        form = await conn.form()
        file = form.get("doc")
        assert isinstance(file, UploadFile)
        uploads.append(file)
        conn.add_background(read_upload, "after form()")
        return "stored"

    caplog.set_level(logging.WARNING)
    client = TestClient(aaf([router]))
    response = client.post("/upload", files={"doc": ("a.txt", b"upload bytes", "text/plain")})
    assert response.status_code == 200
    assert read == [("before form()", b"upload bytes"), ("after form()", b"upload bytes")]
    assert uploads[0].closed
    assert not caplog.records, [r.getMessage() for r in caplog.records]
