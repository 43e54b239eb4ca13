"""The JSON documents the view commands print: plain dicts of JSON values, one function each.

These are the shapes of ``--json`` (and, one per line, ``--jsonl``), and what an HTTP API
returns for the same questions, so they are built here, apart from any printing. Times are
ISO 8601 in UTC; money is in the providers' currency; values of a run's memory are JSON as
the run's decision log writes them (what JSON cannot hold, as its ``repr``).

A batch's status is :class:`~framework.batch.BatchStatus` as it dumps, with ``kind`` and
``counts.total`` added; a graph or plan run's status carries the same ``kind``, ``run_id``,
``status`` and ``reason`` keys, so a reader tells them apart by ``kind``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from datetime import datetime
from enum import StrEnum
from typing import Any

from framework.batch.progress import BatchProgress, BatchStatus
from framework.cli.diffing import CheckpointDiff
from framework.cli.reading import Standing
from framework.durable import RunVerification
from framework.runtime.records import to_loggable
from framework.schemas.checkpoint import Checkpoint, CheckpointMetadata, ExecutorType
from framework.schemas.item import ItemCounts, ItemRecord
from framework.schemas.run import RunRecord

__all__ = [
    "GroupBy",
    "batch_status",
    "checkpoint_document",
    "checkpoint_row",
    "diff_document",
    "executor_state",
    "group_rows",
    "item_row",
    "run_row",
    "run_status",
    "verification_document",
]

Document = dict[str, Any]


class GroupBy(StrEnum):
    """What ``runs --group-by`` counts the runs per."""

    STATUS = "status"
    """One group per run status."""
    ERROR = "error"
    """One group per last error, as its text on one line (runs without one in a group too)."""


# --- runs -------------------------------------------------------------------------------


def run_row(record: RunRecord, counts: ItemCounts | None = None) -> Document:
    """One run as ``runs`` lists it; ``counts`` are a batch's live item counts.

    ``progress`` is ``{"done", "total", "of"}``: a batch's finished items (completed,
    failed, skipped) of all its items, a graph or plan run's steps done (``total`` null:
    how many remain is not known before the run ends).
    """
    tokens, cost = record.totals.tokens, record.totals.cost
    if counts is not None:
        tokens, cost = _tokens(counts), counts.usage.cost
        progress: Document = {"done": counts.finished, "total": counts.total, "of": "items"}
    else:
        progress = {"done": record.totals.steps, "total": None, "of": "steps"}
    return {
        "run_id": record.run_id,
        "agent_id": record.agent_id,
        "kind": record.executor_type.value,
        "status": record.status.value,
        "reason": record.status_reason,
        "progress": progress,
        "tokens": tokens,
        "cost": cost,
        "created_at": _time(record.created_at),
        "updated_at": _time(record.updated_at),
        "finished_at": _time(record.finished_at),
        "last_error": record.last_error,
        "parent_run_id": record.parent_run_id,
    }


def group_rows(records: Iterable[RunRecord], by: GroupBy) -> list[Document]:
    """How many runs there are per status (or per error text), most first.

    The error text is the run's last error on one line; runs without one are counted under
    ``null``.
    """
    key = "status" if by is GroupBy.STATUS else "error"
    counted = Counter(_group_key(record, by) for record in records)
    ordered = sorted(
        counted.items(), key=lambda entry: (-entry[1], entry[0] is None, entry[0] or "")
    )
    return [{key: value, "runs": runs} for value, runs in ordered]


def _group_key(record: RunRecord, by: GroupBy) -> str | None:
    if by is GroupBy.STATUS:
        return record.status.value
    return " ".join(record.last_error.split()) if record.last_error else None


# --- status -----------------------------------------------------------------------------


def run_status(standing: Standing) -> Document:
    """``status --json``: a batch's :func:`batch_status`, else a graph or plan run's
    record with where its latest checkpoint says it is."""
    if standing.batch is not None:
        return batch_status(standing.batch)
    record, checkpoint = standing.record, standing.checkpoint
    control = standing.control
    return {
        "kind": record.executor_type.value,
        "run_id": record.run_id,
        "agent_id": record.agent_id,
        "graph_id": record.graph_id,
        "status": record.status.value,
        "reason": record.status_reason,
        "last_error": record.last_error,
        "current_node": None if checkpoint is None else checkpoint.node_id,
        "next_node": None if checkpoint is None else checkpoint.next_node_id,
        "path": [] if checkpoint is None else list(checkpoint.execution_path),
        "checkpoint_id": None if checkpoint is None else checkpoint.id,
        "totals": record.totals.model_dump(mode="json"),
        "budget": record.budget.model_dump(mode="json"),
        "created_at": _time(record.created_at),
        "updated_at": _time(record.updated_at),
        "finished_at": _time(record.finished_at),
        "requested": None if control is None else control.model_dump(mode="json"),
        "lease": {
            "owner": record.lease_owner,
            "expires_at": _time(record.lease_expires_at),
            "live": record.has_live_lease(),
        },
        "parent_run_id": record.parent_run_id,
        "damage": list(standing.damage),
    }


def batch_status(status: BatchStatus) -> Document:
    """A batch's status: :class:`BatchStatus` as it dumps, ``kind`` and ``counts.total``
    added."""
    document: Document = {"kind": ExecutorType.BATCH.value, **status.model_dump(mode="json")}
    document["counts"]["total"] = status.counts.total
    return document


# --- checkpoints ------------------------------------------------------------------------


def checkpoint_row(meta: CheckpointMetadata) -> Document:
    """One checkpoint as ``checkpoints`` lists it (its stored metadata)."""
    return meta.model_dump(mode="json")


def checkpoint_document(checkpoint: Checkpoint) -> Document:
    """``inspect --json``: everything a checkpoint holds, its executor's state apart."""
    return {
        "id": checkpoint.id,
        "run_id": checkpoint.run_id,
        "seq": checkpoint.seq,
        "kind": checkpoint.kind.value,
        "executor_type": checkpoint.executor_type.value,
        "created_at": _time(checkpoint.created_at),
        "node_id": checkpoint.node_id,
        "next_node_id": checkpoint.next_node_id,
        "path": list(checkpoint.execution_path),
        "step_number": checkpoint.step_number,
        "totals": {
            "tokens": checkpoint.total_tokens,
            "cost": checkpoint.total_cost,
            "latency_ms": checkpoint.total_latency_ms,
        },
        "memory": to_loggable(checkpoint.memory_snapshot),
        "pending_input": to_loggable(checkpoint.pending_input),
        "metadata": to_loggable(checkpoint.metadata),
        "state": executor_state(checkpoint),
        "graph_fingerprint": checkpoint.graph_fingerprint,
        "parent_run_id": checkpoint.parent_run_id,
        "parent_checkpoint_id": checkpoint.parent_checkpoint_id,
    }


