"""SQLite calls run on the caller's event loop, but never hold it while they wait for a lock."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import anyio

from framework.schemas.control import ControlAction
from framework.schemas.run import RunRecord
from framework.storage import SQLiteStorage


async def test_a_write_waiting_for_another_writer_leaves_the_loop_running(tmp_path: Path) -> None:
    storage = SQLiteStorage(tmp_path / "state.db")
    await storage.acreate_run(RunRecord(run_id="r"))
    other = sqlite3.connect(tmp_path / "state.db", isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")  # another process holds the write lock
    ticks = 0

    async def tick() -> None:
        nonlocal ticks
        while True:
            await anyio.sleep(0.01)
            ticks += 1

    async def release_later() -> None:
        await anyio.sleep(0.3)
        other.execute("COMMIT")

    try:
        with anyio.fail_after(10):
            async with anyio.create_task_group() as group:
                group.start_soon(tick)
                group.start_soon(release_later)
                await storage.arequest_control("r", ControlAction.PAUSE, "look")
                group.cancel_scope.cancel()
    finally:
        other.close()

    assert ticks >= 5  # the loop ran other tasks while the write waited in a thread
    signal = await storage.aget_control("r")
    assert signal is not None and signal.action is ControlAction.PAUSE
    storage.close()
