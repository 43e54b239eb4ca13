"""What a batch reports as it runs: its events, to ``on_event`` and to event streams."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from framework.schemas.item import ItemCounts, ItemError

__all__ = ["BatchEvent", "deliver"]


@dataclass(frozen=True)
class BatchEvent:
    """Something that happened in a batch, sent to ``on_event`` once it is stored."""

    kind: str
    """``completed``, ``failed``, ``retrying``, ``skipped`` (an item), or ``progress``."""
    run_id: str
    counts: ItemCounts
    """The ledger's counts right after it."""
    item_id: str | None = None
    attempt: int | None = None
    error: ItemError | None = None


async def deliver(callback: Callable[[BatchEvent], Any], event: BatchEvent) -> None:
    """Give ``event`` to ``callback``, awaiting what it returns if that is awaitable."""
    value = callback(event)
    if isinstance(value, Awaitable):
        await value
