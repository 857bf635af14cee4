"""Lifespan: startup/shutdown hooks, a state-yielding context manager, and forwarding of the
lifespan protocol to mounted ASGI apps that speak it.

Startup runs three steps in order: the ``on_startup`` hooks (as listed), the lifespan context
manager (entered), then each mounted app's lifespan (in mount order). Shutdown undoes them in
reverse: background tasks are drained, the mounted apps are shut down (last mounted first), the
context manager exits, and the ``on_shutdown`` hooks run (as listed). Every undo runs even if an
earlier one failed; the first error is reported, the others are logged.

The state: before the mounted apps start, the lifespan state (``scope["state"]``, which servers
copy into every request as ``conn.state``) is seeded with ``app.state`` (so values set at
import time or by startup hooks reach handlers), what the context manager yielded overrides
them, and the result is copied back into ``app.state``.

The startup-failure rule: when a step fails, the undo of every step that *completed* runs, in
reverse order, then the server is told startup failed (with the first error; errors of the undo
are logged). The ``on_shutdown`` hooks are the undo of the ``on_startup`` hooks as a whole:
they run only if every startup hook completed (as in Starlette, where a failing startup
handler means no shutdown handler runs), so they may assume what the startup hooks made
exists. An entered context manager exits normally (the code after its ``yield`` runs), and
mounted apps that started are shut down.

Mounted apps: only ``lifespan.*`` messages count as "speaks lifespan". An app that raises or
returns on the lifespan scope (the ASGI way to say "no lifespan"), sends anything else, calls
``receive()`` again before answering ``lifespan.startup`` (it is reading a request body), or
gives no answer within ``mount_startup_timeout`` seconds is treated as having no lifespan: its
lifespan task is cancelled and awaited at once, and shutdown does not wait for it.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import inspect
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from contextlib import AbstractAsyncContextManager
from typing import TYPE_CHECKING, Any, TypeAlias, cast

from ._draining import HOLD_SERVER_HANDLER, STOPPING, unwatch_signals, watch_signals

if TYPE_CHECKING:
    from ._types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["Hook", "Lifecycle", "LifespanContext", "LifespanFactory"]

logger = logging.getLogger("aaf.lifespan")

Hook: TypeAlias = Callable[[], Awaitable[Any] | Any]
LifespanContext: TypeAlias = (
    AbstractAsyncContextManager[Mapping[str, Any] | None] | AsyncIterator[Mapping[str, Any] | None]
)
#: ``lifespan(app)``: called with the app, returns an async context manager (or is an async
#: generator function). ``Any`` rather than ``App`` keeps this module free of the app module.
LifespanFactory: TypeAlias = Callable[[Any], LifespanContext]
Undo: TypeAlias = Callable[[], Awaitable[None]]

#: Seconds a mounted app may take to answer ``lifespan.startup`` before it is treated as an app
#: without lifespan. Long enough for a pool to connect; short enough that an app which never
#: answers (it waits for a request that never comes) delays server start-up only a little.
MOUNT_STARTUP_TIMEOUT = 5.0

# Put in the answers queue (never sent by an app) when the app calls receive() again before
# answering: it is not driving the lifespan protocol.
_RECEIVED_AGAIN = "aaf.lifespan.received_again"


class Lifecycle:
    """Where the app is in its life, for readiness probes (``aaf.health``); set by the lifespan.

    ``starting``: a lifespan startup began (False: no server ever ran the lifespan);
    ``started``: the startup completed and shutdown has not begun; ``draining``: shutdown began
    (the app finishes what it serves and should get no new traffic) - the lifespan shutdown
    began, or, when ``watches_stop`` (``App(close_on_shutdown=True)``), the process got the
    signal that stops the server (most servers run the lifespan shutdown only after every
    connection ended). Only the lifespan and that signal write these, never the request path.
    """

    __slots__ = ("_draining", "started", "starting", "watches_stop")

    def __init__(self) -> None:
        self.starting = False
        self.started = False
        self._draining = False
        self.watches_stop = False

    @property
    def draining(self) -> bool:
        return self._draining or (self.watches_stop and STOPPING.is_set())

    @draining.setter
    def draining(self, value: bool) -> None:
        self._draining = value

    def __repr__(self) -> str:
        return (
            f"Lifecycle(starting={self.starting}, started={self.started}, draining={self.draining})"
        )


async def call_hook(hook: Hook) -> None:
    result = hook()
    if inspect.isawaitable(result):
        await result


class LifespanClient:
    """Drives the lifespan protocol of an ASGI app from outside (mounted apps, test client).

    ``startup_timeout`` bounds the wait for the answer to ``lifespan.startup`` (None: no bound);
    an app that gives none in time is treated as having no lifespan.
    """

    #: Seconds an app may take to answer ``lifespan.shutdown`` and return (also the bound on
    #: waiting for a cancelled app to end).
    shutdown_timeout = 5.0

    def __init__(self, name: str, app: ASGIApp, *, startup_timeout: float | None = None) -> None:
        self.name = name
        self.app = app
        self.startup_timeout = startup_timeout
        self._to_app: asyncio.Queue[Message] = asyncio.Queue()
        self._from_app: asyncio.Queue[Message] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self._unanswered = False  # the app received a message it has not answered yet

    # ---------------------------------------------------------- the app's receive and send
    async def _receive(self) -> Message:
        if self._unanswered:
            # The protocol says: answer before receiving again. An app asking for more is
            # reading a request body; it would wait here forever.
            self._from_app.put_nowait({"type": _RECEIVED_AGAIN})
            await asyncio.get_running_loop().create_future()  # until cancelled
        message = await self._to_app.get()
        self._unanswered = True
        return message

    async def _send(self, message: Message) -> None:
        if str(message.get("type", "")).startswith("lifespan."):
            self._unanswered = False
        self._from_app.put_nowait(message)

    # ---------------------------------------------------------- helpers
    def _started_task(self) -> asyncio.Task[None]:
        if self._task is None:
            raise RuntimeError("the lifespan was not started: call startup() first")
        return self._task

    async def _next_message(self) -> Message | None:
        """The app's next message, or None if it returned or raised instead of answering."""
        task = self._started_task()
        if not self._from_app.empty():
            return self._from_app.get_nowait()
        getter = asyncio.ensure_future(self._from_app.get())
        try:
            await asyncio.wait({getter, task}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            if not getter.done():
                getter.cancel()
        if getter.done() and not getter.cancelled():
            return getter.result()
        return None

    async def _end(self, grace: float = 0.0) -> None:
        """End the app's lifespan task: after ``grace`` seconds to return by itself, cancel it
        and wait (bounded) until it has ended."""
        task = self._started_task()
        if grace > 0:
            await asyncio.wait({task}, timeout=grace)
        task.cancel()
        done, _ = await asyncio.wait({task}, timeout=self.shutdown_timeout)
        if not done:
            logger.error(
                "app at %r ignored the cancellation of its lifespan for %ss; leaving it running",
                self.name,
                self.shutdown_timeout,
            )
        elif not task.cancelled() and task.exception() is not None:
            logger.debug("app at %r ended its lifespan with an error", self.name)

    # ---------------------------------------------------------- the protocol
    async def startup(self, state: dict[str, Any]) -> bool:
        """Start the app; False when it does not speak lifespan (its task is then ended)."""
        scope: Scope = {
            "type": "lifespan",
            "asgi": {"version": "3.0", "spec_version": "2.0"},
            "state": state,
        }
        self._to_app.put_nowait({"type": "lifespan.startup"})
        task = self._task = asyncio.ensure_future(self.app(scope, self._receive, self._send))
        try:
            async with asyncio.timeout(self.startup_timeout):
                message = await self._next_message()
        except TimeoutError:
            logger.warning(
                "app at %r did not answer lifespan.startup within %ss: treating it as an app "
                "without lifespan. Mount it with lifespan=False if it has none; give it more "
                "time (mount_startup_timeout) if its startup is slow",
                self.name,
                self.startup_timeout,
            )
            await self._end()
            return False
        except BaseException:
            task.cancel()  # we were cancelled: the app must not outlive us
            raise
        if message is not None and message.get("type") == "lifespan.startup.complete":
            return True
        if message is not None and message.get("type") == "lifespan.startup.failed":
            await self._end(grace=self.shutdown_timeout)  # it may clean up before returning
            raise RuntimeError(
                f"app at {self.name!r} failed to start: {message.get('message', '')}"
            )
        # Raising or returning on a lifespan scope is the ASGI way to say "not supported";
        # anything else than a lifespan answer means it handled the scope as something else.
        if message is None:
            answer = "returned or raised"
        elif message.get("type") == _RECEIVED_AGAIN:
            answer = "called receive() again before answering"
        else:
            answer = f"answered with {message.get('type')!r}"
        logger.debug("app at %r does not support lifespan (it %s)", self.name, answer)
        await self._end()
        return False

    async def shutdown(self) -> None:
        """Ask the app to shut down; waits at most ``shutdown_timeout`` seconds for it."""
        task = self._started_task()
        self._to_app.put_nowait({"type": "lifespan.shutdown"})
        message: Message | None = None
        try:
            async with asyncio.timeout(self.shutdown_timeout):
                message = await self._next_message()
                if message is not None and str(message.get("type")).startswith(
                    "lifespan.shutdown."
                ):
                    await asyncio.wait({task})
        except TimeoutError:
            # An app that never answers must not hang the server's shutdown.
            logger.error(
                "app at %r did not finish its shutdown within %ss; cancelling it",
                self.name,
                self.shutdown_timeout,
            )
            await self._end()
            return
        if not task.done():
            # It answered with something that is not a shutdown answer: stop it.
            logger.error("app at %r broke the lifespan protocol at shutdown", self.name)
            await self._end()
            return
        if not task.cancelled() and task.exception() is not None:
            logger.error(
                "app at %r ended its lifespan with an error",
                self.name,
                exc_info=task.exception(),
            )
        if message is not None and message.get("type") == "lifespan.shutdown.failed":
            raise RuntimeError(
                f"app at {self.name!r} failed to shut down: {message.get('message', '')}"
            )


async def _undo_all(steps: list[Undo]) -> BaseException | None:
    """Run every undo, last first; the first error is returned, the others are logged."""
    first: BaseException | None = None
    for undo in reversed(steps):
        try:
            await undo()
        except Exception as exc:
            if first is None:
                first = exc
            else:
                logger.error("shutdown step failed as well", exc_info=exc)
    return first


class LifespanRunner:
    """Runs an app's startup and shutdown; one instance per app.

    ``lifespan`` makes the context manager (already bound to the app); ``state`` is the app's
    state dict; ``mounted_apps`` lists the ``(prefix, app)`` pairs to forward lifespan to (read
    at startup, so mounts added after the app was built count); ``drain`` waits for background
    tasks before anything shuts down. ``close_on_shutdown``: watch the process's stop signals
    from startup on (see ``aaf._draining``) and set the stop at shutdown, so open event
    streams end and WebSockets close instead of holding the server's shutdown.
    """

    def __init__(
        self,
        lifespan: Callable[[], LifespanContext] | None,
        on_startup: Iterable[Hook],
        on_shutdown: Iterable[Hook],
        *,
        state: dict[str, Any],
        mounted_apps: Callable[[], Iterable[tuple[str, ASGIApp]]],
        drain: Callable[[], Awaitable[None]],
        mount_startup_timeout: float = MOUNT_STARTUP_TIMEOUT,
        close_on_shutdown: bool = True,
    ) -> None:
        self.close_on_shutdown = close_on_shutdown
        self.lifespan = lifespan
        self.on_startup = list(on_startup)
        self.on_shutdown = list(on_shutdown)
        self.state = state
        self.mounted_apps = mounted_apps
        self.drain = drain
        self.mount_startup_timeout = mount_startup_timeout
        self._undo: list[Undo] | None = None  # set while started
        self.lifecycle = Lifecycle()

    def _context(self) -> AbstractAsyncContextManager[Mapping[str, Any] | None]:
        if self.lifespan is None:
            raise RuntimeError("no lifespan")
        made = self.lifespan()
        if isinstance(made, AbstractAsyncContextManager):
            return made
        if inspect.isasyncgen(made):
            # A bare async generator: treat it as if decorated with @asynccontextmanager.
            generator = cast("AsyncIterator[Mapping[str, Any] | None]", made)
            return contextlib.asynccontextmanager(lambda: generator)()
        raise TypeError(
            "lifespan must return an async context manager (decorate it with "
            "@contextlib.asynccontextmanager) or be an async generator function"
        )

    async def startup(self, state: dict[str, Any]) -> None:
        """Run the startup steps (see the module docstring); raise on any failure."""
        lifecycle = self.lifecycle
        lifecycle.starting, lifecycle.started, lifecycle.draining = True, False, False
        STOPPING.clear()  # a stop seen by an app that ran earlier in this process is over
        if self.close_on_shutdown:
            # The server installed its signal handlers before starting the lifespan (uvicorn,
            # gunicorn's workers); a server that installs them later is caught when the first
            # long-lived response starts (App calls watch_signals() again then).
            lifecycle.watches_stop = watch_signals()
        undo: list[Undo] = []
        try:
            yielded = await self._start_own(undo)
            # app.state first (set at import time or by hooks), what the lifespan yielded wins.
            state.update(self.state)
            state.update(yielded)
            self.state.update(state)
            await self._start_mounted(state, undo)
        except BaseException:
            error = await _undo_all(undo)
            if error is not None:
                logger.error("undoing the failed startup failed as well", exc_info=error)
            raise
        self._undo = undo
        lifecycle.started = True

    async def _start_own(self, undo: list[Undo]) -> Mapping[str, Any]:
        """The hooks and the context manager; returns what the context manager yielded."""
        for hook in self.on_startup:
            await call_hook(hook)
        # Undone last first: so reversed here, they run as listed.
        undo.extend(functools.partial(call_hook, hook) for hook in reversed(self.on_shutdown))
        if self.lifespan is None:
            return {}
        context = self._context()
        yielded = await context.__aenter__()

        async def exit_context() -> None:
            await context.__aexit__(None, None, None)

        undo.append(exit_context)
        if yielded is None:
            return {}
        if not isinstance(yielded, Mapping):
            raise TypeError(
                f"the lifespan yielded {type(yielded).__name__}; yield a dict (the "
                "state handlers see as conn.state) or nothing"
            )
        return yielded

    async def _start_mounted(self, state: dict[str, Any], undo: list[Undo]) -> None:
        seen: set[int] = set()
        for prefix, app in self.mounted_apps():
            if id(app) in seen:
                continue  # the same app mounted twice starts once
            seen.add(id(app))
            mounted = LifespanClient(prefix, app, startup_timeout=self.mount_startup_timeout)
            if await mounted.startup(state):
                undo.append(mounted.shutdown)

    async def shutdown(self) -> None:
        # Readiness turns 503 first, so load balancers stop sending while the app drains.
        self.lifecycle.started, self.lifecycle.draining = False, True
        if self.close_on_shutdown:
            # Servers that run the lifespan shutdown while connections are still open
            # (or a test client): event streams and WebSockets end now.
            STOPPING.set()
            # Their handlers' cleanup may still need what the steps below close.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(HOLD_SERVER_HANDLER):
                    await STOPPING.settled()
        try:
            # Background work still running may need what the steps below close: it goes first.
            await self.drain()
            undo, self._undo = self._undo, None
            if undo is not None:
                error = await _undo_all(undo)
                if error is not None:
                    raise error
        finally:
            if self.close_on_shutdown:
                unwatch_signals()
                # The stop is over for this process; an app started later starts afresh.
                STOPPING.clear()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The ASGI lifespan protocol."""
        message = await receive()
        if message["type"] != "lifespan.startup":
            return
        state = scope.get("state")
        if state is None:
            state = self.state  # a server without lifespan state: handlers read app.state
        try:
            await self.startup(state)
        except Exception as exc:
            logger.exception("application startup failed")
            reason = f"{type(exc).__name__}: {exc}"
            await send({"type": "lifespan.startup.failed", "message": reason})
            return
        await send({"type": "lifespan.startup.complete"})
        await receive()  # lifespan.shutdown
        try:
            await self.shutdown()
        except Exception as exc:
            logger.exception("application shutdown failed")
            await send(
                {"type": "lifespan.shutdown.failed", "message": f"{type(exc).__name__}: {exc}"}
            )
            return
        await send({"type": "lifespan.shutdown.complete"})
