"""The commands that show runs, as one typer app that :mod:`framework.cli.main` adds to its own.

``runs``, ``status``, ``watch``, ``checkpoints``, ``inspect``, ``diff``, ``verify`` and
``items`` read storage and change nothing in it, so they may be pointed at the store of runs
that other processes (or machines) are running. Each takes ``--storage`` as ``run`` does.
Human output is a table or panel on stdout (:mod:`.tables`); ``--json`` prints one JSON
document and ``--jsonl`` one JSON object per line (:mod:`.shapes`), stdout holding nothing
else.

Exit codes: 0 shown (``verify``: intact; ``watch``: the run completed or paused); 1 any
error (one line, ``error: ...``, on stderr), ``verify`` finding damage, ``watch`` seeing the
run fail, be cancelled or lose its process; 2 a usage error; 3 a run or checkpoint id the
storage does not hold (the line names the command that lists what it holds); 130 ``watch``
stopped by Ctrl-C (the run goes on).
"""

from __future__ import annotations

import signal
import sys
from collections.abc import Awaitable, Callable
from enum import StrEnum
from typing import Annotated, Any, TypeVar

import anyio
import typer
from rich.console import RenderableType

from framework.cli.advice import next_steps, repairs
from framework.cli.confirm import (
    AgentFilter,
    ErrorFilter,
    SinceFilter,
    StatusFilter,
    UntilFilter,
    selection_of,
)
from framework.cli.diffing import diff_checkpoints
from framework.cli.interrupt import exit_code_for
from framework.cli.output import fail, fail_not_found, note, print_json, print_json_lines, say
from framework.cli.panels import checkpoint_view, diff_view, status_view, verification_view
from framework.cli.reading import Reader, Standing
from framework.cli.shapes import (
    GroupBy,
    checkpoint_document,
    checkpoint_row,
    diff_document,
    group_rows,
    item_row,
    run_row,
    run_status,
    verification_document,
)
from framework.cli.storage_option import RunId, StorageUrl, opened, pasteable
from framework.cli.tables import (
    checkpoints_table,
    emit,
    groups_table,
    items_table,
    runs_table,
)
from framework.cli.watching import Watch
from framework.durable import RunVerification
from framework.errors import AgentGraphError, CheckpointError, RunNotFoundError
from framework.schemas.checkpoint import Checkpoint, ExecutorType
from framework.schemas.item import ItemRecord, ItemStatus
from framework.schemas.run import RunRecord, RunStatus

__all__ = ["view_commands"]

T = TypeVar("T")

view_commands = typer.Typer()

DEFAULT_LIMIT = 100
"""Runs (or items) listed when ``--limit`` is not given."""

AsJson = Annotated[bool, typer.Option("--json", help="Print one JSON document.")]
AsJsonl = Annotated[bool, typer.Option("--jsonl", help="Print one JSON object per line.")]
Limit = Annotated[
    int | None,
    typer.Option(
        "--limit",
        min=1,
        help=f"List at most this many (default {DEFAULT_LIMIT}).",
    ),
]


class _Format(StrEnum):
    """How a command prints what it read."""

    TEXT = "text"
    """Tables and panels for a person."""
    JSON = "json"
    """One JSON document (``--json``)."""
    JSONL = "jsonl"
    """One JSON object per line (``--jsonl``)."""


def _format(as_json: bool, as_jsonl: bool = False) -> _Format:
    if as_json and as_jsonl:
        raise typer.BadParameter("give --json or --jsonl, not both")
    return _Format.JSON if as_json else _Format.JSONL if as_jsonl else _Format.TEXT


def _listed(
    shape: _Format,
    key: str,
    rows: list[dict[str, Any]],
    table: Callable[[], RenderableType],
    empty: str | None,
) -> None:
    """``rows`` as one JSON document (under ``key``) or JSON Lines; else ``table()``, or
    ``empty`` (a line saying there is nothing) when there are no rows."""
    if shape is _Format.JSON:
        print_json({key: rows})
    elif shape is _Format.JSONL:
        print_json_lines(rows)
    elif rows:
        emit(table())
    elif empty is not None:
        say(empty)


def _reading(storage: str | None, work: Callable[[Reader], Awaitable[T]]) -> T:
    """``work`` done on a reader of ``storage``; its errors as one line each (see the
    module docs for the exit codes)."""

    async def read() -> T:
        async with opened(storage) as manager:
            return await work(Reader(manager.storage, storage))

    try:
        return anyio.run(read)
    except RunNotFoundError as exc:
        fail_not_found(str(exc))
    except AgentGraphError as exc:
        fail(str(exc))


