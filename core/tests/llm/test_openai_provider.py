"""OpenAIProvider through the real ``openai`` SDK, over real HTTP, against a scripted endpoint.

Every test talks to a :class:`~framework.testing.fake_endpoint.FakeEndpoint` on 127.0.0.1 and
asserts on what the provider returned or raised and on the requests the endpoint received.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

import pytest
from fake_openai import completion, error, ok, rate_limit_headers, tool_call, wrong_key

from framework.errors import LLMCallError, LLMError
from framework.llm import LLMRetryPolicy, Message, OpenAIProvider, Role, Tool, ToolCall
from framework.llm.usage import Spend
from framework.testing.fake_endpoint import FakeEndpoint, Received, Reply

KEY = "sk-test-0123456789abcdef"
MODEL = "gpt-test"
PRICES = {
    MODEL: {"input_per_million": 2.0, "output_per_million": 8.0, "cached_input_per_million": 0.5}
}
FAST = LLMRetryPolicy(base_delay=0.01)
HI = [Message(role=Role.USER, content="Hi")]

Provider = Callable[..., OpenAIProvider]


@pytest.fixture(autouse=True)
def _no_openai_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """The SDK's variables of the machine running the tests must not leak in."""
    for name in list(os.environ):
        if name.startswith("OPENAI_"):
            monkeypatch.delenv(name)


@pytest.fixture
async def openai_at(endpoint: Callable[..., FakeEndpoint]) -> AsyncIterator[Provider]:
    """``openai_at(server, **options)``: a provider of ``server``, closed when the test ends
    (before the endpoint it talks to)."""
    made: list[OpenAIProvider] = []

    def make(server: FakeEndpoint, **options: Any) -> OpenAIProvider:
        options = {"api_key": KEY, "retry": FAST, "prices": PRICES, **options}
        provider = OpenAIProvider(MODEL, base_url=f"{server.url}/v1", **options)
        made.append(provider)
        return provider

    yield make
    for provider in made:
        await provider.aclose()


class Arrivals:
    """A script that answers ``replies`` in order and notes when each request arrived."""

    def __init__(self, replies: Sequence[Reply]) -> None:
        self.replies = list(replies)
        self.times: list[float] = []

    def __call__(self, received: Received) -> Reply:
        self.times.append(time.monotonic())
        return self.replies.pop(0)

    def gap(self) -> float:
        return self.times[1] - self.times[0]


def assert_spend_is_the_sum_of_attempts(spend: Spend, attempts: Sequence[Any]) -> None:
    assert spend.input_tokens == sum(a.input_tokens for a in attempts)
    assert spend.output_tokens == sum(a.output_tokens for a in attempts)
    assert spend.cached_tokens == sum(a.cached_tokens for a in attempts)
    assert spend.cost == sum(a.cost or 0.0 for a in attempts)


# --- answers ---


async def test_a_completion_reports_text_usage_model_request_id_cost_and_one_attempt(
    endpoint: Callable[..., FakeEndpoint], openai_at: Provider
) -> None:
    body = completion(
        "Hello!", model=MODEL, prompt_tokens=1000, completion_tokens=50, cached_tokens=200
    )
    server = endpoint([Reply(200, body, {"x-request-id": "req-123"}, delay=0.05)])
    llm = openai_at(server)

    response = await llm.complete(HI, system="Be brief.", max_tokens=64)

    assert response.content == "Hello!"
    assert (response.input_tokens, response.output_tokens, response.cached_tokens) == (
        1000,
        50,
        200,
    )
    assert response.model == MODEL
    assert response.stop_reason == "stop"
    assert response.request_id == "req-123"
    assert response.latency_ms >= 50
    # 800 fresh prompt tokens at $2, 200 cached at $0.50, 50 reply tokens at $8 per million.
    assert response.cost == 0.0021
    [attempt] = response.attempts
    assert (attempt.request_id, attempt.cost, attempt.error) == ("req-123", 0.0021, None)
    assert attempt.endpoint == f"{server.url}/v1"
    [received] = server.requests
    assert received.path == "/v1/chat/completions"
    assert received.headers["authorization"] == f"Bearer {KEY}"
    assert received.body == {
        "model": MODEL,
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Hi"},
        ],
        "max_tokens": 64,
    }


