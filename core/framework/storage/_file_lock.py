"""Exclusive per-run file locks for the file backend, between processes and threads.

A lock is ``fcntl.flock`` on a lock file inside the run's folder. The kernel drops it when
the holder's process dies, however it dies, so a crash never leaves a run locked. A lock
file can be removed while others wait on it (the run is deleted), so after acquiring, the
holder checks that the file it locked is still the one at the path, and retries if not.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from framework.errors import StorageError

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None  # type: ignore[assignment]


@contextmanager
def hold_file_lock(path: Path, make_folder: Callable[[], None] | None) -> Iterator[None]:
    """Hold an exclusive lock on ``path`` for the body of the ``with``.

    ``make_folder`` creates the lock's folder when it is missing; without it a missing
    folder means there is nothing to protect, and the body runs without a lock.
    """
    fd = _acquire(path, make_folder)
    try:
        yield
    finally:
        if fd is not None:
            os.close(fd)  # closing the descriptor releases the flock


def _acquire(path: Path, make_folder: Callable[[], None] | None) -> int | None:
    if fcntl is None:
        raise StorageError(
            "file storage needs POSIX file locks (fcntl), which this platform lacks; use "
            "sqlite:///path/to/state.db instead"
        )
    while True:
        if make_folder is not None:
            make_folder()
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except FileNotFoundError:
            if make_folder is None:
                return None
            continue  # the folder was removed between creating it and opening the file
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            locked, named = os.fstat(fd), os.stat(path)
            current = (locked.st_dev, locked.st_ino) == (named.st_dev, named.st_ino)
        except FileNotFoundError:
            current = False
        except BaseException:
            os.close(fd)
            raise
        if current:
            return fd
        os.close(fd)
