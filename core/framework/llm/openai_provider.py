"""OpenAIProvider: any OpenAI-compatible chat-completions endpoint, through the ``openai`` SDK.

One class speaks to OpenAI's own API and to the servers that copy it (vLLM, Ollama,
llama.cpp, LM Studio, gateways): ``base_url`` picks the endpoint. Unset arguments come from
the SDK's usual variables: ``OPENAI_BASE_URL``, ``OPENAI_API_KEY``, ``OPENAI_ORG_ID``,
``OPENAI_PROJECT_ID``. OpenAI's own API without a key fails at construction; a local server
that takes none is sent a placeholder key.

Each request is one attempt of :class:`~framework.llm.remote.RemoteProvider`'s loop: the
SDK's own retries are off, the raw response gives the loop the ``x-request-id`` and
``x-ratelimit-*`` headers, and a reply that cannot be read (a body that is not JSON, no
choices, tool arguments that are not a JSON object) is a
:class:`~framework.llm.remote.MalformedReply`, tried again like a 5xx. This module is the
only one that imports ``openai``, and only :mod:`framework.llm` imports it, on first use.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import openai
from openai.types.chat import (
    ChatCompletion,
    ChatCompletionAssistantMessageParam,
    ChatCompletionFunctionToolParam,
    ChatCompletionMessageFunctionToolCall,
    ChatCompletionMessageFunctionToolCallParam,
    ChatCompletionMessageParam,
    ChatCompletionMessageToolCallUnion,
)

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

__all__ = ["OpenAIProvider"]

_NO_KEY = "no-key"
"""Sent to a server that takes no key: the SDK will not send a request without one."""
_SNIPPET = 80


class OpenAIProvider(RemoteProvider):
    """A model of an OpenAI-compatible endpoint (see the module docs).

    ``model`` is asked when a call names none; ``headers`` go with every request (their
    values are redacted from errors, like the key); ``timeout`` bounds each attempt, in
    seconds; ``max_tokens`` caps a reply when a call sets no cap; ``retry`` and ``prices``
    as for :class:`~framework.llm.remote.RemoteProvider`. ``client`` is the SDK's client,
    for the endpoint's other APIs. Close it with :meth:`aclose`, or ``async with``.
    """

    provider_id = "openai"
    label = "OpenAI-compatible"
    default_endpoint = "https://api.openai.com/v1"

    def __init__(
        self,
        model: str,
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        organization: str | None = None,
        project: str | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: float = 60.0,
        max_tokens: int | None = None,
        retry: LLMRetryPolicy | None = None,
        prices: Pricing | Mapping[str, Any] | None = None,
    ) -> None:
        endpoint = base_url or settings.variable("OPENAI_BASE_URL") or self.default_endpoint
        key = api_key or settings.variable("OPENAI_API_KEY")
        if not key and _is_openai(endpoint):
            raise LLMError(
                f"{type(self).__name__} for model {model!r} at {endpoint} has no API key: "
                "pass api_key= or set OPENAI_API_KEY"
            )
        # A header may carry a gateway's credential: it is redacted like the key.
        secrets = [key, *(headers or {}).values()]
        super().__init__(
            model=model, endpoint=endpoint, secrets=secrets, retry=retry, prices=prices
        )
        self.max_tokens = max_tokens
        self._openai_api = _is_openai(self.endpoint)
        # The SDK reads OPENAI_ORG_ID and OPENAI_PROJECT_ID itself when these are None.
        self.client = openai.AsyncOpenAI(
            api_key=key or _NO_KEY,
            base_url=self.endpoint,
            organization=organization,
            project=project,
            default_headers=headers,
            timeout=timeout,
            max_retries=0,
        )

    async def _send(self, request: Request) -> Answer:
        limit = request.max_tokens or self.max_tokens
        cap = openai.omit if limit is None else limit
        # OpenAI deprecated ``max_tokens`` for ``max_completion_tokens``, which its reasoning
        # models require; Ollama, LM Studio and llama-cpp-python honour only ``max_tokens``,
        # which vLLM and llama.cpp take too. Each endpoint gets the name it reads.
        raw = await self.client.chat.completions.with_raw_response.create(
            model=request.model,
            messages=_messages(request),
            max_completion_tokens=cap if self._openai_api else openai.omit,
            max_tokens=openai.omit if self._openai_api else cap,
            response_format={"type": "json_object"} if request.json_mode else openai.omit,
            tools=[_tool(tool) for tool in request.tools] or openai.omit,
        )
        try:
            completion = raw.parse()
        except ValueError as exc:
            raise MalformedReply(f"the body is not JSON: {_snippet(raw.text)}") from exc
        # Under a content type other than JSON the SDK hands back the body's text.
        if not isinstance(completion, ChatCompletion):
            raise MalformedReply(f"the body is not a chat completion: {_snippet(raw.text)}")
        headers, reported = dict(raw.headers), completion.usage is not None
        try:
            reply = _reply(completion)
        except MalformedReply as exc:
            # Its usage was read: that is what the attempt is charged.
            read = Answer(_usage(completion), headers, raw.request_id, reported)
            raise MalformedReply(str(exc), read) from None
        return Answer(reply, headers, raw.request_id, reported)

    def _failure(self, exc: Exception) -> Failure | None:
        return sdk_failure(exc, openai)

    async def aclose(self) -> None:
        """Close the SDK client and its connections."""
        await self.client.close()


def _is_openai(url: str) -> bool:
    """Whether ``url`` is OpenAI's own API (its regional hosts included)."""
    host = urlsplit(url).hostname or ""
    return host == "api.openai.com" or host.endswith(".api.openai.com")


