"""aaf.inspect.ConformanceChecker on foreign apps: one deliberately broken raw app per rule
(caught in raise mode, logged once in warn mode), the examples/raw apps and a Starlette app."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, suppress
from typing import Any

import pytest
from examples.raw import echo, hello, long_job, mounted, printer, stream
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, StreamingResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket

from aaf import _conformance as http_rules
from aaf import _conformance_lifespan as lifespan_rules
from aaf import _conformance_ws as ws_rules
from aaf._types import ASGIApp, Message, Scope
from aaf.inspect import ALL_RULES, ASGIProtocolError, ConformanceChecker, Rule
from aaf.testing import AsyncTestClient, TestClient, WebSocketDenied

from .conftest import http_scope

Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
Script = Callable[[Receive, Send], Awaitable[None]]


def ws_scope(path: str = "/ws", *, deny: bool = True) -> dict[str, Any]:
    scope: dict[str, Any] = {
        "type": "websocket",
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "path": path,
        "subprotocols": ["chat"],
        "headers": [],
        "extensions": {"websocket.http.response": {}} if deny else {},
    }
    return scope


def lifespan_scope() -> dict[str, Any]:
    return {"type": "lifespan", "asgi": {"version": "3.0", "spec_version": "2.0"}, "state": {}}


INCOMING: dict[str, list[Message]] = {
    "http": [{"type": "http.request", "body": b""}, {"type": "http.disconnect"}],
    "websocket": [{"type": "websocket.connect"}, {"type": "websocket.disconnect", "code": 1000}],
    "lifespan": [{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}],
}


class FakeServer:
    """Plays the server's side from a script; the last incoming message stays over."""

    def __init__(self, kind: str) -> None:
        self.incoming = list(INCOMING[kind])
        self.sent: list[Message] = []

    async def receive(self) -> Message:
        return self.incoming.pop(0) if len(self.incoming) > 1 else self.incoming[0]

    async def send(self, message: Message) -> None:
        self.sent.append(message)


