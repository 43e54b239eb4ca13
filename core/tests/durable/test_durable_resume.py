"""Resuming a durable graph run: exact continuation, stored results, refusals."""

from __future__ import annotations

from typing import Any

import pytest
from durable_helpers import GOAL, TOKENS_PER_NODE, Crash, NodeLog, chain, comparable, executor_for

from framework.errors import GraphChangedError, GraphValidationError, RunConflictError
from framework.graph import EdgeSpec, GraphSpec
from framework.graph.checkpoint_manager import CheckpointManager
from framework.graph.node import NodeResult, NodeSpec
from framework.schemas.run import RunStatus
from framework.storage.backend import StorageBackend

SEED = {"seed": "s"}


async def uninterrupted(graph: GraphSpec) -> dict[str, Any]:
    return comparable(await executor_for(graph, NodeLog()).execute(graph, GOAL, SEED))


async def test_resume_after_a_crash_skips_completed_nodes_and_equals_an_uninterrupted_run(
    manager: CheckpointManager, storage: StorageBackend, log: NodeLog
) -> None:
    graph = chain(5)
    log.crash_at = "n4"

    with pytest.raises(Crash):
        await executor_for(graph, log, manager).execute(graph, GOAL, SEED, run_id="r")

    assert log.calls == ["n1", "n2", "n3"]
    crashed = storage.get_run("r")
    assert crashed is not None and crashed.status is RunStatus.RUNNING
    assert crashed.lease_owner is None  # released, so a restart need not wait for expiry

    result = await executor_for(graph, log, manager).execute(graph, GOAL, run_id="r")

    assert log.calls == ["n1", "n2", "n3", "n4", "n5"]
    assert comparable(result) == await uninterrupted(graph)
    assert result.total_tokens == 5 * TOKENS_PER_NODE
    assert result.node_visit_counts == {f"n{i}": 1 for i in range(1, 6)}
    assert result.run_id == "r"
    record = storage.get_run("r")
    assert record is not None
    assert record.status is RunStatus.COMPLETED
    assert record.totals.steps == 5 and record.totals.tokens == 5 * TOKENS_PER_NODE
    assert record.fencing_token == 2  # one claim per execution
    final = storage.load_latest_checkpoint("r")
    assert final is not None and final.next_node_id is None
    assert record.latest_checkpoint_id == final.id


async def test_crash_before_the_first_node_resumes_with_the_stored_input(
    manager: CheckpointManager, log: NodeLog
) -> None:
    graph = chain(2)
    log.crash_at = "n1"
    with pytest.raises(Crash):
        await executor_for(graph, log, manager).execute(graph, GOAL, SEED, run_id="r")

    result = await executor_for(graph, log, manager).execute(graph, GOAL, run_id="r")

    assert result.output == {"seed": "s", "n1": "n1(s)", "n2": "n2(n1(s))"}
    assert log.calls == ["n1", "n2"]


async def test_completed_run_id_returns_the_stored_result_without_running_anything(
    manager: CheckpointManager, storage: StorageBackend, log: NodeLog
) -> None:
    graph = chain(3)
    first = await executor_for(graph, log, manager).execute(graph, GOAL, SEED, run_id="r")
    checkpoints = len(storage.list_checkpoints("r"))

    again = await executor_for(graph, log, manager).execute(graph, GOAL, SEED, run_id="r")

    assert log.calls == ["n1", "n2", "n3"]
    assert comparable(again) == comparable(first)
    assert again.run_status is RunStatus.COMPLETED
    assert len(storage.list_checkpoints("r")) == checkpoints


async def test_reusing_a_run_id_with_other_input_raises_run_conflict(
    manager: CheckpointManager, log: NodeLog
) -> None:
    graph = chain(2)
    await executor_for(graph, log, manager).execute(graph, GOAL, SEED, run_id="r")

    with pytest.raises(RunConflictError, match="'r' was started with other input"):
        await executor_for(graph, log, manager).execute(graph, GOAL, {"seed": "x"}, run_id="r")
    assert log.calls == ["n1", "n2"]


async def test_changed_graph_is_refused_unless_forced(
    manager: CheckpointManager, storage: StorageBackend, log: NodeLog
) -> None:
    graph = chain(3, pause_nodes=["n1"])
    paused = await executor_for(graph, log, manager).execute(graph, GOAL, SEED, run_id="r")
    assert paused.run_status is RunStatus.PAUSED

    changed = graph.model_copy(update={"pause_nodes": []})
    with pytest.raises(GraphChangedError, match="force=True"):
        await executor_for(changed, log, manager).execute(changed, GOAL, run_id="r")
    assert log.calls == ["n1"]
    record = storage.get_run("r")
    assert record is not None and record.status is RunStatus.PAUSED

    forced = await executor_for(changed, log, manager).execute(
        changed, GOAL, run_id="r", force=True
    )

    assert forced.run_status is RunStatus.COMPLETED
    assert log.calls == ["n1", "n2", "n3"]


