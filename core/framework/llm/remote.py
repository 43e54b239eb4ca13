"""The attempt loop every provider of a remote endpoint shares.

:class:`RemoteProvider` turns one ``complete`` / ``complete_with_tools`` call into attempts:
it waits while its :class:`~framework.llm.retries.Throttle` holds calls, sends the request
through its subclass's :meth:`~RemoteProvider._send`, and records each attempt (tokens,
cached tokens, cost, request id, latency, error) as an
:class:`~framework.llm.usage.LLMAttempt`. A 429, a 5xx, a timeout, a lost connection or a
malformed reply is tried again after the wait the endpoint asked for, else after an
exponential backoff with jitter; anything else (a wrong key, a bad request) fails at once.
The SDKs' own retries are off, so no attempt goes unseen. A call that fails for good raises
:class:`~framework.errors.LLMCallError` with its attempts and a one-line message naming the
model and the endpoint; the API key is never in it.
"""

from __future__ import annotations

import logging
import time
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import ModuleType, TracebackType
from typing import Any, ClassVar, Self

import anyio

from framework.errors import LLMCallError
from framework.llm.pricing import Pricing
from framework.llm.provider import LLMResponse, Message, Tool
from framework.llm.retries import LLMRetryPolicy, Throttle, retry_after
from framework.llm.usage import LLMAttempt

__all__ = ["Answer", "Failure", "MalformedReply", "RemoteProvider", "Request", "sdk_failure"]

logger = logging.getLogger("framework.llm")

_NO_ANSWER = "no usage was reported: the attempt ended without a complete answer"
_NO_USAGE = "the endpoint reported no usage for this answer"
_RETRYABLE_STATUS = frozenset({408, 409, 429})
_SECRET_MIN_LENGTH = 8


@dataclass(frozen=True)
class Request:
    """One call, as the attempt loop hands it to :meth:`RemoteProvider._send`."""

    messages: list[Message]
    system: str | None
    model: str
    max_tokens: int | None
    json_mode: bool = False
    tools: list[Tool] = field(default_factory=list)


@dataclass(frozen=True)
class Answer:
    """What one successful request returned: the reply (text, tool calls, tokens, model,
    stop reason) and the response's headers and request id. ``usage_reported`` is false
    when the endpoint sent no usage: the tokens are then unknown, and so is the cost."""

    response: LLMResponse
    headers: Mapping[str, str] = field(default_factory=dict)
    request_id: str | None = None
    usage_reported: bool = True


@dataclass(frozen=True)
class Failure:
    """Why one request failed, and whether another attempt may succeed."""

    message: str
    retryable: bool
    status_code: int | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    request_id: str | None = None


class MalformedReply(Exception):
    """Raised by :meth:`RemoteProvider._send` for a response it cannot use; retried.

    ``answer``: what could be read of it (its usage is what the attempt is charged), when
    the body was read but its content is unusable (tool arguments that are not JSON, say).
    """

    def __init__(self, message: str, answer: Answer | None = None) -> None:
        super().__init__(message)
        self.answer = answer


def sdk_failure(exc: BaseException, sdk: ModuleType) -> Failure | None:
    """The failure an exception of the ``openai`` or ``anthropic`` SDK (``sdk``) stands
    for, or ``None`` when it is not one of their request errors."""
    if isinstance(exc, sdk.APIStatusError):
        status = int(exc.status_code)
        headers = {name.lower(): value for name, value in exc.response.headers.items()}
        retryable = status in _RETRYABLE_STATUS or status >= 500
        # The endpoint may say itself whether a retry can help (the SDKs obey it too).
        should_retry = headers.get("x-should-retry", "").lower()
        if should_retry in ("true", "false"):
            retryable = should_retry == "true"
        return Failure(
            f"HTTP {status}: {_server_message(exc)}",
            retryable,
            status,
            headers,
            headers.get("x-request-id") or headers.get("request-id"),
        )
    if isinstance(exc, sdk.APITimeoutError):
        return Failure("the request timed out", True)
    if isinstance(exc, sdk.APIConnectionError):
        return Failure(f"could not connect: {exc.__cause__ or exc}", True)
    if isinstance(exc, sdk.APIResponseValidationError):
        return Failure(f"malformed reply: {exc}", True, getattr(exc, "status_code", None))
    return None


def _server_message(exc: Any) -> str:
    body = getattr(exc, "body", None)
    if isinstance(body, Mapping):
        error = body.get("error", body)
        if isinstance(error, Mapping) and isinstance(error.get("message"), str):
            return str(error["message"])
    return str(getattr(exc, "message", exc))


