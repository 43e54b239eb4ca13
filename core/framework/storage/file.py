"""File storage: inspectable JSON files, one folder per run.

Layout under the root folder (a :class:`~framework.runtime.core.Runtime` may share it; it
writes only under ``decisions/``)::

    runs/{run_id}/run.json                      the run record (with its lease)
    runs/{run_id}/index.json                    the run's record index (see below)
    runs/{run_id}/checkpoints/{seq:012d}.json   one record per stored checkpoint: its index
                                                row and its payload
    runs/{run_id}/control.json                  the pending pause / cancel request, if any
    runs/{run_id}/effects/{sha256(key)[:32]}.json  one effect row: {"effect", "ordinal"}
    runs/{run_id}/items.json                    a batch run's item ledger: its counts and
                                                one row per item, checksummed, rewritten
                                                whole at each change
    runs/{run_id}/.lock                         the run's write lock (see below)

Every file is written to a temp file in its own folder, flushed (and fsynced with
``fsync=True``), then renamed over its target with ``os.replace`` (and the folder fsynced
with ``fsync=True``), so a reader sees the old file or the new one, never part of one. A
save writes the record first and the index after, so the index never names a missing or
partial record; a record with no index entry (a save killed between the two writes) is
ignored and overwritten by the next save of that seq (unless the index must be rebuilt,
which indexes it: it is complete). The index is one table — a
``columns`` header and one row per record — plus a checksum of its content, so a
corrupted index is detected rather than trusted. Each record file repeats its own row,
checksummed, so a damaged or missing index is rebuilt from the record files and written
back, with an :class:`IndexRebuiltWarning` (see :mod:`framework.storage._file_index`).

Every write of a run holds an exclusive ``flock`` on its ``.lock`` file (see
:mod:`framework.storage._file_lock`), so writes of one run from several processes never
interleave, and a fenced write checks ``run.json``'s fencing token and writes under the same
lock. Which process may write a run at all is decided by its lease. Deleting a run renames
its folder to ``runs/.deleted-...`` first (one atomic step), then removes that.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import uuid
import warnings
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path

from framework.errors import (
    CheckpointEncodeError,
    CorruptCheckpointError,
    InvalidIdError,
    StorageError,
)
from framework.schemas.control import ControlSignal
from framework.schemas.effect import EffectRecord
from framework.schemas.ids import validate_run_id
from framework.schemas.run import RunFilter, RunRecord
from framework.storage import _faults, codec
from framework.storage._engine import (
    IndexEntry,
    LRUCache,
    RecordBackend,
    filter_runs,
)
from framework.storage._file_index import (
    RECORD_NAME,
    Index,
    entry_to_row,
    index_bytes,
    parse_index,
    read_records,
    record_body,
    record_bytes,
)
from framework.storage._file_items import FileItemRows
from framework.storage._file_lock import hold_file_lock

__all__ = ["FileStorage", "IndexRebuiltWarning"]

logger = logging.getLogger("framework.storage")

_CACHED_INDEXES = 64


class IndexRebuiltWarning(UserWarning):
    """A run's damaged or missing ``index.json`` was rebuilt from its record files."""


