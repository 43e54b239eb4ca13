"""agentgraph-durable: agent graphs that survive crashes, pauses and restarts.

The names a program needs are importable from here::

    from framework import CheckpointManager, EdgeSpec, Goal, GraphExecutor, GraphSpec, NodeSpec

They are loaded on first use, so ``import framework`` loads none of the packages behind
them (no storage, no CLI, no optional SDK). Those packages: :mod:`framework.graph` (the
model and the executors), :mod:`framework.durable` (checkpoints and runs),
:mod:`framework.storage` (backends), :mod:`framework.schemas` (what is stored),
:mod:`framework.runner` (agent folders), :mod:`framework.errors`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from framework._lazy import lazy_exports

if TYPE_CHECKING:
    from framework.batch import BatchConfig as BatchConfig
    from framework.batch import BatchRunner as BatchRunner
    from framework.durable.manager import CheckpointManager as CheckpointManager
    from framework.graph.edge import EdgeCondition as EdgeCondition
    from framework.graph.edge import EdgeSpec as EdgeSpec
    from framework.graph.executor import GraphExecutor as GraphExecutor
    from framework.graph.flexible_executor import FlexibleGraphExecutor as FlexibleGraphExecutor
    from framework.graph.goal import Goal as Goal
    from framework.graph.graph_run import ExecutionResult as ExecutionResult
    from framework.graph.node import NodeContext as NodeContext
    from framework.graph.node import NodeResult as NodeResult
    from framework.graph.node import NodeSpec as NodeSpec
    from framework.graph.node import NodeType as NodeType
    from framework.graph.plan import ActionSpec as ActionSpec
    from framework.graph.plan import ActionType as ActionType
    from framework.graph.plan import Plan as Plan
    from framework.graph.plan import PlanStep as PlanStep
    from framework.graph.plan_run import PlanExecutionResult as PlanExecutionResult
    from framework.graph.spec import GraphSpec as GraphSpec
    from framework.graph.spec import PreparedGraph as PreparedGraph
    from framework.runner.runner import AgentRunner as AgentRunner
    from framework.schemas.config import CheckpointConfig as CheckpointConfig
    from framework.schemas.run import RunStatus as RunStatus
    from framework.storage.backend import StorageBackend as StorageBackend
    from framework.storage.file import FileStorage as FileStorage
    from framework.storage.memory import MemoryStorage as MemoryStorage
    from framework.storage.sqlite import SQLiteStorage as SQLiteStorage
    from framework.storage.url import open_storage as open_storage

__version__ = "0.1.0"

# Public name -> the module that defines it.
_EXPORTS = {
    "ActionSpec": "framework.graph.plan",
    "ActionType": "framework.graph.plan",
    "AgentRunner": "framework.runner.runner",
    "BatchConfig": "framework.batch",
    "BatchRunner": "framework.batch",
    "CheckpointConfig": "framework.schemas.config",
    "CheckpointManager": "framework.durable.manager",
    "EdgeCondition": "framework.graph.edge",
    "EdgeSpec": "framework.graph.edge",
    "ExecutionResult": "framework.graph.graph_run",
    "FileStorage": "framework.storage.file",
    "FlexibleGraphExecutor": "framework.graph.flexible_executor",
    "Goal": "framework.graph.goal",
    "GraphExecutor": "framework.graph.executor",
    "GraphSpec": "framework.graph.spec",
    "MemoryStorage": "framework.storage.memory",
    "NodeContext": "framework.graph.node",
    "NodeResult": "framework.graph.node",
    "NodeSpec": "framework.graph.node",
    "NodeType": "framework.graph.node",
    "Plan": "framework.graph.plan",
    "PlanExecutionResult": "framework.graph.plan_run",
    "PlanStep": "framework.graph.plan",
    "PreparedGraph": "framework.graph.spec",
    "RunStatus": "framework.schemas.run",
    "SQLiteStorage": "framework.storage.sqlite",
    "StorageBackend": "framework.storage.backend",
    "open_storage": "framework.storage.url",
}

__all__ = ["__version__", *sorted(_EXPORTS)]


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
