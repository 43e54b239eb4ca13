"""When a failed node attempt is tried again, and how long to wait before it."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from framework.graph.node import NodeSpec

__all__ = ["RetryPolicy", "is_retryable"]


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
