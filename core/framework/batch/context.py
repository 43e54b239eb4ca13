"""What a batch's function receives beside its item: who it is, and where usage goes."""

from __future__ import annotations

from dataclasses import dataclass, field

from framework.schemas.item import ItemUsage

__all__ = ["ItemContext"]


@dataclass
class ItemContext:
    """One attempt of one item: passed to the batch's function as its second argument."""

    run_id: str
    """The batch run."""
    item_id: str
    """The item."""
    attempt: int
    """This attempt's number, from 1 (counted since the latest ``retry_failed``)."""
    usage: ItemUsage = field(default_factory=ItemUsage)
    """What this attempt reported with :meth:`report_usage`; recorded with its outcome."""

    def report_usage(self, tokens_in: int = 0, tokens_out: int = 0, cost: float = 0.0) -> None:
        """Add what a model call of this attempt consumed (failed attempts count too)."""
        self.usage = self.usage + ItemUsage(tokens_in=tokens_in, tokens_out=tokens_out, cost=cost)
