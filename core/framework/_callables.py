"""Calling user-supplied callables that may be sync or async.

Tool executors, approval callbacks and run recorders are given by users in either style.
A coroutine function is awaited directly; anything else runs in a worker thread so a slow
sync callable never blocks the event loop, and an awaitable it returns is awaited too.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any

import anyio.to_thread

__all__ = ["call_sync_or_async", "is_async_callable"]


def is_async_callable(func: Callable[..., Any]) -> bool:
    """Whether calling ``func`` returns a coroutine (functions, partials, async ``__call__``)."""
    while isinstance(func, functools.partial):
        func = func.func
    return inspect.iscoroutinefunction(func) or inspect.iscoroutinefunction(
        getattr(func, "__call__", None)  # noqa: B004 - the method itself is inspected
    )


async def call_sync_or_async(func: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
    """Call ``func`` with the arguments and return its (awaited) result."""
    if is_async_callable(func):
        return await func(*args, **kwargs)
    value = await anyio.to_thread.run_sync(functools.partial(func, *args, **kwargs))
    if inspect.isawaitable(value):
        value = await value
    return value
