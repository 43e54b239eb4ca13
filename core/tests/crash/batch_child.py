"""The process the batch crash test kills: runs one durable batch to completion, or dies.

``python batch_child.py --storage URL --run-id ID --items N --out FILE``

Each item ``{"id": "doc-NNNN", "n": n}`` appends ``start doc-NNNN`` to the file named by
``CRASH_CALL_LOG`` (fsynced) when its function starts, waits a moment, and returns
``{"square": n * n}``. Prints ``ready`` once the storage is open; at the end writes the
batch's result to ``--out``.
"""

from __future__ import annotations

import argparse
import json
import os
import random
from typing import Any

import anyio

from framework.batch import BatchConfig, BatchRunner, ItemContext
from framework.durable import CheckpointManager


def _logged(line: str) -> None:
    with open(os.environ["CRASH_CALL_LOG"], "a", encoding="utf-8") as log:
        log.write(line + "\n")
        log.flush()
        os.fsync(log.fileno())


async def square(item: dict[str, Any], ctx: ItemContext) -> dict[str, int]:
    _logged(f"start {item['id']}")
    await anyio.sleep(random.uniform(0.0, 0.004))
    return {"square": item["n"] ** 2}


async def main(args: argparse.Namespace) -> None:
    items = ({"id": f"doc-{n:04d}", "n": n} for n in range(args.items))
    config = BatchConfig(concurrency=4, id_key="id", add_chunk=64, progress_interval=0.05)
    async with CheckpointManager(args.storage) as manager:
        print("ready", flush=True)
        result = await BatchRunner(manager, config).run(args.run_id, items, square)
    with open(args.out, "w", encoding="utf-8") as out:
        json.dump(result.model_dump(mode="json"), out)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--storage", required=True)
    parser.add_argument("--run-id", required=True)
    parser.add_argument("--items", type=int, required=True)
    parser.add_argument("--out", required=True)
    anyio.run(main, parser.parse_args())
