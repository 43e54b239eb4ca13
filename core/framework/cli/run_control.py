"""``pause``, ``cancel``, ``retry-failed`` and ``fork``: steering stored runs from any process.

Each works on the storage alone, through the
:class:`~framework.durable.CheckpointManager` (pause and cancel requests are stored, and the
process running the run honours them between nodes, or between items for a batch), so it
steers a run another process or machine runs against the same ``--storage``.

``pause``, ``cancel`` and ``retry-failed`` take one run id, or filters that select many
runs, listed and confirmed first (see :mod:`framework.cli.confirm`). For one run, a run that
cannot be steered so (pausing a completed run) is an error: one line, exit 1. For filters,
such runs are skipped, each named with the reason, and the others are still steered.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any

import anyio
import typer

from framework.batch import BatchRunner
from framework.cli.batch_command import resume_command
from framework.cli.confirm import (
    AgentFilter,
    ErrorFilter,
    OptionalRunId,
    SinceFilter,
    StatusFilter,
    UntilFilter,
    Yes,
    matching_runs,
    one_or_filtered,
    selection_of,
)
from framework.cli.output import errors_as_messages, fail, say
from framework.cli.run_filters import RunSelection
from framework.cli.storage_option import RunId, StorageUrl, opened, pasteable, stored_run
from framework.durable import CheckpointManager
from framework.errors import AgentGraphError
from framework.schemas.checkpoint import ExecutorType
from framework.schemas.run import RunRecord, RunStatus

__all__ = ["cancel", "fork", "pause", "resume_hint", "retry_failed"]

Reason = Annotated[str, typer.Option("--reason", help="Why, as the run's status will say.")]


@dataclass(frozen=True)
class Steered:
    """What steering one run did (``done``), or why it could not, as lines to print."""

    done: bool
    line: str


Act = Callable[[CheckpointManager, RunRecord], Awaitable[Steered]]


def pause(
    run_id: OptionalRunId = None,
    status: StatusFilter = None,
    agent: AgentFilter = None,
    since: SinceFilter = None,
    until: UntilFilter = None,
    error_contains: ErrorFilter = None,
    reason: Reason = "paused by agentgraph pause",
    yes: Yes = False,
    storage: StorageUrl = None,
) -> None:
    """Pause runs after their current node (a batch: once its items in flight are done)."""

    async def act(manager: CheckpointManager, record: RunRecord) -> Steered:
        run = record.run_id
        if await manager.arequest_pause(run, reason) is None:
            why = (
                "it is paused already" if record.status is RunStatus.PAUSED else "nothing to pause"
            )
            return Steered(False, f"run {run} is {record.status.value}: {why}")
        now = await stored_run(manager, run, storage)
        if now.status is RunStatus.PAUSED:
            line = f"run {run} paused (no live process was running it)"
        else:
            line = f"pause requested: run {run} pauses after {_in_flight(record)}"
        hint = resume_hint(record, storage)
        return Steered(True, line if hint is None else f"{line}\n{hint}")

    selection = selection_of(status, agent, since, until, error_contains)
    _steer(run_id, selection, yes, storage, "pause", act)


def cancel(
    run_id: OptionalRunId = None,
    status: StatusFilter = None,
    agent: AgentFilter = None,
    since: SinceFilter = None,
    until: UntilFilter = None,
    error_contains: ErrorFilter = None,
    reason: Reason = "cancelled by agentgraph cancel",
    yes: Yes = False,
    storage: StorageUrl = None,
) -> None:
    """Cancel runs for good (a running one stops after its current node or items in flight)."""

    async def act(manager: CheckpointManager, record: RunRecord) -> Steered:
        run = record.run_id
        if await manager.arequest_cancel(run, reason) is None:
            return Steered(False, f"run {run} is {record.status.value} already: nothing to cancel")
        now = await stored_run(manager, run, storage)
        if now.status is RunStatus.CANCELLED:
            return Steered(True, f"run {run} cancelled")
        return Steered(
            True, f"cancel requested: run {run} stops for good after {_in_flight(record)}"
        )

    selection = selection_of(status, agent, since, until, error_contains)
    _steer(run_id, selection, yes, storage, "cancel", act)


def retry_failed(
    run_id: OptionalRunId = None,
    item: Annotated[
        list[str] | None,
        typer.Option("--item", help="Only this failed item (repeat for more).", show_default=False),
    ] = None,
    error_type: Annotated[
        str | None,
        typer.Option("--error-type", help="Only items whose last error has this type name."),
    ] = None,
    status: StatusFilter = None,
    agent: AgentFilter = None,
    since: SinceFilter = None,
    until: UntilFilter = None,
    error_contains: ErrorFilter = None,
    yes: Yes = False,
    storage: StorageUrl = None,
) -> None:
    """Put a batch's failed items back to pending, each with its attempts anew."""

    async def act(manager: CheckpointManager, record: RunRecord) -> Steered:
        run = record.run_id
        if record.executor_type is not ExecutorType.BATCH:
            kind = record.executor_type.value
            return Steered(False, f"run {run} is a {kind} run, not a batch: it has no items")
        count = await BatchRunner(manager).retry_failed(run, item_ids=item, error_type=error_type)
        if count == 0:
            return Steered(True, f"batch {run}: no failed items to retry")
        line = f"batch {run}: {count} failed item(s) pending again"
        command = resume_command(record, storage)
        return Steered(True, line if command is None else f"{line}\nrun them with: {command}")

    selection = selection_of(status, agent, since, until, error_contains)
    _steer(run_id, selection, yes, storage, "retry the failed items of", act)


