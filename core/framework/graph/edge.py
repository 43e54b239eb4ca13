"""Edges and the graph: how control flows from one node to the next."""

from __future__ import annotations

from collections import Counter
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from framework.graph.expressions import check_expression, compile_expression
from framework.graph.node import NodeSpec, NodeType

__all__ = ["EdgeCondition", "EdgeSpec", "GraphSpec"]


class EdgeCondition(StrEnum):
    ALWAYS = "always"
    ON_SUCCESS = "on_success"
    ON_FAILURE = "on_failure"
    CONDITIONAL = "conditional"
    LLM_DECIDE = "llm_decide"


class EdgeSpec(BaseModel):
    """A possible transition from ``source`` to ``target``.

    Edges leaving a node are tried by ``priority``, highest first, and the first that
    applies is followed. ``conditional`` edges evaluate ``condition_expr`` (a safe
    expression) with the names ``output``, ``memory`` and every key of both (output wins).
    ``on_failure`` edges are followed when the source failed after all its retries, which
    turns the failure into a handled branch. ``input_mapping`` is ``{target input key:
    source key}``, looked up in the source's output, then in memory.
    """

    model_config = ConfigDict(extra="forbid")

    id: str
    source: str
    target: str
    condition: EdgeCondition = EdgeCondition.ALWAYS
    condition_expr: str | None = None
    input_mapping: dict[str, str] = Field(default_factory=dict)
    priority: int = 0
    description: str = ""

    def matches(self, success: bool, output: dict[str, Any], memory: dict[str, Any]) -> bool:
        """Whether this edge applies; ``llm_decide`` edges are decided by the executor."""
        if self.condition is EdgeCondition.ON_FAILURE:
            return not success
        if not success:
            return False
        if self.condition is EdgeCondition.CONDITIONAL:
            names = {**memory, **output, "output": output, "memory": memory}
            return bool(compile_expression(self.condition_expr or "").evaluate(names))
        return True

    def map_inputs(self, output: dict[str, Any], memory: dict[str, Any]) -> dict[str, Any]:
        """The input the target receives through this edge."""
        mapped: dict[str, Any] = {}
        for target_key, source_key in self.input_mapping.items():
            if source_key in output:
                mapped[target_key] = output[source_key]
            elif source_key in memory:
                mapped[target_key] = memory[source_key]
        return mapped


class GraphSpec(BaseModel):
    """A whole agent graph: nodes, edges, where it starts, where it ends, where it pauses."""

    model_config = ConfigDict(extra="forbid")

    id: str
    goal_id: str = ""
    version: str = "1.0.0"
    name: str = ""
    description: str = ""
    entry_node: str
    entry_points: dict[str, str] = Field(default_factory=dict)
    terminal_nodes: list[str] = Field(default_factory=list)
    pause_nodes: list[str] = Field(default_factory=list)
    nodes: list[NodeSpec] = Field(default_factory=list)
    edges: list[EdgeSpec] = Field(default_factory=list)
    max_steps: int = Field(default=100, ge=1)

    def get_node(self, node_id: str) -> NodeSpec | None:
        return next((node for node in self.nodes if node.id == node_id), None)

    def outgoing_edges(self, node_id: str) -> list[EdgeSpec]:
        """Edges leaving ``node_id``, highest priority first (stable for equal priorities)."""
        edges = [edge for edge in self.edges if edge.source == node_id]
        return sorted(edges, key=lambda edge: -edge.priority)

    def validate(self) -> list[str]:  # type: ignore[override]
        """Every problem with this graph, as readable sentences; empty when it is valid."""
        problems: list[str] = []
        node_ids = {node.id for node in self.nodes}
        id_lists = (("node", [n.id for n in self.nodes]), ("edge", [e.id for e in self.edges]))
        for kind, ids in id_lists:
            for dup, count in Counter(ids).items():
                if count > 1:
                    problems.append(f"duplicate {kind} id '{dup}' ({count} times)")
        if not self.nodes:
            problems.append("graph has no nodes")

        def require(node_id: str, where: str) -> None:
            if node_id not in node_ids:
                problems.append(f"{where} refers to missing node '{node_id}'")

        require(self.entry_node, "entry_node")
        for name, node_id in self.entry_points.items():
            require(node_id, f"entry point '{name}'")
        for node_id in self.terminal_nodes:
            require(node_id, "terminal_nodes")
        for node_id in self.pause_nodes:
            require(node_id, "pause_nodes")
        for edge in self.edges:
            require(edge.source, f"edge '{edge.id}' source")
            require(edge.target, f"edge '{edge.id}' target")
            if edge.condition is EdgeCondition.CONDITIONAL:
                if not edge.condition_expr:
                    problems.append(f"edge '{edge.id}' is conditional but has no condition_expr")
                elif problem := check_expression(edge.condition_expr):
                    problems.append(f"edge '{edge.id}' condition: {problem}")
        for node in self.nodes:
            problems.extend(_node_problems(node, node_ids))
        return problems


def _node_problems(node: NodeSpec, node_ids: set[str]) -> list[str]:
    problems: list[str] = []
    if node.node_type is NodeType.ROUTER:
        if not node.routes:
            problems.append(f"router node '{node.id}' has no routes")
        for label, target in node.routes.items():
            if target not in node_ids:
                problems.append(f"router node '{node.id}' route '{label}' -> missing '{target}'")
            expression_routed = not node.function and not node.system_prompt
            if expression_routed and label != "default" and (problem := check_expression(label)):
                problems.append(f"router node '{node.id}' route {problem}")
    if node.node_type is NodeType.LLM_TOOL_USE and not node.tools:
        problems.append(f"llm_tool_use node '{node.id}' lists no tools")
    return problems
