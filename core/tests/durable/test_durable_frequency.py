"""When durable graph runs write checkpoints: save frequency, requests and durability."""

from __future__ import annotations

from typing import Any

import anyio
import pytest
from durable_helpers import GOAL, Crash, NodeLog, chain, executor_for, kinds

from framework.graph.checkpoint_manager import CheckpointManager
from framework.graph.node import NodeContext
from framework.schemas.run import RunStatus
from framework.storage import MemoryStorage
from framework.storage.backend import StorageBackend

SEED = {"seed": "s"}


def manager_with(storage: StorageBackend, **config: Any) -> CheckpointManager:
    return CheckpointManager(storage, {"retention_strategy": "all", **config})


async def test_every_node_writes_start_one_per_node_and_final(
    storage: StorageBackend, log: NodeLog
) -> None:
    graph = chain(4)
    await executor_for(graph, log, manager_with(storage)).execute(graph, GOAL, SEED, run_id="r")

    assert kinds(storage, "r") == ["start", *["node_complete"] * 3, "final"]
    steps = [meta.step_number for meta in storage.list_checkpoints("r")]
    assert steps == [0, 1, 2, 3, 4]
    start = storage.load_checkpoint("r", storage.list_checkpoints("r")[0].id)
    assert start is not None
    assert start.memory_snapshot == SEED and start.next_node_id == "n1"


async def test_every_n_nodes_checkpoints_each_nth_step(
    storage: StorageBackend, log: NodeLog
) -> None:
    graph = chain(5)
    manager = manager_with(storage, save_frequency="every_n_nodes", n_nodes=2)

    await executor_for(graph, log, manager).execute(graph, GOAL, SEED, run_id="r")

    metas = storage.list_checkpoints("r")
    assert [str(m.kind) for m in metas] == ["start", "node_complete", "node_complete", "final"]
    assert [m.step_number for m in metas] == [0, 2, 4, 5]


async def test_on_request_writes_only_requested_checkpoints_with_their_metadata(
    storage: StorageBackend, log: NodeLog
) -> None:
    graph = chain(4)
    manager = manager_with(storage, save_frequency="on_request")
    executor = executor_for(graph, log, manager)

    def reviewed(ctx: NodeContext) -> str:
        ctx.request_checkpoint(metadata={"why": "after review", "by": "n2"})
        return "ok"

    executor.register_function("n2", reviewed)

    await executor.execute(graph, GOAL, SEED, run_id="r")

    metas = storage.list_checkpoints("r")
    assert [str(m.kind) for m in metas] == ["start", "requested", "final"]
    requested = storage.load_checkpoint("r", metas[1].id)
    assert requested is not None
    assert requested.metadata == {"why": "after review", "by": "n2"}
    assert requested.execution_path == ["n1", "n2"] and requested.next_node_id == "n3"


async def test_exit_durability_writes_only_when_the_run_stops(
    storage: StorageBackend, log: NodeLog
) -> None:
    graph = chain(4)
    manager = manager_with(storage, durability="exit")

    await executor_for(graph, log, manager).execute(graph, GOAL, SEED, run_id="r")

    assert kinds(storage, "r") == ["start", "final"]


async def test_exit_durability_keeps_the_state_before_a_failing_node(
    storage: StorageBackend, log: NodeLog
) -> None:
    graph = chain(4)
    manager = manager_with(storage, durability="exit")
    log.fail_at = "n3"

    await executor_for(graph, log, manager).execute(graph, GOAL, SEED, run_id="r")

    assert kinds(storage, "r") == ["start", "node_complete"]
    kept = storage.load_latest_checkpoint("r")
    assert kept is not None and kept.execution_path == ["n1", "n2"]
    assert kept.next_node_id == "n3"


async def test_exit_durability_loses_the_progress_of_a_crash(
    storage: StorageBackend, log: NodeLog
) -> None:
    graph = chain(3)
    manager = manager_with(storage, durability="exit")
    log.crash_at = "n3"
    with pytest.raises(Crash):
        await executor_for(graph, log, manager).execute(graph, GOAL, SEED, run_id="r")

    result = await executor_for(graph, log, manager).execute(graph, GOAL, run_id="r")

    assert log.calls == ["n1", "n2", "n1", "n2", "n3"]  # restarted from its START checkpoint
    assert result.run_status is RunStatus.COMPLETED


