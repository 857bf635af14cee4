"""The data a typed route carries: what its handler takes (:class:`HandlerSpec`) and what its
decorator says about it (:class:`RouteDoc`). Built by ``_signature.build_spec`` at registration,
read by the runtime that fills the arguments and by the OpenAPI/AsyncAPI builders.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypedDict

from ..params import ParamSource

__all__ = [
    "EMPTY",
    "NO_DOC",
    "BodySpec",
    "FieldSpec",
    "HandlerSpec",
    "RouteDoc",
    "RouteOptions",
]

EMPTY: Any = inspect.Parameter.empty


@dataclass(frozen=True, slots=True)
class FieldSpec:
    """One argument read from the path, query string, a header, a cookie or the state."""

    name: str  # the handler's parameter name
    wire: str  # the name on the wire: query key, header name (lower case), cookie, state key
    source: ParamSource
    annotation: Any  # what msgspec converts to: markers removed, constraints (Meta) kept
    required: bool
    default: Any = EMPTY


@dataclass(frozen=True, slots=True)
class BodySpec:
    """The argument decoded from the JSON request body."""

    name: str
    annotation: Any
    required: bool
    default: Any = EMPTY
    media_type: str = "application/json"


@dataclass(frozen=True, slots=True)
class HandlerSpec:
    """Everything a typed handler takes, in signature order, and what it returns."""

    fields: tuple[FieldSpec, ...]
    body: BodySpec | None
    returns: Any  # the return annotation, EMPTY when there is none
    takes_connection: bool


class RouteOptions(TypedDict, total=False):
    """Keyword options of the route decorators that describe a route (for the API documents)."""

    status_code: int
    responses: Mapping[int, Any]
    tags: Sequence[str]
    summary: str
    description: str
    deprecated: bool
    include_in_schema: bool
    receives: Any  # WebSocket routes: the type of each message the client sends
    sends: Any  # WebSocket routes: the type of each message the server sends


@dataclass(frozen=True, slots=True)
class RouteDoc:
    """The decorator's description of a route; empty fields mean "from the handler"."""

    status_code: int | None = None
    responses: Mapping[int, Any] = field(default_factory=dict)
    tags: tuple[str, ...] = ()
    summary: str | None = None
    description: str | None = None
    deprecated: bool = False
    include_in_schema: bool = True
    receives: Any = None
    sends: Any = None
    #: The scopes the route's ``requires()`` decorators demand together; None: not guarded
    #: (an empty set: any authenticated user).
    required_scopes: frozenset[str] | None = None


NO_DOC = RouteDoc()