# --- runs -------------------------------------------------------------------------------


@view_commands.command()
def runs(
    status: StatusFilter = None,
    agent: AgentFilter = None,
    since: SinceFilter = None,
    until: UntilFilter = None,
    error_contains: ErrorFilter = None,
    limit: Limit = None,
    offset: Annotated[int, typer.Option("--offset", min=0, help="Skip this many runs first.")] = 0,
    group_by: Annotated[
        GroupBy | None,
        typer.Option("--group-by", help="Count the matching runs per status or per error."),
    ] = None,
    as_json: AsJson = False,
    as_jsonl: AsJsonl = False,
    storage: StorageUrl = None,
) -> None:
    """List the runs in storage, newest first: kind, status, progress, tokens, cost."""
    shape = _format(as_json, as_jsonl)
    selection = selection_of(status, agent, since, until, error_contains)
    if group_by is not None:
        if limit is not None or offset:
            raise typer.BadParameter(
                "--group-by counts every matching run; drop --limit / --offset"
            )
        matching = _reading(storage, lambda reader: reader.page(selection, limit=None, offset=0))
        groups = group_rows(matching.records, group_by)
        _listed(
            shape, "groups", groups, lambda: groups_table(groups, group_by.value), "no runs match"
        )
        return
    shown = limit or DEFAULT_LIMIT
    page = _reading(storage, lambda reader: reader.page(selection, limit=shown, offset=offset))
    rows = [run_row(record, page.counts.get(record.run_id)) for record in page.records]
    empty = "no runs" if selection.is_empty and not offset else "no runs match"
    _listed(shape, "runs", rows, lambda: runs_table(page.records, page.counts), empty)
    if offset + len(page.records) < page.matching:
        note(
            f"{len(page.records)} of {page.matching} runs shown; "
            f"the next ones with --offset {offset + len(page.records)}"
        )


# --- status and watch -------------------------------------------------------------------


@view_commands.command()
def status(run_id: RunId, as_json: AsJson = False, storage: StorageUrl = None) -> None:
    """How a run stands: status, reason, where it is; a batch's items, rate, ETA, failures."""
    standing = _reading(storage, lambda reader: reader.standing(run_id))
    if as_json:
        print_json(run_status(standing))
        for problem in standing.damage:
            note(f"damaged: {problem}")
        return
    emit(status_view(standing))
    for hint in next_steps(standing, storage):
        say(hint)


@view_commands.command()
def watch(
    run_id: RunId,
    interval: Annotated[
        float | None,
        typer.Option(
            "--interval",
            min=0.01,
            help="Seconds between two reads of the run (default 1 on a terminal, else 5).",
        ),
    ] = None,
    storage: StorageUrl = None,
) -> None:
    """Follow a run until it ends: a live panel on a terminal, else one line per read."""
    live = sys.stdout.isatty()
    every = interval if interval is not None else 1.0 if live else 5.0

    async def follow(reader: Reader) -> tuple[Standing, bool]:
        watching = Watch(reader, run_id, every, hints=lambda s: next_steps(s, storage))
        standing = await (watching.panel() if live else watching.lines())
        return standing, watching.gone(standing)

    try:
        standing, gone = _reading(storage, follow)
    except KeyboardInterrupt:
        note(f"stopped watching; run {run_id} goes on")
        raise typer.Exit(exit_code_for(signal.SIGINT)) from None
    if gone:
        note(
            f"run {run_id} says it is running, but no live process holds it: the process "
            "running it has gone"
        )
        raise typer.Exit(1)
    if standing.status in (RunStatus.FAILED, RunStatus.CANCELLED):
        raise typer.Exit(1)


# --- checkpoints ------------------------------------------------------------------------


@view_commands.command()
def checkpoints(
    run_id: RunId, as_json: AsJson = False, as_jsonl: AsJsonl = False, storage: StorageUrl = None
) -> None:
    """List a run's checkpoints, oldest first."""
    shape = _format(as_json, as_jsonl)
    listed = _reading(storage, lambda reader: reader.checkpoints(run_id))
    rows = [checkpoint_row(meta) for meta in listed]
    _listed(
        shape,
        "checkpoints",
        rows,
        lambda: checkpoints_table(listed),
        f"run {run_id} has no checkpoints",
    )


