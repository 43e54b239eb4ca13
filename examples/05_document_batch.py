"""A summary tree over a folder of documents, as durable batches: Ctrl-C pauses, rerun resumes.

Run with ``.venv/bin/python examples/05_document_batch.py [--storage URL] [--docs DIR]``,
and on a real model with ``--provider openai --model gpt-4o-mini`` (key from
``OPENAI_API_KEY``; ``--base-url`` for an OpenAI-compatible server of your own, such as
Ollama's ``http://localhost:11434/v1``) or ``--provider anthropic --model ...``.

Like RAPTOR, each document is cut into chunks, every chunk is summarised by the model, and
the chunk summaries are summarised into the document's summary (level 0: one batch item
per document). Then the document summaries are summarised four at a time (level 1), and so
on until one summary is left: the root. Each level is a batch run, so every document is
saved the moment it is done; the model (a scripted mock unless ``--provider`` names a real
one; the mock times out now and then and is retried) is paid per token, and the live
progress bar shows completed / failed / remaining, rate, ETA, tokens and cost: every call's
tokens and cost reach the batch through ``ctx.llm``, retried attempts included.

Press Ctrl-C once: the documents in flight finish, the batch pauses, and the script says
how to continue. Run it again with the same storage: it resumes where it stopped, skipping
every finished document. An empty document fails on its own without stopping the others.

Environment: ``DOCBATCH_DELAY`` (seconds per model call, default 0.05) and
``DOCBATCH_CALL_LOG`` (a file each model call appends its batch and item to).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any

import anyio
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

from framework import CheckpointManager
from framework.batch import BatchConfig, BatchEvent, BatchResult, BatchRunner, ItemContext
from framework.errors import LLMError, PermanentItemError
from framework.llm import (
    LLMCall,
    LLMOverrides,
    LLMProvider,
    LLMResponse,
    Message,
    MockLLMProvider,
    Role,
    merge_llm_config,
    provider_from_config,
)
from framework.schemas.item import ItemCounts, ItemStatus
from framework.schemas.run import RunStatus

DOCS = Path(__file__).parent / "documents"
RUN = "summary-tree"
FAN_IN = 4
# What the pretend model costs, per million tokens in and out.
PRICE_IN, PRICE_OUT = 0.50, 1.50
SYSTEM = "Summarise the text in one or two plain sentences. Answer with the summary only."
console = Console()


# --- the model ------------------------------------------------------------------------------

_attempts: dict[str, int] = {}


async def summarise_text(call: LLMCall) -> LLMResponse:
    """The mock model: the first words of the text; every seventh new prompt times out once."""
    text = call.prompt.removeprefix("Summarise: ")
    await anyio.sleep(float(os.environ.get("DOCBATCH_DELAY", "0.05")))
    _attempts[text] = _attempts.get(text, 0) + 1
    if len(_attempts) % 7 == 0 and _attempts[text] == 1:
        raise TimeoutError("the model did not answer in time")
    answer = " ".join(text.split()[:12]).rstrip(".,;") + "."
    tokens_in, tokens_out = max(1, len(call.prompt) // 4), max(1, len(answer) // 4)
    cost = (tokens_in * PRICE_IN + tokens_out * PRICE_OUT) / 1e6
    return LLMResponse(content=answer, input_tokens=tokens_in, output_tokens=tokens_out, cost=cost)


def model(provider: str | None, name: str | None, base_url: str | None) -> LLMProvider:
    """The real model the options name, else the mock."""
    config = merge_llm_config(None, LLMOverrides.given(provider, name, base_url))
    return MockLLMProvider(summarise_text) if config is None else provider_from_config(config)


async def summary(text: str, ctx: ItemContext) -> str:
    """One model call; ``ctx.llm`` adds its tokens and cost to the item's usage."""
    if log := os.environ.get("DOCBATCH_CALL_LOG"):
        with open(log, "a", encoding="utf-8") as calls:
            calls.write(f"{ctx.run_id} {ctx.item_id}\n")
    prompt = Message(role=Role.USER, content=f"Summarise: {text}")
    reply = await ctx.llm.complete([prompt], system=SYSTEM)
    return reply.content


# --- the two kinds of batch item -----------------------------------------------------------


async def summarise_document(doc: dict[str, Any], ctx: ItemContext) -> dict[str, Any]:
    """Level 0: chunk summaries, then the document's summary of them."""
    chunks = [part.strip() for part in doc["text"].split("\n\n") if part.strip()]
    if not chunks:
        raise PermanentItemError(f"{doc['doc_id']} has no text")
    parts = [await summary(chunk, ctx) for chunk in chunks]
    return {
        "doc_id": doc["doc_id"],
        "chunks": parts,
        "summary": await summary(" ".join(parts), ctx),
    }


