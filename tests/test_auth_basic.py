"""BasicAuthMiddleware and password hashes: challenges, malformed credentials, the cache."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from aaf import Middleware
from aaf.datastructures import AuthUser
from aaf.middleware import basic, passwords
from aaf.middleware.basic import BasicAuthMiddleware
from aaf.middleware.passwords import hash_password, is_password_hash, verify_password
from aaf.testing import TestClient, WebSocketDenied
from tests.conftest import call, http_scope
from tests.support.auth_apps import Inner, guarded_app, ws_scope

CHALLENGE = 'Basic realm="aaf", charset="UTF-8"'


def cheap_hash(password: str) -> str:
    """APPSEC: a test-only cost; real hashes use hash_password's defaults."""
    return hash_password(password, n=16, r=1, p=1)


USERS = {"ada": cheap_hash("lovelace"), "zoë": cheap_hash("pässwörd")}


def basic_header(user: str, password: str) -> dict[str, str]:
    encoded = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"authorization": f"Basic {encoded}"}


def list_headers(headers: dict[str, str]) -> list[tuple[bytes, bytes]]:
    return [(name.encode(), value.encode()) for name, value in headers.items()]


def basic_app(**options: Any) -> tuple[Any, list[str]]:
    options.setdefault("users", USERS)
    options.setdefault("scopes", {"ada": ["reports:read"]})
    return guarded_app(Middleware(BasicAuthMiddleware, **options))


def test_valid_credentials_set_conn_user() -> None:
    app, calls = basic_app()
    with TestClient(app) as client:
        ada = client.get("/me", headers=basic_header("ada", "lovelace"))
        zoe = client.get("/me", headers=basic_header("zoë", "pässwörd"))
    assert ada.json() == {
        "user": "ada",
        "scopes": ["reports:read"],
        "claims": {"auth_scheme": "basic"},
    }
    assert zoe.json()["user"] == "zoë"
    assert calls == ["me", "me"]


@pytest.mark.parametrize(
    ("user", "password"),
    [("ada", "wrong"), ("ada", ""), ("nobody", "lovelace"), ("ADA", "lovelace")],
)
def test_wrong_credentials_are_401_with_the_challenge(user: str, password: str) -> None:
    app, calls = basic_app()
    with TestClient(app) as client:
        response = client.get("/me", headers=basic_header(user, password))
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == CHALLENGE
    assert response.json() == {"error": "the user name or password is wrong"}
    assert calls == []


@pytest.mark.parametrize(
    "value",
    [
        "Basic !!!not-base64",
        "Basic YWRh",  # "ada": no colon
        "Basic " + base64.b64encode(b"ada:\xff\xfe").decode(),  # not UTF-8
        "Basic " + base64.b64encode(b"ada:pw\x00").decode(),  # a control character
        "Basic YWRhOmxvdmVsYWM",  # truncated: bad padding
        "Basic",
    ],
)
def test_malformed_credentials_are_401_never_500(value: str) -> None:
    app, calls = basic_app()
    with TestClient(app) as client:
        response = client.get("/me", headers={"authorization": value})
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == CHALLENGE
    assert "malformed Basic credentials" in response.json()["error"]
    assert calls == []


def test_no_credentials_are_anonymous_and_requires_challenges_in_basic() -> None:
    app, calls = basic_app(realm="staff area")
    with TestClient(app) as client:
        anonymous = client.get("/me")
        bearer = client.get("/me", headers={"authorization": "Bearer abc"})
        refused = client.get("/reports")
        no_scope = client.get("/reports", headers=basic_header("zoë", "pässwörd"))
        allowed = client.get("/reports", headers=basic_header("ada", "lovelace"))
    assert anonymous.json() == {"user": None}
    assert bearer.json() == {"user": None}  # another scheme is not Basic's to judge
    assert refused.status_code == 401
    assert refused.headers["www-authenticate"] == 'Basic realm="staff area", charset="UTF-8"'
    assert no_scope.status_code == 403
    assert allowed.json() == {"reports": True}
    assert calls == ["me", "me", "reports"]


def test_required_challenges_every_request() -> None:
    app, calls = basic_app(required=True)
    with TestClient(app) as client:
        response = client.get("/me")
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == CHALLENGE
    assert calls == []


def test_verified_credentials_are_remembered_for_the_ttl(monkeypatch: pytest.MonkeyPatch) -> None:
    checked: list[str] = []
    real_verify = basic.verify_password

    def counting_verify(password: str, stored: str) -> bool:
        checked.append(password)
        return real_verify(password, stored)

    now = [1000.0]
    monkeypatch.setattr(basic, "verify_password", counting_verify)
    monkeypatch.setattr(basic, "_monotonic", lambda: now[0])
    app, _ = basic_app(cache_ttl=60)
    with TestClient(app) as client:
        for _ in range(3):
            assert client.get("/me", headers=basic_header("ada", "lovelace")).status_code == 200
        assert checked == ["lovelace"]
        for _ in range(2):  # failures are never remembered
            assert client.get("/me", headers=basic_header("ada", "nope")).status_code == 401
        assert checked == ["lovelace", "nope", "nope"]
        now[0] += 61
        assert client.get("/me", headers=basic_header("ada", "lovelace")).status_code == 200
    assert checked == ["lovelace", "nope", "nope", "lovelace"]


