"""What to do next about a run, as commands to paste (quoted, naming the ``--storage`` given).

:func:`next_steps` follows ``status`` and ``watch``: resume a paused or failed run, continue
one whose process has gone, retry a batch's failed items, verify a damaged store.
:func:`repairs` follows ``verify``: what a damaged run needs. A graph run the command
started is named by its id (its record keeps the agent folder); one started from Python
names ``AGENT_DIR``, to fill in.
"""

from __future__ import annotations

from framework.cli.batch_command import resume_command
from framework.cli.reading import Standing
from framework.cli.storage_option import agent_folder, pasteable
from framework.durable import RunVerification
from framework.schemas.checkpoint import ExecutorType
from framework.schemas.run import RunStatus

__all__ = ["next_steps", "repairs"]


def next_steps(standing: Standing, storage: str | None) -> list[str]:
    """What to do next about the run, as commands to paste."""
    record = standing.record
    run_id = record.run_id
    batch = record.executor_type is ExecutorType.BATCH
    resume = resume_command(record, storage)
    if resume is None and not batch:
        resume = pasteable("resume", "AGENT_DIR", run_id, storage=storage)
    folder = agent_folder(record)
    # Nothing of it loads although it progressed: resuming is refused (verify says why).
    lost = record.latest_checkpoint_id is not None and standing.checkpoint is None and not batch
    hints = []
    if standing.damage:
        hints.append("check its checkpoints with: " + pasteable("verify", run_id, storage=storage))
    if standing.abandoned():
        recover = pasteable("recover", str(folder or "AGENT_DIR"), storage=storage)
        again = resume if batch else recover
        if again:
            hints.append(f"no live process runs it; continue it with: {again}")
    elif standing.status in (RunStatus.PAUSED, RunStatus.FAILED) and resume and not lost:
        hints.append(f"resume with: {resume}")
    failed = standing.batch.counts.failed if standing.batch is not None else 0
    if failed and standing.ended and standing.status is not RunStatus.CANCELLED:
        retry = pasteable("retry-failed", run_id, storage=storage)
        hints.append(f"retry the {failed} failed item(s) with: {retry}")
    return hints


def repairs(report: RunVerification, kind: ExecutorType, storage: str | None) -> list[str]:
    """What to do about what ``agentgraph verify`` found for a run of ``kind`` (nothing
    when it is intact)."""
    if report.ok:
        return []
    latest = report.latest_valid
    if report.lost or latest is None:
        backup = "restore the store from a backup to keep the run's work; until then it is refused"
        if kind is ExecutorType.BATCH:
            return [backup]
        restart = pasteable(
            "run", "AGENT_DIR", "--run-id", report.run_id, "--restart", storage=storage
        )
        return [backup, f"or start it over from its input, running its nodes again: {restart}"]
    where = f"{latest.id} (seq {latest.seq})"
    if kind is ExecutorType.BATCH:
        # A batch's checkpoints are progress snapshots; what was done is in its item ledger.
        return [
            f"nothing is done again: a batch's items are in its ledger; its rate and last "
            f"items done continue from {where}"
        ]
    if len(report.problems) > len(report.corrupt):
        return [
            f"resuming continues from {where}: the work recorded after it is done again",
            "to keep that work, restore the store from a backup before resuming",
        ]
    return [
        f"nothing to do for the run itself: it continues from {where}, which is intact",
        "the damaged checkpoints are skipped; do not fork or inspect from them",
    ]
