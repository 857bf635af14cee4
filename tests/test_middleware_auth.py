"""JWTAuthMiddleware and requires(): Bearer tokens over HTTP and WebSocket, 401 vs 403."""

from __future__ import annotations

import sys
import time
from typing import Any

import jwt
import pytest

from aaf import Connection, Middleware, Router, aaf
from aaf.middleware import auth
from aaf.middleware.auth import AuthUser, JWTAuthMiddleware, requires
from aaf.testing import TestClient
from tests.conftest import Message, call, http_scope

KEY = "test-signing-key-" + "x" * 64


def token(key: str = KEY, algorithm: str = "HS256", **claims: Any) -> str:
    claims.setdefault("sub", "ada")
    claims.setdefault("exp", int(time.time()) + 300)
    return jwt.encode(claims, key, algorithm=algorithm)


def bearer(value: str) -> dict[str, str]:
    return {"authorization": f"Bearer {value}"}


def auth_app(**options: Any) -> tuple[Any, list[str]]:
    options.setdefault("key", KEY)
    calls: list[str] = []
    router = Router()

    @router.get("/me")
    async def me(conn: Connection) -> dict[str, Any]:
        calls.append("me")
        user = conn.user
        if user is None:
            return {"user": None}
        return {"user": user.subject, "scopes": sorted(user.scopes)}

    @router.get("/reports/<int:year>")
    @requires("reports:read")
    async def reports(conn: Connection, year: int) -> dict[str, int]:
        calls.append("reports")
        return {"year": year}

    @router.get("/admin")
    @requires("admin", "write")
    def admin(conn: Connection) -> dict[str, bool]:  # a sync handler (runs in a thread)
        calls.append("admin")
        return {"admin": True}

    return aaf([router], middleware=[Middleware(JWTAuthMiddleware, **options)]), calls


def test_a_valid_token_sets_conn_user() -> None:
    app, calls = auth_app()
    with TestClient(app) as client:
        response = client.get("/me", headers=bearer(token(scope="reports:read admin")))
    assert response.json() == {"user": "ada", "scopes": ["admin", "reports:read"]}
    assert calls == ["me"]


def test_no_token_is_anonymous_until_a_route_requires_one() -> None:
    app, calls = auth_app()
    with TestClient(app) as client:
        anonymous = client.get("/me")
        refused = client.get("/reports/2024")
        other_scheme = client.get("/me", headers={"authorization": "Basic YWRhOnB3"})
    assert anonymous.json() == {"user": None}
    assert other_scheme.json() == {"user": None}
    assert refused.status_code == 401
    assert refused.headers["www-authenticate"] == "Bearer"
    assert refused.json() == {"error": "authentication required"}
    assert calls == ["me", "me"]


def test_requires_checks_scopes() -> None:
    app, calls = auth_app()
    with TestClient(app) as client:
        ok = client.get("/reports/2024", headers=bearer(token(scope="reports:read")))
        short = client.get("/admin", headers=bearer(token(scope="admin")))
        enough = client.get("/admin", headers=bearer(token(scope="write admin extra")))
    assert ok.json() == {"year": 2024}
    assert short.status_code == 403
    assert short.json() == {"error": "insufficient scope"}
    assert short.headers["www-authenticate"] == (
        'Bearer error="insufficient_scope", scope="admin write"'
    )
    assert enough.json() == {"admin": True}
    assert calls == ["reports", "admin"]


def test_scopes_from_a_list_claim() -> None:
    app, _ = auth_app(scopes_claim="scp")
    with TestClient(app) as client:
        response = client.get("/reports/1", headers=bearer(token(scp=["reports:read"])))
        no_claim = client.get("/reports/1", headers=bearer(token()))
    assert response.status_code == 200
    assert no_claim.status_code == 403


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (token(exp=int(time.time()) - 60), "the token has expired"),
        (token(key="another-key-" + "y" * 64), "the token is invalid"),
        ("not.a.token", "the token is invalid"),
        ("", "the token is invalid"),
        (
            jwt.encode({"sub": "ada", "exp": int(time.time()) + 60}, "", algorithm="none"),
            "the token is invalid",
        ),
        (jwt.encode({"sub": "ada"}, KEY, algorithm="HS256"), "the token is invalid"),  # no exp
        (token(algorithm="HS512"), "the token is invalid"),  # not an accepted algorithm
        # Time claims must be JSON numbers; PyJWT alone accepts numeric strings and booleans.
        (token(exp=str(int(time.time()) + 300)), "the token is invalid"),
        (token(nbf=str(int(time.time()) - 60)), "the token is invalid"),
        (token(iat=str(int(time.time()))), "the token is invalid"),
        (token(iat=True), "the token is invalid"),
    ],
)
def test_invalid_tokens_are_401_before_any_handler(value: str, reason: str) -> None:
    app, calls = auth_app()
    with TestClient(app) as client:
        response = client.get("/me", headers=bearer(value))
    assert response.status_code == 401
    assert response.json() == {"error": reason}
    assert response.headers["www-authenticate"] == (
        f'Bearer error="invalid_token", error_description="{reason}"'
    )
    assert calls == []


