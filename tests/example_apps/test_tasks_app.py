"""examples/tasks as an app: its data across restarts and concurrent writes, the lifespan that
shares the repository, the change hook, and the router inside a bigger app (SQLite and
PostgreSQL, as tests/example_apps/test_tasks_api.py)."""

from __future__ import annotations

import asyncio
import logging
import uuid

import pytest
from examples.tasks import Settings, TaskChange, repository_for, tasks_router
from examples.tasks.app import build_app, repository_lifespan

from aaf import Connection, Router, aaf
from aaf.testing import AsyncTestClient

from . import test_tasks_api as api
from .test_tasks_api import create

# The API tests' client fixture, by name (pytest looks fixtures up among a module's attributes).
client = api.client


# ------------------------------------------------------------------------------ the database
async def test_tasks_survive_a_restart(database_url: str) -> None:
    settings = Settings(database_url=database_url)
    async with AsyncTestClient(build_app(settings)) as client:
        kept = await create(client, "kept")
        changed = await create(client, "changed")
        gone = await create(client, "gone")
        changed = (await client.patch(f"/tasks/{changed['id']}", json={"done": True})).json()
        await client.delete(f"/tasks/{gone['id']}")
    # A new app (new connections, schema creation run again) over the same database.
    async with AsyncTestClient(build_app(settings)) as client:
        assert (await client.get("/tasks")).json()["items"] == [kept, changed]
        assert (await create(client, "after"))["title"] == "after"
        assert len((await client.get("/tasks")).json()["items"]) == 3


async def test_100_concurrent_creates_lose_nothing(client: AsyncTestClient) -> None:
    titles = [f"concurrent {i}" for i in range(100)]
    responses = await asyncio.wait_for(
        asyncio.gather(*(client.post("/tasks", json={"title": t}) for t in titles)), timeout=60
    )
    assert [r.status_code for r in responses] == [201] * 100
    created = [r.json() for r in responses]
    assert len({task["id"] for task in created}) == 100
    listed = (await client.get("/tasks", params={"limit": "200"})).json()["items"]
    assert len(listed) == 100
    assert sorted(task["title"] for task in listed) == sorted(titles)
    assert {task["id"] for task in listed} == {task["id"] for task in created}


async def test_the_lifespan_shares_the_repository_as_state(database_url: str) -> None:
    app = build_app(Settings(database_url=database_url))
    async with AsyncTestClient(app) as client:
        task = await create(client, "via the API")
        repo = client.app_state["tasks"]
        stored = await repo.get(uuid.UUID(task["id"]))
        assert stored is not None
        assert stored.to_json() == task
    with pytest.raises(RuntimeError, match="not open; open it in the app lifespan"):
        await repo.find()


# ------------------------------------------------------------------------------ change hook
async def test_on_change_sees_every_committed_change(database_url: str) -> None:
    changes: list[TaskChange] = []

    async def record(change: TaskChange) -> None:
        changes.append(change)

    app = build_app(Settings(database_url=database_url), on_change=record)
    async with AsyncTestClient(app) as client:
        task = await create(client, "watched")
        await client.patch(f"/tasks/{task['id']}", json={"done": True})
        await client.patch(f"/tasks/{task['id']}", json={})  # no change, no event
        await client.patch(f"/tasks/{uuid.uuid4()}", json={"done": True})  # 404, no event
        await client.post("/tasks", json={"title": 1})  # 422, no event
        await client.delete(f"/tasks/{task['id']}")
    assert [change.to_json() for change in changes] == [
        {"type": "created", "task": task},
        {"type": "updated", "task": {**task, "done": True}},
        {"type": "deleted", "task": {**task, "done": True}},
    ]


async def test_a_failing_on_change_hook_is_logged_not_sent(
    sqlite_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    async def broken(change: TaskChange) -> None:
        raise ConnectionError("feed is down")

    app = build_app(Settings(database_url=sqlite_url), on_change=broken)
    with caplog.at_level(logging.ERROR, logger="examples.tasks"):
        async with AsyncTestClient(app) as client:
            response = await client.post("/tasks", json={"title": "stored anyway"})
            assert response.status_code == 201
            assert [t["title"] for t in (await client.get("/tasks")).json()["items"]] == [
                "stored anyway"
            ]
    [record] = caplog.records
    assert record.getMessage().startswith("the on_change hook failed for created task ")
    assert record.exc_info is not None
    assert isinstance(record.exc_info[1], ConnectionError)


# ------------------------------------------------------------------------------ composition
async def test_the_router_composes_into_a_bigger_app(sqlite_url: str) -> None:
    repo = repository_for(sqlite_url)
    site = Router()

    @site.get("/")
    async def home(conn: Connection) -> str:
        return "home page"

    site.include(tasks_router(repo), prefix="/api")
    app = aaf([site], lifespan=repository_lifespan(repo))
    async with AsyncTestClient(app) as client:
        created = await client.post("/api/tasks", json={"title": "nested"})
        assert created.status_code == 201
        assert created.headers["location"] == f"/api/tasks/{created.json()['id']}"
        assert (await client.get(created.headers["location"])).json() == created.json()
        assert (await client.get("/")).text == "home page"
        assert (await client.get("/tasks")).status_code == 404
