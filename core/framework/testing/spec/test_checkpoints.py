"""Conformance: checkpoints come back exactly, in order, from every backend."""

from __future__ import annotations

from typing import Any

import pytest

from framework.errors import (
    CheckpointEncodeError,
    CheckpointTooLargeError,
    InvalidArgumentError,
    StorageError,
)
from framework.schemas.checkpoint import CheckpointKind, ExecutorType
from framework.storage.backend import StorageBackend
from framework.testing.conformance import Harness
from framework.testing.values import (
    assert_exact,
    every_type_memory,
    full_checkpoint,
    make_checkpoint,
)


async def test_checkpoint_with_every_supported_type_round_trips_exactly(
    storage: StorageBackend,
) -> None:
    cp = full_checkpoint("run-1", 0)

    await storage.asave_checkpoint(cp)
    loaded = await storage.aload_checkpoint("run-1", cp.id)

    assert loaded is not None
    assert loaded == cp
    assert_exact(loaded.memory_snapshot, every_type_memory(), "memory")
    assert_exact(loaded.pending_input, cp.pending_input, "pending_input")
    assert_exact(loaded.context, cp.context, "context")
    assert_exact(loaded.metadata, cp.metadata, "metadata")
    offset = loaded.created_at.utcoffset()
    assert offset is not None
    assert loaded.created_at == cp.created_at and offset.total_seconds() == 0


async def test_every_type_survives_a_delta_chain(harness: Harness) -> None:
    # The second save is stored as a delta against the first; the typed values must still
    # revive exactly, including from a fresh instance that never saw the first save.
    await harness.storage.asave_checkpoint(full_checkpoint("run-1", 0))
    second = full_checkpoint("run-1", 1)
    second.memory_snapshot["added"] = {"set": {1, 2}}
    del second.memory_snapshot["text"]
    await harness.storage.asave_checkpoint(second)

    loaded = await harness.reopen().aload_checkpoint("run-1", second.id)

    assert loaded is not None
    assert loaded == second
    assert_exact(loaded.memory_snapshot, second.memory_snapshot, "memory")


async def test_latest_is_the_highest_seq(storage: StorageBackend) -> None:
    for seq in (0, 1, 5, 9):
        await storage.asave_checkpoint(make_checkpoint("run-1", seq))

    latest = await storage.aload_latest_checkpoint("run-1")

    assert latest is not None
    assert latest.seq == 9
    assert latest.memory_snapshot == {"counter": 9}
    assert await storage.alatest_seq("run-1") == 9


async def test_list_is_oldest_first_with_metadata(storage: StorageBackend) -> None:
    for seq in range(3):
        await storage.asave_checkpoint(
            make_checkpoint("run-1", seq, kind=CheckpointKind.PAUSE, executor_type="flexible")
        )

    listed = await storage.alist_checkpoints("run-1")

    assert [m.seq for m in listed] == [0, 1, 2]
    assert [m.id for m in listed] == [f"ckpt_run-1_step_{s:06d}" for s in range(3)]
    assert all(m.run_id == "run-1" and m.node_id == "step" for m in listed)
    assert all(m.kind is CheckpointKind.PAUSE for m in listed)
    assert all(m.executor_type is ExecutorType.FLEXIBLE for m in listed)
    assert [m.step_number for m in listed] == [1, 2, 3]
    assert [m.total_tokens for m in listed] == [0, 10, 20]
    assert all(m.size_bytes > 0 for m in listed)


async def test_metadata_returned_by_save_matches_the_listing(storage: StorageBackend) -> None:
    saved = await storage.asave_checkpoint(make_checkpoint("run-1", 0))

    assert await storage.alist_checkpoints("run-1") == [saved]


async def test_unknown_run_or_checkpoint_gives_none_and_empty(storage: StorageBackend) -> None:
    await storage.asave_checkpoint(make_checkpoint("run-1", 0))

    assert await storage.aload_checkpoint("run-1", "ckpt_missing") is None
    assert await storage.aload_checkpoint("run-2", "ckpt_run-1_step_000000") is None
    assert await storage.aload_latest_checkpoint("run-2") is None
    assert await storage.alist_checkpoints("run-2") == []
    assert await storage.alatest_seq("run-2") == -1


