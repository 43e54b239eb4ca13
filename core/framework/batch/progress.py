"""A batch's progress: what its checkpoints hold, its result, and its status for operators.

A batch's state is its item ledger; its checkpoints (written every ``progress_interval``
and when it stops) hold a :class:`BatchProgress`: the counts as of then, a few recent
samples of how many items were finished when (for the rate), and the ids of the items
completed last. :func:`read_status` combines that with the ledger's live counts, so any
process can tell how a batch stands, from storage alone.
"""

from __future__ import annotations

import time
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from framework.schemas.checkpoint import Checkpoint, CheckpointKind, ExecutorType
from framework.schemas.item import ItemCounts, ItemError, ItemRecord, ItemStatus
from framework.schemas.run import RunStatus
from framework.storage.backend import StorageBackend

__all__ = ["BatchProgress", "BatchResult", "BatchStatus", "FailedItem", "read_status"]

_SAMPLES = 30
_RECENT = 10
# The rate is over the samples of this window; the ETA is shown once it spans this long.
_RATE_WINDOW_SECONDS = 300.0
_WARMED_UP_SECONDS = 10.0


class BatchProgress(BaseModel):
    """What a batch's checkpoint holds (under ``context["batch"]``)."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    counts: ItemCounts = ItemCounts()
    """The ledger's counts when the checkpoint was taken."""
    samples: list[tuple[float, int]] = Field(default_factory=list)
    """``(unix time, finished items)`` of recent snapshots, oldest first."""
    recent: list[str] = Field(default_factory=list)
    """The ids of the items completed last, newest last."""

    def sampled(self, counts: ItemCounts, now: float | None = None) -> None:
        """Take ``counts`` as the latest, and remember when."""
        moment = time.time() if now is None else now
        self.counts = counts
        self.samples = [*self.samples, (moment, counts.finished)][-_SAMPLES:]

    def completed(self, item_ids: list[str]) -> None:
        self.recent = [*self.recent, *item_ids][-_RECENT:]

    def rate_per_minute(self) -> float | None:
        """Items finished per minute over the recent window; ``None`` before two samples."""
        window = [s for s in self.samples if s[0] >= self.samples[-1][0] - _RATE_WINDOW_SECONDS]
        if len(window) < 2 or window[-1][0] <= window[0][0]:
            return None
        return 60 * (window[-1][1] - window[0][1]) / (window[-1][0] - window[0][0])

    def warmed_up(self) -> bool:
        return (
            len(self.samples) >= 2
            and self.samples[-1][0] - self.samples[0][0] >= _WARMED_UP_SECONDS
        )

    def to_checkpoint(self, run_id: str) -> Checkpoint:
        """This progress as an unnumbered batch checkpoint."""
        usage = self.counts.usage
        return Checkpoint(
            id="unnumbered",
            run_id=run_id,
            executor_type=ExecutorType.BATCH,
            kind=CheckpointKind.NODE_COMPLETE,
            step_number=self.counts.finished,
            total_tokens=usage.tokens_in + usage.tokens_out,
            total_cost=usage.cost,
            context={"batch": self.model_dump(mode="json")},
        )

    @classmethod
    def of(cls, checkpoint: Checkpoint) -> BatchProgress:
        """The progress a batch checkpoint holds (empty for any other checkpoint)."""
        stored: Any = checkpoint.context.get("batch")
        return cls.model_validate(stored) if isinstance(stored, dict) else cls()


class BatchResult(BaseModel):
    """How a call of ``BatchRunner.run`` ended."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    run_id: str
    """The batch run."""
    status: RunStatus
    """Completed, paused, cancelled or failed."""
    reason: str | None = None
    """Why it paused, stopped or failed."""
    counts: ItemCounts
    """Its items per status when the call ended."""

    @property
    def success(self) -> bool:
        """Every item ran: the batch completed (some items may still have failed)."""
        return self.status is RunStatus.COMPLETED


class FailedItem(BaseModel):
    """An item that failed, or waits for another attempt, with its error."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    item_id: str
    attempts: int
    """Attempts started, ever."""
    error: ItemError | None
    next_attempt_at: float | None = None
    """For an item waiting for a retry: when (unix time)."""

    @classmethod
    def of(cls, item: ItemRecord) -> FailedItem:
        due = None if item.next_attempt_at is None else item.next_attempt_at.timestamp()
        return cls(
            item_id=item.item_id, attempts=item.attempts, error=item.last_error, next_attempt_at=due
        )


class BatchStatus(BaseModel):
    """How a batch stands, read from storage (see :func:`read_status`)."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    run_id: str
    status: RunStatus
    reason: str | None
    counts: ItemCounts
    """Live, from the ledger."""
    percent: float
    """Finished items (completed, failed, skipped) of all, 0 to 100."""
    rate_per_minute: float | None
    """Items finished per minute recently; ``None`` until two progress snapshots exist."""
    eta_seconds: float | None
    """Time left at that rate; ``None`` until the rate has warmed up."""
    cost_projected: float | None
    """The cost of every item at the cost per finished item so far."""
    recent: list[str]
    """Items completed last, newest last (as of the latest snapshot)."""
    failed: list[FailedItem]
    """Items failed for good (the first few), with their errors."""
    retrying: list[FailedItem]
    """Items waiting for another attempt (the first few), with when."""


async def read_status(
    storage: StorageBackend, run_id: str, *, listed: int = 20
) -> BatchStatus | None:
    """The status of batch run ``run_id``, or ``None`` if there is no such run."""
    record = await storage.aget_run(run_id)
    if record is None:
        return None
    counts = await storage.aitem_counts(run_id)
    checkpoint = await storage.aload_latest_checkpoint(run_id)
    progress = BatchProgress() if checkpoint is None else BatchProgress.of(checkpoint)
    failed = await storage.alist_items(run_id, status=ItemStatus.FAILED, limit=listed)
    pending = await storage.alist_items(run_id, status=ItemStatus.PENDING, limit=50 * listed)
    retrying = [item for item in pending if item.last_error is not None][:listed]
    total, finished = counts.total, counts.finished
    rate = progress.rate_per_minute()
    eta = None
    if rate and progress.warmed_up():
        eta = 60 * (total - finished) / rate
    cost = counts.usage.cost
    return BatchStatus(
        run_id=run_id,
        status=record.status,
        reason=record.status_reason,
        counts=counts,
        percent=100.0 * finished / total if total else 0.0,
        rate_per_minute=rate,
        eta_seconds=eta,
        cost_projected=cost * total / finished if finished else None,
        recent=progress.recent,
        failed=[FailedItem.of(item) for item in failed],
        retrying=[FailedItem.of(item) for item in retrying],
    )
