"""The graph: nodes, edges, where a run starts, ends and pauses, and its fingerprint."""

from __future__ import annotations

import hashlib
from collections import Counter, defaultdict
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field

from framework.errors import ExpressionError
from framework.graph._edges import EdgeCondition, EdgeSpec
from framework.graph.expressions import check_expression, compile_expression
from framework.graph.node import NodeSpec, NodeType
from framework.storage import codec

__all__ = ["GraphRoutes", "GraphSpec", "PreparedGraph"]


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
    """Nodes whose success completes the run, whatever edges leave them. Every other node
    needs a way out (an edge followed on success, or a router's routes): a node without
    one is a validation error. A graph listing none keeps the first release's rule: each
    node that no edge leaves on success is terminal."""
    pause_nodes: list[str] = Field(default_factory=list)
    """Nodes after which the run pauses once the next node is decided; it resumes at that
    next node (a pause node that no edge leaves on success completes the run)."""
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
        return _by_priority(edge for edge in self.edges if edge.source == node_id)

    def success_edges(self, node_id: str) -> list[EdgeSpec]:
        """The edges that may be followed after ``node_id`` succeeds, in the order tried."""
        return _on_success(self.outgoing_edges(node_id))

    def is_terminal(self, node_id: str) -> bool:
        """Whether the success of ``node_id`` completes the run (see ``terminal_nodes``)."""
        return _terminal(node_id, self.terminal_nodes, self.success_edges(node_id))

    def routes(self) -> GraphRoutes:
        """The graph's nodes and edges indexed for routing, as they are now (see
        :class:`GraphRoutes`); a run takes them once, so each step costs the same however
        large the graph is."""
        outgoing: defaultdict[str, list[EdgeSpec]] = defaultdict(list)
        for edge in self.edges:
            outgoing[edge.source].append(edge)
        return GraphRoutes(
            nodes={node.id: node for node in self.nodes},
            outgoing={source: tuple(_by_priority(edges)) for source, edges in outgoing.items()},
            terminal_nodes=frozenset(self.terminal_nodes),
            pause_nodes=frozenset(self.pause_nodes),
        )

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
        routes = self.routes()
        for node in self.nodes:
            problems.extend(_node_problems(node, node_ids))
            problems.extend(self._dead_end_problems(node, routes))
        return problems

    def _dead_end_problems(self, node: NodeSpec, routes: GraphRoutes) -> list[str]:
        """A node whose success can lead nowhere, though the run must go on after it."""
        if routes.is_terminal(node.id) or node.id in self.pause_nodes:
            return []
        if node.node_type is NodeType.ROUTER:
            return []  # its routes are its way out (a router without any is an error)
        edges = routes.success_edges(node.id)
        never = [edge.id for edge in edges if _never_matches(edge)]
        if len(never) < len(edges):
            return []
        why = (
            f"its conditional edges ({', '.join(map(repr, never))}) are always false"
            if never
            else "no edge leaves it on success"
        )
        return [
            f"node '{node.id}' has no way out: it is not a terminal node and {why}; add an "
            "edge from it that can be followed, or list it in terminal_nodes"
        ]

    def warnings(self) -> list[str]:
        """What may go wrong at run time in a graph :meth:`validate` accepts, as sentences.

        Nodes that no edge or route from the entry node leads to; nodes whose edges on
        success are all conditional or ``llm_decide`` (a run whose conditions all turn out
        false fails there); routers choosing by their route expressions that have no
        ``default`` route; and names read by conditions and route expressions that no run
        is known to hold (see :meth:`unknown_names`).
        """
        routes = self.routes()
        warnings = [
            f"node '{node_id}' is unreachable: no edge or route from the entry node "
            f"'{self.entry_node}' leads to it"
            for node_id in self._unreachable(routes)
        ]
        for node in self.nodes:
            warnings.extend(self._node_warnings(node, routes))
        for edge in self.edges:
            if edge.condition is EdgeCondition.CONDITIONAL and edge.condition_expr:
                where = f"edge '{edge.id}' condition"
                warnings.extend(self.unknown_name_warnings(where, edge.condition_expr))
        return warnings

    def unknown_names(self, source: str) -> list[str]:
        """The names ``source`` reads that no run of this graph is known to hold.

        A run holds its input, ``last_error`` and what its nodes write: their
        ``output_keys``. The input is not known before a run, so every key that some node
        reads (``input_keys``) but none writes counts as one the input provides; a name
        neither written nor read is reported. Empty when some node writes keys it does not
        declare (no ``output_keys``), since then any name may be written, and when
        ``source`` does not compile (:meth:`validate` reports that).
        """
        known = self._known_names()
        if known is None or check_expression(source) is not None:
            return []
        return [name for name in compile_expression(source).names() if name not in known]

    def unknown_name_warnings(self, where: str, source: str) -> list[str]:
        """A warning for each of :meth:`unknown_names` of ``source``, found at ``where``."""
        return [
            f"{where} names '{name}', which no node writes and no node reads as input: "
            "evaluating it fails unless the run's input provides it"
            for name in self.unknown_names(source)
        ]

    def _known_names(self) -> set[str] | None:
        known = {"last_error"}
        for node in self.nodes:
            if not node.output_keys and node.node_type is not NodeType.ROUTER:
                return None
            known.update(node.output_keys, node.input_keys)
        return known

    def _unreachable(self, routes: GraphRoutes) -> list[str]:
        """Nodes no edge or route leads to from the entry node, in the graph's order."""
        reached, frontier = {self.entry_node}, [self.entry_node]
        while frontier:
            node_id = frontier.pop()
            node = routes.get_node(node_id)
            targets = [edge.target for edge in routes.outgoing_edges(node_id)]
            targets += list(node.routes.values()) if node is not None else []
            for target in targets:
                if target not in reached:
                    reached.add(target)
                    frontier.append(target)
        return [node.id for node in self.nodes if node.id not in reached]

    def _node_warnings(self, node: NodeSpec, routes: GraphRoutes) -> list[str]:
        if node.node_type is NodeType.ROUTER:
            if node.function or node.system_prompt or not node.routes:
                return []
            warnings = (
                []
                if "default" in node.routes
                else [
                    f"router node '{node.id}' has no 'default' route: when none of its route "
                    "expressions is true, the node fails"
                ]
            )
            for label in node.routes:
                if label != "default":
                    where = f"router node '{node.id}' route {label!r}"
                    warnings.extend(self.unknown_name_warnings(where, label))
            return warnings
        edges = routes.success_edges(node.id)
        unconditional = (EdgeCondition.ALWAYS, EdgeCondition.ON_SUCCESS)
        if routes.is_terminal(node.id) or not edges:
            return []
        if any(edge.condition in unconditional for edge in edges):
            return []
        ids = ", ".join(f"'{edge.id}'" for edge in edges)
        return [
            f"node '{node.id}' may be a dead end: its only edges on success are conditional "
            f"({ids}); when none matches the run fails there; add an always edge as the "
            "fallback"
        ]

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


