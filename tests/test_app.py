"""The app: dispatch, return values, 404/405/OPTIONS, redirects, mounts and middleware."""

from __future__ import annotations

import time
from typing import Any

import pytest

from aaf import Connection, HttpResponse, Middleware, RedirectResponse, RouteError, Router, aaf
from aaf.routing import PathConverter
from aaf.testing import TestClient
from tests.support.one_route import single

from .conftest import call, http_scope


# ---------------------------------------------------------------------------- return values
@pytest.mark.parametrize(
    ("value", "status", "content_type", "body"),
    [
        ({"a": 1}, 200, "application/json", b'{"a":1}'),
        ([1, 2], 200, "application/json", b"[1,2]"),
        ("text", 200, "text/plain; charset=utf-8", b"text"),
        (b"\x01", 200, "application/octet-stream", b"\x01"),
        (bytearray(b"ba"), 200, "application/octet-stream", b"ba"),
        (None, 204, None, b""),
    ],
)
def test_handler_return_values(
    value: Any, status: int, content_type: str | None, body: bytes
) -> None:
    async def handler(conn: Connection) -> Any:
        return value

    response = single(handler).get("/")
    assert response.status_code == status
    assert response.headers.get("content-type") == content_type
    assert response.content == body
    if status == 204:
        assert "content-length" not in response.headers


def test_status_set_on_the_connection_applies_to_returned_values() -> None:
    async def created(conn: Connection) -> Any:
        conn.resp_status_code = 201
        conn.put_resp_header("location", "/things/1")
        return {"id": 1}

    async def accepted(conn: Connection) -> None:
        conn.resp_status_code = 202

    response = single(created).get("/")
    assert (response.status_code, response.headers["location"]) == (201, "/things/1")
    assert single(accepted).get("/").status_code == 202


def test_started_but_unfinished_response_is_finished_for_the_handler() -> None:
    async def handler(conn: Connection) -> None:
        await conn.send("partial ")
        await conn.send("and more")

    response = single(handler).get("/")
    assert response.text == "partial and more"


def test_returning_a_value_after_sending_is_an_error(caplog: pytest.LogCaptureFixture) -> None:
    async def handler(conn: Connection) -> Any:
        await conn.send("done", finish=True)
        return {"too": "late"}

    response = single(handler).get("/")
    assert response.text == "done"
    assert "already sent" in caplog.text


def test_unsupported_return_type_is_a_500_that_explains(caplog: pytest.LogCaptureFixture) -> None:
    async def handler(conn: Connection) -> Any:
        return 42

    response = single(handler).get("/")
    assert response.status_code == 500
    assert "handler returned int" in caplog.text


def test_sync_handlers_run_in_a_worker_thread() -> None:
    # The sync TestClient runs the app in a thread of its own, so "another thread than the
    # test" proves nothing: what matters is that no event loop runs in the handler's thread.
    import asyncio

    def handler(conn: Connection) -> Any:
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return {"on_the_loop": False}
        return {"on_the_loop": True}

    async def async_handler(conn: Connection) -> Any:
        return handler(conn)  # the same check, called on the loop, must see it

    assert single(handler).get("/").json() == {"on_the_loop": False}
    assert single(async_handler).get("/").json() == {"on_the_loop": True}


# ---------------------------------------------------------------------------- 404 / 405
def test_404_and_405_with_allow_and_automatic_options() -> None:
    async def handler(conn: Connection) -> str:
        return "ok"

    client = single(handler, "/items", ["GET", "POST"])
    missing = client.get("/nope")
    assert (missing.status_code, missing.json()) == (404, {"error": "Not Found"})
    wrong = client.delete("/items")
    assert wrong.status_code == 405
    assert wrong.headers["allow"] == "GET, HEAD, OPTIONS, POST"
    options = client.options("/items")
    assert (options.status_code, options.headers["allow"]) == (204, "GET, HEAD, OPTIONS, POST")
    assert client.head("/items").status_code == 200


def test_explicit_options_route_wins() -> None:
    async def handler(conn: Connection) -> str:
        return "custom options"

    assert single(handler, "/x", ["OPTIONS"]).options("/x").text == "custom options"


