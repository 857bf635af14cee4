"""An app with sessions and CSRF protection, for the CSRF tests (in-process and real server)."""

from __future__ import annotations

from typing import Any

from aaf import Connection, Middleware, Router, aaf
from aaf.middleware.csrf import CSRFMiddleware, csrf_token, rotate_csrf_token
from aaf.middleware.sessions import SessionMiddleware

KEY = "csrf-test-secret-" + "k" * 16


def csrf_app(*, sessions: bool = True, **options: Any) -> Any:
    """Routes: GET /form (a token), POST /submit (echoes the form), POST /json, POST /login,
    POST /logout, POST /rotate, POST /webhooks/in and /hook (exempt), WS /ws.

    ``app.state["handled"]`` counts the unsafe requests that reached a handler.
    """
    options.setdefault("secret_key", KEY)
    options.setdefault("exempt_paths", ["/webhooks/", "/hook"])
    router = Router()
    handled: list[str] = []

    @router.get("/form")
    async def form_page(conn: Connection) -> dict[str, Any]:
        return {"token": csrf_token(conn)}

    @router.get("/plain")
    async def plain(conn: Connection) -> dict[str, Any]:
        return {}

    @router.post("/submit")
    async def submit(conn: Connection) -> dict[str, Any]:
        handled.append(conn.path)
        form = await conn.form()
        return {"form": {key: str(value) for key, value in form.items()}}

    @router.post("/json")
    async def json_post(conn: Connection) -> dict[str, Any]:
        handled.append(conn.path)
        return {"ok": True, "body": (await conn.body()).decode()}

    @router.post("/login")
    async def login(conn: Connection) -> dict[str, Any]:
        handled.append(conn.path)
        conn.session["user"] = "alice"
        return {"token": csrf_token(conn)}

    @router.post("/as/<name>")
    async def switch_user(conn: Connection, name: str) -> dict[str, Any]:
        handled.append(conn.path)
        conn.session["user"] = name  # the user changes without the session being cleared
        return {}

    @router.post("/logout")
    async def logout(conn: Connection) -> dict[str, Any]:
        handled.append(conn.path)
        conn.session.clear()
        return {}

    @router.post("/rotate")
    async def rotate(conn: Connection) -> dict[str, Any]:
        handled.append(conn.path)
        rotate_csrf_token(conn)
        return {}

    @router.post("/webhooks/in")
    async def webhook(conn: Connection) -> dict[str, Any]:
        handled.append(conn.path)
        return {}

    @router.post("/hook")
    async def hook(conn: Connection) -> dict[str, Any]:
        handled.append(conn.path)
        return {}

    @router.post("/hook/more")
    async def hook_more(conn: Connection) -> dict[str, Any]:
        handled.append(conn.path)
        return {}

    @router.websocket("/ws")
    async def socket(conn: Connection) -> None:
        await conn.accept()
        await conn.send_text("hello")
        await conn.close()

    middleware: list[Middleware[Any]] = []
    if sessions:
        middleware.append(Middleware(SessionMiddleware, secret_key=KEY))
    middleware.append(Middleware(CSRFMiddleware, **options))
    app = aaf([router], middleware=middleware)
    app.state["handled"] = handled
    return app


app = csrf_app()
