"""The process is stopping: one flag that long-lived responses (event streams, WebSockets) watch.

Most servers run the lifespan shutdown only *after* every connection has finished, and an event
stream or a WebSocket never finishes by itself: the server waits for its graceful timeout (or
forever, plain uvicorn) and then cancels them with a traceback. So aaf also learns about the
stop from the signal that starts it: ``watch_signals()`` chains a handler in front of the
server's own SIGTERM/SIGINT handler (never replacing it: the server's handler still runs, with
the same arguments). The handler sets ``STOPPING``; event streams then end cleanly and
WebSockets are closed with 1001, so the server's own shutdown finds nothing left to wait for.

Chaining works for every way a server listens for signals:

- ``signal.signal(sig, handler)`` (uvicorn, gunicorn's workers, twisted/daphne): our handler
  calls the server's once aaf's open streams and sockets have ended (at most
  ``HOLD_SERVER_HANDLER`` seconds later; at once if none is open or on a second signal).
- ``loop.add_signal_handler`` (hypercorn, granian's workers): asyncio installs a no-op Python
  handler and learns about the signal through ``signal.set_wakeup_fd``, which the interpreter
  writes to whatever the Python-level handler is; replacing the no-op keeps the loop's handler.

A handler the server installs *after* ours replaces it; ``watch_signals()`` is therefore called
again whenever a long-lived response starts (a cheap check), and chains anew. Signals that run
the default action (SIG_DFL: the process dies at once) or are ignored are left alone: there is
no shutdown to take part in.

``STOPPING`` is process-wide on purpose: a signal stops the whole process. It can also be set
by an app's lifespan shutdown, and is cleared when a lifespan starts or finishes shutting down
(so apps run one after another in one process, as in tests, do not see an old stop).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
import signal
import threading
from collections.abc import Awaitable, Callable
from types import FrameType
from typing import Any

__all__ = ["STOPPING", "Drain", "StopWatch", "unwatch_signals", "watch_signals"]

logger = logging.getLogger("aaf.lifespan")

WATCHED_SIGNALS = (signal.SIGTERM, signal.SIGINT)
#: The longest aaf holds a server's ``signal.signal`` handler back while its event streams end
#: and its WebSockets close: some servers (daphne) cancel every request at once when their
#: handler runs, before an ended stream's last chunk or a close frame is written.
HOLD_SERVER_HANDLER = 1.0

Callback = Callable[[], Any]


class Drain:
    """A flag that wakes waiters on any event loop when it is set, even from a signal handler.

    ``subscribe(callback)`` runs ``callback`` on the subscriber's loop once the flag is set
    (at once if it already is); it returns the function that unsubscribes.
    """

    __slots__ = ("_held", "_is_set", "_keys", "_settle_waiters", "_subscribers")

    def __init__(self) -> None:
        self._is_set = False
        self._held = 0  # long-lived responses open now (see hold())
        self._settle_waiters: list[asyncio.Future[None]] = []
        self._keys = itertools.count()
        self._subscribers: dict[int, tuple[asyncio.AbstractEventLoop, Callback]] = {}

    def is_set(self) -> bool:
        return self._is_set

    def set(self) -> None:
        """Set the flag; safe from any thread and from a signal handler (it only schedules)."""
        if self._is_set:
            return
        self._is_set = True
        subscribers, self._subscribers = self._subscribers, {}
        for loop, callback in subscribers.values():
            # call_soon_threadsafe: a signal handler runs between two bytecodes of whatever
            # the loop was doing, so the callback must run later, from the loop itself.
            with contextlib.suppress(RuntimeError):  # that loop is closed: nothing to wake
                loop.call_soon_threadsafe(callback)

    def clear(self) -> None:
        self._is_set = False

    def subscribe(self, callback: Callback) -> Callable[[], None]:
        loop = asyncio.get_running_loop()
        if self._is_set:
            handle = loop.call_soon(callback)
            return handle.cancel
        key = next(self._keys)
        self._subscribers[key] = (loop, callback)

        def unsubscribe() -> None:
            self._subscribers.pop(key, None)

        return unsubscribe

    def hold(self) -> Callable[[], None]:
        """Count one long-lived response as open until the returned function is called."""
        self._held += 1
        released = False

        def release() -> None:
            nonlocal released
            if not released:
                released = True
                self._held -= 1
                if self._held == 0:
                    waiters, self._settle_waiters = self._settle_waiters, []
                    for waiter in waiters:
                        waiter.get_loop().call_soon_threadsafe(_wake, waiter)

        return release

    async def settled(self) -> None:
        """Wait until no long-lived response is open."""
        if self._held == 0:
            return
        waiter = asyncio.get_running_loop().create_future()
        self._settle_waiters.append(waiter)
        try:
            await waiter
        finally:
            with contextlib.suppress(ValueError):
                self._settle_waiters.remove(waiter)

    def future(self) -> tuple[asyncio.Future[None], Callable[[], None]]:
        """A future done when the flag is set, and the function that releases it."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        unsubscribe = self.subscribe(lambda: _wake(future))

        def release() -> None:
            unsubscribe()
            future.cancel()

        return future, release

    async def wait(self) -> None:
        future, release = self.future()
        try:
            await future
        finally:
            release()


