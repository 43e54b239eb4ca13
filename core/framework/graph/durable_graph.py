"""Durable graph runs: the graph executor's side of :mod:`framework.graph.durable`.

:func:`execute_durably` opens the run (new, continued, or completed), restores the
:class:`~framework.graph.run_state.RunState` of its latest checkpoint, and runs the graph
executor's loop under the run's lease; :func:`record_stop` turns how the loop stopped
(completed, paused, failed, cancelled) into the matching finisher of the durable run.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from framework.errors import GraphValidationError
from framework.graph.durable import DurableRun
from framework.graph.durable_open import Budget, RunSpec
from framework.graph.fingerprint import graph_fingerprint
from framework.graph.run_state import ExecutionResult, RunState
from framework.schemas.checkpoint import ExecutorType
from framework.schemas.run import RunStatus

if TYPE_CHECKING:
    from framework.graph.checkpoint_manager import CheckpointManager
    from framework.graph.edge import GraphSpec
    from framework.graph.executor import GraphExecutor
    from framework.graph.goal import Goal

__all__ = ["execute_durably", "record_stop"]


async def execute_durably(
    executor: GraphExecutor,
    manager: CheckpointManager,
    graph: GraphSpec,
    goal: Goal | None,
    input_data: Mapping[str, Any] | None,
    session_state: Mapping[str, Any] | None,
    *,
    run_id: str | None,
    resume_input: Mapping[str, Any] | None,
    force: bool,
    budget: Budget,
    agent_id: str | None,
) -> ExecutionResult:
    """``executor.execute`` with checkpoint manager ``manager``; see ``GraphExecutor.execute``.

    A run with no checkpoint yet starts from ``session_state`` and ``input_data`` (as
    without a manager) and writes a START checkpoint first. A run with one continues from
    it; ``session_state`` must then be ``None`` (the stored state is the truth), and
    ``resume_input`` is merged into memory and answers a human_input node waiting for it.
    """
    spec = RunSpec(
        run_id=run_id,
        executor_type=ExecutorType.GRAPH,
        graph_id=graph.id,
        fingerprint=graph_fingerprint(graph),
        input_data=input_data,
        force=force,
        agent_id=agent_id,
        max_tokens=budget.max_tokens,
        max_cost=budget.max_cost,
    )
    # A malformed session state is refused before anything is stored.
    RunState.starting(graph, {}, session_state)
    durable = await DurableRun.open(manager, spec)
    if durable.finished and durable.checkpoint is not None:
        return ExecutionResult.completed(RunState.from_checkpoint(durable.checkpoint))
    start = None
    with durable.released_on_error():
        if durable.checkpoint is None:
            human_input = {**durable.starting_input(input_data), **(resume_input or {})}
            state, resumed_at = RunState.starting(graph, human_input, session_state)
            state.run_id = durable.run_id
            start = state.to_checkpoint(None)
        else:
            if session_state is not None:
                raise GraphValidationError(
                    [
                        f"run {durable.run_id!r} continues from its stored checkpoint; pass "
                        "run_id without session_state"
                    ],
                    subject="session state",
                )
            state = RunState.from_checkpoint(durable.checkpoint)
            resumed_at = state.current_node
            human_input = dict(resume_input or {})
            state.memory.update(human_input)
    limits = durable.budget

    async def body() -> ExecutionResult:
        if state.current_node is None:
            # Its final checkpoint was written but the process stopped before the run was
            # marked completed: complete it now, running nothing.
            await durable.complete(None)
            return ExecutionResult.completed(state)
        return await executor.run_state(
            graph, goal, state, human_input, resumed_at, limits, durable
        )

    return await durable.run(body, start=start)


async def record_stop(durable: DurableRun, result: ExecutionResult, state: RunState) -> None:
    """Record how the executor's loop stopped, with the state it stopped in."""
    snapshot = state.to_checkpoint(state.execution_path[-1] if state.execution_path else None)
    if result.run_status is RunStatus.COMPLETED:
        await durable.complete(snapshot)
    elif result.run_status is RunStatus.PAUSED:
        await durable.pause(snapshot, result.pause_reason or "paused")
    elif result.run_status is RunStatus.CANCELLED:
        await durable.cancel(snapshot, result.error or "cancelled")
    else:
        await durable.fail(result.error or "failed without an error message")
