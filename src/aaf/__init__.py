"""aaf - another ASGI framework: small, fast and fully inspectable.

Everyday names are importable from here; each also lives in its own module
(``aaf.connection.Connection``, ``aaf.routing.Router``, ``aaf.response.HttpResponse`` ...).
"""

from .app import App, Middleware, aaf
from .connection import Connection, ConnectionType
from .datastructures import URL, Address, Headers, MutableHeaders, QueryParams
from .errors import BodyStateError, ClientDisconnect, HTTPError, ResponseStateError
from .files import FileResponse
from .forms import FormData, UploadFile
from .limits import KiB, Limits, MiB
from .response import (
    HtmlResponse,
    HttpResponse,
    JsonResponse,
    PlainTextResponse,
    RedirectResponse,
    Response,
    StreamingResponse,
)
from .routing import Converter, RouteError, Router
from .sse import EventSourceResponse, ServerSentEvent
from .staticfiles import StaticFiles
from .websocket import WebSocketDisconnect

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
    "EventSourceResponse",
    "FileResponse",
    "FormData",
    "HTTPError",
    "Headers",
    "HtmlResponse",
    "HttpResponse",
    "JsonResponse",
    "KiB",
    "Limits",
    "MiB",
    "Middleware",
    "MutableHeaders",
    "PlainTextResponse",
    "QueryParams",
    "RedirectResponse",
    "Response",
    "ResponseStateError",
    "RouteError",
    "Router",
    "ServerSentEvent",
    "StaticFiles",
    "StreamingResponse",
    "UploadFile",
    "WebSocketDisconnect",
    "__version__",
    "aaf",
]
