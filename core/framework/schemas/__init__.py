"""Pydantic models that are stored or exchanged: checkpoints, runs, leases, control, effects."""

from framework.schemas.checkpoint import (
    Checkpoint,
    CheckpointConfig,
    CheckpointKind,
    CheckpointMetadata,
    Durability,
    ExecutorType,
    OnSaveError,
    RetentionStrategy,
    SaveFrequency,
)
from framework.schemas.control import ControlAction, ControlSignal
from framework.schemas.effect import EffectRecord, EffectStatus
from framework.schemas.lease import Lease, make_owner_id, owner_is_alive
from framework.schemas.run import RunRecord, RunStatus, RunTotals

__all__ = [
    "Checkpoint",
    "CheckpointConfig",
    "CheckpointKind",
    "CheckpointMetadata",
    "ControlAction",
    "ControlSignal",
    "Durability",
    "EffectRecord",
    "EffectStatus",
    "ExecutorType",
    "Lease",
    "OnSaveError",
    "RetentionStrategy",
    "RunRecord",
    "RunStatus",
    "RunTotals",
    "SaveFrequency",
    "make_owner_id",
    "owner_is_alive",
]
