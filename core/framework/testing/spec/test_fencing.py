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
from framework.schemas.control import ControlAction
from framework.schemas.effect import EffectStatus
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


# --- effects and control: the same fence as checkpoints ---------------------------------


async def _handed_over(storage: StorageBackend, run_id: str) -> tuple[Lease, Lease]:
    """A lease that lapsed and the lease of the owner that took the run over after it."""
    stale = await storage.aclaim_run(run_id, make_owner_id(), ttl_seconds=0.01)
    await storage.astart_effect(
        run_id, "charge", "charge:card", "idem-1", fencing_token=stale.fencing_token
    )
    await asyncio.sleep(0.05)
    return stale, await storage.aclaim_run(run_id, make_owner_id())


def _assert_refused(
    refused: pytest.ExceptionInfo[FencedOutError], stale: Lease, current: Lease
) -> None:
    error = refused.value
    assert (error.run_id, error.token) == (stale.run_id, stale.fencing_token)
    assert (error.current_token, error.holder) == (current.fencing_token, current.owner_id)


async def test_completing_an_effect_with_a_stale_token_is_fenced_out_and_stores_nothing(
    harness: Harness, run_id: str
) -> None:
    storage = harness.storage
    stale, current = await _handed_over(storage, run_id)

    with pytest.raises(FencedOutError, match="completing effect 'charge:card'") as refused:
        await storage.acomplete_effect(
            run_id, "charge:card", "stale result", fencing_token=stale.fencing_token
        )

    _assert_refused(refused, stale, current)
    kept = await harness.reopen().aget_effect(run_id, "charge:card")
    assert kept is not None
    assert (kept.status, kept.result, kept.completed_at) == (EffectStatus.STARTED, None, None)
    done = await storage.acomplete_effect(
        run_id, "charge:card", "owner result", fencing_token=current.fencing_token
    )
    assert (done.status, done.result) == (EffectStatus.COMPLETED, "owner result")


async def test_failing_an_effect_with_a_stale_token_is_fenced_out_and_stores_nothing(
    harness: Harness, run_id: str
) -> None:
    storage = harness.storage
    stale, current = await _handed_over(storage, run_id)

    with pytest.raises(FencedOutError, match="failing effect 'charge:card'") as refused:
        await storage.afail_effect(run_id, "charge:card", "boom", fencing_token=stale.fencing_token)

    _assert_refused(refused, stale, current)
    kept = await harness.reopen().aget_effect(run_id, "charge:card")
    assert kept is not None
    assert (kept.status, kept.error) == (EffectStatus.STARTED, None)
    failed = await storage.afail_effect(
        run_id, "charge:card", "boom", fencing_token=current.fencing_token
    )
    assert (failed.status, failed.error) == (EffectStatus.FAILED, "boom")


async def test_starting_an_effect_with_a_stale_token_is_fenced_out_and_stores_nothing(
    harness: Harness, run_id: str
) -> None:
    storage = harness.storage
    stale, current = await _handed_over(storage, run_id)

    with pytest.raises(FencedOutError, match="starting effect 'mail:welcome'") as refused:
        await storage.astart_effect(
            run_id, "mail", "mail:welcome", "idem-2", fencing_token=stale.fencing_token
        )
    with pytest.raises(FencedOutError, match="starting effect 'charge:card'"):
        await storage.astart_effect(
            run_id, "charge", "charge:card", "idem-1", fencing_token=stale.fencing_token
        )

    _assert_refused(refused, stale, current)
    reopened = harness.reopen()
    assert [(e.key, e.attempts) for e in await reopened.alist_effects(run_id)] == [
        ("charge:card", 1)
    ]
    started = await storage.astart_effect(
        run_id, "mail", "mail:welcome", "idem-2", fencing_token=current.fencing_token
    )
    assert (started.status, started.attempts) == (EffectStatus.STARTED, 1)


async def test_a_stale_writer_cannot_complete_an_effect_the_new_owner_completed(
    storage: StorageBackend, run_id: str
) -> None:
    stale, current = await _handed_over(storage, run_id)
    await storage.acomplete_effect(
        run_id, "charge:card", "owner", fencing_token=current.fencing_token
    )

    with pytest.raises(FencedOutError):
        await storage.acomplete_effect(
            run_id, "charge:card", "stale", fencing_token=stale.fencing_token
        )

    kept = await storage.aget_effect(run_id, "charge:card")
    assert kept is not None
    assert (kept.status, kept.result) == (EffectStatus.COMPLETED, "owner")


async def test_clearing_control_with_a_stale_token_is_fenced_out_and_keeps_the_request(
    harness: Harness, run_id: str
) -> None:
    storage = harness.storage
    stale, current = await _handed_over(storage, run_id)
    signal = await storage.arequest_control(run_id, ControlAction.PAUSE, "deploy")

    with pytest.raises(FencedOutError, match="clearing the control request") as refused:
        await storage.aclear_control(run_id, only=signal, fencing_token=stale.fencing_token)
    with pytest.raises(FencedOutError):
        await storage.aclear_control(run_id, fencing_token=stale.fencing_token)

    _assert_refused(refused, stale, current)
    assert await harness.reopen().aget_control(run_id) == signal
    await storage.aclear_control(run_id, only=signal, fencing_token=current.fencing_token)
    assert await harness.reopen().aget_control(run_id) is None


async def test_fenced_effect_and_control_writes_of_a_run_without_a_record_are_fenced_out(
    storage: StorageBackend,
) -> None:
    writes = [
        storage.astart_effect("gone", "charge", "charge:card", "idem-1", fencing_token=1),
        storage.acomplete_effect("gone", "charge:card", "result", fencing_token=1),
        storage.afail_effect("gone", "charge:card", "boom", fencing_token=1),
        storage.aclear_control("gone", fencing_token=1),
    ]
    for write in writes:
        with pytest.raises(FencedOutError, match="no longer exists"):
            await write

    assert await storage.alist_effects("gone") == []
    assert await storage.aget_control("gone") is None


async def test_fenced_effect_and_control_writes_with_the_current_token_are_stored(
    harness: Harness, run_id: str
) -> None:
    storage = harness.storage
    token = (await storage.aclaim_run(run_id, make_owner_id())).fencing_token
    await storage.arequest_control(run_id, ControlAction.CANCEL)

    await storage.astart_effect(run_id, "charge", "charge:card", "idem-1", fencing_token=token)
    await storage.astart_effect(run_id, "mail", "mail:welcome", "idem-2", fencing_token=token)
    await storage.acomplete_effect(run_id, "charge:card", {"id": "ch_1"}, fencing_token=token)
    await storage.afail_effect(run_id, "mail:welcome", "bounced", fencing_token=token)
    await storage.aclear_control(run_id, fencing_token=token)

    reopened = harness.reopen()
    effects = await reopened.alist_effects(run_id)
    assert [(e.key, e.status) for e in effects] == [
        ("charge:card", EffectStatus.COMPLETED),
        ("mail:welcome", EffectStatus.FAILED),
    ]
    assert await reopened.aget_control(run_id) is None


async def test_an_effect_fencing_token_must_be_an_int(storage: StorageBackend, run_id: str) -> None:
    as_text: Any = "1"
    with pytest.raises(InvalidArgumentError, match="fencing token is an int"):
        await storage.astart_effect(run_id, "charge", "charge:card", "idem", fencing_token=as_text)
    with pytest.raises(InvalidArgumentError, match="fencing token is an int"):
        await storage.aclear_control(run_id, fencing_token=as_text)
    assert await storage.alist_effects(run_id) == []


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
