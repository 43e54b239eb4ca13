"""Checkpoints: immutable snapshots from which a run continues exactly where it stopped."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, computed_field, model_validator

__all__ = [
    "SESSION_STATE_KEYS",
    "Checkpoint",
    "CheckpointConfig",
    "CheckpointKind",
    "CheckpointMetadata",
    "Durability",
    "ExecutorType",
    "InDoubtPolicy",
    "OnSaveError",
    "RetentionStrategy",
    "SaveFrequency",
    "utc_now",
]

CHECKPOINT_SCHEMA_VERSION = 1


def utc_now() -> datetime:
    return datetime.now(UTC)


class ExecutorType(StrEnum):
    GRAPH = "graph"
    FLEXIBLE = "flexible"
    BATCH = "batch"


class SaveFrequency(StrEnum):
    EVERY_NODE = "every_node"
    EVERY_N_NODES = "every_n_nodes"
    ON_REQUEST = "on_request"


class RetentionStrategy(StrEnum):
    LATEST_ONLY = "latest_only"
    PRUNE_OLD = "prune_old"
    ALL = "all"


class Durability(StrEnum):
    SYNC = "sync"
    ASYNC = "async"
    EXIT = "exit"


class OnSaveError(StrEnum):
    RAISE = "raise"
    WARN = "warn"


class InDoubtPolicy(StrEnum):
    """What a re-executed node does with an effect that started but never recorded an outcome."""

    RETRY = "retry"
    RAISE = "raise"


class CheckpointKind(StrEnum):
    """Why a checkpoint was written; ``start`` holds a run's input before its first node."""

    START = "start"
    NODE_COMPLETE = "node_complete"
    REQUESTED = "requested"
    PAUSE = "pause"
    FINAL = "final"


class CheckpointConfig(BaseModel):
    """How and when checkpoints are written and kept. Unknown fields are rejected.

    ``durability``: ``sync`` commits each checkpoint before the next node starts (a crash
    loses at most the node in flight); ``async`` writes in the background and may lose the
    last few; ``exit`` writes only when the run stops. ``fsync`` additionally survives
    power loss, at a cost per write. ``on_save_error="warn"`` logs a failed save and lets the
    run continue unprotected; the default raises.

    ``in_doubt_effects``: an effect that started but never recorded an outcome (the process
    died during it) is called again with the same idempotency key (``retry``) or refused
    with ``InDoubtEffectError`` (``raise``). ``lease_ttl_seconds``: how long a run's lease
    lasts without renewal; the executor renews it every third of that, and another process
    may take a run over once its owner's lease expired (at once if the owner is known dead).
    """

    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    save_frequency: SaveFrequency = SaveFrequency.EVERY_NODE
    n_nodes: int = Field(default=1, ge=1)
    auto_recovery: bool = True
    retention_strategy: RetentionStrategy = RetentionStrategy.LATEST_ONLY
    max_checkpoints_per_run: int = Field(default=100, ge=1)
    durability: Durability = Durability.SYNC
    fsync: bool = False
    max_checkpoint_bytes: int = Field(default=64 * 1024 * 1024, ge=1)
    on_save_error: OnSaveError = OnSaveError.RAISE
    in_doubt_effects: InDoubtPolicy = InDoubtPolicy.RETRY
    lease_ttl_seconds: float = Field(default=30.0, gt=0)


SESSION_STATE_KEYS = frozenset(
    {"memory", "paused_at", "resume_from", "execution_path", "checkpoint_id"}
)


class Checkpoint(BaseModel):
    """Everything needed to continue a run after a node (or plan step) succeeded.

    ``current_node_id`` is the node that just completed, ``next_node_id`` the one decided to
    run next and ``pending_input`` what it will receive. ``context`` holds executor-specific
    state (plan step statuses, batch cursors); ``metadata`` is the user's. Numbered by
    ``seq`` within the run, never rewritten.
    """

    model_config = ConfigDict(extra="forbid")

    schema_version: int = CHECKPOINT_SCHEMA_VERSION
    id: str
    run_id: str
    seq: int = Field(default=0, ge=0)
    kind: CheckpointKind = CheckpointKind.NODE_COMPLETE
    created_at: AwareDatetime = Field(default_factory=utc_now)
    executor_type: ExecutorType = ExecutorType.GRAPH
    current_node_id: str | None = None
    current_step_id: str | None = None
    next_node_id: str | None = None
    pending_input: dict[str, Any] = Field(default_factory=dict)
    memory_snapshot: dict[str, Any] = Field(default_factory=dict)
    execution_path: list[str] = Field(default_factory=list)
    step_number: int = Field(default=0, ge=0)
    visit_counts: dict[str, int] = Field(default_factory=dict)
    retry_counts: dict[str, int] = Field(default_factory=dict)
    total_tokens: int = Field(default=0, ge=0)
    total_cost: float = Field(default=0.0, ge=0)
    total_latency_ms: int = Field(default=0, ge=0)
    graph_fingerprint: str | None = None
    context: dict[str, Any] = Field(default_factory=dict)
    metadata: dict[str, Any] = Field(default_factory=dict)
    parent_run_id: str | None = None
    parent_checkpoint_id: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _drop_derived(cls, data: Any) -> Any:
        # ``node_id`` is derived; a dumped checkpoint carries it and must validate back.
        if isinstance(data, dict) and "node_id" in data:
            data = {k: v for k, v in data.items() if k != "node_id"}
        return data

    @computed_field  # type: ignore[prop-decorator]
    @property
    def node_id(self) -> str | None:
        """The node or plan step this checkpoint was taken after."""
        return self.current_node_id or self.current_step_id

    def to_metadata(self, size_bytes: int = 0) -> CheckpointMetadata:
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
        """A session state an executor resumes from; ``context`` cannot shadow the core keys."""
        state: dict[str, Any] = {
            k: v for k, v in self.context.items() if k not in SESSION_STATE_KEYS
        }
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

    id: str
    run_id: str
    executor_type: ExecutorType
    node_id: str | None
    created_at: AwareDatetime
    step_number: int
    total_tokens: int
    total_latency_ms: int
    seq: int
    kind: CheckpointKind
    size_bytes: int = 0
