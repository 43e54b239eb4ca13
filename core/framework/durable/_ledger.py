"""The effects ledger behind ``NodeContext.effect`` and ``StepContext.effect``: side
effects that happen once per run.

A node (or a plan step's function) that sends a mail or charges a card does it through
``await ctx.effect(key, fn, ...)``. With a checkpoint manager the effect is recorded
``started`` in storage before ``fn`` is called and ``completed`` with its result afterwards
(``failed`` with the error if ``fn`` raised). When the node runs again — after a crash, a
retry or a resume — a completed effect returns its recorded result and ``fn`` is not
called. One that started but never recorded an outcome is *in doubt*: the process died
during it, so it may or may not have happened. By default it is called again with the same
idempotency key, so a service that deduplicates on that key does it at most once; with
``in_doubt_effects="raise"`` the node fails with
:class:`~framework.errors.InDoubtEffectError` instead, for a human to check.

Keys are scoped to the node (``f"{node_id}:{key}"``); a node visited again in a loop gets
fresh effects (``f"{node_id}:{key}@{visit}"`` from its second visit on), so a loop does
its work on every lap while a re-run of the same visit does not repeat it. A plan step is
accepted at most once per run, so its keys are ``f"{step_id}:{key}"`` for every attempt:
a retry of the step gets the result its earlier attempt recorded.

Every ledger write of a durable run carries the run's fencing token. A writer whose lease
was taken over while it was inside an effect (paused, stalled) cannot record the effect's
start or outcome: the storage refuses with :class:`~framework.errors.FencedOutError` and
stores nothing, the ledger tells its run (which stops, as after a fenced checkpoint) and
re-raises, and the run's new owner records the effect as its own.
"""

from __future__ import annotations

import asyncio
import hashlib
import inspect
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from framework._callables import call_sync_or_async
from framework.errors import FencedOutError, InDoubtEffectError
from framework.schemas.config import InDoubtPolicy
from framework.schemas.effect import EffectRecord, EffectStatus
from framework.schemas.ids import validate_key
from framework.storage.backend import StorageBackend

logger = logging.getLogger("framework.effects")

EFFECT_KEY_MAX_LENGTH = 300


def effect_key(node_id: str, key: str, visit: int = 1) -> str:
    """The ledger key of effect ``key`` of ``node_id`` in the node's ``visit``-th visit.

    Raises :class:`~framework.errors.InvalidIdError` for a key that is not a safe id.
    """
    if not isinstance(key, str) or not key:
        raise TypeError(f"an effect key must be a non-empty string, not {key!r}")
    scoped = f"{node_id}:{key}" if visit <= 1 else f"{node_id}:{key}@{visit}"
    return validate_key(scoped, "effect key", EFFECT_KEY_MAX_LENGTH)


def idempotency_key(run_id: str, node_id: str, key: str) -> str:
    """A stable key for one effect: the same run, node and (scoped) key give the same value."""
    digest = hashlib.sha256("\x00".join((run_id, node_id, key)).encode("utf-8")).hexdigest()
    return f"idem-{digest[:40]}"


