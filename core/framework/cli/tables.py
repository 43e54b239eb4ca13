"""How the view commands' lists look to a person: rich tables, in human units.

A table per list (runs, run groups, checkpoints, items) and the pieces the one-run panels of
:mod:`framework.cli.panels` are built of. The same facts are in the JSON documents of
:mod:`framework.cli.shapes`. Times are shown as ages (``3m ago``) and, where one run is
shown, also as UTC; tokens with thousands separators; cost with four decimals.

:func:`emit` prints to stdout: on a terminal at its width, in colour, a long cell cut short;
otherwise (a pipe, a file) without colour, and never wrapped, so ``grep`` and ``awk`` see
one run (or item, or checkpoint) per line.
"""

from __future__ import annotations

import io
import sys
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from rich.console import Console, RenderableType
from rich.table import Table
from rich.text import Text

from framework.schemas.checkpoint import CheckpointMetadata
from framework.schemas.clock import utc_now
from framework.schemas.item import ItemCounts, ItemRecord
from framework.schemas.run import RunRecord, RunStatus

__all__ = [
    "age",
    "checkpoints_table",
    "cost_text",
    "duration",
    "emit",
    "groups_table",
    "items_table",
    "labelled",
    "listing",
    "moment_text",
    "now",
    "one_line",
    "runs_table",
    "status_text",
    "tokens_text",
]

# Wide enough that no line of a table is ever wrapped off a terminal.
_UNWRAPPED = 10_000
_STYLES = {
    RunStatus.PENDING: "dim",
    RunStatus.RUNNING: "cyan",
    RunStatus.PAUSED: "yellow",
    RunStatus.COMPLETED: "green",
    RunStatus.FAILED: "red",
    RunStatus.CANCELLED: "magenta",
}


def now() -> datetime:
    """The time ages are counted to: the present."""
    return utc_now()


# --- printing ---------------------------------------------------------------------------


def emit(*renderables: RenderableType) -> None:
    """Print ``renderables`` to stdout (see the module docs)."""
    if sys.stdout.isatty():
        Console(highlight=False, markup=False).print(*renderables)
        return
    buffer = io.StringIO()
    plain = Console(file=buffer, width=_UNWRAPPED, highlight=False, markup=False, color_system=None)
    plain.print(*renderables)
    # Table cells are padded to their column's width; the padding after a line's last
    # character is noise in a file.
    sys.stdout.write("".join(line.rstrip() + "\n" for line in buffer.getvalue().splitlines()))
    sys.stdout.flush()


# --- units ------------------------------------------------------------------------------


def age(moment: datetime | None, at: datetime | None = None) -> str:
    """``now``, ``12s ago``, ``5m ago``, ``3h ago``, ``4d ago``; a date after 30 days."""
    if moment is None:
        return "-"
    seconds = ((at or now()) - moment).total_seconds()
    if seconds < 1:
        return "now"
    if seconds < 60:
        return f"{int(seconds)}s ago"
    if seconds < 3600:
        return f"{int(seconds // 60)}m ago"
    if seconds < 86_400:
        return f"{int(seconds // 3600)}h ago"
    if seconds < 30 * 86_400:
        return f"{int(seconds // 86_400)}d ago"
    return moment.strftime("%Y-%m-%d")


def moment_text(moment: datetime | None, at: datetime | None = None) -> str:
    """``2026-12-03 17:26:37 UTC (3m ago)``."""
    if moment is None:
        return "-"
    return f"{moment:%Y-%m-%d %H:%M:%S} UTC ({age(moment, at)})"


def duration(seconds: float) -> str:
    """``42s``, ``3m05s``, ``2h10m``, ``3d04h``."""
    whole = round(seconds)
    if whole < 60:
        return f"{whole}s"
    if whole < 3600:
        return f"{whole // 60}m{whole % 60:02d}s"
    if whole < 86_400:
        return f"{whole // 3600}h{whole % 3600 // 60:02d}m"
    return f"{whole // 86_400}d{whole % 86_400 // 3600:02d}h"


def tokens_text(tokens: int) -> str:
    return f"{tokens:,}"


def cost_text(cost: float) -> str:
    return f"{cost:.4f}"


