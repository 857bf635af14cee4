"""The tasks JSON API as a router, so a bigger app can include it beside other routes.

    POST   /tasks          {"title": str, "done": bool = false}  -> 201 task
    GET    /tasks          ?q=<text in title, any case>&done=true|false&limit=50&cursor=<next>
                           -> {"items": [task, ...], "next": <cursor of the next page> | null}
    GET    /tasks/<id>     -> task
    PATCH  /tasks/<id>     {"title"?: str, "done"?: bool} -> task
    DELETE /tasks/<id>     -> the deleted task

A task is ``{"id": <uuid4>, "title": <str>, "done": <bool>}``; errors are ``{"error": ...}``.
Any route answers 503 ``{"error": "database unavailable"}`` with ``Retry-After`` when the
database does not answer within ``DATABASE_TIMEOUT`` (see ``settings``), refuses connections
or stays locked.
Lists come in creation order, ``limit`` tasks a page (default 50, at most 200); ``next`` is an
opaque cursor to pass back as ``?cursor=`` (with the same filters) for the following page.
Titles are stored without leading or trailing whitespace and invisible characters (see
``titles.clean_title``).
"""

from __future__ import annotations

import logging
from typing import Any
from uuid import UUID

from aaf import Connection, HTTPError, JsonResponse, Router
from aaf.routing import UUIDConverter

from .models import ChangeHook, ChangeKind, Task, TaskChange
from .repository import DEFAULT_PAGE_SIZE, TaskRepository
from .titles import MAX_TITLE_LENGTH, TitleError, clean_title

__all__ = ["DEFAULT_PAGE_SIZE", "MAX_PAGE_SIZE", "MAX_TITLE_LENGTH", "tasks_router"]

logger = logging.getLogger("examples.tasks")

# APPSEC: a list answer is bounded whatever the table holds; clients page with the cursor.
MAX_PAGE_SIZE = 200
# Cursors are creation sequence numbers; 18 digits always fit a signed 64-bit integer.
_MAX_CURSOR_DIGITS = 18
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
    try:
        return clean_title(value)
    except TitleError as exc:
        raise HTTPError(400, str(exc)) from None


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


def _limit(text: str | None) -> int:
    if text is None:
        return DEFAULT_PAGE_SIZE
    # ASCII digits and a length bound: no "+5", " 5", non-ASCII digits or huge int() parsing.
    if text.isascii() and text.isdecimal() and len(text) <= 3 and 1 <= int(text) <= MAX_PAGE_SIZE:
        return int(text)
    raise HTTPError(400, f"limit must be a whole number from 1 to {MAX_PAGE_SIZE}")


def _cursor(text: str | None) -> int:
    if text is None:
        return 0
    if text.isascii() and text.isdecimal() and len(text) <= _MAX_CURSOR_DIGITS:
        return int(text)
    raise HTTPError(400, "cursor must be the next value of an earlier page")


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
    async def list_tasks(conn: Connection) -> dict[str, object]:
        query = conn.query
        page = await repo.find(
            contains=query.get("q") or None,
            done=_done_filter(query.get("done")),
            after=_cursor(query.get("cursor")),
            limit=_limit(query.get("limit")),
        )
        # The cursor is a string: clients treat it as opaque and pass it back unchanged.
        cursor = None if page.next is None else str(page.next)
        return {"items": [task.to_json() for task in page.tasks], "next": cursor}

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
