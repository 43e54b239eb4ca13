"""CheckpointManager: when to write checkpoints, what goes in them, and how long they stay.

The executor hands the manager what it knows after a node succeeded; the manager turns it
into a :class:`~framework.schemas.checkpoint.Checkpoint`, numbers it, stores it through the
storage contract and applies the retention strategy. Reading back (latest or by id), listing
and deleting go through it too. Nothing here knows about files or SQL.

Every public method has an async twin prefixed ``a``. The synchronous ones call the
storage's synchronous twins, which work whether or not an event loop is running in the
calling thread, so they are safe from scripts, the CLI and async code alike.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable, Mapping
from typing import Any

from framework.closing import Closing
from framework.errors import (
    CheckpointEncodeError,
    CheckpointSaveError,
    CheckpointTooLargeError,
    FencedOutError,
    InvalidIdError,
)
from framework.graph.checkpoint_contents import (
    MemoryLike,
    build_checkpoint,
    merge_requests,
)
from framework.graph.checkpoint_numbering import SeqCounter, renumbering
from framework.graph.run_control import RunControl
from framework.schemas.checkpoint import (
    Checkpoint,
    CheckpointConfig,
    CheckpointKind,
    CheckpointMetadata,
    ExecutorType,
    OnSaveError,
    RetentionStrategy,
    SaveFrequency,
)
from framework.storage.backend import StorageBackend
from framework.storage.ids import validate_node_id, validate_run_id

__all__ = ["CheckpointManager", "CheckpointSaveWarning"]

logger = logging.getLogger("framework.checkpoint")

# Errors that already name what failed (the key path, the largest keys, the bad id).
_SELF_EXPLAINING = (CheckpointEncodeError, CheckpointTooLargeError, InvalidIdError)

Restored = tuple[dict[str, Any] | None, str | None]
_Build = Callable[[int], Checkpoint]


class CheckpointSaveWarning(UserWarning):
    """A checkpoint could not be saved and ``on_save_error="warn"`` let the run continue."""


class CheckpointManager(RunControl, Closing):
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

    Durable runs (executors given this manager) write through :meth:`acommit_checkpoint`
    with their lease's fencing token; pausing, cancelling, forking and previewing runs come
    from :class:`~framework.graph.run_control.RunControl`.
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
            storage = _open_storage(storage, config)
        elif not isinstance(storage, StorageBackend):
            raise TypeError(
                f"storage must be a StorageBackend or a storage URL, not {type(storage).__name__}"
            )
        self.storage = storage
        self._seqs = SeqCounter()

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

    def save_checkpoint(
        self,
        run_id: str,
        node_id: str,
        memory: MemoryLike,
        executor_type: ExecutorType = ExecutorType.GRAPH,
        metadata: Mapping[str, Any] | None = None,
    ) -> str | None:
        """Save a checkpoint taken after ``node_id`` and return its id (``None`` if disabled).

        ``memory`` is the run's shared memory (a ``SharedMemory`` or a mapping).
        ``metadata`` may carry checkpoint fields (``CHECKPOINT_FIELD_KEYS``: execution_path,
        step_number, totals, next_node_id, pending_input, context, kind, ...); every other
        key, and the mapping under ``metadata["metadata"]``, becomes user metadata.
        """
        build = self._builder(run_id, node_id, memory, executor_type, metadata, None)
        return self._save(run_id, node_id, build)

    async def asave_checkpoint(
        self,
        run_id: str,
        node_id: str,
        memory: MemoryLike,
        executor_type: ExecutorType = ExecutorType.GRAPH,
        metadata: Mapping[str, Any] | None = None,
    ) -> str | None:
        build = self._builder(run_id, node_id, memory, executor_type, metadata, None)
        return await self._asave(run_id, node_id, build)

    def commit_checkpoint(self, cp: Checkpoint, *, fencing_token: int | None = None) -> str | None:
        """Number ``cp`` as its run's next checkpoint, store it, and return its new id.

        The seq and id of ``cp`` are replaced (``ckpt_{run}_{node}_{seq}``, node ``start``
        for a checkpoint taken before any node). With ``fencing_token`` the storage refuses
        the write with ``FencedOutError`` unless it is the run's current token; that error
        is always raised, whatever ``on_save_error`` says, because the writer must stop. A
        token not seen before for the run (a new claim) makes the seq be read from storage
        again. Retention and error handling are those of :meth:`save_checkpoint`.
        """
        self._seqs.adopt_token(cp.run_id, fencing_token)
        return self._save(cp.run_id, cp.node_id or "start", renumbering(cp), fencing_token)

    async def acommit_checkpoint(
        self, cp: Checkpoint, *, fencing_token: int | None = None
    ) -> str | None:
        self._seqs.adopt_token(cp.run_id, fencing_token)
        return await self._asave(cp.run_id, cp.node_id or "start", renumbering(cp), fencing_token)

    def save_requested(
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
        kind = CheckpointKind.REQUESTED
        return self._save(
            run_id, node_id, self._builder(run_id, node_id, memory, executor_type, merged, kind)
        )

    async def asave_requested(
        self,
        run_id: str,
        node_id: str,
        memory: MemoryLike,
        requests: list[dict[str, Any]],
        executor_type: ExecutorType = ExecutorType.GRAPH,
        metadata: Mapping[str, Any] | None = None,
    ) -> str | None:
        merged = merge_requests(metadata, requests)
        if merged is None:
            return None
        kind = CheckpointKind.REQUESTED
        return await self._asave(
            run_id, node_id, self._builder(run_id, node_id, memory, executor_type, merged, kind)
        )

    # --- reading ------------------------------------------------------------------------

    def get_checkpoint(self, run_id: str, checkpoint_id: str | None = None) -> Checkpoint | None:
        """The checkpoint ``checkpoint_id`` of the run, or its latest valid one when ``None``."""
        if checkpoint_id is None:
            return self.storage.load_latest_checkpoint(run_id)
        return self.storage.load_checkpoint(run_id, checkpoint_id)

    async def aget_checkpoint(
        self, run_id: str, checkpoint_id: str | None = None
    ) -> Checkpoint | None:
        if checkpoint_id is None:
            return await self.storage.aload_latest_checkpoint(run_id)
        return await self.storage.aload_checkpoint(run_id, checkpoint_id)

    def restore_from_checkpoint(self, run_id: str, checkpoint_id: str | None = None) -> Restored:
        """``(memory_snapshot, resume_node)`` to continue the run from.

        ``resume_node`` is the recorded next node, else the node the checkpoint was taken
        after. ``(None, None)`` when there is no such checkpoint or ``auto_recovery`` is off.
        """
        if not self.config.auto_recovery:
            return None, None
        return _resume_point(self.get_checkpoint(run_id, checkpoint_id))

    async def arestore_from_checkpoint(
        self, run_id: str, checkpoint_id: str | None = None
    ) -> Restored:
        if not self.config.auto_recovery:
            return None, None
        return _resume_point(await self.aget_checkpoint(run_id, checkpoint_id))

    def list_checkpoints(self, run_id: str) -> list[CheckpointMetadata]:
        """The run's checkpoints, oldest first."""
        return self.storage.list_checkpoints(run_id)

    async def alist_checkpoints(self, run_id: str) -> list[CheckpointMetadata]:
        return await self.storage.alist_checkpoints(run_id)

    def delete_checkpoints(self, run_id: str) -> int:
        """Delete every checkpoint of the run; return how many there were."""
        try:
            return self.storage.delete_checkpoints(run_id)
        finally:
            self._seqs.forget(run_id)

    async def adelete_checkpoints(self, run_id: str) -> int:
        try:
            return await self.storage.adelete_checkpoints(run_id)
        finally:
            self._seqs.forget(run_id)

    # --- lifecycle ----------------------------------------------------------------------

    def close(self) -> None:
        """Close the storage if this manager opened it from a URL; a passed backend stays open."""
        if self._owns_storage:
            self.storage.close()

    async def aclose(self) -> None:
        if self._owns_storage:
            await self.storage.aclose()

    # --- internals ----------------------------------------------------------------------

    def _save(
        self, run_id: str, node_id: str, build: _Build, fencing_token: int | None = None
    ) -> str | None:
        if not self.config.enabled:
            return None
        try:
            validate_run_id(run_id)
            validate_node_id(node_id)
            seq = self._seqs.claim(run_id)
            if seq is None:
                seq = self._seqs.claim_after(run_id, self.storage.latest_seq(run_id))
            cp = build(seq)
            self.storage.save_checkpoint(
                cp, fencing_token=fencing_token, max_bytes=self.config.max_checkpoint_bytes
            )
        except Exception as exc:
            self._failed(run_id, node_id, exc)
            return None
        keep = self._keep()
        if keep is not None:
            try:
                self.storage.prune_checkpoints(run_id, keep)
            except Exception as exc:
                self._retention_failed(cp, exc)
        return cp.id

    async def _asave(
        self, run_id: str, node_id: str, build: _Build, fencing_token: int | None = None
    ) -> str | None:
        if not self.config.enabled:
            return None
        try:
            validate_run_id(run_id)
            validate_node_id(node_id)
            seq = self._seqs.claim(run_id)
            if seq is None:
                seq = self._seqs.claim_after(run_id, await self.storage.alatest_seq(run_id))
            cp = build(seq)
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

    @staticmethod
    def _builder(
        run_id: str,
        node_id: str,
        memory: MemoryLike,
        executor_type: ExecutorType,
        metadata: Mapping[str, Any] | None,
        kind: CheckpointKind | None,
    ) -> _Build:
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

        return build

    def _keep(self) -> int | None:
        strategy = self.config.retention_strategy
        if strategy is RetentionStrategy.LATEST_ONLY:
            return 1
        if strategy is RetentionStrategy.PRUNE_OLD:
            return self.config.max_checkpoints_per_run
        return None

    def _failed(self, run_id: str, node_id: str, exc: Exception) -> None:
        """Raise the save failure as a typed error, or warn and return ``None`` in warn mode."""
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
            return None
        raise error

    def _retention_failed(self, cp: Checkpoint, exc: Exception) -> None:
        # The checkpoint itself is durable, so the run is safe; only old ones linger.
        message = (
            f"checkpoint {cp.id!r} of run {cp.run_id!r} was saved, but applying retention "
            f"{self.config.retention_strategy.value!r} failed: {type(exc).__name__}: {exc}"
        )
        logger.warning(message)
        warnings.warn(message, CheckpointSaveWarning, stacklevel=4)


def _open_storage(url: str, config: CheckpointConfig) -> StorageBackend:
    # Imported on use so that storage modules may import graph modules without a cycle.
    from framework.storage import open_storage

    return open_storage(url, fsync=config.fsync, max_checkpoint_bytes=config.max_checkpoint_bytes)


def _resume_point(cp: Checkpoint | None) -> Restored:
    if cp is None:
        return None, None
    return dict(cp.memory_snapshot), cp.next_node_id or cp.node_id
