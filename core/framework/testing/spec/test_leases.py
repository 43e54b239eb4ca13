"""Conformance: run leases — one writer per run, with a fencing token that grows on every claim."""

from __future__ import annotations

import asyncio
import math
import subprocess
import sys
from datetime import timedelta
from typing import Any

import pytest

from framework.errors import (
    FencedOutError,
    InvalidArgumentError,
    LeaseHeldError,
    RunNotFoundError,
)
from framework.schemas.clock import utc_now
from framework.schemas.lease import Lease, make_owner_id, owner_is_alive, this_host
from framework.schemas.run import RunRecord
from framework.storage.backend import StorageBackend
from framework.testing.conformance import Harness


def dead_owner_id() -> str:
    """The owner id a process on this host had, after that process exited."""
    child = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, check=True
    )
    return f"{this_host()}:{int(child.stdout)}:deadbeef"


@pytest.fixture
async def run_id(storage: StorageBackend) -> str:
    await storage.acreate_run(RunRecord(run_id="run-1"))
    return "run-1"


async def _record(storage: StorageBackend, run_id: str) -> RunRecord:
    """The run's record, which the test expects to exist."""
    record = await storage.aget_run(run_id)
    assert record is not None
    return record


async def test_claiming_a_fresh_run_gives_fencing_token_1(harness: Harness, run_id: str) -> None:
    owner = make_owner_id()
    before = utc_now()

    lease = await harness.storage.aclaim_run(run_id, owner, ttl_seconds=30)

    assert (lease.run_id, lease.owner_id, lease.fencing_token) == (run_id, owner, 1)
    assert before <= lease.acquired_at <= utc_now()
    assert lease.expires_at == lease.acquired_at + timedelta(seconds=30)
    assert lease.acquired_at.utcoffset() == timedelta(0)
    record = await _record(harness.reopen(), run_id)
    assert (record.lease_owner, record.lease_expires_at, record.fencing_token) == (
        owner,
        lease.expires_at,
        1,
    )
    assert record.has_live_lease()


async def test_a_second_owner_is_refused_while_the_lease_is_live(
    storage: StorageBackend, run_id: str
) -> None:
    first = await storage.aclaim_run(run_id, make_owner_id())

    with pytest.raises(LeaseHeldError) as caught:
        await storage.aclaim_run(run_id, make_owner_id())

    assert first.owner_id in str(caught.value)
    assert first.expires_at.isoformat() in str(caught.value)
    record = await _record(storage, run_id)
    assert (record.lease_owner, record.fencing_token) == (first.owner_id, 1)


async def test_the_holder_claiming_again_gets_the_next_token(
    storage: StorageBackend, run_id: str
) -> None:
    owner = make_owner_id()
    await storage.aclaim_run(run_id, owner)

    assert (await storage.aclaim_run(run_id, owner)).fencing_token == 2


async def test_an_expired_lease_is_taken_over_with_the_next_token(
    harness: Harness, run_id: str
) -> None:
    storage = harness.storage
    first = await storage.aclaim_run(run_id, make_owner_id(), ttl_seconds=0.05)
    await asyncio.sleep(0.1)

    second = await harness.reopen().aclaim_run(run_id, make_owner_id(), ttl_seconds=30)

    assert second.fencing_token == 2
    assert (await _record(storage, run_id)).lease_owner == second.owner_id
    with pytest.raises(FencedOutError, match="taken over"):
        await storage.arenew_lease(first)


async def test_a_dead_owner_on_this_host_is_taken_over_at_once(
    storage: StorageBackend, run_id: str
) -> None:
    dead = dead_owner_id()
    await storage.aclaim_run(run_id, dead, ttl_seconds=3600)
    assert owner_is_alive(dead) is False
    assert not (await _record(storage, run_id)).has_live_lease()

    lease = await storage.aclaim_run(run_id, make_owner_id())

    assert lease.fencing_token == 2


async def test_an_owner_on_another_host_keeps_its_lease_until_expiry(
    storage: StorageBackend, run_id: str
) -> None:
    elsewhere = "other-host.example:1:abcd1234"
    await storage.aclaim_run(run_id, elsewhere, ttl_seconds=3600)

    with pytest.raises(LeaseHeldError, match=r"other-host\.example"):
        await storage.aclaim_run(run_id, make_owner_id())


async def test_renew_by_the_holder_extends_the_expiry(harness: Harness, run_id: str) -> None:
    lease = await harness.storage.aclaim_run(run_id, make_owner_id(), ttl_seconds=1)

    renewed = await harness.storage.arenew_lease(lease, ttl_seconds=600)

    assert renewed.expires_at >= lease.expires_at + timedelta(seconds=590)
    assert (renewed.fencing_token, renewed.acquired_at) == (1, lease.acquired_at)
    record = await _record(harness.reopen(), run_id)
    assert (record.lease_expires_at, record.fencing_token) == (renewed.expires_at, 1)


