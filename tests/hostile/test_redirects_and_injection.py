"""Redirects stay on-site; CR/LF/NUL never reach the wire; methods are never attributes."""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from aaf import HttpResponse, JsonResponse, RedirectResponse, Router, aaf
from aaf.connection import Connection
from aaf.cookies import CookieError, build_set_cookie
from tests.conftest import call, http_scope

# ---------------------------------------------------------------------------- redirects
_TAB_NEWLINE = re.compile("[\t\n\r]")


def browser_goes_off_site(location: str) -> bool:
    """Roughly what a WHATWG URL parser does with a Location relative to an http page."""
    cleaned = _TAB_NEWLINE.sub("", location).strip("\x00 ").replace("\\", "/")
    if re.match(r"[A-Za-z][A-Za-z0-9+.-]*:", cleaned):
        return True  # an absolute URL: off-site unless it is ours (never produced here)
    return cleaned.startswith("//")


HOSTILE_PATHS = [
    "//evil.com",
    "///evil.com",
    "/\\evil.com",
    "/\\/evil.com",
    "/\t/evil.com",
    "/ /evil.com",
    "/\x0b/evil.com",
    "\\\\evil.com",
    "/%2F/evil.com",
    "/%5Cevil.com",
    "/%2f%2fevil.com",
    "/%09/evil.com",
]


def slash_app() -> Any:
    router = Router()

    @router.get("/<path:rest>/")
    async def with_slash(conn: Connection, rest: str) -> str:
        return rest

    return aaf([router])


@pytest.mark.parametrize("path", HOSTILE_PATHS)
async def test_trailing_slash_redirect_stays_on_site(path: str) -> None:
    recorder = await call(slash_app(), http_scope(path, query=b"x=\r\n\x00&y=%0D"))
    assert recorder.status == 308
    location = recorder.header_once(b"location").decode("latin-1")
    assert location.startswith("/")
    assert not browser_goes_off_site(location), location
    assert location.endswith("?x=%0D%0A%00&y=%0D")


async def test_redirect_queries_keep_their_bytes() -> None:
    # Raw non-ASCII query bytes are percent-encoded as they are (not re-encoded as UTF-8).
    recorder = await call(slash_app(), http_scope("/a", query=b"q=caf\xc3\xa9&r=\xff\x7f"))
    assert recorder.header(b"location") == b"/a/?q=caf%C3%A9&r=%FF%7F"


@pytest.mark.parametrize(
    "url", [*HOSTILE_PATHS, "\\/evil.com", "/\\\\evil.com", "/\x01/evil.com", "%2F%2Fevil.com"]
)
async def test_redirect_response_stays_on_site(url: str) -> None:
    router = Router()

    @router.get("/")
    async def handler(conn: Connection) -> RedirectResponse:
        return RedirectResponse(url)

    recorder = await call(aaf([router]), http_scope("/"))
    if re.search("[\x00-\x08\x0a-\x1f]", url):
        # A control character in an app's redirect URL is refused (see the injection tests).
        assert recorder.status == 500
        assert recorder.header(b"location") is None
        return
    assert recorder.status == 307
    location = recorder.header_once(b"location").decode("latin-1")
    assert not browser_goes_off_site(location), location


# ---------------------------------------------------------------------------- injection
INJECTIONS = ["a\r\nSet-Cookie: evil=1", "a\nSet-Cookie: evil=1", "a\rX-Evil: 1", "a\x00evil"]
Handler = Callable[[Connection, str], Awaitable[Any]]


async def put_header(conn: Connection, bad: str) -> Any:
    conn.put_resp_header("x-note", bad)
    return "ok"


async def put_header_name(conn: Connection, bad: str) -> Any:
    conn.put_resp_header(bad, "v")
    return "ok"


async def response_header(conn: Connection, bad: str) -> Any:
    return HttpResponse("ok", headers={"x-note": bad})


async def response_headers_view(conn: Connection, bad: str) -> Any:
    response = JsonResponse({})
    response.headers["x-note"] = bad
    return response


async def cookie_value(conn: Connection, bad: str) -> Any:
    conn.put_resp_cookie("session", bad)
    return "ok"


async def cookie_path(conn: Connection, bad: str) -> Any:
    response = HttpResponse("ok")
    response.set_cookie("session", "v", path=bad)
    return response


async def redirect(conn: Connection, bad: str) -> Any:
    return RedirectResponse("/next" + bad)


async def download_filename(conn: Connection, bad: str) -> Any:
    return HttpResponse(b"data", headers={"content-disposition": f'attachment; filename="{bad}"'})


async def media_type(conn: Connection, bad: str) -> Any:
    return HttpResponse("ok", media_type="text/html" + bad)


async def imperative(conn: Connection, bad: str) -> Any:
    conn.put_resp_header("x-note", bad)
    await conn.send("ok", finish=True)


