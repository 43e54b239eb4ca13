"""Checkpoints: immutable snapshots from which a run continues exactly where it stopped.

:class:`CheckpointConfig` and its policies live in :mod:`framework.schemas.config` and are
importable from here too.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, computed_field, model_validator

from framework.schemas.clock import utc_now
from framework.schemas.config import (
    CheckpointConfig,
    Durability,
    InDoubtPolicy,
    OnSaveError,
    RetentionStrategy,
    SaveFrequency,
)

__all__ = [
    "CHECKPOINT_SCHEMA_VERSION",
    "Checkpoint",
    "CheckpointConfig",
    "CheckpointKind",
    "CheckpointMetadata",
    "Durability",
    "ExecutorType",
    "InDoubtPolicy",
    "OnSaveError",
    "PlanState",
    "RetentionStrategy",
    "SaveFrequency",
]

# 2: a plan run's state moved from ``context["plan"]`` to ``plan_state``.
CHECKPOINT_SCHEMA_VERSION = 2


class ExecutorType(StrEnum):
    """Which executor a run (and each of its checkpoints) belongs to."""

    GRAPH = "graph"
    """``GraphExecutor``: a walk over a graph's nodes."""
    FLEXIBLE = "flexible"
    """``FlexibleGraphExecutor``: the steps of a plan."""
    BATCH = "batch"
    """A durable batch of items."""


class CheckpointKind(StrEnum):
    """Why a checkpoint was written."""

    START = "start"
    """Before the first node: holds the run's input, so a crash before it recovers."""
    NODE_COMPLETE = "node_complete"
    """After a node (or plan step) succeeded and what runs next was decided."""
    REQUESTED = "requested"
    """Asked for by a node, carrying the node's metadata."""
    PAUSE = "pause"
    """Where a run paused; it resumes from here."""
    FINAL = "final"
    """The completed run's last state; its result is read from here."""


class PlanState(BaseModel):
    """A plan run's own state: the plan with every step's status, attempts, result, error."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    plan: dict[str, Any]
    """The plan as stored: every field of the plan model, its enums as their values (the
    codec keeps step results exact)."""
    revision: int = Field(default=1, ge=1)
    """The plan's revision when the checkpoint was taken."""


