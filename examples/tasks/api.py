"""The tasks JSON API as a router, so a bigger app can include it beside other routes.

    POST   /tasks          {"title": str, "done": bool = false}  -> 201 task
    GET    /tasks          ?q=<text in title, any case>&done=true|false&limit=50&cursor=<next>
                           -> {"items": [task, ...], "next": <cursor of the next page> | null}
    GET    /tasks/<id>     -> task
    PATCH  /tasks/<id>     {"title"?: str, "done"?: bool} -> task
    DELETE /tasks/<id>     -> the deleted task

A task is ``{"id": <uuid4>, "title": <str>, "done": <bool>}`` (``models.Task``). The handlers
are typed: aaf decodes and checks bodies and query parameters from the signatures, answers
invalid ones with problem details (``application/problem+json``: 400 for parameters and
malformed JSON, 415 for another content type, 422 for a body that does not fit its type), and
the same types describe the API in the OpenAPI document.

An unknown task is 404 ``{"error": "not found"}``. Any route answers 503
``{"error": "database unavailable"}`` with ``Retry-After`` when the database does not answer
within ``DATABASE_TIMEOUT`` (see ``settings``), refuses connections or stays locked.
Lists come in creation order, ``limit`` tasks a page (default 50, at most 200); ``next`` is an
opaque cursor to pass back as ``?cursor=`` (with the same filters) for the following page.
Titles are stored without leading or trailing whitespace and invisible characters (see
``titles.clean_title``).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Annotated, Any, Literal
from uuid import UUID

import msgspec

from aaf import Body, Connection, FieldError, HTTPError, Problem, ProblemError, Query, Router
from aaf.routing import UUIDConverter

from .models import (
    ChangeHook,
    ChangeKind,
    Cursor,
    ErrorMessage,
    Task,
    TaskChange,
    TaskIn,
    TaskPage,
    TaskPatch,
)
from .repository import DEFAULT_PAGE_SIZE, TaskRepository
from .titles import MAX_TITLE_LENGTH, TitleError, clean_title

__all__ = ["DEFAULT_PAGE_SIZE", "MAX_PAGE_SIZE", "MAX_TITLE_LENGTH", "TAG", "tasks_router"]

logger = logging.getLogger("examples.tasks")

TAG = "tasks"
# APPSEC: a list answer is bounded whatever the table holds; clients page with the cursor.
MAX_PAGE_SIZE = 200
PageSize = Annotated[int, msgspec.Meta(ge=1, le=MAX_PAGE_SIZE)]
# Exactly "true" or "false", as before typing: a bool would also take "1" and "True", and one
# spelling per filter keeps cached and bookmarked list URLs from aliasing.
DoneFilter = Literal["true", "false"]

_UUID = UUIDConverter()
_NOT_FOUND = "not found"
# Every route reads the database: each may answer 503 (repository.DatabaseUnavailable).
_UNAVAILABLE: Mapping[int, Any] = {503: ErrorMessage}
_MISSING: Mapping[int, Any] = {404: ErrorMessage, **_UNAVAILABLE}


def _task_id(text: str) -> UUID:
    # Not a <uuid:...> rule: a malformed id gets the same 404 body as an unknown one (and
    # another method on it the same 405), instead of the router's "no such route".
    try:
        return _UUID.to_python(text)
    except ValueError:
        raise HTTPError(404, _NOT_FOUND) from None


def _found(task: Task | None) -> Task:
    if task is None:
        raise HTTPError(404, _NOT_FOUND)
    return task


def _clean(title: str) -> str:
    """What a type cannot say (invisible edges, NUL): a 422 pointing at the body's title, as
    the runtime's own 422 problems are made."""
    try:
        return clean_title(title)
    except TitleError as exc:
        error = FieldError("body", str(exc), pointer="/title")
        raise ProblemError(Problem.for_status(422, str(exc), [error])) from None


def tasks_router(repo: TaskRepository, on_change: ChangeHook | None = None) -> Router:
    """Routes for the tasks API on ``repo``; ``on_change`` (if given) is awaited after each
    committed change. Its errors are logged, never sent: the change is already stored.

    The handlers reach ``repo`` by closure rather than ``FromState``: the router is built for
    one repository, so it needs no lifespan key and can be included twice on two databases.
    """
    router = Router(tags=[TAG])

    async def changed(kind: ChangeKind, task: Task) -> None:
        if on_change is None:
            return
        try:
            await on_change(TaskChange(kind, task))
        except Exception:
            logger.exception("the on_change hook failed for %s task %s", kind, task.id)

    @router.get("/tasks", name="tasks", responses=_UNAVAILABLE)
    async def list_tasks(
        q: Query[str | None] = None,
        done: Query[DoneFilter | None] = None,
        limit: Query[PageSize] = DEFAULT_PAGE_SIZE,
        cursor: Query[Cursor | None] = None,
    ) -> TaskPage:
        """List tasks in creation order, a page at a time.

        `q` keeps tasks whose title contains it (any case); `done` keeps finished or open
        tasks; `cursor` is the `next` of the previous page (with the same filters).
        """
        return await repo.find(
            contains=q or None,
            done=None if done is None else done == "true",
            after=0 if cursor is None else int(cursor),
            limit=limit,
        )

    @router.post("/tasks", name="create_task", status_code=201, responses=_UNAVAILABLE)
    async def create_task(conn: Connection, data: Body[TaskIn]) -> Task:
        """Create a task.

        The answer's `Location` header is the new task's URL.
        """
        task = await repo.create(_clean(data.title), data.done)
        await changed("created", task)
        conn.put_resp_header("location", conn.url_for("task", task_id=str(task.id)))
        return task

    @router.get("/tasks/<task_id>", name="task", responses=_MISSING)
    async def get_task(task_id: str) -> Task:
        """One task."""
        return _found(await repo.get(_task_id(task_id)))

    @router.patch("/tasks/<task_id>", name="update_task", responses=_MISSING)
    async def update_task(task_id: str, patch: Body[TaskPatch]) -> Task:
        """Change a task's title and/or state.

        Fields left out keep their value; an empty object answers the task as it is.
        """
        key = _task_id(task_id)
        title = None if patch.title is msgspec.UNSET else _clean(patch.title)
        done = None if patch.done is msgspec.UNSET else patch.done
        if title is None and done is None:
            return _found(await repo.get(key))  # nothing to change: the task as it is
        task = _found(await repo.update(key, title=title, done=done))
        await changed("updated", task)
        return task

    @router.delete("/tasks/<task_id>", name="delete_task", responses=_MISSING)
    async def delete_task(task_id: str) -> Task:
        """Delete a task; the answer is the task as it was."""
        task = _found(await repo.delete(_task_id(task_id)))
        await changed("deleted", task)
        return task

    return router
