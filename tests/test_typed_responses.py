"""Typed responses (Struct, dataclass, attrs, lists of them), ``status_code=``, and problem
details for every HTTPError with ``App(problem_details=True)``."""

from __future__ import annotations

import dataclasses
from typing import Any

import attrs
import msgspec
import pytest

from aaf import Connection, HTTPError, JsonResponse, Router, aaf
from aaf.params import Body, Query
from aaf.problems import FieldError, Problem, ProblemError
from aaf.testing import TestClient, WebSocketDenied


class Task(msgspec.Struct):
    id: int
    title: str


@dataclasses.dataclass
class TaskData:
    id: int
    title: str


@attrs.define
class TaskAttrs:
    id: int
    title: str


def returns_router() -> Router:
    router = Router()

    @router.get("/struct")
    async def struct() -> Task:
        return Task(1, "a")

    @router.get("/dataclass")
    def dataclass(conn: Connection) -> TaskData:  # untyped, and a def handler
        return TaskData(2, "b")

    @router.get("/attrs")
    async def attrs_task() -> TaskAttrs:
        return TaskAttrs(3, "c")

    @router.get("/list")
    async def many() -> list[Task | TaskData]:
        return [Task(1, "a"), TaskData(2, "b")]

    return router


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/struct", {"id": 1, "title": "a"}),
        ("/dataclass", {"id": 2, "title": "b"}),
        ("/attrs", {"id": 3, "title": "c"}),
        ("/list", [{"id": 1, "title": "a"}, {"id": 2, "title": "b"}]),
    ],
)
def test_structs_dataclasses_attrs_and_lists_are_json(path: str, body: Any) -> None:
    with TestClient(aaf([returns_router()])) as client:
        response = client.get(path)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.json() == body


def test_a_dataclass_class_is_not_a_response(caplog: pytest.LogCaptureFixture) -> None:
    router = Router()

    @router.get("/")
    async def index() -> Any:
        return TaskData  # the class, not an instance

    with TestClient(aaf([router])) as client:
        assert client.get("/").status_code == 500
    assert "handler returned type" in caplog.text


def test_status_code_applies_to_returned_values_not_to_responses() -> None:
    router = Router()

    @router.post("/tasks", status_code=201)
    async def create(task: Body[Task]) -> Task:
        return task

    @router.post("/plain", status_code=201)
    async def plain(conn: Connection) -> dict[str, int]:
        return {"ok": 1}

    @router.post("/response", status_code=201)
    async def response() -> JsonResponse:
        return JsonResponse({"ok": 1}, 200)

    @router.post("/chosen", status_code=201)
    async def chosen(conn: Connection) -> dict[str, int]:
        conn.resp_status_code = 202
        return {"ok": 1}

    @router.post("/empty", status_code=201)
    async def empty(conn: Connection) -> None:
        return None

    with TestClient(aaf([router])) as client:
        created = client.post("/tasks", json={"id": 1, "title": "a"})
        assert (created.status_code, created.json()) == (201, {"id": 1, "title": "a"})
        assert client.post("/plain").status_code == 201
        assert client.post("/response").status_code == 200
        assert client.post("/chosen").status_code == 202
        assert client.post("/empty").status_code == 201
        # A failed typed request keeps its error status.
        assert client.post("/tasks", json={}).status_code == 422


def errors_router() -> Router:
    router = Router()

    @router.get("/items")
    async def items(page: Query[int] = 1) -> dict[str, int]:
        return {"page": page}

    @router.get("/teapot")
    async def teapot(conn: Connection) -> None:
        raise HTTPError(418, "no coffee", headers={"x-why": "teapot"})

    @router.get("/structured")
    async def structured(conn: Connection) -> None:
        raise HTTPError(409, {"task": 1})

    @router.get("/crash")
    async def crash(conn: Connection) -> None:
        raise RuntimeError("secret detail")

    @router.get("/conflict")
    async def conflict(conn: Connection) -> None:
        problem = Problem(409, "Conflict", detail="closed", errors=[FieldError("path", "x")])
        raise ProblemError(problem)

    return router