async def summarise_group(group: dict[str, Any], ctx: ItemContext) -> dict[str, Any]:
    """Level 1 and up: one summary of a few summaries of the level below."""
    return {"doc_id": group["doc_id"], "summary": await summary(" ".join(group["summaries"]), ctx)}


# --- the tree ---------------------------------------------------------------------------------


class Bar:
    """A rich progress bar for one level, fed by the batch's events."""

    def __init__(self, progress: Progress, label: str, counts: ItemCounts, total: int) -> None:
        self.progress = progress
        self.started = time.monotonic()
        self.total = total
        self.before = counts.completed + counts.failed  # done by earlier runs
        self.task: TaskID = progress.add_task(label, total=total, stats="")
        self.show(counts)

    def __call__(self, event: BatchEvent) -> None:
        self.show(event.counts)

    def show(self, counts: ItemCounts) -> None:
        done = counts.completed + counts.failed
        elapsed = max(time.monotonic() - self.started, 1e-9)
        rate = (done - self.before) / elapsed
        eta = f"{(self.total - done) / rate:.0f}s" if rate and done < self.total else "-"
        usage = counts.usage
        stats = (
            f"{counts.completed} done, {counts.failed} failed, {counts.pending + counts.running} "
            f"left | {60 * rate:.0f}/min, ETA {eta} | "
            f"{usage.tokens_in + usage.tokens_out:,} tokens, ${usage.cost:.4f}"
        )
        self.progress.update(self.task, completed=done, stats=stats)


async def run_level(
    runner: BatchRunner, level: int, items: list[dict[str, Any]], progress: Progress
) -> BatchResult:
    fn = summarise_document if level == 0 else summarise_group
    label = "documents" if level == 0 else f"level {level}"
    counts = await runner.manager.storage.aitem_counts(f"{RUN}-{level}")
    runner.on_event = Bar(progress, label, counts, len(items))
    return await runner.run(f"{RUN}-{level}", items, fn, pause_on_signals=True)


async def completed_summaries(runner: BatchRunner, run_id: str) -> list[dict[str, Any]]:
    items = await runner.manager.storage.alist_items(run_id, status=ItemStatus.COMPLETED)
    return [item.result for item in items]


async def main(storage: str, docs: Path, llm: LLMProvider) -> int:
    documents: list[dict[str, Any]] = [
        {"doc_id": path.stem, "text": path.read_text(encoding="utf-8")}
        for path in sorted(docs.glob("*.txt"))
    ]
    async with CheckpointManager(storage) as manager:
        config = BatchConfig(concurrency=4, id_key="doc_id", backoff_seconds=0.1)
        runner = BatchRunner(manager, config, llm=llm)
        before = await manager.storage.aitem_counts(f"{RUN}-0")
        if before.finished:
            console.print(f"resuming: {before.finished} of {len(documents)} documents already done")
        level, items = 0, documents
        tokens, cost = 0, 0.0
        with Progress(
            TextColumn("{task.description:>10}"),
            BarColumn(),
            TextColumn("{task.fields[stats]}"),
            TimeElapsedColumn(),
            console=console,
        ) as progress:
            while True:
                result = await run_level(runner, level, items, progress)
                tokens += result.counts.usage.tokens_in + result.counts.usage.tokens_out
                cost += result.counts.usage.cost
                if result.status is not RunStatus.COMPLETED:
                    break
                summaries = await completed_summaries(runner, f"{RUN}-{level}")
                if len(summaries) <= 1:
                    break
                level += 1
                items = [
                    {
                        "doc_id": f"L{level}-{start // FAN_IN}",
                        "summaries": [s["summary"] for s in summaries[start : start + FAN_IN]],
                    }
                    for start in range(0, len(summaries), FAN_IN)
                ]
        status = await runner.status(f"{RUN}-0")
    if result.status is not RunStatus.COMPLETED:
        print(f"{result.status.value}: {result.reason}")
        print("run the same command again to resume where it stopped")
        return 0
    assert status is not None
    for item in status.failed:
        print(f"failed: {item.item_id} ({item.error.message if item.error else 'unknown'})")
    print(f"{len(documents)} documents, {level} levels above them, {tokens:,} tokens, ${cost:.4f}")
    print(f"root summary: {summaries[0]['summary']}")
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--storage", default="sqlite://document_batch.db")
    parser.add_argument("--docs", type=Path, default=DOCS)
    parser.add_argument("--provider", help="openai or anthropic (default: the scripted mock)")
    parser.add_argument("--model", help="the model a real provider asks")
    parser.add_argument("--base-url", help="an OpenAI-compatible endpoint of your own")
    args = parser.parse_args()
    try:
        llm = model(args.provider, args.model, args.base_url)
    except LLMError as exc:
        sys.exit(f"error: {exc}")
    sys.exit(anyio.run(main, args.storage, args.docs, llm))
