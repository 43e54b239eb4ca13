"""Conformance: run leases — one writer per run, with a fencing token that grows on every claim."""

from __future__ import annotations

import math
import os
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest

from framework.errors import (
    FencedOutError,
    InvalidArgumentError,
    LeaseHeldError,
    RunNotFoundError,
)
from framework.schemas.checkpoint import utc_now
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
def run_id(storage: StorageBackend) -> str:
    storage.create_run(RunRecord(run_id="run-1"))
    return "run-1"


def test_claiming_a_fresh_run_gives_fencing_token_1(harness: Harness, run_id: str):
    owner = make_owner_id()
    before = utc_now()

    lease = harness.storage.claim_run(run_id, owner, ttl_seconds=30)

    assert (lease.run_id, lease.owner_id, lease.fencing_token) == (run_id, owner, 1)
    assert before <= lease.acquired_at <= utc_now()
    assert lease.expires_at == lease.acquired_at + timedelta(seconds=30)
    assert lease.acquired_at.utcoffset() == timedelta(0)
    record = harness.reopen().get_run(run_id)
    assert (record.lease_owner, record.lease_expires_at, record.fencing_token) == (
        owner,
        lease.expires_at,
        1,
    )
    assert record.has_live_lease()


def test_a_second_owner_is_refused_while_the_lease_is_live(storage: StorageBackend, run_id: str):
    first = storage.claim_run(run_id, make_owner_id())

    with pytest.raises(LeaseHeldError) as caught:
        storage.claim_run(run_id, make_owner_id())

    assert first.owner_id in str(caught.value)
    assert first.expires_at.isoformat() in str(caught.value)
    record = storage.get_run(run_id)
    assert (record.lease_owner, record.fencing_token) == (first.owner_id, 1)


def test_the_holder_claiming_again_gets_the_next_token(storage: StorageBackend, run_id: str):
    owner = make_owner_id()
    storage.claim_run(run_id, owner)

    assert storage.claim_run(run_id, owner).fencing_token == 2


def test_an_expired_lease_is_taken_over_with_the_next_token(harness: Harness, run_id: str):
    storage = harness.storage
    first = storage.claim_run(run_id, make_owner_id(), ttl_seconds=0.05)
    time.sleep(0.1)

    second = harness.reopen().claim_run(run_id, make_owner_id(), ttl_seconds=30)

    assert second.fencing_token == 2
    assert storage.get_run(run_id).lease_owner == second.owner_id
    with pytest.raises(FencedOutError, match="taken over"):
        storage.renew_lease(first)


def test_a_dead_owner_on_this_host_is_taken_over_at_once(storage: StorageBackend, run_id: str):
    dead = dead_owner_id()
    storage.claim_run(run_id, dead, ttl_seconds=3600)
    assert owner_is_alive(dead) is False
    assert not storage.get_run(run_id).has_live_lease()

    lease = storage.claim_run(run_id, make_owner_id())

    assert lease.fencing_token == 2


def test_an_owner_on_another_host_keeps_its_lease_until_expiry(
    storage: StorageBackend, run_id: str
):
    elsewhere = "other-host.example:1:abcd1234"
    storage.claim_run(run_id, elsewhere, ttl_seconds=3600)

    with pytest.raises(LeaseHeldError, match=r"other-host\.example"):
        storage.claim_run(run_id, make_owner_id())


def test_renew_by_the_holder_extends_the_expiry(harness: Harness, run_id: str):
    lease = harness.storage.claim_run(run_id, make_owner_id(), ttl_seconds=1)

    renewed = harness.storage.renew_lease(lease, ttl_seconds=600)

    assert renewed.expires_at >= lease.expires_at + timedelta(seconds=590)
    assert (renewed.fencing_token, renewed.acquired_at) == (1, lease.acquired_at)
    record = harness.reopen().get_run(run_id)
    assert (record.lease_expires_at, record.fencing_token) == (renewed.expires_at, 1)


def test_renewing_a_lost_lease_is_fenced_out_and_changes_nothing(
    storage: StorageBackend, run_id: str
):
    lost = storage.claim_run(run_id, make_owner_id(), ttl_seconds=0.01)
    time.sleep(0.05)
    holder = storage.claim_run(run_id, make_owner_id())

    with pytest.raises(FencedOutError, match="token 2, not 1"):
        storage.renew_lease(lost, ttl_seconds=600)
    record = storage.get_run(run_id)
    assert (record.lease_owner, record.lease_expires_at) == (holder.owner_id, holder.expires_at)


def test_renewing_a_released_lease_is_fenced_out(storage: StorageBackend, run_id: str):
    lease = storage.claim_run(run_id, make_owner_id())
    storage.release_lease(lease)

    with pytest.raises(FencedOutError, match="released"):
        storage.renew_lease(lease)
    assert storage.get_run(run_id).lease_owner is None


