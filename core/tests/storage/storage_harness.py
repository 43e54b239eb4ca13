"""One harness per backend: the storage under test plus what only a test needs to know
about where that backend keeps its bytes (to corrupt a stored record, measure stored bytes,
or open a second instance on the same data). Adding a backend means adding one harness
class here and its name to ``HARNESSES``.
"""

from __future__ import annotations

import sqlite3
from abc import ABC, abstractmethod
from pathlib import Path

from framework.storage import FileStorage, MemoryStorage, SQLiteStorage
from framework.storage.backend import StorageBackend


class Harness(ABC):
    name: str
    storage: StorageBackend
    url: str  # the storage URL another process opens (durable backends only)

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


def flip(data: bytes, at: int | None = None) -> bytes:
    position = len(data) // 2 if at is None else at
    return data[:position] + bytes([data[position] ^ 0x01]) + data[position + 1 :]


class MemoryHarness(Harness):
    name = "memory"

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.storage = self.memory = MemoryStorage()

    def reopen(self) -> StorageBackend:
        # Nothing outlives the instance, so it is its own only view of the data.
        return self.memory

    def corrupt(self, run_id: str, seq: int) -> None:
        self.memory.records[(run_id, seq)] = flip(self.memory.records[(run_id, seq)])

    def stored_bytes(self, run_id: str) -> int:
        return sum(len(body) for (run, _), body in self.memory.records.items() if run == run_id)


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


class SQLiteHarness(Harness):
    name = "sqlite"

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.db_path = root / "state.db"
        self.storage = SQLiteStorage(self.db_path)
        self.url = f"sqlite://{self.db_path}"

    def reopen(self) -> StorageBackend:
        return SQLiteStorage(self.db_path)

    def _sql(self, sql: str, params: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
        with sqlite3.connect(self.db_path, timeout=30) as conn:
            return conn.execute(sql, params).fetchall()

    def corrupt(self, run_id: str, seq: int) -> None:
        [(payload,)] = self._sql(
            "SELECT payload FROM checkpoint_records WHERE run_id = ? AND seq = ?", (run_id, seq)
        )
        self._sql(
            "UPDATE checkpoint_records SET payload = ? WHERE run_id = ? AND seq = ?",
            (flip(bytes(payload)), run_id, seq),
        )

    def stored_bytes(self, run_id: str) -> int:
        [(total,)] = self._sql(
            "SELECT COALESCE(SUM(LENGTH(payload)), 0) FROM checkpoint_records WHERE run_id = ?",
            (run_id,),
        )
        return int(total)


HARNESSES = {h.name: h for h in (MemoryHarness, FileHarness, SQLiteHarness)}
