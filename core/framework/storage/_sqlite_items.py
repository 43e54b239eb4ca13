"""The SQLite backend's item ledgers: the ``items`` and ``item_counts`` tables.

:class:`SQLiteItemRows` gives :class:`~framework.storage.SQLiteStorage` the item
primitives of the record engine (:mod:`framework.storage._engine.item_rows` holds their
semantics). An item row's state, input and result are columns of their own: a row written
without its input or result (a claim, a finish) updates the others and keeps those.
"""

from __future__ import annotations

import sqlite3
from abc import abstractmethod
from collections.abc import Sequence
from typing import Any

from framework.schemas.item import ItemStatus
from framework.storage._engine import ItemRow

__all__ = ["SQLiteItemRows"]

# Ids per query when reading items by id (far below SQLite's limit on parameters).
_IDS_PER_QUERY = 500


class SQLiteItemRows:
    """The item-ledger primitives over the backend's connection."""

    @property
    @abstractmethod
    def _db(self) -> sqlite3.Connection:
        """The open connection."""

    def _read_items(
        self, run_id: str, item_ids: Sequence[str], *, payloads: bool
    ) -> dict[str, ItemRow]:
        found: dict[str, ItemRow] = {}
        columns = _item_columns(payloads)
        for start in range(0, len(item_ids), _IDS_PER_QUERY):
            chunk = list(item_ids[start : start + _IDS_PER_QUERY])
            marks = ", ".join("?" * len(chunk))
            rows = self._db.execute(
                f"SELECT {columns} FROM items WHERE run_id = ? AND item_id IN ({marks})",
                (run_id, *chunk),
            ).fetchall()
            found.update((row[0], _item_row(row)) for row in rows)
        return found

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
        sql = f"SELECT {_item_columns(payloads)} FROM items WHERE run_id = ? AND seq > ?"
        params: list[Any] = [run_id, after_seq]
        if status is not None:
            sql += " AND status = ?"
            params.append(status.value)
        if due_by is not None:
            sql += " AND (due_key IS NULL OR due_key <= ?)"
            params.append(due_by)
        sql += " ORDER BY seq"
        if limit is not None:
            sql += " LIMIT ?"
            params.append(limit)
        return [_item_row(row) for row in self._db.execute(sql, params).fetchall()]

    def _store_items(self, run_id: str, rows: Sequence[ItemRow], counts: bytes) -> None:
        whole = [r for r in rows if r.input is not None and r.result is not None]
        parts = [r for r in rows if r.input is None or r.result is None]
        if whole:
            self._insert_items(run_id, whole)
        if parts:
            self._update_items(run_id, parts)
        self._db.execute(
            "INSERT INTO item_counts (run_id, body) VALUES (?, ?) "
            "ON CONFLICT (run_id) DO UPDATE SET body = excluded.body",
            (run_id, counts),
        )

    def _insert_items(self, run_id: str, rows: Sequence[ItemRow]) -> None:
        self._db.executemany(
            "INSERT INTO items (run_id, item_id, seq, status, due_key, state, input, result) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (run_id, item_id) DO UPDATE SET "
            "seq = excluded.seq, status = excluded.status, due_key = excluded.due_key, "
            "state = excluded.state, input = excluded.input, result = excluded.result",
            [
                (run_id, r.item_id, r.seq, r.status.value, r.due, r.state, r.input, r.result)
                for r in rows
            ],
        )

    def _update_items(self, run_id: str, rows: Sequence[ItemRow]) -> None:
        # A row without its input or result keeps the stored one.
        self._db.executemany(
            "UPDATE items SET seq = ?, status = ?, due_key = ?, state = ?, "
            "input = COALESCE(?, input), result = COALESCE(?, result) "
            "WHERE run_id = ? AND item_id = ?",
            [
                (r.seq, r.status.value, r.due, r.state, r.input, r.result, run_id, r.item_id)
                for r in rows
            ],
        )

    def _read_item_counts(self, run_id: str) -> bytes | None:
        row = self._db.execute(
            "SELECT body FROM item_counts WHERE run_id = ?", (run_id,)
        ).fetchone()
        return None if row is None else bytes(row[0])


def _item_columns(payloads: bool) -> str:
    columns = "item_id, seq, status, due_key, state"
    return f"{columns}, input, result" if payloads else f"{columns}, NULL, NULL"


def _item_row(row: tuple[Any, ...]) -> ItemRow:
    item_id, seq, status, due, state, data, result = row
    return ItemRow(
        item_id,
        seq,
        ItemStatus(status),
        due,
        bytes(state),
        None if data is None else bytes(data),
        None if result is None else bytes(result),
    )
