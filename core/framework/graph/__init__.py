"""The graph model and the two executors that run it.

A :class:`GraphSpec` (nodes, edges, an entry node) runs with :class:`GraphExecutor`; a
:class:`Plan` of steps runs with :class:`FlexibleGraphExecutor`. Give either a
:class:`~framework.durable.CheckpointManager` and its runs survive crashes and restarts.
"""

from framework.durable.manager import CheckpointManager
from framework.graph._edges import EdgeCondition, EdgeSpec
from framework.graph.executor import GraphExecutor
from framework.graph.flexible_executor import ExecutorConfig, FlexibleGraphExecutor
from framework.graph.goal import Constraint, Goal, SuccessCriterion
from framework.graph.graph_items import graph_per_item
from framework.graph.graph_run import ExecutionResult, NodeOutcome, RunState
from framework.graph.judge import HybridJudge
from framework.graph.node import NodeContext, NodeProtocol, NodeResult, NodeSpec, NodeType
from framework.graph.plan import ActionSpec, ActionType, Plan, PlanStep, StepStatus
from framework.graph.plan_run import ExecutionStatus, PlanExecutionResult
from framework.graph.retry import RetryPolicy
from framework.graph.review import (
    ApprovalDecision,
    ApprovalRequest,
    ApprovalResult,
    EvaluationRule,
    Judgment,
    JudgmentAction,
)
from framework.graph.shared_memory import SharedMemory
from framework.graph.spec import GraphSpec, PreparedGraph
from framework.graph.step_context import StepContext
from framework.graph.worker_node import StepExecutionResult, WorkerNode

__all__ = [
    "ActionSpec",
    "ActionType",
    "ApprovalDecision",
    "ApprovalRequest",
    "ApprovalResult",
    "CheckpointManager",
    "Constraint",
    "EdgeCondition",
    "EdgeSpec",
    "EvaluationRule",
    "ExecutionResult",
    "ExecutionStatus",
    "ExecutorConfig",
    "FlexibleGraphExecutor",
    "Goal",
    "GraphExecutor",
    "GraphSpec",
    "HybridJudge",
    "Judgment",
    "JudgmentAction",
    "NodeContext",
    "NodeOutcome",
    "NodeProtocol",
    "NodeResult",
    "NodeSpec",
    "NodeType",
    "Plan",
    "PlanExecutionResult",
    "PlanStep",
    "PreparedGraph",
    "RetryPolicy",
    "RunState",
    "SharedMemory",
    "StepContext",
    "StepExecutionResult",
    "StepStatus",
    "SuccessCriterion",
    "WorkerNode",
    "graph_per_item",
]
