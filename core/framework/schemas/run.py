"""Run records: the durable identity and status of one execution, and how runs are listed."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any, TypedDict

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from framework.schemas.checkpoint import Checkpoint, ExecutorType
from framework.schemas.clock import utc_now
from framework.schemas.lease import lease_is_live

__all__ = ["RunBudget", "RunCriteria", "RunFilter", "RunRecord", "RunStatus", "RunTotals"]


class RunStatus(StrEnum):
    """Where a run stands."""

    PENDING = "pending"
    """Created, not started by any process yet."""
    RUNNING = "running"
    """A process runs it (or ran it and died: see the lease)."""
    PAUSED = "paused"
    """Stopped resumably: by a request, a pause node, a human_input node or a budget."""
    COMPLETED = "completed"
    """Finished; its result is in its final checkpoint. Never runs again."""
    FAILED = "failed"
    """A node failed after its retries; resuming re-runs that node."""
    CANCELLED = "cancelled"
    """Stopped for good; fork it to continue its work under a new run id."""

    @property
    def is_final(self) -> bool:
        """Completed and cancelled runs never run again; failed and paused ones may resume."""
        return self in (RunStatus.COMPLETED, RunStatus.CANCELLED)


class RunTotals(BaseModel):
    """What a run has consumed so far."""

    model_config = ConfigDict(frozen=True, use_attribute_docstrings=True)

    steps: int = Field(default=0, ge=0)
    """Nodes (or plan steps) executed."""
    tokens: int = Field(default=0, ge=0)
    """Tokens spent by nodes, routers and judges."""
    cost: float = Field(default=0.0, ge=0)
    """Cost spent, in the providers' currency."""
    latency_ms: int = Field(default=0, ge=0)
    """Time spent in nodes."""

    @classmethod
    def of(cls, cp: Checkpoint) -> RunTotals:
        """The totals a checkpoint records."""
        return cls(
            steps=cp.step_number,
            tokens=cp.total_tokens,
            cost=cp.total_cost,
            latency_ms=cp.total_latency_ms,
        )


class RunBudget(BaseModel):
    """A run's spending limits; a run that reaches one pauses before its next node."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)

    max_tokens: int | None = Field(default=None, ge=0)
    """Tokens the run may spend; ``None``: no limit."""
    max_cost: float | None = Field(default=None, ge=0)
    """Cost the run may spend; ``None``: no limit."""

    def exhausted(self, tokens: int, cost: float) -> bool:
        """Whether a run that spent ``tokens`` and ``cost`` may not start another node."""
        return (self.max_tokens is not None and tokens >= self.max_tokens) or (
            self.max_cost is not None and cost >= self.max_cost
        )

    def describe(self, tokens: int, cost: float) -> str:
        """Which limit was reached, for the decision log and operators."""
        if self.max_tokens is not None and tokens >= self.max_tokens:
            return f"budget exhausted: {tokens} tokens used, max_tokens={self.max_tokens}"
        return f"budget exhausted: cost {cost:g} reached, max_cost={self.max_cost}"

    def replaced_by(self, other: RunBudget) -> RunBudget:
        """This budget with every limit ``other`` sets replaced by it."""
        return self.model_copy(update=other.model_dump(exclude_none=True))


class RunRecord(BaseModel):
    """One run's record: status, totals, budget, lease, latest checkpoint and last error.

    A read-only value: storage hands out the record it decoded, and a change is made with
    ``update_run`` (or ``model_copy`` for a record of one's own).
    """

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)

    run_id: str
    """Stable for the run's whole life, across processes."""
    agent_id: str | None = None
    """The agent (graph id of an agent folder) the run belongs to."""
    graph_id: str | None = None
    """The graph (or plan) it runs."""
    executor_type: ExecutorType = ExecutorType.GRAPH
    """Which executor runs it."""
    status: RunStatus = RunStatus.PENDING
    """Where it stands."""
    status_reason: str | None = None
    """Why it is paused or failed, in words an operator can act on."""
    created_at: AwareDatetime = Field(default_factory=utc_now)
    """When it was created (UTC)."""
    updated_at: AwareDatetime = Field(default_factory=utc_now)
    """When the record last changed (UTC)."""
    finished_at: AwareDatetime | None = None
    """When it completed or was cancelled."""
    totals: RunTotals = Field(default_factory=RunTotals)
    """What it consumed, as of its latest checkpoint."""
    budget: RunBudget = Field(default_factory=RunBudget)
    """Its spending limits."""
    latest_checkpoint_id: str | None = None
    """Its newest checkpoint."""
    last_error: str | None = None
    """The error that failed it."""
    graph_fingerprint: str | None = None
    """Of the graph it runs: a resume with another graph is refused unless forced."""
    input_fingerprint: str | None = None
    """Of its input: reusing the run id with other input is refused."""
    parent_run_id: str | None = None
    """The run it was forked from."""
    metadata: dict[str, Any] = Field(default_factory=dict)
    """The user's."""
    lease_owner: str | None = None
    """The process that may write the run (see :mod:`framework.schemas.lease`)."""
    lease_expires_at: AwareDatetime | None = None
    """Until when, unless renewed."""
    fencing_token: int = Field(default=0, ge=0)
    """Grows by one on every claim (0: never claimed); only the storage's lease methods
    change it and the two lease fields."""

    @model_validator(mode="before")
    @classmethod
    def _upgrade(cls, data: Any) -> Any:
        # Records of the first release kept the budget among the user's metadata.
        if isinstance(data, dict) and "budget" not in data:
            metadata = data.get("metadata")
            if isinstance(metadata, dict) and {"max_tokens", "max_cost"} & set(metadata):
                limits = {k: metadata[k] for k in ("max_tokens", "max_cost") if k in metadata}
                rest = {k: v for k, v in metadata.items() if k not in limits}
                data = {**data, "budget": limits, "metadata": rest}
        return data

    def has_live_lease(self, now: datetime | None = None) -> bool:
        """Whether an unexpired lease whose owner is not known to be dead holds the run."""
        return lease_is_live(self.lease_owner, self.lease_expires_at, now)


class RunFilter(BaseModel):
    """Which runs ``list_runs`` returns: those matching every criterion given."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)

    status: RunStatus | None = None
    """Only runs with this status."""
    agent_id: str | None = None
    """Only runs of this agent."""
    graph_id: str | None = None
    """Only runs of this graph (or plan)."""
    limit: int | None = Field(default=None, ge=0)
    """At most this many, newest first."""

    def matches(self, record: RunRecord) -> bool:
        """Whether ``record`` meets every criterion (``limit`` aside)."""
        return (
            (self.status is None or record.status == self.status)
            and (self.agent_id is None or record.agent_id == self.agent_id)
            and (self.graph_id is None or record.graph_id == self.graph_id)
        )


class RunCriteria(TypedDict, total=False):
    """The fields of :class:`RunFilter`, as keyword arguments of ``list_runs``."""

    status: RunStatus | str | None
    agent_id: str | None
    graph_id: str | None
    limit: int | None
