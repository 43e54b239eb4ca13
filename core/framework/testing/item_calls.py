"""What the item-ledger conformance tests share: the run, sample values and short forms
of the ledger's calls (``framework.testing.spec.test_items_*``)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from framework.schemas.item import (
    ItemCounts,
    ItemError,
    ItemOutcome,
    ItemRecord,
    ItemStatus,
    ItemUsage,
    NewItem,
)
from framework.storage.backend import StorageBackend
from framework.testing.values import Author

__all__ = [
    "BAD_PDF",
    "RESULT",
    "RUN",
    "TIMEOUT",
    "assert_counts_match_items",
    "claim",
    "done",
    "ended",
    "failed",
    "get",
    "new",
    "retry",
    "skipped",
    "statuses",
]

RUN = "run-1"

RESULT = {
    "total": Decimal("19.9900"),
    "at": datetime(2025, 3, 1, 12, 30, tzinfo=UTC),
    "by": Author(name="Ada", joined=datetime(2024, 1, 1, tzinfo=UTC)),
    "pages": (1, "two"),
}

TIMEOUT = ItemError(type="TimeoutError", message="read timed out", traceback="  line 1\n")
BAD_PDF = ItemError(type="ValueError", message="bad pdf header")


def new(item_id: str, value: Any = None, content_hash: str | None = None) -> NewItem:
    """An item as a batch submits it: its input names it unless given."""
    return NewItem(
        item_id=item_id,
        input={"doc": item_id} if value is None else value,
        content_hash=f"h-{item_id}" if content_hash is None else content_hash,
    )


def done(item_id: str, result: Any = None, usage: ItemUsage | None = None) -> ItemOutcome:
    return ItemOutcome(
        item_id=item_id, status=ItemStatus.COMPLETED, result=result, usage=usage or ItemUsage()
    )


def failed(item_id: str, error: ItemError = BAD_PDF, usage: ItemUsage | None = None) -> ItemOutcome:
    return ItemOutcome(
        item_id=item_id, status=ItemStatus.FAILED, error=error, usage=usage or ItemUsage()
    )


def retry(
    item_id: str,
    at: datetime | None = None,
    error: ItemError = TIMEOUT,
    usage: ItemUsage | None = None,
) -> ItemOutcome:
    return ItemOutcome(
        item_id=item_id,
        status=ItemStatus.PENDING,
        error=error,
        retry_at=at,
        usage=usage or ItemUsage(),
    )


def skipped(item_id: str) -> ItemOutcome:
    return ItemOutcome(item_id=item_id, status=ItemStatus.SKIPPED)


async def claim(
    storage: StorageBackend,
    token: int,
    limit: int = 100,
    worker: str = "w1",
    now: datetime | None = None,
) -> list[ItemRecord]:
    return await storage.aclaim_items(RUN, limit=limit, worker=worker, fencing_token=token, now=now)


async def ended(storage: StorageBackend, token: int, *outcomes: ItemOutcome) -> ItemCounts:
    """Claim the first due items, one per outcome (they must be those), and record them."""
    claimed = await claim(storage, token, limit=len(outcomes))
    assert sorted(i.item_id for i in claimed) == sorted(o.item_id for o in outcomes)
    return await storage.afinish_items(RUN, outcomes, fencing_token=token)


async def get(storage: StorageBackend, item_id: str) -> ItemRecord:
    item = await storage.aget_item(RUN, item_id)
    assert item is not None, item_id
    return item


async def statuses(storage: StorageBackend) -> dict[str, ItemStatus]:
    return {i.item_id: i.status for i in await storage.alist_items(RUN)}


async def assert_counts_match_items(storage: StorageBackend, total: int) -> ItemCounts:
    """The kept counts agree with the items, and add up to ``total``."""
    counts = await storage.aitem_counts(RUN)
    items = await storage.alist_items(RUN)
    assert counts.total == len(items) == total
    for status in ItemStatus:
        listed = await storage.alist_items(RUN, status=status)
        assert getattr(counts, status.value) == len(listed), status
        assert getattr(counts, status.value) == sum(i.status is status for i in items), status
    return counts