async def test_renewing_a_lost_lease_is_fenced_out_and_changes_nothing(
    storage: StorageBackend, run_id: str
) -> None:
    lost = await storage.aclaim_run(run_id, make_owner_id(), ttl_seconds=0.01)
    await asyncio.sleep(0.05)
    holder = await storage.aclaim_run(run_id, make_owner_id())

    with pytest.raises(FencedOutError, match="token 2, not 1"):
        await storage.arenew_lease(lost, ttl_seconds=600)
    record = await _record(storage, run_id)
    assert (record.lease_owner, record.lease_expires_at) == (holder.owner_id, holder.expires_at)


async def test_renewing_a_released_lease_is_fenced_out(
    storage: StorageBackend, run_id: str
) -> None:
    lease = await storage.aclaim_run(run_id, make_owner_id())
    await storage.arelease_lease(lease)

    with pytest.raises(FencedOutError, match="released"):
        await storage.arenew_lease(lease)
    assert (await _record(storage, run_id)).lease_owner is None


async def test_release_then_another_owner_claims(harness: Harness, run_id: str) -> None:
    lease = await harness.storage.aclaim_run(run_id, make_owner_id(), ttl_seconds=3600)

    await harness.storage.arelease_lease(lease)

    record = await _record(harness.reopen(), run_id)
    assert (record.lease_owner, record.lease_expires_at, record.fencing_token) == (None, None, 1)
    assert (await harness.storage.aclaim_run(run_id, make_owner_id())).fencing_token == 2


async def test_releasing_a_lost_lease_leaves_the_new_holder_alone(
    storage: StorageBackend, run_id: str
) -> None:
    lost = await storage.aclaim_run(run_id, make_owner_id(), ttl_seconds=0.01)
    await asyncio.sleep(0.05)
    holder = await storage.aclaim_run(run_id, make_owner_id())

    await storage.arelease_lease(lost)

    record = await _record(storage, run_id)
    assert (record.lease_owner, record.fencing_token) == (holder.owner_id, 2)


async def test_releasing_the_lease_of_a_deleted_run_is_a_no_op(
    storage: StorageBackend, run_id: str
) -> None:
    lease = await storage.aclaim_run(run_id, make_owner_id())
    await storage.adelete_run(run_id)

    await storage.arelease_lease(lease)

    assert await storage.aget_run(run_id) is None


async def test_claiming_a_missing_run_fails(storage: StorageBackend) -> None:
    with pytest.raises(RunNotFoundError, match="does not exist"):
        await storage.aclaim_run("missing", make_owner_id())


@pytest.mark.parametrize("ttl", [0, -1, math.nan, math.inf, True, "30"])
async def test_a_bad_ttl_is_refused(storage: StorageBackend, run_id: str, ttl: Any) -> None:
    with pytest.raises(InvalidArgumentError, match="ttl_seconds"):
        await storage.aclaim_run(run_id, make_owner_id(), ttl_seconds=ttl)
    assert (await _record(storage, run_id)).fencing_token == 0


@pytest.mark.parametrize("owner", ["", None, "x" * 301])
async def test_a_bad_owner_id_is_refused(storage: StorageBackend, run_id: str, owner: Any) -> None:
    with pytest.raises(InvalidArgumentError, match="owner id"):
        await storage.aclaim_run(run_id, owner)


@pytest.mark.parametrize("field", ["lease_owner", "lease_expires_at", "fencing_token"])
async def test_update_run_cannot_change_lease_fields(
    storage: StorageBackend, run_id: str, field: str
) -> None:
    await storage.aclaim_run(run_id, make_owner_id())
    before = await storage.aget_run(run_id)

    with pytest.raises(InvalidArgumentError, match="claim_run"):
        await storage.aupdate_run(run_id, **{field: None})
    assert await storage.aget_run(run_id) == before


async def test_an_unfenced_update_keeps_the_lease(storage: StorageBackend, run_id: str) -> None:
    lease = await storage.aclaim_run(run_id, make_owner_id())

    record = await storage.aupdate_run(run_id, status_reason="still going")

    assert (record.lease_owner, record.fencing_token) == (lease.owner_id, 1)


async def test_async_lease_methods(storage: StorageBackend, run_id: str) -> None:
    owner = make_owner_id()

    lease = await storage.aclaim_run(run_id, owner, ttl_seconds=5)
    renewed = await storage.arenew_lease(lease, ttl_seconds=50)
    await storage.arelease_lease(renewed)

    assert isinstance(lease, Lease) and lease.fencing_token == 1
    assert renewed.expires_at > lease.expires_at
    assert (await _record(storage, run_id)).lease_owner is None
    # The sync twins work inside a running event loop too.
    assert storage.claim_run(run_id, owner).fencing_token == 2
