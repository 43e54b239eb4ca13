"""Every environment variable and default is read in one place, and means the same everywhere."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest

from framework import settings
from framework.runner import AgentRunner
from framework.schemas import CheckpointConfig
from framework.storage import SQLiteStorage, open_storage
from framework.storage.backend import StorageBackend

AGENT = Path(__file__).resolve().parents[3] / "examples" / "agents" / "document_triage"


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv(settings.STORAGE_ENV, raising=False)
    monkeypatch.setenv(settings.HOME_ENV, str(tmp_path / "home"))
    return tmp_path / "home"


def test_the_default_store_is_state_db_in_agentgraph_home_for_the_storage_layer(
    home: Path,
) -> None:
    storage = open_storage()

    assert isinstance(storage, SQLiteStorage) and storage.path == home.resolve() / "state.db"
    storage.close()


async def test_the_default_store_is_the_same_for_an_agent_runner(home: Path) -> None:
    async with AgentRunner.load(AGENT) as runner:
        await runner.run({"document": "Invoice no. 7 ... Total: $12,000"})
        manager = runner.checkpoint_manager
        assert manager is not None and isinstance(manager.storage, SQLiteStorage)
        assert manager.storage.path == home.resolve() / "state.db"


def test_agentgraph_storage_wins_over_the_home_default(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(settings.STORAGE_ENV, "memory://")

    assert settings.default_storage_url() == "memory://"
    assert type(open_storage()).__name__ == "MemoryStorage"


def test_one_lease_ttl_default_serves_the_config_and_the_contract() -> None:
    claim = inspect.signature(StorageBackend.aclaim_run).parameters["ttl_seconds"]
    renew = inspect.signature(StorageBackend.arenew_lease).parameters["ttl_seconds"]

    assert CheckpointConfig().lease_ttl_seconds == settings.DEFAULT_LEASE_TTL_SECONDS
    assert claim.default == renew.default == settings.DEFAULT_LEASE_TTL_SECONDS


def test_no_module_but_settings_reads_the_environment() -> None:
    root = Path(settings.__file__).parent
    readers = [
        str(path.relative_to(root))
        for path in root.rglob("*.py")
        if path.name != "settings.py"
        and any(word in path.read_text(encoding="utf-8") for word in ("os.environ", "getenv("))
    ]

    assert readers == []
