"""APIKeyMiddleware: header and query keys, names as subjects, constant-time matching, 401s."""

from __future__ import annotations

import hmac
from typing import Any

import pytest

from aaf import Middleware
from aaf.datastructures import AuthUser
from aaf.middleware import apikey
from aaf.middleware.apikey import APIKeyMiddleware
from aaf.testing import TestClient, WebSocketDenied
from tests.conftest import call, http_scope
from tests.support.auth_apps import Inner, guarded_app, ws_scope

BILLING = "billing-secret-" + "b" * 32
REPORTING = "reporting-secret-" + "r" * 32
KEYS = {"billing": BILLING, "reporting": REPORTING}
SCOPES = {"reporting": ["reports:read"]}
CHALLENGE = 'APIKey header="X-API-Key"'


def key_app(**options: Any) -> tuple[Any, list[str]]:
    options.setdefault("keys", KEYS)
    options.setdefault("scopes", SCOPES)
    return guarded_app(Middleware(APIKeyMiddleware, **options))


def test_a_valid_key_names_its_client_never_the_secret() -> None:
    app, calls = key_app()
    with TestClient(app) as client:
        response = client.get("/me", headers={"x-api-key": REPORTING})
    assert response.json() == {
        "user": "reporting",
        "scopes": ["reports:read"],
        "claims": {"auth_scheme": "api_key"},
    }
    assert REPORTING not in response.text
    assert calls == ["me"]


def test_a_wrong_key_is_401_before_any_handler() -> None:
    app, calls = key_app()
    with TestClient(app) as client:
        for value in ("wrong", BILLING + "x", BILLING[:-1], ""):
            response = client.get("/me", headers={"x-api-key": value})
            assert response.status_code == 401, value
            assert response.headers["www-authenticate"] == CHALLENGE
            assert response.json() == {"error": "the API key is invalid"}
    assert calls == []


def test_a_missing_key_is_anonymous_unless_required() -> None:
    app, calls = key_app()
    with TestClient(app) as client:
        assert client.get("/me").json() == {"user": None}
    assert calls == ["me"]
    app, calls = key_app(required=True)
    with TestClient(app) as client:
        response = client.get("/me")
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == CHALLENGE
    assert response.json() == {"error": "authentication required"}
    assert calls == []


def test_requires_answers_401_in_this_scheme_and_403_without_the_scope() -> None:
    app, calls = key_app()
    with TestClient(app) as client:
        anonymous = client.get("/reports")
        no_scope = client.get("/reports", headers={"x-api-key": BILLING})
        allowed = client.get("/reports", headers={"x-api-key": REPORTING})
    assert anonymous.status_code == 401
    assert anonymous.headers["www-authenticate"] == CHALLENGE
    assert no_scope.status_code == 403
    assert "www-authenticate" not in no_scope.headers  # insufficient_scope is Bearer's
    assert allowed.json() == {"reports": True}
    assert calls == ["reports"]


def test_two_keys_in_one_request_are_refused() -> None:
    app, calls = key_app()
    with TestClient(app) as client:
        response = client.get("/me", headers=[("x-api-key", REPORTING), ("x-api-key", BILLING)])
    assert response.status_code == 401
    assert response.json() == {"error": "send one API key, not several"}
    assert calls == []


def test_the_query_parameter_is_opt_in() -> None:
    app, _ = key_app()
    with TestClient(app) as client:
        assert client.get("/me", params={"api_key": BILLING}).json() == {"user": None}
    app, _ = key_app(query="api_key")
    with TestClient(app) as client:
        assert client.get("/me", params={"api_key": BILLING}).json()["user"] == "billing"
        assert client.get("/me", params={"api_key": "nope"}).status_code == 401
        # The header wins over the query.
        both = client.get("/me", params={"api_key": "nope"}, headers={"x-api-key": BILLING})
        assert both.json()["user"] == "billing"
    app, _ = key_app(header=None, query="api_key")
    with TestClient(app) as client:
        refused = client.get("/reports")
    assert refused.headers["www-authenticate"] == 'APIKey query="api_key"'


def test_every_key_is_compared_whichever_matches(monkeypatch: pytest.MonkeyPatch) -> None:
    compared: list[tuple[bytes, bytes]] = []

    def counting_compare(a: bytes, b: bytes) -> bool:
        compared.append((a, b))
        return hmac.compare_digest(a, b)

    monkeypatch.setattr(apikey, "compare_digest", counting_compare)
    keys = {f"client-{index}": f"secret-number-{index:04d}-padding" for index in range(5)}
    middleware = APIKeyMiddleware(Inner(), keys=keys)
    for presented, expected in [
        ("secret-number-0000-padding", "client-0"),  # the first key matches
        ("secret-number-0004-padding", "client-4"),  # the last key matches
        ("secret-number-9999-padding", None),  # none does
    ]:
        compared.clear()
        assert middleware.match(presented) == expected
        assert len(compared) == 5
        # Digests of one length are compared, never the raw keys.
        assert all(len(a) == len(b) == 32 for a, b in compared)
        assert {b for _, b in compared} == {digest for _, digest in middleware.digests}


