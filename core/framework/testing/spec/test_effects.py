"""Conformance: the effects ledger — started, completed with an exact result, or failed."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from framework.errors import (
    CheckpointEncodeError,
    InvalidArgumentError,
    InvalidIdError,
    RunNotFoundError,
    StorageError,
)
from framework.schemas.checkpoint import CheckpointConfig, InDoubtPolicy
from framework.schemas.clock import utc_now
from framework.schemas.control import ControlAction, ControlSignal
from framework.schemas.effect import EffectRecord, EffectStatus
from framework.schemas.lease import Lease
from framework.schemas.run import RunRecord
from framework.storage import codec
from framework.storage.backend import StorageBackend
from framework.testing.conformance import Harness
from framework.testing.values import Author, assert_exact, every_type_memory

RESULT = {
    "charged": Decimal("19.99"),
    "at": datetime(2025, 3, 1, 12, 30, tzinfo=UTC),
    "by": Author(name="Ada", joined=datetime(2024, 1, 1, tzinfo=UTC)),
    "ids": ("tx-1", 2),
}


@pytest.fixture
async def run_id(storage: StorageBackend) -> str:
    await storage.acreate_run(RunRecord(run_id="run-1"))
    return "run-1"


async def test_starting_an_effect_records_it_started(harness: Harness, run_id: str) -> None:
    before = utc_now()

    record = await harness.storage.astart_effect(run_id, "charge", "charge:card", "idem-1")

    assert isinstance(record, EffectRecord)
    assert (record.run_id, record.node_id, record.key, record.idempotency_key) == (
        run_id,
        "charge",
        "charge:card",
        "idem-1",
    )
    assert (record.status, record.attempts, record.result, record.error) == (
        EffectStatus.STARTED,
        1,
        None,
        None,
    )
    assert record.in_doubt
    assert before <= record.started_at <= utc_now() and record.completed_at is None
    assert await harness.reopen().aget_effect(run_id, "charge:card") == record


async def test_a_completed_effect_keeps_its_exact_result(harness: Harness, run_id: str) -> None:
    await harness.storage.astart_effect(run_id, "charge", "charge:card", "idem-1")

    done = await harness.storage.acomplete_effect(run_id, "charge:card", RESULT)

    assert done.status is EffectStatus.COMPLETED and not done.in_doubt
    assert done.completed_at is not None
    assert done.completed_at >= done.started_at
    loaded = await harness.reopen().aget_effect(run_id, "charge:card")
    assert loaded == done
    assert loaded is not None
    assert_exact(loaded.result, RESULT)


async def test_every_codec_value_survives_as_a_result(harness: Harness, run_id: str) -> None:
    await harness.storage.astart_effect(run_id, "n", "n:all", "idem")
    await harness.storage.acomplete_effect(run_id, "n:all", every_type_memory())

    loaded = await harness.reopen().aget_effect(run_id, "n:all")
    assert loaded is not None
    assert_exact(loaded.result, every_type_memory())


async def test_starting_a_completed_effect_returns_it_unchanged(
    harness: Harness, run_id: str
) -> None:
    await harness.storage.astart_effect(run_id, "charge", "charge:card", "idem-1")
    done = await harness.storage.acomplete_effect(run_id, "charge:card", RESULT)

    again = await harness.reopen().astart_effect(run_id, "charge", "charge:card", "idem-other")

    assert again == done
    assert again.attempts == 1 and again.idempotency_key == "idem-1"
    assert_exact(again.result, RESULT)
    assert await harness.storage.aget_effect(run_id, "charge:card") == done


async def test_restarting_an_effect_in_doubt_counts_the_attempt(
    storage: StorageBackend, run_id: str
) -> None:
    first = await storage.astart_effect(run_id, "mail", "mail:welcome", "idem-1")

    second = await storage.astart_effect(run_id, "mail", "mail:welcome", "idem-1")
    third = await storage.astart_effect(run_id, "mail", "mail:welcome", "idem-1")

    assert [first.attempts, second.attempts, third.attempts] == [1, 2, 3]
    assert third.started_at == first.started_at and third.status is EffectStatus.STARTED
    stored = await storage.aget_effect(run_id, "mail:welcome")
    assert stored is not None
    assert stored.attempts == 3


async def test_a_failed_effect_records_the_error_and_may_start_again(
    storage: StorageBackend, run_id: str
) -> None:
    await storage.astart_effect(run_id, "mail", "mail:welcome", "idem-1")

    failed = await storage.afail_effect(run_id, "mail:welcome", "SMTPError: 421 try later")

    assert (failed.status, failed.error) == (EffectStatus.FAILED, "SMTPError: 421 try later")
    assert failed.completed_at is not None and not failed.in_doubt
    retried = await storage.astart_effect(run_id, "mail", "mail:welcome", "idem-1")
    assert (retried.status, retried.attempts, retried.error, retried.completed_at) == (
        EffectStatus.STARTED,
        2,
        None,
        None,
    )
    done = await storage.acomplete_effect(run_id, "mail:welcome", "sent")
    assert (done.status, done.result, done.error) == (EffectStatus.COMPLETED, "sent", None)


async def test_an_outcome_needs_a_started_effect(storage: StorageBackend, run_id: str) -> None:
    with pytest.raises(StorageError, match="never started"):
        await storage.acomplete_effect(run_id, "n:x", 1)
    with pytest.raises(StorageError, match="never started"):
        await storage.afail_effect(run_id, "n:x", "boom")
    assert await storage.alist_effects(run_id) == []


async def test_a_completed_effect_cannot_complete_or_fail_again(
    storage: StorageBackend, run_id: str
) -> None:
    await storage.astart_effect(run_id, "n", "n:x", "idem")
    done = await storage.acomplete_effect(run_id, "n:x", "first")

    with pytest.raises(StorageError, match="already completed"):
        await storage.acomplete_effect(run_id, "n:x", "second")
    with pytest.raises(StorageError, match="already completed"):
        await storage.afail_effect(run_id, "n:x", "late failure")
    assert await storage.aget_effect(run_id, "n:x") == done


async def test_an_unencodable_result_is_refused_and_the_effect_stays_started(
    storage: StorageBackend, run_id: str
) -> None:
    started = await storage.astart_effect(run_id, "n", "n:x", "idem")

    with pytest.raises(CheckpointEncodeError, match="n:x"):
        await storage.acomplete_effect(run_id, "n:x", {"handle": object()})
    assert await storage.aget_effect(run_id, "n:x") == started


async def test_effects_are_listed_in_the_order_they_first_started(
    harness: Harness, run_id: str
) -> None:
    storage = harness.storage
    for key in ("n:b", "n:a", "n:c"):
        await storage.astart_effect(run_id, "n", key, f"idem-{key}")
    await storage.astart_effect(run_id, "n", "n:b", "idem-n:b")
    await storage.acomplete_effect(run_id, "n:a", 1)

    listed = await harness.reopen().alist_effects(run_id)

    assert [(e.key, e.attempts, e.status) for e in listed] == [
        ("n:b", 2, EffectStatus.STARTED),
        ("n:a", 1, EffectStatus.COMPLETED),
        ("n:c", 1, EffectStatus.STARTED),
    ]


async def test_effects_of_runs_are_separate(storage: StorageBackend, run_id: str) -> None:
    await storage.acreate_run(RunRecord(run_id="run-2"))
    await storage.astart_effect(run_id, "n", "n:x", "idem-1")
    await storage.astart_effect("run-2", "n", "n:x", "idem-2")
    await storage.acomplete_effect("run-2", "n:x", "two")

    first = await storage.aget_effect(run_id, "n:x")
    assert first is not None
    assert first.status is EffectStatus.STARTED
    assert [e.run_id for e in await storage.alist_effects("run-2")] == ["run-2"]
    assert await storage.alist_effects("run-3") == []
    assert await storage.aget_effect("run-3", "n:x") is None


async def test_starting_an_effect_of_a_missing_run_fails(storage: StorageBackend) -> None:
    with pytest.raises(RunNotFoundError, match="run 'missing' does not exist"):
        await storage.astart_effect("missing", "n", "n:x", "idem")


async def test_effect_keys_are_ids_of_up_to_300_characters(
    storage: StorageBackend, run_id: str
) -> None:
    long_key = "n:" + "k" * 298

    await storage.astart_effect(run_id, "n", long_key, "idem")
    # A one-letter node id makes a key that would look like a drive as a file name.
    await storage.astart_effect(run_id, "C", "C:send", "idem")

    long = await storage.aget_effect(run_id, long_key)
    assert long is not None
    assert long.key == long_key
    drive_like = await storage.aget_effect(run_id, "C:send")
    assert drive_like is not None
    assert drive_like.node_id == "C"
    for bad in ("n:" + "k" * 299, "n:../x", "n:a/b", "", "n:has space"):
        with pytest.raises(InvalidIdError, match="effect key"):
            await storage.astart_effect(run_id, "n", bad, "idem")
    with pytest.raises(InvalidIdError, match="node id"):
        await storage.astart_effect(run_id, "../n", "n:x", "idem")
    with pytest.raises(InvalidArgumentError, match="idempotency key"):
        await storage.astart_effect(run_id, "n", "n:x", "")
    not_text: Any = ValueError("not text")
    with pytest.raises(InvalidArgumentError, match="text"):
        await storage.afail_effect(run_id, long_key, not_text)


async def test_async_effect_methods(storage: StorageBackend, run_id: str) -> None:
    started = await storage.astart_effect(run_id, "n", "n:x", "idem")
    await storage.astart_effect(run_id, "n", "n:y", "idem-y")
    done = await storage.acomplete_effect(run_id, "n:x", RESULT)
    failed = await storage.afail_effect(run_id, "n:y", "boom")

    assert started.attempts == 1
    assert await storage.aget_effect(run_id, "n:x") == done
    assert await storage.alist_effects(run_id) == [done, failed]
    # The sync twins work inside a running event loop too.
    assert storage.list_effects(run_id) == [done, failed]
    assert storage.start_effect(run_id, "n", "n:y", "idem-y").attempts == 2


def test_coordination_models_are_registered_with_the_codec() -> None:
    now = utc_now()
    values = [
        EffectRecord(run_id="r", node_id="n", key="n:k", idempotency_key="i", result=RESULT),
        ControlSignal(run_id="r", action=ControlAction.CANCEL, reason="stop"),
        Lease(
            run_id="r", owner_id="h:1:abcd1234", fencing_token=3, acquired_at=now, expires_at=now
        ),
        CheckpointConfig(in_doubt_effects=InDoubtPolicy.RAISE),
        EffectStatus.FAILED,
    ]

    assert_exact(codec.loads(codec.dumps(values)), values)
