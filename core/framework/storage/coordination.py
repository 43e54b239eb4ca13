"""The coordination groups of the storage contract: leases, control signals and effects.

:class:`~framework.storage.backend.StorageBackend` inherits these groups; they live here so
each contract module stays readable. Like every group, each async method has a synchronous
twin of the same name without the ``a`` prefix. Run ids, node ids and effect keys are
validated (``InvalidIdError``) before anything is read or written.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

from framework.schemas.control import ControlAction, ControlSignal
from framework.schemas.effect import EffectRecord
from framework.schemas.lease import Lease
from framework.storage.bridge import call_sync

__all__ = ["DEFAULT_LEASE_TTL", "CoordinationContract"]

DEFAULT_LEASE_TTL = 30.0


class CoordinationContract(ABC):
    """Who may write a run, what it has been asked to do, and what it has done outside."""

    # --- leases ---------------------------------------------------------------------------

    @abstractmethod
    async def aclaim_run(
        self, run_id: str, owner_id: str, *, ttl_seconds: float = DEFAULT_LEASE_TTL
    ) -> Lease:
        """Make ``owner_id`` the run's only writer for ``ttl_seconds`` and return its lease.

        Atomic, also across processes. The run must exist (``StorageError`` otherwise). The
        claim succeeds when the run has no lease, its lease has expired (by this machine's
        UTC clock), ``owner_id`` already holds it, or its owner is on this host and its
        process is gone (:func:`~framework.schemas.lease.owner_is_alive`); then the run's
        fencing token grows by one (every claim, a re-claim by the holder too) and the lease
        expires ``ttl_seconds`` from now. Otherwise ``LeaseHeldError`` names the owner and
        the expiry.
        """

    @abstractmethod
    async def arenew_lease(self, lease: Lease, *, ttl_seconds: float = DEFAULT_LEASE_TTL) -> Lease:
        """Extend a held lease to ``ttl_seconds`` from now and return it.

        ``FencedOutError`` if the run no longer has this lease (another owner claimed it,
        it was released, or the run was deleted): the caller must stop writing.
        """

    @abstractmethod
    async def arelease_lease(self, lease: Lease) -> None:
        """Give the run up: clear its owner and expiry if ``lease`` is still the current one.

        The fencing token stays, so a later claim still gets a higher one. A lease that was
        lost already (or a deleted run) is a no-op, never an error.
        """

    # --- control signals ------------------------------------------------------------------

    @abstractmethod
    async def arequest_control(
        self, run_id: str, action: ControlAction, reason: str = ""
    ) -> ControlSignal:
        """Store a pause or cancel request for the run and return the pending signal.

        Stored, so a process other than the one executing the run may send it. Cancel wins
        over pause: a pause requested while a cancel is pending leaves the cancel (and is
        what is returned); any other request replaces the pending one. ``StorageError`` if
        the run does not exist.
        """

    @abstractmethod
    async def aget_control(self, run_id: str) -> ControlSignal | None:
        """The run's pending request, or ``None``."""

    @abstractmethod
    async def aclear_control(self, run_id: str, *, only: ControlSignal | None = None) -> None:
        """Forget the run's pending request (none pending: nothing happens).

        With ``only``, clear it only if it is still that signal, so a request that arrived
        after the caller read ``only`` (a cancel after the pause being honoured) is kept.
        """

    # --- effects --------------------------------------------------------------------------

    @abstractmethod
    async def astart_effect(
        self, run_id: str, node_id: str, key: str, idempotency_key: str
    ) -> EffectRecord:
        """Record that the effect ``key`` of the run is about to be performed.

        A new key gets a ``started`` row with ``attempts=1``. An existing one that is not
        completed is started again: ``attempts`` grows by one, status ``started``, its
        error cleared (``node_id``, ``idempotency_key`` and ``started_at`` stay as first
        recorded). A completed one is returned unchanged — the caller checks ``status`` and
        uses the recorded result. ``key`` is validated as an id of up to 300 characters
        (``f"{node_id}:{user_key}"``). ``StorageError`` if the run does not exist.
        """

    @abstractmethod
    async def acomplete_effect(self, run_id: str, key: str, result: Any) -> EffectRecord:
        """Record the effect's result (any value the codec encodes; revived exactly).

        ``StorageError`` if the effect was never started or is already completed; an
        unencodable result raises ``CheckpointEncodeError`` naming it, and nothing changes.
        """

    @abstractmethod
    async def afail_effect(self, run_id: str, key: str, error: str) -> EffectRecord:
        """Record that the effect failed, with ``error`` as text.

        ``StorageError`` if it was never started or is already completed.
        """

    @abstractmethod
    async def aget_effect(self, run_id: str, key: str) -> EffectRecord | None:
        """The effect's row, or ``None``."""

    @abstractmethod
    async def alist_effects(self, run_id: str) -> list[EffectRecord]:
        """Every effect of the run, in the order they were first started."""

    # --- synchronous twins ----------------------------------------------------------------

    def claim_run(
        self, run_id: str, owner_id: str, *, ttl_seconds: float = DEFAULT_LEASE_TTL
    ) -> Lease:
        return call_sync(self.aclaim_run, run_id, owner_id, ttl_seconds=ttl_seconds)

    def renew_lease(self, lease: Lease, *, ttl_seconds: float = DEFAULT_LEASE_TTL) -> Lease:
        return call_sync(self.arenew_lease, lease, ttl_seconds=ttl_seconds)

    def release_lease(self, lease: Lease) -> None:
        call_sync(self.arelease_lease, lease)

    def request_control(
        self, run_id: str, action: ControlAction, reason: str = ""
    ) -> ControlSignal:
        return call_sync(self.arequest_control, run_id, action, reason)

    def get_control(self, run_id: str) -> ControlSignal | None:
        return call_sync(self.aget_control, run_id)

    def clear_control(self, run_id: str, *, only: ControlSignal | None = None) -> None:
        call_sync(self.aclear_control, run_id, only=only)

    def start_effect(
        self, run_id: str, node_id: str, key: str, idempotency_key: str
    ) -> EffectRecord:
        return call_sync(self.astart_effect, run_id, node_id, key, idempotency_key)

    def complete_effect(self, run_id: str, key: str, result: Any) -> EffectRecord:
        return call_sync(self.acomplete_effect, run_id, key, result)

    def fail_effect(self, run_id: str, key: str, error: str) -> EffectRecord:
        return call_sync(self.afail_effect, run_id, key, error)

    def get_effect(self, run_id: str, key: str) -> EffectRecord | None:
        return call_sync(self.aget_effect, run_id, key)

    def list_effects(self, run_id: str) -> list[EffectRecord]:
        return call_sync(self.alist_effects, run_id)
