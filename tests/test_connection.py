"""Connection: the lazy request views and reading the request body."""

from __future__ import annotations

from typing import Any

import pytest

from aaf import Address, BodyStateError, Connection, ConnectionType, Limits, Router, aaf
from tests.support.one_route import app_with

from .conftest import ASGIRecorder, call, http_scope, noop_receive, noop_send


# ---------------------------------------------------------------------------- request side
async def test_raw_asgi_pieces_are_kept_and_another_app_can_take_over() -> None:
    seen: dict[str, Any] = {}

    async def raw(scope: Any, receive: Any, send: Any) -> None:
        seen["path"] = scope["path"]
        await send({"type": "http.response.start", "status": 202, "headers": []})
        await send({"type": "http.response.body", "body": b"raw"})

    async def handler(conn: Connection) -> None:
        assert conn.scope["path"] == "/"
        await raw(conn.scope, conn.asgi_receive, conn.asgi_send)

    rec = await call(app_with(handler), http_scope("/"))
    assert (rec.status, rec.body, seen["path"]) == (202, b"raw", "/")


async def test_request_views() -> None:
    seen: dict[str, Any] = {}

    async def handler(conn: Connection) -> None:
        seen.update(
            type=conn.type,
            method=conn.method,
            path=conn.path,
            url=str(conn.url),
            q=conn.query.getlist("a"),
            ua=conn.req_headers["user-agent"],
            cookies=conn.req_cookies,
            client=conn.client,
            repr=repr(conn),
        )

    headers = [
        (b"host", b"example.com"),
        (b"user-agent", b"ua"),
        (b"cookie", b"a=1"),
        (b"cookie", b"b=2"),
    ]
    await call(app_with(handler), http_scope("/", headers=headers, query=b"a=1&a=2"))
    assert seen["type"] is ConnectionType.HTTP
    assert f"{seen['type']}" == "http"
    assert seen["method"] == "GET"
    assert seen["path"] == "/"
    assert seen["url"] == "http://example.com/?a=1&a=2"
    assert seen["q"] == ["1", "2"]
    assert seen["ua"] == "ua"
    assert seen["cookies"] == {"a": "1", "b": "2"}
    assert seen["client"] == Address("127.0.0.1", 40000)
    assert seen["repr"] == "<Connection http GET '/'>"


def test_connection_without_app_or_client() -> None:
    scope = http_scope("/x", client=None)
    conn = Connection(scope, noop_receive, noop_send)
    assert conn.client is None
    assert conn.state == {}
    assert conn.req_cookies == {}
    assert conn.limits.max_body_size == 1024 * 1024
    with pytest.raises(RuntimeError, match="needs an app that knows the routes"):
        conn.url_for("x")


@pytest.mark.parametrize(
    ("host_headers", "expected"),
    [
        ([b"example.com:8080"], "http://example.com:8080/p?q=1"),
        ([b"[::1]:8000"], "http://[::1]:8000/p?q=1"),
        ([b"evil.com/other?x=1#"], "http://127.0.0.1:8000/p?q=1"),
        ([b"evil.com\\x"], "http://127.0.0.1:8000/p?q=1"),
        ([b"user@evil.com"], "http://127.0.0.1:8000/p?q=1"),
        ([b"evil.com x"], "http://127.0.0.1:8000/p?q=1"),
        ([b"evil.com\r\nx"], "http://127.0.0.1:8000/p?q=1"),
        ([b"a.com", b"b.com"], "http://127.0.0.1:8000/p?q=1"),
        ([], "http://127.0.0.1:8000/p?q=1"),
    ],
)
def test_url_never_takes_path_or_query_from_the_host_header(
    host_headers: list[bytes], expected: str
) -> None:
    headers = [(b"host", h) for h in host_headers]
    conn = Connection(http_scope("/p", headers=headers, query=b"q=1"), noop_receive, noop_send)
    assert str(conn.url) == expected


