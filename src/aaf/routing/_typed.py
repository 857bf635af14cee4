"""The runtime of typed handlers: a :class:`HandlerSpec` compiled once into ``async (conn,
**path_params)`` that fills the handler's typed arguments and calls it.

Query, header and cookie values are read straight from the raw scope (only the sources the
spec uses) into one dict and converted by ONE ``msgspec.convert`` into a Struct built here at
registration (``msgspec.defstruct``): that one call checks types and ``Meta`` constraints of
every parameter. Only when it fails does a slower pass convert field by field, so that every
failing field is reported (problem details, ``aaf.problems``). The JSON body is decoded by a
``msgspec.json.Decoder`` of the body's type, read through the connection so body limits
(413) apply as for ``conn.body()``.
"""

from __future__ import annotations

import collections.abc
import copy
import functools
import types
import typing
from collections.abc import Callable, Mapping
from typing import Annotated, Any, Union
from urllib.parse import unquote_plus

import msgspec

from .._request_body import is_json_media_type
from ..connection import Connection
from ..problems import FieldError, Problem, ProblemError
from ._rules import Handler, RouteError, describe
from ._spec import BodySpec, FieldSpec, HandlerSpec

__all__ = ["MissingStateError", "compile_typed", "json_pointer"]

# Values of these types are several query keys (``?tag=a&tag=b``) or header lines.
_SEQUENCES = (
    list,
    tuple,
    set,
    frozenset,
    collections.abc.Sequence,
    collections.abc.Set,
    collections.abc.Collection,
    collections.abc.Iterable,
)


class MissingStateError(LookupError):
    """A ``FromState`` argument names a key the lifespan state does not have (a server bug)."""


def compile_typed(
    target: Callable[..., Any], spec: HandlerSpec, rule: str, *, websocket: bool
) -> Handler:
    """``target`` is awaited as ``target(conn, **kwargs)`` when ``spec.takes_connection``,
    else as ``target(**kwargs)``; the returned handler is awaited as ``h(conn, **path)``."""
    if websocket and spec.body is not None:
        raise RouteError(
            f"WebSocket handler {describe(target)} for {rule!r} cannot take "
            f"Body[...] ({spec.body.name!r}); describe messages with receives=... and read "
            "them with conn.receive_json()"
        )
    params = _Params.build(spec.fields, target) if _converted(spec.fields) else None
    state = tuple(f for f in spec.fields if f.source == "state")
    body = _Body(spec.body) if spec.body is not None else None
    takes_connection = spec.takes_connection
    where = describe(target)

    async def call(conn: Connection, /, **kwargs: Any) -> Any:
        if params is not None:
            kwargs.update(params.read(conn, kwargs))
        if state:
            _read_state(conn, state, kwargs, where)
        if body is not None:
            kwargs[body.name] = await body.read(conn)
        if takes_connection:
            return await target(conn, **kwargs)
        return await target(**kwargs)

    functools.update_wrapper(call, target)
    return call


def _converted(fields: tuple[FieldSpec, ...]) -> bool:
    return any(_needs_conversion(f) for f in fields)


def _needs_conversion(field: FieldSpec) -> bool:
    """Query, header and cookie values are text to convert; path values come converted, and
    are checked again only for their constraints (``Annotated[int, Meta(ge=1)]``)."""
    if field.source == "path":
        return typing.get_origin(field.annotation) is Annotated
    return field.source in ("query", "header", "cookie")


