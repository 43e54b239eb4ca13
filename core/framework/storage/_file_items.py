"""A batch run's item ledger in the file backend: one checksummed ``items.json`` per run.

The file holds the ledger's counts and one row per item (id, seq, status, due time, and the
item's typed fields, input and result as JSON), in seq order, with a checksum of both; it is
rewritten whole, by an atomic replace, at each change, so a reader sees the old ledger or
the new one.
"""

from __future__ import annotations

import json
from abc import abstractmethod
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from framework.errors import CheckpointEncodeError, StorageError
from framework.schemas.item import ItemStatus
from framework.storage import codec
from framework.storage._engine import ItemRow, merge, picked, scanned, split_body

__all__ = ["LEDGER_NAME", "FileItemRows", "ledger_bytes", "read_ledger"]

LEDGER_NAME = "items.json"


def ledger_bytes(counts: bytes, rows: Iterable[ItemRow]) -> bytes:
    """The file's bytes for ``counts`` and every row of the ledger."""
    content = {
        "counts": json.loads(counts),
        "items": [
            [row.item_id, row.seq, row.status.value, row.due, *map(json.loads, _parts(row))]
            for row in sorted(rows, key=lambda row: row.seq)
        ],
    }
    document = {**content, "checksum": codec.checksum(codec.canonical_bytes(content))}
    return codec.canonical_bytes(document)


def read_ledger(path: Path) -> tuple[bytes | None, dict[str, ItemRow]]:
    """The ledger's counts and its rows by id (``None`` and none when there is no file);
    ``StorageError`` if the file is damaged."""
    try:
        document = json.loads(path.read_bytes())
        content = {"counts": document["counts"], "items": document["items"]}
        if codec.checksum(codec.canonical_bytes(content)) != document["checksum"]:
            raise ValueError("it failed its checksum")
        rows = {
            item_id: ItemRow(item_id, seq, ItemStatus(status), due, *_stored_parts(parts))
            for item_id, seq, status, due, *parts in content["items"]
        }
        return codec.canonical_bytes(content["counts"]), rows
    except FileNotFoundError:
        return None, {}
    except (KeyError, TypeError, ValueError, CheckpointEncodeError) as exc:
        raise StorageError(
            f"the item ledger {path} is corrupt ({exc}); restore it from a backup or delete the run"
        ) from None


def _parts(row: ItemRow) -> tuple[bytes, bytes, bytes]:
    if row.input is None or row.result is None:
        raise ValueError(f"item {row.item_id!r} is stored without its input or result")
    return row.state, row.input, row.result


def _stored_parts(trees: list[Any]) -> tuple[bytes, bytes, bytes]:
    # A ledger written before item rows had three parts holds one tree per item.
    if len(trees) == 1:
        return split_body(codec.canonical_bytes(trees[0]))
    state, data, result = trees
    canonical = codec.canonical_bytes
    return canonical(state), canonical(data), canonical(result)


class FileItemRows:
    """The item-ledger primitives of the file backend, over its run folders and atomic
    writes."""

    @abstractmethod
    def _run_dir(self, run_id: str) -> Path:
        """The run's folder."""

    @abstractmethod
    def _write_atomic(self, path: Path, data: bytes, what: str) -> None:
        """Replace ``path`` with ``data`` atomically (``what`` names its fault points)."""

    def _read_items(
        self, run_id: str, item_ids: Sequence[str], *, payloads: bool
    ) -> dict[str, ItemRow]:
        return picked(self._ledger(run_id)[1], item_ids, payloads)

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
        rows = sorted(self._ledger(run_id)[1].values(), key=lambda row: row.seq)
        return scanned(rows, status, after_seq, limit, due_by, payloads)

    def _store_items(self, run_id: str, rows: Sequence[ItemRow], counts: bytes) -> None:
        stored = self._ledger(run_id)[1]
        merge(stored, rows)
        path = self._run_dir(run_id) / LEDGER_NAME
        self._write_atomic(path, ledger_bytes(counts, stored.values()), "items")

    def _read_item_counts(self, run_id: str) -> bytes | None:
        return self._ledger(run_id)[0]

    def _ledger(self, run_id: str) -> tuple[bytes | None, dict[str, ItemRow]]:
        """The run's item ledger file: its counts and its rows by id (none if absent)."""
        return read_ledger(self._run_dir(run_id) / LEDGER_NAME)
