"""Control signals: a pause or cancel request for a run, stored so any process can send it."""

from __future__ import annotations

from enum import StrEnum

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from framework.schemas.checkpoint import utc_now

__all__ = ["ControlAction", "ControlSignal"]


class ControlAction(StrEnum):
    """``pause`` stops a run resumably between nodes; ``cancel`` stops it for good."""

    PAUSE = "pause"
    CANCEL = "cancel"


class ControlSignal(BaseModel):
    """A pending request for a run; the executor honours it between nodes, then clears it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    run_id: str
    action: ControlAction
    reason: str = ""
    requested_at: AwareDatetime = Field(default_factory=utc_now)
