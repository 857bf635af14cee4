"""aaf's connection-taking decorators (timeout, requires, rate_limit) work on every handler
shape: with or without the connection, typed or not, stacked or given to a Router.

They are applied after routing adapted the handler (``connection_decorator``), so they always
get the connection, and the user's function gets only what it asks for.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from aaf import Connection, Query, Router, aaf
from aaf._callables import CONNECTION_WRAPPER
from aaf.middleware.auth import requires
from aaf.middleware.ratelimit import rate_limit
from aaf.testing import TestClient
from aaf.timeouts import timeout


def test_a_typed_handler_without_the_connection_keeps_its_typed_arguments() -> None:
    app = aaf()

    @app.get("/items")
    @timeout(5)
    async def items(page: Query[int] = 1) -> dict[str, int]:
        return {"page": page}

    with TestClient(app) as client:
        assert client.get("/items?page=3").json() == {"page": 3}
        bad = client.get("/items?page=x")
    assert bad.status_code == 400
    assert bad.headers["content-type"] == "application/problem+json"
    # The route documents the user's function, not the wrapper.
    route = app.router.routes[0]
    assert route.spec is not None
    assert [f.name for f in route.spec.fields] == ["page"]


def test_path_only_handlers_under_stacked_decorators() -> None:
    app = aaf()

    @app.get("/items/<int:item_id>")
    @rate_limit("2/minute")
    @timeout(5)
    async def item(item_id: int) -> dict[str, int]:
        return {"id": item_id}

    with TestClient(app) as client:
        answers = [client.get("/items/7") for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 429]
    assert answers[0].json() == {"id": 7}


def test_a_router_s_decorators_reach_handlers_of_every_shape() -> None:
    router = Router(decorators=[requires("admin")])

    @router.get("/plain")
    def plain() -> dict[str, bool]:  # a plain def, no connection
        return {"ok": True}

    @router.get("/typed")
    async def typed(conn: Connection, n: Query[int] = 0) -> dict[str, int]:
        return {"n": n}

    with TestClient(aaf([router])) as client:
        assert client.get("/plain").status_code == 401
        assert client.get("/typed?n=2").status_code == 401


def test_the_timeout_bounds_a_handler_without_the_connection() -> None:
    app = aaf()

    @app.get("/slow/<int:seconds>")
    @timeout(0.05)
    async def slow(seconds: int) -> dict[str, int]:
        await asyncio.sleep(seconds)
        return {"slept": seconds}

    with TestClient(app) as client:
        answer = client.get("/slow/30")
    assert answer.status_code == 503


async def test_called_directly_the_decorated_function_still_checks() -> None:
    from aaf.errors import HTTPError

    @requires("admin")
    async def admin(conn: Any) -> str:
        return "secret"

    assert callable(getattr(admin, CONNECTION_WRAPPER))

    class Anonymous:
        scope: dict[str, Any] = {}  # noqa: RUF012 - a stand-in connection

    with pytest.raises(HTTPError) as refused:
        await admin(Anonymous())
    assert refused.value.status_code == 401
