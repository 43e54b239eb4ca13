"""Conformance: fenced writes — a writer whose lease was taken over stores nothing."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from framework.errors import FencedOutError, InvalidArgumentError, LeaseHeldError
from framework.schemas.lease import make_owner_id
from framework.schemas.run import RunRecord, RunStatus
from framework.storage.backend import StorageBackend
from framework.testing.conformance import Harness
from framework.testing.values import make_checkpoint


@pytest.fixture
def run_id(storage: StorageBackend) -> str:
    storage.create_run(RunRecord(run_id="run-1"))
    return "run-1"


def _taken_over(storage: StorageBackend, run_id: str) -> tuple[int, int]:
    """Claim, let the lease lapse, and let another owner claim: (stale token, current token)."""
    stale = storage.claim_run(run_id, make_owner_id(), ttl_seconds=0.01)
    time.sleep(0.05)
    current = storage.claim_run(run_id, make_owner_id())
    return stale.fencing_token, current.fencing_token


def test_a_save_with_the_current_token_is_stored(storage: StorageBackend, run_id: str):
    lease = storage.claim_run(run_id, make_owner_id())

    storage.save_checkpoint(make_checkpoint(run_id, 0), fencing_token=lease.fencing_token)

    assert [m.seq for m in storage.list_checkpoints(run_id)] == [0]


def test_a_save_with_a_stale_token_is_fenced_out_and_not_stored(harness: Harness, run_id: str):
    storage = harness.storage
    storage.save_checkpoint(make_checkpoint(run_id, 0))
    stale, current = _taken_over(storage, run_id)

    with pytest.raises(FencedOutError, match=f"token {current}, not {stale}"):
        storage.save_checkpoint(make_checkpoint(run_id, 1), fencing_token=stale)

    assert [m.seq for m in harness.reopen().list_checkpoints(run_id)] == [0]
    assert storage.latest_seq(run_id) == 0
    storage.save_checkpoint(make_checkpoint(run_id, 1), fencing_token=current)
    assert storage.load_latest_checkpoint(run_id).seq == 1


def test_a_fenced_save_of_a_run_without_a_record_is_fenced_out(storage: StorageBackend):
    with pytest.raises(FencedOutError, match="no longer exists"):
        storage.save_checkpoint(make_checkpoint("gone", 0), fencing_token=1)
    assert storage.list_checkpoints("gone") == []


def test_a_fenced_update_with_the_current_token_is_applied(storage: StorageBackend, run_id: str):
    lease = storage.claim_run(run_id, make_owner_id())

    record = storage.update_run(
        run_id, expect_fencing_token=lease.fencing_token, status=RunStatus.RUNNING
    )

    assert record.status is RunStatus.RUNNING
    assert storage.get_run(run_id).status is RunStatus.RUNNING


def test_a_fenced_update_with_a_stale_token_changes_nothing(storage: StorageBackend, run_id: str):
    stale, _ = _taken_over(storage, run_id)
    before = storage.get_run(run_id)

    with pytest.raises(FencedOutError, match="this writer must stop"):
        storage.update_run(run_id, expect_fencing_token=stale, status=RunStatus.COMPLETED)
    assert storage.get_run(run_id) == before


def test_a_fencing_token_must_be_an_int(storage: StorageBackend, run_id: str):
    with pytest.raises(InvalidArgumentError, match="fencing token is an int"):
        storage.save_checkpoint(make_checkpoint(run_id, 0), fencing_token="1")
    assert storage.list_checkpoints(run_id) == []


async def test_async_fenced_writes(storage: StorageBackend, run_id: str):
    stale, current = _taken_over(storage, run_id)

    with pytest.raises(FencedOutError):
        await storage.asave_checkpoint(make_checkpoint(run_id, 0), fencing_token=stale)
    with pytest.raises(FencedOutError):
        await storage.aupdate_run(run_id, expect_fencing_token=stale, last_error="x")
    await storage.asave_checkpoint(make_checkpoint(run_id, 0), fencing_token=current)
    await storage.aupdate_run(run_id, expect_fencing_token=current, last_error="y")

    assert [m.seq for m in storage.list_checkpoints(run_id)] == [0]
    assert storage.get_run(run_id).last_error == "y"


def test_two_writers_in_threads_never_fork_the_history(harness: Harness, run_id: str):
    """One writer saves until fenced out; the other takes over after expiry and continues."""
    first, second = harness.storage, harness.reopen()
    lease = first.claim_run(run_id, make_owner_id(), ttl_seconds=0.2)
    stored_first: list[int] = []
    fenced = threading.Event()

    def write_until_fenced() -> None:
        while True:
            seq = first.latest_seq(run_id) + 1
            try:
                first.save_checkpoint(
                    make_checkpoint(run_id, seq, {"writer": "first"}),
                    fencing_token=lease.fencing_token,
                )
            except FencedOutError:
                fenced.set()
                return
            stored_first.append(seq)
            time.sleep(0.001)  # a node runs between two checkpoints

    writer = threading.Thread(target=write_until_fenced)
    writer.start()
    takeover = _claim_when_free(second, run_id)
    stored_second = []
    for _ in range(10):
        seq = second.latest_seq(run_id) + 1
        second.save_checkpoint(
            make_checkpoint(run_id, seq, {"writer": "second"}), fencing_token=takeover.fencing_token
        )
        stored_second.append(seq)
    writer.join(timeout=30)

    assert fenced.is_set()
    _assert_one_history(second, run_id, stored_first, stored_second)


def _claim_when_free(storage: StorageBackend, run_id: str):
    deadline = time.monotonic() + 30
    while True:
        try:
            return storage.claim_run(run_id, make_owner_id())
        except LeaseHeldError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.01)


def _assert_one_history(
    storage: StorageBackend, run_id: str, first: list[int], second: list[int]
) -> None:
    seqs = [m.seq for m in storage.list_checkpoints(run_id)]
    assert first and second
    assert seqs == list(range(len(seqs))) == first + second
    writers = [
        storage.load_checkpoint(run_id, m.id).memory_snapshot["writer"]
        for m in storage.list_checkpoints(run_id)
    ]
    assert writers == ["first"] * len(first) + ["second"] * len(second)
    assert storage.verify(run_id) == []


WRITER = """
import json, sys, time
from pathlib import Path
from framework.errors import FencedOutError, LeaseHeldError
from framework.schemas.checkpoint import Checkpoint
from framework.schemas.lease import make_owner_id
from framework.storage import open_storage

