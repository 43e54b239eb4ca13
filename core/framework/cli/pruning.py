"""``agentgraph prune``: what old runs and checkpoints could go, removed only with ``--yes``.

Two kinds of removal, never mixed in one call:

- without ``--keep``: whole runs — record, checkpoints, effects and items — that are
  finished (completed or cancelled; ``--status`` picks one), finished before
  ``--older-than``, or just ``--run``. A run that may still resume (pending, running,
  paused, failed) is never removed, nor a finished run that belongs to one (an item's graph
  run inside an unfinished batch, named by :func:`~framework.batch.child_run_id`: a batch
  that puts the item back reuses its result).
- with ``--keep N``: checkpoints — each selected run keeps its ``N`` newest, and never its
  newest intact checkpoint or any after it, the one a resume continues from. A run with no
  intact checkpoint left is not touched (see ``agentgraph verify``).

Sizes are the checkpoints' state sizes as stored with them: what is freed is at most that
(checkpoints stored as deltas share data).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from enum import StrEnum
from typing import Annotated

import anyio
import typer
from pydantic import BaseModel, ConfigDict, Field, computed_field

from framework.cli.output import errors_as_messages, print_json, say
from framework.cli.run_filters import moment
from framework.cli.storage_option import StorageUrl, opened, stored_run
from framework.durable import CheckpointManager
from framework.schemas.checkpoint import CheckpointMetadata
from framework.schemas.ids import ID_MAX_LENGTH
from framework.schemas.run import RunRecord, RunStatus

__all__ = ["CheckpointTrim", "KeptRun", "PrunePlan", "RunRemoval", "prune"]

# child_run_id keeps this much of a long batch id before "--" and the item's hash.
_CHILD_PREFIX = ID_MAX_LENGTH - 27
_LISTED = 20


class FinishedStatus(StrEnum):
    """The statuses of runs that never run again, which ``prune`` may remove."""

    COMPLETED = "completed"
    """Runs that finished; their result goes with them."""
    CANCELLED = "cancelled"
    """Runs stopped for good."""


class RunRemoval(BaseModel):
    """A finished run to remove entirely."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    run_id: str
    """The run."""
    status: RunStatus
    """Completed or cancelled."""
    finished_at: datetime
    """When it finished (or last changed)."""
    checkpoints: int
    """Its checkpoints, all removed with it."""
    items: int
    """Its batch items, all removed with it."""
    bytes: int
    """Its checkpoints' state size."""


class CheckpointTrim(BaseModel):
    """A run whose oldest checkpoints are to go."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    run_id: str
    """The run."""
    status: RunStatus
    """Its status (any: trimming leaves what a resume needs)."""
    removed: list[str]
    """The checkpoints to remove, oldest first."""
    kept: int
    """How many stay (``--keep``, or more to keep the newest intact one and those after it)."""
    bytes: int
    """The removed checkpoints' state size."""


class KeptRun(BaseModel):
    """A selected run left as it is, and why."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    run_id: str
    """The run."""
    status: RunStatus
    """Its status."""
    reason: str
    """Why it stays."""


class PrunePlan(BaseModel):
    """What ``prune`` removes (``removed``: it did, with ``--yes``) or would remove."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    runs: list[RunRemoval] = Field(default_factory=list)
    """Finished runs removed entirely."""
    checkpoints: list[CheckpointTrim] = Field(default_factory=list)
    """Runs whose oldest checkpoints go (``--keep``)."""
    kept: list[KeptRun] = Field(default_factory=list)
    """Selected runs left as they are."""
    removed: bool = False
    """Whether it was carried out (``--yes``) or only shown."""

    @computed_field  # type: ignore[prop-decorator]
    @property
    def checkpoint_count(self) -> int:
        """Checkpoints removed in all, those of removed runs included."""
        return sum(run.checkpoints for run in self.runs) + sum(
            len(trim.removed) for trim in self.checkpoints
        )

    @computed_field  # type: ignore[prop-decorator]
    @property
    def bytes(self) -> int:
        """The state size of every checkpoint removed."""
        return sum(run.bytes for run in self.runs) + sum(trim.bytes for trim in self.checkpoints)


