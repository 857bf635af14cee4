"""SessionMiddleware: signed cookie sessions, rotation, expiry, tampering, cookie attributes."""

from __future__ import annotations

import base64
import logging
import time
from typing import Any

import pytest

from aaf import Connection, Middleware, Router, aaf
from aaf.cookies import CookieError
from aaf.middleware import sessions
from aaf.middleware.sessions import SessionMiddleware
from aaf.testing import TestClient
from tests.conftest import call, http_scope

KEY = "k" * 32
OLD_KEY = "o" * 32


def session_app(**options: Any) -> Any:
    options.setdefault("secret_key", KEY)
    router = Router()

    @router.get("/get")
    async def get(conn: Connection) -> dict[str, Any]:
        return dict(conn.session)

    @router.get("/set/<key>/<value>")
    async def set_value(conn: Connection, key: str, value: str) -> dict[str, Any]:
        conn.session[key] = value
        return dict(conn.session)

    @router.get("/append")
    async def append(conn: Connection) -> None:
        conn.session.setdefault("items", []).append(len(conn.session.get("items", [])))

    @router.get("/clear")
    async def clear(conn: Connection) -> None:
        conn.session.clear()

    return aaf([router], middleware=[Middleware(SessionMiddleware, **options)])


def session_cookie(response: Any) -> str:
    """The session cookie's value from a response's Set-Cookie."""
    header: str = response.headers["set-cookie"]
    return header.split(";")[0].split("=", 1)[1]


def fetch(app: Any, path: str, cookie: str | None = None) -> Any:
    with TestClient(app) as client:
        headers = {"cookie": f"session={cookie}"} if cookie is not None else {}
        return client.get(path, headers=headers)


def test_a_session_survives_between_requests() -> None:
    with TestClient(session_app()) as client:
        first = client.get("/set/user/ada")
        assert first.json() == {"user": "ada"}
        cookie = first.headers["set-cookie"]
        assert cookie.startswith("session=")
        assert "; Max-Age=1209600; Path=/; HttpOnly; SameSite=Lax" in cookie
        assert "Secure" not in cookie
        second = client.get("/get")
        assert second.json() == {"user": "ada"}
        assert "set-cookie" not in second.headers  # unchanged: nothing to send


def test_the_cookie_is_readable_but_signed() -> None:
    value = session_cookie(fetch(session_app(), "/set/user/ada"))
    payload, stamp, signature = value.split(".")
    assert base64.urlsafe_b64decode(payload + "==") == b'{"user":"ada"}'
    assert stamp.isdigit()
    assert len(signature) == 43  # base64 of a SHA-256 HMAC


def test_nested_changes_are_saved() -> None:
    with TestClient(session_app()) as client:
        client.get("/append")
        client.get("/append")
        assert client.get("/get").json() == {"items": [0, 1]}


def test_clearing_the_session_deletes_the_cookie() -> None:
    with TestClient(session_app()) as client:
        client.get("/set/user/ada")
        response = client.get("/clear")
        assert "Max-Age=0" in response.headers["set-cookie"]
        assert client.get("/get").json() == {}


def test_no_session_no_cookie() -> None:
    response = fetch(session_app(), "/get")
    assert response.json() == {}
    assert "set-cookie" not in response.headers


@pytest.mark.parametrize(
    "tamper",
    [
        lambda v: v.replace(v.split(".")[0], base64.urlsafe_b64encode(b'{"user":"root"}').decode()),
        lambda v: v[:-2] + ("AA" if not v.endswith("AA") else "BB"),
        lambda v: v.split(".")[0],
        lambda v: "garbage",
        lambda v: v + ".extra",
        lambda v: "!!!." + v.split(".", 1)[1],
        lambda v: "",
    ],
)
def test_tampered_cookies_are_ignored_and_cleared(tamper: Any) -> None:
    app = session_app()
    value = session_cookie(fetch(app, "/set/user/ada"))
    response = fetch(app, "/get", tamper(value))
    assert response.status_code == 200
    assert response.json() == {}
    assert "Max-Age=0" in response.headers["set-cookie"]


def test_a_cookie_signed_with_another_key_is_ignored() -> None:
    value = session_cookie(fetch(session_app(secret_key="x" * 32), "/set/user/ada"))
    assert fetch(session_app(), "/get", value).json() == {}


def test_key_rotation_verifies_old_and_resigns_with_the_newest() -> None:
    old_cookie = session_cookie(fetch(session_app(secret_key=OLD_KEY), "/set/user/ada"))
    rotated = session_app(secret_key=[KEY, OLD_KEY])
    response = fetch(rotated, "/get", old_cookie)
    assert response.json() == {"user": "ada"}
    new_cookie = session_cookie(response)  # re-signed although nothing changed
    assert new_cookie != old_cookie
    # Signed with the newest key: readable once the old key is retired.
    assert fetch(session_app(secret_key=KEY), "/get", new_cookie).json() == {"user": "ada"}
    assert fetch(session_app(secret_key=KEY), "/get", old_cookie).json() == {}