def _wake(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


#: Set when the process was told to stop (or an app's lifespan shutdown began).
STOPPING = Drain()

# The handler each watched signal had before ours, by signal number.
_previous: dict[int, Any] = {}


# The task that calls the server's handler once aaf's responses ended (kept: see StopWatch).
_chained: set[asyncio.Task[None]] = set()


def _on_signal(signum: int, frame: FrameType | None) -> None:
    previous = _previous.get(signum)
    first = not STOPPING.is_set()
    STOPPING.set()
    try:
        loop: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
    except RuntimeError:
        loop = None  # the signal arrived outside the loop: nothing of ours to wait for
    if not first or loop is None or STOPPING._held == 0:
        # A second signal (Ctrl-C twice: the user insists) goes to the server at once.
        _chain(previous, signum, frame)
        return

    def start() -> None:
        task = asyncio.ensure_future(_chain_when_settled(previous, signum, frame))
        _chained.add(task)
        task.add_done_callback(_chained.discard)

    # Scheduled, not run: a signal handler runs between two bytecodes of the loop's work.
    loop.call_soon_threadsafe(start)


async def _chain_when_settled(previous: Any, signum: int, frame: FrameType | None) -> None:
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(HOLD_SERVER_HANDLER):
            await STOPPING.settled()
    _chain(previous, signum, frame)


def _chain(previous: Any, signum: int, frame: FrameType | None) -> None:
    if callable(previous):
        previous(signum, frame)
    elif previous == signal.SIG_DFL:  # pragma: no cover - only reached if chained onto SIG_DFL
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)


def watch_signals() -> bool:
    """Chain ``STOPPING`` in front of the process's SIGTERM/SIGINT handlers; True if watching.

    Only the main thread can install signal handlers; elsewhere (an app served from a thread)
    this does nothing and returns False.
    """
    if threading.current_thread() is not threading.main_thread():
        return False
    watching = False
    for signum in WATCHED_SIGNALS:
        current = signal.getsignal(signum)
        if current is _on_signal:
            watching = True
            continue
        if not callable(current):
            continue  # SIG_DFL, SIG_IGN or not set from Python: no server shutdown to join
        _previous[signum] = current
        signal.signal(signum, _on_signal)
        watching = True
    return watching


def unwatch_signals() -> None:
    """Put back the handlers ``watch_signals()`` chained onto (where ours is still in place)."""
    if threading.current_thread() is not threading.main_thread():
        return
    for signum, previous in list(_previous.items()):
        if signal.getsignal(signum) is _on_signal:
            signal.signal(signum, previous)
        del _previous[signum]


class StopWatch:
    """Runs ``close()`` on the creator's loop when ``STOPPING`` is set, until ``cancel()``;
    if ``close()`` fails (a server refused it), ``fallback()`` instead.

    ``stopped`` tells afterwards that the stop closed it (a WebSocket: its handler's next
    receive or send then ends quietly, as when the client leaves). The socket counts as open
    (``Drain.hold``) until ``finish()``, called when its handler is done: the server's own
    handler and the lifespan shutdown wait for that (bounded), so a handler's cleanup still
    finds the app's resources open and its close frame is sent before the server stops.
    """

    __slots__ = ("_close", "_fallback", "_release", "_task", "_unsubscribe", "stopped")

    def __init__(
        self, close: Callable[[], Awaitable[None]], fallback: Callable[[], Awaitable[None]]
    ) -> None:
        self.stopped = False
        self._close = close
        self._fallback = fallback
        self._task: asyncio.Future[None] | None = None  # kept: a task nobody holds may vanish
        self._release = STOPPING.hold()
        self._unsubscribe: Callable[[], None] | None = STOPPING.subscribe(self._fire)

    def _fire(self) -> None:
        self._unsubscribe = None
        self.stopped = True
        self._task = asyncio.ensure_future(self._run())

    async def _run(self) -> None:
        try:
            await self._close()
        except Exception:
            try:
                await self._fallback()
            except Exception:
                # Nothing more to try: the server drops the connection as it stops.
                logger.debug("could not close a WebSocket for the stop", exc_info=True)

    def finish(self) -> None:
        """The handler is done with the socket."""
        self.cancel()
        self._release()

    def cancel(self) -> None:
        """The socket is closing: nothing to close at the stop any more."""
        unsubscribe, self._unsubscribe = self._unsubscribe, None
        if unsubscribe is not None:
            unsubscribe()