def prune(
    older_than: Annotated[
        str | None,
        typer.Option(
            "--older-than", help="Only runs finished (or changed) that long ago: 7d, 12h."
        ),
    ] = None,
    keep: Annotated[
        int | None,
        typer.Option(
            "--keep", min=1, help="Trim checkpoints instead: each run keeps its N newest."
        ),
    ] = None,
    run: Annotated[str | None, typer.Option("--run", help="Only this run.")] = None,
    status: Annotated[
        FinishedStatus | None, typer.Option("--status", help="Only finished runs with this status.")
    ] = None,
    yes: Annotated[
        bool, typer.Option("--yes", "-y", help="Remove; without it, only show.")
    ] = False,
    storage: StorageUrl = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print only JSON.")] = False,
) -> None:
    """Show the finished runs (or, with --keep, old checkpoints) to remove; --yes removes them."""
    if older_than is None and keep is None and run is None and status is None:
        raise typer.BadParameter("give --older-than, --keep, --run or --status")
    with errors_as_messages():
        cutoff = None if older_than is None else moment(older_than)
        wanted = None if status is None else RunStatus(status.value)
        plan = anyio.run(_pruned, storage, run, cutoff, wanted, keep, yes)
    if as_json:
        print_json(plan.model_dump(mode="json"))
    else:
        _show(plan)


async def _pruned(
    storage: str | None,
    run: str | None,
    cutoff: datetime | None,
    status: RunStatus | None,
    keep: int | None,
    yes: bool,
) -> PrunePlan:
    async with opened(storage) as manager:
        every = await manager.storage.alist_runs()
        records = every if run is None else [await stored_run(manager, run, storage)]
        selected = [
            record
            for record in records
            if (status is None or record.status is status)
            and (cutoff is None or _when(record) < cutoff)
        ]
        if keep is None:
            plan = await _run_plan(manager, selected, every, named=run is not None)
        else:
            plan = await _trim_plan(manager, selected, keep)
        if yes:
            plan = await _carried_out(manager, plan)
    return plan


async def _run_plan(
    manager: CheckpointManager, selected: list[RunRecord], every: list[RunRecord], named: bool
) -> PrunePlan:
    owners = _unfinished_prefixes(every)
    plan = PrunePlan()
    for record in selected:
        if not record.status.is_final:
            if named:
                why = "only completed or cancelled runs are removed (--keep N trims checkpoints)"
                plan.kept.append(_kept(record, f"it may still resume: {why}"))
            continue
        owner = _owner(record.run_id, owners)
        if owner is not None:
            plan.kept.append(_kept(record, f"it belongs to unfinished run {owner}"))
            continue
        listed = await manager.alist_checkpoints(record.run_id)
        items = await manager.storage.aitem_counts(record.run_id)
        plan.runs.append(
            RunRemoval(
                run_id=record.run_id,
                status=record.status,
                finished_at=_when(record),
                checkpoints=len(listed),
                items=items.total,
                bytes=_size(listed),
            )
        )
    return plan


async def _trim_plan(manager: CheckpointManager, selected: list[RunRecord], keep: int) -> PrunePlan:
    plan = PrunePlan()
    for record in selected:
        listed = await manager.alist_checkpoints(record.run_id)
        if len(listed) <= keep:
            continue
        intact = await manager.aget_checkpoint(record.run_id)
        if intact is None or intact.seq is None:
            plan.kept.append(_kept(record, "none of its checkpoints is intact (see verify)"))
            continue
        # Everything from the newest intact checkpoint on: a resume continues from it.
        kept = max(keep, sum(1 for meta in listed if meta.seq >= intact.seq))
        removed = listed[: len(listed) - kept]
        if removed:
            trim = CheckpointTrim(
                run_id=record.run_id,
                status=record.status,
                removed=[meta.id for meta in removed],
                kept=kept,
                bytes=_size(removed),
            )
            plan.checkpoints.append(trim)
    return plan


