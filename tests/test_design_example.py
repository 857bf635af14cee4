"""docs/design.md's "What it must feel like" app (HTTP parts), unchanged, in the test client and
under real ASGI servers over loopback sockets."""

from __future__ import annotations

import asyncio
import time
import uuid

import httpx
import pytest
from examples.hello.app import app

from aaf.testing import TestClient

from .support.servers import serve

SERVERS = ["uvicorn", "aaf", "hypercorn", "daphne", "granian", "gunicorn"]


@pytest.fixture
def fast_count(monkeypatch: pytest.MonkeyPatch) -> None:
    # The example sleeps a second between lines; in-process only the shape matters.
    async def no_sleep(seconds: float) -> None:
        return None

    monkeypatch.setattr(asyncio, "sleep", no_sleep)


def check_app(client: httpx.Client) -> None:
    assert client.get("/").text == "Hello, world"
    assert client.get("/hello/ada").text == "Hello, ada"
    head = client.head("/hello/ada")
    assert (head.status_code, head.headers["content-length"], head.content) == (200, "10", b"")
    echo = client.post("/echo", content=b"\x00binary body\xff")
    assert echo.content == b"\x00binary body\xff"
    task_id = uuid.uuid4()
    assert client.get(f"/tasks/{task_id}").json() == {"id": str(task_id)}
    assert client.get("/tasks/not-a-uuid").status_code == 404
    assert client.get("/hello/ada/").status_code == 200  # followed the 308
    assert client.delete("/echo").headers["allow"] == "OPTIONS, POST"


@pytest.mark.usefixtures("fast_count")
def test_in_the_test_client() -> None:
    with TestClient(app, follow_redirects=True) as client:
        check_app(client)
        with client.stream("GET", "/count/3") as response:
            assert list(response.iter_lines()) == ["count 0", "count 1", "count 2"]


@pytest.mark.integration
@pytest.mark.parametrize("server", SERVERS)
def test_under_real_servers(server: str) -> None:
    with (
        serve("examples.hello.app:app", server=server) as base_url,
        httpx.Client(base_url=base_url, follow_redirects=True, timeout=30) as client,
    ):
        check_app(client)


@pytest.mark.integration
def test_imperative_streaming_arrives_line_by_line_over_a_socket() -> None:
    with (
        serve("examples.hello.app:app") as base_url,
        httpx.Client(base_url=base_url, timeout=30) as client,
        client.stream("GET", "/count/2") as response,
    ):
        arrivals = []
        for line in response.iter_lines():
            arrivals.append((line, time.monotonic()))
    assert [line for line, _ in arrivals] == ["count 0", "count 1"]
    # The example sleeps a second after each line: the first arrived well before the end.
    assert arrivals[1][1] - arrivals[0][1] > 0.5
