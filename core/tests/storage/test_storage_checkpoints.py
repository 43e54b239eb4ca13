"""Conformance: checkpoints come back exactly, in order, from every backend."""

from __future__ import annotations

import pytest

from framework.errors import (
    CheckpointEncodeError,
    CheckpointTooLargeError,
    InvalidArgumentError,
    StorageError,
)
from framework.schemas.checkpoint import CheckpointKind, ExecutorType
from framework.storage import FileStorage, MemoryStorage, SQLiteStorage
from framework.storage.backend import StorageBackend
from framework.testing.conformance import Harness
from framework.testing.values import (
    assert_exact,
    every_type_memory,
    full_checkpoint,
    make_checkpoint,
)


def test_checkpoint_with_every_supported_type_round_trips_exactly(storage: StorageBackend):
    cp = full_checkpoint("run-1", 0)

    storage.save_checkpoint(cp)
    loaded = storage.load_checkpoint("run-1", cp.id)

    assert loaded == cp
    assert_exact(loaded.memory_snapshot, every_type_memory(), "memory")
    assert_exact(loaded.pending_input, cp.pending_input, "pending_input")
    assert_exact(loaded.context, cp.context, "context")
    assert_exact(loaded.metadata, cp.metadata, "metadata")
    assert loaded.created_at == cp.created_at and loaded.created_at.utcoffset().total_seconds() == 0


def test_every_type_survives_a_delta_chain(harness: Harness):
    # The second save is stored as a delta against the first; the typed values must still
    # revive exactly, including from a fresh instance that never saw the first save.
    harness.storage.save_checkpoint(full_checkpoint("run-1", 0))
    second = full_checkpoint("run-1", 1)
    second.memory_snapshot["added"] = {"set": {1, 2}}
    del second.memory_snapshot["text"]
    harness.storage.save_checkpoint(second)

    loaded = harness.reopen().load_checkpoint("run-1", second.id)

    assert loaded == second
    assert_exact(loaded.memory_snapshot, second.memory_snapshot, "memory")


def test_latest_is_the_highest_seq(storage: StorageBackend):
    for seq in (0, 1, 5, 9):
        storage.save_checkpoint(make_checkpoint("run-1", seq))

    latest = storage.load_latest_checkpoint("run-1")

    assert latest.seq == 9
    assert latest.memory_snapshot == {"counter": 9}
    assert storage.latest_seq("run-1") == 9


def test_list_is_oldest_first_with_metadata(storage: StorageBackend):
    for seq in range(3):
        storage.save_checkpoint(
            make_checkpoint("run-1", seq, kind=CheckpointKind.PAUSE, executor_type="flexible")
        )

    listed = storage.list_checkpoints("run-1")

    assert [m.seq for m in listed] == [0, 1, 2]
    assert [m.id for m in listed] == [f"ckpt_run-1_step_{s:06d}" for s in range(3)]
    assert all(m.run_id == "run-1" and m.node_id == "step" for m in listed)
    assert all(m.kind is CheckpointKind.PAUSE for m in listed)
    assert all(m.executor_type is ExecutorType.FLEXIBLE for m in listed)
    assert [m.step_number for m in listed] == [1, 2, 3]
    assert [m.total_tokens for m in listed] == [0, 10, 20]
    assert all(m.size_bytes > 0 for m in listed)


def test_metadata_returned_by_save_matches_the_listing(storage: StorageBackend):
    saved = storage.save_checkpoint(make_checkpoint("run-1", 0))

    assert storage.list_checkpoints("run-1") == [saved]


def test_unknown_run_or_checkpoint_gives_none_and_empty(storage: StorageBackend):
    storage.save_checkpoint(make_checkpoint("run-1", 0))

    assert storage.load_checkpoint("run-1", "ckpt_missing") is None
    assert storage.load_checkpoint("run-2", "ckpt_run-1_step_000000") is None
    assert storage.load_latest_checkpoint("run-2") is None
    assert storage.list_checkpoints("run-2") == []
    assert storage.latest_seq("run-2") == -1


def test_seq_not_greater_than_latest_is_refused(storage: StorageBackend):
    storage.save_checkpoint(make_checkpoint("run-1", 3))

    for seq in (3, 2):
        with pytest.raises(StorageError, match="not greater than the latest stored seq 3"):
            storage.save_checkpoint(make_checkpoint("run-1", seq, id=f"ckpt_other_{seq}"))
    assert [m.seq for m in storage.list_checkpoints("run-1")] == [3]


def test_runs_are_independent(storage: StorageBackend):
    storage.save_checkpoint(make_checkpoint("run-a", 0, {"who": "a"}))
    storage.save_checkpoint(make_checkpoint("run-b", 0, {"who": "b"}))
    storage.save_checkpoint(make_checkpoint("run-a", 1, {"who": "a2"}))

    assert storage.load_latest_checkpoint("run-a").memory_snapshot == {"who": "a2"}
    assert storage.load_latest_checkpoint("run-b").memory_snapshot == {"who": "b"}
    assert storage.delete_checkpoints("run-a") == 2
    assert storage.load_latest_checkpoint("run-b").memory_snapshot == {"who": "b"}


