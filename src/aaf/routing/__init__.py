"""Routing: Flask-style rules, converters, blueprints (include), mounts and a pure matcher.

The package is layered, each module importing only the ones before it: ``converters`` (what a
``<converter:name>`` accepts), ``_rules`` (parsing rules; Route, Mount, Match, NoMatch),
``_matcher`` (the compiled lookup tables), ``_handlers`` (checking and adapting handlers) and
this module (the Router that registers routes and serves them).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Any, TypeVar, Unpack

from .._callables import connection_decorator, is_async_callable, required_scopes
from .._http import is_token
from ._decorators import RouteDecorators
from ._handlers import adapt_handler
from ._matcher import Compiled, Table, route_keys
from ._rules import (
    Match,
    Mount,
    NoMatch,
    Param,
    Part,
    Route,
    RouteError,
    describe,
    did_you_mean,
    parse_rule,
)
from ._signature import route_doc
from ._spec import RouteOptions
from .converters import (
    DEFAULT_CONVERTERS,
    Converter,
    FloatConverter,
    IntConverter,
    PathConverter,
    StrConverter,
    UUIDConverter,
)

if TYPE_CHECKING:
    from .._types import ASGIApp
    from ..connection import Connection
    from ..limits import Limits

__all__ = [
    "DEFAULT_CONVERTERS",
    "Converter",
    "FloatConverter",
    "IntConverter",
    "Match",
    "Mount",
    "NoMatch",
    "Param",
    "PathConverter",
    "Route",
    "RouteError",
    "Router",
    "StrConverter",
    "UUIDConverter",
    "connection_decorator",
    "did_you_mean",
    "parse_rule",
]

H = TypeVar("H", bound=Callable[..., Any])


class Router(RouteDecorators):
    """A set of routes, included routers and mounts.

    ``@router.route("/hello/<name>")`` registers GET (and HEAD); ``get``/``post``/... are
    shorthands; ``websocket`` registers a WebSocket route. Decorators return the function, so
    one handler can be stacked under several rules. ``await router(conn)`` serves a connection
    inside any ASGI app. ``tags=["tasks"]`` are given to every route registered here (for the
    API documents), before the route's own.
    """

    def __init__(
        self,
        *,
        converters: Mapping[str, Converter] | None = None,
        redirect_slashes: bool = True,
        decorators: Iterable[Callable[[Any], Any]] = (),
        tags: Iterable[str] = (),
    ) -> None:
        self.tags = _tag_tuple(tags, "Router")
        self.converters: dict[str, Converter] = dict(DEFAULT_CONVERTERS)
        # Applied to every handler registered here (the first listed is the outermost): what a
        # whole router shares, e.g. [requires("admin"), rate_limit("100/minute", name="api")].
        self.decorators = list(decorators)
        for name, converter in (converters or {}).items():
            self.add_converter(name, converter)
        self.redirect_slashes = redirect_slashes
        self._routes: list[Route] = []
        self._mounts: list[Mount] = []
        # router, prefix, name, tags
        self._includes: list[tuple[Router, str, str | None, tuple[str, ...]]] = []
        self._compiled: Compiled | None = None
        self._parents: list[Router] = []  # routers that include this one
        # Own routes only, kept incrementally so a duplicate fails at registration.
        self._registry = (Table(), Table())
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
        name: str | None = None,
        methods: Iterable[str] | None = None,
        *,
        limits: Limits | None = None,
        websocket: bool = False,
        **options: Unpack[RouteOptions],
    ) -> Route:
        """Serve ``rule`` with ``handler`` for ``methods`` (default GET, which answers HEAD too).

        The handler takes the connection first (``async def h(conn, id)``) or, when its first
        parameter is not the connection, only the rule's parameters (``async def h(id)``).
        """
        if name is not None and not isinstance(name, str):
            # The argument order was (rule, handler, methods, name) before.
            example = sorted(name) if isinstance(name, list | tuple | set | frozenset) else ["POST"]
            raise TypeError(
                f"add_route({rule!r}, ...): name must be a string, not {name!r}; the order is "
                f"add_route(rule, handler, name, methods), so pass the methods by keyword: "
                f"add_route({rule!r}, handler, methods={example!r})"
            )
        parts = parse_rule(rule, self.converters)
        if websocket:
            if methods is not None:
                raise RouteError(f"WebSocket route {rule!r} takes no methods")
            if callable(handler) and not is_async_callable(handler):
                raise RouteError(
                    f"WebSocket handler {describe(handler)} must be 'async def': it awaits "
                    "the socket (conn.accept(), conn.receive_text(), ...)"
                )
            method_set: frozenset[str] = frozenset()
            implicit_head = False
        else:
            method_set, implicit_head = _methods(rule, methods)
        served = handler
        for decorate in reversed(self.decorators):
            served = decorate(served)
        doc = route_doc(options, rule, websocket=websocket)
        if self.tags:
            doc = replace(doc, tags=_merged_tags(self.tags, doc.tags))
        scopes = required_scopes(served)  # requires() on the handler or in self.decorators
        if scopes is not None:
            doc = replace(doc, required_scopes=scopes)
        adapted, spec = adapt_handler(served, parts, rule, websocket=websocket, doc=doc)
        route_name = name if name is not None else getattr(handler, "__name__", rule)
        existing = self._names.get(route_name)
        if existing is not None and existing.endpoint is not handler:
            raise RouteError(
                f"route name {route_name!r} is already used by {existing.rule!r} "
                f"({describe(existing.endpoint)}); pass name=... to tell them apart"
            )
        route = Route(
            rule=rule,
            handler=adapted,
            methods=method_set,
            name=route_name,
            parts=parts,
            websocket=websocket,
            limits=limits,
            endpoint=handler,
            implicit_head=implicit_head,
            spec=spec,
            doc=doc,
        )
        # Fail now (at registration) on a duplicate rule+method rather than at first request.
        self._registry[websocket].add(route, route_keys(route))
        self._names.setdefault(route_name, route)
        self._routes.append(route)
        self._invalidate()
        return route

    def include(
        self,
        other: Router,
        prefix: str = "",
        *,
        name: str | None = None,
        tags: Iterable[str] = (),
    ) -> None:
        """Serve ``other``'s routes (and mounts) under ``prefix``; later additions included.

        With ``name="users"`` the included routes are named ``"users.<name>"`` (for url_for),
        so two included routers may both have an ``index`` route. ``tags`` are put before the
        tags of every included route (for the API documents).
        """
        if other is self:
            raise RouteError("a router cannot include itself")
        if other._includes_router(self):
            raise RouteError("routers include each other in a cycle; include each one once")
        if name is not None and (not isinstance(name, str) or not name):
            raise RouteError(
                f"include name must be a non-empty string such as 'users', not {name!r}"
            )
        clean = _check_prefix(prefix, "include")
        self._includes.append((other, clean, name, _tag_tuple(tags, "include")))
        other._parents.append(self)
        self._invalidate()
        try:
            self.compile()  # fail now on duplicate names or rules
        except RouteError:
            self._includes.pop()
            other._parents.remove(self)
            self._invalidate()
            raise

    def mount(
        self, prefix: str, app: ASGIApp, name: str | None = None, *, lifespan: bool = True
    ) -> None:
        """Hand every request under ``prefix`` to ``app`` (``root_path`` gets the prefix).

        ``lifespan=False``: aaf does not forward lifespan events (startup/shutdown) to ``app``.
        """
        clean = _check_prefix(prefix, "mount")
        if not clean:
            raise RouteError(
                "a mount needs a prefix such as '/static'; use a second router "
                "in aaf([...]) for a fallback app"
            )
        if not callable(app):
            raise RouteError(f"mount {prefix!r}: {app!r} is not an ASGI application")
        self._mounts.append(Mount(clean, app, name, lifespan))
        self._invalidate()

    def _includes_router(self, router: Router) -> bool:
        return any(sub is router or sub._includes_router(router) for sub, *_ in self._includes)

    def _invalidate(self) -> None:
        """Drop compiled tables here and in every router that includes this one."""
        self._compiled = None
        for parent in self._parents:
            parent._invalidate()

    # -- compiled view -----------------------------------------------------------
    def compile(self) -> Compiled:
        if self._compiled is None:
            self._compiled = Compiled(self._flatten("", "", ()))
        return self._compiled

    def _flatten(
        self, prefix: str, namespace: str, tags: tuple[str, ...]
    ) -> tuple[list[Route], list[Mount]]:
        """Every route and mount, with ``prefix`` before rules, ``namespace`` before names and
        ``tags`` (from ``include(..., tags=)``) before tags."""
        prefix_parts: list[Part] = parse_rule(prefix, {}) if prefix else []
        routes = [
            _prefixed(route, prefix, prefix_parts, namespace, tags)
            if prefix or namespace or tags
            else route
            for route in self._routes
        ]
        mounts = [
            Mount(prefix + m.prefix, m.app, _named(namespace, m.name), m.lifespan)
            for m in self._mounts
        ]
        for other, sub_prefix, sub_name, sub_tags in self._includes:
            sub_namespace = namespace + sub_name + "." if sub_name is not None else namespace
            sub_routes, sub_mounts = other._flatten(
                prefix + sub_prefix, sub_namespace, _merged_tags(tags, sub_tags)
            )
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

    # -- serving -----------------------------------------------------------------
    async def __call__(self, conn: Connection) -> bool:
        """Serve ``conn`` if a route matches it, inside any ASGI app; False if none does.

        Matches ``conn.method`` and ``conn.route_path`` (WebSocket connections against the
        WebSocket routes), sets ``conn.route`` and ``conn.path_params``, awaits the handler and
        sends what it returned with ``conn.respond``. Without a match nothing is sent, so the
        caller can try something else. Handler exceptions propagate.
        """
        compiled = self._compiled or self.compile()
        websocket = conn.scope["type"] == "websocket"
        table = compiled.ws if websocket else compiled.http
        found = table.find("" if websocket else conn.method, conn.route_path)
        if found is None:
            return False
        route, values = found
        conn.route = route
        params = dict(zip(route.param_names, values, strict=True))
        conn.path_params = params
        if websocket:
            # As the app does: the route's limits, and the one rule for what a return means.
            conn._begin_websocket(conn.limits.websocket_message)
            await conn._end_handler(await route.handler(conn, **params))
        else:
            await conn.respond(await route.handler(conn, **params))
        return True


def _methods(rule: str, methods: Iterable[str] | None) -> tuple[frozenset[str], bool]:
    """The method set, and whether HEAD is in it only because GET is (an implicit HEAD)."""
    if isinstance(methods, str):
        raise RouteError(f"methods for {rule!r} must be a list such as ['POST'], not a string")
    result = {m.upper() for m in (methods or ("GET",))}
    for method in result:
        if not is_token(method):
            raise RouteError(f"{method!r} is not a valid HTTP method name")
    implicit_head = "GET" in result and "HEAD" not in result
    if implicit_head:
        result.add("HEAD")
    return frozenset(result), implicit_head


def _named(namespace: str, name: str | None) -> str | None:
    return namespace + name if namespace and name is not None else name


def _tag_tuple(tags: Iterable[str], where: str) -> tuple[str, ...]:
    given = (tags,) if isinstance(tags, str) else tuple(tags)
    if isinstance(tags, str) or not all(isinstance(tag, str) and tag for tag in given):
        raise RouteError(f"{where} tags must be a list of names such as ['tasks'], not {tags!r}")
    return given


def _merged_tags(outer: tuple[str, ...], inner: tuple[str, ...]) -> tuple[str, ...]:
    """``outer`` then ``inner``, each tag once."""
    return tuple(dict.fromkeys((*outer, *inner)))


def _prefixed(
    route: Route, prefix: str, prefix_parts: list[Part], namespace: str, tags: tuple[str, ...]
) -> Route:
    return Route(
        rule=prefix + route.rule,
        handler=route.handler,
        methods=route.methods,
        name=namespace + route.name,
        parts=[*prefix_parts, *route.parts],
        websocket=route.websocket,
        limits=route.limits,
        endpoint=route.endpoint,
        implicit_head=route.implicit_head,
        spec=route.spec,
        doc=replace(route.doc, tags=_merged_tags(tags, route.doc.tags)) if tags else route.doc,
    )


def _check_prefix(prefix: str, what: str) -> str:
    if prefix in ("", "/"):
        return ""
    if not prefix.startswith("/") or "<" in prefix or "//" in prefix:
        raise RouteError(
            f"{what} prefix {prefix!r} must be a static path starting with '/' (e.g. '/api')"
        )
    return prefix.rstrip("/")
