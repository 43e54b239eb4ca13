"""Prepared graphs: validated and fingerprinted once, run many times, unchanged by later edits."""

from __future__ import annotations

import pytest

from framework import CheckpointManager, EdgeSpec, GraphExecutor, GraphSpec, NodeSpec, RunStatus
from framework.errors import GraphValidationError
from framework.graph.goal import Goal, SuccessCriterion


def two_steps() -> GraphSpec:
    """count -> double, each a function on ``n``."""
    nodes = [
        NodeSpec(id=i, name=i, description=i, function=i, input_keys=["n"], output_keys=["n"])
        for i in ("count", "double")
    ]
    return GraphSpec(
        id="two-steps",
        entry_node="count",
        terminal_nodes=["double"],
        nodes=nodes,
        edges=[EdgeSpec(id="c-d", source="count", target="double")],
        pause_nodes=["count"],
    )


def executor(manager: CheckpointManager | None = None) -> GraphExecutor:
    executor = GraphExecutor(checkpoint_manager=manager)
    executor.register_function("count", lambda n: n + 1)
    executor.register_function("double", lambda n: n * 2)
    executor.register_function("triple", lambda n: n * 3)
    return executor


async def test_a_prepared_graph_runs_as_the_graph_does() -> None:
    graph = two_steps().model_copy(update={"pause_nodes": []})
    runner = executor()

    from_graph = await runner.execute(graph, None, {"n": 1})
    from_prepared = await runner.execute(runner.prepare(graph), None, {"n": 1})

    assert from_graph.success and from_prepared.success
    assert from_prepared.output == from_graph.output == {"n": 4}
    assert from_prepared.path == from_graph.path == ["count", "double"]


async def test_editing_the_graph_after_preparing_it_changes_nothing_that_runs() -> None:
    graph = two_steps().model_copy(update={"pause_nodes": []})
    runner = executor()
    prepared = runner.prepare(graph)

    graph.nodes[1].function = "triple"
    graph.edges.clear()

    result = await runner.execute(prepared, None, {"n": 1})
    assert result.output == {"n": 4}
    assert prepared.fingerprint == two_steps().model_copy(update={"pause_nodes": []}).fingerprint()


def test_preparing_an_invalid_graph_names_every_problem() -> None:
    graph = two_steps().model_copy(update={"entry_node": "nowhere", "terminal_nodes": ["gone"]})

    with pytest.raises(GraphValidationError) as caught:
        executor().prepare(graph)

    assert "entry_node refers to missing node 'nowhere'" in str(caught.value)
    assert "terminal_nodes refers to missing node 'gone'" in str(caught.value)


def test_preparing_checks_the_executor_knows_each_function() -> None:
    graph = two_steps()
    graph.nodes[1].function = "unregistered"

    with pytest.raises(GraphValidationError, match="unregistered"):
        executor().prepare(graph)


async def test_a_goal_with_problems_is_refused_with_a_prepared_graph_too() -> None:
    goal = Goal(
        id="g",
        name="g",
        description="g",
        success_criteria=[SuccessCriterion(id="c", description="c", expression="n >")],
    )

    with pytest.raises(GraphValidationError, match="criterion 'c'"):
        await executor().execute(executor().prepare(two_steps()), goal, {"n": 1})


async def test_a_run_started_with_the_graph_resumes_with_it_prepared() -> None:
    async with CheckpointManager("memory://") as manager:
        runner = executor(manager)
        paused = await runner.execute(two_steps(), None, {"n": 1}, run_id="r")
        assert paused.run_status is RunStatus.PAUSED

        resumed = await runner.execute(runner.prepare(two_steps()), None, {"n": 1}, run_id="r")

    assert resumed.run_status is RunStatus.COMPLETED
    assert resumed.output == {"n": 4}
