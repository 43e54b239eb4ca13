"""SQLite storage: the embedded default, one database file, stdlib ``sqlite3``.

The database runs in WAL mode (readers never block the writer) with a 30 s busy timeout;
every write is one ``BEGIN IMMEDIATE`` transaction, so concurrent processes queue for the
write lock instead of failing, and a killed process leaves either the whole change or none
of it. ``synchronous=NORMAL`` survives a killed process; ``fsync=True`` selects ``FULL``,
which also survives power loss.

Tables: ``schema_version`` (one row), ``runs`` (the run record, lease included, plus the
columns runs are filtered and ordered by), ``checkpoint_records`` (one row per stored
record: its index entry as columns and the payload as a blob, keyed by ``(run_id, seq)``),
``control_signals`` (the pending request per run), ``effects`` (one row per effect,
keyed by ``(run_id, key)``, listed in rowid order, which is insertion order), ``items`` (a
batch run's ledger: one row per item keyed by ``(run_id, item_id)``, with the seq, status
and due time it is claimed and listed by) and ``item_counts`` (its counts per status, one
row per run, written in the same transaction as the items). The layout is
created by numbered migrations; a database of an older version is migrated when opened.
A fenced write reads the run's fencing token and writes inside one ``BEGIN IMMEDIATE``
transaction, so the check and the write are atomic between processes.

The database is the file *and* its write-ahead log ``-wal``: a process killed before the
log was copied into the file leaves recent commits only there. Opening a database whose log
is missing (or cut short) while its ``-shm`` index says it held commits not yet copied
raises ``StorageError``: the file alone is an older state, in which runs that progressed
would silently start over.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import UTC
from pathlib import Path
from typing import Any

from framework.errors import StorageError
from framework.schemas.run import RunFilter, RunRecord
from framework.storage import _faults
from framework.storage._engine import IndexEntry, RecordBackend, decode_run
from framework.storage._sql_rows import SQLRows
from framework.storage._sqlite_items import SQLiteItemRows
from framework.storage._sqlite_schema import MIGRATIONS, RUN_TABLES, SCHEMA_VERSION, item_part
from framework.storage._sqlite_wal import (
    WAL_CHECKPOINT_PAGES,
    WAL_KEPT_BYTES,
    enable_wal,
    refuse_lost_wal,
)
from framework.storage.twins import WouldWait, on_the_loop

__all__ = ["SCHEMA_VERSION", "SQLiteStorage"]

BUSY_TIMEOUT_MS = 30_000
# How long a write called on the event loop waits for another writer before it is handed
# to a worker thread (which waits up to BUSY_TIMEOUT_MS).
LOOP_BUSY_MS = 20


class SQLiteStorage(SQLiteItemRows, SQLRows, RecordBackend):
    """Checkpoints and run records in the SQLite database file ``path`` (``~`` expanded).

    Parent folders are created. One connection serves the instance, guarded by its lock, so
    the instance may be shared by threads. Its async methods run on the caller's event
    loop, which a WAL commit costs less than a thread hop (measured by
    ``benchmarks/checkpoint_overhead.py``). One that would wait for a lock another thread
    or process holds gives up after ``LOOP_BUSY_MS`` and runs in a worker thread instead,
    so the loop (and the lease heartbeat on it) is never held for long.
    """

    MARK = "?"
    EFFECT_ORDER = "rowid"

    runs_inline = True

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        fsync: bool = False,
        max_checkpoint_bytes: int | None = None,
    ) -> None:
        super().__init__(max_checkpoint_bytes=max_checkpoint_bytes)
        self.path = Path(path).expanduser()
        self.fsync = fsync
        self.path.parent.mkdir(parents=True, exist_ok=True)
        refuse_lost_wal(self.path)
        try:
            conn = sqlite3.connect(
                self.path,
                timeout=BUSY_TIMEOUT_MS / 1000,
                isolation_level=None,
                check_same_thread=False,
            )
            conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            enable_wal(conn, BUSY_TIMEOUT_MS)
            conn.execute(f"PRAGMA synchronous = {'FULL' if fsync else 'NORMAL'}")
            conn.execute(f"PRAGMA wal_autocheckpoint = {WAL_CHECKPOINT_PAGES}")
            conn.execute(f"PRAGMA journal_size_limit = {WAL_KEPT_BYTES}")
        except sqlite3.Error as exc:
            raise StorageError(f"cannot open SQLite storage {self.path}: {exc}") from None
        self._conn: sqlite3.Connection | None = conn
        self._busy_ms = BUSY_TIMEOUT_MS
        with self._lock, self._begin("BEGIN IMMEDIATE", writes=False):
            self._migrate(conn)

    def _close_store(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    @property
    def _db(self) -> sqlite3.Connection:
        if self._conn is None:
            raise StorageError(f"SQLite storage {self.path} is closed; open a new one")
        return self._conn

    def _migrate(self, conn: sqlite3.Connection) -> None:
        conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
        row = conn.execute("SELECT MAX(version) FROM schema_version").fetchone()
        current = row[0] or 0
        if current > SCHEMA_VERSION:
            raise StorageError(
                f"{self.path} has storage schema version {current}, newer than the "
                f"{SCHEMA_VERSION} this agentgraph understands; upgrade agentgraph"
            )
        conn.create_function("item_part", 2, item_part, deterministic=True)
        for statements in MIGRATIONS[current:]:
            for statement in statements:
                conn.execute(statement)
        if current < SCHEMA_VERSION:
            conn.execute("DELETE FROM schema_version")
            conn.execute("INSERT INTO schema_version (version) VALUES (?)", (SCHEMA_VERSION,))

    # --- transactions -----------------------------------------------------------------------

    def _transaction(self) -> AbstractContextManager[None]:
        return self._begin("BEGIN IMMEDIATE", writes=True)

    def _snapshot(self) -> AbstractContextManager[None]:
        return self._begin("BEGIN", writes=False)

    @contextmanager
    def _begin(self, statement: str, *, writes: bool) -> Iterator[None]:
        """A transaction; one that ``writes`` passes the commit's fault points.

        On the event loop a write waits for another process's lock only briefly, then
        leaves the wait to a worker thread (:class:`~framework.storage.twins.WouldWait`).
        """
        db = self._db
        hurried = writes and on_the_loop()
        try:
            self._wait_at_most(LOOP_BUSY_MS if hurried else BUSY_TIMEOUT_MS)
            db.execute(statement)
        except sqlite3.OperationalError as exc:
            if hurried and "locked" in str(exc):
                raise WouldWait from None
            raise StorageError(f"SQLite storage {self.path}: {exc}") from None
        except sqlite3.Error as exc:
            raise StorageError(f"SQLite storage {self.path}: {exc}") from None
        try:
            yield
            if writes:
                _faults.point("sqlite.before_commit")
            db.execute("COMMIT")
        except sqlite3.Error as exc:
            db.execute("ROLLBACK")
            raise StorageError(f"SQLite storage {self.path}: {exc}") from None
        except BaseException:
            db.execute("ROLLBACK")
            raise
        if writes:
            _faults.point("sqlite.after_commit")

    def _wait_at_most(self, busy_ms: int) -> None:
        """Let the next statement wait ``busy_ms`` for another connection's lock (set only
        when it changes: a pragma costs as much as a statement)."""
        if busy_ms != self._busy_ms:
            self._db.execute(f"PRAGMA busy_timeout = {busy_ms}")
            self._busy_ms = busy_ms

    # --- records ----------------------------------------------------------------------------

    def _append(self, run_id: str, entry: IndexEntry, body: bytes) -> None:
        try:
            self._db.execute(
                "INSERT INTO checkpoint_records (run_id, seq, checkpoint_id, form, base_seq, "
                "prev_seq, visible, checksum, stored_bytes, metadata, payload) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    run_id,
                    entry.seq,
                    entry.metadata.id,
                    entry.form.value,
                    entry.base_seq,
                    entry.prev_seq,
                    int(entry.visible),
                    entry.checksum,
                    entry.stored_bytes,
                    entry.metadata.model_dump_json(),
                    body,
                ),
            )
        except sqlite3.IntegrityError:
            raise StorageError(
                f"run {run_id!r} already has a record with seq {entry.seq}; another writer is "
                "saving this run"
            ) from None

    def _retire(self, run_id: str, hide: set[int], drop: set[int]) -> None:
        self._db.executemany(
            "UPDATE checkpoint_records SET visible = 0 WHERE run_id = ? AND seq = ?",
            [(run_id, seq) for seq in hide],
        )
        self._db.executemany(
            "DELETE FROM checkpoint_records WHERE run_id = ? AND seq = ?",
            [(run_id, seq) for seq in drop],
        )

    def _drop_run_records(self, run_id: str) -> None:
        self._db.execute("DELETE FROM checkpoint_records WHERE run_id = ?", (run_id,))

    # --- runs -------------------------------------------------------------------------------

    def _insert_run(self, record: RunRecord, body: bytes) -> bool:
        try:
            self._db.execute(
                "INSERT INTO runs (run_id, status, agent_id, graph_id, created_key, body) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                _run_row(record, body),
            )
        except sqlite3.IntegrityError:
            return False
        return True

    def _read_run(self, run_id: str) -> RunRecord | None:
        row = self._db.execute("SELECT body FROM runs WHERE run_id = ?", (run_id,)).fetchone()
        if row is None:
            return None
        return self._decode_run(run_id, bytes(row[0]), f"{self.path} run {run_id!r}")

    def _replace_run(self, record: RunRecord, body: bytes) -> None:
        run_id, status, agent_id, graph_id, created_key, body = _run_row(record, body)
        # A run's creation time hardly ever changes: setting its indexed column only when it
        # does spares every step a write of the index.
        same_created = self._db.execute(
            "UPDATE runs SET status = ?, agent_id = ?, graph_id = ?, body = ? "
            "WHERE run_id = ? AND created_key = ?",
            (status, agent_id, graph_id, body, run_id, created_key),
        )
        if same_created.rowcount == 0:
            self._db.execute(
                "UPDATE runs SET status = ?, agent_id = ?, graph_id = ?, created_key = ?, "
                "body = ? WHERE run_id = ?",
                (status, agent_id, graph_id, created_key, body, run_id),
            )

    def _delete_run(self, run_id: str) -> bool:
        deleted = 0
        for table in RUN_TABLES:
            deleted += self._db.execute(f"DELETE FROM {table} WHERE run_id = ?", (run_id,)).rowcount
        return deleted > 0

    def _select_runs(self, where: RunFilter) -> list[RunRecord]:
        clauses, params = [], []
        for column in ("status", "agent_id", "graph_id"):
            value = getattr(where, column)
            if value is not None:
                clauses.append(f"{column} = ?")
                params.append(str(value))
        sql = "SELECT run_id, body FROM runs"
        if clauses:
            sql += " WHERE " + " AND ".join(clauses)
        sql += " ORDER BY created_key DESC, run_id DESC LIMIT ?"
        limit = -1 if where.limit is None else where.limit
        rows = self._db.execute(sql, (*params, limit)).fetchall()
        return [decode_run(bytes(body), f"{self.path} run {run_id!r}") for run_id, body in rows]


def _run_row(record: RunRecord, body: bytes) -> tuple[Any, ...]:
    created_key = f"{record.created_at.astimezone(UTC):%Y-%m-%dT%H:%M:%S.%f}"
    return (record.run_id, record.status.value, record.agent_id, record.graph_id, created_key, body)
