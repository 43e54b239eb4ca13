"""The graph: nodes, edges, where a run starts, ends and pauses, and its fingerprint."""

from __future__ import annotations

import hashlib
from collections import Counter

from pydantic import BaseModel, ConfigDict, Field

from framework.graph._edges import EdgeCondition, EdgeSpec
from framework.graph.expressions import check_expression
from framework.graph.node import NodeSpec, NodeType
from framework.storage import codec

__all__ = ["GraphSpec"]


class GraphSpec(BaseModel):
    """A whole agent graph: nodes, edges, where it starts, where it ends, where it pauses."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    id: str
    """Names the graph: a run's record, and a plan step's ``graph_id``, refer to it."""
    goal_id: str = ""
    """The goal the graph serves; the decision log files a run without a goal under it
    (else under ``id``)."""
    version: str = "1.0.0"
    """Part of the fingerprint: changing it makes resuming a run of the old graph refuse
    unless forced."""
    name: str = ""
    """For people; an agent is shown under it (else under ``id``)."""
    description: str = ""
    """What the graph does; the decision log describes a run without a goal by it."""
    entry_node: str
    """Where a run starts (and where a session state without ``resume_from`` resumes)."""
    entry_points: dict[str, str] = Field(default_factory=dict)
    """Other named places to start, ``{name: node id}``; validated, but the executor always
    starts at ``entry_node``."""
    terminal_nodes: list[str] = Field(default_factory=list)
    """Nodes whose success completes the run, whatever edges leave them (a node with no
    edges other than ``on_failure`` ones completes it too)."""
    pause_nodes: list[str] = Field(default_factory=list)
    """Nodes after which the run pauses once the next node is decided; it resumes at that
    next node (a pause node that ends the run completes it)."""
    nodes: list[NodeSpec] = Field(default_factory=list)
    """Every node, with unique ids; their order does not matter."""
    edges: list[EdgeSpec] = Field(default_factory=list)
    """Every edge, with unique ids; the order of the edges leaving one node breaks
    priority ties."""
    max_steps: int = Field(default=100, ge=1)
    """How many node executions a run may make over all its calls; it fails rather than
    start one more (so a loop ends)."""

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

    def fingerprint(self) -> str:
        """``sha256:`` of the canonical JSON of what decides how this graph runs.

        A run records the fingerprint of the graph it started with; resuming it with a
        graph whose fingerprint differs is refused unless forced, because its checkpoints
        may not fit. Only what changes behaviour counts: version, entry node, terminal and
        pause nodes, every node's id, type, input and output keys, function, routes,
        tools, model, retry settings and prompts, and every edge's source, target,
        condition, expression, input mapping and priority. Names, descriptions and the
        order of nodes do not (fixing a typo never strands running work); the order of
        the edges leaving one node does (it breaks priority ties).
        """
        nodes = sorted(
            (
                {
                    "id": node.id,
                    "type": str(node.node_type),
                    "input_keys": node.input_keys,
                    "output_keys": node.output_keys,
                    "function": node.function,
                    "routes": node.routes,
                    "tools": node.tools,
                    "model": node.model,
                    "max_retries": node.max_retries,
                    "retry_on": node.retry_on,
                    "system_prompt": node.system_prompt,
                    "prompt_template": node.prompt_template,
                }
                for node in self.nodes
            ),
            key=lambda node: str(node["id"]),
        )
        # A stable sort by source keeps the order of edges leaving one node.
        edges = sorted(
            (
                {
                    "source": edge.source,
                    "target": edge.target,
                    "condition": str(edge.condition),
                    "expr": edge.condition_expr,
                    "mapping": edge.input_mapping,
                    "priority": edge.priority,
                }
                for edge in self.edges
            ),
            key=lambda edge: str(edge["source"]),
        )
        tree = {
            "version": self.version,
            "entry_node": self.entry_node,
            "terminal_nodes": sorted(self.terminal_nodes),
            "pause_nodes": sorted(self.pause_nodes),
            "nodes": nodes,
            "edges": edges,
        }
        return "sha256:" + hashlib.sha256(codec.dumps(tree, "fingerprint")).hexdigest()


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