async def test_seq_not_greater_than_latest_is_refused(storage: StorageBackend) -> None:
    await storage.asave_checkpoint(make_checkpoint("run-1", 3))

    for seq in (3, 2):
        with pytest.raises(StorageError, match="not greater than the latest stored seq 3"):
            await storage.asave_checkpoint(make_checkpoint("run-1", seq, id=f"ckpt_other_{seq}"))
    assert [m.seq for m in await storage.alist_checkpoints("run-1")] == [3]


async def _latest_memory(storage: StorageBackend, run_id: str) -> dict[str, Any]:
    latest = await storage.aload_latest_checkpoint(run_id)
    assert latest is not None
    return latest.memory_snapshot


async def test_runs_are_independent(storage: StorageBackend) -> None:
    await storage.asave_checkpoint(make_checkpoint("run-a", 0, {"who": "a"}))
    await storage.asave_checkpoint(make_checkpoint("run-b", 0, {"who": "b"}))
    await storage.asave_checkpoint(make_checkpoint("run-a", 1, {"who": "a2"}))

    assert await _latest_memory(storage, "run-a") == {"who": "a2"}
    assert await _latest_memory(storage, "run-b") == {"who": "b"}
    assert await storage.adelete_checkpoints("run-a") == 2
    assert await _latest_memory(storage, "run-b") == {"who": "b"}


async def test_a_fresh_instance_continues_the_delta_chain(harness: Harness) -> None:
    for seq in range(3):
        await harness.storage.asave_checkpoint(
            make_checkpoint("run-1", seq, {"items": list(range(seq))})
        )
    other = harness.reopen()
    for seq in range(3, 6):
        await other.asave_checkpoint(make_checkpoint("run-1", seq, {"items": list(range(seq))}))

    for seq in range(6):
        loaded = await harness.storage.aload_checkpoint("run-1", f"ckpt_run-1_step_{seq:06d}")
        assert loaded is not None
        assert loaded.memory_snapshot == {"items": list(range(seq))}


async def test_memory_changes_of_every_shape_load_exactly(storage: StorageBackend) -> None:
    states: list[dict[str, Any]] = [
        {"log": ["a"], "cfg": {"x": 1, "y": {"z": 1}}, "gone": 1, "n": 1},
        {"log": ["a", "b"], "cfg": {"x": 1, "y": {"z": 2}}, "n": True},
        {"log": ["b"], "cfg": {"x": 1.0, "y": {}}, "n": 1},
        {"log": ["b", ("t",)], "cfg": {"y": {"new": None}}, "n": -0.0},
        {},
    ]
    for seq, memory in enumerate(states):
        await storage.asave_checkpoint(make_checkpoint("run-1", seq, memory))

    for seq, memory in enumerate(states):
        loaded = await storage.aload_checkpoint("run-1", f"ckpt_run-1_step_{seq:06d}")
        assert loaded is not None
        assert_exact(loaded.memory_snapshot, memory, f"state {seq}")


async def test_unencodable_value_names_its_key_path_and_stores_nothing(
    storage: StorageBackend,
) -> None:
    cp = make_checkpoint("run-1", 0, {"docs": [{}, {}, {}, {"author": object()}]})

    with pytest.raises(CheckpointEncodeError) as caught:
        await storage.asave_checkpoint(cp)

    assert "memory['docs'][3]['author']" in str(caught.value)
    assert caught.value.type_name == "object"
    assert await storage.alatest_seq("run-1") == -1
    assert await storage.alist_checkpoints("run-1") == []


async def test_max_bytes_per_save_lowers_the_limit_for_that_save(storage: StorageBackend) -> None:
    big = make_checkpoint("run-1", 0, {"big": "x" * 3_000})

    with pytest.raises(CheckpointTooLargeError, match="max_checkpoint_bytes=1,000"):
        await storage.asave_checkpoint(big, max_bytes=1_000)
    assert await storage.alatest_seq("run-1") == -1

    await storage.asave_checkpoint(big, max_bytes=100_000)
    assert await storage.alatest_seq("run-1") == 0


@pytest.mark.parametrize("bad", [0, -5, 1.5, "10"])
async def test_a_bad_max_bytes_is_refused(storage: StorageBackend, bad: Any) -> None:
    with pytest.raises(InvalidArgumentError, match="max_bytes"):
        await storage.asave_checkpoint(make_checkpoint("run-1", 0), max_bytes=bad)
    assert await storage.alatest_seq("run-1") == -1
