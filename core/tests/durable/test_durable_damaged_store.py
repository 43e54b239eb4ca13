"""A damaged store never restarts a run from scratch, on file and SQLite storage.

Each test crashes a run of ``n1 -> n2 -> n3 -> n4`` in ``n3`` (checkpoints START, after
``n1``, after ``n2``), damages what the store holds, and runs the same run id with the same
input again: the run either continues from its newest valid checkpoint (the nodes before
it do not run again) or is refused with :class:`CheckpointsLostError`, and only
``force_restart=True`` starts it over.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import anyio
import pytest
from durable_helpers import GOAL, Crash, NodeLog, chain, comparable, executor_for

from framework.errors import CheckpointsLostError, StorageError
from framework.graph import ActionSpec, ActionType, ExecutionStatus, Plan, PlanStep
from framework.graph.checkpoint_manager import CheckpointManager
from framework.graph.executor import ExecutionResult
from framework.graph.flexible_executor import FlexibleGraphExecutor
from framework.schemas.run import RunStatus
from framework.storage.backend import StorageBackend
from framework.testing.conformance import FileHarness, Harness, PostgresHarness, SQLiteHarness

# The storage warns about every damaged checkpoint it skips; these tests look at the runs.
pytestmark = pytest.mark.filterwarnings("ignore::framework.storage.CorruptCheckpointWarning")

RUN = "r"
SEED = {"seed": "s"}
GRAPH = chain(4)
KEEP_ALL = {"retention_strategy": "all"}
CHILD = Path(__file__).parent / "durable_child.py"


async def _crash_in_n3(storage: StorageBackend, config: dict[str, Any] | None = None) -> None:
    log = NodeLog()
    log.crash_at = "n3"
    executor = executor_for(
        GRAPH, log, CheckpointManager(storage, KEEP_ALL if config is None else config)
    )
    with pytest.raises(Crash):
        await executor.execute(GRAPH, GOAL, SEED, run_id=RUN)
    assert log.calls == ["n1", "n2"]


async def _run_again(
    storage: StorageBackend, *, force_restart: bool = False, config: dict[str, Any] | None = None
) -> tuple[list[str], ExecutionResult]:
    """Run ``RUN`` again with the same input; the nodes this call ran, and its result."""
    log = NodeLog()
    executor = executor_for(
        GRAPH, log, CheckpointManager(storage, KEEP_ALL if config is None else config)
    )
    restart = {"force_restart": True} if force_restart else {}
    result = await executor.execute(GRAPH, GOAL, SEED, run_id=RUN, **restart)
    return log.calls, result


async def _uninterrupted() -> dict[str, Any]:
    return comparable(await executor_for(GRAPH, NodeLog()).execute(GRAPH, GOAL, SEED))


def _cut_in_half(harness: Harness, seq: int) -> None:
    if isinstance(harness, FileHarness):
        harness.truncate(RUN, seq)
    else:
        assert isinstance(harness, SQLiteHarness | PostgresHarness)
        harness.sql(
            "UPDATE checkpoint_records SET payload = substr(payload, 1, length(payload) / 2) "
            "WHERE run_id = ? AND seq = ?",
            (RUN, seq),
        )


def _remove(harness: Harness, seq: int) -> None:
    if isinstance(harness, FileHarness):
        harness.record_path(RUN, seq).unlink()
    else:
        assert isinstance(harness, SQLiteHarness | PostgresHarness)
        harness.sql("DELETE FROM checkpoint_records WHERE run_id = ? AND seq = ?", (RUN, seq))


DAMAGE = {
    "flipped byte": lambda harness, seq: harness.corrupt(RUN, seq),
    "truncation": _cut_in_half,
    "deleted record": _remove,
}


@pytest.mark.parametrize("damage", sorted(DAMAGE))
async def test_damage_to_the_latest_checkpoint_continues_from_the_one_before(
    disk_harness: Harness, damage: str
) -> None:
    await _crash_in_n3(disk_harness.storage)
    DAMAGE[damage](disk_harness, 2)

    with disk_harness.reopen() as storage:
        ran, result = await _run_again(storage)

    assert ran == ["n2", "n3", "n4"]  # n1 does not run again
    assert comparable(result) == await _uninterrupted()


@pytest.mark.parametrize("damage", sorted(DAMAGE))
async def test_damage_to_every_checkpoint_is_refused_until_restarted(
    disk_harness: Harness, damage: str
) -> None:
    await _crash_in_n3(disk_harness.storage)
    for seq in range(3):
        DAMAGE[damage](disk_harness, seq)

    with disk_harness.reopen() as storage:
        with pytest.raises(CheckpointsLostError) as refused:
            await _run_again(storage)
        assert refused.value.run_id == RUN
        assert refused.value.expected_checkpoint_id == f"ckpt_{RUN}_n2_000002"
        assert refused.value.expected_steps == 2
        assert "force_restart=True" in str(refused.value)
        record = await storage.aget_run(RUN)
        assert record is not None and record.lease_owner is None

        ran, result = await _run_again(storage, force_restart=True)

    assert ran == ["n1", "n2", "n3", "n4"]
    assert comparable(result) == await _uninterrupted()


async def test_a_flipped_byte_in_the_only_kept_checkpoint_is_refused(
    disk_harness: Harness,
) -> None:
    # The default retention keeps one checkpoint visible; with it damaged, none is left.
    await _crash_in_n3(disk_harness.storage, config={})
    [latest] = disk_harness.storage.list_checkpoints(RUN)
    disk_harness.corrupt(RUN, latest.seq)

    with disk_harness.reopen() as storage, pytest.raises(CheckpointsLostError, match=RUN):
        await _run_again(storage, config={})


async def test_a_record_naming_a_checkpoint_that_is_not_stored_continues_with_a_warning(
    disk_harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    await _crash_in_n3(disk_harness.storage)
    # As if the checkpoint after n3 had been written, and then lost with its record file/row.
    disk_harness.storage.update_run(RUN, latest_checkpoint_id=f"ckpt_{RUN}_n3_000003")

    with disk_harness.reopen() as storage, caplog.at_level(logging.WARNING):
        ran, result = await _run_again(storage)

    assert ran == ["n3", "n4"]
    assert result.success
    assert any(
        f"ckpt_{RUN}_n3_000003" in r.getMessage() and f"ckpt_{RUN}_n2_000002" in r.getMessage()
        for r in caplog.records
    ), caplog.text


async def test_a_run_whose_checkpoints_were_all_deleted_is_refused(
    disk_harness: Harness,
) -> None:
    await _crash_in_n3(disk_harness.storage)
    disk_harness.storage.delete_checkpoints(RUN)

    with disk_harness.reopen() as storage:
        with pytest.raises(CheckpointsLostError, match="holds none of its checkpoints"):
            await _run_again(storage)
        assert await storage.alist_checkpoints(RUN) == []


async def test_a_completed_run_whose_final_checkpoint_is_damaged_finishes_again_from_the_last_valid(
    disk_harness: Harness,
) -> None:
    log = NodeLog()
    executor = executor_for(GRAPH, log, CheckpointManager(disk_harness.storage, KEEP_ALL))
    first = await executor.execute(GRAPH, GOAL, SEED, run_id=RUN)
    final = disk_harness.storage.list_checkpoints(RUN)[-1]
    disk_harness.corrupt(RUN, final.seq)

    with disk_harness.reopen() as storage:
        ran, again = await _run_again(storage)
        record = await storage.aget_run(RUN)

    assert ran == ["n4"]
    assert comparable(again) == comparable(first)
    assert record is not None and record.status is RunStatus.COMPLETED


async def test_deleting_the_file_index_continues_from_the_latest_checkpoint(
    tmp_path: Path,
) -> None:
    harness = FileHarness(tmp_path)
    await _crash_in_n3(harness.storage)
    (tmp_path / "store" / "runs" / RUN / "index.json").unlink()

    with harness.reopen() as storage:
        ran, result = await _run_again(storage)

    assert ran == ["n3", "n4"]
    assert comparable(result) == await _uninterrupted()
    harness.close()


def test_a_sqlite_store_whose_wal_was_deleted_after_a_kill_is_refused(tmp_path: Path) -> None:
    db = tmp_path / "state.db"
    child = subprocess.Popen([sys.executable, str(CHILD), str(db), RUN, str(tmp_path)])
    try:
        while not (tmp_path / "in_node").exists():
            assert child.poll() is None, "the child died before reaching n2"
            time.sleep(0.01)
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.wait(timeout=30)
    Path(f"{db}-wal").unlink()

    # The database file alone is an older state of the store: runs that progressed would
    # silently start over, so the store refuses to open until told what to do.
    with pytest.raises(StorageError, match=r"state.db-wal.*missing") as refused:
        SQLiteHarness(tmp_path)
    assert "state.db-shm" in str(refused.value)
    assert not (tmp_path / "result.json").exists()

    # Accepting the loss, as the message says: the store opens on what the file holds.
    Path(f"{db}-shm").unlink()
    SQLiteHarness(tmp_path).close()


async def test_verify_run_reports_the_damage_and_where_the_run_continues(
    disk_harness: Harness,
) -> None:
    await _crash_in_n3(disk_harness.storage)
    disk_harness.corrupt(RUN, 2)

    with disk_harness.reopen() as storage:
        report = await CheckpointManager(storage).averify_run(RUN)

    assert [(c.id, c.seq) for c in report.corrupt] == [(f"ckpt_{RUN}_n2_000002", 2)]
    assert report.latest_valid is not None and report.latest_valid.id == f"ckpt_{RUN}_n1_000001"
    assert (report.recorded_checkpoint_id, report.recorded_steps) == (f"ckpt_{RUN}_n2_000002", 2)
    assert (report.ok, report.lost, report.stored) == (False, False, 3)
    assert any(f"continues from checkpoint 'ckpt_{RUN}_n1_000001'" in p for p in report.problems)


def test_verify_run_reports_a_run_whose_progress_is_lost(disk_harness: Harness) -> None:
    anyio.run(_crash_in_n3, disk_harness.storage)
    disk_harness.storage.delete_checkpoints(RUN)

    report = CheckpointManager(disk_harness.storage).verify_run(RUN)

    assert report.lost and not report.ok
    assert report.latest_valid is None and report.corrupt == []
    assert any("is not stored" in p for p in report.problems)
    assert any("force_restart=True" in p for p in report.problems)
    assert isinstance(report.lost_error(), CheckpointsLostError)


async def test_verify_run_of_an_intact_run_finds_nothing(disk_harness: Harness) -> None:
    await _crash_in_n3(disk_harness.storage)

    report = await CheckpointManager(disk_harness.storage).averify_run(RUN)

    assert report.ok and not report.lost and report.problems == []
    assert report.latest_valid is not None and report.latest_valid.id == f"ckpt_{RUN}_n2_000002"


async def test_a_plan_run_whose_checkpoints_are_lost_is_refused_until_restarted(
    disk_harness: Harness,
) -> None:
    calls: list[str] = []

    def step(name: str) -> Any:
        def run() -> dict[str, str]:
            calls.append(name)
            return {"value": name}

        return run

    plan = Plan(
        id="plan",
        goal_id="goal",
        steps=[
            PlanStep(
                id=name,
                action=ActionSpec(action_type=ActionType.FUNCTION, function_name=name),
                dependencies=[] if name == "a" else ["a"],
            )
            for name in "ab"
        ],
    )
    manager = CheckpointManager(disk_harness.storage)
    executor = FlexibleGraphExecutor(
        None, functions={name: step(name) for name in "ab"}, checkpoint_manager=manager
    )
    await executor.execute_plan(plan, GOAL, run_id="p")
    disk_harness.storage.delete_checkpoints("p")

    with pytest.raises(CheckpointsLostError, match="'p'"):
        await executor.execute_plan(plan, GOAL, run_id="p")
    assert calls == ["a", "b"]

    restarted = await executor.execute_plan(plan, GOAL, run_id="p", force_restart=True)
    assert restarted.status is ExecutionStatus.COMPLETED
    assert calls == ["a", "b", "a", "b"]