async def test_async_durability_writes_every_checkpoint_before_the_status_changes(
    storage: StorageBackend, log: NodeLog
) -> None:
    graph = chain(5, pause_nodes=["n3"])
    manager = manager_with(storage, durability="async")

    paused = await executor_for(graph, log, manager).execute(graph, GOAL, SEED, run_id="r")

    assert paused.run_status is RunStatus.PAUSED
    # Read right after the call: everything the writer had queued is already stored.
    assert kinds(storage, "r") == ["start", "node_complete", "node_complete", "pause"]
    record = storage.get_run("r")
    latest = storage.load_latest_checkpoint("r")
    assert record is not None and latest is not None
    assert record.status is RunStatus.PAUSED and record.latest_checkpoint_id == latest.id
    assert [m.seq for m in storage.list_checkpoints("r")] == [0, 1, 2, 3]

    await executor_for(graph, log, manager).execute(graph, GOAL, run_id="r")

    assert kinds(storage, "r")[4:] == ["node_complete", "final"]
    assert log.calls == ["n1", "n2", "n3", "n4", "n5"]


async def test_pause_node_writes_one_pause_checkpoint_carrying_its_requests(
    storage: StorageBackend, log: NodeLog
) -> None:
    graph = chain(3, pause_nodes=["n2"])
    executor = executor_for(graph, log, manager_with(storage))

    def asks(ctx: NodeContext) -> str:
        ctx.request_checkpoint(metadata={"stage": "review"})
        return "drafted"

    executor.register_function("n2", asks)

    await executor.execute(graph, GOAL, SEED, run_id="r")

    assert kinds(storage, "r") == ["start", "node_complete", "pause"]
    pause = storage.load_latest_checkpoint("r")
    assert pause is not None
    assert pause.metadata == {"stage": "review"} and pause.next_node_id == "n3"


class SlowCommits(MemoryStorage):
    """Each step write takes a while, so an async writer falls behind the nodes."""

    def __init__(self) -> None:
        super().__init__()
        self.committed = 0

    async def acommit_step(self, cp: Any, **kwargs: Any) -> Any:
        await anyio.sleep(0.01)
        commit = await super().acommit_step(cp, **kwargs)
        self.committed += 1
        return commit


@pytest.mark.parametrize("max_behind", [1, 3])
async def test_async_durability_is_never_more_than_async_max_behind_checkpoints_behind(
    max_behind: int,
) -> None:
    storage = SlowCommits()
    graph = chain(12)
    log = NodeLog()
    manager = manager_with(storage, durability="async", async_max_behind=max_behind)
    executor = executor_for(graph, log, manager)
    behind: list[int] = []
    for position, node in enumerate(graph.nodes):
        run_node = log.function(node.id, graph.nodes[position - 1].id if position else None)

        def watched(run_node: Any = run_node, done: int = position, **memory: Any) -> Any:
            behind.append(done - (storage.committed - 1))  # less the START checkpoint
            return run_node(**memory)

        executor.register_function(node.id, watched)

    result = await executor.execute(graph, GOAL, SEED, run_id="r")

    assert result.run_status is RunStatus.COMPLETED
    assert max(behind) == max_behind  # the writer fell behind, but never further
    assert kinds(storage, "r") == ["start", *["node_complete"] * 11, "final"]


async def test_sync_durability_stores_each_checkpoint_before_the_next_node_starts(
    storage: StorageBackend,
) -> None:
    graph = chain(6)
    log = NodeLog()
    executor = executor_for(graph, log, manager_with(storage, durability="sync"))
    stored_at_start: list[int] = []
    for position, node in enumerate(graph.nodes):
        run_node = log.function(node.id, graph.nodes[position - 1].id if position else None)

        async def watched(run_node: Any = run_node, **memory: Any) -> Any:
            stored_at_start.append(len(await storage.alist_checkpoints("r")))
            return run_node(**memory)

        executor.register_function(node.id, watched)

    await executor.execute(graph, GOAL, SEED, run_id="r")

    # START, then one checkpoint per node before it: nothing is ever pending.
    assert stored_at_start == [1, 2, 3, 4, 5, 6]


async def test_async_durability_flushes_every_checkpoint_when_a_node_fails() -> None:
    storage = SlowCommits()
    graph = chain(6)
    log = NodeLog()
    log.fail_at = "n5"
    manager = manager_with(storage, durability="async")

    result = await executor_for(graph, log, manager).execute(graph, GOAL, SEED, run_id="r")

    assert result.run_status is RunStatus.FAILED
    # Read right after the call: the state before the failing node is stored.
    assert kinds(storage, "r") == ["start", *["node_complete"] * 4]
    record = storage.get_run("r")
    assert record is not None and record.status is RunStatus.FAILED
