"""A 300-item batch survives repeated real SIGKILLs: no completed item ever runs again.

The child (``batch_child.py``) is killed again and again — after random delays and inside
SQLite commits (fault points) — and restarted until its batch completes. After each kill
the parent reads which items the database holds as completed; no later life may start any
of them, and in the end every item's result is there, as an uninterrupted run gives it.
Replay a failure with ``CRASH_SEED=<seed printed>``.
"""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

SEED = int(os.environ.get("CRASH_SEED", "7"))
CHILD = Path(__file__).parent / "batch_child.py"
ITEMS = 300
KILLS = 10
FAULT_POINTS = ("sqlite.before_commit", "sqlite.after_commit")


def test_a_batch_killed_again_and_again_never_reruns_a_completed_item(tmp_path: Path) -> None:
    rng = random.Random(SEED)
    database, calls, out = tmp_path / "state.db", tmp_path / "calls.log", tmp_path / "out.json"
    calls.touch()
    completed_at_kill: list[set[str]] = []
    lives: list[str] = []
    while True:
        assert len(lives) < KILLS + 20, f"the batch never completed (seed {SEED}): {lives}"
        env = {**os.environ, "CRASH_CALL_LOG": str(calls)}
        env.pop("AGENTGRAPH_FAULT_POINT", None)
        kill_after = None
        if len(completed_at_kill) < KILLS:
            if rng.random() < 0.4:
                env["AGENTGRAPH_FAULT_POINT"] = rng.choice(FAULT_POINTS)
                env["AGENTGRAPH_FAULT_COUNTDOWN"] = str(rng.randint(1, 40))
            else:
                kill_after = rng.uniform(0.0, 0.4)
        returncode = _live(database, out, env, kill_after)
        with calls.open("a", encoding="utf-8") as log:
            log.write(f"--- life {len(lives)} rc {returncode}\n")
        lives.append(
            f"rc {returncode} (kill after {kill_after}, fault {env.get('AGENTGRAPH_FAULT_POINT')})"
        )
        if returncode == 0:
            break
        assert returncode == -signal.SIGKILL, f"life {len(lives) - 1} failed: {lives[-1]}"
        completed_at_kill.append(_completed(database))

    assert len(completed_at_kill) >= KILLS
    result = json.loads(out.read_text(encoding="utf-8"))
    assert result["status"] == "completed"
    assert result["counts"]["completed"] == ITEMS
    with sqlite3.connect(database) as conn:
        rows = conn.execute(
            "SELECT item_id, result FROM items WHERE status = 'completed'"
        ).fetchall()
    assert {item_id: json.loads(result) for item_id, result in rows} == {
        f"doc-{n:04d}": {"square": n * n} for n in range(ITEMS)
    }
    starts_by_life = _starts_by_life(calls.read_text(encoding="utf-8"))
    for life, done in enumerate(completed_at_kill):
        rerun = {item for later in starts_by_life[life + 1 :] for item in later} & done
        assert not rerun, (
            f"completed before kill {life}, started again: {sorted(rerun)} (seed {SEED})"
        )


def _live(database: Path, out: Path, env: dict[str, str], kill_after: float | None) -> int:
    command = [
        sys.executable,
        str(CHILD),
        "--storage",
        f"sqlite://{database}",
        "--run-id",
        "crash-batch",
        "--items",
        str(ITEMS),
        "--out",
        str(out),
    ]
    child = subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    watchdog = threading.Timer(60, child.kill)
    watchdog.start()
    try:
        assert child.stdout is not None
        for line in child.stdout:
            if line.strip() == "ready":
                break
        if kill_after is not None:
            time.sleep(kill_after)
            child.send_signal(signal.SIGKILL)
        _, stderr = child.communicate()
    finally:
        watchdog.cancel()
    if child.returncode not in (0, -signal.SIGKILL):
        raise AssertionError(f"the child failed (rc {child.returncode}):\n{stderr}")
    return child.returncode


def _completed(database: Path) -> set[str]:
    if not database.exists():
        return set()
    with sqlite3.connect(database) as conn:
        try:
            rows = conn.execute("SELECT item_id FROM items WHERE status = 'completed'").fetchall()
        except sqlite3.OperationalError:  # killed before the schema was written
            return set()
    return {item_id for (item_id,) in rows}


def _starts_by_life(log: str) -> list[list[str]]:
    lives: list[list[str]] = [[]]
    for line in log.splitlines():
        if line.startswith("--- life"):
            lives.append([])
        elif line.startswith("start "):
            lives[-1].append(line.removeprefix("start "))
    return lives[:-1]
