"""Conformance: claiming, finishing and requeueing a batch run's items."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from framework.errors import (
    CheckpointEncodeError,
    InvalidArgumentError,
)
from framework.schemas.clock import utc_now
from framework.schemas.item import (
    ItemCounts,
    ItemStatus,
    ItemUsage,
)
from framework.testing.conformance import Harness
from framework.testing.item_calls import (
    BAD_PDF,
    RESULT,
    RUN,
    TIMEOUT,
    assert_counts_match_items,
    claim,
    done,
    ended,
    failed,
    get,
    new,
    retry,
    skipped,
    statuses,
)
from framework.testing.values import assert_exact

# --- claiming ----------------------------------------------------------------------------


async def test_claiming_takes_due_pending_items_in_seq_order(harness: Harness, token: int) -> None:
    storage = harness.storage
    await storage.aadd_items(RUN, [new(f"doc-{n}") for n in range(5)], fencing_token=token)
    now = utc_now()

    first = await claim(storage, token, limit=2, worker="w1", now=now)

    assert [i.item_id for i in first] == ["doc-0", "doc-1"]
    reopened = harness.reopen()
    for item in first:
        assert (item.status, item.attempts, item.worker, item.started_at) == (
            ItemStatus.RUNNING,
            1,
            "w1",
            now,
        )
        assert_exact(item.input, {"doc": item.item_id})
        assert await reopened.aget_item(RUN, item.item_id) == item
    assert await storage.aitem_counts(RUN) == ItemCounts(pending=3, running=2)
    rest = await claim(storage, token, limit=10, worker="w2", now=now)
    assert [(i.item_id, i.worker) for i in rest] == [
        ("doc-2", "w2"),
        ("doc-3", "w2"),
        ("doc-4", "w2"),
    ]
    assert await storage.aitem_counts(RUN) == ItemCounts(running=5)


async def test_claimed_items_are_not_claimed_again(harness: Harness, token: int) -> None:
    storage = harness.storage
    await storage.aadd_items(RUN, [new("doc-1"), new("doc-2")], fencing_token=token)
    before = utc_now()

    claimed = await claim(storage, token, worker="w1")

    assert [i.item_id for i in claimed] == ["doc-1", "doc-2"]
    started_at = claimed[0].started_at
    assert started_at is not None and before <= started_at <= utc_now()
    assert await claim(storage, token, worker="w2") == []
    assert await claim(harness.reopen(), token, worker="w3") == []
    for item in claimed:
        assert await get(storage, item.item_id) == item


async def test_an_item_to_retry_is_not_claimed_before_its_time(
    harness: Harness, token: int
) -> None:
    storage = harness.storage
    await storage.aadd_items(RUN, [new("doc-1"), new("doc-2")], fencing_token=token)
    now = utc_now()
    [first] = await claim(storage, token, limit=1, now=now)
    at = now + timedelta(minutes=1)
    await storage.afinish_items(RUN, [retry("doc-1", at)], fencing_token=token)

    early = await claim(storage, token, now=now + timedelta(seconds=30))
    still_early = await claim(harness.reopen(), token, now=at - timedelta(microseconds=1))
    due = await claim(storage, token, worker="w9", now=at)

    assert first.item_id == "doc-1"
    assert [i.item_id for i in early] == ["doc-2"]
    assert still_early == []
    assert [(i.item_id, i.attempts, i.started_at, i.worker) for i in due] == [
        ("doc-1", 2, at, "w9")
    ]


async def test_claiming_needs_a_limit_of_at_least_one(harness: Harness, token: int) -> None:
    storage = harness.storage
    await storage.aadd_items(RUN, [new("doc-1")], fencing_token=token)

    for bad in (0, -1):
        with pytest.raises(InvalidArgumentError):
            await claim(storage, token, limit=bad)

    assert (await get(harness.reopen(), "doc-1")).status is ItemStatus.PENDING
    assert await storage.aitem_counts(RUN) == ItemCounts(pending=1)


# --- finishing ---------------------------------------------------------------------------


async def test_a_completed_item_keeps_its_exact_result(harness: Harness, token: int) -> None:
    storage = harness.storage
    await storage.aadd_items(RUN, [new("doc-1")], fencing_token=token)
    [claimed] = await claim(storage, token)

    counts = await storage.afinish_items(RUN, [done("doc-1", RESULT)], fencing_token=token)

    reopened = harness.reopen()
    item = await get(reopened, "doc-1")
    assert item.status is ItemStatus.COMPLETED
    assert_exact(item.result, RESULT)
    assert item.last_error is None and item.attempts == 1
    assert claimed.started_at is not None
    assert item.finished_at is not None and item.finished_at >= claimed.started_at
    assert counts == await reopened.aitem_counts(RUN) == ItemCounts(completed=1)
    assert await claim(storage, token) == []


async def test_a_failed_item_keeps_its_error_and_ends(harness: Harness, token: int) -> None:
    storage = harness.storage
    await storage.aadd_items(RUN, [new("doc-1")], fencing_token=token)
    await claim(storage, token)

    counts = await storage.afinish_items(RUN, [failed("doc-1", TIMEOUT)], fencing_token=token)

    item = await get(harness.reopen(), "doc-1")
    assert (item.status, item.last_error, item.result) == (ItemStatus.FAILED, TIMEOUT, None)
    assert item.finished_at is not None
    assert counts == await storage.aitem_counts(RUN) == ItemCounts(failed=1)
    assert await claim(storage, token) == []


async def test_an_item_to_retry_is_pending_again_with_its_error(
    harness: Harness, token: int
) -> None:
    storage = harness.storage
    await storage.aadd_items(RUN, [new("doc-1"), new("doc-2")], fencing_token=token)
    await claim(storage, token)
    at = utc_now() + timedelta(hours=1)

    counts = await storage.afinish_items(
        RUN, [retry("doc-1", at), retry("doc-2", None, BAD_PDF)], fencing_token=token
    )

    reopened = harness.reopen()
    later = await get(reopened, "doc-1")
    assert (later.status, later.next_attempt_at, later.last_error, later.attempts) == (
        ItemStatus.PENDING,
        at,
        TIMEOUT,
        1,
    )
    assert later.finished_at is None
    at_once = await get(reopened, "doc-2")
    assert (at_once.status, at_once.last_error) == (ItemStatus.PENDING, BAD_PDF)
    assert counts == await reopened.aitem_counts(RUN) == ItemCounts(pending=2)
    again = await claim(storage, token)
    assert [(i.item_id, i.attempts, i.last_error) for i in again] == [("doc-2", 2, BAD_PDF)]


async def test_a_skipped_item_ends(harness: Harness, token: int) -> None:
    storage = harness.storage
    await storage.aadd_items(RUN, [new("doc-1")], fencing_token=token)
    await claim(storage, token)

    counts = await storage.afinish_items(RUN, [skipped("doc-1")], fencing_token=token)

    item = await get(harness.reopen(), "doc-1")
    assert (item.status, item.result, item.last_error) == (ItemStatus.SKIPPED, None, None)
    assert item.finished_at is not None
    assert counts == await storage.aitem_counts(RUN) == ItemCounts(skipped=1)
    assert await claim(storage, token) == []


async def test_usage_adds_up_per_item_and_in_the_counts(harness: Harness, token: int) -> None:
    storage = harness.storage
    await storage.aadd_items(RUN, [new("doc-1"), new("doc-2")], fencing_token=token)
    await claim(storage, token)
    await storage.afinish_items(
        RUN,
        [
            retry("doc-1", usage=ItemUsage(tokens_in=10, tokens_out=5, cost=0.25)),
            failed("doc-2", usage=ItemUsage(tokens_in=1, tokens_out=2, cost=0.125)),
        ],
        fencing_token=token,
    )
    await claim(storage, token)

    counts = await storage.afinish_items(
        RUN,
        [done("doc-1", "ok", ItemUsage(tokens_in=20, tokens_out=5, cost=0.5))],
        fencing_token=token,
    )

    reopened = harness.reopen()
    assert (await get(reopened, "doc-1")).usage == ItemUsage(tokens_in=30, tokens_out=10, cost=0.75)
    assert (await get(reopened, "doc-2")).usage == ItemUsage(tokens_in=1, tokens_out=2, cost=0.125)
    total = ItemUsage(tokens_in=31, tokens_out=12, cost=0.875)
    assert counts == ItemCounts(completed=1, failed=1, usage=total)
    assert await reopened.aitem_counts(RUN) == counts


async def test_finishing_an_item_that_is_not_running_records_nothing(
    harness: Harness, token: int
) -> None:
    storage = harness.storage
    await storage.aadd_items(
        RUN, [new("doc-1"), new("doc-2"), new("doc-3"), new("doc-4")], fencing_token=token
    )
    await ended(storage, token, done("doc-1", "first"))
    await claim(storage, token, limit=1)  # doc-2 is running; doc-3 and doc-4 are pending
    before = await storage.alist_items(RUN)
    counts = await storage.aitem_counts(RUN)
    valid = done("doc-2", RESULT, ItemUsage(tokens_in=7))

    for wrong, named in [
        (done("doc-3"), "doc-3"),  # pending
        (failed("doc-1"), "doc-1"),  # completed already
        (skipped("doc-9"), "doc-9"),  # unknown
    ]:
        with pytest.raises(InvalidArgumentError, match=named):
            await storage.afinish_items(RUN, [valid, wrong], fencing_token=token)
    with pytest.raises(InvalidArgumentError, match="doc-2"):
        await storage.afinish_items(RUN, [valid, failed("doc-2")], fencing_token=token)

    reopened = harness.reopen()
    assert await reopened.alist_items(RUN) == before
    assert (
        await reopened.aitem_counts(RUN) == counts == ItemCounts(pending=2, running=1, completed=1)
    )
    assert (await get(reopened, "doc-2")).usage == ItemUsage()


async def test_an_unencodable_result_records_nothing(harness: Harness, token: int) -> None:
    storage = harness.storage
    await storage.aadd_items(RUN, [new("doc-1"), new("doc-2")], fencing_token=token)
    await claim(storage, token)
    before = await storage.alist_items(RUN)

    with pytest.raises(CheckpointEncodeError, match="doc-2"):
        await storage.afinish_items(
            RUN, [done("doc-1", "fine"), done("doc-2", {"handle": object()})], fencing_token=token
        )

    reopened = harness.reopen()
    assert await reopened.alist_items(RUN) == before
    assert await reopened.aitem_counts(RUN) == ItemCounts(running=2)


async def test_finishing_returns_the_counts_after_the_step(harness: Harness, token: int) -> None:
    storage = harness.storage
    await storage.aadd_items(RUN, [new(f"doc-{n}") for n in range(6)], fencing_token=token)
    await claim(storage, token, limit=5)

    first = await storage.afinish_items(RUN, [done("doc-0"), failed("doc-1")], fencing_token=token)
    assert first == await storage.aitem_counts(RUN)
    second = await storage.afinish_items(
        RUN, [skipped("doc-2"), retry("doc-3")], fencing_token=token
    )

    assert first == ItemCounts(pending=1, running=3, completed=1, failed=1)
    assert second == ItemCounts(pending=2, running=1, completed=1, failed=1, skipped=1)
    assert second == await harness.reopen().aitem_counts(RUN)
    await assert_counts_match_items(storage, 6)


# --- requeueing --------------------------------------------------------------------------


async def test_requeueing_running_items_puts_them_back_with_their_attempts(
    harness: Harness, token: int
) -> None:
    storage = harness.storage
    await storage.aadd_items(RUN, [new("doc-1"), new("doc-2"), new("doc-3")], fencing_token=token)
    await claim(storage, token, limit=2)

    moved = await storage.arequeue_items(RUN, status=ItemStatus.RUNNING, fencing_token=token)

    assert moved == 2
    reopened = harness.reopen()
    assert await reopened.aitem_counts(RUN) == ItemCounts(pending=3)
    assert [(i.item_id, i.status, i.attempts) for i in await reopened.alist_items(RUN)] == [
        ("doc-1", ItemStatus.PENDING, 1),
        ("doc-2", ItemStatus.PENDING, 1),
        ("doc-3", ItemStatus.PENDING, 0),
    ]
    again = await claim(storage, token)
    assert [(i.item_id, i.attempts) for i in again] == [("doc-1", 2), ("doc-2", 2), ("doc-3", 1)]
    assert await storage.arequeue_items(RUN, status=ItemStatus.FAILED, fencing_token=token) == 0


async def test_requeueing_failed_items_keeps_their_error_and_counts_attempts_from_there(
    harness: Harness, token: int
) -> None:
    storage = harness.storage
    await storage.aadd_items(RUN, [new("doc-1"), new("doc-2")], fencing_token=token)
    await ended(storage, token, retry("doc-1"), done("doc-2", "ok"))
    await ended(storage, token, failed("doc-1", BAD_PDF))

    moved = await storage.arequeue_items(RUN, status=ItemStatus.FAILED, fencing_token=token)

    assert moved == 1
    item = await get(harness.reopen(), "doc-1")
    assert (item.status, item.attempts, item.retry_from, item.last_error) == (
        ItemStatus.PENDING,
        2,
        2,
        BAD_PDF,
    )
    assert item.finished_at is None
    assert await storage.aitem_counts(RUN) == ItemCounts(pending=1, completed=1)
    # Due at once.
    assert [(i.item_id, i.attempts) for i in await claim(storage, token)] == [("doc-1", 3)]


async def test_requeueing_is_limited_to_the_given_ids_and_error_type(
    harness: Harness, token: int
) -> None:
    storage = harness.storage
    errors = [TIMEOUT, BAD_PDF, TIMEOUT, BAD_PDF, TIMEOUT]
    await storage.aadd_items(RUN, [new(f"doc-{n}") for n in range(1, 6)], fencing_token=token)
    await ended(storage, token, *(failed(f"doc-{n}", e) for n, e in enumerate(errors, 1)))

    async def requeue(**kwargs: Any) -> int:
        return await storage.arequeue_items(
            RUN, status=ItemStatus.FAILED, fencing_token=token, **kwargs
        )

    assert await requeue(item_ids=["doc-2"]) == 1
    assert await requeue(item_ids=["doc-1", "doc-4"], error_type="TimeoutError") == 1
    assert await requeue(error_type="TimeoutError") == 2
    assert await requeue(error_type="TimeoutError") == 0
    assert await requeue(error_type="KeyError") == 0

    assert await statuses(harness.reopen()) == {
        "doc-1": ItemStatus.PENDING,
        "doc-2": ItemStatus.PENDING,
        "doc-3": ItemStatus.PENDING,
        "doc-4": ItemStatus.FAILED,
        "doc-5": ItemStatus.PENDING,
    }
    await assert_counts_match_items(storage, 5)


async def test_requeueing_another_status_is_refused(harness: Harness, token: int) -> None:
    storage = harness.storage
    await storage.aadd_items(RUN, [new("doc-1"), new("doc-2"), new("doc-3")], fencing_token=token)
    await ended(storage, token, done("doc-1"), skipped("doc-2"))
    before = await storage.alist_items(RUN)

    for status in (ItemStatus.PENDING, ItemStatus.COMPLETED, ItemStatus.SKIPPED):
        with pytest.raises(InvalidArgumentError):
            await storage.arequeue_items(RUN, status=status, fencing_token=token)

    assert await harness.reopen().alist_items(RUN) == before
    assert await storage.aitem_counts(RUN) == ItemCounts(pending=1, completed=1, skipped=1)
