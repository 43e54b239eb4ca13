"""The LLM provider protocol and the message types exchanged with it."""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field

from framework.llm.usage import LLMAttempt, Spend

__all__ = [
    "LLMProvider",
    "LLMResponse",
    "Message",
    "Role",
    "Tool",
    "ToolCall",
    "ToolResult",
]


class Role(StrEnum):
    """Who speaks in a chat message."""

    SYSTEM = "system"
    """Instructions that frame the conversation (the executors pass theirs as ``system=``
    instead)."""
    USER = "user"
    """The prompt: what a node, step, router or judge asks the model."""
    ASSISTANT = "assistant"
    """The model's earlier reply, with the tool calls it asked for."""
    TOOL = "tool"
    """A tool's result, answering one of the model's tool calls."""


class ToolCall(BaseModel):
    """A tool invocation the model asked for."""

    model_config = ConfigDict(use_attribute_docstrings=True)

    id: str
    """Names the call; the tool's result answers it by this id."""
    name: str
    """The tool to call."""
    arguments: dict[str, Any] = Field(default_factory=dict)
    """The arguments, as the tool's ``parameters`` schema describes them."""


class ToolResult(BaseModel):
    """What a tool returned for one :class:`ToolCall`."""

    model_config = ConfigDict(use_attribute_docstrings=True)

    tool_call_id: str
    """The call it answers."""
    content: str
    """What the tool returned, as text (other values as JSON)."""
    is_error: bool = False
    """Whether the call failed (or named a tool that may not be used); the model is shown
    the error so it can recover."""


class Message(BaseModel):
    """One chat message."""

    model_config = ConfigDict(use_attribute_docstrings=True)

    role: Role
    """Who speaks."""
    content: str = ""
    """The text."""
    tool_calls: list[ToolCall] = Field(default_factory=list)
    """On assistant turns: the tool calls the model asked for."""
    tool_call_id: str | None = None
    """On tool turns: the call this result answers."""


class Tool(BaseModel):
    """A tool the model may call."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    name: str
    """How the model and the nodes' ``tools`` lists name it."""
    description: str = ""
    """What it does, in words for the model."""
    parameters: dict[str, Any] = Field(default_factory=lambda: {"type": "object"})
    """A JSON schema of its arguments."""


class LLMResponse(BaseModel):
    """A completion: text, any tool calls, and the tokens it cost.

    The token counts, ``cost`` and ``request_id`` describe the attempt that answered;
    ``attempts`` lists every attempt of the call, that one last, and :meth:`spend` sums
    what they all cost. A provider of one's own may leave ``attempts`` empty: the reply
    alone is then what the call spent.
    """

    model_config = ConfigDict(use_attribute_docstrings=True)

    content: str = ""
    """The reply's text."""
    tool_calls: list[ToolCall] = Field(default_factory=list)
    """The tools the model asks to call before it answers; empty: this is its answer."""
    input_tokens: int = 0
    """Tokens of the prompt, those read from the prompt cache included."""
    output_tokens: int = 0
    """Tokens of the reply."""
    cached_tokens: int = 0
    """Of ``input_tokens``, those read from the provider's prompt cache."""
    cache_write_tokens: int = 0
    """Of ``input_tokens``, those written to the provider's prompt cache."""
    model: str = ""
    """The model that answered."""
    stop_reason: str = "stop"
    """Why the model stopped, in the provider's words (``stop``: it finished)."""
    cost: float | None = None
    """What the answering attempt cost, in US dollars; ``None``: unknown."""
    request_id: str | None = None
    """The endpoint's id of the answering request."""
    latency_ms: int = 0
    """How long the answering attempt took."""
    attempts: list[LLMAttempt] = Field(default_factory=list)
    """Every attempt of the call, failed ones first (empty: the provider lists none)."""

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens

    def spend(self) -> Spend:
        """What the whole call spent: the sum of its attempts (or this reply alone)."""
        if self.attempts:
            return Spend.of(self.attempts)
        return Spend(
            self.input_tokens,
            self.output_tokens,
            self.cached_tokens,
            self.cost or 0.0,
            int(self.cost is None),
        )


@runtime_checkable
class LLMProvider(Protocol):
    """What the executors need from a model provider."""

    async def complete(
        self,
        messages: list[Message],
        *,
        system: str | None = None,
        model: str | None = None,
        max_tokens: int | None = None,
        json_mode: bool = False,
    ) -> LLMResponse:
        """Return the model's reply to ``messages``."""
        ...

    async def complete_with_tools(
        self,
        messages: list[Message],
        tools: list[Tool],
        *,
        system: str | None = None,
        model: str | None = None,
        max_tokens: int | None = None,
    ) -> LLMResponse:
        """Return the model's reply, which may ask for tool calls instead of text."""
        ...
