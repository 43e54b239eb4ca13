"""Durable storage: the storage contract, its backends, and the URL that selects one.

``open_storage(url)`` returns a :class:`StorageBackend` for ``memory://``, ``file:///dir``,
``sqlite:///file.db`` or ``postgresql://user:password@host/db`` (default:
``AGENTGRAPH_STORAGE``, else ``state.db`` in ``AGENTGRAPH_HOME``). The contract is
:mod:`framework.storage.backend`, the codec :mod:`framework.storage.codec`, the sync/async
twins :mod:`framework.storage.twins`. Importing this package imports nothing beyond the
standard library and the framework's required dependencies: psycopg (the ``postgres``
extra) is imported when a :class:`PostgresStorage` opens.
"""

from framework.storage import backend as _contract
from framework.storage._engine import CorruptCheckpointWarning
from framework.storage.backend import CorruptCheckpoint, StorageBackend
from framework.storage.file import FileStorage, IndexRebuiltWarning
from framework.storage.memory import MemoryStorage
from framework.storage.postgres import PostgresStorage
from framework.storage.sqlite import SQLiteStorage
from framework.storage.url import open_storage

# The seed's ``from framework.storage.backend import FileStorage``: the contract module cannot
# import the backend that builds on it, so its package (imported first) puts it there.
_contract.FileStorage = FileStorage  # type: ignore[attr-defined]

__all__ = [
    "CorruptCheckpoint",
    "CorruptCheckpointWarning",
    "FileStorage",
    "IndexRebuiltWarning",
    "MemoryStorage",
    "PostgresStorage",
    "SQLiteStorage",
    "StorageBackend",
    "open_storage",
]
