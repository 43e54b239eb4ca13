"""The connection and transactions of :class:`~framework.storage.postgres.PostgresStorage`.

One psycopg connection serves an instance, guarded by its lock, in autocommit mode: a
transaction is an explicit ``BEGIN`` ... ``COMMIT``. A write of a run holds
``pg_advisory_xact_lock`` on the run (a 64-bit key of schema and run id) from the
transaction's start, sent with its ``BEGIN`` in one round trip, so the fencing check and the
write are atomic between processes while writers of other runs never wait. A read of one
statement runs outside any transaction; multi-statement reads run in one ``REPEATABLE
READ`` snapshot. A write of one statement goes with its ``BEGIN``, lock and ``COMMIT`` in
one pipeline (:meth:`PostgresConnection._in_one_trip`). A connection the server dropped
while idle is replaced at the next call; one lost in a transaction is an error saying that
nothing of it was stored.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import TYPE_CHECKING, Any, TypeVar

from framework.errors import StorageError
from framework.storage import _faults
from framework.storage.twins import StoreLock

if TYPE_CHECKING:
    import psycopg

__all__ = [
    "CONNECT_TIMEOUT_SECONDS",
    "INSTALL_HINT",
    "PostgresConnection",
    "first_line",
    "import_psycopg",
]

T = TypeVar("T")

CONNECT_TIMEOUT_SECONDS = 10
INSTALL_HINT = "pip install 'agentgraph-durable[postgres]'"


class PostgresConnection:
    """The connection, transactions and errors of a PostgreSQL backend (a mixin of it)."""

    _lock: StoreLock
    _psycopg: Any
    url: str
    where: str
    _conn: psycopg.Connection[Any] | None
    _closed: bool
    _in_transaction: bool
    _reading_once: bool
    _schema: str

    @property
    def _db(self) -> psycopg.Connection[Any]:
        if self._closed:
            raise StorageError(f"PostgreSQL storage {self.where} is closed; open a new one")
        conn = self._conn
        if conn is None or conn.broken:
            if self._in_transaction:
                raise StorageError(
                    f"lost the connection to PostgreSQL storage {self.where} in a transaction; "
                    "nothing of it was stored, try again"
                )
            conn = self._conn = self._connect()
        return conn

    def _connect(self) -> psycopg.Connection[Any]:
        try:
            conn: psycopg.Connection[Any] = self._psycopg.connect(
                self.url, autocommit=True, connect_timeout=CONNECT_TIMEOUT_SECONDS
            )
        except self._psycopg.Error as exc:
            raise StorageError(
                f"cannot connect to PostgreSQL storage {self.where}: {first_line(exc)}; check "
                "that the server runs and the URL names it"
            ) from None
        return conn

    def _close_store(self) -> None:
        self._closed = True
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _key(self, name: str) -> int:
        """The advisory-lock key of ``name`` in this schema (a signed 64-bit int)."""
        digest = hashlib.blake2b(f"{self._schema}\0{name}".encode(), digest_size=8).digest()
        return int.from_bytes(digest, "big", signed=True)

    # --- transactions -----------------------------------------------------------------------

    @contextmanager
    def _writing(self, run_id: str, *, create: bool = False) -> Iterator[None]:
        # The run's lock is taken inside the transaction (it ends with it), not around it.
        with self._lock, self._begin(lock=self._key(f"run\0{run_id}")):
            yield

    def _transaction(self) -> AbstractContextManager[None]:
        return self._begin()

    def _snapshot(self) -> AbstractContextManager[None]:
        return nullcontext() if self._reading_once else self._begin(snapshot=True)

    def _read_once(self, read: Callable[[], T]) -> T:
        """``read``, a read of one statement, outside a transaction (one round trip); again
        on a new connection if the connection was found broken (a restarted server)."""
        with self._lock:
            self._reading_once = True
            try:
                try:
                    return read()
                except self._psycopg.Error as exc:
                    if not (isinstance(exc, self._psycopg.OperationalError) and self._db_broken()):
                        raise self._error(exc) from None
                try:
                    return read()
                except self._psycopg.Error as exc:
                    raise self._error(exc) from None
            finally:
                self._reading_once = False

    @contextmanager
    def _begin(self, *, lock: int | None = None, snapshot: bool = False) -> Iterator[None]:
        """A transaction (a read-only snapshot if ``snapshot``), holding advisory ``lock``."""
        if self._in_transaction:
            yield
            return
        errors = self._psycopg.Error
        db = self._db
        try:
            self._start(db, lock, snapshot)
        except errors as exc:
            if not db.broken:
                self._rollback(db)
                raise self._error(exc) from None
            # The connection broke while idle (a restarted server): nothing was sent but
            # the BEGIN, so a new connection may start again.
            db = self._db
            try:
                self._start(db, lock, snapshot)
            except errors as again:
                self._rollback(db)
                raise self._error(again) from None
        self._in_transaction = True
        try:
            yield
            if not snapshot:
                _faults.point("postgres.before_commit")
            db.execute("COMMIT")
        except errors as exc:
            self._rollback(db)
            raise self._error(exc) from None
        except BaseException:
            self._rollback(db)
            raise
        finally:
            self._in_transaction = False
        if not snapshot:
            _faults.point("postgres.after_commit")

    @staticmethod
    def _start(db: psycopg.Connection[Any], lock: int | None, snapshot: bool) -> None:
        if snapshot:
            db.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        elif lock is None:
            db.execute("BEGIN")
        else:
            with db.pipeline():
                db.execute("BEGIN")
                db.execute("SELECT pg_advisory_xact_lock(%s)", (lock,))

    def _in_one_trip(
        self, run_id: str, sql: str, params: dict[str, Any], *, repeatable: bool = False
    ) -> list[tuple[Any, ...]]:
        """The rows of ``sql`` run in a transaction of its own holding the run's lock, sent
        with its ``BEGIN`` and ``COMMIT`` in one round trip; the lock is shared unless
        ``repeatable``, which marks a write that is safe to send again: it is, once, when
        the connection broke (the statement reports whether its first sending landed)."""
        with self._lock:
            try:
                return self._one_trip(run_id, sql, params, exclusive=repeatable)
            except self._psycopg.Error as exc:
                lost = isinstance(exc, self._psycopg.OperationalError) and self._db_broken()
                if not (repeatable and lost):
                    raise self._error(exc) from None
            try:
                return self._one_trip(run_id, sql, params, exclusive=True)
            except self._psycopg.Error as exc:
                raise self._error(exc) from None

    def _one_trip(
        self, run_id: str, sql: str, params: dict[str, Any], *, exclusive: bool
    ) -> list[tuple[Any, ...]]:
        db = self._db
        lock = "pg_advisory_xact_lock" if exclusive else "pg_advisory_xact_lock_shared"
        if exclusive:
            _faults.point("postgres.before_commit")
        try:
            with db.pipeline():
                db.execute("BEGIN")
                db.execute(f"SELECT {lock}(%s)", (self._key(f"run\0{run_id}"),))
                cursor = db.execute(sql, params)
                db.execute("COMMIT")
            rows = cursor.fetchall()
        except self._psycopg.Error:
            self._rollback(db)
            raise
        if exclusive:
            _faults.point("postgres.after_commit")
        return rows

    def _db_broken(self) -> bool:
        return self._conn is None or self._conn.broken

    def _rollback(self, db: psycopg.Connection[Any]) -> None:
        if not db.broken and not db.closed:
            try:
                db.execute("ROLLBACK")
            except self._psycopg.Error:
                db.close()

    def _error(self, exc: Exception) -> StorageError:
        if isinstance(exc, self._psycopg.OperationalError) and (
            self._conn is None or self._conn.broken
        ):
            return StorageError(
                f"lost the connection to PostgreSQL storage {self.where}: {first_line(exc)}; "
                "nothing of the interrupted call was stored, try again"
            )
        return StorageError(f"PostgreSQL storage {self.where}: {first_line(exc)}")


def import_psycopg() -> Any:
    try:
        import psycopg
    except ImportError:
        raise StorageError(
            f"PostgreSQL storage needs psycopg, which is not installed: {INSTALL_HINT}"
        ) from None
    return psycopg


def first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0].strip() if lines else type(exc).__name__
