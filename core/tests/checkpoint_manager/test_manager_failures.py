"""CheckpointManager failures: typed by default, never swallowed, a warning only on request."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from framework.errors import (
    CheckpointEncodeError,
    CheckpointSaveError,
    CheckpointTooLargeError,
    InvalidIdError,
)
from framework.graph.checkpoint_manager import CheckpointManager, CheckpointSaveWarning
from framework.schemas.checkpoint import Checkpoint, CheckpointConfig, CheckpointMetadata
from framework.storage import MemoryStorage

WARN = CheckpointConfig(on_save_error="warn", retention_strategy="all")


class DiskFullStorage(MemoryStorage):
    """Refuses the first ``failures`` saves the way a full disk would."""

    def __init__(self, failures: int = 1) -> None:
        super().__init__()
        self.failures = failures

    def save_checkpoint(self, cp: Checkpoint, **options: Any) -> CheckpointMetadata:
        if self.failures:
            self.failures -= 1
            raise OSError(28, "No space left on device")
        return super().save_checkpoint(cp, **options)


class PruneFailsStorage(MemoryStorage):
    def prune_checkpoints(self, run_id: str, keep: int) -> int:
        raise OSError("index locked")


def test_storage_failure_raises_checkpoint_save_error_with_the_cause() -> None:
    mgr = CheckpointManager(DiskFullStorage())
    with pytest.raises(CheckpointSaveError) as caught:
        mgr.save_checkpoint("r", "extract", {"x": 1})
    assert isinstance(caught.value.__cause__, OSError)
    message = str(caught.value)
    assert "'r'" in message and "'extract'" in message and "No space left" in message


async def test_async_storage_failure_raises_checkpoint_save_error() -> None:
    mgr = CheckpointManager(DiskFullStorage())
    with pytest.raises(CheckpointSaveError):
        await mgr.asave_checkpoint("r", "extract", {"x": 1})


def test_unencodable_memory_raises_encode_error_naming_the_key() -> None:
    mgr = CheckpointManager(MemoryStorage())
    with pytest.raises(CheckpointEncodeError) as caught:
        mgr.save_checkpoint("r", "n", {"docs": [{"title": "ok"}, {"author": object()}]})
    assert caught.value.path == "memory['docs'][1]['author']"
    assert "object" in str(caught.value)
    assert mgr.list_checkpoints("r") == []


@pytest.mark.parametrize(("run_id", "node_id"), [("../x", "n"), ("r", "a/b"), ("", "n")])
def test_bad_ids_raise_invalid_id_error_and_write_nothing(run_id: str, node_id: str) -> None:
    storage = MemoryStorage()
    with pytest.raises(InvalidIdError):
        CheckpointManager(storage).save_checkpoint(run_id, node_id, {})
    assert storage.records == {}


def test_bad_next_node_id_is_refused() -> None:
    with pytest.raises(InvalidIdError):
        CheckpointManager(MemoryStorage()).save_checkpoint(
            "r", "n", {}, metadata={"next_node_id": "../../etc"}
        )


def test_invalid_metadata_values_raise_checkpoint_save_error() -> None:
    mgr = CheckpointManager(MemoryStorage())
    with pytest.raises(CheckpointSaveError, match="step_number"):
        mgr.save_checkpoint("r", "n", {}, metadata={"step_number": -1})
    with pytest.raises(CheckpointSaveError, match="must be a mapping"):
        mgr.save_checkpoint("r", "n", {}, metadata={"metadata": ["not", "a", "mapping"]})
    with pytest.raises(CheckpointSaveError, match="SharedMemory or a mapping"):
        mgr.save_checkpoint("r", "n", ["not memory"])  # type: ignore[arg-type]


def test_a_failed_save_leaves_no_gap_in_the_numbering() -> None:
    storage = DiskFullStorage(failures=0)
    mgr = CheckpointManager(storage, CheckpointConfig(retention_strategy="all"))
    assert mgr.save_checkpoint("r", "a", {}) == "ckpt_r_a_000000"
    storage.failures = 1
    with pytest.raises(CheckpointSaveError):
        mgr.save_checkpoint("r", "b", {})
    assert mgr.save_checkpoint("r", "b", {}) == "ckpt_r_b_000001"


def test_warn_mode_returns_none_with_a_warning_and_a_log_line(
    caplog: pytest.LogCaptureFixture,
) -> None:
    mgr = CheckpointManager(DiskFullStorage(), WARN)
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
def test_warn_mode_also_covers_typed_errors(run_id: str, memory: dict[str, Any]) -> None:
    mgr = CheckpointManager(MemoryStorage(), WARN)
    with pytest.warns(CheckpointSaveWarning):
        assert mgr.save_checkpoint(run_id, "n", memory) is None


async def test_async_warn_mode_returns_none_with_a_warning() -> None:
    mgr = CheckpointManager(DiskFullStorage(), WARN)
    with pytest.warns(CheckpointSaveWarning):
        assert await mgr.asave_checkpoint("r", "n", {}) is None


def test_failed_retention_keeps_the_saved_checkpoint_and_warns() -> None:
    mgr = CheckpointManager(PruneFailsStorage())
    with pytest.warns(CheckpointSaveWarning, match="retention 'latest_only' failed"):
        checkpoint_id = mgr.save_checkpoint("r", "n", {"x": 1})
    assert checkpoint_id == "ckpt_r_n_000000"
    assert mgr.restore_from_checkpoint("r") == ({"x": 1}, "n")


def big_memory() -> dict[str, Any]:
    return {"small": "x", "pages": "p" * 5000, "summary": "s" * 2000, "tags": ["t"] * 10}


def test_checkpoint_above_configured_limit_names_the_largest_keys() -> None:
    storage = MemoryStorage()
    mgr = CheckpointManager(storage, CheckpointConfig(max_checkpoint_bytes=4000))
    with pytest.raises(CheckpointTooLargeError) as caught:
        mgr.save_checkpoint("r", "n", big_memory())
    message = str(caught.value)
    assert "'pages' (5,002 bytes)" in message
    assert message.index("'pages'") < message.index("'summary'")
    assert "max_checkpoint_bytes=4,000" in message
    assert storage.records == {}


def test_checkpoint_at_the_configured_limit_is_saved() -> None:
    memory = {"pages": "p" * 100}
    probe = MemoryStorage()
    probe.save_checkpoint(Checkpoint(id="c", run_id="r", memory_snapshot=memory))
    size = probe.list_checkpoints("r")[0].size_bytes
    storage = MemoryStorage()
    mgr = CheckpointManager(storage, CheckpointConfig(max_checkpoint_bytes=size + 2000))
    assert mgr.save_checkpoint("r", "n", memory) == "ckpt_r_n_000000"


def test_backend_limit_applies_when_the_config_sets_none() -> None:
    mgr = CheckpointManager(MemoryStorage(max_checkpoint_bytes=4000))
    with pytest.raises(CheckpointTooLargeError, match="'pages'"):
        mgr.save_checkpoint("r", "n", big_memory())


def test_too_large_in_warn_mode_warns_and_returns_none() -> None:
    config = CheckpointConfig(max_checkpoint_bytes=4000, on_save_error="warn")
    mgr = CheckpointManager(MemoryStorage(), config)
    with pytest.warns(CheckpointSaveWarning, match="'pages'"):
        assert mgr.save_checkpoint("r", "n", big_memory()) is None
