"""Response objects: returned, awaited with a connection, or used as ASGI apps."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Iterator
from http import HTTPStatus
from typing import Any

import pytest

from aaf import (
    Connection,
    HtmlResponse,
    HttpResponse,
    JsonResponse,
    PlainTextResponse,
    RedirectResponse,
    Router,
    StreamingResponse,
    aaf,
)
from aaf._http import HeaderError
from aaf.response import BaseResponse, safe_location
from aaf.testing import TestClient

from .conftest import call, http_scope


def client_for(result: Any) -> TestClient:
    """A client for an app whose handler returns ``result`` (or ``result()`` for a lambda)."""
    router = Router()

    @router.route("/", methods=["GET", "POST"])
    async def handler(conn: Connection) -> Any:
        return result() if getattr(result, "__name__", "") == "<lambda>" else result

    return TestClient(aaf([router]))


@pytest.mark.parametrize(
    ("response", "status", "content_type", "body"),
    [
        (HttpResponse("hi"), 200, "text/plain; charset=utf-8", b"hi"),
        (HttpResponse(b"\x00"), 200, "application/octet-stream", b"\x00"),
        (HttpResponse(bytearray(b"ba")), 200, None, b"ba"),
        (HttpResponse("x", 201, media_type="text/csv"), 201, "text/csv; charset=utf-8", b"x"),
        (HttpResponse("x", HTTPStatus.ACCEPTED), 202, "text/plain; charset=utf-8", b"x"),
        (PlainTextResponse("p"), 200, "text/plain; charset=utf-8", b"p"),
        (HtmlResponse("<b>h</b>"), 200, "text/html; charset=utf-8", b"<b>h</b>"),
        (JsonResponse({"a": [1, None]}), 200, "application/json", b'{"a":[1,null]}'),
        (JsonResponse([1], 201), 201, "application/json", b"[1]"),
        (
            JsonResponse({}, media_type="application/problem+json"),
            200,
            "application/problem+json",
            b"{}",
        ),
    ],
)
def test_response_types(
    response: BaseResponse, status: int, content_type: str | None, body: bytes
) -> None:
    result = client_for(response).get("/")
    assert result.status_code == status
    assert result.headers.get("content-type") == content_type
    assert result.headers["content-length"] == str(len(body))
    assert result.content == body


def test_response_headers_and_cookies() -> None:
    response = HttpResponse("x", headers={"X-A": "1"})
    response.headers["x-b"] = "2"
    response.set_cookie("sid", "v")
    response.delete_cookie("gone")
    assert response.media_type == "text/plain; charset=utf-8"
    result = client_for(response).get("/")
    assert result.headers["x-a"] == "1"
    assert result.headers["x-b"] == "2"
    assert result.headers.get_list("set-cookie")[0] == "sid=v; Path=/; SameSite=Lax"
    assert repr(response) == "<HttpResponse 200>"


def test_explicit_content_type_header_wins() -> None:
    response = HttpResponse("x", headers=[("Content-Type", "text/markdown")])
    assert response.media_type == "text/markdown"
    result = client_for(response).get("/")
    assert result.headers.get_list("content-type") == ["text/markdown"]


def test_invalid_responses_are_refused_when_built() -> None:
    with pytest.raises(ValueError, match="100..599"):
        HttpResponse("x", 99)
    with pytest.raises(ValueError, match="100..599"):
        HttpResponse("x", 600)
    with pytest.raises(HeaderError):
        HttpResponse("x", headers={"x": "a\nb"})
    with pytest.raises(HeaderError):
        HttpResponse("x", media_type="text/html\r\nx-evil: 1")
    with pytest.raises(TypeError, match="use JsonResponse"):
        HttpResponse({"a": 1})
    with pytest.raises(ValueError, match="3xx"):
        RedirectResponse("/x", 200)


def test_status_without_body_has_no_length() -> None:
    result = client_for(HttpResponse("ignored", 304)).get("/")
    assert result.status_code == 304
    assert "content-length" not in result.headers
    assert result.content == b""


def test_head_keeps_get_headers_without_body() -> None:
    result = client_for(HttpResponse("hello")).head("/")
    assert result.headers["content-length"] == "5"
    assert result.content == b""


async def test_response_is_an_asgi_app() -> None:
    rec = await call(HttpResponse("asgi", 203), http_scope("/"))
    assert (rec.status, rec.body) == (203, b"asgi")
    rec = await call(HttpResponse("asgi"), http_scope("/", "HEAD"))
    assert rec.body == b""
    assert rec.header(b"content-length") == b"4"


def test_awaiting_a_response_with_the_connection_sends_it() -> None:
    router = Router()

    @router.route("/")
    async def handler(conn: Connection) -> None:
        await HttpResponse("awaited", conn)
        assert conn.finished

    @router.route("/json")
    async def json_handler(conn: Connection) -> None:
        conn.put_resp_header("x-from-conn", "yes")
        await JsonResponse({"ok": True}, conn)

    client = TestClient(aaf([router]))
    assert client.get("/").text == "awaited"
    result = client.get("/json")
    assert result.json() == {"ok": True}
    assert result.headers["x-from-conn"] == "yes"


def test_awaiting_without_a_connection_explains() -> None:
    async def go() -> None:
        await HttpResponse("x")

    coroutine = go()
    with pytest.raises(TypeError, match=r"await HttpResponse\(body, conn\)"):
        coroutine.send(None)
    coroutine.close()


async def test_base_response_emit_is_abstract() -> None:
    with pytest.raises(NotImplementedError):
        await BaseResponse().emit({}, lambda m: None)  # type: ignore[arg-type, return-value]


# ---------------------------------------------------------------------------- redirects
def test_redirect_response() -> None:
    result = client_for(RedirectResponse("/target?a=1")).get("/", follow_redirects=False)
    assert result.status_code == 307
    assert result.headers["location"] == "/target?a=1"
    assert "content-type" not in result.headers
    assert RedirectResponse("https://other.example/x", 302).url == "https://other.example/x"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("//evil.com", "/evil.com"),
        ("/\\evil.com", "/evil.com"),
        ("\\\\evil.com/x", "/evil.com/x"),
        ("/\t/evil.com", "/evil.com"),
        ("/ /evil.com", "/evil.com"),
        ("///evil.com", "/evil.com"),
        ("/a\\b", "/a%5Cb"),
        ("/ok path", "/ok%20path"),
        ("/%2F%2Fevil.com", "/%2F%2Fevil.com"),
        ("https://example.org/a", "https://example.org/a"),
        ("next?x=1", "next?x=1"),
    ],
)
def test_redirect_locations_stay_on_site(url: str, expected: str) -> None:
    assert safe_location(url) == expected


@pytest.mark.parametrize("url", ["/a\r\nset-cookie: x=1", "/a\nb", "/a\x00"])
def test_redirect_refuses_control_characters(url: str) -> None:
    with pytest.raises(HeaderError):
        RedirectResponse(url)


# ---------------------------------------------------------------------------- streaming
def test_streaming_from_async_sync_and_list_iterables() -> None:
    async def agen() -> AsyncIterator[str]:
        yield "a"
        yield b"b"  # type: ignore[misc]
        yield ""

    def gen() -> Iterator[bytes]:
        yield b"c"
        yield b"d"

    cases: list[tuple[Any, bytes]] = [(agen(), b"ab"), (gen(), b"cd"), (["e", b"f"], b"ef")]
    for content, expected in cases:
        result = client_for(StreamingResponse(content, media_type="text/plain")).get("/")
        assert result.content == expected
        assert "content-length" not in result.headers
        assert result.headers["content-type"] == "text/plain; charset=utf-8"


def test_streaming_chunks_arrive_incrementally() -> None:
    first_read = threading.Event()

    async def agen() -> AsyncIterator[bytes]:
        yield b"first"
        # The rest is produced only once the client has read the first chunk.
        for _ in range(500):
            if first_read.is_set():
                break
            await asyncio.sleep(0.01)
        yield b"second" if first_read.is_set() else b"client never saw the first chunk"

    received: list[bytes] = []
    with client_for(lambda: StreamingResponse(agen())) as client, client.stream("GET", "/") as r:
        for chunk in r.iter_raw():
            received.append(chunk)
            first_read.set()
    assert received == [b"first", b"second"]


def test_streaming_head_skips_the_body() -> None:
    started: list[bool] = []

    async def agen() -> AsyncIterator[bytes]:
        started.append(True)
        yield b"x"

    result = client_for(StreamingResponse(agen())).head("/")
    assert result.content == b""
    assert started == []


def test_streaming_error_mid_way_truncates_the_response() -> None:
    import httpx

    async def agen() -> AsyncIterator[bytes]:
        yield b"partial"
        raise RuntimeError("broken stream")

    with pytest.raises(httpx.RemoteProtocolError, match="without finishing"):
        client_for(lambda: StreamingResponse(agen())).get("/")


async def test_streaming_response_as_asgi_app_closes_its_generator() -> None:
    closed: list[bool] = []

    async def agen() -> AsyncIterator[bytes]:
        try:
            yield b"1"
            yield b"2"
        finally:
            closed.append(True)

    rec = await call(StreamingResponse(agen()), http_scope("/"))
    assert rec.body == b"12"
    assert closed == [True]
    assert rec.sent[-1] == {"type": "http.response.body", "body": b"", "more_body": False}


def test_streaming_a_chunk_that_is_not_text_or_bytes_explains(
    caplog: pytest.LogCaptureFixture,
) -> None:
    import httpx

    async def agen() -> AsyncIterator[Any]:
        yield {"not": "bytes"}

    with pytest.raises(httpx.RemoteProtocolError):
        client_for(lambda: StreamingResponse(agen())).get("/")
    assert "content yielded dict; yield str or bytes" in caplog.text
