"""Run records: the durable identity and status of one execution."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from framework.schemas.checkpoint import ExecutorType, utc_now
from framework.schemas.lease import lease_is_live

__all__ = ["RunRecord", "RunStatus", "RunTotals"]


class RunStatus(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    PAUSED = "paused"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def is_final(self) -> bool:
        """Completed and cancelled runs never run again; failed and paused ones may resume."""
        return self in (RunStatus.COMPLETED, RunStatus.CANCELLED)


class RunTotals(BaseModel):
    """What a run has consumed so far."""

    steps: int = Field(default=0, ge=0)
    tokens: int = Field(default=0, ge=0)
    cost: float = Field(default=0.0, ge=0)
    latency_ms: int = Field(default=0, ge=0)


class RunRecord(BaseModel):
    """One run's record: status, totals, latest checkpoint and last error.

    ``input_fingerprint`` and ``graph_fingerprint`` let a restart tell a resume of the same
    run from a conflicting reuse of its id. ``status_reason`` says why a run is paused or
    failed in words an operator can act on. ``lease_owner`` / ``lease_expires_at`` name the
    process that may write the run and until when; ``fencing_token`` grows by one on every
    claim (0: never claimed). Only the storage's lease methods change these three.
    """

    model_config = ConfigDict(extra="forbid")

    run_id: str
    agent_id: str | None = None
    graph_id: str | None = None
    executor_type: ExecutorType = ExecutorType.GRAPH
    status: RunStatus = RunStatus.PENDING
    status_reason: str | None = None
    created_at: AwareDatetime = Field(default_factory=utc_now)
    updated_at: AwareDatetime = Field(default_factory=utc_now)
    finished_at: AwareDatetime | None = None
    totals: RunTotals = Field(default_factory=RunTotals)
    latest_checkpoint_id: str | None = None
    last_error: str | None = None
    graph_fingerprint: str | None = None
    input_fingerprint: str | None = None
    parent_run_id: str | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)
    lease_owner: str | None = None
    lease_expires_at: AwareDatetime | None = None
    fencing_token: int = Field(default=0, ge=0)

    def has_live_lease(self, now: datetime | None = None) -> bool:
        """Whether an unexpired lease whose owner is not known to be dead holds the run."""
        return lease_is_live(self.lease_owner, self.lease_expires_at, now)
