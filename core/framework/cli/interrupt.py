"""Ctrl-C and SIGTERM during a command: the first asks for a pause, the second stops at once.

:func:`run_interruptibly` runs the command's work next to a signal watcher in one anyio
task group, so neither outlives the other and no error is lost. On the first SIGINT or
SIGTERM the watcher calls ``on_first_signal``; when that returns True (a pause was
requested: the run stops after its current node, and resumes from the checkpoint written
then) the work goes on until it returns. A second signal — or a first one that could not
be turned into a pause request — cancels the work at once: the node in flight is lost and
re-runs when the run is resumed.
"""

from __future__ import annotations

import signal
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

import anyio
from anyio.abc import TaskStatus

__all__ = ["Interruptible", "exit_code_for", "run_interruptibly"]

T = TypeVar("T")

WATCHED = (signal.SIGINT, signal.SIGTERM)


@dataclass
class Interruptible(Generic[T]):
    """What the work returned, or the signal that stopped it at once (``value`` unset)."""

    value: T | None = None
    stopped_by: signal.Signals | None = None


def exit_code_for(signum: signal.Signals) -> int:
    """The shell's convention for a process ended by a signal: 128 + its number."""
    return 128 + int(signum)


async def run_interruptibly(
    work: Callable[[], Awaitable[T]],
    on_first_signal: Callable[[signal.Signals], Awaitable[bool]],
) -> Interruptible[T]:
    """Run ``work()``; handle SIGINT / SIGTERM as the module docs say.

    ``on_first_signal`` must not raise: it returns False when no pause could be requested,
    which stops the work at once. An exception from ``work`` propagates unchanged, even a
    ``KeyboardInterrupt`` or ``SystemExit`` raised by a node.
    """
    outcome: Interruptible[T] = Interruptible()
    failure: list[BaseException] = []
    cancelled = anyio.get_cancelled_exc_class()

    async with anyio.create_task_group() as group:

        async def watch(*, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
            with anyio.open_signal_receiver(*WATCHED) as signals:
                task_status.started()
                pausing = False
                async for signum in signals:
                    received = signal.Signals(signum)
                    if not pausing and await on_first_signal(received):
                        pausing = True
                        continue
                    outcome.stopped_by = received
                    group.cancel_scope.cancel()
                    return

        # Started before the work, so a signal never reaches Python's default handler.
        await group.start(watch)
        try:
            outcome.value = await work()
        except cancelled:
            raise
        except BaseException as exc:
            # Kept out of the task group, which would wrap it in an ExceptionGroup.
            failure.append(exc)
        group.cancel_scope.cancel()
    if failure:
        raise failure[0]
    return outcome
