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

from framework.schemas.checkpoint import utc_now

__all__ = ["EffectRecord", "EffectStatus"]


class EffectStatus(StrEnum):
    STARTED = "started"
    COMPLETED = "completed"
    FAILED = "failed"


class EffectRecord(BaseModel):
    """One effect of a run, keyed by ``key`` (``f"{node_id}:{user_key}"``) within the run.

    ``result`` is any value the codec can store and comes back exactly; ``error`` is the
    failure as text. ``attempts`` counts the starts; ``started_at`` is the first start;
    ``completed_at`` is when it completed or failed.
    """

    model_config = ConfigDict(extra="forbid")

    run_id: str
    node_id: str
    key: str
    idempotency_key: str
    status: EffectStatus = EffectStatus.STARTED
    result: Any = None
    error: str | None = None
    attempts: int = Field(default=1, ge=1)
    started_at: AwareDatetime = Field(default_factory=utc_now)
    completed_at: AwareDatetime | None = None

    @property
    def in_doubt(self) -> bool:
        """Started but no outcome recorded: it may or may not have happened."""
        return self.status is EffectStatus.STARTED
