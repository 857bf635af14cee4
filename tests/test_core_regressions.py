"""Regressions of the core redesign, in-process: no body where none may go, one Content-Type,
take-overs through ``conn.asgi_send``, mounts at their own prefix, clients that left.

Each test names the item of the core review it guards (items 1-5; 6-11 are in
``test_core_regressions_errors.py``, the real-server checks in ``test_core_regressions_server.py``).
"""

from __future__ import annotations

import logging
import types
from collections.abc import AsyncGenerator, Iterator
from pathlib import Path
from typing import Any, cast

import pytest

from aaf import (
    Connection,
    EventSourceResponse,
    FileResponse,
    HTTPError,
    HttpResponse,
    JsonResponse,
    Router,
    StaticFiles,
    StreamingResponse,
    aaf,
)
from aaf._types import Message, Receive, Scope, Send
from aaf.testing import TestClient
from tests.conftest import call, http_scope
from tests.support.ws import drive, text, ws_scope


class ClosableChunks:
    """A sync iterable with ``close()``, like a file: records whether it was read or closed."""

    def __init__(self) -> None:
        self.iterated = False
        self.closed = False

    def __iter__(self) -> Iterator[bytes]:
        self.iterated = True
        yield b"never sent"

    def close(self) -> None:
        self.closed = True


class Tracked:
    """An async generator body; records whether it started, and tells whether it was closed."""

    def __init__(self) -> None:
        self.started = False
        self.body = cast(types.AsyncGeneratorType[bytes, None], self._chunks())

    async def _chunks(self) -> AsyncGenerator[bytes, None]:
        self.started = True
        yield b"never sent"

    @property
    def closed(self) -> bool:
        # An async generator closed before its first step (aclose()) has no frame left; one
        # merely dropped keeps it until garbage collection.
        return self.body.ag_frame is None


# ---------------------------------------------------------------------------- item 1: no body
def no_body_app(tmp_path: Path) -> aaf:
    small = tmp_path / "small.txt"
    small.write_bytes(b"small file")
    large = tmp_path / "large.bin"
    large.write_bytes(b"x" * 200_000)  # more than FileResponse's chunk_size below
    router = Router()

    @router.get("/imperative/<int:status>")
    async def imperative(conn: Connection, status: int) -> None:
        conn.resp_status_code = status
        await conn.send("x", finish=False)
        await conn.send("y", finish=False)
        await conn.finish()

    @router.get("/stream/<int:status>")
    async def stream(conn: Connection, status: int) -> StreamingResponse:
        return StreamingResponse([b"a", b"b"], status_code=status)

    @router.get("/file/<int:status>/<name>")
    async def file(conn: Connection, status: int, name: str) -> FileResponse:
        return FileResponse(tmp_path / name, status_code=status, chunk_size=64 * 1024)

    return aaf([router])


@pytest.mark.parametrize("status", [204, 304])
@pytest.mark.parametrize(
    "path", ["/imperative/{}", "/stream/{}", "/file/{}/small.txt", "/file/{}/large.bin"]
)
async def test_no_body_goes_out_on_204_and_304(tmp_path: Path, path: str, status: int) -> None:
    """Item 1: conn.send on a 204/304, StreamingResponse and FileResponse with those statuses
    send the start and an empty last body message only (the strict recorder refuses more)."""
    recorder = await call(no_body_app(tmp_path), http_scope(path.format(status)))
    assert recorder.status == status
    assert recorder.body == b""
    assert recorder.header(b"content-length") is None
    assert [m["type"] for m in recorder.sent] == ["http.response.start", "http.response.body"]


@pytest.mark.parametrize("status", [204, 304])
def test_no_body_on_204_and_304_through_the_strict_test_client(tmp_path: Path, status: int) -> None:
    """Item 1: the same answers pass the strict TestClient (it refuses a body on 204/304)."""
    client = TestClient(no_body_app(tmp_path))
    for path in ("/imperative/{}", "/stream/{}", "/file/{}/small.txt", "/file/{}/large.bin"):
        response = client.get(path.format(status))
        assert response.status_code == status, path
        assert response.content == b"", path


