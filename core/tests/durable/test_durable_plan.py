"""Durable plan runs: the flexible executor with a checkpoint manager."""

from __future__ import annotations

from typing import Any

import pytest
from durable_helpers import Crash, kinds

from framework.errors import GraphChangedError, RunConflictError
from framework.graph import ActionSpec, ActionType, ExecutionStatus, Plan, PlanStep, StepStatus
from framework.graph.checkpoint_manager import CheckpointManager
from framework.graph.flexible_executor import ExecutorConfig, FlexibleGraphExecutor
from framework.graph.goal import Goal
from framework.schemas.checkpoint import ExecutorType
from framework.schemas.run import RunStatus
from framework.storage.backend import StorageBackend

GOAL = Goal(id="goal", name="Plan goal", description="Run a durable plan.")


def step(step_id: str, *deps: str) -> PlanStep:
    args = {"before": f"${deps[0]}.value"} if deps else {}
    action = ActionSpec(action_type=ActionType.FUNCTION, function_name=step_id, function_args=args)
    return PlanStep(id=step_id, action=action, dependencies=list(deps))


def four_steps() -> Plan:
    return Plan(
        id="plan",
        goal_id="goal",
        steps=[step("a"), step("b", "a"), step("c", "b"), step("d", "c")],
        context={"topic": "tides"},
    )


