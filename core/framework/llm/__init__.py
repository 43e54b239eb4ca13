"""LLM providers: the protocol the executors use, a scripted mock, and real endpoints.

:class:`OpenAIProvider` (the ``openai`` extra) talks to any OpenAI-compatible endpoint and
:class:`AnthropicProvider` (the ``anthropic`` extra) to Anthropic's; each is imported, with
its SDK, only when first used, so ``import framework`` never loads an SDK.
"""

from typing import TYPE_CHECKING

from framework._lazy import lazy_exports
from framework.llm.llm_config import (
    LLMConfig,
    LLMOverrides,
    ProviderName,
    merge_llm_config,
    provider_from_config,
)
from framework.llm.mock import LLMCall, MockLLMProvider
from framework.llm.pricing import ModelPrice, Pricing
from framework.llm.provider import (
    LLMProvider,
    LLMResponse,
    Message,
    Role,
    Tool,
    ToolCall,
    ToolResult,
)
from framework.llm.retries import LLMRetryPolicy
from framework.llm.usage import LLMAttempt, Spend

if TYPE_CHECKING:
    from framework.llm.anthropic_provider import AnthropicProvider as AnthropicProvider
    from framework.llm.openai_provider import OpenAIProvider as OpenAIProvider

__all__ = [
    "AnthropicProvider",
    "LLMAttempt",
    "LLMCall",
    "LLMConfig",
    "LLMOverrides",
    "LLMProvider",
    "LLMResponse",
    "LLMRetryPolicy",
    "Message",
    "MockLLMProvider",
    "ModelPrice",
    "OpenAIProvider",
    "Pricing",
    "ProviderName",
    "Role",
    "Spend",
    "Tool",
    "ToolCall",
    "ToolResult",
    "merge_llm_config",
    "provider_from_config",
]

_EXPORTS = {
    "AnthropicProvider": "framework.llm.anthropic_provider",
    "OpenAIProvider": "framework.llm.openai_provider",
}

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
