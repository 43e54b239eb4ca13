"""Goals: what an agent run is for, and how success is judged."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["Constraint", "Goal", "SuccessCriterion"]


class SuccessCriterion(BaseModel):
    """One measurable condition of success."""

    model_config = ConfigDict(use_attribute_docstrings=True)

    id: str
    """Unique within the goal."""
    description: str
    """The condition, in words."""
    expression: str | None = None
    """The condition as a safe expression, when it can be written as one (the executors do
    not evaluate it)."""
    weight: float = 1.0
    """How much it counts relative to the goal's other criteria."""


class Constraint(BaseModel):
    """Something a run must (hard) or should (soft) respect."""

    model_config = ConfigDict(use_attribute_docstrings=True)

    id: str
    """Unique within the goal."""
    description: str
    """What is to be respected, in words."""
    hard: bool = True
    """``True``: it must be respected; ``False``: it should be, where possible."""


class Goal(BaseModel):
    """What the agent is asked to achieve.

    Graph nodes see it as ``ctx.goal``; the executors themselves neither check its
    criteria nor enforce its constraints.
    """

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    id: str
    """Names the goal; the decision log files the runs made for it under it."""
    name: str
    """For people; the judge's LLM is shown it."""
    description: str
    """What is to be achieved; the decision log records it with each run and the judge's
    LLM is shown it."""
    success_criteria: list[SuccessCriterion] = Field(default_factory=list)
    """How success is judged."""
    constraints: list[Constraint] = Field(default_factory=list)
    """What a run must or should respect."""
    context: dict[str, Any] = Field(default_factory=dict)
    """Anything else the nodes should know about the goal."""
