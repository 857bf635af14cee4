"""A small typed tasks API with its OpenAPI document and docs UI, served by the live OpenAPI
check (tests/test_openapi_live.py) and the docs UI browser test (tests/test_docs_ui_browser.py).
"""

from __future__ import annotations

import itertools
import uuid
from typing import Annotated

import msgspec
from msgspec import Meta

from aaf import App, Router
from aaf.connection import Connection
from aaf.docs_ui import docs_router
from aaf.openapi import openapi_router
from aaf.params import Body, Cookie, Header, Query, QueryParam
from aaf.problems import Problem, ProblemError

Title = Annotated[str, Meta(min_length=1, max_length=50)]


class TaskIn(msgspec.Struct, forbid_unknown_fields=True):
    title: Title
    priority: Annotated[int, Meta(ge=1, le=5)] = 3
    tags: list[Annotated[str, Meta(max_length=20)]] = []


class TaskPatch(msgspec.Struct, forbid_unknown_fields=True):
    done: bool


class Task(msgspec.Struct):
    id: int
    title: str
    priority: int
    tags: list[str]
    done: bool = False


class Echo(msgspec.Struct):
    key: uuid.UUID
    ratio: float
    trace: str | None
    theme: str


_MAX_TASKS = 200  # the store stays small however many requests a property test sends
_tasks: dict[int, Task] = {}
_ids = itertools.count(1)

api = Router(tags=["tasks"])


def _missing(task_id: int) -> ProblemError:
    return ProblemError(Problem(404, "Not Found", detail=f"no task {task_id}"))


@api.post("/tasks", status_code=201)
async def create_task(conn: Connection, task: Body[TaskIn]) -> Task:
    """Create a task.

    The title must not be empty; the priority goes from 1 to 5.
    """
    if len(_tasks) >= _MAX_TASKS:
        _tasks.pop(next(iter(_tasks)))
    created = Task(next(_ids), task.title, task.priority, task.tags)
    _tasks[created.id] = created
    return created


@api.get("/tasks")
async def list_tasks(
    conn: Connection,
    limit: Query[Annotated[int, Meta(ge=1, le=50)]] = 10,
    tag: Query[list[str]] = [],  # noqa: B006 - never mutated
    done: Annotated[bool | None, QueryParam("is-done")] = None,
) -> list[Task]:
    """List tasks, newest first."""
    found = [
        t
        for t in reversed(_tasks.values())
        if (not tag or set(tag) & set(t.tags)) and (done is None or t.done == done)
    ]
    return found[:limit]


@api.get("/tasks/<int:task_id>", responses={404: Problem})
async def get_task(task_id: int) -> Task:
    """One task."""
    task = _tasks.get(task_id)
    if task is None:
        raise _missing(task_id)
    return task


@api.patch("/tasks/<int:task_id>", responses={404: Problem})
async def update_task(conn: Connection, task_id: int, patch: Body[TaskPatch]) -> Task:
    """Mark a task done or not done."""
    task = _tasks.get(task_id)
    if task is None:
        raise _missing(task_id)
    _tasks[task_id] = updated = msgspec.structs.replace(task, done=patch.done)
    return updated


@api.delete("/tasks/<int:task_id>", responses={404: Problem})
async def delete_task(task_id: int) -> None:
    """Delete a task."""
    if _tasks.pop(task_id, None) is None:
        raise _missing(task_id)


@api.get("/echo/<uuid:key>/<float:ratio>", tags=["tools"])
async def echo(
    conn: Connection,
    key: uuid.UUID,
    ratio: float,
    x_trace: Header[Annotated[str, Meta(max_length=40)] | None] = None,
    theme: Cookie[str] = "light",
) -> Echo:
    """Echo what the request carried."""
    return Echo(key, ratio, x_trace, theme)


app = App(
    [
        api,
        openapi_router(title="Typed tasks", version="1.0"),
        docs_router(ui=("swagger", "redoc", "scalar")),
    ],
    problem_details=True,
)
