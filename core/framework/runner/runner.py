"""AgentRunner: load an agent folder, check it, describe it and run it.

An agent folder holds ``agent.json`` (``{"graph": ..., "goal": ..., "tools": [...]}``) and
optionally ``functions.py`` with the Python functions its function nodes and routers name.
Loading fails early: a folder that cannot run (unreadable files, invalid graph, function
nodes without a function) raises :class:`~framework.errors.AgentLoadError` listing every
problem, so a broken agent never starts a run.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from framework.errors import AgentLoadError
from framework.graph.edge import EdgeCondition
from framework.graph.executor import ExecutionResult, GraphExecutor
from framework.graph.node import NodeType
from framework.llm.provider import LLMProvider, Tool
from framework.runner.loader import FUNCTIONS_FILE, AgentDefinition, load_definition
from framework.runtime.core import Runtime

__all__ = [
    "AgentInfo",
    "AgentRunner",
    "EdgeInfo",
    "NodeInfo",
    "ValidationResult",
    "default_home",
]

_LLM_NODES = (NodeType.LLM_GENERATE, NodeType.LLM_TOOL_USE)


class NodeInfo(BaseModel):
    id: str
    name: str
    type: NodeType
    function: str | None = None


class EdgeInfo(BaseModel):
    id: str
    source: str
    target: str
    condition: EdgeCondition
    condition_expr: str | None = None


class AgentInfo(BaseModel):
    """What an agent is: its graph's shape, its goal, and the functions and tools it has."""

    name: str
    description: str
    path: str
    goal_name: str
    goal_description: str
    entry_node: str
    terminal_nodes: list[str] = Field(default_factory=list)
    pause_nodes: list[str] = Field(default_factory=list)
    nodes: list[NodeInfo] = Field(default_factory=list)
    edges: list[EdgeInfo] = Field(default_factory=list)
    functions: list[str] = Field(default_factory=list)
    tools: list[str] = Field(default_factory=list)


class ValidationResult(BaseModel):
    """``errors`` stop the agent from running; ``warnings`` say what may fail at run time."""

    valid: bool
    errors: list[str] = Field(default_factory=list)
    warnings: list[str] = Field(default_factory=list)


def default_home() -> Path:
    """Where run logs go by default: ``$AGENTGRAPH_HOME``, else ``~/.agentgraph``."""
    return Path(os.environ.get("AGENTGRAPH_HOME") or "~/.agentgraph").expanduser()


class AgentRunner:
    """Runs one loaded agent; build it with :meth:`load`.

    ``tools`` given here are added to those declared in ``agent.json`` (same name: the one
    given here wins). Each :meth:`run` records its decisions in a
    :class:`~framework.runtime.core.Runtime` under ``storage_path``.
    """

    def __init__(
        self,
        definition: AgentDefinition,
        *,
        llm: LLMProvider | None = None,
        tools: list[Tool] | None = None,
        tool_executor: Callable[..., Any] | None = None,
        storage_path: str | os.PathLike[str] | None = None,
    ) -> None:
        self.definition = definition
        self.graph = definition.graph
        self.goal = definition.goal
        self.functions = dict(definition.functions)
        self.llm = llm
        merged = {tool.name: tool for tool in [*definition.tools, *(tools or [])]}
        self.tools = list(merged.values())
        self.tool_executor = tool_executor
        self.runtime = Runtime(storage_path if storage_path is not None else default_home())

    @classmethod
    def load(
        cls,
        agent_path: str | os.PathLike[str],
        *,
        llm: LLMProvider | None = None,
        tools: list[Tool] | None = None,
        tool_executor: Callable[..., Any] | None = None,
        storage_path: str | os.PathLike[str] | None = None,
    ) -> AgentRunner:
        """Load and check the agent folder at ``agent_path``; raise AgentLoadError if broken."""
        runner = cls(
            load_definition(Path(agent_path)),
            llm=llm,
            tools=tools,
            tool_executor=tool_executor,
            storage_path=storage_path,
        )
        result = runner.validate()
        if not result.valid:
            raise AgentLoadError(
                str(runner.definition.agent_file), f"invalid agent: {'; '.join(result.errors)}"
            )
        return runner

    async def run(
        self,
        input_data: dict[str, Any] | None = None,
        session_state: dict[str, Any] | None = None,
    ) -> ExecutionResult:
        """Run the agent once; pass a paused result's ``session_state`` back to resume it."""
        executor = GraphExecutor(self.runtime, self.llm, self.tools, self.tool_executor)
        for name, func in self.functions.items():
            executor.register_function(name, func)
        return await executor.execute(self.graph, self.goal, input_data, session_state)

    def info(self) -> AgentInfo:
        graph = self.graph
        return AgentInfo(
            name=graph.name or graph.id,
            description=graph.description,
            path=str(self.definition.path),
            goal_name=self.goal.name,
            goal_description=self.goal.description,
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
            functions=sorted(self.functions),
            tools=[tool.name for tool in self.tools],
        )

    def validate(self) -> ValidationResult:
        """Graph problems and unresolvable functions are errors; missing LLM/tools warnings."""
        errors = [*self.graph.validate(), *self._function_problems()]
        warnings = self._runtime_warnings()
        return ValidationResult(valid=not errors, errors=errors, warnings=warnings)

    def _function_problems(self) -> list[str]:
        problems = []
        for node in self.graph.nodes:
            if node.node_type is NodeType.FUNCTION:
                wanted = node.function or node.id
                if wanted not in self.functions and node.id not in self.functions:
                    lack = self._lack(wanted)
                    problems.append(f"function node '{node.id}' has no function: {lack}")
            is_function_router = node.node_type is NodeType.ROUTER and node.function
            if is_function_router and node.function not in self.functions:
                problems.append(
                    f"router node '{node.id}' has no function: {self._lack(node.function)}"
                )
        return problems

    def _lack(self, name: str) -> str:
        if not self.definition.has_functions_file:
            return f"'{name}' is needed but there is no {FUNCTIONS_FILE} in {self.definition.path}"
        return f"{FUNCTIONS_FILE} defines no function '{name}'"

    def _runtime_warnings(self) -> list[str]:
        warnings = []
        tool_names = {tool.name for tool in self.tools}
        for node in self.graph.nodes:
            if node.node_type in _LLM_NODES and self.llm is None:
                warnings.append(
                    f"{node.node_type} node '{node.id}' needs an LLM and none is configured"
                )
            llm_router = node.node_type is NodeType.ROUTER and node.system_prompt
            if llm_router and not node.function and self.llm is None:
                warnings.append(f"router node '{node.id}' asks an LLM and none is configured")
            if node.node_type is NodeType.LLM_TOOL_USE:
                for name in node.tools:
                    if name not in tool_names:
                        warnings.append(f"node '{node.id}' uses undeclared tool '{name}'")
                if self.tool_executor is None:
                    warnings.append(f"node '{node.id}' uses tools but no tool_executor is set")
        for edge in self.graph.edges:
            if edge.condition is EdgeCondition.LLM_DECIDE and self.llm is None:
                warnings.append(f"edge '{edge.id}' is decided by an LLM and none is configured")
        return warnings
