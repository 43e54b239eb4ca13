"""Run records over the primitives: create, read, list, update and delete, the same in every
backend. Every write holds the run's write guard, so a fenced update checks the run's
fencing token and writes in one atomic step, between processes too.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from framework.errors import InvalidArgumentError, RunExistsError
from framework.schemas.clock import utc_now
from framework.schemas.ids import validate_run_id
from framework.schemas.run import RunCriteria, RunFilter, RunRecord
from framework.storage._engine.leasing import LEASE_FIELDS
from framework.storage._engine.primitives import RecordPrimitives
from framework.storage._engine.record_format import encode_run


def create(store: RecordPrimitives, record: RunRecord) -> RunRecord:
    """``create_run`` of the contract."""
    validate_run_id(record.run_id)
    body = encode_run(record)
    with store._writing(record.run_id, create=True):
        if not store._insert_run(record, body):
            raise RunExistsError(
                f"run {record.run_id!r} already exists; update it with update_run or "
                "choose another run id"
            )
    return record


def get(store: RecordPrimitives, run_id: str) -> RunRecord | None:
    """``get_run`` of the contract."""
    validate_run_id(run_id)
    with store._lock, store._snapshot():
        return store._read_run(run_id)


def select(
    store: RecordPrimitives, where: RunFilter | None, criteria: RunCriteria
) -> list[RunRecord]:
    """``list_runs`` of the contract."""
    wanted = run_filter(where, criteria)
    with store._lock, store._snapshot():
        return store._select_runs(wanted)


def update(
    store: RecordPrimitives, run_id: str, expect_fencing_token: int | None, changes: dict[str, Any]
) -> RunRecord:
    """``update_run`` of the contract."""
    validate_run_id(run_id)
    if "run_id" in changes:
        raise InvalidArgumentError("a run's run_id cannot be changed; create a new run instead")
    unknown = sorted(set(changes) - set(RunRecord.model_fields))
    if unknown:
        raise InvalidArgumentError(f"unknown run record field(s): {', '.join(unknown)}")
    leased = sorted(LEASE_FIELDS & set(changes))
    if leased:
        raise InvalidArgumentError(
            f"{', '.join(leased)} change only through claim_run, renew_lease and release_lease"
        )
    with store._writing(run_id):
        current = (
            store._require_run(run_id)
            if expect_fencing_token is None
            else store._check_fence(run_id, expect_fencing_token, f"updating run {run_id!r}")
        )
        return replace(store, current, changes)


def replace(store: RecordPrimitives, current: RunRecord, changes: dict[str, Any]) -> RunRecord:
    """Store ``current`` with ``changes`` (and a new ``updated_at``); the caller holds the
    run's write guard and has checked the changes' names."""
    data = {name: getattr(current, name) for name in RunRecord.model_fields}
    data["updated_at"] = utc_now()
    data.update(changes)
    try:
        record = RunRecord.model_validate(data)
    except ValidationError as exc:
        raise InvalidArgumentError(f"invalid change to run {current.run_id!r}: {exc}") from None
    store._store_run(record)
    return record


def advanced(store: RecordPrimitives, current: RunRecord, changes: dict[str, Any]) -> RunRecord:
    """Store ``current`` with the engine's own ``changes`` (a step's progress, already of
    the right types, so not validated again); the caller holds the run's write guard."""
    record = current.model_copy(update={**changes, "updated_at": utc_now()})
    store._store_run(record)
    return record


def delete(store: RecordPrimitives, run_id: str) -> bool:
    """``delete_run`` of the contract (the caller drops its caches of the run)."""
    validate_run_id(run_id)
    with store._writing(run_id):
        return store._delete_run(run_id)


def run_filter(where: RunFilter | None, criteria: RunCriteria) -> RunFilter:
    """``where`` with the keyword ``criteria`` applied; ``InvalidArgumentError`` if invalid."""
    try:
        if where is None:
            return RunFilter.model_validate(criteria)
        return RunFilter.model_validate({**where.model_dump(), **criteria})
    except ValidationError as exc:
        problem = exc.errors()[0]
        field = ".".join(str(part) for part in problem["loc"]) or "filter"
        raise InvalidArgumentError(
            f"invalid run filter {field}={problem.get('input')!r}: {problem['msg']}"
        ) from None
