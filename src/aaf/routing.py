"""Routing: Flask-style rules, converters, blueprints (include), mounts and a pure matcher.

Matching cost does not grow with the number of routes: rules without parameters live in a dict
keyed by path; rules with parameters live in a segment trie walked once per request segment.
"""

from __future__ import annotations

import asyncio
import decimal
import difflib
import functools
import inspect
import re
import uuid
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, TypeAlias, TypeVar
from urllib.parse import quote

from ._callables import is_async_callable
from ._http import is_token
from .limits import Limits

if TYPE_CHECKING:
    from ._types import ASGIApp

__all__ = [
    "Converter",
    "FloatConverter",
    "IntConverter",
    "Match",
    "Mount",
    "NoMatch",
    "PathConverter",
    "Route",
    "RouteError",
    "Router",
    "StrConverter",
    "UUIDConverter",
]

Handler: TypeAlias = Callable[..., Awaitable[Any]]
H = TypeVar("H", bound=Callable[..., Any])


class RouteError(ValueError):
    """A rule, converter, name or handler cannot be registered; the message says how to fix it."""


def did_you_mean(name: str, candidates: Iterable[str]) -> str:
    """``"; did you mean 'x'?"`` for the closest candidate, or ``""``."""
    options = list(candidates)
    close = difflib.get_close_matches(name, options, n=1, cutoff=0.5)
    if not close:
        close = [c for c in options if c.startswith(name) or name.startswith(c)][:1]
    return f"; did you mean {close[0]!r}?" if close else ""


# ---------------------------------------------------------------------------- converters
class Converter:
    """Turns one path segment into a Python value and back.

    Subclass it and register the instance with ``Router(converters={"name": MyConverter()})``
    or ``router.add_converter("name", MyConverter())``. ``to_python`` raises ``ValueError`` when
    the segment does not match (the router then tries other rules). ``spans_segments = True``
    lets it match several segments joined by ``/`` (like ``path``).
    """

    spans_segments: ClassVar[bool] = False
    #: A regular expression describing what matches (documentation and property tests).
    regex: ClassVar[str] = "[^/]+"

    def to_python(self, value: str) -> Any:
        return value

    def to_url(self, value: Any) -> str:
        return str(value)


class StrConverter(Converter):
    """One non-empty segment (no ``/``). The default."""

    def to_python(self, value: str) -> str:
        if not value:
            raise ValueError("empty segment")
        return value

    def to_url(self, value: Any) -> str:
        text = str(value)
        if not text:
            raise ValueError("a str parameter cannot be empty")
        return text


class IntConverter(Converter):
    """Non-negative integers written with ASCII digits only."""

    regex = "[0-9]+"

    def to_python(self, value: str) -> int:
        # APPSEC: int() alone would accept "+1", " 1", "1_0" and non-ASCII digits (Arabic-Indic...).
        if not (value.isascii() and value.isdigit()):
            raise ValueError("not ASCII digits")
        return int(value)

    def to_url(self, value: Any) -> str:
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise ValueError(f"an int parameter must be a non-negative int, not {value!r}")
        return str(value)


class FloatConverter(Converter):
    """Non-negative decimals such as ``3`` or ``2.5`` (ASCII digits, at most one dot)."""

    regex = r"[0-9]+(\.[0-9]+)?"

    def to_python(self, value: str) -> float:
        whole, dot, frac = value.partition(".")
        if not (whole.isascii() and whole.isdigit()) or (
            dot and not (frac.isascii() and frac.isdigit())
        ):
            raise ValueError("not a decimal number")
        return float(value)

    def to_url(self, value: Any) -> str:
        if not isinstance(value, int | float) or isinstance(value, bool) or not value >= 0:
            raise ValueError(f"a float parameter must be a non-negative number, not {value!r}")
        if value == float("inf"):
            raise ValueError("a float parameter must be finite")
        text = repr(float(value))
        if "e" in text or "E" in text:
            # The shortest repr, written out without an exponent: "1e-07" -> "0.0000001" (a
            # fixed "%f" would round small values to "0.0" and break the round trip).
            text = format(decimal.Decimal(text), "f")
        return text


