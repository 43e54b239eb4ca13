"""Pydantic models that are stored or exchanged: checkpoints, config, runs, leases, control
signals, effects; plus the id rules and the clock every stored timestamp comes from.

A leaf of the framework: it imports nothing of it but :mod:`framework.errors` and
:mod:`framework.settings`.
"""

from framework.schemas.checkpoint import (
    Checkpoint,
    CheckpointKind,
    CheckpointMetadata,
    ExecutorType,
    PlanState,
)
from framework.schemas.clock import utc_now
from framework.schemas.config import (
    CheckpointConfig,
    Durability,
    InDoubtPolicy,
    OnSaveError,
    RetentionStrategy,
    SaveFrequency,
)
from framework.schemas.control import ControlAction, ControlSignal
from framework.schemas.effect import EffectRecord, EffectStatus
from framework.schemas.ids import (
    validate_checkpoint_id,
    validate_id,
    validate_key,
    validate_node_id,
    validate_run_id,
)
from framework.schemas.lease import Lease, make_owner_id, owner_is_alive
from framework.schemas.run import RunBudget, RunCriteria, RunFilter, RunRecord, RunStatus, RunTotals

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
    "InDoubtPolicy",
    "Lease",
    "OnSaveError",
    "PlanState",
    "RetentionStrategy",
    "RunBudget",
    "RunCriteria",
    "RunFilter",
    "RunRecord",
    "RunStatus",
    "RunTotals",
    "SaveFrequency",
    "make_owner_id",
    "owner_is_alive",
    "utc_now",
    "validate_checkpoint_id",
    "validate_id",
    "validate_key",
    "validate_node_id",
    "validate_run_id",
]