class Steps:
    """Step functions that log their calls; ``crash_at`` crashes that step once."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.crash_at: str | None = None

    def functions(self) -> dict[str, Any]:
        def make(step_id: str) -> Any:
            def run(before: str = "start") -> dict[str, str]:
                if self.crash_at == step_id:
                    self.crash_at = None
                    raise Crash(step_id)
                self.calls.append(step_id)
                return {"value": f"{step_id}<{before}"}

            return run

        return {step_id: make(step_id) for step_id in "abcd"}

    def executor(self, manager: CheckpointManager | None, **kwargs: Any) -> FlexibleGraphExecutor:
        return FlexibleGraphExecutor(
            None, functions=self.functions(), checkpoint_manager=manager, **kwargs
        )


async def test_plan_run_with_a_manager_completes_and_checkpoints_each_accepted_step(
    manager: CheckpointManager, storage: StorageBackend
) -> None:
    steps = Steps()
    plain = await Steps().executor(None).execute_plan(four_steps(), GOAL)

    result = await steps.executor(manager).execute_plan(four_steps(), GOAL, run_id="p")

    assert result.status is ExecutionStatus.COMPLETED and result.run_status is RunStatus.COMPLETED
    assert result.results == plain.results and result.run_id == "p"
    assert kinds(storage, "p") == ["start", *["node_complete"] * 3, "final"]
    record = storage.get_run("p")
    assert record is not None
    assert record.status is RunStatus.COMPLETED and record.executor_type is ExecutorType.FLEXIBLE
    final = storage.load_latest_checkpoint("p")
    assert final is not None
    assert final.execution_path == ["a", "b", "c", "d"] and final.current_step_id == "d"
    assert final.memory_snapshot["d"] == {"value": "d<c<b<a<start"}
    assert final.plan_state.plan["steps"][3]["status"] == "completed"


async def test_plan_resumes_after_a_crash_without_rerunning_accepted_steps(
    manager: CheckpointManager, storage: StorageBackend
) -> None:
    steps = Steps()
    steps.crash_at = "c"
    with pytest.raises(Crash):
        await steps.executor(manager).execute_plan(four_steps(), GOAL, run_id="p")
    assert steps.calls == ["a", "b"]
    assert manager.preview_resume("p").next_node == "c"

    result = await steps.executor(manager).execute_plan(four_steps(), GOAL, run_id="p")

    assert steps.calls == ["a", "b", "c", "d"]
    assert result.status is ExecutionStatus.COMPLETED
    assert result.results["d"] == {"value": "d<c<b<a<start"}
    assert result.steps_executed == 4
    first_step = result.plan.get_step("a")
    assert first_step is not None and first_step.attempts == 1


async def test_parallel_plan_resumes_and_reruns_only_steps_not_accepted_before_the_crash(
    manager: CheckpointManager,
) -> None:
    plan = Plan(
        id="fan",
        goal_id="goal",
        steps=[step("a"), step("b"), step("c"), step("d", "a")],
    )
    steps = Steps()
    steps.crash_at = "d"
    parallel = ExecutorConfig(max_parallel_steps=3)
    with pytest.raises(Crash):
        await steps.executor(manager, config=parallel).execute_plan(plan, GOAL, run_id="p")
    accepted = manager.preview_resume("p").completed_nodes
    assert "a" in accepted  # d only started after a was accepted
    before = len(steps.calls)

    result = await steps.executor(manager, config=parallel).execute_plan(plan, GOAL, run_id="p")

    # Steps in flight at the crash (d, and any other not yet accepted) run again; no other.
    assert sorted(steps.calls[before:]) == sorted({"a", "b", "c", "d"} - set(accepted))
    assert result.status is ExecutionStatus.COMPLETED
    assert sorted(result.completed_steps) == ["a", "b", "c", "d"]


async def test_completed_plan_run_returns_its_stored_result(manager: CheckpointManager) -> None:
    steps = Steps()
    first = await steps.executor(manager).execute_plan(four_steps(), GOAL, run_id="p")

    again = await steps.executor(manager).execute_plan(four_steps(), GOAL, run_id="p")

    assert steps.calls == ["a", "b", "c", "d"]
    assert again.results == first.results and again.status is ExecutionStatus.COMPLETED
    last_step = again.plan.get_step("d")
    assert last_step is not None and last_step.status is StepStatus.COMPLETED


async def test_changed_plan_or_context_is_refused(manager: CheckpointManager) -> None:
    steps = Steps()
    steps.crash_at = "b"
    with pytest.raises(Crash):
        await steps.executor(manager).execute_plan(four_steps(), GOAL, {"n": 1}, run_id="p")
    changed = four_steps()
    changed.steps[3].max_retries = 0

    with pytest.raises(GraphChangedError):
        await steps.executor(manager).execute_plan(changed, GOAL, run_id="p")
    with pytest.raises(RunConflictError):
        await steps.executor(manager).execute_plan(four_steps(), GOAL, {"n": 2}, run_id="p")
    result = await steps.executor(manager).execute_plan(changed, GOAL, run_id="p", force=True)

    assert result.status is ExecutionStatus.COMPLETED and steps.calls == ["a", "b", "c", "d"]


async def test_pause_request_stops_the_plan_before_its_next_step(
    manager: CheckpointManager, storage: StorageBackend
) -> None:
    steps = Steps()
    functions = steps.functions()
    plain_b = functions["b"]

    def b_then_pause(before: str = "start") -> dict[str, str]:
        manager.request_pause("p", "lunch")
        return plain_b(before)

    functions["b"] = b_then_pause
    executor = FlexibleGraphExecutor(None, functions=functions, checkpoint_manager=manager)

    paused = await executor.execute_plan(four_steps(), GOAL, run_id="p")

    assert paused.status is ExecutionStatus.PAUSED and paused.run_status is RunStatus.PAUSED
    assert paused.feedback == "lunch" and paused.completed_steps == ["a", "b"]
    assert kinds(storage, "p")[-1] == "pause"

    resumed = await steps.executor(manager).execute_plan(four_steps(), GOAL, run_id="p")

    assert resumed.status is ExecutionStatus.COMPLETED
    assert steps.calls == ["a", "b", "c", "d"]


async def test_plan_token_budget_pauses_the_plan(manager: CheckpointManager) -> None:
    plan = Plan(
        id="llm",
        goal_id="goal",
        steps=[
            PlanStep(id="x", action=ActionSpec(action_type=ActionType.FUNCTION, function_name="x")),
            PlanStep(
                id="y",
                dependencies=["x"],
                action=ActionSpec(action_type=ActionType.FUNCTION, function_name="y"),
            ),
        ],
    )
    executor = FlexibleGraphExecutor(
        None, functions={"x": lambda: "x", "y": lambda: "y"}, checkpoint_manager=manager
    )

    paused = await executor.execute_plan(plan, GOAL, run_id="p", max_tokens=0)

    assert paused.status is ExecutionStatus.PAUSED and paused.feedback == "budget_exhausted"
    assert paused.completed_steps == []
