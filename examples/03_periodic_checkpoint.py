"""Checkpoint every few nodes, and whenever a node asks for one, with its own metadata.

Run with ``.venv/bin/python examples/03_periodic_checkpoint.py``. An eight-node document
indexing pipeline runs with ``save_frequency="every_n_nodes"`` and ``n_nodes=3``: a
checkpoint after every third node, fewer writes for cheap nodes. The ``embed`` node is
expensive, so it calls ``ctx.request_checkpoint(metadata=...)`` to be saved right after it
succeeds, whatever the frequency, with a note of what it produced. The script prints which
nodes got a checkpoint, of which kind and with which metadata, and what a crash after each
node would cost.
"""

from __future__ import annotations

import itertools
import tempfile
from pathlib import Path
from typing import Any

import anyio

from framework import (
    CheckpointConfig,
    CheckpointManager,
    EdgeSpec,
    Goal,
    GraphExecutor,
    GraphSpec,
    NodeContext,
    NodeSpec,
)

RUN_ID = "index-docs-1"
DOCUMENTS = ["handbook.md", "pricing.md", "faq.md", "changelog.md"]
CONFIG = CheckpointConfig(save_frequency="every_n_nodes", n_nodes=3, retention_strategy="all")


def download(sources: list[str]) -> list[str]:
    return [f"# {name}\n" + f"text of {name} " * 40 for name in sources]


def parse(raw: list[str]) -> list[str]:
    return [document.split("\n", 1)[1] for document in raw]


def clean(parsed: list[str]) -> list[str]:
    return [" ".join(document.split()) for document in parsed]


def chunk(cleaned: list[str]) -> list[str]:
    return [text[i : i + 120] for text in cleaned for i in range(0, len(text), 120)]


def embed(chunks: list[str], ctx: NodeContext) -> list[list[float]]:
    vectors = [[len(text) / 120, text.count("pricing") / 10] for text in chunks]
    # Expensive work is done: save it now rather than at the next third node.
    ctx.request_checkpoint(metadata={"milestone": "embeddings computed", "vectors": len(vectors)})
    return vectors


def index(vectors: list[list[float]]) -> dict[str, Any]:
    return {"entries": len(vectors), "dimensions": len(vectors[0])}


def verify(index_stats: dict[str, Any], chunks: list[str]) -> bool:
    return index_stats["entries"] == len(chunks)


def publish(verified: bool, index_stats: dict[str, Any]) -> str:
    return f"published {index_stats['entries']} entries" if verified else "not published"


# (node, its inputs, its output)
PIPELINE = [
    (download, ["sources"], "raw"),
    (parse, ["raw"], "parsed"),
    (clean, ["parsed"], "cleaned"),
    (chunk, ["cleaned"], "chunks"),
    (embed, ["chunks"], "vectors"),
    (index, ["vectors"], "index_stats"),
    (verify, ["index_stats", "chunks"], "verified"),
    (publish, ["verified", "index_stats"], "report"),
]


def pipeline() -> GraphSpec:
    names = [function.__name__ for function, _, _ in PIPELINE]
    return GraphSpec(
        id="index-documents",
        entry_node=names[0],
        terminal_nodes=[names[-1]],
        nodes=[
            NodeSpec(
                id=function.__name__,
                name=function.__name__,
                description=f"indexing step: {function.__name__}",
                input_keys=inputs,
                output_keys=[output],
                max_retries=0,
            )
            for function, inputs, output in PIPELINE
        ],
        edges=[EdgeSpec(id=f"{a}-{b}", source=a, target=b) for a, b in itertools.pairwise(names)],
    )


async def main() -> None:
    goal = Goal(id="index", name="Index documents", description="Make the documents searchable.")
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite://{Path(folder) / 'index.db'}"
        async with CheckpointManager(url, CONFIG) as manager:
            executor = GraphExecutor(checkpoint_manager=manager)
            for function, _, _ in PIPELINE:
                executor.register_function(function.__name__, function)
            result = await executor.execute(pipeline(), goal, {"sources": DOCUMENTS}, run_id=RUN_ID)
            print(f"run {result.run_id}: {result.run_status}, {result.output['report']}")
            print(f"save_frequency={CONFIG.save_frequency} n_nodes={CONFIG.n_nodes}\n")

            saved = {}
            for meta in await manager.alist_checkpoints(RUN_ID):
                cp = await manager.aget_checkpoint(RUN_ID, meta.id)
                assert cp is not None
                saved[cp.current_node_id] = cp
            print(f"{'step':<5} {'node':<10} {'checkpoint':<14} metadata")
            start = saved.get(None)
            if start is not None:
                inputs = sorted(start.memory_snapshot)
                print(f"{'-':<5} {'(start)':<10} {start.kind:<14} input {inputs}")
            last_saved = "the start"
            for step, (function, _, _) in enumerate(PIPELINE, start=1):
                node = function.__name__
                cp = saved.get(node)
                if cp is None:
                    note = f"none: a crash until the next one resumes after {last_saved}"
                    print(f"{step:<5} {node:<10} {'-':<14} ({note})")
                    continue
                print(f"{step:<5} {node:<10} {cp.kind:<14} {cp.metadata or ''}")
                last_saved = f"'{node}'"
            checkpointed = [node for node in saved if node is not None]
            print(f"\nnodes with a checkpoint: {', '.join(checkpointed)}")


if __name__ == "__main__":
    anyio.run(main)
