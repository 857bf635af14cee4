"""API keys: ``X-API-Key: <secret>`` (or an opt-in query parameter) names a client.

    keys = {"billing-service": os.environ["BILLING_KEY"], "reporting": os.environ["REPORT_KEY"]}
    auth = Middleware(APIKeyMiddleware, keys=keys, scopes={"reporting": ["reports:read"]})
    app = aaf([router], middleware=[auth])

``conn.user`` is ``AuthUser(subject=<the key's name>, scopes=..., claims={"auth_scheme":
"api_key"})``; the secret itself is never put in the scope. No key: anonymous (``conn.user``
None, ``requires()`` answers 401) unless ``required=True``. A wrong key: 401 at once.

Instead of a mapping, ``keys`` may be a lookup ``(presented_key) -> AuthUser | None`` (sync or
async), e.g. a database query by the key's hash; constant-time matching is then its job.
"""

from __future__ import annotations

import hashlib
import inspect
from collections.abc import Awaitable, Callable, Iterable, Mapping
from hmac import compare_digest
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl

from ..datastructures import AuthUser
from ._auth_base import AuthSchemeMiddleware, check_quoted

if TYPE_CHECKING:
    from .._types import ASGIApp, Scope

__all__ = ["APIKeyLookup", "APIKeyMiddleware"]

APIKeyLookup = Callable[[str], "AuthUser | Awaitable[AuthUser | None] | None"]

_MIN_KEY_LENGTH = 16
_WRONG_KEY = "the API key is invalid"


def _digest(key: str) -> bytes:
    return hashlib.sha256(key.encode("utf-8", "surrogateescape")).digest()


class APIKeyMiddleware(AuthSchemeMiddleware):
    """Authenticates a request by the API key it carries.

    Args:
        keys: ``{name: secret}`` (secrets of at least 16 characters, e.g.
            ``secrets.token_urlsafe(32)``), or a lookup callable (see the module doc).
        header: the request header carrying the key (None: not read from a header).
        query: the query parameter that may carry the key, opt-in (None, the default: never).
            Query strings end up in access logs and browser history; prefer the header. A
            browser's WebSocket cannot set headers, so it is the usual way for those.
        scopes: ``{name: [scope, ...]}``, the scopes each named key grants.
        required: refuse requests without a key (401) instead of letting them through anonymous.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        keys: Mapping[str, str] | APIKeyLookup,
        header: str | None = "X-API-Key",
        query: str | None = None,
        scopes: Mapping[str, Iterable[str]] | None = None,
        required: bool = False,
    ) -> None:
        super().__init__(app, required=required)
        if header is None and query is None:
            raise ValueError("APIKeyMiddleware needs a header or a query parameter to read")
        self.header = header.lower().encode("latin-1") if header is not None else None
        self.query = query
        self.lookup: APIKeyLookup | None = None
        # name -> SHA-256 of the secret; APPSEC: only digests are kept, all of one length.
        self.digests: list[tuple[str, bytes]] = []
        if callable(keys):
            self.lookup = keys
        else:
            self.digests = _digests_of(keys)
        granted = scopes or {}
        unknown = sorted(set(granted) - {name for name, _ in self.digests})
        if unknown and self.lookup is None:
            raise ValueError(f"APIKeyMiddleware scopes name keys that do not exist: {unknown}")
        self.scopes = {name: frozenset(values) for name, values in granted.items()}
        if header is not None:
            name = check_quoted("the API key header name", header)
            self.challenge = f'APIKey header="{name}"'
            self.security_scheme = {"type": "apiKey", "in": "header", "name": header}
        else:
            self.challenge = f'APIKey query="{check_quoted("the query parameter", str(query))}"'
            self.security_scheme = {"type": "apiKey", "in": "query", "name": query}

    def presented_keys(self, scope: Scope) -> list[str]:
        """The keys the request carries: from the header, else from the query parameter."""
        found: list[str] = []
        if self.header is not None:
            found = [
                value.decode("latin-1") for name, value in scope["headers"] if name == self.header
            ]
        if not found and self.query is not None and scope.get("query_string"):
            query = scope["query_string"].decode("latin-1")
            found = [value for name, value in parse_qsl(query) if name == self.query]
        return found

    def match(self, presented: str) -> str | None:
        """The name of the configured key equal to ``presented``, or None.

        APPSEC: the presented key's digest is compared with EVERY stored digest, always in
        full (hmac.compare_digest), and the loop never stops early, so the time taken says
        nothing about which key, if any, matched or how much of it.
        """
        digest = _digest(presented)
        matched: str | None = None
        for name, stored in self.digests:
            if compare_digest(digest, stored):
                matched = name
        return matched

    async def identify(self, scope: Scope) -> AuthUser | str | None:
        keys = self.presented_keys(scope)
        if not keys:
            return None
        if len(keys) > 1:
            # APPSEC: which of two keys a proxy or a log looked at is unknown: take neither.
            return "send one API key, not several"
        presented = keys[0]
        if self.lookup is not None:
            found = self.lookup(presented)
            user = await found if inspect.isawaitable(found) else found
            if user is None:
                return _WRONG_KEY
            if not isinstance(user, AuthUser):
                raise TypeError(
                    f"the APIKeyMiddleware lookup returned {type(user).__name__}; "
                    "return an AuthUser for a known key, None for an unknown one"
                )
            return user
        name = self.match(presented)
        if name is None:
            return _WRONG_KEY
        return AuthUser(name, self.scopes.get(name, frozenset()), {"auth_scheme": "api_key"})


def _digests_of(keys: Mapping[str, str]) -> list[tuple[str, bytes]]:
    if not keys:
        raise ValueError("APIKeyMiddleware needs keys: {'client-name': secret, ...}")
    digests: list[tuple[str, bytes]] = []
    seen: set[bytes] = set()
    for name, secret in keys.items():
        if not isinstance(name, str) or not isinstance(secret, str):
            raise TypeError("APIKeyMiddleware keys map names (str) to secrets (str)")
        if not (secret.isascii() and secret.isprintable()) or " " in secret:
            # Header values arrive as bytes; ASCII keys read the same whatever the decoding.
            raise ValueError(
                f"the API key {name!r} must be printable ASCII without spaces; make one with: "
                "python -c 'import secrets; print(secrets.token_urlsafe(32))'"
            )
        if len(secret) < _MIN_KEY_LENGTH:
            raise ValueError(
                f"the API key {name!r} is shorter than {_MIN_KEY_LENGTH} characters; make "
                "one with: python -c 'import secrets; print(secrets.token_urlsafe(32))'"
            )
        digest = _digest(secret)
        if digest in seen:
            raise ValueError(f"the API key {name!r} has the same secret as another key")
        seen.add(digest)
        digests.append((name, digest))
    return digests
