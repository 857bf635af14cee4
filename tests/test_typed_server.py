"""Typed handlers over a real server (uvicorn): typed arguments, problem details on the wire,
typed responses with status_code=, and a WebSocket handshake denied for a bad parameter."""

from __future__ import annotations

import base64
import os
import socket
from collections.abc import Iterator
from typing import Annotated

import httpx
import msgspec
import pytest

from aaf import Body, Connection, Header, Query, Router, aaf
from tests.support.servers import serve

pytestmark = pytest.mark.integration


class TaskIn(msgspec.Struct):
    title: Annotated[str, msgspec.Meta(min_length=1)]


class Task(msgspec.Struct):
    id: int
    title: str
    page: int


router = Router()


@router.post("/lists/<int:list_id>/tasks", status_code=201)
async def create(
    list_id: Annotated[int, msgspec.Meta(ge=1)],
    task: Body[TaskIn],
    page: Query[int] = 1,
    x_trace: Header[str | None] = None,
) -> Task:
    return Task(list_id, task.title + (x_trace or ""), page)


@router.websocket("/ws")
async def ws(conn: Connection, name: Query[str]) -> None:
    await conn.accept()
    await conn.send_text(name)
    await conn.close()


app = aaf([router])


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    with serve("tests.test_typed_server:app") as url:
        yield url


def test_a_valid_typed_request(base_url: str) -> None:
    response = httpx.post(
        f"{base_url}/lists/2/tasks?page=3", json={"title": "a"}, headers={"x-trace": "!"}
    )
    assert response.status_code == 201
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {"id": 2, "title": "a!", "page": 3}


def test_problem_details_on_the_wire(base_url: str) -> None:
    params = httpx.post(f"{base_url}/lists/0/tasks?page=x", json={"title": "a"})
    body = httpx.post(f"{base_url}/lists/1/tasks", json={"title": ""})
    media = httpx.post(f"{base_url}/lists/1/tasks", content=b"{}", headers={"content-type": "a/b"})
    malformed = httpx.post(
        f"{base_url}/lists/1/tasks", content=b"{", headers={"content-type": "application/json"}
    )
    assert params.status_code == 400
    assert {e["name"] for e in params.json()["errors"]} == {"list_id", "page"}
    assert (body.status_code, body.json()["errors"][0]["pointer"]) == (422, "/title")
    assert media.status_code == 415
    assert malformed.status_code == 400
    for response in (params, body, media, malformed):
        assert response.headers["content-type"] == "application/problem+json"
        assert int(response.headers["content-length"]) == len(response.content)


def _handshake(base_url: str, target: str) -> bytes:
    """The server's raw answer to a WebSocket upgrade request for ``target``."""
    host, port = base_url.removeprefix("http://").split(":")
    key = base64.b64encode(os.urandom(16)).decode()
    request = (
        f"GET {target} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(request.encode())
        answer = b""
        while b"\r\n\r\n" not in answer:
            chunk = sock.recv(4096)
            if not chunk:
                break
            answer += chunk
    return answer


def test_a_websocket_with_a_missing_parameter_is_refused_before_accept(base_url: str) -> None:
    assert _handshake(base_url, "/ws?name=ann").startswith(b"HTTP/1.1 101")
    refused = _handshake(base_url, "/ws")
    # uvicorn sends the app's denial (the websocket.http.response extension) as it is.
    assert refused.startswith(b"HTTP/1.1 400")
    assert b"content-type: application/problem+json" in refused.lower()
