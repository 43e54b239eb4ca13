"""One processing pass over a batch's ledger: claims, attempts, group commits, stops.

Workers (``concurrency`` of them) take claimed items from a stream and run one attempt
each; a committer stores their outcomes in groups, and only then are they reported. A
worker hands its outcome over and takes its next item while the outcome is stored. The
claiming loop honours pause and cancel requests, the budget and the failure limits
between claims (see :mod:`framework.batch.batch_run`).
"""

from __future__ import annotations

import math
import traceback
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import anyio
import anyio.lowlevel
from anyio import CancelScope
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from framework._callables import call_sync_or_async
from framework.batch._rate_limit import RateLimit
from framework.batch.context import ItemContext
from framework.batch.events import BatchEvent
from framework.batch.policy import BatchConfig
from framework.batch.progress import BatchProgress
from framework.durable import BUDGET_EXHAUSTED, ItemLedger, RunObserver
from framework.errors import CheckpointEncodeError, LLMCallError, PermanentItemError
from framework.llm.provider import LLMProvider
from framework.llm.retries import throttle_of
from framework.schemas.clock import utc_now
from framework.schemas.control import ControlAction
from framework.schemas.item import (
    ItemCounts,
    ItemError,
    ItemOutcome,
    ItemRecord,
    ItemStatus,
    ItemUsage,
)
from framework.schemas.lease import make_owner_id
from framework.schemas.run import RunStatus
from framework.storage import codec

__all__ = ["ItemFunction", "Processing"]

ItemFunction = Callable[[Any, ItemContext], Any]
"""``fn(item, ctx)``, sync or async; what it returns is the item's result."""

_TRACEBACK_LINES = 8
_MIN_FINISHED_FOR_RATIO = 10


