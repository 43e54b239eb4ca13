"""Run leases over the run record: claim, renew and release, the same in every backend.

The lease lives in the run record (``lease_owner``, ``lease_expires_at``,
``fencing_token``), so a claim is one read-modify-write of that record under
:meth:`~.primitives.RecordPrimitives._writing`: atomic between threads and processes, and
atomic with the fenced writes (checkpoints, run updates, effects, control) that take the
same guard and check the token with :meth:`~.primitives.RecordPrimitives._check_fence`.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta

from framework.errors import FencedOutError, InvalidArgumentError, LeaseHeldError
from framework.schemas.clock import utc_now
from framework.schemas.ids import validate_run_id
from framework.schemas.lease import Lease, lease_is_live
from framework.schemas.run import RunRecord
from framework.storage._engine.primitives import RecordPrimitives

# Run record fields only the lease methods change.
LEASE_FIELDS = frozenset({"lease_owner", "lease_expires_at", "fencing_token"})
_OWNER_MAX_LENGTH = 300


def claim(store: RecordPrimitives, run_id: str, owner_id: str, ttl_seconds: float) -> Lease:
    """``claim_run`` of the contract."""
    validate_run_id(run_id)
    _check_owner(owner_id)
    ttl = _ttl(ttl_seconds)
    with store._writing(run_id):
        record = store._require_run(run_id)
        now = utc_now()
        holder, expires = record.lease_owner, record.lease_expires_at
        if holder is not None and holder != owner_id and lease_is_live(holder, expires, now):
            assert expires is not None  # a live lease has an expiry
            raise LeaseHeldError(run_id, holder, expires)
        lease = Lease(
            run_id=run_id,
            owner_id=owner_id,
            fencing_token=record.fencing_token + 1,
            acquired_at=now,
            expires_at=now + ttl,
        )
        store._store_run(_with_lease(record, owner_id, lease.expires_at, lease.fencing_token))
    return lease


def renew(store: RecordPrimitives, lease: Lease, ttl_seconds: float) -> Lease:
    """``renew_lease`` of the contract."""
    validate_run_id(lease.run_id)
    ttl = _ttl(ttl_seconds)
    what = "renewing the lease"
    with store._writing(lease.run_id):
        record = store._check_fence(lease.run_id, lease.fencing_token, what)
        if record.lease_owner != lease.owner_id:
            raise FencedOutError(
                what, lease.run_id, lease.fencing_token, current_token=record.fencing_token
            )
        renewed = lease.model_copy(update={"expires_at": utc_now() + ttl})
        store._store_run(
            _with_lease(record, lease.owner_id, renewed.expires_at, lease.fencing_token)
        )
    return renewed


def release(store: RecordPrimitives, lease: Lease) -> None:
    """``release_lease`` of the contract."""
    validate_run_id(lease.run_id)
    with store._writing(lease.run_id):
        record = store._read_run(lease.run_id)
        if (
            record is not None
            and record.fencing_token == lease.fencing_token
            and record.lease_owner == lease.owner_id
        ):
            store._store_run(_with_lease(record, None, None, lease.fencing_token))


def _with_lease(
    record: RunRecord, owner: str | None, expires: datetime | None, token: int
) -> RunRecord:
    return record.model_copy(
        update={
            "lease_owner": owner,
            "lease_expires_at": expires,
            "fencing_token": token,
            "updated_at": utc_now(),
        }
    )


def _check_owner(owner_id: object) -> None:
    if not isinstance(owner_id, str) or not owner_id or len(owner_id) > _OWNER_MAX_LENGTH:
        raise InvalidArgumentError(
            f"an owner id is a non-empty string of at most {_OWNER_MAX_LENGTH} characters, not "
            f"{owner_id!r}; make one with framework.schemas.lease.make_owner_id()"
        )


def _ttl(ttl_seconds: float) -> timedelta:
    if (
        isinstance(ttl_seconds, bool)
        or not isinstance(ttl_seconds, int | float)
        or not math.isfinite(ttl_seconds)
        or ttl_seconds <= 0
    ):
        raise InvalidArgumentError(f"ttl_seconds must be a positive number, not {ttl_seconds!r}")
    return timedelta(seconds=ttl_seconds)