class _Params:
    """Reads and converts every query, header, cookie and constrained path argument."""

    __slots__ = ("cookies", "fields", "headers", "path", "query", "struct")

    def __init__(
        self,
        fields: tuple[FieldSpec, ...],
        struct: type[msgspec.Struct],
    ) -> None:
        self.fields = fields
        self.struct = struct
        # wire name -> (argument name, takes several values)
        self.query = {f.wire: (f.name, _is_sequence(f.annotation)) for f in _of(fields, "query")}
        self.headers = {
            f.wire.encode("latin-1"): (f.name, _is_sequence(f.annotation))
            for f in _of(fields, "header")
        }
        self.cookies = tuple((f.wire, f.name) for f in _of(fields, "cookie"))
        self.path = tuple(f.name for f in _of(fields, "path"))

    @classmethod
    def build(cls, all_fields: tuple[FieldSpec, ...], target: Callable[..., Any]) -> _Params:
        fields = tuple(f for f in all_fields if _needs_conversion(f))
        definitions: list[tuple[str, Any] | tuple[str, Any, Any]] = []
        for field in fields:
            if field.required:
                definitions.append((field.name, field.annotation))
            else:
                definitions.append((field.name, field.annotation, _default(field.default)))
        name = getattr(target, "__name__", "handler")
        # kw_only: required and optional fields may come in any order.
        struct = msgspec.defstruct(f"{name}_parameters", definitions, kw_only=True)
        return cls(fields, struct)

    def read(self, conn: Connection, path: Mapping[str, Any]) -> dict[str, Any]:
        raw: dict[str, Any] = {}
        scope = conn.scope
        if self.query:
            query_string: bytes = scope.get("query_string", b"")
            if query_string:
                self._read_query(query_string, raw)
        if self.headers:
            self._read_headers(scope["headers"], raw)
        if self.cookies:
            cookies = conn.req_cookies
            for wire, name in self.cookies:
                if wire in cookies:
                    raw[name] = cookies[wire]
        for name in self.path:
            raw[name] = path[name]
        try:
            # PERF: one convert for all parameters (types, Meta constraints, defaults).
            values = msgspec.convert(raw, self.struct, strict=False)
        except msgspec.ValidationError as exc:
            raise self._problem(conn, raw, exc) from None
        return msgspec.structs.asdict(values)

    def _read_query(self, query_string: bytes, raw: dict[str, Any]) -> None:
        """As ``conn.query`` reads it (only ``&`` separates pairs; the last scalar wins)."""
        wanted = self.query
        for pair in query_string.decode("latin-1").split("&"):
            key, _, value = pair.partition("=")
            if "%" in key or "+" in key:
                key = unquote_plus(key)
            target = wanted.get(key)
            if target is None:
                continue
            if "%" in value or "+" in value:
                value = unquote_plus(value)
            name, many = target
            if many:
                raw.setdefault(name, []).append(value)
            else:
                raw[name] = value

    def _read_headers(self, headers: list[tuple[bytes, bytes]], raw: dict[str, Any]) -> None:
        """Repeated header lines combine with ", " (RFC 9110 5.3); a list takes each item."""
        wanted = self.headers
        for key, value in headers:
            target = wanted.get(key)
            if target is None:
                continue
            name, many = target
            text = value.decode("latin-1")
            if many:
                items = raw.setdefault(name, [])
                items.extend(item.strip() for item in text.split(",") if item.strip())
            elif name in raw:
                raw[name] += ", " + text
            else:
                raw[name] = text

    def _problem(
        self, conn: Connection, raw: Mapping[str, Any], exc: msgspec.ValidationError
    ) -> ProblemError:
        """The error path: convert field by field to name every failing one."""
        errors: list[FieldError] = []
        for field in self.fields:
            source = field.source
            if source == "state" or source == "body":  # never converted here
                continue
            if field.name not in raw:
                if field.required:
                    errors.append(
                        FieldError(source, f"missing required {source} parameter", name=field.wire)
                    )
                continue
            try:
                msgspec.convert(raw[field.name], field.annotation, strict=False)
            except msgspec.ValidationError as field_exc:
                errors.append(FieldError(source, str(field_exc), name=field.wire))
        if not errors:  # cannot happen unless a type converts alone but not in the Struct
            errors.append(FieldError("query", str(exc)))
        status: int = getattr(conn.app, "parameter_error_status", 400)
        count = (
            "1 request parameter is"
            if len(errors) == 1
            else f"{len(errors)} request parameters are"
        )
        return ProblemError(Problem.for_status(status, f"{count} invalid", errors))


def _of(fields: tuple[FieldSpec, ...], source: str) -> list[FieldSpec]:
    return [f for f in fields if f.source == source]


