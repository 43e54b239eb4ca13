"""Durable batches: many items through one function, each saved the moment it is done.

:class:`BatchRunner` runs ``fn(item, ctx)`` over a stream of items as one durable run: an
item ledger in storage records each item's status, attempts, errors, result and usage, so
a restart skips finished work, failures are retried with backoff without stopping the
batch, and pause / stop requests are honoured between items. Builds on
:mod:`framework.durable` and the storage contract's item group; knows nothing of graphs.
"""

from framework.batch._ids import child_run_id
from framework.batch._processing import ItemFunction
from framework.batch.batch_run import BatchRunner
from framework.batch.context import ItemContext
from framework.batch.events import BatchEvent
from framework.batch.policy import BatchConfig
from framework.batch.progress import BatchProgress, BatchResult, BatchStatus, FailedItem

__all__ = [
    "BatchConfig",
    "BatchEvent",
    "BatchProgress",
    "BatchResult",
    "BatchRunner",
    "BatchStatus",
    "FailedItem",
    "ItemContext",
    "ItemFunction",
    "child_run_id",
]
