"""Durable batches: every item saved the moment it is done, failures isolated and retried.

``await BatchRunner(manager).run(run_id, items, fn)`` runs ``fn(item, ctx)`` once per item
of ``items`` (any iterable or async iterable, read as a stream). A batch is a run like any
other — a run record, a lease with fencing, pause / cancel requests, a budget — whose state
is its item ledger in storage:

1. Items left *running* by a process that died go back to pending (their started attempt
   stays counted).
2. The submission is read in chunks and added while items run: new ids as pending, ids
   the batch holds with the same content left as they are (a completed item never runs
   again). A changed or repeated id is refused with
   :class:`~framework.errors.BatchSubmissionError` (unless ``replace_changed`` /
   ``drop_duplicates``) once the whole submission is read: no item starts after that,
   the items in flight finish, and the batch fails (run it again with a fixed
   submission). ``items=None`` adds nothing.
3. Due items are claimed, at most ``concurrency`` in flight, each attempt started within
   the ``requests_per_minute`` and ``tokens_per_minute`` limits. An attempt that raises is
   retried with exponential backoff and jitter up to ``max_attempts`` (the next attempt's
   time is in the ledger, so a restart keeps it); a ``PermanentItemError``, an exception
   not in ``retry_on`` or a result the codec cannot store fails the item at once. A failed
   item never fails the batch; ``max_failures`` / ``max_failed_ratio`` do (resumable).
4. Outcomes are recorded in group commits while the workers go on with the next items;
   an item is reported (event, counts) only once its outcome is stored, so a crash
   re-runs at most the items in flight and those waiting to be stored (``concurrency``
   each).
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
import signal
from collections.abc import (
    AsyncIterable,
    AsyncIterator,
    Callable,
    Iterable,
    Sequence,
)
from contextlib import asynccontextmanager
from typing import Any

import anyio
from anyio import CancelScope
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from framework.batch._processing import ItemFunction, Processing
from framework.batch._submission import Submission
from framework.batch.events import BatchEvent, deliver
from framework.batch.policy import BatchConfig
from framework.batch.progress import BatchProgress, BatchResult, BatchStatus, read_status
from framework.durable import (
    CheckpointManager,
    ItemLedger,
    RunObserver,
    RunSpec,
    run_durably,
)
from framework.llm.provider import LLMProvider
from framework.schemas.checkpoint import Checkpoint, ExecutorType
from framework.schemas.item import (
    ItemStatus,
)
from framework.schemas.lease import make_owner_id
from framework.schemas.run import RunBudget, RunStatus

__all__ = ["BatchRunner"]

# Every batch has the same shape: resuming one with another function is allowed.
_FINGERPRINT = "batch:1"


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
            await deliver(self.on_event, event)
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
            await Submission(ledger, self.config).add(items)
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
        batch = Processing(
            self.config, ledger, run, progress, fn, publish=self._publish, llm=self.llm
        )
        read = None
        if items is not None:
            read = functools.partial(Submission(ledger, self.config, batch.added).add, items)
        status, reason = await batch.process(read)
        if batch.refused is not None:
            raise batch.refused
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
