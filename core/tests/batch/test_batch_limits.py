"""Rate limits: requests wait for their share of a minute; tokens are paid after the call."""

from __future__ import annotations

import pytest

from framework.batch import BatchConfig, BatchRunner, ItemContext, _processing
from framework.batch._rate_limit import RateLimit
from framework.durable import CheckpointManager


class FakeTime:
    """A clock that moves only when the limiter sleeps, remembering each sleep."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


async def test_requests_beyond_one_seconds_worth_wait_for_their_share() -> None:
    fake = FakeTime()
    limit = RateLimit(120, clock=fake.clock, sleep=fake.sleep)  # 2 a second

    await limit.acquire()
    await limit.acquire()
    assert fake.sleeps == []  # one second's worth passes at once
    for _ in range(4):
        await limit.acquire()

    assert fake.now == pytest.approx(2.0)  # the other four at 2 a second


async def test_tokens_used_beyond_the_limit_are_waited_off_by_the_next_call() -> None:
    fake = FakeTime()
    limit = RateLimit(6_000, clock=fake.clock, sleep=fake.sleep)  # 100 tokens a second

    await limit.acquire(0)
    limit.charge(400)  # a call used four seconds' worth
    await limit.acquire(0)

    assert fake.now == pytest.approx(3.0)  # 100 of the 400 were there; 300 more to refill


def test_a_limit_must_be_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        RateLimit(0)


class Recorded:
    """A stand-in limit that records what the batch asks of it."""

    made: list[Recorded] = []

    def __init__(self, per_minute: float) -> None:
        self.per_minute = per_minute
        self.acquired: list[float] = []
        self.charged: list[float] = []
        Recorded.made.append(self)

    async def acquire(self, amount: float = 1.0) -> None:
        self.acquired.append(amount)

    def charge(self, amount: float) -> None:
        self.charged.append(amount)


async def test_a_batch_takes_a_request_per_attempt_and_pays_each_attempts_tokens(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(_processing, "RateLimit", Recorded)
    Recorded.made.clear()
    flaky_once: set[int] = set()

    def fn(item: int, ctx: ItemContext) -> int:
        ctx.report_usage(tokens_in=10 * item, tokens_out=1)
        if item == 3 and item not in flaky_once:
            flaky_once.add(item)
            raise TimeoutError("slow")
        return item

    config = BatchConfig(requests_per_minute=60, tokens_per_minute=1_000, backoff_seconds=0.0)
    async with CheckpointManager("memory://") as manager:
        result = await BatchRunner(manager, config).run("b", range(5), fn)

    requests, tokens = Recorded.made
    assert (requests.per_minute, tokens.per_minute) == (60, 1_000)
    assert result.counts.completed == 5
    assert requests.acquired == [1.0] * 6  # five items, one retried
    assert tokens.acquired == [0] * 6
    assert sorted(tokens.charged) == sorted([10 * n + 1 for n in range(5)] + [31])
