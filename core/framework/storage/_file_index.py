"""The file backend's per-run index, and the record files it can be rebuilt from.

``index.json`` holds ``{"checksum": ..., "index": {"columns", "format", "rows", "run_id"}}``:
a ``columns`` header and one row per stored record (its :class:`IndexEntry` and checkpoint
metadata), plus the checksum of the canonical bytes of ``index``, so a corrupted index is
detected rather than trusted. Rows are kept serialised, so a save serialises one new row
instead of the whole table.

Each record file repeats its own row: ``{"entry": row, "entry_checksum": ..., "payload":
...}``, the row checksummed on its own and the payload's checksum inside the row. So a
damaged or missing index is rebuilt from the record files (:func:`read_records`): a record
whose row is intact is indexed again even if its payload is damaged (loading and verifying
then report it), one whose row is unreadable cannot be, and is named instead. A rebuilt
index shows every indexed record as visible: which ones a prune had hidden is kept only in
the index, so they count again until the next prune. Record files of the first release hold
the payload alone; they load through their index row, but cannot be indexed again. A
record file whose own row is damaged is corrupt even when its payload is intact: it could
not be indexed again.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from framework.errors import CheckpointEncodeError, StorageError
from framework.schemas.checkpoint import CheckpointMetadata
from framework.storage import codec
from framework.storage._engine import IndexEntry

_INDEX_FORMAT = 1
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
_PARSE_ERRORS = (KeyError, TypeError, ValueError, ValidationError, CheckpointEncodeError)

# A record file is exactly _ROW_KEY + row + _CHECKSUM_KEY + checksum(row) + _PAYLOAD_KEY +
# payload + b"}": the canonical JSON of the document, since the keys are in sorted order.
_ROW_KEY = b'{"entry":'
_CHECKSUM_KEY = b',"entry_checksum":"'
_PAYLOAD_KEY = b'","payload":'
RECORD_NAME = re.compile(r"\d{12}\.json")


@dataclass
class Index:
    """A run's index as last read or written, with the file identity it was read at.

    ``rows`` holds each entry's row already serialised, so a save serialises one new row
    instead of the whole table.
    """

    signature: tuple[int, int, int] | None
    entries: list[IndexEntry]
    rows: list[bytes]


def index_bytes(run_id: str, rows: list[bytes]) -> bytes:
    """The stored bytes of an index holding ``rows`` (each from :func:`entry_to_row`)."""
    # The canonical JSON of the document (keys in sorted order), assembled from already
    # canonical parts.
    content = b'{"columns":%s,"format":%d,"rows":[%s],"run_id":%s}' % (
        codec.canonical_bytes(_COLUMNS),
        _INDEX_FORMAT,
        b",".join(rows),
        codec.canonical_bytes(run_id),
    )
    return b'{"checksum":"%s","index":%s}' % (codec.checksum(content).encode(), content)


def entry_to_row(entry: IndexEntry) -> bytes:
    metadata = entry.metadata.model_dump(mode="json")
    head = entry.model_dump(mode="json", include=set(_ENTRY_COLUMNS))
    return codec.canonical_bytes(
        [head[c] for c in _ENTRY_COLUMNS] + [metadata[c] for c in _METADATA_COLUMNS]
    )


def parse_index(path: Path, run_id: str) -> tuple[list[IndexEntry], list[bytes]]:
    """The entries and rows of the index file; ``StorageError`` saying why if it is damaged."""
    try:
        document = json.loads(path.read_bytes())
        content = document["index"]
        if codec.checksum(codec.canonical_bytes(content)) != document["checksum"]:
            raise ValueError("checksum mismatch")
        columns = content["columns"]
        entries = [_entry(dict(zip(columns, row, strict=True)), run_id) for row in content["rows"]]
    except _PARSE_ERRORS as exc:
        raise StorageError(f"the checkpoint index {path} is corrupt ({exc})") from None
    return entries, [entry_to_row(entry) for entry in entries]


def record_bytes(row: bytes, body: bytes) -> bytes:
    """The stored bytes of a record file: its index ``row`` (checksummed) and its ``body``."""
    return b"%s%s%s%s%s%s}" % (
        _ROW_KEY,
        row,
        _CHECKSUM_KEY,
        codec.checksum(row).encode(),
        _PAYLOAD_KEY,
        body,
    )


def record_body(data: bytes) -> bytes:
    """The payload bytes of a record file; ``ValueError`` if its own index row is damaged.

    A file that does not start with its row was written by the first release: it is the
    payload alone. The payload is not judged here: it is checked against the index entry's
    checksum before use.
    """
    if not data.startswith(_ROW_KEY):
        return data
    return data[_split(data)[1] : -1]


def read_records(folder: Path, run_id: str) -> tuple[list[IndexEntry], list[bytes], list[str]]:
    """The entries and rows of the record files in ``folder``, in seq order, and the problems.

    A record file whose own row is unreadable is left out, with a sentence naming it.
    """
    entries: list[IndexEntry] = []
    problems: list[str] = []
    found = folder.iterdir() if folder.is_dir() else iter(())
    names = sorted(p.name for p in found if RECORD_NAME.fullmatch(p.name))
    for name in names:
        path = folder / name
        try:
            entries.append(_record_entry(path.read_bytes(), run_id, int(name[:12])))
        except OSError as exc:
            problems.append(f"{path} is unreadable ({exc})")
        except _PARSE_ERRORS as exc:
            problems.append(f"{path} cannot be indexed ({exc})")
    return entries, [entry_to_row(entry) for entry in entries], problems


def _record_entry(data: bytes, run_id: str, seq: int) -> IndexEntry:
    if not data.startswith(_ROW_KEY):
        raise ValueError("it does not start with its index row; the first release wrote it")
    row, _ = _split(data)
    entry = _entry(dict(zip(_COLUMNS, json.loads(row), strict=True)), run_id)
    if entry.seq != seq:
        raise ValueError(f"its index row is for seq {entry.seq}")
    return entry


def _split(data: bytes) -> tuple[bytes, int]:
    """A record file's index row, verified against its checksum, and where its payload starts."""
    row_end = data.find(_CHECKSUM_KEY)
    checksum_end = data.find(_PAYLOAD_KEY, row_end)
    if row_end < 0 or checksum_end < 0:
        raise ValueError("its index row is cut short")
    row = data[len(_ROW_KEY) : row_end]
    if codec.checksum(row).encode() != data[row_end + len(_CHECKSUM_KEY) : checksum_end]:
        raise ValueError("its index row failed its checksum")
    return row, checksum_end + len(_PAYLOAD_KEY)


def _entry(values: dict[str, Any], run_id: str) -> IndexEntry:
    metadata = CheckpointMetadata.model_validate(
        {c: values[c] for c in _METADATA_COLUMNS} | {"run_id": run_id, "seq": values["seq"]}
    )
    return IndexEntry.model_validate(
        {c: values[c] for c in _ENTRY_COLUMNS} | {"metadata": metadata}
    )
