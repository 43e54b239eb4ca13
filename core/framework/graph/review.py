"""What a plan step's reviewers answer: the judge's verdict and a human's approval."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field, field_validator

from framework.graph.expressions import check_expression
from framework.graph.plan import ActionSpec

__all__ = [
    "ApprovalDecision",
    "ApprovalRequest",
    "ApprovalResult",
    "EvaluationRule",
    "Judgment",
    "JudgmentAction",
]


class JudgmentAction(StrEnum):
    ACCEPT = "accept"
    RETRY = "retry"
    REPLAN = "replan"
    ESCALATE = "escalate"


class ApprovalDecision(StrEnum):
    APPROVE = "approve"
    REJECT = "reject"
    MODIFY = "modify"
    ABORT = "abort"


class Judgment(BaseModel):
    """The judge's verdict on one step attempt."""

    action: JudgmentAction
    reasoning: str = ""
    feedback: str = ""
    rule_id: str | None = None
    confidence: float = Field(default=1.0, ge=0.0, le=1.0)
    tokens_used: int = Field(default=0, ge=0)


class EvaluationRule(BaseModel):
    """A judge rule: when the safe expression ``condition`` is true, take ``action``.

    ``feedback_template`` may hold ``{name}`` placeholders for the names the condition
    sees (``error``, ``attempts``, ...). Higher ``priority`` rules are checked first.
    """

    id: str
    description: str = ""
    condition: str
    action: JudgmentAction
    feedback_template: str = ""
    priority: int = 0

    @field_validator("condition")
    @classmethod
    def _condition_compiles(cls, value: str) -> str:
        if problem := check_expression(value):
            raise ValueError(problem)
        return value


class ApprovalRequest(BaseModel):
    """What a human is asked to approve; ``inputs`` are the step's inputs as written."""

    step_id: str
    description: str
    action: ActionSpec
    inputs: dict[str, Any] = Field(default_factory=dict)
    message: str = ""


class ApprovalResult(BaseModel):
    """A human's answer. With ``modify``, ``modifications`` may hold ``"inputs"`` (merged
    into the step's inputs) and ``"action"`` (fields of :class:`ActionSpec` to replace)."""

    decision: ApprovalDecision
    reason: str = ""
    modifications: dict[str, dict[str, Any]] = Field(default_factory=dict)

    @field_validator("modifications")
    @classmethod
    def _known_parts(cls, value: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
        unknown = sorted(set(value) - {"inputs", "action"})
        if unknown:
            raise ValueError(f"modifications may only hold 'inputs' and 'action', got {unknown}")
        bad_fields = sorted(set(value.get("action", {})) - set(ActionSpec.model_fields))
        if bad_fields:
            raise ValueError(f"action modifications name unknown fields {bad_fields}")
        return value
