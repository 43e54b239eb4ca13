"""What a plan step's reviewers answer: the judge's verdict and a human's approval."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

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
    """What the judge decides to do with a step after an attempt."""

    ACCEPT = "accept"
    """The step is done: it completes with the attempt's outputs, for later steps to use.
    Only an LLM may accept a failed attempt."""
    RETRY = "retry"
    """Run the step again; once its retries are spent this becomes ``replan``, and beyond
    the executor's ``max_retries_per_step`` the plan fails."""
    REPLAN = "replan"
    """The plan must change: the step fails and the plan ends ``needs_replan``, with the
    judge's feedback."""
    ESCALATE = "escalate"
    """A human must decide: the step fails and the plan ends ``needs_escalation``."""


class ApprovalDecision(StrEnum):
    """What the approver decides about a step that requires approval."""

    APPROVE = "approve"
    """The step runs as written."""
    REJECT = "reject"
    """The step never runs: it is rejected, every step that depends on it is skipped, and
    the rest of the plan goes on."""
    MODIFY = "modify"
    """The step runs with the answer's ``modifications`` applied."""
    ABORT = "abort"
    """No new step starts and the plan ends ``aborted``; the run is cancelled."""


class Judgment(BaseModel):
    """The judge's verdict on one step attempt."""

    model_config = ConfigDict(use_attribute_docstrings=True)

    action: JudgmentAction
    """What to do with the step."""
    reasoning: str = ""
    """Why, in words; the decision log records it with the attempt."""
    feedback: str = ""
    """What to change, for a retry or a new plan; it becomes the plan's feedback when the
    verdict stops the plan."""
    rule_id: str | None = None
    """The rule that decided, if one did."""
    confidence: float = Field(default=1.0, ge=0.0, le=1.0)
    """How sure the judge is, from 0 to 1; an LLM verdict below the judge's threshold
    becomes ``escalate``."""
    tokens_used: int = Field(default=0, ge=0)
    """Tokens the judge's LLM spent on the verdict; they count in the run's totals."""
    cost: float = Field(default=0.0, ge=0)
    """What those calls cost, in US dollars (as far as it is known); counted likewise."""


class EvaluationRule(BaseModel):
    """A judge rule: when the safe expression ``condition`` is true, take ``action``."""

    model_config = ConfigDict(use_attribute_docstrings=True)

    id: str
    """Names the rule in the judgments it makes (``rule_id``)."""
    description: str = ""
    """What the rule checks, in words; a judgment's reasoning quotes it (else the
    condition)."""
    condition: str
    """A safe expression over ``step``, ``result``, ``outputs``, ``error``, ``attempts``
    and ``context``; one that cannot be evaluated for a result does not match."""
    action: JudgmentAction
    """The verdict when the condition is true (an ``accept`` rule is passed over for a
    failed attempt)."""
    feedback_template: str = ""
    """The judgment's feedback, with ``{name}`` placeholders for the names the condition
    sees."""
    priority: int = 0
    """Higher rules are checked first; equal ones in the order they were added."""

    @field_validator("condition")
    @classmethod
    def _condition_compiles(cls, value: str) -> str:
        if problem := check_expression(value):
            raise ValueError(problem)
        return value


class ApprovalRequest(BaseModel):
    """What a human is asked to approve."""

    model_config = ConfigDict(use_attribute_docstrings=True)

    step_id: str
    """The step that waits for approval."""
    description: str
    """The step's description."""
    action: ActionSpec
    """What the step would do."""
    inputs: dict[str, Any] = Field(default_factory=dict)
    """The step's inputs as written (references not yet resolved)."""
    message: str = ""
    """The question put to the approver: the step's ``approval_message``, else one naming
    the step."""


class ApprovalResult(BaseModel):
    """A human's answer to an :class:`ApprovalRequest`."""

    model_config = ConfigDict(use_attribute_docstrings=True)

    decision: ApprovalDecision
    """What happens to the step."""
    reason: str = ""
    """Why, in the approver's words; the decision log records it, and it becomes a
    rejected step's error or an aborted plan's feedback."""
    modifications: dict[str, dict[str, Any]] = Field(default_factory=dict)
    """With ``modify``: ``"inputs"`` (merged into the step's inputs) and ``"action"``
    (fields of :class:`ActionSpec` to replace); ignored otherwise."""

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
