"""Bearer JWT authentication (PyJWT) for HTTP and WebSocket, ``conn.user`` and ``requires()``.

    auth = Middleware(JWTAuthMiddleware, key=PUBLIC_KEY, algorithms=["RS256"], audience="api")
    app = aaf([router], middleware=[auth])

    @router.get("/reports")
    @requires("reports:read")          # below the route decorator: it wraps the handler
    async def reports(conn): ...

HTTP: the token comes from ``Authorization: Bearer <token>``. No token: ``conn.user`` is None
and only ``requires()`` routes refuse (401). A token that fails verification: 401 with
``WWW-Authenticate: Bearer error="invalid_token"`` (RFC 6750), before any handler runs.

WebSocket: browsers cannot set headers on a WebSocket, so the token may also come as the
subprotocol pair ``["bearer", token]`` (``new WebSocket(url, ["bearer", token])``; the token
entry is removed from ``scope["subprotocols"]`` so the app accepts with ``"bearer"``) or as
``?token=`` in the URL (which ends up in access logs: prefer the subprotocol). A WebSocket
without a valid token is closed with 1008 before it is accepted; the app never sees it.
"""

from __future__ import annotations

import inspect
import time
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar
from urllib.parse import parse_qsl

from .. import _json
from .._callables import connection_decorator, mark_required_scopes
from ..datastructures import AuthUser
from ..errors import HTTPError
from ._common import refuse_websocket, send_text

if TYPE_CHECKING:
    from .._types import ASGIApp, Receive, Scope, Send
    from ..connection import Connection

__all__ = ["CHALLENGE_SCOPE_KEY", "AuthUser", "JWTAuthMiddleware", "requires"]

H = TypeVar("H", bound=Callable[..., Any])


def _now() -> float:
    return time.time()


_SUBPROTOCOL = "bearer"

# The scope entry where another authentication middleware (API key, Basic, session) names its
# WWW-Authenticate challenge, so requires() refuses an anonymous request in that scheme.
CHALLENGE_SCOPE_KEY = "aaf.auth_challenge"


# The kind of key each algorithm verifies with (PyJWT's names); one key fits one kind.
_KEY_KINDS = {"HS": "an HMAC secret", "RS": "an RSA key", "PS": "an RSA key", "ES": "an EC key"}
_KEY_KINDS_BY_NAME = {"EdDSA": "an Ed25519/Ed448 key"}


# APPSEC: PyJWT compares these claims after int(), so it lets "exp": "9999999999" (a string)
# through. RFC 7519 makes them JSON numbers; a token with another type is refused as invalid.
_TIME_CLAIMS = ("exp", "nbf", "iat")


def _time_claims_are_numbers(claims: Mapping[str, Any]) -> bool:
    for name in _TIME_CLAIMS:
        if name in claims:
            value = claims[name]
            # bool is an int subclass in Python, but JSON true is not a NumericDate.
            if isinstance(value, bool) or not isinstance(value, int | float):
                return False
    return True


def _key_kind(algorithm: str) -> str:
    kind = _KEY_KINDS_BY_NAME.get(algorithm) or _KEY_KINDS.get(algorithm[:2])
    return kind or f"a key for {algorithm}"


def _copy_claims(claims: Mapping[str, Any], nested: bool = True) -> dict[str, Any]:
    """A copy of decoded JSON claims that shares no dict or list with the original.

    ``nested=False`` says no claim is a dict or a list (a shallow copy is then enough).
    """
    copy = dict(claims)
    if nested:
        for name, value in copy.items():
            if type(value) is dict or type(value) is list:
                copy[name] = _copy_json(value)
    return copy


def _is_nested(claims: Mapping[str, Any]) -> bool:
    return any(type(value) is dict or type(value) is list for value in claims.values())


def _copy_json(value: Any) -> Any:
    if type(value) is dict:
        return {name: _copy_json(item) for name, item in value.items()}
    if type(value) is list:
        return [_copy_json(item) for item in value]
    return value


def _scopes_of(claims: Mapping[str, Any], claim: str) -> frozenset[str]:
    """OAuth scopes: a space-separated string (RFC 8693 ``scope``) or a list (``scp``)."""
    value = claims.get(claim)
    if isinstance(value, str):
        return frozenset(value.split())
    if isinstance(value, list | tuple):
        return frozenset(str(item) for item in value)
    return frozenset()


