"""The map node: a function over a list as a durable batch of the run, resumed at the item
frontier after a crash; the graph goes on with the results and the failures."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from framework import CheckpointManager, EdgeSpec, GraphExecutor, GraphSpec, NodeSpec, NodeType
from framework.errors import GraphValidationError
from framework.graph import graph_per_item
from framework.runner import AgentRunner
from framework.schemas.item import ItemStatus
from framework.schemas.run import RunStatus


class Crash(BaseException):
    """Stands for the process dying inside an element."""


def graph(**map_fields: Any) -> GraphSpec:
    """summarise (map over ``docs``) -> report (counts what came out)."""
    fields: dict[str, Any] = {
        "id": "summarise",
        "name": "summarise",
        "description": "one summary per document",
        "node_type": NodeType.MAP,
        "function": "summarise",
        "input_keys": ["docs"],
        "output_keys": ["summaries"],
        "max_retries": 1,
        **map_fields,
    }
    return GraphSpec(
        id="mapped",
        entry_node="summarise",
        terminal_nodes=["report"],
        nodes=[
            NodeSpec(**fields),
            NodeSpec(
                id="report",
                name="report",
                description="counts",
                function="report",
                input_keys=["summaries"],
                output_keys=["report"],
            ),
        ],
        edges=[EdgeSpec(id="s-r", source="summarise", target="report")],
    )


class Work:
    def __init__(self, crash_at: str | None = None) -> None:
        self.calls: Counter[str] = Counter()
        self.crash_at = crash_at

    def executor(self, manager: CheckpointManager | None = None) -> GraphExecutor:
        executor = GraphExecutor(checkpoint_manager=manager)
        executor.register_function("summarise", self.summarise)
        executor.register_function("report", self.report)
        return executor

    async def summarise(self, doc: str) -> str:
        self.calls[doc] += 1
        if doc == self.crash_at:
            self.crash_at = None
            raise Crash
        if doc.startswith("bad"):
            raise ValueError(f"cannot read {doc}")
        return doc.upper()

    def report(self, summaries: dict[str, Any]) -> str:
        done = sum(result is not None for result in summaries["results"])
        return f"{done} summarised, {len(summaries['failed'])} failed"


DOCS = [f"doc{n}" for n in range(10)]


async def test_a_map_node_gives_the_results_in_order_and_the_failures() -> None:
    work = Work()
    async with CheckpointManager("memory://") as manager:
        result = await work.executor(manager).execute(
            graph(), None, {"docs": ["a", "bad-1", "b"]}, run_id="r"
        )

    assert result.run_status is RunStatus.COMPLETED
    summaries = result.output["summaries"]
    assert summaries["results"] == ["A", None, "B"]
    assert summaries["failed"] == [{"index": 1, "error": "ValueError: cannot read bad-1"}]
    assert result.output["report"] == "2 summarised, 1 failed"
    assert work.calls["bad-1"] == 2  # max_retries=1: two attempts


async def test_a_map_node_runs_without_a_checkpoint_manager() -> None:
    result = await Work().executor().execute(graph(), None, {"docs": ["x", "y"]})

    assert result.success and result.output["summaries"]["results"] == ["X", "Y"]


async def test_a_crash_inside_a_map_resumes_at_the_item_frontier(tmp_path: Path) -> None:
    work = Work(crash_at="doc6")
    url = f"sqlite://{tmp_path / 'state.db'}"
    with pytest.raises(Crash):
        async with CheckpointManager(url) as manager:
            await work.executor(manager).execute(graph(), None, {"docs": DOCS}, run_id="r")
    async with CheckpointManager(url) as manager:
        (batch,) = await manager.storage.alist_runs(graph_id="batch")
        stored = await manager.storage.alist_items(batch.run_id, status=ItemStatus.COMPLETED)
        stored_before = {item.input["value"] for item in stored}
        manager.config = manager.config.model_copy(update={"lease_ttl_seconds": 0.01})
        result = await work.executor(manager).execute(graph(), None, {"docs": DOCS}, run_id="r")

    assert result.run_status is RunStatus.COMPLETED
    assert result.output["summaries"]["results"] == [doc.upper() for doc in DOCS]
    assert result.output["report"] == "10 summarised, 0 failed"
    rerun = {doc for doc, count in work.calls.items() if count > 1}
    assert "doc6" in rerun and not rerun & stored_before  # a stored item never runs again
    assert len(rerun) <= 2 * 4  # at most the items in flight and those waiting to be stored


async def test_a_map_over_something_that_is_not_a_list_fails_the_node() -> None:
    result = await Work().executor().execute(graph(max_retries=0), None, {"docs": "abc"})

    assert not result.success
    assert result.error is not None and "needs a list in 'docs', not str" in result.error


def test_a_map_node_needs_a_function_and_its_keys() -> None:
    executor = Work().executor()
    with pytest.raises(GraphValidationError, match="map node 'summarise' has no function"):
        executor.prepare(graph(function="missing"))
    with pytest.raises(GraphValidationError, match="needs an input key"):
        executor.prepare(graph(input_keys=[]))


async def test_an_agent_folder_declares_a_map_node_in_agent_json(tmp_path: Path) -> None:
    node = {
        "id": "shout",
        "name": "Shout",
        "description": "Upper-case every line.",
        "node_type": "map",
        "function": "shout",
        "input_keys": ["lines"],
        "output_keys": ["shouted"],
    }
    graph = {"id": "g", "entry_node": "shout", "terminal_nodes": ["shout"], "nodes": [node]}
    goal = {"id": "goal", "name": "Goal", "description": "Shout."}
    folder = tmp_path / "agent"
    folder.mkdir()
    (folder / "agent.json").write_text(json.dumps({"graph": graph, "goal": goal}))
    (folder / "functions.py").write_text("def shout(line):\n    return line.upper()\n")

    async with AgentRunner.load(folder, storage_path=tmp_path / "home") as runner:
        result = await runner.run({"lines": ["a", "b"]})

    assert result.success
    assert result.output["shouted"] == {"results": ["A", "B"], "failed": []}


async def test_a_map_node_runs_a_sub_graph_per_element_resumed_inside_after_a_crash(
    tmp_path: Path,
) -> None:
    calls: Counter[tuple[str, str]] = Counter()
    crash = {"d3"}

    def fetch(doc: str) -> str:
        calls["fetch", doc] += 1
        return doc

    def parse(text: str) -> str:
        calls["parse", text] += 1
        if text in crash:
            crash.clear()
            raise Crash
        return text.upper()

    sub = GraphSpec(
        id="per-doc",
        entry_node="fetch",
        terminal_nodes=["parse"],
        nodes=[
            NodeSpec(
                id="fetch",
                name="f",
                description="f",
                function="fetch",
                input_keys=["doc"],
                output_keys=["text"],
            ),
            NodeSpec(
                id="parse",
                name="p",
                description="p",
                function="parse",
                input_keys=["text"],
                output_keys=["parsed"],
                max_retries=0,
            ),
        ],
        edges=[EdgeSpec(id="f-p", source="fetch", target="parse")],
    )
    docs = [f"d{n}" for n in range(6)]

    async def run(manager: CheckpointManager) -> Any:
        executor = Work().executor(manager)
        executor.register_function("fetch", fetch)
        executor.register_function("parse", parse)
        executor.register_function("summarise", graph_per_item(executor, sub, input_key="doc"))
        outer = graph(max_retries=0)
        return await executor.execute(outer, None, {"docs": docs}, run_id="r")

    url = f"sqlite://{tmp_path / 'state.db'}"
    with pytest.raises(Crash):
        async with CheckpointManager(url) as manager:
            await run(manager)
    async with CheckpointManager(url) as manager:
        manager.config = manager.config.model_copy(update={"lease_ttl_seconds": 0.01})
        result = await run(manager)

    assert result.run_status is RunStatus.COMPLETED
    parsed = [output["parsed"] for output in result.output["summaries"]["results"]]
    assert parsed == [doc.upper() for doc in docs]
    assert calls["fetch", "d3"] == 1 and calls["parse", "d3"] == 2  # resumed inside d3
    assert all(calls["fetch", doc] == 1 for doc in docs)
