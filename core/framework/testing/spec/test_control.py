"""Conformance: control signals — stored pause / cancel requests, cancel winning over pause."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest

from framework.errors import InvalidArgumentError, InvalidIdError, RunNotFoundError
from framework.schemas.clock import utc_now
from framework.schemas.control import ControlAction, ControlSignal
from framework.schemas.run import RunRecord
from framework.storage.backend import StorageBackend
from framework.testing.conformance import Harness

PAUSE, CANCEL = ControlAction.PAUSE, ControlAction.CANCEL


@pytest.fixture
async def run_id(storage: StorageBackend) -> str:
    await storage.acreate_run(RunRecord(run_id="run-1"))
    return "run-1"


async def test_a_request_is_stored_until_cleared(harness: Harness, run_id: str) -> None:
    before = utc_now()

    signal = await harness.storage.arequest_control(run_id, PAUSE, "deploy at noon")

    assert (signal.run_id, signal.action, signal.reason) == (run_id, PAUSE, "deploy at noon")
    assert before <= signal.requested_at <= utc_now()
    assert await harness.reopen().aget_control(run_id) == signal
    await harness.storage.aclear_control(run_id)
    assert await harness.reopen().aget_control(run_id) is None


async def test_no_request_is_none_and_clearing_it_is_harmless(
    storage: StorageBackend, run_id: str
) -> None:
    assert await storage.aget_control(run_id) is None

    await storage.aclear_control(run_id)
    await storage.aclear_control("never-created")

    assert await storage.aget_control(run_id) is None


async def test_cancel_wins_over_a_later_pause(storage: StorageBackend, run_id: str) -> None:
    cancel = await storage.arequest_control(run_id, CANCEL, "wrong input")

    answer = await storage.arequest_control(run_id, PAUSE, "lunch")

    assert answer == cancel
    assert await storage.aget_control(run_id) == cancel


async def test_cancel_replaces_a_pending_pause(storage: StorageBackend, run_id: str) -> None:
    await storage.arequest_control(run_id, PAUSE)

    cancel = await storage.arequest_control(run_id, CANCEL, "stop it")

    assert await storage.aget_control(run_id) == cancel


async def test_a_new_pause_replaces_a_pending_pause(storage: StorageBackend, run_id: str) -> None:
    await storage.arequest_control(run_id, PAUSE, "first")
    as_text: Any = "pause"  # the action's value is accepted as well as the enum member

    second = await storage.arequest_control(run_id, as_text, "second")

    assert second.action is PAUSE
    pending = await storage.aget_control(run_id)
    assert pending is not None
    assert pending.reason == "second"


async def test_clearing_only_a_signal_that_was_replaced_keeps_the_new_one(
    storage: StorageBackend, run_id: str
) -> None:
    honoured = await storage.arequest_control(run_id, PAUSE)
    cancel = await storage.arequest_control(run_id, CANCEL)

    await storage.aclear_control(run_id, only=honoured)
    assert await storage.aget_control(run_id) == cancel

    await storage.aclear_control(run_id, only=cancel)
    assert await storage.aget_control(run_id) is None


async def test_requesting_control_of_a_missing_run_fails(storage: StorageBackend) -> None:
    with pytest.raises(RunNotFoundError, match="run 'missing' does not exist"):
        await storage.arequest_control("missing", CANCEL)
    assert await storage.aget_control("missing") is None


@pytest.mark.parametrize(("action", "reason"), [("stop", ""), (PAUSE, 42)])
async def test_bad_requests_are_refused(
    storage: StorageBackend, run_id: str, action: Any, reason: Any
) -> None:
    with pytest.raises(InvalidArgumentError):
        await storage.arequest_control(run_id, action, reason)
    assert await storage.aget_control(run_id) is None


async def test_control_run_ids_are_validated(storage: StorageBackend) -> None:
    with pytest.raises(InvalidIdError):
        await storage.arequest_control("../escape", CANCEL)
    with pytest.raises(InvalidIdError):
        await storage.aget_control("a/b")


async def test_signals_of_runs_are_separate_and_go_with_the_run(
    storage: StorageBackend, run_id: str
) -> None:
    await storage.acreate_run(RunRecord(run_id="run-2"))
    await storage.arequest_control(run_id, PAUSE)
    await storage.arequest_control("run-2", CANCEL)

    await storage.adelete_run("run-2")

    kept = await storage.aget_control(run_id)
    assert kept is not None
    assert kept.action is PAUSE
    assert await storage.aget_control("run-2") is None


async def test_async_control_methods(storage: StorageBackend, run_id: str) -> None:
    signal = await storage.arequest_control(run_id, CANCEL, "from async")

    assert await storage.aget_control(run_id) == signal
    # The sync twin inside a running loop sees the same.
    assert storage.get_control(run_id) == signal
    await storage.aclear_control(run_id, only=signal)
    assert await storage.aget_control(run_id) is None


SENDER = """
import sys
from framework.schemas.control import ControlAction
from framework.storage import open_storage

with open_storage(sys.argv[1]) as storage:
    storage.request_control("run-1", ControlAction(sys.argv[2]), "from another process")
"""


async def test_a_request_from_another_process_is_seen(disk_harness: Harness) -> None:
    url = disk_harness.url
    await disk_harness.storage.acreate_run(RunRecord(run_id="run-1"))
    await disk_harness.storage.arequest_control("run-1", PAUSE, "here")

    for action in ("cancel", "pause"):
        subprocess.run([sys.executable, "-c", SENDER, url, action], check=True, timeout=60)

    signal = await disk_harness.storage.aget_control("run-1")
    assert isinstance(signal, ControlSignal)
    assert (signal.action, signal.reason) == (CANCEL, "from another process")