def _snippet(text: str) -> str:
    return repr(text[:_SNIPPET] + ("..." if len(text) > _SNIPPET else ""))


def _messages(request: Request) -> list[ChatCompletionMessageParam]:
    wire: list[ChatCompletionMessageParam] = []
    if request.system:
        wire.append({"role": "system", "content": request.system})
    wire.extend(_message(message) for message in request.messages)
    return wire


def _message(message: Message) -> ChatCompletionMessageParam:
    match message.role:
        case Role.SYSTEM:
            return {"role": "system", "content": message.content}
        case Role.USER:
            return {"role": "user", "content": message.content}
        case Role.ASSISTANT:
            return _assistant(message)
        case Role.TOOL:
            if message.tool_call_id is None:
                raise LLMError(
                    "a tool message needs tool_call_id, the id of the tool call it answers"
                )
            return {
                "role": "tool",
                "tool_call_id": message.tool_call_id,
                "content": message.content,
            }


def _assistant(message: Message) -> ChatCompletionAssistantMessageParam:
    if not message.tool_calls:
        return {"role": "assistant", "content": message.content}
    # As the model's own reply had it: no text beside tool calls is null.
    return {
        "role": "assistant",
        "content": message.content or None,
        "tool_calls": [_wire_call(call) for call in message.tool_calls],
    }


def _wire_call(call: ToolCall) -> ChatCompletionMessageFunctionToolCallParam:
    return {
        "id": call.id,
        "type": "function",
        "function": {"name": call.name, "arguments": json.dumps(call.arguments)},
    }


def _tool(tool: Tool) -> ChatCompletionFunctionToolParam:
    return {
        "type": "function",
        "function": {
            "name": tool.name,
            "description": tool.description,
            "parameters": tool.parameters,
        },
    }


def _reply(completion: ChatCompletion) -> LLMResponse:
    if not completion.choices or completion.choices[0].message is None:
        raise MalformedReply("the reply has no choice with a message")
    choice = completion.choices[0]
    return _usage(completion).model_copy(
        update={
            "content": choice.message.content or "",
            "tool_calls": [_tool_call(call) for call in choice.message.tool_calls or []],
            # A whole (not streamed) reply that names no reason ended as the model chose.
            "stop_reason": choice.finish_reason or "stop",
        }
    )


def _usage(completion: ChatCompletion) -> LLMResponse:
    """The tokens and model of ``completion`` (0 tokens when it reports no usage)."""
    usage = completion.usage
    details = usage.prompt_tokens_details if usage else None
    return LLMResponse(
        input_tokens=usage.prompt_tokens if usage else 0,
        output_tokens=usage.completion_tokens if usage else 0,
        cached_tokens=(details.cached_tokens or 0) if details else 0,
        model=completion.model or "",
    )


def _tool_call(call: ChatCompletionMessageToolCallUnion) -> ToolCall:
    if not isinstance(call, ChatCompletionMessageFunctionToolCall):
        raise MalformedReply(f"tool call {call.id!r} is not a function call")
    name = call.function.name
    try:
        arguments = json.loads(call.function.arguments)
    except (TypeError, ValueError) as exc:
        raise MalformedReply(
            f"the arguments of tool call {call.id!r} to {name!r} are not JSON: {exc}"
        ) from exc
    if not isinstance(arguments, dict):
        raise MalformedReply(
            f"the arguments of tool call {call.id!r} to {name!r} are not a JSON object"
        )
    return ToolCall(id=call.id, name=name, arguments=arguments)
