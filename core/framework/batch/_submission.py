"""Reading a batch's submission into its ledger: in chunks, refusing repeated and changed ids."""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterable
from typing import Any

import anyio.lowlevel

from framework.batch._ids import new_item
from framework.batch.policy import BatchConfig
from framework.durable import ItemLedger
from framework.errors import BatchSubmissionError
from framework.schemas.item import NewItem

__all__ = ["Submission"]


def _nothing() -> None:
    pass


class Submission:
    """Reads a submission in chunks into the ledger, refusing repeated and changed ids."""

    def __init__(
        self, ledger: ItemLedger, config: BatchConfig, on_added: Callable[[], None] = _nothing
    ) -> None:
        self.ledger = ledger
        self.config = config
        self.on_added = on_added
        self.seen: set[str] = set()
        self.repeated: list[str] = []
        self.changed: list[str] = []

    async def add(self, items: Iterable[Any] | AsyncIterable[Any]) -> None:
        chunk: list[NewItem] = []
        position = 0
        async for value in _stream(items):
            item = new_item(value, self.config.id_key, position)
            position += 1
            if item.item_id in self.seen:
                self.repeated.append(item.item_id)
                continue
            self.seen.add(item.item_id)
            chunk.append(item)
            if len(chunk) >= self.config.add_chunk:
                await self._flush(chunk)
                chunk = []
        await self._flush(chunk)
        self._refuse()

    async def _flush(self, chunk: list[NewItem]) -> None:
        if chunk:
            added = await self.ledger.add(chunk, replace_changed=self.config.replace_changed)
            if not self.config.replace_changed:
                self.changed += added.changed
            if added.added or (added.changed and self.config.replace_changed):
                self.on_added()
        # Let the items run between chunks: a storage that writes on the event loop and a
        # plain iterable would otherwise keep the loop until the whole submission is read.
        await anyio.lowlevel.checkpoint()

    def _refuse(self) -> None:
        if self.repeated and not self.config.drop_duplicates:
            raise BatchSubmissionError(
                f"the submission gives {len(self.repeated)} item id(s) more than once: "
                f"{_shown(self.repeated)}; make the ids unique or pass drop_duplicates=True",
                self.repeated,
            )
        if self.changed:
            raise BatchSubmissionError(
                f"{len(self.changed)} item(s) changed since the batch added them: "
                f"{_shown(self.changed)}; submit them unchanged, or pass replace_changed=True "
                "to run them again with the new content",
                self.changed,
            )


async def _stream(items: Iterable[Any] | AsyncIterable[Any]) -> AsyncIterator[Any]:
    if isinstance(items, AsyncIterable):
        async for value in items:
            yield value
    else:
        for value in items:
            yield value


def _shown(ids: list[str]) -> str:
    return ", ".join(repr(item_id) for item_id in ids[:5]) + (" ..." if len(ids) > 5 else "")
