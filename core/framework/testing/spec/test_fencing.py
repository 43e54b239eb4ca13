"""Conformance: fenced writes — a writer whose lease was taken over stores nothing."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from framework.errors import FencedOutError, InvalidArgumentError, LeaseHeldError
from framework.schemas.lease import Lease, make_owner_id
from framework.schemas.run import RunRecord, RunStatus
from framework.storage.backend import StorageBackend
from framework.testing.conformance import Harness
from framework.testing.values import make_checkpoint


@pytest.fixture
async def run_id(storage: StorageBackend) -> str:
    await storage.acreate_run(RunRecord(run_id="run-1"))
    return "run-1"


async def _taken_over(storage: StorageBackend, run_id: str) -> tuple[int, int]:
    """Claim, let the lease lapse, and let another owner claim: (stale token, current token)."""
    stale = await storage.aclaim_run(run_id, make_owner_id(), ttl_seconds=0.01)
    await asyncio.sleep(0.05)
    current = await storage.aclaim_run(run_id, make_owner_id())
    return stale.fencing_token, current.fencing_token


async def test_a_save_with_the_current_token_is_stored(
    storage: StorageBackend, run_id: str
) -> None:
    lease = await storage.aclaim_run(run_id, make_owner_id())

    await storage.asave_checkpoint(make_checkpoint(run_id, 0), fencing_token=lease.fencing_token)

    assert [m.seq for m in await storage.alist_checkpoints(run_id)] == [0]


async def test_a_save_with_a_stale_token_is_fenced_out_and_not_stored(
    harness: Harness, run_id: str
) -> None:
    storage = harness.storage
    await storage.asave_checkpoint(make_checkpoint(run_id, 0))
    stale, current = await _taken_over(storage, run_id)

    with pytest.raises(FencedOutError, match=f"token {current}, not {stale}"):
        await storage.asave_checkpoint(make_checkpoint(run_id, 1), fencing_token=stale)

    assert [m.seq for m in await harness.reopen().alist_checkpoints(run_id)] == [0]
    assert await storage.alatest_seq(run_id) == 0
    await storage.asave_checkpoint(make_checkpoint(run_id, 1), fencing_token=current)
    latest = await storage.aload_latest_checkpoint(run_id)
    assert latest is not None
    assert latest.seq == 1


async def test_a_fenced_save_of_a_run_without_a_record_is_fenced_out(
    storage: StorageBackend,
) -> None:
    with pytest.raises(FencedOutError, match="no longer exists"):
        await storage.asave_checkpoint(make_checkpoint("gone", 0), fencing_token=1)
    assert await storage.alist_checkpoints("gone") == []


async def test_a_fenced_update_with_the_current_token_is_applied(
    storage: StorageBackend, run_id: str
) -> None:
    lease = await storage.aclaim_run(run_id, make_owner_id())

    record = await storage.aupdate_run(
        run_id, expect_fencing_token=lease.fencing_token, status=RunStatus.RUNNING
    )

    assert record.status is RunStatus.RUNNING
    stored = await storage.aget_run(run_id)
    assert stored is not None
    assert stored.status is RunStatus.RUNNING


async def test_a_fenced_update_with_a_stale_token_changes_nothing(
    storage: StorageBackend, run_id: str
) -> None:
    stale, _ = await _taken_over(storage, run_id)
    before = await storage.aget_run(run_id)

    with pytest.raises(FencedOutError, match="this writer must stop"):
        await storage.aupdate_run(run_id, expect_fencing_token=stale, status=RunStatus.COMPLETED)
    assert await storage.aget_run(run_id) == before


async def test_a_fencing_token_must_be_an_int(storage: StorageBackend, run_id: str) -> None:
    as_text: Any = "1"
    with pytest.raises(InvalidArgumentError, match="fencing token is an int"):
        await storage.asave_checkpoint(make_checkpoint(run_id, 0), fencing_token=as_text)
    assert await storage.alist_checkpoints(run_id) == []


async def test_async_fenced_writes(storage: StorageBackend, run_id: str) -> None:
    stale, current = await _taken_over(storage, run_id)

    with pytest.raises(FencedOutError):
        await storage.asave_checkpoint(make_checkpoint(run_id, 0), fencing_token=stale)
    with pytest.raises(FencedOutError):
        await storage.aupdate_run(run_id, expect_fencing_token=stale, last_error="x")
    await storage.asave_checkpoint(make_checkpoint(run_id, 0), fencing_token=current)
    await storage.aupdate_run(run_id, expect_fencing_token=current, last_error="y")

    assert [m.seq for m in await storage.alist_checkpoints(run_id)] == [0]
    stored = await storage.aget_run(run_id)
    assert stored is not None
    assert stored.last_error == "y"


async def test_two_writers_in_threads_never_fork_the_history(harness: Harness, run_id: str) -> None:
    """One writer saves until fenced out; the other takes over after expiry and continues.

    Each writer is a task of its own; the backend's calls of both run concurrently.
    """
    first, second = harness.storage, harness.reopen()
    lease = await first.aclaim_run(run_id, make_owner_id(), ttl_seconds=0.2)
    stored_first: list[int] = []
    fenced = asyncio.Event()

    async def write_until_fenced() -> None:
        while True:
            seq = await first.alatest_seq(run_id) + 1
            try:
                await first.asave_checkpoint(
                    make_checkpoint(run_id, seq, {"writer": "first"}),
                    fencing_token=lease.fencing_token,
                )
            except FencedOutError:
                fenced.set()
                return
            stored_first.append(seq)
            await asyncio.sleep(0.001)  # a node runs between two checkpoints

    writer = asyncio.create_task(write_until_fenced())
    takeover = await _claim_when_free(second, run_id)
    stored_second: list[int] = []
    for _ in range(10):
        seq = await second.alatest_seq(run_id) + 1
        await second.asave_checkpoint(
            make_checkpoint(run_id, seq, {"writer": "second"}), fencing_token=takeover.fencing_token
        )
        stored_second.append(seq)
    await asyncio.wait_for(writer, timeout=30)

    assert fenced.is_set()
    await _assert_one_history(second, run_id, stored_first, stored_second)


async def _claim_when_free(storage: StorageBackend, run_id: str) -> Lease:
    deadline = time.monotonic() + 30
    while True:
        try:
            return await storage.aclaim_run(run_id, make_owner_id())
        except LeaseHeldError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.01)


async def _assert_one_history(
    storage: StorageBackend, run_id: str, first: list[int], second: list[int]
) -> None:
    seqs = [m.seq for m in await storage.alist_checkpoints(run_id)]
    assert first and second
    assert seqs == list(range(len(seqs))) == first + second
    writers = []
    for m in await storage.alist_checkpoints(run_id):
        cp = await storage.aload_checkpoint(run_id, m.id)
        assert cp is not None
        writers.append(cp.memory_snapshot["writer"])
    assert writers == ["first"] * len(first) + ["second"] * len(second)
    assert await storage.averify(run_id) == []


WRITER = """
import json, sys, time
from pathlib import Path
from framework.errors import FencedOutError, LeaseHeldError
from framework.schemas.checkpoint import Checkpoint
from framework.schemas.lease import make_owner_id
from framework.storage import open_storage