url, name, role, folder = sys.argv[1], sys.argv[2], sys.argv[3], Path(sys.argv[4])
storage = open_storage(url)
stored, fenced = [], False

def save(token):
    seq = storage.latest_seq("run-1") + 1
    storage.save_checkpoint(
        Checkpoint(id=f"ckpt_{seq}", run_id="run-1", seq=seq, memory_snapshot={"writer": name}),
        fencing_token=token,
    )
    stored.append(seq)

if role == "first":
    lease = storage.claim_run("run-1", make_owner_id(), ttl_seconds=0.5)
    (folder / "claimed").touch()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            save(lease.fencing_token)
        except FencedOutError:
            fenced = True
            break
        # A node runs between two checkpoints; without any pause this loop would hold
        # SQLite's write lock nearly all the time and starve the other process's claim.
        time.sleep(0.002)
else:
    while not (folder / "claimed").exists():
        time.sleep(0.005)
    while True:
        try:
            lease = storage.claim_run("run-1", make_owner_id())
            break
        except LeaseHeldError:
            time.sleep(0.01)
    for _ in range(20):
        save(lease.fencing_token)
(folder / f"{name}.json").write_text(json.dumps({"stored": stored, "fenced": fenced}))
storage.close()
"""


def test_two_processes_racing_on_one_run_one_is_fenced_out(disk_harness: Harness, tmp_path: Path):
    url = disk_harness.url
    disk_harness.storage.create_run(RunRecord(run_id="run-1"))
    writers = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, url, name, name, str(tmp_path)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for name in ("first", "second")
    ]
    for writer in writers:
        _, stderr = writer.communicate(timeout=120)
        assert writer.returncode == 0, stderr.decode()

    first = json.loads((tmp_path / "first.json").read_text())
    second = json.loads((tmp_path / "second.json").read_text())
    assert first["fenced"] is True
    storage = disk_harness.reopen()
    _assert_one_history(storage, "run-1", first["stored"], second["stored"])
    assert storage.get_run("run-1").fencing_token == 2
