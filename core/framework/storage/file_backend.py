"""File storage: inspectable JSON files, one folder per run.

Layout under the root folder (a :class:`~framework.runtime.core.Runtime` may share it; it
writes only under ``decisions/``)::

    runs/{run_id}/run.json                      the run record
    runs/{run_id}/index.json                    the run's record index (see below)
    runs/{run_id}/checkpoints/{seq:012d}.json   one record payload per stored checkpoint

Every file is written to a temp file in its own folder, flushed (and fsynced with
``fsync=True``), then renamed over its target with ``os.replace`` (and the folder fsynced
with ``fsync=True``), so a reader sees the old file or the new one, never part of one. A
save writes the record first and the index after, so the index never names a missing or
partial record; a record with no index entry (a save killed between the two writes) is
ignored and overwritten by the next save of that seq. The index is one table — a
``columns`` header and one row per record — plus a checksum of its content, so a
corrupted index is reported rather than trusted.

Two processes may write different runs into one folder; two writers of the same run are
not coordinated here (run leases do that).
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from pathlib import Path

from pydantic import ValidationError

from framework.errors import (
    CheckpointEncodeError,
    CorruptCheckpointError,
    InvalidIdError,
    StorageError,
)
from framework.schemas.checkpoint import CheckpointMetadata
from framework.schemas.run import RunRecord, RunStatus
from framework.storage import codec, faults
from framework.storage.ids import validate_run_id
from framework.storage.record_backend import RecordBackend
from framework.storage.records import IndexEntry, decode_run, filter_runs

__all__ = ["FileStorage"]

_INDEX_FORMAT = 1
_CACHED_INDEXES = 64
_ENTRY_COLUMNS = ("seq", "form", "base_seq", "prev_seq", "visible", "checksum", "stored_bytes")
_METADATA_COLUMNS = (
    "id",
    "executor_type",
    "node_id",
    "created_at",
    "step_number",
    "total_tokens",
    "total_latency_ms",
    "kind",
    "size_bytes",
)
_COLUMNS = list(_ENTRY_COLUMNS + _METADATA_COLUMNS)


@dataclass
class _Index:
    """A run's index as last read or written, with the file identity it was read at.

    ``rows`` holds each entry's row already serialised, so a save serialises one new row
    instead of the whole table.
    """

    signature: tuple[int, int, int] | None
    entries: list[IndexEntry]
    rows: list[bytes]


class FileStorage(RecordBackend):
    """Checkpoints and run records as JSON files under ``path`` (``~`` expanded).

    ``fsync=True`` makes every write survive power loss, not only a killed process.
    ``max_checkpoint_bytes`` refuses larger checkpoints with ``CheckpointTooLargeError``.
    Folders are created on first write.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        fsync: bool = False,
        max_checkpoint_bytes: int | None = None,
    ) -> None:
        super().__init__(max_checkpoint_bytes=max_checkpoint_bytes)
        self.root = Path(path).expanduser().resolve()
        self.fsync = fsync
        self._indexes: OrderedDict[str, _Index] = OrderedDict()
        self._run_dirs: dict[str, Path] = {}

    def close(self) -> None:
        """Forget cached indexes; every file is already closed after each operation."""
        with self._lock:
            self._indexes.clear()

    # --- paths ----------------------------------------------------------------------------

    def _run_dir(self, run_id: str) -> Path:
        folder = self._run_dirs.get(run_id)
        if folder is None:
            folder = self.root / "runs" / validate_run_id(run_id)
            # A valid id cannot escape, but a symlinked folder could; resolve and check.
            if not folder.resolve().is_relative_to(self.root):
                raise InvalidIdError(
                    f"run {run_id!r} resolves outside the storage root {self.root}"
                )
            self._run_dirs[run_id] = folder
        return folder

    def _record_path(self, run_id: str, seq: int) -> Path:
        return self._run_dir(run_id) / "checkpoints" / f"{seq:012d}.json"

    # --- records --------------------------------------------------------------------------

    def _transaction(self) -> AbstractContextManager[None]:
        return nullcontext()

    def _entries(self, run_id: str) -> list[IndexEntry]:
        return list(self._index(run_id).entries)

    def _read_body(self, run_id: str, entry: IndexEntry) -> bytes:
        path = self._record_path(run_id, entry.seq)
        try:
            return path.read_bytes()
        except FileNotFoundError:
            raise CorruptCheckpointError(f"record file {path} is missing") from None
        except OSError as exc:
            raise CorruptCheckpointError(f"record file {path} is unreadable: {exc}") from None

    def _append(self, run_id: str, entry: IndexEntry, body: bytes) -> None:
        index = self._index(run_id)
        path = self._record_path(run_id, entry.seq)
        self._ensure_dir(path.parent)
        self._write_atomic(path, body, "record")
        self._write_index(run_id, [*index.entries, entry], [*index.rows, _entry_to_row(entry)])

    def _retire(self, run_id: str, hide: set[int], drop: set[int]) -> None:
        index = self._index(run_id)
        entries, rows = [], []
        for entry, row in zip(index.entries, index.rows, strict=True):
            if entry.seq in drop:
                continue
            if entry.seq in hide:
                entry = entry.model_copy(update={"visible": False})
                row = _entry_to_row(entry)
            entries.append(entry)
            rows.append(row)
        # The index stops naming records before they are deleted.
        self._write_index(run_id, entries, rows)
        for seq in drop:
            self._record_path(run_id, seq).unlink(missing_ok=True)

    def _drop_run_records(self, run_id: str) -> None:
        folder = self._run_dir(run_id)
        (folder / "index.json").unlink(missing_ok=True)
        self._indexes.pop(run_id, None)
        self._sync_dir(folder)
        shutil.rmtree(folder / "checkpoints", ignore_errors=True)

    # --- the index ------------------------------------------------------------------------

    def _index(self, run_id: str) -> _Index:
        """The run's index, re-read only when the file changed since this instance saw it."""
        path = self._run_dir(run_id) / "index.json"
        try:
            stat = path.stat()
        except FileNotFoundError:
            self._indexes.pop(run_id, None)
            return _Index(None, [], [])
        signature = (stat.st_ino, stat.st_size, stat.st_mtime_ns)
        cached = self._indexes.get(run_id)
        if cached is not None and cached.signature == signature:
            self._indexes.move_to_end(run_id)
            return cached
        index = _Index(signature, *_parse_index(path, run_id))
        self._cache_index(run_id, index)
        return index

    def _cache_index(self, run_id: str, index: _Index) -> None:
        self._indexes[run_id] = index
        self._indexes.move_to_end(run_id)
        while len(self._indexes) > _CACHED_INDEXES:
            self._indexes.popitem(last=False)

    def _write_index(self, run_id: str, entries: list[IndexEntry], rows: list[bytes]) -> None:
        path = self._run_dir(run_id) / "index.json"
        # The canonical JSON of {"checksum": ..., "index": {"columns", "format", "rows",
        # "run_id"}} (keys in sorted order), assembled from already canonical parts.
        head = codec.canonical_bytes(_COLUMNS)
        tail = codec.canonical_bytes(run_id)
        content = b'{"columns":%s,"format":%d,"rows":[%s],"run_id":%s}' % (
            head,
            _INDEX_FORMAT,
            b",".join(rows),
            tail,
        )
        data = b'{"checksum":"%s","index":%s}' % (codec.checksum(content).encode(), content)
        self._write_atomic(path, data, "index")
        stat = path.stat()
        self._cache_index(
            run_id, _Index((stat.st_ino, stat.st_size, stat.st_mtime_ns), entries, rows)
        )

    # --- runs -----------------------------------------------------------------------------

    def _insert_run(self, record: RunRecord, body: bytes) -> bool:
        folder = self._run_dir(record.run_id)
        self._ensure_dir(folder)
        target = folder / "run.json"
        temp = self._write_temp(target, body)
        try:
            # A hard link fails if the target exists, so two creators cannot both succeed.
            os.link(temp, target)
        except FileExistsError:
            return False
        finally:
            temp.unlink(missing_ok=True)
        self._sync_dir(folder)
        return True

    def _read_run(self, run_id: str) -> RunRecord | None:
        path = self._run_dir(run_id) / "run.json"
        try:
            return decode_run(path.read_bytes(), str(path))
        except FileNotFoundError:
            return None

    def _replace_run(self, record: RunRecord, body: bytes) -> None:
        self._write_atomic(self._run_dir(record.run_id) / "run.json", body, "run")

    def _select_runs(
        self,
        status: RunStatus | None,
        agent_id: str | None,
        graph_id: str | None,
        limit: int | None,
    ) -> list[RunRecord]:
        return filter_runs(self._all_runs(), status, agent_id, graph_id, limit)

    def _all_runs(self) -> Iterator[RunRecord]:
        runs = self.root / "runs"
        names = sorted(p.name for p in runs.iterdir() if p.is_dir()) if runs.is_dir() else []
        for name in names:
            try:
                validate_run_id(name)
            except InvalidIdError:
                continue  # not a folder this backend created
            record = self._read_run(name)
            if record is not None:
                yield record

    # --- atomic writes --------------------------------------------------------------------

    def _write_atomic(self, path: Path, data: bytes, what: str) -> None:
        temp = self._write_temp(path, data)
        try:
            faults.point(f"file.{what}.temp_written")
            os.replace(temp, path)
        except BaseException:
            temp.unlink(missing_ok=True)
            raise
        self._sync_dir(path.parent)

    def _write_temp(self, path: Path, data: bytes) -> Path:
        temp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
        try:
            with temp.open("xb") as handle:
                handle.write(data)
                handle.flush()
                if self.fsync:
                    os.fsync(handle.fileno())
        except BaseException:
            temp.unlink(missing_ok=True)
            raise
        return temp

    def _ensure_dir(self, folder: Path) -> None:
        missing = []
        while not folder.is_dir():
            missing.append(folder)
            folder = folder.parent
        for created in reversed(missing):
            created.mkdir(exist_ok=True)
            self._sync_dir(created.parent)

    def _sync_dir(self, folder: Path) -> None:
        # A rename or a new entry is durable only once its folder is; Windows cannot open one.
        if not self.fsync or os.name == "nt":
            return
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _entry_to_row(entry: IndexEntry) -> bytes:
    metadata = entry.metadata.model_dump(mode="json")
    head = entry.model_dump(mode="json", include=set(_ENTRY_COLUMNS))
    return codec.canonical_bytes(
        [head[c] for c in _ENTRY_COLUMNS] + [metadata[c] for c in _METADATA_COLUMNS]
    )


def _parse_index(path: Path, run_id: str) -> tuple[list[IndexEntry], list[bytes]]:
    problem = f"the checkpoint index {path} is corrupt"
    try:
        document = json.loads(path.read_bytes())
        content = document["index"]
        if codec.checksum(codec.canonical_bytes(content)) != document["checksum"]:
            raise ValueError("checksum mismatch")
        columns, rows = content["columns"], content["rows"]
        entries = []
        for row in rows:
            values = dict(zip(columns, row, strict=True))
            metadata = CheckpointMetadata.model_validate(
                {c: values[c] for c in _METADATA_COLUMNS} | {"run_id": run_id, "seq": values["seq"]}
            )
            entries.append(
                IndexEntry.model_validate(
                    {c: values[c] for c in _ENTRY_COLUMNS} | {"metadata": metadata}
                )
            )
    except (KeyError, TypeError, ValueError, ValidationError, CheckpointEncodeError) as exc:
        raise StorageError(
            f"{problem} ({exc}); its record files are in {path.parent / 'checkpoints'}"
        ) from None
    return entries, [_entry_to_row(entry) for entry in entries]
