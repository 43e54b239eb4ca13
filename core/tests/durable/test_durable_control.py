"""Pausing, cancelling and budgets of durable runs, from this process and from another."""

from __future__ import annotations

import functools
import sys
from pathlib import Path

import anyio
import pytest
from durable_helpers import (
    GOAL,
    TOKENS_PER_NODE,
    Crash,
    NodeLog,
    chain,
    comparable,
    executor_for,
    kinds,
)

from framework.errors import RunCancelledError
from framework.graph import EdgeSpec, GraphSpec
from framework.graph.checkpoint_manager import CheckpointManager
from framework.graph.node import NodeSpec, NodeType
from framework.schemas.run import RunStatus
from framework.storage import SQLiteStorage
from framework.storage.backend import StorageBackend

SEED = {"seed": "s"}

# What an operator's process runs: it opens the same SQLite file and asks for the action.
OPERATOR = """
import sys
from framework.graph.checkpoint_manager import CheckpointManager
from framework.storage import SQLiteStorage

db, run_id, action, reason = sys.argv[1:5]
with SQLiteStorage(db) as storage:
    manager = CheckpointManager(storage)
    signal = getattr(manager, f"request_{action}")(run_id, reason)
    assert signal is not None, "the request was not stored"
"""


async def operator(db: Path, run_id: str, action: str, reason: str) -> None:
    await anyio.run_process([sys.executable, "-c", OPERATOR, str(db), run_id, action, reason])


async def test_pause_requested_by_another_process_pauses_after_the_node_in_flight(
    tmp_path: Path, log: NodeLog
) -> None:
    db = tmp_path / "state.db"
    graph = chain(4)
    uninterrupted = await executor_for(graph, NodeLog()).execute(graph, GOAL, SEED)
    with SQLiteStorage(db) as storage:
        manager = CheckpointManager(storage, {"retention_strategy": "all"})
        executor = executor_for(graph, log, manager)
        plain_n2 = log.function("n2", "n1")

        async def slow(**memory: object) -> object:
            await operator(db, "r", "pause", "operator break")
            return await anyio.to_thread.run_sync(functools.partial(plain_n2, **memory))

        executor.register_function("n2", slow)

        paused = await executor.execute(graph, GOAL, SEED, run_id="r")

        assert paused.run_status is RunStatus.PAUSED
        assert paused.pause_reason == "operator break"
        assert paused.path == ["n1", "n2"] and paused.paused_at == "n3"
        record = storage.get_run("r")
        assert record is not None
        assert record.status is RunStatus.PAUSED and record.status_reason == "operator break"
        assert storage.get_control("r") is None  # honoured, then cleared
        assert kinds(storage, "r")[-1] == "pause"

        resumed = await executor_for(graph, log, manager).execute(graph, GOAL, run_id="r")

    assert comparable(resumed) == comparable(uninterrupted)
    assert log.calls == ["n1", "n2", "n3", "n4"]


async def test_cancel_requested_by_another_process_is_final(tmp_path: Path, log: NodeLog) -> None:
    db = tmp_path / "state.db"
    graph = chain(3)
    with SQLiteStorage(db) as storage:
        manager = CheckpointManager(storage, {"retention_strategy": "all"})
        executor = executor_for(graph, log, manager)

        async def cancelled_meanwhile() -> str:
            await operator(db, "r", "cancel", "wrong input")
            return "done"

        executor.register_function("n2", cancelled_meanwhile)

        result = await executor.execute(graph, GOAL, SEED, run_id="r")

        assert result.run_status is RunStatus.CANCELLED and result.success is False
        assert result.error == "run cancelled: wrong input"
        record = storage.get_run("r")
        assert record is not None and record.status is RunStatus.CANCELLED
        assert record.finished_at is not None
        latest = storage.load_latest_checkpoint("r")
        assert latest is not None and latest.execution_path == ["n1", "n2"]

        with pytest.raises(RunCancelledError, match="wrong input"):
            await executor_for(graph, log, manager).execute(graph, GOAL, run_id="r")
    assert log.calls == ["n1"]


async def test_cancelling_a_paused_run_makes_it_cancelled_at_once(
    manager: CheckpointManager, storage: StorageBackend, log: NodeLog
) -> None:
    graph = chain(3, pause_nodes=["n1"])
    await executor_for(graph, log, manager).execute(graph, GOAL, SEED, run_id="r")

    signal = await manager.arequest_cancel("r", "not needed")

    assert signal is not None
    record = storage.get_run("r")
    assert record is not None and record.status is RunStatus.CANCELLED
    with pytest.raises(RunCancelledError):
        await executor_for(graph, log, manager).execute(graph, GOAL, run_id="r")


async def test_pausing_a_run_that_is_not_running_stores_nothing(
    manager: CheckpointManager, storage: StorageBackend, log: NodeLog
) -> None:
    graph = chain(2)
    await executor_for(graph, log, manager).execute(graph, GOAL, SEED, run_id="r")

    assert manager.request_pause("r") is None
    assert manager.request_cancel("r") is None
    assert storage.get_control("r") is None


