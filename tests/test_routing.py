"""The router as a pure function: rules, converters, matching, includes, mounts, url_for."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from aaf import Connection, Converter, RouteError, Router
from aaf.routing import (
    FloatConverter,
    IntConverter,
    Match,
    NoMatch,
    PathConverter,
    StrConverter,
    UUIDConverter,
    parse_rule,
)


async def handler(conn: Connection, **params: Any) -> None:
    return None


def make(*rules: str, methods: list[str] | None = None) -> Router:
    router = Router()
    for index, rule in enumerate(rules):
        router.add_route(rule, handler, f"r{index}", methods)
    return router


def matched(result: Match | NoMatch) -> Match:
    assert isinstance(result, Match), result
    return result


# ---------------------------------------------------------------------------- converters
@pytest.mark.parametrize(
    ("converter", "text", "value"),
    [
        (StrConverter(), "abc", "abc"),
        (IntConverter(), "42", 42),
        (IntConverter(), "007", 7),
        (FloatConverter(), "2.5", 2.5),
        (FloatConverter(), "3", 3.0),
        (PathConverter(), "a/b/c", "a/b/c"),
        (
            UUIDConverter(),
            "12345678-1234-5678-1234-567812345678",
            uuid.UUID("12345678-1234-5678-1234-567812345678"),
        ),
    ],
)
def test_converters_accept(converter: Converter, text: str, value: Any) -> None:
    assert converter.to_python(text) == value


@pytest.mark.parametrize(
    ("converter", "text"),
    [
        (StrConverter(), ""),
        (IntConverter(), "-1"),
        (IntConverter(), "+1"),
        (IntConverter(), " 1"),
        (IntConverter(), "1_000"),
        (IntConverter(), "\u0661\u0662"),  # Arabic-Indic digits: int() would accept them
        (FloatConverter(), "1.2.3"),
        (FloatConverter(), "1e5"),
        (FloatConverter(), "nan"),
        (FloatConverter(), "1."),
        (UUIDConverter(), "{12345678-1234-5678-1234-567812345678}"),
        (UUIDConverter(), "12345678123456781234567812345678"),
        (PathConverter(), ""),
    ],
)
def test_converters_refuse(converter: Converter, text: str) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - the converter protocol is ValueError
        converter.to_python(text)


def test_converters_to_url() -> None:
    assert IntConverter().to_url(5) == "5"
    assert FloatConverter().to_url(2.5) == "2.5"
    assert FloatConverter().to_url(1e20) == "100000000000000000000"
    assert FloatConverter().to_url(1e-7) == "0.0000001"
    u = uuid.uuid4()
    assert UUIDConverter().to_url(u) == str(u)
    assert UUIDConverter().to_url(str(u)) == str(u)
    for bad in (-1, True, 1.5, "3"):
        with pytest.raises(ValueError, match="non-negative int"):
            IntConverter().to_url(bad)
    with pytest.raises(ValueError, match="finite"):
        FloatConverter().to_url(float("inf"))
    with pytest.raises(ValueError, match="non-negative number"):
        FloatConverter().to_url(-2.0)
    with pytest.raises(ValueError, match="cannot be empty"):
        StrConverter().to_url("")
    assert Converter().to_url(3) == "3"
    assert Converter().to_python("x") == "x"


# ---------------------------------------------------------------------------- rule parsing
def test_parse_rule_splits_static_and_params() -> None:
    parts = parse_rule("/users/<int:id>/posts/<slug>", Router().converters)
    assert parts[0] == "users"
    assert parts[2] == "posts"
    assert [getattr(p, "name", None) for p in parts] == [None, "id", None, "slug"]


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ("users", "must be a string starting with '/'"),
        ("/x/<nope:id>", "unknown converter 'nope'"),
        ("/x/<strr:id>", "did you mean 'str'"),
        ("/x/<id>/<int:id>", "uses the parameter 'id' twice"),
        ("/x/<id>.json", "mixed segments"),
        ("/x/<id", "mixed segments"),
        ("/x//y", "empty segment"),
        ("//x", "empty segment"),
    ],
)
def test_bad_rules_fail_at_registration(rule: str, message: str) -> None:
    router = Router()
    with pytest.raises(RouteError, match=message):
        router.add_route(rule, handler)


def test_handler_signature_is_checked_against_the_rule() -> None:
    router = Router()

    async def needs_ident(conn: Connection, ident: int) -> None:
        return None

    with pytest.raises(RouteError, match="has parameter 'id' but handler .* takes no argument"):
        router.add_route("/x/<int:id>", needs_ident)
    with pytest.raises(RouteError, match="needs argument 'ident' but rule '/y' has no"):
        router.add_route("/y", needs_ident)

    async def kw_only(*, conn: Connection) -> None:
        return None

    with pytest.raises(RouteError, match="connection as its first positional argument"):
        router.add_route("/w", kw_only)

    async def takes_only_id(ident: int) -> None:
        return None

    with pytest.raises(RouteError, match="has parameter 'id' but handler .* takes no argument"):
        router.add_route("/u/<int:id>", takes_only_id)
    with pytest.raises(RouteError, match="must be callable"):
        router.add_route("/v", "not a function")  # type: ignore[arg-type]


def test_handler_with_default_or_kwargs_is_accepted() -> None:
    router = Router()

    async def with_default(conn: Connection, name: str = "world") -> None:
        return None

    router.add_route("/", with_default)
    router.add_route("/hello/<name>", with_default)
    router.add_route("/any/<a>/<b>", handler)
    assert matched(router.match("GET", "/any/1/2")).params == {"a": "1", "b": "2"}


def test_duplicate_rule_and_method_fail_at_registration() -> None:
    router = make("/x")

    async def other(conn: Connection) -> None:
        return None

    with pytest.raises(RouteError, match="registered twice"):
        router.add_route("/x", other, name="other")
    router.add_route("/x", other, "other", ["POST"])  # another method is fine
    router.add_route("/x/<int:id>", handler, name="o2")
    with pytest.raises(RouteError, match="registered twice"):
        router.add_route("/x/<int:n>", handler, name="o3")  # same shape, another name


def test_duplicate_route_name_fails_but_stacking_one_handler_is_allowed() -> None:
    router = Router()

    async def a(conn: Connection, name: str = "x") -> None:
        return None

    async def b(conn: Connection) -> None:
        return None

    router.add_route("/a", a)
    router.add_route("/a/<name>", a)  # same handler, same default name: stacking
    with pytest.raises(RouteError, match="route name 'a' is already used"):
        router.add_route("/b", b, name="a")


def test_bad_methods_are_refused() -> None:
    router = Router()
    with pytest.raises(RouteError, match="must be a list"):
        router.add_route("/x", handler, methods="POST")
    with pytest.raises(RouteError, match="not a valid HTTP method"):
        router.add_route("/x", handler, methods=["GE T"])
    with pytest.raises(RouteError, match="takes no methods"):
        router.add_route("/x", handler, methods=["GET"], websocket=True)


def test_custom_converter_registration() -> None:
    class Slug(Converter):
        def to_python(self, value: str) -> str:
            if not value.replace("-", "").isalnum():
                raise ValueError("not a slug")
            return value

    router = Router(converters={"slug": Slug()})
    router.add_route("/posts/<slug:s>", handler)
    assert matched(router.match("GET", "/posts/hello-world")).params == {"s": "hello-world"}
    assert isinstance(router.match("GET", "/posts/a_b"), NoMatch)
    with pytest.raises(RouteError, match="instance, not the class"):
        router.add_converter("x", Slug)  # type: ignore[arg-type]
    with pytest.raises(RouteError, match="identifier"):
        router.add_converter("a-b", Slug())
    with pytest.raises(RouteError, match="to_python"):
        router.add_converter("y", object())  # type: ignore[arg-type]


# ---------------------------------------------------------------------------- matching
def test_static_and_dynamic_matching() -> None:
    router = make("/", "/users", "/users/<int:id>", "/users/<int:id>/posts/<slug>")
    assert matched(router.match("GET", "/")).route.rule == "/"
    assert matched(router.match("GET", "/users")).params == {}
    assert matched(router.match("GET", "/users/7")).params == {"id": 7}
    m = matched(router.match("GET", "/users/7/posts/hi"))
    assert m.params == {"id": 7, "slug": "hi"}
    assert isinstance(router.match("GET", "/users/x"), NoMatch)
    assert isinstance(router.match("GET", "/nothing"), NoMatch)


def test_static_segment_wins_over_parameter_and_backtracks() -> None:
    router = Router()

    async def me(conn: Connection) -> None:
        return None

    async def by_name(conn: Connection, name: str) -> None:
        return None

    async def posts(conn: Connection, name: str) -> None:
        return None

    router.add_route("/users/me", me)
    router.add_route("/users/<name>", by_name)
    router.add_route("/users/<name>/posts", posts)
    assert matched(router.match("GET", "/users/me")).route.name == "me"
    assert matched(router.match("GET", "/users/bob")).route.name == "by_name"
    # "me" matches the static branch first, which has no /posts: backtrack to <name>.
    assert matched(router.match("GET", "/users/me/posts")).params == {"name": "me"}


def test_typed_converter_is_tried_before_str() -> None:
    router = Router()

    async def by_id(conn: Connection, key: int) -> None:
        return None

    async def by_name(conn: Connection, key: str) -> None:
        return None

    router.add_route("/items/<key>", by_name)
    router.add_route("/items/<int:key>", by_id)
    assert matched(router.match("GET", "/items/12")).route.name == "by_id"
    assert matched(router.match("GET", "/items/ab")).route.name == "by_name"


def test_path_converter_spans_segments() -> None:
    router = make("/files/<path:p>", "/docs/<path:p>/edit", "/x/<path:p>/<int:n>")
    assert matched(router.match("GET", "/files/a/b/c.txt")).params == {"p": "a/b/c.txt"}
    assert matched(router.match("GET", "/docs/a/b/edit")).params == {"p": "a/b"}
    assert matched(router.match("GET", "/x/a/b/3")).params == {"p": "a/b", "n": 3}
    assert isinstance(router.match("GET", "/files"), NoMatch)
    assert isinstance(router.match("GET", "/docs/edit"), NoMatch)


def test_method_mismatch_explains_allowed_methods() -> None:
    router = make("/x", methods=["POST", "PUT"])
    miss = router.match("GET", "/x")
    assert isinstance(miss, NoMatch)
    assert miss.allowed == {"POST", "PUT"}


def test_get_route_answers_head() -> None:
    router = make("/x")
    assert matched(router.match("HEAD", "/x")).route.methods == {"GET", "HEAD"}


def test_method_found_on_a_later_branch() -> None:
    router = Router()

    async def read_me(conn: Connection) -> None:
        return None

    async def create(conn: Connection, name: str) -> None:
        return None

    router.add_route("/users/me", read_me)
    router.add_route("/users/<name>", create, methods=["POST"])
    assert matched(router.match("POST", "/users/me")).route.name == "create"
    miss = router.match("DELETE", "/users/me")
    assert isinstance(miss, NoMatch)
    assert miss.allowed == {"GET", "HEAD", "POST"}


def test_trailing_slash_redirect_is_suggested() -> None:
    router = make("/a", "/b/")
    assert router.match("GET", "/a/") == NoMatch(redirect="/a")
    assert router.match("GET", "/b") == NoMatch(redirect="/b/")
    assert router.match("GET", "/c") == NoMatch()
    off = Router(redirect_slashes=False)
    off.add_route("/a", handler)
    assert off.match("GET", "/a/") == NoMatch()


def test_matching_cost_does_not_depend_on_route_count() -> None:
    # Not a timing test: the trie visits one node per segment whatever the table size.
    visits: list[str] = []

    class Counting(IntConverter):
        def to_python(self, value: str) -> int:
            visits.append(value)
            return super().to_python(value)

    for size in (10, 1000):
        visits.clear()
        router = Router(converters={"cint": Counting()})
        for i in range(size):
            router.add_route(f"/r{i}/<cint:id>", handler, name=f"r{i}")
        router.add_route("/items/<cint:id>", handler, name="items")
        assert matched(router.match("GET", "/items/5")).params == {"id": 5}
        assert visits == ["5"]


# ---------------------------------------------------------------------------- include / mount
def test_include_with_prefix_and_later_additions() -> None:
    api = Router()
    api.add_route("/users/<int:id>", handler, name="user")
    root = Router()
    root.include(api, prefix="/api/")
    api.add_route("/late", handler, name="late")  # included routers stay live
    assert matched(root.match("GET", "/api/users/3")).params == {"id": 3}
    assert matched(root.match("GET", "/api/late")).route.name == "late"
    assert root.url_for("user", id=3) == "/api/users/3"
    assert [r.rule for r in root.routes] == ["/api/users/<int:id>", "/api/late"]


def test_include_root_rule_gets_the_prefix() -> None:
    api = make("/")
    root = Router()
    root.include(api, prefix="/api")
    assert matched(root.match("GET", "/api/")).route.rule == "/api/"


def test_include_errors() -> None:
    a = make("/x")
    b = Router()
    b.add_route("/x", handler, name="other")
    root = Router()
    with pytest.raises(RouteError, match="cannot include itself"):
        root.include(root)
    with pytest.raises(RouteError, match="static path"):
        root.include(a, prefix="/<int:x>")
    root.include(a)
    with pytest.raises(RouteError, match="registered twice"):
        root.include(b)


def test_include_cycle_is_refused() -> None:
    a = Router()
    b = Router()
    a.include(b)
    with pytest.raises(RouteError, match="cycle"):
        b.include(a)


def test_mounts_match_on_segment_boundaries_longest_first() -> None:
    async def app_a(scope: Any, receive: Any, send: Any) -> None:
        return None

    async def app_b(scope: Any, receive: Any, send: Any) -> None:
        return None

    router = Router()
    router.mount("/static", app_a)
    router.mount("/static/img", app_b)
    for path, expected in [
        ("/static", app_a),
        ("/static/x.css", app_a),
        ("/static/img/a.png", app_b),
    ]:
        miss = router.match("GET", path)
        assert isinstance(miss, NoMatch)
        assert miss.mount is not None
        assert miss.mount.app is expected
    assert router.match("GET", "/staticfoo") == NoMatch()
    with pytest.raises(RouteError, match="needs a prefix"):
        router.mount("/", app_a)
    with pytest.raises(RouteError, match="not an ASGI application"):
        router.mount("/x", "nope")  # type: ignore[arg-type]


# ---------------------------------------------------------------------------- url_for
def test_url_for_builds_paths_and_explains_mistakes() -> None:
    router = Router()

    async def user(conn: Connection, ident: int) -> None:
        return None

    router.add_route("/users/<int:ident>", user)
    router.add_route("/files/<path:p>", handler, name="files")
    router.add_route("/tags/<tag>", handler, name="tag")
    assert router.url_for("user", ident=5) == "/users/5"
    assert router.url_for("files", p="a b/c") == "/files/a%20b/c"
    assert router.url_for("tag", tag="a/b c") == "/tags/a%2Fb%20c"
    with pytest.raises(RouteError, match="has no parameter 'id'; did you mean 'ident'"):
        router.url_for("user", id=5)
    with pytest.raises(RouteError, match="needs the parameter 'ident'"):
        router.url_for("user")
    with pytest.raises(RouteError, match="no route is named 'usr'; did you mean 'user'"):
        router.url_for("usr")
    with pytest.raises(RouteError, match="does not fit converter 'int'"):
        router.url_for("user", ident="x")


def test_url_for_stacked_handler_picks_the_rule_with_those_parameters() -> None:
    router = Router()

    async def hello(conn: Connection, name: str = "world") -> None:
        return None

    router.add_route("/", hello)
    router.add_route("/hello/<name>", hello)
    assert router.url_for("hello") == "/"
    assert router.url_for("hello", name="bob") == "/hello/bob"


def test_websocket_routes_are_separate() -> None:
    router = Router()
    router.add_route("/chat/<room>", handler, name="chat", websocket=True)
    assert isinstance(router.match("GET", "/chat/a"), NoMatch)
    assert matched(router.match_websocket("/chat/a")).params == {"room": "a"}
    assert router.match_websocket("/nope") == NoMatch()
    assert repr(router.routes[0]) == "<Route WS /chat/<room> name='chat'>"


def test_a_path_parameter_before_more_rule_tries_few_ends_on_hostile_paths() -> None:
    # APPSEC: a path of many segments must not make the matcher try every end position.
    calls: list[int] = []

    class CountingPath(PathConverter):
        def to_python(self, value: str) -> str:
            calls.append(value.count("/"))
            return super().to_python(value)

    router = Router(converters={"cpath": CountingPath()})
    router.add_route("/f/<cpath:p>/<int:n>", handler, name="f")
    router.add_route("/f/<cpath:p>/edit/<slug>", handler, name="g")
    for segments in (100, 10_000):
        calls.clear()
        assert isinstance(router.match("GET", "/f" + "/a" * segments), NoMatch)
        assert len(calls) <= 6  # a few ends per explain pass, not one per segment
    # The rule with more static segments wins where both match (werkzeug's order).
    assert matched(router.match("GET", "/f/a/b/edit/3")).params == {"p": "a/b", "slug": "3"}
    assert matched(router.match("GET", "/f/a/b/edit/edit/3")).params == {
        "p": "a/b/edit",
        "slug": "3",
    }
    assert matched(router.match("GET", "/f/a/b/edit/x")).params == {"p": "a/b", "slug": "x"}
    assert matched(router.match("GET", "/f/a/b/3")).params == {"p": "a/b", "n": 3}


def test_two_spanning_parameters_in_one_rule_are_refused() -> None:
    with pytest.raises(RouteError, match="two parameters that span segments"):
        make("/g/<path:a>/<path:b>")


def test_a_sync_websocket_handler_is_refused_at_registration() -> None:
    def sync_chat(conn: Connection) -> None:
        return None

    class AsyncCallable:
        async def __call__(self, conn: Connection) -> None:
            return None

    router = Router()
    with pytest.raises(RouteError, match="must be 'async def'"):
        router.add_route("/ws", sync_chat, websocket=True)
    router.add_route("/ws", AsyncCallable(), name="ok", websocket=True)
