"""Bodies and headers of Anthropic's Messages API, for :class:`FakeEndpoint` to answer with.

Each builder returns what the real API sends (a ``message`` with its usage, a ``tool_use``
reply, an ``error`` body, the ``anthropic-ratelimit-*`` headers), so a test scripts the
endpoint in the API's own terms.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

__all__ = ["error", "message", "rate_limit_headers", "tool_use"]


def message(
    text: str = "",
    *,
    model: str = "claude-test",
    input_tokens: int = 10,
    output_tokens: int = 5,
    cache_read: int | None = None,
    cache_creation: int | None = None,
    stop_reason: str = "end_turn",
    content: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """A ``message`` body: ``text`` as its one text block, unless ``content`` is given.
    ``input_tokens`` are the prompt tokens that were neither read from nor written to the
    prompt cache, as the API counts them."""
    usage: dict[str, Any] = {"input_tokens": input_tokens, "output_tokens": output_tokens}
    if cache_read is not None:
        usage["cache_read_input_tokens"] = cache_read
    if cache_creation is not None:
        usage["cache_creation_input_tokens"] = cache_creation
    return {
        "id": "msg_test_01",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [{"type": "text", "text": text}] if content is None else content,
        "stop_reason": stop_reason,
        "stop_sequence": None,
        "usage": usage,
    }


def tool_use(
    *calls: tuple[str, str, dict[str, Any]], text: str = "", **fields: Any
) -> dict[str, Any]:
    """A ``message`` that asks for tool calls ``(id, name, input)``, after ``text`` if any;
    ``fields`` as those of :func:`message`."""
    blocks: list[dict[str, Any]] = [{"type": "text", "text": text}] if text else []
    blocks += [
        {"type": "tool_use", "id": call_id, "name": name, "input": arguments}
        for call_id, name, arguments in calls
    ]
    return message(content=blocks, stop_reason="tool_use", **fields)


def error(kind: str, text: str) -> dict[str, Any]:
    """An error body: ``kind`` is the API's error type (``rate_limit_error``,
    ``overloaded_error``, ``authentication_error``, ``invalid_request_error``, ...)."""
    return {"type": "error", "error": {"type": kind, "message": text}}


def rate_limit_headers(kind: str, remaining: int, reset: datetime) -> dict[str, str]:
    """The ``anthropic-ratelimit-{kind}-remaining`` / ``-reset`` headers (``kind``:
    ``requests``, ``tokens``, ``input-tokens``, ``output-tokens``); ``reset`` is sent as an
    RFC 3339 timestamp, as the API does."""
    return {
        f"anthropic-ratelimit-{kind}-limit": "50",
        f"anthropic-ratelimit-{kind}-remaining": str(remaining),
        f"anthropic-ratelimit-{kind}-reset": reset.isoformat().replace("+00:00", "Z"),
    }
