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
from .params import Body, Cookie, FromState, Header, Query
from .problems import FieldError, Problem, ProblemError
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
    "Body",
    "BodyStateError",
    "ClientDisconnect",
    "Connection",
    "ConnectionType",
    "Converter",
    "Cookie",
    "CookieError",
    "EventSourceResponse",
    "FieldError",
    "FileResponse",
    "FormData",
    "FromState",
    "HTTPError",
    "Header",
    "HeaderError",
    "Headers",
    "HtmlResponse",
    "HttpResponse",
    "JsonResponse",
    "Limits",
    "Middleware",
    "MutableHeaders",
    "PlainTextResponse",
    "Problem",
    "ProblemError",
    "Query",
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
