"""Forking a run from a stored checkpoint, and previewing what a resume would do."""

from __future__ import annotations

import pytest
from durable_helpers import GOAL, Crash, NodeLog, chain, executor_for, kinds

from framework.errors import RunNotFoundError
from framework.graph.checkpoint_manager import CheckpointManager
from framework.graph.node import NodeContext
from framework.schemas.checkpoint import CheckpointKind
from framework.schemas.run import RunStatus
from framework.storage.backend import StorageBackend

SEED = {"seed": "s"}


async def test_fork_continues_from_the_checkpoint_with_updated_memory_and_parent_links(
    manager: CheckpointManager, storage: StorageBackend, log: NodeLog
) -> None:
    graph = chain(4)
    parent = await executor_for(graph, log, manager).execute(graph, GOAL, SEED, run_id="r")
    after_n2 = next(m for m in storage.list_checkpoints("r") if m.node_id == "n2")
    parent_kinds = kinds(storage, "r")

    fork_id = await manager.afork(
        "r", after_n2.id, new_run_id="r-edit", memory_updates={"n2": "edited"}
    )

    assert fork_id == "r-edit"
    record = storage.get_run("r-edit")
    assert record is not None
    assert record.parent_run_id == "r" and record.status is RunStatus.PAUSED
    start = storage.load_latest_checkpoint("r-edit")
    assert start is not None
    assert start.kind is CheckpointKind.START
    assert start.parent_run_id == "r" and start.parent_checkpoint_id == after_n2.id
    assert start.memory_snapshot["n2"] == "edited" and start.next_node_id == "n3"

    forked = await executor_for(graph, log, manager).execute(graph, GOAL, run_id="r-edit")

    assert log.calls == ["n1", "n2", "n3", "n4", "n3", "n4"]
    assert forked.output["n3"] == "n3(edited)" and forked.output["n4"] == "n4(n3(edited))"
    assert forked.path == parent.path and forked.total_tokens == parent.total_tokens
    parent_record = storage.get_run("r")
    assert parent_record is not None and parent_record.status is RunStatus.COMPLETED
    assert kinds(storage, "r") == parent_kinds
    parent_final = storage.load_latest_checkpoint("r")
    assert parent_final is not None and parent_final.memory_snapshot["n2"] == "n2(n1(s))"


async def test_fork_of_an_unknown_run_or_checkpoint_raises_run_not_found(
    manager: CheckpointManager, log: NodeLog
) -> None:
    graph = chain(2)
    await executor_for(graph, log, manager).execute(graph, GOAL, SEED, run_id="r")

    with pytest.raises(RunNotFoundError, match="'nope'"):
        manager.fork("nope")
    with pytest.raises(RunNotFoundError, match="ckpt_r_n9_000009"):
        manager.fork("r", "ckpt_r_n9_000009")


async def test_default_fork_id_names_the_parent(manager: CheckpointManager, log: NodeLog) -> None:
    graph = chain(2)
    await executor_for(graph, log, manager).execute(graph, GOAL, SEED, run_id="r")

    fork_id = manager.fork("r")

    assert fork_id.startswith("r-fork-")
    assert manager.preview_resume(fork_id).next_node is None  # forked from the final state


async def test_preview_resume_lists_completed_nodes_next_node_and_effects(
    manager: CheckpointManager, log: NodeLog
) -> None:
    graph = chain(4)
    executor = executor_for(graph, log, manager)

    def notify(**_: object) -> str:
        return "notified"

    def charge(**_: object) -> str:
        raise Crash("died while charging")

    async def n3(ctx: NodeContext) -> str:
        await ctx.effect("notify", notify)
        await ctx.effect("charge", charge)
        return "unreachable"

    executor.register_function("n3", n3)
    with pytest.raises(Crash):
        await executor.execute(graph, GOAL, SEED, run_id="r")

    preview = await manager.apreview_resume("r")

    assert preview.status is RunStatus.RUNNING
    assert preview.completed_nodes == ["n1", "n2"]
    assert preview.next_node == "n3" and preview.can_resume
    assert [e.key for e in preview.completed_effects] == ["n3:notify"]
    assert [e.key for e in preview.in_doubt_effects] == ["n3:charge"]
    assert preview.checkpoint_kind is CheckpointKind.NODE_COMPLETE
    assert preview.checkpoint_seq == 2
    assert preview.totals.steps == 2


async def test_preview_resume_shows_the_input_the_next_node_waits_for(
    manager: CheckpointManager, log: NodeLog
) -> None:
    graph = chain(2, pause_nodes=["n1"])
    graph.edges[0].input_mapping = {"draft": "n1"}
    await executor_for(graph, log, manager).execute(graph, GOAL, SEED, run_id="r")

    preview = manager.preview_resume("r")

    assert preview.status is RunStatus.PAUSED
    assert preview.next_node == "n2" and preview.pending_input_keys == ["draft"]


def test_preview_of_an_unknown_run_raises_run_not_found(manager: CheckpointManager) -> None:
    with pytest.raises(RunNotFoundError):
        manager.preview_resume("missing")