def test_audience_issuer_leeway_and_realm() -> None:
    app, _ = auth_app(audience="api", issuer="https://issuer.example", leeway=30, realm="aaf")
    good = token(aud="api", iss="https://issuer.example", exp=int(time.time()) - 10)
    with TestClient(app) as client:
        assert client.get("/me", headers=bearer(good)).json()["user"] == "ada"
        wrong_aud = client.get(
            "/me", headers=bearer(token(aud="other", iss="https://issuer.example"))
        )
        wrong_iss = client.get("/me", headers=bearer(token(aud="api", iss="https://evil.example")))
    assert wrong_aud.status_code == 401
    assert wrong_iss.status_code == 401
    assert wrong_aud.headers["www-authenticate"].startswith('Bearer realm="aaf", error=')


def test_audience_list() -> None:
    app, _ = auth_app(audience=["api", "web"])
    with TestClient(app) as client:
        assert client.get("/me", headers=bearer(token(aud="web"))).status_code == 200


def test_public_key_algorithms() -> None:
    from cryptography.hazmat.primitives.asymmetric import ec

    private = ec.generate_private_key(ec.SECP256R1())
    app, _ = auth_app(key=private.public_key(), algorithms=["ES256"])
    signed = jwt.encode({"sub": "ec", "exp": int(time.time()) + 60}, private, algorithm="ES256")
    hs = token()  # an HMAC token must not pass as the public key's algorithm
    with TestClient(app) as client:
        assert client.get("/me", headers=bearer(signed)).json()["user"] == "ec"
        assert client.get("/me", headers=bearer(hs)).status_code == 401


def test_subject_must_be_a_string() -> None:
    app, _ = auth_app(require=())
    with TestClient(app) as client:
        response = client.get("/me", headers=bearer(jwt.encode({"scope": "a"}, KEY)))
    assert response.json() == {"user": None, "scopes": ["a"]}


@pytest.mark.parametrize(
    ("options", "error"),
    [
        ({"algorithms": []}, "explicit signing algorithms"),
        ({"algorithms": ["HS256", "none"]}, "'none' would accept unsigned tokens"),
        ({"realm": 'a"b'}, "realm may not contain quotes"),
        ({"algorithms": ["HS256", "XS256"]}, "unknown algorithm 'XS256'"),
        # One key verifies one kind of algorithm; an HMAC secret that is also a public key
        # is the classic algorithm-confusion attack.
        ({"algorithms": ["RS256", "HS256"]}, "an HMAC secret.*RSA"),
        ({"algorithms": ["HS512", "EdDSA"]}, "one kind"),
        ({"algorithms": ["ES256", "PS256"]}, "one kind"),
        ({"algorithms": ["RS256"]}, "the key does not fit RS256"),
    ],
)
def test_bad_configuration_is_refused(options: dict[str, Any], error: str) -> None:
    with pytest.raises(ValueError, match=error):
        JWTAuthMiddleware(auth_app()[0], key=KEY, **options)


def rsa_public_pem() -> tuple[Any, bytes]:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return private, pem


def test_an_hmac_token_signed_with_the_public_key_is_refused_at_startup() -> None:
    private, pem = rsa_public_pem()
    # PyJWT would raise InvalidKeyError on every HS256 token (a 500); refused when built.
    with pytest.raises(ValueError, match="list algorithms of one kind"):
        auth_app(key=pem, algorithms=["RS256", "HS256"])
    app, _ = auth_app(key=pem, algorithms=["RS256", "PS256"])
    signed = jwt.encode({"sub": "rsa", "exp": int(time.time()) + 60}, private, algorithm="PS256")
    forged = hs256_with_raw_key({"sub": "admin", "exp": int(time.time()) + 60}, pem)
    with TestClient(app) as client:
        assert client.get("/me", headers=bearer(signed)).json()["user"] == "rsa"
        assert client.get("/me", headers=bearer(forged)).status_code == 401