def test_url_percent_encodes_raw_bytes_as_they_are() -> None:
    scope = http_scope("/caf\u00e9", headers=[], query=b"q=caf\xc3\xa9 \x7f&r=%41")
    scope["raw_path"] = b"/caf\xc3\xa9"  # a server passing a non-ASCII target unescaped
    url = Connection(scope, noop_receive, noop_send).url
    assert str(url) == "http://127.0.0.1:8000/caf%C3%A9?q=caf%C3%A9%20%7F&r=%41"


def test_url_uses_server_address_defaults_and_root_path() -> None:
    scope = http_scope("/api/x y", headers=[], scheme="https", server=("10.0.0.1", 443))
    scope.pop("raw_path")
    scope["root_path"] = "/api"
    conn = Connection(scope, noop_receive, noop_send)
    assert str(conn.url) == "https://10.0.0.1/api/x%20y"
    assert conn.route_path == "/x y"
    assert conn.full_path == "/api/x y"
    # An older server whose path does not include root_path:
    old = Connection(
        http_scope("/x", root_path="/api", server=None, headers=[]), noop_receive, noop_send
    )
    assert old.full_path == "/api/x"
    assert str(old.url).startswith("http://localhost/")
    v6 = Connection(http_scope("/", headers=[], server=("::1", 8000)), noop_receive, noop_send)
    assert v6.url.netloc == "[::1]:8000"


def test_state_comes_from_the_scope_or_the_app() -> None:
    app = aaf([])
    app.state["db"] = "from-app"
    assert Connection(http_scope("/"), noop_receive, noop_send, app).state == {"db": "from-app"}
    scoped = Connection(http_scope("/", state={"db": "from-scope"}), noop_receive, noop_send, app)
    assert scoped.state == {"db": "from-scope"}


# ---------------------------------------------------------------------------- request body
def body_messages(*chunks: bytes) -> list[dict[str, Any]]:
    return [
        {"type": "http.request", "body": c, "more_body": i < len(chunks) - 1}
        for i, c in enumerate(chunks)
    ]


async def test_body_iter_streams_chunks_and_counts_bytes() -> None:
    seen: dict[str, Any] = {}

    async def handler(conn: Connection) -> str:
        seen["chunks"] = [c async for c in conn.body_iter()]
        seen["count"] = conn.received_bytes
        return "ok"

    rec = await call(
        app_with(handler, methods=["POST"]),
        http_scope("/", "POST"),
        body_messages(b"ab", b"", b"cd"),
    )
    assert rec.status == 200
    assert seen == {"chunks": [b"ab", b"cd"], "count": 4}


async def test_body_is_kept_and_replayed_by_body_iter() -> None:
    async def handler(conn: Connection) -> str:
        first = await conn.body()
        again = await conn.body()
        replay = [c async for c in conn.body_iter()]
        assert first is again
        return f"{first!r} {replay!r}"

    rec = await call(
        app_with(handler, methods=["POST"]), http_scope("/", "POST"), body_messages(b"a", b"b")
    )
    assert rec.body == b"b'ab' [b'ab']"


async def test_body_cannot_be_consumed_twice_in_conflicting_ways() -> None:
    async def handler(conn: Connection) -> str:
        async for _ in conn.body_iter():
            pass
        with pytest.raises(BodyStateError, match="already read as a stream"):
            await conn.body()
        with pytest.raises(BodyStateError):
            async for _ in conn.body_iter():
                pass
        return "checked"

    rec = await call(app_with(handler, methods=["POST"]), http_scope("/", "POST"))
    assert rec.body == b"checked"


async def test_body_over_the_limit_by_content_length_is_413_before_reading() -> None:
    async def handler(conn: Connection) -> bytes:
        return await conn.body()

    app = app_with(handler, methods=["POST"])
    headers = [(b"content-length", b"2000000")]
    recorder = ASGIRecorder(body_messages(b"x"))
    await app(http_scope("/", "POST", headers=headers), recorder.receive, recorder.send)
    assert recorder.status == 413
    assert recorder.received == 0  # nothing was pulled from receive()


async def test_body_growing_past_the_limit_is_413_and_reading_stops() -> None:
    async def handler(conn: Connection) -> bytes:
        return await conn.body()

    app = aaf([_router(handler)], limits=Limits(max_body_size=10))
    recorder = ASGIRecorder(body_messages(b"12345", b"67890", b"X", b"never read"))
    await app(http_scope("/", "POST", headers=[]), recorder.receive, recorder.send)
    assert recorder.status == 413
    assert b"10-byte limit" in recorder.body
    assert recorder.received == 3


