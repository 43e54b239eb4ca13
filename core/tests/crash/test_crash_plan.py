"""A twelve-step plan run by FlexibleGraphExecutor survives real SIGKILLs at random moments.

The child process runs the plan under one run id; after each kill (random delay or a
storage fault point) it is started again with the same run id and continues from the
stored plan. Every third step sends a receipt through ``ctx.effect``; none is applied
twice and the ledger ends with each completed. Replay a failure with
``CRASH_SEED=<seed printed>``.
"""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest
from crash_child import PLAN_EFFECT_STEPS, PLAN_SHAPE
from crash_harness import (
    Scenario,
    check_effects,
    check_exactly_once,
    check_loaded_checkpoints,
    crash_until_complete,
    done_order,
)

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

    rng = random.Random(SEED)
    kills = 0
    scenarios = 0
    while kills < KILLS:
        scenario = Scenario("plan", tmp_path / f"crashed-{scenarios}")
        scenarios += 1
        crash_until_complete(
            scenario,
            rng,
            kills=KILLS - kills,
            max_delay=0.25,
            fault_points=FAULT_POINTS,
            fault_share=0.35,
            max_countdown=20,
        )
        kills += scenario.kills
        context = f"seed {SEED}, scenario {scenarios - 1}:\n{scenario.describe()}"
        report = scenario.report()
        node_log = scenario.text("nodes.log")
        assert report["success"], f"{report['error']}\n{context}"
        assert report["status"] == "completed", context
        assert check_exactly_once(node_log, order) == [], f"{node_log}\n{context}"
        assert done_order(node_log) == order, context
        assert check_effects(scenario, EFFECT_KEYS) == [], context
        assert report["output"] == expected["output"], context
        assert check_loaded_checkpoints(scenario.lives) == [], context
        assert report["corrupt"] == [], context
        assert report["final_kind"] == "final", context
    assert kills >= KILLS
