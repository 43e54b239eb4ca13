"""The JSON documents of `run`, `resume`, `info`, `validate` and `batch`, each against its
golden file (``UPDATE_GOLDENS=1`` rewrites them); times and paths are written as
placeholders. The shapes of the commands that show runs are in test_cli_views.py, those of
preview and prune in test_cli_control_json.py."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import pytest
from cli_helpers import Agentgraph, Finished

GOLDEN = Path(__file__).parent / "golden"
TRIAGE = Path(__file__).resolve().parents[3] / "examples" / "agents" / "document_triage"
INVOICE = json.dumps({"document": "Invoice no. 7 from: Big Co. Total: $12,000"})
_VOLATILE = re.compile(r"_(ms|at)$")


def normalised(value: Any) -> Any:
    """``value`` with every time (``*_ms``, ``*_at``) written ``"TIME"``."""
    if isinstance(value, dict):
        return {
            key: "TIME" if _VOLATILE.search(key) and item else normalised(item)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [normalised(item) for item in value]
    return value


def matches_golden(name: str, finished: Finished, *paths: Path) -> None:
    assert finished.code == 0, finished.stderr
    printed = finished.stdout
    for path in paths:
        printed = printed.replace(str(path), "PATH")
    document = normalised(json.loads(printed))
    assert document["schema_version"] == 1
    golden = GOLDEN / f"{name}.json"
    if os.environ.get("UPDATE_GOLDENS"):
        golden.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    assert document == json.loads(golden.read_text(encoding="utf-8"))


def test_run_json(agentgraph: Agentgraph, tmp_path: Path) -> None:
    url = f"sqlite://{tmp_path / 'state.db'}"
    finished = agentgraph(
        "run", str(TRIAGE), "--input", INVOICE, "--run-id", "shape-1", "--json", "--storage", url
    )
    matches_golden("run", finished, tmp_path)


@pytest.mark.parametrize("command", ["info", "validate"])
def test_agent_description_json(agentgraph: Agentgraph, command: str) -> None:
    matches_golden(command, agentgraph(command, str(TRIAGE), "--json"), TRIAGE)


def test_batch_json(agentgraph: Agentgraph, tmp_path: Path) -> None:
    items = tmp_path / "items.jsonl"
    documents = ["Invoice no. 1 Total: $50", "Dear team, lunch is at noon.", "Invoice no. 2"]
    items.write_text(
        "".join(json.dumps({"id": f"d{n}", "document": d}) + "\n" for n, d in enumerate(documents))
    )
    url = f"sqlite://{tmp_path / 'state.db'}"
    finished = agentgraph(
        "batch",
        str(TRIAGE),
        "--items",
        str(items),
        "--id-key",
        "id",
        "--run-id",
        "docs",
        "--json",
        "--storage",
        url,
    )
    matches_golden("batch", finished, tmp_path)
