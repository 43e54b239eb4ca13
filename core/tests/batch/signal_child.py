"""A batch run with ``pause_on_signals``, for the signal tests.

``python signal_child.py DATABASE LOG SECONDS`` runs 60 items of SECONDS each (concurrency 2) as
batch ``signals``; each item appends ``start ID`` to LOG when it starts, and the first one
prints ``started``. At the end it prints the result as JSON.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import anyio

from framework.batch import BatchConfig, BatchRunner, ItemContext
from framework.durable import CheckpointManager
from framework.schemas.config import CheckpointConfig

started = False


async def slow(item: int, ctx: ItemContext) -> int:
    global started
    with open(sys.argv[2], "a", encoding="utf-8") as log:
        log.write(f"start {item}\n")
    if not started:
        started = True
        print("started", flush=True)
    await anyio.sleep(float(sys.argv[3]))
    return item


async def main() -> None:
    config = CheckpointConfig(control_poll_interval=0.0)
    async with CheckpointManager(f"sqlite://{sys.argv[1]}", config) as manager:
        runner = BatchRunner(manager, BatchConfig(concurrency=2))
        result: Any = await runner.run("signals", range(60), slow, pause_on_signals=True)
    print(json.dumps(result.model_dump(mode="json")), flush=True)


anyio.run(main)
