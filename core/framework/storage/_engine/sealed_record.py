"""A checkpoint as the record a save stores: numbered, its ids checked, and sealed as a
full record or as a delta on the run's tip (see :mod:`.record_backend`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from framework.errors import StorageError
from framework.schemas.checkpoint import Checkpoint
from framework.schemas.ids import validate_checkpoint_id, validate_node_id, validate_run_id
from framework.storage._engine.chains import Tip
from framework.storage._engine.delta import diff, resized
from framework.storage._engine.record_format import IndexEntry, RecordForm, seal_payload

__all__ = ["SealedRecord", "numbered", "validate_checkpoint_ids"]


@dataclass(frozen=True)
class SealedRecord:
    """A checkpoint's state tree as the record to store after ``tip`` (``None``: none).

    A delta when the tip's chain takes one more, else a full record. The state's size is
    a full record's body length or the tip's size moved by the delta: the whole state is
    never written out a second time just to measure it.
    """

    tree: dict[str, Any]
    tip: Tip | None
    limit: int | None
    form: RecordForm
    body: bytes
    checksum: str
    state_bytes: int

    @classmethod
    def of(cls, tree: dict[str, Any], tip: Tip | None, limit: int | None) -> SealedRecord:
        if tip is None or tip.wants_full():
            body, checksum = seal_payload(tree)
            return cls(tree, tip, limit, RecordForm.FULL, body, checksum, len(body))
        delta = diff(tip.tree, tree) or {}
        body, checksum = seal_payload(delta)
        size = resized(tip.tree, delta, tip.state_bytes)
        return cls(tree, tip, limit, RecordForm.DELTA, body, checksum, size)


def numbered(cp: Checkpoint, last: IndexEntry | None) -> tuple[Checkpoint, int]:
    """``cp`` with its seq: the run's next one if it has none, else checked against ``last``."""
    if cp.seq is None:
        seq = 0 if last is None else last.seq + 1
        return cp.model_copy(update={"seq": seq}), seq
    if last is not None and cp.seq <= last.seq:
        raise StorageError(
            f"checkpoint seq {cp.seq} of run {cp.run_id!r} is not greater than the latest "
            f"stored seq {last.seq}; leave seq unset to append, or use latest_seq() + 1"
        )
    return cp, cp.seq


def validate_checkpoint_ids(cp: Checkpoint) -> None:
    validate_run_id(cp.run_id)
    validate_checkpoint_id(cp.id)
    for node_id in (cp.current_node_id, cp.current_step_id, cp.next_node_id):
        if node_id is not None:
            validate_node_id(node_id)
    if cp.parent_run_id is not None:
        validate_run_id(cp.parent_run_id)
    if cp.parent_checkpoint_id is not None:
        validate_checkpoint_id(cp.parent_checkpoint_id)