async def test_head_on_a_stream_closes_its_content_without_reading_it() -> None:
    """Item 1: HEAD on a StreamingResponse closes an async generator (aclose()) and a
    file-like (close()) without iterating either, and sends no body."""
    tracked = Tracked()
    closable = ClosableChunks()
    router = Router()

    @router.get("/gen")
    async def gen(conn: Connection) -> StreamingResponse:
        return StreamingResponse(tracked.body)

    @router.get("/filelike")
    async def filelike(conn: Connection) -> StreamingResponse:
        return StreamingResponse(closable)

    app = aaf([router])
    for path in ("/gen", "/filelike"):
        recorder = await call(app, http_scope(path, method="HEAD"))
        assert recorder.status == 200
        assert recorder.body == b""
    assert tracked.closed
    assert not tracked.started
    assert closable.closed
    assert not closable.iterated


async def test_head_on_an_event_stream_closes_its_source() -> None:
    """Item 1: EventSourceResponse on HEAD: headers only, the event source closed unread."""
    tracked = Tracked()
    router = Router()

    @router.get("/events")
    async def events(conn: Connection) -> EventSourceResponse:
        return EventSourceResponse(tracked.body, ping_interval=None)

    recorder = await call(aaf([router]), http_scope("/events", method="HEAD"))
    assert recorder.status == 200
    assert recorder.header(b"content-type") == b"text/event-stream"
    assert recorder.body == b""
    assert tracked.closed
    assert not tracked.started


def test_head_on_streams_through_the_strict_test_client() -> None:
    """Item 1: the strict TestClient accepts HEAD answers of streams (it refuses bodies)."""
    router = Router()

    @router.get("/gen")
    async def gen(conn: Connection) -> StreamingResponse:
        return StreamingResponse(Tracked().body)

    @router.get("/events")
    async def events(conn: Connection) -> EventSourceResponse:
        return EventSourceResponse(Tracked().body)

    client = TestClient(aaf([router]))
    for path in ("/gen", "/events"):
        response = client.head(path)
        assert response.status_code == 200, path
        assert response.content == b"", path


# ---------------------------------------------------------------------------- item 2: one type
def content_types(recorder: Any) -> list[bytes]:
    values: list[bytes] = recorder.header_values(b"content-type")
    return values


async def test_a_type_set_through_response_headers_replaces_the_default() -> None:
    """Item 2: resp.headers["content-type"] = "text/csv" leaves exactly one Content-Type."""
    router = Router()

    @router.get("/csv")
    async def csv(conn: Connection) -> HttpResponse:
        response = HttpResponse("a,b")
        response.headers["content-type"] = "text/csv"
        return response

    recorder = await call(aaf([router]), http_scope("/csv"))
    assert content_types(recorder) == [b"text/csv"]
    assert recorder.body == b"a,b"


class ProblemResponse(JsonResponse):
    """A JsonResponse subclass: sent through conn.respond() rather than the app's fast path."""

    __slots__ = ()


@pytest.mark.parametrize("kind", ["json", "subclass", "dict", "stream"])
async def test_a_type_put_on_the_connection_wins_once(kind: str) -> None:
    """Item 2: put_resp_header("content-type", ...) then a returned response: one type, the
    connection's (fast path, conn.respond path, dict, and a streamed body)."""
    router = Router()

    @router.get("/problem")
    async def problem(conn: Connection) -> Any:
        conn.put_resp_header("content-type", "application/problem+json")
        if kind == "json":
            return JsonResponse({"title": "bad"}, 422)
        if kind == "subclass":
            return ProblemResponse({"title": "bad"}, 422)
        if kind == "dict":
            return {"title": "bad"}
        return StreamingResponse([b'{"title":"bad"}'], media_type="application/json")

    recorder = await call(aaf([router]), http_scope("/problem"))
    assert content_types(recorder) == [b"application/problem+json"]
    assert recorder.body == b'{"title":"bad"}'


async def test_an_http_error_after_put_resp_header_has_one_content_type() -> None:
    """Item 2: HTTPError answers drop what was put on the connection: one type, JSON (or the
    error's own type when its headers give one)."""
    router = Router()

    @router.get("/plain")
    async def plain(conn: Connection) -> None:
        conn.put_resp_header("content-type", "application/problem+json")
        conn.put_resp_header("x-dropped", "1")
        raise HTTPError(409, "taken")

    @router.get("/typed")
    async def typed(conn: Connection) -> None:
        conn.put_resp_header("content-type", "text/csv")
        raise HTTPError(409, "taken", headers={"content-type": "application/problem+json"})

    app = aaf([router])
    recorder = await call(app, http_scope("/plain"))
    assert recorder.status == 409
    assert content_types(recorder) == [b"application/json"]
    assert recorder.header(b"x-dropped") is None
    recorder = await call(app, http_scope("/typed"))
    assert content_types(recorder) == [b"application/problem+json"]
    assert recorder.body == b'{"error":"taken"}'


