"""Checkpoint and run semantics shared by every backend that stores records.

:class:`RecordBackend` implements the whole :class:`~framework.storage.backend.StorageBackend`
contract on top of a handful of primitive operations (store a record with its index entry,
read a record body, list index entries, retire records, and the run-record equivalents),
so the memory, file and SQLite backends only say *where* bytes go, never *what* they mean.

Saving encodes the checkpoint's state tree and stores, against the run's previous record,
either a delta (:mod:`framework.storage.delta`) or a full snapshot. A full one is written
for the first checkpoint, when a chain would exceed ``MAX_CHAIN`` records, or when the
delta bytes since the last full reach ``FULL_RATIO`` times that full's bytes (see
:mod:`framework.storage.chains`) — so a load never walks far and stored bytes stay
proportional to what changed, not to history.
The last saved tree of recently written runs is kept in memory, so a save reads no record
bodies; the cache is trusted only while the run's newest stored record is the one it
describes (another writer or a prune invalidates it) and is dropped when a load or verify
finds the run corrupt. Without a cache (a new process) the next record is built on the
newest record that loads intact, so a corrupt record is never extended; bytes that rot
under a running writer make the checkpoints built on them fail their load instead, until
the next full snapshot.
"""

from __future__ import annotations

import logging
import threading
import warnings
from abc import abstractmethod
from collections import OrderedDict
from contextlib import AbstractContextManager, nullcontext
from typing import Any

from pydantic import ValidationError

from framework.errors import CorruptCheckpointError, StorageError
from framework.schemas.checkpoint import Checkpoint, CheckpointMetadata, utc_now
from framework.schemas.run import RunRecord, RunStatus
from framework.storage import codec
from framework.storage.backend import CorruptCheckpoint, SyncStorageBackend
from framework.storage.chains import Tip, chain_of, find_broken, plan_prune
from framework.storage.delta import apply_delta, diff
from framework.storage.ids import validate_checkpoint_id, validate_node_id, validate_run_id
from framework.storage.records import (
    IndexEntry,
    RecordForm,
    check_size,
    decode_state,
    encode_run,
    encode_state,
    open_payload,
    seal_payload,
)

__all__ = ["CorruptCheckpointWarning", "RecordBackend"]

logger = logging.getLogger("framework.storage")

_CACHED_RUNS = 16


class CorruptCheckpointWarning(UserWarning):
    """A corrupt checkpoint was skipped in favour of an older valid one."""


