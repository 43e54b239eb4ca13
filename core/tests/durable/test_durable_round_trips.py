"""The checkpoint path's cost in storage calls: one write per node, control read with it.

A durable run commits each checkpoint, the run record's progress and the lease's fencing
check in one storage call (``acommit_step``), which also reads the pending control
request; between checkpoint writes storage is asked for a request at most every
``control_poll_interval``.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from durable_helpers import GOAL, NodeLog, chain, executor_for

from framework.durable import CheckpointManager
from framework.schemas import RunStatus
from framework.storage import MemoryStorage

NODES = 30


class CountingStorage(MemoryStorage):
    """Counts every call of an async contract method."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: Counter[str] = Counter()

    def __getattribute__(self, name: str) -> Any:
        if name.startswith("a") and not name.startswith("_") and name != "assert_open":
            calls = super().__getattribute__("calls")
            calls[name] += 1
        return super().__getattribute__(name)


async def test_a_durable_run_makes_one_storage_call_per_node() -> None:
    storage = CountingStorage()
    manager = CheckpointManager(storage)
    executor = executor_for(chain(NODES), NodeLog(), manager)

    result = await executor.execute(chain(NODES), GOAL, {"seed": "s"}, run_id="r")

    assert result.run_status is RunStatus.COMPLETED
    calls = storage.calls
    assert calls["acommit_step"] == NODES + 1  # every node, then the final checkpoint
    per_node = {"aget_control", "asave_checkpoint", "aprune_checkpoints", "aupdate_run"}
    assert sum(calls[name] for name in per_node) <= 3, calls
    assert sum(calls.values()) <= NODES + 10, calls


async def test_between_checkpoints_control_is_read_at_most_every_poll_interval() -> None:
    storage = CountingStorage()
    manager = CheckpointManager(storage, {"save_frequency": "on_request"})
    executor = executor_for(chain(NODES), NodeLog(), manager)

    result = await executor.execute(chain(NODES), GOAL, {"seed": "s"}, run_id="r")

    assert result.run_status is RunStatus.COMPLETED
    assert storage.calls["aget_control"] <= 2, storage.calls


async def test_a_pause_requested_mid_run_is_honoured_at_the_next_boundary_it_is_seen() -> None:
    storage = MemoryStorage()
    manager = CheckpointManager(
        storage, {"save_frequency": "on_request", "control_poll_interval": 0}
    )
    log = NodeLog()
    executor = executor_for(chain(NODES), log, manager)
    original = log.function("n5", "n4")

    def n5(**memory: Any) -> Any:  # asks for a pause while it runs
        manager.storage.request_control("r", "pause", "look at n5")
        return original(**memory)

    executor.register_function("n5", n5)

    result = await executor.execute(chain(NODES), GOAL, {"seed": "s"}, run_id="r")

    assert result.run_status is RunStatus.PAUSED
    assert result.path[-1] == "n5"
    assert "n6" not in log.calls
