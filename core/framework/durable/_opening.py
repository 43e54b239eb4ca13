"""Opening a durable run: create it, or find it, decide whether it may continue, claim it.

:func:`open_run` is the first half of :class:`~framework.durable.DurableRun`: it
creates the run record for a new run id, or checks an existing run against the call (same
input, not cancelled, same graph unless forced), returns a completed run's final
checkpoint without claiming anything, and otherwise claims the run's lease and loads its
latest valid checkpoint. Nothing runs here and, apart from the record, nothing is written.

A damaged store never makes a run start over by itself: a run whose record names a
checkpoint continues from its newest intact one (with a warning when that is older than the
one named), and one with no intact checkpoint left is refused with
``CheckpointsLostError`` (see :mod:`._verifying`). Only ``force_restart`` starts a run over
from its input: its checkpoints are deleted (its effects ledger is kept, so effects already
completed are not performed again).
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import anyio

from framework.durable._verifying import behind_record
from framework.durable.manager import CheckpointManager
from framework.errors import (
    CheckpointError,
    GraphChangedError,
    RunCancelledError,
    RunConflictError,
    RunExistsError,
    StorageError,
)
from framework.schemas.checkpoint import Checkpoint, CheckpointKind, ExecutorType
from framework.schemas.clock import utc_now
from framework.schemas.control import ControlAction
from framework.schemas.ids import validate_run_id
from framework.schemas.lease import Lease, make_owner_id
from framework.schemas.run import RunBudget, RunRecord, RunStatus, RunTotals
from framework.storage import codec

logger = logging.getLogger("framework.durable")

BUDGET_EXHAUSTED = "budget_exhausted"
# Upper bound on giving a lease back when opening fails half-way.
_RELEASE_SECONDS = 10.0


def input_fingerprint(input_data: Mapping[str, Any] | None) -> str:
    """``sha256:`` of the codec's canonical bytes of ``input_data`` (``None`` counts as ``{}``).

    Raises ``CheckpointEncodeError`` naming the key of a value the codec cannot store,
    which the run could not have checkpointed either.
    """
    return "sha256:" + hashlib.sha256(codec.dumps(dict(input_data or {}), "input")).hexdigest()


@dataclass(frozen=True)
class RunSpec:
    """What an executor asks to run: which run, of what, with which input and budget.

    ``input_data`` is ``None`` when the caller gave none (a resume); then it is not
    compared with the input the run started with. ``fingerprint`` is the graph's (or
    plan's); ``budget`` replaces the limits it sets in the stored run's budget.
    ``force_restart`` starts an existing run over from ``input_data`` (see the module docs).
    """

    run_id: str | None
    executor_type: ExecutorType
    graph_id: str
    fingerprint: str
    input_data: Mapping[str, Any] | None = None
    force: bool = False
    agent_id: str | None = None
    budget: RunBudget = field(default_factory=RunBudget)
    force_restart: bool = False


@dataclass(frozen=True)
class OpenedRun:
    """A run ready to continue (``lease`` held) or completed earlier (``lease`` is ``None``).

    ``checkpoint`` is the latest valid checkpoint (a completed run's final one), ``None``
    for a run that has none yet; ``created``: this call created the run; ``restarted``: it
    starts over on purpose (``force_restart``); ``before``: the record as it was before
    this call claimed the run (``None`` if it did not claim it).
    """

    record: RunRecord
    checkpoint: Checkpoint | None
    lease: Lease | None
    created: bool
    restarted: bool = False
    before: RunRecord | None = None
    opened_at: datetime = field(default_factory=utc_now)

    def counted_until(self) -> datetime | None:
        """Until when the state the run starts from counts what it spent (see
        ``RunObserver.counted_until``)."""
        if self.checkpoint is not None:
            return self.checkpoint.created_at
        if self.restarted:
            return self.opened_at
        # Created now: nothing of it was ever stored. Continued without a checkpoint (a
        # crash before the first one): its state counts none of what it spent.
        return None if self.created else datetime.min.replace(tzinfo=UTC)

    def starting_input(self, input_data: Mapping[str, Any] | None) -> dict[str, Any]:
        """The input to start from when the run has no checkpoint yet.

        A run that stopped between its creation and its START checkpoint never stored its
        input; it can start over only when given it again (or when it had none).
        """
        stored = self.record.input_fingerprint
        if input_data is None and not self.created and stored not in (None, _NO_INPUT):
            raise CheckpointError(
                f"run {self.record.run_id!r} stopped before its first checkpoint, and only "
                "the fingerprint of its input is stored; run it again with its original "
                "input_data"
            )
        return dict(input_data or {})


_NO_INPUT = input_fingerprint(None)


async def open_run(manager: CheckpointManager, spec: RunSpec) -> OpenedRun:
    """Create the run, or find it and claim it to continue (see the module docs).

    Raises ``RunConflictError`` (input differs from the run's), ``RunCancelledError``,
    ``GraphChangedError`` (unless ``spec.force``), ``LeaseHeldError`` (another live
    process runs it), ``CheckpointsLostError`` (its record says it progressed, but no
    checkpoint of it is intact) and ``CheckpointError`` (a completed run that stores no
    checkpoint).
    """
    storage = manager.storage
    run_id = validate_run_id(spec.run_id or uuid.uuid4().hex)
    record = await storage.aget_run(run_id) if spec.run_id else None
    created = False
    if record is None:
        record, created = await _create(manager, spec, run_id)
    if not created:
        check_reuse(record, spec)
        final = await _final(manager, record, spec)
        if final is not None:
            return OpenedRun(record, final, None, created=False)
        check_continuation(record, spec)
    # Resuming a stopped run on purpose overrides a pause asked for while it stood; a pause
    # asked for while this call was starting the run must still be honoured.
    resumes_stopped = not created and record.status in (RunStatus.PAUSED, RunStatus.FAILED)
    ttl = manager.config.lease_ttl_seconds
    lease = await storage.aclaim_run(run_id, make_owner_id(), ttl_seconds=ttl)
    try:
        return await _claimed(manager, spec, lease, created, resumes_stopped)
    except BaseException:
        with anyio.move_on_after(_RELEASE_SECONDS, shield=True):
            await storage.arelease_lease(lease)
        raise


def check_reuse(record: RunRecord, spec: RunSpec) -> None:
    """Refuse to use ``record`` for ``spec`` at all: conflicting input, or cancelled."""
    run_id = record.run_id
    given = None if spec.input_data is None else input_fingerprint(spec.input_data)
    if given is not None and record.input_fingerprint not in (None, given):
        raise RunConflictError(
            f"run {run_id!r} was started with other input; continue it without input_data "
            "(or with the same input), or choose a new run id for new input"
        )
    if record.status is RunStatus.CANCELLED:
        why = f" ({record.status_reason})" if record.status_reason else ""
        when = record.finished_at or record.updated_at
        raise RunCancelledError(
            f"run {run_id!r} was cancelled{why} at {when:%Y-%m-%d %H:%M:%S} UTC; cancelled "
            "runs never continue. Start a new run, or fork this one from one of its checkpoints"
        )


def check_continuation(record: RunRecord, spec: RunSpec) -> None:
    """Refuse to run ``record`` further for ``spec``: another executor, a changed graph, or
    a start over without the input to start from (checked before anything is deleted)."""
    run_id = record.run_id
    if (
        spec.force_restart
        and spec.input_data is None
        and record.input_fingerprint
        not in (
            None,
            _NO_INPUT,
        )
    ):
        raise CheckpointError(
            f"run {run_id!r} cannot start over without its input: only the input's "
            "fingerprint is stored. Pass the original input_data (agentgraph run --input) "
            "with force_restart=True (--restart)"
        )
    if record.executor_type is not spec.executor_type:
        raise GraphChangedError(
            f"run {run_id!r} is a {record.executor_type} run and cannot be continued by the "
            f"{spec.executor_type} executor"
        )
    # A run started over keeps none of its checkpoints, so they need not fit the graph.
    forced = spec.force or spec.force_restart
    if record.graph_fingerprint not in (None, spec.fingerprint) and not forced:
        raise GraphChangedError(
            f"run {run_id!r} started with another version of graph {record.graph_id!r} "
            f"(fingerprint {record.graph_fingerprint}, now {spec.fingerprint}); its "
            "checkpoints may not fit the new graph. Resume with the original graph, or pass "
            "force=True to continue with this one"
        )


async def _create(manager: CheckpointManager, spec: RunSpec, run_id: str) -> tuple[RunRecord, bool]:
    record = RunRecord(
        run_id=run_id,
        agent_id=spec.agent_id,
        graph_id=spec.graph_id,
        executor_type=spec.executor_type,
        status=RunStatus.RUNNING,
        graph_fingerprint=spec.fingerprint,
        input_fingerprint=input_fingerprint(spec.input_data),
        budget=spec.budget,
    )
    try:
        return await manager.storage.acreate_run(record), True
    except RunExistsError:
        # Another process created it a moment ago; continue as with any existing run.
        existing = await manager.storage.aget_run(run_id)
        if existing is None:
            raise
        return existing, False


async def _final(manager: CheckpointManager, record: RunRecord, spec: RunSpec) -> Checkpoint | None:
    """A completed run's final checkpoint, whose result is returned; ``None`` to run on.

    A completed run whose final checkpoint is damaged runs on from its newest intact one
    (or is refused if it has none), like any run whose store was damaged.
    """
    if record.status is not RunStatus.COMPLETED or spec.force_restart:
        return None
    final = await manager.aget_checkpoint(record.run_id)
    if final is not None and final.kind is CheckpointKind.FINAL:
        return final
    if final is None and record.latest_checkpoint_id is None:
        raise CheckpointError(
            f"run {record.run_id!r} completed but stores no checkpoint, so its result cannot "
            "be returned; start a new run, or start this one over with force_restart=True"
        )
    return None


async def _latest(manager: CheckpointManager, record: RunRecord) -> Checkpoint | None:
    """The newest intact checkpoint of a run to continue; refuses a run whose progress is lost."""
    run_id = record.run_id
    checkpoint = await manager.aget_checkpoint(run_id)
    if checkpoint is None and record.latest_checkpoint_id is not None:
        raise (await manager.averify_run(run_id)).lost_error()
    if checkpoint is not None and behind_record(record, checkpoint.seq):
        logger.warning(
            "run %r: its record names checkpoint %r, which cannot be loaded; continuing from "
            "the newest intact checkpoint %r, so the nodes completed after it run again",
            run_id,
            record.latest_checkpoint_id,
            checkpoint.id,
        )
    return checkpoint


async def _restarted(manager: CheckpointManager, record: RunRecord) -> None:
    """Delete the run's checkpoints so that it starts over from its input, and say so."""
    deleted = await manager.adelete_checkpoints(record.run_id)
    logger.warning(
        "run %r starts over from its input as asked (force_restart): its %d stored "
        "checkpoints were deleted and its completed nodes run again; effects it completed "
        "before are not performed again",
        record.run_id,
        deleted,
    )


async def _claimed(
    manager: CheckpointManager, spec: RunSpec, lease: Lease, created: bool, resumes_stopped: bool
) -> OpenedRun:
    storage = manager.storage
    run_id = lease.run_id
    record = await storage.aget_run(run_id)
    if record is None:
        raise StorageError(f"run {run_id!r} disappeared while it was being claimed")
    checkpoint = None
    restarted = not created and spec.force_restart
    if not created:
        # Checked again under the lease: another process may have finished or cancelled
        # the run since the first look.
        check_reuse(record, spec)
        final = await _final(manager, record, spec)
        if final is not None:
            await storage.arelease_lease(lease)
            return OpenedRun(record, final, None, created=False)
        check_continuation(record, spec)
        if restarted:
            await _restarted(manager, record)
        else:
            checkpoint = await _latest(manager, record)
    if resumes_stopped:
        signal = await storage.aget_control(run_id)
        if signal is not None and signal.action is ControlAction.PAUSE:
            await storage.aclear_control(run_id, only=signal, fencing_token=lease.fencing_token)
    before = record
    record = await storage.aupdate_run(
        run_id,
        expect_fencing_token=lease.fencing_token,
        status=RunStatus.RUNNING,
        status_reason=None,
        last_error=None,
        finished_at=None,
        graph_fingerprint=spec.fingerprint,
        agent_id=record.agent_id or spec.agent_id,
        budget=record.budget.replaced_by(spec.budget),
        **({"latest_checkpoint_id": None, "totals": RunTotals()} if restarted else {}),
    )
    return OpenedRun(record, checkpoint, lease, created=created, restarted=restarted, before=before)
