"""What the view commands read of a run, from storage alone: any process may be running it.

A :class:`Standing` is one run as one read found it: its record, a pause or cancel request
not honoured yet, and for a batch its :class:`~framework.batch.BatchStatus` (counts, rate,
ETA, failed items), for a graph or plan run its latest valid checkpoint (what completed and
what runs next). Damage met on the way — a checkpoint skipped because it fails its checksum,
one that cannot be revived — is kept as sentences, never raised: a run on a damaged store
is still shown, with what is wrong (``agentgraph verify`` tells the rest).

A run or checkpoint id storage does not hold raises
:class:`~framework.errors.RunNotFoundError` with a message naming the storage and the
command that lists what it does hold; the view commands exit 3 on it.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime

from framework.batch.progress import BatchStatus, read_status
from framework.cli.run_filters import RunSelection, selected_runs
from framework.cli.storage_option import pasteable
from framework.durable import CheckpointManager, RunVerification
from framework.errors import CheckpointError, RunNotFoundError
from framework.schemas.checkpoint import Checkpoint, CheckpointMetadata, ExecutorType
from framework.schemas.control import ControlSignal
from framework.schemas.item import ItemCounts
from framework.schemas.run import RunRecord, RunStatus
from framework.settings import default_storage_url
from framework.storage.backend import StorageBackend

__all__ = ["ENDED", "Reader", "RunPage", "Standing"]

ENDED = frozenset({RunStatus.COMPLETED, RunStatus.FAILED, RunStatus.CANCELLED, RunStatus.PAUSED})
"""Statuses a run keeps until someone acts: nothing changes by itself any more."""

# The storage logs each damaged checkpoint it skips, as well as warning about it; the
# warning is what is shown, once, so the log line is held back while reading.
_STORAGE_LOGGER = "framework.storage"


@dataclass(frozen=True)
class Standing:
    """How one run stands, as one read of storage found it."""

    record: RunRecord
    control: ControlSignal | None
    """A pause or cancel request the run has not honoured yet."""
    checkpoint: Checkpoint | None = None
    """A graph or plan run's latest valid checkpoint (``None``: none yet, or a batch)."""
    batch: BatchStatus | None = None
    """A batch's status (``None`` for other runs)."""
    damage: tuple[str, ...] = ()
    """What was found damaged while reading, as sentences."""

    @property
    def run_id(self) -> str:
        return self.record.run_id

    @property
    def status(self) -> RunStatus:
        return self.batch.status if self.batch is not None else self.record.status

    @property
    def ended(self) -> bool:
        """Nothing changes by itself any more: completed, failed, cancelled or paused."""
        return self.status in ENDED

    def abandoned(self, now: datetime | None = None) -> bool:
        """Running, but no live process holds its lease: the one running it has gone."""
        return self.status is RunStatus.RUNNING and not self.record.has_live_lease(now)


@dataclass(frozen=True)
class RunPage:
    """Some of the runs a selection matches, newest first, with how many match in all."""

    records: list[RunRecord]
    matching: int
    counts: dict[str, ItemCounts]
    """The item counts of the batches among ``records``, by run id."""