def _never_matches(edge: EdgeSpec) -> bool:
    """Whether ``edge`` is conditional on an expression that reads nothing and is false."""
    if edge.condition is not EdgeCondition.CONDITIONAL or not edge.condition_expr:
        return False
    try:
        expression = compile_expression(edge.condition_expr)
        return expression.is_constant and not expression.evaluate({})
    except ExpressionError:
        return False  # reported as the edge's own problem, or decided when it runs


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


@dataclass(frozen=True)
class GraphRoutes:
    """A graph's nodes by id and edges by source, answering what :class:`GraphSpec`
    answers about routing in constant time; taken by :meth:`GraphSpec.routes`."""

    nodes: Mapping[str, NodeSpec]
    outgoing: Mapping[str, tuple[EdgeSpec, ...]]
    terminal_nodes: frozenset[str]
    pause_nodes: frozenset[str]

    def get_node(self, node_id: str) -> NodeSpec | None:
        return self.nodes.get(node_id)

    def outgoing_edges(self, node_id: str) -> list[EdgeSpec]:
        """As :meth:`GraphSpec.outgoing_edges`."""
        return list(self.outgoing.get(node_id, ()))

    def success_edges(self, node_id: str) -> list[EdgeSpec]:
        """As :meth:`GraphSpec.success_edges`."""
        return _on_success(self.outgoing.get(node_id, ()))

    def is_terminal(self, node_id: str) -> bool:
        """As :meth:`GraphSpec.is_terminal`."""
        return _terminal(node_id, self.terminal_nodes, self.success_edges(node_id))


def _by_priority(edges: Iterable[EdgeSpec]) -> list[EdgeSpec]:
    return sorted(edges, key=lambda edge: -edge.priority)


def _on_success(edges: Iterable[EdgeSpec]) -> list[EdgeSpec]:
    return [edge for edge in edges if edge.condition is not EdgeCondition.ON_FAILURE]


def _terminal(node_id: str, terminal_nodes: Collection[str], success: list[EdgeSpec]) -> bool:
    return node_id in terminal_nodes if terminal_nodes else not success


@dataclass(frozen=True)
class PreparedGraph:
    """A graph checked once, to run many times: what ``GraphExecutor.prepare`` returns.

    Validating a graph and fingerprinting it grow with its size (about 20 ms at 1,000
    nodes) and are done at every run of a :class:`GraphSpec`; a prepared graph carries
    the results, so starting or resuming a run of it costs what storage costs. It holds
    its own copy of the graph: editing the original afterwards changes nothing, and the
    copy must not be edited.
    """

    graph: GraphSpec
    fingerprint: str
    routes: GraphRoutes

    @classmethod
    def of(cls, graph: GraphSpec) -> PreparedGraph:
        """``graph`` as it is now, already validated by the caller (not copied)."""
        return cls(graph, graph.fingerprint(), graph.routes())
