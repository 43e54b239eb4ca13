"""Conformance: run records are created once, read back exactly, filtered and updated."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from framework.errors import InvalidArgumentError, RunExistsError, RunNotFoundError
from framework.schemas.control import ControlAction
from framework.schemas.lease import make_owner_id
from framework.schemas.run import RunRecord, RunStatus, RunTotals
from framework.storage import FileStorage
from framework.storage.backend import StorageBackend
from framework.testing.conformance import Harness
from framework.testing.values import Author, make_checkpoint

T0 = datetime(2025, 1, 1, tzinfo=UTC)


def _run(run_id: str, minutes: int, **fields) -> RunRecord:
    return RunRecord(run_id=run_id, created_at=T0 + timedelta(minutes=minutes), **fields)


def test_created_run_reads_back_exactly_from_a_fresh_instance(harness: Harness):
    record = _run(
        "run-1",
        0,
        agent_id="agent",
        graph_id="graph",
        status=RunStatus.RUNNING,
        totals=RunTotals(steps=3, tokens=40, cost=0.5, latency_ms=12),
        metadata={"owner": Author(name="Ada", joined=T0), "tags": {"a", "b"}},
    )

    assert harness.storage.create_run(record) == record

    loaded = harness.reopen().get_run("run-1")
    assert loaded == record
    assert isinstance(loaded.metadata["owner"], Author)
    assert loaded.metadata["tags"] == {"a", "b"}


def test_creating_an_existing_run_fails(storage: StorageBackend):
    storage.create_run(_run("run-1", 0, agent_id="first"))

    with pytest.raises(RunExistsError, match="run 'run-1' already exists"):
        storage.create_run(_run("run-1", 1, agent_id="second"))
    assert storage.get_run("run-1").agent_id == "first"


def test_unknown_run_is_none(storage: StorageBackend):
    assert storage.get_run("missing") is None


def test_list_runs_is_newest_first_and_filters(storage: StorageBackend):
    storage.create_run(_run("r-old", 0, agent_id="a", graph_id="g1", status=RunStatus.COMPLETED))
    storage.create_run(_run("r-mid", 5, agent_id="b", graph_id="g1", status=RunStatus.RUNNING))
    storage.create_run(_run("r-new", 9, agent_id="a", graph_id="g2", status=RunStatus.RUNNING))

    def ids(**filters) -> list[str]:
        return [r.run_id for r in storage.list_runs(**filters)]

    assert ids() == ["r-new", "r-mid", "r-old"]
    assert ids(status=RunStatus.RUNNING) == ["r-new", "r-mid"]
    assert ids(status="completed") == ["r-old"]
    assert ids(agent_id="a") == ["r-new", "r-old"]
    assert ids(graph_id="g1") == ["r-mid", "r-old"]
    assert ids(agent_id="a", status=RunStatus.RUNNING, graph_id="g2") == ["r-new"]
    assert ids(limit=2) == ["r-new", "r-mid"]
    assert ids(agent_id="nobody") == []


def test_list_runs_refuses_bad_filters(storage: StorageBackend):
    with pytest.raises(InvalidArgumentError, match="invalid run filter status"):
        storage.list_runs(status="sleeping")
    with pytest.raises(InvalidArgumentError, match="limit"):
        storage.list_runs(limit=-1)


def test_update_changes_fields_and_updated_at(harness: Harness):
    created = harness.storage.create_run(_run("run-1", 0, updated_at=T0))

    updated = harness.storage.update_run(
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
    assert harness.reopen().get_run("run-1") == updated
    assert [r.run_id for r in harness.storage.list_runs(status=RunStatus.PAUSED)] == ["run-1"]


def test_update_can_set_updated_at_explicitly(storage: StorageBackend):
    storage.create_run(_run("run-1", 0))
    when = T0 + timedelta(days=1)

    assert storage.update_run("run-1", updated_at=when).updated_at == when


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"run_id": "other"}, "run_id cannot be changed"),
        ({"colour": "red"}, "unknown run record field"),
        ({"status": "sleeping"}, "invalid change"),
    ],
)
def test_invalid_updates_are_refused_and_change_nothing(storage: StorageBackend, changes, message):
    created = storage.create_run(_run("run-1", 0))

    with pytest.raises(InvalidArgumentError, match=message):
        storage.update_run("run-1", **changes)
    assert storage.get_run("run-1") == created


def test_updating_a_missing_run_fails(storage: StorageBackend):
    with pytest.raises(RunNotFoundError, match="does not exist"):
        storage.update_run("missing", status=RunStatus.FAILED)


def test_run_records_and_checkpoints_are_separate(storage: StorageBackend):
    storage.create_run(_run("run-1", 0))
    storage.save_checkpoint(make_checkpoint("run-1", 0))

    assert storage.delete_checkpoints("run-1") == 1
    assert storage.get_run("run-1") is not None


def _run_with_everything(storage: StorageBackend, run_id: str) -> None:
    storage.create_run(_run(run_id, 0))
    for seq in range(3):
        storage.save_checkpoint(make_checkpoint(run_id, seq))
    storage.request_control(run_id, ControlAction.PAUSE)
    storage.start_effect(run_id, "n", "n:x", "idem")
    storage.complete_effect(run_id, "n:x", 1)
    storage.claim_run(run_id, make_owner_id())


def test_delete_run_removes_everything_of_the_run(harness: Harness):
    storage = harness.storage
    _run_with_everything(storage, "run-1")
    _run_with_everything(storage, "run-2")

    assert storage.delete_run("run-1") is True

    for view in (storage, harness.reopen()):
        assert view.get_run("run-1") is None
        assert view.list_checkpoints("run-1") == []
        assert view.latest_seq("run-1") == -1
        assert view.load_latest_checkpoint("run-1") is None
        assert view.get_control("run-1") is None
        assert view.list_effects("run-1") == []
        assert [r.run_id for r in view.list_runs()] == ["run-2"]
        assert [m.seq for m in view.list_checkpoints("run-2")] == [0, 1, 2]
        assert len(view.list_effects("run-2")) == 1


def test_deleting_a_missing_run_returns_false(storage: StorageBackend):
    assert storage.delete_run("missing") is False


def test_a_deleted_run_id_starts_afresh(storage: StorageBackend):
    _run_with_everything(storage, "run-1")
    storage.delete_run("run-1")

    storage.create_run(_run("run-1", 1))
    storage.save_checkpoint(make_checkpoint("run-1", 0, {"fresh": True}))

    assert storage.delete_run("run-1") is True
    assert storage.delete_run("run-1") is False


def test_a_run_with_checkpoints_but_no_record_can_be_deleted(storage: StorageBackend):
    storage.save_checkpoint(make_checkpoint("run-1", 0))

    assert storage.delete_run("run-1") is True
    assert storage.list_checkpoints("run-1") == []


async def test_async_delete_run(storage: StorageBackend):
    _run_with_everything(storage, "run-1")

    assert await storage.adelete_run("run-1") is True
    assert await storage.aget_run("run-1") is None


def test_file_delete_run_removes_the_folder(tmp_path):
    storage = FileStorage(tmp_path)
    _run_with_everything(storage, "run-1")

    storage.delete_run("run-1")

    assert list((tmp_path / "runs").iterdir()) == []
