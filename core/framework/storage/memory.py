"""In-process storage for tests and notebooks: the full contract, no durability.

Records are kept as the same checksummed bytes the durable backends write, so corruption
detection, deltas and pruning behave exactly as they do on disk; only a process exit
loses them.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, nullcontext

from framework.errors import CorruptCheckpointError
from framework.schemas.control import ControlSignal
from framework.schemas.effect import EffectRecord
from framework.schemas.item import ItemStatus
from framework.schemas.run import RunFilter, RunRecord
from framework.storage._engine import (
    IndexEntry,
    ItemRow,
    RecordBackend,
    decode_run,
    filter_runs,
    merge,
    picked,
    scanned,
)

__all__ = ["MemoryStorage"]


class MemoryStorage(RecordBackend):
    """Checkpoints, run records, control signals and effects in dictionaries of this instance.

    ``records`` maps ``(run_id, seq)`` to a stored record body; it is public so tests can
    corrupt a stored record the way a failing disk would.
    """

    runs_inline = True
    """Its async methods run on the caller's event loop: they never wait on I/O."""

    def __init__(self, *, max_checkpoint_bytes: int | None = None) -> None:
        super().__init__(max_checkpoint_bytes=max_checkpoint_bytes)
        self.records: dict[tuple[str, int], bytes] = {}
        # Per run, index entries by seq, in seq order.
        self._index: dict[str, dict[int, IndexEntry]] = {}
        self._runs: dict[str, bytes] = {}
        self._control: dict[str, bytes] = {}
        # Per run, effect rows by key; dicts keep insertion order, which is start order.
        self._effects: dict[str, dict[str, bytes]] = {}
        # Per run, item rows by id; an item is added once, so insertion order is seq order.
        self._items: dict[str, dict[str, ItemRow]] = {}
        self._item_counts: dict[str, bytes] = {}

    def _close_store(self) -> None:
        """Nothing to release; the data stays readable until the instance is dropped."""

    def _transaction(self) -> AbstractContextManager[None]:
        return nullcontext()

    def _entries(self, run_id: str) -> list[IndexEntry]:
        return list(self._index.get(run_id, {}).values())

    def _last_entry(self, run_id: str) -> IndexEntry | None:
        index = self._index.get(run_id)
        return next(reversed(index.values())) if index else None

    def _read_body(self, run_id: str, entry: IndexEntry) -> bytes:
        body = self.records.get((run_id, entry.seq))
        if body is None:
            raise CorruptCheckpointError(f"record {entry.seq} of run {run_id!r} is missing")
        return body

    def _append(self, run_id: str, entry: IndexEntry, body: bytes) -> None:
        self.records[(run_id, entry.seq)] = body
        self._index.setdefault(run_id, {})[entry.seq] = entry

    def _retire(self, run_id: str, hide: set[int], drop: set[int]) -> None:
        index = self._index.get(run_id, {})
        for seq in drop & index.keys():
            del index[seq], self.records[(run_id, seq)]
        for seq in hide & index.keys():
            index[seq] = index[seq].model_copy(update={"visible": False})

    def _drop_run_records(self, run_id: str) -> None:
        for seq in self._index.pop(run_id, {}):
            del self.records[(run_id, seq)]

    def _insert_run(self, record: RunRecord, body: bytes) -> bool:
        if record.run_id in self._runs:
            return False
        self._runs[record.run_id] = body
        return True

    def _read_run(self, run_id: str) -> RunRecord | None:
        body = self._runs.get(run_id)
        return None if body is None else self._decode_run(run_id, body, f"memory run {run_id!r}")

    def _replace_run(self, record: RunRecord, body: bytes) -> None:
        self._runs[record.run_id] = body

    def _select_runs(self, where: RunFilter) -> list[RunRecord]:
        return filter_runs(self._all_runs(), where)

    def _all_runs(self) -> Iterator[RunRecord]:
        for run_id, body in self._runs.items():
            yield decode_run(body, f"memory run {run_id!r}")

    def _delete_run(self, run_id: str) -> bool:
        existed = run_id in self._runs or run_id in self._index
        existed |= run_id in self._control or run_id in self._effects or run_id in self._items
        self._drop_run_records(run_id)
        self._runs.pop(run_id, None)
        self._control.pop(run_id, None)
        self._effects.pop(run_id, None)
        self._items.pop(run_id, None)
        self._item_counts.pop(run_id, None)
        return existed

    # --- control signals and effects ------------------------------------------------------

    def _read_control(self, run_id: str) -> bytes | None:
        return self._control.get(run_id)

    def _write_control(self, signal: ControlSignal, body: bytes) -> None:
        self._control[signal.run_id] = body

    def _drop_control(self, run_id: str) -> None:
        self._control.pop(run_id, None)

    def _read_effect(self, run_id: str, key: str) -> bytes | None:
        return self._effects.get(run_id, {}).get(key)

    def _write_effect(self, record: EffectRecord, body: bytes) -> None:
        self._effects.setdefault(record.run_id, {})[record.key] = body

    def _effect_bodies(self, run_id: str) -> list[bytes]:
        return list(self._effects.get(run_id, {}).values())

    # --- item ledgers -----------------------------------------------------------------------

    def _read_items(
        self, run_id: str, item_ids: Sequence[str], *, payloads: bool
    ) -> dict[str, ItemRow]:
        return picked(self._items.get(run_id, {}), item_ids, payloads)

    def _scan_items(
        self,
        run_id: str,
        status: ItemStatus | None,
        after_seq: int,
        limit: int | None,
        due_by: str | None,
        *,
        payloads: bool,
    ) -> list[ItemRow]:
        rows = self._items.get(run_id, {}).values()
        return scanned(rows, status, after_seq, limit, due_by, payloads)

    def _store_items(self, run_id: str, rows: Sequence[ItemRow], counts: bytes) -> None:
        merge(self._items.setdefault(run_id, {}), rows)
        self._item_counts[run_id] = counts

    def _read_item_counts(self, run_id: str) -> bytes | None:
        return self._item_counts.get(run_id)
