"""A node that is not terminal must have a way out: statically a validation error, at run
time a failed run naming the node, never a run that silently ends early."""

from __future__ import annotations

from typing import Any

import pytest

from framework.errors import GraphValidationError
from framework.graph import EdgeCondition, EdgeSpec, GraphSpec
from framework.graph.executor import GraphExecutor
from framework.graph.node import NodeSpec, NodeType
from framework.schemas.run import RunStatus


def node(node_id: str, **fields: Any) -> NodeSpec:
    return NodeSpec(id=node_id, name=node_id, description=node_id, **fields)


def edge(source: str, target: str, **fields: Any) -> EdgeSpec:
    return EdgeSpec(id=f"{source}->{target}", source=source, target=target, **fields)


def executor(*node_ids: str) -> GraphExecutor:
    built = GraphExecutor()
    for node_id in node_ids:
        built.register_function(node_id, lambda: 1)
    return built


def dead_end_problem(node_id: str, why: str = "no edge leaves it on success") -> str:
    return (
        f"node '{node_id}' has no way out: it is not a terminal node and {why}; add an edge "
        "from it that can be followed, or list it in terminal_nodes"
    )


def test_a_non_terminal_node_without_outgoing_edges_is_a_validation_error() -> None:
    graph = GraphSpec(
        id="g",
        entry_node="load",
        terminal_nodes=["archive"],
        nodes=[node("load"), node("send"), node("archive")],
        edges=[edge("load", "send")],  # the edge send -> archive is missing
    )
    assert dead_end_problem("send") in graph.validate()


def test_a_node_with_only_failure_edges_has_no_way_out_on_success() -> None:
    graph = GraphSpec(
        id="g",
        entry_node="load",
        terminal_nodes=["done", "cleanup"],
        nodes=[node("load"), node("done"), node("cleanup")],
        edges=[edge("load", "cleanup", condition=EdgeCondition.ON_FAILURE)],
    )
    assert graph.validate() == [dead_end_problem("load")]


def test_a_node_whose_only_edges_are_always_false_has_no_way_out() -> None:
    graph = GraphSpec(
        id="g",
        entry_node="load",
        nodes=[node("load"), node("send")],
        edges=[
            edge("load", "send", condition=EdgeCondition.CONDITIONAL, condition_expr="1 == 2"),
        ],
    )
    why = "its conditional edges ('load->send') are always false"
    assert graph.validate() == [dead_end_problem("load", why)]


async def test_a_graph_with_a_dead_end_never_runs() -> None:
    graph = GraphSpec(
        id="g",
        entry_node="load",
        terminal_nodes=["archive"],
        nodes=[node("load"), node("send"), node("archive")],
        edges=[edge("load", "send")],
    )
    ran: list[str] = []
    ex = GraphExecutor()
    for node_id in ("load", "send", "archive"):
        ex.register_function(node_id, lambda node_id=node_id: ran.append(node_id))

    with pytest.raises(GraphValidationError, match="node 'send' has no way out"):
        await ex.execute(graph)
    assert ran == []


def test_terminal_pause_and_router_nodes_need_no_edges() -> None:
    graph = GraphSpec(
        id="g",
        entry_node="ask",
        terminal_nodes=["yes"],
        pause_nodes=["no"],
        nodes=[
            node("ask", node_type=NodeType.ROUTER, routes={"x > 1": "yes", "default": "no"}),
            node("yes"),
            node("no"),
        ],
    )
    assert graph.validate() == []


async def test_a_graph_listing_no_terminal_nodes_ends_where_its_edges_end() -> None:
    # The first release's rule, kept so its graphs (and their stored runs) still run.
    graph = GraphSpec(
        id="g",
        entry_node="a",
        nodes=[node("a"), node("b")],
        edges=[edge("a", "b")],
    )
    assert graph.validate() == []

    result = await executor("a", "b").execute(graph)

    assert result.success and result.path == ["a", "b"]


async def test_a_run_whose_conditions_are_all_false_fails_naming_the_node() -> None:
    graph = GraphSpec(
        id="g",
        entry_node="check",
        terminal_nodes=["big", "small"],
        nodes=[node("check", output_keys=["n"]), node("big"), node("small")],
        edges=[
            edge("check", "big", condition=EdgeCondition.CONDITIONAL, condition_expr="n > 10"),
            edge("check", "small", condition=EdgeCondition.CONDITIONAL, condition_expr="n < 0"),
        ],
    )

    result = await executor("check", "big", "small").execute(graph)

    assert not result.success and result.run_status is RunStatus.FAILED
    assert result.error is not None
    assert result.error.startswith("node 'check' is a dead end: none of its edges matched")
    assert "'check->big', 'check->small'" in result.error
    assert result.path == ["check"]
