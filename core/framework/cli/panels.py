"""How one run, checkpoint, diff or verification looks to a person: rich panels.

``status`` (and ``watch`` on a terminal) show :func:`status_view`; ``watch`` off a terminal
prints :func:`status_line`, one line per read; ``inspect``, ``diff`` and ``verify`` show the
other views. Each renders what :mod:`framework.cli.reading` read, in the units of
:mod:`framework.cli.tables`; memory values are JSON, cut short (``--json`` shows them whole).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from framework.batch.progress import BatchProgress, BatchStatus, FailedItem
from framework.cli.diffing import CheckpointDiff
from framework.cli.reading import Standing
from framework.cli.tables import (
    age,
    cost_text,
    duration,
    labelled,
    listing,
    moment_text,
    now,
    one_line,
    status_text,
    tokens_text,
)
from framework.durable import RunVerification
from framework.runtime.records import to_loggable
from framework.schemas.checkpoint import Checkpoint, ExecutorType
from framework.schemas.item import ItemCounts
from framework.schemas.run import RunRecord, RunStatus

__all__ = ["checkpoint_view", "diff_view", "status_line", "status_view", "verification_view"]

# A memory value shown in full beyond this many characters would bury the others.
_VALUE_CHARS = 120


# --- status -----------------------------------------------------------------------------


def status_view(standing: Standing, at: datetime | None = None) -> Group:
    """``status`` (and ``watch`` on a terminal): how the run stands."""
    if standing.batch is not None:
        parts = _batch_view(standing, standing.batch, at)
    else:
        parts = _graph_view(standing, at)
    parts.extend(Text(f"damaged: {problem}", style="red") for problem in standing.damage)
    return Group(*parts)


def _headline(standing: Standing) -> Text:
    record = standing.record
    kind = "batch" if record.executor_type is ExecutorType.BATCH else f"{record.executor_type} run"
    line = Text(f"{kind} {record.run_id}: ")
    line.append_text(status_text(standing.status))
    reason = standing.batch.reason if standing.batch is not None else record.status_reason
    if reason:
        line.append(f" ({one_line(reason)})")
    return line


def _opening_rows(record: RunRecord) -> Table:
    """A grid starting with the run's agent and its error, the first things asked."""
    grid = labelled()
    if record.agent_id:
        grid.add_row("agent", record.agent_id)
    if record.last_error:
        grid.add_row("error", Text(one_line(record.last_error), style="red"))
    return grid


def _common_rows(grid: Table, standing: Standing, at: datetime | None) -> None:
    record = standing.record
    grid.add_row("started", moment_text(record.created_at, at))
    grid.add_row("updated", moment_text(record.updated_at, at))
    if record.finished_at is not None:
        grid.add_row("finished", moment_text(record.finished_at, at))
    if standing.control is not None:
        control = standing.control
        why = f": {one_line(control.reason)}" if control.reason else ""
        grid.add_row("requested", f"{control.action.value}{why} ({age(control.requested_at, at)})")
    if record.status is RunStatus.RUNNING:
        grid.add_row("process", _process(standing, at))
    limits = record.budget
    if limits.max_tokens is not None or limits.max_cost is not None:
        given = []
        if limits.max_tokens is not None:
            given.append(f"{tokens_text(limits.max_tokens)} tokens")
        if limits.max_cost is not None:
            given.append(f"cost {cost_text(limits.max_cost)}")
        grid.add_row("budget", ", ".join(given))


def _process(standing: Standing, at: datetime | None) -> str:
    record = standing.record
    if standing.abandoned(at):
        return "none alive: the process running it has gone"
    expires = record.lease_expires_at
    until = f" (lease until {expires:%H:%M:%S} UTC)" if expires is not None else ""
    return f"{record.lease_owner}{until}"


