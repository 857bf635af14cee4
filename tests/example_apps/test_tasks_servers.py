"""examples/tasks under real servers, over loopback sockets, on a SQLite file."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from ..support.servers import REPO, free_port, serve, stop, wait_for_port

pytestmark = pytest.mark.integration
TARGET = "examples.tasks.app:app"


def test_under_uvicorn_tasks_survive_a_server_restart(sqlite_url: str) -> None:
    env = {"DATABASE_URL": sqlite_url}
    with (
        serve(TARGET, server="uvicorn", env=env) as base_url,
        httpx.Client(base_url=base_url, timeout=30) as client,
    ):
        created = client.post("/tasks", json={"title": "Buy milk"})
        assert created.status_code == 201
        task = created.json()
        done = client.patch(f"/tasks/{task['id']}", json={"done": True}).json()
        assert client.get("/tasks", params={"q": "MILK", "done": "true"}).json()["items"] == [done]
        missing = client.get("/tasks/not-a-uuid")
        assert (missing.status_code, missing.json()) == (404, {"error": "not found"})
        refused = client.post("/tasks", content=b"title=x", headers={"content-type": "text/plain"})
        assert refused.status_code == 415
    # A new server process: the lifespan opens the same file and the schema already exists.
    with (
        serve(TARGET, server="uvicorn", env=env) as base_url,
        httpx.Client(base_url=base_url, timeout=30) as client,
    ):
        assert client.get("/tasks").json()["items"] == [done]


async def test_two_gunicorn_workers_share_one_sqlite_file(sqlite_url: str) -> None:
    # Two processes write the same file at once: WAL mode and the busy timeout make the
    # second writer wait for the lock instead of failing with "database is locked".
    with serve(TARGET, server="gunicorn", env={"DATABASE_URL": sqlite_url}) as base_url:
        async with httpx.AsyncClient(base_url=base_url, timeout=30) as client:
            titles = [f"from client {i}" for i in range(100)]
            responses = await asyncio.wait_for(
                asyncio.gather(*(client.post("/tasks", json={"title": t}) for t in titles)),
                timeout=60,
            )
            assert [r.status_code for r in responses] == [201] * 100
            listed = (await client.get("/tasks", params={"limit": "200"})).json()["items"]
    assert sorted(task["title"] for task in listed) == sorted(titles)
    assert len({task["id"] for task in listed}) == 100


def test_python_m_examples_tasks_serves_on_host_and_port(sqlite_url: str) -> None:
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": sqlite_url,
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "PYTHONPATH": str(REPO),
        "PYTHONUNBUFFERED": "1",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "examples.tasks"],
        cwd=Path(sqlite_url.removeprefix("sqlite:///")).parent,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        wait_for_port(port, process)
        response = httpx.post(f"http://127.0.0.1:{port}/tasks", json={"title": "hi"}, timeout=30)
        assert response.status_code == 201
    finally:
        stop(process)
    assert process.stdout is not None
    first_line = process.stdout.readline().decode()
    process.stdout.close()
    assert first_line == f"tasks API: http://127.0.0.1:{port}/tasks\n"
