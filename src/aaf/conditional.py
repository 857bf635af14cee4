"""Pure RFC 9110 / RFC 6266 helpers for file responses: media types, ``Content-Disposition``,
``Range`` and conditional requests.

Nothing here touches the disk or a connection: :class:`~aaf.files.FileResponse` (and through
it :class:`~aaf.staticfiles.StaticFiles`) uses them, and so can an app that answers conditional
or range requests for its own resources. The rules quoted beside the code come from RFC 9110
(validators 8.8, preconditions 13, ranges 14) and RFC 6266 / RFC 8187.
"""

from __future__ import annotations

import itertools
import mimetypes
import re
from collections.abc import Mapping
from email.utils import parsedate_to_datetime
from urllib.parse import quote

__all__ = [
    "MAX_RANGES",
    "content_disposition",
    "evaluate_preconditions",
    "guess_media_type",
    "if_range_holds",
    "parse_http_date",
    "parse_range_header",
]

#: More ranges than this in one request and the Range header is ignored (whole file sent).
MAX_RANGES = 100

# APPSEC: ``[0-9]`` (not ``\d``) so only ASCII digits count; int() alone would accept other
# scripts' digits, signs, spaces and underscores.
_RANGE_SPEC = re.compile(r"([0-9]*)-([0-9]*)")
# A number with more significant digits than this is larger than any file: it is never parsed
# (int() of a huge digit string costs quadratic time and raises past 4300 digits).
_MAX_DIGITS = 18
_HUGE = 10**_MAX_DIGITS
_ENTITY_TAG = re.compile(r'(W/)?("[^"]*")')
_ENCODED_TYPES = {"gzip": "application/gzip", "bzip2": "application/x-bzip2"}
_DISPOSITIONS = ("attachment", "inline")
# RFC 8187 attr-char: what may stay unencoded in ``filename*``.
_ATTR_CHARS = "!#$&+-.^_`|~"


def guess_media_type(name: str) -> str:
    """The media type for a file name; ``application/octet-stream`` when unknown.

    A compressed file (``.gz``, ``.bz2``) is sent as the archive it is: ``x.svgz`` served as
    ``image/svg+xml`` without ``Content-Encoding`` would be garbage to the browser.
    """
    media_type, encoding = mimetypes.guess_type(name, strict=False)
    if encoding is not None:
        return _ENCODED_TYPES.get(encoding, "application/octet-stream")
    return media_type or "application/octet-stream"


def content_disposition(filename: str, disposition: str = "attachment") -> str:
    """A ``Content-Disposition`` value; non-ASCII names get an RFC 6266 ``filename*``.

    ``filename`` keeps an ASCII fallback (``_`` for every other character) for old clients;
    control characters never reach the header in either form.
    """
    if disposition not in _DISPOSITIONS:
        raise ValueError(
            f"content_disposition_type must be 'attachment' or 'inline', not {disposition!r}"
        )
    printable = all(" " <= char <= "~" for char in filename)
    fallback = filename if printable else "".join(c if " " <= c <= "~" else "_" for c in filename)
    fallback = fallback.replace("\\", "\\\\").replace('"', '\\"')
    value = f'{disposition}; filename="{fallback}"'
    if not printable:
        value += "; filename*=UTF-8''" + quote(filename, safe=_ATTR_CHARS)
    return value


def _number(digits: str) -> int:
    significant = digits.lstrip("0")
    return int(significant or "0") if len(significant) <= _MAX_DIGITS else _HUGE


def _coalesce(ranges: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Ranges as asked, or sorted and merged when some overlap (RFC 9110 14.2 allows it).

    APPSEC: overlapping ranges ("0-,0-,0-...") would make a small request produce a response
    many times the file's size; merged, a response is never larger than the file plus part
    headers.
    """
    if len(ranges) < 2:
        return ranges
    ordered = sorted(ranges)
    if all(later[0] > earlier[1] for earlier, later in itertools.pairwise(ordered)):
        return ranges  # disjoint: keep the order the client asked for
    merged = [ordered[0]]
    for start, end in ordered[1:]:
        last_start, last_end = merged[-1]
        if start <= last_end + 1:
            merged[-1] = (last_start, max(last_end, end))
        else:
            merged.append((start, end))
    return merged


def parse_range_header(header: str, size: int) -> list[tuple[int, int]] | None:
    """The byte ranges (first, last inclusive) a ``Range`` header asks of a ``size``-byte file.

    ``None``: ignore the header and send the whole file (not ``bytes``, invalid syntax, more than
    ``MAX_RANGES`` ranges, an empty file). ``[]``: nothing satisfiable (416).
    """
    unit, equals, spec = header.partition("=")
    if not equals or unit.strip(" \t").lower() != "bytes" or size <= 0:
        return None
    items = [item.strip(" \t") for item in spec.split(",")]
    items = [item for item in items if item]  # empty list elements are allowed (RFC 9110 5.6.1)
    if not items or len(items) > MAX_RANGES:
        return None
    ranges: list[tuple[int, int]] = []
    for item in items:
        match = _RANGE_SPEC.fullmatch(item)
        if match is None:
            return None
        first_digits, last_digits = match.groups()
        if not first_digits:
            if not last_digits:
                return None  # a lone "-"
            suffix = _number(last_digits)  # the last N bytes
            if suffix > 0:
                ranges.append((max(size - suffix, 0), size - 1))
            continue
        first = _number(first_digits)
        last = _number(last_digits) if last_digits else _HUGE
        if last < first:
            return None  # an invalid range-spec makes the whole header invalid (RFC 9110 14.1.1)
        if first < size:
            ranges.append((first, min(last, size - 1)))
    return _coalesce(ranges)


def parse_http_date(value: str) -> int | None:
    """Seconds since the epoch for an HTTP-date, None when invalid (the header is then ignored)."""
    if len(value) > 64:
        return None
    try:
        return int(parsedate_to_datetime(value).timestamp())
    except (TypeError, ValueError, IndexError, OverflowError):
        return None


def _etag_listed(header: str, etag: str, *, weak: bool) -> bool:
    """Whether ``etag`` (strong) is in an If-Match / If-None-Match list (RFC 9110 8.8.3.2)."""
    if header.strip(" \t") == "*":
        return True
    return any(
        tag == etag and (weak or not is_weak) for is_weak, tag in _ENTITY_TAG.findall(header)
    )


def evaluate_preconditions(
    method: str, headers: Mapping[str, str], etag: str, last_modified: int
) -> int | None:
    """412 or 304 when a conditional header says so, else None; the order of RFC 9110 13.2.2."""
    if_match = headers.get("if-match")
    if if_match is not None:
        if not _etag_listed(if_match, etag, weak=False):
            return 412
    else:
        unmodified_since = headers.get("if-unmodified-since")
        if unmodified_since is not None:
            date = parse_http_date(unmodified_since)
            if date is not None and last_modified > date:
                return 412
    safe = method in ("GET", "HEAD")
    if_none_match = headers.get("if-none-match")
    if if_none_match is not None:
        if _etag_listed(if_none_match, etag, weak=True):
            return 304 if safe else 412
    elif safe:
        modified_since = headers.get("if-modified-since")
        if modified_since is not None:
            date = parse_http_date(modified_since)
            if date is not None and last_modified <= date:
                return 304
    return None


def if_range_holds(value: str, etag: str, last_modified: int) -> bool:
    """If-Range: an entity tag must match strongly, a date exactly (RFC 9110 13.1.5)."""
    value = value.strip(" \t")
    if value.startswith(('"', "W/")):
        return value == etag
    return parse_http_date(value) == last_modified
