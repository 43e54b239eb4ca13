"""Our side of the checkpoint benchmark: the shapes run by :class:`framework.GraphExecutor`.

Only the public API is used: a linear :class:`~framework.GraphSpec` of N function nodes,
each an async function (so no thread hop of the node itself is measured), run with a
:class:`~framework.CheckpointManager` opened on fresh storage for each measurement. Every
measurement returns a :data:`~_common.Sample`; only ``execute`` is timed, except for a
resume, where opening the storage is part of the cost. Graphs are prepared
(``GraphExecutor.prepare``: validated and fingerprinted) before the clock starts, as
LangGraph's are compiled.
"""

from __future__ import annotations

import functools
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import anyio
from _common import (
    Request,
    Sample,
    StepClock,
    bytes_on_disk,
    fresh_blob,
    make_folder,
    percentile,
    remove_folder,
    small_item,
)

from framework import (
    CheckpointConfig,
    CheckpointManager,
    EdgeSpec,
    ExecutionResult,
    GraphExecutor,
    GraphSpec,
    NodeSpec,
    RunStatus,
)
from framework.schemas import Durability

__all__ = ["MODES", "Mode", "measure"]

# The memory key each payload writes.
_KEYS = {"small": "items", "large": "blob"}


@dataclass(frozen=True)
class Mode:
    """One way of running the graph: which storage, with which checkpoint config."""

    name: str
    label: str
    storage: str | None = None
    """``memory``, ``file`` or ``sqlite``; ``None`` runs without a checkpoint manager."""
    config: CheckpointConfig | None = None

    def url(self, folder: Path) -> str:
        if self.storage == "memory":
            return "memory://"
        if self.storage == "file":
            return f"file://{quote(str(folder / 'store'))}"
        return f"sqlite://{quote(str(folder / 'state.db'))}"


MODES = {
    mode.name: mode
    for mode in (
        Mode("none", "ours, no manager"),
        Mode("memory", "ours, memory://", "memory"),
        Mode("file", "ours, file", "file"),
        Mode("sqlite", "ours, SQLite (default: durability sync)", "sqlite"),
        Mode(
            "sqlite-fsync",
            "ours, SQLite power-loss durable (fsync=True)",
            "sqlite",
            CheckpointConfig(fsync=True),
        ),
        Mode(
            "sqlite-async",
            "ours, SQLite durability async",
            "sqlite",
            CheckpointConfig(durability=Durability.ASYNC),
        ),
        Mode(
            "sqlite-exit",
            "ours, SQLite durability exit",
            "sqlite",
            CheckpointConfig(durability=Durability.EXIT),
        ),
    )
}


@functools.cache
def linear_graph(n: int, payload: str, pause_after: int | None = None) -> GraphSpec:
    """``n0 -> n1 -> ... -> n{n-1}``, every node the payload's function on its one key.

    With ``pause_after``, the run pauses once that many nodes completed.
    """
    key = _KEYS[payload]
    nodes = [
        NodeSpec(
            id=f"n{i}",
            name=f"n{i}",
            description="one payload step",
            function="step",
            input_keys=[key],
            output_keys=[key],
        )
        for i in range(n)
    ]
    edges = [EdgeSpec(id=f"e{i}", source=f"n{i}", target=f"n{i + 1}") for i in range(n - 1)]
    return GraphSpec(
        id=f"linear-{payload}-{n}",
        entry_node="n0",
        terminal_nodes=[f"n{n - 1}"],
        nodes=nodes,
        edges=edges,
        max_steps=n + 1,
        pause_nodes=[f"n{pause_after - 1}"] if pause_after else [],
    )


def initial_input(payload: str) -> dict[str, Any]:
    return {_KEYS[payload]: [] if payload == "small" else ""}


def payload_step(payload: str, clock: StepClock) -> Callable[..., Awaitable[Any]]:
    """The node function: record the node boundary, then do the payload's one write."""

    async def append(items: list[str]) -> list[str]:
        clock.tick()
        return [*items, small_item()]

    async def overwrite(blob: str) -> str:
        return fresh_blob(clock.tick())

    return append if payload == "small" else overwrite


def executor_for(
    manager: CheckpointManager | None, payload: str, clock: StepClock
) -> GraphExecutor:
    executor = GraphExecutor(checkpoint_manager=manager)
    executor.register_function("step", payload_step(payload, clock))
    return executor


