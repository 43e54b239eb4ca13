"""When a failed node attempt is tried again, how long to wait before it, and how it is told.

Each retry is logged at WARNING on :data:`RETRY_LOGGER` before the wait, so a program (the
``agentgraph`` command prints one line per retry) can show it without the executor knowing.
"""

from __future__ import annotations

import logging

from pydantic import BaseModel, ConfigDict, Field

from framework.graph.node import NodeSpec

__all__ = ["RETRY_LOGGER", "RetryPolicy", "announce_retry", "is_retryable"]

RETRY_LOGGER = "framework.graph.retry"
"""The logger every retry is announced on, at WARNING, one record per retry."""
_logger = logging.getLogger(RETRY_LOGGER)


class RetryPolicy(BaseModel):
    """Exponential backoff between attempts of a node.

    The wait before retry ``n`` (1 for the first retry) is
    ``min(max_delay, base_delay * factor ** (n - 1))`` seconds; ``base_delay=0`` retries at
    once (what tests use).
    """

    model_config = ConfigDict(frozen=True, use_attribute_docstrings=True)

    base_delay: float = Field(default=0.5, ge=0)
    """Seconds before the first retry."""
    factor: float = Field(default=2.0, ge=1)
    """How much each further wait grows."""
    max_delay: float = Field(default=30.0, ge=0)
    """The longest wait, in seconds."""

    def delay(self, retry: int) -> float:
        """Seconds to wait before retry number ``retry`` (counted from 1)."""
        if retry < 1:
            raise ValueError(f"retry numbers start at 1, got {retry}")
        return min(self.max_delay, self.base_delay * self.factor ** (retry - 1))


def is_retryable(spec: NodeSpec, error: str, exception_type: str | None = None) -> bool:
    """Whether a failure of ``spec`` is worth another attempt.

    With an empty ``retry_on`` every failure is. Otherwise one entry must equal the
    exception's type name or occur in the error message (node errors start with the type
    name, as in ``"TimeoutError: read timed out"``, so a type name matches those too).
    """
    if not spec.retry_on:
        return True
    return any(entry == exception_type or entry in error for entry in spec.retry_on)


def announce_retry(spec: NodeSpec, retry: int, delay: float, error: str) -> None:
    """Log ``retry 1/3 of node 'x' in 0.5 s: <error>``: ``spec`` runs again after ``delay``."""
    _logger.warning(
        "retry %d/%d of node '%s' in %g s: %s", retry, spec.max_retries, spec.id, delay, error
    )
