"""The conformance suite runs every test against every backend (see storage_harness)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from storage_harness import HARNESSES, Harness

from framework.storage.backend import StorageBackend


@pytest.fixture(params=sorted(HARNESSES))
def harness(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Harness]:
    h = HARNESSES[request.param](tmp_path)
    yield h
    h.close()


@pytest.fixture
def storage(harness: Harness) -> StorageBackend:
    return harness.storage


@pytest.fixture(params=["file", "sqlite"])
def durable(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Harness]:
    """Only the backends that keep data on disk (corruption of files, other processes)."""
    h = HARNESSES[request.param](tmp_path)
    yield h
    h.close()
