"""The storage contract: one abstract class every backend implements in full.

:class:`StorageBackend` states the whole contract in its docstrings; the backends (memory,
file, SQLite) only implement it and one conformance suite (``core/tests/storage/``) proves
them equal. Methods come in groups: checkpoints and runs here, and the coordination groups
— leases, control signals, effects — in :mod:`framework.storage.coordination`, which this
class inherits. Later groups (item ledgers) arrive as new methods without reshaping these.

Async methods are primary: the executors await them. Every one has a synchronous twin of
the same name without the ``a`` prefix, for scripts, the CLI and compatibility, which works
whether or not an event loop is running in the calling thread. Backends whose natural
implementation is synchronous derive from
:class:`~framework.storage.sync_backend.SyncStorageBackend` (implement the sync methods; the
async twins run them in a worker thread); natively async backends implement the async
methods and inherit the generic sync bridge of :class:`StorageBackend`.

:class:`~framework.storage.file_backend.FileStorage` is importable from here too, as the
issue that introduced it promised.
"""

from __future__ import annotations

import functools
from abc import abstractmethod
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from framework.closing import Closing
from framework.schemas.checkpoint import Checkpoint, CheckpointMetadata
from framework.schemas.run import RunRecord, RunStatus
from framework.storage.bridge import call_sync
from framework.storage.coordination import CoordinationContract

if TYPE_CHECKING:
    from framework.storage.file_backend import FileStorage

__all__ = ["CorruptCheckpoint", "FileStorage", "StorageBackend"]


class CorruptCheckpoint(BaseModel):
    """A stored checkpoint that cannot be loaded intact, and why."""

    run_id: str
    id: str
    seq: int
    reason: str


class StorageBackend(CoordinationContract, Closing):
    """Where checkpoints, run records, leases, control signals and effects live.

    Every id that enters a method (run, checkpoint, node, effect key) is validated first and
    a bad one raises :class:`~framework.errors.InvalidIdError` before anything is read or
    written. Failures of the store itself raise :class:`~framework.errors.StorageError`.

    *Fencing*: a write that passes a fencing token (``asave_checkpoint(fencing_token=...)``,
    ``aupdate_run(expect_fencing_token=...)``) is refused with ``FencedOutError`` unless the
    run exists and its current ``fencing_token`` equals it; the check and the write are one
    atomic step, also between processes, so a writer whose lease was taken over stores
    nothing.
    """

    # --- checkpoints --------------------------------------------------------------------

    @abstractmethod
    async def asave_checkpoint(
        self, cp: Checkpoint, *, fencing_token: int | None = None, max_bytes: int | None = None
    ) -> CheckpointMetadata:
        """Store ``cp`` atomically and return its metadata.

        The caller sets ``cp.id`` and ``cp.seq``; a seq not greater than the run's latest
        stored seq raises ``StorageError``. Values are encoded by the codec (an unencodable
        value raises ``CheckpointEncodeError`` naming its key path) and checksummed. Only
        what changed since the previous checkpoint of the run is written, with a full
        snapshot every so often. Above the backend's ``max_checkpoint_bytes``, or above
        ``max_bytes`` when given (the lower of the two applies), the save raises
        ``CheckpointTooLargeError`` naming the largest memory keys. With ``fencing_token``
        the save is fenced (see the class docs).
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
    async def aupdate_run(
        self, run_id: str, /, *, expect_fencing_token: int | None = None, **changes: Any
    ) -> RunRecord:
        """Change fields of a run record and return the new record.

        Atomic with respect to every other write of the run, also between processes.
        ``updated_at`` is set to now unless given. ``run_id`` and the lease fields
        (``lease_owner``, ``lease_expires_at``, ``fencing_token``: see the lease methods)
        cannot be changed. ``StorageError`` if the run does not exist, a field is unknown
        or not changeable, or a value is invalid. With ``expect_fencing_token`` the update
        is fenced (see the class docs).
        """

    @abstractmethod
    async def adelete_run(self, run_id: str) -> bool:
        """Delete everything of the run: record, checkpoints, control signal, effects.

        Returns whether anything of it existed.
        """

    # --- lifecycle ----------------------------------------------------------------------

    @abstractmethod
    async def aclose(self) -> None:
        """Release connections and files; the backend is not used afterwards."""

    # --- synchronous twins (generic bridge) ---------------------------------------------

    def save_checkpoint(
        self, cp: Checkpoint, *, fencing_token: int | None = None, max_bytes: int | None = None
    ) -> CheckpointMetadata:
        return call_sync(
            self.asave_checkpoint, cp, fencing_token=fencing_token, max_bytes=max_bytes
        )

    def load_checkpoint(self, run_id: str, checkpoint_id: str) -> Checkpoint | None:
        return call_sync(self.aload_checkpoint, run_id, checkpoint_id)

    def load_latest_checkpoint(self, run_id: str) -> Checkpoint | None:
        return call_sync(self.aload_latest_checkpoint, run_id)

    def list_checkpoints(self, run_id: str) -> list[CheckpointMetadata]:
        return call_sync(self.alist_checkpoints, run_id)

    def delete_checkpoints(self, run_id: str) -> int:
        return call_sync(self.adelete_checkpoints, run_id)

    def prune_checkpoints(self, run_id: str, keep: int) -> int:
        return call_sync(self.aprune_checkpoints, run_id, keep)

    def verify(self, run_id: str) -> list[CorruptCheckpoint]:
        return call_sync(self.averify, run_id)

    def latest_seq(self, run_id: str) -> int:
        return call_sync(self.alatest_seq, run_id)

    def create_run(self, record: RunRecord) -> RunRecord:
        return call_sync(self.acreate_run, record)

    def get_run(self, run_id: str) -> RunRecord | None:
        return call_sync(self.aget_run, run_id)

    def list_runs(
        self,
        *,
        status: RunStatus | None = None,
        agent_id: str | None = None,
        graph_id: str | None = None,
        limit: int | None = None,
    ) -> list[RunRecord]:
        return call_sync(
            functools.partial(
                self.alist_runs, status=status, agent_id=agent_id, graph_id=graph_id, limit=limit
            )
        )

    def update_run(
        self, run_id: str, /, *, expect_fencing_token: int | None = None, **changes: Any
    ) -> RunRecord:
        return call_sync(
            self.aupdate_run, run_id, expect_fencing_token=expect_fencing_token, **changes
        )

    def delete_run(self, run_id: str) -> bool:
        return call_sync(self.adelete_run, run_id)

    def close(self) -> None:
        call_sync(self.aclose)

    # --- context managers ---------------------------------------------------------------


def __getattr__(name: str) -> Any:
    # FileStorage builds on this module, so importing it here eagerly would be circular.
    if name == "FileStorage":
        from framework.storage.file_backend import FileStorage

        return FileStorage
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
