"""Telling async callables from sync ones (routing and background tasks both need it)."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

__all__ = ["is_async_callable"]


def is_async_callable(func: Callable[..., Any]) -> bool:
    """``async def`` functions, and objects whose ``__call__`` is ``async def``.

    ``inspect.iscoroutinefunction`` alone misses the second kind.
    """
    return inspect.iscoroutinefunction(func) or inspect.iscoroutinefunction(
        getattr(func, "__call__", None)  # noqa: B004 - the bound __call__, not callable()
    )
