"""A child process for the durable tests: runs ``chain(3)`` as run ``run_id`` in a SQLite file.

Usage: ``durable_child.py DB RUN_ID FOLDER``. Node ``n2`` creates ``FOLDER/in_node`` and
waits until ``FOLDER/go`` exists, so the parent can act while this process holds the run.
The result is written to ``FOLDER/result.json``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import anyio

sys.path.insert(0, str(Path(__file__).parent))

from durable_helpers import GOAL, NodeLog, chain, executor_for

from framework.graph.checkpoint_manager import CheckpointManager
from framework.storage import SQLiteStorage


async def main(db: str, run_id: str, folder: Path) -> None:
    graph = chain(3)
    with SQLiteStorage(db) as storage:
        executor = executor_for(graph, NodeLog(), CheckpointManager(storage))

        async def waits() -> str:
            (folder / "in_node").touch()
            while not (folder / "go").exists():
                await anyio.sleep(0.01)
            return "waited"

        executor.register_function("n2", waits)
        result = await executor.execute(graph, GOAL, {"seed": "s"}, run_id=run_id)
    (folder / "result.json").write_text(result.model_dump_json(), encoding="utf-8")


if __name__ == "__main__":
    anyio.run(main, sys.argv[1], sys.argv[2], Path(sys.argv[3]))