class RemoteProvider(ABC):
    """A provider of a remote endpoint (see the module docs).

    ``model`` is the model asked when a node names none; ``endpoint`` the base URL; ``retry``
    the attempts and waits; ``prices`` a :class:`~framework.llm.pricing.Pricing` (default:
    ``genai-prices``); ``throttle`` is shared by every call of this provider.
    """

    provider_id: ClassVar[str]
    """The provider's id in ``genai-prices`` (``openai``, ``anthropic``)."""
    label: ClassVar[str]
    """How messages name the provider."""
    default_endpoint: ClassVar[str]
    """The provider's own base URL; other endpoints are priced by their URL."""

    def __init__(
        self,
        *,
        model: str,
        endpoint: str,
        secrets: Sequence[str | None] = (),
        retry: LLMRetryPolicy | None = None,
        prices: Pricing | Mapping[str, Any] | None = None,
    ) -> None:
        self.model = model
        self.endpoint = endpoint.rstrip("/")
        self.retry = retry or LLMRetryPolicy()
        self.pricing = prices if isinstance(prices, Pricing) else Pricing(prices)
        self.throttle = Throttle()
        self._secrets = [s for s in secrets if s and len(s) >= _SECRET_MIN_LENGTH]
        self._unpriced_warned: set[str] = set()

    async def complete(
        self,
        messages: list[Message],
        *,
        system: str | None = None,
        model: str | None = None,
        max_tokens: int | None = None,
        json_mode: bool = False,
    ) -> LLMResponse:
        request = Request(list(messages), system, model or self.model, max_tokens, json_mode)
        return await self._call(request)

    async def complete_with_tools(
        self,
        messages: list[Message],
        tools: list[Tool],
        *,
        system: str | None = None,
        model: str | None = None,
        max_tokens: int | None = None,
    ) -> LLMResponse:
        request = Request(
            list(messages), system, model or self.model, max_tokens, tools=list(tools)
        )
        return await self._call(request)

    @abstractmethod
    async def aclose(self) -> None:
        """Close the provider's connections (its SDK client)."""

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    @abstractmethod
    async def _send(self, request: Request) -> Answer:
        """Send one request; raise the SDK's error or :class:`MalformedReply` on failure."""

    @abstractmethod
    def _failure(self, exc: Exception) -> Failure | None:
        """The failure ``exc`` stands for (``None``: a bug, not a failed request)."""

    async def _call(self, request: Request) -> LLMResponse:
        attempts: list[LLMAttempt] = []
        policy = self.retry
        for number in range(1, policy.max_attempts + 1):
            await self.throttle.wait()
            started = time.perf_counter()
            try:
                answer = await self._send(request)
            except Exception as exc:
                failure = self._as_failure(exc)
                read = exc.answer if isinstance(exc, MalformedReply) else None
                attempts.append(self._failed_attempt(request, failure, started, read))
                self.throttle.observe(failure.headers)
                delay = policy.delay(number, retry_after(failure.headers))
                if failure.status_code == 429:
                    self.throttle.hold(delay)
                if not failure.retryable or number == policy.max_attempts:
                    raise self._error(request, failure, number, attempts) from None
                logger.warning(
                    "retry %d/%d of %s model %r at %s in %.3g s: %s",
                    number,
                    policy.max_attempts - 1,
                    self.label,
                    request.model,
                    self.endpoint,
                    delay,
                    self._redacted(failure.message),
                )
                await anyio.sleep(delay)
                continue
            self.throttle.observe(answer.headers)
            attempts.append(self._answered_attempt(request, answer, started))
            final = attempts[-1]
            return answer.response.model_copy(
                update={
                    "model": final.model,
                    "cost": final.cost,
                    "request_id": final.request_id,
                    "latency_ms": final.latency_ms,
                    "attempts": attempts,
                }
            )
        raise AssertionError("unreachable: the last attempt returns or raises")

    def _as_failure(self, exc: Exception) -> Failure:
        if isinstance(exc, MalformedReply):
            return Failure(f"malformed reply: {exc}", True)
        failure = self._failure(exc)
        if failure is None:
            raise exc
        return failure

    def _answered_attempt(self, request: Request, answer: Answer, started: float) -> LLMAttempt:
        reply = answer.response
        model = reply.model or request.model
        cost, note = self._priced(model, answer)
        return LLMAttempt(
            model=model,
            endpoint=self.endpoint,
            request_id=answer.request_id,
            input_tokens=reply.input_tokens,
            output_tokens=reply.output_tokens,
            cached_tokens=reply.cached_tokens,
            cache_write_tokens=reply.cache_write_tokens,
            latency_ms=_ms(started),
            cost=cost,
            cost_note=note,
        )

    def _priced(self, model: str, answer: Answer) -> tuple[float | None, str | None]:
        if not answer.usage_reported:
            return None, _NO_USAGE
        reply = answer.response
        endpoint = None if self.endpoint == self.default_endpoint else self.endpoint
        cost, note = self.pricing.cost(
            self.provider_id,
            model,
            reply.input_tokens,
            reply.output_tokens,
            reply.cached_tokens,
            cache_write_tokens=reply.cache_write_tokens,
            endpoint=endpoint,
        )
        if cost is None and model not in self._unpriced_warned:
            self._unpriced_warned.add(model)
            logger.warning("the cost of %s model %r is unknown: %s", self.label, model, note)
        return cost, note

    def _failed_attempt(
        self, request: Request, failure: Failure, started: float, read: Answer | None = None
    ) -> LLMAttempt:
        error = self._redacted(failure.message)
        if read is not None:
            attempt = self._answered_attempt(request, read, started)
            return attempt.model_copy(update={"error": error})
        # An endpoint does not bill a request it refused with a status; one that timed out
        # or broke off may have been processed, and its usage was never reported.
        refused = failure.status_code is not None
        return LLMAttempt(
            model=request.model,
            endpoint=self.endpoint,
            request_id=failure.request_id,
            latency_ms=_ms(started),
            cost=0.0 if refused else None,
            cost_note=None if refused else _NO_ANSWER,
            status_code=failure.status_code,
            error=error,
        )

    def _error(
        self, request: Request, failure: Failure, number: int, attempts: list[LLMAttempt]
    ) -> LLMCallError:
        tried = f" after {number} attempts" if number > 1 else ""
        message = (
            f"{self.label} model {request.model!r} at {self.endpoint} failed{tried}: "
            f"{failure.message}"
        )
        if failure.status_code in (401, 403):
            message += "; check the API key and that it may use this model"
        one_line = " ".join(self._redacted(message).split())
        return LLMCallError(one_line, attempts, retryable=failure.retryable)

    def _redacted(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text


def _ms(started: float) -> int:
    return int((time.perf_counter() - started) * 1000)
