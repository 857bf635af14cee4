"""The request-body half of ``Connection``: reading the body once, as bytes, a stream, JSON
or a form, within the connection's limits.

A mixin with no state of its own: its slots are declared on ``Connection``.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Callable
from typing import TYPE_CHECKING, Any

from . import _json
from .errors import BodyStateError, ClientDisconnect, HTTPError

if TYPE_CHECKING:
    from ._types import Message, Receive, Scope
    from .forms import FormData
    from .limits import Limits

__all__ = ["RequestBodyMixin", "is_json_media_type"]

# Request body states.
BODY_UNREAD = 0
BODY_STREAMING = 1
BODY_DONE = 2
BODY_DISCARDED = 3  # a response's disconnect watcher dropped it unread


def _media_type(content_type: str) -> str:
    return content_type.partition(";")[0].strip().lower()


def is_json_media_type(content_type: str | None) -> bool:
    """``application/json`` or any ``application/*+json`` (RFC 6839 structured suffix)."""
    if not content_type:
        return False
    media = _media_type(content_type)
    return media == "application/json" or (
        media.startswith("application/") and media.endswith("+json")
    )


class RequestBodyMixin:
    """Reading the request body (mixed into ``Connection``)."""

    # The slots of this half are declared once, on Connection. mypy checks assignments
    # against a class's own __slots__, so it is shown this mixin without any.
    if not TYPE_CHECKING:
        __slots__ = ()

    # Provided by Connection.
    scope: Scope
    asgi_receive: Receive
    received_bytes: int
    _body: bytes | None
    _body_state: int
    _form: FormData

    if TYPE_CHECKING:

        @property
        def limits(self) -> Limits: ...

        def on_finish(self, callback: Callable[[], Any]) -> None: ...

    def _first_header(self, name: bytes) -> bytes | None:
        """The first raw value of a lower-case header name.

        PERF: body readers use this instead of ``req_headers`` (no view object, no encoding).
        """
        for key, value in self.scope["headers"]:
            if key == name:
                return value  # type: ignore[no-any-return]
        return None

    def _declared_length(self, limit: int) -> int | None:
        raw = self._first_header(b"content-length")
        if raw is None:
            return None
        # APPSEC: ASCII digits only (bytes.isdigit): int() would accept "+5", " 5", "1_0" and
        # other scripts' digits.
        if not raw.isdigit():
            raise HTTPError(400, "invalid Content-Length header")
        # More than 19 digits fits no limit: no need to convert a huge digit run.
        if len(raw) > 19 or int(raw) > limit:
            raise HTTPError(413, f"request body is larger than the {limit}-byte limit")
        return int(raw)

    def _begin_body(self, limit: int) -> int | None:
        """Claim the body for one reader; returns the declared Content-Length, if any."""
        if self._body_state == BODY_DISCARDED:
            raise BodyStateError(
                "the request body was dropped unread: a streaming response was returned before "
                "anything read it. Claim it first: chunks = conn.body_iter() (or await "
                "conn.body()) before returning the response, then iterate chunks inside it"
            )
        if self._body_state != BODY_UNREAD:
            raise BodyStateError(
                "the request body was already read as a stream (body_iter() or a multipart "
                "form()), so it is gone; read it one way, or call body() first: it keeps the "
                "bytes, and json(), form() and body_iter() then reuse them"
            )
        declared = self._declared_length(limit)
        self._body_state = BODY_STREAMING
        return declared

    def _take_chunk(self, message: Message, limit: int, declared: int | None) -> bytes:
        """Account for one receive() message; returns its body bytes."""
        kind = message["type"]
        if kind == "http.request":
            chunk: bytes = message.get("body", b"")
            received = self.received_bytes = self.received_bytes + len(chunk)
            more = message.get("more_body", False)
            # APPSEC: the declared length may lie; the received count is what is enforced,
            # and a body longer or shorter than it declared is a framing error.
            if declared is not None and (received > declared or (not more and received < declared)):
                self._body_state = BODY_DONE
                raise HTTPError(400, "the request body does not match its Content-Length")
            if received > limit:
                self._body_state = BODY_DONE
                raise HTTPError(413, f"request body is larger than the {limit}-byte limit")
            if not more:
                self._body_state = BODY_DONE
            return chunk
        if kind == "http.disconnect":
            self._body_state = BODY_DONE
            raise ClientDisconnect("the client disconnected while the body was being read")
        raise RuntimeError(f"unexpected ASGI message {kind!r} while reading the request body")

    async def stream_body(self, limit: int) -> AsyncGenerator[bytes, None]:
        """Body chunks with an explicit size limit (used by body parsers with their own cap)."""
        if self._body is not None:
            if len(self._body) > limit:
                raise HTTPError(413, f"request body is larger than the {limit}-byte limit")
            if self._body:
                yield self._body
            return
        async for chunk in self._chunks(limit, self._begin_body(limit)):
            yield chunk

    async def _chunks(self, limit: int, declared: int | None) -> AsyncGenerator[bytes, None]:
        receive = self.asgi_receive
        while self._body_state == BODY_STREAMING:
            chunk = self._take_chunk(await receive(), limit, declared)
            if chunk:
                yield chunk

    def body_iter(self) -> AsyncIterator[bytes]:
        """The request body as it arrives, chunk by chunk, within ``limits.max_body_size``.

        May be consumed once; after ``body()`` it replays the kept bytes instead. The body is
        claimed when this is called, so a response streaming it is not cut off by a watcher.
        """
        limit = self.limits.body
        if self._body is not None:
            return self.stream_body(limit)
        return self._chunks(limit, self._begin_body(limit))

    async def body(self) -> bytes:
        """The whole request body (kept, so later calls and ``json()`` reuse it)."""
        if self._body is not None:
            return self._body
        limit = self.limits.body
        declared = self._begin_body(limit)
        receive = self.asgi_receive
        # PERF: most bodies arrive in one message; join only when there are several.
        chunks: list[bytes] = []
        while self._body_state == BODY_STREAMING:
            chunk = self._take_chunk(await receive(), limit, declared)
            if chunk:
                chunks.append(chunk)
        self._body = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        return self._body

    async def form(self) -> FormData:
        """The body parsed as a url-encoded or multipart form (kept; later calls reuse it).

        415 for other content types; 413/400 past ``conn.limits``. Uploaded files are closed
        when the request ends.
        """
        try:
            return self._form
        except AttributeError:
            # PERF: the slot is left unset in __init__, so connections that never read a form
            # pay nothing for it.
            from .forms import parse_form

            raw_type = self._first_header(b"content-type")
            content_type = raw_type.decode("latin-1") if raw_type is not None else None
            self._form: FormData = await parse_form(
                content_type, self.stream_body, self.limits, self.on_finish
            )
            return self._form

    async def json(self) -> Any:
        """The body decoded as JSON: 415 unless the content type is JSON, 400 if invalid."""
        raw_type = self._first_header(b"content-type")
        if raw_type is None or not is_json_media_type(raw_type.decode("latin-1")):
            raise HTTPError(415, "Content-Type must be application/json")
        body = await self.body()
        try:
            return _json.decode(body)
        except _json.DecodeError as exc:
            raise HTTPError(400, f"invalid JSON: {exc}") from None