async def test_the_cache_is_bounded_and_can_be_off() -> None:
    middleware = BasicAuthMiddleware(Inner(), users=USERS, cache_size=1)
    off = BasicAuthMiddleware(Inner(), users=USERS, cache_ttl=0)
    for user, password in [("ada", "lovelace"), ("zoë", "pässwörd")]:
        headers = list_headers(basic_header(user, password))
        await call(middleware, http_scope("/", headers=headers))
        await call(off, http_scope("/", headers=headers))
    assert len(middleware._verified) == 1
    assert off._verified == {}


async def test_an_unknown_user_costs_a_kdf_like_a_known_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    checked: list[str] = []

    def counting_verify(password: str, stored: str) -> bool:
        checked.append(stored)
        return True  # even a "matching" stand-in hash never signs an unknown user in

    monkeypatch.setattr(basic, "verify_password", counting_verify)
    middleware = BasicAuthMiddleware(Inner(), users=USERS)
    recorder = await call(middleware, http_scope("/", headers=list_headers(basic_header("x", "y"))))
    assert recorder.status == 401
    assert checked == [USERS["ada"]]


async def test_a_verify_callable_sync_or_async() -> None:
    def verify(user: str, password: str) -> AuthUser | None:
        return AuthUser(user, frozenset({"db"})) if password == "ok" else None

    async def async_verify(user: str, password: str) -> AuthUser | None:
        return verify(user, password)

    for check in (verify, async_verify):
        inner = Inner()
        middleware = BasicAuthMiddleware(inner, verify=check)
        await call(middleware, http_scope("/", headers=list_headers(basic_header("bob", "ok"))))
        assert inner.scopes[0]["user"] == AuthUser("bob", frozenset({"db"}))
        wrong = http_scope("/", headers=list_headers(basic_header("bob", "no")))
        assert (await call(middleware, wrong)).status == 401


@pytest.mark.parametrize(
    ("options", "error"),
    [
        ({"users": {"ada": "plain-password"}}, "is not a hash"),
        ({"users": {"a:b": cheap_hash("x")}}, "has a colon"),
        ({"users": {}}, "users is empty"),
        ({}, "needs users"),
        ({"users": USERS, "realm": 'say "hi"'}, "without quotes"),
    ],
)
def test_bad_configuration_is_refused(options: dict[str, Any], error: str) -> None:
    with pytest.raises(ValueError, match=error):
        BasicAuthMiddleware(Inner(), **options)


def test_security_scheme() -> None:
    middleware = BasicAuthMiddleware(Inner(), users=USERS)
    assert middleware.security_scheme == {"type": "http", "scheme": "basic"}


# ---------------------------------------------------------------------------- hashes
def test_password_hash_round_trip_with_the_default_cost() -> None:
    stored = hash_password("correct horse")
    assert stored.startswith(f"scrypt${passwords.SCRYPT_N}$8$5$")
    assert verify_password("correct horse", stored)
    assert not verify_password("correct hors", stored)
    assert hash_password("correct horse", n=16, r=1, p=1) != hash_password(
        "correct horse", n=16, r=1, p=1
    )  # salted


def test_pbkdf2_hashes_verify_too() -> None:
    stored = hash_password("pw", algorithm="pbkdf2", iterations=1000)
    assert stored.startswith("pbkdf2_sha256$1000$")
    assert verify_password("pw", stored)
    assert not verify_password("pW", stored)
    with pytest.raises(ValueError, match="use 'scrypt' or 'pbkdf2'"):
        hash_password("pw", algorithm="md5")


@pytest.mark.parametrize(
    "stored",
    [
        "plain",
        "scrypt$16$1$1$c2FsdA",
        "scrypt$15$1$1$c2FsdA$" + "A" * 43,  # n not a power of two
        "scrypt$x$1$1$c2FsdA$" + "A" * 43,
        "pbkdf2_sha256$0$c2FsdA$" + "A" * 43,
        "pbkdf2_sha256$10$c2FsdA$short",
    ],
)
def test_what_is_not_a_hash(stored: str) -> None:
    assert not is_password_hash(stored)
    with pytest.raises(ValueError, match="not a password hash"):
        verify_password("x", stored)


# ---------------------------------------------------------------------------- WebSocket
def test_websocket_with_credentials_and_refused_when_required() -> None:
    app, calls = basic_app(required=True)
    with TestClient(app) as client:
        with client.websocket_connect("/ws", headers=basic_header("ada", "lovelace")) as ws:
            assert ws.receive_json() == {"user": "ada"}
        with pytest.raises(WebSocketDenied) as denied:
            client.websocket_connect("/ws").__enter__()
    assert denied.value.status_code == 401
    assert denied.value.headers["www-authenticate"] == CHALLENGE
    assert calls == ["ws"]


async def test_websocket_with_wrong_credentials_is_closed_before_accept() -> None:
    inner = Inner()
    scope = ws_scope(list_headers(basic_header("ada", "nope")))
    recorder = await call(
        BasicAuthMiddleware(inner, users=USERS), scope, [{"type": "websocket.connect"}]
    )
    assert recorder.sent[0]["type"] == "websocket.close"
    assert inner.scopes == []
