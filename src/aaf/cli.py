"""The ``aaf`` command: ``aaf run module:app`` (uvicorn), ``aaf routes module:app``,
``aaf trace module:app METHOD PATH`` (one exchange in-process, every ASGI message shown),
``aaf openapi module:app`` and ``aaf asyncapi module:app`` (the OpenAPI and AsyncAPI documents,
for CI diffs and code generators)."""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from ._run_config import aaf_logging_config, log_level_number, pick_ws, websocket_limit
from ._trace_render import DEFAULT_MAX_SHOWN
from .app import App
from .routing import Route, Router

__all__ = ["load_target", "main", "router_app"]

#: Where ``aaf run module:router`` leaves the router's target for :func:`router_app`; an
#: environment variable, because uvicorn's reloader and workers run the factory in new processes.
ROUTER_TARGET_ENV = "AAF_RUN_ROUTER_TARGET"


class TargetError(Exception):
    """The ``module:attribute`` target cannot be loaded; the message says why."""


def load_target(target: str) -> Any:
    """Import ``module:attribute`` (the current directory is importable, like uvicorn)."""
    module_name, sep, attr = target.partition(":")
    if not sep or not module_name or not attr:
        raise TargetError(f"expected 'module:attribute' such as 'myapp:app', got {target!r}")
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and module_name.startswith(exc.name):
            raise TargetError(f"cannot import module {module_name!r}: {exc}") from exc
        raise
    obj: Any = module
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise TargetError(f"module {module_name!r} has no attribute {attr!r}") from None
    return obj


def _route_rows(routers: Sequence[Router]) -> list[tuple[str, str, str, str]]:
    rows: list[tuple[str, str, str, str]] = []
    for router in routers:
        rows.extend(
            (_methods(route), route.rule, route.name, _handler_name(route))
            for route in router.routes
        )
        for mount in router.mounts:
            app = mount.app
            name = getattr(app, "__qualname__", None) or type(app).__qualname__
            rows.append(("MOUNT", mount.prefix, mount.name or "", name))
    return rows


def _methods(route: Route) -> str:
    if route.websocket:
        return "WEBSOCKET"
    return ",".join(sorted(route.methods - {"HEAD"})) or ",".join(sorted(route.methods))


def _handler_name(route: Route) -> str:
    func = route.endpoint or route.handler
    return f"{getattr(func, '__module__', '?')}.{getattr(func, '__qualname__', '?')}"


def format_routes(routers: Sequence[Router]) -> str:
    header = ("METHOD", "RULE", "NAME", "HANDLER")
    rows = [header, *_route_rows(routers)]
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    lines = [
        f"{m:<{widths[0]}}  {r:<{widths[1]}}  {n:<{widths[2]}}  {h}".rstrip() for m, r, n, h in rows
    ]
    return "\n".join(lines)


def _cmd_routes(args: argparse.Namespace) -> int:
    target = load_target(args.target)
    if isinstance(target, App):
        routers = target.routers
    elif isinstance(target, Router):
        routers = [target]
    else:
        raise TargetError(f"{args.target!r} is a {type(target).__name__}, not an aaf app or Router")
    print(format_routes(routers))
    return 0


def _documented_target(target_name: str) -> App | Router:
    target = load_target(target_name)
    if not isinstance(target, App | Router):
        raise TargetError(f"{target_name!r} is a {type(target).__name__}, not an aaf app or Router")
    return target


class _ServedInfo(Protocol):
    """What ``openapi_router()`` and ``asyncapi_router()`` say about their documents."""

    @property
    def title(self) -> str: ...
    @property
    def version(self) -> str: ...


def _info(args: argparse.Namespace, served: _ServedInfo | None) -> tuple[str, str]:
    """Title and version: the command line's, else the app's own router's (so the file matches
    what the app serves), else the defaults."""
    title = args.title or (served.title if served else "aaf")
    return title, args.api_version or (served.version if served else "0.1.0")


def _openapi(target: App | Router, args: argparse.Namespace) -> dict[str, Any]:
    from .openapi import find_document_options, openapi_document

    served = find_document_options(target)
    title, version = _info(args, served)
    return openapi_document(
        target,
        title=title,
        version=version,
        description=served.description if served else None,
        summary=served.summary if served else None,
    )


def _asyncapi(target: App | Router, args: argparse.Namespace) -> dict[str, Any]:
    # Imported here: 'aaf run' and 'aaf routes' need neither document builder.
    from .asyncapi import asyncapi_document, find_asyncapi_options

    served = find_asyncapi_options(target)
    title, version = _info(args, served)
    # Only the servers the router was given: without them it names the server each request
    # reached, which a file written here cannot know.
    return asyncapi_document(
        target,
        title=title,
        version=version,
        description=served.description if served else None,
        servers=served.servers if served else None,
    )


