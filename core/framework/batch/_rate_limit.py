"""Requests- and tokens-per-minute limits for a batch's attempts.

A :class:`RateLimit` is a token bucket refilled continuously at ``per_minute / 60`` units a
second and holding at most one second's worth, so a burst never exceeds what a minute's
limit allows over that second. :meth:`~RateLimit.acquire` waits for units before a call;
:meth:`~RateLimit.charge` takes what a call actually consumed afterwards, and may put the
bucket into debt (a call used more tokens than expected), which later calls wait off.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

import anyio

__all__ = ["RateLimit"]


class RateLimit:
    """At most ``per_minute`` units a minute (see the module docs)."""

    def __init__(
        self,
        per_minute: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = anyio.sleep,
    ) -> None:
        if per_minute <= 0:
            raise ValueError(f"a rate limit is positive, not {per_minute!r}")
        self.rate = per_minute / 60
        self.capacity = max(self.rate, 1.0)
        self._clock = clock
        self._sleep = sleep
        self._level = self.capacity
        self._at = clock()

    async def acquire(self, amount: float = 1.0) -> None:
        """Wait until ``amount`` units (at most the bucket's size) are there, and take them."""
        needed = min(amount, self.capacity)
        while True:
            self._refill()
            if self._level >= needed:
                self._level -= amount
                return
            await self._sleep((needed - self._level) / self.rate)

    def charge(self, amount: float) -> None:
        """Take ``amount`` units a call consumed, into debt if need be."""
        self._refill()
        self._level -= amount

    def _refill(self) -> None:
        now = self._clock()
        self._level = min(self.capacity, self._level + (now - self._at) * self.rate)
        self._at = now
