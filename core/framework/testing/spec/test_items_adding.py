"""Conformance: adding a submission's items to a batch run's ledger."""

from __future__ import annotations

from datetime import timedelta

import pytest

from framework.errors import (
    CheckpointEncodeError,
    InvalidArgumentError,
    InvalidIdError,
)
from framework.schemas.clock import utc_now
from framework.schemas.item import (
    ItemCounts,
    ItemsAdded,
    ItemStatus,
    ItemUsage,
)
from framework.schemas.lease import make_owner_id
from framework.schemas.run import RunRecord
from framework.storage.backend import StorageBackend
from framework.testing.conformance import Harness
from framework.testing.item_calls import (
    RESULT,
    RUN,
    claim,
    done,
    ended,
    failed,
    get,
    new,
    retry,
)
from framework.testing.values import assert_exact, every_type_memory

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
