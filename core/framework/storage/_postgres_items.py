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

A finish of items this instance claimed is one round trip too: the claimed rows are
remembered as stored, the finished rows are made from them by the engine's own rules, and
one statement (:data:`FINISH`) checks the fencing token and that every row is still stored
as claimed, writes them from arrays and adds the change to the counts. If a check fails it
writes nothing, and the engine's general finish (which reads the rows) decides what
happens: it reports a stale token, an item that is not running, or finishes items another
instance claimed.
"""

from __future__ import annotations

import json
from abc import abstractmethod
from collections import Counter
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from pydantic import TypeAdapter

from framework.errors import AgentGraphError, InvalidArgumentError, StorageError
from framework.schemas.clock import utc_now
from framework.schemas.item import ItemCounts, ItemOutcome, ItemRecord, ItemStatus, ItemUsage
from framework.storage._engine import ItemRow, LRUCache, RecordPrimitives, item_rows
from framework.storage._engine.item_format import decode_item, due_key, encode_item
from framework.storage._engine.item_rows import claim_moment, finished_item

if TYPE_CHECKING:
    import psycopg

__all__ = ["PostgresItemRows"]

_COLUMNS = "item_id, seq, status, due_key, attempts, worker, started_at, state"
_MOMENT: TypeAdapter[datetime] = TypeAdapter(datetime)
_COUNTS = "pending, running, completed, failed, skipped, tokens_in, tokens_out, cost"
# Claimed rows remembered for their finish: a few claims of every worker thread in flight.
_CLAIMED_ROWS = 8_192

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


FINISH = f"""
WITH given AS (
    SELECT * FROM unnest(%(ids)s::text[], %(seqs)s::bigint[], %(dues_were)s::text[],
        %(attempts)s::integer[], %(workers)s::text[], %(starts)s::text[],
        %(states_were)s::bytea[], %(status)s::text[], %(due)s::text[], %(state)s::bytea[],
        %(result)s::bytea[])
        AS given(item_id, seq, due_was, attempts, worker, started_at, state_was, status,
            due_key, state, result)
), stored AS (
    SELECT {_COLUMNS} FROM items WHERE run_id = %(run)s AND item_id = ANY(%(ids)s::text[])
), ok AS (
    SELECT FROM (SELECT) AS one
    WHERE (SELECT fencing_token FROM runs WHERE run_id = %(run)s) = %(token)s
        AND EXISTS (SELECT FROM item_counts WHERE run_id = %(run)s)
        AND (SELECT count(*) FROM stored JOIN given USING (item_id)
            WHERE stored.status = 'running' AND stored.seq = given.seq
                AND stored.due_key IS NOT DISTINCT FROM given.due_was
                AND stored.attempts = given.attempts
                AND stored.worker IS NOT DISTINCT FROM given.worker
                AND stored.started_at IS NOT DISTINCT FROM given.started_at
                AND stored.state = given.state_was) = %(n)s
), finished AS (
    UPDATE items SET status = given.status, due_key = given.due_key, state = given.state,
        result = COALESCE(given.result, items.result)
    FROM given
    WHERE items.run_id = %(run)s AND items.item_id = ANY(%(ids)s::text[])
        AND items.item_id = given.item_id AND EXISTS (SELECT FROM ok)
), counted AS (
    UPDATE item_counts SET pending = pending + %(pending)s, running = running + %(running)s,
        completed = completed + %(completed)s, failed = failed + %(failed)s,
        skipped = skipped + %(skipped)s, tokens_in = tokens_in + %(tokens_in)s,
        tokens_out = tokens_out + %(tokens_out)s, cost = cost + %(cost)s
    WHERE run_id = %(run)s AND EXISTS (SELECT FROM ok)
    RETURNING {_COUNTS}
)
SELECT EXISTS (SELECT FROM ok),
    (SELECT count(*) FROM stored JOIN given USING (item_id)
        WHERE stored.status = given.status AND stored.state = given.state) = %(n)s,
    tally.*
