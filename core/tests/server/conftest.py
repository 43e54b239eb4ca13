"""Fixtures of the server tests: the store and the started app (see :mod:`server_helpers`)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from server_helpers import Store, serve


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Store:
    return Store(tmp_path, monkeypatch)


@pytest.fixture
def client(store: Store) -> Iterator[TestClient]:
    """The app on ``store``, given its agent, started."""
    with serve(store, agents=(store.agent,)) as started:
        yield started
