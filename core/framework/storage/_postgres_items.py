"""The PostgreSQL backend's item ledgers: the ``items`` and ``item_counts`` tables.

:class:`PostgresItemRows` gives :class:`~framework.storage.PostgresStorage` the item
primitives of the record engine (:mod:`framework.storage._engine.item_rows` holds their
semantics). An item row keeps its claim fields (status, attempts, worker, start) in columns
and the rest of its typed fields as ``state``; the engine's row (all typed fields as one
JSON) is split on the way in and joined on the way out. A row written without its input or
result (a finish) keeps the stored ones.

A claim is native: one statement (:data:`CLAIM`) checks the fencing token, picks the due
pending items in seq order with ``FOR UPDATE SKIP LOCKED``, marks them running and adds
to the counts; with its ``BEGIN``, its lock and its ``COMMIT`` it is one round trip. Claims
of one run take the run's advisory lock *shared*, so they run side by side (each skips the
rows another is claiming, and the counts only ever grow or shrink by what was claimed),
while every other write of the run takes it exclusively (read-modify-writes of items and
counts, lease changes) and so never interleaves with a claim.
"""

from __future__ import annotations

import json
from abc import abstractmethod
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from pydantic import TypeAdapter

from framework.errors import InvalidArgumentError, StorageError
from framework.schemas.item import ItemCounts, ItemRecord, ItemStatus, ItemUsage
from framework.storage._engine import ItemRow, RecordPrimitives
from framework.storage._engine.item_format import decode_item, due_key
from framework.storage._engine.item_rows import claim_moment

if TYPE_CHECKING:
    import psycopg

__all__ = ["PostgresItemRows"]

_COLUMNS = "item_id, seq, status, due_key, attempts, worker, started_at, state"
_MOMENT: TypeAdapter[datetime] = TypeAdapter(datetime)

CLAIM = f"""
WITH fence AS (
    SELECT fencing_token FROM runs WHERE run_id = %(run)s
), picked AS (
    SELECT item_id FROM items
    WHERE run_id = %(run)s AND status = 'pending' AND (due_key IS NULL OR due_key <= %(due)s)
        AND (SELECT fencing_token FROM fence) = %(token)s
    ORDER BY seq LIMIT %(limit)s
    FOR UPDATE SKIP LOCKED
), claimed AS (
    UPDATE items SET status = 'running', attempts = items.attempts + 1,
        worker = %(worker)s, started_at = %(at)s
    FROM picked WHERE items.run_id = %(run)s AND items.item_id = picked.item_id
    RETURNING {", ".join(f"items.{column}" for column in _COLUMNS.split(", "))},
        items.input, items.result
), counted AS (
    UPDATE item_counts SET pending = pending - (SELECT count(*) FROM claimed),
        running = running + (SELECT count(*) FROM claimed)
    WHERE run_id = %(run)s AND EXISTS (SELECT FROM claimed)
)
SELECT (SELECT fencing_token FROM fence), claimed.*
FROM (SELECT) AS one LEFT JOIN claimed ON true
ORDER BY claimed.seq
"""
"""Claim the due pending items of a run, fenced (see module docs); the first column of
every row is the run's fencing token (``NULL``: no such run), the rest the claimed row
(``NULL`` when none was)."""


