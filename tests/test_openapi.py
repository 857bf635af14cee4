"""aaf.openapi: the OpenAPI 3.1 document of an app, checked feature by feature and against the
official OpenAPI 3.1 schema (openapi-spec-validator)."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

import msgspec
import pytest
from openapi_spec_validator import validate

from aaf import App, Middleware, Router
from aaf.connection import Connection
from aaf.middleware.apikey import APIKeyMiddleware
from aaf.middleware.basic import BasicAuthMiddleware
from aaf.openapi import encode_document, openapi_document, openapi_router
from aaf.params import Body, Cookie, FromState, Header, Query, QueryParam
from aaf.problems import Problem
from aaf.response import HtmlResponse
from aaf.routing import RouteError
from aaf.sse import EventSourceResponse
from aaf.testing import TestClient

# ---------------------------------------------------------------------------- the typed app


class TaskIn(msgspec.Struct):
    title: Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
    done: bool = False


class Task(msgspec.Struct):
    id: int
    title: str
    done: bool


tasks = Router(tags=["tasks"])


@tasks.post("/tasks", status_code=201, responses={409: Problem})
async def create_task(conn: Connection, task: Body[TaskIn]) -> Task:
    """Create a task.

    The title must not be empty.
    """
    return Task(1, task.title, task.done)


@tasks.get("/tasks", summary="All tasks", tags=["listing"])
async def list_tasks(
    conn: Connection,
    limit: Query[Annotated[int, msgspec.Meta(ge=1, le=100)]] = 20,
    tag: Query[list[str]] = [],  # noqa: B006 - never mutated; the documented default
    page_size: Annotated[int, QueryParam("page-size")] = 10,
    x_trace: Header[str | None] = None,
    session: Cookie[str | None] = None,
    repo: FromState[dict[str, Any]] = {},  # noqa: B006 - never mutated
) -> list[Task]:
    return []


@tasks.get("/tasks/<int:task_id>", responses={404: Problem})
async def get_task(task_id: int) -> Task:
    return Task(task_id, "x", False)


@tasks.delete("/tasks/<int:task_id>", deprecated=True)
async def delete_task(task_id: Annotated[int, msgspec.Meta(ge=1)]) -> None:
    return None


@tasks.get("/things/<uuid:key>/<float:ratio>/<path:rest>")
async def untyped(conn: Connection, key: uuid.UUID, ratio: float, rest: str) -> Any:
    return {"key": str(key)}


@tasks.get("/hidden", include_in_schema=False)
async def hidden(conn: Connection) -> str:
    return "hidden"


@tasks.get("/page/<name>", responses={304: None, 410: "gone for good"})
async def page(conn: Connection, name: str, lang: Query[str] = "en") -> HtmlResponse:
    return HtmlResponse(name)


@tasks.get("/events", responses={503: {"description": "raw", "headers": {}}})
async def events(conn: Connection, last: Query[int] = 0) -> EventSourceResponse:
    raise NotImplementedError


@tasks.websocket("/ws")
async def ws(conn: Connection) -> None:
    return None


async def raw_app(scope: Any, receive: Any, send: Any) -> None:
    return None


tasks.mount("/raw", raw_app)

v1 = Router()
v1.include(tasks, "/api", tags=["v1"])


def build_document(app: App | Router | None = None, **options: Any) -> dict[str, Any]:
    document = openapi_document(app if app is not None else App([v1]), **options)
    validate(document)  # the official OpenAPI 3.1 schema, every time
    return document


@pytest.fixture(scope="module")
def doc() -> dict[str, Any]:
    return build_document(title="Tasks", version="2.0", description="All about tasks")


def operation(doc: dict[str, Any], path: str, method: str) -> dict[str, Any]:
    result: dict[str, Any] = doc["paths"][path][method]
    return result


def params_by_name(op: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {p["name"]: p for p in op.get("parameters", [])}


# ---------------------------------------------------------------------------- the shape


def test_info_and_version(doc: dict[str, Any]) -> None:
    assert doc["openapi"] == "3.1.0"
    assert doc["info"] == {"title": "Tasks", "version": "2.0", "description": "All about tasks"}


def test_paths_come_from_rules_with_prefixes(doc: dict[str, Any]) -> None:
    assert sorted(doc["paths"]) == [
        "/api/events",
        "/api/page/{name}",
        "/api/tasks",
        "/api/tasks/{task_id}",
        "/api/things/{key}/{ratio}/{rest}",
    ]
    assert sorted(doc["paths"]["/api/tasks"]) == ["get", "post"]
    assert sorted(doc["paths"]["/api/tasks/{task_id}"]) == ["delete", "get"]  # no implicit head


def test_websockets_mounts_and_hidden_routes_are_left_out(doc: dict[str, Any]) -> None:
    text = encode_document(doc).decode()
    assert "/ws" not in text
    assert "/raw" not in text
    assert "/hidden" not in text


def test_path_parameters_carry_the_converter_type(doc: dict[str, Any]) -> None:
    params = params_by_name(operation(doc, "/api/things/{key}/{ratio}/{rest}", "get"))
    assert params["key"]["schema"] == {
        "type": "string",
        "format": "uuid",
        "pattern": "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$",
    }
    assert params["ratio"]["schema"] == {"type": "number", "minimum": 0}
    assert params["rest"]["schema"] == {"type": "string", "minLength": 1}
    assert all(p["in"] == "path" and p["required"] for p in params.values())
    task_id = params_by_name(operation(doc, "/api/tasks/{task_id}", "get"))["task_id"]
    assert task_id["schema"] == {"type": "integer", "minimum": 0}
    name = params_by_name(operation(doc, "/api/page/{name}", "get"))["name"]
    assert name["schema"]["pattern"] == "^[^/]+$"


def test_path_constraints_add_to_the_converter(doc: dict[str, Any]) -> None:
    param = params_by_name(operation(doc, "/api/tasks/{task_id}", "delete"))["task_id"]
    assert param["schema"] == {
        "allOf": [{"type": "integer", "minimum": 0}, {"type": "integer", "minimum": 1}]
    }


def test_query_header_and_cookie_parameters(doc: dict[str, Any]) -> None:
    params = params_by_name(operation(doc, "/api/tasks", "get"))
    assert params["limit"] == {
        "name": "limit",
        "in": "query",
        "required": False,
        "schema": {"type": "integer", "minimum": 1, "maximum": 100},
    }
    assert params["tag"]["schema"] == {"type": "array", "items": {"type": "string"}}
    assert (params["tag"]["style"], params["tag"]["explode"]) == ("form", True)
    assert params["page-size"]["in"] == "query"  # the wire name
    assert params["x-trace"]["in"] == "header"
    assert params["session"]["in"] == "cookie"
    assert "repo" not in params  # the state is not on the wire


def test_request_body_from_the_body_type(doc: dict[str, Any]) -> None:
    body = operation(doc, "/api/tasks", "post")["requestBody"]
    assert body == {
        "required": True,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/TaskIn"}}},
    }
    schema = doc["components"]["schemas"]["TaskIn"]
    assert schema["properties"]["title"] == {"type": "string", "minLength": 1, "maxLength": 100}
    assert schema["required"] == ["title"]


def test_responses_from_return_annotation_and_status_code(doc: dict[str, Any]) -> None:
    created = operation(doc, "/api/tasks", "post")["responses"]
    assert created["201"]["content"] == {
        "application/json": {"schema": {"$ref": "#/components/schemas/Task"}}
    }
    listed = operation(doc, "/api/tasks", "get")["responses"]["200"]
    assert listed["content"]["application/json"]["schema"] == {
        "type": "array",
        "items": {"$ref": "#/components/schemas/Task"},
    }
    deleted = operation(doc, "/api/tasks/{task_id}", "delete")["responses"]
    assert deleted["204"] == {"description": "No Content"}  # returns None: an empty answer
    html = operation(doc, "/api/page/{name}", "get")["responses"]["200"]
    assert html["content"] == {"text/html": {}}
    stream = operation(doc, "/api/events", "get")["responses"]["200"]
    assert stream["content"] == {"text/event-stream": {}}


def test_problem_responses_for_typed_routes(doc: dict[str, Any]) -> None:
    problem = {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
    created = operation(doc, "/api/tasks", "post")["responses"]
    # Malformed JSON, wrong content type, schema violation; and the declared 409.
    assert sorted(created) == ["201", "400", "409", "415", "422"]
    assert all(created[s]["content"] == problem for s in ("400", "409", "415", "422"))
    listed = operation(doc, "/api/tasks", "get")["responses"]
    assert sorted(listed) == ["200", "400"]  # parameter errors only: no body
    assert listed["400"]["content"] == problem
    fetched = operation(doc, "/api/tasks/{task_id}", "get")["responses"]
    assert sorted(fetched) == ["200", "404"]  # an unconstrained int path: the converter checks
    deleted = operation(doc, "/api/tasks/{task_id}", "delete")["responses"]
    assert sorted(deleted) == ["204", "400"]  # Meta(ge=1) on the path can fail
    schemas = doc["components"]["schemas"]
    assert schemas["Problem"]["required"] == ["status", "title"]
    assert "in" in schemas["FieldError"]["properties"]


def test_declared_responses_none_description_and_raw(doc: dict[str, Any]) -> None:
    page = operation(doc, "/api/page/{name}", "get")["responses"]
    assert page["304"] == {"description": "Not Modified"}
    assert page["410"] == {"description": "gone for good"}
    assert operation(doc, "/api/events", "get")["responses"]["503"] == {
        "description": "raw",
        "headers": {},
    }


def test_untyped_routes_have_a_generic_response(doc: dict[str, Any]) -> None:
    op = operation(doc, "/api/things/{key}/{ratio}/{rest}", "get")
    assert op["responses"] == {"default": {"description": "What the handler answers (not typed)"}}


def test_summary_description_operation_id_tags_deprecated(doc: dict[str, Any]) -> None:
    created = operation(doc, "/api/tasks", "post")
    assert created["summary"] == "Create a task."
    assert created["description"] == "The title must not be empty."
    assert created["operationId"] == "create_task"
    assert created["tags"] == ["v1", "tasks"]  # include(tags=) then Router(tags=)
    listed = operation(doc, "/api/tasks", "get")
    assert listed["summary"] == "All tasks"
    assert listed["tags"] == ["v1", "tasks", "listing"]
    assert operation(doc, "/api/tasks/{task_id}", "delete")["deprecated"] is True
    assert "deprecated" not in created


def test_one_schema_components_call_for_all_types(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    real = msgspec.json.schema_components

    def counting(types: Any, **kwargs: Any) -> Any:
        calls.append(len(types))
        return real(types, **kwargs)

    monkeypatch.setattr(msgspec.json, "schema_components", counting)
    document = build_document()
    assert len(calls) == 1
    # Shared types are components, each once.
    assert sorted(document["components"]["schemas"]) == ["FieldError", "Problem", "Task", "TaskIn"]


def test_operation_ids_are_unique_for_stacked_handlers() -> None:
    router = Router()

    async def show(conn: Connection, size: Query[int] = 1) -> str:
        return "x"

    router.add_route("/a", show)
    router.add_route("/b", show)
    router.add_route("/c", show, name="c", methods=["GET", "POST"])
    document = build_document(router)
    ids = [op["operationId"] for item in document["paths"].values() for op in item.values()]
    assert sorted(ids) == ["c_get", "c_post", "show", "show_2"]


class Opaque:
    """A class msgspec has no schema for."""


def test_types_msgspec_cannot_describe_do_not_break_the_document() -> None:
    router = Router()

    async def odd(conn: Connection, size: Query[int] = 1) -> Opaque:
        return Opaque()

    router.add_route("/odd", odd)
    schema = build_document(router)["paths"]["/odd"]["get"]["responses"]["200"]["content"]
    assert "Opaque" in schema["application/json"]["schema"]["description"]


def test_parameter_error_status_follows_the_app(monkeypatch: pytest.MonkeyPatch) -> None:
    app = App([v1])
    monkeypatch.setattr(app, "parameter_error_status", 422, raising=False)
    responses = operation(build_document(app), "/api/tasks", "get")["responses"]
    assert sorted(responses) == ["200", "422"]


# ---------------------------------------------------------------------------- tags


def test_router_and_include_tags_are_checked() -> None:
    with pytest.raises(RouteError, match="list of names"):
        Router(tags="tasks")
    with pytest.raises(RouteError, match="list of names"):
        Router().include(Router(), "/x", tags="v1")


def test_tags_are_kept_once_in_order() -> None:
    inner = Router(tags=["a", "b"])

    @inner.get("/x", tags=["b", "c"])
    async def x(conn: Connection) -> str:
        return "x"

    outer = Router()
    outer.include(inner, tags=["a", "z"])
    assert outer.routes[0].doc.tags == ("a", "z", "b", "c")
    assert inner.routes[0].doc.tags == ("a", "b", "c")


# ---------------------------------------------------------------------------- security


def test_security_schemes_from_the_auth_middleware() -> None:
    keys = {"reporting": "k" * 32}
    app = App(
        [v1],
        middleware=[
            Middleware(APIKeyMiddleware, keys=keys, header="X-Key"),
            Middleware(BasicAuthMiddleware, verify=lambda user, password: None),
        ],
    )
    document = build_document(app)
    assert document["components"]["securitySchemes"] == {
        "APIKey": {"type": "apiKey", "in": "header", "name": "X-Key"},
        "BasicAuth": {"type": "http", "scheme": "basic"},
    }
    # Either scheme, or none: neither middleware is required=True.
    assert document["security"] == [{"APIKey": []}, {"BasicAuth": []}, {}]
    # Wrong credentials are refused by the middleware, whatever the route.
    for item in document["paths"].values():
        for op in item.values():
            assert op["responses"]["401"] == {"description": "Missing or invalid credentials"}


def test_required_auth_makes_anonymous_access_undocumented() -> None:
    app = App([v1], middleware=[Middleware(APIKeyMiddleware, keys={"a": "k" * 32}, required=True)])
    assert build_document(app)["security"] == [{"APIKey": []}]


def test_bearer_jwt_scheme() -> None:
    pytest.importorskip("jwt")
    from aaf.middleware.auth import JWTAuthMiddleware

    app = App([v1], middleware=[Middleware(JWTAuthMiddleware, key="s" * 32)])
    schemes = build_document(app)["components"]["securitySchemes"]
    assert schemes == {"JWTAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}}


def test_no_auth_no_security(doc: dict[str, Any]) -> None:
    assert "401" not in encode_document(doc).decode()
    assert "security" not in doc
    assert "securitySchemes" not in doc["components"]


# ---------------------------------------------------------------------------- serving


def test_served_by_a_router_listed_with_the_routes() -> None:
    app = App([v1, openapi_router(title="Tasks", version="3")])
    assert any(r.rule == "/openapi.json" for router in app.routers for r in router.routes)
    with TestClient(app) as client:
        answer = client.get("/openapi.json")
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "application/json"
    document = answer.json()
    validate(document)
    assert document["info"] == {"title": "Tasks", "version": "3"}
    assert "/openapi.json" not in document["paths"]  # it does not document itself
    assert answer.content == encode_document(document)  # sorted keys: stable bytes


def test_built_on_first_request_and_cached(monkeypatch: pytest.MonkeyPatch) -> None:
    import aaf.openapi

    builds: list[object] = []
    real = aaf.openapi.openapi_document

    def counting(app: Any, **kwargs: Any) -> dict[str, Any]:
        builds.append(app)
        return real(app, **kwargs)

    monkeypatch.setattr(aaf.openapi, "openapi_document", counting)
    app = App([v1, openapi_router(path="/spec.json")])
    assert builds == []  # nothing is built while the app is assembled
    with TestClient(app) as client:
        first = client.get("/spec.json").content
        second = client.get("/spec.json").content
    assert first == second
    assert builds == [app]


def test_mount_point_becomes_the_server_url() -> None:
    app = App([v1, openapi_router()])
    with TestClient(app, root_path="/svc") as client:
        document = client.get("/openapi.json").json()
    assert document["servers"] == [{"url": "/svc"}]
    with TestClient(app) as client:
        assert "servers" not in client.get("/openapi.json").json()


def test_a_router_outside_an_aaf_app_says_how_to_fix_it() -> None:
    import asyncio

    from tests.conftest import ASGIRecorder

    router = openapi_router()
    recorder = ASGIRecorder()
    scope = {
        "type": "http",
        "method": "GET",
        "path": "/openapi.json",
        "query_string": b"",
        "headers": [],
    }
    conn = Connection(scope, recorder.receive, recorder.send)
    with pytest.raises(RuntimeError, match="aaf\\(\\[api, openapi_router"):
        asyncio.run(router(conn))


class TaskChange(msgspec.Struct):
    kind: str
    task: Task


def test_an_event_stream_declares_the_data_of_its_events() -> None:
    router = Router()

    async def changes(conn: Connection) -> EventSourceResponse[TaskChange]:
        return EventSourceResponse([TaskChange("created", Task(1, "a", False))])

    router.add_route("/changes", changes)
    document = build_document(router)
    validate(document)
    content = document["paths"]["/changes"]["get"]["responses"]["200"]["content"]
    stream = content["text/event-stream"]
    assert stream["schema"]["type"] == "string"
    data = stream["x-itemSchema"]["properties"]["data"]
    assert data["contentMediaType"] == "application/json"
    assert data["contentSchema"] == {"$ref": "#/components/schemas/TaskChange"}
    # The event's type is in the components with what it refers to.
    assert {"TaskChange", "Task"} <= set(document["components"]["schemas"])
    # The declaration is for documents only: the stream answers as before.
    with TestClient(App([router])) as client:
        answer = client.get("/changes")
    assert answer.headers["content-type"] == "text/event-stream"
    assert '"kind":"created"' in answer.text