def _graph_view(standing: Standing, at: datetime | None) -> list[RenderableType]:
    record, checkpoint = standing.record, standing.checkpoint
    grid = _opening_rows(record)
    unit = "step" if record.executor_type is ExecutorType.FLEXIBLE else "node"
    if checkpoint is None:
        grid.add_row("at", "no intact checkpoint" if standing.damage else "no checkpoint yet")
    else:
        done = f"after {unit} {checkpoint.node_id!r}" if checkpoint.node_id else "before the first"
        grid.add_row("done", f"{checkpoint.step_number} step(s), {done}")
        grid.add_row(
            "next", f"{unit} {checkpoint.next_node_id!r}" if checkpoint.next_node_id else "-"
        )
        grid.add_row("path", " -> ".join(checkpoint.execution_path) or "-")
        grid.add_row("checkpoint", f"{checkpoint.id} (seq {checkpoint.seq}, {checkpoint.kind})")
    totals = record.totals
    grid.add_row(
        "spent",
        f"{tokens_text(totals.tokens)} tokens, cost {cost_text(totals.cost)}, "
        f"{totals.latency_ms:,} ms in nodes",
    )
    _common_rows(grid, standing, at)
    return [_headline(standing), grid]


def _batch_view(
    standing: Standing, status: BatchStatus, at: datetime | None
) -> list[RenderableType]:
    counts = status.counts
    grid = _opening_rows(standing.record)
    grid.add_row("items", _counts_text(counts))
    grid.add_row("progress", f"{status.percent:.1f}%  {_pace_text(status)}")
    usage = counts.usage
    grid.add_row(
        "tokens",
        f"{tokens_text(usage.tokens_in + usage.tokens_out)} "
        f"({tokens_text(usage.tokens_in)} in, {tokens_text(usage.tokens_out)} out)",
    )
    projected = status.cost_projected
    grid.add_row(
        "cost",
        cost_text(usage.cost)
        + ("" if projected is None else f" (all items: {cost_text(projected)})"),
    )
    if status.recent:
        grid.add_row("last done", ", ".join(reversed(status.recent)))
    _common_rows(grid, standing, at)
    parts: list[RenderableType] = [_headline(standing), grid]
    if status.failed:
        parts.append(Text(f"failed items ({counts.failed}):", style="bold"))
        parts.append(_failed_table(status.failed, retrying=False))
    if status.retrying:
        parts.append(Text("waiting for a retry:", style="bold"))
        parts.append(_failed_table(status.retrying, retrying=True, at=at))
    return parts


def _counts_text(counts: ItemCounts) -> str:
    parts = [
        f"{counts.completed:,} completed",
        f"{counts.failed:,} failed",
        f"{counts.running:,} running",
        f"{counts.pending:,} pending",
    ]
    if counts.skipped:
        parts.append(f"{counts.skipped:,} skipped")
    return f"{counts.total:,}: " + ", ".join(parts)


def _pace_text(status: BatchStatus) -> str:
    rate = "-" if status.rate_per_minute is None else f"{status.rate_per_minute:.1f}"
    remaining = status.counts.pending + status.counts.running
    eta = "-"
    if remaining == 0:
        eta = "0s"
    elif status.eta_seconds is not None:
        eta = duration(status.eta_seconds)
    return f"{rate}/min, ETA {eta}"


def _failed_table(items: list[FailedItem], *, retrying: bool, at: datetime | None = None) -> Table:
    columns = ["  item", "attempts", *(["next attempt"] if retrying else []), "error"]
    table = listing(*columns, right=("attempts",))
    for item in items:
        error = item.error
        said = f"{error.type}: {one_line(error.message)}" if error else "-"
        row = [f"  {item.item_id}", str(item.attempts)]
        if retrying:
            due = item.next_attempt_at
            row.append("now" if due is None else _in((at or now()).timestamp(), due))
        table.add_row(*row, said)
    return table


def _in(at: float, due: float) -> str:
    return "now" if due <= at else f"in {duration(due - at)}"


