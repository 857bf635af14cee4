"""Optional JWT sign-in for the chat: with a secret configured, ``?token=`` names the user.

Tokens are HS256 JWTs signed with the shared secret (``CHAT_JWT_SECRET``); they must carry
``sub`` (the user name shown in the room) and ``exp``. Browsers cannot set headers on a
WebSocket, hence the query parameter - which ends up in access logs, so keep tokens short-lived.
"""

from __future__ import annotations

from collections.abc import Iterable

import jwt

from .names import clean_user

__all__ = ["ChatTokens"]

MIN_SECRET_LENGTH = 32


class ChatTokens:
    """Verifies chat tokens; ``user_for(token)`` is the user name, or None if refused."""

    def __init__(self, secret: str, *, algorithms: Iterable[str] = ("HS256",)) -> None:
        # APPSEC: HS256 with a short secret can be brute-forced offline from any one token.
        if len(secret) < MIN_SECRET_LENGTH:
            raise ValueError(
                f"the chat JWT secret must be at least {MIN_SECRET_LENGTH} characters; "
                "generate one with: python -c 'import secrets; print(secrets.token_urlsafe(32))'"
            )
        self._secret = secret
        self.algorithms = list(algorithms)

    def __repr__(self) -> str:
        return f"ChatTokens(algorithms={self.algorithms!r})"  # never the secret

    def user_for(self, token: str | None) -> str | None:
        if not token:
            return None
        try:
            claims = jwt.decode(
                token,
                self._secret,
                algorithms=self.algorithms,
                options={"require": ["exp", "sub"]},
            )
        except jwt.InvalidTokenError:
            return None
        subject = claims["sub"]
        return clean_user(subject) if isinstance(subject, str) else None

    def issue(self, user: str, *, lifetime: float = 3600.0) -> str:
        """A token for ``user`` valid for ``lifetime`` seconds (for tests and tools)."""
        import time

        claims = {"sub": user, "exp": int(time.time() + lifetime)}
        return jwt.encode(claims, self._secret, algorithm=self.algorithms[0])
