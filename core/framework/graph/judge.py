"""The judge: decides what to do with each step attempt (accept, retry, replan, escalate).

:class:`HybridJudge` tries its rules first, then an LLM if it has one, then fixed
defaults. Rules are safe expressions (:mod:`framework.graph.expressions`), so a rule set
loaded from a file can read the step and its result but can do nothing else.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from framework.errors import ExpressionError, LLMCallError
from framework.graph.expressions import Expression, compile_expression
from framework.graph.plan import PlanStep
from framework.graph.review import EvaluationRule, Judgment, JudgmentAction
from framework.graph.worker_node import StepExecutionResult, parse_json_object, render_template
from framework.llm.provider import Message, Role
from framework.llm.usage import Spend

if TYPE_CHECKING:
    from framework.graph.goal import Goal
    from framework.llm.provider import LLMProvider

__all__ = ["HybridJudge"]

_MAX_SHOWN_CHARS = 4000
_SYSTEM_PROMPT = (
    "You review one step of a plan an agent is carrying out. Decide whether its result is "
    "good enough to build on. Answer with only a JSON object: "
    '{"action": "accept" | "retry" | "replan" | "escalate", "reasoning": "...", '
    '"feedback": "what to change, for a retry or a new plan", "confidence": 0.0-1.0}. '
    "accept: the result serves the goal. retry: the same step may succeed if run again. "
    "replan: the plan must change. escalate: a human must decide."
)


class HybridJudge:
    """Judges step results by rules, then an LLM, then defaults.

    Rules are checked by ``priority`` (highest first; equal priorities in the order they
    were added) and the first whose condition is true decides. A condition sees the names
    ``step`` (the step as a dict), ``result`` (``success``, ``outputs``, ``error``,
    ``error_type``, ``transient``), ``outputs``, ``error``, ``attempts`` (runs so far,
    this one included) and ``context`` (the run context). A condition that cannot be
    evaluated for this result (say ``outputs['score']`` when there is no score) does not
    match.

    When no rule decides: with an LLM, the LLM is asked; its reply must be a JSON object
    with ``action``, ``reasoning``, ``feedback`` and optionally ``confidence`` (taken as
    1.0 when absent). A malformed reply, a failing LLM, or a confidence below
    ``confidence_threshold`` escalates. Without an LLM the defaults are: success is
    accepted; a failure is retried while the step has retries left (transient or not, the
    reasoning says which) and replanned once they are exhausted.

    A failed step is never accepted by a rule: a matching ``accept`` rule is passed over
    for a failed result, so without an LLM a failure is always retried, replanned or
    escalated. Only an LLM may accept a failed step. A ``retry`` verdict for a step with
    no retries left (``attempts > max_retries``) becomes ``replan``.
    """

    def __init__(
        self,
        rules: Iterable[EvaluationRule] | None = None,
        llm: LLMProvider | None = None,
        confidence_threshold: float = 0.7,
    ) -> None:
        if not 0.0 <= confidence_threshold <= 1.0:
            raise ValueError(
                f"confidence_threshold must be within 0..1, not {confidence_threshold}"
            )
        self.llm = llm
        self.confidence_threshold = confidence_threshold
        self._rules: list[tuple[EvaluationRule, Expression]] = []
        for rule in rules or []:
            self.add_rule(rule)

    @property
    def rules(self) -> list[EvaluationRule]:
        """The rules in the order they are checked."""
        return [rule for rule, _ in self._rules]

    def add_rule(self, rule: EvaluationRule) -> None:
        """Add a rule; its condition is compiled now, so a bad one fails here."""
        self._rules.append((rule, compile_expression(rule.condition)))
        # sort() is stable, so equal priorities keep the order they were added in.
        self._rules.sort(key=lambda pair: -pair[0].priority)

    async def evaluate(
        self,
        step: PlanStep,
        result: StepExecutionResult,
        goal: Goal,
        context: Mapping[str, Any],
    ) -> Judgment:
        """The verdict on ``result``, the outcome of ``step``'s latest attempt."""
        names = _names(step, result, context)
        judgment = self._by_rules(names, result)
        if judgment is None and self.llm is not None:
            judgment = await self._by_llm(self.llm, step, result, goal)
        if judgment is None:
            judgment = _by_default(step, result)
        if judgment.action is JudgmentAction.RETRY and step.attempts > step.max_retries:
            return judgment.model_copy(
                update={
                    "action": JudgmentAction.REPLAN,
                    "reasoning": f"{judgment.reasoning} (no retries left after "
                    f"{step.attempts} attempts, so the plan must change)",
                }
            )
        return judgment

    def _by_rules(self, names: dict[str, Any], result: StepExecutionResult) -> Judgment | None:
        for rule, expression in self._rules:
            try:
                matched = bool(expression.evaluate(names))
            except ExpressionError:
                continue
            if not matched or (rule.action is JudgmentAction.ACCEPT and not result.success):
                continue
            return Judgment(
                action=rule.action,
                reasoning=f"rule '{rule.id}': {rule.description or rule.condition}",
                feedback=render_template(rule.feedback_template, names),
                rule_id=rule.id,
            )
        return None

    async def _by_llm(
        self, llm: LLMProvider, step: PlanStep, result: StepExecutionResult, goal: Goal
    ) -> Judgment:
        try:
            response = await llm.complete(
                [Message(role=Role.USER, content=_llm_prompt(step, result, goal))],
                system=_SYSTEM_PROMPT,
                json_mode=True,
            )
        except Exception as exc:
            # Whatever broke in the provider, a human should look rather than the run crash.
            spent = Spend.of(exc.attempts) if isinstance(exc, LLMCallError) else Spend()
            return Judgment(
                action=JudgmentAction.ESCALATE,
                reasoning=f"the judge LLM failed ({type(exc).__name__}: {exc})",
                confidence=0.0,
                tokens_used=spent.tokens,
                cost=spent.cost,
            )
        spent = response.spend()
        judgment = _parse_verdict(response.content)
        if judgment is None:
            return Judgment(
                action=JudgmentAction.ESCALATE,
                reasoning=f"the judge LLM gave no valid verdict: {response.content[:200]!r}",
                confidence=0.0,
                tokens_used=spent.tokens,
                cost=spent.cost,
            )
        judgment.tokens_used, judgment.cost = spent.tokens, spent.cost
        if judgment.confidence < self.confidence_threshold:
            return judgment.model_copy(
                update={
                    "action": JudgmentAction.ESCALATE,
                    "reasoning": f"the judge LLM is not confident enough "
                    f"({judgment.confidence} < {self.confidence_threshold}) to "
                    f"{judgment.action}: {judgment.reasoning}",
                }
            )
        return judgment


