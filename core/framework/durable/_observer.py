"""The one interface an executor's walk reports to, and the run that writes nothing.

An executor walks its run (nodes of a graph, steps of a plan) and reports to a
:class:`RunObserver` at fixed points: :meth:`~RunObserver.boundary` (the state between
nodes), :meth:`~RunObserver.check_control` (pause / cancel requests),
:meth:`~RunObserver.node_done` (a node succeeded and what runs next is decided) and
:meth:`~RunObserver.stopped` (how the walk ended). A durable run
(:class:`~framework.durable.DurableRun`) checkpoints at those points; :class:`NullRun`, what
an executor without a checkpoint manager reports to, does nothing at all. So a durable run
and a plain one are the same walk.

What a run's state is differs per executor; a :class:`RunAdapter` says how it starts,
resumes, finishes and becomes a checkpoint (see :func:`~framework.durable.run_durably`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, Protocol, TypeVar

from framework.durable._items import ItemLedger
from framework.durable._ledger import EffectLedger
from framework.schemas.checkpoint import Checkpoint
from framework.schemas.control import ControlAction
from framework.schemas.run import RunBudget, RunStatus

S = TypeVar("S")
S_contra = TypeVar("S_contra", contravariant=True)
R_co = TypeVar("R_co", covariant=True)
T = TypeVar("T")


@dataclass(frozen=True)
class Stop:
    """Why a run stops between nodes: a pause (resumable) or a cancel (final)."""

    action: ControlAction
    reason: str


class RunObserver(Protocol[S_contra]):
    """What an executor's walk reports to, with its state ``S`` (see the module docs)."""

    @property
    def run_id(self) -> str | None:
        """The run's id in storage; ``None`` for a run nothing names yet."""

    @property
    def budget(self) -> RunBudget:
        """The run's spending limits."""

    @property
    def effects(self) -> EffectLedger | None:
        """The run's effects ledger; ``None`` when nothing is recorded."""

    @property
    def items(self) -> ItemLedger | None:
        """The run's item ledger (a batch's items); ``None`` when nothing is recorded."""

    @property
    def counted_until(self) -> datetime | None:
        """Until when the state the run starts from counts what the run spent: the time of
        the checkpoint it continues from, or of its start over (``force_restart``);
        ``None`` for a run nothing of which was stored before (there is nothing to count)."""

    def boundary(self, state: S_contra, after: str | None) -> None:
        """The run is whole between two nodes, last after ``after`` (``None``: none yet)."""

    async def check_control(self) -> Stop | None:
        """A pending pause or cancel request, if any (cancel wins)."""

    async def node_done(
        self,
        state: S_contra,
        after: str | None,
        *,
        step: int,
        requests: list[dict[str, Any]] | None = None,
        stopping: bool = False,
    ) -> None:
        """Node ``after`` succeeded, it was step ``step``, and what runs next is decided.

        ``requests``: the checkpoints the node asked for; ``stopping``: the run stops right
        after this node (its ending is reported by :meth:`stopped`).
        """

    async def stopped(
        self, state: S_contra, after: str | None, status: RunStatus, reason: str
    ) -> None:
        """The walk ended with ``status`` (completed, paused, cancelled or failed)."""


class RunAdapter(Protocol[S, R_co]):
    """What one executor's checkpoint holds: how its state ``S`` starts, resumes, finishes
    (with result ``R``) and becomes a checkpoint."""

    def start(self, input_data: dict[str, Any], run: RunObserver[S]) -> S:
        """The state of a new run (or one with no checkpoint yet) given ``input_data``."""

    def resume(self, checkpoint: Checkpoint, run: RunObserver[S]) -> S:
        """The state the run continues in from ``checkpoint``."""

    def finished(self, checkpoint: Checkpoint) -> R_co:
        """The result of a run that completed with final checkpoint ``checkpoint``."""

    def snapshot(self, state: S, after: str | None) -> Checkpoint:
        """``state`` as an unnumbered checkpoint taken after node ``after``."""


class NullRun(Generic[S]):
    """A run that writes nothing: what an executor without a checkpoint manager reports to.

    It is never finished, never has a checkpoint, honours no control request and records no
    effect: the walk runs exactly as it would with no storage at all.
    """

    checkpoint: Checkpoint | None = None
    counted_until: datetime | None = None
    finished = False
    effects: EffectLedger | None = None
    items: ItemLedger | None = None

    def __init__(self, run_id: str | None = None, budget: RunBudget | None = None) -> None:
        self.run_id = run_id
        self.budget = budget if budget is not None else RunBudget()

    def starting_input(self, input_data: Mapping[str, Any] | None) -> dict[str, Any]:
        """The input the run starts with: the one given."""
        return dict(input_data or {})

    @asynccontextmanager
    async def released_on_error(self) -> AsyncIterator[None]:
        """Nothing is held, so nothing is given back."""
        yield

    async def run(self, body: Callable[[], Awaitable[T]], *, start: S | None = None) -> T:
        """Run ``body``; ``start`` is not written anywhere."""
        return await body()

    async def mark_completed(self) -> None:
        """Nothing is stored, so nothing is marked."""

    def boundary(self, state: S, after: str | None) -> None:
        """Not recorded."""

    async def check_control(self) -> Stop | None:
        """No request can reach a run that is not stored."""
        return None

    async def node_done(
        self,
        state: S,
        after: str | None,
        *,
        step: int,
        requests: list[dict[str, Any]] | None = None,
        stopping: bool = False,
    ) -> None:
        """Not recorded."""

    async def stopped(self, state: S, after: str | None, status: RunStatus, reason: str) -> None:
        """Not recorded."""
