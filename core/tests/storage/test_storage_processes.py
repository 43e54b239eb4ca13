"""Two processes writing different runs to one SQLite file or one folder lose nothing."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from framework.schemas.run import RunStatus
from framework.storage import open_storage

SAVES = 100

# Each writer waits for the "go" file, so all of them write at the same time.
WRITER = """
import sys, time
from pathlib import Path
from framework.schemas.checkpoint import Checkpoint
from framework.schemas.run import RunRecord, RunStatus
from framework.storage import open_storage

url, run_id, saves, go = sys.argv[1], sys.argv[2], int(sys.argv[3]), Path(sys.argv[4])
with open_storage(url) as storage:
    while not go.exists():
        time.sleep(0.005)
    storage.create_run(RunRecord(run_id=run_id))
    for seq in range(saves):
        storage.save_checkpoint(
            Checkpoint(
                id=f"ckpt_{run_id}_{seq:06d}",
                run_id=run_id,
                seq=seq,
                memory_snapshot={"items": [f"{run_id}-{i}" for i in range(seq + 1)]},
            )
        )
        storage.update_run(run_id, status=RunStatus.RUNNING, latest_checkpoint_id=f"{seq}")
    storage.update_run(run_id, status=RunStatus.COMPLETED)
"""


@pytest.mark.parametrize("scheme", ["file", "sqlite"])
def test_two_processes_writing_different_runs_lose_nothing(tmp_path: Path, scheme: str):
    url = f"file://{tmp_path / 'store'}" if scheme == "file" else f"sqlite://{tmp_path / 'x.db'}"
    runs = ["run-a", "run-b", "run-c"]
    writers = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, url, run_id, str(SAVES), str(tmp_path / "go")],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for run_id in runs
    ]
    (tmp_path / "go").touch()
    for writer in writers:
        _, stderr = writer.communicate(timeout=120)
        assert writer.returncode == 0, stderr.decode()

    with open_storage(url) as storage:
        assert sorted(r.run_id for r in storage.list_runs(status=RunStatus.COMPLETED)) == runs
        for run_id in runs:
            assert [m.seq for m in storage.list_checkpoints(run_id)] == list(range(SAVES))
            for seq in range(SAVES):
                loaded = storage.load_checkpoint(run_id, f"ckpt_{run_id}_{seq:06d}")
                assert loaded.memory_snapshot == {
                    "items": [f"{run_id}-{i}" for i in range(seq + 1)]
                }
            assert storage.verify(run_id) == []
