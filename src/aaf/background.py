"""Background tasks: work that runs after the response has been sent.

``conn.add_background(send_welcome_email, user.email)`` queues a call (sync or async); the app
runs the queue once the handler has returned and its response is out, so the client does not
wait for it. Rules:

* Tasks run in the order they were added; a sync function runs in a worker thread.
* A task's error is logged (logger ``aaf.background``, with the route) and the next task still
  runs; nothing reaches the client, whose response is already complete.
* If the handler raises, its tasks are dropped (and a warning logged): they belong to a request
  that failed.
* Each app tracks the tasks still running; at shutdown it waits for them up to
  ``aaf(..., background_timeout=10.0)`` seconds, then cancels the rest (with a warning).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from ._callables import is_async_callable

__all__ = ["BackgroundRunner", "BackgroundTask"]

logger = logging.getLogger("aaf.background")


def _name(func: Callable[..., Any]) -> str:
    return getattr(func, "__qualname__", None) or repr(func)


class BackgroundTask:
    """One queued call: ``func(*args, **kwargs)``."""

    __slots__ = ("args", "func", "kwargs")

    def __init__(
        self, func: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> None:
        if not callable(func):
            raise TypeError(f"add_background() needs a function to call, not {func!r}")
        self.func = func
        self.args = args
        self.kwargs = kwargs

    async def run(self) -> None:
        if is_async_callable(self.func):
            await self.func(*self.args, **self.kwargs)
        else:
            await asyncio.to_thread(self.func, *self.args, **self.kwargs)

    def __repr__(self) -> str:
        return f"<BackgroundTask {_name(self.func)}>"


async def run_tasks(tasks: list[BackgroundTask], where: str) -> None:
    """Run ``tasks`` one after the other; log each failure with ``where`` (the route)."""
    for task in tasks:
        try:
            await task.run()
        except Exception:
            logger.exception("background task %s for %s failed", _name(task.func), where)


class BackgroundRunner:
    """The app's record of background work in progress, so shutdown can wait for it."""

    def __init__(self, shutdown_timeout: float = 10.0) -> None:
        if shutdown_timeout < 0:
            raise ValueError(f"background_timeout must be >= 0 seconds, not {shutdown_timeout!r}")
        self.shutdown_timeout = shutdown_timeout
        self._running: set[asyncio.Task[None]] = set()

    @property
    def pending(self) -> int:
        """How many batches of background tasks are still running."""
        return len(self._running)

    async def run(self, tasks: list[BackgroundTask], where: str) -> None:
        """Run a request's tasks and wait for them.

        They run in a task of their own: if the server cancels the request task, the work goes
        on (and shutdown still waits for it); if shutdown cancels the work, the request simply
        ends. ``asyncio.wait`` gives both: it never cancels what it waits for, nor raises its
        cancellation.
        """
        batch = asyncio.get_running_loop().create_task(run_tasks(tasks, where))
        self._running.add(batch)
        batch.add_done_callback(self._running.discard)
        await asyncio.wait({batch})

    async def drain(self) -> None:
        """Wait for running background work, up to the timeout; then cancel what is left."""
        if not self._running:
            return
        running = set(self._running)
        _, late = await asyncio.wait(running, timeout=self.shutdown_timeout)
        if late:
            logger.warning(
                "cancelling %d background task batch(es) still running after %ss at shutdown",
                len(late),
                self.shutdown_timeout,
            )
            for batch in late:
                batch.cancel()
            await asyncio.wait(late)
