"""When a model call is tried again, and what the endpoint's headers say about waiting.

An endpoint that is overloaded or rate-limited says how long to wait: ``retry-after-ms`` or
``retry-after`` (seconds, or an HTTP date) on the failed response. Its ``x-ratelimit-*``
headers (OpenAI and the compatible servers) or ``anthropic-ratelimit-*`` headers say, on
every response, how many requests and tokens are left until when. :class:`Throttle` keeps
that for one provider: once a limit is used up, or a 429 asked to wait, every call through
the provider (and every batch item started with it, see ``BatchRunner(llm=...)``) waits
until the endpoint said it may go on, instead of each being refused in turn.
"""

from __future__ import annotations

import math
import random
import re
import time
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import anyio
from pydantic import BaseModel, ConfigDict, Field

__all__ = ["LLMRetryPolicy", "Throttle", "retry_after", "throttle_of"]

_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|h|m|s)")
_LIMIT_FAMILIES = (
    ("x-ratelimit-remaining-{}", "x-ratelimit-reset-{}"),
    ("anthropic-ratelimit-{}-remaining", "anthropic-ratelimit-{}-reset"),
)


class LLMRetryPolicy(BaseModel):
    """How a provider retries a failed attempt (429, 5xx, timeout, lost connection).

    The wait before retry ``n`` is ``base_delay * 2 ** (n - 1)`` seconds, at most
    ``max_delay``, spread by ``jitter`` (± that fraction) so callers that failed together
    do not come back together; a ``retry-after`` the endpoint sent wins, up to
    ``max_retry_after``.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)

    max_attempts: int = Field(default=4, ge=1)
    """Attempts per call, the first included."""
    base_delay: float = Field(default=1.0, ge=0)
    """Seconds before the first retry."""
    max_delay: float = Field(default=60.0, ge=0)
    """The longest computed wait."""
    jitter: float = Field(default=0.25, ge=0, lt=1)
    """How much a computed wait is spread, as a fraction of it."""
    max_retry_after: float = Field(default=300.0, ge=0)
    """The longest wait a ``retry-after`` header is honoured for."""

    def delay(self, retry: int, asked: float | None = None) -> float:
        """Seconds before retry number ``retry`` (from 1); ``asked``: the endpoint's wait."""
        if asked is not None:
            return min(max(asked, 0.0), self.max_retry_after)
        computed = min(self.base_delay * 2.0 ** (retry - 1), self.max_delay)
        return computed * (1 + random.uniform(-self.jitter, self.jitter))


def retry_after(headers: Mapping[str, str]) -> float | None:
    """The wait in seconds a response asks for (``retry-after-ms``, ``retry-after``)."""
    millis = headers.get("retry-after-ms")
    if millis is not None:
        try:
            return max(float(millis) / 1000, 0.0)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max((when - datetime.now(UTC)).total_seconds(), 0.0)


def _reset_in(value: str) -> float | None:
    """Seconds until a ``*-reset`` header's moment: ``6m0s`` / ``20ms`` / ``1.5`` or a
    timestamp (RFC 3339)."""
    value = value.strip()
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    parts = _DURATION_PART.findall(value)
    if parts and "".join(n + u for n, u in parts) == value:
        scale = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}
        return sum(float(n) * scale[u] for n, u in parts)
    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max((when - datetime.now(UTC)).total_seconds(), 0.0)


def used_up_for(headers: Mapping[str, str]) -> float:
    """Seconds until a used-up rate limit the headers report resets (0: none is)."""
    wait = 0.0
    for remaining_name, reset_name in _LIMIT_FAMILIES:
        for kind in ("requests", "tokens", "input-tokens", "output-tokens"):
            remaining = headers.get(remaining_name.format(kind))
            reset = headers.get(reset_name.format(kind))
            if remaining is None or reset is None:
                continue
            try:
                left = float(remaining)
            except ValueError:
                continue
            seconds = _reset_in(reset)
            if left <= 0 and seconds is not None and math.isfinite(seconds):
                wait = max(wait, seconds)
    return wait


class Throttle:
    """Holds a provider's calls while its endpoint asked to wait (see the module docs)."""

    def __init__(
        self,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = anyio.sleep,
    ) -> None:
        self._clock = clock
        self._sleep = sleep
        self._until = 0.0

    def hold(self, seconds: float) -> None:
        """Let no call start for ``seconds`` from now (a longer hold already set stays)."""
        self._until = max(self._until, self._clock() + seconds)

    def observe(self, headers: Mapping[str, str]) -> None:
        """Hold until a used-up limit of ``headers`` resets."""
        wait = used_up_for(headers)
        if wait > 0:
            self.hold(wait)

    def blocked_for(self) -> float:
        """Seconds until calls may start again (0: now)."""
        return max(self._until - self._clock(), 0.0)

    async def wait(self) -> None:
        """Return once calls may start (at once when nothing holds them)."""
        while (left := self.blocked_for()) > 0:
            await self._sleep(left)


def throttle_of(provider: object) -> Throttle | None:
    """The :class:`Throttle` of ``provider``, if it keeps one (as the built-in remote
    providers do)."""
    throttle = getattr(provider, "throttle", None)
    return throttle if isinstance(throttle, Throttle) else None
