"""A deterministic, scripted LLM provider for tests, demos and offline runs."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

from framework.errors import LLMScriptExhaustedError
from framework.llm.provider import LLMResponse, Message, Tool

__all__ = ["LLMCall", "MockLLMProvider"]

Responder = Callable[["LLMCall"], LLMResponse | str | Awaitable[LLMResponse | str]]


@dataclass
class LLMCall:
    """One request the mock received, kept for assertions."""

    messages: list[Message]
    system: str | None
    model: str | None
    tools: list[Tool] = field(default_factory=list)
    json_mode: bool = False

    @property
    def prompt(self) -> str:
        """The text of the last user message."""
        for message in reversed(self.messages):
            if message.role == "user":
                return message.content
        return ""


class MockLLMProvider:
    """Replies from a script: a list of responses consumed in order, or a function.

    A plain string becomes a text reply. Token usage is counted as one token per four
    characters of prompt and reply (at least one each) unless the scripted
    :class:`LLMResponse` sets it, so totals are deterministic; a reply costs nothing
    unless the script gives it a ``cost``. Asking for more replies than
    the script holds raises :class:`LLMScriptExhaustedError` rather than inventing one.
    """

    def __init__(
        self,
        responses: Sequence[LLMResponse | str] | Responder | None = None,
        *,
        default: LLMResponse | str | None = None,
        model: str = "mock",
    ) -> None:
        self._responder = responses if callable(responses) else None
        self._script = [] if callable(responses) or responses is None else list(responses)
        self._default = default
        self.model = model
        self.calls: list[LLMCall] = []

    async def complete(
        self,
        messages: list[Message],
        *,
        system: str | None = None,
        model: str | None = None,
        max_tokens: int | None = None,
        json_mode: bool = False,
    ) -> LLMResponse:
        return await self._reply(LLMCall(list(messages), system, model, json_mode=json_mode))

    async def complete_with_tools(
        self,
        messages: list[Message],
        tools: list[Tool],
        *,
        system: str | None = None,
        model: str | None = None,
        max_tokens: int | None = None,
    ) -> LLMResponse:
        return await self._reply(LLMCall(list(messages), system, model, tools=list(tools)))

    async def _reply(self, call: LLMCall) -> LLMResponse:
        self.calls.append(call)
        if self._responder is not None:
            reply = self._responder(call)
            if inspect.isawaitable(reply):
                reply = await reply
        elif self._script:
            reply = self._script.pop(0)
        elif self._default is not None:
            reply = self._default
        else:
            raise LLMScriptExhaustedError(
                f"MockLLMProvider script exhausted after {len(self.calls) - 1} replies; "
                "add more responses or a default"
            )
        return self._as_response(reply, call)

    def _as_response(self, reply: LLMResponse | str, call: LLMCall) -> LLMResponse:
        if isinstance(reply, LLMResponse):
            if reply.cost is None:
                reply = reply.model_copy(update={"cost": 0.0})
            if reply.input_tokens or reply.output_tokens:
                return reply
            text = reply.content
        else:
            text = reply
            reply = LLMResponse(content=text, cost=0.0)
        prompt_chars = sum(len(m.content) for m in call.messages) + len(call.system or "")
        return reply.model_copy(
            update={
                "input_tokens": max(1, prompt_chars // 4),
                "output_tokens": max(1, len(text) // 4),
                "model": reply.model or call.model or self.model,
            }
        )
