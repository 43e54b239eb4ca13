"""A batch whose items call a real model's API (an OpenAI-compatible endpoint over HTTP):
its totals are exactly what the endpoint charged, retried attempts included; a refused
request fails its item at once; an endpoint's used-up limit holds the next items."""

from __future__ import annotations

import dataclasses
import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
from fake_openai import completion, error, ok, rate_limit_headers

from framework.batch import BatchConfig, BatchRunner, ItemContext
from framework.durable import CheckpointManager
from framework.llm import LLMRetryPolicy, Message, OpenAIProvider, Role
from framework.schemas.item import ItemStatus
from framework.schemas.run import RunStatus
from framework.testing.fake_endpoint import FakeEndpoint, Received, Reply

KEY = "sk-test-0123456789abcdef"
PRICES = {"gpt-test": {"input_per_million": 1.5, "output_per_million": 6.0}}
CONFIG = BatchConfig(concurrency=4, backoff_seconds=0.0, id_key="id", progress_interval=0.0)


class Billing:
    """The endpoint: answers each document, refusing some first requests with a 429, and
    adds up what it charged for (its answers, not its refusals)."""

    def __init__(self, refuse_first: set[str] = frozenset(), reject: set[str] = frozenset()):
        self.refuse_first, self.reject = set(refuse_first), set(reject)
        self.seen: Counter[str] = Counter()
        self.charged = Counter[str]()
        self.lock = threading.Lock()

    def __call__(self, received: Received) -> Reply:
        prompt = received.body["messages"][-1]["content"]
        doc = prompt.removeprefix("Summarise ")
        with self.lock:
            self.seen[doc] += 1
            if doc in self.reject:
                return Reply(400, error("this document is not text"))
            if doc in self.refuse_first and self.seen[doc] == 1:
                return Reply(
                    429, error("slow down", kind="rate_limit_error"), {"retry-after-ms": "20"}
                )
            tokens_in, tokens_out = 10 + len(doc), 3
            self.charged["in"] += tokens_in
            self.charged["out"] += tokens_out
        return ok(
            completion(f"summary of {doc}", prompt_tokens=tokens_in, completion_tokens=tokens_out)
        )


async def summarise(item: dict[str, Any], ctx: ItemContext) -> str:
    reply = await ctx.llm.complete([Message(role=Role.USER, content=f"Summarise {item['id']}")])
    return reply.content


def model(server: FakeEndpoint) -> OpenAIProvider:
    retry = LLMRetryPolicy(base_delay=0.01)
    return OpenAIProvider(
        "gpt-test", base_url=f"{server.url}/v1", api_key=KEY, retry=retry, prices=PRICES
    )


def docs(count: int) -> list[dict[str, Any]]:
    return [{"id": f"doc-{n:03d}"} for n in range(count)]


async def test_a_batch_of_model_calls_totals_exactly_what_the_endpoint_charged(
    endpoint: Callable[..., FakeEndpoint],
) -> None:
    billing = Billing(refuse_first={f"doc-{n:03d}" for n in range(0, 40, 5)})
    server = endpoint(billing)
    async with CheckpointManager("memory://") as manager, model(server) as llm:
        result = await BatchRunner(manager, CONFIG, llm=llm).run("b", docs(40), summarise)
        items = await manager.storage.alist_items("b")

    assert result.status is RunStatus.COMPLETED and result.counts.completed == 40
    usage = result.counts.usage
    assert (usage.tokens_in, usage.tokens_out) == (billing.charged["in"], billing.charged["out"])
    expected_cost = (billing.charged["in"] * 1.5 + billing.charged["out"] * 6.0) / 1e6
    assert usage.cost == pytest.approx(expected_cost)
    assert sum(item.usage.tokens_in for item in items) == billing.charged["in"]
    assert len(server.requests) == 40 + 8  # the refused first requests were retried once


async def test_a_request_the_endpoint_rejects_fails_its_item_at_once_and_the_batch_goes_on(
    endpoint: Callable[..., FakeEndpoint],
) -> None:
    billing = Billing(reject={"doc-003"})
    server = endpoint(billing)
    async with CheckpointManager("memory://") as manager, model(server) as llm:
        result = await BatchRunner(manager, CONFIG, llm=llm).run("b", docs(8), summarise)
        failed = await manager.storage.alist_items("b", status=ItemStatus.FAILED)

    assert (result.counts.completed, result.counts.failed) == (7, 1)
    [item] = failed
    assert item.item_id == "doc-003" and item.attempts == 1
    assert item.last_error is not None and item.last_error.type == "LLMCallError"
    assert "HTTP 400: this document is not text" in item.last_error.message
    assert billing.seen["doc-003"] == 1  # neither the provider nor the batch retried it


async def test_a_used_up_limit_of_the_endpoint_holds_the_next_items_until_it_resets(
    endpoint: Callable[..., FakeEndpoint],
) -> None:
    arrivals: list[float] = []

    def limited(received: Received) -> Reply:
        arrivals.append(time.monotonic())
        used_up = rate_limit_headers(remaining_requests=0, reset_requests="300ms")
        return ok(completion("ok"), headers=used_up if len(arrivals) == 1 else None)

    started: list[float] = []

    async def timed(item: dict[str, Any], ctx: ItemContext) -> str:
        started.append(time.monotonic())
        return await summarise(item, ctx)

    server = endpoint(limited)
    config = dataclasses.replace(CONFIG, concurrency=1)
    async with CheckpointManager("memory://") as manager, model(server) as llm:
        result = await BatchRunner(manager, config, llm=llm).run("b", docs(3), timed)

    assert result.counts.completed == 3
    # The next item did not even start (nor count an attempt) before the reset.
    assert started[1] - arrivals[0] >= 0.25