def test_routers_are_tried_in_order_and_405_unions_them() -> None:
    first = Router()
    second = Router()

    @first.route("/x")
    async def first_x(conn: Connection) -> str:
        return "first"

    @second.route("/x", methods=["POST"])
    async def second_x(conn: Connection) -> str:
        return "second"

    @second.route("/only-second")
    async def only(conn: Connection) -> str:
        return "fallback"

    client = TestClient(aaf([first, second]))
    assert client.get("/x").text == "first"
    assert client.post("/x").text == "second"
    assert client.get("/only-second").text == "fallback"
    assert client.put("/x").headers["allow"] == "GET, HEAD, OPTIONS, POST"


def test_app_accepts_a_single_router_and_refuses_other_things() -> None:
    router = Router()
    assert aaf(router).routers == [router]
    with pytest.raises(TypeError, match="takes routers and async callables"):
        aaf(["nope"])  # type: ignore[list-item]


def test_name_clash_across_included_routers_fails_at_include() -> None:
    router = Router()
    router.add_route("/a", lambda conn: None, name="dup")
    other = Router()
    other.add_route("/b", lambda conn: None, name="dup")
    with pytest.raises(RouteError, match="route name 'dup' is used by '/a' and '/b'"):
        router.include(other)
    assert [r.rule for r in router.routes] == ["/a"]  # the failed include left no trace


# ---------------------------------------------------------------------------- redirects
@pytest.mark.parametrize(
    ("path", "location"),
    [
        ("/users/", "/users"),
        ("/users/?a=1&b=2", "/users?a=1&b=2"),
        ("/dir", "/dir/"),
    ],
)
def test_trailing_slash_redirects_308(path: str, location: str) -> None:
    router = Router()
    router.add_route("/users", lambda conn: None, name="users")
    router.add_route("/dir/", lambda conn: None, name="dir")
    response = TestClient(aaf([router])).get(path, follow_redirects=False)
    assert response.status_code == 308
    assert response.headers["location"] == location


@pytest.mark.parametrize(
    "decoded_path", ["//evil.com/", "/\\evil.com/", "///evil.com/", "/\\/evil.com/"]
)
async def test_trailing_slash_redirect_never_goes_off_site(decoded_path: str) -> None:
    class NoTrailingSlash(PathConverter):
        def to_python(self, value: str) -> str:
            if value.endswith("/"):
                raise ValueError("trailing slash")
            return value

    router = Router(converters={"page": NoTrailingSlash()})
    router.add_route("/<page:rest>", lambda conn, rest: None, name="any")
    rec = await call(aaf([router]), http_scope(decoded_path))
    assert rec.status == 308
    location = rec.header_once(b"location").decode()
    assert location.startswith("/")
    assert not location.startswith("//")
    assert "\\" not in location


async def test_redirect_keeps_root_path() -> None:
    router = Router()
    router.add_route("/users", lambda conn: None, name="users")
    rec = await call(aaf([router]), http_scope("/api/users/", root_path="/api"))
    assert rec.header(b"location") == b"/api/users"


# ---------------------------------------------------------------------------- mounts
def test_mounted_asgi_app_gets_root_path_and_full_path() -> None:
    seen: list[tuple[str, str]] = []

    async def raw(scope: Any, receive: Any, send: Any) -> None:
        seen.append((scope["root_path"], scope["path"]))
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"raw"})

    router = Router()
    router.mount("/raw", raw)
    client = TestClient(aaf([router]))
    assert client.get("/raw/x/y").text == "raw"
    assert client.get("/raw").text == "raw"
    assert seen == [("/raw", "/raw/x/y"), ("/raw", "/raw")]
    assert client.get("/rawx").status_code == 404


def test_nested_aaf_app_matches_below_its_root_and_builds_urls() -> None:
    inner_router = Router()

    @inner_router.route("/item/<int:n>", name="item")
    async def item(conn: Connection, n: int) -> Any:
        return {"n": n, "self": conn.url_for("item", n=n), "route_path": conn.route_path}

    outer = Router()
    outer.mount("/sub", aaf([inner_router]))
    response = TestClient(aaf([outer])).get("/sub/item/3")
    assert response.json() == {"n": 3, "self": "/sub/item/3", "route_path": "/item/3"}


def test_app_url_for() -> None:
    router = Router()
    router.add_route("/u/<int:ident>", lambda conn, ident: None, name="user")
    app = aaf([router])
    assert app.url_for("user", ident=4) == "/u/4"
    with pytest.raises(RouteError, match="no route is named 'usr' \\(known: user\\)"):
        app.url_for("usr")