class RecordBackend(SyncStorageBackend):
    """The storage contract over primitive record and run operations (see module docs)."""

    def __init__(self, *, max_checkpoint_bytes: int | None = None) -> None:
        if max_checkpoint_bytes is not None and max_checkpoint_bytes < 1:
            raise StorageError(
                f"max_checkpoint_bytes must be at least 1, not {max_checkpoint_bytes}"
            )
        self.max_checkpoint_bytes = max_checkpoint_bytes
        self._lock = threading.RLock()
        self._tips: OrderedDict[str, Tip] = OrderedDict()

    # --- primitives each backend provides -----------------------------------------------

    @abstractmethod
    def _transaction(self) -> AbstractContextManager[None]:
        """Held around every read-modify-write (the instance lock is already held)."""

    def _snapshot(self) -> AbstractContextManager[None]:
        """Held around multi-step reads, so they see one consistent state of the store."""
        return nullcontext()

    @abstractmethod
    def _entries(self, run_id: str) -> list[IndexEntry]:
        """Every stored record's entry (visible or not), oldest first."""

    def _last_entry(self, run_id: str) -> IndexEntry | None:
        entries = self._entries(run_id)
        return entries[-1] if entries else None

    @abstractmethod
    def _read_body(self, run_id: str, entry: IndexEntry) -> bytes:
        """A record's stored body; ``CorruptCheckpointError`` if it is missing or unreadable."""

    @abstractmethod
    def _append(self, run_id: str, entry: IndexEntry, body: bytes) -> None:
        """Store a record body, then its index entry, so no entry names a missing body."""

    @abstractmethod
    def _retire(self, run_id: str, hide: set[int], drop: set[int]) -> None:
        """Mark ``hide`` seqs not visible and delete the records and entries of ``drop``."""

    @abstractmethod
    def _drop_run_records(self, run_id: str) -> None:
        """Delete every record and entry of the run."""

    @abstractmethod
    def _insert_run(self, record: RunRecord, body: bytes) -> bool:
        """Store a new run record; ``False`` if one with that id exists."""

    @abstractmethod
    def _read_run(self, run_id: str) -> RunRecord | None: ...

    @abstractmethod
    def _replace_run(self, record: RunRecord, body: bytes) -> None: ...

    @abstractmethod
    def _select_runs(
        self,
        status: RunStatus | None,
        agent_id: str | None,
        graph_id: str | None,
        limit: int | None,
    ) -> list[RunRecord]:
        """Matching run records, newest first (see :func:`filter_runs`)."""

    # --- checkpoints ----------------------------------------------------------------------

    def save_checkpoint(self, cp: Checkpoint) -> CheckpointMetadata:
        _validate_checkpoint_ids(cp)
        tree = encode_state(cp)
        state_bytes = len(codec.canonical_bytes(tree))
        check_size(cp, tree, state_bytes, self.max_checkpoint_bytes)
        metadata = cp.to_metadata(size_bytes=state_bytes)
        with self._lock, self._transaction():
            last = self._last_entry(cp.run_id)
            if last is not None and cp.seq <= last.seq:
                raise StorageError(
                    f"checkpoint seq {cp.seq} of run {cp.run_id!r} is not greater than the "
                    f"latest stored seq {last.seq}; use latest_seq() + 1"
                )
            tip = self._tip(cp.run_id, last)
            if tip is None or tip.wants_full():
                form, base_seq, prev_seq, payload = RecordForm.FULL, cp.seq, None, tree
            else:
                form, base_seq, prev_seq = RecordForm.DELTA, tip.base_seq, tip.seq
                payload = diff(tip.tree, tree) or {}
            body, checksum = seal_payload(payload)
            entry = IndexEntry(
                seq=cp.seq,
                form=form,
                base_seq=base_seq,
                prev_seq=prev_seq,
                checksum=checksum,
                stored_bytes=len(body),
                metadata=metadata,
            )
            self._append(cp.run_id, entry, body)
            self._remember(
                cp.run_id, Tip.of_chain([entry], tree) if tip is None else tip.extended(entry, tree)
            )
        return metadata

    def load_checkpoint(self, run_id: str, checkpoint_id: str) -> Checkpoint | None:
        validate_run_id(run_id)
        validate_checkpoint_id(checkpoint_id)
        with self._lock, self._snapshot():
            entries = self._entries(run_id)
            entry = next((e for e in entries if e.visible and e.metadata.id == checkpoint_id), None)
            return None if entry is None else self._load(run_id, entries, entry)

    def load_latest_checkpoint(self, run_id: str) -> Checkpoint | None:
        validate_run_id(run_id)
        with self._lock, self._snapshot():
            entries = self._entries(run_id)
            for entry in reversed([e for e in entries if e.visible]):
                try:
                    return self._load(run_id, entries, entry)
                except CorruptCheckpointError as exc:
                    message = f"{exc}; skipped it and loading the previous checkpoint instead"
                    logger.warning(message)
                    warnings.warn(message, CorruptCheckpointWarning, stacklevel=2)
            return None

    def list_checkpoints(self, run_id: str) -> list[CheckpointMetadata]:
        validate_run_id(run_id)
        with self._lock, self._snapshot():
            return [e.metadata for e in self._entries(run_id) if e.visible]

    def delete_checkpoints(self, run_id: str) -> int:
        validate_run_id(run_id)
        with self._lock, self._transaction():
            count = sum(1 for e in self._entries(run_id) if e.visible)
            self._drop_run_records(run_id)
            self._tips.pop(run_id, None)
            return count

    def prune_checkpoints(self, run_id: str, keep: int) -> int:
        validate_run_id(run_id)
        if type(keep) is not int or keep < 0:
            raise StorageError(f"keep must be a non-negative int, not {keep!r}")
        with self._lock, self._transaction():
            removed, hide, drop = plan_prune(self._entries(run_id), keep)
            if removed:
                self._retire(run_id, hide, drop)
                tip = self._tips.get(run_id)
                if tip is not None and tip.seq in drop:
                    del self._tips[run_id]
            return removed

    def verify(self, run_id: str) -> list[CorruptCheckpoint]:
        validate_run_id(run_id)
        with self._lock, self._snapshot():
            entries = self._entries(run_id)
            problems = find_broken(
                entries, lambda entry: open_payload(self._read_body(run_id, entry), entry, run_id)
            )
            if problems:
                self._tips.pop(run_id, None)
            return [
                CorruptCheckpoint(
                    run_id=run_id, id=e.metadata.id, seq=e.seq, reason=problems[e.seq]
                )
                for e in entries
                if e.visible and e.seq in problems
            ]

    def latest_seq(self, run_id: str) -> int:
        validate_run_id(run_id)
        with self._lock, self._snapshot():
            last = self._last_entry(run_id)
            return -1 if last is None else last.seq

    # --- runs -----------------------------------------------------------------------------

    def create_run(self, record: RunRecord) -> RunRecord:
        validate_run_id(record.run_id)
        body = encode_run(record)
        with self._lock, self._transaction():
            if not self._insert_run(record, body):
                raise StorageError(
                    f"run {record.run_id!r} already exists; update it with update_run or "
                    "choose another run id"
                )
        return record

    def get_run(self, run_id: str) -> RunRecord | None:
        validate_run_id(run_id)
        with self._lock, self._snapshot():
            return self._read_run(run_id)

    def list_runs(
        self,
        *,
        status: RunStatus | None = None,
        agent_id: str | None = None,
        graph_id: str | None = None,
        limit: int | None = None,
    ) -> list[RunRecord]:
        if limit is not None and (type(limit) is not int or limit < 0):
            raise StorageError(f"limit must be a non-negative int or None, not {limit!r}")
        try:
            wanted = None if status is None else RunStatus(status)
        except ValueError:
            raise StorageError(f"unknown run status {status!r}") from None
        with self._lock, self._snapshot():
            return self._select_runs(wanted, agent_id, graph_id, limit)

    def update_run(self, run_id: str, /, **changes: Any) -> RunRecord:
        validate_run_id(run_id)
        if "run_id" in changes:
            raise StorageError("a run's run_id cannot be changed; create a new run instead")
        unknown = sorted(set(changes) - set(RunRecord.model_fields))
        if unknown:
            raise StorageError(f"unknown run record field(s): {', '.join(unknown)}")
        with self._lock, self._transaction():
            current = self._read_run(run_id)
            if current is None:
                raise StorageError(f"run {run_id!r} does not exist; create it with create_run")
            data = {name: getattr(current, name) for name in RunRecord.model_fields}
            data["updated_at"] = utc_now()
            data.update(changes)
            try:
                record = RunRecord.model_validate(data)
            except ValidationError as exc:
                raise StorageError(f"invalid change to run {run_id!r}: {exc}") from None
            self._replace_run(record, encode_run(record))
            return record

    # --- internals ------------------------------------------------------------------------

    def _load(self, run_id: str, entries: list[IndexEntry], entry: IndexEntry) -> Checkpoint:
        try:
            tree = self._tree(run_id, {e.seq: e for e in entries}, entry)
        except CorruptCheckpointError as exc:
            # The cached tip may be built on the record that just failed; never extend it.
            self._tips.pop(run_id, None)
            raise CorruptCheckpointError(
                f"checkpoint {entry.metadata.id!r} (seq {entry.seq}) of run {run_id!r} is "
                f"corrupt: {exc}"
            ) from None
        return decode_state(tree, run_id=run_id, seq=entry.seq, checkpoint_id=entry.metadata.id)

    def _tree(self, run_id: str, by_seq: dict[int, IndexEntry], entry: IndexEntry) -> Any:
        """Rebuild a record's state tree from the full record its chain starts at."""
        chain = chain_of(by_seq, entry)
        tree = open_payload(self._read_body(run_id, chain[0]), chain[0], run_id)
        for link in chain[1:]:
            tree = apply_delta(tree, open_payload(self._read_body(run_id, link), link, run_id))
        if type(tree) is not dict:
            raise CorruptCheckpointError(f"record {entry.seq} does not hold a checkpoint state")
        return tree

    def _tip(self, run_id: str, last: IndexEntry | None) -> Tip | None:
        """The cached tip if it still describes the newest record, else rebuilt from storage."""
        if last is None:
            return None
        tip = self._tips.get(run_id)
        if tip is not None and tip.seq == last.seq and tip.checksum == last.checksum:
            self._tips.move_to_end(run_id)
            return tip
        entries = self._entries(run_id)
        by_seq = {e.seq: e for e in entries}
        # Build on the newest record that loads intact; a corrupt one never becomes a base.
        for entry in reversed(entries):
            try:
                tree = self._tree(run_id, by_seq, entry)
            except CorruptCheckpointError:
                continue
            tip = Tip.of_chain(chain_of(by_seq, entry), tree)
            self._remember(run_id, tip)
            return tip
        return None

    def _remember(self, run_id: str, tip: Tip) -> None:
        self._tips[run_id] = tip
        self._tips.move_to_end(run_id)
        while len(self._tips) > _CACHED_RUNS:
            self._tips.popitem(last=False)


def _validate_checkpoint_ids(cp: Checkpoint) -> None:
    validate_run_id(cp.run_id)
    validate_checkpoint_id(cp.id)
    for node_id in (cp.current_node_id, cp.current_step_id, cp.next_node_id):
        if node_id is not None:
            validate_node_id(node_id)
    if cp.parent_run_id is not None:
        validate_run_id(cp.parent_run_id)
    if cp.parent_checkpoint_id is not None:
        validate_checkpoint_id(cp.parent_checkpoint_id)
