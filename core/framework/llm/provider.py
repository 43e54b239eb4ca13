"""The LLM provider protocol and the message types exchanged with it."""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field

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
    SYSTEM = "system"
    USER = "user"
    ASSISTANT = "assistant"
    TOOL = "tool"


class ToolCall(BaseModel):
    """A tool invocation the model asked for."""

    id: str
    name: str
    arguments: dict[str, Any] = Field(default_factory=dict)


class ToolResult(BaseModel):
    """What a tool returned for one :class:`ToolCall`."""

    tool_call_id: str
    content: str
    is_error: bool = False


class Message(BaseModel):
    """One chat message; ``tool_calls`` on assistant turns, ``tool_call_id`` on tool turns."""

    role: Role
    content: str = ""
    tool_calls: list[ToolCall] = Field(default_factory=list)
    tool_call_id: str | None = None


class Tool(BaseModel):
    """A tool the model may call: a name, what it does, and a JSON schema of its arguments."""

    model_config = ConfigDict(extra="forbid")

    name: str
    description: str = ""
    parameters: dict[str, Any] = Field(default_factory=lambda: {"type": "object"})


class LLMResponse(BaseModel):
    """A completion: text, any tool calls, and the tokens it cost."""

    content: str = ""
    tool_calls: list[ToolCall] = Field(default_factory=list)
    input_tokens: int = 0
    output_tokens: int = 0
    model: str = ""
    stop_reason: str = "stop"

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens


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
