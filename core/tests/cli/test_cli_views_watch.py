"""`agentgraph watch` (and `status`) following runs that other processes run.

The real story: a child process runs a batch of 300 items over SQLite; this process reads
`status --json` while it runs (the counts always add up to the total) and `watch`, off a
terminal, follows it to the end with exit 0.
"""

from __future__ import annotations

import io
import json
import signal
import subprocess
import sys
import time
from contextlib import redirect_stdout
from pathlib import Path
from typing import Any

import anyio
import pytest
from cli_helpers import Agentgraph, run_main
from test_cli_views import freeze, seed_store

from framework.cli.reading import Reader
from framework.cli.watching import Watch
from framework.schemas.lease import make_owner_id
from framework.schemas.run import RunRecord, RunStatus
from framework.storage import open_storage

BATCH_SCRIPT = """
import sys

import anyio

from framework import CheckpointManager
from framework.batch import BatchConfig, BatchRunner
from framework.errors import PermanentItemError

URL, RUN_ID, COUNT, DELAY = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])


async def work(item, ctx):
    await anyio.sleep(DELAY)
    if item["n"] % 50 == 7:
        raise PermanentItemError(f"item {item['n']} cannot be read")
    ctx.report_usage(tokens_in=10, tokens_out=2, cost=0.0001)
    return item["n"] * 2


async def main():
    async with CheckpointManager(URL) as manager:
        config = BatchConfig(concurrency=4, id_key="id", progress_interval=0.2)
        items = [{"id": f"item-{n:03d}", "n": n} for n in range(COUNT)]
        result = await BatchRunner(manager, config).run(RUN_ID, items, work)
        print(result.status.value, result.counts.completed, result.counts.failed)


anyio.run(main)
"""


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """The store of :mod:`test_cli_views`, its clock fixed."""
    freeze(monkeypatch)
    return seed_store(tmp_path)


def agentgraph_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "framework.cli.main", *args]


def status_json(run_id: str, url: str) -> dict[str, Any] | None:
    """``status --json`` of the run, read in this process; ``None`` while it does not exist."""
    finished = run_main("status", run_id, "--json", "--storage", url)
    if finished.code == 3:
        return None
    assert finished.code == 0, finished.stderr
    document: dict[str, Any] = json.loads(finished.stdout)
    return document


