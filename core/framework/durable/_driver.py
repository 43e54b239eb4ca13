"""The durable run driver: what makes an execution survive crashes, for every executor.

:meth:`DurableRun.open` finds or creates the run record, refuses what must not run (a
cancelled run, conflicting input, a changed graph), returns a completed run's final
checkpoint untouched, and otherwise claims the run's lease and loads its latest valid
checkpoint (see :mod:`._opening`). :meth:`DurableRun.run` then executes the executor's walk
inside an anyio task group scoped to the run, beside a heartbeat that renews the lease every
third of its ttl and, under ``durability="async"``, a bounded background writer. The walk
reports through the :class:`~._observer.RunObserver` calls: :meth:`boundary`,
:meth:`check_control`, :meth:`node_done` (checkpoint per save frequency and durability) and
:meth:`stopped`, which records the ending with one finisher: :meth:`complete`,
:meth:`pause`, :meth:`cancel`, :meth:`fail`. The executor's state becomes a checkpoint only
through its adapter's ``snapshot``. Every write of the run — checkpoints, the run record,
effects (through :attr:`DurableRun.effects`) and control signals — carries the lease's
fencing token, so a writer whose lease was taken over gets ``FencedOutError`` and writes
nothing more; so does every write of a batch's item ledger (through
:attr:`DurableRun.items`). A fenced-out effect write stops the run like a fenced-out
checkpoint: the node's own handling of the error does not matter, the walk is cancelled and
``run`` raises the ``FencedOutError``, recording nothing.

When the run stops without a finisher: a cancellation of the caller (Ctrl-C, a cancel
scope) makes it *paused* with a reason starting ``interrupted`` (the node in flight re-runs
on resume); an ``Exception`` makes it *failed* with that error; a ``BaseException`` that is
not a cancellation (``SystemExit``, a simulated crash) writes nothing, as a real crash
would, and leaves it *running* for ``recover()``. The lease is released in every case
where the process still can (a fenced-out writer has none left to release).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import anyio
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from framework.durable._control_watch import ControlWatch
from framework.durable._items import ItemLedger
from framework.durable._ledger import EffectLedger
from framework.durable._observer import Stop
from framework.durable._opening import OpenedRun, RunSpec, open_run
from framework.durable.manager import CheckpointManager
from framework.errors import FencedOutError, RunConflictError
from framework.schemas.checkpoint import Checkpoint, CheckpointKind
from framework.schemas.clock import utc_now
from framework.schemas.config import Durability
from framework.schemas.run import RunBudget, RunRecord, RunStatus

logger = logging.getLogger("framework.durable")

S = TypeVar("S")
T = TypeVar("T")
Snapshot = Callable[[S, str | None], Checkpoint]

# Upper bound on the shielded bookkeeping done when a run is interrupted or fails.
_SHUTDOWN_SECONDS = 10.0
INTERRUPTED = "interrupted"


@dataclass
class _Progress:
    """Counts node completions, so a stop knows whether the latest state was written."""

    done: int = 0
    committed: int = 0
    boundary: Checkpoint | None = None
    boundary_at: int = 0
    requests: list[dict[str, Any]] = field(default_factory=list)


class DurableRun(Generic[S]):
    """One durable execution of a run whose executor state is ``S``; build it with :meth:`open`.

    ``snapshot(state, after)`` turns the executor's state into an unnumbered checkpoint.
    """

    def __init__(
        self, manager: CheckpointManager, opened: OpenedRun, snapshot: Snapshot[S]
    ) -> None:
        self.manager = manager
        self.snapshot = snapshot
        self.storage = manager.storage
        self.config = manager.config
        self.record: RunRecord = opened.record
        self.run_id = opened.record.run_id
        self.checkpoint = opened.checkpoint
        self.counted_until = opened.counted_until()
        self.lease = opened.lease
        self.created = opened.created
        self.budget: RunBudget = opened.record.budget
        token = None if opened.lease is None else opened.lease.fencing_token
        self.effects = EffectLedger(
            self.storage,
            self.run_id,
            self.config.in_doubt_effects,
            fencing_token=token,
            on_fenced=self._fenced_out,
        )
        self.items: ItemLedger | None = (
            None
            if token is None
            else ItemLedger(self.storage, self.run_id, token, self._fenced_out)
        )
        self._opened = opened
        self._progress = _Progress()
        self._control = ControlWatch(self.storage, self.run_id, self.config.control_poll_interval)
        self._finished = False
        self._send: MemoryObjectSendStream[tuple[Checkpoint, int]] | None = None
        self._writer_done = anyio.Event()
        self._fence: FencedOutError | None = None
        self._fence_seen = anyio.Event()

    @classmethod
    async def open(
        cls, manager: CheckpointManager, spec: RunSpec, snapshot: Snapshot[S]
    ) -> DurableRun[S]:
        """Create the run, or find it and claim it to continue; see :func:`open_run`."""
        return cls(manager, await open_run(manager, spec), snapshot)

    @property
    def finished(self) -> bool:
        """The run completed earlier: :attr:`checkpoint` is its final one; nothing may run."""
        return self.lease is None

    def starting_input(self, input_data: Mapping[str, Any] | None) -> dict[str, Any]:
        """The input of a run that has no checkpoint yet; see ``OpenedRun.starting_input``."""
        return self._opened.starting_input(input_data)

    @asynccontextmanager
    async def released_on_error(self) -> AsyncIterator[None]:
        """Give the lease back if the caller's preparation between :meth:`open` and
        :meth:`run` raises (a wrong answer to a paused run, say): the run is left with the
        status it had, for a corrected call."""
        try:
            yield
        except BaseException:
            with anyio.move_on_after(_SHUTDOWN_SECONDS, shield=True):
                await self._restore_status()
                await self._release()
            raise

    async def _restore_status(self) -> None:
        before = self._opened.before
        if before is None or self.lease is None:
            return
        try:
            self.record = await self.storage.aupdate_run(
                self.run_id,
                expect_fencing_token=self.lease.fencing_token,
                status=before.status,
                status_reason=before.status_reason,
                last_error=before.last_error,
                finished_at=before.finished_at,
            )
        except Exception as exc:
            logger.warning("could not restore the status of run %r: %s", self.run_id, exc)

    # --- running ------------------------------------------------------------------------

    async def run(self, body: Callable[[], Awaitable[T]], *, start: S | None = None) -> T:
        """Run ``body`` (the executor's walk) under the lease, then release the lease.

        ``start``: the state of a new run, written first as its START checkpoint (so that a
        crash before its first node still recovers with its input). ``body`` must end with
        :meth:`stopped` (or a finisher); how other endings are recorded is in the module docs.
        """
        if self.lease is None:
            raise RunConflictError(f"run {self.run_id!r} is completed; nothing may run in it")
        try:
            return await self._supervised(body, start)
        except anyio.get_cancelled_exc_class():
            with anyio.move_on_after(_SHUTDOWN_SECONDS, shield=True):
                await self._stopped_by_cancellation()
            raise
        except FencedOutError:
            raise
        except Exception as exc:
            with anyio.move_on_after(_SHUTDOWN_SECONDS, shield=True):
                await self._stopped_by_error(exc)
            raise
        finally:
            with anyio.move_on_after(_SHUTDOWN_SECONDS, shield=True):
                await self._release()

    async def _supervised(self, body: Callable[[], Awaitable[T]], start: S | None) -> T:
        try:
            async with anyio.create_task_group() as group:
                group.start_soon(self._heartbeat)
                group.start_soon(self._stop_when_fenced_out)
                if self.config.durability is Durability.ASYNC:
                    # A slow store slows the run down instead of letting unwritten state pile
                    # up: the writer holds one checkpoint while it writes it, the rest wait.
                    queued = self.config.async_max_behind - 1
                    send, receive = anyio.create_memory_object_stream[tuple[Checkpoint, int]](
                        queued
                    )
                    self._send = send
                    group.start_soon(self._writer, receive)
                if start is not None:
                    self.boundary(start, None)
                    first = self._progress.boundary
                    assert first is not None
                    await self._commit(self._stamped(first, CheckpointKind.START), 0)
                result = await body()
                await self._flush()
                group.cancel_scope.cancel()
            return result
        except BaseExceptionGroup as group:
            raise _sole(group) from None

    # --- what the executor reports ------------------------------------------------------

    def boundary(self, state: S, after: str | None) -> None:
        """The run's state between two nodes (the last one that is whole).

        A failure or an interruption before the next :meth:`node_done` leaves the run at
        this state; it is written then if it was not yet.
        """
        self._progress.boundary = self.snapshot(state, after)
        self._progress.boundary_at = self._progress.done

    async def check_control(self) -> Stop | None:
        """The pause or cancel request stored for this run, if any (see :mod:`._control_watch`)."""
        return await self._control.check()

    async def node_done(
        self,
        state: S,
        after: str | None,
        *,
        step: int,
        requests: list[dict[str, Any]] | None = None,
        stopping: bool = False,
    ) -> None:
        """A node (or plan step) succeeded and what runs next is decided: checkpoint it.

        Written when the save frequency says so for ``step`` or the node requested one
        (kind ``requested``, carrying the requests' metadata): awaited under ``sync``,
        queued for the writer under ``async``, never under ``exit``. ``stopping``: the run
        stops right after this node, and the finisher writes this state instead.
        Requests not written yet go into the next checkpoint that is.
        """
        self._progress.done += 1
        self.boundary(state, after)
        snapshot = self._progress.boundary
        assert snapshot is not None
        self._progress.requests.extend(requests or [])
        durability = self.config.durability
        requested = bool(self._progress.requests)
        if stopping or durability is Durability.EXIT:
            return
        if not self.manager.should_checkpoint(step, requested):
            return
        kind = CheckpointKind.REQUESTED if requested else CheckpointKind.NODE_COMPLETE
        cp = self._stamped(snapshot, kind)
        if self._send is not None:
            await self._send.send((cp, self._progress.done))
        else:
            await self._commit(cp, self._progress.done)

    async def stopped(self, state: S, after: str | None, status: RunStatus, reason: str) -> None:
        """Record how the walk ended, with the state it ended in (see the finishers)."""
        snapshot = self.snapshot(state, after)
        if status is RunStatus.COMPLETED:
            await self.complete(snapshot)
        elif status is RunStatus.PAUSED:
            await self.pause(snapshot, reason)
        elif status is RunStatus.CANCELLED:
            await self.cancel(snapshot, reason)
        else:
            await self.fail(reason)

    async def complete(self, snapshot: Checkpoint) -> None:
        """The run completed: write its FINAL checkpoint, then mark it completed."""
        await self._flush()
        await self._commit(self._stamped(snapshot, CheckpointKind.FINAL), self._progress.done)
        await self.mark_completed()

    async def mark_completed(self) -> None:
        """Mark the run completed; its FINAL checkpoint is stored already."""
        await self._set_status(RunStatus.COMPLETED, finished_at=utc_now())

    async def pause(self, snapshot: Checkpoint, reason: str) -> None:
        """The run pauses at ``snapshot`` (resumable): a PAUSE checkpoint, status paused."""
        await self._flush()
        await self._commit(self._stamped(snapshot, CheckpointKind.PAUSE), self._progress.done)
        await self._set_status(RunStatus.PAUSED, status_reason=reason)

    async def cancel(self, snapshot: Checkpoint, reason: str) -> None:
        """The run is cancelled (final); its latest state is kept as a checkpoint."""
        await self._flush()
        if self._progress.done > self._progress.committed:
            cp = self._stamped(snapshot, CheckpointKind.NODE_COMPLETE)
            await self._commit(cp, self._progress.done)
        await self._set_status(RunStatus.CANCELLED, status_reason=reason, finished_at=utc_now())

    async def fail(self, error: str) -> None:
        """A node failed the run: keep the state before it and mark the run failed.

        The last boundary is written if it was not yet (``every_n_nodes``, ``exit``), so
        running the run again re-runs the failed node with everything before it intact.
        """
        await self._flush()
        await self._write_boundary(CheckpointKind.NODE_COMPLETE)
        await self._set_status(RunStatus.FAILED, status_reason=error, last_error=error)

    # --- internals ----------------------------------------------------------------------

    def _stamped(self, snapshot: Checkpoint, kind: CheckpointKind) -> Checkpoint:
        """``snapshot`` as a checkpoint of ``kind`` carrying the pending requests' metadata."""
        metadata = dict(snapshot.metadata)
        for request in self._progress.requests:
            metadata.update(request)
        self._progress.requests.clear()
        return snapshot.model_copy(
            update={
                "run_id": self.run_id,
                "kind": kind,
                "metadata": metadata,
                "graph_fingerprint": self.record.graph_fingerprint,
            }
        )

    async def _commit(self, cp: Checkpoint, progress: int) -> str | None:
        """Store ``cp`` fenced with the run record pointed at it: one storage write."""
        commit = await self.manager.acommit_step(cp, fencing_token=self._token())
        if commit is None:
            return None
        self._progress.committed = max(self._progress.committed, progress)
        self.record = commit.record
        self._control.seen(commit.control)
        return commit.checkpoint.id

    async def _write_boundary(self, kind: CheckpointKind) -> None:
        progress = self._progress
        if progress.boundary is not None and progress.boundary_at > progress.committed:
            await self._commit(self._stamped(progress.boundary, kind), progress.boundary_at)

    async def _set_status(self, status: RunStatus, **changes: Any) -> None:
        changes.setdefault("status_reason", None)
        self.record = await self.storage.aupdate_run(
            self.run_id, expect_fencing_token=self._token(), status=status, **changes
        )
        self._finished = True
        await self._control.clear_honoured(self._token())

    async def _flush(self) -> None:
        """Wait until the async writer has stored everything queued (no-op otherwise)."""
        if self._send is None:
            return
        send, self._send = self._send, None
        await send.aclose()
        await self._writer_done.wait()

    async def _writer(self, receive: MemoryObjectReceiveStream[tuple[Checkpoint, int]]) -> None:
        async with receive:
            async for cp, progress in receive:
                await self._commit(cp, progress)
        self._writer_done.set()

    def _token(self) -> int:
        if self.lease is None:
            raise RunConflictError(f"run {self.run_id!r} is not claimed; nothing may be written")
        return self.lease.fencing_token

    async def _heartbeat(self) -> None:
        if self.lease is None:
            return
        ttl = self.config.lease_ttl_seconds
        while True:
            await anyio.sleep(ttl / 3)
            try:
                self.lease = await self.storage.arenew_lease(self.lease, ttl_seconds=ttl)
            except FencedOutError:
                raise
            except Exception as exc:
                # Safe to go on: if the lease lapses and is taken over, fencing stops our
                # next write. The next beat tries again.
                logger.warning("could not renew the lease of run %r: %s", self.run_id, exc)

    def _fenced_out(self, error: FencedOutError) -> None:
        """A write of the run was refused because another owner took it over."""
        if self._fence is None:
            self._fence = error
            self._fence_seen.set()

    async def _stop_when_fenced_out(self) -> None:
        # The walk may have turned the error into a node failure (and go on to retry the
        # node); raising it here cancels the walk, as a fenced checkpoint write would.
        await self._fence_seen.wait()
        assert self._fence is not None
        raise self._fence

    async def _stopped_by_cancellation(self) -> None:
        if self._finished:
            return
        try:
            await self._write_boundary(CheckpointKind.PAUSE)
            reason = f"{INTERRUPTED}: execution was cancelled; the node in flight re-runs on resume"
            await self._set_status(RunStatus.PAUSED, status_reason=reason)
        except Exception as exc:
            logger.warning("run %r was interrupted and could not record it: %s", self.run_id, exc)

    async def _stopped_by_error(self, error: Exception) -> None:
        if self._finished:
            return
        message = f"{type(error).__name__}: {error}"
        try:
            await self._set_status(RunStatus.FAILED, status_reason=message, last_error=message)
        except Exception as exc:
            logger.warning(
                "run %r failed (%s) and could not record it: %s", self.run_id, message, exc
            )

    async def _release(self) -> None:
        if self.lease is None:
            return
        try:
            await self.storage.arelease_lease(self.lease)
        except Exception as exc:
            # The lease then simply expires; another process may take the run over after.
            logger.warning("could not release the lease of run %r: %s", self.run_id, exc)


def _sole(group: BaseExceptionGroup[BaseException]) -> BaseException:
    """The one real error in a (nested) task-group exception, else the group itself.

    Cancellations that merely accompany an error are dropped: they are its consequence.
    A ``FencedOutError`` wins over anything else: the heartbeat and a checkpoint commit
    may both discover the takeover, and whatever else failed then failed because of it.
    """
    leaves: list[BaseException] = []

    def collect(exc: BaseException) -> None:
        if isinstance(exc, BaseExceptionGroup):
            for inner in exc.exceptions:
                collect(inner)
        else:
            leaves.append(exc)

    collect(group)
    cancelled = anyio.get_cancelled_exc_class()
    real = [exc for exc in leaves if not isinstance(exc, cancelled)] or leaves
    fenced = [exc for exc in real if isinstance(exc, FencedOutError)]
    if fenced:
        return fenced[0]
    return real[0] if len(real) == 1 else group
