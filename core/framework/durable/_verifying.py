"""Verifying a run: does storage still hold the progress its record says it made?

A run's record names its latest checkpoint and the steps done. :func:`verify_run` compares
that with what storage holds: the checkpoints that fail their checksums or chains
(``averify``), the newest one that is intact (where the run would continue), and whether
the record names a checkpoint that is gone. A run whose record says it progressed but whose
storage has no intact checkpoint is *lost*: opening it raises
:class:`~framework.errors.CheckpointsLostError` instead of starting it over.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from framework.errors import CheckpointsLostError, RunNotFoundError
from framework.schemas.checkpoint import CheckpointMetadata
from framework.schemas.ids import validate_run_id
from framework.schemas.run import RunRecord, RunStatus
from framework.storage.backend import CorruptCheckpoint, StorageBackend


class RunVerification(BaseModel):
    """What :func:`verify_run` found for one run."""

    model_config = ConfigDict(frozen=True, use_attribute_docstrings=True)

    run_id: str
    status: RunStatus
    """The run's status, as its record says."""
    recorded_checkpoint_id: str | None
    """The latest checkpoint the record names (``None``: it names none yet)."""
    recorded_steps: int
    """The steps done, as the record says."""
    stored: int
    """How many checkpoints storage lists for the run."""
    corrupt: list[CorruptCheckpoint]
    """Stored checkpoints that cannot load intact, oldest first."""
    latest_valid: CheckpointMetadata | None
    """The newest intact checkpoint: where the run continues (``None``: there is none)."""
    problems: list[str]
    """Each problem found, as a sentence; empty when storage holds what the record says."""

    @property
    def ok(self) -> bool:
        """Nothing is damaged and nothing the record names is missing."""
        return not self.problems

    @property
    def lost(self) -> bool:
        """The record says the run progressed, but no checkpoint of it is intact."""
        return self.recorded_checkpoint_id is not None and self.latest_valid is None

    def lost_error(self) -> CheckpointsLostError:
        """The error that refuses to continue (or silently restart) a :attr:`lost` run."""
        assert self.recorded_checkpoint_id is not None
        return CheckpointsLostError(
            self.run_id, self.recorded_checkpoint_id, self.recorded_steps, stored=self.stored
        )


async def verify_run(storage: StorageBackend, run_id: str) -> RunVerification:
    """Check the run's stored checkpoints against its record; ``RunNotFoundError`` if none."""
    record = await storage.aget_run(validate_run_id(run_id))
    if record is None:
        raise RunNotFoundError(f"run {run_id!r} does not exist", run_id=run_id)
    listed = await storage.alist_checkpoints(run_id)
    corrupt = await storage.averify(run_id)
    damaged = {c.seq for c in corrupt}
    intact = [m for m in listed if m.seq not in damaged]
    latest_valid = intact[-1] if intact else None
    problems = [f"checkpoint {c.id!r} (seq {c.seq}) is damaged: {c.reason}" for c in corrupt]
    problems.extend(_progress_problems(record, listed, latest_valid))
    return RunVerification(
        run_id=run_id,
        status=record.status,
        recorded_checkpoint_id=record.latest_checkpoint_id,
        recorded_steps=record.totals.steps,
        stored=len(listed),
        corrupt=corrupt,
        latest_valid=latest_valid,
        problems=problems,
    )


def checkpoint_seq(checkpoint_id: str) -> int | None:
    """The seq in a manager-made id (``ckpt_{run}_{node}_{seq:06d}``); ``None`` for others."""
    tail = checkpoint_id.rpartition("_")[2]
    return int(tail) if checkpoint_id.startswith("ckpt_") and tail.isdigit() else None


def behind_record(record: RunRecord, seq: int | None) -> bool:
    """Whether a checkpoint numbered ``seq`` is older than the one the record names."""
    named = record.latest_checkpoint_id
    expected = None if named is None else checkpoint_seq(named)
    return expected is not None and seq is not None and seq < expected


def _progress_problems(
    record: RunRecord, listed: list[CheckpointMetadata], latest_valid: CheckpointMetadata | None
) -> list[str]:
    named = record.latest_checkpoint_id
    if named is None:
        return []
    problems = []
    if all(m.id != named for m in listed):
        problems.append(f"the run record names checkpoint {named!r}, which is not stored")
    if latest_valid is None:
        problems.append(
            f"no stored checkpoint is intact, although the record says {record.totals.steps} "
            "steps were done: the run is refused until the store is restored or the run is "
            "started over with force_restart=True"
        )
    elif behind_record(record, latest_valid.seq):
        problems.append(
            f"the run continues from checkpoint {latest_valid.id!r}, older than {named!r}: "
            "the nodes completed after it run again"
        )
    return problems
