"""Conformance: a corrupted record is detected, reported and skipped, never loaded silently."""

from __future__ import annotations

import pytest

from framework.errors import CorruptCheckpointError
from framework.storage import CorruptCheckpoint, CorruptCheckpointWarning
from framework.testing.conformance import Harness
from framework.testing.values import make_checkpoint


async def _save(harness: Harness, count: int, run_id: str = "run-1") -> None:
    for seq in range(count):
        await harness.storage.asave_checkpoint(
            make_checkpoint(run_id, seq, {"items": list(range(seq))})
        )


def _id(seq: int) -> str:
    return f"ckpt_run-1_step_{seq:06d}"


async def test_flipped_byte_in_latest_falls_back_to_previous_with_warning(
    harness: Harness,
) -> None:
    await _save(harness, 3)
    harness.corrupt("run-1", 2)

    with pytest.warns(CorruptCheckpointWarning, match=r"ckpt_run-1_step_000002.*seq 2"):
        latest = await harness.storage.aload_latest_checkpoint("run-1")

    assert latest is not None
    assert latest.seq == 1
    assert latest.memory_snapshot == {"items": [0]}


async def test_loading_a_corrupt_checkpoint_raises(harness: Harness) -> None:
    await _save(harness, 3)
    harness.corrupt("run-1", 2)

    with pytest.raises(CorruptCheckpointError, match="checksum"):
        await harness.storage.aload_checkpoint("run-1", _id(2))
    previous = await harness.storage.aload_checkpoint("run-1", _id(1))
    assert previous is not None
    assert previous.seq == 1


async def test_verify_lists_the_corrupt_checkpoint(harness: Harness) -> None:
    await _save(harness, 3)
    assert await harness.storage.averify("run-1") == []

    harness.corrupt("run-1", 2)
    problems = await harness.storage.averify("run-1")

    assert [(p.id, p.seq) for p in problems] == [(_id(2), 2)]
    assert isinstance(problems[0], CorruptCheckpoint)
    assert "checksum" in problems[0].reason


async def test_corrupt_base_record_invalidates_the_checkpoints_built_on_it(
    harness: Harness,
) -> None:
    # Record 0 is the full snapshot; 1 and 2 are deltas on top of it.
    await _save(harness, 3)
    harness.corrupt("run-1", 0)

    assert [p.seq for p in await harness.storage.averify("run-1")] == [0, 1, 2]
    with pytest.raises(CorruptCheckpointError):
        await harness.storage.aload_checkpoint("run-1", _id(2))
    with pytest.warns(CorruptCheckpointWarning) as caught:
        assert await harness.storage.aload_latest_checkpoint("run-1") is None
    assert len(caught) == 3


async def test_saving_after_corruption_builds_on_the_last_valid_checkpoint(
    harness: Harness,
) -> None:
    await _save(harness, 3)
    harness.corrupt("run-1", 2)
    # A restart: resume from the newest valid checkpoint, then carry on saving.
    storage = harness.reopen()
    with pytest.warns(CorruptCheckpointWarning):
        resumed = await storage.aload_latest_checkpoint("run-1")
    assert resumed is not None
    assert resumed.seq == 1

    await storage.asave_checkpoint(make_checkpoint("run-1", 3, {"items": [0, 1, 2]}))

    latest = await storage.aload_latest_checkpoint("run-1")
    assert latest is not None
    assert latest.memory_snapshot == {"items": [0, 1, 2]}
    assert [p.seq for p in await storage.averify("run-1")] == [2]


async def test_a_restarted_writer_never_builds_on_a_corrupt_record(
    disk_harness: Harness,
) -> None:
    await _save(disk_harness, 3)
    disk_harness.corrupt("run-1", 2)

    await disk_harness.reopen().asave_checkpoint(make_checkpoint("run-1", 3, {"items": [0, 1, 2]}))

    loaded = await disk_harness.reopen().aload_checkpoint("run-1", _id(3))
    assert loaded is not None
    assert loaded.memory_snapshot == {"items": [0, 1, 2]}
