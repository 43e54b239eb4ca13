"""The storage conformance kit: one harness per backend, a registry, and pytest fixtures.

A harness is the backend under test plus what only a test needs to know about where that
backend keeps its bytes: how to open a second instance on the same data (a restart), how to
corrupt one stored record (a failing disk) and how many bytes a run takes. The spec in
:mod:`framework.testing.spec` runs every test against every registered harness, so a
backend proves itself by adding one harness::

    from framework.testing.conformance import Harness, register_harness

    @register_harness
    class MyHarness(Harness):
        name = "mine"
        ...

and running ``pytest -o asyncio_mode=auto -p framework.testing.conformance -p
my_harness_module --pyargs framework.testing.spec``. Used as a pytest plugin, this module
provides the fixtures ``harness`` (each registered backend in turn), ``storage`` (its
backend), ``disk_harness`` (only backends that keep data on disk, for tests with
several processes) and ``token`` (a claim's fencing token on run ``run-1``, created).
It needs pytest, which the framework itself does not. The PostgreSQL harness runs on the
session's server (:mod:`framework.testing.postgres_server`: ``AGENTGRAPH_TEST_POSTGRES_URL``,
else a throwaway one started on first use and stopped when the session ends), each test in
a fresh schema of its own.
"""

from __future__ import annotations

import sqlite3
from abc import ABC, abstractmethod
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import pytest

from framework.schemas.lease import make_owner_id
from framework.schemas.run import RunRecord
from framework.storage import FileStorage, MemoryStorage, SQLiteStorage
from framework.storage.backend import StorageBackend
from framework.storage.postgres import PostgresStorage
from framework.testing.postgres_server import drop_schema, fresh_schema, server_url, stop_server

__all__ = [
    "HARNESSES",
    "FileHarness",
    "Harness",
    "MemoryHarness",
    "PostgresHarness",
    "SQLiteHarness",
    "flip",
    "register_harness",
]

H = TypeVar("H", bound="type[Harness]")


class Harness(ABC):
    """A backend under test, in a fresh folder ``root``, and how its bytes are kept."""

    name: ClassVar[str]
    """Names the backend in test ids."""
    on_disk: ClassVar[bool] = True
    """Whether other processes (and reopened instances) see its data."""

    storage: StorageBackend
    url: str
    """The storage URL another process opens (backends on disk only)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    @abstractmethod
    def reopen(self) -> StorageBackend:
        """Another instance on the same data (cold caches), as after a restart."""

    @abstractmethod
    def corrupt(self, run_id: str, seq: int) -> None:
        """Flip one byte of the stored record ``seq``, as a failing disk would."""

    @abstractmethod
    def stored_bytes(self, run_id: str) -> int:
        """Bytes this backend keeps for the run's checkpoints."""

    def close(self) -> None:
        self.storage.close()

    def discard(self) -> None:
        """Delete what the backend keeps outside ``root`` (the fixtures call it last)."""
        return None


HARNESSES: dict[str, type[Harness]] = {}


def register_harness(cls: H) -> H:
    """Add a harness to the spec's backends (a class decorator)."""
    HARNESSES[cls.name] = cls
    return cls


def flip(data: bytes, at: int | None = None) -> bytes:
    """``data`` with one bit of one byte flipped (the middle one by default)."""
    position = len(data) // 2 if at is None else at
    return data[:position] + bytes([data[position] ^ 0x01]) + data[position + 1 :]


@register_harness
class MemoryHarness(Harness):
    name = "memory"
    on_disk = False

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.storage = self.memory = MemoryStorage()
        self.url = "memory://"

    def reopen(self) -> StorageBackend:
        # Nothing outlives the instance, so it is its own only view of the data.
        return self.memory

    def corrupt(self, run_id: str, seq: int) -> None:
        self.memory.records[(run_id, seq)] = flip(self.memory.records[(run_id, seq)])

    def stored_bytes(self, run_id: str) -> int:
        return sum(len(body) for (run, _), body in self.memory.records.items() if run == run_id)


@register_harness
class FileHarness(Harness):
    name = "file"

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.storage = FileStorage(root / "store")
        self.url = f"file://{root / 'store'}"

    def reopen(self) -> StorageBackend:
        return FileStorage(self.root / "store")

    def record_path(self, run_id: str, seq: int) -> Path:
        return self.root / "store" / "runs" / run_id / "checkpoints" / f"{seq:012d}.json"

    def corrupt(self, run_id: str, seq: int) -> None:
        path = self.record_path(run_id, seq)
        path.write_bytes(flip(path.read_bytes()))

    def truncate(self, run_id: str, seq: int) -> None:
        path = self.record_path(run_id, seq)
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])

    def stored_bytes(self, run_id: str) -> int:
        folder = self.root / "store" / "runs" / run_id
        return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