class Processing:
    """One processing pass over the ledger: claims, attempts, group commits, stops."""

    def __init__(
        self,
        config: BatchConfig,
        ledger: ItemLedger,
        run: RunObserver[BatchProgress],
        progress: BatchProgress,
        fn: ItemFunction,
        *,
        publish: Callable[[BatchEvent], Awaitable[None]],
        llm: LLMProvider | None,
    ) -> None:
        self.config = config
        self.publish = publish
        self.llm = llm
        self.ledger = ledger
        self.run = run
        self.run_id = ledger.run_id
        self.progress = progress
        self.fn = fn
        self.worker = self.config.worker or make_owner_id()
        rpm, tpm = self.config.requests_per_minute, self.config.tokens_per_minute
        self.requests = None if rpm is None else RateLimit(rpm)
        self.tokens = None if tpm is None else RateLimit(tpm)
        # The model's endpoint may say to wait (a used-up limit, a 429): no item starts then.
        self.throttle = throttle_of(llm)
        self.in_flight = 0
        self.unstored = 0
        self.spent = ItemUsage()
        """Used by the ledger's items, those whose outcome is not stored yet included."""
        self.reading = False
        self.refused: Exception | None = None
        """Why the submission read while processing was refused, if it was."""
        self.counts = ItemCounts()
        self.changed = anyio.Event()
        self.stored_at = -math.inf
        self._send: MemoryObjectSendStream[tuple[ItemOutcome, int]]
        self._receive: MemoryObjectReceiveStream[tuple[ItemOutcome, int]]

    async def process(self, read: Callable[[], Awaitable[None]] | None) -> tuple[RunStatus, str]:
        """Run items until none is left or the batch must stop; return how it ends.

        ``read`` (adding a submission to the ledger, calling :meth:`added` as it goes) runs
        alongside: items run as soon as they are added, and the batch is done once it has
        read everything and run what it added. If ``read`` raises, no item is claimed
        after that, the items in flight finish, and the error is in :attr:`refused`.
        """
        self.counts = await self.ledger.counts()
        self.spent = self.counts.usage
        # A worker hands its outcome over and takes its next item while the outcome is
        # stored. At most ``concurrency`` wait: workers wait for a committer that falls
        # behind, and a crash loses no more than the items in flight and those waiting.
        self._send, self._receive = anyio.create_memory_object_stream[tuple[ItemOutcome, int]](
            self.config.concurrency
        )
        work, taken = anyio.create_memory_object_stream[ItemRecord](math.inf)
        async with anyio.create_task_group() as group:
            group.start_soon(self._committer)
            for _ in range(self.config.concurrency):
                group.start_soon(self._worker, taken.clone())
            taken.close()
            reading = CancelScope()
            if read is not None:
                self.reading = True
                group.start_soon(self._read, read, reading)
            ending = await self._claim_until_done(work)
            reading.cancel()
            while self.in_flight or self.unstored:
                await self._wait()
            work.close()
            self._send.close()
        return ending

    def added(self) -> None:
        """More items were added to the ledger: look for them."""
        self._notify()

    async def _read(self, read: Callable[[], Awaitable[None]], scope: CancelScope) -> None:
        with scope:
            try:
                await read()
            except Exception as exc:
                self.refused = exc
        self.reading = False
        self._notify()

    async def _worker(self, taken: MemoryObjectReceiveStream[ItemRecord]) -> None:
        async with taken:
            async for item in taken:
                await self._attempt(item)

    async def _claim_until_done(
        self, work: MemoryObjectSendStream[ItemRecord]
    ) -> tuple[RunStatus, str]:
        while True:
            if ending := await self._must_stop():
                return ending
            await self._store_progress()
            free = self.config.concurrency - self.in_flight
            claimed = await self.ledger.claim(free, self.worker) if free else []
            for item in claimed:
                self.in_flight += 1
                work.send_nowait(item)
            if claimed:
                continue
            if self.in_flight or self.unstored:
                await self._wait()
                continue
            waiting = await self.ledger.pending(1)
            if not waiting and self.reading:
                await self._wait()
                continue
            if not waiting:
                return RunStatus.COMPLETED, ""
            await self._sleep_until_due(waiting[0])

    async def _must_stop(self) -> tuple[RunStatus, str] | None:
        if self.refused is not None:
            return RunStatus.FAILED, str(self.refused)
        stop = await self.run.check_control()
        if stop is not None:
            status = (
                RunStatus.CANCELLED if stop.action is ControlAction.CANCEL else RunStatus.PAUSED
            )
            return status, stop.reason
        usage = self.spent
        tokens = usage.tokens_in + usage.tokens_out
        if self.run.budget.exhausted(tokens, usage.cost):
            return RunStatus.PAUSED, BUDGET_EXHAUSTED
        return self._too_many_failed()

    def _too_many_failed(self) -> tuple[RunStatus, str] | None:
        failed, finished = self.counts.failed, self.counts.finished
        limit, ratio = self.config.max_failures, self.config.max_failed_ratio
        if limit is not None and failed >= limit:
            return RunStatus.FAILED, f"{failed} items failed, max_failures={limit}"
        if ratio is not None and finished >= _MIN_FINISHED_FOR_RATIO and failed / finished > ratio:
            return (
                RunStatus.FAILED,
                f"{failed} of {finished} finished items failed, above max_failed_ratio={ratio}",
            )
        return None

    async def _attempt(self, item: ItemRecord) -> None:
        attempt = item.attempts - item.retry_from
        ctx = ItemContext(
            run_id=self.run_id,
            item_id=item.item_id,
            attempt=attempt,
            effects=self.run.effects,
            provider=self.llm,
        )
        if self.throttle is not None:
            await self.throttle.wait()
        if self.requests is not None:
            await self.requests.acquire()
        if self.tokens is not None:
            await self.tokens.acquire(0)
        try:
            result = await self._called(item, ctx)
            outcome = ItemOutcome(
                item_id=item.item_id, status=ItemStatus.COMPLETED, result=result, usage=ctx.usage
            )
        except Exception as exc:
            outcome = self._failure(item, attempt, exc, ctx)
        self.unstored += 1
        self.spent += outcome.usage
        # Its slot frees once the committer took the outcome: while the committer is behind,
        # no item is claimed that no worker could start.
        await self._send.send((outcome, attempt))
        self.in_flight -= 1
        self._notify()

    async def _called(self, item: ItemRecord, ctx: ItemContext) -> Any:
        try:
            return await call_sync_or_async(self.fn, item.input, ctx)
        finally:
            if self.tokens is not None:
                self.tokens.charge(ctx.usage.tokens_in + ctx.usage.tokens_out)

    def _failure(
        self, item: ItemRecord, attempt: int, exc: Exception, ctx: ItemContext
    ) -> ItemOutcome:
        error = ItemError(type=type(exc).__name__, message=str(exc), traceback=_short_trace(exc))
        final = (
            isinstance(exc, PermanentItemError)
            or (isinstance(exc, LLMCallError) and not exc.retryable)
            or not isinstance(exc, self.config.retry_on)
            or attempt >= self.config.max_attempts
        )
        if final:
            return ItemOutcome(
                item_id=item.item_id, status=ItemStatus.FAILED, error=error, usage=ctx.usage
            )
        retry_at = utc_now() + timedelta(seconds=self.config.backoff(attempt))
        return ItemOutcome(
            item_id=item.item_id,
            status=ItemStatus.PENDING,
            error=error,
            usage=ctx.usage,
            retry_at=retry_at,
        )

    async def _committer(self) -> None:
        async with self._receive:
            async for first in self._receive:
                group = await self._gathered(first)
                group = await self._stored(group)
                self.unstored -= len(group)
                self._notify()
                self.progress.completed(
                    [o.item_id for o, _ in group if o.status is ItemStatus.COMPLETED]
                )
                for outcome, attempt in group:
                    await self._emit(_event_kind(outcome), outcome, attempt)

    async def _gathered(self, first: tuple[ItemOutcome, int]) -> list[tuple[ItemOutcome, int]]:
        """``first`` and the outcomes that follow it until the loop has nothing else to run
        (or the group is full): workers whose items end together start their next ones
        before the write, and one write records them all."""
        group = [first]
        while len(group) < self.config.commit_group:
            try:
                group.append(self._receive.receive_nowait())
            except anyio.WouldBlock:
                await anyio.lowlevel.checkpoint()
                if not self._receive.statistics().current_buffer_used:
                    break
        return group

    async def _stored(self, group: list[tuple[ItemOutcome, int]]) -> list[tuple[ItemOutcome, int]]:
        """Record ``group``'s outcomes; a result the codec cannot store fails its item alone.

        The storage refuses the whole group then, storing nothing; the group is recorded
        again with those items failed, so results are encoded once when all is well.
        """
        try:
            self.counts = await self.ledger.finish([outcome for outcome, _ in group])
        except CheckpointEncodeError:
            group = [(_storable(outcome), attempt) for outcome, attempt in group]
            self.counts = await self.ledger.finish([outcome for outcome, _ in group])
        return group

    async def _store_progress(self, *, force: bool = False) -> None:
        now = anyio.current_time()
        if not force and now - self.stored_at < self.config.progress_interval:
            return
        self.stored_at = now
        self.progress.sampled(self.counts)
        await self.run.node_done(self.progress, None, step=self.counts.finished)
        await self.publish(BatchEvent("progress", self.run_id, self.counts))

    async def _emit(self, kind: str, outcome: ItemOutcome, attempt: int) -> None:
        event = BatchEvent(kind, self.run_id, self.counts, outcome.item_id, attempt, outcome.error)
        await self.publish(event)

    async def _wait(self) -> None:
        # Woken by a finished item, or after poll_interval to look at control requests.
        with anyio.move_on_after(self.config.poll_interval):
            await self.changed.wait()
        self.changed = anyio.Event()

    def _notify(self) -> None:
        self.changed.set()

    async def _sleep_until_due(self, item: ItemRecord) -> None:
        due = item.next_attempt_at
        wait = 0.0 if due is None else (due - utc_now()).total_seconds()
        await anyio.sleep(min(max(wait, 0.0), self.config.poll_interval))


def _event_kind(outcome: ItemOutcome) -> str:
    if outcome.status is ItemStatus.PENDING:
        return "retrying"
    return outcome.status.value


def _storable(outcome: ItemOutcome) -> ItemOutcome:
    """``outcome``, or its item failed for good if its result cannot be stored."""
    try:
        codec.encode(outcome.result, f"the result of item {outcome.item_id!r}")
    except CheckpointEncodeError as exc:
        error = ItemError(type=type(exc).__name__, message=str(exc))
        return ItemOutcome(
            item_id=outcome.item_id, status=ItemStatus.FAILED, error=error, usage=outcome.usage
        )
    return outcome


def _short_trace(exc: BaseException) -> str:
    lines = traceback.format_exception(type(exc), exc, exc.__traceback__)
    return "".join(lines[-_TRACEBACK_LINES:]).strip()