@pytest.mark.slow
def test_status_and_watch_follow_a_batch_another_process_runs(tmp_path: Path) -> None:
    url = f"sqlite://{tmp_path / 'batches.db'}"
    script = tmp_path / "run_batch.py"
    script.write_text(BATCH_SCRIPT)
    child = subprocess.Popen(
        [sys.executable, str(script), url, "big", "300", "0.04"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while status_json("big", url) is None:
            assert child.poll() is None, child.communicate()
            assert time.monotonic() < deadline, "the batch run never appeared"
            time.sleep(0.02)
        watcher = subprocess.Popen(
            agentgraph_command("watch", "big", "--interval", "0.2", "--storage", url),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        seen: list[dict[str, Any]] = []
        while child.poll() is None:
            document = status_json("big", url)
            assert document is not None
            seen.append(document)
            time.sleep(0.05)
        out, err = child.communicate(timeout=30)
        assert child.returncode == 0, err
        assert out.split() == ["completed", "294", "6"]
        watched, complaints = watcher.communicate(timeout=30)
    finally:
        child.kill()
        child.wait()

    for document in seen:
        counts = document["counts"]
        parts = counts["completed"] + counts["failed"] + counts["running"] + counts["pending"]
        assert parts + counts["skipped"] == counts["total"], counts
        assert counts["skipped"] == 0
    midway = [d for d in seen if d["status"] == "running" and 0 < d["counts"]["completed"] < 294]
    assert midway, "the batch was seen while it ran"
    assert all(d["counts"]["total"] == 300 for d in midway)
    assert any(d["rate_per_minute"] for d in midway), "a rate once progress was sampled"

    final = status_json("big", url)
    assert final is not None and final["status"] == "completed"
    assert final["counts"]["completed"] == 294 and final["counts"]["failed"] == 6
    assert final["percent"] == 100.0
    assert len(final["failed"]) == 6
    assert {item["error"]["type"] for item in final["failed"]} == {"PermanentItemError"}

    assert watcher.returncode == 0, complaints
    assert complaints == ""
    lines = watched.splitlines()
    reads = [line for line in lines if " batch big " in line]
    assert len(reads) >= 3, watched  # one line per read while it ran, then the last one
    assert " running: " in reads[0]
    assert " batch big completed: 300/300 items (100.0%), 6 failed, " in reads[-1]
    assert (
        lines[-1] == f"retry the 6 failed item(s) with: agentgraph retry-failed big --storage {url}"
    )


def test_the_status_command_in_its_own_process_reads_a_batch(tmp_path: Path) -> None:
    url = f"sqlite://{tmp_path / 'batches.db'}"
    script = tmp_path / "run_batch.py"
    script.write_text(BATCH_SCRIPT)
    subprocess.run([sys.executable, str(script), url, "small", "20", "0"], check=True, timeout=60)

    finished = subprocess.run(
        agentgraph_command("status", "small", "--json", "--storage", url),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert finished.returncode == 0, finished.stderr
    counts = json.loads(finished.stdout)["counts"]
    assert (counts["completed"], counts["failed"], counts["total"]) == (19, 1, 20)


# --- how a watch ends -------------------------------------------------------------------


def test_watching_a_paused_run_prints_one_line_and_how_to_resume(
    agentgraph: Agentgraph, store: str
) -> None:
    finished = agentgraph("watch", "triage-1", "--interval", "0.01", "--storage", store)

    assert finished.code == 0, finished.stderr
    assert finished.stdout.splitlines() == [
        "12:00:00 run triage-1 paused (waiting for input at node 'approve'): 2 step(s), "
        "after 'classify', next 'approve', 1,200 tokens, cost 0.0024",
        f"resume with: agentgraph resume AGENT_DIR triage-1 --storage {store}",
    ]


def test_watching_a_failed_run_exits_1(agentgraph: Agentgraph, store: str) -> None:
    finished = agentgraph("watch", "triage-2", "--interval", "0.01", "--storage", store)

    assert finished.code == 1
    assert " run triage-2 failed (node 'classify' failed): " in finished.stdout


def test_a_watch_ends_when_the_process_running_the_run_has_gone(
    agentgraph: Agentgraph, store: str
) -> None:
    storage = open_storage(store)
    try:
        storage.update_run("triage-2", status=RunStatus.RUNNING)  # and no lease
    finally:
        storage.close()

    finished = agentgraph("watch", "triage-2", "--interval", "0.01", "--storage", store)

    assert finished.code == 1
    reads = finished.stdout.splitlines()
    assert len(reads) == 3  # two reads, then how to continue it
    assert reads[0].endswith(", no live process holds it")
    recover = f"agentgraph recover AGENT_DIR --storage {store}"
    assert reads[2] == f"no live process runs it; continue it with: {recover}"
    assert "no live process holds it: the process running it has gone" in finished.stderr


def live_run(url: str, run_id: str) -> None:
    """A graph run held by this (live) process for the next minutes."""
    storage = open_storage(url)
    try:
        storage.create_run(RunRecord(run_id=run_id, agent_id="slow"))
        storage.claim_run(run_id, make_owner_id(), ttl_seconds=300)
        storage.update_run(run_id, status=RunStatus.RUNNING)
    finally:
        storage.close()


def test_ctrl_c_stops_the_watch_not_the_run(tmp_path: Path) -> None:
    url = f"sqlite://{tmp_path / 'runs.db'}"
    live_run(url, "slow-1")
    watcher = subprocess.Popen(
        agentgraph_command("watch", "slow-1", "--interval", "0.05", "--storage", url),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert watcher.stdout is not None
    first = watcher.stdout.readline()
    assert " run slow-1 running: no checkpoint yet" in first

    watcher.send_signal(signal.SIGINT)
    _, err = watcher.communicate(timeout=30)

    assert watcher.returncode == 130
    assert err == "stopped watching; run slow-1 goes on\n"
    storage = open_storage(url)
    try:
        record = storage.get_run("slow-1")
    finally:
        storage.close()
    assert record is not None and record.status is RunStatus.RUNNING


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_on_a_terminal_the_watch_is_a_live_panel_until_the_run_ends(store: str) -> None:
    screen = _Terminal()

    async def watch() -> RunStatus:
        storage = open_storage(store)
        try:
            watching = Watch(Reader(storage, store), "triage-1", 0.01, hints=lambda s: ["hint"])
            return (await watching.panel()).status
        finally:
            await storage.aclose()

    with redirect_stdout(screen):
        ended = anyio.run(watch)

    assert ended is RunStatus.PAUSED
    shown = screen.getvalue()
    assert "watching triage-1" in shown
    assert "graph run triage-1: " in shown and "paused" in shown
    assert "hint" in shown
