"""CheckpointManager: ids, saving, listing, restoring and deleting through the storage contract."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from framework.graph.checkpoint_manager import CheckpointManager
from framework.graph.node import NodeContext, NodeSpec
from framework.graph.shared_memory import SharedMemory
from framework.schemas.checkpoint import (
    CheckpointConfig,
    CheckpointKind,
    ExecutorType,
    RetentionStrategy,
)
from framework.storage import MemoryStorage
from framework.storage.backend import StorageBackend

KEEP_ALL = CheckpointConfig(retention_strategy=RetentionStrategy.ALL)


@pytest.fixture
def manager(storage: StorageBackend) -> Callable[..., CheckpointManager]:
    """``manager(config=KEEP_ALL)``: a manager over the ``storage`` backend."""
    return lambda config=KEEP_ALL: CheckpointManager(storage, config)


def test_ids_name_run_and_node_and_are_unique_and_ordered_within_the_run(
    manager: Callable[..., CheckpointManager],
) -> None:
    mgr = manager()
    ids = [mgr.save_checkpoint("run-1", node, {"n": i}) for i, node in enumerate("aba")]
    assert ids == ["ckpt_run-1_a_000000", "ckpt_run-1_b_000001", "ckpt_run-1_a_000002"]
    listed = mgr.list_checkpoints("run-1")
    assert [m.id for m in listed] == ids
    assert [m.seq for m in listed] == [0, 1, 2]
    assert [int(re.search(r"_(\d+)$", i).group(1)) for i in ids] == [0, 1, 2]


def test_numbering_continues_from_what_storage_holds(storage: StorageBackend) -> None:
    CheckpointManager(storage, KEEP_ALL).save_checkpoint("r", "a", {})
    CheckpointManager(storage, KEEP_ALL).save_checkpoint("r", "b", {})
    third = CheckpointManager(storage, KEEP_ALL).save_checkpoint("r", "c", {})
    assert third == "ckpt_r_c_000002"
    assert storage.latest_seq("r") == 2


def test_runs_are_numbered_independently(manager: Callable[..., CheckpointManager]) -> None:
    mgr = manager()
    mgr.save_checkpoint("r1", "a", {})
    assert mgr.save_checkpoint("r2", "a", {}) == "ckpt_r2_a_000000"


def test_saved_memory_and_fields_come_back_exactly(
    manager: Callable[..., CheckpointManager],
) -> None:
    mgr = manager()
    memory = {
        "docs": [{"title": "x", "when": datetime(2024, 1, 2, tzinfo=UTC)}],
        "seen": {"a", "b"},
        "price": Decimal("9.990"),
    }
    checkpoint_id = mgr.save_checkpoint(
        "r",
        "extract",
        memory,
        ExecutorType.BATCH,
        {
            "execution_path": ["load", "extract"],
            "step_number": 2,
            "total_tokens": 120,
            "total_latency_ms": 35,
            "total_cost": 0.25,
            "next_node_id": "summarise",
            "pending_input": {"text": "hello"},
            "visit_counts": {"load": 1, "extract": 1},
            "retry_counts": {"extract": 2},
            "graph_fingerprint": "sha256:abc",
            "context": {"cursor": 7},
            "reviewer": "ann",
            "metadata": {"ticket": 42},
        },
    )
    cp = mgr.get_checkpoint("r", checkpoint_id)
    assert cp is not None
    assert cp.memory_snapshot == memory
    assert cp.executor_type is ExecutorType.BATCH
    assert cp.node_id == "extract"
    assert cp.execution_path == ["load", "extract"]
    assert (cp.step_number, cp.total_tokens, cp.total_latency_ms) == (2, 120, 35)
    assert cp.total_cost == 0.25
    assert cp.next_node_id == "summarise"
    assert cp.pending_input == {"text": "hello"}
    assert cp.visit_counts == {"load": 1, "extract": 1}
    assert cp.retry_counts == {"extract": 2}
    assert cp.graph_fingerprint == "sha256:abc"
    assert cp.context == {"cursor": 7}
    assert cp.metadata == {"reviewer": "ann", "ticket": 42}
    assert cp.kind is CheckpointKind.NODE_COMPLETE


def test_shared_memory_is_saved_whole_even_through_a_scoped_view(
    manager: Callable[..., CheckpointManager],
) -> None:
    memory = SharedMemory({"a": 1, "b": [2]})
    mgr = manager()
    mgr.save_checkpoint("r", "n", memory)
    assert mgr.restore_from_checkpoint("r") == ({"a": 1, "b": [2]}, "n")


def test_restore_resumes_at_recorded_next_node(manager: Callable[..., CheckpointManager]) -> None:
    mgr = manager()
    mgr.save_checkpoint("r", "a", {"x": 1}, metadata={"next_node_id": "b"})
    assert mgr.restore_from_checkpoint("r") == ({"x": 1}, "b")


def test_restore_resumes_at_saved_node_when_no_next_node_was_recorded(
    manager: Callable[..., CheckpointManager],
) -> None:
    mgr = manager()
    mgr.save_checkpoint("r", "a", {"x": 1})
    assert mgr.restore_from_checkpoint("r") == ({"x": 1}, "a")


def test_restore_uses_the_latest_checkpoint_unless_one_is_named(
    manager: Callable[..., CheckpointManager],
) -> None:
    mgr = manager()
    first = mgr.save_checkpoint("r", "a", {"step": 1}, metadata={"next_node_id": "b"})
    mgr.save_checkpoint("r", "b", {"step": 2}, metadata={"next_node_id": "c"})
    assert mgr.restore_from_checkpoint("r") == ({"step": 2}, "c")
    assert mgr.restore_from_checkpoint("r", first) == ({"step": 1}, "b")


def test_restore_returns_nothing_when_there_is_nothing(
    manager: Callable[..., CheckpointManager],
) -> None:
    mgr = manager()
    assert mgr.restore_from_checkpoint("never-ran") == (None, None)
    mgr.save_checkpoint("r", "a", {})
    assert mgr.restore_from_checkpoint("r", "ckpt_r_a_000099") == (None, None)
    assert mgr.get_checkpoint("never-ran") is None


def test_restore_returns_nothing_when_auto_recovery_is_off(storage: StorageBackend) -> None:
    CheckpointManager(storage).save_checkpoint("r", "a", {"x": 1})
    off = CheckpointManager(storage, CheckpointConfig(auto_recovery=False))
    assert off.restore_from_checkpoint("r") == (None, None)
    assert off.get_checkpoint("r") is not None


def test_disabled_manager_returns_none_and_writes_nothing(
    storage: StorageBackend, stored: Callable[[], list[str]]
) -> None:
    mgr = CheckpointManager(storage, CheckpointConfig(enabled=False))
    assert mgr.save_checkpoint("r", "a", {"x": 1}) is None
    assert mgr.save_requested("r", "a", {"x": 1}, [{"why": "asked"}]) is None
    assert storage.list_checkpoints("r") == []
    assert storage.latest_seq("r") == -1
    assert stored() == []


def test_delete_returns_the_count_and_numbering_starts_over(
    manager: Callable[..., CheckpointManager],
) -> None:
    mgr = manager()
    for node in "abc":
        mgr.save_checkpoint("r", node, {})
    assert mgr.delete_checkpoints("r") == 3
    assert mgr.list_checkpoints("r") == []
    assert mgr.delete_checkpoints("r") == 0
    assert mgr.save_checkpoint("r", "d", {}) == "ckpt_r_d_000000"


def test_requested_checkpoint_carries_the_nodes_metadata(
    manager: Callable[..., CheckpointManager],
) -> None:
    mgr = manager(CheckpointConfig(save_frequency="on_request", retention_strategy="all"))
    spec = NodeSpec(id="review", name="Review", description="asks for a checkpoint")
    ctx = NodeContext(run_id="r", node_id="review", node_spec=spec, memory=SharedMemory())
    ctx.request_checkpoint(metadata={"reason": "before payment", "amount": 10})
    ctx.request_checkpoint(metadata={"amount": 12})
    assert mgr.should_checkpoint(1) is False
    assert mgr.should_checkpoint(1, requested=bool(ctx.checkpoint_requests)) is True

    checkpoint_id = mgr.save_requested(
        "r", "review", {"total": 3}, ctx.checkpoint_requests, metadata={"next_node_id": "pay"}
    )

    cp = mgr.get_checkpoint("r", checkpoint_id)
    assert cp is not None
    assert cp.kind is CheckpointKind.REQUESTED
    assert cp.metadata == {"reason": "before payment", "amount": 12}
    assert cp.next_node_id == "pay"
    assert mgr.list_checkpoints("r")[0].kind is CheckpointKind.REQUESTED


def test_no_request_means_no_requested_checkpoint(
    manager: Callable[..., CheckpointManager],
) -> None:
    mgr = manager()
    assert mgr.save_requested("r", "n", {}, []) is None
    assert mgr.list_checkpoints("r") == []


def test_kind_can_be_given_in_metadata(manager: Callable[..., CheckpointManager]) -> None:
    mgr = manager()
    checkpoint_id = mgr.save_checkpoint("r", "n", {}, metadata={"kind": "pause"})
    assert mgr.get_checkpoint("r", checkpoint_id).kind is CheckpointKind.PAUSE


async def test_sync_api_works_inside_a_running_event_loop(
    manager: Callable[..., CheckpointManager],
) -> None:
    asyncio.get_running_loop()
    mgr = manager()
    checkpoint_id = mgr.save_checkpoint("r", "a", {"x": 1}, metadata={"next_node_id": "b"})
    assert [m.id for m in mgr.list_checkpoints("r")] == [checkpoint_id]
    assert mgr.get_checkpoint("r").id == checkpoint_id
    assert mgr.restore_from_checkpoint("r") == ({"x": 1}, "b")
    assert mgr.delete_checkpoints("r") == 1


async def test_async_twins_do_what_the_sync_methods_do(
    manager: Callable[..., CheckpointManager],
) -> None:
    mgr = manager()
    first = await mgr.asave_checkpoint("r", "a", {"x": 1}, metadata={"next_node_id": "b"})
    second = await mgr.asave_requested("r", "b", {"x": 2}, [{"why": "asked"}])
    assert (first, second) == ("ckpt_r_a_000000", "ckpt_r_b_000001")
    assert [m.id for m in await mgr.alist_checkpoints("r")] == [first, second]
    assert (await mgr.aget_checkpoint("r")).metadata == {"why": "asked"}
    assert (await mgr.aget_checkpoint("r", first)).memory_snapshot == {"x": 1}
    assert await mgr.arestore_from_checkpoint("r", first) == ({"x": 1}, "b")
    assert await mgr.adelete_checkpoints("r") == 2
    assert await mgr.arestore_from_checkpoint("r") == (None, None)


async def test_async_restore_respects_auto_recovery_off(storage: StorageBackend) -> None:
    await CheckpointManager(storage).asave_checkpoint("r", "a", {})
    off = CheckpointManager(storage, CheckpointConfig(auto_recovery=False))
    assert await off.arestore_from_checkpoint("r") == (None, None)


async def test_async_disabled_manager_writes_nothing(storage: StorageBackend) -> None:
    mgr = CheckpointManager(storage, CheckpointConfig(enabled=False))
    assert await mgr.asave_checkpoint("r", "a", {}) is None
    assert storage.list_checkpoints("r") == []


def test_manager_closes_only_storage_it_opened() -> None:
    class CountingStorage(MemoryStorage):
        closed = 0

        def close(self) -> None:
            self.closed += 1

    storage = CountingStorage()
    with CheckpointManager(storage) as mgr:
        mgr.save_checkpoint("r", "a", {})
    assert storage.closed == 0


def test_storage_must_be_a_backend_or_url() -> None:
    with pytest.raises(TypeError, match="StorageBackend or a storage URL"):
        CheckpointManager(42)  # type: ignore[arg-type]
