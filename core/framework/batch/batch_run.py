"""Durable batches: every item saved the moment it is done, failures isolated and retried.

``await BatchRunner(manager).run(run_id, items, fn)`` runs ``fn(item, ctx)`` once per item
of ``items`` (any iterable or async iterable, read as a stream). A batch is a run like any
other — a run record, a lease with fencing, pause / cancel requests, a budget — whose state
is its item ledger in storage:

1. Items left *running* by a process that died go back to pending (their started attempt
   stays counted).
2. The submission is read in chunks and added: new ids as pending, ids the batch holds
   with the same content left as they are (a completed item never runs again), a changed
   or repeated id refused with :class:`~framework.errors.BatchSubmissionError` (unless
   ``replace_changed`` / ``drop_duplicates``). ``items=None`` adds nothing.
3. Due items are claimed, at most ``concurrency`` in flight, each attempt started within
   the ``requests_per_minute`` and ``tokens_per_minute`` limits. An attempt that raises is
   retried with exponential backoff and jitter up to ``max_attempts`` (the next attempt's
   time is in the ledger, so a restart keeps it); a ``PermanentItemError``, an exception
   not in ``retry_on`` or a result the codec cannot store fails the item at once. A failed
   item never fails the batch; ``max_failures`` / ``max_failed_ratio`` do (resumable).
4. Outcomes are recorded in group commits; an item is reported (event, counts) only once
   its outcome is stored, so a crash re-runs at most the items in flight.
5. Between claims the run's pause or cancel request and its budget are honoured: the
   items in flight finish, then the batch is paused (resumable) or cancelled (final). A
   cancellation of the caller (Ctrl-C) stops at once: the items in flight run again on
   resume.

Progress is stored every ``progress_interval`` (a checkpoint holding
:class:`~.progress.BatchProgress`) and sent to ``on_event`` and :meth:`BatchRunner.events`;
:meth:`BatchRunner.status` reads it back from storage, from any process.
"""

from __future__ import annotations

import functools
import math
import signal
import traceback
from collections.abc import (
    AsyncIterable,
    AsyncIterator,
    Awaitable,
    Callable,
    Iterable,
    Sequence,
)
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import anyio
from anyio import CancelScope
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from framework._callables import call_sync_or_async
from framework.batch._ids import new_item
from framework.batch._rate_limit import RateLimit
from framework.batch.context import ItemContext
from framework.batch.policy import BatchConfig
from framework.batch.progress import BatchProgress, BatchResult, BatchStatus, read_status
from framework.durable import (
    BUDGET_EXHAUSTED,
    CheckpointManager,
    ItemLedger,
    RunObserver,
    RunSpec,
    run_durably,
)
from framework.errors import BatchSubmissionError, CheckpointEncodeError, PermanentItemError
from framework.llm.provider import LLMProvider
from framework.schemas.checkpoint import Checkpoint, ExecutorType
from framework.schemas.clock import utc_now
from framework.schemas.control import ControlAction
from framework.schemas.item import (
    ItemCounts,
    ItemError,
    ItemOutcome,
    ItemRecord,
    ItemStatus,
    NewItem,
)
from framework.schemas.lease import make_owner_id
from framework.schemas.run import RunBudget, RunStatus
from framework.storage import codec

__all__ = ["BatchEvent", "BatchRunner", "ItemFunction"]

ItemFunction = Callable[[Any, ItemContext], Any]
"""``fn(item, ctx)``, sync or async; what it returns is the item's result."""

# Every batch has the same shape: resuming one with another function is allowed.
_FINGERPRINT = "batch:1"
_TRACEBACK_LINES = 8
_MIN_FINISHED_FOR_RATIO = 10


@dataclass(frozen=True)
class BatchEvent:
    """Something that happened in a batch, sent to ``on_event`` once it is stored."""

    kind: str
    """``completed``, ``failed``, ``retrying``, ``skipped`` (an item), or ``progress``."""
    run_id: str
    counts: ItemCounts
    """The ledger's counts right after it."""
    item_id: str | None = None
    attempt: int | None = None
    error: ItemError | None = None