def scripted(script: Script, attempts: list[Message] | None = None) -> ASGIApp:
    """A raw app running ``script``; ``attempts`` records every message it tries to send."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        async def recording_send(message: Message) -> None:
            if attempts is not None:
                attempts.append(message)
            await send(message)

        await script(receive, recording_send)

    return app


def sends(*messages: Message, receives: int = 0) -> Script:
    """A script: ``receives`` receive() calls, then ``messages``, then return."""

    async def script(receive: Receive, send: Send) -> None:
        for _ in range(receives):
            await receive()
        for message in messages:
            await send(message)

    return script


START = {"type": "http.response.start", "status": 200, "headers": []}
BODY = {"type": "http.response.body"}
ACCEPT = {"type": "websocket.accept"}
DENY = {"type": "websocket.http.response.start", "status": 403, "headers": []}
DENY_BODY = {"type": "websocket.http.response.body"}
STARTED = {"type": "lifespan.startup.complete"}
H, W, L = "http", "websocket", "lifespan"


def close(**keys: Any) -> Message:
    return {"type": "websocket.close", **keys}


def ws_send(**keys: Any) -> Message:
    return {"type": "websocket.send", **keys}


def accept_with(**keys: Any) -> Message:
    return {**ACCEPT, **keys}


# One deliberately broken raw app per rule: (rule, connection type, script, scope changes).
BROKEN: list[tuple[Rule, str, Script, dict[str, Any]]] = [
    # HTTP: two send rules (all of them: tests/test_testing.py), then the conversation rules
    (http_rules.START_FIRST, H, sends({**BODY, "body": b"x"}), {}),
    (http_rules.HEADER_NAME_LOWERCASE, H, sends({**START, "headers": [(b"X", b"1")]}), {}),
    (http_rules.NO_RESPONSE, H, sends(receives=1), {}),
    (http_rules.UNFINISHED, H, sends(START, {**BODY, "more_body": True}), {}),
    (http_rules.RECEIVE_AFTER_DISCONNECT, H, sends(START, BODY, receives=3), {}),
    # WebSocket (a denial is an HTTP response: HTTP rules apply to it)
    (ws_rules.MESSAGE_TYPE, W, sends(START), {}),
    (ws_rules.ACCEPT_FIRST, W, sends(ACCEPT, ACCEPT), {}),
    (ws_rules.ACCEPT_SUBPROTOCOL, W, sends(accept_with(subprotocol="other")), {}),
    (
        ws_rules.ACCEPT_SUBPROTOCOL,
        W,
        sends(accept_with(headers=[(b"sec-websocket-protocol", b"chat")])),
        {},
    ),
    (http_rules.HEADER_BYTES, W, sends(accept_with(headers=[("x-a", "1")])), {}),
    (ws_rules.SEND_AFTER_ACCEPT, W, sends(ws_send(text="early")), {}),
    (ws_rules.SEND_PAYLOAD, W, sends(ACCEPT, ws_send(text="a", bytes=b"b")), {}),
    (ws_rules.SEND_PAYLOAD, W, sends(ACCEPT, ws_send()), {}),
    (ws_rules.SEND_PAYLOAD, W, sends(ACCEPT, ws_send(text=b"b")), {}),
    (ws_rules.SEND_PAYLOAD, W, sends(ACCEPT, ws_send(bytes="t")), {}),
    (ws_rules.CLOSE_CODE, W, sends(close(code=1005)), {}),
    (ws_rules.CLOSE_CODE, W, sends(ACCEPT, close(code=5000)), {}),
    (ws_rules.CLOSE_CODE, W, sends(ACCEPT, close(code="1000")), {}),
    (ws_rules.CLOSE_REASON, W, sends(ACCEPT, close(reason="é" * 62)), {}),  # 124 bytes
    (ws_rules.CLOSE_REASON, W, sends(ACCEPT, close(reason=b"x")), {}),
    (ws_rules.DENIAL_EXTENSION, W, sends(DENY), {"extensions": {}}),
    (ws_rules.DENIAL_FIRST, W, sends(ACCEPT, DENY), {}),
    (ws_rules.DENIAL_FIRST, W, sends(DENY_BODY), {}),
    (http_rules.STATUS, W, sends({**DENY, "status": "403"}), {}),
    (http_rules.BODY_BYTES, W, sends(DENY, {**DENY_BODY, "body": "x"}), {}),
    (ws_rules.DENIAL_COMPLETE, W, sends(DENY, close()), {}),
    (ws_rules.DENIAL_COMPLETE, W, sends(DENY), {}),
    (ws_rules.AFTER_CLOSE, W, sends(close(), ACCEPT), {}),
    (ws_rules.AFTER_CLOSE, W, sends(DENY, DENY_BODY, close()), {}),
    (ws_rules.HANDSHAKE_ANSWER, W, sends(receives=1), {}),
    (http_rules.RECEIVE_AFTER_DISCONNECT, W, sends(ACCEPT, receives=3), {}),
    # lifespan
    (lifespan_rules.MESSAGE_TYPE, L, sends(START, receives=1), {}),
    (lifespan_rules.ANSWER_ORDER, L, sends(STARTED), {}),
    (lifespan_rules.ANSWER_ORDER, L, sends(STARTED, STARTED, receives=1), {}),
    (lifespan_rules.ANSWER_ORDER, L, sends({"type": "lifespan.shutdown.complete"}, receives=1), {}),
    (
        lifespan_rules.FAILED_MESSAGE,
        L,
        sends({"type": "lifespan.startup.failed", "message": b"no"}, receives=1),
        {},
    ),
    (lifespan_rules.SHUTDOWN_ANSWER, L, sends(STARTED, receives=2), {}),
]

SCOPES: dict[str, Callable[[], dict[str, Any]]] = {
    "http": http_scope,
    "websocket": ws_scope,
    "lifespan": lifespan_scope,
}
IDS = [f"{rule.name}-{index}" for index, (rule, *_) in enumerate(BROKEN)]


def scope_for(kind: str, changes: dict[str, Any]) -> dict[str, Any]:
    return {**SCOPES[kind](), **changes}


def test_every_rule_has_a_broken_app() -> None:
    covered = {rule for rule, *_ in BROKEN}
    # The HTTP send rules each have their own broken app in tests/test_testing.py.
    assert set(ALL_RULES) - set(http_rules.RULES) <= covered
    assert len({rule.name for rule in ALL_RULES}) == len(ALL_RULES)
    assert all(rule.requirement and rule.fix for rule in ALL_RULES)


@pytest.mark.parametrize(("rule", "kind", "script", "changes"), BROKEN, ids=IDS)
async def test_raise_mode_names_the_rule(
    rule: Rule, kind: str, script: Script, changes: dict[str, Any]
) -> None:
    server = FakeServer(kind)
    checked = ConformanceChecker(scripted(script))
    with pytest.raises(ASGIProtocolError) as caught:
        await checked(scope_for(kind, changes), server.receive, server.send)
    assert caught.value.rule is rule, str(caught.value)
    text = str(caught.value)
    assert f"[{rule.name}]" in text
    assert "where: " in text
    assert f"fix: {rule.fix}" in text


@pytest.mark.parametrize(("rule", "kind", "script", "changes"), BROKEN, ids=IDS)
async def test_warn_mode_logs_once_and_changes_nothing(
    rule: Rule, kind: str, script: Script, changes: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    seen: list[ASGIProtocolError] = []
    attempts: list[Message] = []
    checked = ConformanceChecker(
        scripted(script, attempts), "warn", on_violation=lambda error, scope: seen.append(error)
    )
    sent: list[Message] = []
    with caplog.at_level(logging.WARNING, logger="aaf.inspect"):
        for _ in range(2):  # the same violation on the same path: logged once
            server = FakeServer(kind)
            await checked(scope_for(kind, changes), server.receive, server.send)
            sent += server.sent
    assert [error.rule for error in seen] == [rule, rule]
    assert sent == attempts  # every message went through unchanged
    [record] = caplog.records
    assert record.name == "aaf.inspect"
    assert f"[{rule.name}]" in record.getMessage()


async def test_warn_mode_logs_once_per_rule_and_path(caplog: pytest.LogCaptureFixture) -> None:
    checked = ConformanceChecker(scripted(sends(receives=1)), "warn")
    with caplog.at_level(logging.WARNING, logger="aaf.inspect"):
        for path in ("/a", "/b", "/a", "/b"):
            server = FakeServer("http")
            await checked(http_scope(path), server.receive, server.send)
    assert [("'/a'" in r.getMessage(), "'/b'" in r.getMessage()) for r in caplog.records] == [
        (True, False),
        (False, True),
    ]


async def test_a_swallowed_violation_is_raised_when_the_app_returns() -> None:
    async def script(receive: Receive, send: Send) -> None:
        with suppress(ASGIProtocolError):
            await send({**START, "status": 999})
        with pytest.raises(RuntimeError, match=r"earlier protocol violation \[status\]"):
            await send(START)  # the connection is over

    server = FakeServer("http")
    with pytest.raises(ASGIProtocolError) as caught:
        await ConformanceChecker(scripted(script))(http_scope(), server.receive, server.send)
    assert caught.value.rule is http_rules.STATUS
    assert server.sent == []  # refused messages never reach the server


async def test_a_client_that_left_excuses_an_unanswered_request() -> None:
    server = FakeServer("http")
    server.incoming = [{"type": "http.disconnect"}]
    await ConformanceChecker(scripted(sends(receives=1)))(http_scope(), server.receive, server.send)
    server = FakeServer("websocket")
    server.incoming = [{"type": "websocket.disconnect", "code": 1001}]
    await ConformanceChecker(scripted(sends(receives=1)))(ws_scope(), server.receive, server.send)


async def test_headers_sent_as_an_iterator_reach_the_server_as_read() -> None:
    server = FakeServer("http")
    start = {**START, "headers": iter([(b"x-a", b"1")])}
    app = scripted(sends(start, {"type": "http.response.body"}))
    await ConformanceChecker(app)(http_scope(), server.receive, server.send)
    assert server.sent[0]["headers"] == [(b"x-a", b"1")]


async def test_other_protocols_pass_through_and_modes_are_checked() -> None:
    server = FakeServer("http")
    app = scripted(sends({"type": "webtransport.anything"}))
    await ConformanceChecker(app)({"type": "webtransport"}, server.receive, server.send)
    assert server.sent == [{"type": "webtransport.anything"}]
    with pytest.raises(ValueError, match="'raise' or 'warn'"):
        ConformanceChecker(app, "loud")  # type: ignore[arg-type]


# ---------------------------------------------------------------------------- the test clients
def test_the_clients_check_websocket_and_lifespan_too() -> None:
    bad_close = scripted(sends({"type": "websocket.close", "code": 1006}, receives=1))
    client = TestClient(bad_close)
    assert isinstance(client.app, ConformanceChecker)
    with pytest.raises(ASGIProtocolError) as caught, client.websocket_connect("/"):
        pass
    assert caught.value.rule is ws_rules.CLOSE_CODE
    unchecked = TestClient(bad_close, check=False)
    with pytest.raises(WebSocketDenied), unchecked.websocket_connect("/"):
        pass  # check=False: the session sees a close before accept (403)

    twice = scripted(sends(STARTED, STARTED, receives=1))
    with pytest.raises(ASGIProtocolError) as caught, TestClient(twice):
        pass
    assert caught.value.rule is lifespan_rules.ANSWER_ORDER


async def test_the_async_client_reports_a_lifespan_violation_at_shutdown() -> None:
    async def script(receive: Receive, send: Send) -> None:
        await receive()
        await send(STARTED)
        await receive()  # lifespan.shutdown, never answered

    with pytest.raises(ASGIProtocolError) as caught:
        async with AsyncTestClient(scripted(script)):
            pass
    assert caught.value.rule is lifespan_rules.SHUTDOWN_ANSWER


# ---------------------------------------------------------------------------- foreign apps
def test_the_raw_example_apps_pass() -> None:
    # The test client checks every message of these conversations (see test_the_clients...).
    with TestClient(hello.app) as client:
        assert client.get("/").text == "Hello, world"
        # They decline WebSocket by raising: an app error, not a protocol violation.
        with pytest.raises(RuntimeError, match="serves HTTP only"), client.websocket_connect("/"):
            pass
    with TestClient(echo.app) as client:
        assert client.post("/", content=b"x" * 10).content == b"x" * 10
        assert client.post("/", content=b"x" * (echo.MAX_BODY + 1)).status_code == 413
    with TestClient(stream.app) as client:
        assert client.get("/").text.count("chunk") == stream.CHUNKS
    with TestClient(printer.app) as client:  # speaks lifespan
        assert client.post("/", content=b"abc").json()["events"][0]["body_bytes"] == 3
        # The printer answers HEAD with the GET body: refused (uvicorn would drop the bytes).
        with pytest.raises(ASGIProtocolError) as caught:
            client.head("/")
        assert caught.value.rule is http_rules.NO_BODY
    with TestClient(long_job.app) as client:
        assert client.get("/status").status_code == 200
        with client.stream("GET", "/") as response:  # left early: the job is cancelled
            assert next(response.iter_lines()) == "step 0"
    with TestClient(mounted.app) as client:
        assert client.get("/hello/").text == "Hello, world"


def starlette_app(events: list[str]) -> Starlette:
    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        events.append("startup")
        yield
        events.append("shutdown")

    async def home(request: Request) -> PlainTextResponse:
        return PlainTextResponse("home")

    async def numbers(request: Request) -> StreamingResponse:
        async def chunks() -> AsyncIterator[bytes]:
            for number in range(3):
                yield b"%d\n" % number

        return StreamingResponse(chunks())

    async def shout(websocket: WebSocket) -> None:
        if websocket.query_params.get("deny"):
            await websocket.close(code=1008)
            return
        await websocket.accept(subprotocol="chat")
        await websocket.send_text((await websocket.receive_text()).upper())
        await websocket.close(code=4000, reason="done")

    routes = [Route("/", home), Route("/numbers", numbers), WebSocketRoute("/ws", shout)]
    return Starlette(routes=routes, lifespan=lifespan)


def iter_names(client: TestClient) -> Iterator[str]:
    with client.websocket_connect("/ws", ["chat"]) as ws:
        assert ws.accepted_subprotocol == "chat"
        ws.send_text("hi")
        yield ws.receive_text()
        with pytest.raises(Exception, match="done"):
            ws.receive_text()
        yield str(ws.close_code)


def test_a_starlette_app_passes() -> None:
    events: list[str] = []
    with TestClient(starlette_app(events)) as client:
        assert client.get("/").text == "home"
        # Starlette sends the GET body on HEAD and counts on the server to drop it (uvicorn
        # does); aaf's no-body rule refuses it.
        with pytest.raises(ASGIProtocolError) as caught:
            client.head("/")
        assert caught.value.rule is http_rules.NO_BODY
        assert client.get("/numbers").text == "0\n1\n2\n"
        assert client.get("/missing").status_code == 404
        assert list(iter_names(client)) == ["HI", "4000"]
        with pytest.raises(WebSocketDenied), client.websocket_connect("/ws?deny=1"):
            pass
    assert events == ["startup", "shutdown"]
