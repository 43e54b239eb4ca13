"""The checkpoint and run-record schemas: JSON round trips, derived fields, validation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from pydantic import ValidationError

from framework.schemas import (
    Checkpoint,
    CheckpointConfig,
    CheckpointKind,
    ExecutorType,
    RunRecord,
    RunStatus,
)


def _checkpoint(**changes: object) -> Checkpoint:
    fields: dict[str, object] = {
        "id": "ckpt_run-1_classify_000003",
        "run_id": "run-1",
        "seq": 3,
        "current_node_id": "classify",
        "next_node_id": "extract",
        "pending_input": {"text": "hello"},
        "memory_snapshot": {"doc": "hello", "scores": [1, 2]},
        "execution_path": ["load", "classify"],
        "step_number": 2,
        "visit_counts": {"load": 1, "classify": 1},
        "retry_counts": {"classify": 1},
        "total_tokens": 120,
        "total_cost": 0.25,
        "total_latency_ms": 40,
        "graph_fingerprint": "sha256:abc",
        "context": {"plan_revision": 2},
        "metadata": {"label": "before extraction"},
    }
    fields.update(changes)
    return Checkpoint.model_validate(fields)


def test_checkpoint_round_trips_through_json_including_the_dumped_node_id():
    checkpoint = _checkpoint()
    dumped = checkpoint.model_dump_json()

    assert '"node_id":"classify"' in dumped
    assert Checkpoint.model_validate_json(dumped) == checkpoint


def test_node_id_is_the_current_node_else_the_current_step():
    assert _checkpoint().node_id == "classify"
    step = _checkpoint(current_node_id=None, current_step_id="step-4")
    assert step.node_id == "step-4"
    with pytest.raises(AttributeError):
        step.node_id = "other"  # type: ignore[misc]


def test_created_at_is_timezone_aware_utc_and_naive_times_are_refused():
    assert _checkpoint().created_at.utcoffset() == timedelta(0)
    with pytest.raises(ValidationError):
        _checkpoint(created_at=datetime(2026, 1, 1, 12, 0))
    aware = _checkpoint(created_at=datetime(2026, 1, 1, 12, 0, tzinfo=timezone(timedelta(hours=2))))
    assert aware.created_at.astimezone(UTC).hour == 10


def test_unknown_checkpoint_fields_are_rejected():
    with pytest.raises(ValidationError, match="memory_snapshott"):
        _checkpoint(memory_snapshott={})


def test_session_state_resumes_at_the_next_node_and_context_cannot_shadow_core_keys():
    checkpoint = _checkpoint(
        context={
            "memory": "evil",
            "resume_from": "elsewhere",
            "paused_at": "x",
            "execution_path": [],
            "checkpoint_id": "forged",
            "plan_revision": 2,
        }
    )
    state = checkpoint.to_session_state()

    assert state["memory"] == {"doc": "hello", "scores": [1, 2]}
    assert state["paused_at"] == "classify"
    assert state["resume_from"] == "extract"
    assert state["execution_path"] == ["load", "classify"]
    assert state["checkpoint_id"] == checkpoint.id
    assert state["plan_revision"] == 2
    assert state["pending_input"] == {"text": "hello"}


def test_session_state_resumes_at_the_saved_node_when_no_next_node_was_recorded():
    assert _checkpoint(next_node_id=None).to_session_state()["resume_from"] == "classify"


def test_metadata_summarises_the_checkpoint():
    metadata = _checkpoint(kind=CheckpointKind.REQUESTED).to_metadata(size_bytes=512)

    assert metadata.id == "ckpt_run-1_classify_000003"
    assert (metadata.seq, metadata.kind, metadata.node_id) == (
        3,
        CheckpointKind.REQUESTED,
        "classify",
    )
    assert (metadata.step_number, metadata.total_tokens, metadata.size_bytes) == (2, 120, 512)
    assert metadata.executor_type is ExecutorType.GRAPH


@pytest.mark.parametrize(
    "bad",
    [
        {"n_nodes": 0},
        {"max_checkpoints_per_run": 0},
        {"save_frequency": "sometimes"},
        {"retention_strategy": "forever"},
        {"durability": "eventually"},
        {"save_frequncy": "every_node"},
    ],
)
def test_checkpoint_config_rejects_invalid_values_and_unknown_fields(bad: dict[str, object]):
    with pytest.raises(ValidationError):
        CheckpointConfig.model_validate(bad)


def test_checkpoint_config_defaults_are_safe():
    config = CheckpointConfig()

    assert (config.enabled, config.auto_recovery, config.fsync) == (True, True, False)
    assert (config.save_frequency, config.retention_strategy, config.durability) == (
        "every_node",
        "latest_only",
        "sync",
    )
    assert config.on_save_error == "raise"


def test_run_record_defaults_and_final_statuses():
    record = RunRecord(run_id="run-1")

    assert record.status is RunStatus.PENDING
    assert record.created_at.tzinfo is not None
    assert [status.value for status in RunStatus if status.is_final] == ["completed", "cancelled"]
    assert RunRecord.model_validate_json(record.model_dump_json()) == record
