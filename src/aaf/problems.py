"""RFC 9457 problem details: the error body of typed routes (``application/problem+json``).

A typed route that cannot fill its arguments answers with a :class:`Problem` whose ``errors``
list says where each failure is (``in``: body, query, header, cookie or path; ``name``; for
bodies a JSON Pointer) and what it is. ``App(problem_details=True)`` renders every
``HTTPError`` this way too; :func:`render_error` is the one place an ``HTTPError`` becomes a
body.
"""

from __future__ import annotations

from typing import Any, Literal, TypeAlias

import msgspec

from . import _json
from ._http import HeadersLike, phrase
from .errors import HTTPError

__all__ = [
    "PROBLEM_JSON",
    "ErrorLocation",
    "FieldError",
    "Problem",
    "ProblemError",
    "check_parameter_error_status",
    "internal_error_body",
    "render_error",
]

PROBLEM_JSON = "application/problem+json"
_PROBLEM_TYPE = PROBLEM_JSON.encode()
_JSON_TYPE = b"application/json"
_TEXT_TYPE = b"text/plain; charset=utf-8"

ErrorLocation: TypeAlias = Literal["body", "query", "header", "cookie", "path"]


class FieldError(msgspec.Struct, frozen=True, omit_defaults=True, rename={"in_": "in"}):
    """One failing field: where it is and what is wrong with it."""

    in_: ErrorLocation
    detail: str
    name: str | None = None  # the wire name of a parameter
    pointer: str | None = None  # a JSON Pointer into the body ("" is the whole body)


class Problem(msgspec.Struct):
    """An RFC 9457 problem: ``type`` is ``about:blank`` unless a more precise URI is known;
    ``detail`` and ``instance`` are left out when unset."""

    status: int
    title: str
    type: str = "about:blank"
    detail: str | msgspec.UnsetType = msgspec.UNSET
    instance: str | msgspec.UnsetType = msgspec.UNSET
    errors: list[FieldError] = msgspec.field(default_factory=list)

    @classmethod
    def for_status(
        cls, status: int, detail: str | None = None, errors: list[FieldError] | None = None
    ) -> Problem:
        """A problem titled with the status's phrase, as aaf titles its own (one title per
        status, RFC 9457 section 3.1.4): ``Problem.for_status(422, "title is empty")``."""
        return cls(
            status,
            phrase(status),
            detail=msgspec.UNSET if detail is None else detail,
            errors=errors if errors is not None else [],
        )


class ProblemError(HTTPError):
    """An ``HTTPError`` answered with its :class:`Problem` as ``application/problem+json``,
    whatever the app's ``problem_details`` setting (typed routes raise it for invalid input).

    ``raise ProblemError(Problem(409, "Conflict", detail="the task is closed"))``
    """

    def __init__(self, problem: Problem, headers: HeadersLike | None = None) -> None:
        detail = problem.detail if isinstance(problem.detail, str) else problem.title
        super().__init__(problem.status, detail, headers)
        self.problem = problem


def problem_for(exc: HTTPError) -> Problem:
    """The problem an ``HTTPError`` stands for: its own, or one built from status and detail."""
    if isinstance(exc, ProblemError):
        return exc.problem
    title = phrase(exc.status_code)
    detail = exc.detail
    if detail == title:
        return Problem.for_status(exc.status_code)
    if not isinstance(detail, str):
        try:
            detail = _json.encode(detail).decode()
        except Exception:  # msgspec raises TypeError, EncodeError or OverflowError
            detail = str(detail)
    return Problem(exc.status_code, title, detail=detail)


def render_error(exc: HTTPError, problem_details: bool) -> tuple[bytes, bytes]:
    """``(content type, body)`` of the answer to ``exc``: a problem when the error is one or
    the app asks for problem details, else the default ``{"error": detail}``."""
    if problem_details or isinstance(exc, ProblemError):
        return _PROBLEM_TYPE, _json.encode(problem_for(exc))
    return _JSON_TYPE, exc.json_body()


def internal_error_body(problem_details: bool) -> tuple[bytes, bytes]:
    """``(content type, body)`` of the 500 for an unhandled exception (no details leak)."""
    if problem_details:
        return _PROBLEM_TYPE, _json.encode(Problem.for_status(500))
    return _TEXT_TYPE, b"Internal Server Error"


def check_parameter_error_status(status: Any) -> int:
    """``App(parameter_error_status=...)`` must be a client error status (400 or 422 usually)."""
    if isinstance(status, bool) or not isinstance(status, int) or not 400 <= status <= 499:
        raise ValueError(
            f"parameter_error_status must be a 4xx status such as 400 or 422, not {status!r}"
        )
    return status
