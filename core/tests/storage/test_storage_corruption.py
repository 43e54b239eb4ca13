"""Conformance: a corrupted record is detected, reported and skipped, never loaded silently."""

from __future__ import annotations

import pytest

from framework.errors import CorruptCheckpointError
from framework.storage import CorruptCheckpoint, CorruptCheckpointWarning
from framework.testing.conformance import FileHarness, Harness
from framework.testing.values import make_checkpoint


def _save(harness: Harness, count: int, run_id: str = "run-1") -> None:
    for seq in range(count):
        harness.storage.save_checkpoint(make_checkpoint(run_id, seq, {"items": list(range(seq))}))


def _id(seq: int) -> str:
    return f"ckpt_run-1_step_{seq:06d}"


def test_flipped_byte_in_latest_falls_back_to_previous_with_warning(harness: Harness):
    _save(harness, 3)
    harness.corrupt("run-1", 2)

    with pytest.warns(CorruptCheckpointWarning, match=r"ckpt_run-1_step_000002.*seq 2"):
        latest = harness.storage.load_latest_checkpoint("run-1")

    assert latest.seq == 1
    assert latest.memory_snapshot == {"items": [0]}


def test_loading_a_corrupt_checkpoint_raises(harness: Harness):
    _save(harness, 3)
    harness.corrupt("run-1", 2)

    with pytest.raises(CorruptCheckpointError, match="checksum"):
        harness.storage.load_checkpoint("run-1", _id(2))
    assert harness.storage.load_checkpoint("run-1", _id(1)).seq == 1


def test_verify_lists_the_corrupt_checkpoint(harness: Harness):
    _save(harness, 3)
    assert harness.storage.verify("run-1") == []

    harness.corrupt("run-1", 2)
    problems = harness.storage.verify("run-1")

    assert [(p.id, p.seq) for p in problems] == [(_id(2), 2)]
    assert isinstance(problems[0], CorruptCheckpoint)
    assert "checksum" in problems[0].reason


def test_corrupt_base_record_invalidates_the_checkpoints_built_on_it(harness: Harness):
    # Record 0 is the full snapshot; 1 and 2 are deltas on top of it.
    _save(harness, 3)
    harness.corrupt("run-1", 0)

    assert [p.seq for p in harness.storage.verify("run-1")] == [0, 1, 2]
    with pytest.raises(CorruptCheckpointError):
        harness.storage.load_checkpoint("run-1", _id(2))
    with pytest.warns(CorruptCheckpointWarning) as caught:
        assert harness.storage.load_latest_checkpoint("run-1") is None
    assert len(caught) == 3


def test_saving_after_corruption_builds_on_the_last_valid_checkpoint(harness: Harness):
    _save(harness, 3)
    harness.corrupt("run-1", 2)
    # A restart: resume from the newest valid checkpoint, then carry on saving.
    storage = harness.reopen()
    with pytest.warns(CorruptCheckpointWarning):
        assert storage.load_latest_checkpoint("run-1").seq == 1

    storage.save_checkpoint(make_checkpoint("run-1", 3, {"items": [0, 1, 2]}))

    assert storage.load_latest_checkpoint("run-1").memory_snapshot == {"items": [0, 1, 2]}
    assert [p.seq for p in storage.verify("run-1")] == [2]


def test_truncated_record_file_is_detected(tmp_path):
    harness = FileHarness(tmp_path)
    _save(harness, 3)
    harness.truncate("run-1", 2)

    with pytest.raises(CorruptCheckpointError):
        harness.storage.load_checkpoint("run-1", _id(2))
    with pytest.warns(CorruptCheckpointWarning):
        assert harness.storage.load_latest_checkpoint("run-1").seq == 1
    assert [p.seq for p in harness.storage.verify("run-1")] == [2]


def test_missing_record_file_is_reported_as_corrupt(tmp_path):
    harness = FileHarness(tmp_path)
    _save(harness, 2)
    harness.record_path("run-1", 1).unlink()

    with pytest.raises(CorruptCheckpointError, match="missing"):
        harness.storage.load_checkpoint("run-1", _id(1))
    with pytest.warns(CorruptCheckpointWarning):
        assert harness.storage.load_latest_checkpoint("run-1").seq == 0


def test_a_restarted_writer_never_builds_on_a_corrupt_record(disk_harness: Harness):
    _save(disk_harness, 3)
    disk_harness.corrupt("run-1", 2)

    disk_harness.reopen().save_checkpoint(make_checkpoint("run-1", 3, {"items": [0, 1, 2]}))

    loaded = disk_harness.reopen().load_checkpoint("run-1", _id(3))
    assert loaded.memory_snapshot == {"items": [0, 1, 2]}
