"""Size and count limits for what clients send, with defaults and per-route overrides.

``Limits(...)`` given to the app replaces the defaults it names; ``Limits(...)`` given to a route
replaces, for that route only, the app's values it names. A field left as ``None`` inherits.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

__all__ = ["DEFAULT_LIMITS", "KiB", "Limits", "MiB"]

KiB = 1024
MiB = 1024 * KiB


@dataclass(frozen=True, slots=True)
class Limits:
    """Limits enforced while reading, counting bytes actually received.

    Attributes:
        max_body_size: ``body()``, ``json()`` and url-encoded forms (413 past it).
        max_multipart_size: the whole multipart/form-data stream (413).
        max_parts: parts in one multipart body (413).
        max_files: file parts in one multipart body (413).
        max_field_size: one non-file multipart field (413).
        max_part_headers: header lines in one multipart part (400).
        max_part_header_size: bytes of one multipart part header line (400).
        max_form_fields: fields in one url-encoded form (413).
        upload_spool_size: bytes of an uploaded file kept in memory before spilling to disk.
        max_websocket_message: one WebSocket message (the socket is closed with 1009).
    """

    max_body_size: int | None = None
    max_multipart_size: int | None = None
    max_parts: int | None = None
    max_files: int | None = None
    max_field_size: int | None = None
    max_part_headers: int | None = None
    max_part_header_size: int | None = None
    max_form_fields: int | None = None
    upload_spool_size: int | None = None
    max_websocket_message: int | None = None

    def __post_init__(self) -> None:
        for field in fields(self):
            value = getattr(self, field.name)
            if value is not None and (not isinstance(value, int) or value < 0):
                raise ValueError(f"Limits.{field.name} must be a non-negative int, not {value!r}")

    def merged(self, override: Limits | None) -> Limits:
        """These limits with every field that ``override`` sets replaced by its value."""
        if override is None:
            return self
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        for field in fields(override):
            value = getattr(override, field.name)
            if value is not None:
                values[field.name] = value
        return Limits(**values)

    # Typed accessors for resolved limits (every field set), so callers need no None checks.
    @property
    def body(self) -> int:
        return _resolved(self.max_body_size, "max_body_size")

    @property
    def websocket_message(self) -> int:
        return _resolved(self.max_websocket_message, "max_websocket_message")

    @property
    def multipart(self) -> int:
        return _resolved(self.max_multipart_size, "max_multipart_size")

    @property
    def parts(self) -> int:
        return _resolved(self.max_parts, "max_parts")

    @property
    def files(self) -> int:
        return _resolved(self.max_files, "max_files")

    @property
    def field(self) -> int:
        return _resolved(self.max_field_size, "max_field_size")

    @property
    def part_headers(self) -> int:
        return _resolved(self.max_part_headers, "max_part_headers")

    @property
    def part_header_size(self) -> int:
        return _resolved(self.max_part_header_size, "max_part_header_size")

    @property
    def form_fields(self) -> int:
        return _resolved(self.max_form_fields, "max_form_fields")

    @property
    def spool(self) -> int:
        return _resolved(self.upload_spool_size, "upload_spool_size")


def _resolved(value: int | None, name: str) -> int:
    if value is None:
        raise RuntimeError(f"Limits.{name} is unresolved; merge with DEFAULT_LIMITS first")
    return value


DEFAULT_LIMITS = Limits(
    max_body_size=1 * MiB,
    max_multipart_size=16 * MiB,
    max_parts=1000,
    max_files=100,
    max_field_size=512 * KiB,
    max_part_headers=8,
    max_part_header_size=4 * KiB,
    max_form_fields=1000,
    upload_spool_size=1 * MiB,
    max_websocket_message=1 * MiB,
)