def test_release_then_another_owner_claims(harness: Harness, run_id: str):
    lease = harness.storage.claim_run(run_id, make_owner_id(), ttl_seconds=3600)

    harness.storage.release_lease(lease)

    record = harness.reopen().get_run(run_id)
    assert (record.lease_owner, record.lease_expires_at, record.fencing_token) == (None, None, 1)
    assert harness.storage.claim_run(run_id, make_owner_id()).fencing_token == 2


def test_releasing_a_lost_lease_leaves_the_new_holder_alone(storage: StorageBackend, run_id: str):
    lost = storage.claim_run(run_id, make_owner_id(), ttl_seconds=0.01)
    time.sleep(0.05)
    holder = storage.claim_run(run_id, make_owner_id())

    storage.release_lease(lost)

    record = storage.get_run(run_id)
    assert (record.lease_owner, record.fencing_token) == (holder.owner_id, 2)


def test_releasing_the_lease_of_a_deleted_run_is_a_no_op(storage: StorageBackend, run_id: str):
    lease = storage.claim_run(run_id, make_owner_id())
    storage.delete_run(run_id)

    storage.release_lease(lease)

    assert storage.get_run(run_id) is None


def test_claiming_a_missing_run_fails(storage: StorageBackend):
    with pytest.raises(RunNotFoundError, match="does not exist"):
        storage.claim_run("missing", make_owner_id())


@pytest.mark.parametrize("ttl", [0, -1, math.nan, math.inf, True, "30"])
def test_a_bad_ttl_is_refused(storage: StorageBackend, run_id: str, ttl):
    with pytest.raises(InvalidArgumentError, match="ttl_seconds"):
        storage.claim_run(run_id, make_owner_id(), ttl_seconds=ttl)
    assert storage.get_run(run_id).fencing_token == 0


@pytest.mark.parametrize("owner", ["", None, "x" * 301])
def test_a_bad_owner_id_is_refused(storage: StorageBackend, run_id: str, owner):
    with pytest.raises(InvalidArgumentError, match="owner id"):
        storage.claim_run(run_id, owner)


@pytest.mark.parametrize("field", ["lease_owner", "lease_expires_at", "fencing_token"])
def test_update_run_cannot_change_lease_fields(storage: StorageBackend, run_id: str, field):
    storage.claim_run(run_id, make_owner_id())
    before = storage.get_run(run_id)

    with pytest.raises(InvalidArgumentError, match="claim_run"):
        storage.update_run(run_id, **{field: None})
    assert storage.get_run(run_id) == before


def test_an_unfenced_update_keeps_the_lease(storage: StorageBackend, run_id: str):
    lease = storage.claim_run(run_id, make_owner_id())

    record = storage.update_run(run_id, status_reason="still going")

    assert (record.lease_owner, record.fencing_token) == (lease.owner_id, 1)


async def test_async_lease_methods(storage: StorageBackend, run_id: str):
    owner = make_owner_id()

    lease = await storage.aclaim_run(run_id, owner, ttl_seconds=5)
    renewed = await storage.arenew_lease(lease, ttl_seconds=50)
    await storage.arelease_lease(renewed)

    assert isinstance(lease, Lease) and lease.fencing_token == 1
    assert renewed.expires_at > lease.expires_at
    assert (await storage.aget_run(run_id)).lease_owner is None
    # The sync twins work inside a running event loop too.
    assert storage.claim_run(run_id, owner).fencing_token == 2


def test_owner_ids_name_this_host_and_process():
    owner = make_owner_id()
    host, pid, suffix = owner.rsplit(":", 2)

    assert (host, int(pid), len(suffix)) == (this_host(), os.getpid(), 8)
    assert owner != make_owner_id()
    assert owner_is_alive(owner) is True


def test_owner_liveness_is_unknown_for_other_hosts_and_other_forms():
    assert owner_is_alive("other-host.example:1:abcd1234") is None
    assert owner_is_alive("not-an-owner-id") is None
    assert owner_is_alive(f"{this_host()}:nopid:abcd1234") is None


def test_a_killed_owner_not_yet_reaped_by_its_parent_is_dead():
    # A crash test's parent may restart the agent before it waits for the killed child.
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    owner = f"{this_host()}:{child.pid}:abcd1234"
    assert owner_is_alive(owner) is True
    child.kill()
    stat = Path(f"/proc/{child.pid}/stat")
    deadline = time.monotonic() + 10
    while b") Z " not in stat.read_bytes() and time.monotonic() < deadline:
        time.sleep(0.01)

    try:
        assert owner_is_alive(owner) is False
    finally:
        child.wait()


def test_an_owner_id_with_this_pid_made_by_an_earlier_process_is_dead():
    # After a restart in a container the new process can get the pid of the one that died.
    assert owner_is_alive(f"{this_host()}:{os.getpid()}:0badf00d") is False


def test_a_lease_is_expired_from_its_expiry_on():
    now = utc_now()
    lease = Lease(
        run_id="r", owner_id="o", fencing_token=1, acquired_at=now, expires_at=now + timedelta(1)
    )

    assert not lease.is_expired(now)
    assert lease.is_expired(now + timedelta(1))
