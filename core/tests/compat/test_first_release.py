"""What the first release stored still loads and continues, and its way of using storage
directly still works.

``first_release/store`` was written by the first release itself (see its
``make_store.py``): a plan paused after its first step, whose plan state that release kept
in ``context["plan"]``, and a graph run paused by its token budget, which it kept among the
run's ``metadata``.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
from first_release.make_store import GOAL, graph, plan

from framework import CheckpointManager, FileStorage, FlexibleGraphExecutor, GraphExecutor
from framework.errors import StorageError
from framework.graph import (
    NodeResult,
)
from framework.schemas import Checkpoint, CheckpointConfig, RunBudget, RunStatus
from framework.storage import codec
from framework.storage.backend import StorageBackend

STORE = Path(__file__).parent / "first_release" / "store"


@pytest.fixture
def store(tmp_path: Path) -> FileStorage:
    shutil.copytree(STORE, tmp_path / "store")
    return FileStorage(tmp_path / "store")


def test_a_first_release_plan_checkpoint_loads_with_its_plan_state(store: FileStorage) -> None:
    cp = store.load_latest_checkpoint("plan-1")

    assert cp is not None and cp.plan_state is not None
    assert [step["status"] for step in cp.plan_state.plan["steps"]] == [
        "completed",
        "pending",
        "pending",
    ]
    assert "plan" not in cp.context and "revision" not in cp.context
    assert cp.plan_state.revision == 1 and cp.next_node_id == "b"


async def test_a_first_release_plan_run_continues_without_repeating_its_step(
    store: FileStorage,
) -> None:
    calls: list[str] = []

    def step(name: str, value: int) -> Any:
        def run() -> dict[str, int]:
            calls.append(name)
            return {"value": value}

        return run

    functions = {"a": step("a", 1), "b": step("b", 2), "c": step("c", 3)}
    executor = FlexibleGraphExecutor(
        None, functions=functions, checkpoint_manager=CheckpointManager(store)
    )

    result = await executor.execute_plan(plan(), GOAL, run_id="plan-1")

    assert result.run_status is RunStatus.COMPLETED and calls == ["b", "c"]
    assert result.results == {"a": {"value": 1}, "b": {"value": 2}, "c": {"value": 3}}


async def test_a_first_release_run_keeps_its_budget_and_continues_with_a_higher_one(
    store: FileStorage,
) -> None:
    record = await store.aget_run("graph-1")
    assert record is not None
    assert record.budget == RunBudget(max_tokens=15) and record.metadata == {}
    calls: list[str] = []
    executor = GraphExecutor(checkpoint_manager=CheckpointManager(store))
    for node in ("n1", "n2", "n3"):

        def run(node: str = node) -> NodeResult:
            calls.append(node)
            return NodeResult(success=True, output={node: node}, tokens_used=10)

        executor.register_function(node, run)

    result = await executor.execute(graph(), GOAL, run_id="graph-1", max_tokens=100)

    assert result.run_status is RunStatus.COMPLETED and calls == ["n3"]
    assert result.total_tokens == 30
    stored = await store.aget_run("graph-1")
    assert stored is not None and stored.budget == RunBudget(max_tokens=100)


def test_a_stored_config_revives_under_the_name_the_first_release_gave_it() -> None:
    tree = codec.encode(CheckpointConfig(n_nodes=3))

    assert (
        isinstance(tree, dict) and tree["type"] == "framework.schemas.checkpoint.CheckpointConfig"
    )
    assert codec.decode(tree) == CheckpointConfig(n_nodes=3)


def test_checkpoints_saved_without_a_seq_append_one_after_another(storage: StorageBackend) -> None:
    # The seed's way: build checkpoints by hand and hand them to the storage.
    for name in ("first", "second", "third"):
        storage.save_checkpoint(Checkpoint(id=name, run_id="run-1", memory_snapshot={"at": name}))

    latest = storage.load_latest_checkpoint("run-1")
    assert latest is not None and (latest.id, latest.seq) == ("third", 2)
    assert latest.memory_snapshot == {"at": "third"}
    assert [(m.id, m.seq) for m in storage.list_checkpoints("run-1")] == [
        ("first", 0),
        ("second", 1),
        ("third", 2),
    ]


def test_an_explicit_seq_must_still_be_greater_than_the_latest(storage: StorageBackend) -> None:
    storage.save_checkpoint(Checkpoint(id="a", run_id="run-1"))
    storage.save_checkpoint(Checkpoint(id="b", run_id="run-1", seq=5))

    with pytest.raises(StorageError, match="not greater than the latest stored seq 5"):
        storage.save_checkpoint(Checkpoint(id="c", run_id="run-1", seq=5))
    storage.save_checkpoint(Checkpoint(id="d", run_id="run-1"))

    assert [(m.id, m.seq) for m in storage.list_checkpoints("run-1")] == [
        ("a", 0),
        ("b", 5),
        ("d", 6),
    ]