class JWTAuthMiddleware:
    """Verifies Bearer JWTs and puts an :class:`AuthUser` (or None) in ``scope["user"]``.

    Args:
        key: the verification key (HMAC secret, or a public key for RS*/PS*/ES*/EdDSA); it is
            checked against ``algorithms`` when the middleware is built.
        algorithms: the accepted algorithms, named explicitly and all of one kind of key
            (``"none"``, and HS* mixed with public-key algorithms, are refused).
        audience, issuer: required ``aud`` / ``iss`` values, when given.
        leeway: seconds of clock skew tolerated on ``exp``/``nbf``/``iat``.
        require: claims every token must carry (``exp`` by default: no eternal tokens).
        scopes_claim: the claim holding the granted scopes.
        realm: the ``realm`` in ``WWW-Authenticate``, if any.
        query_param: the WebSocket URL parameter a token may come in (None to disable).
        anonymous_websockets: let WebSockets without a token through (``conn.user`` None).
        cache_size: verified tokens remembered (0: verify every request from scratch).

    ``security_scheme`` is the OpenAPI 3.1 Security Scheme Object for Bearer JWTs.
    """

    security_scheme: ClassVar[dict[str, Any]] = {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
    }

    def __init__(
        self,
        app: ASGIApp,
        *,
        key: Any,
        algorithms: Iterable[str] = ("HS256",),
        audience: str | Iterable[str] | None = None,
        issuer: str | None = None,
        leeway: float = 0,
        require: Iterable[str] = ("exp",),
        scopes_claim: str = "scope",
        realm: str | None = None,
        query_param: str | None = "token",
        anonymous_websockets: bool = False,
        cache_size: int = 1024,
    ) -> None:
        try:
            import jwt
        except ImportError as exc:  # the 'jwt' extra
            raise ImportError(
                "JWTAuthMiddleware needs PyJWT: pip install 'pyjwt[crypto]' (aaf's 'jwt' extra)"
            ) from exc
        self.app = app
        self.algorithms = list(algorithms)
        if not self.algorithms or any(a.lower() == "none" for a in self.algorithms):
            raise ValueError(
                "JWTAuthMiddleware needs explicit signing algorithms such as ['HS256'] or "
                "['RS256']; 'none' would accept unsigned tokens"
            )
        _check_key(jwt, key, self.algorithms)
        self.key = key
        self.audience = (
            audience if audience is None or isinstance(audience, str) else list(audience)
        )
        self.issuer = issuer
        self.leeway = leeway
        self.require = list(require)
        self.scopes_claim = scopes_claim
        self.query_param = query_param
        self.anonymous_websockets = anonymous_websockets
        # PERF: verifying a JWT costs tens of microseconds and a client sends the same token
        # with many requests. Verified tokens are remembered (bounded, oldest out first) and
        # only their expiry is checked again; every other claim is fixed by the signature.
        self.cache_size = cache_size
        # token -> (user, its expiry, whether its claims hold dicts or lists)
        self._verified: dict[str, tuple[AuthUser, int | None, bool]] = {}
        self._decode = jwt.decode
        # Every PyJWT error, not only InvalidTokenError: InvalidKeyError and the like come from
        # what the token's header asks for, so they are the client's fault (401), not a 500.
        self._invalid = jwt.PyJWTError
        self._expired = jwt.ExpiredSignatureError
        realm_part = f'realm="{realm}", ' if realm else ""
        if realm and ('"' in realm or "\\" in realm):
            raise ValueError("realm may not contain quotes or backslashes")
        self.challenges = {
            reason: (
                f'Bearer {realm_part}error="invalid_token", error_description="{reason}"'
            ).encode("latin-1")
            for reason in ("the token has expired", "the token is invalid")
        }

    def authenticate(self, token: str) -> AuthUser | str:
        """The token's user, or the reason it was refused.

        Each call gets claims of its own: a handler changing ``conn.user.claims`` changes
        nothing for later requests carrying the same (remembered) token.
        """
        cached = self._verified.get(token)
        if cached is not None:
            user, expires, nested = cached
            # The same test PyJWT applies: valid while exp > now - leeway.
            if expires is None or expires > _now() - self.leeway:
                # PERF: flat claims (strings and numbers, the usual) only need a shallow copy.
                return AuthUser(user.subject, user.scopes, _copy_claims(user.claims, nested))
            del self._verified[token]
            return "the token has expired"
        try:
            claims: dict[str, Any] = self._decode(
                token,
                self.key,
                algorithms=self.algorithms,
                audience=self.audience,
                issuer=self.issuer,
                leeway=self.leeway,
                options={"require": self.require},
            )
        except self._expired:
            return "the token has expired"
        except self._invalid:
            return "the token is invalid"
        if not _time_claims_are_numbers(claims):
            return "the token is invalid"
        subject = claims.get("sub")
        user = AuthUser(
            subject=subject if isinstance(subject, str) else None,
            scopes=_scopes_of(claims, self.scopes_claim),
            claims=claims,
        )
        if self.cache_size:
            if len(self._verified) >= self.cache_size:
                del self._verified[next(iter(self._verified))]  # the oldest entry
            # exp, when present, is a number (checked above; PyJWT checked it fits an int).
            expires = int(claims["exp"]) if "exp" in claims else None
            remembered = AuthUser(user.subject, user.scopes, _copy_claims(claims))
            self._verified[token] = (remembered, expires, _is_nested(claims))
        return user

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            token = _bearer(scope)
            if token is None:
                scope["user"] = None
            else:
                user = self.authenticate(token)
                if isinstance(user, str):
                    headers = [(b"www-authenticate", self.challenges[user])]
                    body = _json.encode({"error": user})
                    await send_text(send, 401, body, headers, b"application/json")
                    return
                scope["user"] = user
            await self.app(scope, receive, send)
        elif kind == "websocket":
            await self.websocket(scope, receive, send)
        else:
            await self.app(scope, receive, send)

    async def websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        token = _bearer(scope)
        subprotocols: list[str] = list(scope.get("subprotocols") or ())
        if token is None and _SUBPROTOCOL in subprotocols:
            index = subprotocols.index(_SUBPROTOCOL)
            if index + 1 < len(subprotocols):
                token = subprotocols.pop(index + 1)
                scope = {**scope, "subprotocols": subprotocols}
        if token is None and self.query_param:
            query = scope.get("query_string", b"").decode("latin-1")
            token = dict(parse_qsl(query)).get(self.query_param)
        if token is None:
            if not self.anonymous_websockets:
                await refuse_websocket(receive, send, "authentication required")
                return
            user: AuthUser | str | None = None
        else:
            user = self.authenticate(token)
            if isinstance(user, str):
                await refuse_websocket(receive, send, user)
                return
        scope["user"] = user
        await self.app(scope, receive, send)


