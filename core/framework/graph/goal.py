"""Goals: what an agent run is for, and how success is judged.

A success criterion with an ``expression`` is checked by the graph executor on the final
memory of a completed run (:meth:`Goal.check_criteria`); one that is not met fails the run.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from framework.errors import ExpressionError
from framework.graph.expressions import check_expression, compile_expression

__all__ = ["Constraint", "CriterionResult", "Goal", "SuccessCriterion"]


class SuccessCriterion(BaseModel):
    """One measurable condition of success."""

    model_config = ConfigDict(use_attribute_docstrings=True)

    id: str
    """Unique within the goal."""
    description: str
    """The condition, in words."""
    expression: str | None = None
    """The condition as a safe expression over the final memory (each key a name, and
    ``memory`` the whole of it), when it can be written as one; the graph executor checks
    it when a run completes. ``None``: not checked (listed as such)."""
    weight: float = 1.0
    """How much it counts relative to the goal's other criteria."""

    def check(self, memory: Mapping[str, Any]) -> CriterionResult:
        """Whether ``memory`` meets this criterion (``met=None``: it has no expression)."""
        met: bool | None = None
        detail = "not checked: it has no expression"
        if self.expression is not None:
            try:
                met = bool(compile_expression(self.expression).evaluate(_names(memory)))
                detail = "" if met else f"{self.expression!r} is false"
            except ExpressionError as exc:
                met, detail = False, str(exc)
        return CriterionResult(
            id=self.id,
            description=self.description,
            expression=self.expression,
            met=met,
            detail=detail,
        )


class CriterionResult(BaseModel):
    """How a run's final memory fared against one success criterion."""

    model_config = ConfigDict(use_attribute_docstrings=True)

    id: str
    """The criterion's id."""
    description: str
    """The criterion, in words."""
    expression: str | None = None
    """The expression checked; ``None``: the criterion has none and was not checked."""
    met: bool | None = None
    """``True`` met, ``False`` not met (false, or its expression failed), ``None`` not
    checked."""
    detail: str = ""
    """Why it is not met (or not checked); empty when it is met."""


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

    Graph nodes see it as ``ctx.goal``. The graph executor checks its success criteria
    that have an expression when a run completes (see :meth:`check_criteria`); no executor
    enforces its constraints.
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

    def check_criteria(self, memory: Mapping[str, Any]) -> list[CriterionResult]:
        """Every success criterion checked on ``memory``, in the goal's order."""
        return [criterion.check(memory) for criterion in self.success_criteria]

    def problems(self) -> list[str]:
        """What keeps this goal's criteria from being checked: expressions that are refused."""
        return [
            f"goal criterion '{criterion.id}' expression: {problem}"
            for criterion in self.success_criteria
            if criterion.expression is not None
            and (problem := check_expression(criterion.expression))
        ]


def unmet(criteria: list[CriterionResult]) -> str | None:
    """The error of a run whose criteria are ``criteria``; ``None`` when none is unmet."""
    missed = [f"goal criterion '{c.id}' not met: {c.detail}" for c in criteria if c.met is False]
    return "; ".join(missed) or None


def _names(memory: Mapping[str, Any]) -> dict[str, Any]:
    return {**memory, "memory": dict(memory)}
