"""The pure matcher (aaf.routing._matcher): lookup tables built from hand-made routes."""

from __future__ import annotations

from typing import Any

import pytest

from aaf.routing import DEFAULT_CONVERTERS, Mount, NoMatch, PathConverter, Route, RouteError
from aaf.routing._matcher import Compiled, Table, route_keys
from aaf.routing._rules import parse_rule


async def handler(conn: Any, **params: Any) -> None:
    return None


async def other_handler(conn: Any, **params: Any) -> None:
    return None


def route(
    rule: str,
    name: str = "",
    methods: tuple[str, ...] = ("GET",),
    *,
    implicit_head: bool = False,
    converters: Any = DEFAULT_CONVERTERS,
    endpoint: Any = handler,
) -> Route:
    return Route(
        rule=rule,
        handler=endpoint,
        methods=frozenset(methods),
        name=name or rule,
        parts=parse_rule(rule, converters),
        endpoint=endpoint,
        implicit_head=implicit_head,
    )


def table(*routes: Route) -> Table:
    result = Table()
    for item in routes:
        result.add(item, route_keys(item))
    result.root.finalize()
    return result


def found_name(tbl: Table, method: str, path: str) -> tuple[str, list[Any]] | None:
    found = tbl.find(method, path)
    return None if found is None else (found[0].name, found[1])


# ---------------------------------------------------------------------------- basics
def test_static_routes_live_in_a_dict_and_parameters_in_the_trie() -> None:
    tbl = table(route("/users", "list"), route("/users/<int:id>", "one"))
    assert "/users" in tbl.static
    assert found_name(tbl, "GET", "/users") == ("list", [])
    assert found_name(tbl, "GET", "/users/7") == ("one", [7])
    assert found_name(tbl, "POST", "/users/7") is None
    assert found_name(tbl, "GET", "/users/x") is None


def test_static_branch_backtracks_to_a_parameter() -> None:
    tbl = table(route("/u/me", "me"), route("/u/<name>/posts", "posts"))
    assert found_name(tbl, "GET", "/u/me") == ("me", [])
    assert found_name(tbl, "GET", "/u/me/posts") == ("posts", ["me"])


def test_allowed_collects_the_methods_of_every_matching_rule() -> None:
    tbl = table(route("/x/<a>", "a", ("GET",)), route("/x/<int:b>", "b", ("POST", "PUT")))
    allowed: set[str] = set()
    assert tbl.find(None, "/x/3", allowed) is None
    assert allowed == {"GET", "POST", "PUT"}


# ---------------------------------------------------------------------------- B15: path spans
@pytest.mark.parametrize("reverse", [False, True])
def test_a_path_rule_leaves_the_longer_rule_reachable(reverse: bool) -> None:
    routes = [route("/docs/<path:p>", "view"), route("/docs/<path:p>/edit", "edit")]
    tbl = table(*(reversed(routes) if reverse else routes))
    assert found_name(tbl, "GET", "/docs/a/b/edit") == ("edit", ["a/b"])
    assert found_name(tbl, "GET", "/docs/a/b") == ("view", ["a/b"])
    assert found_name(tbl, "GET", "/docs/edit") == ("view", ["edit"])
    assert found_name(tbl, "GET", "/docs/a/edit/b") == ("view", ["a/edit/b"])


@pytest.mark.parametrize("reverse", [False, True])
def test_between_equally_static_span_rules_the_longer_rule_wins(reverse: bool) -> None:
    routes = [route("/t/<path:p>", "any"), route("/t/<path:p>/<int:n>", "numbered")]
    tbl = table(*(reversed(routes) if reverse else routes))
    assert found_name(tbl, "GET", "/t/a/3") == ("numbered", ["a", 3])
    assert found_name(tbl, "GET", "/t/a/b") == ("any", ["a/b"])


def test_a_span_rule_for_another_method_does_not_hide_the_path_rule() -> None:
    tbl = table(route("/d/<path:p>", "view"), route("/d/<path:p>/edit", "save", ("POST",)))
    assert found_name(tbl, "GET", "/d/a/edit") == ("view", ["a/edit"])
    assert found_name(tbl, "POST", "/d/a/edit") == ("save", ["a"])