@asynccontextmanager
async def opened(mode: Mode, folder: Path) -> AsyncIterator[CheckpointManager | None]:
    """The mode's checkpoint manager on storage in ``folder`` (``None`` for no manager)."""
    if mode.storage is None:
        yield None
        return
    async with CheckpointManager(mode.url(folder), mode.config) as manager:
        yield manager


def expect(result: ExecutionResult, status: RunStatus, steps: int) -> None:
    """Refuse a measurement of a run that did not do what was measured."""
    if result.run_status != status or result.steps_executed != steps:
        raise RuntimeError(
            f"expected {status} after {steps} steps, got {result.run_status} after "
            f"{result.steps_executed}: {result.error or result.pause_reason}"
        )


async def measure_run(mode: Mode, n: int, payload: str, base: Path) -> Sample:
    """Run the N-node graph once on fresh storage: time, step costs, bytes left on disk."""
    folder = make_folder(base, f"ours-{mode.name}-")
    try:
        clock = StepClock()
        async with opened(mode, folder) as manager:
            executor = executor_for(manager, payload, clock)
            graph = executor.prepare(linear_graph(n, payload))
            started = time.perf_counter()
            result = await executor.execute(graph, None, initial_input(payload), run_id="bench")
            seconds = time.perf_counter() - started
            expect(result, RunStatus.COMPLETED, n)
            sample = {"seconds": seconds, **clock.tenths()}
            if mode.storage in ("file", "sqlite"):
                sample["bytes_on_disk"] = bytes_on_disk(folder)
        return sample
    finally:
        remove_folder(folder)


async def measure_resume(mode: Mode, n: int, base: Path) -> Sample:
    """Pause a run after n nodes, then time a fresh manager continuing it for one more node.

    Timed: opening the storage, loading the latest checkpoint, running node n+1 to the end.
    """
    folder = make_folder(base, f"ours-resume-{mode.name}-")
    graph = linear_graph(n + 1, "small", pause_after=n)
    try:
        async with opened(mode, folder) as manager:
            paused = await executor_for(manager, "small", StepClock()).execute(
                graph, None, initial_input("small"), run_id="resume"
            )
            expect(paused, RunStatus.PAUSED, n)
        prepared = executor_for(None, "small", StepClock()).prepare(graph)
        started = time.perf_counter()
        async with opened(mode, folder) as manager:
            executor = executor_for(manager, "small", StepClock())
            result = await executor.execute(prepared, None, initial_input("small"), run_id="resume")
            seconds = time.perf_counter() - started
        expect(result, RunStatus.COMPLETED, n + 1)
        return {"seconds": seconds}
    finally:
        remove_folder(folder)


async def measure_concurrent(mode: Mode, runs: int, nodes: int, base: Path) -> Sample:
    """``runs`` runs of an ``nodes``-node graph at once in one task group, one shared manager."""
    folder = make_folder(base, f"ours-concurrent-{mode.name}-")
    graph = executor_for(None, "small", StepClock()).prepare(linear_graph(nodes, "small"))
    clocks = [StepClock() for _ in range(runs)]
    results: list[ExecutionResult] = []

    async def run_one(executor: GraphExecutor, run_id: str) -> None:
        results.append(await executor.execute(graph, None, initial_input("small"), run_id=run_id))

    try:
        async with opened(mode, folder) as manager:
            executors = [executor_for(manager, "small", clock) for clock in clocks]
            started = time.perf_counter()
            async with anyio.create_task_group() as group:
                for index, executor in enumerate(executors):
                    group.start_soon(run_one, executor, f"run-{index}")
            seconds = time.perf_counter() - started
        for result in results:
            expect(result, RunStatus.COMPLETED, nodes)
        steps = [step for clock in clocks for step in clock.steps_us()]
        return {
            "seconds": seconds,
            "runs_per_s": runs / seconds,
            "p50_step_us": percentile(steps, 0.50),
            "p99_step_us": percentile(steps, 0.99),
        }
    finally:
        remove_folder(folder)


def measure(request: Request, base: Path) -> Sample:
    """Carry out one request (see :data:`~_common.Request`) in a fresh event loop."""
    mode = MODES[request["mode"]]
    kind = request["kind"]
    if kind == "run":
        return anyio.run(measure_run, mode, request["n"], request["payload"], base)
    if kind == "resume":
        return anyio.run(measure_resume, mode, request["n"], base)
    if kind == "concurrent":
        return anyio.run(measure_concurrent, mode, request["runs"], request["nodes"], base)
    raise ValueError(f"unknown measurement kind {kind!r}")