async def _carried_out(manager: CheckpointManager, plan: PrunePlan) -> PrunePlan:
    """``plan`` done; a run that started again since it was planned is left alone."""
    storage = manager.storage
    runs = []
    for removal in plan.runs:
        record = await storage.aget_run(removal.run_id)
        if record is not None and record.status.is_final:
            await storage.adelete_run(removal.run_id)
            runs.append(removal)
    for trim in plan.checkpoints:
        await storage.aprune_checkpoints(trim.run_id, trim.kept)
    return plan.model_copy(update={"runs": runs, "removed": True})


def _show(plan: PrunePlan) -> None:
    verb = "removed" if plan.removed else "would remove"
    if plan.runs:
        say(f"{verb} {len(plan.runs)} run(s):")
        _listed(
            f"  {run.run_id}  {run.status.value}  finished {run.finished_at:%Y-%m-%d %H:%M} "
            f"UTC  {run.checkpoints} checkpoint(s), {run.items} item(s), {_bytes(run.bytes)}"
            for run in plan.runs
        )
    if plan.checkpoints:
        say(f"{verb} old checkpoints of {len(plan.checkpoints)} run(s):")
        _listed(
            f"  {trim.run_id}  {trim.status.value}  {len(trim.removed)} checkpoint(s), "
            f"{_bytes(trim.bytes)}; keeps {trim.kept}"
            for trim in plan.checkpoints
        )
    if plan.kept:
        say(f"kept {len(plan.kept)} run(s):")
        _listed(f"  {kept.run_id}  {kept.status.value}: {kept.reason}" for kept in plan.kept)
    if not plan.runs and not plan.checkpoints:
        say("nothing to remove")
        return
    total = (
        f"{len(plan.runs)} run(s), {plan.checkpoint_count} checkpoint(s), "
        f"{_bytes(plan.bytes)} of checkpoint state"
    )
    if plan.removed:
        say(f"removed {total}")
    else:
        say(f"would remove {total}; nothing was removed: run again with --yes to remove it")


def _listed(lines: Iterable[str]) -> None:
    """The first lines of a long list, then how many more (``--json`` has them all)."""
    count = 0
    for count, line in enumerate(lines, 1):
        if count <= _LISTED:
            say(line)
    if count > _LISTED:
        say(f"  ... and {count - _LISTED} more (--json lists them all)")


def _kept(record: RunRecord, reason: str) -> KeptRun:
    return KeptRun(run_id=record.run_id, status=record.status, reason=reason)


def _when(record: RunRecord) -> datetime:
    return record.finished_at or record.updated_at


def _size(listed: list[CheckpointMetadata]) -> int:
    return sum(meta.size_bytes for meta in listed)


def _bytes(size: int) -> str:
    """``812 B``, ``12.3 kB``, ``4.0 MB``."""
    if size < 1000:
        return f"{size} B"
    value, unit = size / 1000, "kB"
    for larger in ("MB", "GB"):
        if value < 1000:
            break
        value, unit = value / 1000, larger
    return f"{value:.1f} {unit}"


def _unfinished_prefixes(records: list[RunRecord]) -> dict[str, str]:
    """The id (and the shortened id child runs use) of each unfinished run, to that run."""
    prefixes: dict[str, str] = {}
    for record in records:
        if not record.status.is_final:
            prefixes[record.run_id] = record.run_id
            prefixes.setdefault(record.run_id[:_CHILD_PREFIX], record.run_id)
    return prefixes


def _owner(run_id: str, prefixes: dict[str, str]) -> str | None:
    """The unfinished run ``run_id`` is a child run of (``<its id>--<item>``), if any."""
    parts = run_id.split("--")
    for end in range(1, len(parts)):
        owner = prefixes.get("--".join(parts[:end]))
        if owner is not None:
            return owner
    return None
