"""The whole storage contract over the primitives, for every backend that stores records.

:class:`RecordBackend` implements :class:`~framework.storage.backend.StorageBackend` on top
of the primitive operations of :class:`~.primitives.RecordPrimitives` (store a record with
its index entry, read a record body, list index entries, retire records, the run-record,
control and effect equivalents, and the write guard), so the memory, file and SQLite
backends only say *where* bytes go, never *what* they mean. Checkpoints are implemented
here; runs, leases, control signals and effects are functions over the primitives
(:mod:`.run_rows`, :mod:`.leasing`, :mod:`.signals`, :mod:`.effect_rows`,
:mod:`.item_rows`) that this class
only wires in. Its methods are synchronous; each async twin runs its method in a worker
thread (:func:`~framework.storage.twins.thread_twin`), or on the caller's loop for a
backend whose calls are quicker than a thread hop (``runs_inline``: memory, SQLite; one that
would wait is handed to a thread, see :class:`~framework.storage.twins.WouldWait`).

Every write of a run holds the run's write guard, so a fenced write (a checkpoint save, a
run update, an effect or control write) checks the run's fencing token and writes in one
atomic step, between processes too.

Saving encodes the checkpoint's state tree and stores, against the run's previous record,
either a delta (:mod:`.delta`) or a full snapshot. A full one is written
for the first checkpoint, when a chain would exceed ``MAX_CHAIN`` records, or when the
delta bytes since the last full reach ``FULL_RATIO`` times that full's bytes (see
:mod:`.chains`) — so a load never walks far and stored bytes stay
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
import warnings
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any, Unpack

from framework.errors import CorruptCheckpointError, InvalidArgumentError
from framework.schemas.checkpoint import Checkpoint, CheckpointMetadata
from framework.schemas.control import ControlAction, ControlSignal
from framework.schemas.effect import EffectRecord
from framework.schemas.ids import validate_checkpoint_id, validate_run_id
from framework.schemas.item import (
    ItemCounts,
    ItemOutcome,
    ItemRecord,
    ItemsAdded,
    ItemStatus,
    NewItem,
)
from framework.schemas.lease import Lease
from framework.schemas.run import RunCriteria, RunFilter, RunRecord, RunTotals
from framework.settings import DEFAULT_LEASE_TTL_SECONDS
from framework.storage._engine import effect_rows, item_rows, leasing, run_rows, signals
from framework.storage._engine.chains import Tip, chain_of, find_broken, plan_prune
from framework.storage._engine.delta import apply_chain
from framework.storage._engine.lru import LRUCache
from framework.storage._engine.primitives import RecordPrimitives
from framework.storage._engine.record_format import (
    IndexEntry,
    RecordForm,
    check_size,
    decode_state,
    encode_state,
    open_payload,
)
from framework.storage._engine.sealed_record import (
    SealedRecord,
    numbered,
    validate_checkpoint_ids,
)
from framework.storage.backend import CorruptCheckpoint, StepCommit, StorageBackend
from framework.storage.twins import thread_twin

logger = logging.getLogger("framework.storage")

_CACHED_RUNS = 16


class CorruptCheckpointWarning(UserWarning):
    """A corrupt checkpoint was skipped in favour of an older valid one."""


class RecordBackend(RecordPrimitives, StorageBackend):
    """The storage contract over primitive record and run operations (see module docs)."""

    def __init__(self, *, max_checkpoint_bytes: int | None = None) -> None:
        super().__init__()
        self.max_checkpoint_bytes = _limit(max_checkpoint_bytes, "max_checkpoint_bytes")
        self._tips: LRUCache[str, Tip] = LRUCache(_CACHED_RUNS)

    # --- checkpoints ----------------------------------------------------------------------

    def save_checkpoint(
        self, cp: Checkpoint, *, fencing_token: int | None = None, max_bytes: int | None = None
    ) -> CheckpointMetadata:
        record = self._encoded(cp, max_bytes)
        with self._writing(cp.run_id, create=True):
            if fencing_token is not None:
                self._check_fence(cp.run_id, fencing_token, f"saving checkpoint {cp.id!r}")
            return self._append_checkpoint(cp, record)[0]

    def commit_step(
        self,
        cp: Checkpoint,
        *,
        fencing_token: int,
        keep: int | None = None,
        max_bytes: int | None = None,
    ) -> StepCommit:
        if keep is not None:
            _check_keep(keep)
        prepared = self._encoded(cp, max_bytes)
        with self._writing(cp.run_id):
            record = self._check_fence(cp.run_id, fencing_token, f"saving checkpoint {cp.id!r}")
            metadata, built_on = self._append_checkpoint(cp, prepared)
            if keep is not None:
                self._prune_after_append(cp.run_id, keep, built_on)
            progress = {"latest_checkpoint_id": metadata.id, "totals": RunTotals.of(cp)}
            record = run_rows.advanced(self, record, progress)
            control = signals.pending(self, cp.run_id)
        return StepCommit(checkpoint=metadata, record=record, control=control)

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
        with self._writing(run_id):
            count = sum(1 for e in self._entries(run_id) if e.visible)
            self._drop_run_records(run_id)
            self._tips.pop(run_id)
            return count

    def prune_checkpoints(self, run_id: str, keep: int) -> int:
        validate_run_id(run_id)
        _check_keep(keep)
        with self._writing(run_id):
            return self._prune(run_id, keep)

    def verify(self, run_id: str) -> list[CorruptCheckpoint]:
        validate_run_id(run_id)
        with self._lock, self._snapshot():
            entries = self._entries(run_id)
            problems = find_broken(
                entries, lambda entry: open_payload(self._read_body(run_id, entry), entry, run_id)
            )
            if problems:
                self._tips.pop(run_id)
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
        return run_rows.create(self, record)

    def get_run(self, run_id: str) -> RunRecord | None:
        return run_rows.get(self, run_id)

    def list_runs(
        self, where: RunFilter | None = None, /, **criteria: Unpack[RunCriteria]
    ) -> list[RunRecord]:
        return run_rows.select(self, where, criteria)

    def update_run(
        self, run_id: str, /, *, expect_fencing_token: int | None = None, **changes: Any
    ) -> RunRecord:
        return run_rows.update(self, run_id, expect_fencing_token, changes)

    def delete_run(self, run_id: str) -> bool:
        self._tips.pop(run_id)
        return run_rows.delete(self, run_id)

    # --- leases, control signals, effects -------------------------------------------------

    def claim_run(
        self, run_id: str, owner_id: str, *, ttl_seconds: float = DEFAULT_LEASE_TTL_SECONDS
    ) -> Lease:
        return leasing.claim(self, run_id, owner_id, ttl_seconds)

    def renew_lease(self, lease: Lease, *, ttl_seconds: float = DEFAULT_LEASE_TTL_SECONDS) -> Lease:
        return leasing.renew(self, lease, ttl_seconds)

    def release_lease(self, lease: Lease) -> None:
        leasing.release(self, lease)

    def request_control(
        self, run_id: str, action: ControlAction, reason: str = ""
    ) -> ControlSignal:
        return signals.request(self, run_id, action, reason)

    def get_control(self, run_id: str) -> ControlSignal | None:
        return signals.get(self, run_id)

    def clear_control(
        self,
        run_id: str,
        *,
        only: ControlSignal | None = None,
        fencing_token: int | None = None,
    ) -> None:
        signals.clear(self, run_id, only, fencing_token)

    def start_effect(
        self,
        run_id: str,
        node_id: str,
        key: str,
        idempotency_key: str,
        *,
        fencing_token: int | None = None,
    ) -> EffectRecord:
        return effect_rows.start(self, run_id, node_id, key, idempotency_key, fencing_token)

    def complete_effect(
        self, run_id: str, key: str, result: Any, *, fencing_token: int | None = None
    ) -> EffectRecord:
        return effect_rows.complete(self, run_id, key, result, fencing_token)

    def fail_effect(
        self, run_id: str, key: str, error: str, *, fencing_token: int | None = None
    ) -> EffectRecord:
        return effect_rows.fail(self, run_id, key, error, fencing_token)

    def get_effect(self, run_id: str, key: str) -> EffectRecord | None:
        return effect_rows.get(self, run_id, key)

    def list_effects(self, run_id: str) -> list[EffectRecord]:
        return effect_rows.list_all(self, run_id)

    # --- item ledgers -------------------------------------------------------------------

    def add_items(
        self,
        run_id: str,
        items: Sequence[NewItem],
        *,
        fencing_token: int,
        replace_changed: bool = False,
    ) -> ItemsAdded:
        return item_rows.add(self, run_id, items, fencing_token, replace_changed)

    def claim_items(
        self,
        run_id: str,
        *,
        limit: int,
        worker: str,
        fencing_token: int,
        now: datetime | None = None,
    ) -> list[ItemRecord]:
        return item_rows.claim(self, run_id, limit, worker, fencing_token, now)

    def finish_items(
        self, run_id: str, outcomes: Sequence[ItemOutcome], *, fencing_token: int
    ) -> ItemCounts:
        return item_rows.finish(self, run_id, outcomes, fencing_token)

    def requeue_items(
        self,
        run_id: str,
        *,
        status: ItemStatus,
        fencing_token: int,
        item_ids: Sequence[str] | None = None,
        error_type: str | None = None,
    ) -> int:
        return item_rows.requeue(self, run_id, status, fencing_token, item_ids, error_type)

    def get_item(self, run_id: str, item_id: str) -> ItemRecord | None:
        return item_rows.get(self, run_id, item_id)

    def list_items(
        self,
        run_id: str,
        *,
        status: ItemStatus | None = None,
        after_seq: int = -1,
        limit: int | None = None,
        error_contains: str | None = None,
    ) -> list[ItemRecord]:
        return item_rows.list_items(self, run_id, status, after_seq, limit, error_contains)

    def item_counts(self, run_id: str) -> ItemCounts:
        return item_rows.counts(self, run_id)

    # --- lifecycle --------------------------------------------------------------------------

    def close(self) -> None:
        """Release the backend's connections, files and caches; it is not used afterwards."""
        try:
            with self._lock:
                self._close_store()
                self._tips.clear()
        finally:
            self.stop_loop_thread()

    # --- async twins: each method above in a worker thread, or inline (runs_inline) -------

    asave_checkpoint = thread_twin(save_checkpoint)
    acommit_step = thread_twin(commit_step)
    aload_checkpoint = thread_twin(load_checkpoint)
    aload_latest_checkpoint = thread_twin(load_latest_checkpoint)
    alist_checkpoints = thread_twin(list_checkpoints)
    adelete_checkpoints = thread_twin(delete_checkpoints)
    aprune_checkpoints = thread_twin(prune_checkpoints)
    averify = thread_twin(verify)
    alatest_seq = thread_twin(latest_seq)
    acreate_run = thread_twin(create_run)
    aget_run = thread_twin(get_run)
    alist_runs = thread_twin(list_runs)
    aupdate_run = thread_twin(update_run)
    adelete_run = thread_twin(delete_run)
    aclaim_run = thread_twin(claim_run)
    arenew_lease = thread_twin(renew_lease)
    arelease_lease = thread_twin(release_lease)
    arequest_control = thread_twin(request_control)
    aget_control = thread_twin(get_control)
    aclear_control = thread_twin(clear_control)
    astart_effect = thread_twin(start_effect)
    acomplete_effect = thread_twin(complete_effect)
    afail_effect = thread_twin(fail_effect)
    aget_effect = thread_twin(get_effect)
    alist_effects = thread_twin(list_effects)
    aadd_items = thread_twin(add_items)
    aclaim_items = thread_twin(claim_items)
    afinish_items = thread_twin(finish_items)
    arequeue_items = thread_twin(requeue_items)
    aget_item = thread_twin(get_item)
    alist_items = thread_twin(list_items)
    aitem_counts = thread_twin(item_counts)
    aclose = thread_twin(close)

    # --- internals ------------------------------------------------------------------------

    def _encoded(self, cp: Checkpoint, max_bytes: int | None) -> SealedRecord:
        """The checkpoint's record, refused above the size limit before anything is locked
        or written: a delta on the cached tip when there is one, else a full record."""
        validate_checkpoint_ids(cp)
        limits = [n for n in (self.max_checkpoint_bytes, _limit(max_bytes, "max_bytes")) if n]
        record = SealedRecord.of(
            encode_state(cp), self._tips.get(cp.run_id), min(limits, default=None)
        )
        check_size(cp, record.tree, record.state_bytes, record.limit)
        return record

    def _append_checkpoint(
        self, cp: Checkpoint, record: SealedRecord
    ) -> tuple[CheckpointMetadata, Tip | None]:
        """Store ``cp`` as the run's next record; under the guard. Returns its summary and
        the tip it was stored after (``None``: the run had no record).

        ``record`` is rebuilt (and checked again) if the tip it was made against is not the
        run's tip any more (another process wrote, or the cache was cold).
        """
        last = self._last_entry(cp.run_id)
        cp, seq = numbered(cp, last)
        tip = self._tip(cp.run_id, last)
        if tip is not record.tip:
            record = SealedRecord.of(record.tree, tip, record.limit)
            check_size(cp, record.tree, record.state_bytes, record.limit)
        entry = entry_of(cp, seq, record, tip)
        self._append(cp.run_id, entry, record.body)
        self._tips.put(cp.run_id, next_tip(tip, entry, record))
        return entry.metadata, tip

    def _prune(self, run_id: str, keep: int) -> int:
        """Keep the ``keep`` newest visible checkpoints; under the guard."""
        return self._retired(run_id, plan_prune(self._links(run_id), keep))

    def _prune_after_append(self, run_id: str, keep: int, previous: Tip | None) -> None:
        """:meth:`_prune` right after a record was appended on ``previous``; under the guard.

        Keeping only the latest checkpoint (the default retention) is planned from the
        cached chains when the run held nothing but ``previous``'s chain, so a step reads
        no index entries to prune; the new tip is then alone in turn.
        """
        tip = self._tips.get(run_id)
        if keep == 1 and tip is not None and previous is not None and previous.alone:
            self._retired(run_id, tip.latest_only_after(previous))
        else:
            self._prune(run_id, keep)
        tip = self._tips.get(run_id)
        if keep == 1 and tip is not None:
            self._tips.put(run_id, replace(tip, alone=True))

    def _retired(self, run_id: str, plan: tuple[int, set[int], set[int]]) -> int:
        removed, hide, drop = plan
        if removed:
            self._retire(run_id, hide, drop)
            tip = self._tips.get(run_id)
            if tip is not None and tip.seq in drop:
                self._tips.pop(run_id)
        return removed

    def _load(self, run_id: str, entries: list[IndexEntry], entry: IndexEntry) -> Checkpoint:
        by_seq = {e.seq: e for e in entries}
        try:
            tree = self._tree(run_id, by_seq, entry)
        except CorruptCheckpointError as exc:
            # The cached tip may be built on the record that just failed; never extend it.
            self._tips.pop(run_id)
            raise CorruptCheckpointError(
                f"checkpoint {entry.metadata.id!r} (seq {entry.seq}) of run {run_id!r} is "
                f"corrupt: {exc}"
            ) from None
        if entry is entries[-1]:
            # A run is loaded to be continued: its next save is a delta on this tree.
            self._tips.put(run_id, Tip.of_chain(chain_of(by_seq, entry), tree))
        return decode_state(tree, run_id=run_id, seq=entry.seq, checkpoint_id=entry.metadata.id)

    def _tree(self, run_id: str, by_seq: dict[int, IndexEntry], entry: IndexEntry) -> Any:
        """Rebuild a record's state tree from the full record its chain starts at."""
        chain = chain_of(by_seq, entry)
        bodies = (open_payload(self._read_body(run_id, link), link, run_id) for link in chain)
        tree = apply_chain(next(bodies), bodies)
        if type(tree) is not dict:
            raise CorruptCheckpointError(f"record {entry.seq} does not hold a checkpoint state")
        return tree

    def _tip(self, run_id: str, last: IndexEntry | None) -> Tip | None:
        """The cached tip if it still describes the newest record, else rebuilt from storage."""
        if last is None:
            return None
        tip = self._tips.get(run_id)
        if tip is not None and tip.seq == last.seq and tip.checksum == last.checksum:
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
            self._tips.put(run_id, tip)
            return tip
        return None