class UUIDConverter(Converter):
    """A UUID in its canonical 8-4-4-4-12 hex form."""

    regex = "[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
    _FORM = re.compile(regex)

    def to_python(self, value: str) -> uuid.UUID:
        if len(value) != 36 or self._FORM.fullmatch(value) is None:
            raise ValueError("not a canonical UUID")
        return uuid.UUID(value)

    def to_url(self, value: Any) -> str:
        return str(value if isinstance(value, uuid.UUID) else uuid.UUID(str(value)))


class PathConverter(Converter):
    """The rest of the path, slashes included (one or more non-empty characters)."""

    spans_segments = True
    regex = ".+"

    def to_python(self, value: str) -> str:
        if not value:
            raise ValueError("empty path")
        return value


DEFAULT_CONVERTERS: Mapping[str, Converter] = {
    "str": StrConverter(),
    "string": StrConverter(),
    "int": IntConverter(),
    "float": FloatConverter(),
    "uuid": UUIDConverter(),
    "path": PathConverter(),
}


# ---------------------------------------------------------------------------- rules
@dataclass(frozen=True, slots=True)
class Param:
    """A ``<converter:name>`` placeholder filling one whole segment."""

    name: str
    converter_name: str
    converter: Converter


Part: TypeAlias = str | Param
_PLACEHOLDER = re.compile(r"<(?:([A-Za-z_][A-Za-z0-9_]*):)?([A-Za-z_][A-Za-z0-9_]*)>")


def parse_rule(rule: str, converters: Mapping[str, Converter]) -> list[Part]:
    """Split ``rule`` into segments: static strings and whole-segment parameters."""
    if not isinstance(rule, str) or not rule.startswith("/"):
        raise RouteError(f"rule {rule!r} must be a string starting with '/'")
    parts: list[Part] = []
    seen: set[str] = set()
    for segment in rule[1:].split("/"):
        match = _PLACEHOLDER.fullmatch(segment)
        if match is None:
            if "<" in segment or ">" in segment:
                raise RouteError(
                    f"rule {rule!r}: segment {segment!r} is not a static text or one whole "
                    "'<converter:name>' placeholder; mixed segments such as '<name>.txt' are "
                    "not supported - register a custom converter that accepts the whole segment"
                )
            if segment == "" and parts and parts[-1] == "":
                raise RouteError(f"rule {rule!r} has an empty segment ('//')")
            parts.append(segment)
            continue
        conv_name = match.group(1) or "str"
        name = match.group(2)
        converter = converters.get(conv_name)
        if converter is None:
            raise RouteError(
                f"rule {rule!r} uses unknown converter {conv_name!r} (known: "
                f"{', '.join(sorted(converters))}){did_you_mean(conv_name, converters)}"
            )
        if name in seen:
            raise RouteError(f"rule {rule!r} uses the parameter {name!r} twice")
        seen.add(name)
        if converter.spans_segments and any(
            isinstance(p, Param) and p.converter.spans_segments for p in parts
        ):
            # APPSEC: two spanning parameters make matching a hostile path cubic in its length.
            raise RouteError(
                f"rule {rule!r} has two parameters that span segments (like 'path'); keep one "
                "and split the rest in the handler"
            )
        parts.append(Param(name, conv_name, converter))
    if "" in parts[:-1]:
        raise RouteError(f"rule {rule!r} has an empty segment ('//')")
    return parts


def _rule_text(parts: list[Part]) -> str:
    return "/" + "/".join(
        p if isinstance(p, str) else f"<{p.converter_name}:{p.name}>" for p in parts
    )


