"""Operating on stored runs from anywhere: pause, cancel, fork, and preview a resume.

Functions over a storage backend, with no executor involved, so a command line or a
server that only knows a storage URL can steer runs; the
:class:`~framework.durable.manager.CheckpointManager` offers each as a method. Requests are
stored through the storage contract, so they reach the executor running the run from any
process; the executor honours them between nodes.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from framework.errors import CheckpointError, RunNotFoundError
from framework.schemas.checkpoint import Checkpoint, CheckpointKind
from framework.schemas.clock import utc_now
from framework.schemas.control import ControlAction, ControlSignal
from framework.schemas.effect import EffectRecord, EffectStatus
from framework.schemas.ids import validate_run_id
from framework.schemas.run import RunRecord, RunStatus, RunTotals
from framework.storage.backend import StorageBackend

Commit = Callable[[Checkpoint], Awaitable[str | None]]


class ResumePreview(BaseModel):
    """What resuming a run would do, from its record, latest valid checkpoint and effects."""

    model_config = ConfigDict(use_attribute_docstrings=True)

    run_id: str
    """The run."""
    status: RunStatus
    """Its status."""
    status_reason: str | None = None
    """Why it is paused or failed."""
    checkpoint_id: str | None = None
    """The checkpoint a resume continues from (``None``: it has none)."""
    checkpoint_seq: int | None = None
    """That checkpoint's seq."""
    checkpoint_kind: CheckpointKind | None = None
    """Why that checkpoint was written."""
    completed_nodes: list[str] = Field(default_factory=list)
    """The nodes (or plan steps) completed so far, in order."""
    next_node: str | None = None
    """What runs first on resume (``None``: nothing is left to run)."""
    pending_input_keys: list[str] = Field(default_factory=list)
    """What the next node receives from its incoming edge."""
    totals: RunTotals = Field(default_factory=RunTotals)
    """What the run consumed so far."""
    in_doubt_effects: list[EffectRecord] = Field(default_factory=list)
    """Effects that started but never recorded an outcome: called again (or refused) when
    their node re-runs."""
    completed_effects: list[EffectRecord] = Field(default_factory=list)
    """Effects done: their recorded results are reused."""
    failed_effects: list[EffectRecord] = Field(default_factory=list)
    """Effects that raised: performed again when their node re-runs."""

    @property
    def can_resume(self) -> bool:
        """Whether executing the run again would run anything."""
        return not self.status.is_final and self.next_node is not None


async def request_pause(
    storage: StorageBackend, run_id: str, reason: str = ""
) -> ControlSignal | None:
    """Store a pause request for a pending or running run and return it.

    The executor running it pauses before its next node (status ``paused``, reason
    ``reason``). A run no live process holds (its process crashed) is marked paused at
    once, so recovery leaves it alone until it is resumed. A run that is not running
    (paused, failed, completed, cancelled) has nothing to pause: ``None``, nothing
    stored. ``RunNotFoundError`` for an unknown run.
    """
    record = await _record(storage, run_id)
    if record.status not in (RunStatus.PENDING, RunStatus.RUNNING):
        return None
    signal = await storage.arequest_control(run_id, ControlAction.PAUSE, reason)
    if not record.has_live_lease():
        await storage.aupdate_run(
            run_id, status=RunStatus.PAUSED, status_reason=reason or "pause requested"
        )
    return signal


async def request_cancel(
    storage: StorageBackend, run_id: str, reason: str = ""
) -> ControlSignal | None:
    """Store a cancel request (it replaces a pending pause) and return it.

    The executor running the run stops before its next node and marks it ``cancelled``.
    A run no live process holds (paused, failed, pending, or crashed) is marked cancelled
    at once. Executing a cancelled run raises ``RunCancelledError``. Completed and
    cancelled runs are left as they are: ``None``.
    """
    record = await _record(storage, run_id)
    if record.status.is_final:
        return None
    signal = await storage.arequest_control(run_id, ControlAction.CANCEL, reason)
    if not record.has_live_lease():
        # Nobody will honour it between nodes; the stored request still stops an
        # executor that claims the run at this very moment.
        await storage.aupdate_run(
            run_id,
            status=RunStatus.CANCELLED,
            status_reason=reason or "cancel requested",
            finished_at=utc_now(),
        )
    return signal


