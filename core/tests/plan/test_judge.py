"""HybridJudge: rules by priority, defaults without an LLM, verdicts from an LLM."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from framework.errors import ExpressionError
from framework.graph import EvaluationRule, JudgmentAction, PlanStep
from framework.graph.goal import Goal
from framework.graph.judge import HybridJudge
from framework.graph.worker_node import StepExecutionResult, is_transient_error
from framework.llm import LLMResponse, MockLLMProvider

StepFactory = Callable[..., PlanStep]

OK = StepExecutionResult(success=True, outputs={"score": 0.9})


def _failure(error_type: str = "ValueError") -> StepExecutionResult:
    return StepExecutionResult(success=False, error=f"{error_type}: broke", error_type=error_type)


def _rule(rule_id: str, condition: str, action: JudgmentAction, **extra: Any) -> EvaluationRule:
    return EvaluationRule(id=rule_id, condition=condition, action=action, **extra)


async def test_success_is_accepted_by_default(fn_step: StepFactory, goal: Goal) -> None:
    judgment = await HybridJudge().evaluate(fn_step("a", attempts=1), OK, goal, {})

    assert judgment.action is JudgmentAction.ACCEPT
    assert judgment.rule_id is None


async def test_transient_failure_with_retries_left_is_retried(
    fn_step: StepFactory, goal: Goal
) -> None:
    step = fn_step("a", attempts=1)

    judgment = await HybridJudge().evaluate(step, _failure("TimeoutError"), goal, {})

    assert judgment.action is JudgmentAction.RETRY
    assert "transient" in judgment.reasoning


async def test_other_failure_with_retries_left_is_retried(fn_step: StepFactory, goal: Goal) -> None:
    step = fn_step("a", attempts=3, max_retries=3)

    judgment = await HybridJudge().evaluate(step, _failure(), goal, {})

    assert judgment.action is JudgmentAction.RETRY
    assert "attempt 3 of 4" in judgment.reasoning


async def test_failure_with_retries_exhausted_is_replanned(
    fn_step: StepFactory, goal: Goal
) -> None:
    step = fn_step("a", attempts=4, max_retries=3)

    judgment = await HybridJudge().evaluate(step, _failure("TimeoutError"), goal, {})

    assert judgment.action is JudgmentAction.REPLAN
    assert judgment.feedback == "step 'a' failed after 4 attempts: TimeoutError: broke"


async def test_highest_priority_matching_rule_decides(fn_step: StepFactory, goal: Goal) -> None:
    judge = HybridJudge(
        rules=[
            _rule("low", "outputs['score'] > 0.5", JudgmentAction.ACCEPT, priority=1),
            _rule("high", "outputs['score'] < 0.95", JudgmentAction.REPLAN, priority=5),
            _rule("never", "attempts > 10", JudgmentAction.ESCALATE, priority=9),
        ]
    )

    judgment = await judge.evaluate(fn_step("a", attempts=1), OK, goal, {})

    assert judgment.action is JudgmentAction.REPLAN
    assert judgment.rule_id == "high"
    assert [rule.id for rule in judge.rules] == ["never", "high", "low"]


async def test_equal_priority_rules_are_checked_in_the_order_added(
    fn_step: StepFactory, goal: Goal
) -> None:
    judge = HybridJudge()
    judge.add_rule(_rule("first", "result['success']", JudgmentAction.ESCALATE))
    judge.add_rule(_rule("second", "result['success']", JudgmentAction.REPLAN))

    judgment = await judge.evaluate(fn_step("a", attempts=1), OK, goal, {})

    assert judgment.rule_id == "first"


async def test_a_failed_step_is_never_accepted_by_a_rule(fn_step: StepFactory, goal: Goal) -> None:
    judge = HybridJudge(rules=[_rule("yes", "True", JudgmentAction.ACCEPT, priority=100)])

    retried = await judge.evaluate(fn_step("a", attempts=1), _failure(), goal, {})
    exhausted = await judge.evaluate(fn_step("a", attempts=4), _failure(), goal, {})

    assert retried.action is JudgmentAction.RETRY
    assert exhausted.action is JudgmentAction.REPLAN
    assert retried.rule_id is None and exhausted.rule_id is None


async def test_rules_see_step_result_error_attempts_and_context(
    fn_step: StepFactory, goal: Goal
) -> None:
    condition = (
        "step['id'] == 'a' and result['error_type'] == 'KeyError' and 'broke' in error "
        "and attempts == 2 and context['mode'] == 'strict'"
    )
    judge = HybridJudge(
        rules=[
            _rule(
                "strict",
                condition,
                JudgmentAction.ESCALATE,
                feedback_template="attempt {attempts} failed: {error}",
            )
        ]
    )

    judgment = await judge.evaluate(
        fn_step("a", attempts=2), _failure("KeyError"), goal, {"mode": "strict"}
    )

    assert judgment.action is JudgmentAction.ESCALATE
    assert judgment.feedback == "attempt 2 failed: KeyError: broke"


async def test_a_rule_that_cannot_be_evaluated_does_not_match(
    fn_step: StepFactory, goal: Goal
) -> None:
    judge = HybridJudge(rules=[_rule("score", "outputs['score'] < 0.5", JudgmentAction.REPLAN)])

    judgment = await judge.evaluate(fn_step("a", attempts=1), _failure(), goal, {})

    assert judgment.action is JudgmentAction.RETRY


def test_add_rule_compiles_the_condition_now() -> None:
    rule = _rule("r", "attempts > 1", JudgmentAction.RETRY)
    rule.condition = "().__class__"

    with pytest.raises(ExpressionError, match="Attribute is not allowed"):
        HybridJudge().add_rule(rule)


async def test_retry_without_retries_left_becomes_replan(fn_step: StepFactory, goal: Goal) -> None:
    judge = HybridJudge(rules=[_rule("again", "True", JudgmentAction.RETRY)])

    judgment = await judge.evaluate(fn_step("a", attempts=2, max_retries=1), _failure(), goal, {})

    assert judgment.action is JudgmentAction.REPLAN
    assert judgment.rule_id == "again"
    assert "no retries left" in judgment.reasoning


async def test_llm_verdict_is_used_when_no_rule_matches(fn_step: StepFactory, goal: Goal) -> None:
    verdict = {
        "action": "replan",
        "reasoning": "the summary misses the point",
        "feedback": "summarise the conclusions, not the method",
        "confidence": 0.9,
    }
    llm = MockLLMProvider(
        [LLMResponse(content=json.dumps(verdict), input_tokens=30, output_tokens=7)]
    )
    judge = HybridJudge(rules=[_rule("bad", "attempts > 5", JudgmentAction.ESCALATE)], llm=llm)

    judgment = await judge.evaluate(fn_step("a", attempts=1), OK, goal, {})

    assert judgment.action is JudgmentAction.REPLAN
    assert judgment.feedback == "summarise the conclusions, not the method"
    assert judgment.confidence == 0.9
    assert judgment.tokens_used == 37
    assert llm.calls[0].json_mode is True
    assert "Finish the test plan" in llm.calls[0].prompt
    assert '"score": 0.9' in llm.calls[0].prompt


async def test_a_matching_rule_spares_the_llm_call(fn_step: StepFactory, goal: Goal) -> None:
    llm = MockLLMProvider([])
    judge = HybridJudge(rules=[_rule("ok", "result['success']", JudgmentAction.ACCEPT)], llm=llm)

    judgment = await judge.evaluate(fn_step("a", attempts=1), OK, goal, {})

    assert judgment.rule_id == "ok"
    assert llm.calls == []


async def test_only_the_llm_may_accept_a_failed_step(fn_step: StepFactory, goal: Goal) -> None:
    llm = MockLLMProvider(['```json\n{"action": "accept", "reasoning": "optional step"}\n```'])
    judge = HybridJudge(rules=[_rule("yes", "True", JudgmentAction.ACCEPT)], llm=llm)

    judgment = await judge.evaluate(fn_step("a", attempts=1), _failure(), goal, {})

    assert judgment.action is JudgmentAction.ACCEPT
    assert judgment.reasoning == "optional step"
    assert judgment.rule_id is None
    assert len(llm.calls) == 1


@pytest.mark.parametrize(
    "reply",
    [
        "I think it is fine",
        '{"action": "celebrate", "reasoning": "?"}',
        '{"action": "accept", "confidence": "high"}',
        '{"action": "accept", "confidence": 3}',
        "[1, 2]",
    ],
)
async def test_malformed_llm_verdict_escalates(
    fn_step: StepFactory, goal: Goal, reply: str
) -> None:
    judge = HybridJudge(llm=MockLLMProvider([reply]))

    judgment = await judge.evaluate(fn_step("a", attempts=1), OK, goal, {})

    assert judgment.action is JudgmentAction.ESCALATE
    assert "no valid verdict" in judgment.reasoning


async def test_unconfident_llm_verdict_escalates(fn_step: StepFactory, goal: Goal) -> None:
    reply = '{"action": "accept", "reasoning": "looks ok", "confidence": 0.4}'
    judge = HybridJudge(llm=MockLLMProvider([reply]), confidence_threshold=0.7)

    judgment = await judge.evaluate(fn_step("a", attempts=1), OK, goal, {})

    assert judgment.action is JudgmentAction.ESCALATE
    assert judgment.confidence == 0.4
    assert "not confident enough" in judgment.reasoning


async def test_failing_llm_escalates_instead_of_raising(fn_step: StepFactory, goal: Goal) -> None:
    judge = HybridJudge(llm=MockLLMProvider([]))

    judgment = await judge.evaluate(fn_step("a", attempts=1), OK, goal, {})

    assert judgment.action is JudgmentAction.ESCALATE
    assert "LLMScriptExhaustedError" in judgment.reasoning


def test_confidence_threshold_must_be_a_probability() -> None:
    with pytest.raises(ValueError, match=r"within 0\.\.1"):
        HybridJudge(confidence_threshold=1.5)


@pytest.mark.parametrize(
    ("error_type", "transient"),
    [
        ("TimeoutError", True),
        ("ConnectionError", True),
        ("ReadTimeout", True),
        ("RateLimitError", True),
        ("ConnectionRefusedError", True),
        ("ValueError", False),
        ("PlanExecutionError", False),
        (None, False),
    ],
)
def test_transient_errors_are_classified_by_class_name(
    error_type: str | None, transient: bool
) -> None:
    assert is_transient_error(error_type) is transient
