"""HTTP Basic authentication (RFC 7617) against hashed passwords.

    users = {"ada": hash_password("correct horse battery staple")}   # store the hashes
    auth = Middleware(BasicAuthMiddleware, users=users, realm="admin", scopes={"ada": ["admin"]})

``conn.user`` is ``AuthUser(subject=<user name>, scopes=..., claims={"auth_scheme": "basic"})``.

- No ``Authorization: Basic`` header: anonymous (``conn.user`` None), so ``requires()`` answers
  401 with ``WWW-Authenticate: Basic realm="...", charset="UTF-8"`` and a browser asks for a
  password; ``required=True`` challenges every request instead.
- Credentials that are wrong or malformed (bad base64, no colon, not UTF-8): 401 at once.
- Another scheme in ``Authorization`` (Bearer...): not looked at.

Instead of ``users``, ``verify(user, password) -> AuthUser | None`` (sync: run in a thread, or
async) checks credentials elsewhere, e.g. in a database.

The password KDF costs tens to hundreds of milliseconds per check by design, and runs in a
worker thread so the event loop keeps serving. PERF: credentials that passed are remembered
for ``cache_ttl`` seconds, under a BLAKE2b hash keyed by a per-process random secret (never the
password itself), so a client sending the same header with every request pays the KDF once a
minute. Wrong credentials are never remembered.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import inspect
import secrets
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import TYPE_CHECKING

from ..datastructures import AuthUser
from ._auth_base import AuthSchemeMiddleware, check_quoted
from .passwords import hash_password, is_password_hash, verify_password

if TYPE_CHECKING:
    from .._types import ASGIApp, Scope

__all__ = ["BasicAuthMiddleware", "BasicVerifier", "hash_password", "verify_password"]

BasicVerifier = Callable[[str, str], "AuthUser | Awaitable[AuthUser | None] | None"]

_WRONG = "the user name or password is wrong"
_MALFORMED = "malformed Basic credentials: send base64(user:password) in UTF-8"


def _monotonic() -> float:
    return time.monotonic()


def basic_token(scope: Scope) -> bytes | None:
    """The base64 part of ``Authorization: Basic <base64>``, or None without one."""
    for name, value in scope["headers"]:
        if name == b"authorization":
            header: bytes = value
            scheme, _, encoded = header.partition(b" ")
            if scheme.lower() != b"basic":
                return None  # another scheme: not ours to judge
            return encoded.strip(b" \t")
    return None


def decode_credentials(encoded: bytes) -> tuple[str, str] | None:
    """(user, password) from the base64 part, or None when it is malformed."""
    try:
        text = base64.b64decode(encoded, validate=True).decode("utf-8")
    except (binascii.Error, ValueError):  # UnicodeDecodeError is a ValueError
        return None
    user, colon, password = text.partition(":")
    # RFC 7617: the user-id has no colon, and neither part has control characters.
    if not colon or any(ord(char) < 0x20 or ord(char) == 0x7F for char in text):
        return None
    return user, password


class BasicAuthMiddleware(AuthSchemeMiddleware):
    """Checks ``Authorization: Basic`` credentials; see the module doc.

    Args:
        users: ``{name: hash_password(password)}``; plain passwords are refused.
        verify: instead of ``users``, a check returning the AuthUser or None.
        realm: the ``realm`` of the challenge (browsers show it in the password prompt).
        scopes: ``{name: [scope, ...]}`` granted to each of ``users``.
        required: challenge every request without credentials, not only ``requires()`` routes.
        cache_ttl: seconds verified credentials are remembered (0: run the KDF every request).
        cache_size: the most credentials remembered at once.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        users: Mapping[str, str] | None = None,
        verify: BasicVerifier | None = None,
        realm: str = "aaf",
        scopes: Mapping[str, Iterable[str]] | None = None,
        required: bool = False,
        cache_ttl: float = 60.0,
        cache_size: int = 1024,
    ) -> None:
        super().__init__(app, required=required)
        if (users is None) == (verify is None):
            raise ValueError("BasicAuthMiddleware needs users={name: hash} or verify=, not both")
        self.users = dict(users or {})
        if users is not None and not self.users:
            raise ValueError("BasicAuthMiddleware users is empty: no one could sign in")
        for name, stored in self.users.items():
            if ":" in name:
                raise ValueError(f"the user name {name!r} has a colon, which Basic cannot carry")
            if not is_password_hash(stored):
                raise ValueError(
                    f"the password of {name!r} is not a hash: store "
                    "aaf.middleware.passwords.hash_password(password), never the password"
                )
        self.verify = verify
        self.scopes = {name: frozenset(values) for name, values in (scopes or {}).items()}
        self.challenge = f'Basic realm="{check_quoted("realm", realm)}", charset="UTF-8"'
        self.security_scheme = {"type": "http", "scheme": "basic"}
        self.cache_ttl = cache_ttl
        self.cache_size = cache_size if cache_ttl > 0 else 0
        self._cache_key = secrets.token_bytes(32)
        # keyed BLAKE2b of the header's credentials -> (the user, when the entry stops counting)
        self._verified: dict[bytes, tuple[AuthUser, float]] = {}
        # APPSEC: an unknown user name is checked against a real hash too, so the answer takes
        # as long as for a known one and the timing does not tell which names exist.
        self._stand_in_hash = next(iter(self.users.values()), "")

    async def identify(self, scope: Scope) -> AuthUser | str | None:
        encoded = basic_token(scope)
        if encoded is None:
            return None
        cache_key = b""
        if self.cache_size:
            # PERF: looked up before decoding; keyed by a per-process secret so the cache holds
            # no password nor anything to test guesses against offline.
            cache_key = hashlib.blake2b(encoded, key=self._cache_key, digest_size=32).digest()
            cached = self._verified.get(cache_key)
            if cached is not None:
                remembered, until = cached
                if _monotonic() < until:
                    return AuthUser(remembered.subject, remembered.scopes, dict(remembered.claims))
                del self._verified[cache_key]
        credentials = decode_credentials(encoded)
        if credentials is None:
            return _MALFORMED
        verified = await self.check(*credentials)
        if verified is None:
            return _WRONG
        if self.cache_size:
            if len(self._verified) >= self.cache_size:
                del self._verified[next(iter(self._verified))]  # the oldest entry
            remembered = AuthUser(verified.subject, verified.scopes, dict(verified.claims))
            self._verified[cache_key] = (remembered, _monotonic() + self.cache_ttl)
        return verified

    async def check(self, user: str, password: str) -> AuthUser | None:
        """The user these credentials belong to, or None; the slow part, never cached."""
        if self.verify is not None:
            if inspect.iscoroutinefunction(self.verify):
                result = await self.verify(user, password)
            else:
                result = await asyncio.to_thread(self.verify, user, password)
                if inspect.isawaitable(result):
                    result = await result
            if result is not None and not isinstance(result, AuthUser):
                raise TypeError(
                    f"BasicAuthMiddleware verify returned {type(result).__name__}; return an "
                    "AuthUser for valid credentials, None otherwise"
                )
            return result
        stored = self.users.get(user)
        known = stored is not None
        # PERF: the KDF runs in a worker thread (hashlib releases the GIL while it works).
        matches = await asyncio.to_thread(verify_password, password, stored or self._stand_in_hash)
        if not (known and matches):
            return None
        return AuthUser(user, self.scopes.get(user, frozenset()), {"auth_scheme": "basic"})
