"""Conformance: run records are created once, read back exactly, filtered and updated."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from storage_harness import Harness
from storage_helpers import Author, make_checkpoint

from framework.errors import StorageError
from framework.schemas.run import RunRecord, RunStatus, RunTotals
from framework.storage.backend import StorageBackend

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

    with pytest.raises(StorageError, match="run 'run-1' already exists"):
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
    with pytest.raises(StorageError, match="unknown run status"):
        storage.list_runs(status="sleeping")
    with pytest.raises(StorageError, match="limit"):
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

    with pytest.raises(StorageError, match=message):
        storage.update_run("run-1", **changes)
    assert storage.get_run("run-1") == created


def test_updating_a_missing_run_fails(storage: StorageBackend):
    with pytest.raises(StorageError, match="does not exist"):
        storage.update_run("missing", status=RunStatus.FAILED)


def test_run_records_and_checkpoints_are_separate(storage: StorageBackend):
    storage.create_run(_run("run-1", 0))
    storage.save_checkpoint(make_checkpoint("run-1", 0))

    assert storage.delete_checkpoints("run-1") == 1
    assert storage.get_run("run-1") is not None