def hs256_with_raw_key(claims: dict[str, Any], key: bytes) -> str:
    """An HS256 token signed with any bytes (PyJWT refuses a PEM key as an HMAC secret)."""
    import base64
    import hashlib
    import hmac
    import json

    def part(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    signing_input = part(b'{"alg":"HS256","typ":"JWT"}') + "." + part(json.dumps(claims).encode())
    signature = hmac.new(key, signing_input.encode(), hashlib.sha256).digest()
    return signing_input + "." + part(signature)


async def test_every_pyjwt_error_is_an_invalid_token(monkeypatch: pytest.MonkeyPatch) -> None:
    def failing_decode(*args: Any, **kwargs: Any) -> Any:
        raise jwt.InvalidKeyError("the key does not fit")  # not an InvalidTokenError

    monkeypatch.setattr(jwt, "decode", failing_decode)  # read when the middleware is built
    app, calls = auth_app()
    with TestClient(app) as client:
        response = client.get("/me", headers=bearer(token()))
    assert response.status_code == 401
    assert response.json() == {"error": "the token is invalid"}
    assert calls == []
    inner, sent = await ws_call(ws_scope([(b"authorization", b"Bearer " + token().encode())]))
    assert sent == [{"type": "websocket.close", "code": 1008, "reason": "the token is invalid"}]
    assert inner.scopes == []


def test_claims_changed_by_a_handler_do_not_reach_the_next_request() -> None:
    router = Router()
    seen: list[dict[str, Any]] = []

    @router.get("/claims")
    async def claims(conn: Connection) -> dict[str, Any]:
        assert conn.user is not None
        seen.append(json_copy(conn.user.claims))
        conn.user.claims["role"] = "admin"  # type: ignore[index]
        conn.user.claims["groups"].append("admins")
        conn.user.claims["profile"]["level"] = 99
        return {"ok": True}

    app = aaf([router], middleware=[Middleware(JWTAuthMiddleware, key=KEY)])
    value = token(groups=["staff"], profile={"level": 1, "tags": ["a"]})
    with TestClient(app) as client:
        for _ in range(3):
            assert client.get("/claims", headers=bearer(value)).status_code == 200
    first = seen[0]
    assert first["groups"] == ["staff"]
    assert first["profile"] == {"level": 1, "tags": ["a"]}
    assert "role" not in first
    assert seen == [first, first, first]


def json_copy(value: Any) -> Any:
    import json

    return json.loads(json.dumps(value))


def test_missing_pyjwt_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "jwt", None)
    with pytest.raises(ImportError, match=r"PyJWT: pip install"):
        JWTAuthMiddleware(auth_app()[0], key=KEY)


def test_auth_user_has_scopes() -> None:
    user = AuthUser("ada", frozenset({"a", "b"}))
    assert user.has_scopes("a")
    assert user.has_scopes("a", "b")
    assert not user.has_scopes("a", "c")
    assert user.claims == {}


# ---------------------------------------------------------------------------- verified-token cache
def test_a_verified_token_is_remembered(monkeypatch: pytest.MonkeyPatch) -> None:
    middleware = JWTAuthMiddleware(auth_app()[0], key=KEY, leeway=5)
    decoded: list[str] = []
    real_decode = middleware._decode

    def counting_decode(value: str, *args: Any, **kwargs: Any) -> Any:
        decoded.append(value)
        return real_decode(value, *args, **kwargs)

    monkeypatch.setattr(middleware, "_decode", counting_decode)
    now = time.time()
    value = token(exp=int(now) + 60)
    first = middleware.authenticate(value)
    assert isinstance(first, AuthUser)
    assert middleware.authenticate(value) == first
    assert decoded == [value]
    # Only the expiry is checked again, with the same leeway as PyJWT.
    monkeypatch.setattr(auth, "_now", lambda: now + 64)
    assert middleware.authenticate(value) == first
    monkeypatch.setattr(auth, "_now", lambda: now + 66)
    assert middleware.authenticate(value) == "the token has expired"
    assert value not in middleware._verified


