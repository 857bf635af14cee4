"""One route -> OpenAPI Operation Objects (parameters, request body, responses, summary).

Reads what registration already computed (``Route.parts``, ``Route.spec``, ``Route.doc``), so
what is documented is what the runtime validates. Schemas are :class:`TypeSlot` placeholders
until the document makes its one ``schema_components`` call.
"""

from __future__ import annotations

import http
import inspect
import typing
from collections.abc import Mapping
from typing import Annotated, Any

from ._openapi_schemas import SchemaSlots
from .problems import PROBLEM_JSON, Problem
from .response import BaseResponse
from .routing import (
    FloatConverter,
    IntConverter,
    Param,
    PathConverter,
    Route,
    StrConverter,
    UUIDConverter,
)
from .routing._spec import EMPTY, FieldSpec, HandlerSpec
from .sse import EventSourceResponse

__all__ = ["DOCUMENTED_METHODS", "OperationBuilder", "openapi_path"]

#: The methods an OpenAPI Path Item can hold (others are served but not documented).
DOCUMENTED_METHODS = ("GET", "PUT", "POST", "DELETE", "OPTIONS", "HEAD", "PATCH", "TRACE")


def openapi_path(route: Route) -> str:
    """``/tasks/<int:id>`` -> ``/tasks/{id}``."""
    return "/" + "/".join(p if isinstance(p, str) else "{" + p.name + "}" for p in route.parts)


def _converter_schema(param: Param) -> dict[str, Any]:
    """What a path converter accepts, as JSON Schema (so generated clients send valid paths)."""
    converter = param.converter
    if isinstance(converter, IntConverter):
        return {"type": "integer", "minimum": 0}
    if isinstance(converter, FloatConverter):
        return {"type": "number", "minimum": 0}
    if isinstance(converter, UUIDConverter):
        # The pattern too: the converter takes only the canonical 8-4-4-4-12 form.
        return {"type": "string", "format": "uuid", "pattern": f"^{converter.regex}$"}
    if isinstance(converter, PathConverter):
        return {"type": "string", "minLength": 1}
    if isinstance(converter, StrConverter):
        return {"type": "string", "minLength": 1, "pattern": "^[^/]+$"}
    return {"type": "string", "pattern": f"^(?:{converter.regex})$"}


def _summary_and_description(route: Route) -> tuple[str | None, str | None]:
    """The decorator's ``summary=``/``description=``, else the docstring's first line / rest."""
    doc = route.doc
    text = inspect.getdoc(route.endpoint) if route.endpoint is not None else None
    first, _, rest = (text or "").strip().partition("\n")
    summary = doc.summary if doc.summary is not None else (first.strip() or None)
    description = doc.description if doc.description is not None else (rest.strip() or None)
    return summary, description


def _return_annotation(route: Route) -> Any:
    """The return annotation of an untyped handler (no markers): it still says what it answers."""
    if route.endpoint is None:
        return EMPTY
    try:
        return typing.get_type_hints(inspect.unwrap(route.endpoint)).get("return", EMPTY)
    except Exception:
        return EMPTY


def _is_constrained(annotation: Any) -> bool:
    return typing.get_origin(annotation) is Annotated


def _is_list(annotation: Any) -> bool:
    base = annotation.__origin__ if _is_constrained(annotation) else annotation
    return typing.get_origin(base) in (list, tuple, set, frozenset)


def _media_type(response_class: type[BaseResponse]) -> str:
    if issubclass(response_class, EventSourceResponse):
        return "text/event-stream"
    declared = response_class.default_media_type
    return declared.partition(";")[0].strip() if declared else "*/*"


def _phrase(status: int) -> str:
    try:
        return http.HTTPStatus(status).phrase
    except ValueError:
        return f"Status {status}"


