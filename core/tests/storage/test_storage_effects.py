"""Conformance: the effects ledger — started, completed with an exact result, or failed."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from framework.errors import (
    CheckpointEncodeError,
    InvalidArgumentError,
    InvalidIdError,
    RunNotFoundError,
    StorageError,
)
from framework.schemas.checkpoint import CheckpointConfig, InDoubtPolicy, utc_now
from framework.schemas.control import ControlAction, ControlSignal
from framework.schemas.effect import EffectRecord, EffectStatus
from framework.schemas.lease import Lease
from framework.schemas.run import RunRecord
from framework.storage import FileStorage, codec
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
def run_id(storage: StorageBackend) -> str:
    storage.create_run(RunRecord(run_id="run-1"))
    return "run-1"


def test_starting_an_effect_records_it_started(harness: Harness, run_id: str):
    before = utc_now()

    record = harness.storage.start_effect(run_id, "charge", "charge:card", "idem-1")

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
    assert harness.reopen().get_effect(run_id, "charge:card") == record


def test_a_completed_effect_keeps_its_exact_result(harness: Harness, run_id: str):
    harness.storage.start_effect(run_id, "charge", "charge:card", "idem-1")

    done = harness.storage.complete_effect(run_id, "charge:card", RESULT)

    assert done.status is EffectStatus.COMPLETED and not done.in_doubt
    assert done.completed_at >= done.started_at
    loaded = harness.reopen().get_effect(run_id, "charge:card")
    assert loaded == done
    assert_exact(loaded.result, RESULT)


def test_every_codec_value_survives_as_a_result(harness: Harness, run_id: str):
    harness.storage.start_effect(run_id, "n", "n:all", "idem")
    harness.storage.complete_effect(run_id, "n:all", every_type_memory())

    assert_exact(harness.reopen().get_effect(run_id, "n:all").result, every_type_memory())


def test_starting_a_completed_effect_returns_it_unchanged(harness: Harness, run_id: str):
    harness.storage.start_effect(run_id, "charge", "charge:card", "idem-1")
    done = harness.storage.complete_effect(run_id, "charge:card", RESULT)

    again = harness.reopen().start_effect(run_id, "charge", "charge:card", "idem-other")

    assert again == done
    assert again.attempts == 1 and again.idempotency_key == "idem-1"
    assert_exact(again.result, RESULT)
    assert harness.storage.get_effect(run_id, "charge:card") == done


def test_restarting_an_effect_in_doubt_counts_the_attempt(storage: StorageBackend, run_id: str):
    first = storage.start_effect(run_id, "mail", "mail:welcome", "idem-1")

    second = storage.start_effect(run_id, "mail", "mail:welcome", "idem-1")
    third = storage.start_effect(run_id, "mail", "mail:welcome", "idem-1")

    assert [first.attempts, second.attempts, third.attempts] == [1, 2, 3]
    assert third.started_at == first.started_at and third.status is EffectStatus.STARTED
    assert storage.get_effect(run_id, "mail:welcome").attempts == 3


def test_a_failed_effect_records_the_error_and_may_start_again(
    storage: StorageBackend, run_id: str
):
    storage.start_effect(run_id, "mail", "mail:welcome", "idem-1")

    failed = storage.fail_effect(run_id, "mail:welcome", "SMTPError: 421 try later")

    assert (failed.status, failed.error) == (EffectStatus.FAILED, "SMTPError: 421 try later")
    assert failed.completed_at is not None and not failed.in_doubt
    retried = storage.start_effect(run_id, "mail", "mail:welcome", "idem-1")
    assert (retried.status, retried.attempts, retried.error, retried.completed_at) == (
        EffectStatus.STARTED,
        2,
        None,
        None,
    )
    done = storage.complete_effect(run_id, "mail:welcome", "sent")
    assert (done.status, done.result, done.error) == (EffectStatus.COMPLETED, "sent", None)


def test_an_outcome_needs_a_started_effect(storage: StorageBackend, run_id: str):
    with pytest.raises(StorageError, match="never started"):
        storage.complete_effect(run_id, "n:x", 1)
    with pytest.raises(StorageError, match="never started"):
        storage.fail_effect(run_id, "n:x", "boom")
    assert storage.list_effects(run_id) == []


def test_a_completed_effect_cannot_complete_or_fail_again(storage: StorageBackend, run_id: str):
    storage.start_effect(run_id, "n", "n:x", "idem")
    done = storage.complete_effect(run_id, "n:x", "first")

    with pytest.raises(StorageError, match="already completed"):
        storage.complete_effect(run_id, "n:x", "second")
    with pytest.raises(StorageError, match="already completed"):
        storage.fail_effect(run_id, "n:x", "late failure")
    assert storage.get_effect(run_id, "n:x") == done


def test_an_unencodable_result_is_refused_and_the_effect_stays_started(
    storage: StorageBackend, run_id: str
):
    started = storage.start_effect(run_id, "n", "n:x", "idem")

    with pytest.raises(CheckpointEncodeError, match="n:x"):
        storage.complete_effect(run_id, "n:x", {"handle": object()})
    assert storage.get_effect(run_id, "n:x") == started


def test_effects_are_listed_in_the_order_they_first_started(harness: Harness, run_id: str):
    storage = harness.storage
    for key in ("n:b", "n:a", "n:c"):
        storage.start_effect(run_id, "n", key, f"idem-{key}")
    storage.start_effect(run_id, "n", "n:b", "idem-n:b")
    storage.complete_effect(run_id, "n:a", 1)

    listed = harness.reopen().list_effects(run_id)

    assert [(e.key, e.attempts, e.status) for e in listed] == [
        ("n:b", 2, EffectStatus.STARTED),
        ("n:a", 1, EffectStatus.COMPLETED),
        ("n:c", 1, EffectStatus.STARTED),
    ]


def test_effects_of_runs_are_separate(storage: StorageBackend, run_id: str):
    storage.create_run(RunRecord(run_id="run-2"))
    storage.start_effect(run_id, "n", "n:x", "idem-1")
    storage.start_effect("run-2", "n", "n:x", "idem-2")
    storage.complete_effect("run-2", "n:x", "two")

    assert storage.get_effect(run_id, "n:x").status is EffectStatus.STARTED
    assert [e.run_id for e in storage.list_effects("run-2")] == ["run-2"]
    assert storage.list_effects("run-3") == []
    assert storage.get_effect("run-3", "n:x") is None


def test_starting_an_effect_of_a_missing_run_fails(storage: StorageBackend):
    with pytest.raises(RunNotFoundError, match="run 'missing' does not exist"):
        storage.start_effect("missing", "n", "n:x", "idem")


def test_effect_keys_are_ids_of_up_to_300_characters(storage: StorageBackend, run_id: str):
    long_key = "n:" + "k" * 298

    storage.start_effect(run_id, "n", long_key, "idem")
    # A one-letter node id makes a key that would look like a drive as a file name.
    storage.start_effect(run_id, "C", "C:send", "idem")

    assert storage.get_effect(run_id, long_key).key == long_key
    assert storage.get_effect(run_id, "C:send").node_id == "C"
    for bad in ("n:" + "k" * 299, "n:../x", "n:a/b", "", "n:has space"):
        with pytest.raises(InvalidIdError, match="effect key"):
            storage.start_effect(run_id, "n", bad, "idem")
    with pytest.raises(InvalidIdError, match="node id"):
        storage.start_effect(run_id, "../n", "n:x", "idem")
    with pytest.raises(InvalidArgumentError, match="idempotency key"):
        storage.start_effect(run_id, "n", "n:x", "")
    with pytest.raises(InvalidArgumentError, match="text"):
        storage.fail_effect(run_id, long_key, ValueError("not text"))


async def test_async_effect_methods(storage: StorageBackend, run_id: str):
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


def test_file_effects_are_one_json_file_per_key(tmp_path, run_id: str):
    storage = FileStorage(tmp_path)
    storage.create_run(RunRecord(run_id="run-1"))
    storage.start_effect("run-1", "n", "n:x", "idem")
    storage.complete_effect("run-1", "n:x", {"n": 1})

    name = hashlib.sha256(b"n:x").hexdigest()[:32]
    document = json.loads((tmp_path / "runs/run-1/effects" / f"{name}.json").read_bytes())
    assert document["ordinal"] == 1
    assert (document["effect"]["key"], document["effect"]["status"]) == ("n:x", "completed")
    assert [p.name for p in (tmp_path / "runs/run-1/effects").iterdir()] == [f"{name}.json"]


def test_coordination_models_are_registered_with_the_codec():
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
