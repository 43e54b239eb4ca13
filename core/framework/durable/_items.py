"""A durable run's item ledger (a batch's items), every write fenced with the run's token.

The storage contract's item group (``aadd_items``, ``aclaim_items``, ...) takes the fencing
token at every write; :class:`ItemLedger` carries it for the run that holds the lease. A
write refused because another process took the run over tells the run (which stops, as
after a fenced checkpoint) and re-raises the :class:`~framework.errors.FencedOutError`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import TypeVar

from framework.errors import FencedOutError
from framework.schemas.item import (
    ItemCounts,
    ItemOutcome,
    ItemRecord,
    ItemsAdded,
    ItemStatus,
    NewItem,
)
from framework.storage.backend import StorageBackend

T = TypeVar("T")


class ItemLedger:
    """The item ledger of run ``run_id``, written with ``fencing_token``."""

    def __init__(
        self,
        storage: StorageBackend,
        run_id: str,
        fencing_token: int,
        on_fenced: Callable[[FencedOutError], None],
    ) -> None:
        self.storage = storage
        self.run_id = run_id
        self.fencing_token = fencing_token
        self._on_fenced = on_fenced

    async def add(self, items: Sequence[NewItem], *, replace_changed: bool = False) -> ItemsAdded:
        """Add a submission's items (see ``StorageBackend.aadd_items``)."""
        return await self._fenced(
            self.storage.aadd_items(
                self.run_id,
                items,
                fencing_token=self.fencing_token,
                replace_changed=replace_changed,
            )
        )

    async def claim(self, limit: int, worker: str, now: datetime | None = None) -> list[ItemRecord]:
        """Claim due pending items (see ``StorageBackend.aclaim_items``)."""
        return await self._fenced(
            self.storage.aclaim_items(
                self.run_id, limit=limit, worker=worker, fencing_token=self.fencing_token, now=now
            )
        )

    async def finish(self, outcomes: Sequence[ItemOutcome]) -> ItemCounts:
        """Record attempts' outcomes in one step (see ``StorageBackend.afinish_items``)."""
        return await self._fenced(
            self.storage.afinish_items(self.run_id, outcomes, fencing_token=self.fencing_token)
        )

    async def requeue(
        self,
        status: ItemStatus,
        *,
        item_ids: Sequence[str] | None = None,
        error_type: str | None = None,
    ) -> int:
        """Put running or failed items back (see ``StorageBackend.arequeue_items``)."""
        return await self._fenced(
            self.storage.arequeue_items(
                self.run_id,
                status=status,
                fencing_token=self.fencing_token,
                item_ids=item_ids,
                error_type=error_type,
            )
        )

    async def counts(self) -> ItemCounts:
        """The ledger's counts per status."""
        return await self.storage.aitem_counts(self.run_id)

    async def pending(self, limit: int) -> list[ItemRecord]:
        """The first ``limit`` pending items by seq, due or not."""
        return await self.storage.alist_items(self.run_id, status=ItemStatus.PENDING, limit=limit)

    async def _fenced(self, write: Awaitable[T]) -> T:
        try:
            return await write
        except FencedOutError as error:
            self._on_fenced(error)
            raise