# ---------------------------------------------------------------------------- routes
@dataclass(eq=False, slots=True)
class Route:
    """One rule bound to a handler. ``handler(conn, **params)`` is awaited for each request."""

    rule: str
    handler: Handler
    methods: frozenset[str]
    name: str
    parts: list[Part]
    websocket: bool = False
    limits: Limits | None = None
    endpoint: Callable[..., Any] | None = None  # the user's function (handler may wrap it)
    param_names: tuple[str, ...] = field(init=False)

    def __post_init__(self) -> None:
        self.param_names = tuple(p.name for p in self.parts if isinstance(p, Param))

    @property
    def is_static(self) -> bool:
        return not self.param_names

    def url_path(self, params: Mapping[str, Any]) -> str:
        """Build this route's path from ``params`` (which must be exactly its parameters)."""
        missing = [n for n in self.param_names if n not in params]
        unknown = [n for n in params if n not in self.param_names]
        if unknown:
            name = unknown[0]
            hint = did_you_mean(name, self.param_names)
            raise RouteError(f"route {self.rule!r} has no parameter {name!r}{hint}")
        if missing:
            raise RouteError(f"route {self.rule!r} needs the parameter {missing[0]!r}")
        segments: list[str] = []
        for part in self.parts:
            if isinstance(part, str):
                segments.append(part)
                continue
            try:
                text = part.converter.to_url(params[part.name])
            except (ValueError, TypeError) as exc:
                raise RouteError(
                    f"route {self.rule!r}: parameter {part.name!r}={params[part.name]!r} does "
                    f"not fit converter {part.converter_name!r} ({exc})"
                ) from None
            safe = "/" if part.converter.spans_segments else ""
            segments.append(quote(text, safe=safe))
        return "/" + "/".join(segments)

    def __repr__(self) -> str:
        kind = "WS" if self.websocket else ",".join(sorted(self.methods))
        return f"<Route {kind} {self.rule} name={self.name!r}>"


@dataclass(eq=False, slots=True)
class Mount:
    """A foreign ASGI app answering every path under ``prefix`` (``root_path`` extended)."""

    prefix: str
    app: ASGIApp
    name: str | None = None


@dataclass(frozen=True, slots=True)
class Match:
    route: Route
    params: dict[str, Any]


@dataclass(frozen=True, slots=True)
class NoMatch:
    """Nothing answers ``method`` at this path.

    ``allowed`` non-empty means the path exists for other methods (405). ``redirect`` is the
    same-site path with the trailing slash fixed, when that form exists (308). ``mount`` is a
    mounted app that takes the path.
    """

    allowed: frozenset[str] = frozenset()
    redirect: str | None = None
    mount: Mount | None = None


# ---------------------------------------------------------------------------- the trie
class _Node:
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
        self.static: dict[str, _Node] = {}
        # (converter key, converter, child); typed converters first, str last (priority order)
        self.params: list[tuple[str, Converter, _Node]] = []
        self.spans: list[tuple[str, Converter, _Node]] = []
        self.leaf: dict[str, Route] | None = None  # method -> route ("" for websocket)
        # Set by finalize(): how to step down without backtracking, when that is possible.
        self.only_static = False
        self.only_converter: Converter | None = None
        self.only_param: _Node | None = None
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

    def child_for(self, part: Part) -> _Node:
        if isinstance(part, str):
            return self.static.setdefault(part, _Node())
        bucket = self.spans if part.converter.spans_segments else self.params
        key = part.converter_name
        for existing_key, _, child in bucket:
            if existing_key == key:
                return child
        child = _Node()
        bucket.append((key, part.converter, child))
        # Typed converters are tried before the catch-all str converter.
        bucket.sort(key=lambda item: isinstance(item[1], StrConverter))
        return child


