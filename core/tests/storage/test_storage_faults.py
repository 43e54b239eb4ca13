"""Fault points: a real SIGKILL in the middle of a write leaves the previous state intact."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from framework.schemas.control import ControlAction
from framework.schemas.effect import EffectStatus
from framework.schemas.lease import make_owner_id
from framework.storage import open_storage

SCRIPT = """
import sys
from framework.schemas.checkpoint import Checkpoint
from framework.storage import open_storage

storage = open_storage(sys.argv[1])
for seq in range(3):
    storage.save_checkpoint(
        Checkpoint(id=f"ckpt_run-1_{seq}", run_id="run-1", seq=seq, memory_snapshot={"n": seq})
    )
"""


def _run(
    url: str, point: str | None, countdown: int, script: str = SCRIPT
) -> subprocess.CompletedProcess[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AGENTGRAPH_")}
    if point is not None:
        env.update(AGENTGRAPH_FAULT_POINT=point, AGENTGRAPH_FAULT_COUNTDOWN=str(countdown))
    return subprocess.run(
        [sys.executable, "-c", script, url], env=env, capture_output=True, timeout=60
    )


def _url(tmp_path: Path, scheme: str) -> str:
    return f"file://{tmp_path}/store" if scheme == "file" else f"sqlite://{tmp_path}/x.db"


def test_a_point_that_is_not_named_does_nothing(tmp_path: Path):
    url = f"file://{tmp_path}/store"

    result = _run(url, "somewhere.else", countdown=1)

    assert result.returncode == 0, result.stderr.decode()
    with open_storage(url) as storage:
        assert [m.seq for m in storage.list_checkpoints("run-1")] == [0, 1, 2]


@pytest.mark.parametrize(
    ("scheme", "point"),
    [
        ("file", "file.record.temp_written"),
        ("file", "file.index.temp_written"),
        ("sqlite", "sqlite.before_commit"),
    ],
)
def test_a_save_killed_midway_leaves_the_previous_checkpoint(tmp_path: Path, scheme, point):
    url = _url(tmp_path, scheme)

    # The second save dies at ``point``: after its temp file or before its commit.
    result = _run(url, point, countdown=2)

    assert result.returncode == -signal.SIGKILL, result.stderr.decode()
    with open_storage(url) as storage:
        assert [m.seq for m in storage.list_checkpoints("run-1")] == [0]
        assert storage.load_latest_checkpoint("run-1").memory_snapshot == {"n": 0}
        assert storage.verify("run-1") == []
        storage.save_checkpoint(
            storage.load_latest_checkpoint("run-1").model_copy(update={"id": "again", "seq": 1})
        )
        assert storage.load_checkpoint("run-1", "again").memory_snapshot == {"n": 0}


# Every write group of the contract, resumable: each run continues where the last one died.
WORKER = """
import sys
from framework.schemas.checkpoint import Checkpoint
from framework.schemas.control import ControlAction
from framework.schemas.lease import make_owner_id
from framework.schemas.run import RunRecord
from framework.storage import open_storage

storage = open_storage(sys.argv[1])
if storage.get_run("run-1") is None:
    storage.create_run(RunRecord(run_id="run-1"))
lease = storage.claim_run("run-1", make_owner_id(), ttl_seconds=3600)
token = lease.fencing_token
while (seq := storage.latest_seq("run-1") + 1) < LAST_SEQ + 1:
    storage.save_checkpoint(
        Checkpoint(id=f"ckpt_{seq}", run_id="run-1", seq=seq, memory_snapshot={"n": seq}),
        fencing_token=token,
    )
    storage.update_run("run-1", expect_fencing_token=token, latest_checkpoint_id=f"ckpt_{seq}")
# A kill between a save and its record update leaves the record one behind; catch it up.
storage.update_run("run-1", expect_fencing_token=token, latest_checkpoint_id="ckpt_LAST_SEQ")
storage.request_control("run-1", ControlAction.PAUSE, "all saved")
if storage.start_effect("run-1", "n", "n:mail", "idem").status != "completed":
    storage.complete_effect("run-1", "n:mail", {"sent": True})
storage.release_lease(lease)
""".replace("LAST_SEQ", "3")


def _assert_consistent(url: str) -> None:
    """What a restart relies on after a kill at any instant: nothing torn, nothing partial."""
    with open_storage(url) as storage:
        record = storage.get_run("run-1")
        if record is None:
            assert storage.latest_seq("run-1") == -1
            return
        seqs = [m.seq for m in storage.list_checkpoints("run-1")]
        assert seqs == list(range(len(seqs)))
        assert storage.verify("run-1") == []
        if seqs:
            assert storage.load_latest_checkpoint("run-1").memory_snapshot == {"n": seqs[-1]}
        if record.latest_checkpoint_id is not None:
            assert storage.load_checkpoint("run-1", record.latest_checkpoint_id) is not None
        storage.get_control("run-1")
        assert [e.key for e in storage.list_effects("run-1")] in ([], ["n:mail"])
        # The killed owner's lease does not keep a restart waiting.
        assert not record.has_live_lease()
        storage.release_lease(storage.claim_run("run-1", make_owner_id()))


def _assert_finished(url: str) -> None:
    with open_storage(url) as storage:
        assert [m.seq for m in storage.list_checkpoints("run-1")] == [0, 1, 2, 3]
        assert storage.get_run("run-1").latest_checkpoint_id == "ckpt_3"
        assert storage.get_control("run-1").action is ControlAction.PAUSE
        [effect] = storage.list_effects("run-1")
        assert (effect.status, effect.result) == (EffectStatus.COMPLETED, {"sent": True})


@pytest.mark.parametrize(
    ("scheme", "point", "countdown"),
    [
        ("file", "file.run.temp_written", 1),
        ("file", "file.run.renamed", 3),
        ("file", "file.record.temp_written", 2),
        ("file", "file.record.renamed", 2),
        ("file", "file.index.temp_written", 3),
        ("file", "file.index.renamed", 3),
        ("file", "file.control.temp_written", 1),
        ("file", "file.control.renamed", 1),
        ("file", "file.effect.temp_written", 2),
        ("file", "file.effect.renamed", 1),
        ("sqlite", "sqlite.before_commit", 4),
        ("sqlite", "sqlite.after_commit", 4),
        ("sqlite", "sqlite.after_commit", 12),
    ],
)
def test_a_kill_at_each_write_point_leaves_a_store_a_restart_can_finish(
    tmp_path: Path, scheme: str, point: str, countdown: int
):
    url = _url(tmp_path, scheme)

    killed = _run(url, point, countdown, WORKER)

    assert killed.returncode == -signal.SIGKILL, killed.stderr.decode()
    _assert_consistent(url)
    restarted = _run(url, None, 0, WORKER)
    assert restarted.returncode == 0, restarted.stderr.decode()
    _assert_finished(url)


@pytest.mark.parametrize("scheme", ["file", "sqlite"])
def test_kills_at_random_write_steps_never_corrupt_the_store(tmp_path: Path, scheme: str):
    url = _url(tmp_path, scheme)
    rng = random.Random(f"faults-{scheme}")
    kills = 0

    for _ in range(60):
        result = _run(url, "*", rng.randint(1, 16), WORKER)
        if result.returncode == 0:
            break
        assert result.returncode == -signal.SIGKILL, result.stderr.decode()
        kills += 1
        _assert_consistent(url)
    else:
        pytest.fail("the worker never finished")

    assert kills >= 3
    _assert_finished(url)
