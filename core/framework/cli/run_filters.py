"""Which runs a command acts on: ``--status``, ``--agent``, ``--since``, ``--until`` and
``--error-contains``, read from storage newest first.

Status and agent are filtered by the storage; times and error text here, over those records.
``--since`` / ``--until`` take an age (``30m``, ``2h``, ``7d``, ``2w``: that long ago) or an
ISO date or time (``2026-12-01``, ``2026-12-01T08:00``, UTC unless it names a zone).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from framework.errors import InvalidArgumentError
from framework.schemas.clock import utc_now
from framework.schemas.run import RunRecord, RunStatus
from framework.storage import StorageBackend

__all__ = ["RunSelection", "moment", "selected_runs"]

_AGE = re.compile(r"(\d+)([smhdw])")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800}


def moment(text: str, now: datetime | None = None) -> datetime:
    """The time ``text`` names: an age before ``now`` (``2h``) or an ISO date or time."""
    age = _AGE.fullmatch(text.strip())
    if age is not None:
        seconds = int(age.group(1)) * _UNIT_SECONDS[age.group(2)]
        return (now or utc_now()) - timedelta(seconds=seconds)
    try:
        parsed = datetime.fromisoformat(text.strip())
    except ValueError:
        raise InvalidArgumentError(
            f"{text!r} is not a time: give an age (30m, 2h, 7d, 2w) or an ISO date "
            "(2026-12-01 or 2026-12-01T08:00)"
        ) from None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


@dataclass(frozen=True)
class RunSelection:
    """The runs matching every criterion given (``None`` matches any)."""

    status: RunStatus | None = None
    agent: str | None = None
    since: datetime | None = None
    """Only runs created at or after this time."""
    until: datetime | None = None
    """Only runs created before this time."""
    error_contains: str | None = None
    """Only runs whose last error or status reason contains this text."""

    def matches(self, record: RunRecord) -> bool:
        """Whether ``record`` meets the criteria storage does not filter on."""
        if self.since is not None and record.created_at < self.since:
            return False
        if self.until is not None and record.created_at >= self.until:
            return False
        if self.error_contains is not None:
            said = f"{record.last_error or ''}\n{record.status_reason or ''}"
            return self.error_contains in said
        return True

    @property
    def is_empty(self) -> bool:
        """Whether no criterion is given (every run matches)."""
        return self == RunSelection()


async def selected_runs(
    storage: StorageBackend,
    selection: RunSelection,
    *,
    limit: int | None = None,
    offset: int = 0,
) -> list[RunRecord]:
    """The runs ``selection`` matches, newest first: ``limit`` of them after ``offset``."""
    records = await storage.alist_runs(status=selection.status, agent_id=selection.agent)
    matching = [record for record in records if selection.matches(record)]
    end = None if limit is None else offset + limit
    return matching[offset:end]