@register_harness
class SQLiteHarness(Harness):
    name = "sqlite"

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.db_path = root / "state.db"
        self.storage = SQLiteStorage(self.db_path)
        self.url = f"sqlite://{self.db_path}"

    def reopen(self) -> StorageBackend:
        return SQLiteStorage(self.db_path)

    def sql(self, sql: str, params: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
        """Run ``sql`` on the database file with a connection of its own."""
        with sqlite3.connect(self.db_path, timeout=30) as conn:
            return conn.execute(sql, params).fetchall()

    def corrupt(self, run_id: str, seq: int) -> None:
        [(payload,)] = self.sql(
            "SELECT payload FROM checkpoint_records WHERE run_id = ? AND seq = ?", (run_id, seq)
        )
        assert isinstance(payload, bytes)
        self.sql(
            "UPDATE checkpoint_records SET payload = ? WHERE run_id = ? AND seq = ?",
            (flip(payload), run_id, seq),
        )

    def stored_bytes(self, run_id: str) -> int:
        [(total,)] = self.sql(
            "SELECT COALESCE(SUM(LENGTH(payload)), 0) FROM checkpoint_records WHERE run_id = ?",
            (run_id,),
        )
        assert isinstance(total, int)
        return total


@register_harness
class PostgresHarness(Harness):
    name = "postgres"

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.server = server_url()
        self.schema, self.url = fresh_schema()
        self.storage = PostgresStorage(self.url)

    def reopen(self) -> StorageBackend:
        return PostgresStorage(self.url)

    def _connect(self) -> Any:
        import psycopg

        return psycopg.connect(self.server, autocommit=True)

    def sql(self, sql: str, params: tuple[object, ...] = ()) -> list[tuple[Any, ...]]:
        """Run ``sql`` in the test's schema with a connection of its own; its parameters are
        marked ``?`` as for :meth:`SQLiteHarness.sql`, so a test's SQL runs on both (a
        literal ``%`` is written ``%%``)."""
        with self._connect() as conn:
            conn.execute(f"SET search_path TO {self.schema}")
            cursor = conn.execute(sql.replace("?", "%s"), params)
            return cursor.fetchall() if cursor.description else []

    def corrupt(self, run_id: str, seq: int) -> None:
        [(payload,)] = self.sql(
            "SELECT payload FROM checkpoint_records WHERE run_id = ? AND seq = ?", (run_id, seq)
        )
        self.sql(
            "UPDATE checkpoint_records SET payload = ? WHERE run_id = ? AND seq = ?",
            (flip(bytes(payload)), run_id, seq),
        )

    def stored_bytes(self, run_id: str) -> int:
        [(total,)] = self.sql(
            "SELECT COALESCE(SUM(octet_length(payload)), 0) FROM checkpoint_records "
            "WHERE run_id = ?",
            (run_id,),
        )
        return int(total)

    def discard(self) -> None:
        drop_schema(self.schema)


# --- the pytest plugin -------------------------------------------------------------------


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    stop_server()


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    # At collection time, so harnesses registered by any plugin loaded earlier take part.
    if "harness" in metafunc.fixturenames:
        metafunc.parametrize("harness", sorted(HARNESSES), indirect=True)
    if "disk_harness" in metafunc.fixturenames:
        on_disk = sorted(name for name, cls in HARNESSES.items() if cls.on_disk)
        metafunc.parametrize("disk_harness", on_disk, indirect=True)


@pytest.fixture
def harness(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Harness]:
    """Each registered backend in turn, in a fresh folder."""
    opened = HARNESSES[request.param](tmp_path)
    yield opened
    opened.close()
    opened.discard()


@pytest.fixture
def disk_harness(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Harness]:
    """Each registered backend that keeps its data on disk, in a fresh folder."""
    opened = HARNESSES[request.param](tmp_path)
    yield opened
    opened.close()
    opened.discard()


@pytest.fixture
def storage(harness: Harness) -> StorageBackend:
    """The backend of :func:`harness`."""
    return harness.storage


@pytest.fixture
async def token(storage: StorageBackend) -> int:
    """The fencing token of a claim on ``run-1``, created for the test."""
    await storage.acreate_run(RunRecord(run_id="run-1"))
    return (await storage.aclaim_run("run-1", make_owner_id())).fencing_token
