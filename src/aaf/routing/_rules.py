"""Rules and routes as data: parsing ``/users/<int:id>``; Route, Mount, Match, NoMatch."""

from __future__ import annotations

import difflib
import re
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeAlias
from urllib.parse import quote

from ._spec import NO_DOC, HandlerSpec, RouteDoc
from .converters import Converter

if TYPE_CHECKING:
    from .._types import ASGIApp
    from ..limits import Limits

__all__ = [
    "Handler",
    "Match",
    "Mount",
    "NoMatch",
    "Param",
    "Part",
    "Route",
    "RouteError",
    "describe",
    "did_you_mean",
    "parse_rule",
    "rule_text",
]

Handler: TypeAlias = Callable[..., Awaitable[Any]]


class RouteError(ValueError):
    """A rule, converter, name or handler cannot be registered; the message says how to fix it."""


def did_you_mean(name: str, candidates: Iterable[str]) -> str:
    """``"; did you mean 'x'?"`` for the closest candidate, or ``""``."""
    options = list(candidates)
    close = difflib.get_close_matches(name, options, n=1, cutoff=0.5)
    if not close:
        close = [c for c in options if c.startswith(name) or name.startswith(c)][:1]
    return f"; did you mean {close[0]!r}?" if close else ""


def describe(func: Callable[..., Any] | None) -> str:
    """``module.qualname`` of a handler, for error messages."""
    if func is None:
        return "?"
    return f"{getattr(func, '__module__', '?')}.{getattr(func, '__qualname__', repr(func))}"


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


def rule_text(parts: list[Part]) -> str:
    """The canonical rule for ``parts`` (``<name>`` written ``<str:name>``)."""
    return "/" + "/".join(
        p if isinstance(p, str) else f"<{p.converter_name}:{p.name}>" for p in parts
    )


# ---------------------------------------------------------------------------- routes
@dataclass(eq=False, slots=True)
class Route:
    """One rule bound to a handler. ``handler(conn, **params)`` is awaited for each request.

    ``implicit_head`` marks a GET route whose HEAD was added for it (not asked for): an
    explicit HEAD route on the same rule takes HEAD over from it.
    """

    rule: str
    handler: Handler
    methods: frozenset[str]
    name: str
    parts: list[Part]
    websocket: bool = False
    limits: Limits | None = None
    endpoint: Callable[..., Any] | None = None  # the user's function (handler may wrap it)
    implicit_head: bool = False
    #: What a typed handler takes (None: untyped) and what its decorator documents.
    spec: HandlerSpec | None = None
    doc: RouteDoc = NO_DOC
    param_names: tuple[str, ...] = field(init=False)
    #: How many static segments the rule has: among rules that a spanning parameter lets match
    #: the same path, the one with more static segments wins (as in werkzeug).
    static_count: int = field(init=False)

    def __post_init__(self) -> None:
        self.param_names = tuple(p.name for p in self.parts if isinstance(p, Param))
        self.static_count = len(self.parts) - len(self.param_names)

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
    """A foreign ASGI app answering every path under ``prefix`` (``root_path`` extended).

    ``lifespan=False`` means aaf does not forward lifespan events to ``app``.
    """

    prefix: str
    app: ASGIApp
    name: str | None = None
    lifespan: bool = True


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
