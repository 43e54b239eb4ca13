"""Plan models: parsing and validation, readiness, completion, references."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from framework.errors import GraphValidationError
from framework.graph import (
    ActionType,
    ApprovalDecision,
    ApprovalResult,
    EvaluationRule,
    JudgmentAction,
    Plan,
    StepStatus,
)
from framework.graph.plan import parse_reference


def _step(step_id: str, *deps: str, **extra: object) -> dict[str, object]:
    return {
        "id": step_id,
        "description": f"do {step_id}",
        "action": {"action_type": "function", "function_name": step_id},
        "dependencies": list(deps),
        **extra,
    }


def _plan_dict(*steps: dict[str, object], **extra: object) -> dict[str, object]:
    return {"id": "p1", "goal_id": "g1", "steps": list(steps), **extra}


def test_from_json_parses_a_json_string_with_defaults() -> None:
    text = json.dumps(_plan_dict(_step("fetch"), _step("summarise", "fetch")))

    plan = Plan.from_json(text)

    assert [step.id for step in plan.steps] == ["fetch", "summarise"]
    second = plan.get_step("summarise")
    assert second is not None
    assert second.action.action_type is ActionType.FUNCTION
    assert second.dependencies == ["fetch"]
    assert (second.status, second.attempts, second.max_retries) == (StepStatus.PENDING, 0, 3)
    assert plan.revision == 1
    assert plan.created_at.tzinfo is not None


def test_from_json_accepts_a_dict() -> None:
    plan = Plan.from_json(_plan_dict(_step("only")))

    assert plan.get_step("only") is not None
    assert plan.get_step("missing") is None


def test_from_json_reports_a_dependency_on_a_missing_step() -> None:
    with pytest.raises(GraphValidationError) as caught:
        Plan.from_json(_plan_dict(_step("a", "ghost")))

    assert caught.value.subject == "plan"
    assert caught.value.problems == ["step 'a' depends on missing step 'ghost'"]
    assert str(caught.value).startswith("invalid plan: ")


def test_from_json_reports_a_dependency_cycle_naming_its_steps() -> None:
    with pytest.raises(GraphValidationError) as caught:
        Plan.from_json(_plan_dict(_step("a", "c"), _step("b", "a"), _step("c", "b"), _step("d")))

    assert caught.value.problems == ["dependency cycle among steps: a, b, c"]


def test_from_json_reports_a_step_depending_on_itself() -> None:
    with pytest.raises(GraphValidationError) as caught:
        Plan.from_json(_plan_dict(_step("a", "a")))

    assert caught.value.problems == ["dependency cycle among steps: a"]


def test_from_json_lists_every_problem_at_once() -> None:
    no_function = {"id": "c", "action": {"action_type": "function"}}
    data = _plan_dict(_step("a"), _step("a"), _step("b", "nope"), no_function)

    with pytest.raises(GraphValidationError) as caught:
        Plan.from_json(data)

    assert caught.value.problems == [
        "duplicate step id 'a' (2 times)",
        "step 'b' depends on missing step 'nope'",
        "step 'c' is a function action without function_name",
    ]


def test_from_json_reports_bad_json_and_bad_fields() -> None:
    with pytest.raises(GraphValidationError, match="not valid JSON"):
        Plan.from_json("{not json")

    bad = _plan_dict({"id": "a", "action": {"action_type": "teleport"}, "dependancies": []})
    with pytest.raises(GraphValidationError) as caught:
        Plan.from_json(bad)

    problems = " | ".join(caught.value.problems)
    assert "steps.0.action.action_type" in problems
    assert "steps.0.dependancies" in problems


def test_from_json_rejects_step_ids_unsafe_for_paths() -> None:
    with pytest.raises(GraphValidationError, match=r"steps\.0\.id"):
        Plan.from_json(_plan_dict(_step("../etc")))


def test_reference_to_a_step_that_is_not_a_dependency_is_a_problem() -> None:
    loose = _step("b", inputs={"text": "$a.text"})

    with pytest.raises(GraphValidationError) as caught:
        Plan.from_json(_plan_dict(_step("a"), loose))

    assert caught.value.problems == [
        "step 'b' input 'text' references step 'a' without depending on it; "
        "add 'a' to its dependencies"
    ]


def test_references_to_indirect_dependencies_and_context_keys_are_valid() -> None:
    last = _step("c", "b", inputs={"raw": "$a", "topic": "$topic"})

    plan = Plan.from_json(_plan_dict(_step("a"), _step("b", "a"), last, context={"topic": "x"}))

    assert plan.context == {"topic": "x"}


def test_context_key_named_like_a_step_is_a_problem() -> None:
    with pytest.raises(GraphValidationError, match="context key 'a' has the same name as a step"):
        Plan.from_json(_plan_dict(_step("a"), context={"a": 1}))


def test_is_ready_needs_pending_status_and_completed_dependencies() -> None:
    plan = Plan.from_json(_plan_dict(_step("a"), _step("b", "a")))
    b = plan.steps[1]

    assert not b.is_ready(set())
    assert b.is_ready({"a"})
    b.status = StepStatus.COMPLETED
    assert not b.is_ready({"a"})


def test_get_ready_steps_follows_completion_in_plan_order() -> None:
    plan = Plan.from_json(_plan_dict(_step("a"), _step("b", "a"), _step("c", "a"), _step("d")))

    assert [s.id for s in plan.get_ready_steps()] == ["a", "d"]
    plan.steps[0].status = StepStatus.COMPLETED
    assert [s.id for s in plan.get_ready_steps()] == ["b", "c", "d"]
    assert [s.id for s in plan.get_completed_steps()] == ["a"]


def test_is_complete_when_every_step_completed_skipped_or_rejected() -> None:
    plan = Plan.from_json(_plan_dict(_step("a"), _step("b"), _step("c")))
    assert not plan.is_complete()

    for step, status in zip(
        plan.steps, (StepStatus.COMPLETED, StepStatus.REJECTED, StepStatus.SKIPPED), strict=True
    ):
        step.status = status
    assert plan.is_complete()

    plan.steps[0].status = StepStatus.FAILED
    assert not plan.is_complete()


def test_dependents_are_transitive_and_exclude_unrelated_steps() -> None:
    plan = Plan.from_json(
        _plan_dict(_step("a"), _step("b", "a"), _step("c", "b"), _step("d"), _step("e", "d", "c"))
    )

    assert [s.id for s in plan.dependents("a")] == ["b", "c", "e"]
    assert [s.id for s in plan.dependents("d")] == ["e"]
    assert plan.dependents("e") == []


def test_feedback_context_summarises_progress_as_json() -> None:
    plan = Plan.from_json(_plan_dict(_step("a"), _step("b", "a"), _step("c"), _step("d")))
    a, b, c, _ = plan.steps
    a.status, a.result = StepStatus.COMPLETED, {"n": 1}
    b.status, b.error, b.attempts = StepStatus.FAILED, "boom", 4
    c.status, c.error = StepStatus.REJECTED, "rejected: no"

    feedback = plan.to_feedback_context()

    assert feedback == {
        "plan_id": "p1",
        "goal_id": "g1",
        "revision": 1,
        "completed": {"a": {"n": 1}},
        "failed": {"b": {"error": "boom", "attempts": 4}},
        "rejected": {"c": "rejected: no"},
        "skipped": [],
        "remaining": ["d"],
    }
    assert json.loads(json.dumps(feedback)) == feedback


def test_created_at_is_stored_as_utc() -> None:
    naive = Plan.from_json(_plan_dict(created_at="2024-05-01T12:00:00"))
    offset = Plan.from_json(_plan_dict(created_at="2024-05-01T14:00:00+02:00"))

    assert naive.created_at == datetime(2024, 5, 1, 12, tzinfo=UTC)
    assert offset.created_at == datetime(2024, 5, 1, 12, tzinfo=UTC)
    assert offset.created_at.tzinfo is UTC


def test_plan_round_trips_through_json() -> None:
    plan = Plan.from_json(_plan_dict(_step("a"), _step("b", "a", inputs={"x": "$a.y"})))

    again = Plan.from_json(plan.model_dump_json())

    assert again == plan


def test_parse_reference_recognises_steps_keys_and_escapes() -> None:
    assert parse_reference("$fetch") == ("fetch", [])
    assert parse_reference("$fetch.body.0") == ("fetch", ["body", "0"])
    assert parse_reference("$$fetch") is None
    assert parse_reference("price: $5") is None
    assert parse_reference("$") is None
    assert parse_reference(5) is None


def test_evaluation_rule_refuses_an_unsafe_condition() -> None:
    with pytest.raises(ValidationError, match="Call is not allowed"):
        EvaluationRule(id="r", condition="__import__('os')", action=JudgmentAction.ACCEPT)

    rule = EvaluationRule(id="r", condition="attempts > 2", action=JudgmentAction.REPLAN)
    assert rule.priority == 0


def test_approval_modifications_accept_only_inputs_and_action_fields() -> None:
    ok = ApprovalResult(
        decision=ApprovalDecision.MODIFY,
        modifications={"inputs": {"x": 1}, "action": {"function_name": "safer"}},
    )
    assert ok.modifications["action"] == {"function_name": "safer"}

    with pytest.raises(ValidationError, match="may only hold 'inputs' and 'action'"):
        ApprovalResult(decision=ApprovalDecision.MODIFY, modifications={"status": {}})
    with pytest.raises(ValidationError, match="unknown fields"):
        ApprovalResult(decision=ApprovalDecision.MODIFY, modifications={"action": {"shell": 1}})