def _walk(
    node: _Node,
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
        # Greedy: the longest run of segments first. APPSEC: only the ends that leave as many
        # segments as the rest of a rule can take are tried (a handful, known in advance), so a
        # hostile path with thousands of segments costs a few joins, not one per segment.
        for depth in child.depths or ():
            end = len(segments) - depth
            if end <= index:
                break
            try:
                value = converter.to_python("/".join(segments[index:end]))
            except ValueError:
                continue
            found = _walk(child, segments, end, [*values, value], method, allowed)
            if found is not None:
                return found
    return None


class _Table:
    """Compiled lookup structures for one kind of route (HTTP or WebSocket)."""

    __slots__ = ("root", "static")

    def __init__(self) -> None:
        self.static: dict[str, dict[str, Route]] = {}
        self.root = _Node()

    def add(self, route: Route, keys: Iterable[str]) -> None:
        if route.is_static:
            leaf = self.static.setdefault(_rule_text(route.parts), {})
        else:
            node = self.root
            for part in route.parts:
                node = node.child_for(part)
            if node.leaf is None:
                node.leaf = {}
            leaf = node.leaf
        for key in keys:
            existing = leaf.get(key)
            if existing is not None:
                what = "WebSocket" if route.websocket else key
                raise RouteError(
                    f"{what} {route.rule!r} is registered twice (handlers "
                    f"{_describe(existing.endpoint)} and {_describe(route.endpoint)}); "
                    "remove one or change its rule"
                )
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
            step: _Node | None
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


def _describe(func: Callable[..., Any] | None) -> str:
    if func is None:
        return "?"
    return f"{getattr(func, '__module__', '?')}.{getattr(func, '__qualname__', repr(func))}"


def _check_prefix(prefix: str, what: str) -> str:
    if prefix in ("", "/"):
        return ""
    if not prefix.startswith("/") or "<" in prefix or "//" in prefix:
        raise RouteError(
            f"{what} prefix {prefix!r} must be a static path starting with '/' (e.g. '/api')"
        )
    return prefix.rstrip("/")


def _check_handler(handler: Callable[..., Any], parts: list[Part], rule: str) -> None:
    if not callable(handler):
        raise RouteError(f"the handler for {rule!r} must be callable, not {handler!r}")
    try:
        signature = inspect.signature(handler)
    except (TypeError, ValueError):
        return  # builtins and C callables: nothing to check
    params = list(signature.parameters.values())
    if not params or params[0].kind not in (
        inspect.Parameter.POSITIONAL_ONLY,
        inspect.Parameter.POSITIONAL_OR_KEYWORD,
        inspect.Parameter.VAR_POSITIONAL,
    ):
        raise RouteError(
            f"handler {_describe(handler)} for {rule!r} must take the connection as its first "
            "argument: async def handler(conn, ...)"
        )
    rest = {p.name: p for p in params[1:]}
    has_var_kw = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params)
    rule_names = [p.name for p in parts if isinstance(p, Param)]
    for name in rule_names:
        if name not in rest and not has_var_kw:
            hint = did_you_mean(name, rest)
            raise RouteError(
                f"rule {rule!r} has parameter {name!r} but handler {_describe(handler)} "
                f"takes no argument {name!r}{hint}"
            )
    for name, param in rest.items():
        if (
            param.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
            and param.default is inspect.Parameter.empty
            and name not in rule_names
        ):
            raise RouteError(
                f"handler {_describe(handler)} needs argument {name!r} but rule {rule!r} has no "
                f"'<{name}>'; add it to the rule or give the argument a default"
            )


def _as_async(handler: Callable[..., Any]) -> Handler:
    if is_async_callable(handler):
        return handler

    # A plain def handler may block (file or database calls); it runs in a worker thread.
    @functools.wraps(handler)
    async def run_in_thread(*args: Any, **kwargs: Any) -> Any:
        return await asyncio.to_thread(handler, *args, **kwargs)

    return run_in_thread


