"""A provider that says what each of its calls spent: the one wrapper behind a node's
journal of model calls and a batch item's ``ctx.llm``.

:class:`MeteredLLM` hands every call on to its provider, then awaits ``spent`` with what
the call cost (:meth:`LLMResponse.spend`, all attempts summed) and its attempts, before
the reply goes back; a call that failed for good (:class:`~framework.errors.LLMCallError`)
is reported with its attempts too, then re-raised.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from framework.errors import LLMCallError
from framework.llm.provider import LLMProvider, LLMResponse, Message, Tool
from framework.llm.usage import LLMAttempt, Spend

__all__ = ["MeteredLLM", "Spent"]

Spent = Callable[[Spend, list[LLMAttempt]], Awaitable[None]]
"""Told what one call spent, and its attempts."""


class MeteredLLM:
    """``provider``, reporting each call's spend to ``spent`` (see the module docs)."""

    def __init__(self, provider: LLMProvider, spent: Spent) -> None:
        self.provider = provider
        self.spent = spent

    async def complete(
        self,
        messages: list[Message],
        *,
        system: str | None = None,
        model: str | None = None,
        max_tokens: int | None = None,
        json_mode: bool = False,
    ) -> LLMResponse:
        return await self._metered(
            self.provider.complete(
                messages, system=system, model=model, max_tokens=max_tokens, json_mode=json_mode
            )
        )

    async def complete_with_tools(
        self,
        messages: list[Message],
        tools: list[Tool],
        *,
        system: str | None = None,
        model: str | None = None,
        max_tokens: int | None = None,
    ) -> LLMResponse:
        return await self._metered(
            self.provider.complete_with_tools(
                messages, tools, system=system, model=model, max_tokens=max_tokens
            )
        )

    async def _metered(self, call: Awaitable[LLMResponse]) -> LLMResponse:
        try:
            reply = await call
        except LLMCallError as exc:
            await self.spent(Spend.of(exc.attempts), exc.attempts)
            raise
        await self.spent(reply.spend(), reply.attempts)
        return reply
