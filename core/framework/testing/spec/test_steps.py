"""Conformance: a durable run's step write — checkpoint, run progress, retention and the
pending control request in one atomic ``commit_step``."""

from __future__ import annotations

import asyncio

import pytest

from framework.errors import CheckpointEncodeError, FencedOutError
from framework.schemas.control import ControlAction
from framework.schemas.lease import make_owner_id
from framework.schemas.run import RunRecord, RunTotals
from framework.storage.backend import StorageBackend
from framework.testing.conformance import Harness
from framework.testing.values import assert_exact, make_checkpoint


async def test_a_step_stores_the_checkpoint_and_points_the_run_at_it(
    harness: Harness, token: int
) -> None:
    cp = make_checkpoint("run-1", 0, {"docs": ["a"]})

    commit = await harness.storage.acommit_step(cp, fencing_token=token)

    storage = harness.reopen()
    record = await storage.aget_run("run-1")
    assert record is not None
    assert record.latest_checkpoint_id == cp.id == commit.checkpoint.id
    assert record.totals == RunTotals.of(cp) == commit.record.totals
    assert commit.record.latest_checkpoint_id == cp.id
    loaded = await storage.aload_checkpoint("run-1", cp.id)
    assert loaded is not None
    assert_exact(loaded.memory_snapshot, {"docs": ["a"]})


async def test_a_step_with_keep_leaves_only_the_newest_checkpoints(
    harness: Harness, token: int
) -> None:
    for seq in range(5):
        await harness.storage.acommit_step(
            make_checkpoint("run-1", seq), fencing_token=token, keep=2
        )

    listed = await harness.reopen().alist_checkpoints("run-1")
    assert [m.seq for m in listed] == [3, 4]


async def test_steps_keeping_the_latest_store_a_fraction_of_keeping_every_step(
    harness: Harness, token: int
) -> None:
    # A large unchanging value and a small changing one: a backend that stores what changed
    # starts new full records along the way, and each must retire the chain before it.
    steps, text = 150, "x" * 2000
    await harness.storage.acreate_run(RunRecord(run_id="run-2"))
    kept_all = (await harness.storage.aclaim_run("run-2", make_owner_id())).fencing_token
    for seq in range(steps):
        memory = {"text": text, "counter": seq}
        await harness.storage.acommit_step(
            make_checkpoint("run-1", seq, memory), fencing_token=token, keep=1
        )
        await harness.storage.acommit_step(
            make_checkpoint("run-2", seq, memory), fencing_token=kept_all
        )

    reopened = harness.reopen()
    assert [m.seq for m in await reopened.alist_checkpoints("run-1")] == [steps - 1]
    assert await reopened.averify("run-1") == []
    loaded = await reopened.aload_latest_checkpoint("run-1")
    assert loaded is not None
    assert_exact(loaded.memory_snapshot, {"text": text, "counter": steps - 1})
    assert harness.stored_bytes("run-1") < harness.stored_bytes("run-2") / 4


async def test_steps_keeping_the_latest_prune_what_another_writer_stored(
    harness: Harness, token: int
) -> None:
    other = harness.reopen()
    for seq in range(3):
        await harness.storage.acommit_step(
            make_checkpoint("run-1", seq), fencing_token=token, keep=1
        )
    await other.acommit_step(make_checkpoint("run-1", 3), fencing_token=token)
    await other.acommit_step(make_checkpoint("run-1", 4), fencing_token=token)
    await harness.storage.acommit_step(make_checkpoint("run-1", 5), fencing_token=token, keep=1)
    await harness.storage.acommit_step(make_checkpoint("run-1", 6), fencing_token=token, keep=1)

    reopened = harness.reopen()
    assert [m.seq for m in await reopened.alist_checkpoints("run-1")] == [6]
    assert await reopened.averify("run-1") == []
    loaded = await reopened.aload_latest_checkpoint("run-1")
    assert loaded is not None
    assert_exact(loaded.memory_snapshot, {"counter": 6})


async def test_a_step_returns_the_pending_control_request(
    storage: StorageBackend, token: int
) -> None:
    first = await storage.acommit_step(make_checkpoint("run-1", 0), fencing_token=token)
    await storage.arequest_control("run-1", ControlAction.PAUSE, "for review")
    second = await storage.acommit_step(make_checkpoint("run-1", 1), fencing_token=token)

    assert first.control is None
    assert second.control is not None
    assert (second.control.action, second.control.reason) == (ControlAction.PAUSE, "for review")


async def test_a_step_with_a_stale_token_stores_nothing(harness: Harness) -> None:
    storage = harness.storage
    await storage.acreate_run(RunRecord(run_id="run-2"))
    stale = (await storage.aclaim_run("run-2", make_owner_id(), ttl_seconds=0.01)).fencing_token
    await storage.acommit_step(make_checkpoint("run-2", 0), fencing_token=stale)
    await asyncio.sleep(0.05)
    current = (await storage.aclaim_run("run-2", make_owner_id())).fencing_token

    with pytest.raises(FencedOutError):
        await storage.acommit_step(make_checkpoint("run-2", 1), fencing_token=stale)

    reopened = harness.reopen()
    record = await reopened.aget_run("run-2")
    assert record is not None and record.fencing_token == current
    assert record.latest_checkpoint_id == make_checkpoint("run-2", 0).id
    assert [m.seq for m in await reopened.alist_checkpoints("run-2")] == [0]


async def test_a_step_whose_checkpoint_cannot_be_encoded_stores_nothing(
    harness: Harness, token: int
) -> None:
    await harness.storage.acommit_step(make_checkpoint("run-1", 0), fencing_token=token)

    with pytest.raises(CheckpointEncodeError, match=r"memory\['bad'\]"):
        await harness.storage.acommit_step(
            make_checkpoint("run-1", 1, {"bad": object()}), fencing_token=token, keep=1
        )

    reopened = harness.reopen()
    record = await reopened.aget_run("run-1")
    assert record is not None
    assert record.latest_checkpoint_id == make_checkpoint("run-1", 0).id
    assert [m.seq for m in await reopened.alist_checkpoints("run-1")] == [0]
