"""Conformance: listing and counting a batch run's items, and the ledger's durability,
fencing and deletion."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import pytest

from framework.errors import (
    FencedOutError,
)
from framework.schemas.clock import utc_now
from framework.schemas.item import (
    ItemCounts,
    ItemRecord,
    ItemsAdded,
    ItemStatus,
    ItemUsage,
)
from framework.schemas.lease import make_owner_id
from framework.schemas.run import RunRecord
from framework.storage.backend import StorageBackend
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
)
from framework.testing.values import assert_exact

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
