"""The pure matcher: compiled lookup tables that find the route for a method and a path.

Matching cost does not grow with the number of routes: rules without parameters live in a dict
keyed by path; rules with parameters live in a segment trie walked once per request segment.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from ._rules import Mount, NoMatch, Part, Route, RouteError, describe, did_you_mean, rule_text
from .converters import Converter, StrConverter

__all__ = ["Compiled", "Node", "Table", "route_keys"]


# ---------------------------------------------------------------------------- the trie
class Node:
    __slots__ = (
        "depths",
        "leaf",
        "only_converter",
        "only_param",
        "only_static",
        "params",
        "spans",
        "static",
    )

    def __init__(self) -> None:
        self.static: dict[str, Node] = {}
        # (converter key, converter, child); typed converters first, str last (priority order)
        self.params: list[tuple[str, Converter, Node]] = []
        self.spans: list[tuple[str, Converter, Node]] = []
        self.leaf: dict[str, Route] | None = None  # method -> route ("" for websocket)
        # Set by finalize(): how to step down without backtracking, when that is possible.
        self.only_static = False
        self.only_converter: Converter | None = None
        self.only_param: Node | None = None
        # How many more segments a path may have below this node (None: any number, a span
        # follows). A rule has at most one spanning parameter, so below a span it is known.
        self.depths: tuple[int, ...] | None = ()

    def finalize(self) -> None:
        self.only_static = not self.params and not self.spans
        single = len(self.params) == 1 and not self.static and not self.spans
        self.only_converter = self.params[0][1] if single else None
        self.only_param = self.params[0][2] if single else None
        children = [*self.static.values(), *(child for _, _, child in self.params)]
        for child in children:
            child.finalize()
        for _, _, child in self.spans:
            child.finalize()
        depths: set[int] | None = {0} if self.leaf is not None else set()
        for child in children:
            if child.depths is None or depths is None:
                depths = None
            else:
                depths.update(d + 1 for d in child.depths)
        self.depths = None if self.spans or depths is None else tuple(sorted(depths))

    def child_for(self, part: Part) -> Node:
        if isinstance(part, str):
            return self.static.setdefault(part, Node())
        bucket = self.spans if part.converter.spans_segments else self.params
        key = part.converter_name
        for existing_key, _, child in bucket:
            if existing_key == key:
                return child
        child = Node()
        bucket.append((key, part.converter, child))
        # Typed converters are tried before the catch-all str converter.
        bucket.sort(key=lambda item: isinstance(item[1], StrConverter))
        return child


def _walk(
    node: Node,
    segments: list[str],
    index: int,
    values: list[Any],
    method: str | None,
    allowed: set[str] | None,
) -> tuple[Route, list[Any]] | None:
    """Depth-first search: static children, then converters, then spanning converters."""
    if index == len(segments):
        leaf = node.leaf
        if leaf is None:
            return None
        route = leaf.get(method) if method is not None else None
        if route is not None:
            return route, values
        if allowed is not None:
            allowed.update(leaf)
        return None
    segment = segments[index]
    child = node.static.get(segment)
    if child is not None:
        found = _walk(child, segments, index + 1, values, method, allowed)
        if found is not None:
            return found
    for _, converter, child in node.params:
        try:
            value = converter.to_python(segment)
        except ValueError:
            continue
        found = _walk(child, segments, index + 1, [*values, value], method, allowed)
        if found is not None:
            return found
    for _, converter, child in node.spans:
        # APPSEC: only the ends that leave as many segments as the rest of a rule can take are
        # tried (a handful, known in advance), so a hostile path with thousands of segments
        # costs a few joins, not one per segment. Every such end is tried and, as in werkzeug,
        # the rule with more static segments wins, then the one with more segments (the shorter
        # span): '/docs/<path:p>/edit' stays reachable beside '/docs/<path:p>'.
        best: tuple[Route, list[Any]] | None = None
        for depth in child.depths or ():
            end = len(segments) - depth
            if end <= index:
                break
            try:
                value = converter.to_python("/".join(segments[index:end]))
            except ValueError:
                continue
            found = _walk(child, segments, end, [*values, value], method, allowed)
            if found is not None and (
                best is None or found[0].static_count >= best[0].static_count
            ):
                best = found
        if best is not None:
            return best
    return None


class Table:
    """Compiled lookup structures for one kind of route (HTTP or WebSocket)."""

    __slots__ = ("root", "static")

    def __init__(self) -> None:
        self.static: dict[str, dict[str, Route]] = {}
        self.root = Node()

    def add(self, route: Route, keys: Iterable[str]) -> None:
        if route.is_static:
            leaf = self.static.setdefault(rule_text(route.parts), {})
        else:
            node = self.root
            for part in route.parts:
                node = node.child_for(part)
            if node.leaf is None:
                node.leaf = {}
            leaf = node.leaf
        # Check every key before storing any, so a refused route leaves the table unchanged.
        taken: list[str] = []
        for key in keys:
            existing = leaf.get(key)
            if existing is None or _head_yields(existing, route, key):
                taken.append(key)
            elif not _head_yields(route, existing, key):
                what = "WebSocket" if route.websocket else key
                raise RouteError(
                    f"{what} {route.rule!r} is registered twice (handlers "
                    f"{describe(existing.endpoint)} and {describe(route.endpoint)}); "
                    "remove one or change its rule"
                )
        for key in taken:
            leaf[key] = route

    def find(
        self, method: str | None, path: str, allowed: set[str] | None = None
    ) -> tuple[Route, list[Any]] | None:
        """The route for ``method`` at ``path`` and its converted parameter values.

        With ``allowed``, also collects the methods of every route whose rule matches ``path``.
        """
        leaf = self.static.get(path)
        if leaf is not None:
            route = leaf.get(method) if method is not None else None
            if route is not None:
                return route, []
            if allowed is not None:
                allowed.update(leaf)
        segments = path[1:].split("/")
        if allowed is not None:
            return _walk(self.root, segments, 0, [], method, allowed)
        # PERF: descend without recursion while every node offers a single way down (the usual
        # case); a node with both static and parameter children falls back to the full search.
        node = self.root
        values: list[Any] = []
        for segment in segments:
            step: Node | None
            if node.only_static:
                step = node.static.get(segment)
            elif node.only_converter is not None:
                try:
                    values.append(node.only_converter.to_python(segment))
                except ValueError:
                    return None
                step = node.only_param
            else:
                return _walk(self.root, segments, 0, [], method, None)
            if step is None:
                return None
            node = step
        leaf = node.leaf
        if leaf is None:
            return None
        route = leaf.get(method) if method is not None else None
        return (route, values) if route is not None else None


def _head_yields(holder: Route, newcomer: Route, key: str) -> bool:
    """Whether ``holder`` gives up ``key`` to ``newcomer``: a GET route's implicit HEAD does."""
    return key == "HEAD" and holder.implicit_head and not newcomer.implicit_head


