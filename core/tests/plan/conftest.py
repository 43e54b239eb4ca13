"""Shared fixtures for the plan tests: a goal, step and plan builders.

The ``recorder`` fixture is the whole suite's (``core/tests/conftest.py``).

Helpers are handed out as fixtures rather than imported, because several test folders
have a conftest.py and a plain ``import conftest`` could pick up the wrong one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from framework.graph import ActionSpec, ActionType, Plan, PlanStep
from framework.graph.goal import Goal


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
def fn_step() -> Callable[..., PlanStep]:
    """``fn_step("a", dependencies=["b"])``: a FUNCTION step calling the function ``a``."""
    return _function_step


@pytest.fixture
def make_plan() -> Callable[..., Plan]:
    """``make_plan(step, ...)``: a plan with id ``plan-1`` for goal ``goal-1``."""
    return _make_plan
