"""Durable batches: items saved as they finish, failures retried or isolated, pause, stop,
retry_failed, budgets, resubmission and progress."""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest

from framework.batch import BatchConfig, BatchEvent, BatchRunner, ItemContext
from framework.durable import BUDGET_EXHAUSTED, CheckpointManager
from framework.errors import BatchSubmissionError, PermanentItemError, RunCancelledError
from framework.llm.mock import MockLLMProvider
from framework.llm.provider import LLMResponse, Message, Role
from framework.schemas.config import CheckpointConfig
from framework.schemas.item import ItemStatus
from framework.schemas.run import RunStatus

FAST = BatchConfig(concurrency=8, backoff_seconds=0.0, id_key="id", progress_interval=0.0)
# Requests are read at every claim, not every half second: these batches take milliseconds.
EAGER = CheckpointConfig(control_poll_interval=0.0)


def docs(count: int, start: int = 0) -> Iterator[dict[str, Any]]:
    """A generator, as a submission read from a file would be."""
    for n in range(start, start + count):
        yield {"id": f"doc-{n:04d}", "n": n}


class Calls:
    """An item function that counts its calls per item and doubles ``n``."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()

    async def __call__(self, item: dict[str, Any], ctx: ItemContext) -> dict[str, int]:
        self.calls[item["id"]] += 1
        ctx.report_usage(tokens_in=10, tokens_out=2, cost=0.01)
        return {"double": item["n"] * 2}


async def results(manager: CheckpointManager, run_id: str) -> dict[str, Any]:
    items = await manager.storage.alist_items(run_id, status=ItemStatus.COMPLETED)
    return {item.item_id: item.result for item in items}


async def test_every_item_runs_once_and_its_result_is_stored() -> None:
    fn = Calls()
    async with CheckpointManager("memory://") as manager:
        result = await BatchRunner(manager, FAST).run("b", docs(50), fn)
        stored = await results(manager, "b")

    assert result.status is RunStatus.COMPLETED
    assert (result.counts.completed, result.counts.failed, result.counts.total) == (50, 0, 50)
    assert set(fn.calls.values()) == {1}
    assert stored == {f"doc-{n:04d}": {"double": 2 * n} for n in range(50)}
    assert result.counts.usage.tokens_in == 500
    assert result.counts.usage.cost == pytest.approx(0.5)


async def test_flaky_items_are_retried_and_broken_ones_fail_alone() -> None:
    calls: Counter[int] = Counter()

    def flaky(item: dict[str, Any], ctx: ItemContext) -> int:  # a sync function runs too
        n = item["n"]
        calls[n] += 1
        if n % 50 == 7:
            raise PermanentItemError(f"document {n} is not text")
        if n % 10 == 3 and ctx.attempt <= 2:
            raise TimeoutError(f"the model timed out on {n}")
        return n

    async with CheckpointManager("memory://") as manager:
        result = await BatchRunner(manager, FAST).run("b", docs(500), flaky)
        failed = await manager.storage.alist_items("b", status=ItemStatus.FAILED)
        flaky_item = await manager.storage.aget_item("b", "doc-0003")

    assert result.status is RunStatus.COMPLETED
    assert (result.counts.completed, result.counts.failed) == (490, 10)
    assert {item.item_id for item in failed} == {f"doc-{n:04d}" for n in range(7, 500, 50)}
    assert all(item.attempts == 1 for item in failed)
    assert all(item.last_error and item.last_error.type == "PermanentItemError" for item in failed)
    assert flaky_item is not None and flaky_item.attempts == 3
    assert flaky_item.last_error is not None and flaky_item.last_error.type == "TimeoutError"
    assert sum(calls.values()) == 500 + 2 * 50


async def test_an_item_that_keeps_failing_fails_after_max_attempts() -> None:
    def always(item: dict[str, Any], ctx: ItemContext) -> None:
        raise ConnectionError("refused")

    config = BatchConfig(max_attempts=4, backoff_seconds=0.0, id_key="id")
    async with CheckpointManager("memory://") as manager:
        result = await BatchRunner(manager, config).run("b", docs(3), always)
        item = await manager.storage.aget_item("b", "doc-0001")

    assert (result.status, result.counts.failed) == (RunStatus.COMPLETED, 3)
    assert item is not None and (item.status, item.attempts) == (ItemStatus.FAILED, 4)


async def test_running_a_batch_again_skips_every_finished_item(tmp_path: Path) -> None:
    fn = Calls()
    url = f"sqlite://{tmp_path / 'state.db'}"
    async with CheckpointManager(url) as manager:
        first = await BatchRunner(manager, FAST).run("b", docs(30), fn)
    async with CheckpointManager(url) as manager:
        again = await BatchRunner(manager, FAST).run("b", docs(30), fn)

    assert first.status is again.status is RunStatus.COMPLETED
    assert again.counts.completed == 30
    assert set(fn.calls.values()) == {1}


async def test_a_crash_mid_batch_reruns_only_the_items_in_flight(tmp_path: Path) -> None:
    class Crash(BaseException):
        """Stands for the process dying: nothing after it is written."""

    fn = Calls()
    crashed = False

    async def crashing(item: dict[str, Any], ctx: ItemContext) -> dict[str, int]:
        nonlocal crashed
        if item["n"] == 40 and not crashed:
            crashed = True
            raise Crash
        return await fn(item, ctx)

    url = f"sqlite://{tmp_path / 'state.db'}"
    config = BatchConfig(concurrency=1, id_key="id")
    with pytest.raises(Crash):
        async with CheckpointManager(url) as manager:
            await BatchRunner(manager, config).run("b", docs(100), crashing)
    async with CheckpointManager(url) as manager:
        before = await manager.storage.aitem_counts("b")
        manager.config = manager.config.model_copy(update={"lease_ttl_seconds": 0.01})
        result = await BatchRunner(manager, config).run("b", docs(100), crashing)
        stored = await results(manager, "b")

    assert (before.completed, before.running) == (40, 1)
    assert result.status is RunStatus.COMPLETED
    assert set(fn.calls.values()) == {1} and len(fn.calls) == 100
    assert stored == {f"doc-{n:04d}": {"double": 2 * n} for n in range(100)}


async def test_a_pause_finishes_the_items_in_flight_and_resume_runs_the_rest() -> None:
    fn = Calls()
    async with CheckpointManager("memory://", EAGER) as manager:
        runner = BatchRunner(manager, BatchConfig(concurrency=2, id_key="id"))

        async def pause_at_ten(event: BatchEvent) -> None:
            if event.kind == "completed" and event.counts.completed == 10:
                await runner.pause("b", "for review")

        runner.on_event = pause_at_ten
        paused = await runner.run("b", docs(40), fn)
        runner.on_event = None
        resumed = await runner.run("b", None, fn)

    assert (paused.status, paused.reason) == (RunStatus.PAUSED, "for review")
    assert paused.counts.running == 0
    assert 10 <= paused.counts.completed < 40
    assert paused.counts.completed + paused.counts.pending == 40
    assert resumed.status is RunStatus.COMPLETED and resumed.counts.completed == 40
    assert set(fn.calls.values()) == {1}


async def test_a_stopped_batch_is_final() -> None:
    fn = Calls()
    async with CheckpointManager("memory://", EAGER) as manager:
        runner = BatchRunner(manager, BatchConfig(concurrency=1, id_key="id"))

        async def stop_at_five(event: BatchEvent) -> None:
            if event.kind == "completed" and event.counts.completed == 5:
                await runner.stop("b", "wrong corpus")

        runner.on_event = stop_at_five
        stopped = await runner.run("b", docs(20), fn)
        with pytest.raises(RunCancelledError, match=r"cancelled \(wrong corpus\) at 20\d\d-"):
            await runner.run("b", None, fn)

    # The one item in flight when the stop was asked for (started while the fifth was
    # being stored) finishes; nothing after it starts.
    assert stopped.status is RunStatus.CANCELLED
    assert stopped.counts.completed in (5, 6)
    assert stopped.counts.completed + stopped.counts.pending == 20


async def test_retry_failed_runs_only_the_failed_items_again() -> None:
    fixed = False
    calls: Counter[str] = Counter()

    def fragile(item: dict[str, Any], ctx: ItemContext) -> int:
        calls[item["id"]] += 1
        if item["n"] % 5 == 0 and not fixed:
            raise PermanentItemError("needs the new parser")
        if item["n"] == 3 and not fixed:
            raise ValueError("bad encoding")
        return item["n"]

    config = BatchConfig(max_attempts=1, id_key="id")
    async with CheckpointManager("memory://") as manager:
        runner = BatchRunner(manager, config)
        first = await runner.run("b", docs(20), fragile)
        fixed = True
        put_back = await runner.retry_failed("b", error_type="PermanentItemError")
        second = await runner.run("b", None, fragile)
        retried = await manager.storage.aget_item("b", "doc-0005")
        still_failed = await manager.storage.aget_item("b", "doc-0003")

    assert (first.counts.completed, first.counts.failed) == (15, 5)
    assert put_back == 4
    assert (second.status, second.counts.completed, second.counts.failed) == (
        RunStatus.COMPLETED,
        19,
        1,
    )
    assert calls["doc-0005"] == 2 and calls["doc-0001"] == 1 and calls["doc-0003"] == 1
    assert retried is not None and (retried.attempts, retried.retry_from) == (2, 1)
    assert retried.last_error is not None and retried.last_error.type == "PermanentItemError"
    assert still_failed is not None and still_failed.status is ItemStatus.FAILED


async def test_a_spent_budget_pauses_the_batch_and_a_higher_one_continues_it() -> None:
    fn = Calls()  # 12 tokens per item
    config = BatchConfig(concurrency=1, id_key="id")
    async with CheckpointManager("memory://") as manager:
        runner = BatchRunner(manager, config)
        paused = await runner.run("b", docs(20), fn, max_tokens=60)
        resumed = await runner.run("b", None, fn, max_tokens=1_000)

    assert (paused.status, paused.reason) == (RunStatus.PAUSED, BUDGET_EXHAUSTED)
    assert paused.counts.completed == 5
    assert resumed.status is RunStatus.COMPLETED and resumed.counts.completed == 20
    assert set(fn.calls.values()) == {1}


async def test_a_resubmission_adds_only_the_new_items_even_to_a_completed_batch() -> None:
    fn = Calls()
    async with CheckpointManager("memory://") as manager:
        runner = BatchRunner(manager, FAST)
        await runner.run("b", docs(10), fn)
        grown = await runner.run("b", docs(15), fn)
        unchanged = await runner.run("b", docs(15), fn)

    assert grown.status is RunStatus.COMPLETED and grown.counts.completed == 15
    assert unchanged.counts.completed == 15
    assert set(fn.calls.values()) == {1} and len(fn.calls) == 15


async def test_an_id_given_twice_is_refused_unless_duplicates_are_dropped() -> None:
    twice = [{"id": "a", "n": 1}, {"id": "b", "n": 2}, {"id": "a", "n": 3}]
    async with CheckpointManager("memory://") as manager:
        with pytest.raises(BatchSubmissionError, match="'a'") as caught:
            await BatchRunner(manager, FAST).run("b", twice, Calls())
        dropping = BatchConfig(id_key="id", drop_duplicates=True)
        kept = await BatchRunner(manager, dropping).run("c", twice, Calls())

    assert caught.value.item_ids == ["a"]
    assert kept.counts.completed == 2


async def test_a_changed_item_is_refused_unless_asked_to_run_it_again() -> None:
    fn = Calls()
    async with CheckpointManager("memory://") as manager:
        await BatchRunner(manager, FAST).run("b", docs(3), fn)
        changed = [{"id": "doc-0001", "n": 100}]
        with pytest.raises(BatchSubmissionError, match="doc-0001"):
            await BatchRunner(manager, FAST).run("b", changed, fn)
        replacing = BatchConfig(id_key="id", replace_changed=True)
        await BatchRunner(manager, replacing).run("b", changed, fn)
        stored = await results(manager, "b")

    assert stored["doc-0001"] == {"double": 200}
    assert fn.calls["doc-0001"] == 2


async def test_items_without_an_id_key_are_named_by_their_content() -> None:
    async def texts() -> AsyncIterator[str]:
        for text in ("alpha", "beta", "alpha"):
            yield text

    config = BatchConfig(drop_duplicates=True)
    async with CheckpointManager("memory://") as manager:
        result = await BatchRunner(manager, config).run(
            "b", texts(), lambda text, ctx: text.upper()
        )
        stored = await results(manager, "b")

    assert result.counts.completed == 2
    assert sorted(stored.values()) == ["ALPHA", "BETA"]
    assert all(item_id.startswith("sha256-") for item_id in stored)


async def test_too_many_failures_stop_the_batch_as_failed_and_resumable() -> None:
    broken = True

    def fn(item: dict[str, Any], ctx: ItemContext) -> int:
        if broken and item["n"] % 2:
            raise PermanentItemError("parser bug")
        return item["n"]

    config = BatchConfig(concurrency=1, id_key="id", max_failures=3)
    async with CheckpointManager("memory://") as manager:
        runner = BatchRunner(manager, config)
        failed = await runner.run("b", docs(20), fn)
        broken = False
        await runner.retry_failed("b")
        fixed = await runner.run("b", None, fn)

    assert failed.status is RunStatus.FAILED
    assert failed.reason == "3 items failed, max_failures=3"
    assert failed.counts.pending > 0
    assert fixed.status is RunStatus.COMPLETED and fixed.counts.completed == 20


async def test_progress_adds_up_and_reports_a_rate() -> None:
    events: list[BatchEvent] = []
    async with CheckpointManager("memory://") as manager:
        runner = BatchRunner(manager, FAST, on_event=events.append)
        await runner.run("b", docs(60), Calls())
        status = await runner.status("b")

    assert status is not None
    counts = status.counts
    assert counts.completed + counts.failed + counts.running + counts.pending == 60
    assert status.percent == 100.0
    assert status.rate_per_minute is not None and status.rate_per_minute > 0
    assert len(status.recent) == 10
    assert sum(1 for event in events if event.kind == "completed") == 60
    snapshots = [event.counts for event in events if event.kind == "progress"]
    assert snapshots and all(c.total == c.finished + c.running + c.pending for c in snapshots)


async def test_an_items_effect_happens_once_across_a_crash(tmp_path: Path) -> None:
    class Crash(BaseException):
        """Stands for the process dying right after the effect."""

    sent: list[str] = []
    crashed = False

    def send(to: str, idempotency_key: str) -> str:
        sent.append(to)
        return f"receipt for {to}"

    async def mail(item: dict[str, Any], ctx: ItemContext) -> str:
        nonlocal crashed
        receipt = await ctx.effect("mail", send, item["id"])
        if item["n"] == 2 and not crashed:
            crashed = True
            raise Crash
        return str(receipt)

    url = f"sqlite://{tmp_path / 'state.db'}"
    config = BatchConfig(concurrency=1, id_key="id")
    with pytest.raises(Crash):
        async with CheckpointManager(url) as manager:
            await BatchRunner(manager, config).run("b", docs(4), mail)
    async with CheckpointManager(url) as manager:
        manager.config = manager.config.model_copy(update={"lease_ttl_seconds": 0.01})
        result = await BatchRunner(manager, config).run("b", docs(4), mail)
        stored = await results(manager, "b")

    assert result.counts.completed == 4
    assert sent == [f"doc-{n:04d}" for n in range(4)]  # doc-0002's mail is not sent twice
    assert stored["doc-0002"] == "receipt for doc-0002"


async def test_events_can_be_read_as_an_async_iterator_while_the_batch_runs() -> None:
    seen: list[BatchEvent] = []
    async with CheckpointManager("memory://") as manager:
        runner = BatchRunner(manager, FAST)
        events = runner.events()

        async def read() -> None:
            async with events:
                async for event in events:
                    seen.append(event)

        async with anyio.create_task_group() as group:
            group.start_soon(read)
            result = await runner.run("b", docs(25), Calls())

    assert result.counts.completed == 25
    completed = [event.item_id for event in seen if event.kind == "completed"]
    assert sorted(completed) == [f"doc-{n:04d}" for n in range(25)]
    assert seen[-1].counts.completed == 25


async def test_model_calls_through_ctx_llm_are_counted_in_the_items_usage() -> None:
    model = MockLLMProvider(lambda call: LLMResponse(content="ok", input_tokens=7, output_tokens=3))

    async def ask(item: dict[str, Any], ctx: ItemContext) -> str:
        first = await ctx.llm.complete([Message(role=Role.USER, content=item["id"])])
        await ctx.llm.complete([Message(role=Role.USER, content="again")])
        return first.content

    async with CheckpointManager("memory://") as manager:
        result = await BatchRunner(manager, FAST, llm=model).run("b", docs(3), ask)
        item = await manager.storage.aget_item("b", "doc-0001")
        without = await BatchRunner(manager, BatchConfig(max_attempts=1, id_key="id")).run(
            "c", docs(1), ask
        )

    assert result.counts.usage.tokens_in == 3 * 14 and result.counts.usage.tokens_out == 3 * 6
    assert item is not None and (item.usage.tokens_in, item.usage.tokens_out) == (14, 6)
    assert without.counts.failed == 1


async def test_a_result_that_cannot_be_stored_fails_its_item_alone() -> None:
    def fn(item: dict[str, Any], ctx: ItemContext) -> Any:
        return object() if item["n"] == 3 else item["n"]

    async with CheckpointManager("memory://") as manager:
        result = await BatchRunner(manager, FAST).run("b", docs(8), fn)
        item = await manager.storage.aget_item("b", "doc-0003")
        stored = await results(manager, "b")

    assert (result.status, result.counts.completed, result.counts.failed) == (
        RunStatus.COMPLETED,
        7,
        1,
    )
    assert item is not None and item.attempts == 1
    assert item.last_error is not None and item.last_error.type == "CheckpointEncodeError"
    assert "doc-0003" not in stored and stored["doc-0007"] == 7
