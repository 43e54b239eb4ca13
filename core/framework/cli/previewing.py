"""``agentgraph preview RUN_ID``: what resuming the run would do, without doing any of it.

The manager's :meth:`~framework.durable.CheckpointManager.apreview_resume` says where the
run stands: the checkpoint it continues from, the nodes done, the node that runs next with
the input it gets, and its effects — those done (their recorded results are reused) and
those *in doubt* (started, no outcome recorded: performed again, or refused, when their node
runs again). For a batch it adds the item ledger: how many items are done, failed and left,
which run next, and which were in flight (they run again unless their process is alive).
"""

from __future__ import annotations

from typing import Annotated

import anyio
import typer
from pydantic import BaseModel, ConfigDict, Field

from framework.batch import FailedItem
from framework.cli.batch_display import counts_line, usage_line
from framework.cli.output import errors_as_messages, print_json, say
from framework.cli.run_control import resume_hint
from framework.cli.storage_option import RunId, StorageUrl, opened, stored_run
from framework.durable import ResumePreview
from framework.schemas.checkpoint import ExecutorType
from framework.schemas.effect import EffectRecord
from framework.schemas.item import ItemCounts, ItemStatus
from framework.schemas.run import RunStatus
from framework.storage import StorageBackend

__all__ = ["ItemsPreview", "PreviewReport", "preview"]

_LISTED = 10


class ItemsPreview(BaseModel):
    """A batch's item ledger as a resume would find it."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    counts: ItemCounts
    """Items per status, and what they consumed."""
    next: list[str] = Field(default_factory=list)
    """The first pending items, in the order they are claimed."""
    in_flight: list[str] = Field(default_factory=list)
    """Items claimed and not finished: run again on resume unless their process is alive."""
    failed: list[FailedItem] = Field(default_factory=list)
    """The first items failed for good (``retry-failed`` puts them back), with their errors."""


class PreviewReport(ResumePreview):
    """The manager's resume preview, whether resuming would run anything, and a batch's items."""

    resumable: bool
    """Resuming would run something: the run is not final and has a node or items left."""
    items: ItemsPreview | None = None
    """The item ledger, for a batch."""


def preview(
    run_id: RunId,
    storage: StorageUrl = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print only JSON.")] = False,
) -> None:
    """Show what resuming the run would do: done, next, items left, effects in doubt."""
    with errors_as_messages():
        report, hint = anyio.run(_report, run_id, storage)
    if as_json:
        print_json(report.model_dump(mode="json"))
        return
    for line in _lines(report):
        say(line)
    if report.resumable and hint is not None:
        say(hint)


async def _report(run_id: str, storage: str | None) -> tuple[PreviewReport, str | None]:
    async with opened(storage) as manager:
        record = await stored_run(manager, run_id, storage)
        preview = await manager.apreview_resume(run_id)
        items = None
        if record.executor_type is ExecutorType.BATCH:
            items = await _items(manager.storage, run_id)
    if items is None:
        resumable = preview.can_resume
    else:
        left = items.counts.pending + items.counts.running
        resumable = not preview.status.is_final and left > 0
    report = PreviewReport(**dict(preview), resumable=resumable, items=items)
    return report, resume_hint(record, storage)


async def _items(storage: StorageBackend, run_id: str) -> ItemsPreview:
    pending = await storage.alist_items(run_id, status=ItemStatus.PENDING, limit=_LISTED)
    running = await storage.alist_items(run_id, status=ItemStatus.RUNNING, limit=_LISTED)
    failed = await storage.alist_items(run_id, status=ItemStatus.FAILED, limit=_LISTED)
    return ItemsPreview(
        counts=await storage.aitem_counts(run_id),
        next=[item.item_id for item in pending],
        in_flight=[item.item_id for item in running],
        failed=[FailedItem.of(item) for item in failed],
    )


def _lines(report: PreviewReport) -> list[str]:
    """The report as a person reads it."""
    why = f" ({report.status_reason})" if report.status_reason else ""
    lines = [f"run {report.run_id}: {report.status.value}{why}"]
    if report.status.is_final:
        fate = "it never runs again" if report.status is RunStatus.CANCELLED else "it is done"
        lines.append(f"resuming runs nothing: {fate}")
    if report.checkpoint_id is None:
        lines.append("no checkpoint: a resume starts from the run's input")
    else:
        kind = report.checkpoint_kind.value if report.checkpoint_kind else "-"
        lines.append(f"continues from checkpoint {report.checkpoint_id} ({kind})")
    if report.items is None:
        lines.append(f"done: {' -> '.join(report.completed_nodes) or '-'}")
        if report.next_node is not None:
            given = ", ".join(report.pending_input_keys)
            lines.append(f"next: {report.next_node}" + (f" (given {given})" if given else ""))
        totals = report.totals
        spent = f"{totals.steps} steps, {totals.tokens:,} tokens, cost {totals.cost:.4f}"
        lines.append(f"spent: {spent}")
    else:
        lines += _item_lines(report.items)
    lines += _effect_lines("in doubt (started, no outcome recorded)", report.in_doubt_effects)
    lines += _effect_lines("failed (performed again)", report.failed_effects)
    if report.completed_effects:
        done = len(report.completed_effects)
        lines.append(f"effects done: {done} (their recorded results are reused)")
    return lines


def _item_lines(items: ItemsPreview) -> list[str]:
    lines = [f"items: {counts_line(items.counts)} | {usage_line(items.counts)}"]
    if items.next:
        more = " ..." if items.counts.pending > len(items.next) else ""
        lines.append(f"next: {', '.join(items.next)}{more}")
    if items.in_flight:
        more = " ..." if items.counts.running > len(items.in_flight) else ""
        lines.append(
            f"in flight (run again unless their process is alive): "
            f"{', '.join(items.in_flight)}{more}"
        )
    for item in items.failed:
        error = item.error
        why = f"{error.type}: {' '.join(error.message.split())}" if error else "no error"
        lines.append(f"failed: {item.item_id} after {item.attempts} attempt(s): {why}")
    return lines


def _effect_lines(label: str, effects: list[EffectRecord]) -> list[str]:
    if not effects:
        return []
    lines = [f"effects {label}: {len(effects)}"]
    for effect in effects[:_LISTED]:
        started = f"{effect.started_at:%Y-%m-%d %H:%M:%S} UTC"
        lines.append(
            f"  {effect.key} (node {effect.node_id}, {effect.attempts} attempt(s), "
            f"first started {started})"
        )
    return lines
