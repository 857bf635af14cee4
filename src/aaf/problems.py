"""RFC 9457 problem details: the error body of typed routes (``application/problem+json``).

A typed route that cannot fill its arguments answers with a :class:`Problem` whose ``errors``
list says where each failure is (``in``: body, query, header, cookie or path; ``name``; for
bodies a JSON Pointer) and what it is. ``App(problem_details=True)`` renders every
``HTTPError`` this way too.
"""

from __future__ import annotations

from typing import Literal, TypeAlias

import msgspec

__all__ = ["PROBLEM_JSON", "ErrorLocation", "FieldError", "Problem"]

PROBLEM_JSON = "application/problem+json"

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
