"""Conformance: async methods and their sync twins, with and without a running event loop."""

from __future__ import annotations

import asyncio
import logging
import threading
from typing import Any

import anyio
import pytest

from framework.schemas.run import RunRecord, RunStatus
from framework.storage import MemoryStorage
from framework.storage.backend import StorageBackend
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


class LoopBoundConnection:
    """Stands for a natively async driver's connection: usable only on the loop that opened it."""

    def __init__(self) -> None:
        self.loop = asyncio.get_running_loop()
        self.calls = 0

    async def use(self) -> None:
        if asyncio.get_running_loop() is not self.loop:
            raise RuntimeError("this connection is bound to a different event loop")
        self.calls += 1
        await asyncio.sleep(0)


class LoopBoundBackend(StorageBackend):
    """A natively async backend, as a PostgreSQL one is: a connection opened on first use
    and bound to that loop, every contract method awaited through it (data kept in memory)."""

    def __init__(self) -> None:
        self.inner = MemoryStorage()
        self.connection: LoopBoundConnection | None = None
        self.connections = 0

    async def forward(self, name: str, *args: Any, **kwargs: Any) -> Any:
        if self.connection is None:
            self.connection = LoopBoundConnection()
            self.connections += 1
        await self.connection.use()
        return await getattr(self.inner, name)(*args, **kwargs)

    async def aclose(self) -> None:
        self.connection = None


ASYNC_METHODS = sorted(StorageBackend.__abstractmethods__ - {"aclose"})


def _forwarding(name: str) -> Any:
    async def method(self: LoopBoundBackend, *args: Any, **kwargs: Any) -> Any:
        return await self.forward(name, *args, **kwargs)

    method.__name__ = method.__qualname__ = name
    return method


NativelyAsync = type(
    "NativelyAsync", (LoopBoundBackend,), {name: _forwarding(name) for name in ASYNC_METHODS}
)


def _loop_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "NativelyAsync-loop" and t.is_alive()]


def test_the_fake_connection_refuses_a_second_event_loop():
    storage = NativelyAsync()
    anyio.run(storage.acreate_run, RunRecord(run_id="run-1"))

    with pytest.raises(RuntimeError, match="different event loop"):
        anyio.run(storage.aget_run, "run-1")


def test_sync_twins_drive_a_loop_bound_backend_from_plain_code():
    with NativelyAsync() as storage:
        storage.save_checkpoint(make_checkpoint("run-1", 0))
        storage.save_checkpoint(make_checkpoint("run-1", 1))
        storage.create_run(RunRecord(run_id="run-1", agent_id="a"))

        assert storage.load_latest_checkpoint("run-1").seq == 1
        assert storage.update_run("run-1", status=RunStatus.RUNNING).status == "running"
        assert [r.run_id for r in storage.list_runs(agent_id="a")] == ["run-1"]
        assert storage.connections == 1
        assert storage.connection.calls == 6


def test_sync_twins_from_many_threads_share_the_backend_loop():
    storage = NativelyAsync()
    errors: list[BaseException] = []

    def write(n: int) -> None:
        try:
            for seq in range(5):
                storage.save_checkpoint(make_checkpoint(f"run-{n}", seq))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert [storage.latest_seq(f"run-{n}") for n in range(8)] == [4] * 8
    assert storage.connections == 1
    storage.close()


async def test_a_sync_twin_inside_a_running_loop_works_and_warns_once(caplog):
    storage = NativelyAsync()

    with caplog.at_level(logging.WARNING, logger="framework.storage"):
        storage.save_checkpoint(make_checkpoint("run-1", 0))
        storage.save_checkpoint(make_checkpoint("run-1", 1))
        latest = storage.load_latest_checkpoint("run-1")

    assert latest.seq == 1
    warnings = [r for r in caplog.records if r.name == "framework.storage"]
    assert len(warnings) == 1
    assert "blocks" in warnings[0].getMessage()
    assert "asave_checkpoint()" in warnings[0].getMessage()
    storage.close()


def test_close_stops_the_loop_thread_and_a_later_call_starts_a_new_one():
    storage = NativelyAsync()
    storage.create_run(RunRecord(run_id="run-1"))
    assert len(_loop_threads()) == 1

    storage.close()
    assert _loop_threads() == []

    assert storage.get_run("run-1").run_id == "run-1"
    assert len(_loop_threads()) == 1
    assert storage.connections == 2
    storage.close()


async def test_an_async_context_exit_closes_the_backend_and_its_loop_thread():
    storage = NativelyAsync()
    storage.create_run(RunRecord(run_id="run-1"))

    async with storage:
        pass

    assert storage.connection is None
    assert _loop_threads() == []


def _sync_twins() -> set[str]:
    return {
        name
        for name, value in vars(StorageBackend).items()
        if (getattr(value, "__doc__", None) or "").startswith("Synchronous twin")
    }


def test_every_async_method_has_a_sync_twin_and_every_twin_an_async_method():
    assert _sync_twins() == {name.removeprefix("a") for name in ASYNC_METHODS}


class Spy(StorageBackend):
    """Answers every async method with what it was called with."""

    async def aclose(self) -> None:
        pass


def _spying(name: str) -> Any:
    async def method(self: Spy, *args: Any, **kwargs: Any) -> Any:
        return (name, args, kwargs)

    return method


for _name in ASYNC_METHODS:
    setattr(Spy, _name, _spying(_name))
Spy.__abstractmethods__ = frozenset()


@pytest.mark.parametrize("name", ASYNC_METHODS)
def test_every_sync_twin_calls_its_async_method_with_the_same_arguments(name):
    spy = Spy()
    twin = getattr(spy, name.removeprefix("a"))

    assert twin("run-1", 2, flag=True) == (name, ("run-1", 2), {"flag": True})
    spy.close()
