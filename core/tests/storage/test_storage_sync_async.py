"""Conformance: async methods and their sync twins, with and without a running event loop."""

from __future__ import annotations

from typing import Any

import anyio

from framework.schemas.checkpoint import Checkpoint, CheckpointMetadata
from framework.schemas.control import ControlAction, ControlSignal
from framework.schemas.effect import EffectRecord
from framework.schemas.lease import Lease
from framework.schemas.run import RunRecord, RunStatus
from framework.storage import MemoryStorage
from framework.storage.backend import CorruptCheckpoint, StorageBackend
from framework.testing.values import make_checkpoint


async def test_async_methods_cover_the_contract(storage: StorageBackend):
    meta = await storage.asave_checkpoint(make_checkpoint("run-1", 0))
    await storage.asave_checkpoint(make_checkpoint("run-1", 1))
    await storage.acreate_run(RunRecord(run_id="run-1"))

    assert (await storage.aload_checkpoint("run-1", meta.id)).seq == 0
    assert (await storage.aload_latest_checkpoint("run-1")).seq == 1
    assert [m.seq for m in await storage.alist_checkpoints("run-1")] == [0, 1]
    assert await storage.alatest_seq("run-1") == 1
    assert await storage.averify("run-1") == []
    assert await storage.aprune_checkpoints("run-1", 1) == 1
    assert await storage.adelete_checkpoints("run-1") == 1
    assert (await storage.aupdate_run("run-1", status=RunStatus.RUNNING)).status == "running"
    assert (await storage.aget_run("run-1")).status is RunStatus.RUNNING
    assert [r.run_id for r in await storage.alist_runs(status=RunStatus.RUNNING)] == ["run-1"]


async def test_sync_twins_work_inside_a_running_event_loop(storage: StorageBackend):
    storage.save_checkpoint(make_checkpoint("run-1", 0))
    storage.create_run(RunRecord(run_id="run-1"))

    assert storage.load_latest_checkpoint("run-1").seq == 0
    assert storage.get_run("run-1").run_id == "run-1"
    assert (await storage.aload_latest_checkpoint("run-1")).seq == 0


def test_sync_twins_work_without_an_event_loop(storage: StorageBackend):
    storage.save_checkpoint(make_checkpoint("run-1", 0))

    assert storage.load_latest_checkpoint("run-1").seq == 0


async def test_concurrent_async_saves_of_different_runs_all_land(storage: StorageBackend):
    async def write(run_id: str) -> None:
        for seq in range(10):
            await storage.asave_checkpoint(make_checkpoint(run_id, seq, {"run": run_id}))

    async with anyio.create_task_group() as group:
        for n in range(5):
            group.start_soon(write, f"run-{n}")

    for n in range(5):
        assert [m.seq for m in storage.list_checkpoints(f"run-{n}")] == list(range(10))
        assert storage.load_latest_checkpoint(f"run-{n}").memory_snapshot == {"run": f"run-{n}"}


async def test_backends_are_async_context_managers(harness):
    async with harness.reopen() as storage:
        await storage.asave_checkpoint(make_checkpoint("run-1", 0))
    with harness.reopen() as storage:
        assert storage.latest_seq("run-1") == 0


class NativelyAsync(StorageBackend):
    """A backend that only implements the async methods, as a future postgres one will."""

    def __init__(self) -> None:
        self.inner = MemoryStorage()
        self.closed = False

    async def _call(self, name: str, *args: Any, **kwargs: Any) -> Any:
        await anyio.sleep(0)
        return getattr(self.inner, name)(*args, **kwargs)

    async def asave_checkpoint(self, cp: Checkpoint, **options: Any) -> CheckpointMetadata:
        return await self._call("save_checkpoint", cp, **options)

    async def aload_checkpoint(self, run_id: str, checkpoint_id: str) -> Checkpoint | None:
        return await self._call("load_checkpoint", run_id, checkpoint_id)

    async def aload_latest_checkpoint(self, run_id: str) -> Checkpoint | None:
        return await self._call("load_latest_checkpoint", run_id)

    async def alist_checkpoints(self, run_id: str) -> list[CheckpointMetadata]:
        return await self._call("list_checkpoints", run_id)

    async def adelete_checkpoints(self, run_id: str) -> int:
        return await self._call("delete_checkpoints", run_id)

    async def aprune_checkpoints(self, run_id: str, keep: int) -> int:
        return await self._call("prune_checkpoints", run_id, keep)

    async def averify(self, run_id: str) -> list[CorruptCheckpoint]:
        return await self._call("verify", run_id)

    async def alatest_seq(self, run_id: str) -> int:
        return await self._call("latest_seq", run_id)

    async def acreate_run(self, record: RunRecord) -> RunRecord:
        return await self._call("create_run", record)

    async def aget_run(self, run_id: str) -> RunRecord | None:
        return await self._call("get_run", run_id)

    async def alist_runs(self, **filters: Any) -> list[RunRecord]:
        return await self._call("list_runs", **filters)

    async def aupdate_run(self, run_id: str, /, **changes: Any) -> RunRecord:
        return await self._call("update_run", run_id, **changes)

    async def adelete_run(self, run_id: str) -> bool:
        return await self._call("delete_run", run_id)

    async def aclaim_run(self, run_id: str, owner_id: str, **options: Any) -> Lease:
        return await self._call("claim_run", run_id, owner_id, **options)

    async def arenew_lease(self, lease: Lease, **options: Any) -> Lease:
        return await self._call("renew_lease", lease, **options)

    async def arelease_lease(self, lease: Lease) -> None:
        await self._call("release_lease", lease)

    async def arequest_control(self, run_id: str, action: ControlAction, reason: str = ""):
        return await self._call("request_control", run_id, action, reason)

    async def aget_control(self, run_id: str) -> ControlSignal | None:
        return await self._call("get_control", run_id)

    async def aclear_control(self, run_id: str, **options: Any) -> None:
        await self._call("clear_control", run_id, **options)

    async def astart_effect(self, *args: str) -> EffectRecord:
        return await self._call("start_effect", *args)

    async def acomplete_effect(self, run_id: str, key: str, result: Any) -> EffectRecord:
        return await self._call("complete_effect", run_id, key, result)

    async def afail_effect(self, run_id: str, key: str, error: str) -> EffectRecord:
        return await self._call("fail_effect", run_id, key, error)

    async def aget_effect(self, run_id: str, key: str) -> EffectRecord | None:
        return await self._call("get_effect", run_id, key)

    async def alist_effects(self, run_id: str) -> list[EffectRecord]:
        return await self._call("list_effects", run_id)

    async def aclose(self) -> None:
        self.closed = True


def test_generic_bridge_runs_async_methods_from_sync_code():
    with NativelyAsync() as storage:
        storage.save_checkpoint(make_checkpoint("run-1", 0))
        storage.create_run(RunRecord(run_id="run-1", agent_id="a"))

        assert storage.load_latest_checkpoint("run-1").seq == 0
        assert storage.update_run("run-1", status=RunStatus.RUNNING).status == "running"
        assert [r.run_id for r in storage.list_runs(agent_id="a")] == ["run-1"]
    assert storage.closed


async def test_generic_bridge_works_inside_a_running_event_loop():
    storage = NativelyAsync()

    storage.save_checkpoint(make_checkpoint("run-1", 0))

    assert storage.list_checkpoints("run-1")[0].seq == 0
    assert (await storage.aload_latest_checkpoint("run-1")).seq == 0
    async with storage:
        pass
    assert storage.closed
