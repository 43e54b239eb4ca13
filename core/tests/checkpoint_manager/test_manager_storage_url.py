"""CheckpointManager opened from a storage URL: the config reaches the backend it opens."""

from __future__ import annotations

from pathlib import Path

import pytest

from framework.errors import CheckpointTooLargeError, StorageError
from framework.graph.checkpoint_manager import CheckpointManager
from framework.schemas.checkpoint import CheckpointConfig
from framework.storage import FileStorage, MemoryStorage, SQLiteStorage


def test_memory_url_opens_memory_storage() -> None:
    mgr = CheckpointManager("memory://")
    assert isinstance(mgr.storage, MemoryStorage)
    mgr.save_checkpoint("r", "a", {"x": 1})
    assert mgr.restore_from_checkpoint("r") == ({"x": 1}, "a")


def test_sqlite_url_gets_fsync_and_size_limit_from_the_config(tmp_path: Path) -> None:
    config = CheckpointConfig(fsync=True, max_checkpoint_bytes=2000, retention_strategy="all")
    with CheckpointManager(f"sqlite:///{tmp_path}/state.db", config) as mgr:
        assert isinstance(mgr.storage, SQLiteStorage)
        assert mgr.storage.fsync is True
        assert mgr.storage.max_checkpoint_bytes == 2000
        mgr.save_checkpoint("r", "a", {"x": 1})
        with pytest.raises(CheckpointTooLargeError, match="'blob'"):
            mgr.save_checkpoint("r", "b", {"blob": "z" * 5000})
    reopened = CheckpointManager(f"sqlite:///{tmp_path}/state.db", config)
    assert [m.id for m in reopened.list_checkpoints("r")] == ["ckpt_r_a_000000"]
    assert reopened.save_checkpoint("r", "c", {}) == "ckpt_r_c_000001"
    reopened.close()


def test_file_url_survives_a_new_manager(tmp_path: Path) -> None:
    url = f"file://{tmp_path}/checkpoints"
    with CheckpointManager(url) as mgr:
        assert isinstance(mgr.storage, FileStorage)
        mgr.save_checkpoint("r", "a", {"docs": ["d1"]}, metadata={"next_node_id": "b"})
    with CheckpointManager(url) as again:
        assert again.restore_from_checkpoint("r") == ({"docs": ["d1"]}, "b")


async def test_manager_closes_the_storage_it_opened(tmp_path: Path) -> None:
    async with CheckpointManager(f"sqlite:///{tmp_path}/state.db") as mgr:
        await mgr.asave_checkpoint("r", "a", {})
    with pytest.raises(StorageError, match="closed"):
        mgr.list_checkpoints("r")
