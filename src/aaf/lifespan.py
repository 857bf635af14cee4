"""Lifespan: startup/shutdown hooks, a state-yielding context manager, and forwarding of the
lifespan protocol to mounted ASGI apps that speak it."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from contextlib import AbstractAsyncContextManager, AsyncExitStack
from typing import TYPE_CHECKING, Any, TypeAlias, cast

if TYPE_CHECKING:
    from ._types import ASGIApp, Message, Receive, Scope, Send
    from .app import App

__all__ = ["Hook", "LifespanFactory"]

logger = logging.getLogger("aaf.lifespan")

Hook: TypeAlias = Callable[[], Awaitable[Any] | Any]
LifespanFactory: TypeAlias = Callable[
    ["App"],
    AbstractAsyncContextManager[Mapping[str, Any] | None] | AsyncIterator[Mapping[str, Any] | None],
]


async def call_hook(hook: Hook) -> None:
    result = hook()
    if inspect.isawaitable(result):
        await result


class LifespanClient:
    """Drives the lifespan protocol of an ASGI app from outside (mounted apps, test client)."""

    #: Seconds an app may take to answer ``lifespan.shutdown`` and return.
    shutdown_timeout = 5.0

    def __init__(self, prefix: str, app: ASGIApp) -> None:
        self.prefix = prefix
        self.app = app
        self._to_app: asyncio.Queue[Message] = asyncio.Queue()
        self._from_app: asyncio.Queue[Message] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None

    async def _next_message(self) -> Message | None:
        """The app's next message, or None if it returned or raised instead of answering."""
        if self._task is None:
            raise RuntimeError("the mounted lifespan was not started")
        getter = asyncio.ensure_future(self._from_app.get())
        done, _ = await asyncio.wait({getter, self._task}, return_when=asyncio.FIRST_COMPLETED)
        if getter in done:
            return getter.result()
        getter.cancel()
        return None

    async def startup(self, state: dict[str, Any]) -> bool:
        """Start the app; False when it does not speak lifespan (it raised or returned)."""
        scope: Scope = {
            "type": "lifespan",
            "asgi": {"version": "3.0", "spec_version": "2.0"},
            "state": state,
        }
        self._task = asyncio.ensure_future(self.app(scope, self._to_app.get, self._from_app.put))
        await self._to_app.put({"type": "lifespan.startup"})
        message = await self._next_message()
        if message is None:
            # Per the ASGI spec, raising on a lifespan scope means "not supported".
            with contextlib.suppress(BaseException):
                self._task.result()
            logger.debug("app at %r does not support lifespan", self.prefix)
            return False
        if message["type"] == "lifespan.startup.failed":
            raise RuntimeError(
                f"app at {self.prefix!r} failed to start: {message.get('message', '')}"
            )
        return True

    async def shutdown(self) -> None:
        """Ask the app to shut down; waits at most ``shutdown_timeout`` seconds for it."""
        if self._task is None:
            raise RuntimeError("the lifespan was not started")
        await self._to_app.put({"type": "lifespan.shutdown"})
        message: Message | None = None
        try:
            async with asyncio.timeout(self.shutdown_timeout):
                message = await self._next_message()
                await asyncio.wait({self._task})
        except TimeoutError:
            # An app that never answers must not hang the server's shutdown.
            logger.error(
                "app at %r did not finish its shutdown within %ss; cancelling it",
                self.prefix,
                self.shutdown_timeout,
            )
            self._task.cancel()
            await asyncio.wait({self._task})
            return
        if not self._task.cancelled() and self._task.exception() is not None:
            logger.error(
                "app at %r ended its lifespan with an error",
                self.prefix,
                exc_info=self._task.exception(),
            )
        if message is not None and message["type"] == "lifespan.shutdown.failed":
            raise RuntimeError(
                f"app at {self.prefix!r} failed to shut down: {message.get('message', '')}"
            )


class LifespanRunner:
    """Runs the app's startup and shutdown; one instance per app."""

    def __init__(
        self,
        app: App,
        lifespan: LifespanFactory | None,
        on_startup: Iterable[Hook],
        on_shutdown: Iterable[Hook],
    ) -> None:
        self.app = app
        self.lifespan = lifespan
        self.on_startup = list(on_startup)
        self.on_shutdown = list(on_shutdown)
        self._stack: AsyncExitStack | None = None

    def _context(self) -> AbstractAsyncContextManager[Mapping[str, Any] | None]:
        if self.lifespan is None:
            raise RuntimeError("no lifespan")
        made = self.lifespan(self.app)
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
        """Run hooks, enter the context manager, start mounted apps; raise on any failure."""
        stack = AsyncExitStack()
        self._stack = stack
        try:
            for hook in self.on_startup:
                await call_hook(hook)
            for hook in reversed(self.on_shutdown):
                stack.push_async_callback(call_hook, hook)
            if self.lifespan is not None:
                yielded = await stack.enter_async_context(self._context())
                if yielded is not None:
                    if not isinstance(yielded, Mapping):
                        raise TypeError(
                            f"the lifespan yielded {type(yielded).__name__}; yield a dict (the "
                            "state handlers see as conn.state) or nothing"
                        )
                    state.update(yielded)
            self.app.state.update(state)
            seen: set[int] = set()
            for mount in self.app.mounts():
                if id(mount.app) in seen:
                    continue
                seen.add(id(mount.app))
                mounted = LifespanClient(mount.prefix, mount.app)
                if await mounted.startup(state):
                    stack.push_async_callback(mounted.shutdown)
        except BaseException:
            self._stack = None
            await stack.aclose()
            raise

    async def shutdown(self) -> None:
        # Background work still running may need what the hooks below close: it goes first.
        await self.app.background.drain()
        stack, self._stack = self._stack, None
        if stack is not None:
            await stack.aclose()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The ASGI lifespan protocol."""
        message = await receive()
        if message["type"] != "lifespan.startup":
            return
        state = scope.get("state")
        if state is None:
            state = self.app.state
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
