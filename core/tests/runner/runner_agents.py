"""Agent folders for the durable runner tests: linear chains of logged function nodes.

Every function node appends its id to the file ``$RUNNER_TEST_LOG`` when it runs, so a
test sees exactly which nodes ran in which process. ``$RUNNER_TEST_CRASH_AT`` names a node
that kills its process with SIGKILL (a real crash); a node named by
``$RUNNER_TEST_FAIL_AT`` fails while the file ``$RUNNER_TEST_FAIL_FLAG`` exists. Each node
appends its id to the list ``acc``; start runs with ``{"acc": []}``.
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

__all__ = ["FUNCTIONS_SOURCE", "ran", "write_chain"]

FUNCTIONS_SOURCE = """
import os
import signal
from pathlib import Path


def _make(node):
    def step(acc):
        with open(os.environ["RUNNER_TEST_LOG"], "a") as log:
            log.write(node + "\\n")
        if os.environ.get("RUNNER_TEST_CRASH_AT") == node:
            os.kill(os.getpid(), signal.SIGKILL)
        flag = os.environ.get("RUNNER_TEST_FAIL_FLAG")
        if os.environ.get("RUNNER_TEST_FAIL_AT") == node and flag and Path(flag).exists():
            raise RuntimeError(f"{node} failed: the flag file is there")
        return [*acc, node]
    return step


FUNCTIONS = {node: _make(node) for node in NODES}
"""


def write_chain(
    folder: Path,
    nodes: list[str],
    *,
    graph_id: str = "chain",
    human_after: str | None = None,
    max_retries: int = 0,
) -> Path:
    """An agent running ``nodes`` in order; ``human_after``: a human_input node ``approve``
    (output ``approved``) follows that node."""
    folder.mkdir(parents=True, exist_ok=True)
    specs: list[dict[str, Any]] = [
        {
            "id": node,
            "name": node,
            "description": f"logged step {node}",
            "input_keys": ["acc"],
            "output_keys": ["acc"],
            "max_retries": max_retries,
        }
        for node in nodes
    ]
    order = list(nodes)
    if human_after is not None:
        at = order.index(human_after) + 1
        order.insert(at, "approve")
        specs.insert(
            at,
            {
                "id": "approve",
                "name": "approve",
                "description": "a person approves",
                "node_type": "human_input",
                "output_keys": ["approved"],
            },
        )
    graph = {
        "id": graph_id,
        "entry_node": order[0],
        "terminal_nodes": [order[-1]],
        "nodes": specs,
        "edges": [
            {"id": f"{a}-{b}", "source": a, "target": b} for a, b in itertools.pairwise(order)
        ],
    }
    goal = {"id": "goal", "name": "Goal", "description": "Run the chain."}
    (folder / "agent.json").write_text(json.dumps({"graph": graph, "goal": goal}, indent=2))
    (folder / "functions.py").write_text(f"NODES = {nodes!r}\n{FUNCTIONS_SOURCE}")
    return folder


def ran(log: Path) -> list[str]:
    """The nodes that ran, in order, according to the log."""
    return log.read_text().split() if log.exists() else []
