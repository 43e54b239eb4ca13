"""The JSON the steering commands print (`preview --json`, `prune --json`), against goldens.

What changes from one run to the next (times, tracebacks, sizes, the seq of a batch's progress
checkpoint) is replaced by ``"<varies>"`` before comparing. ``UPDATE_GOLDENS=1`` rewrites the
golden files from the output.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import pytest
from test_cli_control import START, write_agent

from framework.batch import BatchConfig, BatchRunner, ItemContext
from framework.durable import CheckpointManager, idempotency_key
from framework.errors import PermanentItemError
from framework.schemas.run import RunRecord, RunStatus
from framework.storage import open_storage

# The `agentgraph` fixture (conftest.py): the command in this process, output captured.
Agentgraph = Callable[..., Any]

GOLDEN = Path(__file__).parent / "golden"
VARIES = "<varies>"


def scrubbed(value: Any, keys: set[str]) -> Any:
    if isinstance(value, dict):
        return {k: VARIES if k in keys else scrubbed(v, keys) for k, v in value.items()}
    if isinstance(value, list):
        return [scrubbed(item, keys) for item in value]
    return value


def assert_golden(name: str, output: str, varying: set[str]) -> None:
    data = scrubbed(json.loads(output), varying)
    path = GOLDEN / name
    if os.environ.get("UPDATE_GOLDENS"):
        path.parent.mkdir(exist_ok=True)
        path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n")
    assert data == json.loads(path.read_text())


@pytest.fixture
def url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("AGENTGRAPH_HOME", str(tmp_path / "home"))
    return f"sqlite://{tmp_path / 'state.db'}"


def test_preview_json_of_a_graph_run(tmp_path: Path, url: str, agentgraph: Agentgraph) -> None:
    agent = write_agent(tmp_path / "agent")
    agentgraph("run", str(agent), "--input", START, "--run-id", "ask", "--storage", url)
    with open_storage(url) as storage:
        storage.start_effect("ask", "b", "b:charge", idempotency_key("ask", "b", "b:charge"))

    shown = agentgraph("preview", "ask", "--json", "--storage", url)

    assert shown.code == 0, shown.stderr
    assert_golden("control_preview_graph.json", shown.stdout, {"started_at"})


def test_preview_json_of_a_batch(url: str, agentgraph: Agentgraph) -> None:
    async def item(value: dict[str, Any], ctx: ItemContext) -> int:
        if value["n"] in (2, 3):
            raise PermanentItemError(f"{value['n']} cannot be read")
        ctx.report_usage(tokens_in=10, tokens_out=5, cost=0.01)
        return int(value["n"])

    async def batch() -> None:
        async with CheckpointManager(url) as manager:
            runner = BatchRunner(manager, BatchConfig(id_key="id"))
            items = [{"id": f"doc-{n}", "n": n} for n in range(5)]
            await runner.run("docs", items, item)
            await runner.retry_failed("docs", item_ids=["doc-2"])

    anyio.run(batch)

    shown = agentgraph("preview", "docs", "--json", "--storage", url)

    assert shown.code == 0, shown.stderr
    varying = {"checkpoint_id", "checkpoint_seq", "checkpoint_kind", "traceback", "steps"}
    assert_golden("control_preview_batch.json", shown.stdout, varying)


def test_prune_json(url: str, agentgraph: Agentgraph) -> None:
    with CheckpointManager(url) as manager:
        for run_id, status in [
            ("done", RunStatus.COMPLETED),
            ("dropped", RunStatus.CANCELLED),
            ("docs", RunStatus.PAUSED),
            ("docs--doc-1", RunStatus.COMPLETED),
        ]:
            manager.storage.create_run(RunRecord(run_id=run_id, status=status))
            manager.save_checkpoint(run_id, "a", {"k": 1})

    shown = agentgraph("prune", "--older-than", "0s", "--json", "--storage", url)

    assert shown.code == 0, shown.stderr
    assert_golden("control_prune.json", shown.stdout, {"finished_at", "bytes"})
