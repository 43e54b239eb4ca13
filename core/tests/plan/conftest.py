"""Shared fixtures for the plan tests: a goal, step and plan builders, a recording runtime.

Helpers are handed out as fixtures rather than imported, because several test folders
have a conftest.py and a plain ``import conftest`` could pick up the wrong one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from framework.graph import ActionSpec, ActionType, Plan, PlanStep
from framework.graph.goal import Goal


class FakeRuntime:
    """Records every call the executors make to the runtime's decision log."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def start_run(self, goal_id: str, goal_description: str = "", input_data: Any = None) -> str:
        self.calls.append(("start_run", {"goal_id": goal_id, "input_data": input_data}))
        return f"run-{sum(1 for name, _ in self.calls if name == 'start_run')}"

    def decide(self, run_id: str, **kwargs: Any) -> str:
        self.calls.append(("decide", {"run_id": run_id, **kwargs}))
        return f"d{sum(1 for name, _ in self.calls if name == 'decide')}"

    def record_outcome(self, run_id: str, decision_id: str, **kwargs: Any) -> None:
        self.calls.append(
            ("record_outcome", {"run_id": run_id, "decision_id": decision_id, **kwargs})
        )

    def report_problem(self, run_id: str, **kwargs: Any) -> str:
        self.calls.append(("report_problem", {"run_id": run_id, **kwargs}))
        return "p1"

    def end_run(self, run_id: str, **kwargs: Any) -> None:
        self.calls.append(("end_run", {"run_id": run_id, **kwargs}))

    def named(self, name: str) -> list[dict[str, Any]]:
        return [kwargs for call, kwargs in self.calls if call == name]


def _function_step(step_id: str, function: str | None = None, **fields: Any) -> PlanStep:
    """A FUNCTION step calling ``function`` (default: the step id)."""
    args = fields.pop("function_args", {})
    action = ActionSpec(
        action_type=ActionType.FUNCTION, function_name=function or step_id, function_args=args
    )
    return PlanStep(id=step_id, description=f"step {step_id}", action=action, **fields)


def _make_plan(*steps: PlanStep, **fields: Any) -> Plan:
    return Plan(id="plan-1", goal_id="goal-1", steps=list(steps), **fields)


@pytest.fixture
def goal() -> Goal:
    return Goal(id="goal-1", name="Test goal", description="Finish the test plan")


@pytest.fixture
def runtime() -> FakeRuntime:
    return FakeRuntime()


@pytest.fixture
def fn_step() -> Callable[..., PlanStep]:
    """``fn_step("a", dependencies=["b"])``: a FUNCTION step calling the function ``a``."""
    return _function_step


@pytest.fixture
def make_plan() -> Callable[..., Plan]:
    """``make_plan(step, ...)``: a plan with id ``plan-1`` for goal ``goal-1``."""
    return _make_plan