# ---------------------------------------------------------------------------- the router
class Router:
    """A set of routes, included routers and mounts.

    ``@router.route("/hello/<name>")`` registers GET (and HEAD); ``get``/``post``/... are
    shorthands; ``websocket`` registers a WebSocket route. Decorators return the function, so
    one handler can be stacked under several rules.
    """

    def __init__(
        self,
        *,
        converters: Mapping[str, Converter] | None = None,
        redirect_slashes: bool = True,
    ) -> None:
        self.converters: dict[str, Converter] = dict(DEFAULT_CONVERTERS)
        for name, converter in (converters or {}).items():
            self.add_converter(name, converter)
        self.redirect_slashes = redirect_slashes
        self._routes: list[Route] = []
        self._mounts: list[Mount] = []
        self._includes: list[tuple[Router, str]] = []
        self._compiled: _Compiled | None = None
        self._parents: list[Router] = []  # routers that include this one
        # Own routes only, kept incrementally so a duplicate fails at registration.
        self._registry = (_Table(), _Table())
        self._names: dict[str, Route] = {}

    # -- registration ----------------------------------------------------------
    def add_converter(self, name: str, converter: Converter) -> None:
        if not name.isidentifier():
            raise RouteError(f"converter name {name!r} must be an identifier")
        if isinstance(converter, type):
            raise RouteError(
                f"register a converter instance, not the class: add_converter({name!r}, "
                f"{converter.__name__}())"
            )
        if not callable(getattr(converter, "to_python", None)) or not callable(
            getattr(converter, "to_url", None)
        ):
            raise RouteError(f"converter {name!r} needs to_python() and to_url() methods")
        self.converters[name] = converter

    def add_route(
        self,
        rule: str,
        handler: Callable[..., Any],
        methods: Iterable[str] | None = None,
        name: str | None = None,
        *,
        limits: Limits | None = None,
        websocket: bool = False,
    ) -> Route:
        parts = parse_rule(rule, self.converters)
        _check_handler(handler, parts, rule)
        if websocket:
            if methods is not None:
                raise RouteError(f"WebSocket route {rule!r} takes no methods")
            if not is_async_callable(handler):
                raise RouteError(
                    f"WebSocket handler {_describe(handler)} must be 'async def': it awaits "
                    "the socket (conn.accept(), conn.receive_text(), ...)"
                )
            method_set: frozenset[str] = frozenset()
        else:
            method_set = self._methods(rule, methods)
        route_name = name if name is not None else getattr(handler, "__name__", rule)
        existing = self._names.get(route_name)
        if existing is not None and existing.endpoint is not handler:
            raise RouteError(
                f"route name {route_name!r} is already used by {existing.rule!r} "
                f"({_describe(existing.endpoint)}); pass name=... to tell them apart"
            )
        route = Route(
            rule=rule,
            handler=_as_async(handler),
            methods=method_set,
            name=route_name,
            parts=parts,
            websocket=websocket,
            limits=limits,
            endpoint=handler,
        )
        # Fail now (at registration) on a duplicate rule+method rather than at first request.
        self._registry[websocket].add(route, _keys(route))
        self._names.setdefault(route_name, route)
        self._routes.append(route)
        self._invalidate()
        return route

    @staticmethod
    def _methods(rule: str, methods: Iterable[str] | None) -> frozenset[str]:
        if isinstance(methods, str):
            raise RouteError(f"methods for {rule!r} must be a list such as ['POST'], not a string")
        result = {m.upper() for m in (methods or ("GET",))}
        for method in result:
            if not is_token(method):
                raise RouteError(f"{method!r} is not a valid HTTP method name")
        if "GET" in result:
            result.add("HEAD")
        return frozenset(result)

    def route(
        self,
        rule: str,
        methods: Iterable[str] | None = None,
        name: str | None = None,
        *,
        limits: Limits | None = None,
    ) -> Callable[[H], H]:
        def decorator(handler: H) -> H:
            self.add_route(rule, handler, methods, name, limits=limits)
            return handler

        return decorator

    def get(
        self, rule: str, name: str | None = None, *, limits: Limits | None = None
    ) -> Callable[[H], H]:
        return self.route(rule, ["GET"], name, limits=limits)

    def post(
        self, rule: str, name: str | None = None, *, limits: Limits | None = None
    ) -> Callable[[H], H]:
        return self.route(rule, ["POST"], name, limits=limits)

    def put(
        self, rule: str, name: str | None = None, *, limits: Limits | None = None
    ) -> Callable[[H], H]:
        return self.route(rule, ["PUT"], name, limits=limits)

    def patch(
        self, rule: str, name: str | None = None, *, limits: Limits | None = None
    ) -> Callable[[H], H]:
        return self.route(rule, ["PATCH"], name, limits=limits)

    def delete(
        self, rule: str, name: str | None = None, *, limits: Limits | None = None
    ) -> Callable[[H], H]:
        return self.route(rule, ["DELETE"], name, limits=limits)

    def websocket(
        self, rule: str, name: str | None = None, *, limits: Limits | None = None
    ) -> Callable[[H], H]:
        def decorator(handler: H) -> H:
            self.add_route(rule, handler, None, name, limits=limits, websocket=True)
            return handler

        return decorator

    def include(self, other: Router, prefix: str = "") -> None:
        """Serve ``other``'s routes (and mounts) under ``prefix``; later additions included."""
        if other is self:
            raise RouteError("a router cannot include itself")
        if other._includes_router(self):
            raise RouteError("routers include each other in a cycle; include each one once")
        clean = _check_prefix(prefix, "include")
        self._includes.append((other, clean))
        other._parents.append(self)
        self._invalidate()
        try:
            self.compile()  # fail now on duplicate names or rules
        except RouteError:
            self._includes.pop()
            other._parents.remove(self)
            self._invalidate()
            raise

    def mount(self, prefix: str, app: ASGIApp, name: str | None = None) -> None:
        """Hand every request under ``prefix`` to ``app`` (``root_path`` gets the prefix)."""
        clean = _check_prefix(prefix, "mount")
        if not clean:
            raise RouteError(
                "a mount needs a prefix such as '/static'; use a second router "
                "in aaf([...]) for a fallback app"
            )
        if not callable(app):
            raise RouteError(f"mount {prefix!r}: {app!r} is not an ASGI application")
        self._mounts.append(Mount(clean, app, name))
        self._invalidate()

    def _includes_router(self, router: Router) -> bool:
        return any(sub is router or sub._includes_router(router) for sub, _ in self._includes)

    def _invalidate(self) -> None:
        """Drop compiled tables here and in every router that includes this one."""
        self._compiled = None
        for parent in self._parents:
            parent._invalidate()

    # -- compiled view -----------------------------------------------------------
    def compile(self) -> _Compiled:
        if self._compiled is None:
            self._compiled = _Compiled(self._flatten(""))
        return self._compiled

    def _flatten(self, prefix: str) -> tuple[list[Route], list[Mount]]:
        prefix_parts: list[Part] = parse_rule(prefix, {}) if prefix else []
        routes = [
            _prefixed(route, prefix, prefix_parts) if prefix else route for route in self._routes
        ]
        mounts = [Mount(prefix + m.prefix, m.app, m.name) for m in self._mounts]
        for other, sub_prefix in self._includes:
            sub_routes, sub_mounts = other._flatten(prefix + sub_prefix)
            routes += sub_routes
            mounts += sub_mounts
        return routes, mounts

    @property
    def routes(self) -> list[Route]:
        """Every route, included ones with their prefixed rules, in registration order."""
        return list(self.compile().routes)

    @property
    def mounts(self) -> list[Mount]:
        return list(self.compile().mounts)

    def match(self, method: str, path: str) -> Match | NoMatch:
        """The pure matcher: what answers ``method path`` (HTTP)."""
        found = self.compile().http.find(method, path)
        if found is not None:
            return Match(found[0], dict(zip(found[0].param_names, found[1], strict=True)))
        return self.compile().explain_miss(method, path, self.redirect_slashes)

    def match_websocket(self, path: str) -> Match | NoMatch:
        compiled = self.compile()
        found = compiled.ws.find("", path)
        if found is not None:
            return Match(found[0], dict(zip(found[0].param_names, found[1], strict=True)))
        mount = compiled.find_mount(path)
        return NoMatch(mount=mount)

    def url_for(self, name: str, /, **params: Any) -> str:
        return self.compile().url_for(name, params)


def _keys(route: Route) -> Iterable[str]:
    return ("",) if route.websocket else route.methods


def _prefixed(route: Route, prefix: str, prefix_parts: list[Part]) -> Route:
    return Route(
        rule=prefix + route.rule,
        handler=route.handler,
        methods=route.methods,
        name=route.name,
        parts=[*prefix_parts, *route.parts],
        websocket=route.websocket,
        limits=route.limits,
        endpoint=route.endpoint,
    )


class _Compiled:
    """Lookup tables for a router and everything it includes."""

    __slots__ = ("http", "mounts", "names", "routes", "ws")

    def __init__(self, flat: tuple[list[Route], list[Mount]]) -> None:
        self.routes, mounts = flat
        self.http = _Table()
        self.ws = _Table()
        self.names: dict[str, list[Route]] = {}
        for route in self.routes:
            (self.ws if route.websocket else self.http).add(route, _keys(route))
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
