"""Fixtures of the durable-execution tests: a storage per backend, a manager, a node log."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from durable_helpers import NodeLog, open_backend

from framework.graph.checkpoint_manager import CheckpointManager
from framework.storage.backend import StorageBackend


@pytest.fixture(params=["memory", "sqlite"])
def storage(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StorageBackend]:
    backend = open_backend(request.param, tmp_path)
    yield backend
    backend.close()


@pytest.fixture
def manager(storage: StorageBackend) -> CheckpointManager:
    """Keeps every checkpoint, so tests can count and inspect them."""
    return CheckpointManager(storage, {"retention_strategy": "all"})


@pytest.fixture
def log() -> NodeLog:
    return NodeLog()
