"""GraphSpec.validate reports every problem of a graph at once, as readable sentences."""

from __future__ import annotations

from framework.graph import EdgeCondition, EdgeSpec, GraphSpec
from framework.graph.node import NodeSpec, NodeType


def node(node_id: str, **fields: object) -> NodeSpec:
    return NodeSpec(id=node_id, name=node_id, description=f"node {node_id}", **fields)


def test_valid_graph_has_no_problems() -> None:
    graph = GraphSpec(
        id="g",
        entry_node="a",
        terminal_nodes=["b"],
        nodes=[node("a"), node("b")],
        edges=[
            EdgeSpec(
                id="a_to_b",
                source="a",
                target="b",
                condition=EdgeCondition.CONDITIONAL,
                condition_expr="output['n'] > 1",
            )
        ],
    )
    assert graph.validate() == []


def test_validate_lists_every_problem_not_just_the_first() -> None:
    graph = GraphSpec(
        id="g",
        entry_node="start",
        terminal_nodes=["nowhere"],
        pause_nodes=["limbo"],
        nodes=[
            node("a"),
            node("a"),
            node("route", node_type=NodeType.ROUTER, routes={"x > 1": "ghost", "default": "a"}),
            node("bad_router", node_type=NodeType.ROUTER, routes={"__import__('os')": "a"}),
            node("empty_router", node_type=NodeType.ROUTER),
            node("tools", node_type=NodeType.LLM_TOOL_USE),
        ],
        edges=[
            EdgeSpec(id="e1", source="a", target="missing_target"),
            EdgeSpec(id="e1", source="missing_source", target="a"),
            EdgeSpec(
                id="evil",
                source="a",
                target="a",
                condition=EdgeCondition.CONDITIONAL,
                condition_expr="().__class__",
            ),
            EdgeSpec(id="blank", source="a", target="a", condition=EdgeCondition.CONDITIONAL),
        ],
    )
    problems = graph.validate()
    expected_fragments = [
        "duplicate node id 'a' (2 times)",
        "duplicate edge id 'e1' (2 times)",
        "entry_node refers to missing node 'start'",
        "terminal_nodes refers to missing node 'nowhere'",
        "pause_nodes refers to missing node 'limbo'",
        "edge 'e1' target refers to missing node 'missing_target'",
        "edge 'e1' source refers to missing node 'missing_source'",
        "edge 'evil' condition: Attribute is not allowed",
        "edge 'blank' is conditional but has no condition_expr",
        "router node 'route' route 'x > 1' -> missing 'ghost'",
        "router node 'bad_router' route Call is not allowed",
        "router node 'empty_router' has no routes",
        "llm_tool_use node 'tools' lists no tools",
        "node 'tools' has no way out",
    ]
    for fragment in expected_fragments:
        assert any(fragment in problem for problem in problems), (fragment, problems)
    assert len(problems) == len(expected_fragments)


def test_graph_without_nodes_is_invalid() -> None:
    problems = GraphSpec(id="g", entry_node="a").validate()
    assert "graph has no nodes" in problems
    assert "entry_node refers to missing node 'a'" in problems


def test_outgoing_edges_are_ordered_by_priority_then_declaration() -> None:
    graph = GraphSpec(
        id="g",
        entry_node="a",
        nodes=[node("a"), node("b"), node("c"), node("d")],
        edges=[
            EdgeSpec(id="low", source="a", target="b", priority=0),
            EdgeSpec(id="high", source="a", target="c", priority=5),
            EdgeSpec(id="low_too", source="a", target="d", priority=0),
            EdgeSpec(id="elsewhere", source="b", target="c", priority=9),
        ],
    )
    assert [edge.id for edge in graph.outgoing_edges("a")] == ["high", "low", "low_too"]


def test_edge_input_mapping_reads_output_then_memory() -> None:
    edge = EdgeSpec(
        id="e", source="a", target="b", input_mapping={"text": "summary", "lang": "language"}
    )
    mapped = edge.map_inputs({"summary": "short"}, {"summary": "old", "language": "en"})
    assert mapped == {"text": "short", "lang": "en"}
    assert edge.map_inputs({}, {}) == {}
