"""open_storage: every URL form, the environment default, and clear errors for the rest."""

from __future__ import annotations

from pathlib import Path

import pytest

from framework.errors import CheckpointTooLargeError, InvalidArgumentError, StorageError
from framework.storage import FileStorage, MemoryStorage, SQLiteStorage, open_storage
from framework.testing.values import make_checkpoint


def _round_trip(storage) -> None:
    storage.save_checkpoint(make_checkpoint("run-1", 0))
    assert storage.load_latest_checkpoint("run-1").seq == 0
    storage.close()


def test_memory_url():
    storage = open_storage("memory://")
    assert isinstance(storage, MemoryStorage)
    _round_trip(storage)


def test_file_url_with_absolute_path(tmp_path: Path):
    storage = open_storage(f"file://{tmp_path}/store")
    assert isinstance(storage, FileStorage)
    _round_trip(storage)
    assert (tmp_path / "store" / "runs" / "run-1" / "index.json").is_file()


def test_file_url_with_relative_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.chdir(tmp_path)
    storage = open_storage("file://data/store")
    assert isinstance(storage, FileStorage)
    _round_trip(storage)
    assert (tmp_path / "data" / "store" / "runs" / "run-1").is_dir()


def test_sqlite_url_with_absolute_path(tmp_path: Path):
    storage = open_storage(f"sqlite://{tmp_path}/nested/state.db")
    assert isinstance(storage, SQLiteStorage)
    _round_trip(storage)
    assert (tmp_path / "nested" / "state.db").is_file()


def test_sqlite_url_expands_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    _round_trip(open_storage("sqlite:///~/dbs/x.db"))
    _round_trip(open_storage("sqlite://~/dbs/y.db"))
    assert (tmp_path / "dbs" / "x.db").is_file()
    assert (tmp_path / "dbs" / "y.db").is_file()


def test_percent_escapes_are_decoded(tmp_path: Path):
    _round_trip(open_storage(f"file://{tmp_path}/with%20space"))
    assert (tmp_path / "with space" / "runs").is_dir()


def test_environment_variable_sets_the_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("AGENTGRAPH_STORAGE", f"file://{tmp_path}/from-env")
    storage = open_storage()
    assert isinstance(storage, FileStorage)
    _round_trip(storage)
    assert (tmp_path / "from-env" / "runs").is_dir()


def test_default_is_sqlite_in_the_home_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("AGENTGRAPH_STORAGE", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    storage = open_storage()
    assert isinstance(storage, SQLiteStorage)
    _round_trip(storage)
    assert (tmp_path / ".agentgraph" / "state.db").is_file()


def test_options_reach_the_backend(tmp_path: Path):
    storage = open_storage(f"sqlite://{tmp_path}/x.db", fsync=True, max_checkpoint_bytes=100)
    assert storage.fsync is True
    with pytest.raises(CheckpointTooLargeError):
        storage.save_checkpoint(make_checkpoint("run-1", 0, {"big": "x" * 200}))
    storage.close()
    memory = open_storage("memory://", fsync=True, max_checkpoint_bytes=100)
    with pytest.raises(CheckpointTooLargeError):
        memory.save_checkpoint(make_checkpoint("run-1", 0, {"big": "x" * 200}))


@pytest.mark.parametrize(
    ("url", "message"),
    [
        (
            "redis://localhost",
            r"unknown storage URL scheme 'redis'.*memory://.*file://.*sqlite://.*postgresql://",
        ),
        ("/just/a/path", "has no scheme"),
        ("sqlite://", "has no path"),
        ("file://", "has no path"),
        ("memory://somewhere", "takes no path"),
    ],
)
def test_bad_urls_raise_clear_errors(url: str, message: str):
    with pytest.raises(InvalidArgumentError, match=message):
        open_storage(url)


@pytest.mark.parametrize(
    ("url", "error", "message"),
    [
        ("sqlite:///dev/null", InvalidArgumentError, "/dev/null is not a regular file"),
        ("sqlite:///", InvalidArgumentError, "is a folder, not a database file"),
        ("file:///etc/passwd", InvalidArgumentError, "/etc/passwd is a file, not a folder"),
        ("file:///etc/passwd/runs", InvalidArgumentError, "/etc/passwd is a file"),
        ("sqlite:///etc/passwd/x.db", InvalidArgumentError, "/etc/passwd is a file"),
        ("sqlite:///%00x", InvalidArgumentError, "holds a NUL character"),
        ("file:///tmp/%00", InvalidArgumentError, "holds a NUL character"),
        (
            "file:///proc/agentgraph-store",
            StorageError,
            "cannot create or use /proc/agentgraph-store",
        ),
    ],
)
def test_open_storage_refuses_paths_that_cannot_hold_a_store(
    url: str, error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        open_storage(url)


# Moved from the storage spec's checkpoint tests (test_checkpoints.py): max_checkpoint_bytes
# is an option of each shipped backend's constructor, which a harness does not choose.
@pytest.mark.parametrize("factory", [MemoryStorage, FileStorage, SQLiteStorage])
def test_checkpoint_above_max_bytes_names_largest_keys(
    factory: type[MemoryStorage] | type[FileStorage] | type[SQLiteStorage], tmp_path: Path
) -> None:
    if factory is MemoryStorage:
        storage = factory(max_checkpoint_bytes=2_000)
    else:
        storage = factory(tmp_path / "store", max_checkpoint_bytes=2_000)
    cp = make_checkpoint("run-1", 0, {"big": "x" * 3_000, "medium": "y" * 500, "small": 1})

    with pytest.raises(CheckpointTooLargeError) as caught:
        storage.save_checkpoint(cp)

    message = str(caught.value)
    assert "max_checkpoint_bytes=2,000" in message
    assert message.index("'big'") < message.index("'medium'") < message.index("'small'")
    assert storage.latest_seq("run-1") == -1
    storage.save_checkpoint(make_checkpoint("run-1", 0, {"small": 1}))
    assert storage.latest_seq("run-1") == 0
    storage.close()


@pytest.mark.parametrize("factory", [MemoryStorage, FileStorage, SQLiteStorage])
async def test_the_lower_of_backend_and_per_save_limit_applies(
    factory: type[MemoryStorage] | type[FileStorage] | type[SQLiteStorage], tmp_path: Path
) -> None:
    args = () if factory is MemoryStorage else (tmp_path / "store",)
    storage = factory(*args, max_checkpoint_bytes=2_000)
    cp = make_checkpoint("run-1", 0, {"big": "x" * 3_000})

    with pytest.raises(CheckpointTooLargeError, match="max_checkpoint_bytes=2,000"):
        await storage.asave_checkpoint(cp, max_bytes=1_000_000)
    with pytest.raises(CheckpointTooLargeError, match="max_checkpoint_bytes=500"):
        await storage.asave_checkpoint(make_checkpoint("run-1", 0, {"m": "y" * 800}), max_bytes=500)
    assert await storage.alatest_seq("run-1") == -1
    storage.close()