async def test_a_model_genai_prices_does_not_know_at_a_local_endpoint_has_no_cost_and_a_reason(
    endpoint: Callable[..., FakeEndpoint], openai_at: Provider
) -> None:
    server = endpoint([ok(completion(model="llama3.2:1b"))])
    llm = openai_at(server, prices=None)

    response = await llm.complete(HI, model="llama3.2:1b")

    assert response.cost is None
    [attempt] = response.attempts
    assert attempt.cost is None
    assert attempt.cost_note is not None
    assert "llama3.2:1b" in attempt.cost_note
    assert response.spend().unpriced == 1


async def test_the_reply_without_prompt_tokens_details_has_no_cached_tokens(
    endpoint: Callable[..., FakeEndpoint], openai_at: Provider
) -> None:
    server = endpoint([ok(completion(prompt_tokens=30, completion_tokens=7, cached_tokens=None))])

    response = await openai_at(server).complete(HI)

    assert (response.input_tokens, response.output_tokens, response.cached_tokens) == (30, 7, 0)


async def test_the_providers_max_tokens_caps_a_call_that_sets_none_and_a_call_s_cap_wins(
    endpoint: Callable[..., FakeEndpoint], openai_at: Provider
) -> None:
    server = endpoint([ok(completion()), ok(completion())])
    llm = openai_at(server, max_tokens=256)

    await llm.complete(HI)
    await llm.complete(HI, max_tokens=32)

    assert [r.body["max_tokens"] for r in server.requests] == [256, 32]


async def test_no_cap_sends_no_token_limit(
    endpoint: Callable[..., FakeEndpoint], openai_at: Provider
) -> None:
    server = endpoint([ok(completion())])

    await openai_at(server).complete(HI)

    assert "max_tokens" not in server.requests[0].body
    assert "max_completion_tokens" not in server.requests[0].body


async def test_openai_s_own_endpoint_is_sent_max_completion_tokens(
    endpoint: Callable[..., FakeEndpoint],
) -> None:
    server = endpoint([ok(completion())])
    async with OpenAIProvider(MODEL, api_key=KEY, prices=PRICES) as llm:
        assert llm.endpoint == "https://api.openai.com/v1"
        llm.client.base_url = f"{server.url}/v1"  # OpenAI's API, as the provider sees it

        await llm.complete(HI, max_tokens=64)

    body = server.requests[0].body
    assert body["max_completion_tokens"] == 64
    assert "max_tokens" not in body


async def test_json_mode_asks_for_a_json_object(
    endpoint: Callable[..., FakeEndpoint], openai_at: Provider
) -> None:
    server = endpoint([ok(completion('{"answer": 42}'))])

    response = await openai_at(server).complete(HI, json_mode=True)

    assert response.content == '{"answer": 42}'
    assert server.requests[0].body["response_format"] == {"type": "json_object"}


async def test_unset_arguments_come_from_the_sdk_s_environment_variables(
    endpoint: Callable[..., FakeEndpoint], monkeypatch: pytest.MonkeyPatch
) -> None:
    server = endpoint([ok(completion())])
    monkeypatch.setenv("OPENAI_BASE_URL", f"{server.url}/v1")
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    monkeypatch.setenv("OPENAI_ORG_ID", "org-test")
    monkeypatch.setenv("OPENAI_PROJECT_ID", "proj-test")

    async with OpenAIProvider(MODEL, headers={"x-team": "durable"}) as llm:
        await llm.complete(HI)

    assert llm.endpoint == f"{server.url}/v1"
    headers = server.requests[0].headers
    assert headers["authorization"] == f"Bearer {KEY}"
    assert headers["openai-organization"] == "org-test"
    assert headers["openai-project"] == "proj-test"
    assert headers["x-team"] == "durable"


async def test_async_with_closes_the_sdk_client(
    endpoint: Callable[..., FakeEndpoint],
) -> None:
    server = endpoint([ok(completion())])
    async with OpenAIProvider(MODEL, base_url=server.url, api_key=KEY) as llm:
        await llm.complete(HI)
        assert not llm.client.is_closed()

    assert llm.client.is_closed()


# --- tools ---

WEATHER = Tool(
    name="get_weather",
    description="The weather in a city.",
    parameters={"type": "object", "properties": {"city": {"type": "string"}}},
)


async def test_tool_calls_of_the_reply_are_parsed_and_the_tools_are_sent_as_functions(
    endpoint: Callable[..., FakeEndpoint], openai_at: Provider
) -> None:
    calls = [
        tool_call("call_1", "get_weather", {"city": "Paris"}),
        tool_call("call_2", "get_weather", {"city": "Oslo"}),
    ]
    server = endpoint([ok(completion(None, tool_calls=calls, finish_reason="tool_calls"))])

    response = await openai_at(server).complete_with_tools(HI, [WEATHER])

    assert response.tool_calls == [
        ToolCall(id="call_1", name="get_weather", arguments={"city": "Paris"}),
        ToolCall(id="call_2", name="get_weather", arguments={"city": "Oslo"}),
    ]
    assert response.content == ""
    assert response.stop_reason == "tool_calls"
    assert server.requests[0].body["tools"] == [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "description": "The weather in a city.",
                "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
            },
        }
    ]