def test_span_choice_tries_a_few_ends_on_hostile_paths() -> None:
    # APPSEC: trying every rule's end must still cost a few joins, not one per segment.
    calls: list[int] = []

    class CountingPath(PathConverter):
        def to_python(self, value: str) -> str:
            calls.append(value.count("/"))
            return super().to_python(value)

    converters = {**DEFAULT_CONVERTERS, "cpath": CountingPath()}
    tbl = table(
        route("/f/<cpath:p>", "a", converters=converters),
        route("/f/<cpath:p>/edit", "b", converters=converters),
        route("/f/<cpath:p>/x/<int:n>", "c", converters=converters),
    )
    for segments in (100, 10_000):
        calls.clear()
        found = found_name(tbl, "GET", "/f" + "/a" * segments)
        assert found is not None
        assert found[0] == "a"
        assert len(calls) <= 3  # one per distinct rule length below the span


# ---------------------------------------------------------------------------- B17: HEAD
@pytest.mark.parametrize("head_first", [False, True])
@pytest.mark.parametrize(("rule", "path", "values"), [("/r", "/r", []), ("/p/<a>", "/p/x", ["x"])])
def test_an_explicit_head_route_beats_the_implicit_head_of_get(
    head_first: bool, rule: str, path: str, values: list[Any]
) -> None:
    get = route(rule, "get", ("GET", "HEAD"), implicit_head=True)
    head = route(rule, "head", ("HEAD",))
    tbl = table(*([head, get] if head_first else [get, head]))
    assert found_name(tbl, "HEAD", path) == ("head", values)
    assert found_name(tbl, "GET", path) == ("get", values)


def test_two_explicit_head_routes_still_clash() -> None:
    tbl = table(route("/r", "one", ("HEAD",)))
    with pytest.raises(RouteError, match="HEAD '/r' is registered twice"):
        tbl.add(route("/r", "two", ("HEAD",)), ("HEAD",))
    explicit_get = route("/s", "get", ("GET", "HEAD"))  # HEAD asked for, not implied
    tbl.add(explicit_get, route_keys(explicit_get))
    with pytest.raises(RouteError, match="HEAD '/s' is registered twice"):
        tbl.add(route("/s", "head", ("HEAD",)), ("HEAD",))


def test_a_refused_route_leaves_the_table_unchanged() -> None:
    get = route("/r", "get", ("GET", "HEAD"), implicit_head=True)
    tbl = table(get)
    # HEAD alone could take over, but GET clashes: nothing of it is stored.
    with pytest.raises(RouteError, match="GET '/r' is registered twice"):
        tbl.add(route("/r", "both", ("GET", "HEAD")), ("HEAD", "GET"))
    assert found_name(tbl, "HEAD", "/r") == ("get", [])


# ---------------------------------------------------------------------------- Compiled
def test_compiled_names_mounts_and_misses() -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        return None

    routes = [route("/a", "a"), route("/b/", "b"), route("/c/<int:n>", "c", ("POST",))]
    mounts = [Mount("/static", app), Mount("/static/img", app, "img", lifespan=False)]
    compiled = Compiled((routes, mounts))
    assert [m.prefix for m in compiled.mounts] == ["/static/img", "/static"]
    found = compiled.find_mount("/static/img/x.png")
    assert found is not None
    assert found.name == "img"
    assert compiled.find_mount("/staticx") is None
    assert compiled.explain_miss("GET", "/c/1", True) == NoMatch(allowed=frozenset({"POST"}))
    assert compiled.explain_miss("GET", "/a/", True) == NoMatch(redirect="/a")
    assert compiled.explain_miss("GET", "/b", False) == NoMatch()
    assert compiled.url_for("c", {"n": 4}) == "/c/4"
    with pytest.raises(RouteError, match="no route is named 'x'"):
        compiled.url_for("x", {})


def test_compiled_refuses_one_name_for_two_handlers() -> None:
    with pytest.raises(RouteError, match="route name 'same' is used by '/a' and '/b'"):
        Compiled(([route("/a", "same"), route("/b", "same", endpoint=other_handler)], []))