def route_keys(route: Route) -> Iterable[str]:
    return ("",) if route.websocket else route.methods


class Compiled:
    """Lookup tables for a router and everything it includes."""

    __slots__ = ("http", "mounts", "names", "routes", "ws")

    def __init__(self, flat: tuple[list[Route], list[Mount]]) -> None:
        self.routes, mounts = flat
        self.http = Table()
        self.ws = Table()
        self.names: dict[str, list[Route]] = {}
        for route in self.routes:
            (self.ws if route.websocket else self.http).add(route, route_keys(route))
            same = self.names.setdefault(route.name, [])
            if same and same[0].endpoint is not route.endpoint:
                raise RouteError(
                    f"route name {route.name!r} is used by {same[0].rule!r} and {route.rule!r} "
                    "with different handlers; pass name=... to tell them apart"
                )
            same.append(route)
        self.http.root.finalize()
        self.ws.root.finalize()
        # Longest prefix first, so /static/img wins over /static.
        self.mounts = sorted(mounts, key=lambda m: len(m.prefix), reverse=True)

    def find_mount(self, path: str) -> Mount | None:
        for mount in self.mounts:
            prefix = mount.prefix
            if path.startswith(prefix) and (len(path) == len(prefix) or path[len(prefix)] == "/"):
                return mount
        return None

    def explain_miss(self, method: str, path: str, redirect_slashes: bool) -> NoMatch:
        allowed: set[str] = set()
        self.http.find(None, path, allowed)
        if allowed:
            return NoMatch(allowed=frozenset(allowed))
        mount = self.find_mount(path)
        if mount is not None:
            return NoMatch(mount=mount)
        if redirect_slashes and path != "/":
            other = path[:-1] if path.endswith("/") else path + "/"
            probe: set[str] = set()
            if self.http.find(None, other, probe) is None and probe:
                return NoMatch(redirect=other)
        return NoMatch()

    def url_for(self, name: str, params: Mapping[str, Any]) -> str:
        routes = self.names.get(name)
        if not routes:
            raise RouteError(f"no route is named {name!r}{did_you_mean(name, self.names)}")
        # A handler stacked under several rules: take the rule whose parameters fit exactly.
        for route in routes:
            if set(route.param_names) == set(params):
                return route.url_path(params)
        return routes[0].url_path(params)
