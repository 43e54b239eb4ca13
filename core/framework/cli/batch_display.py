"""What ``agentgraph batch`` shows while it runs: completed / failed / remaining, rate, ETA,
tokens and cost.

On a terminal it is a rich progress bar on stderr with the figures on a line under it;
otherwise (a pipe, a log file) one plain line on stderr every few seconds and a last one
when the batch stops. Either way stdout holds only the outcome. The display is fed the
batch's events (``BatchRunner(on_event=display)``), whose counts are the ledger's right
after each stored outcome. The rate is over this process's recent samples (items finished
by an earlier run of the batch do not make it look faster); the ETA is shown once the rate
has settled.
"""

from __future__ import annotations

import time
from types import TracebackType
from typing import Self

from rich.console import Console, Group
from rich.live import Live
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn
from rich.text import Text

from framework.batch import BatchEvent, BatchProgress
from framework.cli.output import note
from framework.cli.tables import duration
from framework.schemas.item import ItemCounts

__all__ = ["BatchDisplay", "counts_line", "pace_line", "usage_line"]

# Seconds between two samples of the rate, and between two plain lines.
_SAMPLE_SECONDS = 1.0
_LINE_SECONDS = 2.0


def counts_line(counts: ItemCounts) -> str:
    """``297 completed, 3 failed, 0 remaining (300 items)``, skipped ones named if any."""
    skipped = f", {counts.skipped} skipped" if counts.skipped else ""
    remaining = counts.pending + counts.running
    return (
        f"{counts.completed} completed, {counts.failed} failed{skipped}, {remaining} remaining "
        f"({counts.total} items)"
    )


def usage_line(counts: ItemCounts) -> str:
    """``12,345 tokens, cost 0.0123``."""
    usage = counts.usage
    return f"{usage.tokens_in + usage.tokens_out:,} tokens, cost {usage.cost:.4f}"


def pace_line(pace: BatchProgress, counts: ItemCounts) -> str:
    """``45.0/min, ETA 3m55s``; ``-`` for what is not known yet."""
    rate = pace.rate_per_minute()
    remaining = counts.pending + counts.running
    eta = "-"
    if counts.total and remaining == 0:
        eta = "0s"
    elif rate and pace.warmed_up():
        eta = duration(60 * remaining / rate)
    shown = "-" if rate is None else f"{rate:.1f}"
    return f"{shown}/min, ETA {eta}"


class BatchDisplay:
    """The live view of batch ``run_id``, starting from the ledger's ``counts``.

    Use it as a context manager around the run and pass it as ``on_event``. ``live``
    chooses the rich bar (default: when stderr is a terminal): the bar with finished / all
    items, and under it the counts, pace, tokens and cost (a line of their own, so a narrow
    terminal wraps them instead of cutting them off).
    """

    def __init__(self, run_id: str, counts: ItemCounts, *, live: bool | None = None) -> None:
        self.run_id = run_id
        self.counts = counts
        self.pace = BatchProgress()
        self.pace.sampled(counts)
        self.console = Console(stderr=True, highlight=False, markup=False)
        self.live = self.console.is_terminal if live is None else live
        self._bar = Progress(
            TextColumn(run_id, markup=False),
            BarColumn(),
            MofNCompleteColumn(),
            console=self.console,
        )
        self._task: TaskID = self._bar.add_task(run_id, total=None)
        self._stats = Text()
        self._view: Live | None = None
        self._line_at = -_LINE_SECONDS

    def __enter__(self) -> Self:
        if self.live:
            self._view = Live(Group(self._bar, self._stats), console=self.console)
            self._view.start()
        self.show(self.counts)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.show(self.counts, last=True)
        if self._view is not None:
            self._view.stop()

    def __call__(self, event: BatchEvent) -> None:
        self.show(event.counts)

    def stats(self) -> str:
        """What the line under the bar, or a plain line, says."""
        counts = self.counts
        return f"{counts_line(counts)} | {pace_line(self.pace, counts)} | {usage_line(counts)}"

    def show(self, counts: ItemCounts, *, last: bool = False) -> None:
        self.counts = counts
        now = time.time()
        if not self.pace.samples or now - self.pace.samples[-1][0] >= _SAMPLE_SECONDS:
            self.pace.sampled(counts, now)
        if self._view is not None:
            self._bar.update(self._task, total=counts.total, completed=counts.finished)
            self._stats.plain = self.stats()
        elif last or time.monotonic() - self._line_at >= _LINE_SECONDS:
            self._line_at = time.monotonic()
            note(f"batch {self.run_id}: {self.stats()}")

    def say(self, line: str) -> None:
        """A line on stderr that does not break the bar."""
        if self._view is not None:
            self._view.console.print(line)
        else:
            note(line)
