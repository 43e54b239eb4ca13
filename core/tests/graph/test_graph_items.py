"""A graph per batch item: each item is a child run with its own checkpoints, resumed inside."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from framework import CheckpointManager, EdgeSpec, GraphExecutor, GraphSpec, NodeSpec
from framework.batch import BatchConfig, BatchRunner, child_run_id
from framework.graph.graph_items import graph_per_item
from framework.schemas.item import ItemStatus
from framework.schemas.run import RunStatus


class Crash(BaseException):
    """Stands for the process dying inside a node."""


def pipeline() -> GraphSpec:
    """fetch -> parse -> store, each a function on the document ``text``."""
    steps = [
        ("fetch", ["doc"], ["text"]),
        ("parse", ["text"], ["words"]),
        ("store", ["words"], ["stored"]),
    ]
    return GraphSpec(
        id="pipeline",
        entry_node="fetch",
        terminal_nodes=["store"],
        nodes=[
            NodeSpec(
                id=i,
                name=i,
                description=i,
                function=i,
                input_keys=ins,
                output_keys=outs,
                max_retries=0,
            )
            for i, ins, outs in steps
        ],
        edges=[
            EdgeSpec(id="f-p", source="fetch", target="parse"),
            EdgeSpec(id="p-s", source="parse", target="store"),
        ],
    )


class Nodes:
    """The pipeline's functions, counting calls per (node, document)."""

    def __init__(self, crash_on: str | None = None, fail_once_on: str | None = None) -> None:
        self.calls: Counter[tuple[str, str]] = Counter()
        self.crash_on = crash_on
        self.fail_once_on = fail_once_on

    def executor(self, manager: CheckpointManager) -> GraphExecutor:
        executor = GraphExecutor(checkpoint_manager=manager)
        executor.register_function("fetch", self.fetch)
        executor.register_function("parse", self.parse)
        executor.register_function("store", self.store)
        return executor

    def fetch(self, doc: str) -> str:
        self.calls["fetch", doc] += 1
        return f"{doc} text of {doc}"

    def parse(self, text: str) -> list[str]:
        doc = text.split()[0]
        self.calls["parse", doc] += 1
        if doc == self.crash_on:
            self.crash_on = None
            raise Crash
        if doc == self.fail_once_on:
            self.fail_once_on = None
            raise ValueError("the parser choked")
        return text.split()

    def store(self, words: list[str]) -> int:
        self.calls["store", words[0]] += 1
        return len(words)


DOCS = [{"doc": f"d{n}"} for n in range(5)]
CONFIG = BatchConfig(concurrency=1, id_key="doc", backoff_seconds=0.0)


async def test_each_item_runs_the_graph_as_a_child_run_with_its_own_checkpoints() -> None:
    nodes = Nodes()
    async with CheckpointManager("memory://") as manager:
        fn = graph_per_item(nodes.executor(manager), pipeline())
        result = await BatchRunner(manager, CONFIG).run("b", DOCS, fn)
        item = await manager.storage.aget_item("b", "d2")
        child = await manager.storage.aget_run("b--d2")
        checkpoints = await manager.storage.alist_checkpoints("b--d2")

    assert result.status is RunStatus.COMPLETED and result.counts.completed == 5
    assert item is not None and item.result["stored"] == 4
    assert child is not None and child.status is RunStatus.COMPLETED
    assert checkpoints
    assert set(nodes.calls.values()) == {1}


async def test_a_crash_inside_an_item_resumes_inside_that_item(tmp_path: Path) -> None:
    nodes = Nodes(crash_on="d2")
    url = f"sqlite://{tmp_path / 'state.db'}"
    with pytest.raises(Crash):
        async with CheckpointManager(url) as manager:
            fn = graph_per_item(nodes.executor(manager), pipeline())
            await BatchRunner(manager, CONFIG).run("b", DOCS, fn)
    async with CheckpointManager(url) as manager:
        manager.config = manager.config.model_copy(update={"lease_ttl_seconds": 0.01})
        fn = graph_per_item(nodes.executor(manager), pipeline())
        result = await BatchRunner(manager, CONFIG).run("b", DOCS, fn)

    assert result.status is RunStatus.COMPLETED and result.counts.completed == 5
    assert nodes.calls["fetch", "d2"] == 1  # the crashed item resumed after its first node
    assert nodes.calls["parse", "d2"] == 2
    assert all(nodes.calls["fetch", f"d{n}"] == 1 for n in range(5))


async def test_a_failed_child_run_is_retried_from_the_node_that_failed() -> None:
    nodes = Nodes(fail_once_on="d3")
    async with CheckpointManager("memory://") as manager:
        fn = graph_per_item(nodes.executor(manager), pipeline())
        result = await BatchRunner(manager, CONFIG).run("b", DOCS, fn)
        item = await manager.storage.aget_item("b", "d3")

    assert result.counts.completed == 5
    assert item is not None and item.status is ItemStatus.COMPLETED and item.attempts == 2
    assert item.last_error is not None and item.last_error.type == "ItemRunError"
    assert (nodes.calls["fetch", "d3"], nodes.calls["parse", "d3"]) == (1, 2)


def test_a_child_run_id_too_long_for_an_id_is_named_by_a_hash() -> None:
    short = child_run_id("batch", "doc-1")
    long = child_run_id("batch", "x" * 200)

    assert short == "batch--doc-1"
    assert long.startswith("batch--") and len(long) <= 128
    assert long == child_run_id("batch", "x" * 200)


async def test_items_that_are_not_mappings_are_given_under_the_input_key() -> None:
    async with CheckpointManager("memory://") as manager:
        executor = Nodes().executor(manager)
        without = graph_per_item(executor, pipeline())
        refused = await BatchRunner(manager, BatchConfig(max_attempts=1)).run("a", ["d1"], without)
        keyed = graph_per_item(executor, pipeline(), input_key="doc")
        given = await BatchRunner(manager).run("b", ["d1"], keyed)
        failure = await manager.storage.alist_items("a", status=ItemStatus.FAILED)

    assert refused.counts.failed == 1
    assert failure[0].last_error is not None and "input_key" in failure[0].last_error.message
    assert given.counts.completed == 1