def entry_of(cp: Checkpoint, seq: int, record: SealedRecord, tip: Tip | None) -> IndexEntry:
    """The index entry of ``cp`` (numbered ``seq``) stored as ``record`` after ``tip``."""
    if tip is None or record.form is RecordForm.FULL:
        base_seq, prev_seq = seq, None
    else:
        base_seq, prev_seq = tip.base_seq, tip.seq
    return IndexEntry(
        seq=seq,
        form=record.form,
        base_seq=base_seq,
        prev_seq=prev_seq,
        checksum=record.checksum,
        stored_bytes=len(record.body),
        metadata=cp.to_metadata(size_bytes=record.state_bytes),
    )


def next_tip(tip: Tip | None, entry: IndexEntry, record: SealedRecord) -> Tip:
    """The run's tip once ``entry`` (holding ``record``) was stored after ``tip``."""
    return Tip.of_chain([entry], record.tree) if tip is None else tip.extended(entry, record.tree)


def _check_keep(keep: int) -> None:
    if type(keep) is not int or keep < 0:
        raise InvalidArgumentError(f"keep must be a non-negative int, not {keep!r}")


def _limit(value: int | None, name: str) -> int | None:
    if value is not None and (type(value) is not int or value < 1):
        raise InvalidArgumentError(f"{name} must be an int of at least 1, not {value!r}")
    return value