def test_the_default_error_shape_is_unchanged() -> None:
    with TestClient(aaf([errors_router()])) as client:
        missing = client.get("/nowhere")
        teapot = client.get("/teapot")
        crash = client.get("/crash")
    assert (missing.status_code, missing.json()) == (404, {"error": "Not Found"})
    assert missing.headers["content-type"] == "application/json"
    assert teapot.json() == {"error": "no coffee"}
    assert (crash.status_code, crash.text) == (500, "Internal Server Error")


def test_problem_details_for_every_http_error() -> None:
    with TestClient(aaf([errors_router()], problem_details=True)) as client:
        missing = client.get("/nowhere")
        wrong_method = client.post("/items")
        teapot = client.get("/teapot")
        structured = client.get("/structured")
        crash = client.get("/crash")
    for response in (missing, wrong_method, teapot, structured, crash):
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["status"] == response.status_code
        assert response.json()["type"] == "about:blank"
    assert missing.json() == {
        "status": 404,
        "title": "Not Found",
        "type": "about:blank",
        "errors": [],
    }
    assert wrong_method.status_code == 405
    assert wrong_method.headers["allow"] == "GET, HEAD, OPTIONS"
    assert teapot.json()["detail"] == "no coffee"
    assert teapot.headers["x-why"] == "teapot"
    assert structured.json()["detail"] == '{"task":1}'
    assert crash.json() == {
        "status": 500,
        "title": "Internal Server Error",
        "type": "about:blank",
        "errors": [],
    }
    assert "secret" not in crash.text


def test_a_raised_problem_error_is_a_problem_whatever_the_setting() -> None:
    with TestClient(aaf([errors_router()])) as client:
        response = client.get("/conflict")
    assert response.status_code == 409
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json() == {
        "status": 409,
        "title": "Conflict",
        "type": "about:blank",
        "detail": "closed",
        "errors": [{"in": "path", "detail": "x"}],
    }


def test_an_exception_handler_still_sees_typed_errors_first() -> None:
    async def on_bad_request(conn: Connection, exc: HTTPError) -> JsonResponse:
        assert isinstance(exc, ProblemError)
        return JsonResponse({"fields": [e.name for e in exc.problem.errors]}, 400)

    app = aaf([errors_router()], exception_handlers={400: on_bad_request})
    with TestClient(app) as client:
        assert client.get("/items?page=x").json() == {"fields": ["page"]}


def test_typed_websocket_parameters_and_a_denied_handshake() -> None:
    router = Router()

    @router.websocket("/ws/<int:room>")
    async def chat(conn: Connection, room: int, name: Query[str], limit: Query[int] = 5) -> None:
        await conn.accept()
        await conn.send_json({"room": room, "name": name, "limit": limit})
        await conn.close()

    with TestClient(aaf([router])) as client:
        with client.websocket_connect("/ws/3?name=ann") as ws:
            assert ws.receive_json() == {"room": 3, "name": "ann", "limit": 5}
        with pytest.raises(WebSocketDenied) as denied, client.websocket_connect("/ws/3?limit=x"):
            pass
    assert denied.value.status_code == 400
    assert denied.value.headers["content-type"] == "application/problem+json"
    names = {e["name"] for e in denied.value.json()["errors"]}
    assert names == {"name", "limit"}


def test_a_problem_for_a_status_is_titled_as_aaf_titles_its_own() -> None:
    error = FieldError("body", "too short", pointer="/title")
    problem = Problem.for_status(422, "too short", [error])
    assert (problem.status, problem.title, problem.detail) == (
        422,
        "Unprocessable Entity",
        "too short",
    )
    assert problem.errors == [error]
    bare = Problem.for_status(404)
    assert bare.detail is msgspec.UNSET
    assert bare.errors == []
    assert msgspec.json.decode(msgspec.json.encode(bare)) == {
        "status": 404,
        "title": "Not Found",
        "type": "about:blank",
        "errors": [],
    }
