"""A twenty-node agent run by AgentRunner survives real SIGKILLs, on SQLite and file storage.

The child process is killed again and again — after random delays and inside storage
writes (fault points) — and restarted until its run completes; each restart finds the
run and continues it by itself. Replay a failure with ``CRASH_SEED=<seed printed>``.
"""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest
from crash_harness import (
    Scenario,
    check_effects,
    check_exactly_once,
    check_loaded_checkpoints,
    crash_until_complete,
    done_order,
)

pytestmark = pytest.mark.slow

SEED = int(os.environ.get("CRASH_SEED", "4242"))
ORDER = [f"n{number:02d}" for number in range(1, 21)]
EFFECT_KEYS = [f"{node}:receipt" for node in ORDER[3::4]]
# storage -> (kills, the storage's fault points; "*" counts every write step)
STORAGES = {
    "sqlite": (17, ("sqlite.before_commit", "sqlite.after_commit")),
    "file": (8, ("*", "file.record.temp_written", "file.record.renamed", "file.index.renamed")),
}


@pytest.mark.parametrize("storage", list(STORAGES))
def test_twenty_node_agent_run_completes_exactly_once_through_repeated_sigkills(
    tmp_path: Path, storage: str
) -> None:
    kills_wanted, fault_points = STORAGES[storage]
    reference = Scenario("graph", tmp_path / "uninterrupted", storage)
    assert reference.live().returncode == 0, reference.lives[0].stderr
    expected = reference.report()
    assert expected["success"], expected["error"]
    assert done_order(reference.text("nodes.log")) == ORDER
    assert check_effects(reference, EFFECT_KEYS) == []

    rng = random.Random(SEED)
    kills = 0
    scenarios = []
    while kills < kills_wanted:
        scenario = Scenario("graph", tmp_path / f"crashed-{len(scenarios)}", storage)
        scenarios.append(scenario)
        crash_until_complete(
            scenario,
            rng,
            kills=kills_wanted - kills,
            max_delay=0.3,
            fault_points=fault_points,
            fault_share=0.35,
            max_countdown=30,
        )
        kills += scenario.kills
        context = f"seed {SEED}, {storage} scenario {len(scenarios) - 1}:\n{scenario.describe()}"
        report = scenario.report()
        node_log = scenario.text("nodes.log")
        assert report["success"], f"{report['error']}\n{context}"
        assert report["status"] == "completed", context
        assert check_exactly_once(node_log, ORDER) == [], f"{node_log}\n{context}"
        assert done_order(node_log) == ORDER, context
        assert check_effects(scenario, EFFECT_KEYS) == [], context
        assert report["output"] == expected["output"], context
        assert check_loaded_checkpoints(scenario.lives) == [], context
        assert report["corrupt"] == [], context
        assert report["final_kind"] == "final", context
    assert kills >= kills_wanted
    assert any(
        life.how.startswith("fault point") and life.killed
        for scenario in scenarios
        for life in scenario.lives
    ), "no kill inside a write"