async def fork(
    storage: StorageBackend,
    commit: Commit,
    run_id: str,
    checkpoint_id: str | None = None,
    new_run_id: str | None = None,
    memory_updates: Mapping[str, Any] | None = None,
) -> str:
    """A new run that continues from checkpoint ``checkpoint_id`` of ``run_id``.

    ``checkpoint_id`` defaults to the run's latest valid checkpoint; ``new_run_id`` to
    ``f"{run_id}-fork-{8 hex}"`` (shortened to fit). The new run gets a record with
    ``parent_run_id`` (status ``paused``, so recovery leaves it to whoever forked it) and
    one START checkpoint, stored with ``commit``: the source's state with
    ``memory_updates`` merged into its memory and the parent run and checkpoint ids set.
    Executing the new run id continues from there; the parent is not touched. Returns the
    new run id. ``RunNotFoundError`` for an unknown run or checkpoint.
    """
    source = await _record(storage, run_id)
    cp = await _checkpoint(storage, run_id, checkpoint_id)
    fork_id = validate_run_id(new_run_id or _fork_id(run_id))
    record = source.model_copy(
        update={
            "run_id": fork_id,
            "status": RunStatus.PAUSED,
            "status_reason": f"forked from run {run_id!r} at checkpoint {cp.id!r}",
            "parent_run_id": run_id,
            "totals": RunTotals.of(cp),
            "created_at": utc_now(),
            "updated_at": utc_now(),
            "finished_at": None,
            "latest_checkpoint_id": None,
            "last_error": None,
            "lease_owner": None,
            "lease_expires_at": None,
            "fencing_token": 0,
        }
    )
    start = cp.model_copy(
        update={
            "run_id": fork_id,
            "kind": CheckpointKind.START,
            "created_at": utc_now(),
            "memory_snapshot": {**cp.memory_snapshot, **(memory_updates or {})},
            "parent_run_id": run_id,
            "parent_checkpoint_id": cp.id,
        }
    )
    await storage.acreate_run(record)
    new_id = await commit(start)
    if new_id is None:
        raise CheckpointError(
            f"fork {fork_id!r} of run {run_id!r} could not store its first checkpoint "
            "(checkpointing is disabled or the save failed); it cannot be resumed"
        )
    await storage.aupdate_run(fork_id, latest_checkpoint_id=new_id)
    return fork_id


async def preview_resume(storage: StorageBackend, run_id: str) -> ResumePreview:
    """The run's status, completed nodes, next node, its pending input and the effects.

    Reads only; ``RunNotFoundError`` for an unknown run. Without a checkpoint the preview
    has the record's status and effects and no nodes.
    """
    record = await _record(storage, run_id)
    cp = await storage.aload_latest_checkpoint(run_id)
    effects = await storage.alist_effects(run_id)
    preview = ResumePreview(
        run_id=run_id,
        status=record.status,
        status_reason=record.status_reason,
        totals=record.totals,
        in_doubt_effects=[e for e in effects if e.status is EffectStatus.STARTED],
        completed_effects=[e for e in effects if e.status is EffectStatus.COMPLETED],
        failed_effects=[e for e in effects if e.status is EffectStatus.FAILED],
    )
    if cp is None:
        return preview
    return preview.model_copy(
        update={
            "checkpoint_id": cp.id,
            "checkpoint_seq": cp.seq,
            "checkpoint_kind": cp.kind,
            "completed_nodes": list(cp.execution_path),
            "next_node": cp.next_node_id,
            "pending_input_keys": sorted(cp.pending_input),
        }
    )


async def _record(storage: StorageBackend, run_id: str) -> RunRecord:
    record = await storage.aget_run(validate_run_id(run_id))
    if record is None:
        raise RunNotFoundError(
            f"no run {run_id!r} in this storage; check the run id", run_id=run_id
        )
    return record


async def _checkpoint(
    storage: StorageBackend, run_id: str, checkpoint_id: str | None
) -> Checkpoint:
    if checkpoint_id is None:
        cp = await storage.aload_latest_checkpoint(run_id)
    else:
        cp = await storage.aload_checkpoint(run_id, checkpoint_id)
    if cp is None:
        which = f"checkpoint {checkpoint_id!r}" if checkpoint_id else "any valid checkpoint"
        raise RunNotFoundError(
            f"run {run_id!r} has no {which}; list its checkpoints to pick one", run_id=run_id
        )
    return cp


def _fork_id(run_id: str) -> str:
    suffix = f"-fork-{uuid.uuid4().hex[:8]}"
    return run_id[: 128 - len(suffix)] + suffix
