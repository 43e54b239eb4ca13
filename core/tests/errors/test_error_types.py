"""Errors are typed by what the caller does with them, on every backend and in every layer.

A wrong argument is fixed in the call (``InvalidArgumentError``, a ``ValueError``), a
missing run by checking its id (``RunNotFoundError``, a ``LookupError``), a failing store by
fixing the store (``StorageError``); lease and fencing errors carry their facts.
"""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest

import framework.errors as errors_module
from framework.durable import CheckpointManager
from framework.errors import (
    AgentGraphError,
    FencedOutError,
    InvalidArgumentError,
    InvalidIdError,
    LeaseHeldError,
    RunNotFoundError,
    StorageError,
)
from framework.runner import AgentRunner
from framework.schemas import Checkpoint, ControlAction, RunRecord, make_owner_id
from framework.storage import open_storage
from framework.storage.backend import StorageBackend

AGENT = Path(__file__).resolve().parents[3] / "examples" / "agents" / "document_triage"


async def test_a_missing_run_is_a_run_not_found_lookup_error_from_storage(
    storage: StorageBackend,
) -> None:
    calls = {
        "update_run": storage.aupdate_run("ghost", status="failed"),
        "claim_run": storage.aclaim_run("ghost", make_owner_id()),
        "request_control": storage.arequest_control("ghost", ControlAction.PAUSE),
        "start_effect": storage.astart_effect("ghost", "node", "node:mail", "idem-1"),
    }
    for name, call in calls.items():
        with pytest.raises(RunNotFoundError) as caught:
            await call
        assert isinstance(caught.value, LookupError), name
        assert not isinstance(caught.value, StorageError), name
        assert caught.value.run_id == "ghost" and "'ghost'" in str(caught.value), name
    assert await storage.aget_run("ghost") is None


async def test_a_missing_run_is_a_run_not_found_error_from_the_manager_and_runner(
    storage: StorageBackend,
) -> None:
    manager = CheckpointManager(storage)
    for call in (
        manager.arequest_pause("ghost"),
        manager.arequest_cancel("ghost"),
        manager.afork("ghost"),
        manager.apreview_resume("ghost"),
    ):
        with pytest.raises(RunNotFoundError):
            await call
    async with AgentRunner.load(AGENT, storage=storage, storage_path=Path("unused")) as runner:
        with pytest.raises(RunNotFoundError):
            await runner.resume("ghost")


async def test_argument_mistakes_are_value_errors_and_not_store_failures(
    storage: StorageBackend,
) -> None:
    await storage.acreate_run(RunRecord(run_id="run-1"))
    mistakes = {
        "keep": storage.aprune_checkpoints("run-1", -1),
        "limit": storage.alist_runs(limit=-1),
        "status": storage.alist_runs(status="asleep"),
        "ttl": storage.aclaim_run("run-1", make_owner_id(), ttl_seconds=0),
        "owner": storage.aclaim_run("run-1", ""),
        "field": storage.aupdate_run("run-1", colour="blue"),
        "lease field": storage.aupdate_run("run-1", fencing_token=7),
        "max_bytes": storage.asave_checkpoint(Checkpoint(id="c", run_id="run-1"), max_bytes=0),
        "id": storage.aget_run("../escape"),
    }
    for name, call in mistakes.items():
        with pytest.raises(InvalidArgumentError) as caught:
            await call
        assert isinstance(caught.value, ValueError), name
        assert not isinstance(caught.value, StorageError), name
    assert issubclass(InvalidIdError, InvalidArgumentError)


def test_a_bad_storage_url_is_an_argument_mistake() -> None:
    with pytest.raises(InvalidArgumentError, match="unknown storage URL scheme"):
        open_storage("redis://localhost")


async def test_a_held_lease_names_its_owner_and_expiry(storage: StorageBackend) -> None:
    await storage.acreate_run(RunRecord(run_id="run-1"))
    first = await storage.aclaim_run("run-1", make_owner_id())

    with pytest.raises(LeaseHeldError) as caught:
        await storage.aclaim_run("run-1", make_owner_id())

    held = caught.value
    assert (held.run_id, held.owner_id, held.expires_at) == (
        "run-1",
        first.owner_id,
        first.expires_at,
    )
    assert first.owner_id in str(held) and first.expires_at.isoformat() in str(held)


async def test_a_fenced_out_writer_learns_the_tokens_and_the_new_holder(
    storage: StorageBackend,
) -> None:
    await storage.acreate_run(RunRecord(run_id="run-1"))
    stale = await storage.aclaim_run("run-1", make_owner_id(), ttl_seconds=30)
    taker = make_owner_id()
    await storage.arelease_lease(stale)
    await storage.aclaim_run("run-1", taker)

    with pytest.raises(FencedOutError) as caught:
        await storage.aupdate_run(
            "run-1", expect_fencing_token=stale.fencing_token, status="failed"
        )

    fenced = caught.value
    assert (fenced.run_id, fenced.token, fenced.current_token, fenced.holder) == (
        "run-1",
        1,
        2,
        taker,
    )
    assert fenced.action == "updating run 'run-1'" and "taken over" in str(fenced)

    await storage.adelete_run("run-1")
    with pytest.raises(FencedOutError) as gone:
        await storage.arenew_lease(stale)
    assert gone.value.current_token is None and "deleted" in str(gone.value)


def test_the_tree_drawn_in_the_errors_module_is_the_class_tree() -> None:
    drawn: dict[str, str] = {}
    parents: list[str] = []
    for line in (errors_module.__doc__ or "").splitlines():
        # The tree is a literal block indented by four spaces; each level adds four more.
        match = re.match(r"^    ((?:│   |    )*)(├── |└── )?([A-Z]\w+Error)\b", line)
        if not match:
            continue
        depth = len(match[1]) // 4 + (1 if match[2] else 0)
        parents[depth:] = [match[3]]
        if depth:
            drawn[match[3]] = parents[depth - 1]
    classes = {
        name: cls
        for name, cls in inspect.getmembers(errors_module, inspect.isclass)
        if issubclass(cls, AgentGraphError) and cls is not AgentGraphError
    }

    assert set(drawn) == set(classes)
    for name, cls in classes.items():
        own_parent = next(base for base in cls.__bases__ if issubclass(base, AgentGraphError))
        assert own_parent.__name__ == drawn[name], name
