"""The one path every run takes, durable or not: open, finished?, restore or start, walk.

Both executors call :func:`run_durably` with an adapter saying what their checkpoint holds
and the walk to run; with no checkpoint manager the walk reports to a
:class:`~._observer.NullRun` and nothing is written, otherwise to a
:class:`~._driver.DurableRun` under the run's lease.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import TypeVar

from framework.durable._driver import DurableRun
from framework.durable._observer import NullRun, RunAdapter, RunObserver
from framework.durable._opening import RunSpec
from framework.durable.manager import CheckpointManager
from framework.schemas.checkpoint import CheckpointKind

S = TypeVar("S")
R = TypeVar("R")

Walk = Callable[[S, RunObserver[S]], Awaitable[R]]


async def run_durably(
    adapter: RunAdapter[S, R],
    manager: CheckpointManager | None,
    spec: RunSpec,
    walk: Walk[S, R],
) -> R:
    """Run ``spec`` with ``walk``: durably through ``manager``, or writing nothing without one.

    A completed run returns its stored result and runs nothing; one whose final checkpoint
    was written but which was never marked completed (the process stopped in between) is
    marked so, running nothing. A run with no checkpoint yet starts from the input (its
    START checkpoint is written first); one with a checkpoint continues from it. Errors
    raised while the state is prepared give the lease back and leave the run as it was.
    """
    run: DurableRun[S] | NullRun[S] = (
        NullRun(spec.run_id, spec.budget)
        if manager is None
        else await DurableRun.open(manager, spec, adapter.snapshot)
    )
    stored = run.checkpoint
    if stored is not None and run.finished:
        return adapter.finished(stored)
    if stored is not None and stored.kind is CheckpointKind.FINAL:
        result = adapter.finished(stored)
        return await run.run(functools.partial(_completed, run, result))
    async with run.released_on_error():
        if stored is None:
            state = adapter.start(run.starting_input(spec.input_data), run)
            start: S | None = state
        else:
            state, start = adapter.resume(stored, run), None
    return await run.run(functools.partial(walk, state, run), start=start)


async def _completed(run: DurableRun[S] | NullRun[S], result: R) -> R:
    await run.mark_completed()
    return result
