"""A node that names a function runs that function, never one that shares the node's id.

A node without a ``function`` runs the one registered under its id.
"""

from __future__ import annotations

from typing import Any

import pytest

from framework.errors import GraphValidationError
from framework.graph import EdgeSpec, GraphSpec
from framework.graph.executor import GraphExecutor
from framework.graph.node import NodeSpec, NodeType


def archive_graph(**archive: Any) -> GraphSpec:
    return GraphSpec(
        id="g",
        entry_node="archive",
        terminal_nodes=["archive"],
        nodes=[NodeSpec(id="archive", name="a", description="a", output_keys=["by"], **archive)],
    )


async def test_a_node_naming_a_function_runs_it_even_when_one_has_the_node_id() -> None:
    executor = GraphExecutor()
    executor.register_function("archive", lambda: "archive (named like the node)")
    executor.register_function("archive_invoice", lambda: "archive_invoice")

    result = await executor.execute(archive_graph(function="archive_invoice"))

    assert result.success
    assert result.output == {"by": "archive_invoice"}


async def test_a_node_naming_an_unregistered_function_is_refused_naming_both() -> None:
    executor = GraphExecutor()
    executor.register_function("archive", lambda: "archive (named like the node)")

    with pytest.raises(GraphValidationError) as caught:
        await executor.execute(archive_graph(function="archive_invoice"))

    assert caught.value.problems == [
        "function node 'archive' has no function; register one as 'archive_invoice'"
    ]


async def test_a_node_naming_no_function_runs_the_one_registered_under_its_id() -> None:
    executor = GraphExecutor()
    executor.register_function("archive", lambda: "archive")

    result = await executor.execute(archive_graph())

    assert result.output == {"by": "archive"}


async def test_a_router_naming_a_function_never_runs_one_that_has_its_id() -> None:
    graph = GraphSpec(
        id="g",
        entry_node="pick",
        terminal_nodes=["left", "right"],
        nodes=[
            NodeSpec(
                id="pick",
                name="p",
                description="p",
                node_type=NodeType.ROUTER,
                function="choose",
                routes={"left": "left", "right": "right"},
            ),
            NodeSpec(id="left", name="l", description="l"),
            NodeSpec(id="right", name="r", description="r"),
        ],
        edges=[
            EdgeSpec(id="to-left", source="pick", target="left"),
            EdgeSpec(id="to-right", source="pick", target="right"),
        ],
    )
    executor = GraphExecutor()
    executor.register_function("pick", lambda: "left")
    executor.register_function("choose", lambda: "right")
    executor.register_function("left", lambda: None)
    executor.register_function("right", lambda: None)

    result = await executor.execute(graph)

    assert result.path == ["pick", "right"]
