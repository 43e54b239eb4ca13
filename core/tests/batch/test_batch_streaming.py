"""A submission is read while its items run: the first ones start before the last are
read, and a refused submission stops the batch once the items in flight are done."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest

from framework.batch import BatchConfig, BatchRunner, ItemContext
from framework.durable import CheckpointManager
from framework.errors import BatchSubmissionError
from framework.schemas.run import RunStatus

CONFIG = BatchConfig(concurrency=2, id_key="id", add_chunk=5)


async def test_items_run_before_the_submission_is_read_to_its_end() -> None:
    first_done = anyio.Event()

    async def corpus() -> AsyncIterator[dict[str, Any]]:
        for n in range(10):
            yield {"id": f"doc-{n}"}
        await first_done.wait()  # a reader that waits for it would never get here
        for n in range(10, 20):
            yield {"id": f"doc-{n}"}

    def fn(item: dict[str, Any], ctx: ItemContext) -> str:
        first_done.set()
        return item["id"].upper()

    async with CheckpointManager("memory://") as manager:
        with anyio.fail_after(10):
            result = await BatchRunner(manager, CONFIG).run("b", corpus(), fn)

    assert result.status is RunStatus.COMPLETED
    assert result.counts.completed == 20


async def test_items_from_a_plain_generator_run_while_it_is_read_on_sqlite(
    tmp_path: Path,
) -> None:
    done: list[str] = []
    done_when_read: list[int] = []

    def corpus() -> Iterator[dict[str, Any]]:
        for n in range(40):
            yield {"id": f"doc-{n}"}
        done_when_read.append(len(done))

    def fn(item: dict[str, Any], ctx: ItemContext) -> str:
        done.append(item["id"])
        return item["id"]

    async with CheckpointManager(f"sqlite://{tmp_path / 'state.db'}") as manager:
        result = await BatchRunner(manager, CONFIG).run("b", corpus(), fn)

    assert result.counts.completed == 40
    assert done_when_read[0] > 0


async def test_a_submission_refused_while_running_fails_the_batch_and_keeps_its_work() -> None:
    calls: list[str] = []

    def fn(item: dict[str, Any], ctx: ItemContext) -> str:
        calls.append(item["id"])
        return item["id"]

    repeated = [{"id": f"doc-{n}"} for n in range(12)] + [{"id": "doc-3"}]
    async with CheckpointManager("memory://") as manager:
        runner = BatchRunner(manager, CONFIG)
        with pytest.raises(BatchSubmissionError, match="'doc-3'"):
            await runner.run("b", repeated, fn)
        refused = await manager.storage.aget_run("b")
        counts = await manager.storage.aitem_counts("b")
        fixed = await runner.run("b", repeated[:-1], fn)

    assert refused is not None and refused.status is RunStatus.FAILED
    assert "more than once" in (refused.last_error or "")
    assert counts.running == 0 and counts.completed + counts.pending == 12
    assert fixed.status is RunStatus.COMPLETED and fixed.counts.completed == 12
    assert sorted(calls) == sorted(f"doc-{n}" for n in range(12))  # none ran twice