def executor_state(checkpoint: Checkpoint) -> Document:
    """What only its executor reads back: a graph's visit and retry counts, a plan's steps,
    a batch's progress; any extra state under ``context``."""
    if checkpoint.executor_type is ExecutorType.BATCH:
        return {"batch": BatchProgress.of(checkpoint).model_dump(mode="json")}
    context = {k: v for k, v in checkpoint.context.items() if k != "batch"}
    state: Document = {
        "visit_counts": dict(checkpoint.visit_counts),
        "retry_counts": dict(checkpoint.retry_counts),
    }
    if checkpoint.plan_state is not None:
        state["plan"] = to_loggable(checkpoint.plan_state.plan)
        state["plan_revision"] = checkpoint.plan_state.revision
    state["context"] = to_loggable(context)
    return state


def diff_document(diff: CheckpointDiff) -> Document:
    """``diff --json``: memory keys added / removed / changed, the path, the counters."""
    before, after = diff.before, diff.after
    return {
        "run_id": after.run_id,
        "from": _side(before),
        "to": _side(after),
        "memory": {
            "added": to_loggable(diff.added),
            "removed": to_loggable(diff.removed),
            "changed": {
                key: {"old": to_loggable(change.old), "new": to_loggable(change.new)}
                for key, change in diff.changed.items()
            },
        },
        "path": {
            "from": diff.path.before,
            "to": diff.path.after,
            "added": diff.path.added,
            "removed": diff.path.removed,
        },
        "next_node": {"from": before.next_node_id, "to": after.next_node_id},
        "steps": {"from": before.step_number, "to": after.step_number},
        "tokens": {"from": before.total_tokens, "to": after.total_tokens},
        "cost": {"from": before.total_cost, "to": after.total_cost},
        "pending_input": {
            "from": to_loggable(before.pending_input),
            "to": to_loggable(after.pending_input),
        },
    }


def _side(checkpoint: Checkpoint) -> Document:
    return {
        "id": checkpoint.id,
        "seq": checkpoint.seq,
        "kind": checkpoint.kind.value,
        "node_id": checkpoint.node_id,
        "created_at": _time(checkpoint.created_at),
    }


def verification_document(report: RunVerification, advice: list[str]) -> Document:
    """``verify --json``: what :meth:`CheckpointManager.averify_run` found, and what to do."""
    return {
        **report.model_dump(mode="json"),
        "ok": report.ok,
        "lost": report.lost,
        "advice": advice,
    }


# --- items ------------------------------------------------------------------------------


def item_row(item: ItemRecord) -> Document:
    """One item of a batch's ledger as ``items`` lists it (its input and result aside)."""
    error = item.last_error
    usage = item.usage
    return {
        "item_id": item.item_id,
        "seq": item.seq,
        "status": item.status.value,
        "attempts": item.attempts,
        "error": None if error is None else error.model_dump(mode="json"),
        "tokens": usage.tokens_in + usage.tokens_out,
        "tokens_in": usage.tokens_in,
        "tokens_out": usage.tokens_out,
        "cost": usage.cost,
        "worker": item.worker,
        "added_at": _time(item.added_at),
        "started_at": _time(item.started_at),
        "finished_at": _time(item.finished_at),
        "next_attempt_at": _time(item.next_attempt_at),
    }


def _tokens(counts: ItemCounts) -> int:
    return counts.usage.tokens_in + counts.usage.tokens_out


def _time(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()