def status_line(standing: Standing, at: datetime | None = None) -> str:
    """One line saying how the run stands (``watch`` off a terminal prints one per read)."""
    moment = at or now()
    record = standing.record
    reason = standing.batch.reason if standing.batch is not None else record.status_reason
    said = f"{standing.status.value}" + (f" ({one_line(reason)})" if reason else "")
    if standing.batch is not None:
        status = standing.batch
        counts = status.counts
        usage = counts.usage
        tokens = tokens_text(usage.tokens_in + usage.tokens_out)
        facts = (
            f"{counts.finished:,}/{counts.total:,} items ({status.percent:.1f}%), "
            f"{counts.failed:,} failed, {_pace_text(status)}, "
            f"{tokens} tokens, cost {cost_text(usage.cost)}"
        )
        head = f"batch {record.run_id}"
    else:
        checkpoint = standing.checkpoint
        where = "no checkpoint yet"
        if checkpoint is not None:
            where = f"{checkpoint.step_number} step(s)"
            if checkpoint.node_id:
                where += f", after {checkpoint.node_id!r}"
            if checkpoint.next_node_id:
                where += f", next {checkpoint.next_node_id!r}"
        totals = record.totals
        facts = f"{where}, {tokens_text(totals.tokens)} tokens, cost {cost_text(totals.cost)}"
        head = f"run {record.run_id}"
    if standing.abandoned(moment):
        facts += ", no live process holds it"
    return f"{moment:%H:%M:%S} {head} {said}: {facts}"


# --- checkpoints ------------------------------------------------------------------------


def checkpoint_view(checkpoint: Checkpoint, at: datetime | None = None) -> Group:
    """``inspect``: what the checkpoint holds, its memory values cut short."""
    grid = labelled()
    grid.add_row("run", checkpoint.run_id)
    grid.add_row("seq", f"{checkpoint.seq} ({checkpoint.kind}, {checkpoint.executor_type} run)")
    grid.add_row("taken", moment_text(checkpoint.created_at, at))
    if checkpoint.executor_type is ExecutorType.BATCH:
        return Group(_checkpoint_head(checkpoint), grid, *_batch_state(checkpoint))
    unit = "step" if checkpoint.executor_type is ExecutorType.FLEXIBLE else "node"
    grid.add_row("after", f"{unit} {checkpoint.node_id!r}" if checkpoint.node_id else "-")
    grid.add_row("next", f"{unit} {checkpoint.next_node_id!r}" if checkpoint.next_node_id else "-")
    grid.add_row("path", " -> ".join(checkpoint.execution_path) or "-")
    grid.add_row(
        "spent",
        f"{checkpoint.step_number} step(s), {tokens_text(checkpoint.total_tokens)} tokens, "
        f"cost {cost_text(checkpoint.total_cost)}, {checkpoint.total_latency_ms:,} ms in nodes",
    )
    if checkpoint.parent_run_id:
        grid.add_row("forked from", f"{checkpoint.parent_run_id} {checkpoint.parent_checkpoint_id}")
    parts: list[RenderableType] = [_checkpoint_head(checkpoint), grid]
    parts.extend(_mapping("memory", checkpoint.memory_snapshot))
    if checkpoint.pending_input:
        parts.extend(_mapping("pending input", checkpoint.pending_input))
    if checkpoint.metadata:
        parts.extend(_mapping("metadata", checkpoint.metadata))
    parts.extend(_graph_state(checkpoint))
    return Group(*parts)


def _checkpoint_head(checkpoint: Checkpoint) -> Text:
    return Text(f"checkpoint {checkpoint.id}", style="bold")


def _batch_state(checkpoint: Checkpoint) -> list[RenderableType]:
    """A batch's checkpoint is a progress snapshot; its state is its item ledger."""
    progress = BatchProgress.of(checkpoint)
    grid = labelled()
    grid.add_row("  items", _counts_text(progress.counts))
    usage = progress.counts.usage
    grid.add_row(
        "  spent",
        f"{tokens_text(usage.tokens_in + usage.tokens_out)} tokens, cost {cost_text(usage.cost)}",
    )
    grid.add_row("  last done", ", ".join(reversed(progress.recent)) or "-")
    grid.add_row("  samples", f"{len(progress.samples)} (for the rate)")
    return [Text("progress, as of this snapshot:", style="bold"), grid]


def _mapping(title: str, values: dict[str, Any]) -> list[RenderableType]:
    heading = Text(f"{title} ({len(values)} key{'s' if len(values) != 1 else ''}):", style="bold")
    if not values:
        return [heading]
    grid = labelled()
    for key, value in sorted(values.items()):
        grid.add_row(f"  {key}", _value(value))
    return [heading, grid]


