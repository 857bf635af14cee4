"""Typed handler arguments from the path, query string, headers, cookies and the lifespan state:
conversion, wire names, defaults, lists, constraints, and every failing field reported."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any

import msgspec
import pytest

from aaf import App, Connection, RouteError, Router, aaf
from aaf.params import (
    Cookie,
    CookieParam,
    FromState,
    Header,
    HeaderParam,
    Query,
    QueryParam,
    StateParam,
)
from aaf.testing import TestClient

PROBLEM = "application/problem+json"


def client_for(router: Router, **options: Any) -> TestClient:
    return TestClient(aaf([router], **options))


def test_query_values_are_converted_to_their_annotations() -> None:
    router = Router()

    @router.get("/items")
    async def items(page: Query[int], ratio: Query[float], on: Query[bool], q: Query[str]) -> Any:
        return {"types": [type(v).__name__ for v in (page, ratio, on, q)], "v": [page, on, q]}

    with client_for(router) as client:
        response = client.get("/items?page=3&ratio=0.5&on=true&q=a%20b+c")
    assert response.json() == {"types": ["int", "float", "bool", "str"], "v": [3, True, "a b c"]}


def test_defaults_and_optional_make_parameters_optional() -> None:
    router = Router()

    @router.get("/items")
    async def items(page: Query[int] = 1, q: Query[str | None] = None) -> Any:
        return {"page": page, "q": q}

    with client_for(router) as client:
        assert client.get("/items").json() == {"page": 1, "q": None}
        assert client.get("/items?q=x&page=2").json() == {"page": 2, "q": "x"}


def test_a_missing_required_parameter_is_a_400_problem() -> None:
    router = Router()

    @router.get("/items")
    async def items(page: Query[int]) -> Any:
        return {"page": page}

    with client_for(router) as client:
        response = client.get("/items")
    assert response.status_code == 400
    assert response.headers["content-type"] == PROBLEM
    assert response.json()["errors"] == [
        {"in": "query", "name": "page", "detail": "missing required query parameter"}
    ]


def test_list_query_parameters_take_every_repeated_key() -> None:
    router = Router()

    @router.get("/items")
    async def items(tag: Query[list[str]] = [], n: Query[list[int]] = []) -> Any:  # noqa: B006
        return {"tag": tag, "n": n}

    with client_for(router) as client:
        assert client.get("/items?tag=a&n=1&tag=b&n=2").json() == {"tag": ["a", "b"], "n": [1, 2]}
        assert client.get("/items").json() == {"tag": [], "n": []}
        bad = client.get("/items?n=1&n=x")
    assert bad.status_code == 400
    assert bad.json()["errors"][0]["name"] == "n"
    assert "$[1]" in bad.json()["errors"][0]["detail"]


def test_a_scalar_query_parameter_takes_the_last_value_as_conn_query_does() -> None:
    router = Router()

    @router.get("/items")
    async def items(conn: Connection, page: Query[int]) -> Any:
        return {"typed": page, "query": conn.query["page"]}

    with client_for(router) as client:
        assert client.get("/items?page=1&page=2").json() == {"typed": 2, "query": "2"}


def test_meta_constraints_apply() -> None:
    router = Router()

    @router.get("/items")
    async def items(
        size: Query[Annotated[int, msgspec.Meta(ge=1, le=100)]] = 10,
        code: Query[Annotated[str, msgspec.Meta(pattern="^[a-z]+$", max_length=4)]] = "abc",
    ) -> Any:
        return {"size": size, "code": code}

    with client_for(router) as client:
        assert client.get("/items?size=100&code=abcd").json() == {"size": 100, "code": "abcd"}
        assert client.get("/items?size=0").json()["errors"][0]["detail"] == "Expected `int` >= 1"
        assert client.get("/items?code=ABC").status_code == 400
        assert client.get("/items?code=abcde").status_code == 400


def test_every_failing_field_is_reported_not_only_the_first() -> None:
    router = Router()

    @router.get("/items/<int:n>")
    async def items(
        n: Annotated[int, msgspec.Meta(ge=1)],
        page: Query[int],
        size: Query[int] = 10,
        ok: Query[str] = "",
        token: Header[int] = 0,
        sid: Cookie[int] = 0,
    ) -> Any:
        return {}

    with client_for(router) as client:
        response = client.get("/items/0?size=x&ok=fine", headers={"token": "t", "cookie": "sid=s"})
    body = response.json()
    assert response.status_code == 400
    assert body["detail"] == "5 request parameters are invalid"
    found = {(e["in"], e["name"]) for e in body["errors"]}
    assert found == {
        ("path", "n"),
        ("query", "page"),
        ("query", "size"),
        ("header", "token"),
        ("cookie", "sid"),
    }


def test_the_parameter_error_status_is_configurable_per_app() -> None:
    router = Router()

    @router.get("/items")
    async def items(page: Query[int]) -> Any:
        return {}

    with client_for(router, parameter_error_status=422) as client:
        response = client.get("/items?page=x")
    assert response.status_code == 422
    assert response.json()["status"] == 422
    with pytest.raises(ValueError, match="4xx status"):
        App(parameter_error_status=500)


def test_headers_by_parameter_name_and_by_explicit_wire_name() -> None:
    router = Router()

    @router.get("/h")
    async def headers(
        x_count: Header[int],
        trace: Annotated[str | None, HeaderParam("X-Trace")] = None,
        accept_language: Header[list[str]] = [],  # noqa: B006
    ) -> Any:
        return {"count": x_count, "trace": trace, "languages": accept_language}

    with client_for(router) as client:
        response = client.get(
            "/h",
            headers=[
                ("X-Count", "7"),
                ("x-trace", "abc"),
                ("accept-language", "en, fr"),
                ("accept-language", "de"),
            ],
        )
        missing = client.get("/h")
    assert response.json() == {"count": 7, "trace": "abc", "languages": ["en", "fr", "de"]}
    assert missing.json()["errors"] == [
        {"in": "header", "name": "x-count", "detail": "missing required header parameter"}
    ]


def test_cookies_and_query_wire_names() -> None:
    router = Router()

    @router.get("/c")
    async def cookies(
        session: Cookie[str],
        theme: Annotated[str, CookieParam("ui-theme")] = "light",
        size: Annotated[int, QueryParam("page-size")] = 20,
    ) -> Any:
        return {"session": session, "theme": theme, "size": size}

    with client_for(router) as client:
        client.cookies.set("session", "s1")
        client.cookies.set("ui-theme", "dark")
        assert client.get("/c?page-size=5&size=9").json() == {
            "session": "s1",
            "theme": "dark",
            "size": 5,
        }


def test_path_parameters_keep_their_converters_and_constraints_are_checked() -> None:
    router = Router()

    @router.get("/tasks/<int:task_id>")
    async def task(
        task_id: Annotated[int, msgspec.Meta(ge=1)], verbose: Query[bool] = False
    ) -> Any:
        return {"id": task_id, "verbose": verbose}

    with client_for(router) as client:
        assert client.get("/tasks/5?verbose=1").json() == {"id": 5, "verbose": True}
        assert client.get("/tasks/abc").status_code == 404  # the converter refuses it
        refused = client.get("/tasks/0")
    assert refused.status_code == 400
    assert refused.json()["errors"] == [
        {"in": "path", "name": "task_id", "detail": "Expected `int` >= 1"}
    ]


def test_a_path_annotation_that_disagrees_with_the_converter_fails_at_registration() -> None:
    router = Router()

    async def task(n: int, page: Query[int] = 1) -> Any:
        return {}

    with pytest.raises(RouteError, match="use '<int:n>'"):
        router.add_route("/tasks/<n>", task)


def test_registration_errors_say_the_fix() -> None:
    router = Router()

    async def marked_path(n: Query[int]) -> Any:
        return {}

    async def no_default(conn: Connection, page: int) -> Any:
        return {}

    with pytest.raises(RouteError, match="drop the QueryParam marker"):
        router.add_route("/a/<int:n>", marked_path)
    with pytest.raises(RouteError, match="add it to the rule or give the argument a default"):
        router.add_route("/b", no_default)


class Repository:
    def __init__(self) -> None:
        self.items = ["a"]


def test_from_state_reads_the_lifespan_state_by_name_or_key() -> None:
    async def lifespan(app: App) -> AsyncIterator[dict[str, Any]]:
        yield {"repo": Repository(), "db-pool": 42}

    router = Router()

    @router.get("/items")
    async def items(
        repo: FromState[Repository],
        pool: Annotated[int, StateParam("db-pool")],
        cache: FromState[dict[str, int] | None] = None,
    ) -> Any:
        return {"items": repo.items, "pool": pool, "cache": cache}

    with client_for(router, lifespan=lifespan) as client:
        assert client.get("/items").json() == {"items": ["a"], "pool": 42, "cache": None}


def test_a_missing_state_key_is_a_server_error_naming_the_key_and_the_fix(
    caplog: pytest.LogCaptureFixture,
) -> None:
    router = Router()

    @router.get("/items")
    async def items(repo: FromState[object]) -> Any:
        return {}

    with client_for(router) as client:
        response = client.get("/items")
    assert response.status_code == 500
    assert "no key 'repo'" in caplog.text
    assert "app.state['repo']" in caplog.text


def test_def_handlers_and_handlers_without_the_connection_are_typed_too() -> None:
    router = Router()

    @router.get("/sync/<int:n>")
    def sync(conn: Connection, n: int, add: Query[int] = 0) -> Any:
        return {"sum": n + add, "path": conn.path}

    @router.get("/bare")
    async def bare(add: Query[int]) -> Any:
        return {"add": add}

    with client_for(router) as client:
        assert client.get("/sync/2?add=3").json() == {"sum": 5, "path": "/sync/2"}
        assert client.get("/bare?add=1").json() == {"add": 1}


def test_untyped_handlers_are_registered_and_called_as_before() -> None:
    router = Router()

    async def untyped(conn: Connection, n: str) -> Any:
        return {"n": n, "page": conn.query.get("page")}

    route = router.add_route("/u/<n>", untyped)
    assert route.spec is None
    assert route.handler is untyped  # no wrapper: today's speed
    with client_for(router) as client:
        assert client.get("/u/7?page=x").json() == {"n": "7", "page": "x"}


def test_a_parameter_error_is_raised_before_the_handler_runs() -> None:
    calls: list[int] = []
    router = Router()

    @router.get("/items")
    async def items(page: Query[int]) -> Any:
        calls.append(page)
        return {}

    with client_for(router) as client:
        client.get("/items?page=no")
        client.get("/items?page=4")
    assert calls == [4]
