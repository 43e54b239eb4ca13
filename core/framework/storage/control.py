"""Control signals (pause / cancel requests) over per-run storage, the same in every backend.

A run has at most one pending signal. Requests and clears are read-modify-writes under the
run's write guard, so "cancel wins over pause" holds between processes too.
"""

from __future__ import annotations

from pydantic import ValidationError

from framework.errors import StorageError
from framework.schemas.control import ControlAction, ControlSignal
from framework.storage import codec
from framework.storage.ids import validate_run_id
from framework.storage.primitives import RecordPrimitives

__all__ = ["ControlOps"]


class ControlOps(RecordPrimitives):
    """The control group of the contract (see :class:`~.coordination.CoordinationContract`)."""

    def request_control(
        self, run_id: str, action: ControlAction, reason: str = ""
    ) -> ControlSignal:
        validate_run_id(run_id)
        try:
            wanted = ControlAction(action)
        except ValueError:
            raise StorageError(
                f"unknown control action {action!r}; use one of "
                f"{', '.join(a.value for a in ControlAction)}"
            ) from None
        if not isinstance(reason, str):
            raise StorageError(f"a control reason is text, not {type(reason).__name__}")
        with self._writing(run_id):
            self._require_run(run_id)
            pending = self._load_control(run_id)
            cancel_pending = pending is not None and pending.action is ControlAction.CANCEL
            if pending is not None and cancel_pending and wanted is ControlAction.PAUSE:
                return pending  # a pause must not turn a pending cancel into a pause
            signal = ControlSignal(run_id=run_id, action=wanted, reason=reason)
            self._write_control(signal, codec.canonical_bytes(signal.model_dump(mode="json")))
        return signal

    def get_control(self, run_id: str) -> ControlSignal | None:
        validate_run_id(run_id)
        with self._lock, self._snapshot():
            return self._load_control(run_id)

    def clear_control(self, run_id: str, *, only: ControlSignal | None = None) -> None:
        validate_run_id(run_id)
        with self._writing(run_id):
            if only is not None and self._load_control(run_id) != only:
                return
            self._drop_control(run_id)

    def _load_control(self, run_id: str) -> ControlSignal | None:
        body = self._read_control(run_id)
        if body is None:
            return None
        try:
            return ControlSignal.model_validate_json(body)
        except ValidationError as exc:
            raise StorageError(
                f"the control signal of run {run_id!r} is unreadable ({exc.errors()[0]['msg']}); "
                "clear it with clear_control and send the request again"
            ) from None
