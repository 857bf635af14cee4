"""The curated public API: what `from aaf import ...` offers, and the module paths."""

from __future__ import annotations

import aaf


def test_all_is_exactly_the_curated_list() -> None:
    assert sorted(aaf.__all__) == sorted(
        [
            "URL",
            "Address",
            "App",
            "Body",
            "Cookie",
            "FieldError",
            "FromState",
            "Header",
            "Problem",
            "ProblemError",
            "Query",
            "BodyStateError",
            "ClientDisconnect",
            "Connection",
            "ConnectionType",
            "Converter",
            "CookieError",
            "FileResponse",
            "EventSourceResponse",
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
            "StaticFiles",
            "ServerSentEvent",
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
    )


def test_no_public_class_fails_when_used() -> None:
    # Every exported response class can be built and sent; the abstract base stays in
    # aaf.response (BaseResponse), for subclassing.
    import inspect

    for name in aaf.__all__:
        value = getattr(aaf, name)
        if inspect.isclass(value):
            assert not inspect.isabstract(value), name
            assert value.__name__ != "BaseResponse", name


def test_every_public_name_exists() -> None:
    for name in aaf.__all__:
        assert hasattr(aaf, name), name


def test_module_paths_match_the_top_level_names() -> None:
    from aaf.app import App
    from aaf.connection import Connection
    from aaf.files import FileResponse
    from aaf.forms import FormData, UploadFile
    from aaf.response import HttpResponse, JsonResponse
    from aaf.routing import Router
    from aaf.sse import EventSourceResponse, ServerSentEvent
    from aaf.staticfiles import StaticFiles
    from aaf.websocket import WebSocketDisconnect

    assert aaf.Connection is Connection
    assert aaf.Router is Router
    assert aaf.HttpResponse is HttpResponse
    assert aaf.JsonResponse is JsonResponse
    assert aaf.aaf is App
    assert aaf.FileResponse is FileResponse
    assert aaf.StaticFiles is StaticFiles
    assert aaf.EventSourceResponse is EventSourceResponse
    assert aaf.ServerSentEvent is ServerSentEvent
    assert aaf.WebSocketDisconnect is WebSocketDisconnect
    assert aaf.FormData is FormData
    assert aaf.UploadFile is UploadFile
    from aaf.params import Body, Query
    from aaf.problems import Problem

    assert aaf.Body is Body
    assert aaf.Query is Query
    assert aaf.Problem is Problem


def test_moved_names_keep_their_old_import_paths() -> None:
    from aaf import conditional, datastructures, forms, uploads
    from aaf.middleware import auth

    assert forms.UploadFile is uploads.UploadFile
    assert forms.UnsafeFilenameError is uploads.UnsafeFilenameError
    assert auth.AuthUser is datastructures.AuthUser
    assert {"evaluate_preconditions", "parse_range_header"} <= set(conditional.__all__)


def test_package_ships_py_typed() -> None:
    from importlib.resources import files

    assert files("aaf").joinpath("py.typed").is_file()