@dataclass(frozen=True, slots=True)
class _DocumentCommand:
    """``aaf openapi`` or ``aaf asyncapi``: one way to write, print or check a document."""

    command: str
    spec: str  # "OpenAPI": for help and messages
    spec_version: str
    router: str  # the router whose title and version are the defaults
    build: Callable[[App | Router, argparse.Namespace], dict[str, Any]]

    def __call__(self, args: argparse.Namespace) -> int:
        from .openapi import encode_document

        document = self.build(_documented_target(args.target), args)
        text = encode_document(document, indent=2) + b"\n"
        if args.check is not None:
            return self._check(args, text)
        if args.output in (None, "-"):
            sys.stdout.buffer.write(text)
            sys.stdout.flush()
        else:
            with open(args.output, "wb") as file:
                file.write(text)
        return 0

    def _check(self, args: argparse.Namespace, text: bytes) -> int:
        try:
            with open(args.check, "rb") as file:
                current = file.read()
        except FileNotFoundError:
            current = None
        if current == text:
            return 0
        print(
            f"aaf: {args.check} is not the app's {self.spec} document; update it with: "
            f"aaf {self.command} {args.target} --output {args.check}",
            file=sys.stderr,
        )
        return 1

    def add_parser(self, sub: Any) -> None:
        what = f"{self.spec} {self.spec_version}"
        cmd = sub.add_parser(
            self.command, help=f"write the {what} document of an app (stable JSON, sorted keys)"
        )
        cmd.add_argument("target", help="module:attribute, e.g. myapp:app (an aaf app or Router)")
        where = cmd.add_mutually_exclusive_group()
        where.add_argument("-o", "--output", metavar="FILE", help="write here instead of stdout")
        where.add_argument(
            "--check", metavar="FILE", help="exit 1 if FILE differs from the document (for CI)"
        )
        cmd.add_argument("--title", help=f"info.title (default: the app's {self.router}, or 'aaf')")
        cmd.add_argument(
            "--api-version", help=f"info.version (default: the app's {self.router}, or '0.1.0')"
        )
        cmd.set_defaults(func=self)


_DOCUMENT_COMMANDS = (
    _DocumentCommand("openapi", "OpenAPI", "3.1", "openapi_router", _openapi),
    _DocumentCommand("asyncapi", "AsyncAPI", "3.0", "asyncapi_router", _asyncapi),
)


def router_app() -> App:
    """The uvicorn factory behind ``aaf run module:router``: ``aaf([router])``."""
    target = os.environ.get(ROUTER_TARGET_ENV)
    if not target:
        raise TargetError(f"{ROUTER_TARGET_ENV} is not set; start the app with 'aaf run'")
    router = load_target(target)
    if not isinstance(router, Router):
        raise TargetError(f"{target!r} is a {type(router).__name__}, not a Router")
    return App([router])


def uvicorn_target(target: str) -> tuple[str, bool]:
    """What ``aaf run`` hands uvicorn for ``target``: an import string and whether it names a
    factory. A Router is not an ASGI app, so it is served through :func:`router_app`."""
    import_string, factory, _ = _resolve_run_target(target)
    return import_string, factory


def _resolve_run_target(target: str) -> tuple[str, bool, int | None]:
    """:func:`uvicorn_target` plus the app's largest WebSocket message (None: not an aaf app)."""
    loaded = load_target(target)  # fail fast with a clear message before uvicorn starts
    if isinstance(loaded, Router):
        os.environ[ROUTER_TARGET_ENV] = target
        # Spelled out: under "python -m aaf.cli" this module's __name__ is "__main__".
        return "aaf.cli:router_app", True, websocket_limit(App([loaded]))
    return target, False, websocket_limit(loaded)


def _cmd_run(args: argparse.Namespace) -> int:
    try:
        import uvicorn
    except ImportError:
        raise TargetError(
            "aaf run needs uvicorn: pip install 'uvicorn[standard]' (aaf's 'server' extra)"
        ) from None
    import_string, factory, ws_limit = _resolve_run_target(args.target)
    try:
        level = log_level_number(args.log_level)
    except ValueError as exc:
        raise TargetError(str(exc)) from None
    options: dict[str, Any] = {}
    ws_max_size = args.ws_max_size if args.ws_max_size is not None else ws_limit
    if ws_max_size is not None:  # otherwise (not an aaf app): uvicorn's own default
        options["ws_max_size"] = ws_max_size
    uvicorn.run(
        import_string,
        factory=factory,
        host=args.host,
        port=args.port,
        reload=args.reload,
        workers=args.workers,
        log_level=level,
        # The user's file replaces aaf's setup entirely, as it would uvicorn's.
        log_config=args.log_config or aaf_logging_config(level),
        access_log=args.access_log,
        ws=pick_ws(args.ws),
        **options,
        root_path=args.root_path,
        proxy_headers=args.proxy_headers,
        forwarded_allow_ips=args.forwarded_allow_ips,
        # Long-lived responses (event streams, WebSockets) never end by themselves; without a
        # bound, Ctrl-C would wait for every client to leave.
        timeout_graceful_shutdown=args.timeout_graceful_shutdown,
    )
    return 0


