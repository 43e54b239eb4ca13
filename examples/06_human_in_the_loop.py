"""Human in the loop: a run waits for a manager's decision, and another process resumes it.

Run with ``.venv/bin/python examples/06_human_in_the_loop.py``. The expense-approval agent
(``examples/agents/expense_approval/``) checks a claim, then reaches ``manager_review``, a
human_input node: the run pauses and is stored as ``paused`` in a SQLite database. This
process then exits its part. Later a second process — the manager's approval tool, here
this script started again with ``review`` — opens the same database, resumes the run with
the manager's answer, and the run completes: the claim is paid out once. The nodes before
the pause do not run again.
"""

from __future__ import annotations

import logging
import subprocess
import sys
import tempfile
from pathlib import Path

import anyio

from framework import AgentRunner

AGENT = Path(__file__).parent / "agents" / "expense_approval"
RUN_ID = "expense-42"
CLAIM = {"employee": "Dana Reyes", "amount": 1240.0, "purpose": "conference travel"}
ANSWER = {"approved": True, "reviewer_note": "approved: conference budget line 7"}


def log_nodes(process: str) -> None:
    logging.basicConfig(level=logging.INFO, format=f"  [{process}] %(message)s", stream=sys.stdout)
    logging.getLogger("expense_approval").setLevel(logging.INFO)


async def submit_claim(storage: str, home: str) -> None:
    """The employee's side: start the run; it stops at the manager's review."""
    async with AgentRunner.load(AGENT, storage=storage, storage_path=home) as runner:
        result = await runner.run({"expense": CLAIM}, run_id=RUN_ID)
        print(f"run {result.run_id}: {result.run_status} at node '{result.paused_at}'")
        print(f"  reason: {result.pause_reason}")
        manager = runner.checkpoint_manager
        assert manager is not None
        record = await manager.storage.aget_run(RUN_ID)
        assert record is not None
        print(f"stored run status: {record.status} ({record.status_reason})")
        print(f"waiting for the manager, with notes: {result.output['policy_notes']}")


async def review_claim(storage: str, home: str) -> None:
    """The manager's side, in another process: resume the paused run with the answer."""
    async with AgentRunner.load(AGENT, storage=storage, storage_path=home) as runner:
        result = await runner.resume(RUN_ID, ANSWER)
        print(f"run {result.run_id}: {result.run_status}")
        print(f"  path: {' -> '.join(result.path)}")
        print(f"  outcome: {result.output['outcome']}")


def main() -> int:
    if len(sys.argv) == 4 and sys.argv[1] == "review":
        log_nodes("manager process")
        anyio.run(review_claim, sys.argv[2], sys.argv[3])
        return 0
    with tempfile.TemporaryDirectory() as folder:
        storage = f"sqlite://{Path(folder) / 'state.db'}"
        home = str(Path(folder) / "home")
        print(f"storage: {storage}\n")
        print("1. the employee submits a claim")
        log_nodes("employee process")
        anyio.run(submit_claim, storage, home)
        print("\n2. later, the manager approves it from another process")
        print(
            f"   (from a shell: agentgraph resume {AGENT} {RUN_ID} --storage {storage} "
            f'--input \'{{"approved": true, "reviewer_note": "..."}}\')'
        )
        sys.stdout.flush()
        review = [sys.executable, __file__, "review", storage, home]
        return subprocess.run(review, check=False).returncode


if __name__ == "__main__":
    sys.exit(main())
