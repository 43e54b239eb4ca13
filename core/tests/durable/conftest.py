"""Fixtures of the durable-execution tests: a manager over every backend (the ``storage``
fixture of :mod:`framework.testing.conformance`) and a node log."""

from __future__ import annotations

import pytest
from durable_helpers import NodeLog

from framework.graph.checkpoint_manager import CheckpointManager
from framework.storage.backend import StorageBackend


@pytest.fixture
def manager(storage: StorageBackend) -> CheckpointManager:
    """Keeps every checkpoint, so tests can count and inspect them."""
    return CheckpointManager(storage, {"retention_strategy": "all"})


@pytest.fixture
def log() -> NodeLog:
    return NodeLog()
