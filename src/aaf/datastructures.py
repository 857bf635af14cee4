"""Request/response data structures: headers, query parameters, URL, client address.

Every view here is built lazily from the raw ASGI values and keeps them: ``Headers.raw`` is the
scope's own list, so nothing is copied on the hot path.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, NamedTuple, TypeVar, overload
from urllib.parse import SplitResult, parse_qsl, urlencode, urlsplit

from ._http import HeadersLike, encode_header, encode_headers
from ._types import RawHeaders

__all__ = ["URL", "Address", "AuthUser", "Headers", "MultiDict", "MutableHeaders", "QueryParams"]


class Address(NamedTuple):
    """The peer of a connection, as the server reported it (``scope["client"]``)."""

    host: str
    port: int


@dataclass(frozen=True, slots=True)
class AuthUser:
    """The verified token's holder: ``conn.user`` (set by an authentication middleware)."""

    subject: str | None
    scopes: frozenset[str] = frozenset()
    claims: Mapping[str, Any] = field(default_factory=dict)

    def has_scopes(self, *scopes: str) -> bool:
        return self.scopes.issuperset(scopes)


class Headers(Mapping[str, str]):
    """Case-insensitive, multi-valued, read-only view over raw ASGI headers.

    ``headers["accept"]`` gives the first value; ``headers.getlist("accept")`` gives all of them.
    """

    __slots__ = ("_raw",)

    def __init__(self, raw: RawHeaders | None = None) -> None:
        # PERF: servers give lower-case names (ASGI spec), so lookups compare bytes directly and
        # no index is built: a request has a dozen headers and usually one or two are read.
        self._raw: RawHeaders = raw if raw is not None else []

    @classmethod
    def from_items(cls, headers: HeadersLike | None) -> Headers:
        """Build headers from application values (validated, names lower-cased)."""
        return cls(encode_headers(headers))

    @property
    def raw(self) -> RawHeaders:
        return self._raw

    def __getitem__(self, key: str) -> str:
        # A name that is not latin-1 cannot be a header name: absent, never an encoding error.
        try:
            name = key.lower().encode("latin-1")
        except UnicodeEncodeError:
            raise KeyError(key) from None
        for raw_name, raw_value in self._raw:
            if raw_name == name:
                return raw_value.decode("latin-1")
        raise KeyError(key)

    def get_bytes(self, key: str) -> bytes | None:
        """First raw value for ``key`` (no decoding), or None."""
        try:
            name = key.lower().encode("latin-1")
        except UnicodeEncodeError:
            return None
        for raw_name, raw_value in self._raw:
            if raw_name == name:
                return raw_value
        return None

    def getlist(self, key: str) -> list[str]:
        try:
            name = key.lower().encode("latin-1")
        except UnicodeEncodeError:
            return []
        return [v.decode("latin-1") for n, v in self._raw if n == name]

    def __contains__(self, key: object) -> bool:
        if not isinstance(key, str):
            return False
        try:
            name = key.lower().encode("latin-1")
        except UnicodeEncodeError:
            return False
        return any(n == name for n, _ in self._raw)

    def __iter__(self) -> Iterator[str]:
        seen: dict[str, None] = {}
        for name, _ in self._raw:
            seen.setdefault(name.decode("latin-1"), None)
        return iter(seen)

    def __len__(self) -> int:
        return len({name for name, _ in self._raw})

    def multi_items(self) -> list[tuple[str, str]]:
        """Every (name, value) pair in order, repeated names included."""
        return [(n.decode("latin-1"), v.decode("latin-1")) for n, v in self._raw]

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Headers):
            return sorted(self._raw) == sorted(other._raw)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.multi_items()!r})"


class MutableHeaders(Headers):
    """Headers an application is building; every value is validated when it is set."""

    __slots__ = ()

    def __setitem__(self, key: str, value: str) -> None:
        """Replace every value of ``key`` with ``value``."""
        name, raw_value = encode_header(key, value)
        self._raw[:] = [(n, v) for n, v in self._raw if n != name]
        self._raw.append((name, raw_value))

    def __delitem__(self, key: str) -> None:
        try:
            name = key.lower().encode("latin-1")
        except UnicodeEncodeError:
            raise KeyError(key) from None
        kept = [(n, v) for n, v in self._raw if n != name]
        if len(kept) == len(self._raw):
            raise KeyError(key)
        self._raw[:] = kept

    def add(self, key: str, value: str) -> None:
        """Add one more value for ``key`` (e.g. a second ``set-cookie``)."""
        self._raw.append(encode_header(key, value))

    def setdefault(self, key: str, value: str) -> str:
        existing = self.get(key)
        if existing is not None:
            return existing
        self.add(key, value)
        return value

    def update(self, other: HeadersLike) -> None:
        items = other.items() if isinstance(other, Mapping) else other
        for key, value in items:
            self[key] = value


