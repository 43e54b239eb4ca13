"""Crash injection for tests: kill the process at a named point of a write path.

Write paths call :func:`point` between their steps (``"file.record.temp_written"``,
``"sqlite.before_commit"``...). Normally it does nothing. When the environment variable
``AGENTGRAPH_FAULT_POINT`` names the point, the process kills itself with SIGKILL the
``AGENTGRAPH_FAULT_COUNTDOWN``-th time (default: the first time) it gets there — a real
crash with no cleanup, finally blocks or flushed buffers, which is what crash tests need.
"""

from __future__ import annotations

import os
import signal

__all__ = ["point"]

_hits: dict[str, int] = {}


def point(name: str) -> None:
    """Crash here if the environment asks for it (see module docs); otherwise do nothing."""
    if os.environ.get("AGENTGRAPH_FAULT_POINT") != name:
        return
    _hits[name] = _hits.get(name, 0) + 1
    if _hits[name] >= int(os.environ.get("AGENTGRAPH_FAULT_COUNTDOWN", "1")):
        os.kill(os.getpid(), getattr(signal, "SIGKILL", signal.SIGTERM))
