"""LLM providers: the protocol the executors use and a scripted mock.

Real providers are optional extras and are never imported from here.
"""

from framework.llm.mock import LLMCall, MockLLMProvider
from framework.llm.provider import (
    LLMProvider,
    LLMResponse,
    Message,
    Role,
    Tool,
    ToolCall,
    ToolResult,
)

__all__ = [
    "LLMCall",
    "LLMProvider",
    "LLMResponse",
    "Message",
    "MockLLMProvider",
    "Role",
    "Tool",
    "ToolCall",
    "ToolResult",
]
