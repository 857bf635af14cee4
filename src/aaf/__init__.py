"""aaf - another ASGI framework: small, fast and fully inspectable.

Everyday names are importable from here; each also lives in its own module
(``aaf.connection.Connection``, ``aaf.routing.Router``, ``aaf.response.HttpResponse`` ...).
``aaf`` and ``App`` are one class: ``aaf([router])`` as the seed article writes it, ``App`` for
annotations and subclasses.
"""

from ._http import HeaderError
from .app import App, Middleware, aaf
from .connection import Connection, ConnectionType
from .cookies import CookieError
from .datastructures import URL, Address, Headers, MutableHeaders, QueryParams
from .errors import BodyStateError, ClientDisconnect, HTTPError, ResponseStateError
from .files import FileResponse
from .forms import FormData, UnsafeFilenameError, UploadFile
from .limits import Limits
from .response import (
    HtmlResponse,
    HttpResponse,
    JsonResponse,
    PlainTextResponse,
    RedirectResponse,
)
from .routing import Converter, RouteError, Router
from .sse import EventSourceResponse, ServerSentEvent
from .staticfiles import StaticFiles
from .streaming import StreamingResponse
from .websocket import (
    WebSocketDataError,
    WebSocketDisconnect,
    WebSocketState,
    WebSocketStateError,
)

__version__ = "0.1.0"

__all__ = [
    "URL",
    "Address",
    "App",
    "BodyStateError",
    "ClientDisconnect",
    "Connection",
    "ConnectionType",
    "Converter",
    "CookieError",
    "EventSourceResponse",
    "FileResponse",
    "FormData",
    "HTTPError",
    "HeaderError",
    "Headers",
    "HtmlResponse",
    "HttpResponse",
    "JsonResponse",
    "Limits",
    "Middleware",
    "MutableHeaders",
    "PlainTextResponse",
    "QueryParams",
    "RedirectResponse",
    "ResponseStateError",
    "RouteError",
    "Router",
    "ServerSentEvent",
    "StaticFiles",
    "StreamingResponse",
    "UnsafeFilenameError",
    "UploadFile",
    "WebSocketDataError",
    "WebSocketDisconnect",
    "WebSocketState",
    "WebSocketStateError",
    "__version__",
    "aaf",
]
