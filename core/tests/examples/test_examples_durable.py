"""The durable-run examples 02, 03, 04 and 06 run as documented and print what they promise."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"


def run_example(name: str, tmp_path: Path) -> str:
    env = {**os.environ, "AGENTGRAPH_HOME": str(tmp_path), "HOME": str(tmp_path)}
    env.pop("AGENTGRAPH_STORAGE", None)
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / name)],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def test_example_02_runs_the_payment_loop_and_lists_every_state_checkpoint(
    tmp_path: Path,
) -> None:
    out = run_example("02_state_machine.py", tmp_path)
    assert "run order-1001: completed, final state delivered" in out
    assert "charge_card x3, payment_router x3, wait_and_retry x2" in out
    table = [
        line.split() for line in out.splitlines() if re.match(r"\d+\s+(start|node_|final)", line)
    ]
    assert [row[0] for row in table] == [str(seq) for seq in range(13)]
    assert table[0][1] == "start"
    assert table[-1][1:4] == ["final", "deliver", "delivered"]
    assert table[6][4:6] == ["declined", "#2"]
    assert "same run id again: completed, 0 nodes ran, stored result returned: yes" in out


def test_example_03_checkpoints_every_third_node_and_on_request(tmp_path: Path) -> None:
    out = run_example("03_periodic_checkpoint.py", tmp_path)
    rows = {
        parts[1]: parts[2]
        for parts in (line.split(maxsplit=3) for line in out.splitlines())
        if len(parts) >= 3 and parts[0].isdigit()
    }
    assert rows == {
        "download": "-",
        "parse": "-",
        "clean": "node_complete",
        "chunk": "-",
        "embed": "requested",
        "index": "node_complete",
        "verify": "-",
        "publish": "final",
    }
    assert "{'milestone': 'embeddings computed', 'vectors': 26}" in out
    assert "nodes with a checkpoint: clean, embed, index, publish" in out


def test_example_04_recovers_the_killed_run_without_rerunning_completed_nodes(
    tmp_path: Path,
) -> None:
    out = run_example("04_fault_recovery.py", tmp_path)
    assert "compute_tax: POWER CUT (SIGKILL)" in out
    assert "the worker is gone: killed by SIGKILL" in out
    assert re.search(r"status: running, lease owner \S+ \(dead\)", out)
    assert "next node: compute_tax (from checkpoint seq 4)" in out
    assert re.search(r"\[worker \d+\] recovered run order-batch-7: completed", out)
    skipped = "load_orders, validate_orders, price_orders, apply_discounts"
    assert f"skipped (completed before the crash, not run again): {skipped}" in out
    assert "ran after recovery: compute_tax, build_invoice, send_invoice, archive_batch" in out
    assert "invoice emails sent: 1" in out
    assert "final result equals the uninterrupted run: yes" in out


def test_example_06_pauses_for_the_manager_and_another_process_resumes(tmp_path: Path) -> None:
    out = run_example("06_human_in_the_loop.py", tmp_path)
    first, _, second = out.partition("2. later, the manager approves it from another process")
    assert "run expense-42: paused at node 'manager_review'" in first
    assert "stored run status: paused" in first
    assert "[employee process] submit:" in first
    assert "run expense-42: completed" in second
    assert "path: submit -> policy_check -> manager_review -> settle" in second
    assert "'status': 'paid'" in second
    assert "[manager process] settle: paid 1240.00 to Dana Reyes" in second
    assert "submit:" not in second and "policy_check:" not in second
