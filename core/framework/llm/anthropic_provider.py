"""Anthropic's Messages API, through the official ``anthropic`` SDK (the ``anthropic`` extra).

:class:`AnthropicProvider` sends each attempt as one ``POST /v1/messages`` with the SDK's
own retries off; :class:`~framework.llm.remote.RemoteProvider` decides what is retried,
waits, records and prices. The conversation is translated both ways:

- the ``system`` argument and any system message go to the request's ``system`` parameter;
- an assistant message's tool calls become ``tool_use`` blocks after its text, and a run of
  tool messages becomes ONE user turn of ``tool_result`` blocks; turns of the same role
  that follow each other are joined, so user and assistant alternate as the API requires;
- a reply's ``text`` blocks are its content and its ``tool_use`` blocks its tool calls;
  its ``input_tokens`` count every prompt token, those read from and written to the prompt
  cache included, and ``cached_tokens`` the ones read from it.

The API has no JSON-mode switch, so ``json_mode`` adds :data:`JSON_INSTRUCTION` to the
system prompt; the model is asked, not forced, and the node layer strips code fences from
what it answers. A body that is not JSON, or lacks its content, usage or stop reason, is a
:class:`~framework.llm.remote.MalformedReply`, tried again like a 5xx. Only this module
imports ``anthropic``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar, Literal

import anthropic
from anthropic.types import (
    AssistantMessageParam,
    MessageParam,
    TextBlock,
    TextBlockParam,
    ToolParam,
    ToolResultBlockParam,
    ToolUseBlock,
    ToolUseBlockParam,
    Usage,
    UserMessageParam,
)
from pydantic import BaseModel, ValidationError

from framework import settings
from framework.errors import LLMError
from framework.llm.pricing import Pricing
from framework.llm.provider import LLMResponse, Message, Role, Tool, ToolCall
from framework.llm.remote import (
    Answer,
    Failure,
    MalformedReply,
    RemoteProvider,
    Request,
    sdk_failure,
)
from framework.llm.retries import LLMRetryPolicy

__all__ = ["JSON_INSTRUCTION", "AnthropicProvider"]

_API_KEY_ENV = "ANTHROPIC_API_KEY"
_BASE_URL_ENV = "ANTHROPIC_BASE_URL"

JSON_INSTRUCTION = (
    "Answer with one JSON object and nothing else: no text before or after it, no code fences."
)
"""What ``json_mode`` adds to the system prompt (the Messages API has no JSON switch)."""

_Block = TextBlockParam | ToolUseBlockParam | ToolResultBlockParam
_Turn = tuple[Literal["user", "assistant"], list[_Block]]


class AnthropicProvider(RemoteProvider):
    """Claude models through Anthropic's Messages API (see the module docs).

    ``model`` is asked when a call names none; ``base_url`` defaults to
    ``$ANTHROPIC_BASE_URL``, else Anthropic's; ``api_key`` to ``$ANTHROPIC_API_KEY``;
    ``headers`` are sent with every request; ``timeout`` (seconds) bounds each attempt;
    ``max_tokens`` is the reply's limit when a call gives none (the API requires one).
    ``retry`` and ``prices`` are those of :class:`~framework.llm.remote.RemoteProvider`.
    Close it with :meth:`aclose`, or use it as ``async with``.
    """

    provider_id: ClassVar[str] = "anthropic"
    label: ClassVar[str] = "Anthropic"
    default_endpoint: ClassVar[str] = "https://api.anthropic.com"

    def __init__(
        self,
        model: str,
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: float = 60.0,
        max_tokens: int = 4096,
        retry: LLMRetryPolicy | None = None,
        prices: Pricing | Mapping[str, Any] | None = None,
    ) -> None:
        api_key = api_key or settings.variable(_API_KEY_ENV)
        if not api_key:
            raise LLMError(
                f"AnthropicProvider for model {model!r} has no API key; "
                f"pass api_key= or set {_API_KEY_ENV}"
            )
        endpoint = base_url or settings.variable(_BASE_URL_ENV) or self.default_endpoint
        super().__init__(
            model=model, endpoint=endpoint, secrets=[api_key], retry=retry, prices=prices
        )
        self.max_tokens = max_tokens
        self._client = anthropic.AsyncAnthropic(
            api_key=api_key,
            base_url=self.endpoint,
            timeout=timeout,
            max_retries=0,
            default_headers=headers,
        )

    async def aclose(self) -> None:
        """Close the SDK client and its connections."""
        await self._client.close()

    async def _send(self, request: Request) -> Answer:
        system, messages = _conversation(request)
        raw = await self._client.messages.with_raw_response.create(
            model=request.model,
            max_tokens=self.max_tokens if request.max_tokens is None else request.max_tokens,
            messages=messages,
            system=system or anthropic.omit,
            tools=[_tool(tool) for tool in request.tools] or anthropic.omit,
        )
        try:
            body = await raw.json()
        except ValueError as exc:
            # The SDK raises the JSON decoder's ValueError here, not an error of its own.
            raise MalformedReply(f"the body is not JSON ({exc})") from None
        return Answer(_response(body), dict(raw.headers), raw.request_id)

    def _failure(self, exc: Exception) -> Failure | None:
        # 529 (overloaded) is retried as a 5xx; the request id is in ``request-id``.
        return sdk_failure(exc, anthropic)


def _conversation(request: Request) -> tuple[str, list[MessageParam]]:
    """The request's ``system`` parameter and its alternating user / assistant turns."""
    instructions = [request.system] if request.system else []
    turns: list[_Turn] = []
    for message in request.messages:
        if message.role == Role.SYSTEM:
            instructions.append(message.content)
            continue
        role: Literal["user", "assistant"] = (
            "assistant" if message.role == Role.ASSISTANT else "user"
        )
        if turns and turns[-1][0] == role:
            turns[-1][1].extend(_blocks(message))
        else:
            turns.append((role, _blocks(message)))
    if request.json_mode:
        instructions.append(JSON_INSTRUCTION)
    system = "\n\n".join(part for part in instructions if part)
    return system, [_message(role, blocks) for role, blocks in turns]