class BatchRunner:
    """Runs batches durably through ``manager`` (an in-memory one when ``None``); an item
    function reaches ``llm`` as ``ctx.llm``, which records each reply's tokens."""

    def __init__(
        self,
        manager: CheckpointManager | None = None,
        config: BatchConfig | None = None,
        *,
        on_event: Callable[[BatchEvent], Any] | None = None,
        llm: LLMProvider | None = None,
    ) -> None:
        self.manager = manager if manager is not None else CheckpointManager("memory://")
        self.config = config or BatchConfig()
        self.on_event = on_event
        self.llm = llm
        self._listeners: list[MemoryObjectSendStream[BatchEvent]] = []

    def events(self, buffer: int = 10_000) -> MemoryObjectReceiveStream[BatchEvent]:
        """Every event of this runner (as ``on_event`` gets them) from now until the end of
        the run in progress, or of the next one: iterate it with ``async for`` in one task
        while :meth:`run` runs in another. A reader more than ``buffer`` events behind
        misses the newer ones (the counts in the events it does get stay exact)."""
        send, receive = anyio.create_memory_object_stream[BatchEvent](buffer)
        self._listeners.append(send)
        return receive

    async def _publish(self, event: BatchEvent) -> None:
        if self.on_event is not None:
            await _call(self.on_event, event)
        for listener in list(self._listeners):
            try:
                listener.send_nowait(event)
            except anyio.WouldBlock:
                pass
            except (anyio.BrokenResourceError, anyio.ClosedResourceError):
                self._listeners.remove(listener)

    def _end_events(self) -> None:
        for listener in self._listeners:
            listener.close()
        self._listeners.clear()

    async def run(
        self,
        run_id: str,
        items: Iterable[Any] | AsyncIterable[Any] | None,
        fn: ItemFunction,
        *,
        max_tokens: int | None = None,
        max_cost: float | None = None,
        pause_on_signals: bool = False,
    ) -> BatchResult:
        """Run ``fn`` over ``items`` as batch ``run_id``, or continue that batch (see the
        module docs). ``max_tokens`` / ``max_cost`` set the batch's budget: once spent, it
        pauses with reason ``budget_exhausted``; resuming with a higher one continues.

        ``pause_on_signals`` (from the main thread): the first Ctrl-C or SIGTERM pauses the
        batch once the items in flight are done; a second one stops it at once (the items
        in flight run again on resume), and the result says it was interrupted.
        """
        if not pause_on_signals:
            return await self._run(run_id, items, fn, max_tokens, max_cost)
        result: BatchResult | None = None
        async with anyio.create_task_group() as group:
            group.start_soon(self._pause_on_signals, run_id, group.cancel_scope)
            result = await self._run(run_id, items, fn, max_tokens, max_cost)
            group.cancel_scope.cancel()
        return result if result is not None else await self._stored_result(run_id)

    async def _run(
        self,
        run_id: str,
        items: Iterable[Any] | AsyncIterable[Any] | None,
        fn: ItemFunction,
        max_tokens: int | None,
        max_cost: float | None,
    ) -> BatchResult:
        spec = RunSpec(
            run_id=run_id,
            executor_type=ExecutorType.BATCH,
            graph_id="batch",
            fingerprint=_FINGERPRINT,
            budget=RunBudget(max_tokens=max_tokens, max_cost=max_cost),
        )
        if items is not None and await self._reopened(run_id, items):
            items = None  # read already, into the reopened ledger
        adapter = _Adapter(run_id)
        walk = functools.partial(self._walk, items, fn)
        try:
            return await run_durably(adapter, self.manager, spec, walk)
        finally:
            self._end_events()

    async def status(self, run_id: str) -> BatchStatus | None:
        """How batch ``run_id`` stands, read from storage; ``None`` if there is no such run."""
        return await read_status(self.manager.storage, run_id)

    async def _pause_on_signals(self, run_id: str, scope: CancelScope) -> None:
        with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as received:
            seen = 0
            async for number in received:
                seen += 1
                if seen > 1:
                    scope.cancel()
                    return
                name = signal.Signals(number).name
                await self.pause(run_id, f"{name} received; the items in flight finished first")

    async def _stored_result(self, run_id: str) -> BatchResult:
        """The batch's result as storage holds it (after its run was interrupted)."""
        record = await self.manager.storage.aget_run(run_id)
        counts = await self.manager.storage.aitem_counts(run_id)
        if record is None:
            return BatchResult(run_id=run_id, status=RunStatus.PENDING, counts=counts)
        return BatchResult(
            run_id=run_id, status=record.status, reason=record.status_reason, counts=counts
        )

    async def retry_failed(
        self,
        run_id: str,
        *,
        item_ids: Sequence[str] | None = None,
        error_type: str | None = None,
    ) -> int:
        """Put the batch's failed items back to pending and return how many; :meth:`run`
        (with ``items=None``) then runs just them. Their attempts and last error are kept;
        each gets ``max_attempts`` new attempts. ``item_ids`` and ``error_type`` (the type
        name of the last error, e.g. ``"TimeoutError"``) limit which. ``RunNotFoundError``
        for an unknown run; ``LeaseHeldError`` while another live process runs it."""
        async with self._held(run_id) as ledger:
            return await ledger.requeue(ItemStatus.FAILED, item_ids=item_ids, error_type=error_type)

    async def pause(self, run_id: str, reason: str = "") -> None:
        """Ask batch ``run_id`` to pause (from any process): the items in flight finish,
        then it is paused; :meth:`run` continues it."""
        await self.manager.arequest_pause(run_id, reason)

    async def stop(self, run_id: str, reason: str = "") -> None:
        """Ask batch ``run_id`` to stop for good (from any process): the items in flight
        finish, then it is cancelled."""
        await self.manager.arequest_cancel(run_id, reason)

    async def _reopened(self, run_id: str, items: Iterable[Any] | AsyncIterable[Any]) -> bool:
        """Add a submission to a completed batch; whether that read the submission."""
        record = await self.manager.storage.aget_run(run_id)
        if record is None or record.status is not RunStatus.COMPLETED:
            return False
        async with self._held(run_id) as ledger:
            await _Submission(ledger, self.config).add(items)
        return True

    @asynccontextmanager
    async def _held(self, run_id: str) -> AsyncIterator[ItemLedger]:
        """The batch's ledger under a lease of its own, for changes made between runs.

        A completed batch that has pending items afterwards gets a progress checkpoint and
        is paused with a reason saying so: running it again continues with those items.
        """
        storage = self.manager.storage
        ttl = self.manager.config.lease_ttl_seconds
        lease = await storage.aclaim_run(run_id, make_owner_id(), ttl_seconds=ttl)
        token = lease.fencing_token
        try:
            ledger = ItemLedger(storage, run_id, token, on_fenced=lambda error: None)
            yield ledger
            counts = await ledger.counts()
            record = await storage.aget_run(run_id)
            if counts.pending and record is not None and record.status is RunStatus.COMPLETED:
                progress = BatchProgress()
                progress.sampled(counts)
                checkpoint = progress.to_checkpoint(run_id)
                await self.manager.acommit_checkpoint(checkpoint, fencing_token=token)
                await storage.aupdate_run(
                    run_id,
                    expect_fencing_token=token,
                    status=RunStatus.PAUSED,
                    status_reason=f"reopened: {counts.pending} item(s) to run",
                    finished_at=None,
                )
        finally:
            await storage.arelease_lease(lease)

    async def _walk(
        self,
        items: Iterable[Any] | AsyncIterable[Any] | None,
        fn: ItemFunction,
        progress: BatchProgress,
        run: RunObserver[BatchProgress],
    ) -> BatchResult:
        ledger = run.items
        if ledger is None or run.run_id is None:
            raise RuntimeError("a batch runs only as a durable run")
        await ledger.requeue(ItemStatus.RUNNING)
        if items is not None:
            await _Submission(ledger, self.config).add(items)
        batch = _Batch(self, ledger, run, progress, fn)
        status, reason = await batch.process()
        counts = await ledger.counts()
        progress.sampled(counts)
        await run.stopped(progress, None, status, reason)
        return BatchResult(run_id=run.run_id, status=status, reason=reason or None, counts=counts)