# ---------------------------------------------------------------------------- item 3: take-over
async def hello_app(scope: Scope, receive: Receive, send: Send) -> None:
    await send({"type": "http.response.start", "status": 201, "headers": [(b"x-other", b"1")]})
    await send({"type": "http.response.body", "body": b"hello from the other app"})


async def test_a_handler_handing_over_to_another_asgi_app(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Item 3: after ``await other(conn.scope, conn.asgi_receive, conn.asgi_send)`` the client
    gets exactly that app's answer, aaf sends nothing more, logs nothing and knows the status."""
    statuses: list[int] = []
    router = Router()

    @router.get("/hand-over")
    async def hand_over(conn: Connection) -> None:
        await hello_app(conn.scope, conn.asgi_receive, conn.asgi_send)
        statuses.append(conn.resp_status_code)
        assert conn.finished

    caplog.set_level(logging.DEBUG)
    recorder = await call(aaf([router]), http_scope("/hand-over"))
    assert recorder.status == 201
    assert recorder.body == b"hello from the other app"
    assert len(recorder.sent) == 2
    assert statuses == [201]
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


async def test_a_websocket_handler_handing_over_to_another_asgi_app(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Item 3: a WebSocket handed to a raw ASGI app (accept, echo, close) is neither denied nor
    closed again by aaf."""

    async def echo_once(scope: Scope, receive: Receive, send: Send) -> None:
        assert (await receive())["type"] == "websocket.connect"
        await send({"type": "websocket.accept"})
        message = await receive()
        await send({"type": "websocket.send", "text": "echo: " + message["text"]})
        await send({"type": "websocket.close", "code": 1000})

    router = Router()

    @router.websocket("/ws")
    async def ws(conn: Connection) -> None:
        await echo_once(conn.scope, conn.asgi_receive, conn.asgi_send)

    caplog.set_level(logging.DEBUG)
    driver = await drive(
        aaf([router]), ws_scope("/ws"), [{"type": "websocket.connect"}, text("hi")]
    )
    assert driver.types == ["websocket.accept", "websocket.send", "websocket.close"]
    assert driver.sent[1]["text"] == "echo: hi"
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


async def test_a_raw_asgi_app_as_a_connection_handler_gets_no_second_answer() -> None:
    """Item 3: aaf([raw_app]) takes the connection over the same way (conn.asgi_send)."""
    # aaf()'s annotation names routers and connection handlers; ASGI apps work too.
    recorder = await call(aaf([hello_app]), http_scope("/anything"))
    assert recorder.status == 201
    assert len(recorder.sent) == 2


async def test_websocket_handlers_tried_in_order_then_mounts_then_404() -> None:
    """aaf([router, handler]) on a WebSocket: each is tried until one answers, then a mount of a
    router, then a 404 refusal."""

    async def accept_and_close(scope: Scope, receive: Receive, send: Send) -> None:
        assert (await receive())["type"] == "websocket.connect"
        await send({"type": "websocket.accept"})
        await send({"type": "websocket.close", "code": 1000})

    tried: list[str] = []

    async def passes(conn: Connection) -> None:
        tried.append(conn.path)

    router = Router()
    router.mount("/raw", accept_and_close)
    app = aaf([router, passes])
    mounted = await drive(app, ws_scope("/raw/x"), [{"type": "websocket.connect"}])
    assert mounted.types == ["websocket.accept", "websocket.close"]
    missing = await drive(app, ws_scope("/nothing"), [{"type": "websocket.connect"}])
    assert missing.types == ["websocket.http.response.start", "websocket.http.response.body"]
    assert missing.sent[0]["status"] == 404
    assert tried == ["/raw/x", "/nothing"]


# ---------------------------------------------------------------------------- item 4: mounts
def test_a_mount_answers_at_exactly_its_prefix() -> None:
    """Item 4: GET /sub reaches the mounted app's "/" route (route_path "/", not "")."""
    inner = Router()

    @inner.get("/")
    async def index(conn: Connection) -> dict[str, str]:
        return {"route_path": conn.route_path, "root_path": conn.scope["root_path"]}

    outer = Router()
    outer.mount("/sub", aaf([inner]))
    client = TestClient(aaf([outer]))
    response = client.get("/sub")
    assert response.status_code == 200
    assert response.json() == {"route_path": "/", "root_path": "/sub"}


async def test_mounts_under_a_server_whose_path_leaves_out_root_path(tmp_path: Path) -> None:
    """Item 4: a legacy server scope (root_path="/api", path="/static/x.txt") still reaches a
    StaticFiles mount and a nested aaf app with the right paths."""
    (tmp_path / "x.txt").write_bytes(b"static x")
    inner = Router()

    @inner.get("/hello")
    async def hello(conn: Connection) -> dict[str, str]:
        return {"full_path": conn.full_path, "route_path": conn.route_path}

    outer = Router()
    outer.mount("/static", StaticFiles(directory=tmp_path))
    outer.mount("/app", aaf([inner]))
    app = aaf([outer])
    recorder = await call(app, http_scope("/static/x.txt", root_path="/api"))
    assert recorder.status == 200
    assert recorder.body == b"static x"
    recorder = await call(app, http_scope("/app/hello", root_path="/api"))
    assert recorder.status == 200
    assert recorder.body == b'{"full_path":"/api/app/hello","route_path":"/hello"}'


def test_a_mount_without_lifespan_never_gets_a_lifespan_scope() -> None:
    """Item 4: router.mount(..., lifespan=False) keeps lifespan scopes away from the app; a
    mount with the default gets them."""
    seen: dict[str, list[str]] = {"quiet": [], "default": []}

    def recording(name: str) -> Any:
        async def raw(scope: Scope, receive: Receive, send: Send) -> None:
            seen[name].append(scope["type"])
            if scope["type"] == "lifespan":
                while True:
                    message = await receive()
                    await send({"type": message["type"] + ".complete"})
                    if message["type"] == "lifespan.shutdown":
                        return
            await hello_app(scope, receive, send)

        return raw

    router = Router()
    router.mount("/quiet", recording("quiet"), lifespan=False)
    router.mount("/default", recording("default"))
    with TestClient(aaf([router])) as client:
        assert client.get("/quiet/x").status_code == 201
        assert client.get("/default/x").status_code == 201
    assert seen == {"quiet": ["http"], "default": ["lifespan", "http"]}


# ---------------------------------------------------------------------------- item 5: gone
class GoneClient:
    """A server whose client left: send() raises OSError (ASGI 2.4), receive() disconnects."""

    def __init__(self) -> None:
        self.attempts: list[Message] = []

    async def receive(self) -> Message:
        return {"type": "http.disconnect"}

    async def send(self, message: Message) -> None:
        self.attempts.append(message)
        raise OSError("client gone")


def gone_app() -> aaf:
    router = Router()

    @router.get("/dict")
    async def as_dict(conn: Connection) -> dict[str, int]:
        return {"a": 1}

    @router.get("/response")
    async def as_response(conn: Connection) -> HttpResponse:
        return HttpResponse("hi")

    @router.get("/str")
    async def as_str(conn: Connection) -> str:
        return "hi"

    @router.get("/http-error")
    async def http_error(conn: Connection) -> None:
        raise HTTPError(409, "taken")

    @router.get("/handled")
    async def handled(conn: Connection) -> None:
        raise KeyError("missing")

    def on_key_error(conn: Connection, exc: KeyError) -> HttpResponse:
        return HttpResponse("handled", 404)

    return aaf([router], exception_handlers={KeyError: on_key_error})


@pytest.mark.parametrize(
    "path", ["/dict", "/response", "/str", "/nowhere", "/http-error", "/handled"]
)
async def test_a_client_that_left_ends_the_request_quietly(
    path: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Item 5: send() raising OSError (the client left) while answering a dict, a response, a
    str, a 404, an HTTPError or an exception handler's answer: the app returns quietly."""
    caplog.set_level(logging.DEBUG)
    client = GoneClient()
    await gone_app()(http_scope(path), client.receive, client.send)
    assert client.attempts[0]["type"] == "http.response.start"
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert not errors, [r.getMessage() for r in errors]