async def test_renamed_graph_is_not_a_changed_graph(
    manager: CheckpointManager, log: NodeLog
) -> None:
    graph = chain(2, pause_nodes=["n1"])
    await executor_for(graph, log, manager).execute(graph, GOAL, SEED, run_id="r")
    renamed = graph.model_copy(update={"name": "renamed", "description": "new words"})

    result = await executor_for(renamed, log, manager).execute(renamed, GOAL, run_id="r")

    assert result.run_status is RunStatus.COMPLETED


async def test_retry_counts_and_pending_input_are_restored_exactly(
    manager: CheckpointManager, storage: StorageBackend
) -> None:
    graph = GraphSpec(
        id="mapped",
        entry_node="draft",
        nodes=[
            NodeSpec(id="draft", name="draft", description="d", output_keys=["draft"]),
            NodeSpec(
                id="publish",
                name="publish",
                description="p",
                input_keys=["text"],
                output_keys=["published"],
            ),
        ],
        edges=[
            EdgeSpec(id="d-p", source="draft", target="publish", input_mapping={"text": "draft"})
        ],
    )
    attempts: list[str] = []
    crash = {"armed": True}

    def draft() -> NodeResult:
        attempts.append("draft")
        if len(attempts) == 1:
            return NodeResult(success=False, error="flaky", tokens_used=1)
        return NodeResult(success=True, output={"draft": "words"}, tokens_used=2)

    def publish(text: str) -> str:
        if crash["armed"]:
            crash["armed"] = False
            raise Crash("publish")
        return text.upper()

    def build() -> Any:
        ex = executor_for(graph, NodeLog(), manager)
        ex.register_function("draft", draft)
        ex.register_function("publish", publish)
        return ex

    with pytest.raises(Crash):
        await build().execute(graph, GOAL, run_id="r")
    stored = storage.load_latest_checkpoint("r")
    assert stored is not None
    assert stored.next_node_id == "publish"
    assert stored.pending_input == {"text": "words"}
    assert stored.retry_counts == {"draft": 1}
    assert stored.visit_counts == {"draft": 1}
    assert stored.total_tokens == 3

    result = await build().execute(graph, GOAL, run_id="r")

    assert result.output["published"] == "WORDS"  # publish read "text" from pending input
    assert "text" not in result.output
    assert attempts == ["draft", "draft"]
    final = storage.load_latest_checkpoint("r")
    assert final is not None
    assert final.retry_counts == {"draft": 1}
    assert final.visit_counts == {"draft": 1, "publish": 1}
    assert result.total_tokens == 3


async def test_failing_node_fails_the_run_and_running_it_again_resumes_at_that_node(
    manager: CheckpointManager, storage: StorageBackend, log: NodeLog
) -> None:
    graph = chain(4)
    log.fail_at = "n3"

    failed = await executor_for(graph, log, manager).execute(graph, GOAL, SEED, run_id="r")

    assert failed.success is False and failed.run_status is RunStatus.FAILED
    record = storage.get_run("r")
    assert record is not None and record.status is RunStatus.FAILED
    assert record.last_error is not None and "n3 is broken" in record.last_error
    before = storage.load_latest_checkpoint("r")
    assert before is not None
    assert before.next_node_id == "n3" and before.execution_path == ["n1", "n2"]
    assert "last_error" not in before.memory_snapshot

    log.fail_at = None
    result = await executor_for(graph, log, manager).execute(graph, GOAL, run_id="r")

    assert result.run_status is RunStatus.COMPLETED
    assert log.calls == ["n1", "n2", "n3", "n3", "n3", "n3", "n3", "n4"]  # 4 failed attempts
    assert result.path == ["n1", "n2", "n3", "n4"]
    record = storage.get_run("r")
    assert record is not None and record.last_error is None


async def test_a_stored_run_is_not_continued_from_a_session_state(
    manager: CheckpointManager, log: NodeLog
) -> None:
    graph = chain(3, pause_nodes=["n1"])
    paused = await executor_for(graph, log, manager).execute(graph, GOAL, SEED, run_id="r")

    with pytest.raises(GraphValidationError, match="without session_state"):
        await executor_for(graph, log, manager).execute(
            graph, GOAL, session_state=paused.session_state, run_id="r"
        )
    assert log.calls == ["n1"]
