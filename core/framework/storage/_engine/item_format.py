"""How an item of a batch run's ledger is stored: the row every record backend keeps.

An :class:`ItemRow` is the plain JSON of the item's
:class:`~framework.schemas.item.ItemRecord`, its input and result encoded by the codec so
they come back exactly, beside the few columns a backend filters on: seq, status, and when
the item is due (:func:`due_key`).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import NamedTuple

from pydantic import ValidationError

from framework.errors import CheckpointDecodeError, StorageError
from framework.schemas.item import ItemRecord, ItemStatus
from framework.storage import codec

__all__ = ["ItemRow", "decode_item", "due_key", "encode_item", "scanned"]


class ItemRow(NamedTuple):
    """An item as a backend stores it: the columns it filters on, and the row's bytes."""

    item_id: str
    seq: int
    status: ItemStatus
    due: str | None
    """:func:`due_key` of the item's ``next_attempt_at``."""
    body: bytes


def due_key(moment: datetime) -> str:
    """A time as text that sorts in time order (UTC, microseconds)."""
    return f"{moment.astimezone(UTC):%Y-%m-%dT%H:%M:%S.%f}"


def encode_item(item: ItemRecord) -> ItemRow:
    """The stored row of an item; ``CheckpointEncodeError`` naming it if a value cannot be.

    Its typed fields are written by pydantic; its input and result (any value) by the
    codec, spliced in as the last two keys.
    """
    where = f"item[{item.item_id!r}]"
    data = codec.canonical_bytes(codec.encode(item.input, f"{where}.input"))
    result = codec.canonical_bytes(codec.encode(item.result, f"{where}.result"))
    typed = item.__pydantic_serializer__.to_json(item, exclude=_CODEC_FIELDS)
    body = b'%s,"input":%s,"result":%s}' % (typed[:-1], data, result)
    due = None if item.next_attempt_at is None else due_key(item.next_attempt_at)
    return ItemRow(item.item_id, item.seq, item.status, due, body)


def decode_item(body: bytes, run_id: str, *, revive: bool = True) -> ItemRecord:
    """Revive an item row; ``StorageError`` if it is unreadable.

    ``revive=False`` leaves its input and result as their stored trees, for a caller that
    reads only the typed fields (and never stores the record back as it is).
    """
    try:
        stored = ItemRecord.model_validate_json(body)
        if not revive:
            return stored
        where = f"item[{stored.item_id!r}]"
        revived = {
            "input": codec.decode(stored.input, f"{where}.input"),
            "result": codec.decode(stored.result, f"{where}.result"),
        }
        return stored.model_copy(update=revived)
    except (ValueError, ValidationError, CheckpointDecodeError) as exc:
        raise StorageError(
            f"an item row of run {run_id!r} is unreadable ({exc}); restore it from a backup "
            "or delete the run"
        ) from None


_CODEC_FIELDS = {"input", "result"}


def scanned(
    rows: Iterable[ItemRow],
    status: ItemStatus | None,
    after_seq: int,
    limit: int | None,
    due_by: str | None,
) -> list[bytes]:
    """``_scan_items`` over ``rows`` in seq order, for a backend that filters in Python."""
    found: list[bytes] = []
    for row in rows:
        if limit is not None and len(found) >= limit:
            break
        if row.seq <= after_seq or (status is not None and row.status is not status):
            continue
        if due_by is not None and row.due is not None and row.due > due_by:
            continue
        found.append(row.body)
    return found
