"""The storage contract: one abstract class every backend implements in full.

:class:`StorageBackend` states the whole contract in its docstrings; the backends (memory,
file, SQLite) only implement it and one conformance suite (``core/tests/storage/``) proves
them equal. Methods come in groups — checkpoints and runs today — so later groups (leases,
item ledgers, effects, control signals) arrive as new methods without reshaping these.

Async methods are primary: the executors await them. Every one has a synchronous twin of
the same name without the ``a`` prefix, for scripts, the CLI and compatibility, which works
whether or not an event loop is running in the calling thread. Backends whose natural
implementation is synchronous derive from :class:`SyncStorageBackend` (implement the sync
methods; the async twins run them in a worker thread); natively async backends implement
the async methods and inherit the generic sync bridge of :class:`StorageBackend`.

:class:`~framework.storage.file_backend.FileStorage` is importable from here too, as the
issue that introduced it promised.
"""

from __future__ import annotations

import asyncio
import functools
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self, TypeVar

import anyio.to_thread
from pydantic import BaseModel

from framework.schemas.checkpoint import Checkpoint, CheckpointMetadata
from framework.schemas.run import RunRecord, RunStatus

if TYPE_CHECKING:
    from framework.storage.file_backend import FileStorage

__all__ = ["CorruptCheckpoint", "FileStorage", "StorageBackend", "SyncStorageBackend"]

T = TypeVar("T")


class CorruptCheckpoint(BaseModel):
    """A stored checkpoint that cannot be loaded intact, and why."""

    run_id: str
    id: str
    seq: int
    reason: str


