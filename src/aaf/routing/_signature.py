"""What a typed handler's signature asks for, read once at registration.

``build_spec`` turns ``async def h(conn, task_id: int, body: Body[TaskIn], page: Query[int] = 1)``
into a :class:`HandlerSpec`: one :class:`FieldSpec` per path, query, header, cookie and state
parameter, a :class:`BodySpec`, and the return annotation. The runtime that fills the
arguments and the OpenAPI/AsyncAPI builders read the same spec, so what is validated and what
is documented cannot drift. :class:`RouteDoc` carries what the decorator adds
(``status_code=``, ``responses=``, ``tags=`` ...).
"""

from __future__ import annotations

import inspect
import re
import types
import typing
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Annotated, Any, Union

from ..params import SourceMarker
from ._rules import Param, RouteError, describe
from ._spec import EMPTY, NO_DOC, BodySpec, FieldSpec, HandlerSpec, RouteDoc, RouteOptions
from .converters import FloatConverter, IntConverter, PathConverter, StrConverter, UUIDConverter

__all__ = ["build_spec", "has_marker", "route_doc", "type_hints"]


def route_doc(options: RouteOptions, rule: str, *, websocket: bool) -> RouteDoc:
    """Check the decorator's options and freeze them into a :class:`RouteDoc`."""
    if not options:
        return NO_DOC
    if not websocket and ("receives" in options or "sends" in options):
        raise RouteError(
            f"receives=/sends= describe WebSocket messages; {rule!r} is an HTTP route "
            "(annotate Body[...] and the return type instead)"
        )
    if websocket and ("status_code" in options or "responses" in options):
        raise RouteError(f"WebSocket route {rule!r} takes no status_code=/responses=")
    status = options.get("status_code")
    if status is not None and (not isinstance(status, int) or not 100 <= status <= 599):
        raise RouteError(f"status_code for {rule!r} must be an int from 100 to 599, not {status!r}")
    tags = options.get("tags", ())
    if isinstance(tags, str):
        raise RouteError(f"tags for {rule!r} must be a list such as ['tasks'], not a string")
    return RouteDoc(
        status_code=status,
        responses=dict(options.get("responses", {})),
        tags=tuple(tags),
        summary=options.get("summary"),
        description=options.get("description"),
        deprecated=options.get("deprecated", False),
        include_in_schema=options.get("include_in_schema", True),
        receives=options.get("receives"),
        sends=options.get("sends"),
    )


# What each built-in converter hands the handler: an annotation on a path parameter must agree.
_CONVERTER_TYPES: dict[type, tuple[type, str]] = {
    StrConverter: (str, "str"),
    PathConverter: (str, "path"),
    IntConverter: (int, "int"),
    FloatConverter: (float, "float"),
    UUIDConverter: (uuid.UUID, "uuid"),
}
_CONVERTER_FOR: dict[type, str] = {int: "int", float: "float", uuid.UUID: "uuid", str: "str"}


def build_spec(
    handler: Callable[..., Any],
    params: Sequence[inspect.Parameter],
    rule_params: Mapping[str, Param],
    rule: str,
    *,
    takes_connection: bool,
    hints: Mapping[str, Any] | None = None,
) -> HandlerSpec | None:
    """The spec of ``handler``'s ``params`` (the connection excluded), or None when untyped.

    A handler is typed when one of its parameters carries a source marker (``Body``, ``Query``,
    ...) or a constraint on a path parameter (``Annotated[int, Meta(ge=1)]``). Path annotations
    are checked against the rule's converters for every handler.
    """
    if hints is None:
        hints = type_hints(handler, rule)
    fields: list[FieldSpec] = []
    body: BodySpec | None = None
    typed = False
    for param in params:
        if param.kind in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD):
            continue
        hint = hints.get(param.name, EMPTY)
        inner, marker, constraints = _split(hint)
        if marker is None:
            rule_param = rule_params.get(param.name)
            if rule_param is None:
                continue  # an unmarked argument with a default: left to its default, as always
            _check_path_annotation(handler, rule, rule_param, inner)
            typed = typed or bool(constraints)
            fields.append(
                FieldSpec(param.name, param.name, "path", _rewrap(inner, constraints), True)
            )
            continue
        typed = True
        if param.name in rule_params:
            raise RouteError(
                f"handler {describe(handler)}: {param.name!r} is a parameter of rule {rule!r}; "
                f"drop the {type(marker).__name__} marker or rename the argument"
            )
        if param.kind is inspect.Parameter.POSITIONAL_ONLY:
            raise RouteError(
                f"handler {describe(handler)}: {param.name!r} is positional-only; typed "
                "arguments are passed by name"
            )
        annotation = _rewrap(inner, constraints)
        optional = param.default is not EMPTY or _allows_none(inner)
        default = param.default if param.default is not EMPTY else (None if optional else EMPTY)
        if marker.source == "body":
            if body is not None:
                raise RouteError(
                    f"handler {describe(handler)} for {rule!r} has two Body arguments "
                    f"({body.name!r} and {param.name!r}); put both in one type"
                )
            body = BodySpec(param.name, annotation, not optional, default)
            continue
        fields.append(
            FieldSpec(
                param.name,
                _wire_name(param.name, marker),
                marker.source,
                annotation,
                not optional,
                default,
            )
        )
    if not typed:
        return None
    return HandlerSpec(tuple(fields), body, hints.get("return", EMPTY), takes_connection)


