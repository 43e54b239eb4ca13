"""CheckpointManager: when to write checkpoints, what goes in them, and how long they stay.

The executor hands the manager what it knows after a node succeeded; the manager turns it
into a :class:`~framework.schemas.checkpoint.Checkpoint`, numbers it, stores it through the
storage contract and applies the retention strategy. Reading back (latest or by id),
listing, verifying and deleting go through it too, and so do the run commands of
:mod:`._commands` (pause, cancel, fork, preview). Nothing here knows about files, SQL or
graphs.

Async methods are primary; each has a synchronous twin without the ``a`` prefix, generated
by :func:`~framework.storage.twins.sync_twin`, that runs on the storage's own event loop
thread, so it is safe from scripts, the CLI and (blocking it) async code alike.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable, Mapping
from typing import Any

from framework._closing import Closing
from framework.durable import _commands
from framework.durable._commands import ResumePreview
from framework.durable._contents import MemoryLike, build_checkpoint, merge_requests
from framework.durable._numbering import SeqCounter, renumbering
from framework.durable._verifying import RunVerification, verify_run
from framework.errors import (
    CheckpointEncodeError,
    CheckpointSaveError,
    CheckpointTooLargeError,
    FencedOutError,
    InvalidIdError,
)
from framework.schemas.checkpoint import (
    Checkpoint,
    CheckpointKind,
    CheckpointMetadata,
    ExecutorType,
)
from framework.schemas.config import CheckpointConfig, OnSaveError, RetentionStrategy, SaveFrequency
from framework.schemas.control import ControlSignal
from framework.schemas.ids import validate_node_id, validate_run_id
from framework.storage import open_storage
from framework.storage.backend import StepCommit, StorageBackend
from framework.storage.twins import LoopThread, sync_twin

logger = logging.getLogger("framework.checkpoint")

# Errors that already name what failed (the key path, the largest keys, the bad id).
_SELF_EXPLAINING = (CheckpointEncodeError, CheckpointTooLargeError, InvalidIdError)

Restored = tuple[dict[str, Any] | None, str | None]


class CheckpointSaveWarning(UserWarning):
    """A checkpoint could not be saved and ``on_save_error="warn"`` let the run continue."""


class CheckpointManager(Closing):
    """Writes, numbers, prunes and restores the checkpoints of runs.

    ``storage`` is a :class:`StorageBackend` or a storage URL (``memory://``,
    ``file:///dir``, ``sqlite:///file.db``), which is opened with the config's ``fsync`` and
    ``max_checkpoint_bytes`` and closed by :meth:`close`. ``config`` defaults to
    :class:`CheckpointConfig` (a mapping is validated into one).

    Checkpoint ids are ``ckpt_{run_id}_{node_id}_{seq:06d}``: ``seq`` is one more than the
    run's latest stored seq, counted here per run after the first save, so ids are unique and
    ordered within a run. Retention runs after every save: ``latest_only`` keeps 1,
    ``prune_old`` keeps ``max_checkpoints_per_run``, ``all`` keeps everything.

    A failed save raises: ``CheckpointEncodeError``, ``CheckpointTooLargeError`` and
    ``InvalidIdError`` as they are, anything else as ``CheckpointSaveError`` with the cause
    attached. Only ``on_save_error="warn"`` turns a failure into a
    :class:`CheckpointSaveWarning` (also logged) and a ``None`` result.

    ``max_checkpoint_bytes`` is passed to the storage with every save, which enforces the
    lower of it and the backend's own limit while encoding (no second encoding here).
    Durable runs (executors given this manager) write through :meth:`acommit_step` with
    their lease's fencing token: one storage write per checkpoint.
    """

    def __init__(
        self,
        storage: StorageBackend | str,
        config: CheckpointConfig | Mapping[str, Any] | None = None,
    ) -> None:
        if config is None:
            config = CheckpointConfig()
        elif not isinstance(config, CheckpointConfig):
            config = CheckpointConfig.model_validate(config)
        self.config = config
        self._owns_storage = isinstance(storage, str)
        if isinstance(storage, str):
            storage = open_storage(
                storage, fsync=config.fsync, max_checkpoint_bytes=config.max_checkpoint_bytes
            )
        elif not isinstance(storage, StorageBackend):
            raise TypeError(
                f"storage must be a StorageBackend or a storage URL, not {type(storage).__name__}"
            )
        self.storage = storage
        self._seqs = SeqCounter()

    @property
    def loop_thread(self) -> LoopThread:
        """Where the synchronous twins run: the storage's own event loop."""
        return self.storage.loop_thread

    # --- deciding -----------------------------------------------------------------------

    def should_checkpoint(self, step_number: int, requested: bool = False) -> bool:
        """Whether to write a checkpoint after step ``step_number``.

        Disabled: never. A requested checkpoint: always. Otherwise ``every_node``: always;
        ``every_n_nodes``: when ``step_number % n_nodes == 0``; ``on_request``: never.
        """
        if not self.config.enabled:
            return False
        if requested:
            return True
        frequency = self.config.save_frequency
        if frequency is SaveFrequency.EVERY_NODE:
            return True
        if frequency is SaveFrequency.EVERY_N_NODES:
            return step_number % self.config.n_nodes == 0
        return False

    # --- saving -------------------------------------------------------------------------

    async def asave_checkpoint(
        self,
        run_id: str,
        node_id: str,
        memory: MemoryLike,
        executor_type: ExecutorType = ExecutorType.GRAPH,
        metadata: Mapping[str, Any] | None = None,
    ) -> str | None:
        """Save a checkpoint taken after ``node_id`` and return its id (``None`` if disabled).

        ``memory`` is the run's shared memory (a ``SharedMemory`` or a mapping).
        ``metadata`` may carry checkpoint fields (execution_path, step_number, totals,
        next_node_id, pending_input, context, kind, ...); every other key, and the mapping
        under ``metadata["metadata"]``, becomes user metadata.
        """
        return await self._save(run_id, node_id, memory, executor_type, metadata)

    async def acommit_checkpoint(
        self, cp: Checkpoint, *, fencing_token: int | None = None
    ) -> str | None:
        """Number ``cp`` as its run's next checkpoint, store it, and return its new id.

        The seq and id of ``cp`` are replaced as by :meth:`acommit_step`, and the write is
        fenced when ``fencing_token`` is given; the run record is left as it is. Retention
        and error handling are those of :meth:`asave_checkpoint`.
        """
        self._seqs.adopt_token(cp.run_id, fencing_token)
        node_id = cp.node_id or "start"
        return await self._store(cp.run_id, node_id, renumbering(cp), fencing_token)

    async def acommit_step(self, cp: Checkpoint, *, fencing_token: int) -> StepCommit | None:
        """Store ``cp`` as its run's next checkpoint and the run's progress, in one write.

        The durable executor's write after a node (``storage.acommit_step``): the seq and
        id of ``cp`` are replaced (``ckpt_{run}_{node}_{seq}``, node ``start`` for a
        checkpoint taken before any node), the run record is pointed at it and the
        retention strategy applied in the same atomic step, and the run's pending control
        request comes back with it. The storage refuses the write with ``FencedOutError``
        unless ``fencing_token`` is the run's current token; that error is always raised,
        whatever ``on_save_error`` says, because the writer must stop. A token not seen
        before for the run (a new claim) makes the seq be read from storage again. Other
        errors are handled as in :meth:`asave_checkpoint`; ``None`` when nothing was stored
        (disabled, or a failure only warned about).
        """
        if not self.config.enabled:
            return None
        run_id, node_id = cp.run_id, cp.node_id or "start"
        self._seqs.adopt_token(run_id, fencing_token)
        try:
            numbered = renumbering(cp)(await self._next_seq(run_id, node_id))
            return await self.storage.acommit_step(
                numbered,
                fencing_token=fencing_token,
                keep=self._keep(),
                max_bytes=self.config.max_checkpoint_bytes,
            )
        except Exception as exc:
            self._failed(run_id, node_id, exc)
            return None

    async def asave_requested(
        self,
        run_id: str,
        node_id: str,
        memory: MemoryLike,
        requests: list[dict[str, Any]],
        executor_type: ExecutorType = ExecutorType.GRAPH,
        metadata: Mapping[str, Any] | None = None,
    ) -> str | None:
        """Write the checkpoint a node asked for with ``ctx.request_checkpoint(metadata=...)``.

        ``requests`` is the node context's ``checkpoint_requests``. One checkpoint of kind
        ``requested`` is written when there is at least one request (whatever the save
        frequency), carrying the requests' metadata merged in order on top of the user
        metadata in ``metadata``. Returns its id, or ``None`` when there was no request or
        checkpointing is disabled.
        """
        merged = merge_requests(metadata, requests)
        if merged is None:
            return None
        return await self._save(
            run_id, node_id, memory, executor_type, merged, CheckpointKind.REQUESTED
        )

    # --- reading ------------------------------------------------------------------------

    async def aget_checkpoint(
        self, run_id: str, checkpoint_id: str | None = None
    ) -> Checkpoint | None:
        """The checkpoint ``checkpoint_id`` of the run, or its latest valid one when ``None``."""
        if checkpoint_id is None:
            return await self.storage.aload_latest_checkpoint(run_id)
        return await self.storage.aload_checkpoint(run_id, checkpoint_id)

    async def arestore_from_checkpoint(
        self, run_id: str, checkpoint_id: str | None = None
    ) -> Restored:
        """``(memory_snapshot, resume_node)`` to continue the run from.

        ``resume_node`` is the recorded next node, else the node the checkpoint was taken
        after. ``(None, None)`` when there is no such checkpoint or ``auto_recovery`` is off.
        """
        if not self.config.auto_recovery:
            return None, None
        cp = await self.aget_checkpoint(run_id, checkpoint_id)
        if cp is None:
            return None, None
        return dict(cp.memory_snapshot), cp.next_node_id or cp.node_id

    async def alist_checkpoints(self, run_id: str) -> list[CheckpointMetadata]:
        """The run's checkpoints, oldest first."""
        return await self.storage.alist_checkpoints(run_id)

    async def averify_run(self, run_id: str) -> RunVerification:
        """Whether storage still holds what the run's record says (see :mod:`._verifying`).

        Lists the damaged checkpoints, the newest intact one (where the run continues) and
        every problem: a checkpoint the record names that is not stored, a run that would
        continue from an older checkpoint, or one that is lost (``report.lost``: it is
        refused with ``CheckpointsLostError`` until restored or started over). Reads every
        stored record once; ``RunNotFoundError`` for an unknown run.
        """
        return await verify_run(self.storage, run_id)

    async def adelete_checkpoints(self, run_id: str) -> int:
        """Delete every checkpoint of the run; return how many there were."""
        try:
            return await self.storage.adelete_checkpoints(run_id)
        finally:
            self._seqs.forget(run_id)

    # --- run commands (see framework.durable._commands) ---------------------------------

    async def arequest_pause(self, run_id: str, reason: str = "") -> ControlSignal | None:
        """Ask the run to pause after the node in flight (see :func:`._commands.request_pause`)."""
        return await _commands.request_pause(self.storage, run_id, reason)

    async def arequest_cancel(self, run_id: str, reason: str = "") -> ControlSignal | None:
        """Cancel the run for good (see :func:`._commands.request_cancel`)."""
        return await _commands.request_cancel(self.storage, run_id, reason)

    async def afork(
        self,
        run_id: str,
        checkpoint_id: str | None = None,
        new_run_id: str | None = None,
        memory_updates: Mapping[str, Any] | None = None,
    ) -> str:
        """Start a new run from a stored checkpoint (see :func:`._commands.fork`)."""
        return await _commands.fork(
            self.storage, self.acommit_checkpoint, run_id, checkpoint_id, new_run_id, memory_updates
        )

    async def apreview_resume(self, run_id: str) -> ResumePreview:
        """What resuming the run would do (see :func:`._commands.preview_resume`)."""
        return await _commands.preview_resume(self.storage, run_id)

    # --- lifecycle ----------------------------------------------------------------------

    def close(self) -> None:
        """Close the storage if this manager opened it from a URL; a passed backend stays open."""
        if self._owns_storage:
            self.storage.close()

    async def aclose(self) -> None:
        if self._owns_storage:
            await self.storage.aclose()

    # --- synchronous twins --------------------------------------------------------------

    save_checkpoint = sync_twin(asave_checkpoint)
    commit_checkpoint = sync_twin(acommit_checkpoint)
    commit_step = sync_twin(acommit_step)
    save_requested = sync_twin(asave_requested)
    get_checkpoint = sync_twin(aget_checkpoint)
    restore_from_checkpoint = sync_twin(arestore_from_checkpoint)
    list_checkpoints = sync_twin(alist_checkpoints)
    verify_run = sync_twin(averify_run)
    delete_checkpoints = sync_twin(adelete_checkpoints)
    request_pause = sync_twin(arequest_pause)
    request_cancel = sync_twin(arequest_cancel)
    fork = sync_twin(afork)
    preview_resume = sync_twin(apreview_resume)

    # --- internals ----------------------------------------------------------------------

    async def _save(
        self,
        run_id: str,
        node_id: str,
        memory: MemoryLike,
        executor_type: ExecutorType,
        metadata: Mapping[str, Any] | None,
        kind: CheckpointKind | None = None,
    ) -> str | None:
        def build(seq: int) -> Checkpoint:
            return build_checkpoint(
                run_id=run_id,
                node_id=node_id,
                seq=seq,
                memory=memory,
                executor_type=executor_type,
                metadata=metadata,
                kind=kind,
            )

        return await self._store(run_id, node_id, build)

    async def _store(
        self,
        run_id: str,
        node_id: str,
        build: Callable[[int], Checkpoint],
        fencing_token: int | None = None,
    ) -> str | None:
        if not self.config.enabled:
            return None
        try:
            cp = build(await self._next_seq(run_id, node_id))
            await self.storage.asave_checkpoint(
                cp, fencing_token=fencing_token, max_bytes=self.config.max_checkpoint_bytes
            )
        except Exception as exc:
            self._failed(run_id, node_id, exc)
            return None
        keep = self._keep()
        if keep is not None:
            try:
                await self.storage.aprune_checkpoints(run_id, keep)
            except Exception as exc:
                self._retention_failed(cp, exc)
        return cp.id

    async def _next_seq(self, run_id: str, node_id: str) -> int:
        """The seq of the run's next checkpoint (read from storage once per run and claim)."""
        validate_run_id(run_id)
        validate_node_id(node_id)
        seq = self._seqs.claim(run_id)
        if seq is None:
            seq = self._seqs.claim_after(run_id, await self.storage.alatest_seq(run_id))
        return seq

    def _keep(self) -> int | None:
        strategy = self.config.retention_strategy
        if strategy is RetentionStrategy.LATEST_ONLY:
            return 1
        if strategy is RetentionStrategy.PRUNE_OLD:
            return self.config.max_checkpoints_per_run
        return None

    def _failed(self, run_id: str, node_id: str, exc: Exception) -> None:
        """Raise the save failure as a typed error, or warn (and return) in warn mode."""
        self._seqs.forget(run_id)
        if isinstance(exc, FencedOutError):
            raise exc
        error: Exception = exc
        if not isinstance(exc, _SELF_EXPLAINING):
            error = CheckpointSaveError(
                f"could not save the checkpoint of run {run_id!r} after node {node_id!r}: "
                f"{type(exc).__name__}: {exc}. The run must not continue as if it were saved; "
                "fix the cause, or set on_save_error='warn' to continue unprotected"
            )
            error.__cause__ = exc
        if self.config.on_save_error is OnSaveError.WARN:
            message = f"{error} (on_save_error='warn': continuing without this checkpoint)"
            logger.warning(message)
            warnings.warn(message, CheckpointSaveWarning, stacklevel=4)
            return
        raise error

    def _retention_failed(self, cp: Checkpoint, exc: Exception) -> None:
        # The checkpoint itself is durable, so the run is safe; only old ones linger.
        message = (
            f"checkpoint {cp.id!r} of run {cp.run_id!r} was saved, but applying retention "
            f"{self.config.retention_strategy.value!r} failed: {type(exc).__name__}: {exc}"
        )
        logger.warning(message)
        warnings.warn(message, CheckpointSaveWarning, stacklevel=4)
