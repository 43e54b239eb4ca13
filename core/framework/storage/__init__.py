"""Durable storage: the storage contract, its backends, and the URL that selects one.

``open_storage(url)`` returns a :class:`StorageBackend` for ``memory://``, ``file:///dir``
or ``sqlite:///file.db`` (default: ``AGENTGRAPH_STORAGE``, else
``sqlite:///~/.agentgraph/state.db``). The codec (:mod:`framework.storage.codec`) and id
validation (:mod:`framework.storage.ids`) live in their own modules. Importing this package
imports nothing beyond the standard library and the framework's required dependencies.
"""

from framework.storage.backend import CorruptCheckpoint, StorageBackend
from framework.storage.file_backend import FileStorage
from framework.storage.memory_backend import MemoryStorage
from framework.storage.record_backend import CorruptCheckpointWarning
from framework.storage.sqlite_backend import SQLiteStorage
from framework.storage.url import open_storage

__all__ = [
    "CorruptCheckpoint",
    "CorruptCheckpointWarning",
    "FileStorage",
    "MemoryStorage",
    "SQLiteStorage",
    "StorageBackend",
    "open_storage",
]
