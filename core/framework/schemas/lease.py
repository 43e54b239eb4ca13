"""Run leases: one writer per run, and how to tell whether a lease's owner still lives.

An owner id is ``"{hostname}:{pid}:{random8}"`` (:func:`make_owner_id`): the host and pid
let another process on the same machine see that the owner died, the random part keeps
two owners in one process apart. A lease carries a *fencing token* that grows by one on
every claim; a write that names a token other than the run's current one is refused, so a
writer whose lease was taken over cannot commit anything.
"""

from __future__ import annotations

import os
import re
import secrets
import socket
from datetime import datetime

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from framework.schemas.clock import utc_now

__all__ = ["Lease", "lease_is_live", "make_owner_id", "owner_is_alive", "this_host"]

_HOST_UNSAFE = re.compile(r"[^A-Za-z0-9_.@+\-]")
# Owner ids this process handed out. Another owner id with this process's pid was made by an
# earlier process that had the same pid (common in containers, where pids restart low).
_issued: set[str] = set()


class Lease(BaseModel):
    """The right to write one run, until ``expires_at`` unless renewed."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)

    run_id: str
    """The run it lets its owner write."""
    owner_id: str
    """Who holds it: ``f"{hostname}:{pid}:{random8}"`` (see :func:`make_owner_id`)."""
    fencing_token: int = Field(ge=1)
    """The run's fencing token as of this claim; every write of the owner carries it."""
    acquired_at: AwareDatetime
    """When it was claimed (UTC)."""
    expires_at: AwareDatetime
    """When it lapses unless renewed (UTC)."""

    def is_expired(self, now: datetime | None = None) -> bool:
        return (now or utc_now()) >= self.expires_at


def this_host() -> str:
    """This machine's name as it appears in owner ids (``:`` and unusual characters -> ``-``)."""
    return _HOST_UNSAFE.sub("-", socket.gethostname()) or "localhost"


def make_owner_id() -> str:
    """A new owner id for this process: ``f"{hostname}:{pid}:{random8}"``."""
    owner_id = f"{this_host()}:{os.getpid()}:{secrets.token_hex(4)}"
    _issued.add(owner_id)
    return owner_id


def owner_is_alive(owner_id: str) -> bool | None:
    """Whether the process named by ``owner_id`` is still running.

    ``True``/``False`` for an owner on this host (by pid); ``None`` when that cannot be
    known: another host, or an owner id not in :func:`make_owner_id`'s form. A pid of this
    very process counts as alive only for owner ids this process made.
    """
    host, sep, rest = owner_id.partition(":")
    pid_text, sep2, _ = rest.partition(":")
    if not (sep and sep2 and pid_text.isdigit()) or host != this_host():
        return None
    pid = int(pid_text)
    if pid == os.getpid():
        return owner_id in _issued
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # it exists, it just belongs to another user
    except OSError:
        return None
    return not _is_zombie(pid)


def lease_is_live(
    owner_id: str | None, expires_at: datetime | None, now: datetime | None = None
) -> bool:
    """Whether a lease held by ``owner_id`` until ``expires_at`` still keeps others out.

    It does while it has not expired and its owner is not known to be dead.
    """
    if owner_id is None or expires_at is None or (now or utc_now()) >= expires_at:
        return False
    return owner_is_alive(owner_id) is not False


def _is_zombie(pid: int) -> bool:
    # A child that exited but was not reaped yet still answers kill(pid, 0); Linux shows it
    # as state Z. Elsewhere there is no cheap way to tell, so it counts as alive.
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            stat = handle.read()
    except OSError:
        return False
    # The state follows the command name, which is in parentheses and may contain spaces.
    return stat[stat.rfind(b")") + 2 : stat.rfind(b")") + 3] == b"Z"