# ---------------------------------------------------------------------------- middleware
class Tag:
    """A plain ASGI middleware that appends its name to a response header."""

    def __init__(self, app: Any, name: str, log: list[str]) -> None:
        self.app = app
        self.name = name
        self.log = log

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        self.log.append(self.name)

        async def tagged(message: Any) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message["headers"], (b"x-tag", self.name.encode())]
            await send(message)

        await self.app(scope, receive, tagged)


def test_middleware_wraps_once_outermost_first() -> None:
    log: list[str] = []
    built: list[str] = []

    def factory(app: Any) -> Any:
        built.append("factory")
        return Tag(app, "factory", log)

    router = Router()
    router.add_route("/", lambda conn: "ok", name="root")
    app = aaf(
        [router],
        middleware=[Middleware(Tag, name="outer", log=log), factory],
    )
    client = TestClient(app)
    first = client.get("/")
    client.get("/")
    assert first.headers.get_list("x-tag") == ["factory", "outer"]
    assert log == ["outer", "factory", "outer", "factory"]
    assert built == ["factory"]  # built once, at app construction
    assert repr(Middleware(Tag, name="t", log=[])) == "Middleware('Tag')"


def test_middleware_app_still_serves_lifespan_and_keeps_the_outer_app_on_conn() -> None:
    events: list[str] = []
    seen: list[Any] = []

    router = Router()

    @router.route("/")
    async def handler(conn: Connection) -> str:
        seen.append(conn.app)
        return "ok"

    app = aaf(
        [router],
        middleware=[Middleware(Tag, name="m", log=[])],
        on_startup=[lambda: events.append("up")],
    )
    with TestClient(app) as client:
        assert client.get("/").text == "ok"
    assert events == ["up"]
    assert seen == [app]


async def test_unknown_scope_type_is_refused() -> None:
    with pytest.raises(RuntimeError, match="cannot serve ASGI scope type 'ftp'"):
        await aaf([])({"type": "ftp"}, None, None)  # type: ignore[arg-type]


def test_app_is_usable_without_the_lifespan_protocol() -> None:
    # Servers run with --lifespan off: requests still work and state is the app's.
    router = Router()
    router.add_route("/", lambda conn: {"state": conn.state}, name="root")
    app = aaf([router])
    app.state["k"] = "v"
    started = time.monotonic()
    assert TestClient(app).get("/").json() == {"state": {}}
    assert time.monotonic() - started < 30  # bounded: no lifespan wait


def test_a_response_subclass_that_overrides_emit_is_sent_through_it() -> None:
    class Stamped(HttpResponse):
        async def emit(self, scope: Any, send: Any, extra: Any = None, watcher: Any = None) -> None:
            self.headers["x-stamped"] = "yes"
            await super().emit(scope, send, extra, watcher)

    router = Router()
    router.add_route("/", lambda conn: Stamped("hi"), name="root")
    assert TestClient(aaf([router])).get("/").headers["x-stamped"] == "yes"


def test_settings_changed_after_building_apply_with_middleware() -> None:
    router = Router()

    @router.route("/")
    async def boom(conn: Connection) -> None:
        raise RuntimeError("shown in debug")

    app = aaf([router], middleware=[Middleware(Tag, name="m", log=[])])
    app.debug = True
    assert "shown in debug" in TestClient(app).get("/").text


def test_awaiting_a_redirect_with_the_connection() -> None:
    router = Router()

    @router.route("/")
    async def go(conn: Connection) -> None:
        await RedirectResponse("/elsewhere", conn)

    response = TestClient(aaf([router])).get("/", follow_redirects=False)
    assert (response.status_code, response.headers["location"]) == (307, "/elsewhere")


def test_observer_middleware_sees_the_route_rule_and_others_do_not() -> None:
    seen: list[object] = []

    class Observer:
        needs_route = True

        def __init__(self, app: Any) -> None:
            self.app = app

        async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
            await self.app(scope, receive, send)
            route = scope.get("aaf.route")
            seen.append(route.rule if route is not None else None)

    class Plain(Observer):
        needs_route = False

    router = Router()

    @router.get("/items/<int:item_id>")
    async def item(conn: Connection, item_id: int) -> dict[str, int]:
        return {"id": item_id}

    client = TestClient(aaf([router], middleware=[Middleware(Observer)]))
    assert client.get("/items/3").status_code == 200
    assert client.get("/missing").status_code == 404
    assert seen == ["/items/<int:item_id>", None]
    seen.clear()
    TestClient(aaf([router], middleware=[Middleware(Plain)])).get("/items/3")
    assert seen == [None]  # nothing is left in the scope unless an observer asks for it
