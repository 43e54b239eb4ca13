"""Operating on stored runs from anywhere: pause, cancel, fork, and preview a resume.

These are the :class:`~framework.graph.checkpoint_manager.CheckpointManager` methods that
act on a run as a whole rather than on one checkpoint. Requests are stored through the
storage contract, so they reach the executor running the run from any process; the
executor honours them between nodes. Each method has a synchronous twin (without the
``a`` prefix) that works with or without a running event loop.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field

from framework.errors import CheckpointError, RunNotFoundError
from framework.schemas.checkpoint import Checkpoint, CheckpointConfig, CheckpointKind, utc_now
from framework.schemas.control import ControlAction, ControlSignal
from framework.schemas.effect import EffectRecord, EffectStatus
from framework.schemas.run import RunRecord, RunStatus, RunTotals
from framework.storage.backend import StorageBackend
from framework.storage.bridge import call_sync
from framework.storage.ids import validate_run_id

__all__ = ["ResumePreview", "RunControl"]


class ResumePreview(BaseModel):
    """What resuming a run would do, from its record, latest valid checkpoint and effects.

    ``completed_nodes`` are the nodes (or plan steps) completed so far, in order;
    ``next_node`` runs first on resume (``None``: nothing is left to run) and receives
    ``pending_input_keys`` from its incoming edge. ``in_doubt_effects`` started but never
    recorded an outcome: they are called again (or refused) when their node re-runs.
    """

    run_id: str
    status: RunStatus
    status_reason: str | None = None
    checkpoint_id: str | None = None
    checkpoint_seq: int | None = None
    checkpoint_kind: CheckpointKind | None = None
    completed_nodes: list[str] = Field(default_factory=list)
    next_node: str | None = None
    pending_input_keys: list[str] = Field(default_factory=list)
    totals: RunTotals = Field(default_factory=RunTotals)
    in_doubt_effects: list[EffectRecord] = Field(default_factory=list)
    completed_effects: list[EffectRecord] = Field(default_factory=list)
    failed_effects: list[EffectRecord] = Field(default_factory=list)

    @property
    def can_resume(self) -> bool:
        """Whether executing the run again would run anything."""
        return not self.status.is_final and self.next_node is not None


class RunControl:
    """Run-level operations mixed into the checkpoint manager (see the module docs)."""

    storage: StorageBackend
    config: CheckpointConfig

    if TYPE_CHECKING:
        # Provided by CheckpointManager: numbers and stores a checkpoint.
        async def acommit_checkpoint(
            self, cp: Checkpoint, *, fencing_token: int | None = None
        ) -> str | None: ...

    # --- pause and cancel ---------------------------------------------------------------

    def request_pause(self, run_id: str, reason: str = "") -> ControlSignal | None:
        """Ask the run to pause after the node in flight; see :meth:`arequest_pause`."""
        return call_sync(self.arequest_pause, run_id, reason)

    async def arequest_pause(self, run_id: str, reason: str = "") -> ControlSignal | None:
        """Store a pause request for a pending or running run and return it.

        The executor running it pauses before its next node (status ``paused``, reason
        ``reason``). A run no live process holds (its process crashed) is marked paused at
        once, so recovery leaves it alone until it is resumed. A run that is not running
        (paused, failed, completed, cancelled) has nothing to pause: ``None``, nothing
        stored. ``RunNotFoundError`` for an unknown run.
        """
        record = await self._record(run_id)
        if record.status not in (RunStatus.PENDING, RunStatus.RUNNING):
            return None
        signal = await self.storage.arequest_control(run_id, ControlAction.PAUSE, reason)
        if not record.has_live_lease():
            await self.storage.aupdate_run(
                run_id, status=RunStatus.PAUSED, status_reason=reason or "pause requested"
            )
        return signal

    def request_cancel(self, run_id: str, reason: str = "") -> ControlSignal | None:
        """Cancel the run for good; see :meth:`arequest_cancel`."""
        return call_sync(self.arequest_cancel, run_id, reason)

    async def arequest_cancel(self, run_id: str, reason: str = "") -> ControlSignal | None:
        """Store a cancel request (it replaces a pending pause) and return it.

        The executor running the run stops before its next node and marks it
        ``cancelled``. A run no live process holds (paused, failed, pending, or crashed)
        is marked cancelled at once. Executing a cancelled run raises
        ``RunCancelledError``. Completed and cancelled runs are left as they are: ``None``.
        """
        record = await self._record(run_id)
        if record.status.is_final:
            return None
        signal = await self.storage.arequest_control(run_id, ControlAction.CANCEL, reason)
        if not record.has_live_lease():
            # Nobody will honour it between nodes; the stored request still stops an
            # executor that claims the run at this very moment.
            await self.storage.aupdate_run(
                run_id,
                status=RunStatus.CANCELLED,
                status_reason=reason or "cancel requested",
                finished_at=utc_now(),
            )
        return signal

    # --- fork ---------------------------------------------------------------------------

    def fork(
        self,
        run_id: str,
        checkpoint_id: str | None = None,
        new_run_id: str | None = None,
        memory_updates: Mapping[str, Any] | None = None,
    ) -> str:
        """Start a new run from a stored checkpoint; see :meth:`afork`."""
        return call_sync(self.afork, run_id, checkpoint_id, new_run_id, memory_updates)

    async def afork(
        self,
        run_id: str,
        checkpoint_id: str | None = None,
        new_run_id: str | None = None,
        memory_updates: Mapping[str, Any] | None = None,
    ) -> str:
        """A new run that continues from checkpoint ``checkpoint_id`` of ``run_id``.

        ``checkpoint_id`` defaults to the run's latest valid checkpoint; ``new_run_id`` to
        ``f"{run_id}-fork-{8 hex}"`` (shortened to fit). The new run gets a record with
        ``parent_run_id`` (status ``paused``, so recovery leaves it to whoever forked it)
        and one START checkpoint: the source's state with ``memory_updates`` merged into
        its memory and the parent run and checkpoint ids set. Executing the new run id
        continues from there; the parent is not touched. Returns the new run id.
        ``RunNotFoundError`` for an unknown run or checkpoint.
        """
        source = await self._record(run_id)
        cp = await self._checkpoint(run_id, checkpoint_id)
        fork_id = validate_run_id(new_run_id or _fork_id(run_id))
        record = RunRecord(
            run_id=fork_id,
            agent_id=source.agent_id,
            graph_id=source.graph_id,
            executor_type=source.executor_type,
            status=RunStatus.PAUSED,
            status_reason=f"forked from run {run_id!r} at checkpoint {cp.id!r}",
            graph_fingerprint=source.graph_fingerprint,
            input_fingerprint=source.input_fingerprint,
            parent_run_id=run_id,
            metadata=dict(source.metadata),
            totals=RunTotals(
                steps=cp.step_number,
                tokens=cp.total_tokens,
                cost=cp.total_cost,
                latency_ms=cp.total_latency_ms,
            ),
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
        await self.storage.acreate_run(record)
        new_id = await self.acommit_checkpoint(start)
        if new_id is None:
            raise CheckpointError(
                f"fork {fork_id!r} of run {run_id!r} could not store its first checkpoint "
                "(checkpointing is disabled or the save failed); it cannot be resumed"
            )
        await self.storage.aupdate_run(fork_id, latest_checkpoint_id=new_id)
        return fork_id

    # --- preview ------------------------------------------------------------------------

    def preview_resume(self, run_id: str) -> ResumePreview:
        """What resuming the run would do; see :meth:`apreview_resume`."""
        return call_sync(self.apreview_resume, run_id)

    async def apreview_resume(self, run_id: str) -> ResumePreview:
        """The run's status, completed nodes, next node, its pending input and the effects.

        Reads only; ``RunNotFoundError`` for an unknown run. Without a checkpoint the
        preview has the record's status and effects and no nodes.
        """
        record = await self._record(run_id)
        cp = await self.storage.aload_latest_checkpoint(run_id)
        effects = await self.storage.alist_effects(run_id)
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

    # --- internals ----------------------------------------------------------------------

    async def _record(self, run_id: str) -> RunRecord:
        record = await self.storage.aget_run(validate_run_id(run_id))
        if record is None:
            raise RunNotFoundError(f"no run {run_id!r} in this storage; check the run id")
        return record

    async def _checkpoint(self, run_id: str, checkpoint_id: str | None) -> Checkpoint:
        if checkpoint_id is None:
            cp = await self.storage.aload_latest_checkpoint(run_id)
        else:
            cp = await self.storage.aload_checkpoint(run_id, checkpoint_id)
        if cp is None:
            which = f"checkpoint {checkpoint_id!r}" if checkpoint_id else "any valid checkpoint"
            raise RunNotFoundError(
                f"run {run_id!r} has no {which}; list its checkpoints to pick one"
            )
        return cp


def _fork_id(run_id: str) -> str:
    suffix = f"-fork-{uuid.uuid4().hex[:8]}"
    return run_id[: 128 - len(suffix)] + suffix
