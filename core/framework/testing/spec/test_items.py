"""Conformance: a batch run's item ledger — added, claimed, finished, requeued, counted."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from framework.errors import (
    CheckpointEncodeError,
    FencedOutError,
    InvalidArgumentError,
    InvalidIdError,
)
from framework.schemas.clock import utc_now
from framework.schemas.item import (
    ItemCounts,
    ItemError,
    ItemOutcome,
    ItemRecord,
    ItemsAdded,
    ItemStatus,
    ItemUsage,
    NewItem,
)
from framework.schemas.lease import make_owner_id
from framework.schemas.run import RunRecord
from framework.storage.backend import StorageBackend
from framework.testing.conformance import Harness
from framework.testing.values import Author, assert_exact, every_type_memory

RUN = "run-1"

RESULT = {
    "total": Decimal("19.9900"),
    "at": datetime(2025, 3, 1, 12, 30, tzinfo=UTC),
    "by": Author(name="Ada", joined=datetime(2024, 1, 1, tzinfo=UTC)),
    "pages": (1, "two"),
}

TIMEOUT = ItemError(type="TimeoutError", message="read timed out", traceback="  line 1\n")
BAD_PDF = ItemError(type="ValueError", message="bad pdf header")


@pytest.fixture
async def token(storage: StorageBackend) -> int:
    await storage.acreate_run(RunRecord(run_id=RUN))
    return (await storage.aclaim_run(RUN, make_owner_id())).fencing_token


def new(item_id: str, value: Any = None, content_hash: str | None = None) -> NewItem:
    """An item as a batch submits it: its input names it unless given."""
    return NewItem(
        item_id=item_id,
        input={"doc": item_id} if value is None else value,
        content_hash=f"h-{item_id}" if content_hash is None else content_hash,
    )


def done(item_id: str, result: Any = None, usage: ItemUsage | None = None) -> ItemOutcome:
    return ItemOutcome(
        item_id=item_id, status=ItemStatus.COMPLETED, result=result, usage=usage or ItemUsage()
    )


def failed(item_id: str, error: ItemError = BAD_PDF, usage: ItemUsage | None = None) -> ItemOutcome:
    return ItemOutcome(
        item_id=item_id, status=ItemStatus.FAILED, error=error, usage=usage or ItemUsage()
    )


def retry(
    item_id: str,
    at: datetime | None = None,
    error: ItemError = TIMEOUT,
    usage: ItemUsage | None = None,
) -> ItemOutcome:
    return ItemOutcome(
        item_id=item_id,
        status=ItemStatus.PENDING,
        error=error,
        retry_at=at,
        usage=usage or ItemUsage(),
    )


def skipped(item_id: str) -> ItemOutcome:
    return ItemOutcome(item_id=item_id, status=ItemStatus.SKIPPED)


async def claim(
    storage: StorageBackend,
    token: int,
    limit: int = 100,
    worker: str = "w1",
    now: datetime | None = None,
) -> list[ItemRecord]:
    return await storage.aclaim_items(RUN, limit=limit, worker=worker, fencing_token=token, now=now)


async def ended(storage: StorageBackend, token: int, *outcomes: ItemOutcome) -> ItemCounts:
    """Claim the first due items, one per outcome (they must be those), and record them."""
    claimed = await claim(storage, token, limit=len(outcomes))
    assert sorted(i.item_id for i in claimed) == sorted(o.item_id for o in outcomes)
    return await storage.afinish_items(RUN, outcomes, fencing_token=token)


async def get(storage: StorageBackend, item_id: str) -> ItemRecord:
    item = await storage.aget_item(RUN, item_id)
    assert item is not None, item_id
    return item


async def statuses(storage: StorageBackend) -> dict[str, ItemStatus]:
    return {i.item_id: i.status for i in await storage.alist_items(RUN)}


async def assert_counts_match_items(storage: StorageBackend, total: int) -> ItemCounts:
    """The kept counts agree with the items, and add up to ``total``."""
    counts = await storage.aitem_counts(RUN)
    items = await storage.alist_items(RUN)
    assert counts.total == len(items) == total
    for status in ItemStatus:
        listed = await storage.alist_items(RUN, status=status)
        assert getattr(counts, status.value) == len(listed), status
        assert getattr(counts, status.value) == sum(i.status is status for i in items), status
    return counts


# --- adding ------------------------------------------------------------------------------


async def test_added_items_are_pending_and_numbered_in_submission_order(
    harness: Harness, token: int
) -> None:
    storage = harness.storage
    before = utc_now()

    first = await storage.aadd_items(RUN, [new("doc-b"), new("doc-a")], fencing_token=token)
    second = await storage.aadd_items(
        RUN, [new("doc-d"), new("doc-c"), new("doc-e")], fencing_token=token
    )

    assert first == ItemsAdded(added=2, unchanged=0, changed=[])
    assert second == ItemsAdded(added=3, unchanged=0, changed=[])
    items = await harness.reopen().alist_items(RUN)
    assert [i.item_id for i in items] == ["doc-b", "doc-a", "doc-d", "doc-c", "doc-e"]
    seqs = [i.seq for i in items]
    assert seqs == sorted(set(seqs))
    for item in items:
        assert (item.run_id, item.status, item.attempts, item.retry_from) == (
            RUN,
            ItemStatus.PENDING,
            0,
            0,
        )
        assert_exact(item.input, {"doc": item.item_id})
        assert item.content_hash == f"h-{item.item_id}"
        assert (item.result, item.last_error, item.worker, item.next_attempt_at) == (
            None,
            None,
            None,
            None,
        )
        assert (item.started_at, item.finished_at, item.usage) == (None, None, ItemUsage())
        assert before <= item.added_at <= utc_now()
        assert await storage.aget_item(RUN, item.item_id) == item
    assert await storage.aitem_counts(RUN) == ItemCounts(pending=5)


async def test_re_adding_an_unchanged_item_leaves_it_as_it_was(
    harness: Harness, token: int
) -> None:
    storage = harness.storage
    await storage.aadd_items(RUN, [new("doc-1"), new("doc-2")], fencing_token=token)
    await ended(storage, token, done("doc-1", RESULT))
    completed = await get(storage, "doc-1")
    pending = await get(storage, "doc-2")

    again = await storage.aadd_items(
        RUN, [new("doc-1"), new("doc-2"), new("doc-3")], fencing_token=token
    )
    replacing = await storage.aadd_items(
        RUN, [new("doc-1")], fencing_token=token, replace_changed=True
    )

    assert again == ItemsAdded(added=1, unchanged=2, changed=[])
    assert replacing == ItemsAdded(added=0, unchanged=1, changed=[])
    reopened = harness.reopen()
    assert await get(reopened, "doc-1") == completed
    assert_exact((await get(reopened, "doc-1")).result, RESULT)
    assert await get(reopened, "doc-2") == pending
    assert [i.item_id for i in await reopened.alist_items(RUN)] == ["doc-1", "doc-2", "doc-3"]
    assert await reopened.aitem_counts(RUN) == ItemCounts(pending=2, completed=1)


async def test_a_changed_item_is_reported_and_left_as_it_was(harness: Harness, token: int) -> None:
    storage = harness.storage
    await storage.aadd_items(RUN, [new("doc-1"), new("doc-2")], fencing_token=token)
    await ended(storage, token, done("doc-1", "first result"))
    before = await storage.alist_items(RUN)

    added = await storage.aadd_items(
        RUN,
        [
            new("doc-2", {"doc": "new 2"}, "h-new-2"),
            new("doc-3"),
            new("doc-1", {"doc": "new 1"}, "h-new-1"),
        ],
        fencing_token=token,
    )

    assert added == ItemsAdded(added=1, unchanged=0, changed=["doc-2", "doc-1"])
    reopened = harness.reopen()
    assert (await reopened.alist_items(RUN))[:2] == before
    assert_exact((await get(reopened, "doc-2")).input, {"doc": "doc-2"})
    assert (await get(reopened, "doc-1")).content_hash == "h-doc-1"
    assert await reopened.aitem_counts(RUN) == ItemCounts(pending=2, completed=1)


async def test_replacing_changed_items_makes_them_pending_again_with_the_new_input(
    harness: Harness, token: int
) -> None:
    storage = harness.storage
    await storage.aadd_items(
        RUN, [new("doc-1"), new("doc-2"), new("doc-3"), new("doc-4")], fencing_token=token
    )
    later = utc_now() + timedelta(hours=1)
    await ended(storage, token, done("doc-1", RESULT), failed("doc-2"), retry("doc-3", later))

    added = await storage.aadd_items(
        RUN,
        [
            new("doc-3", {"v": 3}, "h3b"),
            new("doc-1", {"v": 1}, "h1b"),
            new("doc-2", {"v": 2}, "h2b"),
            new("doc-4"),
        ],
        fencing_token=token,
        replace_changed=True,
    )

    assert added == ItemsAdded(added=0, unchanged=1, changed=["doc-3", "doc-1", "doc-2"])
    reopened = harness.reopen()
    for number in (1, 2, 3):
        item = await get(reopened, f"doc-{number}")
        assert item.status is ItemStatus.PENDING
        assert_exact(item.input, {"v": number})
        assert item.content_hash == f"h{number}b"
        assert (item.result, item.last_error, item.next_attempt_at) == (None, None, None)
        assert (item.attempts, item.retry_from) == (1, 1)
    assert await reopened.aitem_counts(RUN) == ItemCounts(pending=4)
    claimed = await claim(storage, token)
    assert {(i.item_id, i.attempts) for i in claimed} == {
        ("doc-1", 2),
        ("doc-2", 2),
        ("doc-3", 2),
        ("doc-4", 1),
    }
    assert_exact({i.item_id: i.input for i in claimed}["doc-1"], {"v": 1})


async def test_an_id_given_twice_is_refused_and_nothing_is_added(
    harness: Harness, token: int
) -> None:
    storage = harness.storage
    await storage.aadd_items(RUN, [new("doc-0")], fencing_token=token)

    with pytest.raises(InvalidArgumentError, match="doc-1"):
        await storage.aadd_items(
            RUN, [new("doc-1"), new("doc-2"), new("doc-1", content_hash="x")], fencing_token=token
        )

    reopened = harness.reopen()
    assert [i.item_id for i in await reopened.alist_items(RUN)] == ["doc-0"]
    assert await reopened.aget_item(RUN, "doc-2") is None
    assert await reopened.aitem_counts(RUN) == ItemCounts(pending=1)


async def test_item_ids_are_validated_like_effect_keys(harness: Harness, token: int) -> None:
    storage = harness.storage
    long_id = "k" * 300

    # A drive-like id is a valid key: it never names a file on its own.
    await storage.aadd_items(RUN, [new(long_id), new("C:doc")], fencing_token=token)

    assert (await get(storage, long_id)).item_id == long_id
    assert (await get(storage, "C:doc")).item_id == "C:doc"
    for bad in ("../x", "", "a/b", "has space", "k" * 301):
        with pytest.raises(InvalidIdError):
            await storage.aadd_items(RUN, [new("doc-ok"), new(bad)], fencing_token=token)
    reopened = harness.reopen()
    assert [i.item_id for i in await reopened.alist_items(RUN)] == [long_id, "C:doc"]
    assert await reopened.aitem_counts(RUN) == ItemCounts(pending=2)


async def test_an_unencodable_input_is_refused_and_nothing_is_added(
    harness: Harness, token: int
) -> None:
    storage = harness.storage

    with pytest.raises(CheckpointEncodeError, match="doc-2"):
        await storage.aadd_items(
            RUN, [new("doc-1"), new("doc-2", {"handle": object()})], fencing_token=token
        )

    reopened = harness.reopen()
    assert await reopened.alist_items(RUN) == []
    assert await reopened.aget_item(RUN, "doc-1") is None
    assert await reopened.aitem_counts(RUN) == ItemCounts()


async def test_every_codec_value_survives_as_an_input(harness: Harness, token: int) -> None:
    await harness.storage.aadd_items(RUN, [new("doc-1", every_type_memory())], fencing_token=token)

    loaded = await get(harness.reopen(), "doc-1")
    assert_exact(loaded.input, every_type_memory())
    [claimed] = await claim(harness.storage, token)
    assert_exact(claimed.input, every_type_memory())


async def test_items_of_runs_are_separate(storage: StorageBackend, token: int) -> None:
    await storage.acreate_run(RunRecord(run_id="run-2"))
    other = (await storage.aclaim_run("run-2", make_owner_id())).fencing_token
    await storage.aadd_items(RUN, [new("doc-1"), new("doc-2")], fencing_token=token)

    added = await storage.aadd_items("run-2", [new("doc-1", content_hash="x")], fencing_token=other)
    await storage.aclaim_items("run-2", limit=5, worker="w2", fencing_token=other)

    assert added == ItemsAdded(added=1)
    assert (await get(storage, "doc-1")).status is ItemStatus.PENDING
    assert await storage.aitem_counts(RUN) == ItemCounts(pending=2)
    assert await storage.aitem_counts("run-2") == ItemCounts(running=1)
    assert [(i.run_id, i.item_id) for i in await storage.alist_items("run-2")] == [
        ("run-2", "doc-1")
    ]


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


# --- listing and counts ------------------------------------------------------------------


async def test_items_are_listed_by_status_and_paged_by_seq(
    storage: StorageBackend, token: int
) -> None:
    await storage.aadd_items(RUN, [new(f"doc-{n}") for n in range(8)], fencing_token=token)
    await ended(storage, token, done("doc-0"), failed("doc-1"), done("doc-2"), skipped("doc-3"))
    await claim(storage, token, limit=1)  # doc-4

    def ids(items: list[ItemRecord]) -> list[str]:
        return [i.item_id for i in items]

    assert ids(await storage.alist_items(RUN, status=ItemStatus.COMPLETED)) == ["doc-0", "doc-2"]
    assert ids(await storage.alist_items(RUN, status=ItemStatus.FAILED)) == ["doc-1"]
    assert ids(await storage.alist_items(RUN, status=ItemStatus.SKIPPED)) == ["doc-3"]
    assert ids(await storage.alist_items(RUN, status=ItemStatus.RUNNING)) == ["doc-4"]
    assert ids(await storage.alist_items(RUN, status=ItemStatus.PENDING)) == [
        "doc-5",
        "doc-6",
        "doc-7",
    ]

    pages: list[list[str]] = []
    after = -1
    while page := await storage.alist_items(RUN, after_seq=after, limit=3):
        pages.append(ids(page))
        after = page[-1].seq
    assert pages == [["doc-0", "doc-1", "doc-2"], ["doc-3", "doc-4", "doc-5"], ["doc-6", "doc-7"]]
    everything = await storage.alist_items(RUN)
    assert ids(everything) == [f"doc-{n}" for n in range(8)]
    third = everything[2].seq
    assert ids(await storage.alist_items(RUN, status=ItemStatus.COMPLETED, after_seq=third)) == []
    assert ids(
        await storage.alist_items(RUN, status=ItemStatus.PENDING, after_seq=third, limit=2)
    ) == ["doc-5", "doc-6"]
    assert ids(await storage.alist_items(RUN, limit=1)) == ["doc-0"]


async def test_items_are_found_by_their_error_type_or_message(
    storage: StorageBackend, token: int
) -> None:
    await storage.aadd_items(
        RUN, [new("doc-1"), new("doc-2"), new("doc-3"), new("doc-4")], fencing_token=token
    )
    await ended(
        storage, token, failed("doc-1", TIMEOUT), retry("doc-2", None, BAD_PDF), done("doc-3")
    )

    async def found(text: str, **kwargs: Any) -> list[str]:
        return [i.item_id for i in await storage.alist_items(RUN, error_contains=text, **kwargs)]

    assert await found("Timeout") == ["doc-1"]
    assert await found("timed out") == ["doc-1"]
    assert await found("pdf") == ["doc-2"]
    assert await found("ValueError") == ["doc-2"]
    assert await found("Error") == ["doc-1", "doc-2"]
    assert await found("Error", status=ItemStatus.PENDING) == ["doc-2"]
    assert await found("nowhere") == []


async def test_counts_always_add_up_to_the_items_added(harness: Harness, token: int) -> None:
    storage = harness.storage
    await storage.aadd_items(RUN, [new(f"doc-{n}") for n in range(10)], fencing_token=token)
    await assert_counts_match_items(storage, 10)
    await ended(storage, token, done("doc-0"), failed("doc-1"), skipped("doc-2"), retry("doc-3"))
    await assert_counts_match_items(storage, 10)
    await claim(storage, token, limit=3)
    await storage.aadd_items(RUN, [new("doc-0"), new("doc-10"), new("doc-11")], fencing_token=token)
    await assert_counts_match_items(storage, 12)
    await storage.arequeue_items(RUN, status=ItemStatus.RUNNING, fencing_token=token)
    await storage.arequeue_items(RUN, status=ItemStatus.FAILED, fencing_token=token)
    await storage.aadd_items(
        RUN, [new("doc-0", content_hash="new")], fencing_token=token, replace_changed=True
    )

    counts = await assert_counts_match_items(storage, 12)
    assert counts == ItemCounts(pending=11, skipped=1)
    assert counts.finished == 1
    assert await harness.reopen().aitem_counts(RUN) == counts


async def test_a_run_without_items_has_zero_counts(storage: StorageBackend, token: int) -> None:
    assert await storage.aitem_counts(RUN) == ItemCounts()
    assert (await storage.aitem_counts(RUN)).total == 0
    assert await storage.alist_items(RUN) == []
    assert await storage.aget_item(RUN, "doc-1") is None


async def test_an_unknown_item_is_none(storage: StorageBackend, token: int) -> None:
    await storage.aadd_items(RUN, [new("doc-1")], fencing_token=token)

    assert await storage.aget_item(RUN, "doc-2") is None
    assert (await get(storage, "doc-1")).item_id == "doc-1"


# --- durability, fencing and deletion ----------------------------------------------------


async def test_the_ledger_survives_a_reopen(harness: Harness, token: int) -> None:
    storage = harness.storage
    await storage.aadd_items(
        RUN, [new(f"doc-{n}", {"n": n, "at": utc_now()}) for n in range(6)], fencing_token=token
    )
    await ended(
        storage,
        token,
        done("doc-0", RESULT, ItemUsage(tokens_in=3, cost=0.5)),
        failed("doc-1", TIMEOUT),
        skipped("doc-2"),
        retry("doc-3", utc_now() + timedelta(hours=1), BAD_PDF),
    )
    await claim(storage, token, limit=1, worker="w7")
    items = await storage.alist_items(RUN)
    counts = await storage.aitem_counts(RUN)

    reopened = harness.reopen()

    assert await reopened.alist_items(RUN) == items
    assert await reopened.aitem_counts(RUN) == counts
    assert counts == ItemCounts(
        pending=2,
        running=1,
        completed=1,
        failed=1,
        skipped=1,
        usage=ItemUsage(tokens_in=3, cost=0.5),
    )
    for item in items:
        again = await get(reopened, item.item_id)
        assert again == item
        assert_exact(again.input, item.input)
        assert_exact(again.result, item.result)
    # A reopened backend goes on where the first left off.
    assert [i.item_id for i in await claim(reopened, token)] == ["doc-5"]
    assert (await reopened.aadd_items(RUN, [new("doc-6")], fencing_token=token)).added == 1
    assert [i.item_id for i in await reopened.alist_items(RUN)][-1] == "doc-6"


Write = Callable[[StorageBackend, int], Awaitable[object]]

STALE_WRITES: dict[str, Write] = {
    "add": lambda s, t: s.aadd_items(RUN, [new("doc-9")], fencing_token=t),
    "add_unchanged": lambda s, t: s.aadd_items(RUN, [new("doc-3")], fencing_token=t),
    "add_replacing": lambda s, t: s.aadd_items(
        RUN, [new("doc-2", content_hash="other")], fencing_token=t, replace_changed=True
    ),
    "claim": lambda s, t: s.aclaim_items(RUN, limit=10, worker="stale", fencing_token=t),
    "finish": lambda s, t: s.afinish_items(RUN, [done("doc-1", "late")], fencing_token=t),
    "requeue_running": lambda s, t: s.arequeue_items(
        RUN, status=ItemStatus.RUNNING, fencing_token=t
    ),
    "requeue_failed": lambda s, t: s.arequeue_items(RUN, status=ItemStatus.FAILED, fencing_token=t),
}


@pytest.mark.parametrize("write", sorted(STALE_WRITES))
async def test_an_item_write_with_a_stale_token_changes_nothing(
    harness: Harness, write: str
) -> None:
    storage = harness.storage
    await storage.acreate_run(RunRecord(run_id=RUN))
    stale = (await storage.aclaim_run(RUN, make_owner_id(), ttl_seconds=0.01)).fencing_token
    await storage.aadd_items(RUN, [new(f"doc-{n}") for n in range(1, 5)], fencing_token=stale)
    await ended(storage, stale, retry("doc-1"), failed("doc-2"))  # doc-1 due again at once
    await claim(storage, stale, limit=1)  # doc-1 running
    await asyncio.sleep(0.05)
    current = (await storage.aclaim_run(RUN, make_owner_id())).fencing_token
    items = await storage.alist_items(RUN)
    counts = await storage.aitem_counts(RUN)

    with pytest.raises(FencedOutError):
        await STALE_WRITES[write](storage, stale)

    reopened = harness.reopen()
    assert await reopened.alist_items(RUN) == items
    assert await reopened.aitem_counts(RUN) == counts
    assert await reopened.aget_item(RUN, "doc-9") is None
    # The same write is taken from the current owner.
    await STALE_WRITES[write](storage, current)


async def test_item_writes_to_a_missing_run_are_fenced_out(storage: StorageBackend) -> None:
    for write in STALE_WRITES.values():
        with pytest.raises(FencedOutError):
            await write(storage, 1)
    assert await storage.aitem_counts(RUN) == ItemCounts()
    assert await storage.aget_item(RUN, "doc-9") is None


async def test_deleting_the_run_removes_its_items(harness: Harness, token: int) -> None:
    storage = harness.storage
    await storage.aadd_items(RUN, [new("doc-1"), new("doc-2"), new("doc-3")], fencing_token=token)
    await ended(storage, token, done("doc-1", RESULT, ItemUsage(tokens_in=5)), failed("doc-2"))

    assert await storage.adelete_run(RUN) is True

    for backend in (storage, harness.reopen()):
        assert await backend.aitem_counts(RUN) == ItemCounts()
        assert await backend.alist_items(RUN) == []
        for item_id in ("doc-1", "doc-2", "doc-3"):
            assert await backend.aget_item(RUN, item_id) is None
    # A new run by the same id starts with an empty ledger.
    await storage.acreate_run(RunRecord(run_id=RUN))
    fresh = (await storage.aclaim_run(RUN, make_owner_id())).fencing_token
    assert await storage.aadd_items(RUN, [new("doc-1")], fencing_token=fresh) == ItemsAdded(added=1)
    assert await harness.reopen().aitem_counts(RUN) == ItemCounts(pending=1)


async def test_the_sync_twins_work_for_items(storage: StorageBackend, token: int) -> None:
    added = storage.add_items(RUN, [new("doc-1"), new("doc-2")], fencing_token=token)
    claimed = storage.claim_items(RUN, limit=1, worker="w1", fencing_token=token)
    counts = storage.finish_items(RUN, [done("doc-1", RESULT)], fencing_token=token)

    assert added == ItemsAdded(added=2)
    assert [i.item_id for i in claimed] == ["doc-1"]
    assert counts == storage.item_counts(RUN) == await storage.aitem_counts(RUN)
    assert storage.get_item(RUN, "doc-1") == await storage.aget_item(RUN, "doc-1")
    assert storage.list_items(RUN) == await storage.alist_items(RUN)
    assert storage.requeue_items(RUN, status=ItemStatus.FAILED, fencing_token=token) == 0
