"""The registration decorators (``route``, ``get``, ``post``... ``websocket``), written once for
the Router and the app (whose own router they fill)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, TypeVar, Unpack

from ._spec import RouteOptions

if TYPE_CHECKING:
    from ..limits import Limits

__all__ = ["RouteDecorators"]

H = TypeVar("H", bound=Callable[..., Any])


class RouteDecorators:
    """Decorators over ``add_route``; each returns the function, so handlers can be stacked."""

    __slots__ = ()

    def add_route(
        self,
        rule: str,
        handler: Callable[..., Any],
        name: str | None = None,
        methods: Iterable[str] | None = None,
        *,
        limits: Limits | None = None,
        websocket: bool = False,
        **options: Unpack[RouteOptions],
    ) -> object:
        raise NotImplementedError

    def route(
        self,
        rule: str,
        methods: Iterable[str] | None = None,
        name: str | None = None,
        *,
        limits: Limits | None = None,
        **options: Unpack[RouteOptions],
    ) -> Callable[[H], H]:
        def decorator(handler: H) -> H:
            self.add_route(rule, handler, name, methods, limits=limits, **options)
            return handler

        return decorator

    def get(
        self,
        rule: str,
        name: str | None = None,
        *,
        limits: Limits | None = None,
        **options: Unpack[RouteOptions],
    ) -> Callable[[H], H]:
        return self.route(rule, ["GET"], name, limits=limits, **options)

    def post(
        self,
        rule: str,
        name: str | None = None,
        *,
        limits: Limits | None = None,
        **options: Unpack[RouteOptions],
    ) -> Callable[[H], H]:
        return self.route(rule, ["POST"], name, limits=limits, **options)

    def put(
        self,
        rule: str,
        name: str | None = None,
        *,
        limits: Limits | None = None,
        **options: Unpack[RouteOptions],
    ) -> Callable[[H], H]:
        return self.route(rule, ["PUT"], name, limits=limits, **options)

    def patch(
        self,
        rule: str,
        name: str | None = None,
        *,
        limits: Limits | None = None,
        **options: Unpack[RouteOptions],
    ) -> Callable[[H], H]:
        return self.route(rule, ["PATCH"], name, limits=limits, **options)

    def delete(
        self,
        rule: str,
        name: str | None = None,
        *,
        limits: Limits | None = None,
        **options: Unpack[RouteOptions],
    ) -> Callable[[H], H]:
        return self.route(rule, ["DELETE"], name, limits=limits, **options)

    def websocket(
        self,
        rule: str,
        name: str | None = None,
        *,
        limits: Limits | None = None,
        **options: Unpack[RouteOptions],
    ) -> Callable[[H], H]:
        def decorator(handler: H) -> H:
            self.add_route(rule, handler, name, limits=limits, websocket=True, **options)
            return handler

        return decorator
