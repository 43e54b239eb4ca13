"""Stored checkpoint records: the one on-disk form every backend shares.

A checkpoint is stored as a *record*: an :class:`IndexEntry` (seq, ``form`` full or delta,
``base_seq`` of the full record its chain starts from, ``prev_seq`` of the record a delta
applies to, visibility, the payload's checksum and size, and the
:class:`~framework.schemas.checkpoint.CheckpointMetadata` summary with the checkpoint id)
plus a *payload*. A full payload is the checkpoint's encoded state tree
(:func:`encode_state`); a delta payload is :func:`framework.storage.delta.diff` of the
previous record's state tree and this one. A backend stores the payload's canonical JSON
bytes (its *body*) and the entry separately, so listing never reads bodies; the entry's
``checksum`` of the body is what ties the two together, and :func:`open_payload` verifies
it before anything is parsed. A pruned checkpoint whose record a later chain still needs
stays stored with ``visible=False``. Run records are stored as canonical JSON too
(:func:`encode_run`) and listed through :func:`filter_runs` where a backend cannot query.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from framework.errors import (
    CheckpointDecodeError,
    CheckpointTooLargeError,
    CorruptCheckpointError,
    StorageError,
)
from framework.schemas.checkpoint import Checkpoint, CheckpointMetadata
from framework.schemas.run import RunFilter, RunRecord
from framework.storage import codec

# Typed fields round-trip through pydantic's JSON mode; ``Any`` fields go through the codec
# so their values (datetimes, models, sets...) revive exactly. The key is the field, the value
# the root of the key path named in encode errors (``memory['docs'][3].author``).
_CODEC_FIELDS = {
    "memory_snapshot": "memory",
    "pending_input": "pending_input",
    "context": "context",
    "metadata": "metadata",
}
# Identity lives in the record header, not in the state tree, so deltas do not repeat it.
_HEADER_FIELDS = {"id", "run_id", "seq"}
_NOT_DUMPED = {
    "node_id",
    *_HEADER_FIELDS,
    *_CODEC_FIELDS,
    "execution_path",
    "visit_counts",
    "retry_counts",
}


class RecordForm(StrEnum):
    """How a record's payload holds its checkpoint's state."""

    FULL = "full"
    """The whole state tree: a chain starts here."""
    DELTA = "delta"
    """What changed since the record ``prev_seq``."""


class IndexEntry(BaseModel):
    """What a backend keeps about one stored record besides its body."""

    model_config = ConfigDict(use_attribute_docstrings=True)

    seq: int
    """The checkpoint's seq."""
    form: RecordForm
    """Full or delta."""
    base_seq: int
    """The full record its chain starts from (itself for a full one)."""
    prev_seq: int | None
    """The record a delta applies to (``None`` for a full one)."""
    visible: bool = True
    """``False``: pruned, kept only because a later chain is built on it."""
    checksum: str
    """Of the stored body; ties the body to this entry."""
    stored_bytes: int
    """Size of the stored body."""
    metadata: CheckpointMetadata
    """The checkpoint's summary, listed without reading the body."""


def encode_state(cp: Checkpoint) -> dict[str, Any]:
    """The checkpoint as a JSON tree without its identity fields; raises on unencodable values."""
    tree = cp.model_dump(mode="json", exclude=_NOT_DUMPED)
    for field, path in _CODEC_FIELDS.items():
        tree[field] = codec.encode(getattr(cp, field), path)
    # Plain JSON already, and they grow with the run: copied in C, not dumped item by item.
    tree["execution_path"] = list(cp.execution_path)
    tree["visit_counts"] = dict(cp.visit_counts)
    tree["retry_counts"] = dict(cp.retry_counts)
    return tree


def decode_state(tree: dict[str, Any], *, run_id: str, seq: int, checkpoint_id: str) -> Checkpoint:
    """Revive a checkpoint from :func:`encode_state`'s tree and the identity in its header."""
    data = dict(tree)
    for field, path in _CODEC_FIELDS.items():
        data[field] = codec.decode(tree.get(field, {}), path)
    data.update(id=checkpoint_id, run_id=run_id, seq=seq)
    try:
        return Checkpoint.model_validate(data)
    except ValidationError as exc:
        raise CheckpointDecodeError(
            f"checkpoint {checkpoint_id!r} of run {run_id!r} does not match the Checkpoint "
            f"schema: {exc.error_count()} error(s), first: {exc.errors()[0]['msg']}"
        ) from None


def seal_payload(payload: Any) -> tuple[bytes, str]:
    """A record payload's stored bytes (canonical JSON) and their checksum."""
    body = codec.canonical_bytes(payload)
    return body, codec.checksum(body)


def open_payload(body: bytes, entry: IndexEntry, run_id: str) -> Any:
    """Verify a stored body against its index entry's checksum and parse it.

    Raises :class:`CorruptCheckpointError` if the checksum differs (flipped or truncated
    bytes): the checksum is what ties a body to the entry describing it.
    """
    label = f"record {entry.seq} of run {run_id!r}"
    if codec.checksum(body) != entry.checksum:
        raise CorruptCheckpointError(f"{label} failed its checksum (bytes changed or truncated)")
    try:
        return json.loads(body)
    except ValueError as exc:
        raise CorruptCheckpointError(f"{label} is not valid JSON: {exc}") from None


def encode_run(record: RunRecord) -> bytes:
    """A run record as canonical JSON; its free-form ``metadata`` goes through the codec."""
    tree = record.model_dump(mode="json", exclude={"metadata"})
    tree["metadata"] = codec.encode(record.metadata, "run.metadata")
    return codec.canonical_bytes(tree)


def decode_run(data: bytes, where: str) -> RunRecord:
    """Revive a run record; ``where`` names the file or row in the error."""
    try:
        tree = json.loads(data)
        tree["metadata"] = codec.decode(tree.get("metadata", {}), "run.metadata")
        return RunRecord.model_validate(tree)
    except (ValueError, TypeError, AttributeError, CheckpointDecodeError) as exc:
        raise StorageError(
            f"the run record in {where} is unreadable ({exc}); restore it from a backup or "
            "delete it to forget the run"
        ) from None


def check_size(cp: Checkpoint, tree: dict[str, Any], size: int, limit: int | None) -> None:
    """Raise ``CheckpointTooLargeError`` naming the largest memory keys if ``size > limit``."""
    if limit is None or size <= limit:
        return
    memory = tree.get("memory_snapshot")
    sizes = []
    if isinstance(memory, dict) and codec.TAG_KEY not in memory:
        sizes = sorted(
            ((len(codec.canonical_bytes(v)), k) for k, v in memory.items()), reverse=True
        )
    largest = ", ".join(f"{k!r} ({n:,} bytes)" for n, k in sizes[:3]) or "none"
    raise CheckpointTooLargeError(
        f"checkpoint {cp.id!r} of run {cp.run_id!r} is {size:,} bytes encoded, above "
        f"max_checkpoint_bytes={limit:,}; largest memory keys: {largest}. Keep large data "
        "outside shared memory (store a reference) or raise max_checkpoint_bytes"
    )


def filter_runs(records: Iterable[RunRecord], where: RunFilter) -> list[RunRecord]:
    """Matching records, newest ``created_at`` first (ties by run id), at most ``limit``."""
    matching = [record for record in records if where.matches(record)]
    matching.sort(key=lambda r: (r.created_at, r.run_id), reverse=True)
    return matching if where.limit is None else matching[: where.limit]
