"""Converters: how one ``<converter:name>`` rule parameter turns path text into a value and back."""

from __future__ import annotations

import decimal
import re
import uuid
from collections.abc import Mapping
from typing import Any, ClassVar

__all__ = [
    "DEFAULT_CONVERTERS",
    "Converter",
    "FloatConverter",
    "IntConverter",
    "PathConverter",
    "StrConverter",
    "UUIDConverter",
]


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
