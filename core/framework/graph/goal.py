"""Goals: what an agent run is for, and how success is judged."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["Constraint", "Goal", "SuccessCriterion"]


class SuccessCriterion(BaseModel):
    """One measurable condition of success; ``expression`` is a safe expression if given."""

    id: str
    description: str
    expression: str | None = None
    weight: float = 1.0


class Constraint(BaseModel):
    """Something a run must (hard) or should (soft) respect."""

    id: str
    description: str
    hard: bool = True


class Goal(BaseModel):
    """What the agent is asked to achieve."""

    model_config = ConfigDict(extra="forbid")

    id: str
    name: str
    description: str
    success_criteria: list[SuccessCriterion] = Field(default_factory=list)
    constraints: list[Constraint] = Field(default_factory=list)
    context: dict[str, Any] = Field(default_factory=dict)
