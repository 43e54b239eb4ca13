"""Conformance: control signals — stored pause / cancel requests, cancel winning over pause."""

from __future__ import annotations

import subprocess
import sys

import pytest

from framework.errors import InvalidArgumentError, InvalidIdError, RunNotFoundError
from framework.schemas.checkpoint import utc_now
from framework.schemas.control import ControlAction, ControlSignal
from framework.schemas.run import RunRecord
from framework.storage.backend import StorageBackend
from framework.testing.conformance import Harness

PAUSE, CANCEL = ControlAction.PAUSE, ControlAction.CANCEL


@pytest.fixture
def run_id(storage: StorageBackend) -> str:
    storage.create_run(RunRecord(run_id="run-1"))
    return "run-1"


def test_a_request_is_stored_until_cleared(harness: Harness, run_id: str):
    before = utc_now()

    signal = harness.storage.request_control(run_id, PAUSE, "deploy at noon")

    assert (signal.run_id, signal.action, signal.reason) == (run_id, PAUSE, "deploy at noon")
    assert before <= signal.requested_at <= utc_now()
    assert harness.reopen().get_control(run_id) == signal
    harness.storage.clear_control(run_id)
    assert harness.reopen().get_control(run_id) is None


def test_no_request_is_none_and_clearing_it_is_harmless(storage: StorageBackend, run_id: str):
    assert storage.get_control(run_id) is None

    storage.clear_control(run_id)
    storage.clear_control("never-created")

    assert storage.get_control(run_id) is None


def test_cancel_wins_over_a_later_pause(storage: StorageBackend, run_id: str):
    cancel = storage.request_control(run_id, CANCEL, "wrong input")

    answer = storage.request_control(run_id, PAUSE, "lunch")

    assert answer == cancel
    assert storage.get_control(run_id) == cancel


def test_cancel_replaces_a_pending_pause(storage: StorageBackend, run_id: str):
    storage.request_control(run_id, PAUSE)

    cancel = storage.request_control(run_id, CANCEL, "stop it")

    assert storage.get_control(run_id) == cancel


def test_a_new_pause_replaces_a_pending_pause(storage: StorageBackend, run_id: str):
    storage.request_control(run_id, PAUSE, "first")

    second = storage.request_control(run_id, "pause", "second")

    assert second.action is PAUSE
    assert storage.get_control(run_id).reason == "second"


def test_clearing_only_a_signal_that_was_replaced_keeps_the_new_one(
    storage: StorageBackend, run_id: str
):
    honoured = storage.request_control(run_id, PAUSE)
    cancel = storage.request_control(run_id, CANCEL)

    storage.clear_control(run_id, only=honoured)
    assert storage.get_control(run_id) == cancel

    storage.clear_control(run_id, only=cancel)
    assert storage.get_control(run_id) is None


def test_requesting_control_of_a_missing_run_fails(storage: StorageBackend):
    with pytest.raises(RunNotFoundError, match="run 'missing' does not exist"):
        storage.request_control("missing", CANCEL)
    assert storage.get_control("missing") is None


@pytest.mark.parametrize(("action", "reason"), [("stop", ""), (PAUSE, 42)])
def test_bad_requests_are_refused(storage: StorageBackend, run_id: str, action, reason):
    with pytest.raises(InvalidArgumentError):
        storage.request_control(run_id, action, reason)
    assert storage.get_control(run_id) is None


def test_control_run_ids_are_validated(storage: StorageBackend):
    with pytest.raises(InvalidIdError):
        storage.request_control("../escape", CANCEL)
    with pytest.raises(InvalidIdError):
        storage.get_control("a/b")


def test_signals_of_runs_are_separate_and_go_with_the_run(storage: StorageBackend, run_id: str):
    storage.create_run(RunRecord(run_id="run-2"))
    storage.request_control(run_id, PAUSE)
    storage.request_control("run-2", CANCEL)

    storage.delete_run("run-2")

    assert storage.get_control(run_id).action is PAUSE
    assert storage.get_control("run-2") is None


async def test_async_control_methods(storage: StorageBackend, run_id: str):
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


def test_a_request_from_another_process_is_seen(disk_harness: Harness):
    url = disk_harness.url
    disk_harness.storage.create_run(RunRecord(run_id="run-1"))
    disk_harness.storage.request_control("run-1", PAUSE, "here")

    for action in ("cancel", "pause"):
        subprocess.run([sys.executable, "-c", SENDER, url, action], check=True, timeout=60)

    signal = disk_harness.storage.get_control("run-1")
    assert isinstance(signal, ControlSignal)
    assert (signal.action, signal.reason) == (CANCEL, "from another process")
