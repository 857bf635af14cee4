"""Typed WebSocket messages on the connection: ``receive_as``, ``iter_as``, ``send_as``.

Messages are decoded into / encoded from types with msgspec (``aaf._ws_typed``); the route's
``receives=``/``sends=`` (``conn.route.doc``) are the defaults. See docs/asyncapi.md.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any, TypeVar, overload

from . import _json
from ._ws_typed import decode_message, no_message_type, unexpected_send_type
from .websocket import INVALID_PAYLOAD, WebSocketDataError, WebSocketDisconnect

if TYPE_CHECKING:
    from ._types import Message

__all__ = ["TypedMessagesMixin"]

T = TypeVar("T")


class TypedMessagesMixin:
    """The typed-message half of a WebSocket ``Connection`` (mixed in after WebSocketMixin)."""

    __slots__ = ()

    if TYPE_CHECKING:
        # Provided by WebSocketMixin.
        async def _receive_data(self) -> Message: ...
        async def _send_message(self, message: Message) -> None: ...

    @overload
    async def receive_as(self, message_type: type[T], /) -> T: ...
    @overload
    async def receive_as(self, message_type: Any = None, /) -> Any: ...  # unions, list[...]
    async def receive_as(self, message_type: Any = None, /) -> Any:
        """The next message (text or binary JSON) decoded into ``message_type`` (default: the
        route's ``receives=``). A message that does not decode or validate raises
        ``WebSocketDataError`` (1007, the reason names the field, e.g. ``$.text: Expected
        `str`, got `int```); left uncaught, the app closes the socket with it."""
        if message_type is None:
            message_type = self._route_doc_type("receives")
            if message_type is None:
                raise no_message_type("receive_as() / iter_as()", "receives")
        # The size limit is enforced by receive() (1009) before any decoding.
        message = await self._receive_data()
        payload = message.get("text")
        if payload is None:
            payload = message.get("bytes") or b""
        try:
            return decode_message(message_type, payload)
        except ValueError as exc:
            raise WebSocketDataError(str(exc), INVALID_PAYLOAD) from None

    @overload
    def iter_as(self, message_type: type[T], /) -> AsyncIterator[T]: ...
    @overload
    def iter_as(self, message_type: Any = None, /) -> AsyncIterator[Any]: ...  # unions...
    async def iter_as(self, message_type: Any = None, /) -> AsyncIterator[Any]:
        """Typed messages (see :meth:`receive_as`) until the client disconnects."""
        try:
            while True:
                yield await self.receive_as(message_type)
        except WebSocketDisconnect:
            return

    async def send_as(self, message: Any) -> None:
        """Send ``message`` (a msgspec Struct, dataclass, attrs, dict ...) as a JSON text message.

        When the route declares ``sends=`` as a class (or a union of classes), a message of
        another type is a server bug: ``TypeError`` (the app closes with 1011).
        """
        declared = self._route_doc_type("sends")
        if declared is not None:
            problem = unexpected_send_type(declared, message)
            if problem is not None:
                raise TypeError(problem)
        await self._send_message({"type": "websocket.send", "text": _json.encode(message).decode()})

    def _route_doc_type(self, which: str) -> Any:
        # conn.route is an aaf.routing.Route (its .doc a RouteDoc) or None for a hand-built
        # connection; read by name since routing sits above this module.
        doc = getattr(getattr(self, "route", None), "doc", None)
        return getattr(doc, which, None)
