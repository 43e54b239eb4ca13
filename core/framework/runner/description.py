"""What an agent folder is and whether it can run: :class:`AgentInfo` and validation.

Pure functions of a loaded :class:`~framework.runner.loader.AgentDefinition` and what the
runner adds to it (functions, tools, an LLM, a tool executor), so describing or checking
an agent never opens storage or runs anything.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from framework.graph.edge import EdgeCondition
from framework.graph.node import NodeType
from framework.llm.provider import LLMProvider, Tool
from framework.runner.loader import FUNCTIONS_FILE, AgentDefinition

__all__ = [
    "AgentInfo",
    "EdgeInfo",
    "NodeInfo",
    "ValidationResult",
    "describe_agent",
    "validate_agent",
]

_LLM_NODES = (NodeType.LLM_GENERATE, NodeType.LLM_TOOL_USE)


class NodeInfo(BaseModel):
    """One node of an agent's graph, as :class:`AgentInfo` lists it."""

    model_config = ConfigDict(use_attribute_docstrings=True)

    id: str
    """The node's id."""
    name: str
    """The node's name, for people."""
    type: NodeType
    """What kind of work it does."""
    function: str | None = None
    """The function it names, if any."""


class EdgeInfo(BaseModel):
    """One edge of an agent's graph, as :class:`AgentInfo` lists it."""

    model_config = ConfigDict(use_attribute_docstrings=True)

    id: str
    """The edge's id."""
    source: str
    """The node it leaves."""
    target: str
    """The node it leads to."""
    condition: EdgeCondition
    """When it is followed."""
    condition_expr: str | None = None
    """A ``conditional`` edge's expression."""


class AgentInfo(BaseModel):
    """What an agent is: its graph's shape, its goal, and the functions and tools it has."""

    model_config = ConfigDict(use_attribute_docstrings=True)

    name: str
    """The graph's name, else its id."""
    description: str
    """What the graph does."""
    path: str
    """The agent folder."""
    goal_name: str
    """The goal's name."""
    goal_description: str
    """What the goal asks for."""
    entry_node: str
    """Where a run starts."""
    terminal_nodes: list[str] = Field(default_factory=list)
    """Nodes whose success completes a run."""
    pause_nodes: list[str] = Field(default_factory=list)
    """Nodes after which a run pauses."""
    nodes: list[NodeInfo] = Field(default_factory=list)
    """Every node, in the graph's order."""
    edges: list[EdgeInfo] = Field(default_factory=list)
    """Every edge, in the graph's order."""
    functions: list[str] = Field(default_factory=list)
    """The names of the functions the runner has (from ``functions.py``), sorted."""
    tools: list[str] = Field(default_factory=list)
    """The names of the tools the runner has (declared in ``agent.json`` or given)."""


class ValidationResult(BaseModel):
    """Whether an agent can run, and what may fail when it does."""

    model_config = ConfigDict(use_attribute_docstrings=True)

    valid: bool
    """Whether there are no errors."""
    errors: list[str] = Field(default_factory=list)
    """Problems that stop the agent from running: graph problems (dead ends among them),
    refused criterion expressions, function nodes or routers without their function, and
    functions needing a parameter their node never gives them."""
    warnings: list[str] = Field(default_factory=list)
    """What may fail at run time: nodes and edges that need an LLM, tools or a tool
    executor the runner lacks; unreachable nodes, nodes whose edges are all conditional,
    routers without a ``default`` route, names no node writes (the input may provide
    them), and input keys a function does not take."""


def describe_agent(
    definition: AgentDefinition, functions: Mapping[str, Any], tools: list[Tool]
) -> AgentInfo:
    """The agent's graph, goal, function names and tool names."""
    graph, goal = definition.graph, definition.goal
    return AgentInfo(
        name=graph.name or graph.id,
        description=graph.description,
        path=str(definition.path),
        goal_name=goal.name,
        goal_description=goal.description,
        entry_node=graph.entry_node,
        terminal_nodes=list(graph.terminal_nodes),
        pause_nodes=list(graph.pause_nodes),
        nodes=[
            NodeInfo(id=n.id, name=n.name, type=n.node_type, function=n.function)
            for n in graph.nodes
        ],
        edges=[
            EdgeInfo(
                id=e.id,
                source=e.source,
                target=e.target,
                condition=e.condition,
                condition_expr=e.condition_expr,
            )
            for e in graph.edges
        ],
        functions=sorted(functions),
        tools=[tool.name for tool in tools],
    )


