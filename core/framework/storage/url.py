"""Storage URLs: one string selects a backend everywhere (API, CLI, environment).

=========================  ================================================================
URL                        backend
=========================  ================================================================
``memory://``              :class:`MemoryStorage` (nothing survives the process)
``file:///abs/dir``        :class:`FileStorage` in ``/abs/dir``
``file://rel/dir``         :class:`FileStorage` in ``rel/dir``, relative to the working dir
``sqlite:///abs/x.db``     :class:`SQLiteStorage` in ``/abs/x.db``
``sqlite://rel/x.db``      :class:`SQLiteStorage` in ``rel/x.db``
=========================  ================================================================

The path is everything after ``scheme://``, percent-decoded: three slashes make it
absolute, two leave it relative. ``~`` is expanded, written either way
(``sqlite:///~/x.db`` and ``sqlite://~/x.db`` both mean ``~/x.db``), and so is a Windows
drive (``file:///C:/data``). With no URL, :func:`framework.settings.default_storage_url`
is used: ``AGENTGRAPH_STORAGE``, else ``state.db`` in ``AGENTGRAPH_HOME``.
"""

from __future__ import annotations

import os
import re
from urllib.parse import unquote

from framework import settings
from framework.errors import InvalidArgumentError
from framework.storage.backend import StorageBackend
from framework.storage.file import FileStorage
from framework.storage.memory import MemoryStorage
from framework.storage.sqlite import SQLiteStorage

__all__ = ["open_storage"]

_SUPPORTED = "memory://, file:///path/to/dir or sqlite:///path/to/file.db"
_DRIVE = re.compile(r"/[A-Za-z]:[/\\]")


def open_storage(
    url: str | None = None, *, fsync: bool = False, max_checkpoint_bytes: int | None = None
) -> StorageBackend:
    """Open the backend ``url`` names (see module docs); ``InvalidArgumentError`` if none.

    ``fsync`` and ``max_checkpoint_bytes`` are passed to the backend (an in-memory backend
    has nothing to fsync).
    """
    if url is None:
        url = settings.default_storage_url()
    scheme, sep, rest = url.partition("://")
    scheme = scheme.lower()
    if not sep:
        raise InvalidArgumentError(f"storage URL {url!r} has no scheme; use {_SUPPORTED}")
    if scheme == "memory":
        if rest:
            raise InvalidArgumentError(f"storage URL {url!r} takes no path; use memory://")
        return MemoryStorage(max_checkpoint_bytes=max_checkpoint_bytes)
    if scheme in ("file", "sqlite"):
        path = _path(url, rest)
        if scheme == "file":
            return FileStorage(path, fsync=fsync, max_checkpoint_bytes=max_checkpoint_bytes)
        return SQLiteStorage(path, fsync=fsync, max_checkpoint_bytes=max_checkpoint_bytes)
    if scheme in ("postgresql", "postgres"):
        raise InvalidArgumentError(
            "PostgreSQL storage comes in a later version of agentgraph; use "
            "sqlite:///path/to/file.db for now"
        )
    raise InvalidArgumentError(
        f"unknown storage URL scheme {scheme!r} in {url!r}; use {_SUPPORTED}"
    )


def _path(url: str, rest: str) -> str:
    path = unquote(rest)
    if path.startswith("/~") or _DRIVE.match(path):
        path = path[1:]
    if not path:
        raise InvalidArgumentError(f"storage URL {url!r} has no path; e.g. {_SUPPORTED}")
    return os.path.expanduser(path)
