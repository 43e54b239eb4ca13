"""CheckpointConfig: how and when a run's checkpoints are written, kept and guarded."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from framework.settings import DEFAULT_LEASE_TTL_SECONDS

__all__ = [
    "CheckpointConfig",
    "Durability",
    "InDoubtPolicy",
    "OnSaveError",
    "RetentionStrategy",
    "SaveFrequency",
]


class SaveFrequency(StrEnum):
    """When a checkpoint is written after a node (a node may always request one)."""

    EVERY_NODE = "every_node"
    """After every node that succeeded."""
    EVERY_N_NODES = "every_n_nodes"
    """After every ``n_nodes``-th step of the run."""
    ON_REQUEST = "on_request"
    """Only when a node asks with ``ctx.request_checkpoint()``."""


class RetentionStrategy(StrEnum):
    """How many checkpoints of a run are kept after each save."""

    LATEST_ONLY = "latest_only"
    """Only the newest."""
    PRUNE_OLD = "prune_old"
    """The newest ``max_checkpoints_per_run``."""
    ALL = "all"
    """Every one (a run's history grows without bound)."""


class Durability(StrEnum):
    """When a checkpoint is committed relative to the node that follows it."""

    SYNC = "sync"
    """Committed before the next node starts: a crash loses at most the node in flight."""
    ASYNC = "async"
    """Written in the background while the next node runs: a crash may lose the last few."""
    EXIT = "exit"
    """Written only when the run stops (completes, pauses, fails or is interrupted)."""


class OnSaveError(StrEnum):
    """What a failed checkpoint save does to the run."""

    RAISE = "raise"
    """The run fails with the save error: it never continues as if it had been saved."""
    WARN = "warn"
    """The failure is logged and warned about, and the run continues unprotected."""


class InDoubtPolicy(StrEnum):
    """What a re-executed node does with an effect that started but never recorded an outcome."""

    RETRY = "retry"
    """Call it again with the same idempotency key (safe with a deduplicating service)."""
    RAISE = "raise"
    """Refuse with ``InDoubtEffectError``, for a person to check what happened."""


class CheckpointConfig(BaseModel):
    """How and when checkpoints are written and kept. Unknown fields are rejected."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    enabled: bool = True
    """Whether checkpoints are written at all (off: a runner keeps no run records either)."""
    save_frequency: SaveFrequency = SaveFrequency.EVERY_NODE
    """When a checkpoint follows a node."""
    n_nodes: int = Field(default=1, ge=1)
    """The step interval of ``every_n_nodes``."""
    auto_recovery: bool = True
    """Whether ``restore_from_checkpoint`` hands back a resume point."""
    retention_strategy: RetentionStrategy = RetentionStrategy.LATEST_ONLY
    """How many checkpoints of a run are kept."""
    max_checkpoints_per_run: int = Field(default=100, ge=1)
    """How many ``prune_old`` keeps."""
    durability: Durability = Durability.SYNC
    """When each checkpoint is committed."""
    async_max_behind: int = Field(default=8, ge=1)
    """Under ``async`` durability, how many completed checkpoints may be unwritten at once;
    the next node waits for the writer when that many are."""
    fsync: bool = False
    """Also survive power loss, not only a killed process (costs a disk flush per write)."""
    max_checkpoint_bytes: int = Field(default=64 * 1024 * 1024, ge=1)
    """Larger encoded checkpoints are refused with ``CheckpointTooLargeError``."""
    on_save_error: OnSaveError = OnSaveError.RAISE
    """What a failed save does to the run."""
    in_doubt_effects: InDoubtPolicy = InDoubtPolicy.RETRY
    """What a re-run node does with an effect whose outcome was never recorded."""
    control_poll_interval: float = Field(default=0.5, ge=0)
    """How often, at most, a run asks storage for a pause or cancel request between
    checkpoint writes, which read it anyway (seconds; 0: before every node)."""
    lease_ttl_seconds: float = Field(default=DEFAULT_LEASE_TTL_SECONDS, gt=0)
    """How long a run's lease lasts without renewal; the executor renews it every third of
    that, and another process may take the run over once it expired (at once if the owner
    is known to be dead)."""
