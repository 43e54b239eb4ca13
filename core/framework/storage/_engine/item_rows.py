"""A batch run's item ledger over per-run storage, the same in every record backend.

Each item is one row keyed by ``(run_id, item_id)`` (see :mod:`.item_format`). The counts
per status live in one more row per run and change in the same atomic step as the items
they count. Every write is fenced:
it checks the run's fencing token under the run's write guard, then reads, changes and
writes, so the check and the write are one atomic step, between processes too.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from framework.errors import InvalidArgumentError, StorageError
from framework.schemas.clock import utc_now
from framework.schemas.ids import validate_key, validate_run_id
from framework.schemas.item import (
    ItemCounts,
    ItemOutcome,
    ItemRecord,
    ItemsAdded,
    ItemStatus,
    ItemUsage,
    NewItem,
)
from framework.storage._engine.item_format import (
    decode_item,
    decode_payloads,
    decode_state,
    due_key,
    encode_item,
)
from framework.storage._engine.primitives import RecordPrimitives

__all__ = [
    "add",
    "claim",
    "claim_moment",
    "counts",
    "finish",
    "finished_item",
    "get",
    "list_items",
    "requeue",
]

_REQUEUED = (ItemStatus.RUNNING, ItemStatus.FAILED)


def add(
    store: RecordPrimitives,
    run_id: str,
    items: Sequence[NewItem],
    fencing_token: int,
    replace_changed: bool,
) -> ItemsAdded:
    """``add_items`` of the contract."""
    validate_run_id(run_id)
    ids = _unique_ids([item.item_id for item in items], "added")
    added, unchanged, changed = 0, 0, []
    with store._writing(run_id):
        store._check_fence(run_id, fencing_token, f"adding items to run {run_id!r}")
        tally = _counts(store, run_id)
        # Only the typed fields are read: a replaced item gets a new input and no result.
        stored = _read(store, run_id, ids, payloads=False)
        written: list[ItemRecord] = []
        moves: list[tuple[ItemStatus | None, ItemStatus]] = []
        now = utc_now()
        for item in items:
            old = stored.get(item.item_id)
            if old is None:
                new = ItemRecord(
                    run_id=run_id,
                    item_id=item.item_id,
                    seq=tally.total + added,
                    input=item.input,
                    content_hash=item.content_hash,
                    added_at=now,
                )
                added += 1
            elif old.content_hash == item.content_hash:
                unchanged += 1
                continue
            else:
                changed.append(item.item_id)
                if not replace_changed:
                    continue
                new = old.model_copy(
                    update={
                        "input": item.input,
                        "content_hash": item.content_hash,
                        "status": ItemStatus.PENDING,
                        "result": None,
                        "last_error": None,
                        "next_attempt_at": None,
                        "finished_at": None,
                        "retry_from": old.attempts,
                    }
                )
            moves.append((None if old is None else old.status, ItemStatus.PENDING))
            written.append(new)
        _write(store, run_id, written, tally.after(moves), input=True, result=True)
    return ItemsAdded(added=added, unchanged=unchanged, changed=changed)


def claim(
    store: RecordPrimitives,
    run_id: str,
    limit: int,
    worker: str,
    fencing_token: int,
    now: datetime | None,
) -> list[ItemRecord]:
    """``claim_items`` of the contract."""
    moment = claim_moment(run_id, limit, worker, now)
    with store._writing(run_id):
        store._check_fence(run_id, fencing_token, f"claiming items of run {run_id!r}")
        tally = _counts(store, run_id)
        due = store._scan_items(
            run_id, ItemStatus.PENDING, -1, limit, due_key(moment), payloads=True
        )
        claimed = []
        for row in due:
            # One copy: its payloads revived and its claim, onto its typed fields.
            item = decode_state(row, run_id)
            update = {
                **decode_payloads(row, run_id),
                "status": ItemStatus.RUNNING,
                "attempts": item.attempts + 1,
                "worker": worker,
                "started_at": moment,
            }
            claimed.append(item.model_copy(update=update))
        moves = [(ItemStatus.PENDING, ItemStatus.RUNNING)] * len(claimed)
        _write(store, run_id, claimed, tally.after(moves), input=False, result=False)
    return claimed


def claim_moment(run_id: str, limit: int, worker: str, now: datetime | None) -> datetime:
    """The time a claim is made at, once its arguments are checked (``InvalidArgumentError``
    if one is invalid); for a backend that claims in a statement of its own."""
    validate_run_id(run_id)
    if type(limit) is not int or limit < 1:
        raise InvalidArgumentError(f"limit must be an int of at least 1, not {limit!r}")
    if not isinstance(worker, str) or not worker:
        raise InvalidArgumentError(f"a worker is named by a non-empty string, not {worker!r}")
    return _aware(now or utc_now(), "now")


def finish(
    store: RecordPrimitives, run_id: str, outcomes: Sequence[ItemOutcome], fencing_token: int
) -> ItemCounts:
    """``finish_items`` of the contract."""
    validate_run_id(run_id)
    ids = _unique_ids([outcome.item_id for outcome in outcomes], "finished")
    with store._writing(run_id):
        store._check_fence(run_id, fencing_token, f"finishing items of run {run_id!r}")
        tally = _counts(store, run_id)
        stored = _read(store, run_id, ids, payloads=False)
        now = utc_now()
        finished = []
        for outcome in outcomes:
            item = stored.get(outcome.item_id)
            if item is None or item.status is not ItemStatus.RUNNING:
                state = "unknown" if item is None else item.status.value
                raise InvalidArgumentError(
                    f"item {outcome.item_id!r} of run {run_id!r} is {state}, not running: "
                    "only a claimed item can be finished; nothing was recorded"
                )
            finished.append(finished_item(item, outcome, now))
        moves = [(ItemStatus.RUNNING, outcome.status) for outcome in outcomes]
        usage = sum((outcome.usage for outcome in outcomes), ItemUsage())
        tally = tally.after(moves, usage)
        _write(store, run_id, finished, tally, input=False, result=True)
    return tally


def requeue(
    store: RecordPrimitives,
    run_id: str,
    status: ItemStatus,
    fencing_token: int,
    item_ids: Sequence[str] | None,
    error_type: str | None,
) -> int:
    """``requeue_items`` of the contract."""
    validate_run_id(run_id)
    if status not in _REQUEUED:
        raise InvalidArgumentError(
            f"only running or failed items are put back to pending, not {status!r}"
        )
    with store._writing(run_id):
        store._check_fence(run_id, fencing_token, f"requeueing items of run {run_id!r}")
        tally = _counts(store, run_id)
        if item_ids is None:
            rows = store._scan_items(run_id, status, -1, None, None, payloads=False)
            candidates: Iterable[ItemRecord] = (decode_item(row, run_id) for row in rows)
        else:
            wanted = [validate_key(item_id, "item id") for item_id in item_ids]
            candidates = _read(store, run_id, wanted, payloads=False).values()
        requeued = []
        for item in candidates:
            if item.status is not status:
                continue
            if error_type is not None and (
                item.last_error is None or item.last_error.type != error_type
            ):
                continue
            update: dict[str, Any] = {
                "status": ItemStatus.PENDING,
                "next_attempt_at": None,
                "worker": None,
            }
            if status is ItemStatus.FAILED:
                update.update(retry_from=item.attempts, finished_at=None)
            requeued.append(item.model_copy(update=update))
        moves = [(status, ItemStatus.PENDING)] * len(requeued)
        _write(store, run_id, requeued, tally.after(moves), input=False, result=False)
    return len(requeued)


def get(store: RecordPrimitives, run_id: str, item_id: str) -> ItemRecord | None:
    """``get_item`` of the contract."""
    validate_run_id(run_id)
    validate_key(item_id, "item id")
    with store._lock, store._snapshot():
        return _read(store, run_id, [item_id], payloads=True).get(item_id)


def list_items(
    store: RecordPrimitives,
    run_id: str,
    status: ItemStatus | None,
    after_seq: int,
    limit: int | None,
    error_contains: str | None,
) -> list[ItemRecord]:
    """``list_items`` of the contract."""
    validate_run_id(run_id)
    if type(after_seq) is not int:
        raise InvalidArgumentError(f"after_seq must be an int, not {after_seq!r}")
    if limit is not None and (type(limit) is not int or limit < 0):
        raise InvalidArgumentError(f"limit must be a non-negative int, not {limit!r}")
    scan_limit = None if error_contains else limit
    with store._lock, store._snapshot():
        rows = store._scan_items(run_id, status, after_seq, scan_limit, None, payloads=True)
    items = [decode_item(row, run_id) for row in rows]
    if error_contains:
        items = [item for item in items if _error_has(item, error_contains)]
    return items if limit is None else items[:limit]


def counts(store: RecordPrimitives, run_id: str) -> ItemCounts:
    """``item_counts`` of the contract."""
    validate_run_id(run_id)
    with store._lock, store._snapshot():
        return _counts(store, run_id)


def _read(
    store: RecordPrimitives, run_id: str, ids: Sequence[str], *, payloads: bool
) -> dict[str, ItemRecord]:
    rows = store._read_items(run_id, ids, payloads=payloads)
    return {item_id: decode_item(row, run_id) for item_id, row in rows.items()}


def _write(
    store: RecordPrimitives,
    run_id: str,
    items: Sequence[ItemRecord],
    tally: ItemCounts,
    *,
    input: bool,
    result: bool,
) -> None:
    """Store ``items`` (with their input and result if asked for) and the new counts."""
    if items:
        # Every row encodes before any is stored.
        rows = [encode_item(item, input=input, result=result) for item in items]
        store._store_items(run_id, rows, tally.model_dump_json().encode())


def _counts(store: RecordPrimitives, run_id: str) -> ItemCounts:
    body = store._read_item_counts(run_id)
    if body is None:
        return ItemCounts()
    try:
        return ItemCounts.model_validate_json(body)
    except ValidationError as exc:
        raise StorageError(
            f"the item counts of run {run_id!r} are unreadable ({exc.error_count()} "
            "error(s)); restore them from a backup or delete the run"
        ) from None


def finished_item(item: ItemRecord, outcome: ItemOutcome, now: datetime) -> ItemRecord:
    """``item`` (running) once ``outcome`` was recorded for it at ``now``; for a backend that
    finishes items in a statement of its own."""
    update: dict[str, Any] = {"status": outcome.status, "usage": item.usage + outcome.usage}
    if outcome.status is ItemStatus.PENDING:
        update.update(last_error=outcome.error, next_attempt_at=outcome.retry_at)
    else:
        update["finished_at"] = now
    if outcome.status is ItemStatus.COMPLETED:
        update["result"] = outcome.result
    if outcome.status is ItemStatus.FAILED:
        update["last_error"] = outcome.error
    return item.model_copy(update=update)


def _unique_ids(ids: list[str], verb: str) -> list[str]:
    for item_id in ids:
        validate_key(item_id, "item id")
    twice = [item_id for item_id, count in Counter(ids).items() if count > 1]
    if twice:
        shown = ", ".join(repr(item_id) for item_id in twice[:5])
        raise InvalidArgumentError(
            f"item ids {verb} more than once in one call: {shown}; nothing was {verb}"
        )
    return ids


def _aware(moment: datetime, name: str) -> datetime:
    if not isinstance(moment, datetime) or moment.tzinfo is None:
        raise InvalidArgumentError(f"{name} must be a timezone-aware datetime, not {moment!r}")
    return moment


def _error_type(item: ItemRecord) -> str | None:
    return None if item.last_error is None else item.last_error.type


def _error_has(item: ItemRecord, text: str) -> bool:
    error = item.last_error
    return error is not None and (text in error.type or text in error.message)
