"""The storage contract is declared once: backends implement primitives, not the contract."""

from __future__ import annotations

import inspect

import pytest

from framework.storage import FileStorage, MemoryStorage, SQLiteStorage
from framework.storage._engine.primitives import RecordPrimitives
from framework.storage.backend import StorageBackend

ASYNC_METHODS = StorageBackend.__abstractmethods__
CONTRACT = ASYNC_METHODS | {name.removeprefix("a") for name in ASYNC_METHODS}


@pytest.mark.parametrize("backend", [MemoryStorage, FileStorage, SQLiteStorage])
def test_a_shipped_backend_restates_no_contract_method(backend: type[StorageBackend]) -> None:
    assert sorted(set(vars(backend)) & CONTRACT) == []


@pytest.mark.parametrize("backend", [MemoryStorage, FileStorage, SQLiteStorage])
def test_a_shipped_backend_is_complete_over_the_primitives(backend: type[StorageBackend]) -> None:
    assert inspect.isabstract(backend) is False
    assert issubclass(backend, RecordPrimitives)


def test_every_contract_method_is_documented_where_it_is_declared() -> None:
    undocumented = [name for name in ASYNC_METHODS if not getattr(StorageBackend, name).__doc__]

    assert undocumented == []