class _Adapter:
    """A batch's checkpoint holds its progress; its result is read from the final one."""

    def __init__(self, run_id: str) -> None:
        self.run_id = run_id

    def start(self, input_data: dict[str, Any], run: RunObserver[BatchProgress]) -> BatchProgress:
        return BatchProgress()

    def resume(self, checkpoint: Checkpoint, run: RunObserver[BatchProgress]) -> BatchProgress:
        return BatchProgress.of(checkpoint)

    def finished(self, checkpoint: Checkpoint) -> BatchResult:
        counts = BatchProgress.of(checkpoint).counts
        return BatchResult(run_id=self.run_id, status=RunStatus.COMPLETED, counts=counts)

    def snapshot(self, state: BatchProgress, after: str | None) -> Checkpoint:
        return state.to_checkpoint(self.run_id)


class _Submission:
    """Reads a submission in chunks into the ledger, refusing repeated and changed ids."""

    def __init__(self, ledger: ItemLedger, config: BatchConfig) -> None:
        self.ledger = ledger
        self.config = config
        self.seen: set[str] = set()
        self.repeated: list[str] = []
        self.changed: list[str] = []

    async def add(self, items: Iterable[Any] | AsyncIterable[Any]) -> None:
        chunk: list[NewItem] = []
        position = 0
        async for value in _stream(items):
            item = new_item(value, self.config.id_key, position)
            position += 1
            if item.item_id in self.seen:
                self.repeated.append(item.item_id)
                continue
            self.seen.add(item.item_id)
            chunk.append(item)
            if len(chunk) >= self.config.add_chunk:
                await self._flush(chunk)
                chunk = []
        await self._flush(chunk)
        self._refuse()

    async def _flush(self, chunk: list[NewItem]) -> None:
        if chunk:
            added = await self.ledger.add(chunk, replace_changed=self.config.replace_changed)
            if not self.config.replace_changed:
                self.changed += added.changed

    def _refuse(self) -> None:
        if self.repeated and not self.config.drop_duplicates:
            raise BatchSubmissionError(
                f"the submission gives {len(self.repeated)} item id(s) more than once: "
                f"{_shown(self.repeated)}; make the ids unique or pass drop_duplicates=True",
                self.repeated,
            )
        if self.changed:
            raise BatchSubmissionError(
                f"{len(self.changed)} item(s) changed since the batch added them: "
                f"{_shown(self.changed)}; submit them unchanged, or pass replace_changed=True "
                "to run them again with the new content",
                self.changed,
            )


