"""Per-operation security in the OpenAPI document: routes guarded by ``requires()`` list the
app's schemes with the required scopes, allow no anonymous access, and document the 401 and
403 they answer; the live app answers as documented."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import jsonschema
import msgspec
import pytest
from openapi_spec_validator import validate

from aaf import App, Middleware, Router
from aaf.connection import Connection
from aaf.middleware.apikey import APIKeyMiddleware
from aaf.middleware.auth import requires
from aaf.middleware.basic import BasicAuthMiddleware
from aaf.middleware.ratelimit import rate_limit
from aaf.openapi import openapi_document
from aaf.params import Query
from aaf.problems import PROBLEM_JSON
from aaf.testing import TestClient
from aaf.timeouts import timeout

READER_KEY = "reader-secret-of-at-least-32-chars"
ADMIN_KEY = "admin-secret-of-at-least-32-chars!"
KEYS = {"reader": READER_KEY, "admin": ADMIN_KEY}
SCOPES = {"reader": ["reports:read"], "admin": ["reports:read", "admin"]}


class Report(msgspec.Struct):
    id: int
    title: str


def api_key_auth(**options: Any) -> Middleware[Any]:
    return Middleware(APIKeyMiddleware, keys=KEYS, scopes=SCOPES, header="X-Key", **options)


def reports_router() -> Router:
    """Open, guarded (typed and untyped) and several-scope routes."""
    router = Router()

    @router.get("/public")
    async def public(conn: Connection) -> str:
        return "hello"

    @router.get("/reports/<int:report_id>")
    @requires("reports:read")
    async def get_report(report_id: int, verbose: Query[bool] = False) -> Report:
        return Report(report_id, "weekly")

    @router.post("/reports/purge", status_code=204)
    @requires("reports:read", "admin")
    async def purge(conn: Connection) -> None:
        return None

    @router.get("/whoami")
    @requires()
    async def whoami(conn: Connection) -> str:
        return "someone"

    return router


def build(app: App) -> dict[str, Any]:
    document = openapi_document(app, title="Reports", version="1")
    validate(document)  # the official OpenAPI 3.1 schema, every time
    return document


def op(document: dict[str, Any], path: str, method: str = "get") -> dict[str, Any]:
    found: dict[str, Any] = document["paths"][path][method]
    return found


# ---------------------------------------------------------------------------- the document


def test_a_guarded_route_lists_every_scheme_with_its_scopes() -> None:
    app = App(
        [reports_router()],
        middleware=[api_key_auth(), Middleware(BasicAuthMiddleware, verify=lambda u, p: None)],
    )
    document = build(app)
    # The document-wide alternatives still allow anonymous access (nothing is required=True).
    assert document["security"] == [{"APIKey": []}, {"BasicAuth": []}, {}]
    # A guarded operation overrides them: any one scheme, with the scopes, never anonymous.
    assert op(document, "/reports/{report_id}")["security"] == [
        {"APIKey": ["reports:read"]},
        {"BasicAuth": ["reports:read"]},
    ]
    # Several scopes are all needed; sorted so the document is stable.
    assert op(document, "/reports/purge", "post")["security"] == [
        {"APIKey": ["admin", "reports:read"]},
        {"BasicAuth": ["admin", "reports:read"]},
    ]
    # requires() without scopes: any authenticated user.
    assert op(document, "/whoami")["security"] == [{"APIKey": []}, {"BasicAuth": []}]
    # A route without requires() keeps the document's alternatives.
    assert "security" not in op(document, "/public")


def test_a_guarded_route_documents_its_401_and_403() -> None:
    document = build(App([reports_router()], middleware=[api_key_auth()]))
    guarded = op(document, "/reports/{report_id}")["responses"]
    assert sorted(guarded) == ["200", "400", "401", "403"]
    error_shape = {
        "type": "object",
        "properties": {"error": {"type": "string"}},
        "required": ["error"],
    }
    assert guarded["401"]["content"] == {"application/json": {"schema": error_shape}}
    assert "WWW-Authenticate" in guarded["401"]["headers"]
    assert guarded["403"]["content"] == {"application/json": {"schema": error_shape}}
    # Unguarded routes keep the middleware's plain 401 and get no 403.
    public = op(document, "/public")["responses"]
    assert public["401"] == {"description": "Missing or invalid credentials"}
    assert "403" not in public


def test_problem_details_apps_document_problems() -> None:
    app = App([reports_router()], middleware=[api_key_auth()], problem_details=True)
    responses = op(build(app), "/reports/purge", "post")["responses"]
    problem = {"schema": {"$ref": "#/components/schemas/Problem"}}
    assert responses["403"]["content"] == {PROBLEM_JSON: problem}
    # requires() answers a problem; the middleware's own 401 (a wrong key) stays JSON.
    assert set(responses["401"]["content"]) == {PROBLEM_JSON, "application/json"}
    assert responses["401"]["content"][PROBLEM_JSON] == problem


def test_without_auth_middleware_401_and_403_but_no_security_requirement() -> None:
    # Decision: no scheme to name, so no Security Requirement; the answers are still real
    # (every request is anonymous, so requires() refuses it with 401).
    document = build(App([reports_router()]))
    assert "security" not in document
    assert "securitySchemes" not in document.get("components", {})
    guarded = op(document, "/reports/{report_id}")
    assert "security" not in guarded
    assert {"401", "403"} <= set(guarded["responses"])
    assert guarded["responses"]["401"]["content"].keys() == {"application/json"}
    assert "401" not in op(document, "/public")["responses"]


def test_router_level_requires_adds_to_the_handlers_own() -> None:
    admin = Router(decorators=[requires("admin")])

    @admin.get("/users")
    async def users(conn: Connection) -> list[str]:
        return []

    @admin.delete("/users/<int:user_id>")
    @requires("users:write")
    async def delete_user(user_id: int) -> None:
        return None

    outer = Router()
    outer.include(admin, "/admin", name="admin", tags=["admin"])
    document = build(App([outer], middleware=[api_key_auth()]))
    # Carried through include()'s prefix, name and tags.
    assert op(document, "/admin/users")["security"] == [{"APIKey": ["admin"]}]
    assert op(document, "/admin/users/{user_id}", "delete")["security"] == [
        {"APIKey": ["admin", "users:write"]}
    ]
    assert op(document, "/admin/users")["tags"] == ["admin"]


Decorator = Callable[[Callable[..., Any]], Callable[..., Any]]


def _plain_decorator(handler: Callable[..., Any]) -> Callable[..., Any]:
    """An ordinary decorator (not a connection decorator) keeping ``__wrapped__``."""

    @functools.wraps(handler)
    async def call(*args: Any, **kwargs: Any) -> Any:
        return await handler(*args, **kwargs)

    return call


@pytest.mark.parametrize(
    "stack",
    [
        pytest.param([timeout(5), requires("a")], id="timeout-over-requires"),
        pytest.param([requires("a"), timeout(5)], id="requires-over-timeout"),
        pytest.param(
            [rate_limit("100/minute"), requires("a"), timeout(5)], id="between-rate-limit-timeout"
        ),
        pytest.param([requires("a"), rate_limit("100/minute")], id="requires-over-rate-limit"),
        pytest.param([_plain_decorator, requires("a")], id="under-a-plain-decorator"),
    ],
)
def test_stacked_with_other_decorators(stack: list[Decorator]) -> None:
    router = Router()

    async def handler(conn: Connection) -> str:
        return "ok"

    decorated: Callable[..., Any] = handler
    for decorate in reversed(stack):  # listed outermost first, as written above a function
        decorated = decorate(decorated)
    route = router.add_route("/stacked", decorated)
    assert route.doc.required_scopes == frozenset({"a"})
    document = build(App([router], middleware=[api_key_auth()]))
    assert op(document, "/stacked")["security"] == [{"APIKey": ["a"]}]
    # ... and the guard runs, whatever the stack.
    with TestClient(App([router], middleware=[api_key_auth()])) as client:
        assert client.get("/stacked", headers={"X-Key": READER_KEY}).status_code == 403


def test_unguarded_routes_record_no_scopes() -> None:
    router = reports_router()
    by_name = {route.name: route for route in router.routes}
    assert by_name["public"].doc.required_scopes is None
    assert by_name["whoami"].doc.required_scopes == frozenset()
    assert by_name["purge"].doc.required_scopes == frozenset({"admin", "reports:read"})


# ---------------------------------------------------------------------------- live


def _check_documented(document: dict[str, Any], operation: dict[str, Any], answer: Any) -> None:
    """The answer's status and content type are documented, and its body fits the schema."""
    response = operation["responses"][str(answer.status_code)]
    media_type = answer.headers["content-type"].partition(";")[0]
    assert media_type in response["content"]
    schema = response["content"][media_type]["schema"]
    # The document is the root, so "#/components/schemas/..." references resolve.
    root = {**schema, "components": document.get("components", {})}
    jsonschema.Draft202012Validator(root).validate(answer.json())


