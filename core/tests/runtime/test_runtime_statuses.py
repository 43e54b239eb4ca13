"""The decision log records where a run stands: paused and cancelled runs are not 'completed'."""

from __future__ import annotations

from pathlib import Path

from framework.graph import (
    ActionSpec,
    ActionType,
    EdgeSpec,
    ExecutionStatus,
    GraphSpec,
    Plan,
    PlanStep,
)
from framework.graph.executor import GraphExecutor
from framework.graph.flexible_executor import FlexibleGraphExecutor
from framework.graph.goal import Goal
from framework.graph.node import NodeSpec
from framework.runtime import Runtime
from framework.schemas.run import RunStatus

GOAL = Goal(id="g", name="Goal", description="Finish.")


def test_end_run_records_the_given_status_and_defaults_by_success(tmp_path: Path) -> None:
    runtime = Runtime(tmp_path)
    paused = runtime.start_run("g")
    runtime.end_run(paused, success=True, narrative="waiting", status=RunStatus.PAUSED)
    failed = runtime.start_run("g")
    runtime.end_run(failed, success=False)

    assert runtime.get_run(paused).status is RunStatus.PAUSED
    assert runtime.get_run(failed).status is RunStatus.FAILED


async def test_a_graph_run_that_pauses_is_logged_paused_then_completed_on_resume(
    tmp_path: Path,
) -> None:
    graph = GraphSpec(
        id="review",
        entry_node="draft",
        pause_nodes=["draft"],
        nodes=[
            NodeSpec(id="draft", name="Draft", description="d", output_keys=["text"]),
            NodeSpec(id="send", name="Send", description="s", output_keys=["sent"]),
        ],
        edges=[EdgeSpec(id="draft-send", source="draft", target="send")],
    )
    runtime = Runtime(tmp_path)
    executor = GraphExecutor(runtime)
    executor.register_function("draft", lambda: "hello")
    executor.register_function("send", lambda: True)

    paused = await executor.execute(graph, GOAL)
    assert paused.paused_at == "draft"
    assert runtime.get_run(paused.run_id).status is RunStatus.PAUSED

    resumed = await executor.execute(graph, GOAL, session_state=paused.session_state)
    assert resumed.output["sent"] is True
    assert runtime.get_run(resumed.run_id).status is RunStatus.COMPLETED


async def test_a_plan_awaiting_approval_is_logged_paused(tmp_path: Path) -> None:
    step = PlanStep(
        id="pay",
        action=ActionSpec(action_type=ActionType.FUNCTION, function_name="pay"),
        requires_approval=True,
    )
    runtime = Runtime(tmp_path)
    executor = FlexibleGraphExecutor(runtime, functions={"pay": lambda: "paid"})

    result = await executor.execute_plan(Plan(id="p", goal_id="g", steps=[step]), GOAL)

    assert result.status is ExecutionStatus.AWAITING_APPROVAL
    assert runtime.get_run(result.run_id).status is RunStatus.PAUSED
