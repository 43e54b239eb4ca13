"""Items: the ledger rows of a batch run, one per unit of work (a document).

A batch adds its items as ``pending``; a worker claims due ones (``running``, one more
attempt) and reports each outcome: ``completed`` with its result, ``failed`` for good, or
``pending`` again to be retried at a later time. The counts per status are kept with the
ledger, so a batch's progress is read without scanning its items.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from enum import StrEnum
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from framework.schemas.clock import utc_now

__all__ = [
    "ItemCounts",
    "ItemError",
    "ItemOutcome",
    "ItemRecord",
    "ItemStatus",
    "ItemUsage",
    "ItemsAdded",
    "NewItem",
]


class ItemStatus(StrEnum):
    """Where an item stands in its batch's ledger."""

    PENDING = "pending"
    """Waiting to run: never run yet, to be retried (at ``next_attempt_at``), or put back."""
    RUNNING = "running"
    """Claimed by a worker; its outcome is not recorded yet."""
    COMPLETED = "completed"
    """Done; its result is stored and it never runs again."""
    FAILED = "failed"
    """Failed for good (a permanent error, or no attempt left); ``retry_failed`` puts it back."""
    SKIPPED = "skipped"
    """Left out on purpose by the batch's function; it never runs again."""


class ItemError(BaseModel):
    """Why an attempt failed."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)

    type: str
    """The exception's type name (``TimeoutError``)."""
    message: str
    """Its message."""
    traceback: str = ""
    """The last lines of its traceback."""


class ItemUsage(BaseModel):
    """What running an item consumed (one attempt, all of an item's, or a whole ledger's)."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)

    tokens_in: int = Field(default=0, ge=0)
    """Prompt tokens."""
    tokens_out: int = Field(default=0, ge=0)
    """Completion tokens."""
    cost: float = Field(default=0.0, ge=0)
    """In the providers' currency."""

    def __add__(self, other: ItemUsage) -> ItemUsage:
        # Sums of valid usages are valid: nothing to check again.
        return ItemUsage.model_construct(
            tokens_in=self.tokens_in + other.tokens_in,
            tokens_out=self.tokens_out + other.tokens_out,
            cost=self.cost + other.cost,
        )


class NewItem(BaseModel):
    """An item as a batch submits it."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)

    item_id: str
    """Unique within the batch (a field of the item, or a hash of its content)."""
    input: Any = None
    """What the batch's function receives (any value the codec stores; comes back exactly)."""
    content_hash: str
    """Of ``input``: a resubmitted item whose hash differs has changed."""


class ItemRecord(BaseModel):
    """One item of a batch run's ledger."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)

    run_id: str
    """The batch run it belongs to."""
    item_id: str
    """Its id within the run."""
    seq: int = Field(ge=0)
    """Its place in the order items were added: items are claimed and listed by it."""
    input: Any = None
    """What the function receives."""
    content_hash: str
    """Of ``input``."""
    status: ItemStatus = ItemStatus.PENDING
    """Where it stands."""
    attempts: int = Field(default=0, ge=0)
    """Attempts started, ever (one interrupted by a crash counts)."""
    retry_from: int = Field(default=0, ge=0)
    """``attempts`` when ``retry_failed`` last put it back: the attempts allowed count from
    here."""
    next_attempt_at: AwareDatetime | None = None
    """A pending item is not claimed before this time (``None``: at once)."""
    last_error: ItemError | None = None
    """The latest failed attempt's error (kept after a retry, as history)."""
    result: Any = None
    """The completed item's result (any value the codec stores; comes back exactly)."""
    usage: ItemUsage = ItemUsage()
    """Consumed by all its attempts, failed ones included."""
    worker: str | None = None
    """Who ran its latest attempt."""
    added_at: AwareDatetime = Field(default_factory=utc_now)
    """When it was added (UTC)."""
    started_at: AwareDatetime | None = None
    """When its latest attempt started."""
    finished_at: AwareDatetime | None = None
    """When it completed, failed for good or was skipped."""


class ItemOutcome(BaseModel):
    """How one attempt of a running item ended, as a worker reports it."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)

    item_id: str
    """The item."""
    status: ItemStatus
    """``completed``, ``failed`` (for good), ``skipped``, or ``pending`` (retry later)."""
    result: Any = None
    """The result of a completed item."""
    error: ItemError | None = None
    """Why the attempt failed (``failed`` and ``pending``)."""
    usage: ItemUsage = ItemUsage()
    """What this attempt consumed; added to the item's usage."""
    retry_at: AwareDatetime | None = None
    """For ``pending``: when the item may be claimed again (``None``: at once)."""

    @model_validator(mode="after")
    def _consistent(self) -> ItemOutcome:
        if self.status is ItemStatus.RUNNING:
            raise ValueError("an outcome ends an attempt; it cannot be 'running'")
        if self.status in (ItemStatus.FAILED, ItemStatus.PENDING) and self.error is None:
            raise ValueError(f"a {self.status.value!r} outcome needs the attempt's error")
        if self.result is not None and self.status is not ItemStatus.COMPLETED:
            raise ValueError("only a completed outcome carries a result")
        if self.retry_at is not None and self.status is not ItemStatus.PENDING:
            raise ValueError("only a 'pending' outcome is retried at a time")
        return self


class ItemCounts(BaseModel):
    """A ledger's items per status and what they consumed, kept as the ledger changes."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)

    pending: int = Field(default=0, ge=0)
    """Items waiting to run (a retry's included)."""
    running: int = Field(default=0, ge=0)
    """Items claimed and not finished."""
    completed: int = Field(default=0, ge=0)
    """Items done."""
    failed: int = Field(default=0, ge=0)
    """Items failed for good."""
    skipped: int = Field(default=0, ge=0)
    """Items left out."""
    usage: ItemUsage = ItemUsage()
    """Consumed by every attempt of every item."""

    @property
    def total(self) -> int:
        """Every item of the ledger."""
        return self.pending + self.running + self.completed + self.failed + self.skipped

    @property
    def finished(self) -> int:
        """Items that will not run again unless put back: completed, failed, skipped."""
        return self.completed + self.failed + self.skipped

    def after(
        self,
        moves: Iterable[tuple[ItemStatus | None, ItemStatus]],
        usage: ItemUsage | None = None,
    ) -> ItemCounts:
        """These counts once each item of ``moves`` went from its first status (``None``: a
        new item) to its second, and ``usage`` was consumed."""
        counts = Counter[str]()
        for before, now in moves:
            if before is not None:
                counts[before.value] -= 1
            counts[now.value] += 1
        values = {name: getattr(self, name) + counts[name] for name in _STATUS_FIELDS}
        total = self.usage if usage is None else self.usage + usage
        return ItemCounts(**values, usage=total)


_STATUS_FIELDS = tuple(status.value for status in ItemStatus)


class ItemsAdded(BaseModel):
    """What adding a submission of items to a ledger did."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)

    added: int = 0
    """New items, now pending."""
    unchanged: int = 0
    """Items stored already with the same content hash, left as they were."""
    changed: list[str] = Field(default_factory=list)
    """Ids stored already with another content hash, in submission order: left as they
    were, or pending again with the new input when replacing was asked for."""