class OperationBuilder:
    """Builds the operations of one document; ``operationId`` values are kept unique."""

    def __init__(
        self,
        slots: SchemaSlots,
        *,
        parameter_error_status: int = 400,
        scheme_names: tuple[str, ...] = (),
        problem_details: bool = False,
    ) -> None:
        self.slots = slots
        self.parameter_error_status = parameter_error_status
        #: The app's security schemes: a requires() route lists each with its scopes. With
        #: any, every operation may get a 401 (the middleware refuse wrong credentials).
        self.scheme_names = scheme_names
        #: How the app renders an HTTPError (requires() raises one): problem or {"error": ...}.
        self.problem_details = problem_details
        self._operation_ids: set[str] = set()

    def operations(self, route: Route) -> dict[str, dict[str, Any]]:
        """``{"get": {...}, ...}`` for the documented methods of ``route``."""
        methods = [
            m
            for m in DOCUMENTED_METHODS
            if m in route.methods and not (m == "HEAD" and route.implicit_head)
        ]
        return {
            method.lower(): self._operation(route, method, several=len(methods) > 1)
            for method in methods
        }

    def _operation(self, route: Route, method: str, *, several: bool) -> dict[str, Any]:
        operation: dict[str, Any] = {}
        summary, description = _summary_and_description(route)
        if route.doc.tags:
            operation["tags"] = list(route.doc.tags)
        if summary:
            operation["summary"] = summary
        if description:
            operation["description"] = description
        operation["operationId"] = self._operation_id(
            f"{route.name}_{method.lower()}" if several else route.name
        )
        parameters = self._parameters(route)
        if parameters:
            operation["parameters"] = parameters
        spec = route.spec
        if spec is not None and spec.body is not None:
            operation["requestBody"] = {
                "required": spec.body.required,
                "content": {
                    spec.body.media_type: {"schema": self.slots.slot(spec.body.annotation)}
                },
            }
        operation["responses"] = self._responses(route)
        scopes = route.doc.required_scopes
        if scopes is not None and self.scheme_names:
            # Any one scheme, each with the scopes (OpenAPI 3.1 allows them as roles for every
            # scheme type); no {} alternative: requires() refuses anonymous requests.
            operation["security"] = [{name: sorted(scopes)} for name in self.scheme_names]
        if route.doc.deprecated:
            operation["deprecated"] = True
        return operation

    def _operation_id(self, wanted: str) -> str:
        # The same handler stacked under two rules has one name; ids must differ.
        candidate, count = wanted, 1
        while candidate in self._operation_ids:
            count += 1
            candidate = f"{wanted}_{count}"
        self._operation_ids.add(candidate)
        return candidate

    # -- parameters ------------------------------------------------------------------
    def _parameters(self, route: Route) -> list[dict[str, Any]]:
        spec = route.spec
        typed_path = {f.name: f for f in spec.fields if f.source == "path"} if spec else {}
        parameters = [
            self._path_parameter(part, typed_path.get(part.name))
            for part in route.parts
            if isinstance(part, Param)
        ]
        if spec is not None:
            parameters += [
                self._wire_parameter(f) for f in spec.fields if f.source in _WIRE_SOURCES
            ]
        return parameters

    def _path_parameter(self, param: Param, field: FieldSpec | None) -> dict[str, Any]:
        schema: Any = _converter_schema(param)
        if field is not None and _is_constrained(field.annotation):
            # Both hold: what the converter matches and the handler's constraints (Meta(ge=1)).
            schema = {"allOf": [schema, self.slots.slot(field.annotation)]}
        return {"name": param.name, "in": "path", "required": True, "schema": schema}

    def _wire_parameter(self, field: FieldSpec) -> dict[str, Any]:
        parameter: dict[str, Any] = {
            "name": field.wire,
            "in": field.source,
            "required": field.required,
            "schema": self.slots.slot(field.annotation),
        }
        if field.source == "query" and _is_list(field.annotation):
            parameter["style"] = "form"
            parameter["explode"] = True  # ?tag=a&tag=b, the repeated keys the runtime reads
        return parameter

    # -- responses -------------------------------------------------------------------
    def _responses(self, route: Route) -> dict[str, Any]:
        spec = route.spec
        responses: dict[str, Any] = {}
        returns = spec.returns if spec is not None else _return_annotation(route)
        if returns is EMPTY or returns is Any:
            # Not annotated: the handler may answer anything; nothing more precise can be said.
            responses["default"] = {"description": "What the handler answers (not typed)"}
        else:
            status, response = self._success(route, returns)
            responses[str(status)] = response
        if spec is not None:
            for status in self._problem_statuses(spec):
                responses[str(status)] = self._problem_response(status)
        if route.doc.required_scopes is not None:
            responses.update(self._guard_responses())
        elif self.scheme_names:
            responses["401"] = {"description": "Missing or invalid credentials"}
        for status, declared in sorted(route.doc.responses.items()):
            responses[str(status)] = self._declared(status, declared)
        return responses

    def _success(self, route: Route, returns: Any) -> tuple[int, dict[str, Any]]:
        nothing = returns is None or returns is type(None)
        status = route.doc.status_code or (204 if nothing else 200)
        response: dict[str, Any] = {"description": _phrase(status)}
        content = None if nothing else self._content(returns)
        if content is not None:
            response["content"] = content
        return status, response

    def _content(self, annotation: Any) -> dict[str, Any] | None:
        """The Media Type map of what a handler returns (None: nothing can be said)."""
        if annotation is EMPTY or annotation is Any:
            return None
        origin = typing.get_origin(annotation)
        if isinstance(origin, type) and issubclass(origin, EventSourceResponse):
            return {"text/event-stream": self._event_stream(typing.get_args(annotation)[0])}
        if isinstance(annotation, type):
            if issubclass(annotation, BaseResponse):
                return {_media_type(annotation): {}}
            if issubclass(annotation, str):
                return {"text/plain": {"schema": {"type": "string"}}}
            if issubclass(annotation, bytes | bytearray | memoryview):
                return {"application/octet-stream": {}}
            if issubclass(annotation, Problem):
                return {PROBLEM_JSON: {"schema": self.slots.slot(annotation)}}
        return {"application/json": {"schema": self.slots.slot(annotation)}}

    def _event_stream(self, data: Any) -> dict[str, Any]:
        """``EventSourceResponse[T]``: the stream is text; each event's ``data`` is JSON of ``T``.

        OpenAPI 3.1 has no way to describe the items of a stream (3.2 adds ``itemSchema``), so
        the event's shape goes in the extension ``x-itemSchema``, shaped as 3.2's will be.
        """
        return {
            "schema": {"type": "string", "description": "Server-sent events"},
            "x-itemSchema": {
                "type": "object",
                "properties": {
                    "event": {"type": "string"},
                    "id": {"type": "string"},
                    "retry": {"type": "integer", "minimum": 0},
                    "data": {
                        "type": "string",
                        "contentMediaType": "application/json",
                        "contentSchema": self.slots.slot(data),
                    },
                },
                "required": ["data"],
            },
        }

    def _problem_statuses(self, spec: HandlerSpec) -> list[int]:
        """The problem-details answers the runtime gives when it cannot fill the arguments."""
        statuses: set[int] = set()
        if any(
            f.source in _WIRE_SOURCES or (f.source == "path" and _is_constrained(f.annotation))
            for f in spec.fields
        ):
            statuses.add(self.parameter_error_status)
        if spec.body is not None:
            statuses |= {400, 415, 422}  # malformed JSON, wrong content type, schema violation
        return sorted(statuses)

    def _problem_response(self, status: int) -> dict[str, Any]:
        return {
            "description": _phrase(status),
            "content": {PROBLEM_JSON: {"schema": self.slots.slot(Problem)}},
        }

    def _guard_responses(self) -> dict[str, Any]:
        """The 401 and 403 of a ``requires()`` route, in the shape the app renders errors."""
        guard = self._error_content()
        unauthorized = guard
        if self.scheme_names:
            # The middleware's own 401 (wrong credentials) is always {"error": ...} JSON.
            unauthorized = {**guard, **self._error_content(default_shape=True)}
        challenge = {
            "WWW-Authenticate": {
                "description": "The scheme to authenticate with",
                "schema": {"type": "string"},
            }
        }
        return {
            "401": {
                "description": "Authentication required (no or invalid credentials)",
                "headers": challenge,
                "content": unauthorized,
            },
            "403": {
                "description": "The user lacks a required scope",
                "content": guard,
            },
        }

    def _error_content(self, *, default_shape: bool = False) -> dict[str, Any]:
        """The Media Type map of an ``HTTPError`` answer: a problem when the app renders
        problem details, else its default ``{"error": detail}`` body."""
        if self.problem_details and not default_shape:
            return {PROBLEM_JSON: {"schema": self.slots.slot(Problem)}}
        return {"application/json": {"schema": _error_schema()}}

    def _declared(self, status: int, declared: Any) -> dict[str, Any]:
        """One entry of the decorator's ``responses=``: a type, None (no body), a description
        or a whole Response Object (a dict, used as it is)."""
        if isinstance(declared, Mapping):
            return dict(declared)
        if isinstance(declared, str):
            return {"description": declared}
        response: dict[str, Any] = {"description": _phrase(status)}
        if declared is not None and declared is not type(None):
            content = self._content(declared)
            if content is not None:
                response["content"] = content
        return response


_WIRE_SOURCES = ("query", "header", "cookie")


def _error_schema() -> dict[str, Any]:
    """The default body of an ``HTTPError`` answer (``HTTPError.json_body``); a fresh dict
    each time, so a caller editing its document changes nothing else."""
    return {
        "type": "object",
        "properties": {"error": {"type": "string"}},
        "required": ["error"],
    }
