"""How ``store/`` was made: run with the first release (commit da71ee6) on PYTHONPATH.

    git worktree add /tmp/seed da71ee6
    PYTHONPATH=/tmp/seed/core python make_store.py store

It leaves two runs in a file store, as that release wrote them: ``plan-1``, a plan paused
after its first step (its plan state in ``context["plan"]``), and ``graph-1``, a graph run
paused by its token budget (the budget among the run's ``metadata``).
"""

from __future__ import annotations

import itertools
import sys

import anyio

from framework.graph.checkpoint_manager import CheckpointManager
from framework.graph.edge import EdgeSpec, GraphSpec
from framework.graph.executor import GraphExecutor
from framework.graph.flexible_executor import FlexibleGraphExecutor
from framework.graph.goal import Goal
from framework.graph.node import NodeResult, NodeSpec
from framework.graph.plan import ActionSpec, ActionType, Plan, PlanStep
from framework.storage import FileStorage

GOAL = Goal(id="goal", name="Compat", description="Runs written by the first release.")


def plan() -> Plan:
    def step(step_id: str, *deps: str) -> PlanStep:
        action = ActionSpec(action_type=ActionType.FUNCTION, function_name=step_id)
        return PlanStep(id=step_id, action=action, dependencies=list(deps))

    return Plan(id="plan", goal_id="goal", steps=[step("a"), step("b", "a"), step("c", "b")])


def graph() -> GraphSpec:
    ids = ["n1", "n2", "n3"]
    return GraphSpec(
        id="chain",
        entry_node="n1",
        nodes=[NodeSpec(id=i, name=i, description=i, output_keys=[i]) for i in ids],
        edges=[EdgeSpec(id=f"{a}-{b}", source=a, target=b) for a, b in itertools.pairwise(ids)],
    )


async def main(folder: str) -> None:
    with FileStorage(folder) as storage:
        manager = CheckpointManager(storage, {"retention_strategy": "all"})

        def a() -> dict[str, int]:
            manager.request_pause("plan-1", "paused by the first release")
            return {"value": 1}

        functions = {"a": a, "b": lambda: {"value": 2}, "c": lambda: {"value": 3}}
        executor = FlexibleGraphExecutor(None, functions=functions, checkpoint_manager=manager)
        await executor.execute_plan(plan(), GOAL, run_id="plan-1")

        runner = GraphExecutor(checkpoint_manager=manager)
        for node in ("n1", "n2", "n3"):
            runner.register_function(
                node, lambda n=node: NodeResult(success=True, output={n: n}, tokens_used=10)
            )
        await runner.execute(graph(), GOAL, {"seed": "s"}, run_id="graph-1", max_tokens=15)


if __name__ == "__main__":
    anyio.run(main, sys.argv[1])