def _message(role: Literal["user", "assistant"], blocks: list[_Block]) -> MessageParam:
    if role == "assistant":
        return AssistantMessageParam(role="assistant", content=blocks)
    return UserMessageParam(role="user", content=blocks)


def _blocks(message: Message) -> list[_Block]:
    if message.role == Role.TOOL:
        if message.tool_call_id is None:
            raise LLMError(
                "a tool message has no tool_call_id; set it to the id of the call it answers"
            )
        return [
            ToolResultBlockParam(
                type="tool_result", tool_use_id=message.tool_call_id, content=message.content
            )
        ]
    blocks: list[_Block] = []
    if message.content:
        blocks.append(TextBlockParam(type="text", text=message.content))
    if message.role == Role.ASSISTANT:
        blocks.extend(
            ToolUseBlockParam(type="tool_use", id=call.id, name=call.name, input=call.arguments)
            for call in message.tool_calls
        )
    return blocks


def _tool(tool: Tool) -> ToolParam:
    param = ToolParam(name=tool.name, input_schema=tool.parameters)
    if tool.description:
        param["description"] = tool.description
    return param


class _Reply(BaseModel):
    """The parts of a Messages API reply the provider reads."""

    content: list[dict[str, Any]]
    usage: Usage
    stop_reason: str
    model: str = ""


def _response(body: object) -> LLMResponse:
    """The reply ``body`` holds, or :class:`MalformedReply` saying what it lacks."""
    if not isinstance(body, dict):
        raise MalformedReply(f"the body is a JSON {type(body).__name__}, not an object")
    try:
        reply = _Reply.model_validate(body)
    except ValidationError as exc:
        raise MalformedReply(f"the body lacks or mistypes {_fields(exc)}") from None
    texts: list[str] = []
    calls: list[ToolCall] = []
    # Blocks of other kinds (thinking, server tools) are not part of the answer.
    for number, block in enumerate(reply.content):
        try:
            if block.get("type") == "text":
                texts.append(TextBlock.model_validate(block).text)
            elif block.get("type") == "tool_use":
                use = ToolUseBlock.model_validate(block)
                calls.append(ToolCall(id=use.id, name=use.name, arguments=dict(use.input)))
        except ValidationError as exc:
            raise MalformedReply(
                f"the body lacks or mistypes {_fields(exc, f'content.{number}.')}"
            ) from None
    cache_read = reply.usage.cache_read_input_tokens or 0
    cache_write = reply.usage.cache_creation_input_tokens or 0
    return LLMResponse(
        content="".join(texts),
        tool_calls=calls,
        input_tokens=reply.usage.input_tokens + cache_read + cache_write,
        output_tokens=reply.usage.output_tokens,
        cached_tokens=cache_read,
        cache_write_tokens=cache_write,
        model=reply.model,
        stop_reason=reply.stop_reason,
    )


def _fields(exc: ValidationError, prefix: str = "") -> str:
    """The fields a validation error is about: ``usage.input_tokens, content``."""
    locations = {prefix + ".".join(map(str, error["loc"])) for error in exc.errors()}
    return ", ".join(sorted(locations))
