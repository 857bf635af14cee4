"""The in-process test clients themselves: scope building, streaming, errors, root_path."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from aaf.testing import AsyncTestClient, TestClient


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


@pytest.mark.parametrize(
    "messages",
    [
        [{"type": "http.response.body", "body": b"x"}],
        [
            {"type": "http.response.start", "status": 200, "headers": []},
            {"type": "http.response.start", "status": 200, "headers": []},
        ],
        [
            {"type": "http.response.start", "status": 200, "headers": []},
            {"type": "http.response.body", "body": b""},
            {"type": "http.response.body", "body": b""},
        ],
        [{"type": "nonsense"}],
    ],
)
def test_protocol_violations_by_the_app_are_reported(messages: list[dict[str, Any]]) -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        for message in messages:
            await send(message)

    with pytest.raises((RuntimeError, httpx.RemoteProtocolError)):
        TestClient(app).get("/")


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
