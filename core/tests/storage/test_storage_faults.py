"""Fault points: a real SIGKILL in the middle of a write leaves the previous state intact."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

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


def _run(url: str, point: str, countdown: int) -> subprocess.CompletedProcess[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AGENTGRAPH_")}
    env.update(AGENTGRAPH_FAULT_POINT=point, AGENTGRAPH_FAULT_COUNTDOWN=str(countdown))
    return subprocess.run(
        [sys.executable, "-c", SCRIPT, url], env=env, capture_output=True, timeout=60
    )


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
    url = f"file://{tmp_path}/store" if scheme == "file" else f"sqlite://{tmp_path}/x.db"

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
