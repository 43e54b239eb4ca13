"""Owner ids name a host and a process; a lease expires from its expiry on."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

from framework.schemas.clock import utc_now
from framework.schemas.lease import Lease, make_owner_id, owner_is_alive, this_host


def test_owner_ids_name_this_host_and_process() -> None:
    owner = make_owner_id()
    host, pid, suffix = owner.rsplit(":", 2)

    assert (host, int(pid), len(suffix)) == (this_host(), os.getpid(), 8)
    assert owner != make_owner_id()
    assert owner_is_alive(owner) is True


def test_owner_liveness_is_unknown_for_other_hosts_and_other_forms() -> None:
    assert owner_is_alive("other-host.example:1:abcd1234") is None
    assert owner_is_alive("not-an-owner-id") is None
    assert owner_is_alive(f"{this_host()}:nopid:abcd1234") is None


def test_a_killed_owner_not_yet_reaped_by_its_parent_is_dead() -> None:
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


def test_an_owner_id_with_this_pid_made_by_an_earlier_process_is_dead() -> None:
    # After a restart in a container the new process can get the pid of the one that died.
    assert owner_is_alive(f"{this_host()}:{os.getpid()}:0badf00d") is False


def test_a_lease_is_expired_from_its_expiry_on() -> None:
    now = utc_now()
    lease = Lease(
        run_id="r", owner_id="o", fencing_token=1, acquired_at=now, expires_at=now + timedelta(1)
    )

    assert not lease.is_expired(now)
    assert lease.is_expired(now + timedelta(1))
