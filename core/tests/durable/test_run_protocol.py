"""One durable path for every kind of run: ``run_durably`` with an adapter and a walk.

The durable layer knows nothing of graphs: a toy executor whose state is a counter gets
start, crash recovery, completion and pausing from the same path the two real executors
take. And no async path of either executor ever calls a synchronous storage twin.
"""

from __future__ import annotations

import asyncio
import functools
from dataclasses import dataclass, field
from typing import Any

import pytest
from durable_helpers import GOAL, Crash, NodeLog, Payments, chain, executor_for

from framework.durable import (
    CheckpointManager,
    DurableRun,
    NullRun,
    RunObserver,
    RunSpec,
    run_durably,
)
from framework.graph import (
    ActionSpec,
    ActionType,
    FlexibleGraphExecutor,
    NodeContext,
    Plan,
    PlanStep,
    StepContext,
)
from framework.schemas import Checkpoint, CheckpointKind, ExecutorType, RunBudget, RunStatus
from framework.storage import MemoryStorage
from framework.storage.backend import StorageBackend


@dataclass
class Count:
    """The toy executor's whole state: how far it counted, and to where."""

    done: int
    target: int
    seen: list[int] = field(default_factory=list)


class CountAdapter:
    """A counter's checkpoint holds how far it got in ``step_number``."""

    def __init__(self, target: int) -> None:
        self.target = target
        self.resumed_from: int | None = None

    def start(self, input_data: dict[str, Any], run: RunObserver[Count]) -> Count:
        return Count(input_data.get("from", 0), self.target)

    def resume(self, checkpoint: Checkpoint, run: RunObserver[Count]) -> Count:
        self.resumed_from = checkpoint.step_number
        return Count(checkpoint.step_number, self.target)

    def finished(self, checkpoint: Checkpoint) -> int:
        return checkpoint.step_number

    def snapshot(self, state: Count, after: str | None) -> Checkpoint:
        return Checkpoint(
            id="unnumbered",
            run_id="unnumbered",
            current_node_id=after,
            next_node_id=None if state.done >= state.target else f"step{state.done + 1}",
            step_number=state.done,
        )


def counting(crash_at: int | None = None, pause_at: int | None = None) -> Any:
    async def walk(state: Count, run: RunObserver[Count]) -> int:
        while state.done < state.target:
            run.boundary(state, f"step{state.done}" if state.done else None)
            if state.done == pause_at:
                await run.stopped(state, f"step{state.done}", RunStatus.PAUSED, "asked to")
                return state.done
            if state.done + 1 == crash_at:
                raise Crash("mid-step")
            state.done += 1
            state.seen.append(state.done)
            finished = state.done >= state.target
            await run.node_done(state, f"step{state.done}", step=state.done, stopping=finished)
        await run.stopped(state, f"step{state.done}", RunStatus.COMPLETED, "")
        return state.done

    return walk


def spec(run_id: str | None = "count-1", **fields: Any) -> RunSpec:
    values: dict[str, Any] = {
        "run_id": run_id,
        "executor_type": ExecutorType.BATCH,
        "graph_id": "counter",
        "fingerprint": "sha256:counter",
    }
    return RunSpec(**(values | fields))


async def test_without_a_manager_the_walk_reports_to_a_run_that_writes_nothing() -> None:
    observers: list[Any] = []

    async def walk(state: Count, run: RunObserver[Count]) -> int:
        observers.append(run)
        return await counting()(state, run)

    result = await run_durably(CountAdapter(3), None, spec(input_data={"from": 1}), walk)

    assert result == 3 and isinstance(observers[0], NullRun)
    assert observers[0].run_id == "count-1" and observers[0].effects is None


async def test_a_new_run_is_stored_checkpointed_and_completed(storage: StorageBackend) -> None:
    manager = CheckpointManager(storage, {"retention_strategy": "all"})

    result = await run_durably(CountAdapter(3), manager, spec(), counting())

    assert result == 3
    checkpoints = await storage.alist_checkpoints("count-1")
    assert [(m.kind, m.step_number) for m in checkpoints] == [
        (CheckpointKind.START, 0),
        (CheckpointKind.NODE_COMPLETE, 1),
        (CheckpointKind.NODE_COMPLETE, 2),
        (CheckpointKind.FINAL, 3),
    ]
    record = await storage.aget_run("count-1")
    assert record is not None and record.status is RunStatus.COMPLETED
    assert record.executor_type is ExecutorType.BATCH and record.totals.steps == 3


async def test_a_crashed_run_resumes_through_its_adapter_at_the_stored_state(
    storage: StorageBackend,
) -> None:
    manager = CheckpointManager(storage)
    with pytest.raises(Crash):
        await run_durably(CountAdapter(5), manager, spec(), counting(crash_at=3))

    adapter = CountAdapter(5)
    walk = counting()
    result = await run_durably(adapter, manager, spec(), walk)

    assert result == 5 and adapter.resumed_from == 2


