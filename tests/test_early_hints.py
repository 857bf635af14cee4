"""103 Early Hints: ``conn.early_hints()`` sends ``http.response.early_hint`` only where the
server advertises the extension, and the conformance checker accepts it only there."""

from __future__ import annotations

from typing import Any

import pytest

from aaf import Middleware, Router, aaf
from aaf._conformance import (
    EARLY_HINT_ADVERTISED,
    EARLY_HINT_BEFORE_START,
    EARLY_HINT_LINKS,
    ASGIProtocolError,
    HTTPResponseChecker,
)
from aaf._http import HeaderError
from aaf.inspect import ConformanceChecker
from aaf.middleware.compression import CompressionMiddleware
from aaf.testing import AsyncTestClient
from tests.support import early_hints_app
from tests.support.early_hints_app import STYLE_LINK
from tests.support.one_route import app_with

from .conftest import Message, http_scope

HINT: Message = {"type": "http.response.early_hint", "links": [STYLE_LINK.encode()]}
ADVERTISED: dict[str, Any] = {"http.response.early_hint": {}}  # scope["extensions"]


async def run_checked(app: Any, scope: dict[str, Any]) -> list[Message]:
    """``app`` behind the conformance checker (refusals raise); what reached the server."""
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b""}

    async def send(message: Message) -> None:
        sent.append(message)

    await ConformanceChecker(app)(scope, receive, send)
    return sent


# ------------------------------------------------------------------------------ the connection
async def test_without_the_extension_early_hints_are_a_no_op() -> None:
    async with AsyncTestClient(early_hints_app.app) as client:  # advertises no extension
        response = await client.get("/")
    assert response.status_code == 200
    assert response.json() == {"early_hints_sent": False}
    assert response.headers["link"] == STYLE_LINK


async def test_with_the_extension_a_103_goes_out_before_the_response() -> None:
    sent = await run_checked(early_hints_app.app, http_scope(extensions=ADVERTISED))
    assert [m["type"] for m in sent] == [
        "http.response.early_hint",
        "http.response.start",
        "http.response.body",
    ]
    assert sent[0] == HINT
    assert sent[1]["status"] == 200
    assert sent[2]["body"] == b'{"early_hints_sent":true}'


@pytest.mark.parametrize("extensions", [{}, ADVERTISED])
async def test_after_the_response_started_early_hints_are_refused(
    extensions: dict[str, Any],
) -> None:
    sent = await run_checked(early_hints_app.app, http_scope("/late", extensions=extensions))
    assert "http.response.early_hint" not in [m["type"] for m in sent]
    body = b"".join(m.get("body", b"") for m in sent)
    assert body.startswith(b"started cannot send early hints: the response already started")


@pytest.mark.parametrize(
    ("headers", "error", "match"),
    [
        ([("x-hint", "1")], ValueError, "early hints carry Link headers only"),
        ([("link", "</a.css>\r\nx-evil: 1")], HeaderError, "'link'"),
    ],
)
async def test_bad_hints_raise_with_or_without_the_extension(
    headers: list[tuple[str, str]], error: type[Exception], match: str
) -> None:
    raised: list[BaseException] = []

    async def handler(conn: Any) -> str:
        try:
            await conn.early_hints(headers)
        except Exception as exc:
            raised.append(exc)
        return "ok"

    for extensions in ({}, ADVERTISED):
        sent = await run_checked(app_with(handler), http_scope(extensions=extensions))
        assert sent[0]["type"] == "http.response.start"  # nothing went out before
        exc = raised.pop()
        assert isinstance(exc, error)
        assert match in str(exc)


async def test_early_hints_on_a_websocket_are_refused() -> None:
    router = Router()
    errors: list[str] = []

    @router.websocket("/ws")
    async def ws(conn: Any) -> None:
        await conn.accept()
        try:
            await conn.early_hints([("link", STYLE_LINK)])
        except Exception as exc:
            errors.append(str(exc))
        await conn.close()

    async with (
        AsyncTestClient(aaf([router])) as client,
        client.websocket_connect("/ws", timeout=5),
    ):
        pass
    assert len(errors) == 1
    assert "early_hints" in errors[0]


async def test_compression_passes_early_hints_through() -> None:
    app = aaf(
        [early_hints_app.router], middleware=[Middleware(CompressionMiddleware, minimum_size=1)]
    )
    headers = [(b"host", b"testserver"), (b"accept-encoding", b"gzip")]
    sent = await run_checked(app, http_scope(headers=headers, extensions=ADVERTISED))
    assert sent[0] == HINT
    assert sent[1]["type"] == "http.response.start"


# ------------------------------------------------------------------------------ the checker
def test_the_checker_refuses_early_hints_the_server_did_not_advertise() -> None:
    with pytest.raises(ASGIProtocolError) as refused:
        HTTPResponseChecker("GET").check_send(dict(HINT))
    assert refused.value.rule is EARLY_HINT_ADVERTISED
    assert "scope['extensions']" in str(refused.value)


def test_the_checker_accepts_advertised_hints_before_the_start_only() -> None:
    checker = HTTPResponseChecker("GET", early_hints=True)
    checker.check_send(dict(HINT))
    checker.check_send(dict(HINT))  # several 103s may precede the response
    assert not checker.started
    checker.check_send({"type": "http.response.start", "status": 200, "headers": []})
    with pytest.raises(ASGIProtocolError) as refused:
        checker.check_send(dict(HINT))
    assert refused.value.rule is EARLY_HINT_BEFORE_START
    checker.check_send({"type": "http.response.body", "body": b""})
    checker.check_app_returned()


@pytest.mark.parametrize(
    "links", [None, b"</a.css>; rel=preload", ["</a.css>"], [b""], [b"</a>\r\nx: 1"]]
)
def test_the_checker_refuses_malformed_links(links: object) -> None:
    checker = HTTPResponseChecker("GET", early_hints=True)
    with pytest.raises(ASGIProtocolError) as refused:
        checker.check_send({"type": "http.response.early_hint", "links": links})
    assert refused.value.rule is EARLY_HINT_LINKS
    assert not checker.started
