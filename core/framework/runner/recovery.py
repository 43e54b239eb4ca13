"""Which stored runs were abandoned by a crashed process and may be recovered.

A run is *abandoned* when it is unfinished — status ``running`` or ``pending`` — and no
live process owns it: it has no lease, its lease has expired, or its owner ran on this
machine and that process is gone (so a restart after a crash resumes at once, without
waiting for the lease to expire). Paused and failed runs are never abandoned: they wait
for an explicit resume. Completed and cancelled runs are final.
"""

from __future__ import annotations

from datetime import datetime

from framework.schemas.checkpoint import ExecutorType
from framework.schemas.clock import utc_now
from framework.schemas.run import RunRecord, RunStatus
from framework.storage.backend import StorageBackend

__all__ = ["UNFINISHED_STATUSES", "find_abandoned_runs", "is_abandoned"]

UNFINISHED_STATUSES = (RunStatus.RUNNING, RunStatus.PENDING)


def is_abandoned(record: RunRecord, now: datetime | None = None) -> bool:
    """Whether ``record`` is unfinished and no live process holds its lease."""
    return record.status in UNFINISHED_STATUSES and not record.has_live_lease(now)


async def find_abandoned_runs(
    storage: StorageBackend, agent_id: str, *, batches: bool = False
) -> list[RunRecord]:
    """The abandoned graph runs of agent ``agent_id`` (its batches instead if ``batches``),
    oldest first (the order they started)."""
    now = utc_now()
    found = [
        record
        for status in UNFINISHED_STATUSES
        for record in await storage.alist_runs(status=status, agent_id=agent_id)
        if is_abandoned(record, now) and (record.executor_type is ExecutorType.BATCH) == batches
    ]
    return sorted(found, key=lambda record: record.created_at)
