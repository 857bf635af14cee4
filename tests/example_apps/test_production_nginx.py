"""The production shape of docs/deployment.md, tested: Debian's nginx, configured from the
block in the docs, in front of gunicorn with two uvicorn workers serving the demo (SQLite in a
temporary directory, Redis so both workers share the chat and the feed).

Checked through nginx: the page and the API, the live feed streamed without buffering, the
chat's WebSocket upgrade, the client's real address reaching aaf's proxy-headers middleware,
and a rolling restart of the workers (SIGHUP to gunicorn) that drops no request.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import ssl
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import httpx
import pytest
from websockets.asyncio.client import connect

from ..support.nginx import Nginx, nginx_server
from ..support.servers import free_port, repo_env, run_process, tail
from ..support.sse_frames import FrameReader

pytestmark = pytest.mark.integration

TARGET = "tests.support.production_demo:app"
WORKER = "tests.support.production_demo.Worker"
WORKERS = 2


@dataclass(frozen=True)
class Production:
    nginx: Nginx
    gunicorn: subprocess.Popen[bytes]
    gunicorn_log: IO[bytes]
    tls: ssl.SSLContext

    def client(self, **kwargs: Any) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            base_url=self.nginx.base_url, verify=self.tls, timeout=10, **kwargs
        )


def gunicorn_command(port: int) -> list[str]:
    return [
        sys.executable,
        "-m",
        "gunicorn",
        "--worker-class",
        WORKER,
        "--workers",
        str(WORKERS),
        "--bind",
        f"127.0.0.1:{port}",
        "--graceful-timeout",
        "10",
        "--log-level",
        "warning",
        TARGET,
    ]


def workers_of(master: int) -> set[int]:
    """The PIDs of the master's children (its workers), read from /proc."""
    children = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue  # gone meanwhile
        # "pid (comm) state ppid ...": comm may hold spaces, so split after its ')'.
        if int(stat.rpartition(")")[2].split()[1]) == master:
            children.add(int(entry.name))
    return children


READY_WITHIN = 30.0  # seconds for the workers to start and finish their lifespan
LOG_WITHIN = 10.0  # seconds for a request's access-log line to appear


async def wait_until_ready(production: Production) -> None:
    """Until /readyz answers 200 through nginx (the workers finished their lifespan)."""
    timeout = READY_WITHIN
    deadline = time.monotonic() + timeout
    async with production.client() as client:
        while True:
            try:
                if (await client.get("/readyz")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"the demo was not ready through nginx within {timeout}s:\n"
                    f"{tail(production.gunicorn_log)}"
                )
            await asyncio.sleep(0.1)


@pytest.fixture(scope="module")
def production(
    tmp_path_factory: pytest.TempPathFactory, redis_server_url: str
) -> Iterator[Production]:
    tmp = tmp_path_factory.mktemp("production")
    port = free_port()
    env = repo_env(
        {
            "DATABASE_URL": f"sqlite:///{tmp / 'tasks.db'}",
            "REDIS_URL": redis_server_url,
            "CHAT_JWT_SECRET": "",
        }
    )
    with (
        (tmp / "gunicorn.log").open("w+b") as log,
        run_process(gunicorn_command(port), port, "gunicorn", env=env, log=log) as gunicorn,
        nginx_server(f"127.0.0.1:{port}") as nginx,
    ):
        tls = ssl.create_default_context(cafile=str(nginx.certificate))
        result = Production(nginx, gunicorn, log, tls)
        asyncio.run(wait_until_ready(result))
        yield result


def wss_url(production: Production, path: str) -> str:
    return "wss" + production.nginx.base_url.removeprefix("https") + path


# ------------------------------------------------------------------------------ through nginx
async def test_the_page_and_the_api_work_through_nginx(production: Production) -> None:
    async with production.client() as client:
        page = await client.get("/")
        assert page.status_code == 200
        assert page.headers["content-type"].startswith("text/html")
        assert "<html" in page.text.lower()
        title = f"through nginx {uuid.uuid4().hex[:8]}"
        created = await client.post("/tasks", json={"title": title})
        assert created.status_code == 201
        task = created.json()
        assert (await client.get(f"/tasks/{task['id']}")).json() == task


