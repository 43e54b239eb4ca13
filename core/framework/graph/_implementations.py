"""What carries out each node of a graph: registered implementations, functions, built-ins.

The graph executor asks :class:`NodeImplementations` for the implementation of a node and
for every problem that keeps a graph's nodes from running, before anything runs.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from framework.errors import GraphValidationError
from framework.graph.expressions import check_expression
from framework.graph.llm_nodes import LLMNode, RouterNode
from framework.graph.map_node import MapNode
from framework.graph.node import FunctionNode, NodeProtocol, NodeSpec, NodeType

if TYPE_CHECKING:
    from framework.durable import CheckpointManager
    from framework.llm.provider import LLMProvider


_LLM_TYPES = (NodeType.LLM_GENERATE, NodeType.LLM_TOOL_USE)
_FUNCTION_TYPES = (NodeType.FUNCTION, NodeType.MAP)


class NodeImplementations:
    """Implementations registered per node id, and functions per node id or function name.

    A node registered with :meth:`register_node` runs that implementation. Otherwise a
    router runs :class:`RouterNode` (with its function, if it has one), an LLM node
    :class:`LLMNode`, and a function node its function. A node's function is the one
    registered under its ``spec.function`` name when it names one (never one that merely
    has the node's id), else the one registered under its id.
    """

    def __init__(self, nodes: Mapping[str, NodeProtocol] | None = None) -> None:
        self._nodes: dict[str, NodeProtocol] = dict(nodes or {})
        self._functions: dict[str, Callable[..., Any]] = {}

    def register_function(self, key: str, func: Callable[..., Any]) -> None:
        if not callable(func):
            raise TypeError(f"register_function({key!r}, ...) needs a callable")
        self._functions[key] = func

    def register_node(self, node_id: str, impl: NodeProtocol) -> None:
        self._nodes[node_id] = impl

    def for_node(self, spec: NodeSpec, manager: CheckpointManager | None = None) -> NodeProtocol:
        """The implementation that carries out ``spec`` (a map node's batch goes through
        ``manager``)."""
        if spec.id in self._nodes:
            return self._nodes[spec.id]
        if spec.node_type is NodeType.MAP:
            func = self.function_for(spec)
            if func is None:
                raise GraphValidationError([f"map node '{spec.id}' has no function"])
            return MapNode(func, manager)
        if spec.node_type is NodeType.ROUTER:
            return RouterNode(self.function_for(spec))
        if spec.node_type in _LLM_TYPES:
            return LLMNode()
        func = self.function_for(spec)
        if func is None:
            raise GraphValidationError([f"function node '{spec.id}' has no function"])
        return FunctionNode(func)

    def function_for(self, spec: NodeSpec) -> Callable[..., Any] | None:
        """The function ``spec`` runs: the one it names, else the one under its id."""
        return self._functions.get(spec.function_name)

    def problems(self, node: NodeSpec, llm: LLMProvider | None) -> list[str]:
        """What keeps ``node`` from running with these implementations and ``llm``."""
        if node.id in self._nodes:
            return []
        if node.node_type in _FUNCTION_TYPES and self.function_for(node) is None:
            key = node.function_name
            return [f"{node.node_type} node '{node.id}' has no function; register one as '{key}'"]
        if node.node_type is NodeType.MAP and not (node.input_keys and node.output_keys):
            return [f"map node '{node.id}' needs an input key (its list) and an output key"]
        if node.node_type in _LLM_TYPES and llm is None:
            return [
                f"{node.node_type} node '{node.id}' needs an LLM; pass llm=..., or for an "
                'agent folder add an "llm" section to agent.json or give --provider/--model'
            ]
        if node.node_type is not NodeType.ROUTER:
            return []
        if node.function and self.function_for(node) is None:
            return [f"router node '{node.id}' function '{node.function}' is not registered"]
        if node.system_prompt and self.function_for(node) is None and llm is None:
            # Without an LLM the router falls back to its labels as expressions.
            return [
                f"router node '{node.id}' has a system_prompt but no LLM is configured, "
                f"and its route {problem}"
                for label in node.routes
                if label != "default" and (problem := check_expression(label))
            ]
        return []