@pytest.mark.parametrize(
    "handler",
    [
        put_header,
        put_header_name,
        response_header,
        response_headers_view,
        cookie_value,
        cookie_path,
        redirect,
        download_filename,
        media_type,
        imperative,
    ],
)
@pytest.mark.parametrize("bad", INJECTIONS)
async def test_header_injection_is_refused_before_the_response_starts(
    handler: Handler, bad: str, caplog: pytest.LogCaptureFixture
) -> None:
    router = Router()

    @router.get("/")
    async def endpoint(conn: Connection) -> Any:
        return await handler(conn, bad)

    with caplog.at_level(logging.ERROR, logger="aaf.error"):
        recorder = await call(aaf([router]), http_scope("/"))
    assert recorder.status == 500
    assert recorder.body == b"Internal Server Error"
    wire = repr(recorder.sent).lower()
    assert "evil" not in wire
    assert "x-note" not in wire
    assert any(record.levelno == logging.ERROR for record in caplog.records)


@pytest.mark.parametrize("bad", INJECTIONS)
def test_cookie_builder_refuses_control_characters_itself(bad: str) -> None:
    with pytest.raises(CookieError):
        build_set_cookie("session", bad)
    with pytest.raises(CookieError):
        build_set_cookie("session", "v", domain="example.com" + bad)


# ---------------------------------------------------------------------------- methods
def method_app() -> Any:
    router = Router()

    @router.route("/thing", methods=["GET", "POST"])
    async def thing(conn: Connection) -> str:
        return "thing"

    inner = Router()

    @inner.get("/x")
    async def x(conn: Connection) -> str:
        return "x"

    router.mount("/mounted", aaf([inner]))
    return aaf([router])


@pytest.mark.parametrize(
    "method", ["G ET", "GET /x HTTP/1.1", "", "G\x00T", "GET\r\n", "PÖST", "(GET)", "GET,POST"]
)
async def test_a_method_that_is_not_a_token_is_400_with_allow(method: str) -> None:
    recorder = await call(method_app(), http_scope("/thing", method=method))
    assert recorder.status == 400
    assert recorder.header(b"allow") == b"GET, HEAD, OPTIONS, POST"
    missing = await call(method_app(), http_scope("/nothing", method=method))
    assert missing.status == 400
    assert missing.header(b"allow") is None
    mounted = await call(method_app(), http_scope("/mounted/x", method=method))
    assert mounted.status == 400


@pytest.mark.parametrize(
    "method", ["get", "DELETE", "__class__", "__init__", "__dict__", "mro", "handler", "BREW"]
)
async def test_a_method_not_allowed_is_405_with_allow(method: str) -> None:
    recorder = await call(method_app(), http_scope("/thing", method=method))
    assert recorder.status == 405
    assert recorder.header(b"allow") == b"GET, HEAD, OPTIONS, POST"
    assert (await call(method_app(), http_scope("/nothing", method=method))).status == 404


async def test_options_lists_the_allowed_methods() -> None:
    recorder = await call(method_app(), http_scope("/thing", method="OPTIONS"))
    assert recorder.status == 204
    assert recorder.header(b"allow") == b"GET, HEAD, OPTIONS, POST"


# ---------------------------------------------------------------------------- JSON and CSRF
@pytest.mark.parametrize(
    "content_type",
    [
        b"text/plain",
        b"text/plain; charset=application/json",
        b"application/x-www-form-urlencoded",
        b"multipart/form-data; boundary=x",
        b"application/jsonx",
        b"application/json-patch",
        b"json",
        None,
    ],
)
async def test_json_endpoint_refuses_what_a_cross_site_form_can_send(
    content_type: bytes | None,
) -> None:
    router = Router()

    @router.post("/api")
    async def api(conn: Connection) -> Any:
        return {"got": await conn.json()}

    headers = [(b"content-type", content_type)] if content_type is not None else []
    body = [{"type": "http.request", "body": b'{"a": 1}'}]
    recorder = await call(aaf([router]), http_scope("/api", "POST", headers), body)
    assert recorder.status == 415
    assert recorder.received == 0  # refused before reading the body


@pytest.mark.parametrize(
    "content_type",
    [b"application/json", b"application/json; charset=utf-8", b"application/merge-patch+json"],
)
async def test_json_endpoint_accepts_json(content_type: bytes) -> None:
    router = Router()

    @router.post("/api")
    async def api(conn: Connection) -> Any:
        return {"got": await conn.json()}

    body = [{"type": "http.request", "body": b'{"a": 1}'}]
    headers = [(b"content-type", content_type)]
    recorder = await call(aaf([router]), http_scope("/api", "POST", headers), body)
    assert recorder.status == 200
    assert recorder.body == b'{"got":{"a":1}}'


async def test_invalid_json_is_400() -> None:
    router = Router()

    @router.post("/api")
    async def api(conn: Connection) -> Any:
        return {"got": await conn.json()}

    body = [{"type": "http.request", "body": b"[" * 100_000}]
    headers = [(b"content-type", b"application/json")]
    recorder = await call(aaf([router]), http_scope("/api", "POST", headers), body)
    assert recorder.status == 400