async def test_cancelling_the_call_leaves_the_run_paused_and_resumable(
    manager: CheckpointManager, storage: StorageBackend, log: NodeLog
) -> None:
    graph = chain(3)
    entered = anyio.Event()

    async def hangs() -> str:
        entered.set()
        await anyio.sleep_forever()
        return "never"

    executor = executor_for(graph, log, manager)
    executor.register_function("n2", hangs)
    run = functools.partial(executor.execute, graph, GOAL, SEED, run_id="r")

    async with anyio.create_task_group() as group:
        group.start_soon(run)
        await entered.wait()
        group.cancel_scope.cancel()

    record = storage.get_run("r")
    assert record is not None
    assert record.status is RunStatus.PAUSED
    assert record.status_reason is not None and record.status_reason.startswith("interrupted")
    assert record.lease_owner is None

    result = await executor_for(graph, log, manager).execute(graph, GOAL, run_id="r")

    assert result.run_status is RunStatus.COMPLETED
    assert log.calls == ["n1", "n2", "n3"]  # the interrupted n2 ran again, n1 did not


async def test_budget_pauses_the_run_and_a_higher_budget_continues_it(
    manager: CheckpointManager, storage: StorageBackend, log: NodeLog
) -> None:
    graph = chain(5)

    paused = await executor_for(graph, log, manager).execute(
        graph, GOAL, SEED, run_id="r", max_tokens=25
    )

    assert paused.run_status is RunStatus.PAUSED
    assert paused.pause_reason == "budget_exhausted"
    assert paused.total_tokens == 3 * TOKENS_PER_NODE and paused.paused_at == "n4"
    record = storage.get_run("r")
    assert record is not None and record.status_reason == "budget_exhausted"

    again = await executor_for(graph, log, manager).execute(graph, GOAL, run_id="r")
    assert again.pause_reason == "budget_exhausted"  # the stored budget still applies
    assert log.calls == ["n1", "n2", "n3"]

    resumed = await executor_for(graph, log, manager).execute(
        graph, GOAL, run_id="r", max_tokens=100
    )

    assert resumed.run_status is RunStatus.COMPLETED
    assert resumed.total_tokens == 5 * TOKENS_PER_NODE
    assert log.calls == ["n1", "n2", "n3", "n4", "n5"]


async def test_cost_budget_pauses_the_run(manager: CheckpointManager, log: NodeLog) -> None:
    graph = chain(4)

    paused = await executor_for(graph, log, manager).execute(
        graph, GOAL, SEED, run_id="r", max_cost=1.0
    )

    assert paused.pause_reason == "budget_exhausted"
    assert paused.path == ["n1", "n2"] and paused.total_cost == 1.0


async def test_human_input_node_pauses_and_resumes_with_the_humans_answer(
    manager: CheckpointManager, storage: StorageBackend, log: NodeLog
) -> None:
    graph = GraphSpec(
        id="approval",
        entry_node="n1",
        nodes=[
            NodeSpec(id="n1", name="n1", description="draft", output_keys=["n1"]),
            NodeSpec(
                id="ask",
                name="ask",
                description="a human approves",
                node_type=NodeType.HUMAN_INPUT,
                output_keys=["approved"],
            ),
            NodeSpec(id="n2", name="n2", description="publish", output_keys=["n2"]),
        ],
        edges=[
            EdgeSpec(id="a", source="n1", target="ask"),
            EdgeSpec(id="b", source="ask", target="n2"),
        ],
    )

    paused = await executor_for(graph, log, manager).execute(graph, GOAL, SEED, run_id="r")

    assert paused.run_status is RunStatus.PAUSED and paused.paused_at == "ask"
    record = storage.get_run("r")
    assert record is not None and record.status is RunStatus.PAUSED
    assert record.status_reason == "node 'ask' waits for human input"

    done = await executor_for(graph, log, manager).execute(
        graph, GOAL, run_id="r", resume_input={"approved": True}
    )

    assert done.run_status is RunStatus.COMPLETED
    assert done.output["approved"] is True and done.path == ["n1", "ask", "n2"]
    assert log.calls == ["n1", "n2"]


async def test_pausing_a_crashed_run_keeps_it_paused_until_it_is_resumed(
    manager: CheckpointManager, storage: StorageBackend, log: NodeLog
) -> None:
    graph = chain(3)
    log.crash_at = "n2"
    with pytest.raises(Crash):
        await executor_for(graph, log, manager).execute(graph, GOAL, SEED, run_id="r")

    signal = manager.request_pause("r", "look first")

    assert signal is not None
    record = storage.get_run("r")
    assert record is not None
    assert record.status is RunStatus.PAUSED and record.status_reason == "look first"
    resumed = await executor_for(graph, log, manager).execute(graph, GOAL, run_id="r")
    assert resumed.run_status is RunStatus.COMPLETED  # a resume on purpose overrides it
    assert log.calls == ["n1", "n2", "n3"]