def test_a_fresh_instance_continues_the_delta_chain(harness: Harness):
    for seq in range(3):
        harness.storage.save_checkpoint(make_checkpoint("run-1", seq, {"items": list(range(seq))}))
    other = harness.reopen()
    for seq in range(3, 6):
        other.save_checkpoint(make_checkpoint("run-1", seq, {"items": list(range(seq))}))

    for seq in range(6):
        loaded = harness.storage.load_checkpoint("run-1", f"ckpt_run-1_step_{seq:06d}")
        assert loaded.memory_snapshot == {"items": list(range(seq))}


def test_memory_changes_of_every_shape_load_exactly(storage: StorageBackend):
    states = [
        {"log": ["a"], "cfg": {"x": 1, "y": {"z": 1}}, "gone": 1, "n": 1},
        {"log": ["a", "b"], "cfg": {"x": 1, "y": {"z": 2}}, "n": True},
        {"log": ["b"], "cfg": {"x": 1.0, "y": {}}, "n": 1},
        {"log": ["b", ("t",)], "cfg": {"y": {"new": None}}, "n": -0.0},
        {},
    ]
    for seq, memory in enumerate(states):
        storage.save_checkpoint(make_checkpoint("run-1", seq, memory))

    for seq, memory in enumerate(states):
        loaded = storage.load_checkpoint("run-1", f"ckpt_run-1_step_{seq:06d}")
        assert_exact(loaded.memory_snapshot, memory, f"state {seq}")


def test_unencodable_value_names_its_key_path_and_stores_nothing(storage: StorageBackend):
    cp = make_checkpoint("run-1", 0, {"docs": [{}, {}, {}, {"author": object()}]})

    with pytest.raises(CheckpointEncodeError) as caught:
        storage.save_checkpoint(cp)

    assert "memory['docs'][3]['author']" in str(caught.value)
    assert caught.value.type_name == "object"
    assert storage.latest_seq("run-1") == -1
    assert storage.list_checkpoints("run-1") == []


@pytest.mark.parametrize("factory", [MemoryStorage, FileStorage, SQLiteStorage])
def test_checkpoint_above_max_bytes_names_largest_keys(factory, tmp_path):
    if factory is MemoryStorage:
        storage = factory(max_checkpoint_bytes=2_000)
    else:
        storage = factory(tmp_path / "store", max_checkpoint_bytes=2_000)
    cp = make_checkpoint("run-1", 0, {"big": "x" * 3_000, "medium": "y" * 500, "small": 1})

    with pytest.raises(CheckpointTooLargeError) as caught:
        storage.save_checkpoint(cp)

    message = str(caught.value)
    assert "max_checkpoint_bytes=2,000" in message
    assert message.index("'big'") < message.index("'medium'") < message.index("'small'")
    assert storage.latest_seq("run-1") == -1
    storage.save_checkpoint(make_checkpoint("run-1", 0, {"small": 1}))
    assert storage.latest_seq("run-1") == 0
    storage.close()


def test_max_bytes_per_save_lowers_the_limit_for_that_save(storage: StorageBackend):
    big = make_checkpoint("run-1", 0, {"big": "x" * 3_000})

    with pytest.raises(CheckpointTooLargeError, match="max_checkpoint_bytes=1,000"):
        storage.save_checkpoint(big, max_bytes=1_000)
    assert storage.latest_seq("run-1") == -1

    storage.save_checkpoint(big, max_bytes=100_000)
    assert storage.latest_seq("run-1") == 0


@pytest.mark.parametrize("factory", [MemoryStorage, FileStorage, SQLiteStorage])
async def test_the_lower_of_backend_and_per_save_limit_applies(factory, tmp_path):
    args = () if factory is MemoryStorage else (tmp_path / "store",)
    storage = factory(*args, max_checkpoint_bytes=2_000)
    cp = make_checkpoint("run-1", 0, {"big": "x" * 3_000})

    with pytest.raises(CheckpointTooLargeError, match="max_checkpoint_bytes=2,000"):
        await storage.asave_checkpoint(cp, max_bytes=1_000_000)
    with pytest.raises(CheckpointTooLargeError, match="max_checkpoint_bytes=500"):
        await storage.asave_checkpoint(make_checkpoint("run-1", 0, {"m": "y" * 800}), max_bytes=500)
    assert await storage.alatest_seq("run-1") == -1
    storage.close()


@pytest.mark.parametrize("bad", [0, -5, 1.5, "10"])
def test_a_bad_max_bytes_is_refused(storage: StorageBackend, bad):
    with pytest.raises(InvalidArgumentError, match="max_bytes"):
        storage.save_checkpoint(make_checkpoint("run-1", 0), max_bytes=bad)
    assert storage.latest_seq("run-1") == -1
