"""Base for backends with a synchronous core: implement the sync methods, get the async ones."""

from __future__ import annotations

import functools
from abc import abstractmethod
from typing import Any

from framework.schemas.checkpoint import Checkpoint, CheckpointMetadata
from framework.schemas.control import ControlAction, ControlSignal
from framework.schemas.effect import EffectRecord
from framework.schemas.lease import Lease
from framework.schemas.run import RunRecord, RunStatus
from framework.storage.backend import CorruptCheckpoint, StorageBackend
from framework.storage.bridge import in_thread
from framework.storage.coordination import DEFAULT_LEASE_TTL

__all__ = ["SyncStorageBackend"]


class SyncStorageBackend(StorageBackend):
    """Base for backends with a synchronous core (memory, files, stdlib sqlite3).

    Subclasses implement the synchronous methods, which must be thread-safe; each async
    twin runs its sync method in a worker thread so an event loop is never blocked on I/O.
    """

    @abstractmethod
    def save_checkpoint(
        self, cp: Checkpoint, *, fencing_token: int | None = None, max_bytes: int | None = None
    ) -> CheckpointMetadata: ...

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
    def update_run(
        self, run_id: str, /, *, expect_fencing_token: int | None = None, **changes: Any
    ) -> RunRecord: ...

    @abstractmethod
    def delete_run(self, run_id: str) -> bool: ...

    @abstractmethod
    def claim_run(
        self, run_id: str, owner_id: str, *, ttl_seconds: float = DEFAULT_LEASE_TTL
    ) -> Lease: ...

    @abstractmethod
    def renew_lease(self, lease: Lease, *, ttl_seconds: float = DEFAULT_LEASE_TTL) -> Lease: ...

    @abstractmethod
    def release_lease(self, lease: Lease) -> None: ...

    @abstractmethod
    def request_control(
        self, run_id: str, action: ControlAction, reason: str = ""
    ) -> ControlSignal: ...

    @abstractmethod
    def get_control(self, run_id: str) -> ControlSignal | None: ...

    @abstractmethod
    def clear_control(self, run_id: str, *, only: ControlSignal | None = None) -> None: ...

    @abstractmethod
    def start_effect(
        self, run_id: str, node_id: str, key: str, idempotency_key: str
    ) -> EffectRecord: ...

    @abstractmethod
    def complete_effect(self, run_id: str, key: str, result: Any) -> EffectRecord: ...

    @abstractmethod
    def fail_effect(self, run_id: str, key: str, error: str) -> EffectRecord: ...

    @abstractmethod
    def get_effect(self, run_id: str, key: str) -> EffectRecord | None: ...

    @abstractmethod
    def list_effects(self, run_id: str) -> list[EffectRecord]: ...

    @abstractmethod
    def close(self) -> None: ...

    # --- async twins: the sync method in a worker thread -----------------------------------

    async def asave_checkpoint(
        self, cp: Checkpoint, *, fencing_token: int | None = None, max_bytes: int | None = None
    ) -> CheckpointMetadata:
        return await in_thread(
            self.save_checkpoint, cp, fencing_token=fencing_token, max_bytes=max_bytes
        )

    async def aload_checkpoint(self, run_id: str, checkpoint_id: str) -> Checkpoint | None:
        return await in_thread(self.load_checkpoint, run_id, checkpoint_id)

    async def aload_latest_checkpoint(self, run_id: str) -> Checkpoint | None:
        return await in_thread(self.load_latest_checkpoint, run_id)

    async def alist_checkpoints(self, run_id: str) -> list[CheckpointMetadata]:
        return await in_thread(self.list_checkpoints, run_id)

    async def adelete_checkpoints(self, run_id: str) -> int:
        return await in_thread(self.delete_checkpoints, run_id)

    async def aprune_checkpoints(self, run_id: str, keep: int) -> int:
        return await in_thread(self.prune_checkpoints, run_id, keep)

    async def averify(self, run_id: str) -> list[CorruptCheckpoint]:
        return await in_thread(self.verify, run_id)

    async def alatest_seq(self, run_id: str) -> int:
        return await in_thread(self.latest_seq, run_id)

    async def acreate_run(self, record: RunRecord) -> RunRecord:
        return await in_thread(self.create_run, record)

    async def aget_run(self, run_id: str) -> RunRecord | None:
        return await in_thread(self.get_run, run_id)

    async def alist_runs(
        self,
        *,
        status: RunStatus | None = None,
        agent_id: str | None = None,
        graph_id: str | None = None,
        limit: int | None = None,
    ) -> list[RunRecord]:
        return await in_thread(
            functools.partial(
                self.list_runs, status=status, agent_id=agent_id, graph_id=graph_id, limit=limit
            )
        )

    async def aupdate_run(
        self, run_id: str, /, *, expect_fencing_token: int | None = None, **changes: Any
    ) -> RunRecord:
        return await in_thread(
            self.update_run, run_id, expect_fencing_token=expect_fencing_token, **changes
        )

    async def adelete_run(self, run_id: str) -> bool:
        return await in_thread(self.delete_run, run_id)

    async def aclaim_run(
        self, run_id: str, owner_id: str, *, ttl_seconds: float = DEFAULT_LEASE_TTL
    ) -> Lease:
        return await in_thread(self.claim_run, run_id, owner_id, ttl_seconds=ttl_seconds)

    async def arenew_lease(self, lease: Lease, *, ttl_seconds: float = DEFAULT_LEASE_TTL) -> Lease:
        return await in_thread(self.renew_lease, lease, ttl_seconds=ttl_seconds)

    async def arelease_lease(self, lease: Lease) -> None:
        await in_thread(self.release_lease, lease)

    async def arequest_control(
        self, run_id: str, action: ControlAction, reason: str = ""
    ) -> ControlSignal:
        return await in_thread(self.request_control, run_id, action, reason)

    async def aget_control(self, run_id: str) -> ControlSignal | None:
        return await in_thread(self.get_control, run_id)

    async def aclear_control(self, run_id: str, *, only: ControlSignal | None = None) -> None:
        await in_thread(self.clear_control, run_id, only=only)

    async def astart_effect(
        self, run_id: str, node_id: str, key: str, idempotency_key: str
    ) -> EffectRecord:
        return await in_thread(self.start_effect, run_id, node_id, key, idempotency_key)

    async def acomplete_effect(self, run_id: str, key: str, result: Any) -> EffectRecord:
        return await in_thread(self.complete_effect, run_id, key, result)

    async def afail_effect(self, run_id: str, key: str, error: str) -> EffectRecord:
        return await in_thread(self.fail_effect, run_id, key, error)

    async def aget_effect(self, run_id: str, key: str) -> EffectRecord | None:
        return await in_thread(self.get_effect, run_id, key)

    async def alist_effects(self, run_id: str) -> list[EffectRecord]:
        return await in_thread(self.list_effects, run_id)

    async def aclose(self) -> None:
        await in_thread(self.close)
