"""What model calls spent: one :class:`LLMAttempt` per request sent, and their sums.

A provider that talks to a real endpoint records every attempt of a call (a 429 that was
retried, a timeout, the answer) on the reply's ``attempts``, or on the
:class:`~framework.errors.LLMCallError` when no attempt succeeded, so a node's or an item's
usage is the sum of everything it was charged for, not only the attempt that answered.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["LLMAttempt", "Spend"]


class LLMAttempt(BaseModel):
    """One request to a model: what it cost and how it ended."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)

    model: str
    """The model asked (or, once it answered, the model that answered)."""
    endpoint: str = ""
    """Where the request went (the provider's base URL)."""
    request_id: str | None = None
    """The endpoint's id of the request, when it gave one (quote it to its support)."""
    input_tokens: int = Field(default=0, ge=0)
    """Prompt tokens, those read from the prompt cache included."""
    output_tokens: int = Field(default=0, ge=0)
    """Completion tokens."""
    cached_tokens: int = Field(default=0, ge=0)
    """Of ``input_tokens``, those read from the provider's prompt cache."""
    cache_write_tokens: int = Field(default=0, ge=0)
    """Of ``input_tokens``, those written to the prompt cache (priced apart by some)."""
    latency_ms: int = Field(default=0, ge=0)
    """From sending the request to its answer or error."""
    cost: float | None = Field(default=None, ge=0)
    """What it cost, in US dollars; ``None``: unknown (``cost_note`` says why), never a
    made-up 0."""
    cost_note: str | None = None
    """Why ``cost`` is unknown."""
    status_code: int | None = None
    """The HTTP status of a failed attempt (``None``: no response, or it answered)."""
    error: str | None = None
    """Why it failed (``None``: it answered)."""


@dataclass(frozen=True)
class Spend:
    """The sum of some attempts."""

    input_tokens: int = 0
    output_tokens: int = 0
    cached_tokens: int = 0
    cost: float = 0.0
    """Of the attempts whose cost is known."""
    unpriced: int = 0
    """How many attempts have no known cost (their cost is not in ``cost``)."""

    @property
    def tokens(self) -> int:
        return self.input_tokens + self.output_tokens

    @classmethod
    def of(cls, attempts: Iterable[LLMAttempt]) -> Spend:
        total = cls()
        for attempt in attempts:
            total = total + cls(
                attempt.input_tokens,
                attempt.output_tokens,
                attempt.cached_tokens,
                attempt.cost or 0.0,
                int(attempt.cost is None),
            )
        return total

    def __add__(self, other: Spend) -> Spend:
        return Spend(
            self.input_tokens + other.input_tokens,
            self.output_tokens + other.output_tokens,
            self.cached_tokens + other.cached_tokens,
            self.cost + other.cost,
            self.unpriced + other.unpriced,
        )