async def test_the_tool_calls_and_their_results_are_sent_back_in_openai_s_wire_format(
    endpoint: Callable[..., FakeEndpoint], openai_at: Provider
) -> None:
    server = endpoint([ok(completion("Paris is sunny, Oslo rainy."))])
    conversation = [
        *HI,
        Message(
            role=Role.ASSISTANT,
            tool_calls=[
                ToolCall(id="call_1", name="get_weather", arguments={"city": "Paris"}),
                ToolCall(id="call_2", name="get_weather", arguments={"city": "Oslo"}),
            ],
        ),
        Message(role=Role.TOOL, tool_call_id="call_1", content="sunny"),
        Message(role=Role.TOOL, tool_call_id="call_2", content="rainy"),
    ]

    response = await openai_at(server).complete_with_tools(conversation, [WEATHER])

    assert response.content == "Paris is sunny, Oslo rainy."
    assert server.requests[0].body["messages"] == [
        {"role": "user", "content": "Hi"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
                },
                {
                    "id": "call_2",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city": "Oslo"}'},
                },
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "sunny"},
        {"role": "tool", "tool_call_id": "call_2", "content": "rainy"},
    ]


async def test_a_plain_assistant_turn_is_sent_with_its_text(
    endpoint: Callable[..., FakeEndpoint], openai_at: Provider
) -> None:
    server = endpoint([ok(completion())])
    conversation = [*HI, Message(role=Role.ASSISTANT, content="Hello."), *HI]

    await openai_at(server).complete(conversation)

    assert server.requests[0].body["messages"][1] == {"role": "assistant", "content": "Hello."}


@pytest.mark.parametrize("arguments", ['{"city": ', '["Paris"]'], ids=["not JSON", "not an object"])
async def test_tool_arguments_that_are_not_a_json_object_are_a_malformed_reply_and_retried(
    endpoint: Callable[..., FakeEndpoint], openai_at: Provider, arguments: str
) -> None:
    broken = [tool_call("call_1", "get_weather", arguments)]
    fixed = [tool_call("call_1", "get_weather", {"city": "Paris"})]
    server = endpoint(
        [ok(completion(None, tool_calls=broken)), ok(completion(None, tool_calls=fixed))]
    )

    response = await openai_at(server).complete_with_tools(HI, [WEATHER])

    assert response.tool_calls[0].arguments == {"city": "Paris"}
    first, second = response.attempts
    assert first.error is not None
    assert "malformed reply" in first.error
    assert "'call_1'" in first.error
    assert second.error is None
    # The broken reply reported its usage: the attempt is charged for it.
    assert (first.input_tokens, first.output_tokens) == (12, 5)
    assert first.cost == pytest.approx((12 * 2.0 + 5 * 8.0) / 1e6)
    assert response.spend().tokens == 2 * 17


async def test_a_tool_message_without_the_call_it_answers_fails_before_sending(
    endpoint: Callable[..., FakeEndpoint], openai_at: Provider
) -> None:
    server = endpoint([ok(completion())])

    with pytest.raises(LLMError, match="tool_call_id"):
        await openai_at(server).complete([*HI, Message(role=Role.TOOL, content="sunny")])

    assert server.requests == []


# --- retries ---


@pytest.mark.parametrize(
    ("header", "value", "wait"),
    [("retry-after", "0.2", 0.2), ("retry-after-ms", "50", 0.05)],
)
async def test_a_429_with_retry_after_waits_and_both_attempts_are_recorded(
    endpoint: Callable[..., FakeEndpoint],
    openai_at: Provider,
    header: str,
    value: str,
    wait: float,
) -> None:
    limited = error("Rate limit reached for gpt-test.", kind="requests", code="rate_limit_exceeded")
    script = Arrivals(
        [
            Reply(429, limited, {header: value, "x-request-id": "req-429"}),
            ok(completion(prompt_tokens=100, completion_tokens=10)),
        ]
    )
    server = endpoint(script)

    response = await openai_at(server).complete(HI)

    assert script.gap() >= wait
    refused, answered = response.attempts
    assert refused.status_code == 429
    assert refused.request_id == "req-429"
    assert refused.error is not None
    assert "Rate limit reached" in refused.error
    assert refused.cost == 0.0
    assert (answered.status_code, answered.error) == (None, None)
    assert answered.cost == (100 * 2.0 + 10 * 8.0) / 1_000_000
    assert_spend_is_the_sum_of_attempts(response.spend(), response.attempts)
    assert len(server.requests) == 2


