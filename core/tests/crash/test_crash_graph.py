"""A twenty-node agent run by AgentRunner survives real SIGKILLs, on SQLite, file and
PostgreSQL storage.

The child process is killed again and again — after random delays and inside storage
writes (fault points) — and restarted until its run completes; each restart finds the
run and continues it by itself. Replay a failure with ``CRASH_SEED=<seed printed>``.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from crash_harness import Campaign, Scenario, check_effects, done_order

pytestmark = pytest.mark.slow

SEED = int(os.environ.get("CRASH_SEED", "4242"))
ORDER = [f"n{number:02d}" for number in range(1, 21)]
EFFECT_KEYS = [f"{node}:receipt" for node in ORDER[3::4]]
# storage -> (kills, the storage's fault points; "*" counts every write step)
STORAGES = {
    "sqlite": (17, ("sqlite.before_commit", "sqlite.after_commit")),
    "file": (8, ("*", "file.record.temp_written", "file.record.renamed", "file.index.renamed")),
    "postgres": (10, ("postgres.before_commit", "postgres.after_commit")),
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

    campaign = Campaign("graph", tmp_path, SEED, ORDER, EFFECT_KEYS, expected, storage)
    landed = campaign.run(
        kills=kills_wanted, max_delay=0.3, fault_points=fault_points, max_countdown=30
    )
    assert landed >= kills_wanted
    assert campaign.killed_inside_a_write(), "no kill inside a write"
