"""Where a typed handler's arguments come from: ``Body[T]``, ``Query[T]``, ``Header[T]``,
``Cookie[T]`` and ``FromState[T]``.

Each alias is ``Annotated[T, <marker>]``, so a type checker sees the plain ``T``::

    async def update(task_id: int, patch: Body[TaskPatch], page: Query[int] = 1) -> Task: ...

The wire name defaults to the parameter's name (headers: ``x_trace`` is read from
``x-trace``); give another one with the marker itself::

    size: Annotated[int, QueryParam("page-size")] = 20
    trace: Annotated[str | None, HeaderParam("X-Trace")] = None

``msgspec.Meta`` constraints apply as usual: ``Query[Annotated[int, Meta(ge=1)]]``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, ClassVar, Literal, TypeAlias, TypeVar

__all__ = [
    "Body",
    "BodyParam",
    "Cookie",
    "CookieParam",
    "FromState",
    "Header",
    "HeaderParam",
    "ParamSource",
    "Query",
    "QueryParam",
    "SourceMarker",
    "StateParam",
]

T = TypeVar("T")

#: Where a value is read from; ``path`` comes from the rule's ``<converter:name>``.
ParamSource: TypeAlias = Literal["path", "query", "header", "cookie", "body", "state"]


@dataclass(frozen=True, slots=True)
class SourceMarker:
    """The base of the markers: ``name`` is the wire name (``None``: from the parameter)."""

    name: str | None = None
    source: ClassVar[ParamSource]


@dataclass(frozen=True, slots=True)
class QueryParam(SourceMarker):
    """A query-string field (``list[T]`` takes every repeated key)."""

    source: ClassVar[ParamSource] = "query"


@dataclass(frozen=True, slots=True)
class HeaderParam(SourceMarker):
    """A request header (names are case-insensitive; ``_`` in the parameter name reads ``-``)."""

    source: ClassVar[ParamSource] = "header"


@dataclass(frozen=True, slots=True)
class CookieParam(SourceMarker):
    """A request cookie."""

    source: ClassVar[ParamSource] = "cookie"


@dataclass(frozen=True, slots=True)
class BodyParam(SourceMarker):
    """The request body, decoded from JSON into the annotated type (``name`` is unused)."""

    source: ClassVar[ParamSource] = "body"


@dataclass(frozen=True, slots=True)
class StateParam(SourceMarker):
    """A value of the lifespan state (``conn.state``), by key: the parameter name by default."""

    source: ClassVar[ParamSource] = "state"


Body: TypeAlias = Annotated[T, BodyParam()]
Query: TypeAlias = Annotated[T, QueryParam()]
Header: TypeAlias = Annotated[T, HeaderParam()]
Cookie: TypeAlias = Annotated[T, CookieParam()]
FromState: TypeAlias = Annotated[T, StateParam()]
