"""Noticing that an HTTP client went away while the app is still working for it.

ASGI reports a disconnect only through ``receive()`` (an ``http.disconnect`` event), and only to
whoever is calling it. Once the request body has been read, a ``DisconnectWatcher`` keeps one
``receive()`` call pending in a task of its own, so handlers, streaming responses and
``conn.run_until_disconnect`` can all learn about the disconnect as soon as it happens.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    from ._types import Receive

__all__ = ["DisconnectWatcher"]

logger = logging.getLogger("aaf.error")

T = TypeVar("T")
D = TypeVar("D")


class DisconnectWatcher:
    """Calls ``receive()`` in a task until ``http.disconnect``; ``gone`` is set then.

    It must be the only reader of ``receive()``: start it after the request body is read
    (other ``http.request`` messages it sees are dropped).
    """

    __slots__ = ("_task", "gone")

    def __init__(self, receive: Receive | None) -> None:
        self.gone = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        if receive is None:
            self.gone.set()  # created for a client already known to be gone
        else:
            self._task = asyncio.get_running_loop().create_task(self._watch(receive))

    async def _watch(self, receive: Receive) -> None:
        try:
            while (await receive())["type"] != "http.disconnect":
                pass
        except Exception:
            # A receive() that fails means the server has lost the connection too.
            logger.debug("receive() failed while watching for a disconnect", exc_info=True)
        self.gone.set()

    async def check(self) -> bool:
        """Whether the client is gone, after one turn of the loop (which lets a watcher that
        was just started collect a disconnect already queued)."""
        if not self.gone.is_set():
            await asyncio.sleep(0)
        return self.gone.is_set()

    async def stop(self) -> None:
        """Stop watching (the request is over); safe to call more than once."""
        task, self._task = self._task, None
        if task is not None and not task.done():
            task.cancel()
            await asyncio.wait({task})

    async def run(self, work: Awaitable[T], default: D) -> T | D:
        """``await work``, but cancel it and return ``default`` if the client leaves first."""
        if self.gone.is_set():
            # Nobody is waiting any more: do not even start (a coroutine cancelled before its
            # first step never runs).
            asyncio.ensure_future(work).cancel()
            return default
        task = asyncio.ensure_future(work)
        gone = asyncio.ensure_future(self.gone.wait())
        try:
            await asyncio.wait({task, gone}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            gone.cancel()
            if not task.done():
                task.cancel()
                # Let the work run its cleanup (finally blocks) before the caller goes on.
                await asyncio.wait({task})
        if task.cancelled():
            return default
        return task.result()