def fork(
    run_id: RunId,
    checkpoint: Annotated[
        str | None,
        typer.Option("--checkpoint", help="The checkpoint to start from (default: the latest)."),
    ] = None,
    sets: Annotated[
        list[str] | None,
        typer.Option(
            "--set",
            help="key=JSON: memory key set in the new run (repeat for more).",
            show_default=False,
        ),
    ] = None,
    new_run_id: Annotated[
        str | None, typer.Option("--run-id", help="Id of the new run (default: generated).")
    ] = None,
    storage: StorageUrl = None,
) -> None:
    """Start a new run from a checkpoint of a run, with memory keys set; the run is untouched."""
    updates = _memory_updates(sets or [])
    with errors_as_messages():
        forked, parent = anyio.run(_fork, run_id, checkpoint, new_run_id, updates, storage)
    changed = f" with {', '.join(sorted(updates))} set" if updates else ""
    say(f"forked run {run_id} at checkpoint {parent} as run {forked.run_id}{changed}")
    hint = resume_hint(forked, storage)
    if hint is not None:
        say(hint.replace("resume with:", "run it with:", 1))


async def _fork(
    run_id: str,
    checkpoint: str | None,
    new_run_id: str | None,
    updates: dict[str, Any],
    storage: str | None,
) -> tuple[RunRecord, str]:
    async with opened(storage) as manager:
        record = await stored_run(manager, run_id, storage)
        if record.executor_type is ExecutorType.BATCH:
            fail(
                f"run {run_id} is a batch: a fork copies a checkpoint, not the item ledger; "
                "start a new batch with agentgraph batch --run-id NEW instead"
            )
        forked_id = await manager.afork(run_id, checkpoint, new_run_id, updates)
        start = await manager.aget_checkpoint(forked_id)
        forked = await stored_run(manager, forked_id, storage)
    parent = start.parent_checkpoint_id if start is not None else None
    return forked, parent or checkpoint or "latest"


def resume_hint(record: RunRecord, storage: str | None) -> str | None:
    """``resume with: <command>`` for ``record``'s run, as exact as storage allows.

    A batch ``agentgraph batch`` started resumes by its id alone; a run of an agent folder
    needs that folder, which its record does not name: the line says which agent's it is.
    """
    command = resume_command(record, storage)
    if command is not None:
        return f"resume with: {command}"
    if record.agent_id is None or record.executor_type is ExecutorType.BATCH:
        return None
    template = pasteable("resume", "AGENT_DIR", record.run_id, storage=storage)
    return f"resume with: {template} (AGENT_DIR: the folder of agent {record.agent_id!r})"


def _in_flight(record: RunRecord) -> str:
    if record.executor_type is ExecutorType.BATCH:
        return "its items in flight"
    return "its current node"


def _memory_updates(sets: list[str]) -> dict[str, Any]:
    """``--set key=JSON`` options as memory updates (a bad one fails the command)."""
    updates: dict[str, Any] = {}
    for text in sets:
        key, equals, value = text.partition("=")
        if not equals or not key.strip():
            raise typer.BadParameter(f"--set {text!r}: give key=JSON, e.g. --set limit=3")
        try:
            updates[key.strip()] = json.loads(value)
        except json.JSONDecodeError as exc:
            fail(
                f"--set {key}: {value!r} is not valid JSON ({exc.msg}); a string is quoted: "
                f"--set '{key}=\"text\"'"
            )
    return updates


def _steer(
    run_id: str | None,
    selection: RunSelection,
    yes: bool,
    storage: str | None,
    verb: str,
    act: Act,
) -> None:
    one_or_filtered(run_id, selection)
    with errors_as_messages():
        anyio.run(_steered, run_id, selection, yes, storage, verb, act)


async def _steered(
    run_id: str | None,
    selection: RunSelection,
    yes: bool,
    storage: str | None,
    verb: str,
    act: Act,
) -> None:
    """Steer run ``run_id`` (its refusal fails the command), or every run ``selection``
    matches once confirmed (refusals and errors are reported per run)."""
    async with opened(storage) as manager:
        if run_id is not None:
            steered = await act(manager, await stored_run(manager, run_id, storage))
            if not steered.done:
                fail(steered.line)
            say(steered.line)
            return
        records = await matching_runs(manager.storage, selection, verb, yes)
        done = 0
        for record in records:
            try:
                steered = await act(manager, record)
            except AgentGraphError as exc:
                steered = Steered(False, f"run {record.run_id}: {' '.join(str(exc).split())}")
            done += steered.done
            say(steered.line if steered.done else f"skipped: {steered.line}")
        if records:
            say(f"{done} of {len(records)} run(s) done")
