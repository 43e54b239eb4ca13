"""Crash injection for tests: kill the process at a named point of a write path.

Write paths call :func:`point` between their steps. The file backend passes
``file.{what}.temp_written`` (the temp file is complete, not yet renamed) and
``file.{what}.renamed`` (the new file is in place) for every file it writes, where
``what`` is ``record``, ``index``, ``run``, ``control`` or ``effect``; the SQLite backend
passes ``sqlite.before_commit`` and ``sqlite.after_commit`` around every write
transaction's commit, the PostgreSQL backend ``postgres.before_commit`` and
``postgres.after_commit``.

Normally :func:`point` does nothing. When the environment variable
``AGENTGRAPH_FAULT_POINT`` names the point (or is ``*``: every point counts), the process
kills itself with SIGKILL the ``AGENTGRAPH_FAULT_COUNTDOWN``-th time (default: the first
time) it gets to a matching point — a real crash with no cleanup, finally blocks or flushed
buffers, which is what crash tests need. The environment is read once, at import, so an
unset variable costs one comparison per point.
"""

from __future__ import annotations

import os
import signal

from framework import settings

ANY_POINT = "*"

_target = settings.fault_point()
_countdown = settings.fault_countdown() if _target else 0
_hits = 0


def point(name: str) -> None:
    """Crash here if the environment asks for it (see module docs); otherwise do nothing."""
    global _hits
    if _target is None or (_target != name and _target != ANY_POINT):
        return
    _hits += 1
    if _hits >= _countdown:
        os.kill(os.getpid(), getattr(signal, "SIGKILL", signal.SIGTERM))
