"""``agentgraph watch``: one run followed from storage until it ends, from any process.

Every ``interval`` seconds the run is read again (:meth:`Reader.standing`): on a terminal it
is shown as a rich live panel, redrawn in place; otherwise one plain line is printed per
read (:func:`~framework.cli.panels.status_line`), the last one saying how the run ended.
Watching changes nothing in storage, so Ctrl-C stops the watch, never the run.

The watch ends when the run did: completed, failed, cancelled, or paused (it waits for
someone to resume it). A run that says *running* but that no live process holds on two
reads in a row has lost its process (a crash, a kill): nothing will change until it is
recovered, so the watch ends too, saying so.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import anyio
from rich.console import Console
from rich.live import Live
from rich.panel import Panel

from framework.cli.output import say
from framework.cli.panels import status_line, status_view
from framework.cli.reading import Reader, Standing

__all__ = ["Watch"]

# Reads in a row that find a running run without a live process before the watch ends.
_ABANDONED_READS = 2


@dataclass
class Watch:
    """Follows run ``run_id`` of ``reader``'s storage, reading it every ``interval`` s.

    ``hints`` gives the lines shown under a run that ended (what to do next).
    """

    reader: Reader
    run_id: str
    interval: float
    hints: Callable[[Standing], Sequence[str]]
    _abandoned: int = 0

    async def lines(self) -> Standing:
        """Print a line per read until the run ends; return how it stood last."""
        while True:
            standing = await self._read()
            say(status_line(standing))
            if self._over(standing):
                for hint in self.hints(standing):
                    say(hint)
                return standing
            await anyio.sleep(self.interval)

    async def panel(self) -> Standing:
        """Redraw a live panel on the terminal after each read until the run ends."""
        standing = await self._read()
        console = Console(highlight=False, markup=False)
        with Live(self._panel(standing), console=console, auto_refresh=False) as live:
            while not self._over(standing):
                await anyio.sleep(self.interval)
                standing = await self._read()
                live.update(self._panel(standing), refresh=True)
            live.update(self._panel(standing), refresh=True)
        for hint in self.hints(standing):
            say(hint)  # after the panel, unwrapped: a command to paste
        return standing

    def gone(self, standing: Standing) -> bool:
        """Whether the watch ended because no process runs the run any more."""
        return not standing.ended and self._abandoned >= _ABANDONED_READS

    async def _read(self) -> Standing:
        standing = await self.reader.standing(self.run_id)
        self._abandoned = self._abandoned + 1 if standing.abandoned() else 0
        return standing

    def _over(self, standing: Standing) -> bool:
        return standing.ended or self._abandoned >= _ABANDONED_READS

    def _panel(self, standing: Standing) -> Panel:
        over = self._over(standing)
        title = f"watching {self.run_id}" + (
            "" if over else " (Ctrl-C stops watching, not the run)"
        )
        return Panel(status_view(standing), title=title, title_align="left")
