"""A durable run's view of its pause and cancel requests: read cheaply, honoured once.

Every checkpoint write reads the run's pending request in the same storage step
(``commit_step``) and hands it to :meth:`ControlWatch.seen`; between writes storage is asked
at most every ``control_poll_interval``. A request is honoured at the first node boundary
after it is seen, and only that request is cleared afterwards: a cancel that arrived while
a pause was being honoured survives.
"""

from __future__ import annotations

import math
import time

from framework.durable._observer import Stop
from framework.schemas.control import ControlAction, ControlSignal
from framework.storage.backend import StorageBackend


class ControlWatch:
    """The pending request of run ``run_id`` as last seen, and the one being honoured."""

    def __init__(self, storage: StorageBackend, run_id: str, poll_interval: float) -> None:
        self.storage = storage
        self.run_id = run_id
        self.poll_interval = poll_interval
        self._seen: ControlSignal | None = None
        self._seen_at = -math.inf
        self._honoured: ControlSignal | None = None

    def seen(self, signal: ControlSignal | None) -> None:
        """``signal`` is the run's pending request as storage holds it now."""
        self._seen = signal
        self._seen_at = time.monotonic()

    async def check(self) -> Stop | None:
        """The request to honour at this boundary, if any (cancel wins)."""
        if time.monotonic() - self._seen_at >= self.poll_interval:
            self.seen(await self.storage.aget_control(self.run_id))
        signal = self._seen
        if signal is None:
            return None
        self._honoured = signal
        verb = "cancel" if signal.action is ControlAction.CANCEL else "pause"
        return Stop(signal.action, signal.reason or f"{verb} requested")

    async def clear_honoured(self, fencing_token: int) -> None:
        """Forget the request that was honoured, and only that one."""
        if self._honoured is None:
            return
        await self.storage.aclear_control(
            self.run_id, only=self._honoured, fencing_token=fencing_token
        )
        self._honoured = None
