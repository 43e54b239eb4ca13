"""Crossing between the async contract and synchronous code, in both directions."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import anyio.to_thread

__all__ = ["call_sync", "in_thread"]

T = TypeVar("T")


def call_sync(func: Callable[..., Awaitable[T]], *args: Any, **kwargs: Any) -> T:
    """Run an async method to completion from synchronous code.

    Without a running loop in this thread, run it on a fresh one; inside a running loop
    (a sync call from async code) run it on a fresh loop in a helper thread, because
    blocking on the caller's own loop would deadlock.
    """

    async def call() -> T:
        return await func(*args, **kwargs)

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(call())
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="storage-bridge") as pool:
        return pool.submit(asyncio.run, call()).result()


async def in_thread(func: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run a blocking method in a worker thread so the event loop keeps running."""
    return await anyio.to_thread.run_sync(functools.partial(func, *args, **kwargs))