def validate_agent(
    definition: AgentDefinition,
    functions: Mapping[str, Any],
    tools: list[Tool],
    llm: LLMProvider | None,
    tool_executor: Callable[..., Any] | None,
) -> ValidationResult:
    """What stops the agent from running is an error; what may fail at run time a warning.

    Errors: graph problems, goal criteria whose expression is refused, nodes without their
    function, and functions needing a parameter their node never gives them. Warnings:
    nodes, edges and routers needing an LLM (neither given nor named by ``agent.json``),
    tools or a tool executor the runner lacks, :meth:`GraphSpec.warnings` (unreachable
    nodes, possible dead ends, routers without a default route, names no node writes),
    criteria naming keys no node writes, and input keys a function does not take. The
    run's input is not known here, so a name that no node writes is a warning, not an
    error: the input may provide it.
    """
    graph, goal = definition.graph, definition.goal
    errors = [
        *graph.validate(),
        *goal.problems(),
        *_function_problems(definition, functions),
    ]
    signatures = _signature_problems(definition, functions)
    errors.extend(problem for problem, certain in signatures if certain)
    warnings = [
        *_runtime_warnings(definition, tools, llm, tool_executor),
        *graph.warnings(),
        *(
            warning
            for criterion in goal.success_criteria
            if criterion.expression
            for warning in graph.unknown_name_warnings(
                f"goal criterion '{criterion.id}'", criterion.expression
            )
        ),
        *(problem for problem, certain in signatures if not certain),
    ]
    return ValidationResult(valid=not errors, errors=errors, warnings=warnings)


def _function_problems(definition: AgentDefinition, functions: Mapping[str, Any]) -> list[str]:
    """Nodes without their function: the one they name, else the one named like them."""
    problems = []
    for node in definition.graph.nodes:
        if node.node_type in (NodeType.FUNCTION, NodeType.MAP):
            wanted = node.function_name
            if wanted not in functions:
                lack = _lack(definition, wanted)
                if node.id in functions:
                    lack += f" (its '{node.id}', named like the node, is not used)"
                problems.append(f"{node.node_type} node '{node.id}' has no function: {lack}")
        is_function_router = node.node_type is NodeType.ROUTER and node.function
        if is_function_router and node.function not in functions:
            lack = _lack(definition, node.function or "")
            problems.append(f"router node '{node.id}' has no function: {lack}")
    return problems


def _signature_problems(
    definition: AgentDefinition, functions: Mapping[str, Any]
) -> list[tuple[str, bool]]:
    """Functions whose parameters do not fit their node's ``input_keys``, as ``(problem,
    certain)``: certain when every run of the node would fail.

    A node without input keys is given all of memory, so only nodes that declare them are
    checked; ``ctx`` is given by the executor, and ``**kwargs`` takes every key.
    """
    problems: list[tuple[str, bool]] = []
    for node in definition.graph.nodes:
        takes_function = node.node_type is NodeType.FUNCTION or (
            node.node_type is NodeType.ROUTER and node.function
        )
        func = functions.get(node.function_name) if takes_function else None
        if func is None or not node.input_keys:
            continue
        try:
            params = inspect.signature(func).parameters
        except (TypeError, ValueError):
            continue  # a callable without a signature to read: it is checked when it runs
        where = f"{node.node_type} node '{node.id}'"
        name = node.function_name
        needed = [
            param
            for param, spec in params.items()
            if spec.default is inspect.Parameter.empty
            and spec.kind not in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
            and param != "ctx"
            and param not in node.input_keys
        ]
        if needed:
            problems.append(
                (
                    f"{where}: function '{name}' needs parameter {_quoted(needed)}, which is "
                    f"not among its input_keys {node.input_keys}; every run of the node "
                    "would fail",
                    True,
                )
            )
        if any(spec.kind is inspect.Parameter.VAR_KEYWORD for spec in params.values()):
            continue
        for key in node.input_keys:
            if key not in params:
                problems.append(
                    (
                        f"{where}: its input key '{key}' is not a parameter of function "
                        f"'{name}', which never receives it",
                        False,
                    )
                )
    return problems


def _quoted(names: list[str]) -> str:
    return ", ".join(f"'{name}'" for name in names)


def _lack(definition: AgentDefinition, name: str) -> str:
    if not definition.has_functions_file:
        return f"'{name}' is needed but there is no {FUNCTIONS_FILE} in {definition.path}"
    return f"{FUNCTIONS_FILE} defines no function '{name}'"


def _runtime_warnings(
    definition: AgentDefinition,
    tools: list[Tool],
    llm: LLMProvider | None,
    tool_executor: Callable[..., Any] | None,
) -> list[str]:
    warnings = []
    tool_names = {tool.name for tool in tools}
    graph = definition.graph
    # A model agent.json names is built when a run starts: it counts as configured.
    no_llm = llm is None and definition.llm is None
    for node in graph.nodes:
        if node.node_type in _LLM_NODES and no_llm:
            warnings.append(
                f"{node.node_type} node '{node.id}' needs an LLM and none is configured"
            )
        llm_router = node.node_type is NodeType.ROUTER and node.system_prompt
        if llm_router and not node.function and no_llm:
            warnings.append(f"router node '{node.id}' asks an LLM and none is configured")
        if node.node_type is NodeType.LLM_TOOL_USE:
            for name in node.tools:
                if name not in tool_names:
                    warnings.append(f"node '{node.id}' uses undeclared tool '{name}'")
            if tool_executor is None:
                warnings.append(f"node '{node.id}' uses tools but no tool_executor is set")
    for edge in graph.edges:
        if edge.condition is EdgeCondition.LLM_DECIDE and no_llm:
            warnings.append(f"edge '{edge.id}' is decided by an LLM and none is configured")
    return warnings