def one_line(text: str | None) -> str:
    """``text`` with every run of whitespace (newlines too) one space."""
    return " ".join((text or "").split())


def status_text(status: RunStatus) -> Text:
    """The status, in its colour."""
    return Text(status.value, style=_STYLES[status])


def listing(*columns: str, right: Sequence[str] = ()) -> Table:
    """A table without borders (one row a line), the ``right`` columns right-aligned."""
    table = Table(box=None, pad_edge=False, header_style="bold", show_edge=False)
    for column in columns:
        table.add_column(column, justify="right" if column in right else "left")
    return table


def labelled() -> Table:
    """A grid of a label (bold) and its value, per row."""
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column()
    return grid


# --- runs -------------------------------------------------------------------------------


def runs_table(
    records: Iterable[RunRecord], counts: dict[str, ItemCounts], at: datetime | None = None
) -> Table:
    """``runs``: one line per run."""
    table = listing(
        "run",
        "agent",
        "kind",
        "status",
        "progress",
        "tokens",
        "cost",
        "started",
        "updated",
        right=("progress", "tokens", "cost"),
    )
    for record in records:
        batch = counts.get(record.run_id)
        tokens, cost = record.totals.tokens, record.totals.cost
        if batch is not None:
            tokens, cost = batch.usage.tokens_in + batch.usage.tokens_out, batch.usage.cost
        table.add_row(
            record.run_id,
            record.agent_id or "-",
            record.executor_type.value,
            status_text(record.status),
            _progress(record, batch),
            tokens_text(tokens),
            cost_text(cost),
            age(record.created_at, at),
            age(record.updated_at, at),
        )
    return table


def _progress(record: RunRecord, counts: ItemCounts | None) -> str:
    if counts is None:
        steps = record.totals.steps
        return f"{steps} step" if steps == 1 else f"{steps} steps"
    if not counts.total:
        return "0/0 items"
    return f"{counts.finished}/{counts.total} items ({100 * counts.finished // counts.total}%)"


def groups_table(groups: list[dict[str, Any]], key: str) -> Table:
    """``runs --group-by``: how many runs per status (or per error)."""
    table = listing("runs", key, right=("runs",))
    for group in groups:
        value = group[key]
        shown: Text | str = "(no error)" if value is None else value
        if key == "status":
            shown = status_text(RunStatus(value))
        table.add_row(str(group["runs"]), shown)
    return table


# --- checkpoints ------------------------------------------------------------------------


def checkpoints_table(metas: Iterable[CheckpointMetadata], at: datetime | None = None) -> Table:
    """``checkpoints``: one line per checkpoint, oldest first."""
    table = listing(
        "seq",
        "checkpoint",
        "kind",
        "after",
        "steps",
        "tokens",
        "size",
        "taken",
        right=("seq", "steps", "tokens", "size"),
    )
    for meta in metas:
        table.add_row(
            str(meta.seq),
            meta.id,
            meta.kind.value,
            meta.node_id or "-",
            str(meta.step_number),
            tokens_text(meta.total_tokens),
            _size(meta.size_bytes),
            age(meta.created_at, at),
        )
    return table


def _size(size: int) -> str:
    if size < 1024:
        return f"{size} B"
    if size < 1024 * 1024:
        return f"{size / 1024:.1f} KiB"
    return f"{size / 1024 / 1024:.1f} MiB"


# --- items ------------------------------------------------------------------------------


def items_table(items: Iterable[ItemRecord], at: datetime | None = None) -> Table:
    """``items``: one line per item of the ledger, in the order they were added."""
    table = listing(
        "item",
        "status",
        "attempts",
        "tokens",
        "cost",
        "finished",
        "error",
        right=("attempts", "tokens", "cost"),
    )
    for item in items:
        usage = item.usage
        error = item.last_error
        said = f"{error.type}: {one_line(error.message)}" if error is not None else ""
        table.add_row(
            item.item_id,
            item.status.value,
            str(item.attempts),
            tokens_text(usage.tokens_in + usage.tokens_out),
            cost_text(usage.cost),
            age(item.finished_at, at),
            said,
        )
    return table
