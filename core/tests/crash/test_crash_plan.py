"""A twelve-step plan run by FlexibleGraphExecutor survives real SIGKILLs at random moments.

The child process runs the plan under one run id; after each kill (random delay or a
storage fault point) it is started again with the same run id and continues from the
stored plan. Every third step sends a receipt through ``ctx.effect``; none is applied
twice and the ledger ends with each completed. Replay a failure with
``CRASH_SEED=<seed printed>``.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from crash_child import PLAN_EFFECT_STEPS, PLAN_SHAPE
from crash_harness import Campaign, Scenario, check_effects, done_order

pytestmark = pytest.mark.slow

SEED = int(os.environ.get("CRASH_SEED", "1717"))
KILLS = 25
FAULT_POINTS = ("sqlite.before_commit", "sqlite.after_commit")
EFFECT_KEYS = [f"{step}:receipt" for step in PLAN_EFFECT_STEPS]


def test_twelve_step_plan_completes_exactly_once_through_repeated_sigkills(
    tmp_path: Path,
) -> None:
    reference = Scenario("plan", tmp_path / "uninterrupted")
    assert reference.live().returncode == 0, reference.lives[0].stderr
    expected = reference.report()
    assert expected["success"], expected["error"]
    order = done_order(reference.text("nodes.log"))
    assert sorted(order) == sorted(PLAN_SHAPE)
    for step, dependencies in PLAN_SHAPE.items():
        assert all(order.index(dep) < order.index(step) for dep in dependencies)
    assert check_effects(reference, EFFECT_KEYS) == []

    campaign = Campaign("plan", tmp_path, SEED, order, EFFECT_KEYS, expected)
    landed = campaign.run(kills=KILLS, max_delay=0.25, fault_points=FAULT_POINTS, max_countdown=20)
    assert landed >= KILLS
    assert campaign.killed_inside_a_write(), "no kill inside a write"
