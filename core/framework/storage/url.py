"""Storage URLs: one string selects a backend everywhere (API, CLI, environment).

=========================  ================================================================
URL                        backend
=========================  ================================================================
``memory://``              :class:`MemoryStorage` (nothing survives the process)
``file:///abs/dir``        :class:`FileStorage` in ``/abs/dir``
``file://rel/dir``         :class:`FileStorage` in ``rel/dir``, relative to the working dir
``sqlite:///abs/x.db``     :class:`SQLiteStorage` in ``/abs/x.db``
``sqlite://rel/x.db``      :class:`SQLiteStorage` in ``rel/x.db``
``postgresql://u:p@h/db``  :class:`~framework.storage.postgres.PostgresStorage` on database
                           ``db`` of server ``h`` (``postgres://`` too; a unix socket as
                           ``postgresql:///db?host=/run/postgresql``; the ``postgres`` extra)
=========================  ================================================================

The path is everything after ``scheme://``, percent-decoded: three slashes make it
absolute, two leave it relative. ``~`` is expanded, written either way
(``sqlite:///~/x.db`` and ``sqlite://~/x.db`` both mean ``~/x.db``), and so is a Windows
drive (``file:///C:/data``). A PostgreSQL URL is handed to libpq as it is (its query
parameters included). With no URL, :func:`framework.settings.default_storage_url`
is used: ``AGENTGRAPH_STORAGE``, else ``state.db`` in ``AGENTGRAPH_HOME``.

Opening checks the path before the backend touches it: a ``file://`` path must be a folder
(created if missing), a ``sqlite://`` path a regular file (created if missing), and no
folder on the way may be a file. A path that cannot be one raises
:class:`InvalidArgumentError`; one the system refuses to create raises :class:`StorageError`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path
from urllib.parse import unquote

from framework import settings
from framework.errors import InvalidArgumentError, StorageError
from framework.storage.backend import StorageBackend
from framework.storage.file import FileStorage
from framework.storage.memory import MemoryStorage
from framework.storage.sqlite import SQLiteStorage

__all__ = ["open_storage"]

_SUPPORTED = (
    "memory://, file:///path/to/dir, sqlite:///path/to/file.db or "
    "postgresql://user:password@host:5432/database"
)
_DRIVE = re.compile(r"/[A-Za-z]:[/\\]")


def open_storage(
    url: str | None = None, *, fsync: bool = False, max_checkpoint_bytes: int | None = None
) -> StorageBackend:
    """Open the backend ``url`` names (see module docs); ``InvalidArgumentError`` if none.

    ``fsync`` and ``max_checkpoint_bytes`` are passed to the backend (an in-memory backend
    has nothing to fsync; a PostgreSQL server's commits are as durable as its
    ``synchronous_commit`` makes them).
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
    if scheme == "file":
        folder = _path(url, rest)
        _prepare(url, folder, lambda: _folder_problem(folder))
        return FileStorage(folder, fsync=fsync, max_checkpoint_bytes=max_checkpoint_bytes)
    if scheme == "sqlite":
        database = _path(url, rest)
        _prepare(url, database.parent, lambda: _database_problem(database))
        return SQLiteStorage(database, fsync=fsync, max_checkpoint_bytes=max_checkpoint_bytes)
    if scheme in ("postgresql", "postgres"):
        # Imported here: psycopg is an optional extra, loaded only when a URL asks for it.
        from framework.storage.postgres import PostgresStorage

        return PostgresStorage(url, max_checkpoint_bytes=max_checkpoint_bytes)
    raise InvalidArgumentError(
        f"unknown storage URL scheme {scheme!r} in {url!r}; use {_SUPPORTED}"
    )


def _path(url: str, rest: str) -> Path:
    path = unquote(rest)
    if path.startswith("/~") or _DRIVE.match(path):
        path = path[1:]
    if not path:
        raise InvalidArgumentError(f"storage URL {url!r} has no path; e.g. {_SUPPORTED}")
    if "\0" in path:
        raise InvalidArgumentError(
            f"storage URL {url!r} holds a NUL character (%00), which no path may contain; remove it"
        )
    return Path(os.path.expanduser(path))


def _prepare(url: str, folder: Path, check: Callable[[], str | None]) -> None:
    """Create the store's ``folder``, unless ``check()`` or a file on the way names a problem."""
    try:
        problem = check() or _file_on_the_way(folder)
        if problem is None:
            folder.mkdir(parents=True, exist_ok=True)
            return
    except OSError as exc:
        raise StorageError(
            f"storage URL {url!r}: cannot create or use {exc.filename or folder}: "
            f"{exc.strerror or exc}; choose a path you may write to"
        ) from None
    raise InvalidArgumentError(f"storage URL {url!r}: {problem}")


def _folder_problem(path: Path) -> str | None:
    if path.exists() and not path.is_dir():
        return f"{path} is a file, not a folder; file:// needs a folder (created if missing)"
    return None


def _database_problem(path: Path) -> str | None:
    if path.is_dir():
        return f"{path} is a folder, not a database file; use sqlite:///path/to/file.db"
    if path.exists() and not path.is_file():
        return f"{path} is not a regular file; use sqlite:///path/to/file.db"
    return None


def _file_on_the_way(folder: Path) -> str | None:
    """The problem when the nearest existing one of ``folder`` and its parents is a file."""
    for existing in (folder, *folder.parents):
        if existing.exists():
            if existing.is_dir():
                return None
            return f"{existing} is a file, not a folder; choose a path whose folders are folders"
    return None
