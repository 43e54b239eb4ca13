"""FlexibleGraphExecutor: scheduling, parallelism, approvals, judging, retries, replans."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import anyio
import pytest

from framework.errors import GraphValidationError, LLMCallError, PlanExecutionError
from framework.graph import (
    ActionSpec,
    ActionType,
    ApprovalDecision,
    ApprovalRequest,
    ApprovalResult,
    EdgeSpec,
    EvaluationRule,
    ExecutionStatus,
    GraphSpec,
    JudgmentAction,
    Plan,
    PlanStep,
    StepStatus,
)
from framework.graph.flexible_executor import ExecutorConfig, FlexibleGraphExecutor
from framework.graph.goal import Goal
from framework.graph.judge import HybridJudge
from framework.graph.node import NodeSpec
from framework.llm import LLMAttempt, LLMCall, LLMResponse, MockLLMProvider
from framework.testing.fakes import FakeRecorder

StepFactory = Callable[..., PlanStep]
PlanFactory = Callable[..., Plan]


def _recording(order: list[str], *names: str) -> dict[str, Callable[..., Any]]:
    """Functions that append their name to ``order`` and return ``{"value": name}``."""

    def make(name: str) -> Callable[..., Any]:
        async def record(**_: Any) -> dict[str, str]:
            order.append(name)
            return {"value": name}

        return record

    return {name: make(name) for name in names}


class Overlap:
    """A step function that measures how many of its calls ever ran at the same time."""

    def __init__(self) -> None:
        self.running = 0
        self.most = 0

    async def work(self) -> None:
        self.running += 1
        self.most = max(self.most, self.running)
        await anyio.sleep(0.01)
        self.running -= 1


def _executor(functions: dict[str, Callable[..., Any]], **kwargs: Any) -> FlexibleGraphExecutor:
    return FlexibleGraphExecutor(None, functions=functions, **kwargs)


# --- scheduling -------------------------------------------------------------------------


async def test_function_plan_completes_in_dependency_order(
    fn_step: StepFactory, make_plan: PlanFactory, goal: Goal
) -> None:
    order: list[str] = []
    plan = make_plan(
        fn_step("report", dependencies=["clean", "stats"]),
        fn_step("stats", dependencies=["load"]),
        fn_step("clean", dependencies=["load"]),
        fn_step("load"),
    )

    result = await _executor(_recording(order, "load", "clean", "stats", "report")).execute_plan(
        plan, goal
    )

    assert result.status is ExecutionStatus.COMPLETED
    assert order == ["load", "stats", "clean", "report"]
    assert result.completed_steps == ["report", "stats", "clean", "load"]
    assert result.results["report"] == {"value": "report"}
    assert result.steps_executed == 4
    assert result.plan.is_complete()
    assert all(step.attempts == 1 for step in result.plan.steps)


async def test_step_outputs_flow_through_references(
    fn_step: StepFactory, make_plan: PlanFactory, goal: Goal
) -> None:
    def fetch(url: str) -> dict[str, str]:
        return {"body": f"<{url}>"}

    async def shout(text: str, suffix: str) -> str:
        return text.upper() + suffix

    plan = make_plan(
        fn_step("fetch", inputs={"url": "$start_url"}),
        fn_step(
            "shout",
            inputs={"text": "$fetch.body"},
            function_args={"suffix": "!"},
            dependencies=["fetch"],
            expected_outputs=["loud"],
        ),
        context={"start_url": "a.example"},
    )

    result = await _executor({"fetch": fetch, "shout": shout}).execute_plan(
        plan, goal, {"start_url": "b.example"}
    )

    assert result.results == {"fetch": {"body": "<b.example>"}, "shout": {"loud": "<B.EXAMPLE>!"}}


async def test_steps_overlap_when_two_may_run_in_parallel(
    fn_step: StepFactory, make_plan: PlanFactory, goal: Goal
) -> None:
    left_started, right_started = anyio.Event(), anyio.Event()

    async def left() -> str:
        left_started.set()
        await right_started.wait()
        return "left"

    async def right() -> str:
        right_started.set()
        await left_started.wait()
        return "right"

    executor = _executor(
        {"left": left, "right": right}, config=ExecutorConfig(max_parallel_steps=2)
    )

    with anyio.fail_after(5):
        result = await executor.execute_plan(make_plan(fn_step("left"), fn_step("right")), goal)

    assert result.status is ExecutionStatus.COMPLETED
    assert result.results == {"left": {"result": "left"}, "right": {"result": "right"}}


async def test_steps_never_overlap_with_one_parallel_slot(
    fn_step: StepFactory, make_plan: PlanFactory, goal: Goal
) -> None:
    overlap = Overlap()

    plan = make_plan(*(fn_step(f"s{i}", "work") for i in range(4)))

    result = await _executor({"work": overlap.work}).execute_plan(plan, goal)

    assert result.status is ExecutionStatus.COMPLETED
    assert overlap.most == 1


async def test_parallel_slots_are_never_exceeded(
    fn_step: StepFactory, make_plan: PlanFactory, goal: Goal
) -> None:
    overlap = Overlap()

    plan = make_plan(*(fn_step(f"s{i}", "work") for i in range(6)))
    executor = _executor({"work": overlap.work}, config=ExecutorConfig(max_parallel_steps=3))

    result = await executor.execute_plan(plan, goal)

    assert result.steps_executed == 6
    assert overlap.most == 3


async def test_caller_plan_is_not_changed(
    fn_step: StepFactory, make_plan: PlanFactory, goal: Goal
) -> None:
    plan = make_plan(fn_step("a"))

    result = await _executor(_recording([], "a")).execute_plan(plan, goal)

    assert plan.steps[0].status is StepStatus.PENDING
    assert result.plan.steps[0].status is StepStatus.COMPLETED


async def test_invalid_plan_or_clashing_context_is_refused_before_running(
    fn_step: StepFactory, make_plan: PlanFactory, goal: Goal
) -> None:
    order: list[str] = []
    executor = _executor(_recording(order, "a"))

    with pytest.raises(GraphValidationError, match="depends on missing step 'ghost'"):
        await executor.execute_plan(make_plan(fn_step("a", dependencies=["ghost"])), goal)
    with pytest.raises(PlanExecutionError, match=r"context keys \['a'\]"):
        await executor.execute_plan(make_plan(fn_step("a")), goal, {"a": 1})
    assert order == []


# --- approvals --------------------------------------------------------------------------


async def test_approved_step_runs(fn_step: StepFactory, make_plan: PlanFactory, goal: Goal) -> None:
    order: list[str] = []
    requests: list[ApprovalRequest] = []

    def approve(request: ApprovalRequest) -> ApprovalResult:
        requests.append(request)
        return ApprovalResult(decision=ApprovalDecision.APPROVE)

    plan = make_plan(
        fn_step("pay", requires_approval=True, approval_message="Pay 5 EUR?", inputs={"eur": 5})
    )
    executor = _executor(_recording(order, "pay"), approval_callback=approve)

    result = await executor.execute_plan(plan, goal)

    assert result.status is ExecutionStatus.COMPLETED
    assert order == ["pay"]
    assert [(r.step_id, r.message, r.inputs) for r in requests] == [
        ("pay", "Pay 5 EUR?", {"eur": 5})
    ]


async def test_rejected_step_skips_its_dependents_and_the_rest_continues(
    fn_step: StepFactory, make_plan: PlanFactory, goal: Goal
) -> None:
    order: list[str] = []

    async def reject(request: ApprovalRequest) -> ApprovalResult:
        return ApprovalResult(decision=ApprovalDecision.REJECT, reason="too risky")

    plan = make_plan(
        fn_step("load"),
        fn_step("delete", requires_approval=True, dependencies=["load"]),
        fn_step("notify", dependencies=["delete"]),
        fn_step("audit", dependencies=["notify"]),
        fn_step("report", dependencies=["load"]),
    )
    functions = _recording(order, "load", "delete", "notify", "audit", "report")

    result = await _executor(functions, approval_callback=reject).execute_plan(plan, goal)

    assert result.status is ExecutionStatus.REJECTED
    assert order == ["load", "report"]
    assert result.completed_steps == ["load", "report"]
    assert result.skipped_steps == ["notify", "audit"]
    assert result.plan.get_step("delete").status is StepStatus.REJECTED  # type: ignore[union-attr]
    assert result.errors == {"delete": "rejected: too risky"}


async def test_modified_step_runs_with_the_modifications(
    fn_step: StepFactory, make_plan: PlanFactory, goal: Goal
) -> None:
    calls: list[tuple[str, int]] = []

    def send(amount: int) -> None:
        calls.append(("send", amount))

    def send_safely(amount: int) -> None:
        calls.append(("send_safely", amount))

    def modify(request: ApprovalRequest) -> ApprovalResult:
        return ApprovalResult(
            decision=ApprovalDecision.MODIFY,
            modifications={"inputs": {"amount": 10}, "action": {"function_name": "send_safely"}},
        )

    plan = make_plan(fn_step("send", requires_approval=True, inputs={"amount": 1000}))
    executor = _executor({"send": send, "send_safely": send_safely}, approval_callback=modify)

    result = await executor.execute_plan(plan, goal)

    assert result.status is ExecutionStatus.COMPLETED
    assert calls == [("send_safely", 10)]
    assert result.plan.steps[0].inputs == {"amount": 10}


async def test_abort_stops_the_plan(
    fn_step: StepFactory, make_plan: PlanFactory, goal: Goal
) -> None:
    order: list[str] = []

    def abort(request: ApprovalRequest) -> ApprovalResult:
        return ApprovalResult(decision=ApprovalDecision.ABORT, reason="wrong customer")

    plan = make_plan(
        fn_step("load"),
        fn_step("charge", requires_approval=True, dependencies=["load"]),
        fn_step("later", dependencies=["load"]),
    )

    result = await _executor(
        _recording(order, "load", "charge", "later"), approval_callback=abort
    ).execute_plan(plan, goal)

    assert result.status is ExecutionStatus.ABORTED
    assert result.feedback == "wrong customer"
    assert order == ["load"]
    assert result.plan.get_step("later").status is StepStatus.PENDING  # type: ignore[union-attr]


async def test_without_a_callback_the_plan_awaits_approval_then_resumes(
    fn_step: StepFactory, make_plan: PlanFactory, goal: Goal
) -> None:
    order: list[str] = []
    functions = _recording(order, "load", "publish", "other", "after")
    plan = make_plan(
        fn_step("load"),
        fn_step("publish", requires_approval=True, dependencies=["load"]),
        fn_step("other"),
        fn_step("after", dependencies=["publish"]),
    )

    waiting = await _executor(functions).execute_plan(plan, goal)

    assert waiting.status is ExecutionStatus.AWAITING_APPROVAL
    assert [request.step_id for request in waiting.pending_approvals] == ["publish"]
    assert waiting.plan.get_step("publish").status is StepStatus.AWAITING_APPROVAL  # type: ignore[union-attr]
    assert order == ["load", "other"]

    def approve(request: ApprovalRequest) -> ApprovalResult:
        return ApprovalResult(decision=ApprovalDecision.APPROVE)

    done = await _executor(functions, approval_callback=approve).execute_plan(waiting.plan, goal)

    assert done.status is ExecutionStatus.COMPLETED
    assert order == ["load", "other", "publish", "after"]
    assert done.steps_executed == 2
    assert set(done.results) == {"load", "publish", "other", "after"}


@pytest.mark.parametrize("answer", ["yes", None])
async def test_an_invalid_approval_answer_fails_the_plan_without_running_the_step(
    fn_step: StepFactory, make_plan: PlanFactory, goal: Goal, answer: Any
) -> None:
    order: list[str] = []

    def confused(request: ApprovalRequest) -> Any:
        return answer

    plan = make_plan(fn_step("risky", requires_approval=True))

    result = await _executor(_recording(order, "risky"), approval_callback=confused).execute_plan(
        plan, goal
    )

    assert result.status is ExecutionStatus.FAILED
    assert result.failed_step == "risky"
    assert "must return an ApprovalResult" in result.feedback
    assert order == []


async def test_an_invalid_modification_fails_the_plan(
    fn_step: StepFactory, make_plan: PlanFactory, goal: Goal
) -> None:
    def modify(request: ApprovalRequest) -> ApprovalResult:
        return ApprovalResult(
            decision=ApprovalDecision.MODIFY, modifications={"action": {"action_type": "magic"}}
        )

    plan = make_plan(fn_step("risky", requires_approval=True))

    result = await _executor(_recording([], "risky"), approval_callback=modify).execute_plan(
        plan, goal
    )

    assert result.status is ExecutionStatus.FAILED
    assert "modified action of step 'risky' is invalid" in result.feedback


# --- judging, retries and replans -------------------------------------------------------


async def test_failing_step_is_retried_then_succeeds(
    fn_step: StepFactory, make_plan: PlanFactory, goal: Goal
) -> None:
    attempts = 0

    def flaky() -> str:
        nonlocal attempts
        attempts += 1
        if attempts < 3:
            raise ConnectionError("reset by peer")
        return "ok"

    result = await _executor({"flaky": flaky}).execute_plan(make_plan(fn_step("flaky")), goal)

    assert result.status is ExecutionStatus.COMPLETED
    assert result.results == {"flaky": {"result": "ok"}}
    assert result.steps_executed == 3
    assert result.plan.steps[0].attempts == 3
    assert result.errors == {}


async def test_exhausted_retries_return_needs_replan_with_feedback(
    fn_step: StepFactory, make_plan: PlanFactory, goal: Goal
) -> None:
    order: list[str] = []

    def broken() -> None:
        order.append("broken")
        raise ValueError("schema mismatch")

    functions = {**_recording(order, "after"), "broken": broken}
    plan = make_plan(fn_step("broken", max_retries=1), fn_step("after", dependencies=["broken"]))

    result = await _executor(functions).execute_plan(plan, goal)

    assert result.status is ExecutionStatus.NEEDS_REPLAN
    assert result.failed_step == "broken"
    assert result.feedback == "step 'broken' failed after 2 attempts: ValueError: schema mismatch"
    assert result.errors == {"broken": "ValueError: schema mismatch"}
    assert order == ["broken", "broken"]
    feedback = result.plan.to_feedback_context()
    assert feedback["failed"] == {"broken": {"error": "ValueError: schema mismatch", "attempts": 2}}
    assert feedback["remaining"] == ["after"]


async def test_executor_retry_cap_fails_the_plan(
    fn_step: StepFactory, make_plan: PlanFactory, goal: Goal
) -> None:
    def broken() -> None:
        raise TimeoutError("slow")

    executor = _executor({"broken": broken}, config=ExecutorConfig(max_retries_per_step=1))

    result = await executor.execute_plan(make_plan(fn_step("broken", max_retries=5)), goal)

    assert result.status is ExecutionStatus.FAILED
    assert result.steps_executed == 2
    assert "still failing after 2 attempts (max_retries_per_step=1)" in result.feedback


async def test_judge_rule_can_escalate_a_successful_step(
    fn_step: StepFactory, make_plan: PlanFactory, goal: Goal
) -> None:
    def score() -> dict[str, float]:
        return {"score": 0.2}

    rule = EvaluationRule(
        id="low-score",
        condition="outputs['score'] < 0.5",
        action=JudgmentAction.ESCALATE,
        feedback_template="score too low: {outputs}",
    )
    executor = _executor({"score": score}, judge=HybridJudge(rules=[rule]))

    result = await executor.execute_plan(make_plan(fn_step("score")), goal)

    assert result.status is ExecutionStatus.NEEDS_ESCALATION
    assert result.feedback == 'score too low: {"score": 0.2}'
    assert result.failed_step == "score"


async def test_steps_in_flight_finish_when_another_step_stops_the_plan(
    fn_step: StepFactory, make_plan: PlanFactory, goal: Goal
) -> None:
    order: list[str] = []
    failed = anyio.Event()

    async def fails() -> None:
        failed.set()
        raise ValueError("no")

    async def slow() -> str:
        await failed.wait()
        order.append("slow")
        return "done"

    plan = make_plan(
        fn_step("fails", max_retries=0),
        fn_step("slow"),
        fn_step("never", dependencies=["slow"]),
    )
    functions = {**_recording(order, "never"), "fails": fails, "slow": slow}
    executor = _executor(functions, config=ExecutorConfig(max_parallel_steps=2))

    with anyio.fail_after(5):
        result = await executor.execute_plan(plan, goal)

    assert result.status is ExecutionStatus.NEEDS_REPLAN
    assert order == ["slow"]
    assert result.completed_steps == ["slow"]


async def test_llm_steps_and_llm_judge_tokens_are_totalled(
    make_plan: PlanFactory, goal: Goal
) -> None:
    worker_llm = MockLLMProvider([LLMResponse(content="draft", input_tokens=10, output_tokens=5)])
    verdict = '{"action": "accept", "reasoning": "fine", "confidence": 0.95}'
    judge_llm = MockLLMProvider([LLMResponse(content=verdict, input_tokens=20, output_tokens=3)])
    step = PlanStep(
        id="write",
        description="write a draft",
        action=ActionSpec(action_type=ActionType.LLM_CALL, prompt="Write about {topic}"),
        inputs={"topic": "$topic"},
    )
    executor = FlexibleGraphExecutor(None, llm=worker_llm, judge=HybridJudge(llm=judge_llm))

    result = await executor.execute_plan(make_plan(step), goal, {"topic": "tides"})

    assert result.status is ExecutionStatus.COMPLETED
    assert result.results == {"write": {"result": "draft"}}
    assert result.total_tokens == 38
    assert worker_llm.calls[0].prompt == "Write about tides"


async def test_a_plans_totals_are_every_model_attempt_of_its_steps_and_its_judge(
    make_plan: PlanFactory, goal: Goal
) -> None:
    refused = LLMAttempt(model="m", status_code=500, error="HTTP 500", cost=0.0)
    billed = LLMAttempt(model="m", input_tokens=7, output_tokens=3, error="malformed", cost=0.001)
    answered = LLMAttempt(model="m", input_tokens=10, output_tokens=5, cost=0.002)
    failed_for_good = LLMCallError(
        "model 'm' failed after 2 attempts", [refused, billed], retryable=True
    )
    draft = LLMResponse(content="draft", attempts=[refused, answered], cost=0.002)
    calls = iter([failed_for_good, draft])

    def worker(call: LLMCall) -> LLMResponse:
        step = next(calls)
        if isinstance(step, Exception):
            raise step
        return step

    retry = '{"action": "retry", "reasoning": "try again", "confidence": 0.95}'
    accept = '{"action": "accept", "reasoning": "fine", "confidence": 0.95}'
    verdicts = [LLMResponse(content=v, attempts=[answered], cost=0.002) for v in (retry, accept)]
    step = PlanStep(
        id="write",
        description="write a draft",
        action=ActionSpec(action_type=ActionType.LLM_CALL, prompt="Write about {topic}"),
        inputs={"topic": "$topic"},
    )
    executor = FlexibleGraphExecutor(
        None,
        llm=MockLLMProvider(worker),
        judge=HybridJudge(llm=MockLLMProvider(verdicts)),
        config=ExecutorConfig(retry_delay=0),
    )

    result = await executor.execute_plan(make_plan(step), goal, {"topic": "tides"})

    assert result.status is ExecutionStatus.COMPLETED
    assert result.results == {"write": {"result": "draft"}}
    # Attempt 1: a call that failed for good (its billed attempt counts) and a verdict;
    # attempt 2: a call answered after a 500, and a verdict.
    assert result.total_tokens == 10 + 15 + 15 + 15
    assert result.total_cost == pytest.approx(0.001 + 0.002 + 0.002 + 0.002)


async def test_sub_graph_step_runs_inside_a_plan(make_plan: PlanFactory, goal: Goal) -> None:
    graph = GraphSpec(
        id="g",
        entry_node="double",
        nodes=[
            NodeSpec(id="double", name="d", description="", input_keys=["x"], output_keys=["y"]),
            NodeSpec(id="square", name="s", description="", input_keys=["y"], output_keys=["z"]),
        ],
        edges=[EdgeSpec(id="e", source="double", target="square")],
    )
    step = PlanStep(
        id="calc",
        action=ActionSpec(action_type=ActionType.SUB_GRAPH, graph_id="g"),
        inputs={"x": 3},
        expected_outputs=["z"],
    )
    functions = {"double": lambda x: 2 * x, "square": lambda y: y * y}
    executor = FlexibleGraphExecutor(None, functions=functions, graphs={"g": graph})

    result = await executor.execute_plan(make_plan(step), goal)

    assert result.status is ExecutionStatus.COMPLETED
    assert result.results["calc"] == {"x": 3, "y": 6, "z": 36}


async def test_runtime_receives_a_decision_and_outcome_per_attempt(
    fn_step: StepFactory, make_plan: PlanFactory, goal: Goal, recorder: FakeRecorder
) -> None:
    attempts = 0

    def flaky() -> str:
        nonlocal attempts
        attempts += 1
        if attempts == 1:
            raise TimeoutError("first try")
        return "ok"

    def approve(request: ApprovalRequest) -> ApprovalResult:
        return ApprovalResult(decision=ApprovalDecision.APPROVE, reason="looks fine")

    plan = make_plan(fn_step("flaky", requires_approval=True))
    executor = FlexibleGraphExecutor(
        recorder, functions={"flaky": flaky}, approval_callback=approve
    )

    result = await executor.execute_plan(plan, goal, {"who": "me"})

    assert result.run_id == "run-1"
    assert recorder.methods() == [
        "start_run",
        "decide",
        "decide",
        "record_outcome",
        "decide",
        "record_outcome",
        "end_run",
    ]
    assert [(s["goal_id"], s["input_data"]) for s in recorder.of("start_run")] == [
        ("goal-1", {"who": "me"})
    ]
    approval = recorder.of("decide")[0]
    assert (approval["chosen"], approval["reasoning"]) == ("approve", "looks fine")
    outcomes = recorder.of("record_outcome")
    assert [(o["decision_id"], o["success"]) for o in outcomes] == [
        ("decision-2", False),
        ("decision-3", True),
    ]
    assert outcomes[0]["summary"].startswith("judged retry")
    end = recorder.of("end_run")[0]
    assert (end["run_id"], end["success"]) == ("run-1", True)
    assert end["output_data"] == {"flaky": {"result": "ok"}}