def test_expiry_and_refresh(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [1_000_000.0]
    monkeypatch.setattr(sessions, "_now", lambda: int(now[0]))
    app = session_app(max_age=100)
    value = session_cookie(fetch(app, "/set/user/ada"))
    now[0] += 10
    early = fetch(app, "/get", value)
    assert early.json() == {"user": "ada"}
    assert "set-cookie" not in early.headers
    now[0] += 50  # past half the lifetime: the active session is re-saved
    late = fetch(app, "/get", value)
    assert late.json() == {"user": "ada"}
    refreshed = session_cookie(late)
    now[0] += 50  # 110 s after the first cookie, 50 s after the refresh
    assert fetch(app, "/get", value).json() == {}
    assert fetch(app, "/get", refreshed).json() == {"user": "ada"}


def test_timestamps_from_the_future_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [1_000_000.0]
    monkeypatch.setattr(sessions, "_now", lambda: int(now[0]))
    value = session_cookie(fetch(session_app(), "/set/user/ada"))
    now[0] -= 3600
    assert fetch(session_app(), "/get", value).json() == {}


def test_without_max_age_the_cookie_lasts_for_the_browser_session(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    now = [1_000_000.0]
    monkeypatch.setattr(sessions, "_now", lambda: int(now[0]))
    app = session_app(max_age=None)
    response = fetch(app, "/set/user/ada")
    assert "Max-Age" not in response.headers["set-cookie"]
    now[0] += 10**8
    later = fetch(app, "/get", session_cookie(response))
    assert later.json() == {"user": "ada"}
    assert "set-cookie" not in later.headers


def test_cookie_attributes() -> None:
    app = session_app(
        cookie_name="sid",
        secure=True,
        httponly=False,
        samesite="strict",
        path="/app",
        domain="example.com",
        max_age=60,
    )
    with TestClient(app) as client:
        header = client.get("/set/a/b").headers["set-cookie"]
    assert header.startswith("sid=")
    assert header.endswith("; Max-Age=60; Path=/app; Domain=example.com; Secure; SameSite=Strict")


def test_secure_follows_the_request_scheme_unless_given() -> None:
    # secure=None (the default): Secure on https, so production over TLS needs no setting,
    # while http://localhost still works during development.
    with TestClient(session_app(), base_url="https://testserver") as client:
        https = client.get("/set/a/b")
        https_clear = client.get("/clear")
    with TestClient(session_app()) as client:
        http = client.get("/set/a/b")
        http_clear = client.get("/clear")
    assert https.headers["set-cookie"].endswith("; Path=/; Secure; HttpOnly; SameSite=Lax")
    assert "Secure" in https_clear.headers["set-cookie"]
    assert "Max-Age=0" in https_clear.headers["set-cookie"]
    assert "Secure" not in http.headers["set-cookie"]
    assert "Secure" not in http_clear.headers["set-cookie"]
    with TestClient(session_app(secure=False), base_url="https://testserver") as client:
        assert "Secure" not in client.get("/set/a/b").headers["set-cookie"]
    with TestClient(session_app(secure=True)) as client:
        assert "Secure" in client.get("/set/a/b").headers["set-cookie"]


def test_the_session_cookie_is_found_among_others() -> None:
    app = session_app()
    value = session_cookie(fetch(app, "/set/user/ada"))
    with TestClient(app) as client:
        response = client.get("/get", headers={"cookie": f"a=1; session={value}; b=2"})
        other = client.get("/get", headers={"cookie": "sessionx=1; a=2"})
        huge = client.get("/get", headers={"cookie": f"session={value}; pad={'x' * 9000}"})
    assert response.json() == {"user": "ada"}
    assert other.json() == {}
    assert "set-cookie" not in other.headers
    assert huge.json() == {}  # an oversized Cookie header is not parsed


def test_non_object_payloads_are_ignored() -> None:
    middleware = SessionMiddleware(session_app(), secret_key=KEY)
    now = int(time.time())
    value = middleware.sign(base64.urlsafe_b64encode(b"[1, 2]").rstrip(b"="), now)
    bad_json = middleware.sign(base64.urlsafe_b64encode(b"{nope").rstrip(b"="), now)
    for cookie in (value, bad_json):
        assert fetch(session_app(max_age=None), "/get", cookie).json() == {}


def test_oversized_sessions_are_logged(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, "aaf.sessions"):
        fetch(session_app(), "/set/blob/" + "x" * 4000)
    assert "browsers drop cookies over 4096 bytes" in caplog.text


def test_conn_session_without_the_middleware_says_what_to_add(
    caplog: pytest.LogCaptureFixture,
) -> None:
    router = Router()

    @router.get("/")
    async def index(conn: Connection) -> Any:
        return conn.session

    with caplog.at_level(logging.ERROR, "aaf.error"):
        response = TestClient(aaf([router])).get("/")
    assert response.status_code == 500
    assert "conn.session needs SessionMiddleware: aaf(..., middleware=[Middleware(" in caplog.text


@pytest.mark.parametrize(
    ("options", "error"),
    [
        ({"secret_key": "short"}, "at least 16 bytes"),
        ({"secret_key": [KEY, b"short"]}, "at least 16 bytes"),
        ({"secret_key": []}, "needs a secret_key"),
        ({"secret_key": KEY, "max_age": 0}, "max_age must be a positive"),
    ],
)
def test_bad_configuration_is_refused(options: dict[str, Any], error: str) -> None:
    with pytest.raises(ValueError, match=error):
        SessionMiddleware(session_app(), **options)


def test_unusable_cookie_attributes_fail_at_startup() -> None:
    with pytest.raises(CookieError, match="samesite='none' needs secure=True"):
        SessionMiddleware(session_app(), secret_key=KEY, samesite="none")


async def test_websockets_read_the_session_and_lifespan_passes() -> None:
    seen: list[Any] = []

    async def inner(scope: Any, receive: Any, send: Any) -> None:
        seen.append((scope["type"], scope.get("session")))

    middleware = SessionMiddleware(inner, secret_key=KEY)
    payload = base64.urlsafe_b64encode(b'{"user":"ada"}').rstrip(b"=")
    value = middleware.sign(payload, int(time.time()))
    scope = http_scope("/", headers=[(b"cookie", b"session=" + value.encode())])
    scope["type"] = "websocket"
    await call(middleware, scope)
    await call(middleware, {"type": "lifespan"})
    assert seen[1] == ("lifespan", None)
    assert seen[0] == ("websocket", {"user": "ada"})