def _check_key(jwt: Any, key: Any, algorithms: list[str]) -> None:
    """Refuse, at start-up, algorithms PyJWT does not know, algorithms needing different kinds
    of key, and a key that does not fit them."""
    known = jwt.algorithms.get_default_algorithms()
    for name in algorithms:
        if name not in known:
            raise ValueError(
                f"JWTAuthMiddleware: unknown algorithm {name!r}; use PyJWT's names "
                f"({', '.join(sorted(a for a in known if a != 'none'))})"
            )
    kinds = sorted({_key_kind(name) for name in algorithms})
    if len(kinds) > 1:
        # APPSEC: the same key bytes read as an HMAC secret and as a public key is the
        # algorithm-confusion attack; any other mix can only fail on some tokens.
        raise ValueError(
            f"JWTAuthMiddleware algorithms {algorithms} need {' and '.join(kinds)}, but one key "
            "verifies one kind: list algorithms of one kind (e.g. ['RS256'] for an RSA public "
            "key, ['HS256'] for a shared secret), or use one middleware per key"
        )
    for name in algorithms:
        try:
            known[name].prepare_key(key)
        except (jwt.PyJWTError, TypeError, ValueError) as exc:
            raise ValueError(f"JWTAuthMiddleware: the key does not fit {name}: {exc}") from None


def _bearer(scope: Scope) -> str | None:
    for name, value in scope["headers"]:
        if name == b"authorization":
            text: str = value.decode("latin-1")
            scheme, _, token = text.partition(" ")
            if scheme.lower() == "bearer":
                return token.strip(" \t")
            return None  # another scheme: not ours to judge
    return None


def requires(*scopes: str) -> Callable[[H], H]:
    """Let a handler run only for an authenticated user holding every one of ``scopes``.

    No user: 401 with ``WWW-Authenticate: Bearer``, or the challenge of the API key, Basic or
    session middleware in front. Missing scopes: 403 (with the Bearer
    ``error="insufficient_scope"`` challenge unless another scheme's middleware is in front).

    Put it *below* the route decorator, next to the function, so the router registers the
    guarded handler::

        @router.get("/admin")
        @requires("admin")
        async def admin(conn): ...
    """
    needed = frozenset(scopes)
    challenge = 'Bearer error="insufficient_scope", scope="' + " ".join(sorted(needed)) + '"'

    def check(conn: Connection) -> None:
        user = conn.scope.get("user")
        other_scheme = conn.scope.get(CHALLENGE_SCOPE_KEY)
        if not isinstance(user, AuthUser):
            www_authenticate = other_scheme or "Bearer"
            raise HTTPError(401, "authentication required", {"www-authenticate": www_authenticate})
        if not user.scopes.issuperset(needed):
            # insufficient_scope is a Bearer (RFC 6750) error; other schemes have none.
            headers = None if other_scheme else {"www-authenticate": challenge}
            raise HTTPError(403, "insufficient scope", headers)

    def wrap(inner: Callable[..., Any]) -> Any:
        if inspect.iscoroutinefunction(inner):

            async def guarded(conn: Connection, *args: Any, **kwargs: Any) -> Any:
                check(conn)
                return await inner(conn, *args, **kwargs)

            return guarded

        # A plain def called directly (routing applies wrap to the adapted, async handler).
        def guarded_sync(conn: Connection, *args: Any, **kwargs: Any) -> Any:
            check(conn)
            return inner(conn, *args, **kwargs)

        return guarded_sync

    def decorator(handler: H) -> H:
        guarded: H = connection_decorator(handler, wrap)
        # Read at registration for the OpenAPI document (the route's security and 401/403).
        mark_required_scopes(guarded, needed)
        return guarded

    return decorator
