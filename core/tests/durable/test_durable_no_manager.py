"""Without a checkpoint manager the executors write nothing and behave as before."""

from __future__ import annotations

from pathlib import Path

import pytest
from durable_helpers import GOAL, NodeLog, chain, executor_for

from framework.graph import ActionSpec, ActionType, ExecutionStatus, Plan, PlanStep
from framework.graph.flexible_executor import FlexibleGraphExecutor
from framework.schemas.run import RunStatus
from framework.storage import FileStorage


@pytest.fixture
def quiet_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A working directory and homes that start empty, to see anything written to them."""
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("AGENTGRAPH_HOME", str(tmp_path / "agentgraph"))
    monkeypatch.delenv("AGENTGRAPH_STORAGE", raising=False)
    return tmp_path


async def test_graph_run_without_a_manager_writes_nothing(quiet_home: Path) -> None:
    storage_dir = quiet_home / "storage"
    FileStorage(storage_dir).close()
    before = sorted(p.relative_to(quiet_home) for p in quiet_home.rglob("*"))
    graph = chain(3, pause_nodes=["n2"])
    log = NodeLog()

    paused = await executor_for(graph, log).execute(graph, GOAL, {"seed": "s"}, run_id="r")
    done = await executor_for(graph, log).execute(graph, GOAL, session_state=paused.session_state)

    assert paused.run_status is RunStatus.PAUSED and paused.run_id == "r"
    assert done.run_status is RunStatus.COMPLETED and done.run_id == "r"
    assert done.output["n3"] == "n3(n2(n1(s)))"
    assert sorted(p.relative_to(quiet_home) for p in quiet_home.rglob("*")) == before


async def test_plan_run_without_a_manager_writes_nothing(quiet_home: Path) -> None:
    plan = Plan(
        id="plan",
        goal_id="goal",
        steps=[
            PlanStep(id="a", action=ActionSpec(action_type=ActionType.FUNCTION, function_name="a"))
        ],
    )
    executor = FlexibleGraphExecutor(None, functions={"a": lambda: "done"})

    result = await executor.execute_plan(plan, GOAL, run_id="ignored-without-a-manager")

    assert result.status is ExecutionStatus.COMPLETED and result.run_status is RunStatus.COMPLETED
    assert result.run_id is None
    assert sorted(quiet_home.rglob("*")) == [quiet_home / "work"]
