"""Which runs a steering command acts on: one run by its id, or every run the filters match
once the user agreed.

``pause``, ``cancel`` and ``retry-failed`` take a run id or filters (``--status``,
``--agent``, ``--since``, ``--until``, ``--error-contains``; see
:mod:`framework.cli.run_filters`), never both. With filters the matching runs are listed
and the user is asked to confirm; ``--yes`` skips the question, and without a terminal to
ask on (a script, a pipe) the command refuses unless ``--yes`` is given.
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from framework.cli.output import fail, note, say
from framework.cli.run_filters import RunSelection, moment, selected_runs
from framework.errors import InvalidArgumentError
from framework.schemas.run import RunRecord, RunStatus
from framework.storage import StorageBackend

__all__ = [
    "AgentFilter",
    "ErrorFilter",
    "OptionalRunId",
    "SinceFilter",
    "StatusFilter",
    "UntilFilter",
    "Yes",
    "confirmed",
    "matching_runs",
    "one_or_filtered",
    "selection_of",
]

OptionalRunId = Annotated[
    str | None,
    typer.Argument(help="Id of the run; or give filters instead.", show_default=False),
]
StatusFilter = Annotated[
    RunStatus | None, typer.Option("--status", help="Only runs with this status.")
]
AgentFilter = Annotated[
    str | None, typer.Option("--agent", help="Only runs of this agent (its graph id).")
]
SinceFilter = Annotated[
    str | None,
    typer.Option("--since", help="Only runs created since then: an age (30m, 2h, 7d) or a date."),
]
UntilFilter = Annotated[
    str | None,
    typer.Option("--until", help="Only runs created before then: an age (30m, 2h) or a date."),
]
ErrorFilter = Annotated[
    str | None,
    typer.Option("--error-contains", help="Only runs whose error or status reason has this text."),
]
Yes = Annotated[
    bool, typer.Option("--yes", "-y", help="Act on the runs the filters match without asking.")
]

_LISTED = 20


def selection_of(
    status: RunStatus | None,
    agent: str | None,
    since: str | None,
    until: str | None,
    error_contains: str | None,
) -> RunSelection:
    """The filters given on the command line (times parsed; a bad one fails the command)."""
    try:
        return RunSelection(
            status=status,
            agent=agent,
            since=None if since is None else moment(since),
            until=None if until is None else moment(until),
            error_contains=error_contains,
        )
    except InvalidArgumentError as exc:
        fail(f"--since / --until: {exc}")


def one_or_filtered(run_id: str | None, selection: RunSelection) -> None:
    """Refuse a run id given with filters, and a command given neither (usage errors)."""
    if run_id is not None and not selection.is_empty:
        raise typer.BadParameter("give a run id or filters (--status, --agent, ...), not both")
    if run_id is None and selection.is_empty:
        raise typer.BadParameter(
            "give a run id, or filters (--status, --agent, --since, --until, --error-contains)"
        )


async def matching_runs(
    storage: StorageBackend, selection: RunSelection, verb: str, yes: bool
) -> list[RunRecord]:
    """The runs ``selection`` matches, listed, once the user agreed to ``verb`` them.

    None match: says so, and returns no run. Declined or no terminal to ask on (without
    ``yes``): nothing is done and the command exits 1.
    """
    records = await selected_runs(storage, selection)
    if not records:
        say("no runs match")
        return []
    say(f"{len(records)} run(s) match:")
    for record in records[:_LISTED]:
        say(f"  {record.run_id}  {record.status.value}  {record.agent_id or '-'}")
    if len(records) > _LISTED:
        say(f"  ... and {len(records) - _LISTED} more")
    confirmed(f"{verb.capitalize()} {len(records)} run(s)?", yes)
    return records


def confirmed(question: str, yes: bool) -> None:
    """Go on if ``yes`` or the user answers yes to ``question``; otherwise exit 1."""
    if yes:
        return
    if not sys.stdin.isatty():
        fail(f"{question} No terminal to ask on: pass --yes to go ahead")
    if not typer.confirm(question, default=False, err=True):
        note("nothing done")
        raise typer.Exit(1)