class StorageBackend(ABC):
    """Where checkpoints and run records live.

    Every id that enters a method (run, checkpoint, node) is validated first and a bad one
    raises :class:`~framework.errors.InvalidIdError` before anything is read or written.
    Failures of the store itself raise :class:`~framework.errors.StorageError`.
    """

    # --- checkpoints --------------------------------------------------------------------

    @abstractmethod
    async def asave_checkpoint(self, cp: Checkpoint) -> CheckpointMetadata:
        """Store ``cp`` atomically and return its metadata.

        The caller sets ``cp.id`` and ``cp.seq``; a seq not greater than the run's latest
        stored seq raises ``StorageError``. Values are encoded by the codec (an unencodable
        value raises ``CheckpointEncodeError`` naming its key path) and checksummed. Only
        what changed since the previous checkpoint of the run is written, with a full
        snapshot every so often. Above the backend's ``max_checkpoint_bytes`` the save
        raises ``CheckpointTooLargeError`` naming the largest memory keys.
        """

    @abstractmethod
    async def aload_checkpoint(self, run_id: str, checkpoint_id: str) -> Checkpoint | None:
        """The complete checkpoint, ``None`` if the run has no (visible) checkpoint by that id.

        Raises ``CorruptCheckpointError`` if it (or a record it is built from) is corrupt.
        """

    @abstractmethod
    async def aload_latest_checkpoint(self, run_id: str) -> Checkpoint | None:
        """The visible checkpoint with the highest seq that loads intact, or ``None``.

        Corrupt newer ones are skipped with a ``warnings.warn`` (and a logged warning)
        naming each, so a torn write costs one checkpoint, never the run. An intact one
        that cannot be revived (e.g. its model type is no longer registered) raises
        ``CheckpointDecodeError`` instead: going back in time would not fix that.
        """

    @abstractmethod
    async def alist_checkpoints(self, run_id: str) -> list[CheckpointMetadata]:
        """Metadata of the run's visible checkpoints, oldest (lowest seq) first."""

    @abstractmethod
    async def adelete_checkpoints(self, run_id: str) -> int:
        """Delete every checkpoint of the run; return how many visible ones there were."""

    @abstractmethod
    async def aprune_checkpoints(self, run_id: str, keep: int) -> int:
        """Keep the ``keep`` newest visible checkpoints; return how many stopped being visible.

        Pruned checkpoints are no longer listed or loadable. Stored data a remaining
        checkpoint is built from is kept; everything else is deleted.
        """

    @abstractmethod
    async def averify(self, run_id: str) -> list[CorruptCheckpoint]:
        """Check the stored bytes (checksums and record chains) of every visible checkpoint.

        Returns the ones that cannot load intact, oldest first; reads every record once.
        """

    @abstractmethod
    async def alatest_seq(self, run_id: str) -> int:
        """The highest seq stored for the run (corrupt or not), ``-1`` if none."""

    # --- runs ---------------------------------------------------------------------------

    @abstractmethod
    async def acreate_run(self, record: RunRecord) -> RunRecord:
        """Store a new run record; ``StorageError`` if a run with that id exists."""

    @abstractmethod
    async def aget_run(self, run_id: str) -> RunRecord | None:
        """The run's record, or ``None``."""

    @abstractmethod
    async def alist_runs(
        self,
        *,
        status: RunStatus | None = None,
        agent_id: str | None = None,
        graph_id: str | None = None,
        limit: int | None = None,
    ) -> list[RunRecord]:
        """Run records matching every given filter, newest (``created_at``) first."""

    @abstractmethod
    async def aupdate_run(self, run_id: str, /, **changes: Any) -> RunRecord:
        """Change fields of a run record (any but ``run_id``) and return the new record.

        ``updated_at`` is set to now unless given. ``StorageError`` if the run does not
        exist, a field is unknown, or a value is invalid.
        """

    # --- lifecycle ----------------------------------------------------------------------

    @abstractmethod
    async def aclose(self) -> None:
        """Release connections and files; the backend is not used afterwards."""

    # --- synchronous twins (generic bridge) ---------------------------------------------

    def save_checkpoint(self, cp: Checkpoint) -> CheckpointMetadata:
        return self._bridge(self.asave_checkpoint, cp)

    def load_checkpoint(self, run_id: str, checkpoint_id: str) -> Checkpoint | None:
        return self._bridge(self.aload_checkpoint, run_id, checkpoint_id)

    def load_latest_checkpoint(self, run_id: str) -> Checkpoint | None:
        return self._bridge(self.aload_latest_checkpoint, run_id)

    def list_checkpoints(self, run_id: str) -> list[CheckpointMetadata]:
        return self._bridge(self.alist_checkpoints, run_id)

    def delete_checkpoints(self, run_id: str) -> int:
        return self._bridge(self.adelete_checkpoints, run_id)

    def prune_checkpoints(self, run_id: str, keep: int) -> int:
        return self._bridge(self.aprune_checkpoints, run_id, keep)

    def verify(self, run_id: str) -> list[CorruptCheckpoint]:
        return self._bridge(self.averify, run_id)

    def latest_seq(self, run_id: str) -> int:
        return self._bridge(self.alatest_seq, run_id)

    def create_run(self, record: RunRecord) -> RunRecord:
        return self._bridge(self.acreate_run, record)

    def get_run(self, run_id: str) -> RunRecord | None:
        return self._bridge(self.aget_run, run_id)

    def list_runs(
        self,
        *,
        status: RunStatus | None = None,
        agent_id: str | None = None,
        graph_id: str | None = None,
        limit: int | None = None,
    ) -> list[RunRecord]:
        return self._bridge(
            functools.partial(
                self.alist_runs, status=status, agent_id=agent_id, graph_id=graph_id, limit=limit
            )
        )

    def update_run(self, run_id: str, /, **changes: Any) -> RunRecord:
        return self._bridge(functools.partial(self.aupdate_run, run_id, **changes))

    def close(self) -> None:
        self._bridge(self.aclose)

    @staticmethod
    def _bridge(func: Callable[..., Awaitable[T]], *args: Any) -> T:
        """Run an async method to completion from synchronous code.

        Without a running loop in this thread, run it on a fresh one; inside a running loop
        (a sync call from async code) run it on a fresh loop in a helper thread, because
        blocking on the caller's own loop would deadlock.
        """

        async def call() -> T:
            return await func(*args)

        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return asyncio.run(call())
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="storage-bridge") as pool:
            return pool.submit(asyncio.run, call()).result()

    # --- context managers ---------------------------------------------------------------

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()