def require_event_loop(owner: str) -> None:
    """Refuse an effect started outside the event loop's thread, naming the fix.

    A synchronous node or step function runs in a worker thread, where the coroutine
    ``ctx.effect`` returns could never be awaited: the effect would silently not happen.
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        raise TypeError(
            f"ctx.effect was called by the synchronous function of {owner!r}; effects must "
            "be awaited, so declare that function `async def` and use `await ctx.effect(...)`"
        ) from None


async def call_effect(
    fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any], idempotency: str
) -> Any:
    """Call ``fn`` (sync in a worker thread, or async), passing ``idempotency_key`` if it
    takes one (a parameter of that name or ``**kwargs``) and the caller did not."""
    if "idempotency_key" not in kwargs and _accepts_idempotency_key(fn):
        kwargs = {**kwargs, "idempotency_key": idempotency}
    return await call_sync_or_async(fn, *args, **kwargs)


async def perform_effect(
    ledger: EffectLedger | None,
    run_id: str,
    owner_id: str,
    key: str,
    fn: Callable[..., Any],
    args: tuple[Any, ...] = (),
    kwargs: dict[str, Any] | None = None,
    *,
    visit: int = 1,
) -> Any:
    """Effect ``key`` of ``owner_id`` (a node or a plan step) in run ``run_id``.

    The one implementation behind every context's ``effect``: with a ``ledger`` (a
    checkpointed run) see :meth:`EffectLedger.perform`; without one ``fn`` is simply
    called, still given the effect's ``idempotency_key`` when it takes one.
    """
    if ledger is not None:
        return await ledger.perform(owner_id, key, fn, args, kwargs, visit=visit)
    scoped = effect_key(owner_id, key, visit)
    idempotency = idempotency_key(run_id, owner_id, scoped)
    return await call_effect(fn, args, dict(kwargs or {}), idempotency)


class EffectLedger:
    """The effects of one run, recorded through the storage contract's effect methods.

    ``fencing_token``: the token of the lease its run holds; every write passes it, so the
    storage refuses the writes of a writer whose lease was taken over. ``on_fenced`` is
    called with the ``FencedOutError`` of such a refused write before it is re-raised;
    from then on every node counts as :meth:`refused`, since no attempt can record anything.
    """

    def __init__(
        self,
        storage: StorageBackend,
        run_id: str,
        in_doubt: InDoubtPolicy = InDoubtPolicy.RETRY,
        *,
        fencing_token: int | None = None,
        on_fenced: Callable[[FencedOutError], None] | None = None,
    ) -> None:
        self.storage = storage
        self.run_id = run_id
        self.in_doubt = InDoubtPolicy(in_doubt)
        self.fencing_token = fencing_token
        self._on_fenced = on_fenced
        self.fenced_out: FencedOutError | None = None
        self._refused: set[str] = set()

    async def perform(
        self,
        node_id: str,
        key: str,
        fn: Callable[..., Any],
        args: tuple[Any, ...] = (),
        kwargs: dict[str, Any] | None = None,
        *,
        visit: int = 1,
    ) -> Any:
        """Do effect ``key`` of ``node_id`` at most once per run, and return its result.

        Completed before: the recorded result, ``fn`` not called. In doubt: ``fn`` again
        with the same idempotency key, or ``InDoubtEffectError`` under the ``raise``
        policy. Otherwise ``fn`` is called; its exception is recorded and re-raised. A
        result the codec cannot store raises ``CheckpointEncodeError`` and leaves the
        effect in doubt (it did happen, but that could not be recorded). A write refused
        because the run was taken over raises ``FencedOutError`` (nothing was recorded).
        """
        scoped = effect_key(node_id, key, visit)
        idem = idempotency_key(self.run_id, node_id, scoped)
        record = await self.storage.aget_effect(self.run_id, scoped)
        if record is not None and record.status is EffectStatus.COMPLETED:
            return record.result
        if record is not None and record.status is EffectStatus.STARTED:
            if self.in_doubt is InDoubtPolicy.RAISE:
                self._refused.add(node_id)
                raise InDoubtEffectError(
                    f"effect {scoped!r} of run {self.run_id!r} started "
                    f"{record.attempts} time(s) but never recorded an outcome, so it may "
                    "or may not have happened; check it (idempotency key "
                    f"{record.idempotency_key!r}), record its outcome with the storage's "
                    "complete_effect / fail_effect, or use in_doubt_effects='retry' to call "
                    "it again with the same idempotency key"
                )
            logger.warning(
                "effect %r of run %r is in doubt (started %d time(s), no outcome recorded); "
                "calling it again with idempotency key %r",
                scoped,
                self.run_id,
                record.attempts,
                record.idempotency_key,
            )
        token = self.fencing_token
        started = await self._fenced(
            self.storage.astart_effect(self.run_id, node_id, scoped, idem, fencing_token=token)
        )
        if started.status is EffectStatus.COMPLETED:
            return started.result
        try:
            result = await call_effect(fn, args, dict(kwargs or {}), started.idempotency_key)
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"
            await self._fenced(
                self.storage.afail_effect(self.run_id, scoped, error, fencing_token=token)
            )
            raise
        await self._fenced(
            self.storage.acomplete_effect(self.run_id, scoped, result, fencing_token=token)
        )
        return result

    async def record(self, node_id: str, key: str, result: Any) -> None:
        """Record ``result`` as completed effect ``key`` of ``node_id``: a fact of the run
        (what a model call cost, say) rather than something to do once."""
        scoped = effect_key(node_id, key)
        idem = idempotency_key(self.run_id, node_id, scoped)
        token = self.fencing_token
        await self._fenced(
            self.storage.astart_effect(self.run_id, node_id, scoped, idem, fencing_token=token)
        )
        await self._fenced(
            self.storage.acomplete_effect(self.run_id, scoped, result, fencing_token=token)
        )

    async def _fenced(self, write: Awaitable[EffectRecord]) -> EffectRecord:
        """``write``'s record; a ``FencedOutError`` is reported to ``on_fenced`` first."""
        try:
            return await write
        except FencedOutError as exc:
            self.fenced_out = exc
            if self._on_fenced is not None:
                self._on_fenced(exc)
            raise

    def refused(self, node_id: str) -> bool:
        """Whether retrying ``node_id`` is futile: an in-doubt effect of it was refused, or
        a write of the ledger was fenced out (the run was taken over)."""
        return self.fenced_out is not None or node_id in self._refused


def _accepts_idempotency_key(fn: Callable[..., Any]) -> bool:
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False
    return "idempotency_key" in params or any(
        p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()
    )
