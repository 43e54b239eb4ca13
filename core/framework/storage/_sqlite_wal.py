"""SQLite's write-ahead log as this backend keeps it: WAL mode, a short log, and the
refusal to open a database whose log was lost with commits only it held."""

from __future__ import annotations

import sqlite3
import struct
import time
from pathlib import Path

from framework.errors import StorageError

__all__ = ["WAL_CHECKPOINT_PAGES", "WAL_KEPT_BYTES", "enable_wal", "refuse_lost_wal"]


# Checkpoint the log into the database every 128 pages and cut it back to 256 KiB after:
# a long run's store stays the size of its data, not of every commit it made (a 1000-node
# run: 0.7 MB, not 4.5). Each checkpoint costs a sync of the database file, so fewer pages
# than this make large checkpoints slower (measured with benchmarks/checkpoint_overhead.py).
WAL_CHECKPOINT_PAGES = 128
WAL_KEPT_BYTES = 256 * 1024


def enable_wal(conn: sqlite3.Connection, busy_timeout_ms: int) -> None:
    # Switching a new database to WAL takes an exclusive lock and SQLite does not wait on
    # the busy handler for it, so two processes opening the same new file must retry.
    deadline = time.monotonic() + busy_timeout_ms / 1000
    while True:
        try:
            conn.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.02)


# The start of SQLite's wal-index (the -shm file): two copies of its header, then the
# checkpoint info; native byte order (https://sqlite.org/walformat.html).
_WAL_INDEX = struct.Struct("=IIIBBHII24x48x I")
_WAL_INDEX_VERSION = 3007000
_WAL_HEADER_BYTES, _WAL_FRAME_HEADER_BYTES = 32, 24


def refuse_lost_wal(path: Path) -> None:
    """``StorageError`` if commits that exist only in the -wal log were lost with it."""
    shm, wal = Path(f"{path}-shm"), Path(f"{path}-wal")
    try:
        index = shm.read_bytes()[: _WAL_INDEX.size]
        wal_bytes = wal.stat().st_size if wal.exists() else 0
    except OSError:
        return
    if len(index) < _WAL_INDEX.size or index[:48] != index[48:96]:
        return  # no index, or one being written by a live connection (whose log exists)
    version, _, _, initialised, _, page_size, frames, _, backfilled = _WAL_INDEX.unpack(index)
    if version != _WAL_INDEX_VERSION or not initialised or frames <= backfilled:
        return
    page_size = 65536 if page_size == 1 else page_size
    if wal_bytes >= _WAL_HEADER_BYTES + frames * (_WAL_FRAME_HEADER_BYTES + page_size):
        return
    state = "is missing" if not wal.exists() else f"is cut short ({wal_bytes} bytes)"
    raise StorageError(
        f"SQLite storage {path}: its write-ahead log {wal} {state}, but {shm} shows it held "
        f"{frames - backfilled} pages of commits not yet in {path.name}; the file alone is "
        "an older state of the store, in which runs that progressed would start over. Put "
        f"the log back if it was moved; to accept the loss, make sure no process uses the "
        f"database and delete {shm}"
    )
