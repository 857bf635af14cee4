"""Sign-in with the signed cookie session: ``login(conn, user_id)`` / ``logout(conn)``.

    app = aaf([router], middleware=[
        Middleware(SessionMiddleware, secret_key=SECRET, secure=True),
        Middleware(SessionAuthMiddleware),          # after (inside) SessionMiddleware
    ])

    @router.post("/login")
    async def sign_in(conn):
        form = await conn.form()
        user = await users.check_password(form["name"], form["password"])
        if user is None:
            raise HTTPError(401, "wrong name or password")
        login(conn, user.id, scopes=user.scopes)
        return {"ok": True}

``conn.user`` is then ``AuthUser(subject=str(user_id), scopes=..., claims={"auth_scheme":
"session", "user_id": user_id})``, or what ``load_user(user_id, scope)`` returns (None: the user
is gone, the request is anonymous). WebSockets are authenticated from the session too.

The session is a signed cookie: the client holds the data and the server keeps nothing, so
there is no session id to rotate. ``login()`` clears the session before writing the user into it
(a session planted before sign-in carries nothing over unless listed in ``keep``), and the
cookie's value changes with every login. A copy of the cookie taken before ``logout()`` stays
valid until the session's ``max_age`` (see SECURITY.md).
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Iterable
from typing import TYPE_CHECKING, Any

from ..datastructures import AuthUser
from ._auth_base import AuthSchemeMiddleware, check_quoted

if TYPE_CHECKING:
    from .._types import ASGIApp, Scope
    from ..connection import Connection

__all__ = ["SessionAuthMiddleware", "UserLoader", "login", "logout"]

UserLoader = Callable[[Any, "Scope"], "AuthUser | Awaitable[AuthUser | None] | None"]

USER_KEY = "user_id"
SCOPES_KEY = "user_scopes"


def _session_of(scope: Scope, who: str) -> dict[str, Any]:
    session: dict[str, Any] | None = scope.get("session")
    if session is None:
        raise RuntimeError(
            f"{who} needs conn.session: add Middleware(SessionMiddleware, secret_key=...) "
            "before (outside) SessionAuthMiddleware in the middleware list"
        )
    return session


def login(
    conn: Connection,
    user_id: str | int,
    *,
    scopes: Iterable[str] = (),
    keep: Iterable[str] = (),
    user_key: str = USER_KEY,
    scopes_key: str = SCOPES_KEY,
) -> None:
    """Sign ``user_id`` in: the session is emptied (but for the ``keep`` keys), then holds the
    user id and ``scopes``. The response carries the new session cookie.

    ``user_id`` is stored in the cookie, which the client can read (not change): use an id,
    never a secret. Over a WebSocket nothing is saved (a WebSocket cannot set cookies).
    """
    if isinstance(user_id, bool) or not isinstance(user_id, str | int):
        raise TypeError(f"login() takes a str or int user id, not {type(user_id).__name__}")
    if conn.scope["type"] != "http":
        raise RuntimeError("login() needs an HTTP request: a WebSocket cannot set the cookie")
    session = _session_of(conn.scope, "login()")
    kept = {key: session[key] for key in keep if key in session}
    # APPSEC: against session fixation, nothing from before the sign-in survives by default
    # (a value an attacker planted, a previous user's data).
    session.clear()
    session.update(kept)
    session[user_key] = user_id
    session[scopes_key] = sorted(set(scopes))


def logout(conn: Connection) -> None:
    """Sign out: the whole session is cleared (the response deletes the cookie)."""
    _session_of(conn.scope, "logout()").clear()
    conn.scope["user"] = None


class SessionAuthMiddleware(AuthSchemeMiddleware):
    """Sets ``conn.user`` from the user id ``login()`` put in the session.

    Args:
        user_key, scopes_key: the session keys ``login()`` writes (pass the same to both).
        load_user: ``(user_id, scope) -> AuthUser | None``, sync or async, to load the user
            (and check that it still exists) on every request; without it the user id and
            scopes stored at login are used as they are.
        required: refuse requests without a signed-in user (401) instead of letting them
            through anonymous.
        realm, cookie_name: only describe the scheme (the 401 challenge and
            ``security_scheme``); the cookie itself is SessionMiddleware's.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        user_key: str = USER_KEY,
        scopes_key: str = SCOPES_KEY,
        load_user: UserLoader | None = None,
        required: bool = False,
        realm: str = "aaf",
        cookie_name: str = "session",
    ) -> None:
        super().__init__(app, required=required)
        self.user_key = user_key
        self.scopes_key = scopes_key
        self.load_user = load_user
        # No standard scheme names a cookie session; "Cookie" follows an old IETF draft.
        self.challenge = f'Cookie realm="{check_quoted("realm", realm)}"'
        self.security_scheme = {"type": "apiKey", "in": "cookie", "name": cookie_name}

    async def identify(self, scope: Scope) -> AuthUser | str | None:
        session = _session_of(scope, "SessionAuthMiddleware")
        user_id = session.get(self.user_key)
        if user_id is None:
            return None
        if self.load_user is not None:
            found = self.load_user(user_id, scope)
            user = await found if inspect.isawaitable(found) else found
            if user is not None and not isinstance(user, AuthUser):
                raise TypeError(
                    f"SessionAuthMiddleware load_user returned {type(user).__name__}; return "
                    "an AuthUser, or None when the user no longer exists"
                )
            return user  # None: the user is gone, the request is anonymous
        stored = session.get(self.scopes_key)
        scopes = frozenset(
            item for item in (stored if isinstance(stored, list) else ()) if isinstance(item, str)
        )
        return AuthUser(
            str(user_id),
            scopes,
            {"auth_scheme": "session", "user_id": user_id},
        )