url, name, role, folder = sys.argv[1], sys.argv[2], sys.argv[3], Path(sys.argv[4])
storage = open_storage(url)
stored, fenced = [], False

def save(token):
    seq = storage.latest_seq("run-1") + 1
    storage.save_checkpoint(
        Checkpoint(id=f"ckpt_{seq}", run_id="run-1", seq=seq, memory_snapshot={"writer": name}),
        fencing_token=token,
    )
    stored.append(seq)

if role == "first":
    lease = storage.claim_run("run-1", make_owner_id(), ttl_seconds=0.5)
    (folder / "claimed").touch()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            save(lease.fencing_token)
        except FencedOutError:
            fenced = True
            break
        # A node runs between two checkpoints; without any pause this loop would hold
        # SQLite's write lock nearly all the time and starve the other process's claim.
        time.sleep(0.002)
else:
    while not (folder / "claimed").exists():
        time.sleep(0.005)
    while True:
        try:
            lease = storage.claim_run("run-1", make_owner_id())
            break
        except LeaseHeldError:
            time.sleep(0.01)
    for _ in range(20):
        save(lease.fencing_token)
(folder / f"{name}.json").write_text(json.dumps({"stored": stored, "fenced": fenced}))
storage.close()
"""


async def test_two_processes_racing_on_one_run_one_is_fenced_out(
    disk_harness: Harness, tmp_path: Path
) -> None:
    url = disk_harness.url
    await disk_harness.storage.acreate_run(RunRecord(run_id="run-1"))
    writers = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, url, name, name, str(tmp_path)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for name in ("first", "second")
    ]
    for writer in writers:
        _, stderr = writer.communicate(timeout=120)
        assert writer.returncode == 0, stderr.decode()

    first = json.loads((tmp_path / "first.json").read_text())
    second = json.loads((tmp_path / "second.json").read_text())
    assert first["fenced"] is True
    storage = disk_harness.reopen()
    await _assert_one_history(storage, "run-1", first["stored"], second["stored"])
    record = await storage.aget_run("run-1")
    assert record is not None
    assert record.fencing_token == 2
