"""CheckpointManager failures: typed by default, never swallowed, a warning only on request.

Each test runs on every backend (the ``storage`` fixture); failing saves and prunes are
injected into that backend by the ``disk_full`` and ``prune_fails`` fixtures.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import pytest

from framework.errors import (
    CheckpointEncodeError,
    CheckpointSaveError,
    CheckpointTooLargeError,
    InvalidIdError,
)
from framework.graph.checkpoint_manager import CheckpointManager, CheckpointSaveWarning
from framework.schemas.checkpoint import Checkpoint, CheckpointConfig
from framework.storage import MemoryStorage
from framework.storage.backend import StorageBackend
from framework.testing.fakes import DiskFull

WARN = CheckpointConfig(on_save_error="warn", retention_strategy="all")


def test_storage_failure_raises_checkpoint_save_error_with_the_cause(
    storage: StorageBackend, disk_full: DiskFull
) -> None:
    mgr = CheckpointManager(storage)
    with pytest.raises(CheckpointSaveError) as caught:
        mgr.save_checkpoint("r", "extract", {"x": 1})
    assert isinstance(caught.value.__cause__, OSError)
    message = str(caught.value)
    assert "'r'" in message and "'extract'" in message and "No space left" in message


async def test_async_storage_failure_raises_checkpoint_save_error(
    storage: StorageBackend, disk_full: DiskFull
) -> None:
    mgr = CheckpointManager(storage)
    with pytest.raises(CheckpointSaveError):
        await mgr.asave_checkpoint("r", "extract", {"x": 1})


def test_unencodable_memory_raises_encode_error_naming_the_key(
    storage: StorageBackend, stored: Callable[[], list[str]]
) -> None:
    mgr = CheckpointManager(storage)
    with pytest.raises(CheckpointEncodeError) as caught:
        mgr.save_checkpoint("r", "n", {"docs": [{"title": "ok"}, {"author": object()}]})
    assert caught.value.path == "memory['docs'][1]['author']"
    assert "object" in str(caught.value)
    assert mgr.list_checkpoints("r") == []
    assert stored() == []


@pytest.mark.parametrize(("run_id", "node_id"), [("../x", "n"), ("r", "a/b"), ("", "n")])
def test_bad_ids_raise_invalid_id_error_and_write_nothing(
    run_id: str, node_id: str, storage: StorageBackend, stored: Callable[[], list[str]]
) -> None:
    with pytest.raises(InvalidIdError):
        CheckpointManager(storage).save_checkpoint(run_id, node_id, {})
    assert stored() == []


def test_bad_next_node_id_is_refused(storage: StorageBackend) -> None:
    with pytest.raises(InvalidIdError):
        CheckpointManager(storage).save_checkpoint(
            "r", "n", {}, metadata={"next_node_id": "../../etc"}
        )


def test_invalid_metadata_values_raise_checkpoint_save_error(storage: StorageBackend) -> None:
    mgr = CheckpointManager(storage)
    with pytest.raises(CheckpointSaveError, match="step_number"):
        mgr.save_checkpoint("r", "n", {}, metadata={"step_number": -1})
    with pytest.raises(CheckpointSaveError, match="must be a mapping"):
        mgr.save_checkpoint("r", "n", {}, metadata={"metadata": ["not", "a", "mapping"]})
    with pytest.raises(CheckpointSaveError, match="SharedMemory or a mapping"):
        mgr.save_checkpoint("r", "n", ["not memory"])  # type: ignore[arg-type]


def test_a_failed_save_leaves_no_gap_in_the_numbering(
    storage: StorageBackend, disk_full: DiskFull
) -> None:
    disk_full.failures = 0
    mgr = CheckpointManager(storage, CheckpointConfig(retention_strategy="all"))
    assert mgr.save_checkpoint("r", "a", {}) == "ckpt_r_a_000000"
    disk_full.failures = 1
    with pytest.raises(CheckpointSaveError):
        mgr.save_checkpoint("r", "b", {})
    assert mgr.save_checkpoint("r", "b", {}) == "ckpt_r_b_000001"


def test_warn_mode_returns_none_with_a_warning_and_a_log_line(
    caplog: pytest.LogCaptureFixture, storage: StorageBackend, disk_full: DiskFull
) -> None:
    mgr = CheckpointManager(storage, WARN)
    with (
        caplog.at_level(logging.WARNING, logger="framework.checkpoint"),
        pytest.warns(CheckpointSaveWarning, match="No space left"),
    ):
        assert mgr.save_checkpoint("r", "n", {}) is None
    assert "continuing without this checkpoint" in caplog.text
    assert mgr.save_checkpoint("r", "n", {}) == "ckpt_r_n_000000"


@pytest.mark.parametrize(
    ("run_id", "memory"),
    [("r", {"bad": object()}), ("../r", {})],
    ids=["unencodable", "bad id"],
)
def test_warn_mode_also_covers_typed_errors(
    run_id: str, memory: dict[str, Any], storage: StorageBackend
) -> None:
    mgr = CheckpointManager(storage, WARN)
    with pytest.warns(CheckpointSaveWarning):
        assert mgr.save_checkpoint(run_id, "n", memory) is None


async def test_async_warn_mode_returns_none_with_a_warning(
    storage: StorageBackend, disk_full: DiskFull
) -> None:
    mgr = CheckpointManager(storage, WARN)
    with pytest.warns(CheckpointSaveWarning):
        assert await mgr.asave_checkpoint("r", "n", {}) is None


def test_failed_retention_keeps_the_saved_checkpoint_and_warns(
    storage: StorageBackend, prune_fails: None
) -> None:
    mgr = CheckpointManager(storage)
    with pytest.warns(CheckpointSaveWarning, match="retention 'latest_only' failed"):
        checkpoint_id = mgr.save_checkpoint("r", "n", {"x": 1})
    assert checkpoint_id == "ckpt_r_n_000000"
    assert mgr.restore_from_checkpoint("r") == ({"x": 1}, "n")


def big_memory() -> dict[str, Any]:
    return {"small": "x", "pages": "p" * 5000, "summary": "s" * 2000, "tags": ["t"] * 10}


def test_checkpoint_above_configured_limit_names_the_largest_keys(
    storage: StorageBackend, stored: Callable[[], list[str]]
) -> None:
    mgr = CheckpointManager(storage, CheckpointConfig(max_checkpoint_bytes=4000))
    with pytest.raises(CheckpointTooLargeError) as caught:
        mgr.save_checkpoint("r", "n", big_memory())
    message = str(caught.value)
    assert "'pages' (5,002 bytes)" in message
    assert message.index("'pages'") < message.index("'summary'")
    assert "max_checkpoint_bytes=4,000" in message
    assert stored() == []


def test_checkpoint_at_the_configured_limit_is_saved(storage: StorageBackend) -> None:
    memory = {"pages": "p" * 100}
    storage.save_checkpoint(Checkpoint(id="c", run_id="probe", memory_snapshot=memory))
    size = storage.list_checkpoints("probe")[0].size_bytes
    mgr = CheckpointManager(storage, CheckpointConfig(max_checkpoint_bytes=size + 2000))
    assert mgr.save_checkpoint("r", "n", memory) == "ckpt_r_n_000000"


def test_backend_limit_applies_when_the_config_sets_none() -> None:
    mgr = CheckpointManager(MemoryStorage(max_checkpoint_bytes=4000))
    with pytest.raises(CheckpointTooLargeError, match="'pages'"):
        mgr.save_checkpoint("r", "n", big_memory())


def test_too_large_in_warn_mode_warns_and_returns_none(storage: StorageBackend) -> None:
    config = CheckpointConfig(max_checkpoint_bytes=4000, on_save_error="warn")
    mgr = CheckpointManager(storage, config)
    with pytest.warns(CheckpointSaveWarning, match="'pages'"):
        assert mgr.save_checkpoint("r", "n", big_memory()) is None
