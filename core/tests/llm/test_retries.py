"""Retry waits, the endpoint's retry-after and rate-limit headers, and the shared throttle."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from framework.llm import LLMRetryPolicy
from framework.llm.retries import Throttle, retry_after, throttle_of, used_up_for


def test_retry_after_ms_wins_over_retry_after() -> None:
    assert retry_after({"retry-after-ms": "250", "retry-after": "9"}) == pytest.approx(0.25)


def test_retry_after_in_seconds_and_as_an_http_date() -> None:
    assert retry_after({"retry-after": "2"}) == 2.0
    later = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    assert 28 <= (retry_after({"retry-after": later}) or 0) <= 30


def test_no_or_unreadable_retry_after_is_none() -> None:
    assert retry_after({}) is None
    assert retry_after({"retry-after": "soon"}) is None


def test_the_wait_doubles_spread_by_jitter_and_stops_at_the_maximum() -> None:
    policy = LLMRetryPolicy(base_delay=1.0, max_delay=5.0, jitter=0.25)
    for retry, middle in ((1, 1.0), (2, 2.0), (3, 4.0), (4, 5.0), (9, 5.0)):
        assert middle * 0.75 <= policy.delay(retry) <= middle * 1.25


def test_the_endpoints_wait_is_honoured_up_to_its_cap() -> None:
    policy = LLMRetryPolicy(max_retry_after=10.0)
    assert policy.delay(1, asked=3.0) == 3.0
    assert policy.delay(1, asked=600.0) == 10.0


def test_a_used_up_openai_limit_says_how_long_until_it_resets() -> None:
    headers = {
        "x-ratelimit-remaining-requests": "0",
        "x-ratelimit-reset-requests": "1m30.5s",
        "x-ratelimit-remaining-tokens": "9000",
        "x-ratelimit-reset-tokens": "20ms",
    }
    assert used_up_for(headers) == pytest.approx(90.5)


def test_a_used_up_anthropic_limit_resets_at_the_time_it_names() -> None:
    reset = (datetime.now(UTC) + timedelta(seconds=20)).isoformat().replace("+00:00", "Z")
    headers = {
        "anthropic-ratelimit-tokens-remaining": "0",
        "anthropic-ratelimit-tokens-reset": reset,
    }
    assert 18 <= used_up_for(headers) <= 20


def test_limits_with_something_left_hold_nothing() -> None:
    headers = {"x-ratelimit-remaining-requests": "3", "x-ratelimit-reset-requests": "5s"}
    assert used_up_for(headers) == 0.0


async def test_the_throttle_holds_calls_until_the_reset_then_lets_them_go() -> None:
    now = [100.0]
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    throttle = Throttle(clock=lambda: now[0], sleep=sleep)
    await throttle.wait()
    assert slept == []
    throttle.observe({"x-ratelimit-remaining-requests": "0", "x-ratelimit-reset-requests": "2s"})
    throttle.hold(0.5)
    assert throttle.blocked_for() == pytest.approx(2.0)
    await throttle.wait()
    assert sum(slept) == pytest.approx(2.0)
    assert throttle.blocked_for() == 0.0


def test_throttle_of_finds_a_providers_throttle_only() -> None:
    class WithOne:
        throttle = Throttle()

    assert throttle_of(WithOne()) is WithOne.throttle
    assert throttle_of(object()) is None
    assert throttle_of(None) is None
