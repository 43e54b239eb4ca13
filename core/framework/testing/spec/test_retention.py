"""Conformance: delete and prune counts are exact and what remains still loads completely."""

from __future__ import annotations

from typing import Any

import pytest

from framework.errors import InvalidArgumentError
from framework.storage.backend import StorageBackend
from framework.testing.conformance import Harness
from framework.testing.values import make_checkpoint


def _memory(seq: int) -> dict[str, object]:
    return {"items": [f"item-{i}" for i in range(seq + 1)], "last": seq}


async def _save(storage: StorageBackend, seqs: range, run_id: str = "run-1") -> None:
    for seq in seqs:
        await storage.asave_checkpoint(make_checkpoint(run_id, seq, _memory(seq)))


async def _latest_memory(storage: StorageBackend, run_id: str = "run-1") -> dict[str, Any]:
    latest = await storage.aload_latest_checkpoint(run_id)
    assert latest is not None
    return latest.memory_snapshot


async def _memory_of(storage: StorageBackend, seq: int, run_id: str = "run-1") -> dict[str, Any]:
    loaded = await storage.aload_checkpoint(run_id, f"ckpt_{run_id}_step_{seq:06d}")
    assert loaded is not None
    return loaded.memory_snapshot


async def test_delete_returns_the_count_and_removes_everything(harness: Harness) -> None:
    await _save(harness.storage, range(4))

    assert await harness.storage.adelete_checkpoints("run-1") == 4
    assert await harness.storage.alist_checkpoints("run-1") == []
    assert await harness.storage.aload_latest_checkpoint("run-1") is None
    assert await harness.storage.alatest_seq("run-1") == -1
    assert harness.stored_bytes("run-1") == 0
    assert await harness.storage.adelete_checkpoints("run-1") == 0


async def test_a_run_can_start_over_after_delete(storage: StorageBackend) -> None:
    await _save(storage, range(3))
    await storage.adelete_checkpoints("run-1")

    await _save(storage, range(2))

    assert [m.seq for m in await storage.alist_checkpoints("run-1")] == [0, 1]
    assert await _latest_memory(storage) == _memory(1)


@pytest.mark.parametrize(("saved", "keep", "removed"), [(5, 2, 3), (5, 1, 4), (3, 5, 0), (4, 0, 4)])
async def test_prune_keeps_exactly_the_newest(
    storage: StorageBackend, saved: int, keep: int, removed: int
) -> None:
    await _save(storage, range(saved))

    assert await storage.aprune_checkpoints("run-1", keep) == removed

    kept = list(range(saved))[saved - min(keep, saved) :]
    assert [m.seq for m in await storage.alist_checkpoints("run-1")] == kept
    for seq in kept:
        assert await _memory_of(storage, seq) == _memory(seq)


async def test_pruned_checkpoints_are_not_loadable(storage: StorageBackend) -> None:
    await _save(storage, range(3))
    await storage.aprune_checkpoints("run-1", 1)

    assert await storage.aload_checkpoint("run-1", "ckpt_run-1_step_000000") is None
    assert await storage.aload_checkpoint("run-1", "ckpt_run-1_step_000001") is None
    assert await storage.averify("run-1") == []


async def test_pruning_the_base_of_a_delta_chain_keeps_what_remaining_ones_need(
    harness: Harness,
) -> None:
    # seq 0 is the full snapshot every later delta is built on.
    await _save(harness.storage, range(6))
    assert await harness.storage.aprune_checkpoints("run-1", 2) == 4

    for storage in (harness.storage, harness.reopen()):
        assert await _latest_memory(storage) == _memory(5)
        assert await _memory_of(storage, 4) == _memory(4)
    await harness.storage.asave_checkpoint(make_checkpoint("run-1", 6, _memory(6)))
    assert await _latest_memory(harness.storage) == _memory(6)
    assert await harness.storage.aprune_checkpoints("run-1", 1) == 2


async def test_records_no_remaining_checkpoint_needs_are_deleted(harness: Harness) -> None:
    # Each state shares nothing with the one before, so every record is about 5 kB and a
    # new full snapshot starts once the deltas since the last one outweigh it.
    for seq in range(10):
        await harness.storage.asave_checkpoint(
            make_checkpoint("run-1", seq, {"blob": str(seq) * 5_000})
        )
    assert harness.stored_bytes("run-1") > 10 * 5_000

    await harness.storage.aprune_checkpoints("run-1", 1)

    # What is left is the latest checkpoint's chain: its full snapshot and at most the
    # deltas that did not yet outweigh it.
    assert harness.stored_bytes("run-1") < 3 * 5_500
    assert await _latest_memory(harness.storage) == {"blob": "9" * 5_000}


async def test_prune_with_a_negative_keep_is_refused(storage: StorageBackend) -> None:
    with pytest.raises(InvalidArgumentError, match="keep"):
        await storage.aprune_checkpoints("run-1", -1)
