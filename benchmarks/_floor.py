"""The disk floor: what the cheapest durable write costs on this machine, right now.

Measured in the same run as the checkpoints (one floor measurement per round, interleaved
with the rest), so the power-loss mode can be compared with what the disk itself allows:
a 100-byte write followed by ``os.fsync``, and one SQLite commit of a small row in WAL mode
with ``synchronous=NORMAL`` (survives a killed process) and ``FULL`` (survives power loss).
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

from _common import make_folder, remove_folder

__all__ = ["FLOOR_NAMES", "measure_floor"]

FLOOR_NAMES = {
    "fsync_write_us": "write 100 bytes + os.fsync",
    "sqlite_normal_us": "SQLite commit, WAL, synchronous=NORMAL",
    "sqlite_full_us": "SQLite commit, WAL, synchronous=FULL",
}

_ROW = b"r" * 100


def timed_us(operation: Callable[[], None], samples: int) -> list[float]:
    """How long each of ``samples`` calls of ``operation`` took, in microseconds."""
    times = []
    for _ in range(samples):
        started = time.perf_counter()
        operation()
        times.append((time.perf_counter() - started) * 1e6)
    return times


def fsync_write_us(folder: Path, samples: int) -> list[float]:
    descriptor = os.open(folder / "floor.bin", os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    try:

        def write_and_sync() -> None:
            os.write(descriptor, _ROW)
            os.fsync(descriptor)

        return timed_us(write_and_sync, samples)
    finally:
        os.close(descriptor)


def sqlite_commit_us(folder: Path, synchronous: str, samples: int) -> list[float]:
    connection = sqlite3.connect(folder / f"floor-{synchronous}.db", isolation_level=None)
    try:
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute(f"PRAGMA synchronous={synchronous}")
        connection.execute("CREATE TABLE rows (id INTEGER PRIMARY KEY, body BLOB)")

        def commit_one_row() -> None:
            connection.execute("BEGIN")
            connection.execute("INSERT INTO rows (body) VALUES (?)", (_ROW,))
            connection.execute("COMMIT")

        return timed_us(commit_one_row, samples)
    finally:
        connection.close()


def measure_floor(base: Path, samples: int) -> dict[str, list[float]]:
    """``samples`` timings of each floor operation, on fresh files in ``base``."""
    folder = make_folder(base, "floor-")
    try:
        return {
            "fsync_write_us": fsync_write_us(folder, samples),
            "sqlite_normal_us": sqlite_commit_us(folder, "NORMAL", samples),
            "sqlite_full_us": sqlite_commit_us(folder, "FULL", samples),
        }
    finally:
        remove_folder(folder)