V = TypeVar("V")


class MultiDict(Mapping[str, V]):
    """An immutable multi-valued mapping in arrival order: ``d[key]`` is the last value (as in
    Starlette), ``d.getlist(key)`` every value, ``d.multi_items()`` every pair."""

    __slots__ = ("_dict", "_list")

    def __init__(self, items: Iterable[tuple[str, V]] = ()) -> None:
        self._list: list[tuple[str, V]] = list(items)
        self._dict: dict[str, V] = dict(self._list)

    def __getitem__(self, key: str) -> V:
        return self._dict[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._dict)

    def __len__(self) -> int:
        return len(self._dict)

    def __contains__(self, key: object) -> bool:
        return key in self._dict

    def getlist(self, key: str) -> list[V]:
        return [value for name, value in self._list if name == key]

    def multi_items(self) -> list[tuple[str, V]]:
        return list(self._list)

    @overload
    def to_dict(self, flat: Literal[True] = True) -> dict[str, V]: ...
    @overload
    def to_dict(self, flat: Literal[False]) -> dict[str, list[V]]: ...
    @overload
    def to_dict(self, flat: bool) -> dict[str, V] | dict[str, list[V]]: ...
    def to_dict(self, flat: bool = True) -> dict[str, V] | dict[str, list[V]]:
        """A plain dict, as werkzeug's ``MultiDict.to_dict``: ``flat=True`` keeps the *first*
        value of each key (unlike ``d[key]``, the last), ``flat=False`` every value in a list."""
        if flat:
            first: dict[str, V] = {}
            for name, value in self._list:
                first.setdefault(name, value)
            return first
        every: dict[str, list[V]] = {}
        for name, value in self._list:
            every.setdefault(name, []).append(value)
        return every

    def __eq__(self, other: object) -> bool:
        if isinstance(other, MultiDict) and type(other) is type(self):
            return self._list == other._list
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._list!r})"


class QueryParams(MultiDict[str]):
    """Multi-valued query parameters. ``params[key]`` is the last value, ``getlist`` all of them.

    Only ``&`` separates pairs: ``;`` is data (the separator Python dropped after CVE-2021-23336).
    """

    __slots__ = ()

    def __init__(
        self, value: str | bytes | Mapping[str, str] | Iterable[tuple[str, str]] = ""
    ) -> None:
        pairs: list[tuple[str, str]]
        if isinstance(value, bytes):
            value = value.decode("latin-1")
        if isinstance(value, str):
            # APPSEC: separator="&" is explicit so a future default change cannot reintroduce ';'.
            pairs = parse_qsl(value, keep_blank_values=True, separator="&")
        elif isinstance(value, Mapping):
            pairs = [(str(k), str(v)) for k, v in value.items()]
        else:
            pairs = [(str(k), str(v)) for k, v in value]
        super().__init__(pairs)

    def __str__(self) -> str:
        return urlencode(self._list)

    def __repr__(self) -> str:
        return f"QueryParams({str(self)!r})"


class URL:
    """An immutable absolute or relative URL with the usual parts.

    Build it from parts (``URL.build``) rather than by concatenating strings from a request:
    that is how ``conn.url`` keeps a hostile Host header from choosing the path or query.
    """

    __slots__ = ("_parts",)

    def __init__(self, url: str = "") -> None:
        self._parts: SplitResult = urlsplit(url)

    @classmethod
    def build(
        cls, *, scheme: str, netloc: str, path: str, query: str = "", fragment: str = ""
    ) -> URL:
        url = cls.__new__(cls)
        url._parts = SplitResult(scheme, netloc, path, query, fragment)
        return url

    @property
    def scheme(self) -> str:
        return self._parts.scheme

    @property
    def netloc(self) -> str:
        return self._parts.netloc

    @property
    def hostname(self) -> str | None:
        return self._parts.hostname

    @property
    def port(self) -> int | None:
        return self._parts.port

    @property
    def path(self) -> str:
        return self._parts.path

    @property
    def query(self) -> str:
        return self._parts.query

    @property
    def fragment(self) -> str:
        return self._parts.fragment

    @property
    def is_secure(self) -> bool:
        return self.scheme in ("https", "wss")

    def replace(self, **parts: str) -> URL:
        """A copy with some of ``scheme``, ``netloc``, ``path``, ``query``, ``fragment`` changed."""
        url = URL.__new__(URL)
        url._parts = self._parts._replace(**parts)
        return url

    def __str__(self) -> str:
        return self._parts.geturl()

    def __repr__(self) -> str:
        return f"URL({str(self)!r})"

    def __eq__(self, other: object) -> bool:
        if isinstance(other, URL | str):
            return str(self) == str(other)
        return NotImplemented

    def __hash__(self) -> int:
        return hash(str(self))
