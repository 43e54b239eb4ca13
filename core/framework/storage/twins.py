"""Crossing between the async contract and synchronous code: generated twins, and the loop
the synchronous ones run on.

Each method of the storage contract is declared once, in one colour; its other colour is one
line made here:

- :func:`sync_twin` makes the synchronous twin of an async method. The coroutine runs on the
  owner's :class:`LoopThread`: one long-lived event loop in a daemon thread per backend,
  started on first use. So a natively async backend whose connections are bound to one loop
  works through its sync twins, from scripts, from any thread, and from inside another running
  event loop — which the call then blocks; that is logged once per backend.
- :func:`thread_twin` makes the async twin of a blocking method: it runs in a worker thread,
  so the event loop never waits on I/O. An owner whose calls are quicker than a thread hop
  (``runs_inline`` true) has them called on the loop itself; such a call that would have to
  wait (for a lock another thread or process holds) raises :class:`WouldWait` instead, and
  the twin runs it in a worker thread after all. :func:`on_the_loop` tells a method which
  case it is in.

A twin looks its counterpart up by name when it is called, so a subclass that overrides that
method is the one called. Signatures are kept (``ParamSpec``): mypy and IDEs see the full
ones. The owner of a sync twin provides ``loop_thread`` (a :class:`LoopThread`).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import threading
from collections.abc import Awaitable, Callable, Coroutine
from contextvars import ContextVar
from typing import Any, Concatenate, ParamSpec, TypeVar

import anyio
import anyio.to_thread
from anyio.from_thread import BlockingPortal

__all__ = ["LoopThread", "StoreLock", "WouldWait", "on_the_loop", "sync_twin", "thread_twin"]

logger = logging.getLogger("framework.storage")

P = ParamSpec("P")
T = TypeVar("T")

# Upper bound on waiting for a loop thread to start or to stop.
_THREAD_SECONDS = 10.0

_ON_THE_LOOP: ContextVar[bool] = ContextVar("agentgraph_on_the_loop", default=False)


class WouldWait(Exception):
    """Raised by a method called on the loop (:func:`on_the_loop`) that would have to wait;
    nothing was done, and its twin calls it again in a worker thread."""


def on_the_loop() -> bool:
    """Whether the running method was called on an event loop by its async twin, where it
    must raise :class:`WouldWait` rather than wait."""
    return _ON_THE_LOOP.get()


def sync_twin(
    method: Callable[Concatenate[Any, P], Coroutine[Any, Any, T]],
) -> Callable[Concatenate[Any, P], T]:
    """The synchronous twin of async ``method`` (named without its ``a`` prefix)."""
    name = method.__name__

    def twin(self: Any, /, *args: P.args, **kwargs: P.kwargs) -> T:
        loop: LoopThread = self.loop_thread
        bound: Callable[P, Awaitable[T]] = getattr(self, name)
        return loop.call(bound, *args, **kwargs)

    _name_twin(twin, method, name.removeprefix("a"), "Synchronous")
    return twin


def thread_twin(
    method: Callable[Concatenate[Any, P], T],
) -> Callable[Concatenate[Any, P], Coroutine[Any, Any, T]]:
    """The async twin of blocking ``method`` (named with an ``a`` prefix)."""
    name = method.__name__

    async def twin(self: Any, /, *args: P.args, **kwargs: P.kwargs) -> T:
        bound: functools.partial[T] = functools.partial(getattr(self, name), *args, **kwargs)
        if getattr(self, "runs_inline", False):
            marker = _ON_THE_LOOP.set(True)
            try:
                return bound()
            except WouldWait:
                pass
            finally:
                _ON_THE_LOOP.reset(marker)
        return await anyio.to_thread.run_sync(bound)

    _name_twin(twin, method, f"a{name}", "Async")
    return twin


def _name_twin(twin: Callable[..., Any], method: Callable[..., Any], name: str, kind: str) -> None:
    # Not functools.wraps: it would copy __isabstractmethod__ and make the twin abstract too.
    owner = method.__qualname__.rpartition(".")[0]
    twin.__name__ = name
    twin.__qualname__ = f"{owner}.{name}" if owner else name
    twin.__module__ = method.__module__
    twin.__doc__ = f"{kind} twin of :meth:`{method.__name__}`: same arguments, result and errors."


class LoopThread:
    """One event loop in a daemon thread that runs coroutines for synchronous callers.

    Started by the first :meth:`call`, stopped by :meth:`stop` (a later call starts it
    again). A process forked while it ran starts a fresh one, since the thread did not
    survive the fork.
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self._lock = threading.Lock()
        self._portal: BlockingPortal | None = None
        self._thread: threading.Thread | None = None
        self._pid = 0
        self._warned = False

    def call(self, func: Callable[P, Awaitable[T]], /, *args: P.args, **kwargs: P.kwargs) -> T:
        """Run ``func(*args, **kwargs)`` on this loop and return its result (or raise)."""
        portal = self._running()
        if threading.current_thread() is self._thread:
            raise RuntimeError(
                f"{_called(func)} was called synchronously from {self.name}'s own event loop; "
                "await its async twin there instead"
            )
        if not self._warned and _loop_runs_here():
            self._warned = True
            logger.warning(
                "the synchronous twin of %s was called on a thread that runs an event loop, "
                "which it blocks until it returns; await %s itself there instead",
                _called(func),
                _called(func),
            )
        return portal.call(functools.partial(func, *args, **kwargs))

    def stop(self) -> None:
        """Stop the loop (after the calls in progress) and wait for its thread to end."""
        with self._lock:
            portal, thread, self._portal, self._thread = self._portal, self._thread, None, None
        if portal is None or thread is None or self._pid != os.getpid():
            return
        if threading.current_thread() is thread:
            portal.start_task_soon(portal.stop)
            return
        portal.call(portal.stop)
        thread.join(_THREAD_SECONDS)

    def _running(self) -> BlockingPortal:
        with self._lock:
            if self._portal is None or self._pid != os.getpid():
                self._start()
            assert self._portal is not None
            return self._portal

    def _start(self) -> None:
        ready = threading.Event()
        failure: list[BaseException] = []

        async def serve() -> None:
            async with BlockingPortal() as portal:
                self._portal = portal
                ready.set()
                await portal.sleep_until_stopped()

        def main() -> None:
            try:
                anyio.run(serve)
            except BaseException as exc:
                failure.append(exc)
                ready.set()

        self._portal = None
        self._thread = threading.Thread(target=main, name=self.name, daemon=True)
        self._pid = os.getpid()
        self._thread.start()
        if not ready.wait(_THREAD_SECONDS) or failure:
            raise RuntimeError(f"the event loop thread of {self.name} did not start") from (
                failure[0] if failure else None
            )


def _loop_runs_here() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def _called(func: Callable[..., Any]) -> str:
    target = func.func if isinstance(func, functools.partial) else func
    return f"{getattr(target, '__qualname__', repr(target))}()"


class StoreLock:
    """A reentrant lock that a call on the loop (:func:`on_the_loop`) never waits for: held
    by another thread, it raises :class:`WouldWait` there instead."""

    def __init__(self) -> None:
        self._lock = threading.RLock()

    def __enter__(self) -> None:
        if not self._lock.acquire(blocking=not on_the_loop()):
            raise WouldWait

    def __exit__(self, *exc: object) -> None:
        self._lock.release()