class PostgresItemRows(RecordPrimitives):
    """The item-ledger primitives over the backend's connection."""

    @property
    @abstractmethod
    def _db(self) -> psycopg.Connection[Any]:
        """The open connection (inside a transaction when a primitive runs)."""

    @abstractmethod
    def _in_one_trip(self, run_id: str, sql: str, params: dict[str, Any]) -> list[tuple[Any, ...]]:
        """The rows of ``sql`` run in a transaction of its own that holds the run's lock
        shared, sent with its ``BEGIN`` and ``COMMIT`` in one round trip."""

    def claim_items(
        self,
        run_id: str,
        *,
        limit: int,
        worker: str,
        fencing_token: int,
        now: datetime | None = None,
    ) -> list[ItemRecord]:
        """Claim up to ``limit`` due pending items (see ``StorageBackend.claim_items``), in
        one statement (:data:`CLAIM`)."""
        moment = claim_moment(run_id, limit, worker, now)
        if type(fencing_token) is not int:
            raise InvalidArgumentError(f"a fencing token is an int, not {fencing_token!r}")
        params = {
            "run": run_id,
            "due": due_key(moment),
            "token": fencing_token,
            "limit": limit,
            "worker": worker,
            "at": _MOMENT.dump_python(moment, mode="json"),
        }
        rows = self._in_one_trip(run_id, CLAIM, params)
        if rows[0][0] != fencing_token:
            with self._snapshot():
                self._check_fence(run_id, fencing_token, f"claiming items of run {run_id!r}")
            raise StorageError(f"the fencing token of run {run_id!r} changed during a claim")
        return [decode_item(_item_row(row[1:]), run_id) for row in rows if row[1] is not None]

    def _read_items(
        self, run_id: str, item_ids: Sequence[str], *, payloads: bool
    ) -> dict[str, ItemRow]:
        rows = self._db.execute(
            f"SELECT {_item_columns(payloads)} FROM items WHERE run_id = %s AND item_id = ANY(%s)",
            (run_id, list(item_ids)),
        ).fetchall()
        return {row[0]: _item_row(row) for row in rows}

    def _scan_items(
        self,
        run_id: str,
        status: ItemStatus | None,
        after_seq: int,
        limit: int | None,
        due_by: str | None,
        *,
        payloads: bool,
    ) -> list[ItemRow]:
        sql = f"SELECT {_item_columns(payloads)} FROM items WHERE run_id = %s AND seq > %s"
        params: list[Any] = [run_id, after_seq]
        if status is not None:
            sql += " AND status = %s"
            params.append(status.value)
        if due_by is not None:
            sql += " AND (due_key IS NULL OR due_key <= %s)"
            params.append(due_by)
        sql += " ORDER BY seq LIMIT %s"
        params.append(limit)
        return [_item_row(row) for row in self._db.execute(sql, params).fetchall()]

    def _store_items(self, run_id: str, rows: Sequence[ItemRow], counts: bytes) -> None:
        whole = [_columns(run_id, r) for r in rows if r.input is not None and r.result is not None]
        parts = [_columns(run_id, r) for r in rows if r.input is None or r.result is None]
        cursor = self._db.cursor()
        if whole:
            cursor.executemany(
                "INSERT INTO items (run_id, item_id, seq, status, due_key, attempts, worker, "
                "started_at, state, input, result) "
                "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) "
                "ON CONFLICT (run_id, item_id) DO UPDATE SET seq = excluded.seq, "
                "status = excluded.status, due_key = excluded.due_key, "
                "attempts = excluded.attempts, worker = excluded.worker, "
                "started_at = excluded.started_at, state = excluded.state, "
                "input = excluded.input, result = excluded.result",
                whole,
            )
        if parts:
            # A row without its input or result keeps the stored one.
            cursor.executemany(
                "UPDATE items SET seq = %s, status = %s, due_key = %s, attempts = %s, "
                "worker = %s, started_at = %s, state = %s, input = COALESCE(%s, input), "
                "result = COALESCE(%s, result) WHERE run_id = %s AND item_id = %s",
                [(*values[2:], values[0], values[1]) for values in parts],
            )
        tally = ItemCounts.model_validate_json(counts)
        cursor.execute(
            "INSERT INTO item_counts (run_id, pending, running, completed, failed, skipped, "
            "tokens_in, tokens_out, cost) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) "
            "ON CONFLICT (run_id) DO UPDATE SET pending = excluded.pending, "
            "running = excluded.running, completed = excluded.completed, "
            "failed = excluded.failed, skipped = excluded.skipped, "
            "tokens_in = excluded.tokens_in, tokens_out = excluded.tokens_out, "
            "cost = excluded.cost",
            (
                run_id,
                tally.pending,
                tally.running,
                tally.completed,
                tally.failed,
                tally.skipped,
                tally.usage.tokens_in,
                tally.usage.tokens_out,
                tally.usage.cost,
            ),
        )

    def _read_item_counts(self, run_id: str) -> bytes | None:
        row = self._db.execute(
            "SELECT pending, running, completed, failed, skipped, tokens_in, tokens_out, cost "
            "FROM item_counts WHERE run_id = %s",
            (run_id,),
        ).fetchone()
        if row is None:
            return None
        pending, running, completed, failed, skipped, tokens_in, tokens_out, cost = row
        tally = ItemCounts(
            pending=pending,
            running=running,
            completed=completed,
            failed=failed,
            skipped=skipped,
            usage=ItemUsage(tokens_in=tokens_in, tokens_out=tokens_out, cost=cost),
        )
        return tally.model_dump_json().encode()


def _item_columns(payloads: bool) -> str:
    return f"{_COLUMNS}, input, result" if payloads else f"{_COLUMNS}, NULL, NULL"


def _columns(run_id: str, row: ItemRow) -> tuple[Any, ...]:
    """The column values of ``row``: ``(run_id, item_id, seq, status, ..., input, result)``."""
    tree = json.loads(row.state)
    attempts, worker, started = tree.pop("attempts"), tree.pop("worker"), tree.pop("started_at")
    del tree["status"]
    state = json.dumps(tree, separators=(",", ":"), ensure_ascii=False).encode()
    return (
        run_id,
        row.item_id,
        row.seq,
        row.status.value,
        row.due,
        attempts,
        worker,
        started,
        state,
        row.input,
        row.result,
    )


def _item_row(row: tuple[Any, ...]) -> ItemRow:
    item_id, seq, status, due, attempts, worker, started, state, data, result = row
    claim = json.dumps(
        {"status": status, "attempts": attempts, "worker": worker, "started_at": started},
        separators=(",", ":"),
        ensure_ascii=False,
    )
    # The stored state is a JSON object without the claim fields: join them in.
    joined = bytes(state)[:-1] + b"," + claim[1:].encode()
    return ItemRow(
        item_id,
        seq,
        ItemStatus(status),
        due,
        joined,
        None if data is None else bytes(data),
        None if result is None else bytes(result),
    )