def _names(
    step: PlanStep, result: StepExecutionResult, context: Mapping[str, Any]
) -> dict[str, Any]:
    result_dict = {
        "success": result.success,
        "outputs": result.outputs,
        "error": result.error,
        "error_type": result.error_type,
        "transient": result.transient,
    }
    return {
        "step": step.model_dump(mode="json"),
        "result": result_dict,
        "outputs": result.outputs,
        "error": result.error,
        "attempts": step.attempts,
        "context": dict(context),
    }


def _by_default(step: PlanStep, result: StepExecutionResult) -> Judgment:
    if result.success:
        return Judgment(action=JudgmentAction.ACCEPT, reasoning="the step succeeded")
    if step.attempts <= step.max_retries:
        kind = "a transient error" if result.transient else "an error"
        return Judgment(
            action=JudgmentAction.RETRY,
            reasoning=f"the step failed with {kind} and has retries left "
            f"(attempt {step.attempts} of {step.max_retries + 1})",
            feedback=result.error or "",
        )
    return Judgment(
        action=JudgmentAction.REPLAN,
        reasoning=f"the step failed {step.attempts} times; its retries are exhausted",
        feedback=f"step '{step.id}' failed after {step.attempts} attempts: {result.error}",
    )


def _llm_prompt(step: PlanStep, result: StepExecutionResult, goal: Goal) -> str:
    shown = json.dumps(result.outputs, indent=2, default=str)
    if len(shown) > _MAX_SHOWN_CHARS:
        shown = shown[:_MAX_SHOWN_CHARS] + "\n... (truncated)"
    lines = [
        f"Goal: {goal.name}: {goal.description}",
        f"Step '{step.id}' ({step.action.action_type}): {step.description}",
        f"Expected outputs: {step.expected_outputs or 'not specified'}",
        f"Attempt {step.attempts} of at most {step.max_retries + 1}",
        f"Succeeded: {result.success}",
        f"Outputs: {shown}",
    ]
    if result.error:
        lines.append(f"Error ({result.error_type}): {result.error}")
    return "\n".join(lines)


def _parse_verdict(text: str) -> Judgment | None:
    data = parse_json_object(text)
    if data is None:
        return None
    action = str(data.get("action", "")).strip().lower()
    if action not in set(JudgmentAction):
        return None
    confidence = data.get("confidence", 1.0)
    valid_number = isinstance(confidence, int | float) and not isinstance(confidence, bool)
    if not valid_number or not 0.0 <= confidence <= 1.0:
        return None
    return Judgment(
        action=JudgmentAction(action),
        reasoning=str(data.get("reasoning", "")),
        feedback=str(data.get("feedback", "")),
        confidence=float(confidence),
    )
