"""An agent folder means what it says: a node runs the function it names, and loading or
running an agent writes nothing into its folder."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path
from typing import Any

import pytest

from framework.errors import AgentLoadError
from framework.runner import AgentRunner

EXAMPLES = Path(__file__).parents[3] / "examples" / "agents"
GOAL = {"id": "goal", "name": "Goal", "description": "Test."}
ARCHIVE_FUNCTIONS = """
def archive():
    return "archive (named like the node)"


def archive_invoice():
    return "archive_invoice"
"""


def archive_agent(folder: Path, functions: str) -> Path:
    node = {
        "id": "archive",
        "name": "Archive",
        "description": "File the invoice.",
        "function": "archive_invoice",
        "output_keys": ["archived_by"],
    }
    graph = {"id": "g", "entry_node": "archive", "terminal_nodes": ["archive"], "nodes": [node]}
    folder.mkdir(parents=True)
    (folder / "agent.json").write_text(json.dumps({"graph": graph, "goal": GOAL}))
    (folder / "functions.py").write_text(functions)
    return folder


def files_in(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


async def test_a_node_runs_the_function_it_names_not_the_one_named_like_it(
    tmp_path: Path,
) -> None:
    folder = archive_agent(tmp_path / "agent", ARCHIVE_FUNCTIONS)

    async with AgentRunner.load(folder, storage_path=tmp_path / "home") as runner:
        result = await runner.run({})

    assert result.success
    assert result.output["archived_by"] == "archive_invoice"


def test_a_node_naming_a_function_functions_py_lacks_is_a_load_error_naming_both(
    tmp_path: Path,
) -> None:
    only_node_id = 'def archive():\n    return "archive (named like the node)"\n'
    folder = archive_agent(tmp_path / "agent", only_node_id)

    with pytest.raises(AgentLoadError) as caught:
        AgentRunner.load(folder, storage_path=tmp_path / "home")

    message = str(caught.value)
    assert "function node 'archive' has no function" in message
    assert "functions.py defines no function 'archive_invoice'" in message
    assert "its 'archive', named like the node, is not used" in message


@pytest.mark.parametrize(
    ("agent", "input_data"),
    [
        ("document_triage", {"document": "INVOICE no. 7 from Acme, amount due: 120.00 EUR"}),
        ("order_batch", {"batch_id": "b-1"}),
    ],
)
async def test_loading_and_running_an_agent_writes_nothing_into_its_folder(
    tmp_path: Path, agent: str, input_data: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    # As in an ordinary interpreter, where Python caches the bytecode of what it imports.
    monkeypatch.setattr(sys, "dont_write_bytecode", False)
    monkeypatch.setenv("ORDER_BATCH_STEP_SECONDS", "0")
    folder = tmp_path / agent
    shutil.copytree(EXAMPLES / agent, folder, ignore=shutil.ignore_patterns("__pycache__"))
    before = files_in(folder)

    async with AgentRunner.load(folder, storage_path=tmp_path / "home") as runner:
        result = await runner.run(input_data)

    assert result.success, result.error
    assert files_in(folder) == before
    assert sorted(p.name for p in folder.iterdir()) == sorted(before)