async def test_the_feed_streams_through_nginx_without_buffering(production: Production) -> None:
    async with production.client() as client, client.stream("GET", "/feed") as response:
        assert response.status_code == 200
        reader = FrameReader(response, timeout=5)
        hello = await reader.next()
        assert hello.id is not None
        # Published after the client connected (through either worker, via Redis): it must
        # arrive while the stream is open, not when a buffer fills or the stream ends.
        created = (await client.post("/tasks", json={"title": "streamed"})).json()
        frame = await reader.next_event()
        assert (frame.event, frame.json()) == ("created", created)
        assert not response.is_closed


async def test_a_chat_websocket_upgrades_through_nginx(production: Production) -> None:
    room = f"room-{uuid.uuid4().hex[:8]}"
    url = wss_url(production, f"/chat/{room}?user=alice")
    async with connect(url, ssl=production.tls, open_timeout=10) as alice:
        joined = json.loads(await asyncio.wait_for(alice.recv(), 5))
        assert joined == {"type": "user_joined", "user": "alice", "room": room, "user_count": 1}
        await alice.send(json.dumps({"type": "chat", "message": "hello through nginx"}))
        message = json.loads(await asyncio.wait_for(alice.recv(), 5))
        assert (message["type"], message["user"], message["message"]) == (
            "chat",
            "alice",
            "hello through nginx",
        )


async def access_log_line(production: Production, marker: str) -> str:
    """The aaf access-log line (from gunicorn's stderr) of the request carrying ``marker``."""
    deadline = time.monotonic() + LOG_WITHIN
    while time.monotonic() < deadline:
        production.gunicorn_log.seek(0)
        for line in production.gunicorn_log.read().decode(errors="replace").splitlines():
            if line.startswith("aaf.access ") and marker in line:
                return line
        await asyncio.sleep(0.05)
    raise AssertionError(f"no access-log line for {marker!r}:\n{tail(production.gunicorn_log)}")


async def test_the_real_client_address_reaches_the_app(production: Production) -> None:
    # The client connects from 127.0.0.2 (any 127.x address is loopback); nginx, on 127.0.0.1,
    # is the trusted proxy. The client's own X-Forwarded-For must not be believed.
    marker = uuid.uuid4().hex
    transport = httpx.AsyncHTTPTransport(local_address="127.0.0.2", verify=production.tls)
    async with production.client(transport=transport) as client:
        response = await client.get(
            f"/livez?probe={marker}", headers={"x-forwarded-for": "198.51.100.9"}
        )
    assert response.status_code == 200
    line = await access_log_line(production, marker)
    assert line.startswith("aaf.access 127.0.0.2:"), line
    assert "198.51.100.9" not in line


async def test_a_rolling_restart_drops_no_request(production: Production) -> None:
    master = production.gunicorn.pid
    old_workers = workers_of(master)
    assert len(old_workers) == WORKERS, old_workers
    failures: list[str] = []
    sent = 0
    restarted = False
    deadline = time.monotonic() + 60
    async with production.client() as client:
        # At least 300 requests, and until every old worker has gone: the stream spans the
        # whole restart (bounded by the deadline).
        while sent < 300 or workers_of(master) & old_workers:
            if time.monotonic() > deadline:
                pytest.fail(f"the old workers were still there after 60 s ({sent} requests)")
            if sent == 50 and not restarted:
                os.kill(master, signal.SIGHUP)
                restarted = True
            sent += 1
            try:
                response = await client.get("/tasks?limit=1")
            except httpx.TransportError as exc:
                failures.append(f"request {sent}: {exc!r}")
                continue
            if response.status_code != 200:
                failures.append(f"request {sent}: {response.status_code} {response.text[:200]}")
    new_workers = workers_of(master)
    assert len(new_workers) == WORKERS
    assert not new_workers & old_workers
    assert failures == [], f"{len(failures)} of {sent} requests failed: {failures[:5]}"
