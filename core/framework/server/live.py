"""A run's live updates as server-sent events, read from storage every ``interval`` seconds.

Storage is the only source, so the stream follows a run whatever process or machine runs
it. Events, each ``data`` one JSON document:

- ``status``: the run's status document (the shape of ``agentgraph status --json``), first
  at once, then whenever it changed (progress, counts, rate, ETA, tokens, cost);
- ``status-change``: ``{"run_id", "from", "to"}`` when the run's status changed;
- ``item-failed``: an item that failed since the stream began (the shape of ``items --json``);
- ``end``: the run stands still (completed, failed, cancelled or paused); the stream ends.
  A client opens a new stream after it steered the run again.

A comment line is sent when nothing changed for ``_KEEP_ALIVE_SECONDS``, so that proxies keep
the connection open.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import anyio

from framework.cli.reading import Reader, Standing
from framework.cli.shapes import item_row, run_status
from framework.schemas.item import ItemRecord, ItemStatus

__all__ = ["run_events"]

_KEEP_ALIVE_SECONDS = 15.0
_FAILED_LISTED = 1000


def _event(name: str, document: dict[str, Any]) -> str:
    return f"event: {name}\ndata: {json.dumps(document, ensure_ascii=False)}\n\n"


async def run_events(reader: Reader, first: Standing, interval: float) -> AsyncIterator[str]:
    """The events of ``first``'s run from now on (see the module docs)."""
    run_id = first.run_id
    standing = first
    seen_failed = await _failed_ids(reader, standing)
    shown = run_status(standing)
    yield "retry: 2000\n\n" + _event("status", shown)
    quiet = 0.0
    while not standing.ended:
        await anyio.sleep(interval)
        quiet += interval
        before = standing.status
        standing = await reader.standing(run_id)
        for failed in await _new_failures(reader, standing, seen_failed):
            yield _event("item-failed", item_row(failed))
            quiet = 0.0
        if standing.status is not before:
            change = {"run_id": run_id, "from": before.value, "to": standing.status.value}
            yield _event("status-change", change)
        document = run_status(standing)
        if document != shown:
            shown = document
            yield _event("status", document)
            quiet = 0.0
        elif quiet >= _KEEP_ALIVE_SECONDS:
            yield ": still here\n\n"
            quiet = 0.0
    yield _event("end", {"run_id": run_id, "status": standing.status.value})


async def _failed_ids(reader: Reader, standing: Standing) -> set[str]:
    if standing.batch is None or not standing.batch.counts.failed:
        return set()
    listed = await reader.storage.alist_items(
        standing.run_id, status=ItemStatus.FAILED, limit=_FAILED_LISTED
    )
    return {item.item_id for item in listed}


async def _new_failures(reader: Reader, standing: Standing, seen: set[str]) -> list[ItemRecord]:
    """The failed items not in ``seen`` (added to it), when the count says there are any."""
    if standing.batch is None or standing.batch.counts.failed <= len(seen):
        return []
    listed = await reader.storage.alist_items(
        standing.run_id, status=ItemStatus.FAILED, limit=_FAILED_LISTED
    )
    new = [item for item in listed if item.item_id not in seen]
    seen.update(item.item_id for item in new)
    return new
