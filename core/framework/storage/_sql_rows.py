"""The rows the SQL backends share, written once for both dialects: the checkpoint records'
index reads, control signals and effects.

Both index a run's checkpoint records in ``checkpoint_records`` (one row per record, its
payload beside its index entry), keep a run's pending control request in
``control_signals`` (one row per run, upserted) and its effects in ``effects`` (one row per
key, upserted in place, so a key keeps its place in the run's list). The SQL is the same in
SQLite and PostgreSQL but for the parameter marker (:attr:`SQLRows.MARK`) and the column
that orders effects (:attr:`SQLRows.EFFECT_ORDER`: SQLite's ``rowid``, PostgreSQL's
``position``).
"""

from __future__ import annotations

from abc import abstractmethod
from typing import Any, ClassVar

from pydantic import ValidationError

from framework.errors import CorruptCheckpointError, StorageError
from framework.schemas.checkpoint import CheckpointMetadata
from framework.schemas.control import ControlSignal
from framework.schemas.effect import EffectRecord
from framework.storage._engine import IndexEntry, RecordForm
from framework.storage._engine.chains import RecordLink

__all__ = ["SQLRows"]

_ENTRY_COLUMNS = "seq, form, base_seq, prev_seq, visible, checksum, stored_bytes, metadata"


class SQLRows:
    """Checkpoint-record index reads, control signals and effects in SQL (a mixin of the SQL
    backends)."""

    MARK: ClassVar[str]
    """The dialect's parameter marker (``?`` or ``%s``)."""
    EFFECT_ORDER: ClassVar[str]
    """The column that keeps a run's effects in the order they were first written."""

    @property
    @abstractmethod
    def _db(self) -> Any:
        """The open connection (``sqlite3`` or psycopg: both ``execute`` and fetch alike)."""

    def _entries(self, run_id: str) -> list[IndexEntry]:
        rows = self._db.execute(
            f"SELECT {_ENTRY_COLUMNS} FROM checkpoint_records WHERE run_id = {self.MARK} "
            "ORDER BY seq",
            (run_id,),
        ).fetchall()
        return [_row_to_entry(row) for row in rows]

    def _links(self, run_id: str) -> list[RecordLink]:
        rows = self._db.execute(
            "SELECT seq, form, prev_seq, visible FROM checkpoint_records "
            f"WHERE run_id = {self.MARK} ORDER BY seq",
            (run_id,),
        ).fetchall()
        return [
            RecordLink(seq, RecordForm(form), prev, bool(visible))
            for seq, form, prev, visible in rows
        ]

    def _last_entry(self, run_id: str) -> IndexEntry | None:
        row = self._db.execute(
            f"SELECT {_ENTRY_COLUMNS} FROM checkpoint_records WHERE run_id = {self.MARK} "
            "ORDER BY seq DESC LIMIT 1",
            (run_id,),
        ).fetchone()
        return None if row is None else _row_to_entry(row)

    def _read_body(self, run_id: str, entry: IndexEntry) -> bytes:
        p = self.MARK
        row = self._db.execute(
            f"SELECT payload FROM checkpoint_records WHERE run_id = {p} AND seq = {p}",
            (run_id, entry.seq),
        ).fetchone()
        if row is None:
            raise CorruptCheckpointError(f"record {entry.seq} of run {run_id!r} is missing")
        return bytes(row[0])

    def _read_control(self, run_id: str) -> bytes | None:
        row = self._db.execute(
            f"SELECT body FROM control_signals WHERE run_id = {self.MARK}", (run_id,)
        ).fetchone()
        return None if row is None else bytes(row[0])

    def _write_control(self, signal: ControlSignal, body: bytes) -> None:
        p = self.MARK
        self._db.execute(
            f"INSERT INTO control_signals (run_id, action, body) VALUES ({p}, {p}, {p}) "
            "ON CONFLICT (run_id) DO UPDATE SET action = excluded.action, body = excluded.body",
            (signal.run_id, signal.action.value, body),
        )

    def _drop_control(self, run_id: str) -> None:
        self._db.execute(f"DELETE FROM control_signals WHERE run_id = {self.MARK}", (run_id,))

    def _read_effect(self, run_id: str, key: str) -> bytes | None:
        p = self.MARK
        row = self._db.execute(
            f"SELECT body FROM effects WHERE run_id = {p} AND key = {p}", (run_id, key)
        ).fetchone()
        return None if row is None else bytes(row[0])

    def _write_effect(self, record: EffectRecord, body: bytes) -> None:
        p = self.MARK
        # An upsert keeps the row (and its place in the run's list) of a known key.
        self._db.execute(
            f"INSERT INTO effects (run_id, key, status, body) VALUES ({p}, {p}, {p}, {p}) "
            "ON CONFLICT (run_id, key) DO UPDATE SET status = excluded.status, "
            "body = excluded.body",
            (record.run_id, record.key, record.status.value, body),
        )

    def _effect_bodies(self, run_id: str) -> list[bytes]:
        rows = self._db.execute(
            f"SELECT body FROM effects WHERE run_id = {self.MARK} ORDER BY {self.EFFECT_ORDER}",
            (run_id,),
        ).fetchall()
        return [bytes(body) for (body,) in rows]


def _row_to_entry(row: tuple[Any, ...]) -> IndexEntry:
    seq, form, base_seq, prev_seq, visible, checksum, stored_bytes, metadata = row
    try:
        return IndexEntry(
            seq=seq,
            form=RecordForm(form),
            base_seq=base_seq,
            prev_seq=prev_seq,
            visible=bool(visible),
            checksum=checksum,
            stored_bytes=stored_bytes,
            metadata=CheckpointMetadata.model_validate_json(metadata),
        )
    except (ValueError, ValidationError) as exc:
        raise StorageError(f"the index row of checkpoint record {seq} is corrupt: {exc}") from None