CheckpointRef = Annotated[
    str,
    typer.Argument(help="A checkpoint's id, its seq number, or 'latest'.", show_default=False),
]


@view_commands.command()
def inspect(
    run_id: RunId,
    checkpoint_id: Annotated[
        str | None,
        typer.Argument(
            help="A checkpoint's id or seq number (default: the latest valid one).",
            show_default=False,
        ),
    ] = None,
    as_json: AsJson = False,
    storage: StorageUrl = None,
) -> None:
    """Show what a checkpoint holds: memory, path, pending input, metadata, executor state."""
    checkpoint = _reading(storage, _loading(run_id, checkpoint_id, storage))
    if as_json:
        print_json(checkpoint_document(checkpoint))
    else:
        emit(checkpoint_view(checkpoint))


@view_commands.command()
def diff(
    run_id: RunId,
    first: CheckpointRef,
    second: CheckpointRef,
    as_json: AsJson = False,
    storage: StorageUrl = None,
) -> None:
    """What changed from one checkpoint to another: memory keys, path, counters."""

    async def both(reader: Reader) -> tuple[Checkpoint, Checkpoint]:
        before = await _loading(run_id, first, storage)(reader)
        return before, await _loading(run_id, second, storage)(reader)

    changes = diff_checkpoints(*_reading(storage, both))
    if as_json:
        print_json(diff_document(changes))
    else:
        emit(diff_view(changes))


def _loading(
    run_id: str, ref: str | None, storage: str | None
) -> Callable[[Reader], Awaitable[Checkpoint]]:
    """Reads checkpoint ``ref`` of the run: a damaged one is an error saying what to do, a
    newer damaged one skipped for the latest is a note on stderr."""

    async def load(reader: Reader) -> Checkpoint:
        check = pasteable("verify", run_id, storage=storage)
        seen = len(reader.damage)
        try:
            checkpoint = await reader.checkpoint(run_id, ref)
        except CheckpointError as exc:
            raise CheckpointError(f"{exc}; see what else is damaged with: {check}") from exc
        for problem in reader.damage[seen:]:
            note(f"damaged: {problem}; check the run with: {check}")
        return checkpoint

    return load


@view_commands.command()
def verify(run_id: RunId, as_json: AsJson = False, storage: StorageUrl = None) -> None:
    """Check a run's checkpoints (checksums and chains) against its record; exit 1 if damaged."""

    async def check(reader: Reader) -> tuple[RunVerification, ExecutorType]:
        report = await reader.verification(run_id)
        return report, (await reader.record(run_id)).executor_type

    report, kind = _reading(storage, check)
    advice = repairs(report, kind, storage)
    if as_json:
        print_json(verification_document(report, advice))
    else:
        emit(verification_view(report, advice))
    if not report.ok:
        raise typer.Exit(1)


# --- items ------------------------------------------------------------------------------


@view_commands.command()
def items(
    run_id: RunId,
    status: Annotated[
        ItemStatus | None, typer.Option("--status", help="Only items with this status.")
    ] = None,
    error_contains: Annotated[
        str | None,
        typer.Option("--error-contains", help="Only items whose last error has this text."),
    ] = None,
    limit: Limit = None,
    as_json: AsJson = False,
    as_jsonl: AsJsonl = False,
    storage: StorageUrl = None,
) -> None:
    """List a batch's items, in the order they were added: status, attempts, error, usage."""
    shape = _format(as_json, as_jsonl)
    shown = limit or DEFAULT_LIMIT

    async def ledger(reader: Reader) -> tuple[RunRecord, list[ItemRecord]]:
        record = await reader.record(run_id)
        listed = await reader.storage.alist_items(
            run_id, status=status, error_contains=error_contains, limit=shown + 1
        )
        return record, listed

    record, listed = _reading(storage, ledger)
    more = len(listed) > shown
    listed = listed[:shown]
    empty: str | None = None
    if record.executor_type is not ExecutorType.BATCH:
        note(f"run {run_id} is a {record.executor_type.value} run; only batches have items")
    else:
        empty = "no items match" if status or error_contains else f"batch {run_id} has no items"
    rows = [item_row(item) for item in listed]
    _listed(shape, "items", rows, lambda: items_table(listed), empty)
    if more:
        note(f"the first {shown} matching items are shown; see more with --limit")
