"""Numbering checkpoints: per-run sequence numbers, and ids that follow them.

A :class:`~framework.durable.manager.CheckpointManager` numbers each run's
checkpoints itself after the first save (asking the storage for the latest seq only when it
does not know it), so a save costs no extra read. :class:`SeqCounter` keeps those counters.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from framework.durable._contents import checkpoint_id
from framework.schemas.checkpoint import Checkpoint


class SeqCounter:
    """The next checkpoint seq of each run this process writes; safe across threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._next: dict[str, int] = {}
        self._tokens: dict[str, int] = {}

    def claim(self, run_id: str) -> int | None:
        """The run's next seq, or ``None`` if it is not known (see :meth:`claim_after`)."""
        with self._lock:
            seq = self._next.get(run_id)
            if seq is not None:
                self._next[run_id] = seq + 1
            return seq

    def claim_after(self, run_id: str, latest: int) -> int:
        """The run's next seq, given ``latest``, the highest seq stored for it (``-1``: none)."""
        with self._lock:
            seq = max(self._next.get(run_id, 0), latest + 1)
            self._next[run_id] = seq + 1
            return seq

    def forget(self, run_id: str) -> None:
        """Ask the storage again next time (after a failure, a delete, another writer)."""
        with self._lock:
            self._next.pop(run_id, None)

    def adopt_token(self, run_id: str, fencing_token: int | None) -> None:
        """Note the fencing token a save is made under.

        A token not seen before for the run is a new claim: another process may have
        written since this one last did, so the seq is read from storage again.
        """
        if fencing_token is None:
            return
        with self._lock:
            if self._tokens.get(run_id) != fencing_token:
                self._tokens[run_id] = fencing_token
                self._next.pop(run_id, None)


def renumbering(cp: Checkpoint) -> Callable[[int], Checkpoint]:
    """``seq -> cp`` with that seq and the id that goes with it.

    The id names the node or step the checkpoint was taken after, or ``start`` for one
    taken before any node ran.
    """

    def build(seq: int) -> Checkpoint:
        new_id = checkpoint_id(cp.run_id, cp.node_id or "start", seq)
        return cp.model_copy(update={"seq": seq, "id": new_id})

    return build
