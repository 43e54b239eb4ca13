"""A child process for the effect fencing race: runs ``chain(3)`` as run ``RUN_ID`` in ``URL``.

Usage: ``effect_race_child.py URL RUN_ID FOLDER NAME``. Node ``n2`` charges a card through
``ctx.effect("charge", ...)``; the charge logs ``NAME`` to ``FOLDER/calls.log``, creates
``FOLDER/NAME_in_effect`` and returns ``{"by": NAME}`` once ``FOLDER/NAME_go`` exists.

The writer named ``first`` waits without yielding to its event loop: it stands for a writer
stalled inside the effect (the test also SIGSTOPs it), whose heartbeat cannot notice that
its lease was taken over before the effect's completion is written. Any other name waits
as a well-behaved node does, its heartbeat renewing the lease meanwhile.

Writes ``FOLDER/NAME.json``: ``{"result": ...}`` when the run returned, or ``{"fenced":
{...}}`` with the ``FencedOutError``'s facts, and then exits with :data:`FENCED_OUT`.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import anyio

sys.path.insert(0, str(Path(__file__).parent))

from durable_helpers import GOAL, NodeLog, chain, executor_for

from framework.errors import FencedOutError
from framework.graph.checkpoint_manager import CheckpointManager
from framework.graph.node import NodeContext
from framework.storage import open_storage

FENCED_OUT = 3
LEASE_TTL_SECONDS = 1.0


def charge(folder: Path, name: str) -> Any:
    async def charge_card() -> dict[str, str]:
        with (folder / "calls.log").open("a", encoding="utf-8") as log:
            log.write(f"{name}\n")
        (folder / f"{name}_in_effect").touch()
        go = folder / f"{name}_go"
        while not go.exists():
            if name == "first":
                time.sleep(0.01)  # holds the event loop: nothing else of this process runs
            else:
                await anyio.sleep(0.01)
        return {"by": name}

    return charge_card


async def main(url: str, run_id: str, folder: Path, name: str) -> int:
    graph = chain(3)
    storage = open_storage(url)
    try:
        manager = CheckpointManager(storage, {"lease_ttl_seconds": LEASE_TTL_SECONDS})
        executor = executor_for(graph, NodeLog(), manager)

        async def n2(ctx: NodeContext) -> Any:
            return await ctx.effect("charge", charge(folder, name))

        executor.register_function("n2", n2)
        try:
            result = await executor.execute(graph, GOAL, {"seed": "s"}, run_id=run_id)
        except FencedOutError as exc:
            facts = {"token": exc.token, "current_token": exc.current_token, "error": str(exc)}
            (folder / f"{name}.json").write_text(json.dumps({"fenced": facts}), encoding="utf-8")
            return FENCED_OUT
    finally:
        await storage.aclose()
    report = {"result": result.model_dump(mode="json")}
    (folder / f"{name}.json").write_text(json.dumps(report), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(anyio.run(main, sys.argv[1], sys.argv[2], Path(sys.argv[3]), sys.argv[4]))
