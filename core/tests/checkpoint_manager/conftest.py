"""Fixtures of the checkpoint manager tests: faults injected into the backend under test.

Every manager test takes the ``storage`` fixture of :mod:`framework.testing.conformance`,
so it runs on each registered backend (memory, file, SQLite). A test that needs a failing
store wraps that backend's async method — the one the manager awaits — instead of using a
store of its own, so the rest of the backend stays the real one.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from framework.storage.backend import StorageBackend
from framework.testing.conformance import (
    FileHarness,
    Harness,
    MemoryHarness,
    PostgresHarness,
    SQLiteHarness,
)
from framework.testing.fakes import DiskFull


@pytest.fixture
def disk_full(storage: StorageBackend) -> DiskFull:
    """The ``storage`` backend, refusing its next save; set ``.failures`` for more or none."""
    return DiskFull(storage)


@pytest.fixture
def prune_fails(storage: StorageBackend, monkeypatch: pytest.MonkeyPatch) -> None:
    """The ``storage`` backend, failing every prune (retention) with an ``OSError``."""

    async def refuse(run_id: str, keep: int) -> int:
        raise OSError("index locked")

    monkeypatch.setattr(storage, "aprune_checkpoints", refuse)


def stored_records(harness: Harness) -> list[str]:
    """What the backend holds of any run's checkpoints, however it keeps them.

    Memory: every stored record ``run/seq``. File: every file and folder under the harness's
    folder (nothing else lives there). SQLite and PostgreSQL: every row of
    ``checkpoint_records`` as ``run/seq``.
    """
    if isinstance(harness, MemoryHarness):
        return sorted(f"{run}/{seq}" for run, seq in harness.memory.records)
    if isinstance(harness, FileHarness):
        return sorted(str(p.relative_to(harness.root)) for p in harness.root.rglob("*"))
    if isinstance(harness, SQLiteHarness | PostgresHarness):
        rows = harness.sql("SELECT run_id, seq FROM checkpoint_records")
        return sorted(f"{run}/{seq}" for run, seq in rows)
    pytest.fail(f"stored_records does not know how harness {harness.name!r} keeps records")


@pytest.fixture
def stored(harness: Harness) -> Callable[[], list[str]]:
    """``stored()``: what the ``storage`` backend holds of any checkpoint (``[]``: nothing)."""
    return lambda: stored_records(harness)
