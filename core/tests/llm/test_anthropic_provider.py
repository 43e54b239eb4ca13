"""AnthropicProvider through the real ``anthropic`` SDK, over HTTP, against a scripted server."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fake_anthropic import error, message, rate_limit_headers, tool_use

from framework.errors import LLMCallError, LLMError
from framework.llm import LLMRetryPolicy, Message, Role, Spend, Tool, ToolCall
from framework.llm.anthropic_provider import JSON_INSTRUCTION, AnthropicProvider
from framework.testing.fake_endpoint import FakeEndpoint, Received, Reply

Endpoint = Callable[..., FakeEndpoint]

KEY = "sk-ant-test-0123456789abcdef"
MODEL = "claude-test-1"
PRICES = {
    MODEL: {"input_per_million": 3.0, "output_per_million": 15.0, "cached_input_per_million": 0.3}
}
FAST = LLMRetryPolicy(base_delay=0.01)
HI = [Message(role=Role.USER, content="Hi")]


def provider(server: FakeEndpoint, **options: Any) -> AnthropicProvider:
    options.setdefault("retry", FAST)
    options.setdefault("prices", PRICES)
    return AnthropicProvider(MODEL, base_url=server.url, api_key=KEY, **options)


async def test_a_reply_brings_its_text_tokens_with_cache_reads_model_request_id_and_cost(
    endpoint: Endpoint,
) -> None:
    body = message(
        "Hello!", model=MODEL, input_tokens=10, output_tokens=5, cache_read=100, cache_creation=20
    )
    server = endpoint([Reply(200, body, {"request-id": "req_01"}, delay=0.05)])

    async with provider(server) as llm:
        response = await llm.complete(HI, system="Be brief.", max_tokens=256)

    assert response.content == "Hello!"
    assert (response.input_tokens, response.cached_tokens, response.output_tokens) == (130, 100, 5)
    assert response.model == MODEL
    assert response.stop_reason == "end_turn"
    assert response.request_id == "req_01"
    assert response.latency_ms >= 50
    # 30 fresh prompt tokens (10 + 20 written to the cache), 100 read from it, 5 out.
    assert response.cost == pytest.approx((30 * 3.0 + 100 * 0.3 + 5 * 15.0) / 1e6, rel=1e-12)
    [attempt] = response.attempts
    assert (attempt.request_id, attempt.cost, attempt.error) == ("req_01", response.cost, None)
    [received] = server.requests
    assert received.path == "/v1/messages"
    assert received.body == {
        "model": MODEL,
        "max_tokens": 256,
        "system": "Be brief.",
        "messages": [{"role": "user", "content": [{"type": "text", "text": "Hi"}]}],
    }
    # The SDK sends the API key as a bearer token, with the API version it was built for.
    assert received.headers["authorization"] == f"Bearer {KEY}"
    assert received.headers["anthropic-version"]


async def test_tokens_written_to_the_cache_are_priced_at_the_cache_write_price(
    endpoint: Endpoint,
) -> None:
    body = message("Hi", model=MODEL, input_tokens=10, output_tokens=5, cache_creation=20)
    server = endpoint([Reply(200, body)])
    prices = {MODEL: {**PRICES[MODEL], "cache_write_per_million": 3.75}}

    async with provider(server, prices=prices) as llm:
        response = await llm.complete(HI)

    assert (response.input_tokens, response.cache_write_tokens) == (30, 20)
    assert response.attempts[0].cache_write_tokens == 20
    assert response.cost == pytest.approx((10 * 3.0 + 20 * 3.75 + 5 * 15.0) / 1e6, rel=1e-12)


async def test_a_model_no_price_table_knows_has_an_unknown_cost_with_the_reason(
    endpoint: Endpoint,
) -> None:
    server = endpoint([Reply(200, message("Hi", model="house-model-7"))])

    async with provider(server) as llm:
        response = await llm.complete(HI, model="house-model-7")

    assert response.cost is None
    [attempt] = response.attempts
    assert attempt.cost is None
    assert attempt.cost_note is not None and "house-model-7" in attempt.cost_note
    assert response.spend().unpriced == 1


async def test_system_messages_join_the_system_parameter_and_max_tokens_defaults_to_the_providers(
    endpoint: Endpoint,
) -> None:
    server = endpoint([Reply(200, message("ok"))])
    messages = [Message(role=Role.SYSTEM, content="Rule two."), *HI]

    async with provider(server, max_tokens=1000) as llm:
        await llm.complete(messages, system="Rule one.")

    [received] = server.requests
    assert received.body["system"] == "Rule one.\n\nRule two."
    assert [turn["role"] for turn in received.body["messages"]] == ["user"]
    assert received.body["max_tokens"] == 1000


async def test_base_url_and_api_key_default_to_the_environment(
    endpoint: Endpoint, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = endpoint([Reply(200, message("ok"))])
    monkeypatch.setenv("ANTHROPIC_BASE_URL", server.url)
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-from-the-environment")

    async with AnthropicProvider(MODEL) as llm:
        await llm.complete(HI)

    assert llm.endpoint == server.url
    assert server.requests[0].headers["authorization"] == "Bearer sk-ant-from-the-environment"


def test_without_an_api_key_construction_fails_saying_how_to_give_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)

    with pytest.raises(LLMError, match=r"pass api_key= or set ANTHROPIC_API_KEY"):
        AnthropicProvider(MODEL)


async def test_json_mode_asks_for_one_json_object_in_the_system_prompt(
    endpoint: Endpoint,
) -> None:
    server = endpoint([Reply(200, message('{"city": "Paris"}'))])

    async with provider(server) as llm:
        response = await llm.complete(HI, system="Extract the city.", json_mode=True)

    assert response.content == '{"city": "Paris"}'
    [received] = server.requests
    assert received.body["system"] == f"Extract the city.\n\n{JSON_INSTRUCTION}"
    assert set(received.body) == {"model", "max_tokens", "system", "messages"}


async def test_tool_use_blocks_become_tool_calls_and_their_results_go_back_as_one_user_turn(
    endpoint: Endpoint,
) -> None:
    weather = Tool(
        name="get_weather",
        description="The weather in a city.",
        parameters={"type": "object", "properties": {"city": {"type": "string"}}},
    )
    clock = Tool(name="get_time", parameters={"type": "object", "properties": {}})
    asked = tool_use(
        ("toolu_1", "get_weather", {"city": "Paris"}),
        ("toolu_2", "get_time", {}),
        text="Let me look.",
    )
    server = endpoint([Reply(200, asked), Reply(200, message("Sunny, at noon."))])

    async with provider(server) as llm:
        first = await llm.complete_with_tools(HI, [weather, clock])
        conversation = [
            *HI,
            Message(role=Role.ASSISTANT, content=first.content, tool_calls=first.tool_calls),
            Message(role=Role.TOOL, content="sunny", tool_call_id="toolu_1"),
            Message(role=Role.TOOL, content="12:00", tool_call_id="toolu_2"),
        ]
        second = await llm.complete_with_tools(conversation, [weather, clock])

    assert first.content == "Let me look."
    assert first.tool_calls == [
        ToolCall(id="toolu_1", name="get_weather", arguments={"city": "Paris"}),
        ToolCall(id="toolu_2", name="get_time", arguments={}),
    ]
    assert first.stop_reason == "tool_use"
    assert second.content == "Sunny, at noon."
    asking, answering = server.requests
    assert asking.body["tools"] == [
        {
            "name": "get_weather",
            "description": "The weather in a city.",
            "input_schema": weather.parameters,
        },
        {"name": "get_time", "input_schema": clock.parameters},
    ]
    assert answering.body["messages"] == [
        {"role": "user", "content": [{"type": "text", "text": "Hi"}]},
        {
            "role": "assistant",
            "content": [
                {"type": "text", "text": "Let me look."},
                {
                    "type": "tool_use",
                    "id": "toolu_1",
                    "name": "get_weather",
                    "input": {"city": "Paris"},
                },
                {"type": "tool_use", "id": "toolu_2", "name": "get_time", "input": {}},
            ],
        },
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": "toolu_1", "content": "sunny"},
                {"type": "tool_result", "tool_use_id": "toolu_2", "content": "12:00"},
            ],
        },
    ]


async def test_only_text_blocks_make_the_content_and_the_stop_reason_is_the_replys(
    endpoint: Endpoint,
) -> None:
    blocks = [
        {"type": "thinking", "thinking": "The user greets me.", "signature": "sig"},
        {"type": "text", "text": "Hello, "},
        {"type": "text", "text": "there"},
    ]
    server = endpoint([Reply(200, message(content=blocks, stop_reason="max_tokens"))])

    async with provider(server) as llm:
        response = await llm.complete(HI, max_tokens=3)

    assert response.content == "Hello, there"
    assert response.stop_reason == "max_tokens"


async def test_a_tool_message_without_the_call_it_answers_fails_before_sending(
    endpoint: Endpoint,
) -> None:
    server = endpoint([])

    async with provider(server) as llm:
        with pytest.raises(LLMError, match="tool_call_id"):
            await llm.complete([*HI, Message(role=Role.TOOL, content="sunny")])

    assert server.requests == []


async def test_a_429_with_retry_after_waits_and_both_attempts_are_recorded(
    endpoint: Endpoint,
) -> None:
    refused = Reply(
        429,
        error("rate_limit_error", "Number of requests has exceeded your rate limit."),
        {"retry-after": "0.1", "request-id": "req_429"},
    )
    server = endpoint([refused, Reply(200, message("ok", model=MODEL), {"request-id": "req_ok"})])

    async with provider(server) as llm:
        started = time.perf_counter()
        response = await llm.complete(HI)
        waited = time.perf_counter() - started

    assert response.content == "ok"
    # The backoff alone would have been 0.01 s: the wait is the endpoint's.
    assert waited >= 0.1
    first, second = response.attempts
    assert (first.status_code, first.request_id, first.cost) == (429, "req_429", 0.0)
    assert first.error is not None and "HTTP 429" in first.error
    assert (second.status_code, second.request_id, second.error) == (None, "req_ok", None)
    assert response.spend() == Spend.of(response.attempts)
    assert response.spend().cost == second.cost
    assert len(server.requests) == 2


async def test_a_500_and_a_529_overloaded_are_retried_until_the_answer(
    endpoint: Endpoint,
) -> None:
    server = endpoint(
        [
            Reply(500, error("api_error", "Internal server error")),
            Reply(529, error("overloaded_error", "Overloaded")),
            Reply(200, message("at last")),
        ]
    )

    async with provider(server) as llm:
        response = await llm.complete(HI)

    assert response.content == "at last"
    assert [a.status_code for a in response.attempts] == [500, 529, None]
    assert response.attempts[1].error == "HTTP 529: Overloaded"
    assert len(server.requests) == 3


async def test_a_timed_out_attempt_is_recorded_with_an_unknown_cost_and_retried(
    endpoint: Endpoint,
) -> None:
    server = endpoint([Reply(200, message("late"), delay=0.6), Reply(200, message("on time"))])

    async with provider(server, timeout=0.15) as llm:
        response = await llm.complete(HI)

    assert response.content == "on time"
    timed_out, answered = response.attempts
    assert timed_out.error == "the request timed out"
    assert (timed_out.status_code, timed_out.cost) == (None, None)
    assert timed_out.cost_note is not None and "no usage" in timed_out.cost_note
    assert answered.error is None


async def test_when_every_attempt_times_out_the_call_fails_with_all_its_attempts(
    endpoint: Endpoint,
) -> None:
    late = Reply(200, message("late"), delay=0.6)
    server = endpoint([late, late])
    retry = LLMRetryPolicy(max_attempts=2, base_delay=0.01)

    async with provider(server, timeout=0.15, retry=retry) as llm:
        with pytest.raises(LLMCallError) as failed:
            await llm.complete(HI)

    text = str(failed.value)
    assert MODEL in text and server.url in text
    assert "after 2 attempts" in text and "timed out" in text
    assert failed.value.retryable
    assert [a.error for a in failed.value.attempts] == ["the request timed out"] * 2


@pytest.mark.parametrize(
    ("broken", "says"),
    [
        ("<html>502 Bad Gateway</html>", "not JSON"),
        ({k: v for k, v in message("x").items() if k != "usage"}, "usage"),
        ({k: v for k, v in message("x").items() if k != "content"}, "content"),
        (message(content=[{"type": "tool_use", "name": "get_time", "input": {}}]), "content.0.id"),
    ],
    ids=["not-json", "no-usage", "no-content", "tool-use-without-id"],
)
async def test_a_malformed_body_is_retried_and_both_attempts_are_recorded(
    endpoint: Endpoint, broken: Any, says: str
) -> None:
    server = endpoint([Reply(200, broken), Reply(200, message("fine"))])

    async with provider(server) as llm:
        response = await llm.complete(HI)

    assert response.content == "fine"
    malformed, answered = response.attempts
    assert malformed.error is not None
    assert malformed.error.startswith("malformed reply:") and says in malformed.error
    assert answered.error is None


async def test_a_401_fails_at_once_naming_model_and_endpoint_and_never_the_key(
    endpoint: Endpoint,
) -> None:
    refused = Reply(401, error("authentication_error", f"invalid x-api-key: {KEY}"))
    server = endpoint([refused])

    async with provider(server) as llm:
        with pytest.raises(LLMCallError) as failed:
            await llm.complete(HI)

    text = str(failed.value)
    assert "\n" not in text
    assert MODEL in text and server.url in text and "HTTP 401" in text
    assert KEY not in text
    assert not failed.value.retryable
    [attempt] = failed.value.attempts
    assert attempt.status_code == 401
    assert KEY not in attempt.model_dump_json()
    assert len(server.requests) == 1


async def test_a_400_invalid_request_fails_at_once_with_the_apis_reason(
    endpoint: Endpoint,
) -> None:
    refused = Reply(400, error("invalid_request_error", "max_tokens: must be at least 1"))
    server = endpoint([refused])

    async with provider(server) as llm:
        with pytest.raises(LLMCallError, match="max_tokens: must be at least 1") as failed:
            await llm.complete(HI, max_tokens=0)

    assert not failed.value.retryable
    assert [a.status_code for a in failed.value.attempts] == [400]
    assert len(server.requests) == 1


async def test_a_used_up_request_limit_holds_the_next_call_until_it_resets(
    endpoint: Endpoint,
) -> None:
    arrivals: list[float] = []

    def answer(received: Received) -> Reply:
        arrivals.append(time.monotonic())
        reset = datetime.now(UTC) + timedelta(seconds=0.3)
        return Reply(200, message("ok"), rate_limit_headers("requests", 0, reset))

    server = endpoint(answer)

    async with provider(server) as llm:
        await llm.complete(HI)
        held = llm.throttle.blocked_for()
        await llm.complete(HI)

    assert held > 0
    assert arrivals[1] - arrivals[0] >= 0.25
