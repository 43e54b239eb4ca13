"""The file backend's per-run index: one checksummed table of record entries.

``index.json`` holds ``{"checksum": ..., "index": {"columns", "format", "rows", "run_id"}}``:
a ``columns`` header and one row per stored record (its :class:`IndexEntry` and checkpoint
metadata), plus the checksum of the canonical bytes of ``index``, so a corrupted index is
reported rather than trusted. Rows are kept serialised, so a save serialises one new row
instead of the whole table.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

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
    return entries, [entry_to_row(entry) for entry in entries]
