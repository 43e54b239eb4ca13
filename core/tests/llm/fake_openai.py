"""What an OpenAI-compatible endpoint sends back, for a :class:`FakeEndpoint`.

Bodies of the chat-completions API as OpenAI writes them: a completion with its usage
(cached prompt tokens under ``prompt_tokens_details``), a completion that calls tools, the
error envelope, and the ``x-ratelimit-*`` headers; and the replies built from them.
"""

from __future__ import annotations

import json
from typing import Any

from framework.testing.fake_endpoint import Received, Reply

__all__ = [
    "completion",
    "error",
    "ok",
    "rate_limit_headers",
    "tool_call",
    "wrong_key",
]


def completion(
    content: str | None = "Hello!",
    *,
    model: str = "gpt-test",
    prompt_tokens: int = 12,
    completion_tokens: int = 5,
    cached_tokens: int | None = None,
    finish_reason: str = "stop",
    tool_calls: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """A ``chat.completion`` with one choice; ``cached_tokens`` None: no
    ``prompt_tokens_details`` (as many compatible servers send)."""
    message: dict[str, Any] = {"role": "assistant", "content": content, "refusal": None}
    if tool_calls is not None:
        message["tool_calls"] = tool_calls
    usage: dict[str, Any] = {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    }
    if cached_tokens is not None:
        usage["prompt_tokens_details"] = {"cached_tokens": cached_tokens, "audio_tokens": 0}
    return {
        "id": "chatcmpl-test",
        "object": "chat.completion",
        "created": 1_700_000_000,
        "model": model,
        "choices": [
            {"index": 0, "message": message, "logprobs": None, "finish_reason": finish_reason}
        ],
        "usage": usage,
    }


def tool_call(call_id: str, name: str, arguments: dict[str, Any] | str) -> dict[str, Any]:
    """One entry of a reply's ``tool_calls``; a str ``arguments`` is sent as is."""
    encoded = arguments if isinstance(arguments, str) else json.dumps(arguments)
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": encoded}}


def error(
    message: str, *, kind: str = "invalid_request_error", code: str | None = None
) -> dict[str, Any]:
    """OpenAI's error envelope."""
    return {"error": {"message": message, "type": kind, "param": None, "code": code}}


def rate_limit_headers(
    *,
    remaining_requests: int = 99,
    reset_requests: str = "1s",
    remaining_tokens: int = 9_000,
    reset_tokens: str = "6m0s",
) -> dict[str, str]:
    """The ``x-ratelimit-*`` headers OpenAI sends on every response."""
    return {
        "x-ratelimit-limit-requests": "100",
        "x-ratelimit-remaining-requests": str(remaining_requests),
        "x-ratelimit-reset-requests": reset_requests,
        "x-ratelimit-limit-tokens": "10000",
        "x-ratelimit-remaining-tokens": str(remaining_tokens),
        "x-ratelimit-reset-tokens": reset_tokens,
    }


def ok(body: Any, *, request_id: str = "req-test", headers: dict[str, str] | None = None) -> Reply:
    """A 200 with ``body``, its ``x-request-id`` and any other ``headers``."""
    return Reply(200, body, {"x-request-id": request_id, **(headers or {})})


def wrong_key(received: Received) -> Reply:
    """OpenAI's 401 for a wrong key, which quotes the key it was sent."""
    key = received.headers.get("authorization", "").removeprefix("Bearer ")
    message = (
        f"Incorrect API key provided: {key}. You can find your API key at "
        "https://platform.openai.com/account/api-keys."
    )
    return Reply(401, error(message, code="invalid_api_key"), {"x-request-id": "req-401"})
