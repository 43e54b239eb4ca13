"""How a batch runs: concurrency, retries, failure limits, identities and progress."""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from framework.errors import InvalidArgumentError

__all__ = ["BatchConfig"]


@dataclass(frozen=True)
class BatchConfig:
    """Settings of a :class:`~framework.batch.BatchRunner`; every one has a default."""

    concurrency: int = 4
    """Items in flight at once."""
    max_attempts: int = 3
    """Attempts per item (since the latest ``retry_failed``) before it fails for good."""
    retry_on: tuple[type[BaseException], ...] = (Exception,)
    """Exceptions retried; any other one, or a ``PermanentItemError``, fails the item now."""
    backoff_seconds: float = 1.0
    """Wait before the second attempt; it doubles with every further one."""
    backoff_max_seconds: float = 60.0
    """The longest wait between two attempts."""
    jitter: float = 0.25
    """Each wait is moved by up to this fraction, so failed items do not retry in step."""
    id_key: str | None = None
    """The field of each item (a mapping) holding its id; ``None``: a hash of its content."""
    drop_duplicates: bool = False
    """Drop an item whose id came earlier in the submission, instead of refusing it."""
    replace_changed: bool = False
    """Run again an item whose content changed since it was added, instead of refusing it."""
    max_failures: int | None = None
    """Stop the batch (failed, resumable) once this many items failed for good."""
    max_failed_ratio: float | None = None
    """Stop it once this fraction of its finished items failed (after at least 10)."""
    requests_per_minute: float | None = None
    """Attempts started per minute at most (most items make one model request)."""
    tokens_per_minute: float | None = None
    """Tokens (in + out, as the attempts report them) per minute at most: an attempt starts
    only while the tokens of earlier ones are paid off."""
    progress_interval: float = 2.0
    """Seconds between two progress snapshots (stored, and sent as an event)."""
    poll_interval: float = 0.5
    """Longest wait between two looks for due items when none is in flight."""
    add_chunk: int = 500
    """Items added to the ledger per write while a submission is read."""
    commit_group: int = 256
    """Most item outcomes recorded in one write (a group commit)."""
    worker: str = field(default="")
    """Who runs the items, as the ledger records it (default: the process's owner id)."""

    def __post_init__(self) -> None:
        for name in ("concurrency", "max_attempts", "add_chunk", "commit_group"):
            value = getattr(self, name)
            if type(value) is not int or value < 1:
                raise InvalidArgumentError(f"{name} must be an int of at least 1, not {value!r}")
        for name in ("backoff_seconds", "backoff_max_seconds", "progress_interval"):
            if getattr(self, name) < 0:
                raise InvalidArgumentError(f"{name} must not be negative")
        if not 0 <= self.jitter < 1:
            raise InvalidArgumentError(f"jitter must be in [0, 1), not {self.jitter!r}")
        if self.poll_interval <= 0:
            raise InvalidArgumentError("poll_interval must be positive")
        for name in ("requests_per_minute", "tokens_per_minute"):
            limit = getattr(self, name)
            if limit is not None and not limit > 0:
                raise InvalidArgumentError(f"{name} must be positive (or None), not {limit!r}")
        if self.max_failures is not None and self.max_failures < 1:
            raise InvalidArgumentError("max_failures must be at least 1 (or None)")
        ratio = self.max_failed_ratio
        if ratio is not None and not 0 < ratio <= 1:
            raise InvalidArgumentError(f"max_failed_ratio must be in (0, 1], not {ratio!r}")

    def backoff(self, attempt: int) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based)."""
        delay = min(self.backoff_seconds * 2.0 ** (attempt - 1), self.backoff_max_seconds)
        return float(delay * (1 + random.uniform(-self.jitter, self.jitter)))
