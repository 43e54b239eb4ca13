"""Control signals: a pause or cancel request for a run, stored so any process can send it."""

from __future__ import annotations

from enum import StrEnum

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from framework.schemas.clock import utc_now

__all__ = ["ControlAction", "ControlSignal"]


class ControlAction(StrEnum):
    """What a control signal asks of a run."""

    PAUSE = "pause"
    """Stop resumably before the next node."""
    CANCEL = "cancel"
    """Stop for good before the next node (wins over a pending pause)."""


class ControlSignal(BaseModel):
    """A pending request for a run; the executor honours it between nodes, then clears it."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)

    run_id: str
    """The run asked."""
    action: ControlAction
    """What it is asked to do."""
    reason: str = ""
    """Why, in the requester's words (becomes the run's status reason)."""
    requested_at: AwareDatetime = Field(default_factory=utc_now)
    """When it was asked (UTC)."""
