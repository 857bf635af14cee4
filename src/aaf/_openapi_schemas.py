"""JSON Schemas for an OpenAPI document: every type collected first, then ONE
``msgspec.json.schema_components`` call, so shared types become one component each.

While operations are built, :meth:`SchemaSlots.slot` stands in for a type's schema with a
placeholder; :meth:`SchemaSlots.resolve` makes the one call and swaps the placeholders for the
schemas (``{"$ref": "#/components/schemas/Task"}`` for structs, inline ones for scalars).
"""

from __future__ import annotations

from typing import Any

import msgspec

__all__ = ["REF_TEMPLATE", "SchemaSlots", "TypeSlot"]

REF_TEMPLATE = "#/components/schemas/{name}"


class TypeSlot:
    """Where the schema of the type at ``index`` goes, once it is known."""

    __slots__ = ("index",)

    def __init__(self, index: int) -> None:
        self.index = index


def _any_schema(annotation: type) -> dict[str, Any]:
    # A type msgspec cannot describe (a custom class): documented as "any value" rather than
    # failing the whole document; its name says what the handler really takes.
    return {"description": f"a {getattr(annotation, '__name__', annotation)!s} (not described)"}


class SchemaSlots:
    """The types of one document, each kept once (by equality when hashable)."""

    def __init__(self) -> None:
        self._types: list[Any] = []
        self._index: dict[Any, int] = {}

    def slot(self, annotation: Any) -> TypeSlot:
        try:
            index = self._index.get(annotation)
        except TypeError:  # an unhashable annotation (rare): kept, not shared
            index = None
            hashable = False
        else:
            hashable = True
        if index is None:
            index = len(self._types)
            self._types.append(annotation)
            if hashable:
                self._index[annotation] = index
        return TypeSlot(index)

    def resolve(self, document: dict[str, Any]) -> dict[str, Any]:
        """Put every schema in place in ``document``; return the components' schemas."""
        if not self._types:
            return {}
        schemas, components = msgspec.json.schema_components(
            self._types, schema_hook=_any_schema, ref_template=REF_TEMPLATE
        )
        _fill(document, schemas)
        return components


def _fill(node: Any, schemas: tuple[dict[str, Any], ...]) -> Any:
    """``node`` with every :class:`TypeSlot` in it replaced (dicts and lists edited in place)."""
    if isinstance(node, TypeSlot):
        # A copy: two operations sharing a type must not share one mutable dict.
        return dict(schemas[node.index])
    if isinstance(node, dict):
        for key, value in node.items():
            if isinstance(value, TypeSlot | dict | list):
                node[key] = _fill(value, schemas)
    elif isinstance(node, list):
        for position, value in enumerate(node):
            if isinstance(value, TypeSlot | dict | list):
                node[position] = _fill(value, schemas)
    return node