class Checkpoint(BaseModel):
    """Everything needed to continue a run after a node (or plan step) succeeded.

    Numbered by ``seq`` within the run, never rewritten.
    """

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    schema_version: int = CHECKPOINT_SCHEMA_VERSION
    """The layout this checkpoint was written in; older ones are upgraded when loaded."""
    id: str
    """Unique within the run (the manager's ``ckpt_{run}_{node}_{seq:06d}``)."""
    run_id: str
    """The run it belongs to."""
    seq: int | None = Field(default=None, ge=0)
    """Its place in the run: greater than every earlier checkpoint's. ``None`` when saving
    makes it the run's next checkpoint (the storage fills it in)."""
    kind: CheckpointKind = CheckpointKind.NODE_COMPLETE
    """Why it was written."""
    created_at: AwareDatetime = Field(default_factory=utc_now)
    """When it was taken (UTC)."""
    executor_type: ExecutorType = ExecutorType.GRAPH
    """Which executor wrote it."""
    current_node_id: str | None = None
    """The graph node that just completed."""
    current_step_id: str | None = None
    """The plan step that just completed."""
    next_node_id: str | None = None
    """The node (or step) decided to run next; ``None``: nothing is left to run."""
    pending_input: dict[str, Any] = Field(default_factory=dict)
    """What the next node receives from the edge that leads to it."""
    memory_snapshot: dict[str, Any] = Field(default_factory=dict)
    """The run's shared memory (a plan's run context)."""
    execution_path: list[str] = Field(default_factory=list)
    """The nodes (or accepted steps) completed so far, in order."""
    step_number: int = Field(default=0, ge=0)
    """Steps executed so far."""
    visit_counts: dict[str, int] = Field(default_factory=dict)
    """How many times each node was executed."""
    retry_counts: dict[str, int] = Field(default_factory=dict)
    """Retries used per node over the whole run."""
    total_tokens: int = Field(default=0, ge=0)
    """Tokens spent so far."""
    total_cost: float = Field(default=0.0, ge=0)
    """Cost spent so far."""
    total_latency_ms: int = Field(default=0, ge=0)
    """Time spent in nodes so far."""
    graph_fingerprint: str | None = None
    """The fingerprint of the graph (or plan) the run started with."""
    plan_state: PlanState | None = None
    """A plan run's plan with its step states (``None`` for other runs)."""
    context: dict[str, Any] = Field(default_factory=dict)
    """Extra executor state of callers that save checkpoints themselves."""
    metadata: dict[str, Any] = Field(default_factory=dict)
    """The user's metadata (a node's checkpoint request lands here)."""
    parent_run_id: str | None = None
    """The run this one was forked from."""
    parent_checkpoint_id: str | None = None
    """The checkpoint of the parent run it was forked from."""

    @model_validator(mode="before")
    @classmethod
    def _upgrade(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        # ``node_id`` is derived; a dumped checkpoint carries it and must validate back.
        data = {k: v for k, v in data.items() if k != "node_id"}
        # Layout 1 kept a plan run's state in ``context``.
        context = data.get("context")
        flexible = data.get("executor_type") in (ExecutorType.FLEXIBLE, "flexible")
        old_plan = isinstance(context, dict) and "plan" in context
        if flexible and old_plan and data.get("plan_state") is None:
            assert isinstance(context, dict)
            rest = {k: v for k, v in context.items() if k not in ("plan", "revision")}
            state = {"plan": context["plan"], "revision": context.get("revision", 1)}
            data.update(context=rest, plan_state=state)
        return data

    @computed_field  # type: ignore[prop-decorator]
    @property
    def node_id(self) -> str | None:
        """The node or plan step this checkpoint was taken after."""
        return self.current_node_id or self.current_step_id

    def to_metadata(self, size_bytes: int = 0) -> CheckpointMetadata:
        """Its summary; ``seq`` must be set (a stored checkpoint always has one)."""
        if self.seq is None:
            raise ValueError(f"checkpoint {self.id!r} has no seq yet; save it first")
        return CheckpointMetadata(
            id=self.id,
            run_id=self.run_id,
            executor_type=self.executor_type,
            node_id=self.node_id,
            created_at=self.created_at,
            step_number=self.step_number,
            total_tokens=self.total_tokens,
            total_latency_ms=self.total_latency_ms,
            seq=self.seq,
            kind=self.kind,
            size_bytes=size_bytes,
        )

    def to_session_state(self) -> dict[str, Any]:
        """A session state an executor resumes from; ``context`` cannot shadow its keys."""
        state: dict[str, Any] = dict(self.context)
        state.update(
            pending_input=dict(self.pending_input),
            visit_counts=dict(self.visit_counts),
            retry_counts=dict(self.retry_counts),
            steps_executed=self.step_number,
            total_tokens=self.total_tokens,
            total_cost=self.total_cost,
            total_latency_ms=self.total_latency_ms,
        )
        state.update(
            memory=dict(self.memory_snapshot),
            paused_at=self.node_id,
            resume_from=self.next_node_id or self.node_id,
            execution_path=list(self.execution_path),
            checkpoint_id=self.id,
        )
        return state


class CheckpointMetadata(BaseModel):
    """A checkpoint's summary, as listed without loading its state."""

    model_config = ConfigDict(use_attribute_docstrings=True)

    id: str
    """The checkpoint's id."""
    run_id: str
    """The run it belongs to."""
    executor_type: ExecutorType
    """Which executor wrote it."""
    node_id: str | None
    """The node or plan step it was taken after (``None``: before the first)."""
    created_at: AwareDatetime
    """When it was taken (UTC)."""
    step_number: int
    """Steps executed when it was taken."""
    total_tokens: int
    """Tokens spent when it was taken."""
    total_latency_ms: int
    """Time spent in nodes when it was taken."""
    seq: int
    """Its place in the run."""
    kind: CheckpointKind
    """Why it was written."""
    size_bytes: int = 0
    """Bytes of its encoded state."""
