"""One writer per run: racing executors get LeaseHeldError, a taken-over one is fenced out."""

from __future__ import annotations

import functools
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import anyio
import pytest
from durable_helpers import GOAL, NodeLog, chain, executor_for

from framework.errors import FencedOutError, LeaseHeldError
from framework.graph.checkpoint_manager import CheckpointManager
from framework.schemas.run import RunStatus
from framework.storage import SQLiteStorage
from framework.storage.backend import StorageBackend

SEED = {"seed": "s"}
CHILD = Path(__file__).parent / "durable_child.py"


async def test_second_executor_of_a_running_run_gets_lease_held_error(
    manager: CheckpointManager, storage: StorageBackend, log: NodeLog
) -> None:
    graph = chain(3)
    entered, release = anyio.Event(), anyio.Event()

    async def waits() -> str:
        entered.set()
        await release.wait()
        return "released"

    first = executor_for(graph, log, manager)
    first.register_function("n2", waits)
    results: dict[str, Any] = {}

    async def run_first() -> None:
        results["first"] = await first.execute(graph, GOAL, SEED, run_id="r")

    async with anyio.create_task_group() as group:
        group.start_soon(run_first)
        await entered.wait()
        with pytest.raises(LeaseHeldError):
            await executor_for(graph, log, manager).execute(graph, GOAL, SEED, run_id="r")
        release.set()

    assert results["first"].run_status is RunStatus.COMPLETED
    assert log.calls == ["n1", "n3"]  # the refused executor ran nothing
    assert [m.seq for m in storage.list_checkpoints("r")] == [0, 1, 2, 3]


async def test_taken_over_run_fences_out_its_old_executor_and_history_does_not_fork(
    storage: StorageBackend, log: NodeLog
) -> None:
    graph = chain(4)
    manager = CheckpointManager(storage, {"retention_strategy": "all", "lease_ttl_seconds": 0.2})
    old = executor_for(graph, log, manager)
    takeover: dict[str, Any] = {}

    async def stalls() -> str:
        # Blocks the event loop, so the heartbeat cannot renew: the lease expires and
        # another owner takes the run over while this node still runs.
        time.sleep(0.5)
        takeover["lease"] = storage.claim_run("r", "intruder", ttl_seconds=30)
        return "stalled"

    old.register_function("n2", stalls)

    with pytest.raises(FencedOutError):
        await old.execute(graph, GOAL, SEED, run_id="r")

    assert [m.seq for m in storage.list_checkpoints("r")] == [0, 1]  # nothing after takeover
    record = storage.get_run("r")
    assert record is not None
    assert record.lease_owner == "intruder" and record.fencing_token == 2
    assert record.status is RunStatus.RUNNING

    storage.release_lease(takeover["lease"])
    result = await executor_for(graph, log, manager).execute(graph, GOAL, run_id="r")

    assert result.run_status is RunStatus.COMPLETED
    assert result.path == ["n1", "n2", "n3", "n4"]
    assert log.calls == ["n1", "n2", "n3", "n4"]  # the stalled n2 was not logged as done
    metas = storage.list_checkpoints("r")
    assert [m.seq for m in metas] == [0, 1, 2, 3, 4]
    assert [m.node_id for m in metas] == [None, "n1", "n2", "n3", "n4"]


async def test_a_run_held_by_another_process_is_refused_then_returns_its_stored_result(
    tmp_path: Path,
) -> None:
    db = tmp_path / "state.db"
    SQLiteStorage(db).close()
    child = subprocess.Popen([sys.executable, str(CHILD), str(db), "r", str(tmp_path)])
    try:
        deadline = time.monotonic() + 30
        while not (tmp_path / "in_node").exists():
            assert time.monotonic() < deadline, "the child never reached its slow node"
            assert child.poll() is None, "the child exited early"
            await anyio.sleep(0.01)
        log = NodeLog()
        graph = chain(3)
        with SQLiteStorage(db) as storage:
            manager = CheckpointManager(storage)
            with pytest.raises(LeaseHeldError, match="r"):
                await executor_for(graph, log, manager).execute(graph, GOAL, SEED, run_id="r")
            (tmp_path / "go").touch()
            returncode = await anyio.to_thread.run_sync(functools.partial(child.wait, timeout=60))
            assert returncode == 0

            stored = await executor_for(graph, log, manager).execute(graph, GOAL, run_id="r")

        assert log.calls == []
        child_result = json.loads((tmp_path / "result.json").read_text(encoding="utf-8"))
        assert stored.output == child_result["output"]
        assert stored.run_status is RunStatus.COMPLETED
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()


async def test_heartbeat_keeps_the_lease_of_a_long_node(
    storage: StorageBackend, log: NodeLog
) -> None:
    graph = chain(3)
    manager = CheckpointManager(storage, {"lease_ttl_seconds": 0.3})
    entered, release = anyio.Event(), anyio.Event()

    async def long_node() -> str:
        entered.set()
        await release.wait()
        return "long"

    first = executor_for(graph, log, manager)
    first.register_function("n2", long_node)

    async with anyio.create_task_group() as group:
        group.start_soon(functools.partial(first.execute, graph, GOAL, SEED, run_id="r"))
        await entered.wait()
        await anyio.sleep(0.9)  # three times the ttl: only renewals keep the lease alive
        with pytest.raises(LeaseHeldError):
            await executor_for(graph, log, manager).execute(graph, GOAL, run_id="r")
        release.set()

    record = storage.get_run("r")
    assert record is not None and record.status is RunStatus.COMPLETED
