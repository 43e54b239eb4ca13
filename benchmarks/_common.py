"""What both sides of the checkpoint benchmark share: the shapes, the clock, the measures.

Standard library only: :mod:`peers_langgraph` imports it from the peers' own virtual
environment, where the framework is not installed. A *sample* is one measurement sent
between processes as JSON: a flat mapping of names to numbers.
"""

from __future__ import annotations

import json
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

__all__ = [
    "CONCURRENT_NODES",
    "LARGE_BYTES",
    "SMALL_BYTES",
    "Request",
    "Sample",
    "StepClock",
    "base_folder",
    "bytes_on_disk",
    "fresh_blob",
    "make_folder",
    "median",
    "percentile",
    "remove_folder",
    "serve",
    "small_item",
]

SMALL_BYTES = 100
"""What a node of the "small" payload appends to the list in memory."""
LARGE_BYTES = 100_000
"""The size of the fresh string a node of the "large" payload writes over one key."""
CONCURRENT_NODES = 20
"""The length of each graph of the concurrency measure."""

Sample = dict[str, float]
"""One measurement: names (``seconds``, ``first_tenth_us``, ...) to numbers."""
Request = dict[str, Any]
"""What to measure: ``kind`` (run, resume, concurrent) and its shape (mode, n, payload...)."""

_FILLER = "x" * (LARGE_BYTES - 8)


def small_item() -> str:
    """The 100 bytes a "small" node appends."""
    return "s" * SMALL_BYTES


def fresh_blob(step: int) -> str:
    """A new 100 KB string, different at every step (so nothing can be shared or skipped)."""
    return f"{step:08d}" + _FILLER


class StepClock:
    """Records when each node of one run starts; the gaps between them are the step costs.

    A node does nothing but its payload, so the gap between two consecutive node calls is
    what the engine (and its checkpointing) spends at that node boundary.
    """

    def __init__(self) -> None:
        self.stamps: list[float] = []

    def tick(self) -> int:
        """Record a node call; return how many nodes ran before it."""
        self.stamps.append(time.perf_counter())
        return len(self.stamps) - 1

    def steps_us(self) -> list[float]:
        """The gaps between consecutive node calls, in microseconds."""
        pairs = zip(self.stamps, self.stamps[1:], strict=False)
        return [(later - earlier) * 1e6 for earlier, later in pairs]

    def tenths(self) -> Sample:
        """Mean step cost over the first and over the last tenth of the run."""
        steps = self.steps_us()
        if not steps:
            return {}
        tenth = max(1, len(steps) // 10)
        return {
            "first_tenth_us": statistics.fmean(steps[:tenth]),
            "last_tenth_us": statistics.fmean(steps[-tenth:]),
        }


def bytes_on_disk(folder: Path) -> float:
    """Total size of the files under ``folder`` (SQLite's -wal and -shm included)."""
    return float(sum(path.stat().st_size for path in folder.rglob("*") if path.is_file()))


def median(values: Iterable[float]) -> float:
    return statistics.median(list(values))


def percentile(values: Sequence[float], fraction: float) -> float:
    """The value below which ``fraction`` of ``values`` lie (nearest rank)."""
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(fraction * len(ordered)) - 1))
    return ordered[rank]


def serve(measure: Callable[[Request], Sample]) -> None:
    """Answer one JSON request per line of stdin with one JSON sample per line of stdout.

    A failed measurement answers ``{"error": ...}`` and the worker keeps serving; stdout is
    reserved for answers (whatever else prints goes to stderr).
    """
    answers = sys.stdout
    sys.stdout = sys.stderr
    for line in sys.stdin:
        if not line.strip():
            continue
        try:
            answer: dict[str, Any] = measure(json.loads(line))
        except Exception as exc:
            answer = {"error": f"{type(exc).__name__}: {exc}"}
        answers.write(json.dumps(answer) + "\n")
        answers.flush()


def make_folder(base: Path, prefix: str) -> Path:
    """A fresh, empty folder under ``base`` for one measurement's storage."""
    return Path(tempfile.mkdtemp(prefix=prefix, dir=base))


def remove_folder(folder: Path) -> None:
    shutil.rmtree(folder, ignore_errors=True)


def base_folder(value: str | None) -> Path:
    """Where measurements create their storage: ``value``, else the system's temp folder."""
    folder = Path(value) if value else Path(tempfile.gettempdir())
    folder.mkdir(parents=True, exist_ok=True)
    return folder.resolve()
