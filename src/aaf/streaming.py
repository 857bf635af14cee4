"""``StreamingResponse``: a body produced by a sync or async iterable, sent as it comes.

Sync iterators step in worker threads (a blocking file or socket read never stalls the event
loop); a client that leaves stops the iteration at once (see ``StreamingResponse``).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, AsyncIterable, Iterable, Iterator
from typing import Any, ClassVar

from ._disconnect import DisconnectWatcher
from ._http import HeadersLike, start_message
from ._types import RawHeaders, Scope, Send
from .errors import ClientDisconnect
from .response import BaseResponse, Responder

__all__ = ["StreamingResponse", "close_content", "iterate"]

Content = str | bytes
_DONE = object()


def _next_or_done(iterator: Iterator[Any]) -> object:
    return next(iterator, _DONE)


def _close_iterator(iterator: Iterator[Any]) -> None:
    close = getattr(iterator, "close", None)
    if close is not None:
        close()


async def iterate(content: Iterable[Any] | AsyncIterable[Any]) -> AsyncGenerator[Any, None]:
    """Items of a sync or async iterable; a sync iterator's steps run in worker threads."""
    if isinstance(content, AsyncIterable):
        async for item in content:
            yield item
        return
    if isinstance(content, list | tuple):
        for item in content:
            yield item
        return
    # A sync iterator may block (files, sockets, sleep): each step runs in a worker thread
    # so the event loop keeps serving other connections.
    iterator: Iterator[Any] = iter(content)
    step: asyncio.Future[object] | None = None
    try:
        while True:
            step = asyncio.ensure_future(asyncio.to_thread(_next_or_done, iterator))
            # Shielded: a cancelled stream must not abandon a step still running in its thread.
            item = await asyncio.shield(step)
            if item is _DONE:
                return
            yield item
    finally:
        if step is not None and not step.done():
            # A thread cannot be interrupted: close the iterator (running its finally blocks)
            # as soon as its current step returns.
            step.add_done_callback(lambda _: _close_iterator(iterator))
        else:
            _close_iterator(iterator)


class StreamingResponse(BaseResponse):
    """A body produced by a sync or async iterable of str/bytes, sent chunk by chunk.

    When the client disconnects, the iteration stops at once: an async generator gets
    ``CancelledError`` at its current ``await`` (its ``finally`` blocks run before the handler
    returns); a sync iterator is closed after its current step. When no body may be sent (HEAD,
    204, 304) the content is closed without being iterated.
    """

    __slots__ = ("content",)

    default_media_type: ClassVar[str | None] = "application/octet-stream"
    needs_watcher = True

    def __init__(
        self,
        content: Iterable[Content] | AsyncIterable[Content],
        status_code: int | Responder = 200,
        headers: HeadersLike | None = None,
        media_type: str | None = None,
        *,
        connection: Responder | None = None,
    ) -> None:
        super().__init__(status_code, headers, media_type, connection=connection)
        self.content = content

    def body_chunks(self) -> AsyncGenerator[Content, None]:
        """The body as it is produced (subclasses such as EventSourceResponse frame it)."""
        return iterate(self.content)

    async def emit(
        self,
        scope: Scope,
        send: Send,
        extra: RawHeaders | None = None,
        watcher: DisconnectWatcher | None = None,
    ) -> None:
        head = scope.get("method") == "HEAD"
        start, keep = start_message(self.status_code, head, self.raw_headers, extra)
        await send(start)
        if not keep:
            await close_content(self.content)
            await send({"type": "http.response.body", "body": b"", "more_body": False})
            return
        if watcher is None:
            await self._send_body(send)
            return
        # The body is produced in a task of its own so that a disconnect can cancel it wherever
        # it waits (an idle event stream may wait for minutes); the content's finally blocks
        # run before this returns. A client that left needs nothing more.
        with contextlib.suppress(ClientDisconnect):
            await watcher.run(self._send_body(send), None)

    async def _send_body(self, send: Send) -> None:
        chunks = self.body_chunks()
        try:
            async for chunk in chunks:
                if isinstance(chunk, str):
                    data = chunk.encode()
                elif isinstance(chunk, bytes | bytearray | memoryview):
                    data = bytes(chunk)
                else:
                    raise TypeError(
                        f"{type(self).__name__} content yielded {type(chunk).__name__}; yield "
                        "str or bytes (or use EventSourceResponse, which encodes data)"
                    )
                if data:
                    await send({"type": "http.response.body", "body": data, "more_body": True})
        finally:
            await chunks.aclose()
            # A sync iterator is closed by iterate(), once its step in a worker thread returns.
            closer = getattr(self.content, "aclose", None)
            if closer is not None:
                await closer()
        await send({"type": "http.response.body", "body": b"", "more_body": False})


async def close_content(content: object) -> None:
    """Release what a body source that was never iterated holds (an async generator, a
    generator, an open file)."""
    aclose = getattr(content, "aclose", None)
    if aclose is not None:
        await aclose()
        return
    close = getattr(content, "close", None)
    if close is not None:
        close()
