"""What goes into a checkpoint: from what an executor knows after a node to a Checkpoint.

The :class:`~framework.durable.manager.CheckpointManager` decides when to save and how to
number and keep checkpoints; this module only assembles one: it splits the caller's
metadata into checkpoint fields and user metadata, and folds in a node's checkpoint
requests. Memory is any mapping, or anything with ``read_all()`` (the graph's shared
memory), so nothing here knows about graphs.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol, runtime_checkable

from framework.schemas.checkpoint import Checkpoint, CheckpointKind, ExecutorType

# Keys of the caller's metadata that fill Checkpoint fields; any other key (and the contents
# of ``metadata["metadata"]``) is the user's metadata.
CHECKPOINT_FIELD_KEYS = frozenset(
    {
        "execution_path",
        "step_number",
        "total_tokens",
        "total_latency_ms",
        "total_cost",
        "next_node_id",
        "pending_input",
        "visit_counts",
        "retry_counts",
        "graph_fingerprint",
        "context",
        "kind",
        "current_step_id",
        "parent_run_id",
        "parent_checkpoint_id",
    }
)


@runtime_checkable
class MemorySource(Protocol):
    """Memory that hands out a copy of everything it holds (the graph's ``SharedMemory``)."""

    def read_all(self) -> dict[str, Any]: ...


MemoryLike = MemorySource | Mapping[str, Any] | None


def checkpoint_id(run_id: str, node_id: str, seq: int) -> str:
    """``ckpt_{run_id}_{node_id}_{seq:06d}``: unique per seq, readable at a glance."""
    return f"ckpt_{run_id}_{node_id}_{seq:06d}"


def build_checkpoint(
    *,
    run_id: str,
    node_id: str,
    seq: int,
    memory: MemoryLike,
    executor_type: ExecutorType,
    metadata: Mapping[str, Any] | None,
    kind: CheckpointKind | None = None,
) -> Checkpoint:
    """The checkpoint taken after ``node_id``; ``kind`` overrides ``metadata["kind"]``.

    Raises ``TypeError`` for memory that is not a mapping and pydantic's ``ValidationError``
    for field values of the wrong type (e.g. a negative ``step_number``).
    """
    fields: dict[str, Any] = {}
    user: dict[str, Any] = {}
    for key, value in (metadata or {}).items():
        if key == "metadata":
            if not isinstance(value, Mapping):
                raise TypeError(f"metadata['metadata'] must be a mapping, not {value!r}")
            user.update(value)
        elif key in CHECKPOINT_FIELD_KEYS:
            fields[key] = value
        else:
            user[key] = value
    if kind is not None:
        fields["kind"] = kind
    return Checkpoint(
        id=checkpoint_id(run_id, node_id, seq),
        run_id=run_id,
        seq=seq,
        executor_type=executor_type,
        current_node_id=node_id,
        memory_snapshot=_memory_dict(memory),
        metadata=user,
        **fields,
    )


def merge_requests(
    metadata: Mapping[str, Any] | None, requests: list[dict[str, Any]]
) -> dict[str, Any] | None:
    """``metadata`` with the requests' metadata merged, in order, into its user metadata.

    ``None`` when there is no request (nothing was asked for).
    """
    if not requests:
        return None
    merged = dict(metadata or {})
    user = dict(merged.pop("metadata", None) or {})
    for request in requests:
        user.update(request)
    merged["metadata"] = user
    return merged


def _memory_dict(memory: MemoryLike) -> dict[str, Any]:
    if memory is None:
        return {}
    if isinstance(memory, Mapping):
        return dict(memory)
    if isinstance(memory, MemorySource):
        return memory.read_all()
    raise TypeError(f"memory must be a SharedMemory or a mapping, not {type(memory).__name__}")