class Reader:
    """Reads the runs of ``storage`` for the view commands.

    ``url`` is the ``--storage`` given (``None``: the default storage), named in messages
    and in the commands they suggest, so that those run as printed.
    """

    def __init__(self, storage: StorageBackend, url: str | None) -> None:
        self.storage = storage
        self.url = url
        self.damage: list[str] = []
        """Everything found damaged by this reader's reads so far, as sentences."""

    # --- runs ---------------------------------------------------------------------------

    async def record(self, run_id: str) -> RunRecord:
        """The run's record; ``RunNotFoundError`` saying where to look when there is none."""
        record = await self.storage.aget_run(run_id)
        if record is None:
            where = self.url or default_storage_url()
            raise RunNotFoundError(
                f"no run {run_id!r} in storage {where}; list its runs with: "
                + pasteable("runs", storage=self.url),
                run_id=run_id,
            )
        return record

    async def page(self, selection: RunSelection, *, limit: int | None, offset: int) -> RunPage:
        """The runs ``selection`` matches, ``limit`` of them after ``offset``, with the item
        counts of the batches among them (one read each, kept with the ledger)."""
        matching = await selected_runs(self.storage, selection)
        end = None if limit is None else offset + limit
        shown = matching[offset:end]
        counts = {
            record.run_id: await self.storage.aitem_counts(record.run_id)
            for record in shown
            if record.executor_type is ExecutorType.BATCH
        }
        return RunPage(records=shown, matching=len(matching), counts=counts)

    async def standing(self, run_id: str) -> Standing:
        """How the run stands now (see :class:`Standing`)."""
        record = await self.record(run_id)
        control = await self.storage.aget_control(run_id)
        seen = len(self.damage)
        batch: BatchStatus | None = None
        checkpoint: Checkpoint | None = None
        with _damage_kept(self.damage):
            if record.executor_type is ExecutorType.BATCH:
                batch = await read_status(self.storage, run_id)
                if batch is None:
                    raise RunNotFoundError(f"run {run_id!r} was deleted while it was read")
            else:
                checkpoint = await self._latest(run_id)
        found = tuple(self.damage[seen:])
        return Standing(record, control, checkpoint=checkpoint, batch=batch, damage=found)

    # --- checkpoints --------------------------------------------------------------------

    async def checkpoints(self, run_id: str) -> list[CheckpointMetadata]:
        """The run's checkpoints, oldest first (``RunNotFoundError`` for an unknown run)."""
        await self.record(run_id)
        return await self.storage.alist_checkpoints(run_id)

    async def checkpoint(self, run_id: str, ref: str | None = None) -> Checkpoint:
        """The checkpoint ``ref`` names: its id, its seq (``3``), or ``latest`` (``None``,
        the latest valid one: newer damaged ones skipped are added to :attr:`damage`).
        ``RunNotFoundError`` when the run has no such checkpoint; a damaged one raises its
        ``CorruptCheckpointError``."""
        await self.record(run_id)
        if ref is None or ref == "latest":
            seen = len(self.damage)
            with _damage_kept(self.damage):
                latest = await self.storage.aload_latest_checkpoint(run_id)
            if latest is None:
                skipped = len(self.damage) > seen
                raise self._no_checkpoint(run_id, "that loads intact" if skipped else "yet")
            return latest
        checkpoint_id = ref
        if ref.isdigit():
            listed = await self.storage.alist_checkpoints(run_id)
            numbered = [meta.id for meta in listed if meta.seq == int(ref)]
            if not numbered:
                raise self._no_checkpoint(run_id, f"numbered {ref}")
            checkpoint_id = numbered[0]
        found = await self.storage.aload_checkpoint(run_id, checkpoint_id)
        if found is None:
            raise self._no_checkpoint(run_id, repr(checkpoint_id))
        return found

    async def verification(self, run_id: str) -> RunVerification:
        """What :meth:`CheckpointManager.averify_run` finds for the run."""
        await self.record(run_id)
        return await CheckpointManager(self.storage).averify_run(run_id)

    async def _latest(self, run_id: str) -> Checkpoint | None:
        try:
            return await self.storage.aload_latest_checkpoint(run_id)
        except CheckpointError as exc:
            self.damage.append(f"its latest checkpoint cannot be read: {exc}")
            return None

    def _no_checkpoint(self, run_id: str, which: str) -> RunNotFoundError:
        listing = pasteable("checkpoints", run_id, storage=self.url)
        return RunNotFoundError(
            f"run {run_id!r} has no checkpoint {which}; list its checkpoints with: {listing}",
            run_id=run_id,
        )


@contextmanager
def _damage_kept(damage: list[str]) -> Iterator[None]:
    """Collect the warnings storage gives while reading (a damaged checkpoint skipped) into
    ``damage`` instead of printing them as Python warnings."""
    logger = logging.getLogger(_STORAGE_LOGGER)
    was_disabled = logger.disabled
    logger.disabled = True
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            yield
    finally:
        logger.disabled = was_disabled
    said = (" ".join(str(warning.message).split()) for warning in caught)
    damage.extend(problem for problem in dict.fromkeys(said) if problem not in damage)