def _value(value: Any) -> str:
    text = json.dumps(to_loggable(value), ensure_ascii=False, sort_keys=True)
    if len(text) > _VALUE_CHARS:
        return text[: _VALUE_CHARS - 3] + "..."
    return text


def _graph_state(checkpoint: Checkpoint) -> list[RenderableType]:
    grid = labelled()
    grid.add_row("  visits", _counted(checkpoint.visit_counts))
    grid.add_row("  retries", _counted(checkpoint.retry_counts))
    if checkpoint.plan_state is not None:
        steps = checkpoint.plan_state.plan.get("steps", [])
        shown = ", ".join(
            f"{step.get('id')}={step.get('status')}" for step in steps if isinstance(step, dict)
        )
        grid.add_row(f"  plan (revision {checkpoint.plan_state.revision})", shown or "-")
    if checkpoint.context:
        grid.add_row("  context", _value(checkpoint.context))
    return [Text("executor state:", style="bold"), grid]


def _counted(counts: dict[str, int]) -> str:
    return ", ".join(f"{key}={value}" for key, value in counts.items()) or "-"


def diff_view(diff: CheckpointDiff) -> Group:
    """``diff``: memory keys added (``+``), removed (``-``), changed (``~``), the path."""
    before, after = diff.before, diff.after
    head = Text(
        f"run {after.run_id}: checkpoint {before.id} (seq {before.seq}) -> "
        f"{after.id} (seq {after.seq})",
        style="bold",
    )
    grid = labelled()
    path = diff.path
    grown = " -> ".join(path.added) or "-"
    grid.add_row("path", f"+ {grown}" if not path.removed else f"- {' -> '.join(path.removed)}")
    if path.removed:
        grid.add_row("", f"+ {grown}")
    grid.add_row("next", f"{before.next_node_id or '-'} -> {after.next_node_id or '-'}")
    grid.add_row("steps", f"{before.step_number} -> {after.step_number}")
    grid.add_row(
        "tokens", f"{tokens_text(before.total_tokens)} -> {tokens_text(after.total_tokens)}"
    )
    grid.add_row("cost", f"{cost_text(before.total_cost)} -> {cost_text(after.total_cost)}")
    summary = (
        f"memory: {len(diff.added)} added, {len(diff.removed)} removed, {len(diff.changed)} changed"
    )
    parts: list[RenderableType] = [head, grid, Text(summary, style="bold")]
    memory = labelled()
    for key, value in diff.added.items():
        memory.add_row(Text(f"  + {key}", style="green"), _value(value))
    for key, value in diff.removed.items():
        memory.add_row(Text(f"  - {key}", style="red"), _value(value))
    for key, change in diff.changed.items():
        memory.add_row(
            Text(f"  ~ {key}", style="yellow"), f"{_value(change.old)} -> {_value(change.new)}"
        )
    if not diff.memory_unchanged:
        parts.append(memory)
    return Group(*parts)


def verification_view(report: RunVerification, advice: Sequence[str]) -> Group:
    """``verify``: intact or not, what is damaged, and what to do."""
    if report.ok:
        head = Text(f"run {report.run_id}: ok", style="green")
        head.append(f", {report.stored} checkpoint(s) intact", style="")
    else:
        head = Text(f"run {report.run_id}: damaged", style="red")
        head.append(f", {len(report.corrupt)} of {report.stored} checkpoint(s) fail their checks")
    grid = labelled()
    grid.add_row("status", report.status.value)
    grid.add_row("record names", report.recorded_checkpoint_id or "no checkpoint yet")
    latest = report.latest_valid
    grid.add_row(
        "continues from",
        "-" if latest is None else f"{latest.id} (seq {latest.seq}, after {latest.node_id or '-'})",
    )
    parts: list[RenderableType] = [head, grid]
    if report.problems:
        parts.append(Text("problems:", style="bold"))
        parts.extend(Text(f"  - {problem}") for problem in report.problems)
    if advice:
        parts.append(Text("what to do:", style="bold"))
        parts.extend(Text(f"  - {step}") for step in advice)
    return Group(*parts)
