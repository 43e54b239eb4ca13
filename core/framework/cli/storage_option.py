"""The storage a command works on, and the commands it prints to be pasted.

``--storage`` is the option of every command (default ``$AGENTGRAPH_STORAGE``, else
``state.db`` in ``$AGENTGRAPH_HOME``).

A command that leaves a run to be continued prints ``resume with: <command>``, quoted for a
POSIX shell and naming the ``--storage`` given, so that it runs as printed.
"""

from __future__ import annotations

import shlex
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated

import anyio
import typer

from framework.durable import CheckpointManager
from framework.errors import RunNotFoundError
from framework.schemas.run import RunRecord
from framework.settings import default_storage_url

__all__ = [
    "AGENT_DIR_KEY",
    "RunId",
    "StorageUrl",
    "agent_folder",
    "opened",
    "pasteable",
    "read_run",
    "stored_run",
]

StorageUrl = Annotated[
    str | None,
    typer.Option(
        "--storage",
        help="Storage URL (sqlite:///path.db, file:///dir, memory://); "
        "default $AGENTGRAPH_STORAGE, else state.db in $AGENTGRAPH_HOME.",
    ),
]
RunId = Annotated[str, typer.Argument(help="Id of the run.", show_default=False)]


@asynccontextmanager
async def opened(storage: str | None) -> AsyncIterator[CheckpointManager]:
    """A checkpoint manager on ``storage`` (or the default storage), closed on exit."""
    async with CheckpointManager(storage or default_storage_url()) as manager:
        yield manager


AGENT_DIR_KEY = "agentgraph.agent_dir"
"""Where a run's record (its metadata) keeps the agent folder the command ran it from."""


def agent_folder(record: RunRecord) -> Path | None:
    """The agent folder ``agentgraph run`` ran ``record``'s run from, if it did."""
    folder = record.metadata.get(AGENT_DIR_KEY)
    return Path(folder) if isinstance(folder, str) else None


def read_run(run_id: str, storage: str | None) -> RunRecord:
    """The record of ``run_id`` (see :func:`stored_run`), from a synchronous command."""

    async def read() -> RunRecord:
        async with opened(storage) as manager:
            return await stored_run(manager, run_id, storage)

    return anyio.run(read)


async def stored_run(manager: CheckpointManager, run_id: str, storage: str | None) -> RunRecord:
    """The record of ``run_id``; ``RunNotFoundError`` naming the storage when there is none."""
    record = await manager.storage.aget_run(run_id)
    if record is None:
        where = storage or default_storage_url()
        raise RunNotFoundError(
            f"run {run_id!r} is not in storage {where}; check the run id and the --storage "
            "URL / AGENTGRAPH_STORAGE",
            run_id=run_id,
        )
    return record


def pasteable(name: str, *arguments: str, storage: str | None) -> str:
    """``agentgraph <name> <arguments>`` (with ``--storage`` if one was given), quoted."""
    given = ["--storage", storage] if storage is not None else []
    return shlex.join(["agentgraph", name, *arguments, *given])
