"""The effects ledger over per-run storage, the same in every backend.

Each effect is one row keyed by ``(run_id, key)``: plain JSON of its
:class:`~framework.schemas.effect.EffectRecord`, with the result encoded by the codec so it
comes back exactly (datetimes, Decimals, models...). Every change is a read-modify-write
under the run's write guard; a fenced one checks the run's fencing token inside that guard,
so the check and the write are one atomic step, between processes too.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import ValidationError

from framework.errors import CheckpointDecodeError, InvalidArgumentError, StorageError
from framework.schemas.clock import utc_now
from framework.schemas.effect import EffectRecord, EffectStatus
from framework.schemas.ids import validate_key, validate_node_id, validate_run_id
from framework.storage import codec
from framework.storage._engine.primitives import RecordPrimitives


def start(
    store: RecordPrimitives,
    run_id: str,
    node_id: str,
    key: str,
    idempotency_key: str,
    fencing_token: int | None,
) -> EffectRecord:
    """``start_effect`` of the contract."""
    validate_run_id(run_id)
    validate_node_id(node_id)
    validate_effect_key(key)
    if not isinstance(idempotency_key, str) or not idempotency_key:
        raise InvalidArgumentError(
            f"an idempotency key is a non-empty string, not {idempotency_key!r}"
        )
    with store._writing(run_id):
        if fencing_token is None:
            store._require_run(run_id)
        else:
            store._check_fence(run_id, fencing_token, f"starting effect {key!r}")
        current = _load(store, run_id, key)
        if current is None:
            record = EffectRecord(
                run_id=run_id, node_id=node_id, key=key, idempotency_key=idempotency_key
            )
        elif current.status is EffectStatus.COMPLETED:
            return current
        else:
            record = current.model_copy(
                update={
                    "status": EffectStatus.STARTED,
                    "attempts": current.attempts + 1,
                    "error": None,
                    "completed_at": None,
                }
            )
        store._write_effect(record, encode_effect(record))
    return record


def complete(
    store: RecordPrimitives, run_id: str, key: str, result: Any, fencing_token: int | None
) -> EffectRecord:
    """``complete_effect`` of the contract."""
    return _finish(store, run_id, key, fencing_token, EffectStatus.COMPLETED, result=result)


def fail(
    store: RecordPrimitives, run_id: str, key: str, error: str, fencing_token: int | None
) -> EffectRecord:
    """``fail_effect`` of the contract."""
    if not isinstance(error, str):
        raise InvalidArgumentError(
            f"an effect error is text, not {type(error).__name__}; pass str(exc)"
        )
    return _finish(store, run_id, key, fencing_token, EffectStatus.FAILED, error=error)


def get(store: RecordPrimitives, run_id: str, key: str) -> EffectRecord | None:
    """``get_effect`` of the contract."""
    validate_run_id(run_id)
    validate_effect_key(key)
    with store._lock, store._snapshot():
        return _load(store, run_id, key)


def list_all(store: RecordPrimitives, run_id: str) -> list[EffectRecord]:
    """``list_effects`` of the contract."""
    validate_run_id(run_id)
    with store._lock, store._snapshot():
        bodies = store._effect_bodies(run_id)
    return [decode_effect(body, f"an effect of run {run_id!r}") for body in bodies]


def _finish(
    store: RecordPrimitives,
    run_id: str,
    key: str,
    fencing_token: int | None,
    status: EffectStatus,
    **outcome: Any,
) -> EffectRecord:
    validate_run_id(run_id)
    validate_effect_key(key)
    with store._writing(run_id):
        if fencing_token is not None:
            verb = "completing" if status is EffectStatus.COMPLETED else "failing"
            store._check_fence(run_id, fencing_token, f"{verb} effect {key!r}")
        current = _load(store, run_id, key)
        if current is None:
            raise StorageError(
                f"effect {key!r} of run {run_id!r} was never started; call start_effect "
                "before recording its outcome"
            )
        if current.status is EffectStatus.COMPLETED:
            raise StorageError(
                f"effect {key!r} of run {run_id!r} is already completed; its recorded "
                "result stands (was it performed by two writers?)"
            )
        record = current.model_copy(update={"status": status, "completed_at": utc_now(), **outcome})
        store._write_effect(record, encode_effect(record))
    return record


def _load(store: RecordPrimitives, run_id: str, key: str) -> EffectRecord | None:
    body = store._read_effect(run_id, key)
    return None if body is None else decode_effect(body, f"effect {key!r} of run {run_id!r}")


def validate_effect_key(key: Any) -> str:
    """An effect key is an id of up to 300 characters (``f"{node_id}:{user_key}"``)."""
    return validate_key(key, "effect key")


def encode_effect(record: EffectRecord) -> bytes:
    """The stored bytes of an effect row; ``CheckpointEncodeError`` if its result cannot be."""
    tree = record.model_dump(mode="json", exclude={"result"})
    tree["result"] = codec.encode(record.result, f"effect[{record.key!r}].result")
    return codec.canonical_bytes(tree)


def decode_effect(body: bytes, where: str) -> EffectRecord:
    """Revive an effect row; ``StorageError`` naming ``where`` if it is unreadable."""
    try:
        tree = json.loads(body)
        tree["result"] = codec.decode(tree.get("result"), f"{where} result")
        return EffectRecord.model_validate(tree)
    except (ValueError, TypeError, ValidationError, CheckpointDecodeError) as exc:
        raise StorageError(
            f"{where} is unreadable ({exc}); restore it from a backup or delete the run"
        ) from None
