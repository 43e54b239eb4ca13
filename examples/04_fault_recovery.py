"""Fault recovery: a worker process dies mid-run; a restarted worker continues the run by itself.

Run with ``.venv/bin/python examples/04_fault_recovery.py`` (``make demo`` runs it too).
The order-batch agent (``examples/agents/order_batch/``: eight slow nodes, one of which
emails the invoice through ``ctx.effect``) runs in a worker process. That worker loses
power — it kills itself with SIGKILL, no cleanup at all — while ``compute_tax`` runs. A
new worker then starts, as a supervisor would restart it: its AgentRunner finds the
unfinished run whose owner is dead and continues it from its latest checkpoint. The
script shows what storage knew after the crash, which nodes were skipped (completed before
the crash, not run again), and checks that the result equals an uninterrupted run's and
that exactly one email was sent.

Usage: ``04_fault_recovery.py`` tells the whole story; ``04_fault_recovery.py worker
STORAGE HOME OUTBOX RESULT [CRASH_AT]`` is one worker process.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import re
import signal
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import anyio

from framework import AgentRunner, CheckpointManager
from framework.schemas.lease import owner_is_alive

AGENT = Path(__file__).parent / "agents" / "order_batch"
RUN_ID = "order-batch-7"
INPUT = {"batch_id": "B7"}
CRASH_AT = "compute_tax"
STEP_SECONDS = "0.15"
_RAN = re.compile(r"^\s*\[worker \d+\] (\w+): ", re.M)


# --- one worker process ---------------------------------------------------------------------


def power_cut(node: str, function: Any) -> Any:
    """``function`` replaced by a crash: the process dies the moment ``node`` starts."""

    @functools.wraps(function)
    def crash(*args: Any, **kwargs: Any) -> Any:
        print(f"  [worker {os.getpid()}] {node}: POWER CUT (SIGKILL)", flush=True)
        os.kill(os.getpid(), signal.SIGKILL)

    return crash


async def work(storage: str, home: str, result_file: str, crash_at: str | None) -> None:
    """What a worker does when it starts: recover crashed runs, then do its own run."""
    async with AgentRunner.load(AGENT, storage=storage, storage_path=home) as runner:
        if crash_at:
            runner.functions[crash_at] = power_cut(crash_at, runner.functions[crash_at])
        for recovered in await runner.recover():
            print(
                f"  [worker {os.getpid()}] recovered run {recovered.run_id}: "
                f"{recovered.run_status}",
                flush=True,
            )
        result = await runner.run(INPUT, run_id=RUN_ID)
    Path(result_file).write_text(json.dumps(result.output, sort_keys=True), encoding="utf-8")


def worker(args: list[str]) -> int:
    storage, home, outbox, result_file, *crash = args
    os.environ["ORDER_BATCH_OUTBOX"] = outbox
    logging.basicConfig(
        level=logging.INFO, format=f"  [worker {os.getpid()}] %(message)s", stream=sys.stdout
    )
    anyio.run(work, storage, home, result_file, crash[0] if crash else None)
    return 0


# --- the story ------------------------------------------------------------------------------


def start_worker(folder: Path, name: str, crash_at: str | None = None) -> tuple[int, list[str]]:
    """Run one worker to its end, echoing its lines; return its exit code and the nodes it ran."""
    command = [
        sys.executable,
        __file__,
        "worker",
        f"sqlite://{folder / name}.db",
        str(folder / "home"),
        str(folder / f"{name}-outbox"),
        str(folder / f"{name}-result.json"),
        *([crash_at] if crash_at else []),
    ]
    env = {**os.environ, "ORDER_BATCH_STEP_SECONDS": STEP_SECONDS}
    child = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=env)
    assert child.stdout is not None
    lines = []
    for line in child.stdout:
        lines.append(line)
        if name != "reference":
            print(line, end="", flush=True)
    child.wait()
    ran = [node for node in _RAN.findall("".join(lines)) if node != "recovered"]
    return child.returncode, list(dict.fromkeys(ran))


def show_stored_state(url: str) -> list[str]:
    """Print what storage knows about the crashed run; return its completed nodes."""
    with CheckpointManager(url) as manager:
        record = manager.storage.get_run(RUN_ID)
        assert record is not None
        owner = record.lease_owner or "-"
        alive = owner_is_alive(owner) if record.lease_owner else None
        state = {True: "alive", False: "dead", None: "unknown"}[alive]
        print(f"   status: {record.status}, lease owner {owner} ({state})")
        preview = manager.preview_resume(RUN_ID)
        print(f"   completed nodes: {' -> '.join(preview.completed_nodes)}")
        print(f"   next node: {preview.next_node} (from checkpoint seq {preview.checkpoint_seq})")
        return list(preview.completed_nodes)


def story() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        print("fault recovery: a worker dies mid-run, a restarted worker continues the run\n")
        code, reference_nodes = start_worker(folder, "reference")
        expected = json.loads((folder / "reference-result.json").read_text())
        print(
            f"0. reference: an uninterrupted run in its own database ran {len(reference_nodes)} "
            f"nodes (exit {code}), invoice total {expected['invoice']['total']:.2f}\n"
        )

        print(f"1. a worker starts run {RUN_ID} and loses power while '{CRASH_AT}' runs")
        code, first = start_worker(folder, "crashed", CRASH_AT)
        killed = "killed by SIGKILL" if code == -signal.SIGKILL else f"exit code {code}"
        print(f"   the worker is gone: {killed}\n")

        print("2. what storage knows about the run now")
        completed = show_stored_state(f"sqlite://{folder / 'crashed'}.db")

        print("\n3. a new worker starts and recovers the run by itself")
        code, second = start_worker(folder, "crashed")
        if code != 0:
            print(f"   the new worker failed with exit code {code}")
            return 1
        result = json.loads((folder / "crashed-result.json").read_text())

        print("\n4. what happened")
        skipped = [node for node in reference_nodes if node not in second]
        print(f"   skipped (completed before the crash, not run again): {', '.join(skipped)}")
        print(f"   re-ran: {CRASH_AT} (in flight when the power went)")
        print(f"   ran after recovery: {', '.join(second)}")
        emails = len(list((folder / "crashed-outbox").glob("*.eml")))
        print(f"   invoice emails sent: {emails}")
        same = result == expected and skipped == completed
        print(f"   final result equals the uninterrupted run: {'yes' if same else 'NO'}")
        print(
            f"   invoice {result['invoice']['invoice_id']} total {result['invoice']['total']:.2f}, "
            f"archived as {result['archive_key']}"
        )
        return 0 if same and emails == 1 and first[-1] == CRASH_AT else 1


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "worker":
        sys.exit(worker(sys.argv[2:]))
    sys.exit(story())