async def test_a_completed_run_returns_its_stored_result_without_walking(
    storage: StorageBackend,
) -> None:
    manager = CheckpointManager(storage)
    await run_durably(CountAdapter(2), manager, spec(), counting())

    async def must_not_walk(state: Count, run: RunObserver[Count]) -> int:
        raise AssertionError("a completed run walked again")

    assert await run_durably(CountAdapter(2), manager, spec(), must_not_walk) == 2


async def test_a_run_stopped_between_its_final_checkpoint_and_its_status_is_just_marked(
    storage: StorageBackend,
) -> None:
    manager = CheckpointManager(storage)

    async def dies_after_the_final_checkpoint(state: Count, run: RunObserver[Count]) -> int:
        state.done = state.target
        assert isinstance(run, DurableRun)
        await run.complete(run.snapshot(state, "step2"))
        await storage.aupdate_run(
            "count-1", expect_fencing_token=run._token(), status=RunStatus.RUNNING
        )
        raise Crash("after the final checkpoint")

    with pytest.raises(Crash):
        await run_durably(CountAdapter(2), manager, spec(), dies_after_the_final_checkpoint)

    async def must_not_walk(state: Count, run: RunObserver[Count]) -> int:
        raise AssertionError("the run walked again")

    assert await run_durably(CountAdapter(2), manager, spec(), must_not_walk) == 2
    record = await storage.aget_run("count-1")
    assert record is not None and record.status is RunStatus.COMPLETED


async def test_a_paused_run_keeps_its_budget_and_continues_where_it_paused(
    storage: StorageBackend,
) -> None:
    manager = CheckpointManager(storage)
    budget = RunBudget(max_tokens=7)
    await run_durably(CountAdapter(4), manager, spec(budget=budget), counting(pause_at=2))

    adapter = CountAdapter(4)
    result = await run_durably(adapter, manager, spec(), counting())

    assert result == 4 and adapter.resumed_from == 2
    record = await storage.aget_run("count-1")
    assert record is not None and record.budget == budget


# The synchronous twins of the contract: every async method's name without its ``a``.
SYNC_TWINS = {name[1:] for name in StorageBackend.__abstractmethods__ if name.startswith("a")}


class LoopGuardedStorage(MemoryStorage):
    """A backend whose synchronous methods refuse to run on a thread with an event loop.

    Its async twins run the sync methods in worker threads (no loop there), so only an
    async code path that calls a sync twin directly trips it.
    """

    runs_inline = False

    def __getattribute__(self, name: str) -> Any:
        value = super().__getattribute__(name)
        if name not in SYNC_TWINS:
            return value

        @functools.wraps(value)
        def guarded(*args: Any, **kwargs: Any) -> Any:
            try:
                asyncio.get_running_loop()
            except RuntimeError:
                return value(*args, **kwargs)
            raise AssertionError(f"the sync twin {name}() was called from async code")

        return guarded


async def test_no_async_path_of_either_executor_calls_a_sync_storage_twin() -> None:
    storage = LoopGuardedStorage()
    manager = CheckpointManager(storage, {"retention_strategy": "all"})
    graph = chain(3, pause_nodes=["n2"])
    log = NodeLog()
    payments = Payments()
    executor = executor_for(graph, log, manager)

    async def n2(ctx: NodeContext) -> Any:
        return await ctx.effect("charge", payments.acharge, 5)

    executor.register_function("n2", n2)
    paused = await executor.execute(graph, GOAL, {"seed": "s"}, run_id="g", max_tokens=1000)
    forked = await manager.afork("g", new_run_id="g-fork")
    done = await executor.execute(graph, GOAL, run_id="g")
    await manager.apreview_resume(forked)
    await manager.arequest_cancel(forked)

    async def step_a(ctx: StepContext) -> dict[str, Any]:
        return {"receipt": await ctx.effect("charge", payments.acharge, 1)}

    plan = Plan(
        id="plan",
        goal_id="goal",
        steps=[
            PlanStep(id="a", action=ActionSpec(action_type=ActionType.FUNCTION, function_name="a"))
        ],
    )
    flexible = FlexibleGraphExecutor(None, functions={"a": step_a}, checkpoint_manager=manager)
    planned = await flexible.execute_plan(plan, GOAL, run_id="p")

    assert paused.run_status is RunStatus.PAUSED and done.run_status is RunStatus.COMPLETED
    assert planned.run_status is RunStatus.COMPLETED and len(payments.calls) == 2
    with pytest.raises(AssertionError, match="get_run"):
        storage.get_run("g")  # the guard is armed: this is what it would catch