class SyncStorageBackend(StorageBackend):
    """Base for backends with a synchronous core (memory, files, stdlib sqlite3).

    Subclasses implement the synchronous methods, which must be thread-safe; each async
    twin runs its sync method in a worker thread so an event loop is never blocked on I/O.
    """

    @abstractmethod
    def save_checkpoint(self, cp: Checkpoint) -> CheckpointMetadata: ...

    @abstractmethod
    def load_checkpoint(self, run_id: str, checkpoint_id: str) -> Checkpoint | None: ...

    @abstractmethod
    def load_latest_checkpoint(self, run_id: str) -> Checkpoint | None: ...

    @abstractmethod
    def list_checkpoints(self, run_id: str) -> list[CheckpointMetadata]: ...

    @abstractmethod
    def delete_checkpoints(self, run_id: str) -> int: ...

    @abstractmethod
    def prune_checkpoints(self, run_id: str, keep: int) -> int: ...

    @abstractmethod
    def verify(self, run_id: str) -> list[CorruptCheckpoint]: ...

    @abstractmethod
    def latest_seq(self, run_id: str) -> int: ...

    @abstractmethod
    def create_run(self, record: RunRecord) -> RunRecord: ...

    @abstractmethod
    def get_run(self, run_id: str) -> RunRecord | None: ...

    @abstractmethod
    def list_runs(
        self,
        *,
        status: RunStatus | None = None,
        agent_id: str | None = None,
        graph_id: str | None = None,
        limit: int | None = None,
    ) -> list[RunRecord]: ...

    @abstractmethod
    def update_run(self, run_id: str, /, **changes: Any) -> RunRecord: ...

    @abstractmethod
    def close(self) -> None: ...

    async def asave_checkpoint(self, cp: Checkpoint) -> CheckpointMetadata:
        return await _in_thread(self.save_checkpoint, cp)

    async def aload_checkpoint(self, run_id: str, checkpoint_id: str) -> Checkpoint | None:
        return await _in_thread(self.load_checkpoint, run_id, checkpoint_id)

    async def aload_latest_checkpoint(self, run_id: str) -> Checkpoint | None:
        return await _in_thread(self.load_latest_checkpoint, run_id)

    async def alist_checkpoints(self, run_id: str) -> list[CheckpointMetadata]:
        return await _in_thread(self.list_checkpoints, run_id)

    async def adelete_checkpoints(self, run_id: str) -> int:
        return await _in_thread(self.delete_checkpoints, run_id)

    async def aprune_checkpoints(self, run_id: str, keep: int) -> int:
        return await _in_thread(self.prune_checkpoints, run_id, keep)

    async def averify(self, run_id: str) -> list[CorruptCheckpoint]:
        return await _in_thread(self.verify, run_id)

    async def alatest_seq(self, run_id: str) -> int:
        return await _in_thread(self.latest_seq, run_id)

    async def acreate_run(self, record: RunRecord) -> RunRecord:
        return await _in_thread(self.create_run, record)

    async def aget_run(self, run_id: str) -> RunRecord | None:
        return await _in_thread(self.get_run, run_id)

    async def alist_runs(
        self,
        *,
        status: RunStatus | None = None,
        agent_id: str | None = None,
        graph_id: str | None = None,
        limit: int | None = None,
    ) -> list[RunRecord]:
        return await _in_thread(
            functools.partial(
                self.list_runs, status=status, agent_id=agent_id, graph_id=graph_id, limit=limit
            )
        )

    async def aupdate_run(self, run_id: str, /, **changes: Any) -> RunRecord:
        return await _in_thread(functools.partial(self.update_run, run_id, **changes))

    async def aclose(self) -> None:
        await _in_thread(self.close)


async def _in_thread(func: Callable[..., T], *args: Any) -> T:
    return await anyio.to_thread.run_sync(functools.partial(func, *args))


def __getattr__(name: str) -> Any:
    # FileStorage builds on this module, so importing it here eagerly would be circular.
    if name == "FileStorage":
        from framework.storage.file_backend import FileStorage

        return FileStorage
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
