"""The record-store engine (private): the storage contract written once over primitives.

A backend that stores records subclasses :class:`RecordBackend` and implements the
primitives of :class:`~.primitives.RecordPrimitives` — nothing else.
"""

from framework.storage._engine.item_format import ItemRow, merge, picked, scanned, split_body
from framework.storage._engine.lru import LRUCache
from framework.storage._engine.primitives import RecordPrimitives
from framework.storage._engine.record_backend import CorruptCheckpointWarning, RecordBackend
from framework.storage._engine.record_format import (
    IndexEntry,
    RecordForm,
    decode_run,
    filter_runs,
)

__all__ = [
    "CorruptCheckpointWarning",
    "IndexEntry",
    "ItemRow",
    "LRUCache",
    "RecordBackend",
    "RecordForm",
    "RecordPrimitives",
    "decode_run",
    "filter_runs",
    "merge",
    "picked",
    "scanned",
    "split_body",
]