async def test_a_500_then_an_answer_is_two_attempts(
    endpoint: Callable[..., FakeEndpoint], openai_at: Provider
) -> None:
    server = endpoint(
        [Reply(500, error("The server had an error.", kind="server_error")), ok(completion())]
    )

    response = await openai_at(server).complete(HI)

    assert response.content == "Hello!"
    failed, answered = response.attempts
    assert failed.status_code == 500
    assert answered.error is None
    assert_spend_is_the_sum_of_attempts(response.spend(), response.attempts)


async def test_a_timed_out_attempt_is_recorded_with_unknown_cost_and_retried(
    endpoint: Callable[..., FakeEndpoint], openai_at: Provider
) -> None:
    server = endpoint([Reply(200, completion(), delay=0.5), ok(completion())])

    response = await openai_at(server, timeout=0.25).complete(HI)

    timed_out, answered = response.attempts
    assert timed_out.error is not None
    assert "timed out" in timed_out.error
    assert timed_out.status_code is None
    assert timed_out.cost is None
    assert timed_out.cost_note is not None
    assert timed_out.latency_ms >= 250
    assert answered.error is None
    assert response.spend().unpriced == 1


async def test_a_call_whose_every_attempt_times_out_fails_with_all_attempts(
    endpoint: Callable[..., FakeEndpoint], openai_at: Provider
) -> None:
    server = endpoint([Reply(200, completion(), delay=0.5)] * 2)
    llm = openai_at(server, timeout=0.25, retry=LLMRetryPolicy(max_attempts=2, base_delay=0.01))

    with pytest.raises(LLMCallError) as raised:
        await llm.complete(HI)

    failure = raised.value
    assert failure.retryable is True
    assert len(failure.attempts) == 2
    assert all(a.error is not None and "timed out" in a.error for a in failure.attempts)
    message = str(failure)
    assert f"'{MODEL}'" in message
    assert f"{server.url}/v1" in message
    assert "after 2 attempts" in message


async def test_an_endpoint_that_refuses_connections_is_tried_again_then_named() -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}/v1"
    retry = LLMRetryPolicy(max_attempts=3, base_delay=0.01)

    async with OpenAIProvider(MODEL, base_url=url, api_key=KEY, retry=retry) as llm:
        with pytest.raises(LLMCallError) as raised:
            await llm.complete(HI)

    failure = raised.value
    assert failure.retryable is True
    assert [a.error is not None and "could not connect" in a.error for a in failure.attempts] == [
        True
    ] * 3
    assert all(a.cost is None and a.cost_note for a in failure.attempts)
    assert f"model '{MODEL}' at {url} failed after 3 attempts: could not connect" in str(failure)


@pytest.mark.parametrize(
    "broken",
    [
        Reply(200, "<html><body>502 Bad Gateway</body></html>"),
        Reply(200, "<html>upstream</html>", {"content-type": "text/html"}),
        Reply(200, {"id": "chatcmpl-test", "object": "chat.completion", "model": MODEL}),
        Reply(200, {"id": "chatcmpl-test", "model": MODEL, "choices": []}),
    ],
    ids=["not JSON", "another content type", "no choices", "empty choices"],
)
async def test_a_malformed_body_is_retried_and_both_attempts_are_recorded(
    endpoint: Callable[..., FakeEndpoint], openai_at: Provider, broken: Reply
) -> None:
    server = endpoint([broken, ok(completion())])

    response = await openai_at(server).complete(HI)

    assert response.content == "Hello!"
    malformed, answered = response.attempts
    assert malformed.error is not None
    assert malformed.error.startswith("malformed reply")
    assert malformed.cost is None
    assert answered.error is None
    assert len(server.requests) == 2


async def test_a_reply_without_usage_has_unknown_tokens_and_an_unknown_cost_never_zero(
    endpoint: Callable[..., FakeEndpoint], openai_at: Provider
) -> None:
    body = completion()
    del body["usage"]
    server = endpoint([ok(body)])

    response = await openai_at(server).complete(HI)

    [attempt] = response.attempts
    assert (attempt.input_tokens, attempt.output_tokens) == (0, 0)
    assert attempt.cost is None and response.cost is None
    assert attempt.cost_note == "the endpoint reported no usage for this answer"
    assert response.spend().unpriced == 1


