"""Control signals (pause / cancel requests) over per-run storage, the same in every backend.

A run has at most one pending signal. Requests and clears are read-modify-writes under the
run's write guard, so "cancel wins over pause" holds between processes too, and a fenced
clear checks the run's fencing token and clears in one atomic step.
"""

from __future__ import annotations

from pydantic import ValidationError

from framework.errors import InvalidArgumentError, StorageError
from framework.schemas.control import ControlAction, ControlSignal
from framework.schemas.ids import validate_run_id
from framework.storage import codec
from framework.storage._engine.primitives import RecordPrimitives


def request(
    store: RecordPrimitives, run_id: str, action: ControlAction, reason: str
) -> ControlSignal:
    """``request_control`` of the contract."""
    validate_run_id(run_id)
    try:
        wanted = ControlAction(action)
    except ValueError:
        raise InvalidArgumentError(
            f"unknown control action {action!r}; use one of "
            f"{', '.join(a.value for a in ControlAction)}"
        ) from None
    if not isinstance(reason, str):
        raise InvalidArgumentError(f"a control reason is text, not {type(reason).__name__}")
    with store._writing(run_id):
        store._require_run(run_id)
        current = pending(store, run_id)
        cancel_pending = current is not None and current.action is ControlAction.CANCEL
        if current is not None and cancel_pending and wanted is ControlAction.PAUSE:
            return current  # a pause must not turn a pending cancel into a pause
        signal = ControlSignal(run_id=run_id, action=wanted, reason=reason)
        store._write_control(signal, codec.canonical_bytes(signal.model_dump(mode="json")))
    return signal


def get(store: RecordPrimitives, run_id: str) -> ControlSignal | None:
    """``get_control`` of the contract."""
    validate_run_id(run_id)
    with store._lock, store._snapshot():
        return pending(store, run_id)


def clear(
    store: RecordPrimitives, run_id: str, only: ControlSignal | None, fencing_token: int | None
) -> None:
    """``clear_control`` of the contract."""
    validate_run_id(run_id)
    with store._writing(run_id):
        if fencing_token is not None:
            store._check_fence(run_id, fencing_token, "clearing the control request")
        if only is not None and pending(store, run_id) != only:
            return
        store._drop_control(run_id)


def pending(store: RecordPrimitives, run_id: str) -> ControlSignal | None:
    """The run's pending signal, read under a lock or guard the caller holds."""
    return decoded(run_id, store._read_control(run_id))


def decoded(run_id: str, body: bytes | None) -> ControlSignal | None:
    """The signal a stored control row holds (``None``: no row); ``StorageError`` if it is
    unreadable. For a backend that reads the row in a statement of its own."""
    if body is None:
        return None
    try:
        return ControlSignal.model_validate_json(body)
    except ValidationError as exc:
        raise StorageError(
            f"the control signal of run {run_id!r} is unreadable ({exc.errors()[0]['msg']}); "
            "clear it with clear_control and send the request again"
        ) from None