class FileStorage(FileItemRows, RecordBackend):
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
        self._indexes: LRUCache[str, Index] = LRUCache(_CACHED_INDEXES)
        self._run_dirs: dict[str, Path] = {}
        # Runs whose lock this instance holds (always under its instance lock): a rebuild
        # of the index during a write must not wait for the lock its own write holds.
        self._locked_runs: set[str] = set()

    def _close_store(self) -> None:
        """Forget cached indexes; every file is already closed after each operation."""
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

    def _effect_path(self, run_id: str, key: str) -> Path:
        # Keys may be long or case-variant; a hash names the file safely on every platform.
        name = hashlib.sha256(key.encode("utf-8")).hexdigest()[:32]
        return self._run_dir(run_id) / "effects" / f"{name}.json"

    # --- atomicity ------------------------------------------------------------------------

    def _transaction(self) -> AbstractContextManager[None]:
        return nullcontext()

    @contextmanager
    def _run_lock(self, run_id: str, *, create: bool) -> Iterator[None]:
        if run_id in self._locked_runs:
            yield
            return
        folder = self._run_dir(run_id)
        with hold_file_lock(
            folder / ".lock", (lambda: self._ensure_dir(folder)) if create else None
        ):
            self._locked_runs.add(run_id)
            try:
                yield
            finally:
                self._locked_runs.discard(run_id)

    # --- records --------------------------------------------------------------------------

    def _entries(self, run_id: str) -> list[IndexEntry]:
        return list(self._index(run_id).entries)

    def _read_body(self, run_id: str, entry: IndexEntry) -> bytes:
        path = self._record_path(run_id, entry.seq)
        try:
            return record_body(path.read_bytes())
        except FileNotFoundError:
            raise CorruptCheckpointError(f"record file {path} is missing") from None
        except OSError as exc:
            raise CorruptCheckpointError(f"record file {path} is unreadable: {exc}") from None
        except ValueError as exc:
            raise CorruptCheckpointError(f"record file {path} is corrupt: {exc}") from None

    def _append(self, run_id: str, entry: IndexEntry, body: bytes) -> None:
        index = self._index(run_id)
        path = self._record_path(run_id, entry.seq)
        row = entry_to_row(entry)
        self._ensure_dir(path.parent)
        self._write_atomic(path, record_bytes(row, body), "record")
        self._write_index(run_id, [*index.entries, entry], [*index.rows, row])

    def _retire(self, run_id: str, hide: set[int], drop: set[int]) -> None:
        index = self._index(run_id)
        entries, rows = [], []
        for entry, row in zip(index.entries, index.rows, strict=True):
            if entry.seq in drop:
                continue
            if entry.seq in hide:
                entry = entry.model_copy(update={"visible": False})
                row = entry_to_row(entry)
            entries.append(entry)
            rows.append(row)
        # The index stops naming records before they are deleted.
        self._write_index(run_id, entries, rows)
        for seq in drop:
            self._record_path(run_id, seq).unlink(missing_ok=True)

    def _drop_run_records(self, run_id: str) -> None:
        # An empty index first: a crash in between leaves records no index names (ignored),
        # never a missing index that would be rebuilt from records being deleted.
        folder = self._run_dir(run_id)
        if (folder / "index.json").exists():
            self._write_index(run_id, [], [])
        shutil.rmtree(folder / "checkpoints", ignore_errors=True)
        (folder / "index.json").unlink(missing_ok=True)
        self._indexes.pop(run_id)
        self._sync_dir(folder)

    # --- the index ------------------------------------------------------------------------

    def _index(self, run_id: str) -> Index:
        """The run's index, rebuilt from its record files if it is damaged or missing."""
        index = self._stored_index(run_id)
        return index if isinstance(index, Index) else self._rebuilt_index(run_id)

    def _stored_index(self, run_id: str) -> Index | str:
        """The index file, re-read only when it changed since this instance saw it, or why
        it cannot be used: it is damaged, or missing while record files exist."""
        path = self._run_dir(run_id) / "index.json"
        try:
            stat = path.stat()
        except FileNotFoundError:
            self._indexes.pop(run_id)
            if self._has_records(run_id):
                return f"the checkpoint index {path} is missing"
            return Index(None, [], [])
        signature = (stat.st_ino, stat.st_size, stat.st_mtime_ns)
        cached = self._indexes.get(run_id)
        if cached is not None and cached.signature == signature:
            return cached
        try:
            index = Index(signature, *parse_index(path, run_id))
        except StorageError as exc:
            return str(exc)
        self._indexes.put(run_id, index)
        return index

    def _rebuilt_index(self, run_id: str) -> Index:
        """Rebuild the index from the record files and write it back, under the run's lock."""
        folder = self._run_dir(run_id) / "checkpoints"
        with self._run_lock(run_id, create=False):
            # Another process may have written or rebuilt it while this one waited.
            problem = self._stored_index(run_id)
            if isinstance(problem, Index):
                return problem
            entries, rows, unreadable = read_records(folder, run_id)
            index = self._write_index(run_id, entries, rows)
        skipped = f"; left out: {'; '.join(unreadable)}" if unreadable else ""
        message = (
            f"{problem}; rebuilt it from the {len(entries)} record files in {folder}{skipped}. "
            "Checkpoints a prune had hidden are listed again until the next prune"
        )
        logger.warning(message)
        warnings.warn(message, IndexRebuiltWarning, stacklevel=2)
        return index

    def _has_records(self, run_id: str) -> bool:
        folder = self._run_dir(run_id) / "checkpoints"
        try:
            return any(RECORD_NAME.fullmatch(p.name) for p in folder.iterdir())
        except FileNotFoundError:
            return False

    def _write_index(self, run_id: str, entries: list[IndexEntry], rows: list[bytes]) -> Index:
        path = self._run_dir(run_id) / "index.json"
        self._write_atomic(path, index_bytes(run_id, rows), "index")
        stat = path.stat()
        index = Index((stat.st_ino, stat.st_size, stat.st_mtime_ns), entries, rows)
        self._indexes.put(run_id, index)
        return index

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
            return self._decode_run(run_id, path.read_bytes(), str(path))
        except FileNotFoundError:
            return None

    def _replace_run(self, record: RunRecord, body: bytes) -> None:
        self._write_atomic(self._run_dir(record.run_id) / "run.json", body, "run")

    def _select_runs(self, where: RunFilter) -> list[RunRecord]:
        return filter_runs(self._all_runs(), where)

    def _all_runs(self) -> Iterator[RunRecord]:
        runs = self.root / "runs"
        names = sorted(p.name for p in runs.iterdir() if p.is_dir()) if runs.is_dir() else []
        for name in names:
            try:
                validate_run_id(name)
            except InvalidIdError:
                continue  # not a run folder: a deleted run's, or one this backend did not make
            record = self._read_run(name)
            if record is not None:
                yield record

    def _delete_run(self, run_id: str) -> bool:
        folder = self._run_dir(run_id)
        self._indexes.pop(run_id)
        if not folder.is_dir():
            return False
        doomed = folder.with_name(f".deleted-{run_id}-{uuid.uuid4().hex}")
        os.replace(folder, doomed)
        self._sync_dir(folder.parent)
        shutil.rmtree(doomed, ignore_errors=True)
        return True

    # --- control signals and effects ------------------------------------------------------

    def _read_control(self, run_id: str) -> bytes | None:
        try:
            return (self._run_dir(run_id) / "control.json").read_bytes()
        except FileNotFoundError:
            return None

    def _write_control(self, signal: ControlSignal, body: bytes) -> None:
        self._write_atomic(self._run_dir(signal.run_id) / "control.json", body, "control")

    def _drop_control(self, run_id: str) -> None:
        folder = self._run_dir(run_id)
        (folder / "control.json").unlink(missing_ok=True)
        self._sync_dir(folder)

    def _read_effect(self, run_id: str, key: str) -> bytes | None:
        path = self._effect_path(run_id, key)
        try:
            return _effect_row(path)[1]
        except FileNotFoundError:
            return None

    def _write_effect(self, record: EffectRecord, body: bytes) -> None:
        path = self._effect_path(record.run_id, record.key)
        try:
            ordinal = _effect_row(path)[0]
        except FileNotFoundError:
            self._ensure_dir(path.parent)
            # Effect files are never removed one by one, so the count only grows.
            ordinal = sum(1 for p in path.parent.iterdir() if not p.name.startswith(".")) + 1
        self._write_atomic(path, b'{"effect":%s,"ordinal":%d}' % (body, ordinal), "effect")

    def _effect_bodies(self, run_id: str) -> list[bytes]:
        folder = self._run_dir(run_id) / "effects"
        paths = (
            [p for p in folder.iterdir() if not p.name.startswith(".")] if folder.is_dir() else []
        )
        return [body for _, body in sorted(_effect_row(p) for p in paths)]

    # --- atomic writes --------------------------------------------------------------------

    def _write_atomic(self, path: Path, data: bytes, what: str) -> None:
        temp = self._write_temp(path, data)
        try:
            _faults.point(f"file.{what}.temp_written")
            os.replace(temp, path)
        except BaseException:
            temp.unlink(missing_ok=True)
            raise
        _faults.point(f"file.{what}.renamed")
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
            try:
                created.mkdir(exist_ok=True)
            except OSError as exc:
                raise StorageError(
                    f"file storage {self.root}: cannot create the folder {created} "
                    f"({exc.strerror or exc}); use a storage folder you may write to"
                ) from None
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


def _effect_row(path: Path) -> tuple[int, bytes]:
    """An effect file's ordinal and the stored bytes of its row."""
    try:
        document = json.loads(path.read_bytes())
        return int(document["ordinal"]), codec.canonical_bytes(document["effect"])
    except (KeyError, TypeError, ValueError, CheckpointEncodeError) as exc:
        raise StorageError(f"the effect file {path} is corrupt ({exc})") from None