def has_marker(hint: Any) -> bool:
    """Whether an annotation carries a source marker (``Query[int]``, ``Body[T]`` ...)."""
    return _split(hint)[1] is not None


def type_hints(handler: Callable[..., Any], rule: str) -> dict[str, Any]:
    """The handler's resolved annotations (``Annotated`` extras kept)."""
    target = inspect.unwrap(handler)
    if not (inspect.isfunction(target) or inspect.ismethod(target)):
        target = getattr(target, "__call__", target)  # noqa: B004 - a callable object's method
    try:
        return typing.get_type_hints(target, include_extras=True)
    except NameError:
        # Some annotation names a TYPE_CHECKING-only import (common for `conn: Connection`):
        # resolve the others one by one; only a typed argument must be resolvable.
        return _each_hint(handler, target, rule)
    except TypeError:
        return {}  # builtins and other callables without annotations


_MARKED = re.compile(r"\b(?:Body|Query|Header|Cookie|FromState|[A-Za-z]+Param)\b")


def _each_hint(handler: Callable[..., Any], target: Any, rule: str) -> dict[str, Any]:
    namespace = getattr(target, "__globals__", {})
    hints: dict[str, Any] = {}
    for name, annotation in getattr(target, "__annotations__", {}).items():
        if not isinstance(annotation, str):
            hints[name] = annotation
            continue
        try:
            # The same evaluation get_type_hints does, for one annotation.
            hints[name] = eval(annotation, namespace)  # noqa: S307 - the module's own annotation
        except NameError as exc:
            if _MARKED.search(annotation):
                raise RouteError(
                    f"handler {describe(handler)} for {rule!r}: the annotation of {name!r} "
                    f"names something not importable at module level ({exc}); import it "
                    "outside `if TYPE_CHECKING:`"
                ) from None
    return hints


def _split(hint: Any) -> tuple[Any, SourceMarker | None, tuple[Any, ...]]:
    """``Annotated[T, Meta(...), QueryParam()]`` -> (T, the last marker, other metadata)."""
    if typing.get_origin(hint) is not Annotated:
        return hint, None, ()
    metadata = hint.__metadata__
    markers = [m for m in metadata if isinstance(m, SourceMarker)]
    others = tuple(m for m in metadata if not isinstance(m, SourceMarker))
    return hint.__origin__, (markers[-1] if markers else None), others


def _rewrap(inner: Any, constraints: tuple[Any, ...]) -> Any:
    if inner is EMPTY:
        return Any
    if not constraints:
        return inner
    return Annotated.__class_getitem__((inner, *constraints))  # type: ignore[attr-defined]


def _allows_none(annotation: Any) -> bool:
    if annotation is None or annotation is type(None):
        return True
    origin = typing.get_origin(annotation)
    if origin is Union or origin is types.UnionType:
        return any(_allows_none(a) for a in typing.get_args(annotation))
    if origin is Annotated:
        return _allows_none(annotation.__origin__)
    return False


def _wire_name(name: str, marker: SourceMarker) -> str:
    if marker.name is not None:
        return marker.name.lower() if marker.source == "header" else marker.name
    if marker.source == "header":
        return name.replace("_", "-").lower()
    return name


def _check_path_annotation(
    handler: Callable[..., Any], rule: str, param: Param, annotation: Any
) -> None:
    """``n: int`` on ``<n>`` arrives as a str: refuse it with the converter that fits."""
    known = _CONVERTER_TYPES.get(type(param.converter))
    if known is None or annotation is EMPTY or annotation is Any:
        return  # a custom converter: its type is its own business
    base = annotation.__origin__ if typing.get_origin(annotation) is Annotated else annotation
    if not isinstance(base, type):
        return  # unions, literals, NewType ...: not checked here
    expected, _ = known
    if issubclass(expected, base):
        return
    fitting = _CONVERTER_FOR.get(base)
    fix = (
        f"use '<{fitting}:{param.name}>'"
        if fitting is not None
        else f"annotate it '{expected.__name__}' or register a converter that returns "
        f"{base.__name__}"
    )
    raise RouteError(
        f"handler {describe(handler)}: {param.name!r} is annotated {base.__name__} but "
        f"'<{param.converter_name}:{param.name}>' in {rule!r} gives {expected.__name__} "
        f"values; {fix}"
    )
