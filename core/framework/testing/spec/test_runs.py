"""Conformance: run records are created once, read back exactly, filtered and updated."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, Unpack

import pytest

from framework.errors import InvalidArgumentError, RunExistsError, RunNotFoundError
from framework.schemas.control import ControlAction
from framework.schemas.lease import make_owner_id
from framework.schemas.run import RunCriteria, RunRecord, RunStatus, RunTotals
from framework.storage.backend import StorageBackend
from framework.testing.conformance import Harness
from framework.testing.values import Author, make_checkpoint

T0 = datetime(2025, 1, 1, tzinfo=UTC)


def _run(run_id: str, minutes: int, **fields: Any) -> RunRecord:
    return RunRecord(run_id=run_id, created_at=T0 + timedelta(minutes=minutes), **fields)


async def test_created_run_reads_back_exactly_from_a_fresh_instance(harness: Harness) -> None:
    record = _run(
        "run-1",
        0,
        agent_id="agent",
        graph_id="graph",
        status=RunStatus.RUNNING,
        totals=RunTotals(steps=3, tokens=40, cost=0.5, latency_ms=12),
        metadata={"owner": Author(name="Ada", joined=T0), "tags": {"a", "b"}},
    )

    assert await harness.storage.acreate_run(record) == record

    loaded = await harness.reopen().aget_run("run-1")
    assert loaded is not None
    assert loaded == record
    assert isinstance(loaded.metadata["owner"], Author)
    assert loaded.metadata["tags"] == {"a", "b"}


async def test_creating_an_existing_run_fails(storage: StorageBackend) -> None:
    await storage.acreate_run(_run("run-1", 0, agent_id="first"))

    with pytest.raises(RunExistsError, match="run 'run-1' already exists"):
        await storage.acreate_run(_run("run-1", 1, agent_id="second"))
    record = await storage.aget_run("run-1")
    assert record is not None
    assert record.agent_id == "first"


async def test_unknown_run_is_none(storage: StorageBackend) -> None:
    assert await storage.aget_run("missing") is None


async def test_list_runs_is_newest_first_and_filters(storage: StorageBackend) -> None:
    await storage.acreate_run(
        _run("r-old", 0, agent_id="a", graph_id="g1", status=RunStatus.COMPLETED)
    )
    await storage.acreate_run(
        _run("r-mid", 5, agent_id="b", graph_id="g1", status=RunStatus.RUNNING)
    )
    await storage.acreate_run(
        _run("r-new", 9, agent_id="a", graph_id="g2", status=RunStatus.RUNNING)
    )

    async def ids(**filters: Unpack[RunCriteria]) -> list[str]:
        return [r.run_id for r in await storage.alist_runs(**filters)]

    assert await ids() == ["r-new", "r-mid", "r-old"]
    assert await ids(status=RunStatus.RUNNING) == ["r-new", "r-mid"]
    assert await ids(status="completed") == ["r-old"]
    assert await ids(agent_id="a") == ["r-new", "r-old"]
    assert await ids(graph_id="g1") == ["r-mid", "r-old"]
    assert await ids(agent_id="a", status=RunStatus.RUNNING, graph_id="g2") == ["r-new"]
    assert await ids(limit=2) == ["r-new", "r-mid"]
    assert await ids(agent_id="nobody") == []


async def test_list_runs_refuses_bad_filters(storage: StorageBackend) -> None:
    with pytest.raises(InvalidArgumentError, match="invalid run filter status"):
        await storage.alist_runs(status="sleeping")
    with pytest.raises(InvalidArgumentError, match="limit"):
        await storage.alist_runs(limit=-1)


async def test_update_changes_fields_and_updated_at(harness: Harness) -> None:
    created = await harness.storage.acreate_run(_run("run-1", 0, updated_at=T0))

    updated = await harness.storage.aupdate_run(
        "run-1",
        status=RunStatus.PAUSED,
        status_reason="budget spent",
        totals=RunTotals(steps=2, tokens=10),
        latest_checkpoint_id="ckpt_run-1_step_000001",
    )

    assert updated.status is RunStatus.PAUSED
    assert updated.totals == RunTotals(steps=2, tokens=10)
    assert updated.updated_at > created.updated_at
    assert updated.created_at == created.created_at
    assert await harness.reopen().aget_run("run-1") == updated
    paused = await harness.storage.alist_runs(status=RunStatus.PAUSED)
    assert [r.run_id for r in paused] == ["run-1"]


async def test_update_can_set_updated_at_explicitly(storage: StorageBackend) -> None:
    await storage.acreate_run(_run("run-1", 0))
    when = T0 + timedelta(days=1)

    assert (await storage.aupdate_run("run-1", updated_at=when)).updated_at == when


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"run_id": "other"}, "run_id cannot be changed"),
        ({"colour": "red"}, "unknown run record field"),
        ({"status": "sleeping"}, "invalid change"),
    ],
)
async def test_invalid_updates_are_refused_and_change_nothing(
    storage: StorageBackend, changes: dict[str, Any], message: str
) -> None:
    created = await storage.acreate_run(_run("run-1", 0))

    with pytest.raises(InvalidArgumentError, match=message):
        await storage.aupdate_run("run-1", **changes)
    assert await storage.aget_run("run-1") == created


async def test_updating_a_missing_run_fails(storage: StorageBackend) -> None:
    with pytest.raises(RunNotFoundError, match="does not exist"):
        await storage.aupdate_run("missing", status=RunStatus.FAILED)


async def test_run_records_and_checkpoints_are_separate(storage: StorageBackend) -> None:
    await storage.acreate_run(_run("run-1", 0))
    await storage.asave_checkpoint(make_checkpoint("run-1", 0))

    assert await storage.adelete_checkpoints("run-1") == 1
    assert await storage.aget_run("run-1") is not None


async def _run_with_everything(storage: StorageBackend, run_id: str) -> None:
    await storage.acreate_run(_run(run_id, 0))
    for seq in range(3):
        await storage.asave_checkpoint(make_checkpoint(run_id, seq))
    await storage.arequest_control(run_id, ControlAction.PAUSE)
    await storage.astart_effect(run_id, "n", "n:x", "idem")
    await storage.acomplete_effect(run_id, "n:x", 1)
    await storage.aclaim_run(run_id, make_owner_id())


async def test_delete_run_removes_everything_of_the_run(harness: Harness) -> None:
    storage = harness.storage
    await _run_with_everything(storage, "run-1")
    await _run_with_everything(storage, "run-2")

    assert await storage.adelete_run("run-1") is True

    for view in (storage, harness.reopen()):
        assert await view.aget_run("run-1") is None
        assert await view.alist_checkpoints("run-1") == []
        assert await view.alatest_seq("run-1") == -1
        assert await view.aload_latest_checkpoint("run-1") is None
        assert await view.aget_control("run-1") is None
        assert await view.alist_effects("run-1") == []
        assert [r.run_id for r in await view.alist_runs()] == ["run-2"]
        assert [m.seq for m in await view.alist_checkpoints("run-2")] == [0, 1, 2]
        assert len(await view.alist_effects("run-2")) == 1


async def test_deleting_a_missing_run_returns_false(storage: StorageBackend) -> None:
    assert await storage.adelete_run("missing") is False


async def test_a_deleted_run_id_starts_afresh(storage: StorageBackend) -> None:
    await _run_with_everything(storage, "run-1")
    await storage.adelete_run("run-1")

    await storage.acreate_run(_run("run-1", 1))
    await storage.asave_checkpoint(make_checkpoint("run-1", 0, {"fresh": True}))

    assert await storage.adelete_run("run-1") is True
    assert await storage.adelete_run("run-1") is False


async def test_a_run_with_checkpoints_but_no_record_can_be_deleted(
    storage: StorageBackend,
) -> None:
    await storage.asave_checkpoint(make_checkpoint("run-1", 0))

    assert await storage.adelete_run("run-1") is True
    assert await storage.alist_checkpoints("run-1") == []


async def test_async_delete_run(storage: StorageBackend) -> None:
    await _run_with_everything(storage, "run-1")

    assert await storage.adelete_run("run-1") is True
    assert await storage.aget_run("run-1") is None
