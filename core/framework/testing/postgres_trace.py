"""Round trips to PostgreSQL counted from libpq's protocol trace, for tests and benchmarks.

:class:`Trace` switches libpq's trace (``PQtrace``) on for every connection opened while
it is active (``psycopg.connect`` is wrapped, so a backend's own connections are traced
without touching it) and counts, between two of its marks, the round trips and the
statements the client sent. A round trip is a client message the server answers with
``ReadyForQuery`` and the client waits for: a ``Sync`` of the extended protocol (after each
statement, or once after a pipeline of them) or a ``Query`` of the simple one; a statement
is an ``Execute`` or a ``Query``. (Counting turns between client and server messages
instead would count a pipeline's answers that arrive while it is still being sent.) Needs
psycopg (the ``postgres`` extra).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, NamedTuple

import psycopg

__all__ = ["Trace", "Trips"]


class Trips(NamedTuple):
    """What the client sent between two marks."""

    round_trips: int
    statements: int


class Trace:
    """The libpq protocol trace of every connection opened while it is active, in files
    under ``folder``.

    libpq writes a connection's trace through a buffered stream, so a window is made exact
    by starting a new file for every connection at each :meth:`mark` (ending a trace
    flushes it). Marks are taken between calls, never while one runs.
    """

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.segments: list[Path] = []
        self._live: dict[psycopg.Connection[Any], int] = {}
        self._connect = psycopg.connect

    def __enter__(self) -> Trace:
        def traced(*args: Any, **kwargs: Any) -> psycopg.Connection[Any]:
            conn = self._connect(*args, **kwargs)
            self._start(conn)
            return conn

        psycopg.connect = traced
        return self

    def __exit__(self, *exc: object) -> None:
        psycopg.connect = self._connect
        self.mark()

    def _start(self, conn: psycopg.Connection[Any]) -> None:
        path = self.folder / f"trace-{len(self.segments)}.txt"
        self.segments.append(path)
        with path.open("w") as opened:
            descriptor = os.dup(opened.fileno())
        conn.pgconn.trace(descriptor)
        conn.pgconn.set_trace_flags(psycopg.pq.Trace.SUPPRESS_TIMESTAMPS)
        self._live[conn] = descriptor

    def mark(self) -> int:
        """End every open connection's trace file and start new ones; the first new one."""
        first = len(self.segments)
        for conn, descriptor in list(self._live.items()):
            del self._live[conn]
            if conn.closed:
                # Its stream was never ended: keep the descriptor, which it may still flush.
                continue
            conn.pgconn.untrace()
            os.close(descriptor)  # libpq never writes to an ended trace again
            self._start(conn)
        return first

    def trips(self, since: int) -> Trips:
        """Round trips and statements of every traced connection since mark ``since``."""
        end = self.mark()
        trips = statements = 0
        for path in self.segments[since:end]:
            for line in path.read_bytes().splitlines():
                direction, _, rest = line.partition(b"\t")
                if direction == b"F":
                    kind = rest.partition(b"\t")[2].split(b"\t", 1)[0].strip()
                    trips += kind in (b"Sync", b"Query")
                    statements += kind in (b"Execute", b"Query")
        return Trips(trips, statements)
