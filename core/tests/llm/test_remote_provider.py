"""The attempt loop every remote provider shares, driven by a provider whose requests are
scripted: which failures are retried, what every attempt records, what the error says."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import pytest

from framework.errors import LLMCallError
from framework.llm import LLMResponse, LLMRetryPolicy, Message, Role
from framework.llm.remote import Answer, Failure, MalformedReply, RemoteProvider, Request

KEY = "sk-test-0123456789abcdef"
PRICES = {"m": {"input_per_million": 1.0, "output_per_million": 2.0}}


class Refused(Exception):
    """A scripted failed request."""

    def __init__(self, status: int | None, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(f"status {status}")
        self.status = status
        self.headers = dict(headers or {})


class Scripted(RemoteProvider):
    provider_id = "openai"
    label = "Scripted"
    default_endpoint = "https://example.invalid/v1"

    def __init__(self, script: list[Answer | Exception], **kwargs: Any) -> None:
        kwargs.setdefault("retry", LLMRetryPolicy(base_delay=0.001))
        kwargs.setdefault("prices", PRICES)
        super().__init__(model="m", endpoint="https://example.invalid/v1", secrets=[KEY], **kwargs)
        self.script = script
        self.sent: list[Request] = []

    async def _send(self, request: Request) -> Answer:
        self.sent.append(request)
        step = self.script.pop(0)
        if isinstance(step, Exception):
            raise step
        return step

    async def aclose(self) -> None:
        self.script.clear()

    def _failure(self, exc: Exception) -> Failure | None:
        if not isinstance(exc, Refused):
            return None
        if exc.status is None:
            return Failure("the request timed out", True)
        retryable = exc.status == 429 or exc.status >= 500
        message = f"HTTP {exc.status}: Incorrect API key provided: {KEY}"
        return Failure(message, retryable, exc.status, exc.headers, "req-failed")


def answer(text: str = "ok", tokens: tuple[int, int, int] = (100, 10, 40)) -> Answer:
    reply = LLMResponse(
        content=text, input_tokens=tokens[0], output_tokens=tokens[1], cached_tokens=tokens[2]
    )
    return Answer(reply, {"x-request-id": "req-1"}, "req-1")


async def ask(provider: RemoteProvider) -> LLMResponse:
    return await provider.complete([Message(role=Role.USER, content="hi")])


async def test_an_answer_records_one_priced_attempt() -> None:
    reply = await ask(Scripted([answer()]))
    assert reply.content == "ok"
    assert reply.request_id == "req-1"
    assert reply.cost == pytest.approx((100 * 1.0 + 10 * 2.0) / 1e6)
    [attempt] = reply.attempts
    assert (attempt.input_tokens, attempt.output_tokens, attempt.cached_tokens) == (100, 10, 40)
    assert attempt.cost == reply.cost and attempt.error is None
    assert attempt.endpoint == "https://example.invalid/v1"


async def test_retried_failures_are_attempts_and_the_spend_is_their_sum() -> None:
    provider = Scripted([Refused(429), Refused(503), Refused(None), answer()])
    reply = await ask(provider)
    assert [a.status_code for a in reply.attempts] == [429, 503, None, None]
    assert [a.cost for a in reply.attempts[:2]] == [0.0, 0.0]
    assert reply.attempts[2].cost is None and reply.attempts[2].cost_note
    spent = reply.spend()
    assert (spent.tokens, spent.unpriced) == (110, 1)
    assert spent.cost == pytest.approx(sum(a.cost or 0.0 for a in reply.attempts))
    assert len(provider.sent) == 4


async def test_a_malformed_reply_is_retried() -> None:
    reply = await ask(Scripted([MalformedReply("no choices"), answer()]))
    assert reply.attempts[0].error == "malformed reply: no choices"
    assert len(reply.attempts) == 2


async def test_a_refused_request_fails_at_once_in_one_line_without_the_key() -> None:
    provider = Scripted([Refused(401), answer()])
    with pytest.raises(LLMCallError) as caught:
        await ask(provider)
    error = caught.value
    assert not error.retryable
    assert len(error.attempts) == 1 and len(provider.sent) == 1
    message = str(error)
    assert "\n" not in message and KEY not in message
    assert "model 'm' at https://example.invalid/v1" in message
    assert "check the API key" in message
    assert all(KEY not in (a.error or "") for a in error.attempts)


async def test_a_call_that_keeps_failing_raises_with_every_attempt() -> None:
    provider = Scripted([Refused(500)] * 3, retry=LLMRetryPolicy(max_attempts=3, base_delay=0))
    with pytest.raises(LLMCallError, match="failed after 3 attempts: HTTP 500") as caught:
        await ask(provider)
    assert caught.value.retryable
    assert [a.status_code for a in caught.value.attempts] == [500, 500, 500]


async def test_a_429_holds_every_call_of_the_provider_for_its_retry_after() -> None:
    provider = Scripted([Refused(429, {"retry-after-ms": "200"}), answer()])
    await ask(provider)
    assert provider.throttle.blocked_for() == 0.0
    provider.script = [Refused(429, {"retry-after": "30"})]
    provider.retry = LLMRetryPolicy(max_attempts=1)
    with pytest.raises(LLMCallError):
        await ask(provider)
    assert 29 < provider.throttle.blocked_for() <= 30


async def test_a_bug_in_the_provider_is_raised_as_it_is() -> None:
    provider = Scripted([KeyError("oops")])
    with pytest.raises(KeyError):
        await ask(provider)


async def test_an_unpriced_model_is_warned_about_once(caplog: pytest.LogCaptureFixture) -> None:
    provider = Scripted([answer(), answer()], prices={})
    provider.pricing.library = False
    with caplog.at_level(logging.WARNING, logger="framework.llm"):
        first, second = await ask(provider), await ask(provider)
    assert first.cost is None and second.cost is None
    assert first.attempts[0].cost_note == "model 'm' is not in the price table given"
    assert [r.getMessage() for r in caplog.records] == [
        "the cost of Scripted model 'm' is unknown: model 'm' is not in the price table given"
    ]


async def test_the_model_named_by_the_call_wins_over_the_providers() -> None:
    provider = Scripted([answer()])
    await provider.complete([Message(role=Role.USER, content="hi")], model="other", max_tokens=5)
    assert (provider.sent[0].model, provider.sent[0].max_tokens) == ("other", 5)