@pytest.mark.parametrize(
    ("status", "should_retry", "requests"), [(500, "false", 1), (400, "true", 2)]
)
async def test_the_endpoints_x_should_retry_header_decides_whether_to_retry(
    endpoint: Callable[..., FakeEndpoint],
    openai_at: Provider,
    status: int,
    should_retry: str,
    requests: int,
) -> None:
    refused = Reply(status, error("try me"), {"x-should-retry": should_retry})
    server = endpoint([refused, ok(completion())])

    if requests == 1:
        with pytest.raises(LLMCallError, match=f"HTTP {status}"):
            await openai_at(server).complete(HI)
    else:
        assert (await openai_at(server).complete(HI)).content == "Hello!"
    assert len(server.requests) == requests


# --- failures that another attempt cannot fix ---


async def test_a_401_fails_at_once_naming_model_and_endpoint_never_the_key(
    endpoint: Callable[..., FakeEndpoint], openai_at: Provider
) -> None:
    server = endpoint(wrong_key)

    with pytest.raises(LLMCallError) as raised:
        await openai_at(server).complete(HI)

    failure = raised.value
    message = str(failure)
    assert len(server.requests) == 1
    assert len(failure.attempts) == 1
    assert failure.retryable is False
    assert "\n" not in message
    assert f"'{MODEL}'" in message
    assert f"{server.url}/v1" in message
    assert "HTTP 401" in message
    assert "Incorrect API key provided: ***" in message
    assert KEY not in message
    assert all(KEY not in (a.error or "") for a in failure.attempts)
    assert failure.attempts[0].request_id == "req-401"


async def test_a_credential_in_the_headers_is_redacted_like_the_key(
    endpoint: Callable[..., FakeEndpoint], openai_at: Provider
) -> None:
    gateway_key = "gw-secret-0123456789"

    def refuse(received: Received) -> Reply:
        quoted = received.headers["x-gateway-key"]
        return Reply(403, error(f"gateway key {quoted} may not use {MODEL}"))

    server = endpoint(refuse)

    with pytest.raises(LLMCallError) as raised:
        await openai_at(server, headers={"x-gateway-key": gateway_key}).complete(HI)

    assert "gateway key *** may not use" in str(raised.value)
    assert gateway_key not in str(raised.value)
    assert gateway_key not in (raised.value.attempts[0].error or "")


async def test_a_400_bad_request_fails_at_once(
    endpoint: Callable[..., FakeEndpoint], openai_at: Provider
) -> None:
    bad = error("Invalid value for 'messages'.", code="invalid_value")
    server = endpoint([Reply(400, bad), ok(completion())])

    with pytest.raises(LLMCallError, match="Invalid value for 'messages'") as raised:
        await openai_at(server).complete(HI)

    assert raised.value.retryable is False
    assert len(raised.value.attempts) == 1
    assert len(server.requests) == 1


# --- rate limits ---


async def test_a_used_up_request_limit_holds_the_next_call_until_it_resets(
    endpoint: Callable[..., FakeEndpoint], openai_at: Provider
) -> None:
    used_up = rate_limit_headers(remaining_requests=0, reset_requests="200ms")
    script = Arrivals([ok(completion(), headers=used_up), ok(completion())])
    llm = openai_at(endpoint(script))

    await llm.complete(HI)
    assert llm.throttle.blocked_for() > 0
    await llm.complete(HI)

    assert script.gap() >= 0.15


# --- construction and import ---


def test_openai_s_endpoint_without_a_key_fails_at_construction() -> None:
    with pytest.raises(LLMError, match=r"pass api_key= or set OPENAI_API_KEY"):
        OpenAIProvider(MODEL)
    with pytest.raises(LLMError, match=r"https://eu\.api\.openai\.com/v1"):
        OpenAIProvider(MODEL, base_url="https://eu.api.openai.com/v1")


async def test_a_local_server_without_a_key_is_sent_a_placeholder(
    endpoint: Callable[..., FakeEndpoint],
) -> None:
    server = endpoint([ok(completion(model="llama3.2:1b"))])

    async with OpenAIProvider("llama3.2:1b", base_url=f"{server.url}/v1") as llm:
        response = await llm.complete(HI)

    assert response.content == "Hello!"
    assert server.requests[0].headers["authorization"] == "Bearer no-key"
