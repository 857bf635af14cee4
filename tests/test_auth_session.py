"""Session sign-in: login()/logout() in the signed session, SessionAuthMiddleware, fixation."""

from __future__ import annotations

import json
from typing import Any

import pytest

from aaf import Connection, Middleware, Router, aaf
from aaf.datastructures import AuthUser
from aaf.middleware.session_auth import SessionAuthMiddleware, login, logout
from aaf.middleware.sessions import SessionMiddleware
from aaf.testing import TestClient, WebSocketDenied
from tests.conftest import call, http_scope
from tests.support.auth_apps import Inner, add_guarded_routes, ws_scope

SECRET = "s" * 32
CHALLENGE = 'Cookie realm="aaf"'


def session_app(**options: Any) -> tuple[Any, list[str]]:
    calls: list[str] = []
    router = Router()

    @router.post("/login/<name>")
    async def sign_in(conn: Connection, name: str) -> dict[str, Any]:
        login(conn, name, scopes=["reports:read"] if name == "ada" else [], keep=["theme"])
        return dict(conn.session)

    @router.post("/logout")
    async def sign_out(conn: Connection) -> dict[str, Any]:
        logout(conn)
        return {"user": conn.user}

    @router.get("/set/<key>/<value>")
    async def set_value(conn: Connection, key: str, value: str) -> None:
        conn.session[key] = value

    add_guarded_routes(router, calls)

    middleware: list[Middleware[Any]] = [
        Middleware(SessionMiddleware, secret_key=SECRET),
        Middleware(SessionAuthMiddleware, **options),
    ]
    return aaf([router], middleware=middleware), calls


def test_login_and_logout_round_trip_with_cookies() -> None:
    app, calls = session_app()
    with TestClient(app) as client:
        assert client.get("/me").json() == {"user": None}
        assert client.get("/reports").status_code == 401
        signed_in = client.post("/login/ada")
        assert signed_in.json() == {"user_id": "ada", "user_scopes": ["reports:read"]}
        assert client.get("/me").json() == {
            "user": "ada",
            "scopes": ["reports:read"],
            "claims": {"auth_scheme": "session", "user_id": "ada"},
        }
        assert client.get("/reports").json() == {"reports": True}
        signed_out = client.post("/logout")
        assert signed_out.json() == {"user": None}
        assert "max-age=0" in signed_out.headers["set-cookie"].lower()  # the cookie is deleted
        assert client.get("/me").json() == {"user": None}
    assert calls == ["me", "me", "reports", "me"]


def test_requires_answers_401_in_the_cookie_scheme_and_403_without_the_scope() -> None:
    app, _ = session_app()
    with TestClient(app) as client:
        refused = client.get("/reports")
        client.post("/login/bob")
        no_scope = client.get("/reports")
    assert refused.status_code == 401
    assert refused.headers["www-authenticate"] == CHALLENGE
    assert no_scope.status_code == 403


def test_login_starts_a_fresh_session_and_a_new_cookie() -> None:
    app, _ = session_app()
    with TestClient(app) as client:
        client.get("/set/next/evil.example")  # planted before sign-in
        client.get("/set/theme/dark")
        before = client.cookies["session"]
        assert client.post("/login/ada").json() == {
            "theme": "dark",  # listed in keep=
            "user_id": "ada",
            "user_scopes": ["reports:read"],
        }
        assert client.cookies["session"] != before
        # Another user's sign-in on the same browser replaces the first, scopes included.
        assert client.post("/login/bob").json()["user_scopes"] == []


def test_required_refuses_anonymous_requests() -> None:
    app, calls = session_app(required=True)
    with TestClient(app) as client:
        response = client.get("/me")
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == CHALLENGE
    assert calls == []


def test_load_user_decides_who_the_user_is() -> None:
    loaded: list[Any] = []

    async def load_user(user_id: Any, scope: Any) -> AuthUser | None:
        loaded.append(user_id)
        return None if user_id == "gone" else AuthUser(f"user:{user_id}", frozenset({"x"}))

    app, _ = session_app(load_user=load_user)
    with TestClient(app) as client:
        client.post("/login/ada")
        assert client.get("/me").json()["user"] == "user:ada"
        client.post("/login/gone")
        assert client.get("/me").json() == {"user": None}  # a deleted user is anonymous
    # Once per request with a user in its session (the second login came with ada's).
    assert loaded == ["ada", "ada", "gone"]


def test_websocket_reads_the_session_and_is_refused_when_required() -> None:
    open_app, _ = session_app()
    with TestClient(open_app) as client:
        client.post("/login/ada")
        cookie = client.cookies["session"]
    app, _ = session_app(required=True)  # the same secret: the cookie is valid there too
    with TestClient(app) as client:
        with pytest.raises(WebSocketDenied) as denied:
            client.websocket_connect("/ws").__enter__()
        headers = {"cookie": f"session={cookie}"}
        with client.websocket_connect("/ws", headers=headers) as ws:
            assert json.loads(ws.receive_text()) == {"user": "ada"}
    assert denied.value.status_code == 401
    assert denied.value.headers["www-authenticate"] == CHALLENGE


async def test_without_session_middleware_the_error_says_the_fix() -> None:
    with pytest.raises(RuntimeError, match="add Middleware\\(SessionMiddleware"):
        await call(SessionAuthMiddleware(Inner()), http_scope("/"))


async def test_login_refuses_odd_ids_and_websockets() -> None:
    conn = Connection(http_scope("/", session={}), None, None)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="str or int user id"):
        login(conn, ["ada"])  # type: ignore[arg-type]
    login(conn, 7)
    assert conn.session == {"user_id": 7, "user_scopes": []}
    scope = ws_scope()
    scope["session"] = {}
    with pytest.raises(RuntimeError, match="a WebSocket cannot set the cookie"):
        login(Connection(scope, None, None), "ada")  # type: ignore[arg-type]


async def test_integer_ids_and_odd_stored_scopes() -> None:
    inner = Inner()
    middleware = SessionAuthMiddleware(inner)
    await call(middleware, http_scope("/", session={"user_id": 7, "user_scopes": "admin"}))
    assert inner.scopes[0]["user"] == AuthUser(
        "7", frozenset(), {"auth_scheme": "session", "user_id": 7}
    )


def test_security_scheme() -> None:
    middleware = SessionAuthMiddleware(Inner(), cookie_name="sid")
    assert middleware.security_scheme == {"type": "apiKey", "in": "cookie", "name": "sid"}
