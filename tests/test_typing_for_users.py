"""What `mypy --strict` tells a user of aaf: their usual code type-checks, and mistakes that
types can catch are caught (one mypy run over a small user module)."""

from __future__ import annotations

import os
from pathlib import Path

from mypy import api

USER_CODE = """
from aaf import Connection, HTTPError, JsonResponse, Middleware, Router, aaf
from aaf.middleware.cors import CORSMiddleware


async def not_found(conn: Connection, exc: HTTPError) -> JsonResponse:
    return JsonResponse({"missing": conn.path}, 404)


def bad_value(conn: Connection, exc: ValueError) -> JsonResponse:
    return JsonResponse({"error": str(exc)}, 400)


# A handlers dict built in a variable: keys of two kinds, handlers of two signatures.
handlers = {404: not_found, ValueError: bad_value}
router = Router()


@router.get("/")
async def index(conn: Connection) -> dict[str, int]:
    # conn.app is never None inside a handler: no Optional to narrow.
    return {"keys": len(conn.app.state), "limit": conn.app.limits_for(conn.route).body}


app = aaf(
    [router],
    exception_handlers=handlers,
    middleware=[Middleware(CORSMiddleware, allow_origins=["*"])],
)
typo = Middleware(CORSMiddleware, allow_origin=["*"])  # line 30: the one error expected
"""


def test_user_code_type_checks_and_middleware_options_are_checked(tmp_path: Path) -> None:
    module = tmp_path / "user_app.py"
    module.write_text(USER_CODE)
    stdout, stderr, _ = api.run(
        [str(module), "--strict", "--no-incremental", "--config-file", os.devnull]
    )
    errors = [line for line in stdout.splitlines() if ": error:" in line]
    assert len(errors) == 1, stdout + stderr
    assert "user_app.py:30:" in errors[0]
    assert 'Unexpected keyword argument "allow_origin"' in errors[0]


TYPED_CODE = """
from typing import Annotated

import msgspec

from aaf import Body, Connection, Cookie, FromState, Header, Problem, Query, Router
from aaf.params import QueryParam
from aaf.sse import EventSourceResponse


class TaskIn(msgspec.Struct):
    title: str


class Task(msgspec.Struct):
    id: int
    title: str


class Repository:
    def add(self, title: str) -> Task:
        return Task(1, title)


router = Router()


@router.post("/tasks/<int:list_id>", status_code=201, responses={409: Problem})
async def create(
    conn: Connection,
    list_id: int,
    task: Body[TaskIn],
    repo: FromState[Repository],
    page: Query[int] = 1,
    size: Annotated[int, QueryParam("page-size")] = 20,
    trace: Header[str | None] = None,
    session: Cookie[str | None] = None,
) -> Task:
    total: int = list_id + page + size
    title: str = task.title.upper()
    if trace is not None and session is not None:
        title += trace + session
    return repo.add(title)


async def wrong(page: Query[int]) -> None:
    text: str = page  # line 47: the one error expected (Query[int] is an int)


async def changes() -> EventSourceResponse[Task]:  # the event type, for the document
    return EventSourceResponse([Task(1, "a")])


async def untyped_changes() -> EventSourceResponse:  # a bare annotation stays valid
    return EventSourceResponse([])
"""


def test_typed_handler_markers_type_check_as_their_inner_type(tmp_path: Path) -> None:
    module = tmp_path / "typed_app.py"
    module.write_text(TYPED_CODE)
    stdout, stderr, _ = api.run(
        [str(module), "--strict", "--no-incremental", "--config-file", os.devnull]
    )
    errors = [line for line in stdout.splitlines() if ": error:" in line]
    assert len(errors) == 1, stdout + stderr
    assert "typed_app.py:47:" in errors[0]
    assert 'expression has type "int", variable has type "str"' in errors[0]