@pytest.mark.parametrize("problem_details", [False, True], ids=["error-json", "problems"])
def test_the_live_app_answers_as_documented(problem_details: bool) -> None:
    app = App([reports_router()], middleware=[api_key_auth()], problem_details=problem_details)
    document = build(app)
    guarded = op(document, "/reports/{report_id}")
    purge = op(document, "/reports/purge", "post")
    with TestClient(app) as client:
        anonymous = client.get("/reports/7")
        assert anonymous.status_code == 401
        assert "www-authenticate" in anonymous.headers
        _check_documented(document, guarded, anonymous)

        wrong_key = client.get("/reports/7", headers={"X-Key": "x" * 40})
        assert wrong_key.status_code == 401
        _check_documented(document, guarded, wrong_key)

        lacking = client.post("/reports/purge", headers={"X-Key": READER_KEY})
        assert lacking.status_code == 403
        _check_documented(document, purge, lacking)

        allowed = client.get("/reports/7", headers={"X-Key": READER_KEY})
        assert allowed.status_code == 200
        _check_documented(document, guarded, allowed)
        assert client.post("/reports/purge", headers={"X-Key": ADMIN_KEY}).status_code == 204


def test_live_without_auth_middleware_refuses_with_the_documented_401() -> None:
    app = App([reports_router()])
    document = build(app)
    with TestClient(app) as client:
        answer = client.get("/reports/7")
        assert answer.status_code == 401
        _check_documented(document, op(document, "/reports/{report_id}"), answer)
