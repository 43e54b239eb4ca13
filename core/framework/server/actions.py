"""Pause, cancel, retry-failed and resume, as the API does them to one stored run.

They act as ``agentgraph pause`` / ``cancel`` / ``retry-failed`` / ``resume`` do, through
the :class:`~framework.durable.CheckpointManager` on storage alone, so they steer a run
that any process runs. A run that cannot be steered so (pausing a completed run) is an
:class:`~.replies.ApiError` 409 saying why. A resume is started by this server when it was
given the run's agent (:class:`~.resumer.Resumer`); otherwise the answer is 409 with the
command a worker runs to continue it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from framework.batch import BatchRunner
from framework.cli.run_control import resume_hint
from framework.durable import CheckpointManager
from framework.schemas.checkpoint import ExecutorType
from framework.schemas.run import RunBudget, RunRecord, RunStatus
from framework.server.replies import ApiError
from framework.server.resumer import Resumer

__all__ = ["Steered", "cancel", "pause", "resume", "retry_failed"]


@dataclass(frozen=True)
class Steered:
    """What one action did to run ``run_id``."""

    run_id: str
    action: str
    message: str
    """One line saying what happened, as the command prints it."""
    status: RunStatus
    """The run's status right after the action."""
    started: bool = False
    """Whether this server started running the run."""
    command: str | None = None
    """The command that continues the run, when this server does not."""

    def document(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "action": self.action,
            "message": self.message,
            "status": self.status.value,
            "started": self.started,
            "command": self.command,
        }


async def pause(manager: CheckpointManager, record: RunRecord, reason: str) -> Steered:
    """Ask the run to pause after its current node (a batch: its items in flight)."""
    run = record.run_id
    if await manager.arequest_pause(run, reason) is None:
        why = "it is paused already" if record.status is RunStatus.PAUSED else "nothing to pause"
        raise ApiError(409, f"run {run} is {record.status.value}: {why}")
    now = await _record(manager, run)
    if now.status is RunStatus.PAUSED:
        message = f"run {run} paused (no live process was running it)"
    else:
        message = f"pause requested: run {run} pauses after {_in_flight(record)}"
    return Steered(run, "pause", message, now.status)


async def cancel(manager: CheckpointManager, record: RunRecord, reason: str) -> Steered:
    """Cancel the run for good (a running one stops after its current node or items)."""
    run = record.run_id
    if await manager.arequest_cancel(run, reason) is None:
        raise ApiError(409, f"run {run} is {record.status.value} already: nothing to cancel")
    now = await _record(manager, run)
    if now.status is RunStatus.CANCELLED:
        return Steered(run, "cancel", f"run {run} cancelled", now.status)
    message = f"cancel requested: run {run} stops for good after {_in_flight(record)}"
    return Steered(run, "cancel", message, now.status)


async def retry_failed(
    manager: CheckpointManager,
    record: RunRecord,
    resumer: Resumer,
    storage: str | None,
    *,
    item_ids: Sequence[str] | None,
    error_type: str | None,
) -> Steered:
    """Put the batch's failed items back to pending, and run them if this server can."""
    run = record.run_id
    if record.executor_type is not ExecutorType.BATCH:
        kind = record.executor_type.value
        raise ApiError(409, f"run {run} is a {kind} run, not a batch: it has no items")
    count = await BatchRunner(manager).retry_failed(run, item_ids=item_ids, error_type=error_type)
    if count == 0:
        return Steered(run, "retry-failed", f"batch {run}: no failed items to retry", record.status)
    message = f"batch {run}: {count} failed item(s) pending again"
    return _continued(await _record(manager, run), "retry-failed", message, resumer, storage)


async def resume(
    manager: CheckpointManager,
    record: RunRecord,
    resumer: Resumer,
    storage: str | None,
    input_data: dict[str, Any] | None,
    budget: RunBudget,
) -> Steered:
    """Continue the run in this server (``budget`` replacing its own, as ``resume
    --max-tokens / --max-cost`` do), or say which command continues it."""
    run = record.run_id
    if run in resumer.active:
        raise ApiError(409, f"run {run} is running in this server already")
    if record.status is RunStatus.CANCELLED:
        raise ApiError(409, f"run {run} is cancelled: a cancelled run is never continued")
    if record.status is RunStatus.RUNNING and record.has_live_lease():
        owner = record.lease_owner or "another process"
        raise ApiError(409, f"run {run} is running in {owner}: pause it first, or let it end")
    if record.status is RunStatus.COMPLETED and not await _has_pending_items(manager, record):
        raise ApiError(409, f"run {run} is completed: nothing to resume")
    started = f"run {run} resumes"
    return _continued(record, "resume", started, resumer, storage, input_data, budget)


def _continued(
    record: RunRecord,
    action: str,
    message: str,
    resumer: Resumer,
    storage: str | None,
    input_data: dict[str, Any] | None = None,
    budget: RunBudget | None = None,
) -> Steered:
    """``message``, with the run started here if this server can run it, else with the
    command that does."""
    run = record.run_id
    why = resumer.why_not(record)
    if why is None:
        if run not in resumer.active:
            resumer.start(record, input_data, budget)
        return Steered(run, action, f"{message}: running in this server", record.status, True)
    hint = resume_hint(record, storage)
    command = None if hint is None else hint.removeprefix("resume with: ")
    if action == "resume":
        if command is None:
            raise ApiError(409, f"run {run} cannot be resumed here: {why}")
        raise ApiError(409, f"{why}; a worker must resume run {run}: {command}", command=command)
    told = f"{message}; {why}; run them with: {command}" if command else f"{message}; {why}"
    return Steered(run, action, told, record.status, command=command)


async def _has_pending_items(manager: CheckpointManager, record: RunRecord) -> bool:
    if record.executor_type is not ExecutorType.BATCH:
        return False
    return (await manager.storage.aitem_counts(record.run_id)).pending > 0


async def _record(manager: CheckpointManager, run_id: str) -> RunRecord:
    record = await manager.storage.aget_run(run_id)
    if record is None:
        raise ApiError(404, f"run {run_id!r} was deleted while it was steered")
    return record


def _in_flight(record: RunRecord) -> str:
    return (
        "its items in flight" if record.executor_type is ExecutorType.BATCH else "its current node"
    )
