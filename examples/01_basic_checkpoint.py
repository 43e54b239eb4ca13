"""Save, list and restore checkpoints through the CheckpointManager.

Run with ``.venv/bin/python examples/01_basic_checkpoint.py``. A four-node document
pipeline (load -> extract -> summarise -> publish) stops after its third node, as a crashed
process would. Each completed node saved a checkpoint into a SQLite database in a temporary
folder; a fresh manager, as a restarted process would open it, lists them and restores the
latest one: the memory exactly as it was, and the node to resume at.
"""

from __future__ import annotations

import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from framework import CheckpointConfig, CheckpointManager

RUN_ID = "doc-run-1"
CONFIG = CheckpointConfig(retention_strategy="all")


def load(memory: dict[str, Any]) -> dict[str, Any]:
    return {"documents": ("contract.txt", "invoice.txt"), "loaded_at": datetime.now(UTC)}


def extract(memory: dict[str, Any]) -> dict[str, Any]:
    return {"parties": {doc: {"Acme Corp", "Northwind"} for doc in memory["documents"]}}


def summarise(memory: dict[str, Any]) -> dict[str, Any]:
    return {"summary": f"{len(memory['documents'])} documents between Acme Corp and Northwind"}


# (node, function, node that runs next, tokens it used)
PIPELINE = [
    ("load", load, "extract", 0),
    ("extract", extract, "summarise", 420),
    ("summarise", summarise, "publish", 180),
]


def run_until_the_process_stops(manager: CheckpointManager) -> None:
    memory: dict[str, Any] = {}
    path: list[str] = []
    tokens = 0
    for step, (node, function, next_node, used) in enumerate(PIPELINE, start=1):
        memory.update(function(memory))
        path.append(node)
        tokens += used
        checkpoint_id = manager.save_checkpoint(
            RUN_ID,
            node,
            memory,
            metadata={
                "execution_path": list(path),
                "step_number": step,
                "total_tokens": tokens,
                "next_node_id": next_node,
            },
        )
        print(f"saved {checkpoint_id}")
    print("-- the process stops here, before 'publish' runs --")


def show_checkpoints(manager: CheckpointManager) -> None:
    print(f"{'seq':<4} {'checkpoint id':<32} {'node':<10} {'step':>4} {'tokens':>6} {'bytes':>6}")
    for meta in manager.list_checkpoints(RUN_ID):
        print(
            f"{meta.seq:<4} {meta.id:<32} {meta.node_id or '-':<10} {meta.step_number:>4} "
            f"{meta.total_tokens:>6} {meta.size_bytes:>6}"
        )


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{Path(folder) / 'state.db'}"
        print(f"storage: {url}")
        with CheckpointManager(url, CONFIG) as manager:
            run_until_the_process_stops(manager)

        with CheckpointManager(url, CONFIG) as restarted:
            show_checkpoints(restarted)
            memory, resume_node = restarted.restore_from_checkpoint(RUN_ID)
            if memory is None:
                raise SystemExit(f"run {RUN_ID!r} has no checkpoint to restore")
            print("restored memory:")
            for key, value in memory.items():
                print(f"  {key} = {value!r}")
            print(f"resume node: {resume_node}")


if __name__ == "__main__":
    main()