class _Batch:
    """One processing pass over the ledger: claims, attempts, group commits, stops."""

    def __init__(
        self,
        runner: BatchRunner,
        ledger: ItemLedger,
        run: RunObserver[BatchProgress],
        progress: BatchProgress,
        fn: ItemFunction,
    ) -> None:
        self.config = runner.config
        self.publish = runner._publish
        self.llm = runner.llm
        self.ledger = ledger
        self.run = run
        self.run_id = ledger.run_id
        self.progress = progress
        self.fn = fn
        self.worker = self.config.worker or make_owner_id()
        rpm, tpm = self.config.requests_per_minute, self.config.tokens_per_minute
        self.requests = None if rpm is None else RateLimit(rpm)
        self.tokens = None if tpm is None else RateLimit(tpm)
        self.in_flight = 0
        self.counts = ItemCounts()
        self.changed = anyio.Event()
        self.stored_at = -math.inf
        self._send: MemoryObjectSendStream[tuple[ItemOutcome, int, anyio.Event]]
        self._receive: MemoryObjectReceiveStream[tuple[ItemOutcome, int, anyio.Event]]

    async def process(self) -> tuple[RunStatus, str]:
        """Run items until none is left or the batch must stop; return how it ends."""
        self.counts = await self.ledger.counts()
        self._send, self._receive = anyio.create_memory_object_stream[
            tuple[ItemOutcome, int, anyio.Event]
        ](math.inf)
        work, taken = anyio.create_memory_object_stream[ItemRecord](math.inf)
        async with anyio.create_task_group() as group:
            group.start_soon(self._committer)
            for _ in range(self.config.concurrency):
                group.start_soon(self._worker, taken.clone())
            taken.close()
            ending = await self._claim_until_done(work)
            while self.in_flight:
                await self._wait()
            work.close()
            self._send.close()
        return ending

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
            if self.in_flight:
                await self._wait()
                continue
            waiting = await self.ledger.pending(1)
            if not waiting:
                return RunStatus.COMPLETED, ""
            await self._sleep_until_due(waiting[0])

    async def _must_stop(self) -> tuple[RunStatus, str] | None:
        stop = await self.run.check_control()
        if stop is not None:
            status = (
                RunStatus.CANCELLED if stop.action is ControlAction.CANCEL else RunStatus.PAUSED
            )
            return status, stop.reason
        usage = self.counts.usage
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
        if self.requests is not None:
            await self.requests.acquire()
        if self.tokens is not None:
            await self.tokens.acquire(0)
        try:
            result = await self._called(item, ctx)
            codec.encode(result, f"the result of item {item.item_id!r}")
            outcome = ItemOutcome(
                item_id=item.item_id, status=ItemStatus.COMPLETED, result=result, usage=ctx.usage
            )
        except Exception as exc:
            outcome = self._failure(item, attempt, exc, ctx)
        done = anyio.Event()
        await self._send.send((outcome, attempt, done))
        await done.wait()
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
            or not isinstance(exc, self.config.retry_on)
            or attempt >= self.config.max_attempts
            or isinstance(exc, CheckpointEncodeError)
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
                group = [first]
                while len(group) < self.config.commit_group:
                    try:
                        group.append(self._receive.receive_nowait())
                    except anyio.WouldBlock:
                        break
                self.counts = await self.ledger.finish([outcome for outcome, _, _ in group])
                self.progress.completed(
                    [o.item_id for o, _, _ in group if o.status is ItemStatus.COMPLETED]
                )
                for outcome, attempt, done in group:
                    done.set()
                    await self._emit(_event_kind(outcome), outcome, attempt)

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


async def _call(callback: Callable[[BatchEvent], Any], event: BatchEvent) -> None:
    value = callback(event)
    if isinstance(value, Awaitable):
        await value


async def _stream(items: Iterable[Any] | AsyncIterable[Any]) -> AsyncIterator[Any]:
    if isinstance(items, AsyncIterable):
        async for value in items:
            yield value
    else:
        for value in items:
            yield value


def _short_trace(exc: BaseException) -> str:
    lines = traceback.format_exception(type(exc), exc, exc.__traceback__)
    return "".join(lines[-_TRACEBACK_LINES:]).strip()


def _shown(ids: list[str]) -> str:
    return ", ".join(repr(item_id) for item_id in ids[:5]) + (" ..." if len(ids) > 5 else "")
