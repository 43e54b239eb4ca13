"""Effects: the ledger row of one side effect a node performs (send a mail, charge a card).

A node's effect is recorded ``started`` before it is performed and ``completed`` with its
result (or ``failed`` with the error text) afterwards. On re-execution a completed effect
returns its recorded result instead of happening again; one still ``started`` never recorded
an outcome, so whether it happened is *in doubt*.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from framework.schemas.clock import utc_now

__all__ = ["EffectRecord", "EffectStatus"]


class EffectStatus(StrEnum):
    """Where an effect stands in the ledger."""

    STARTED = "started"
    """About to be performed, no outcome recorded: if it stays so, it is in doubt."""
    COMPLETED = "completed"
    """Performed; its result is recorded and returned instead of performing it again."""
    FAILED = "failed"
    """Raised; it is performed again when its node runs again."""


class EffectRecord(BaseModel):
    """One effect of a run, keyed by ``key`` (``f"{node_id}:{user_key}"``) within the run."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    run_id: str
    """The run it belongs to."""
    node_id: str
    """The node (or plan step) that performs it."""
    key: str
    """Its key within the run (scoped to the node, and to the visit after the first)."""
    idempotency_key: str
    """Stable for this run, node and key: passed to the effect so a service can deduplicate."""
    status: EffectStatus = EffectStatus.STARTED
    """Where it stands."""
    result: Any = None
    """Its result (any value the codec can store; comes back exactly)."""
    error: str | None = None
    """Its failure, as text."""
    attempts: int = Field(default=1, ge=1)
    """How many times it was started."""
    started_at: AwareDatetime = Field(default_factory=utc_now)
    """Its first start (UTC)."""
    completed_at: AwareDatetime | None = None
    """When it completed or failed."""

    @property
    def in_doubt(self) -> bool:
        """Started but no outcome recorded: it may or may not have happened."""
        return self.status is EffectStatus.STARTED
