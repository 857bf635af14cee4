"""The access log: one line per request, every client-controlled field escaped."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from aaf import Middleware, Router, aaf
from aaf.connection import Connection
from aaf.middleware.accesslog import AccessLogMiddleware, escape_log_text, format_line
from tests.conftest import call, http_scope
from tests.support.bodies import growth_ratio

LINEAR = 10


def logged_app(**options: Any) -> Any:
    router = Router()

    @router.route("/<path:anything>", methods=["GET", "POST"])
    async def echo(conn: Connection, anything: str) -> str:
        return "hello"

    @router.get("/boom")
    async def boom(conn: Connection) -> str:
        raise RuntimeError("boom")

    return aaf([router], middleware=[Middleware(AccessLogMiddleware, **options)])


def lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "aaf.access"]


async def test_one_line_with_the_request_fields(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="aaf.access"):
        await call(logged_app(), http_scope("/items/1", query=b"full=1"))
    (line,) = lines(caplog)
    assert line.startswith('127.0.0.1:40000 "GET /items/1?full=1 HTTP/1.1" 200 5 ')
    assert line.endswith("ms")
    record = next(r for r in caplog.records if r.name == "aaf.access")
    assert record.access == {"status": 200, "bytes": 5}  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("path", "query", "method"),
    [
        ("/a\nFAKE 200", b"", "GET"),
        ('/a\r\n127.0.0.1 "GET /admin" 200', b"", "GET"),
        ("/a", b"x=\r\nFAKE", "GET"),
        ("/\x1b[31mred\x1b[0m", b"", "GET"),
        ("/a\u2028FAKE\u2029", b"", "GET"),
        ("/a\u202eevil\u202c", b"", "GET"),
        ("/a\x85FAKE", b"", "GET"),
        ('/q"uote\\slash', b"", "GET"),
        ("/a", b"", "GE\nT"),
    ],
)
async def test_control_characters_are_escaped(
    path: str, query: bytes, method: str, caplog: pytest.LogCaptureFixture
) -> None:
    scope = http_scope(path, method=method, query=query)
    scope["raw_path"] = path.encode("utf-8")
    with caplog.at_level(logging.INFO, logger="aaf.access"):
        await call(logged_app(), scope)
    (line,) = lines(caplog)
    assert not any(char in line for char in "\r\n\x1b\x85\u2028\u2029\u202e\u202c")
    assert line.count('"') - line.count('\\"') == 2  # only the two that frame the request
    assert line.splitlines() == [line]


async def test_client_address_is_escaped(caplog: pytest.LogCaptureFixture) -> None:
    scope = http_scope("/a", client=("evil\nhost", 1))
    with caplog.at_level(logging.INFO, logger="aaf.access"):
        await call(logged_app(), scope)
    (line,) = lines(caplog)
    assert line.startswith("evil\\x0ahost:1 ")


async def test_errors_and_disconnects_are_logged(caplog: pytest.LogCaptureFixture) -> None:
    async def fails(scope: Any, receive: Any, send: Any) -> None:
        raise RuntimeError("boom")

    async def says_nothing(scope: Any, receive: Any, send: Any) -> None:
        return None

    with caplog.at_level(logging.INFO, logger="aaf.access"):
        with pytest.raises(RuntimeError):
            await call(AccessLogMiddleware(fails), http_scope("/x"))
        await call(AccessLogMiddleware(says_nothing), http_scope("/y"))
        recorder = await call(logged_app(), http_scope("/boom"))
    assert recorder.status == 500
    first, second, third = lines(caplog)
    assert '"GET /x HTTP/1.1" 500 0 ' in first
    assert '"GET /y HTTP/1.1" 0 0 ' in second
    assert '"GET /boom HTTP/1.1" 500 21 ' in third


async def test_other_scopes_and_a_disabled_logger_pass_through() -> None:
    seen: list[Any] = []

    async def inner(scope: Any, receive: Any, send: Any) -> None:
        seen.append(send)

    async def send(message: Any) -> None:
        return None

    async def receive() -> Any:
        return {"type": "http.disconnect"}

    quiet = logging.getLogger("aaf.test.quiet")
    quiet.setLevel(logging.WARNING)
    await AccessLogMiddleware(inner)({"type": "lifespan"}, receive, send)
    await AccessLogMiddleware(inner, quiet)({"type": "http"}, receive, send)
    assert seen == [send, send]  # the app got the server's own send(): nothing wrapped


def test_format_line_without_client_or_raw_path() -> None:
    scope = {"type": "http", "method": "GET", "path": "/p\n", "http_version": "2"}
    assert format_line(scope, 204, 0, 0.0012) == '- "GET /p\\x0a HTTP/2" 204 0 1.20ms'


async def test_escaping_is_linear() -> None:
    def prepare(n: int) -> str:
        return '\n\\"\u2028a\x00' * n

    async def work(text: str) -> None:
        escape_log_text(text)

    assert await growth_ratio(prepare, work, 50_000) < LINEAR
    assert escape_log_text('a"\\\t\x7f\u2066') == 'a\\"\\\\\\x09\\x7f\\u2066'


async def test_other_messages_and_late_errors(caplog: pytest.LogCaptureFixture) -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"abc", "more_body": True})
        await send({"type": "http.response.trailers", "headers": []})
        raise RuntimeError("after the start")

    sent: list[Any] = []

    async def send(message: Any) -> None:
        sent.append(message)

    async def receive() -> Any:
        return {"type": "http.disconnect"}

    with caplog.at_level(logging.INFO, logger="aaf.access"), pytest.raises(RuntimeError):
        await AccessLogMiddleware(app)(http_scope("/late"), receive, send)
    (line,) = lines(caplog)
    assert '"GET /late HTTP/1.1" 200 3 ' in line  # the status that went out, not 500
    assert len(sent) == 3