FROM (SELECT) AS one LEFT JOIN (
    SELECT {_COUNTS} FROM counted
    UNION ALL
    SELECT {_COUNTS} FROM item_counts WHERE run_id = %(run)s AND NOT EXISTS (SELECT FROM ok)
) AS tally ON true
"""
"""Finish items from arrays if the run's fencing token is ``token`` and every row is stored
as it was claimed (see module docs); returns whether it wrote, whether exactly these rows
are stored already (a repeat after a lost connection), and the counts after."""


class PostgresItemRows(RecordPrimitives):
    """The item-ledger primitives over the backend's connection."""

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self._claimed: LRUCache[tuple[str, str], tuple[Any, ...]] = LRUCache(_CLAIMED_ROWS)

    @property
    @abstractmethod
    def _db(self) -> psycopg.Connection[Any]:
        """The open connection (inside a transaction when a primitive runs)."""

    @abstractmethod
    def _in_one_trip(
        self, run_id: str, sql: str, params: dict[str, Any], *, repeatable: bool = False
    ) -> list[tuple[Any, ...]]:
        """The rows of ``sql`` run in a transaction of its own that holds the run's lock
        (shared unless ``repeatable``: a write safe to send again after a lost
        connection), sent with its ``BEGIN`` and ``COMMIT`` in one round trip."""

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
        claimed = []
        for row in rows:
            if row[1] is not None:
                columns = row[1:]
                claimed.append(decode_item(_item_row(columns), run_id))
                self._claimed.put((run_id, columns[0]), columns[:-2])
        return claimed

    def finish_items(
        self, run_id: str, outcomes: Sequence[ItemOutcome], *, fencing_token: int
    ) -> ItemCounts:
        """Record the outcomes of claimed items (see ``StorageBackend.finish_items``), in one
        statement (:data:`FINISH`) when this instance claimed them all."""
        done = self._finish_in_one_trip(run_id, outcomes, fencing_token)
        if done is not None:
            return done
        return item_rows.finish(self, run_id, outcomes, fencing_token)

    def _finish_in_one_trip(
        self, run_id: str, outcomes: Sequence[ItemOutcome], token: int
    ) -> ItemCounts | None:
        """The counts after :data:`FINISH`, or ``None`` if it wrote nothing."""
        keys = [(run_id, outcome.item_id) for outcome in outcomes]
        claimed = [self._claimed.get(key) for key in keys]
        if type(token) is not int or not keys or len(set(keys)) < len(keys):
            return None
        try:
            params = _finish_params(run_id, outcomes, claimed, token)
        except AgentGraphError:
            return None  # the general path reports it, after checking the fencing token
        if params is None:
            return None
        [(wrote, landed, *tally)] = self._in_one_trip(run_id, FINISH, params, repeatable=True)
        if not (wrote or landed):
            return None
        for key in keys:
            self._claimed.pop(key)
        return _tally(tally)

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
            f"SELECT {_COUNTS} FROM item_counts WHERE run_id = %s", (run_id,)
        ).fetchone()
        return None if row is None else _tally(row).model_dump_json().encode()


def _tally(row: Sequence[Any]) -> ItemCounts:
    pending, running, completed, failed, skipped, tokens_in, tokens_out, cost = row
    return ItemCounts(
        pending=pending,
        running=running,
        completed=completed,
        failed=failed,
        skipped=skipped,
        usage=ItemUsage(tokens_in=tokens_in, tokens_out=tokens_out, cost=cost),
    )


def _finish_params(
    run_id: str,
    outcomes: Sequence[ItemOutcome],
    claimed: Sequence[tuple[Any, ...] | None],
    token: int,
) -> dict[str, Any] | None:
    """:data:`FINISH`'s parameters for ``outcomes`` of the ``claimed`` rows (as stored by
    the claim); ``None`` if one was not claimed here."""
    now = utc_now()
    rows = []
    for outcome, columns in zip(outcomes, claimed, strict=True):
        if columns is None:
            return None
        item = decode_item(_item_row((*columns, None, None)), run_id)
        finished = encode_item(finished_item(item, outcome, now), input=False, result=True)
        rows.append(_columns(run_id, finished))
    stored = [columns for columns in claimed if columns is not None]
    moved = Counter(outcome.status.value for outcome in outcomes)
    moved[ItemStatus.RUNNING.value] -= len(outcomes)
    usage = sum((outcome.usage for outcome in outcomes), ItemUsage())
    return {
        "run": run_id,
        "token": token,
        "n": len(rows),
        "ids": [row[1] for row in rows],
        "seqs": [columns[1] for columns in stored],
        "dues_were": [columns[3] for columns in stored],
        "attempts": [columns[4] for columns in stored],
        "workers": [columns[5] for columns in stored],
        "starts": [columns[6] for columns in stored],
        "states_were": [columns[7] for columns in stored],
        "status": [row[3] for row in rows],
        "due": [row[4] for row in rows],
        "state": [row[8] for row in rows],
        "result": [row[10] for row in rows],
        **{status.value: moved[status.value] for status in ItemStatus},
        "tokens_in": usage.tokens_in,
        "tokens_out": usage.tokens_out,
        "cost": usage.cost,
    }


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
