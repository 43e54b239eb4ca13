"""What a batch's function receives beside its item: who it is, where usage goes, effects."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

from framework.durable import EffectLedger, perform_effect, require_event_loop
from framework.errors import InvalidIdError
from framework.llm.metered import MeteredLLM
from framework.llm.provider import LLMProvider
from framework.llm.usage import LLMAttempt, Spend
from framework.schemas.ids import ID_MAX_LENGTH, validate_node_id
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
    effects: EffectLedger | None = None
    """The batch run's effects ledger (``None``: effects are not recorded)."""
    provider: LLMProvider | None = None
    """The runner's model, which :attr:`llm` meters."""

    @property
    def llm(self) -> LLMProvider:
        """The batch runner's model (``BatchRunner(llm=...)``): what every call spent (all
        its attempts, those of a call that failed for good included: tokens and cost) is
        added to this attempt's usage, so the item's totals need no ``report_usage``."""
        if self.provider is None:
            raise TypeError(
                f"item {self.item_id!r} asked for ctx.llm, but the batch runner has no model; "
                "pass BatchRunner(..., llm=provider)"
            )
        return MeteredLLM(self.provider, self._spent)

    async def _spent(self, spent: Spend, attempts: list[LLMAttempt]) -> None:
        self.report_usage(spent.input_tokens, spent.output_tokens, spent.cost)

    def report_usage(self, tokens_in: int = 0, tokens_out: int = 0, cost: float = 0.0) -> None:
        """Add what a model call of this attempt consumed (failed attempts count too)."""
        self.usage = self.usage + ItemUsage(tokens_in=tokens_in, tokens_out=tokens_out, cost=cost)

    def effect(
        self, key: str, fn: Callable[..., Any], /, *args: Any, **kwargs: Any
    ) -> Coroutine[Any, Any, Any]:
        """Perform side effect ``key`` of this item with ``fn(*args, **kwargs)`` once.

        As ``NodeContext.effect``, with keys scoped to the item: an attempt after a crash
        or a retry gets the result an earlier attempt recorded instead of calling ``fn``
        again (see :mod:`framework.durable._ledger`). Await it from an async function.
        """
        owner = effect_owner(self.item_id)
        require_event_loop(owner)
        return perform_effect(self.effects, self.run_id, owner, key, fn, args, kwargs)


def effect_owner(item_id: str) -> str:
    """Whom an item's effects belong to in the run's ledger: ``item-`` and its id, or a
    hash of it when the id is too long or not a valid node id."""
    owner = f"item-{item_id}"
    try:
        if len(owner) <= ID_MAX_LENGTH // 2:
            return validate_node_id(owner)
    except InvalidIdError:
        pass
    return f"item-{hashlib.sha256(item_id.encode('utf-8')).hexdigest()[:32]}"