def test_the_cache_is_bounded_and_can_be_off() -> None:
    middleware = JWTAuthMiddleware(auth_app()[0], key=KEY, cache_size=2, require=())
    tokens = [token(sub=str(i)) for i in range(3)]
    for value in tokens:
        assert isinstance(middleware.authenticate(value), AuthUser)
    assert list(middleware._verified) == tokens[1:]
    no_exp = jwt.encode({"sub": "forever"}, KEY)
    middleware.authenticate(no_exp)
    assert middleware._verified[no_exp][1] is None
    assert isinstance(middleware.authenticate(no_exp), AuthUser)
    off = JWTAuthMiddleware(auth_app()[0], key=KEY, cache_size=0)
    off.authenticate(tokens[0])
    assert off._verified == {}


# ---------------------------------------------------------------------------- WebSocket
def ws_scope(
    headers: list[tuple[bytes, bytes]] | None = None,
    subprotocols: list[str] | None = None,
    query: bytes = b"",
) -> dict[str, Any]:
    scope = http_scope("/ws", headers=headers or [(b"host", b"test")], query=query)
    scope["type"] = "websocket"
    scope["subprotocols"] = subprotocols or []
    del scope["method"]
    return scope


class Inner:
    """A raw ASGI app that records what reached it."""

    def __init__(self) -> None:
        self.scopes: list[dict[str, Any]] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        self.scopes.append(scope)


CONNECT = [{"type": "websocket.connect"}]
CLOSE_1008 = "websocket.close"


async def ws_call(scope: dict[str, Any], **options: Any) -> tuple[Inner, list[Message]]:
    inner = Inner()
    options.setdefault("key", KEY)
    recorder = await call(JWTAuthMiddleware(inner, **options), scope, list(CONNECT))
    return inner, recorder.sent


async def test_websocket_without_a_token_is_closed_before_accept() -> None:
    inner, sent = await ws_call(ws_scope())
    assert sent == [{"type": "websocket.close", "code": 1008, "reason": "authentication required"}]
    assert inner.scopes == []


async def test_websocket_with_an_invalid_token_is_closed() -> None:
    inner, sent = await ws_call(ws_scope([(b"authorization", b"Bearer nope")]))
    assert sent == [{"type": "websocket.close", "code": 1008, "reason": "the token is invalid"}]
    assert inner.scopes == []
    inner, sent = await ws_call(ws_scope(query=b"token=" + token(exp=1).encode()))
    assert sent[0]["reason"] == "the token has expired"


async def test_websocket_token_from_the_header() -> None:
    value = token(scope="chat").encode()
    inner, sent = await ws_call(ws_scope([(b"authorization", b"Bearer " + value)]))
    assert sent == []
    user = inner.scopes[0]["user"]
    assert user.subject == "ada"
    assert user.scopes == frozenset({"chat"})


async def test_websocket_token_from_the_subprotocol_pair() -> None:
    inner, sent = await ws_call(ws_scope(subprotocols=["bearer", token(), "chat.v1"]))
    assert sent == []
    # The token is taken out, so the app accepts with "bearer" and never echoes the token.
    assert inner.scopes[0]["subprotocols"] == ["bearer", "chat.v1"]
    assert inner.scopes[0]["user"].subject == "ada"


async def test_websocket_bearer_subprotocol_without_a_token() -> None:
    inner, sent = await ws_call(ws_scope(subprotocols=["chat.v1", "bearer"]))
    assert sent[0]["reason"] == "authentication required"
    assert inner.scopes == []


async def test_websocket_token_from_the_query() -> None:
    inner, sent = await ws_call(ws_scope(query=b"room=1&token=" + token().encode()))
    assert sent == []
    assert inner.scopes[0]["user"].subject == "ada"
    inner, sent = await ws_call(ws_scope(query=b"token=" + token().encode()), query_param=None)
    assert sent[0]["reason"] == "authentication required"


async def test_anonymous_websockets_when_allowed() -> None:
    inner, sent = await ws_call(ws_scope(), anonymous_websockets=True)
    assert sent == []
    assert inner.scopes[0]["user"] is None


async def test_a_client_gone_before_the_handshake_gets_nothing() -> None:
    inner = Inner()
    middleware = JWTAuthMiddleware(inner, key=KEY)
    recorder = await call(middleware, ws_scope(), [{"type": "websocket.disconnect", "code": 1001}])
    assert recorder.sent == []
    assert inner.scopes == []


async def test_lifespan_passes_through() -> None:
    inner = Inner()
    await call(JWTAuthMiddleware(inner, key=KEY), {"type": "lifespan"})
    assert inner.scopes == [{"type": "lifespan"}]
