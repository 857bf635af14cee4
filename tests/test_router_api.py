"""The Router's API: add_route's argument order, handlers without a connection, include names,
explicit HEAD routes, span rules, ``await router(conn)`` in a plain ASGI app, Mount.lifespan."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from aaf import Connection, RouteError, Router, aaf
from aaf.routing import Match, NoMatch
from aaf.testing import AsyncTestClient, TestClient

from .conftest import call, http_scope


def matched(result: Match | NoMatch) -> Match:
    assert isinstance(result, Match), result
    return result


async def handler(conn: Connection, **params: Any) -> str:
    return "ok"


# ---------------------------------------------------------------------------- add_route order
def test_add_route_takes_name_before_methods() -> None:
    router = Router()
    route = router.add_route("/notes", handler, "notes", ["POST"])
    assert (route.name, route.methods) == ("notes", frozenset({"POST"}))
    assert matched(router.match("POST", "/notes")).route is route


@pytest.mark.parametrize("methods", [["POST"], ("POST", "PUT"), {"POST"}])
def test_methods_in_the_old_position_are_a_type_error(methods: Any) -> None:
    router = Router()
    with pytest.raises(TypeError, match=r"pass the methods by keyword: add_route\('/x', handler"):
        router.add_route("/x", handler, methods)
    assert router.routes == []


# ---------------------------------------------------------------------------- handlers without conn
def test_handlers_without_a_connection_get_the_path_parameters() -> None:
    router = Router()

    async def list_notes() -> dict[str, Any]:
        return {"notes": []}

    async def get_note(note_id: int) -> dict[str, Any]:
        return {"id": note_id}

    def sync_note(note_id: int, *, verbose: bool = False) -> dict[str, Any]:
        return {"id": note_id, "thread": threading.current_thread() is threading.main_thread()}

    router.add_route("/notes", list_notes)
    router.add_route("/notes/<int:note_id>", get_note)
    router.add_route("/sync/<int:note_id>", sync_note)
    client = TestClient(aaf([router]))
    assert client.get("/notes").json() == {"notes": []}
    assert client.get("/notes/7").json() == {"id": 7}
    assert client.get("/sync/3").json() == {"id": 3, "thread": False}  # in a worker thread
    assert router.url_for("get_note", note_id=7) == "/notes/7"


def test_which_handlers_take_the_connection() -> None:
    seen: dict[str, Any] = {}

    async def unannotated(request, ident):  # type: ignore[no-untyped-def]
        seen["unannotated"] = request
        return "a"

    async def annotated_text(c: "Connection", ident: int = 0) -> str:  # noqa: UP037
        seen["annotated"] = c
        return "b"

    async def default_first(ident: int, extra: str = "x") -> str:
        seen["default_first"] = (ident, extra)
        return "c"

    async def only_kwargs(**params: Any) -> str:
        seen["only_kwargs"] = params
        return "d"

    router = Router()
    router.add_route("/a/<int:ident>", unannotated)
    router.add_route("/b/<int:ident>", annotated_text)
    router.add_route("/c/<int:ident>", default_first)
    router.add_route("/d/<int:ident>", only_kwargs)
    client = TestClient(aaf([router]))
    assert [client.get(f"/{x}/5").text for x in "abcd"] == ["a", "b", "c", "d"]
    assert isinstance(seen["unannotated"], Connection)
    assert isinstance(seen["annotated"], Connection)
    assert seen["default_first"] == (5, "x")
    assert seen["only_kwargs"] == {"ident": 5}


def test_a_handler_taking_the_connection_is_called_as_it_is() -> None:
    # PERF: no wrapper around async handlers that take the connection.
    router = Router()
    assert router.add_route("/x", handler).handler is handler


def test_a_connectionless_handler_must_still_fit_the_rule() -> None:
    router = Router()

    async def needs_more(note_id: int, other: str) -> None:
        return None

    with pytest.raises(RouteError, match="needs argument 'other' but rule"):
        router.add_route("/notes/<int:note_id>", needs_more)

    async def chat() -> None:
        return None

    with pytest.raises(RouteError, match="WebSocket handler .* must take the connection"):
        router.add_route("/ws", chat, websocket=True)


# ---------------------------------------------------------------------------- B15, B17, B16
@pytest.mark.parametrize("reverse", [False, True])
def test_a_path_rule_does_not_hide_a_longer_rule(reverse: bool) -> None:
    router = Router()
    rules = [("/docs/<path:p>", "view"), ("/docs/<path:p>/edit", "edit")]
    for rule, name in reversed(rules) if reverse else rules:
        router.add_route(rule, handler, name)
    edit = matched(router.match("GET", "/docs/a/b/edit"))
    assert (edit.route.name, edit.params) == ("edit", {"p": "a/b"})
    view = matched(router.match("GET", "/docs/a/b"))
    assert (view.route.name, view.params) == ("view", {"p": "a/b"})


@pytest.mark.parametrize("head_first", [False, True])
def test_an_explicit_head_route_sits_beside_get(head_first: bool) -> None:
    async def page(conn: Connection, n: int) -> str:
        return "page body"

    async def head_page(conn: Connection, n: int) -> None:
        conn.put_resp_header("x-head", "explicit")

    router = Router()
    registrations = [(page, "page", None), (head_page, "head_page", ["HEAD"])]
    for func, name, methods in reversed(registrations) if head_first else registrations:
        router.add_route("/p/<int:n>", func, name, methods)
    assert matched(router.match("HEAD", "/p/1")).route.name == "head_page"
    assert matched(router.match("GET", "/p/1")).route.name == "page"
    client = TestClient(aaf([router]))
    assert client.head("/p/1").headers["x-head"] == "explicit"
    assert client.get("/p/1").text == "page body"
    with pytest.raises(RouteError, match="HEAD '/p/<int:n>' is registered twice"):
        router.add_route("/p/<int:n>", head_page, "again", ["HEAD"])


def test_get_keeps_answering_head_without_an_explicit_route() -> None:
    router = Router()
    router.add_route("/p", handler)
    assert matched(router.match("HEAD", "/p")).route.name == "handler"


def test_included_routers_can_be_named() -> None:
    users = Router()
    posts = Router()

    async def index(conn: Connection) -> None:
        return None

    async def other_index(conn: Connection) -> None:
        return None

    users.add_route("/", index)
    posts.add_route("/", other_index, "index")
    sub = Router()
    sub.add_route("/", handler, "detail")
    posts.include(sub, "/sub", name="sub")
    root = Router()
    root.include(users, "/users", name="users")
    root.include(posts, "/posts", name="posts")
    assert root.url_for("users.index") == "/users/"
    assert root.url_for("posts.index") == "/posts/"
    assert root.url_for("posts.sub.detail") == "/posts/sub/"
    assert users.url_for("index") == "/"  # the router itself keeps the plain names
    with pytest.raises(RouteError, match="no route is named 'index'"):
        root.url_for("index")
    unnamed = Router()
    unnamed.include(users, "/u")
    with pytest.raises(RouteError, match="route name 'index' is used by"):
        unnamed.include(posts, "/p")
    with pytest.raises(RouteError, match="non-empty string"):
        root.include(Router(), "/x", name="")


# ---------------------------------------------------------------------------- await router(conn)
def plain_app(router: Router) -> Any:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        conn = Connection(scope, receive, send)
        if not await router(conn):
            conn.resp_status_code = 404
            await conn.respond("nothing here")

    return app


async def test_a_router_serves_a_connection_in_a_plain_asgi_app() -> None:
    router = Router()
    seen: dict[str, Any] = {}

    async def get_note(conn: Connection, note_id: int) -> dict[str, Any]:
        seen["route"] = conn.route
        seen["params"] = conn.path_params
        return {"id": note_id}

    async def list_notes() -> str:
        return "all"

    router.add_route("/notes/<int:note_id>", get_note)
    router.add_route("/notes", list_notes)
    app = plain_app(router)
    one = await call(app, http_scope("/api/notes/3", root_path="/api"))
    assert (one.status, one.body) == (200, b'{"id":3}')
    assert seen["route"].name == "get_note"
    assert seen["params"] == {"note_id": 3}
    assert (await call(app, http_scope("/notes"))).body == b"all"
    missing = await call(app, http_scope("/notes", method="POST"))
    assert (missing.status, missing.body) == (404, b"nothing here")


async def test_a_router_sends_nothing_without_a_match_and_lets_errors_through() -> None:
    router = Router()

    async def broken(conn: Connection) -> None:
        raise LookupError("boom")

    router.add_route("/broken", broken)
    sent: list[Any] = []

    async def send(message: Any) -> None:
        sent.append(message)

    async def receive() -> Any:
        return {"type": "http.request", "body": b""}

    conn = Connection(http_scope("/none"), receive, send)
    assert await router(conn) is False
    assert (sent, conn.route) == ([], None)
    with pytest.raises(LookupError, match="boom"):
        await router(Connection(http_scope("/broken"), receive, send))


async def test_a_router_serves_websockets_from_its_websocket_table() -> None:
    router = Router()

    async def echo(conn: Connection, room: str) -> None:
        await conn.accept()
        await conn.send_text(f"{room}:{await conn.receive_text()}")

    router.add_route("/chat/<room>", echo, websocket=True)
    client = AsyncTestClient(plain_app(router))
    async with client.websocket_connect("/chat/lobby") as ws:
        await ws.send_text("hi")
        assert await ws.receive_text() == "lobby:hi"


# ---------------------------------------------------------------------------- mounts
def test_mount_lifespan_flag_is_kept_through_includes() -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        return None

    sub = Router()
    sub.mount("/quiet", app, "quiet", lifespan=False)
    sub.mount("/loud", app)
    root = Router()
    root.include(sub, "/sub", name="sub")
    flags = {m.prefix: (m.name, m.lifespan) for m in root.mounts}
    assert flags == {"/sub/quiet": ("sub.quiet", False), "/sub/loud": (None, True)}