def _router(handler: Any, **kw: Any) -> Router:
    router = Router()
    router.add_route("/", handler, methods=["POST"], **kw)
    return router


async def test_per_route_limit_overrides_the_app_limit() -> None:
    async def handler(conn: Connection) -> Any:
        return len(await conn.body())

    app = aaf([_router(handler, limits=Limits(max_body_size=20))], limits=Limits(max_body_size=5))
    rec = await call(app, http_scope("/", "POST"), body_messages(b"x" * 15))
    assert rec.status == 500  # int is not a valid return value; the body was read fine
    rec = await call(app, http_scope("/", "POST"), body_messages(b"x" * 21))
    assert rec.status == 413


@pytest.mark.parametrize("value", [b"-1", b"+5", b"1_0", b" 5", b"abc", b""])
async def test_invalid_content_length_is_400(value: bytes) -> None:
    async def handler(conn: Connection) -> bytes:
        return await conn.body()

    rec = await call(
        app_with(handler, methods=["POST"]),
        http_scope("/", "POST", headers=[(b"content-length", value)]),
        body_messages(b"x"),
    )
    assert rec.status == 400
    assert b"Content-Length" in rec.body


async def test_huge_content_length_is_413_without_converting_it() -> None:
    async def handler(conn: Connection) -> bytes:
        return await conn.body()

    rec = await call(
        app_with(handler, methods=["POST"]),
        http_scope("/", "POST", headers=[(b"content-length", b"9" * 5000)]),
        body_messages(b"x"),
    )
    assert rec.status == 413


async def test_disconnect_while_reading_ends_quietly(caplog: pytest.LogCaptureFixture) -> None:
    async def handler(conn: Connection) -> bytes:
        return await conn.body()

    rec = await call(
        app_with(handler, methods=["POST"]),
        http_scope("/", "POST"),
        [{"type": "http.request", "body": b"a", "more_body": True}, {"type": "http.disconnect"}],
    )
    assert rec.sent == []
    assert "unhandled" not in caplog.text


async def test_unexpected_message_while_reading_is_an_error() -> None:
    async def handler(conn: Connection) -> bytes:
        return await conn.body()

    rec = await call(
        app_with(handler, methods=["POST"]), http_scope("/", "POST"), [{"type": "weird"}]
    )
    assert rec.status == 500


@pytest.mark.parametrize(
    "content_type",
    [b"application/json", b"application/json; charset=utf-8", b"application/vnd.api+json"],
)
async def test_json_accepts_json_media_types(content_type: bytes) -> None:
    async def handler(conn: Connection) -> Any:
        return await conn.json()

    rec = await call(
        app_with(handler, methods=["POST"]),
        http_scope("/", "POST", headers=[(b"content-type", content_type)]),
        body_messages(b'{"a": [1, 2]}'),
    )
    assert (rec.status, rec.body) == (200, b'{"a":[1,2]}')


@pytest.mark.parametrize(
    ("headers", "body", "status", "text"),
    [
        ([], b"{}", 415, b"Content-Type must be application/json"),
        ([(b"content-type", b"text/plain")], b"{}", 415, b"application/json"),
        ([(b"content-type", b"application/x-www-form-urlencoded")], b"a=1", 415, b"json"),
        ([(b"content-type", b"application/jsonx")], b"{}", 415, b"json"),
        ([(b"content-type", b"application/json")], b"{bad", 400, b"invalid JSON"),
        ([(b"content-type", b"application/json")], b"", 400, b"invalid JSON"),
    ],
)
async def test_json_refuses_wrong_type_and_invalid_json(
    headers: list[tuple[bytes, bytes]], body: bytes, status: int, text: bytes
) -> None:
    async def handler(conn: Connection) -> Any:
        return await conn.json()

    rec = await call(
        app_with(handler, methods=["POST"]),
        http_scope("/", "POST", headers=headers),
        body_messages(body),
    )
    assert rec.status == status
    assert text in rec.body
