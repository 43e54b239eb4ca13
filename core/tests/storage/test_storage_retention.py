"""Conformance: delete and prune counts are exact and what remains still loads completely."""

from __future__ import annotations

import pytest

from framework.errors import InvalidArgumentError
from framework.storage.backend import StorageBackend
from framework.testing.conformance import Harness
from framework.testing.values import make_checkpoint


def _memory(seq: int) -> dict[str, object]:
    return {"items": [f"item-{i}" for i in range(seq + 1)], "last": seq}


def _save(storage: StorageBackend, seqs: range, run_id: str = "run-1") -> None:
    for seq in seqs:
        storage.save_checkpoint(make_checkpoint(run_id, seq, _memory(seq)))


def test_delete_returns_the_count_and_removes_everything(harness: Harness):
    _save(harness.storage, range(4))

    assert harness.storage.delete_checkpoints("run-1") == 4
    assert harness.storage.list_checkpoints("run-1") == []
    assert harness.storage.load_latest_checkpoint("run-1") is None
    assert harness.storage.latest_seq("run-1") == -1
    assert harness.stored_bytes("run-1") == 0
    assert harness.storage.delete_checkpoints("run-1") == 0


def test_a_run_can_start_over_after_delete(storage: StorageBackend):
    _save(storage, range(3))
    storage.delete_checkpoints("run-1")

    _save(storage, range(2))

    assert [m.seq for m in storage.list_checkpoints("run-1")] == [0, 1]
    assert storage.load_latest_checkpoint("run-1").memory_snapshot == _memory(1)


@pytest.mark.parametrize(("saved", "keep", "removed"), [(5, 2, 3), (5, 1, 4), (3, 5, 0), (4, 0, 4)])
def test_prune_keeps_exactly_the_newest(storage: StorageBackend, saved, keep, removed):
    _save(storage, range(saved))

    assert storage.prune_checkpoints("run-1", keep) == removed

    kept = list(range(saved))[saved - min(keep, saved) :]
    assert [m.seq for m in storage.list_checkpoints("run-1")] == kept
    for seq in kept:
        loaded = storage.load_checkpoint("run-1", f"ckpt_run-1_step_{seq:06d}")
        assert loaded.memory_snapshot == _memory(seq)


def test_pruned_checkpoints_are_not_loadable(storage: StorageBackend):
    _save(storage, range(3))
    storage.prune_checkpoints("run-1", 1)

    assert storage.load_checkpoint("run-1", "ckpt_run-1_step_000000") is None
    assert storage.load_checkpoint("run-1", "ckpt_run-1_step_000001") is None
    assert storage.verify("run-1") == []


def test_pruning_the_base_of_a_delta_chain_keeps_what_remaining_ones_need(harness: Harness):
    # seq 0 is the full snapshot every later delta is built on.
    _save(harness.storage, range(6))
    assert harness.storage.prune_checkpoints("run-1", 2) == 4

    for storage in (harness.storage, harness.reopen()):
        assert storage.load_latest_checkpoint("run-1").memory_snapshot == _memory(5)
        assert storage.load_checkpoint("run-1", "ckpt_run-1_step_000004").memory_snapshot == (
            _memory(4)
        )
    harness.storage.save_checkpoint(make_checkpoint("run-1", 6, _memory(6)))
    assert harness.storage.load_latest_checkpoint("run-1").memory_snapshot == _memory(6)
    assert harness.storage.prune_checkpoints("run-1", 1) == 2


def test_records_no_remaining_checkpoint_needs_are_deleted(harness: Harness):
    # Each state shares nothing with the one before, so every record is about 5 kB and a
    # new full snapshot starts once the deltas since the last one outweigh it.
    for seq in range(10):
        harness.storage.save_checkpoint(make_checkpoint("run-1", seq, {"blob": str(seq) * 5_000}))
    assert harness.stored_bytes("run-1") > 10 * 5_000

    harness.storage.prune_checkpoints("run-1", 1)

    # What is left is the latest checkpoint's chain: its full snapshot and at most the
    # deltas that did not yet outweigh it.
    assert harness.stored_bytes("run-1") < 3 * 5_500
    assert harness.storage.load_latest_checkpoint("run-1").memory_snapshot == {"blob": "9" * 5_000}


def test_prune_with_a_negative_keep_is_refused(storage: StorageBackend):
    with pytest.raises(InvalidArgumentError, match="keep"):
        storage.prune_checkpoints("run-1", -1)
