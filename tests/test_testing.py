"""The in-process test clients themselves: scope building, streaming, errors, root_path."""

from __future__ import annotations

import contextlib
from typing import Any

import httpx
import pytest

from aaf import _conformance as c
from aaf._conformance import Rule
from aaf.testing import ASGIProtocolError, AsyncTestClient, TestClient


async def scope_echo(scope: Any, receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    import json

    payload = {key: scope[key] for key in ("method", "path", "root_path", "scheme", "http_version")}
    payload["raw_path"] = scope["raw_path"].decode()
    payload["query"] = scope["query_string"].decode()
    payload["headers"] = {k.decode(): v.decode() for k, v in scope["headers"]}
    payload["client"] = list(scope["client"])
    payload["server"] = list(scope["server"])
    payload["body"] = body.decode()
    data = json.dumps(payload).encode()
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": data})


def test_scope_looks_like_a_real_server_built_it() -> None:
    client = TestClient(scope_echo, root_path="/api", client=("10.1.2.3", 1234))
    data = client.post("/caf%C3%A9/x?a=1", content=b"payload", headers={"X-A": "b"}).json()
    assert data["method"] == "POST"
    assert data["path"] == "/api/caf\u00e9/x"
    assert data["raw_path"] == "/api/caf%C3%A9/x"
    assert data["root_path"] == "/api"
    assert data["query"] == "a=1"
    assert data["headers"]["x-a"] == "b"
    assert data["headers"]["host"] == "testserver"
    assert data["client"] == ["10.1.2.3", 1234]
    assert data["server"] == ["testserver", 80]
    assert data["body"] == "payload"


async def test_async_client_streams_request_bodies_in_chunks() -> None:
    async def chunks() -> Any:
        yield b"a"
        yield b"b"

    async with AsyncTestClient(scope_echo, base_url="https://example.org") as client:
        data = (await client.post("/", content=chunks())).json()
    assert data["body"] == "ab"
    assert data["scheme"] == "https"
    assert data["server"] == ["example.org", 443]


def test_app_exceptions_reach_the_test() -> None:
    async def broken(scope: Any, receive: Any, send: Any) -> None:
        raise ValueError("app bug")

    with pytest.raises(ValueError, match="app bug"):
        TestClient(broken).get("/")


def test_app_that_never_answers_is_an_error() -> None:
    async def silent(scope: Any, receive: Any, send: Any) -> None:
        return None

    with pytest.raises(httpx.RemoteProtocolError, match="without starting a response"):
        TestClient(silent).get("/")


def _start(status: int = 200, headers: Any = ()) -> dict[str, Any]:
    return {"type": "http.response.start", "status": status, "headers": list(headers)}


def _body(data: Any = b"", more: bool = False) -> dict[str, Any]:
    return {"type": "http.response.body", "body": data, "more_body": more}


_PATHSEND = {"type": "http.response.pathsend", "path": "/nonexistent/never/read"}
_LENGTH_3 = [(b"content-length", b"3")]

# One raw conversation per rule of aaf._conformance: (rule, method, what the app sends).
VIOLATIONS: list[tuple[Rule, str, list[dict[str, Any]]]] = [
    (c.MESSAGE_TYPE, "GET", [{"type": "nonsense"}]),
    (c.MESSAGE_TYPE, "GET", [_start(), {"type": "http.response.trailers"}]),
    (c.START_FIRST, "GET", [_body(b"x")]),
    (c.START_ONCE, "GET", [_start(), _start()]),
    (c.STATUS, "GET", [_start(600)]),
    (c.STATUS, "GET", [{"type": "http.response.start", "status": "200"}]),
    (c.HEADERS_SHAPE, "GET", [_start(headers=[(b"x-a", b"1", b"2")])]),
    (c.HEADER_BYTES, "GET", [_start(headers=[("x-a", b"1")])]),
    (c.HEADER_BYTES, "GET", [_start(headers=[(b"x-a", "1")])]),
    (c.HEADER_NAME_TOKEN, "GET", [_start(headers=[(b"x a", b"1")])]),
    (c.HEADER_NAME_LOWERCASE, "GET", [_start(headers=[(b"X-A", b"1")])]),
    (c.HEADER_VALUE_CHARS, "GET", [_start(headers=[(b"x-a", b"1\r\nx-b: 2")])]),
    (c.CONTENT_LENGTH_SINGLE, "GET", [_start(headers=_LENGTH_3 * 2)]),
    (c.CONTENT_TYPE_SINGLE, "GET", [_start(headers=[(b"content-type", b"a/b")] * 2)]),
    (c.CONTENT_LENGTH_VALUE, "GET", [_start(headers=[(b"content-length", b"-1")])]),
    (c.NO_CONTENT_LENGTH, "GET", [_start(204, [(b"content-length", b"0")])]),
    (c.NO_BODY, "GET", [_start(204), _body(b"x")]),
    (c.NO_BODY, "GET", [_start(304), _body(b"x")]),
    (c.NO_BODY, "GET", [_start(103), _body(b"x")]),
    (c.NO_BODY, "HEAD", [_start(200, _LENGTH_3), _body(b"abc")]),
    (c.NO_BODY, "HEAD", [_start(), _PATHSEND]),
    (c.BODY_BYTES, "GET", [_start(), _body("text")]),
    (c.BODY_TOO_LONG, "GET", [_start(headers=_LENGTH_3), _body(b"abcd")]),
    (c.BODY_TOO_SHORT, "GET", [_start(headers=_LENGTH_3), _body(b"ab")]),
    (c.PATHSEND_PATH, "GET", [_start(), {"type": "http.response.pathsend", "path": "rel"}]),
    (c.PATHSEND_WHOLE_BODY, "GET", [_start(), _body(b"x", more=True), _PATHSEND]),
    (c.AFTER_FINISH, "GET", [_start(), _body(b"x"), _body(b"y")]),
    (c.AFTER_FINISH, "GET", [_start(), _body(), _body()]),
    # The test client advertises no early hints, so it refuses them like such a server.
    (c.EARLY_HINT_ADVERTISED, "GET", [{"type": "http.response.early_hint", "links": [b"</a>"]}]),
]


def _raw_app(messages: list[dict[str, Any]], *, swallow: bool = False) -> Any:
    """A hand-written ASGI app sending ``messages``; ``swallow`` catches send()'s errors."""

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":  # HTTP messages on a lifespan scope break its rules
            raise RuntimeError("HTTP only")
        for message in messages:
            try:
                await send(message)
            except RuntimeError:
                if not swallow:
                    raise

    return app


def test_every_rule_is_covered_by_a_client_test() -> None:
    covered = {rule for rule, _, _ in VIOLATIONS}
    # UNFINISHED and NO_RESPONSE: see test_app_that_never_answers_is_an_error and below.
    # The early-hint rules that apply once the extension is advertised (the test client never
    # advertises it): tests/test_early_hints.py, against the checker.
    needs_early_hints = {c.EARLY_HINT_BEFORE_START, c.EARLY_HINT_LINKS}
    assert covered | {c.UNFINISHED, c.NO_RESPONSE} | needs_early_hints == set(c.RULES)


@pytest.mark.parametrize(("rule", "method", "messages"), VIOLATIONS)
def test_protocol_violations_by_the_app_are_reported(
    rule: Rule, method: str, messages: list[dict[str, Any]]
) -> None:
    with pytest.raises(ASGIProtocolError) as caught:
        TestClient(_raw_app(messages)).request(method, "/")
    assert caught.value.rule is rule


@pytest.mark.parametrize(("rule", "method", "messages"), VIOLATIONS)
def test_a_violation_the_app_catches_still_fails_the_request(
    rule: Rule, method: str, messages: list[dict[str, Any]]
) -> None:
    # The app goes on as if nothing happened (as aaf's own error handling would): the test
    # still sees the refusal, not a response a real server would never have sent.
    rest = [_start(500), _body(b"error")]
    with pytest.raises(ASGIProtocolError) as caught:
        TestClient(_raw_app(messages + rest, swallow=True)).request(method, "/")
    assert caught.value.rule is rule


@pytest.mark.parametrize(("rule", "method", "messages"), VIOLATIONS)
async def test_the_async_client_reports_violations_the_same_way(
    rule: Rule, method: str, messages: list[dict[str, Any]]
) -> None:
    async with AsyncTestClient(_raw_app(messages, swallow=True)) as client:
        with pytest.raises(ASGIProtocolError) as caught:
            await client.request(method, "/")
    assert caught.value.rule is rule


def test_a_violation_mid_stream_is_raised_while_streaming() -> None:
    app = _raw_app([_start(headers=_LENGTH_3), _body(b"ab", more=True), _body(b"cd")], swallow=True)
    with TestClient(app) as client, client.stream("GET", "/") as response:
        chunks = response.iter_raw()
        assert next(chunks) == b"ab"
        with pytest.raises(ASGIProtocolError) as caught:
            next(chunks)
    assert caught.value.rule is c.BODY_TOO_LONG


def test_a_violation_after_the_test_stopped_reading_is_raised_on_close() -> None:
    refused: list[bool] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send(_start())
        await send(_body(b"first", more=True))
        await receive()  # the client left
        try:
            await send(_body("not bytes"))
        except RuntimeError:
            refused.append(True)

    client = TestClient(app)
    response = client.send(client.build_request("GET", "/"), stream=True)
    assert next(response.iter_raw()) == b"first"
    with pytest.raises(ASGIProtocolError) as caught:
        response.close()
    assert caught.value.rule is c.BODY_BYTES
    assert refused == [True]


def test_returning_with_the_response_unfinished_is_a_truncated_response() -> None:
    # What an HTTP client sees when the server closes the connection mid-body.
    app = _raw_app([_start(), _body(b"partial", more=True)])
    with pytest.raises(httpx.RemoteProtocolError, match=r"\[unfinished\].*without finishing"):
        TestClient(app).get("/")


def test_a_refused_start_leaves_no_response_for_the_test() -> None:
    sent_after: list[str] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        with contextlib.suppress(RuntimeError):
            await send(_start(headers=[(b"Bad", b"1")]))
        try:
            await send(_start(500))  # what an error handler would do
        except RuntimeError as exc:
            sent_after.append(str(exc))
        assert await receive() == {"type": "http.request", "body": b"", "more_body": False}
        assert await receive() == {"type": "http.disconnect"}  # the connection was dropped

    with pytest.raises(ASGIProtocolError, match="header-name-lowercase"):
        TestClient(app).get("/")
    assert len(sent_after) == 1
    assert "earlier protocol violation [header-name-lowercase]" in sent_after[0]


def test_headers_sent_as_an_iterator_reach_the_test() -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        pairs = iter([(b"x-a", b"1"), (b"x-a", b"2")])
        await send({"type": "http.response.start", "status": 200, "headers": pairs})
        await send(_body(b"ok"))

    assert TestClient(app).get("/").headers.get_list("x-a") == ["1", "2"]


def test_pathsend_is_served_from_the_file(tmp_path: Any) -> None:
    target = tmp_path / "f.txt"
    target.write_bytes(b"from disk")

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.pathsend", "path": str(target)})

    assert TestClient(app).get("/").content == b"from disk"


def test_closing_a_stream_early_tells_the_app_the_client_left() -> None:
    seen: list[str] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await receive()  # the (empty) request body
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"first", "more_body": True})
        message = await receive()  # blocks until the client goes away
        seen.append(message["type"])
        try:
            await send({"type": "http.response.body", "body": b"late", "more_body": True})
        except OSError:
            seen.append("send refused")

    client = TestClient(app)
    with client.stream("GET", "/") as response:
        assert next(response.iter_raw()) == b"first"
    assert seen == ["http.disconnect", "send refused"]
