"""Task titles from untrusted input: what is stored and shown in every client's list."""

from __future__ import annotations

import unicodedata

__all__ = ["MAX_TITLE_LENGTH", "TitleError", "clean_title"]

MAX_TITLE_LENGTH = 500

# Controls (Cc), format characters (Cf: zero-width space and joiners, U+FEFF, bidi overrides,
# U+2060 word joiner) and separators (Zs/Zl/Zp: every kind of space and line break).
_INVISIBLE_CATEGORIES = frozenset({"Cc", "Cf", "Zs", "Zl", "Zp"})


class TitleError(ValueError):
    """The title cannot be stored; the message says why (sent to the client as a 422 problem)."""


def _invisible(char: str) -> bool:
    return char.isspace() or unicodedata.category(char) in _INVISIBLE_CATEGORIES


def clean_title(value: object) -> str:
    """The title to store: ``value`` without leading or trailing invisible characters.

    Characters inside the title are kept as sent (a zero-width joiner inside an emoji
    sequence, a bidi mark inside mixed-direction text are legitimate there).

    APPSEC: a title of only zero-width or bidi characters would be a blank line in every
    list, and edge padding would let two titles that look the same differ; both are refused
    or trimmed here, once, for every database.
    """
    if not isinstance(value, str):
        raise TitleError("title must be a string")
    # The cap applies to what was sent, before trimming: bounded work on any input.
    if len(value) > MAX_TITLE_LENGTH:
        raise TitleError(f"title must be at most {MAX_TITLE_LENGTH} characters")
    if "\x00" in value:
        # PostgreSQL text cannot store NUL; refuse it here rather than fail with a 500.
        raise TitleError("title must not contain NUL characters")
    if not value.strip():
        raise TitleError("title is required")
    start, end = 0, len(value)
    while start < end and _invisible(value[start]):
        start += 1
    while end > start and _invisible(value[end - 1]):
        end -= 1
    if start == end:
        raise TitleError("title must contain visible characters")
    return value[start:end]
