"""How an item of a batch run's ledger is stored: the row every record backend keeps.

An :class:`ItemRow` holds three parts: the JSON of the item's typed fields (its
:class:`~framework.schemas.item.ItemRecord` but for its input and result), and its input
and result encoded by the codec so they come back exactly; beside them the few columns a
backend filters on: seq, status, and when the item is due (:func:`due_key`). Claiming and
finishing items read and write only the parts they change: a large input is read once,
when its item is claimed, and never written again.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any, NamedTuple

from pydantic import ValidationError

from framework.errors import CheckpointDecodeError, StorageError
from framework.schemas.item import ItemRecord, ItemStatus
from framework.storage import codec

__all__ = [
    "ItemRow",
    "decode_item",
    "decode_payloads",
    "decode_state",
    "due_key",
    "encode_item",
    "merge",
    "picked",
    "scanned",
    "split_body",
]


class ItemRow(NamedTuple):
    """An item as a backend stores it: the columns it filters on, its typed fields, and
    its input and result as the codec stores them."""

    item_id: str
    seq: int
    status: ItemStatus
    due: str | None
    """:func:`due_key` of the item's ``next_attempt_at``."""
    state: bytes
    """Every typed field of the item (all but input and result) as JSON."""
    input: bytes | None
    """Its input; ``None`` when read without payloads, or written unchanged."""
    result: bytes | None
    """Its result; ``None`` when read without payloads, or written unchanged."""

    def merged(self, stored: ItemRow | None) -> ItemRow:
        """This row as written over ``stored``: the payloads it leaves unchanged kept."""
        if stored is None or (self.input is not None and self.result is not None):
            return self
        return self._replace(
            input=stored.input if self.input is None else self.input,
            result=stored.result if self.result is None else self.result,
        )

    def without_payloads(self) -> ItemRow:
        """This row as read without its input and result."""
        return self._replace(input=None, result=None)


def due_key(moment: datetime) -> str:
    """A time as text that sorts in time order (UTC, microseconds)."""
    return f"{moment.astimezone(UTC):%Y-%m-%dT%H:%M:%S.%f}"


def encode_item(item: ItemRecord, *, input: bool, result: bool) -> ItemRow:
    """The stored row of an item, with its input and result only if asked for (a row
    without them leaves the stored ones); ``CheckpointEncodeError`` naming the item if a
    value cannot be stored."""
    where = f"item[{item.item_id!r}]"
    state = item.__pydantic_serializer__.to_json(item, exclude=_CODEC_FIELDS)
    data = _encoded(item.input, f"{where}.input") if input else None
    outcome = _encoded(item.result, f"{where}.result") if result else None
    due = None if item.next_attempt_at is None else due_key(item.next_attempt_at)
    return ItemRow(item.item_id, item.seq, item.status, due, state, data, outcome)


def decode_item(row: ItemRow, run_id: str) -> ItemRecord:
    """Revive an item row, its input and result too if it holds them (else they are
    ``None``); ``StorageError`` if it is unreadable."""
    stored = decode_state(row, run_id)
    if row.input is None and row.result is None:
        return stored
    return stored.model_copy(update=decode_payloads(row, run_id))


def decode_state(row: ItemRow, run_id: str) -> ItemRecord:
    """The item of ``row`` with its typed fields only (input and result ``None``);
    ``StorageError`` if they are unreadable."""
    try:
        return ItemRecord.model_validate_json(row.state)
    except (ValueError, ValidationError) as exc:
        raise _unreadable(run_id, exc) from None


def decode_payloads(row: ItemRow, run_id: str) -> dict[str, Any]:
    """The input and result ``row`` holds, revived, as fields to give its item;
    ``StorageError`` if they are unreadable."""
    where = f"item[{row.item_id!r}]"
    try:
        return {
            "input": _decoded(row.input, f"{where}.input"),
            "result": _decoded(row.result, f"{where}.result"),
        }
    except (ValueError, CheckpointDecodeError) as exc:
        raise _unreadable(run_id, exc) from None


def _unreadable(run_id: str, exc: Exception) -> StorageError:
    return StorageError(
        f"an item row of run {run_id!r} is unreadable ({exc}); restore it from a backup "
        "or delete the run"
    )


def split_body(body: bytes) -> tuple[bytes, bytes, bytes]:
    """The state, input and result of an item row stored as one JSON body (the form before
    rows had three parts)."""
    tree = json.loads(body)
    data, result = tree.pop("input"), tree.pop("result")
    return json.dumps(tree).encode(), codec.canonical_bytes(data), codec.canonical_bytes(result)


def _encoded(value: Any, where: str) -> bytes:
    return codec.canonical_bytes(codec.encode(value, where))


def _decoded(stored: bytes | None, where: str) -> Any:
    return None if stored is None else codec.decode(json.loads(stored), where)


_CODEC_FIELDS = {"input", "result"}


def scanned(
    rows: Iterable[ItemRow],
    status: ItemStatus | None,
    after_seq: int,
    limit: int | None,
    due_by: str | None,
    payloads: bool,
) -> list[ItemRow]:
    """``_scan_items`` over ``rows`` in seq order, for a backend that filters in Python."""
    found: list[ItemRow] = []
    for row in rows:
        if limit is not None and len(found) >= limit:
            break
        if row.seq <= after_seq or (status is not None and row.status is not status):
            continue
        if due_by is not None and row.due is not None and row.due > due_by:
            continue
        found.append(row if payloads else row.without_payloads())
    return found


def picked(rows: dict[str, ItemRow], item_ids: Sequence[str], payloads: bool) -> dict[str, ItemRow]:
    """``_read_items`` over ``rows`` by id, for a backend that keeps them in a dict."""
    found = {item_id: rows[item_id] for item_id in item_ids if item_id in rows}
    if payloads:
        return found
    return {item_id: row.without_payloads() for item_id, row in found.items()}


def merge(stored: dict[str, ItemRow], rows: Iterable[ItemRow]) -> None:
    """``_store_items`` into ``stored`` by id, for a backend that keeps rows in a dict."""
    for row in rows:
        stored[row.item_id] = row.merged(stored.get(row.item_id))
