"""What changed between two checkpoints of a run: memory, path, counters, what runs next.

Memory is compared key by key, values by equality (the codec revives them exactly, so a
value that was not touched compares equal). The path is compared as two lists: what they
share from the start, what the first has after that (``removed``: the second checkpoint is
older, or of another branch, as after a fork) and what the second has (``added``: the path
grown). Either checkpoint may be the older one; the diff reads from the first to the second.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from framework.schemas.checkpoint import Checkpoint

__all__ = ["Change", "CheckpointDiff", "PathChange", "diff_checkpoints"]


class Change(BaseModel):
    """A value that differs: ``old`` in the first checkpoint, ``new`` in the second."""

    model_config = ConfigDict(frozen=True)

    old: Any
    new: Any


class PathChange(BaseModel):
    """How the execution path differs between the two checkpoints."""

    model_config = ConfigDict(frozen=True, use_attribute_docstrings=True)

    before: list[str]
    """The first checkpoint's path."""
    after: list[str]
    """The second checkpoint's path."""
    common: int
    """How many nodes they share from the start."""

    @property
    def added(self) -> list[str]:
        """The nodes the second has after the shared part: the path grown by them."""
        return self.after[self.common :]

    @property
    def removed(self) -> list[str]:
        """The nodes the first has after the shared part (none when the path only grew)."""
        return self.before[self.common :]


class CheckpointDiff(BaseModel):
    """What changed from checkpoint ``before`` to checkpoint ``after`` of one run."""

    model_config = ConfigDict(frozen=True, use_attribute_docstrings=True)

    before: Checkpoint
    after: Checkpoint
    added: dict[str, Any]
    """Memory keys only the second has, with their values."""
    removed: dict[str, Any]
    """Memory keys only the first has, with their values."""
    changed: dict[str, Change]
    """Memory keys both have, with different values."""
    path: PathChange

    @property
    def memory_unchanged(self) -> bool:
        return not (self.added or self.removed or self.changed)


def diff_checkpoints(before: Checkpoint, after: Checkpoint) -> CheckpointDiff:
    """What changed from ``before`` to ``after`` (see the module docs)."""
    old, new = before.memory_snapshot, after.memory_snapshot
    changed = {
        key: Change(old=old[key], new=new[key])
        for key in sorted(old.keys() & new.keys())
        if not _same(old[key], new[key])
    }
    return CheckpointDiff(
        before=before,
        after=after,
        added={key: new[key] for key in sorted(new.keys() - old.keys())},
        removed={key: old[key] for key in sorted(old.keys() - new.keys())},
        changed=changed,
        path=PathChange(
            before=list(before.execution_path),
            after=list(after.execution_path),
            common=_shared_start(before.execution_path, after.execution_path),
        ),
    )


def _same(a: Any, b: Any) -> bool:
    # A value whose equality is not a bool (an array compared element-wise) differs unless
    # it is the very same object.
    try:
        return a is b or bool(type(a) is type(b) and a == b)
    except Exception:
        return False


def _shared_start(a: list[str], b: list[str]) -> int:
    common = 0
    for left, right in zip(a, b, strict=False):
        if left != right:
            break
        common += 1
    return common
