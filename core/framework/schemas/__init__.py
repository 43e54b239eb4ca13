"""Pydantic models that are stored or exchanged: checkpoints and run records."""

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
from framework.schemas.run import RunRecord, RunStatus, RunTotals

__all__ = [
    "Checkpoint",
    "CheckpointConfig",
    "CheckpointKind",
    "CheckpointMetadata",
    "Durability",
    "ExecutorType",
    "OnSaveError",
    "RetentionStrategy",
    "RunRecord",
    "RunStatus",
    "RunTotals",
    "SaveFrequency",
]
