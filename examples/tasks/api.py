"""The tasks JSON API as a router, so a bigger app can include it beside other routes.

    POST   /tasks          {"title": str, "done": bool = false}  -> 201 task
    GET    /tasks          ?q=<text in title, any case>&done=true|false -> [task, ...]
    GET    /tasks/<id>     -> task
    PATCH  /tasks/<id>     {"title"?: str, "done"?: bool} -> task
    DELETE /tasks/<id>     -> the deleted task

A task is ``{"id": <uuid4>, "title": <str>, "done": <bool>}``; errors are ``{"error": ...}``.
"""

from __future__ import annotations

import logging
from typing import Any
from uuid import UUID

from aaf import Connection, HTTPError, JsonResponse, Router
from aaf.routing import UUIDConverter

from .models import ChangeHook, ChangeKind, Task, TaskChange
from .repository import TaskRepository

__all__ = ["MAX_TITLE_LENGTH", "tasks_router"]

logger = logging.getLogger("examples.tasks")

MAX_TITLE_LENGTH = 500
_UUID = UUIDConverter()


def _task_id(text: str) -> UUID:
    # Not a <uuid:...> rule: a malformed id must get the same 404 body as an unknown one.
    try:
        return _UUID.to_python(text)
    except ValueError:
        raise HTTPError(404, "not found") from None


async def _json_object(conn: Connection) -> dict[str, Any]:
    data = await conn.json()  # 415 unless the content type is JSON, 400 if the JSON is invalid
    if not isinstance(data, dict):
        raise HTTPError(400, "the body must be a JSON object")
    return data


def _title(value: Any) -> str:
    if not isinstance(value, str):
        raise HTTPError(400, "title must be a string")
    if not value.strip():
        raise HTTPError(400, "title is required")
    if len(value) > MAX_TITLE_LENGTH:
        raise HTTPError(400, f"title must be at most {MAX_TITLE_LENGTH} characters")
    if "\x00" in value:
        # APPSEC: PostgreSQL text cannot store NUL; refuse it here rather than fail with a 500.
        raise HTTPError(400, "title must not contain NUL characters")
    return value


def _done(value: Any) -> bool:
    if not isinstance(value, bool):
        raise HTTPError(400, "done must be true or false")
    return value


def _done_filter(text: str | None) -> bool | None:
    if text is None:
        return None
    if text in ("true", "false"):
        return text == "true"
    raise HTTPError(400, "done must be true or false")


def tasks_router(repo: TaskRepository, on_change: ChangeHook | None = None) -> Router:
    """Routes for the tasks API on ``repo``; ``on_change`` (if given) is awaited after each
    committed change. Its errors are logged, never sent: the change is already stored."""
    router = Router()

    async def changed(kind: ChangeKind, task: Task) -> None:
        if on_change is None:
            return
        try:
            await on_change(TaskChange(kind, task))
        except Exception:
            logger.exception("the on_change hook failed for %s task %s", kind, task.id)

    @router.get("/tasks", name="tasks")
    async def list_tasks(conn: Connection) -> list[dict[str, object]]:
        query = conn.query
        tasks = await repo.find(
            contains=query.get("q") or None, done=_done_filter(query.get("done"))
        )
        return [task.to_json() for task in tasks]

    @router.post("/tasks", name="create_task")
    async def create_task(conn: Connection) -> JsonResponse:
        data = await _json_object(conn)
        if data.get("title") is None:
            raise HTTPError(400, "title is required")
        title = _title(data["title"])
        done = _done(data.get("done", False))
        task = await repo.create(title, done)
        await changed("created", task)
        location = conn.url_for("task", task_id=str(task.id))
        return JsonResponse(task.to_json(), 201, headers={"location": location})

    @router.get("/tasks/<task_id>", name="task")
    async def get_task(conn: Connection, task_id: str) -> dict[str, object]:
        task = await repo.get(_task_id(task_id))
        if task is None:
            raise HTTPError(404, "not found")
        return task.to_json()

    @router.patch("/tasks/<task_id>", name="update_task")
    async def update_task(conn: Connection, task_id: str) -> dict[str, object]:
        key = _task_id(task_id)
        data = await _json_object(conn)
        title = _title(data["title"]) if "title" in data else None
        done = _done(data["done"]) if "done" in data else None
        if title is None and done is None:
            task = await repo.get(key)  # nothing to change: answer with the task as it is
        else:
            task = await repo.update(key, title=title, done=done)
            if task is not None:
                await changed("updated", task)
        if task is None:
            raise HTTPError(404, "not found")
        return task.to_json()

    @router.delete("/tasks/<task_id>", name="delete_task")
    async def delete_task(conn: Connection, task_id: str) -> dict[str, object]:
        task = await repo.delete(_task_id(task_id))
        if task is None:
            raise HTTPError(404, "not found")
        await changed("deleted", task)
        return task.to_json()

    return router