async def test_a_lookup_callable_sync_or_async() -> None:
    def lookup(key: str) -> AuthUser | None:
        return AuthUser("from-db", frozenset({"x"})) if key == "db-key" else None

    async def async_lookup(key: str) -> AuthUser | None:
        return lookup(key)

    for finder in (lookup, async_lookup):
        inner = Inner()
        middleware = APIKeyMiddleware(inner, keys=finder)
        await call(middleware, http_scope("/", headers=[(b"x-api-key", b"db-key")]))
        assert inner.scopes[0]["user"] == AuthUser("from-db", frozenset({"x"}))
        recorder = await call(middleware, http_scope("/", headers=[(b"x-api-key", b"other")]))
        assert recorder.status == 401


async def test_a_lookup_returning_something_else_says_what_to_return() -> None:
    middleware = APIKeyMiddleware(Inner(), keys=lambda key: "ada")  # type: ignore[arg-type,return-value]
    with pytest.raises(TypeError, match="return an AuthUser for a known key"):
        await call(middleware, http_scope("/", headers=[(b"x-api-key", b"k")]))


@pytest.mark.parametrize(
    ("options", "error"),
    [
        ({"keys": {}}, "needs keys"),
        ({"keys": {"short": "abc"}}, "shorter than 16 characters"),
        ({"keys": {"accented": "clé-" + "x" * 20}}, "printable ASCII"),
        ({"keys": {"spaced": "a key " + "x" * 20}}, "printable ASCII"),
        ({"keys": {"a": BILLING, "b": BILLING}}, "same secret as another key"),
        ({"keys": KEYS, "scopes": {"nobody": ["x"]}}, "do not exist"),
        ({"keys": KEYS, "header": None}, "a header or a query parameter"),
        ({"keys": KEYS, "header": 'X-"Key'}, "without quotes"),
    ],
)
def test_bad_configuration_is_refused(options: dict[str, Any], error: str) -> None:
    with pytest.raises(ValueError, match=error):
        APIKeyMiddleware(Inner(), **options)


def test_security_scheme_describes_the_key() -> None:
    assert APIKeyMiddleware(Inner(), keys=KEYS).security_scheme == {
        "type": "apiKey",
        "in": "header",
        "name": "X-API-Key",
    }
    query_only = APIKeyMiddleware(Inner(), keys=KEYS, header=None, query="key")
    assert query_only.security_scheme == {"type": "apiKey", "in": "query", "name": "key"}


# ---------------------------------------------------------------------------- WebSocket
def test_websocket_with_a_key_and_refused_without_one_when_required() -> None:
    app, calls = key_app(query="api_key", required=True)
    with TestClient(app) as client:
        with client.websocket_connect(f"/ws?api_key={BILLING}") as ws:
            assert ws.receive_json() == {"user": "billing"}
        with pytest.raises(WebSocketDenied) as denied:
            client.websocket_connect("/ws").__enter__()
    assert denied.value.status_code == 401
    assert denied.value.headers["www-authenticate"] == CHALLENGE
    assert calls == ["ws"]


async def test_websocket_refusal_without_the_denial_extension_is_a_close() -> None:
    inner = Inner()
    middleware = APIKeyMiddleware(inner, keys=KEYS)
    scope = ws_scope([(b"x-api-key", b"wrong")])
    recorder = await call(middleware, scope, [{"type": "websocket.connect"}])
    assert recorder.sent == [
        {"type": "websocket.close", "code": 1008, "reason": "the API key is invalid"}
    ]
    assert inner.scopes == []


async def test_websocket_without_a_key_passes_anonymous_when_not_required() -> None:
    inner = Inner()
    await call(APIKeyMiddleware(inner, keys=KEYS), ws_scope(), [{"type": "websocket.connect"}])
    assert inner.scopes[0]["user"] is None


async def test_lifespan_passes_through() -> None:
    inner = Inner()
    await call(APIKeyMiddleware(inner, keys=KEYS), {"type": "lifespan"})
    assert inner.scopes == [{"type": "lifespan"}]


def test_schemes_stack_and_the_outermost_names_the_challenge() -> None:
    from aaf.middleware.basic import BasicAuthMiddleware
    from aaf.middleware.passwords import hash_password

    users = {"ada": hash_password("pw", n=16, r=1, p=1)}
    app, _ = guarded_app(
        Middleware(BasicAuthMiddleware, users=users, scopes={"ada": ["reports:read"]}),
        Middleware(APIKeyMiddleware, keys=KEYS, scopes=SCOPES),
    )
    with TestClient(app) as client:
        by_password = client.get("/reports", auth=("ada", "pw"))
        by_key = client.get("/me", headers={"x-api-key": BILLING})
        refused = client.get("/reports")
    assert by_password.json() == {"reports": True}  # no API key: Basic's user is kept
    assert by_key.json()["user"] == "billing"
    assert refused.headers["www-authenticate"] == 'Basic realm="aaf", charset="UTF-8"'