def _default(value: Any) -> Any:
    """msgspec takes only empty mutable defaults; others are copied for each request."""
    if isinstance(value, list | dict | set | bytearray) and value:
        return msgspec.field(default_factory=functools.partial(copy.copy, value))
    return value


def _is_sequence(annotation: Any) -> bool:
    if typing.get_origin(annotation) is Annotated:
        return _is_sequence(annotation.__origin__)
    origin = typing.get_origin(annotation)
    if origin is Union or origin is types.UnionType:
        return any(_is_sequence(arg) for arg in typing.get_args(annotation))
    return (origin or annotation) in _SEQUENCES


def _read_state(
    conn: Connection, fields: tuple[FieldSpec, ...], kwargs: dict[str, Any], where: str
) -> None:
    state = conn.state
    for field in fields:
        try:
            kwargs[field.name] = state[field.wire]
        except KeyError:
            if not field.required:
                kwargs[field.name] = field.default
                continue
            raise MissingStateError(
                f"handler {where} takes FromState argument {field.name!r} but the lifespan "
                f"state has no key {field.wire!r}; provide it at startup (yield "
                f"{{{field.wire!r}: ...}} from the lifespan, or set app.state[{field.wire!r}]) "
                "or give the argument a default"
            ) from None


class _Body:
    """Reads the JSON body into the body argument's type."""

    __slots__ = ("decoder", "default", "name", "required")

    def __init__(self, spec: BodySpec) -> None:
        self.name = spec.name
        self.required = spec.required
        self.default = spec.default
        self.decoder = msgspec.json.Decoder(spec.annotation)

    async def read(self, conn: Connection) -> Any:
        raw_type = conn._first_header(b"content-type")
        # APPSEC: only a JSON content type is read as JSON (a missing one too is a 415): a
        # cross-site form or a typeless fetch body cannot post JSON without a CORS preflight.
        if raw_type is not None and not is_json_media_type(raw_type.decode("latin-1")):
            raise _body_problem(415, "Content-Type must be application/json")
        body = await conn.body()
        if not body:
            if not self.required:
                return self.default
            raise _body_problem(422, "a JSON request body is required", pointer="")
        if raw_type is None:
            raise _body_problem(415, "Content-Type must be application/json (it is missing)")
        try:
            return self.decoder.decode(body)
        except msgspec.ValidationError as exc:
            detail, pointer = json_pointer(str(exc))
            raise _body_problem(422, detail, pointer=pointer) from None
        except (msgspec.DecodeError, RecursionError, UnicodeDecodeError) as exc:
            # RecursionError: nested deeper than the decoder allows; UnicodeDecodeError:
            # invalid UTF-8 inside a string (msgspec 0.18 to 0.22): malformed all the same.
            raise _body_problem(400, f"malformed JSON: {exc}") from None


def _body_problem(status: int, detail: str, pointer: str | None = None) -> ProblemError:
    error = FieldError("body", detail, pointer=pointer)
    return ProblemError(Problem.for_status(status, detail, [error]))


_MISSING_FIELD = "Object missing required field `"


def json_pointer(message: str) -> tuple[str, str]:
    """``"Expected `int`, got `str` - at `$.a[0].b`"`` -> ``("Expected `int`, got `str`",
    "/a/0/b")``. A dict key (``[...]`` in msgspec's path) ends the pointer at the dict; a
    missing field's pointer names the field."""
    detail, sep, path = message.rpartition(" - at `")
    # PERF: plain string operations (not a regex walk): this runs for every invalid body.
    steps = path[1:-1] if sep else ""  # what follows "$", before the closing backquote
    if not sep:
        detail = message
    cut = steps.find("[...]")
    if cut >= 0:
        steps = steps[:cut]  # a key of a dict, not named by msgspec: the pointer ends there
    tokens = steps.replace("]", "").replace("[", ".").split(".")[1:] if steps else []
    if detail.startswith(_MISSING_FIELD) and detail.endswith("`"):
        tokens.append(detail[len(_MISSING_FIELD) : -1])
    return detail, "".join("/" + t.replace("~", "~0").replace("/", "~1") for t in tokens)