def _cmd_trace(args: argparse.Namespace) -> int:
    try:
        # Imported here: aaf.trace drives the app with the test client, which needs httpx
        # (the 'testing' extra); 'aaf run' and 'aaf routes' must work without it.
        from . import trace
    except ImportError as exc:
        if exc.name != "httpx":
            raise
        raise TargetError("aaf trace needs httpx: pip install 'aaf[testing]'") from None
    try:
        app, note = trace.as_asgi_app(load_target(args.target), args.target)
        options = trace.options_from_args(args, sys.stdin)
    except trace.TraceError as exc:
        raise TargetError(str(exc)) from None
    return trace.run_trace(app, options, note=note)


def _add_trace_parser(sub: Any) -> None:
    cmd = sub.add_parser(
        "trace",
        help="run one request through an app in-process and print the whole ASGI conversation",
    )
    cmd.add_argument("target", help="module:attribute, e.g. myapp:app (any ASGI app or Router)")
    cmd.add_argument("method", metavar="METHOD", help="may be left out: GET (POST with -d)")
    cmd.add_argument("path", nargs="?", metavar="PATH", help="the path, or a full URL")
    cmd.add_argument(
        "-H", "--header", action="append", metavar="'NAME: VALUE'", help="a request header"
    )
    cmd.add_argument("-d", "--data", metavar="BODY|@FILE", help="the request body")
    cmd.add_argument("--ws", action="store_true", help="a WebSocket: one text frame per stdin line")
    cmd.add_argument("--script", metavar="FILE", help="with --ws: the frames, one per line")
    cmd.add_argument("--json", action="store_true", help="one JSON object per event")
    cmd.add_argument(
        "--timeout", type=float, default=10.0, help="seconds to wait for the app (default 10)"
    )
    cmd.add_argument(
        "--max-shown",
        type=int,
        default=DEFAULT_MAX_SHOWN,
        help="bytes of a body or frame shown before the rest is only counted (default 200)",
    )
    cmd.set_defaults(func=_cmd_trace)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="aaf", description="aaf command line")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="serve an ASGI app with uvicorn")
    run.add_argument("target", help="module:attribute, e.g. myapp:app")
    run.add_argument("--host", default="127.0.0.1")
    run.add_argument("--port", type=int, default=8000)
    run.add_argument("--reload", action="store_true", help="restart when code changes")
    run.add_argument("--workers", type=int, default=None, help="worker processes")
    run.add_argument(
        "--log-level",
        default="info",
        help="critical, error, warning, info, debug or trace; for uvicorn's and aaf's loggers",
    )
    run.add_argument(
        "--log-config",
        default=None,
        metavar="FILE",
        help="a logging config file (.json, .yaml, .ini) used instead of aaf's setup",
    )
    run.add_argument(
        "--access-log",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="uvicorn's one line per request (default: on)",
    )
    run.add_argument(
        "--ws",
        default=None,
        choices=["wsproto", "websockets-sansio", "websockets", "auto", "none"],
        help="uvicorn's WebSocket implementation (default: wsproto when installed)",
    )
    run.add_argument(
        "--ws-max-size",
        type=int,
        default=None,
        metavar="BYTES",
        help="largest WebSocket message the server reads (default: the app's WebSocket limit)",
    )
    run.add_argument("--root-path", default="", help="the prefix a proxy mounts the app at")
    run.add_argument(
        "--proxy-headers",
        action="store_true",
        help="trust X-Forwarded-For/Proto from the addresses in --forwarded-allow-ips",
    )
    run.add_argument(
        "--forwarded-allow-ips",
        default=None,
        help="comma-separated proxy addresses to trust (uvicorn's default: 127.0.0.1)",
    )
    run.add_argument(
        "--timeout-graceful-shutdown",
        type=float,
        default=5.0,
        help="seconds to let open connections finish on shutdown before closing them",
    )
    run.set_defaults(func=_cmd_run)
    routes = sub.add_parser("routes", help="print the route table of an app or router")
    routes.add_argument("target", help="module:attribute, e.g. myapp:app")
    routes.set_defaults(func=_cmd_routes)
    _add_trace_parser(sub)
    for document in _DOCUMENT_COMMANDS:
        document.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        result: int = args.func(args)
    except TargetError as exc:
        print(f"aaf: error: {exc}", file=sys.stderr)
        return 2
    return result


if __name__ == "__main__":
    raise SystemExit(main())
